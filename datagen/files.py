"""Writing output files so that no reader ever sees half of one.

Every file fgd writes for a user (PNG grids, JSON reports, HDF5 exports, checkpoints, run logs)
goes through :func:`atomic_output`: the bytes land in a hidden temporary beside the target and
are renamed over it only when complete, so an interrupt, a full disk or a crash leaves either
the old file or none, never a truncated one. :func:`check_output` answers the usual mistakes
(a directory, an unwritable folder, an existing file without ``--overwrite``) up front, in one
line naming the option, before any work is done.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from datagen.errors import InputError, error_summary


def temp_path(path: Path) -> Path:
    """The hidden temporary that :func:`atomic_output` writes ``path`` through."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def check_output(path: str | os.PathLike[str], option: str, overwrite: bool = True) -> Path:
    """Check that a file can be written at ``path`` (``option`` names it in the message).

    Refuses a path that is a directory, an existing file when ``overwrite`` is false, a parent
    that is a file, and a parent folder we may not write; creates missing parent folders.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path}: is a directory; give a file name")
    if path.exists() and not overwrite:
        raise InputError(f"{option} {path}: exists (pass --overwrite to replace it)")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"{option} {path}: {parent} is not a folder") from None
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot create {parent} ({_reason(exc)})") from None
    probe = temp_path(path)
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot write there ({_reason(exc)})") from None
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], option: str = "output") -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` when the block ends cleanly.

    On any exception (KeyboardInterrupt included) the temporary is removed and the target is
    left as it was. An ``OSError`` while writing (disk full, permission) becomes an
    :class:`InputError` naming ``option`` and the file.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InputError(f"{option} {path}: the disk is full") from None
        raise InputError(f"{option} {path}: cannot write ({_reason(exc)})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _reason(exc: OSError) -> str:
    """An OS error's own words ("Permission denied"), without the temporary's path."""
    return exc.strerror or error_summary(exc)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, option: str = "output") -> None:
    """``path.write_bytes(data)`` through :func:`atomic_output`."""
    with atomic_output(path, option) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str, option: str = "output") -> None:
    """``path.write_text(text)`` through :func:`atomic_output`."""
    write_bytes_atomic(path, text.encode(), option)
