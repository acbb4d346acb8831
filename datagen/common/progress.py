"""The one progress bar every long fgd command shows.

On a terminal it is tqdm's live bar. When stderr is not a terminal (a log file, CI, a pipe) a
live bar would write a carriage-return frame several times a second, megabytes over a long
run, so there it prints a plain line at most every :data:`LOG_EVERY_S` seconds instead.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

#: Seconds between two lines of a progress log when stderr is not a terminal.
LOG_EVERY_S = 30.0


def progress_bar(
    iterable: Iterable[Any] | None = None, *, enabled: bool = True, **kwargs: Any
) -> tqdm:
    """A tqdm bar (``desc``, ``total``, ``unit``... as for tqdm) that is line-based off a terminal.

    ``enabled=False`` gives a silent bar (its ``update`` still counts), for callers that were
    asked for no progress output.
    """
    if not enabled:
        return tqdm(iterable, disable=True, **kwargs)
    if sys.stderr.isatty():
        return tqdm(iterable, **kwargs)
    return tqdm(
        iterable,
        file=_LineLog(sys.stderr),
        mininterval=LOG_EVERY_S,
        maxinterval=LOG_EVERY_S,
        ncols=80,
        ascii=True,
        **kwargs,
    )


class _LineLog:
    """A stream that turns tqdm's carriage-return frames into whole lines."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            self._stream.write(line + "\n")

    def flush(self) -> None:
        self._stream.flush()
