"""The training commands' progress output: none with --no-progress, whole lines off a terminal."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from datagen.store.reader import open_store

from ..conftest import progress_lines
from .conftest import train_args
from .inference.test_pairs import write_photo


def _run(fgd: click.Group, args: list[str]) -> str:
    """The stderr of a successful command."""
    result = CliRunner().invoke(fgd, args)
    assert result.exit_code == 0, result.output
    return result.stderr


def _pairs(folder: Path) -> Path:
    """A CSV of two photo pairs (predict draws a bar for more than one)."""
    for name in ("a", "b"):
        write_photo(folder / f"{name}_bg.png", 40, 56, seed=1)
        write_photo(folder / f"{name}.png", 40, 56, seed=2)
    (folder / "pairs.csv").write_text("a_bg.png,a.png\nb_bg.png,b.png\n")
    return folder / "pairs.csv"


def _commands(tiny_store: str, checkpoint: Path, tmp: Path) -> dict[str, list[str]]:
    """Each training command with a progress bar, on the tiny store (train from scratch on a
    store without saved stats, so it runs the stats pass first)."""
    ckpt = str(checkpoint)
    return {
        "train": [a for a in train_args(tiny_store, tmp / "run", "--max-steps", "1")
                  if a != "--no-progress"],
        "eval": ["eval", "--store", tiny_store, "--checkpoint", ckpt, "--workers", "0",
                 "--device", "cpu"],
        "predict": ["predict", "--checkpoint", ckpt, "--pairs", str(_pairs(tmp)),
                    "--out", str(tmp / "pred"), "--device", "cpu", "--scales", "1"],
        "export-samples": ["export-samples", "--store", tiny_store, "--checkpoint", ckpt,
                           "--n", "4", "--out", str(tmp / "grid.png"),
                           "--per-sample", str(tmp / "samples"), "--device", "cpu"],
    }  # fmt: skip


@pytest.mark.parametrize("command", ["train", "eval", "predict", "export-samples"])
def test_no_progress_writes_nothing_progress_like(command, tiny_store, checkpoint, fgd, tmp_path):
    assert open_store(tiny_store).stats is None  # so train measures them: the stats pass
    stderr = _run(fgd, [*_commands(tiny_store, checkpoint, tmp_path)[command], "--no-progress"])
    assert progress_lines(stderr) == [], stderr
    if command == "train":
        assert "has no stats; measuring them" in stderr  # the note stays: it is not progress


@pytest.mark.parametrize("command", ["train", "eval", "predict", "export-samples"])
def test_off_a_terminal_progress_is_whole_lines(command, tiny_store, checkpoint, fgd, tmp_path):
    stderr = _run(fgd, _commands(tiny_store, checkpoint, tmp_path)[command])  # not a terminal
    assert "\r" not in stderr
    bars = progress_lines(stderr)
    assert bars, stderr  # the bars are there, as lines
    if command == "train":
        assert any(line.startswith("stats: ") for line in bars), stderr
