"""Write docs/cli.md, the command reference, from the click commands themselves.

    python docs/gen_cli_reference.py           # rewrite docs/cli.md
    python docs/gen_cli_reference.py --check   # exit 1 if docs/cli.md is out of date

The page is generated so it cannot drift from the code; ``tests/test_docs.py`` runs ``--check``.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "cli.md"
HEADER = """\
# Command reference

Generated from the code by `python docs/gen_cli_reference.py`; do not edit by hand.
Every command also answers `--help`. Bad input ends with a one-line `fgd: error: ...` and
exit code 2. See [the user guide](guide.md) for a walk through the whole path.
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _section(command: click.Command, ctx: click.Context, depth: int) -> list[str]:
    lines = [f"{'#' * min(depth, 4)} `{ctx.command_path}`", ""]
    if command.help:
        lines += [inspect.cleandoc(click.unstyle(command.help)), ""]
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines += ["```", f"{ctx.command_path} {usage}", "```", ""]
    skip = command.get_help_option(ctx)  # every command has --help; arguments are in the usage
    rows = [
        record
        for param in command.get_params(ctx)
        if param is not skip
        and not isinstance(param, click.Argument)
        and (record := param.get_help_record(ctx)) is not None
    ]
    if rows:
        lines += ["| Option | Description |", "| --- | --- |"]
        lines += [f"| `{_cell(opts)}` | {_cell(help_text)} |" for opts, help_text in rows]
        lines.append("")
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                sub_ctx = click.Context(sub, info_name=name, parent=ctx)
                lines += _section(sub, sub_ctx, depth + 1)
    return lines


def render(group: click.Command, prog: str = "fgd") -> str:
    """The Markdown reference of ``group`` and all its sub-commands."""
    ctx = click.Context(group, info_name=prog, terminal_width=100, max_content_width=100)
    return HEADER + "\n" + "\n".join(_section(group, ctx, 2)).rstrip() + "\n"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from cli import fgd

    text = render(fgd)
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python docs/gen_cli_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
