"""The datagen commands' progress output: none with --no-progress, whole lines off a terminal."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli import fgd

from ..conftest import progress_lines

#: A 12-sample procedural store at 32 px, built in one process.
BUILD = ["--size", "32", "--n-bg", "3", "--n-fg", "2", "--positions", "1", "--workers", "1"]


def _stderr(*args: str) -> str:
    """The stderr of a successful ``fgd datagen`` command."""
    result = CliRunner().invoke(fgd, ["datagen", *args])
    assert result.exit_code == 0, result.output
    return result.stderr


def _stderr_of_each(tmp_path: Path, *flags: str) -> dict[str, str]:
    """The stderr of each datagen command that has a progress bar, run with ``flags`` on a
    store it builds first (a fresh one: stats writes into it)."""
    store = str(tmp_path / "s.zarr")
    commands = {
        "build": ["build", "--out", store, *BUILD],
        "stats": ["stats", store],
        "verify": ["verify", store],
        "export": ["export", store, "--out", str(tmp_path / "s.h5")],
    }
    return {name: _stderr(*args, *flags) for name, args in commands.items()}


def test_no_progress_writes_nothing_progress_like(tmp_path: Path) -> None:
    for name, stderr in _stderr_of_each(tmp_path, "--no-progress").items():
        assert progress_lines(stderr) == [], (name, stderr)


def test_build_quiet_is_no_progress_too(tmp_path: Path) -> None:
    stderr = _stderr("build", "--out", str(tmp_path / "s.zarr"), *BUILD, "--quiet")
    assert progress_lines(stderr) == [], stderr


def test_off_a_terminal_progress_is_whole_lines(tmp_path: Path) -> None:
    for name, stderr in _stderr_of_each(tmp_path).items():  # CliRunner's stderr: no terminal
        assert "\r" not in stderr, name
        bars = progress_lines(stderr)
        assert bars and bars[-1].startswith(f"{name}: 100%|"), (name, stderr)
