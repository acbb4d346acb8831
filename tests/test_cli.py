"""The `fgd` group: its command list comes from cli.SUMMARIES without importing the commands."""

from __future__ import annotations

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
