"""The `fgd` group: its command list comes from cli.SUMMARIES without importing the commands;
every --help answers without torch; every --workers follows one rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import cli
from datagen.builder.config import BuildConfig
from datagen.options import Workers


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_summary_is_the_commands_own_short_help(name: str) -> None:
    command = cli.fgd.get_command(click.Context(cli.fgd), name)
    assert command is not None
    assert cli.SUMMARIES[name] == command.get_short_help_str(limit=10**6)


def test_help_lists_what_clicks_own_listing_would() -> None:
    ctx = click.Context(cli.fgd, info_name="fgd")
    ours, eager = click.HelpFormatter(), click.HelpFormatter()
    cli.fgd.format_commands(ctx, ours)
    click.Group.format_commands(cli.fgd, ctx, eager)  # imports every command
    assert ours.getvalue() == eager.getvalue()
    assert "datagen" in ours.getvalue() and "predict" in ours.getvalue()


def test_help_imports_no_command() -> None:
    code = (
        "import sys, cli\n"
        "try:\n    cli.fgd(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'training', 'datagen.commands') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Commands:" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _commands(command: click.Command, path: tuple[str, ...] = ()):
    """Every leaf command of the tree under ``command``, with its path."""
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            yield from _commands(command.get_command(ctx, name), (*path, name))
    else:
        yield path, command


#: What a command's --help or argument error must not import: each costs a few tenths of a
#: second (torch and timm seconds) before click can answer.
HEAVY_MODULES = ("torch", "timm", "cv2", "numpy", "zarr", "h5py")

#: Runs in a fresh interpreter: every command of the tree (found by walking it, so a new command
#: is covered too), with --help and with a mistyped option; after each, which heavy modules have
#: been imported so far (the first command that imports one is the one that shows it).
_PROBE = """
import contextlib, io, json, sys
import cli
from tests.test_cli import _commands

report = []
for path, _ in list(_commands(cli.fgd)):
    for extra in ("--help", "--no-such-option"):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.fgd([*path, extra], prog_name="fgd")
            except SystemExit as exit:
                code = exit.code
        heavy = sorted(m for m in HEAVY if m in sys.modules)
        report.append([" ".join([*path, extra]), code, out.getvalue(), err.getvalue(), heavy])
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def probe() -> list[list]:
    code = f"HEAVY = {HEAVY_MODULES!r}\n{_PROBE}"
    root = Path(__file__).resolve().parent.parent  # where `tests` and `cli` import from
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    return json.loads(done.stdout)


def test_every_commands_help_imports_nothing_heavy(probe: list[list]) -> None:
    helps = [row for row in probe if row[0].endswith("--help")]
    assert {row[0] for row in helps} >= {
        f"{name} --help" for name in ("train", "eval", "predict", "export-model", "export-samples")
    }
    assert {"datagen build --help", "datagen stats --help", "datagen export --help"} <= {
        row[0] for row in helps
    }
    for args, code, stdout, stderr, heavy in helps:
        assert (code, heavy, stderr) == (0, [], ""), args
        assert stdout.startswith(f"Usage: fgd {args.removesuffix(' --help')} "), args


def test_a_mistyped_option_is_one_line_and_imports_nothing_heavy(probe: list[list]) -> None:
    mistyped = [row for row in probe if row[0].endswith("--no-such-option")]
    assert len(mistyped) == len(probe) // 2
    for args, code, stdout, stderr, heavy in mistyped:
        assert (code, heavy, stdout) == (2, [], ""), args
        assert stderr.startswith("fgd: error: ") and stderr.count("\n") == 1, (args, stderr)
        assert "--no-such-option" in stderr, args


def test_every_workers_option_is_the_shared_type_with_its_default_shown() -> None:
    found = {}
    for path, command in _commands(cli.fgd):
        for param in command.params:
            if "--workers" in getattr(param, "opts", ()):
                found[" ".join(path)] = param
    assert {"datagen build", "datagen stats", "train", "eval"} <= set(found)
    for name, param in found.items():
        assert isinstance(param.type, Workers), name
        assert param.show_default, name  # what leaving it out gives is in --help


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fgd: error: "), result.output
    return lines[0]


@pytest.mark.parametrize("count", ["0", "-1"])
def test_build_refuses_a_worker_count_below_one_before_writing(tmp_path: Path, count: str) -> None:
    out = tmp_path / "s.zarr"
    result = CliRunner().invoke(
        cli.fgd, ["datagen", "build", "--out", str(out), "--size", "32", "--workers", count]
    )
    line = _one_line_error(result)
    assert f"'--workers': must be >= 1 (default: all cores), got {count}" in line
    assert not out.exists()


@pytest.mark.parametrize(("given", "expected"), [([], os.cpu_count()), (["--workers", "3"], 3)])
def test_build_without_workers_uses_all_cores(
    given: list[str], expected: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[BuildConfig] = []
    monkeypatch.setattr(
        "datagen.builder.build.build_store", lambda config, **_: seen.append(config)
    )
    result = CliRunner().invoke(cli.fgd, ["datagen", "build", "--out", str(tmp_path), *given])
    assert result.exit_code == 0, result.output
    assert seen[0].workers == expected


@pytest.mark.parametrize(
    ("args", "minimum", "default"),
    [
        (["datagen", "stats", "s.zarr"], 1, "one per core, one for a small store"),
        (["train", "--out", "run"], 0, "the recipe's, else 2"),
        (["eval", "--store", "s.zarr", "--checkpoint", "c.pt"], 0, "2"),
    ],
)
def test_every_workers_option_refuses_a_count_below_its_minimum(
    args: list[str], minimum: int, default: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.fgd, [*args, "--workers", str(minimum - 1)])
    line = _one_line_error(result)
    assert f"must be >= {minimum} (default: {default}), got {minimum - 1}" in line
    assert list(tmp_path.iterdir()) == []  # refused while parsing: nothing read or written
