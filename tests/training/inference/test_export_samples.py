"""`fgd export-samples`: grid layout and bytes, per-sample files, the split, the sample cap."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from datagen.store.reader import open_store
from training.config import TrainConfig
from training.fitting.epochs import make_split
from training.inference.export_samples import MAX_SAMPLES, MAX_TILE, sample_cap, select_samples
from training.inference.visualize import depth_range, render_grid, row_label, write_png

from .test_pairs import assert_one_line_error
from .test_visualize import fake_predictions, fake_samples, tile_runs


def run_export(fgd, *args: str):
    result = CliRunner().invoke(fgd, ["export-samples", *args])
    return result


@pytest.mark.parametrize("with_checkpoint", [False, True])
def test_export_samples_grid_columns_and_rows(
    fgd, tiny_store, checkpoint, tmp_path, with_checkpoint
):
    out = tmp_path / "grid.png"
    extra = ["--checkpoint", str(checkpoint), "--device", "cpu"] if with_checkpoint else []
    result = run_export(
        fgd, "--store", tiny_store, "--n", "3", "--tile", "64", "--out", str(out), *extra
    )
    assert result.exit_code == 0, result.output
    grid = cv2.imread(str(out))[..., ::-1]
    runs = tile_runs(grid[-8], 32)
    assert [length for _, length in runs] == [64] * (8 if with_checkpoint else 4)
    column = grid[:, runs[0][0] + 32]
    assert len(tile_runs(column, 32)) == 3  # three rows of tiles


def test_export_samples_per_sample_files(fgd, tiny_store, checkpoint, tmp_path):
    folder = tmp_path / "files"
    result = run_export(
        fgd, "--store", tiny_store, "--checkpoint", str(checkpoint), "--indices", "5,17",
        "--per-sample", str(folder), "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["05", "17"]
    ds = open_store(tiny_store)
    files = folder / "17"
    mask = cv2.imread(str(files / "mask.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask, ds[17]["mask"])
    depth = cv2.imread(str(files / "depth.png"), cv2.IMREAD_UNCHANGED)
    scale = json.loads((files / "depth.json").read_text())["scale_m_per_unit"]
    assert depth.dtype == np.uint16
    assert np.abs(depth * scale - ds[17]["depth"]).max() <= scale
    pred_mask = cv2.imread(str(files / "pred_mask.png"), cv2.IMREAD_UNCHANGED)
    assert pred_mask.dtype == np.uint8
    assert set(np.unique(pred_mask)) <= {0, 255}
    assert cv2.imread(str(files / "pred_depth.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    for name in ("depth_color", "pred_depth_color", "mask_error", "depth_error", "fgbg", "bg"):
        assert cv2.imread(str(files / f"{name}.png")).shape == (ds.size, ds.size, 3)
    assert not (tmp_path / "grid.png").exists()


def test_export_samples_draws_from_the_training_split(tiny_store):
    """--split val/train is the split training computes from the run's config."""
    ds = open_store(tiny_store)
    cfg = TrainConfig(split="random", val_fraction=0.25, seed=7)
    parts = make_split(ds.bg_ids, ds.fg_ids, "random", 0.25, 7)
    val = select_samples(ds, split="val", n=len(ds), seed=0, train_config=cfg)
    np.testing.assert_array_equal(val, parts.val)
    some = select_samples(ds, split="train", n=5, seed=3, train_config=cfg)
    assert len(some) == 5
    assert set(some) <= set(parts.train)
    again = select_samples(ds, split="train", n=5, seed=3, train_config=cfg)
    np.testing.assert_array_equal(some, again)
    other = select_samples(ds, split="train", n=5, seed=4, train_config=cfg)
    assert not np.array_equal(some, other)


def test_export_samples_overview_alone(fgd, tiny_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_export(fgd, "--store", tiny_store, "--overview", "assets.png")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets.png"]
    sheet = cv2.imread("assets.png")
    ds = open_store(tiny_store)
    assert sheet.shape[1] >= min(10, len(ds.bg_names)) * 96


def test_export_samples_bad_input_exits_2(fgd, tiny_store, tmp_path):
    out = ["--out", str(tmp_path / "g.png")]
    for args, words in (
        (["--store", tiny_store, "--indices", "3,999"], ["--indices 999", "out of range"]),
        (["--store", tiny_store, "--indices", "3,x"], ["--indices"]),
        (["--store", tiny_store, "--indices", "3", "--split", "val"], ["--indices", "--split"]),
        (["--store", tiny_store, "--n", "0"], ["--n"]),
        (["--store", str(tmp_path / "missing.zarr")], ["missing.zarr"]),
        (["--store", tiny_store, "--checkpoint", str(tmp_path / "no.pt")], ["no.pt"]),
    ):
        result = run_export(fgd, *args, *out)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1
        assert all(w in lines[0] for w in words), lines[0]
    assert list(tmp_path.iterdir()) == []


def test_export_samples_grid_is_the_rendered_grid(fgd, tiny_store, tmp_path):
    """The command writes exactly the PNG that render_grid + write_png make of the samples."""
    result = run_export(
        fgd, "--store", tiny_store, "--indices", "3,17,40", "--tile", "64", "--out",
        str(tmp_path / "grid.png"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    samples = open_store(tiny_store).read_batch([3, 17, 40])
    labels = [row_label(i) for i in (3, 17, 40)]
    grid = render_grid(samples, None, labels, tile=64, depth_limits=depth_range(samples["depth"]))
    write_png(tmp_path / "expected.png", grid)
    assert (tmp_path / "grid.png").read_bytes() == (tmp_path / "expected.png").read_bytes()


def test_export_samples_says_when_the_split_is_smaller_and_shows_progress(
    fgd, tiny_store, tmp_path
):
    cfg = TrainConfig()
    ds = open_store(tiny_store)
    val = make_split(ds.bg_ids, ds.fg_ids, cfg.split, cfg.val_fraction, cfg.seed).val
    args = ["--store", tiny_store, "--split", "val", "--n", "40", "--tile", "32"]
    result = run_export(fgd, *args, "--out", str(tmp_path / "a.png"))
    assert result.exit_code == 0, result.output
    assert f"--n 40: the val split holds {len(val)} samples" in result.stderr
    assert "export-samples: 100%" in result.stderr
    grid = cv2.imread(str(tmp_path / "a.png"))
    assert len(tile_runs(grid[:, -20], 16)) == len(val)  # one row per val sample
    quiet = run_export(fgd, *args, "--out", str(tmp_path / "b.png"), "--no-progress")
    assert "100%" not in quiet.stderr


def test_existing_outputs_need_overwrite(fgd, tiny_store, tmp_path):
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"an earlier grid")
    args = ["--store", tiny_store, "--indices", "5", "--tile", "32"]
    assert_one_line_error(run_export(fgd, *args, "--out", str(grid)), "--out", "--overwrite")
    assert grid.read_bytes() == b"an earlier grid"
    assert run_export(fgd, *args, "--out", str(grid), "--overwrite").exit_code == 0
    assert cv2.imread(str(grid)) is not None
    per_sample = [*args, "--per-sample", str(tmp_path / "files")]
    assert run_export(fgd, *per_sample).exit_code == 0
    assert_one_line_error(run_export(fgd, *per_sample), "--per-sample", "05", "--overwrite")
    assert run_export(fgd, *per_sample, "--overwrite").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["files", "grid.png"]


@pytest.mark.parametrize("tile", [32, 224, 225, 512, MAX_TILE])
def test_sample_cap_keeps_the_grid_small_enough_to_open(tile):
    """A grid of the most samples allowed, with every column and the widest labels, stays well
    within what Pillow opens by default."""
    cap = sample_cap(tile, grid=True)
    assert 1 <= cap <= MAX_SAMPLES
    samples = fake_samples(cap)
    labels = [row_label(99999, 0.99, 0.99)] * cap
    grid = render_grid(samples, fake_predictions(samples), labels, tile=tile)
    assert grid.shape[0] * grid.shape[1] < Image.MAX_IMAGE_PIXELS / 2
    assert sample_cap(tile, grid=False) == MAX_SAMPLES


def test_draws_above_the_cap_are_refused(fgd, tiny_store, tmp_path):
    many = ",".join(str(i) for i in range(MAX_SAMPLES + 1))
    big = sample_cap(MAX_TILE, grid=True)
    out = ["--out", str(tmp_path / "g.png")]
    for args, words in (
        (["--n", str(MAX_SAMPLES + 1), *out], [f"--n {MAX_SAMPLES + 1}", f"{MAX_SAMPLES} samples"]),
        (["--indices", many, *out], [f"--indices ({MAX_SAMPLES + 1} given)"]),
        (["--n", str(big + 1), "--tile", str(MAX_TILE), *out], [f"at most {big} samples"]),
        (["--n", str(MAX_SAMPLES + 1), "--per-sample", str(tmp_path / "f")],
         [f"one run draws at most {MAX_SAMPLES}"]),
        (["--tile", str(MAX_TILE + 1), *out], ["--tile", str(MAX_TILE + 1)]),
    ):  # fmt: skip
        assert_one_line_error(run_export(fgd, "--store", tiny_store, *args), *words)
    assert list(tmp_path.iterdir()) == []
