"""Writing output files so that no reader ever sees half of one.

Every file fgd writes for a user (PNG grids, JSON reports, HDF5 exports, checkpoints, run logs)
goes through :func:`atomic_output`: the bytes land in a hidden temporary beside the target and
are renamed over it only when complete, so an interrupt, a full disk or a crash leaves either
the old file or none, never a truncated one. Files that belong together (the images of one
prediction) go through :func:`write_files_atomic`: all are renamed, or none. :func:`check_output`
answers the usual mistakes (a directory, an unwritable folder, an existing file without
``--overwrite``) up front, in one line naming the option, before any work is done, and
:func:`inside` proves that a path built from the user's input (a photo's name) stays in the
folder the user named.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from datagen.common.errors import InputError, WriteError, error_summary


def temp_path(path: Path) -> Path:
    """The hidden temporary that :func:`atomic_output` writes ``path`` through."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def inside(root: str | os.PathLike[str], path: str | os.PathLike[str], option: str) -> Path:
    """``path``, once proven to lie in the folder ``root`` or to be it, both resolved (``..``
    and symbolic links followed); else an InputError naming ``option`` and ``root``.

    A name taken from the user's input can point anywhere (a photo ``...jpg`` has the stem
    ``..``, a sub-folder may be a link to elsewhere): every file written below a folder the user
    named goes through this check, so that nothing is ever written outside it.
    """
    real_root, real = Path(root).resolve(), Path(path).resolve()
    if real != real_root and real_root not in real.parents:
        raise InputError(f"{option} {root}: {path} would be written outside it (at {real})")
    return Path(path)


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
        raise write_error(exc, f"{option} {path}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_files_atomic(files: Mapping[Path, bytes], option: str = "output") -> None:
    """Write `files` (path -> bytes) all or none: each to its hidden temporary first, then all
    renamed over their targets. On any failure (a full disk halfway through, an interrupt)
    every temporary is removed and each target is left as it was, so a reader never finds new
    files beside old ones (the mask of one prediction next to the depth of another)."""
    staged: list[tuple[Path, Path]] = []  # (temporary, target)
    try:
        for path, data in files.items():
            tmp = temp_path(path)
            staged.append((tmp, path))
            try:
                tmp.write_bytes(data)
            except OSError as exc:
                raise write_error(exc, f"{option} {path}") from None
        # A rename fails for a target that is a folder: find that before renaming any.
        folders = [path for path in files if path.is_dir()]
        if folders:
            raise WriteError(f"{option} {folders[0]}: cannot write (it is a folder)")
        for tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise write_error(exc, f"{option} {path}") from None
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise


def write_error(exc: OSError, what: str) -> WriteError:
    """The one-line error for an OS error while writing `what` (an option and a path)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return WriteError(f"{what}: the disk is full")
    return WriteError(f"{what}: cannot write ({_reason(exc)})")


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
