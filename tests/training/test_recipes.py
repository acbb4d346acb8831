"""Recipes: shipped presets that `fgd train` starts from (recipe < --config < flags)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli import fgd
from datagen.common.errors import InputError
from training.commands import resolve_train_config
from training.config import TrainConfig
from training.fitting.evaluate import METRIC_KEYS
from training.recipes import NO_RECIPE, default_recipe, load_recipe, recipe_names


def test_shipped_recipes_are_valid_train_configs() -> None:
    assert {"cpu-quick", "cpu-quality", "gpu-224"} <= set(recipe_names())
    for name in recipe_names():
        recipe = load_recipe(name)
        assert recipe.summary, f"{name} has no summary line"
        cfg = TrainConfig.from_dict(recipe.settings, name)
        assert cfg != TrainConfig(), f"{name} changes nothing"
    assert default_recipe("cpu") in recipe_names()
    assert default_recipe("cuda") in recipe_names()


def test_list_recipes_names_each_with_its_summary() -> None:
    result = CliRunner().invoke(fgd, ["train", "--list-recipes"])
    assert result.exit_code == 0, result.output
    for name in recipe_names():
        assert f"{name} " in result.output
        assert load_recipe(name).summary in result.output


def test_unknown_recipe_is_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        fgd, ["train", "--store", "s.zarr", "--out", str(tmp_path / "r"), "--recipe", "fast"]
    )
    assert result.exit_code == 2
    assert "--recipe fast: no such recipe" in result.output
    assert "cpu-quick" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_precedence_recipe_then_config_file_then_flags(tmp_path: Path) -> None:
    quick = load_recipe("cpu-quick").settings
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"lr": 0.01, "batch_size": 8}))
    cfg = resolve_train_config(
        str(tmp_path / "r"), str(config), False, {"batch_size": 4}, "cpu-quick"
    )
    assert cfg.recipe == "cpu-quick"
    assert cfg.backbone == quick["backbone"]  # from the recipe
    assert cfg.max_steps == quick["max_steps"]
    assert cfg.lr == 0.01  # the file beats the recipe
    assert cfg.batch_size == 4  # the flag beats the file


def test_epochs_in_a_higher_layer_cancel_the_recipes_steps(tmp_path: Path) -> None:
    cfg = resolve_train_config(str(tmp_path / "r"), None, False, {"epochs": 2}, "cpu-quick")
    assert (cfg.epochs, cfg.max_steps) == (2, 0)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"epochs": 3}))
    cfg = resolve_train_config(str(tmp_path / "r"), str(config), False, {}, "cpu-quick")
    assert (cfg.epochs, cfg.max_steps) == (3, 0)


def test_no_recipe_means_the_device_default_and_none_the_dataclass(tmp_path: Path) -> None:
    picked = resolve_train_config(str(tmp_path / "r"), None, False, {"device": "cpu"}, None)
    assert picked.recipe == default_recipe("cpu")
    assert picked.backbone == load_recipe(default_recipe("cpu")).settings["backbone"]
    plain = resolve_train_config(str(tmp_path / "r"), None, False, {}, NO_RECIPE)
    assert plain == TrainConfig(out=str(tmp_path / "r"))


def test_recipe_with_resume_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "r"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    with pytest.raises(InputError, match="--recipe: not with --resume"):
        resolve_train_config(str(run), None, True, {}, "cpu-quick")


def test_run_config_names_its_recipe(tiny_store: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [
        "train", "--store", tiny_store, "--out", str(run), "--recipe", "cpu-quick",
        "--backbone", "test_resnet", "--batch-size", "8", "--max-steps", "2",
        "--workers", "0", "--val-every", "2", "--no-progress",
    ]  # fmt: skip
    result = CliRunner().invoke(fgd, args)  # the recipe's 96 px on a 32 px store
    assert result.exit_code == 2, result.output
    assert "recipe cpu-quick sets it unless --size is given" in result.output
    assert not run.exists()
    result = CliRunner().invoke(fgd, [*args, "--size", "32"])  # also drops its 64 -> 96 schedule
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["recipe"] == "cpu-quick"
    assert saved["resize_schedule"] == []
    assert saved["loss_weighting"] == load_recipe("cpu-quick").settings["loss_weighting"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [([], ""), (["--pretrained"], "hub"), (["--pretrained", "w.pth"], "w.pth")],
)
def test_bare_pretrained_flag_asks_for_hub_weights(
    given: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[TrainConfig] = []
    monkeypatch.setattr(
        "training.fitting.train.train",  # what fgd train imports when it runs
        lambda cfg, **_: seen.append(cfg) or dict.fromkeys(METRIC_KEYS, 1.0),
    )
    args = ["train", "--store", "s.zarr", "--out", str(tmp_path / "r"), *given, "--size", "32"]
    result = CliRunner().invoke(fgd, args)
    assert result.exit_code == 0, result.output
    assert seen[0].pretrained == expected
    assert seen[0].size == 32  # a bare --pretrained does not swallow the next option
