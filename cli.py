"""`fgd`: the command line. Each package defines its commands; this module assembles them.

Commands are imported only when they run (a lazy group): `fgd datagen build` and each of its
worker processes (which re-import this module) never pay for importing torch. Each package's
click commands live in its ``commands`` module (:data:`COMMANDS`), which imports no torch, timm,
OpenCV, zarr or h5py, and each command imports its logic when it runs: every ``--help`` and
every mistyped option costs what click costs (tests/test_cli.py checks it).

Bad input raises :class:`datagen.common.errors.InputError` anywhere below; the group turns it,
click's own usage errors and a full disk into one line on stderr and exit code 2. Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import importlib
from typing import IO, Any

import click

from datagen.common.errors import InputError

#: Subcommand name -> "module:attribute" of its click command.
COMMANDS = {
    "datagen": "datagen.commands:datagen_group",
    "train": "training.commands:train_command",
    "eval": "training.commands:eval_command",
    "export-samples": "training.commands:export_samples_command",
    "export-model": "training.commands:export_model_command",
    "predict": "training.commands:predict_command",
}

#: Subcommand name -> its short help (its help's first paragraph), which `fgd --help` lists. Kept
#: here because listing the commands' own help would import them, and with them torch (seconds,
#: for a help page); tests/test_cli.py checks each against its command.
SUMMARIES = {
    "datagen": "Build and inspect the fg_bg / mask / depth dataset (a chunked Zarr store).",
    "train": "Train the mask + depth network on a store (DDP under torchrun, on one or more "
    "machines).",
    "eval": "Print all metrics of a checkpoint on a split of a store, per held-out object and "
    "per kind too (and write them as JSON).",
    "export-samples": "Draw store samples as a grid (with a checkpoint: predictions and errors "
    "too).",
    "export-model": "Export CHECKPOINT as a model that runs without fgd: inputs bg and fg_bg as "
    "(N, 3, H, W) uint8 RGB (any N, H, W), outputs mask probability and depth in metres, "
    "(N, 1, H, W).",
    "predict": "Predict mask and depth of your own photo pairs, any size.",
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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``fgd --help`` from :data:`SUMMARIES`, without importing any."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, click.Command(name, help=SUMMARIES[name]).get_short_help_str(limit))
            for name in self.list_commands(ctx)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as error:
            raise BadInput(str(error)) from None
        except OSError as error:
            # A full disk is the machine's state, not a bug: whichever write met it.
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise BadInput(f"{error.filename or 'an output file'}: the disk is full") from None
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
