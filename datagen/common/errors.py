"""The errors every fgd module raises, and the one way we summarise a foreign exception.

Every module raises :class:`InputError` for bad input (a missing file, a nonsense option, a
store built with another config), :class:`DamagedDataError` for data that was written whole
once and is not any more (a missing or truncated shard) and :class:`WriteError` for an output
the machine would not take (a full disk). The CLI turns both into a one-line
message and exit code 2 (``fgd datagen verify``, whose job is to report damage, exits 1);
anything else is a bug and keeps its traceback.

``training`` imports these too: it sits on top of ``datagen`` (it reads the stores it builds).
"""

from __future__ import annotations

#: How long a summarised reason may grow before it is cut (at a word boundary).
SUMMARY_CHARS = 160


class InputError(Exception):
    """Bad user input. The message is one line that names the file or option and what is wrong."""


class DamagedDataError(InputError):
    """Stored data that fails its own checks: a shard missing, truncated or altered since build."""


class WriteError(InputError):
    """An output that could not be written (a full disk, a folder we may not write)."""


def error_summary(exc: BaseException, limit: int = SUMMARY_CHARS) -> str:
    """The first non-empty line of ``exc``'s message (its type name if it has none), cut to
    ``limit`` characters at a word boundary with an ellipsis, never mid-word."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"
