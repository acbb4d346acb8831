"""The `fgd` group: its command list comes from cli.SUMMARIES without importing the commands."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

import cli


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


#: What a command's --help or argument error must not import: each costs a few tenths of a
#: second (torch and timm seconds) before click can answer.
HEAVY_MODULES = ("torch", "timm", "cv2", "numpy", "zarr", "h5py")

#: Runs in a fresh interpreter: every command of the tree (found by walking it, so a new command
#: is covered too), with --help and with a mistyped option; after each, which heavy modules have
#: been imported so far (the first command that imports one is the one that shows it).
_PROBE = """
import contextlib, io, json, sys
import click
import cli

def leaves(command, path):
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            yield from leaves(command.get_command(ctx, name), [*path, name])
    else:
        yield path

report = []
for path in list(leaves(cli.fgd, [])):
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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


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
