"""One trainer per run directory: ``RUN_DIR/train.lock``, held by the process that trains there.

Two ``fgd train`` in one RUN_DIR would log every row twice and overwrite each other's
checkpoints, so the process that writes RUN_DIR (rank 0 under DDP) holds an exclusive
``fcntl.flock`` on ``train.lock`` for as long as it runs. The operating system drops that lock
when the process ends, however it ends (an exception, Ctrl-C, SIGKILL, a crash), so a lock
from a process that is gone can never keep a run out: whether a run is live is the lock's
answer, never a guess from a pid. The file also records who holds it (pid, host, since when),
for the messages: a second trainer is refused naming the live one, and a trainer that finds the
record of a process that died without releasing takes it over with a note naming that one.
A clean release removes the file, so a finished run directory holds no lock file.

On a file system shared by several machines the lock is as good as its ``flock`` (NFS locks
across clients; a file system that locks only locally cannot keep out a trainer on another
machine).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from datagen.common.errors import InputError
from datagen.common.files import write_error

LOCK_NAME = "train.lock"

#: How long :meth:`RunLock.take` retries a lock that is held, to ride out the instant a
#: :func:`refuse_if_in_use` check of another starting trainer holds it shared.
_RETRY_S = 0.5

#: The locks this process holds. A forked child (a loader worker) closes its copies of their
#: files, so that a lock lives exactly as long as the process that took it.
_HELD: set[RunLock] = set()


def _drop_held_in_child() -> None:
    for lock in _HELD:
        os.close(lock.fd)
        lock.fd = None
    _HELD.clear()


os.register_at_fork(after_in_child=_drop_held_in_child)


class RunLock:
    """The lock on one RUN_DIR, taken by :meth:`take`; :meth:`release` (or the end of a
    ``with`` block) lets it go and removes the folders that :meth:`take` created, if the run
    left them empty."""

    def __init__(self, path: Path, fd: int, created: list[Path]) -> None:
        self.path, self._created = path, created
        self.fd: int | None = fd  # None once released (or in a forked child)
        _HELD.add(self)

    @classmethod
    def take(cls, out: Path) -> RunLock:
        """Lock RUN_DIR ``out`` (created if missing) for this process.

        Raises :class:`InputError` naming the live holder when another process holds it; a
        record left by a process that is gone is taken over with a note on stderr.
        """
        created = [folder for folder in (out, *out.parents) if not folder.exists()]
        path = out / LOCK_NAME
        try:
            out.mkdir(parents=True, exist_ok=True)
            fd = _lock(path, out)
        except OSError as exc:
            _remove_empty(created)
            raise write_error(exc, f"--out {path}") from None
        except BaseException:
            _remove_empty(created)
            raise
        lock = cls(path, fd, created)
        try:
            left = _read_record(fd)
            record = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        except OSError as exc:
            lock.release()
            raise write_error(exc, f"--out {path}") from None
        if left is not None:
            print(
                f"fgd train: --out {out}: {_holder(left)} is gone without releasing the run's "
                "lock; taking it over",
                file=sys.stderr,
            )
        return lock

    def release(self) -> None:
        """Remove the lock file, then unlock (in this order, see :func:`_lock`); idempotent."""
        if self.fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None
        _HELD.discard(self)
        _remove_empty(self._created)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def refuse_if_in_use(out: Path) -> None:
    """Raise :class:`InputError` naming the process that holds RUN_DIR ``out``'s lock, if one
    does (a shared lock for an instant: it leaves the lock and its record as they are)."""
    path = out / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # no lock file (or none we could open): no trainer holds it
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise InputError(_in_use(out, _read_record(fd))) from None
    finally:
        os.close(fd)


def _lock(path: Path, out: Path) -> int:
    """An open descriptor of ``path`` holding its exclusive lock.

    A holder removes the file before it unlocks, so a lock won on a file that is no longer at
    ``path`` is worthless (the next trainer creates a new one): try again on the new file.
    """
    deadline = time.monotonic() + _RETRY_S
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            record = _read_record(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                raise InputError(_in_use(out, record)) from None
            time.sleep(0.05)
            continue
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _in_use(out: Path, record: dict[str, Any] | None) -> str:
    return (
        f"--out {out} is in use by {_holder(record)}; wait for it to end or stop it, "
        "or use a new --out"
    )


def _holder(record: dict[str, Any] | None) -> str:
    """The holder of a lock in words, as its record names it."""
    if record is None:  # the holder has the lock but has not written its record yet
        return "another fgd train process"
    return f"fgd train (pid {record['pid']} on host {record['host']}, since {record['since']})"


def _read_record(fd: int) -> dict[str, Any] | None:
    """The record of the open lock file ``fd``, or None for an empty or unreadable one."""
    with contextlib.suppress(OSError, ValueError):
        record = json.loads(os.pread(fd, 4096, 0))
        if isinstance(record, dict) and {"pid", "host", "since"} <= record.keys():
            return record
    return None


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # it holds something (the run): so do the folders above it
            return
