"""Fixtures of the training tests: one tiny procedural store per session, the `fgd` CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from datagen.builder.build import BuildConfig, build_store

TINY = {"size": 32, "n_bg": 5, "n_fg": 3, "positions": 2, "chunk_size": 8, "shard_size": 16}
"""60 samples (5 bg x 3 fg x 2 flips x 2 positions) in 8 chunks at 32 px."""


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("store") / "tiny.zarr"
    build_store(BuildConfig(out=str(path), workers=1, **TINY), progress=False)
    return str(path)


@pytest.fixture(scope="session")
def five_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """50 samples (5 bg x 5 fg x 2 flips) at 32 px: enough assets for the scene+object split
    that ``--split auto`` picks (1 bg and 1 fg held out: 2 validation, 32 training samples)."""
    path = tmp_path_factory.mktemp("store") / "five.zarr"
    config = {**TINY, "n_fg": 5, "positions": 1}
    build_store(BuildConfig(out=str(path), workers=1, **config), progress=False)
    return str(path)


@pytest.fixture(scope="session")
def fgd() -> click.Group:
    """The `fgd` click group."""
    import cli

    return cli.fgd


def fgd_command() -> list[str]:
    """How to run `fgd` in a subprocess: the console script when installed, else the module."""
    script = Path(sys.executable).with_name("fgd")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def train_args(store: str, out: Path, *extra: str) -> list[str]:
    """`fgd train` arguments for a fast CPU run on the tiny store."""
    return [
        "train", "--store", store, "--out", str(out), "--backbone", "test_resnet",
        "--size", "32", "--batch-size", "8", "--decoder-channels", "16", "--workers", "0",
        "--device", "cpu", "--recipe", "none", "--no-progress", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def checkpoint(tiny_store: str, fgd: click.Group, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of a 2-step `fgd train` run on the tiny store."""
    run = tmp_path_factory.mktemp("run") / "run"
    result = CliRunner().invoke(fgd, train_args(tiny_store, run, "--max-steps", "2"))
    assert result.exit_code == 0, result.output
    return run / "checkpoints" / "last.pt"
