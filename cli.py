"""`fgd`: the command line. Each package defines its commands; this module assembles them.

Bad input raises :class:`datagen.errors.InputError` anywhere below; the group turns it, and
click's own usage errors, into one line on stderr and exit code 2. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from typing import IO, Any

import click

from datagen.commands import datagen_group
from datagen.errors import InputError


class BadInput(click.ClickException):
    """An :class:`InputError` on its way out: one line, exit code 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"fgd: error: {self.format_message()}", err=True, file=file)


class FgdGroup(click.Group):
    """A click group whose commands' bad input (ours or click's) becomes :class:`BadInput`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as error:
            raise BadInput(str(error)) from None
        except click.UsageError as error:
            where = error.ctx.command_path if error.ctx else ctx.command_path
            raise BadInput(f"{where}: {error.format_message()} (see --help)") from None


@click.group(cls=FgdGroup)
@click.version_option(package_name="fgd")
def fgd() -> None:
    """fgd: foreground mask and depth from a (bg, fg_bg) image pair."""


fgd.add_command(datagen_group)


def main() -> None:
    """Console-script entry point."""
    fgd()


if __name__ == "__main__":
    main()
