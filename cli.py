"""`fgd`: the command line. Each package defines its commands; this module assembles them.

Commands are imported only when they run (a lazy group): `fgd datagen build` and each of its
worker processes (which re-import this module) never pay for importing torch.

Bad input raises :class:`datagen.errors.InputError` anywhere below; the group turns it, and
click's own usage errors, into one line on stderr and exit code 2. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import importlib
from typing import IO, Any

import click

from datagen.errors import InputError

#: Subcommand name -> "module:attribute" of its click command.
COMMANDS = {
    "datagen": "datagen.commands:datagen_group",
    "train": "training.commands:train_command",
    "eval": "training.commands:eval_command",
    "export-samples": "training.export_samples:export_samples_command",
    "export-model": "training.export_model:export_model_command",
    "predict": "training.predict:predict_command",
}


class BadInput(click.ClickException):
    """An :class:`InputError` on its way out: one line, exit code 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"fgd: error: {self.format_message()}", err=True, file=file)


class FgdGroup(click.Group):
    """Lazily imported subcommands whose bad input (ours or click's) becomes :class:`BadInput`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name].split(":")
        return getattr(importlib.import_module(module), attribute)

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


def main() -> None:
    """Console-script entry point."""
    fgd()


if __name__ == "__main__":
    main()
