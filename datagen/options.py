"""What the datagen commands' options offer, without numpy, OpenCV, zarr or h5py; and the type
of the ``--workers`` option that every fgd command shares.

:mod:`datagen.commands` builds each option's help from these values and the modules that act
on an option import them from here, so each has one source and a command's ``--help`` costs no
heavy import. The build's defaults are :class:`datagen.builder.config.BuildConfig`'s.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import click

#: The filters of ``fgd datagen export --compression`` (:mod:`datagen.store.hdf5`).
Compression = Literal["gzip", "lzf", "none"]
COMPRESSIONS: tuple[str, ...] = get_args(Compression)
DEFAULT_COMPRESSION: Compression = "gzip"


class Workers(click.ParamType):
    """The type of every ``--workers``: a count of processes of at least ``minimum``.

    A smaller count is refused in one line that names the minimum and the option's default
    (what leaving it out gives, as its ``show_default`` says), rather than read as another
    count: ``datagen build --workers 0`` once meant all cores while ``-1`` was an error.
    Process pools take ``minimum=1`` and leave the option out for all cores; data loaders
    take ``minimum=0``, 0 being the main process itself.
    """

    name = "integer"

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        count = click.INT.convert(value, param, ctx)
        if count < self.minimum:
            self.fail(
                f"must be >= {self.minimum} (default: {_default_text(param)}), got {count}",
                param,
                ctx,
            )
        return count


def _default_text(param: click.Parameter | None) -> str:
    """What ``--help`` shows as the default of ``param``."""
    shown = getattr(param, "show_default", None)
    return shown if isinstance(shown, str) else str(getattr(param, "default", None))


#: ``--workers`` of a process pool (at least 1; left out: the command's default count).
PROCESSES = Workers(minimum=1)
#: ``--workers`` of a data loader (0: the main process loads).
LOADER_PROCESSES = Workers(minimum=0)
