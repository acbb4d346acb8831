"""Where a store's bytes live: a local folder, or any fsspec URL that zarr can open.

The builder and the audit reach a store only through :class:`Storage`: small JSON objects
(build markers) and whole objects (shards) written atomically and durably, listing and removal
of a prefix, total bytes, and the Zarr group itself.

- A local path or ``file://`` URL (:class:`LocalStorage`) keeps POSIX guarantees: markers and
  shards are written to a temporary file, fsynced and renamed; every object is fsynced before
  it counts.
- Any other URL (:class:`FsspecStorage`: ``s3://bucket/x.zarr``, ``gs://``, ``memory://`` ...)
  relies on the object store: one PUT is atomic and durable once it returns, so there is
  nothing to fsync. Credentials come from the backend's usual environment (for ``s3://``:
  ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``~/.aws``...).
- ``memory://`` lives in the memory of the process that wrote it: other processes (build
  workers, Dask workers on other machines) cannot see it (:attr:`Storage.in_process_only`).
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import uuid
from abc import ABC, abstractmethod
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zarr
from fsspec import AbstractFileSystem
from fsspec.core import split_protocol, url_to_fs

from datagen.common.errors import InputError
from datagen.common.files import write_error

_LOCAL_PROTOCOLS = (None, "file", "local")


def storage_at(location: str | os.PathLike[str]) -> Storage:
    """The storage behind a store location: a local path or an fsspec URL.

    Raises:
        InputError: The URL names a protocol fsspec does not know or whose package is missing.
    """
    text = os.fspath(location)
    protocol, path = split_protocol(text)
    if protocol in _LOCAL_PROTOCOLS:
        return LocalStorage(text, Path(path))
    try:
        fs, root = url_to_fs(text)
    except (ImportError, ValueError) as error:
        raise InputError(f"{text}: cannot open this URL ({error})") from None
    return FsspecStorage(text, fs, root.rstrip("/"))


class Storage(ABC):
    """A store's objects, addressed by keys relative to its root (``"_build/assets.json"``)."""

    #: The location as the user wrote it (messages, and what a store records as ``out``).
    name: str

    @property
    @abstractmethod
    def zarr_path(self) -> str:
        """What zarr opens in this process."""

    @property
    @abstractmethod
    def shared_url(self) -> str:
        """What another process, here or on another machine, opens (absolute)."""

    @property
    def in_process_only(self) -> bool:
        """True when no other process can reach the store (``memory://``)."""
        return False

    def open_group(self, mode: str) -> zarr.Group:
        """The store's root group (`mode` as in :func:`zarr.open_group`)."""
        return zarr.open_group(self.zarr_path, mode=mode)  # type: ignore[arg-type]

    def read_json(self, key: str) -> dict[str, Any] | None:
        """The JSON object at `key`, or None if it is missing or unreadable."""
        try:
            payload = json.loads(self.read_bytes(key))
        except (OSError, ValueError):
            return None
        return payload if isinstance(payload, dict) else None

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The bytes of the object at `key` (FileNotFoundError if there is none)."""

    @abstractmethod
    def read_range(self, key: str, start: int, stop: int | None = None) -> bytes:
        """Bytes start..stop-1 of the object at `key` (as a slice: a negative start counts from
        its end, no stop reads to it; FileNotFoundError if there is none)."""

    @abstractmethod
    def write_json(self, key: str, payload: dict[str, Any]) -> None:
        """Write `payload` at `key` atomically and durably: readers see all of it or none."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write the object at `key` atomically and durably (readers see all of it or none)."""

    @abstractmethod
    def sync_all(self) -> None:
        """Make every object of the store durable."""

    @abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """Names of the objects directly under `prefix` (empty if there are none)."""

    @abstractmethod
    def remove(self, prefix: str = "") -> None:
        """Remove everything under `prefix` (the whole store when empty); no error if absent."""

    @abstractmethod
    def total_bytes(self, prefix: str = "") -> int:
        """Bytes of all objects under `prefix` (the whole store when empty)."""

    @abstractmethod
    def occupied(self) -> bool:
        """Whether anything is at the location (an empty folder is not).

        Raises:
            InputError: The location cannot be reached (no credentials, no permission).
        """

    @abstractmethod
    def write_problem(self) -> str | None:
        """Why a store cannot be created at the location, or None if it can."""


@dataclass(frozen=True)
class LocalStorage(Storage):
    """A folder on a local (or shared, POSIX) file system."""

    name: str
    root: Path

    @property
    def zarr_path(self) -> str:
        return str(self.root)

    @property
    def shared_url(self) -> str:
        return str(self.root.absolute())

    def read_bytes(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def read_range(self, key: str, start: int, stop: int | None = None) -> bytes:
        with open(self.root / key, "rb") as handle:
            handle.seek(start, os.SEEK_END if start < 0 else os.SEEK_SET)
            return handle.read() if stop is None else handle.read(max(0, stop - handle.tell()))

    def write_json(self, key: str, payload: dict[str, Any]) -> None:
        path = self.root / key
        self.write_bytes(key, json.dumps(payload).encode())
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self.root / key
        tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex}")  # unique across hosts too
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise write_error(exc, str(path)) from None

    def sync_all(self) -> None:
        for path in self.root.rglob("*"):
            if path.is_file():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())

    def keys(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def remove(self, prefix: str = "") -> None:
        shutil.rmtree(self.root / prefix, ignore_errors=True)

    def total_bytes(self, prefix: str = "") -> int:
        return sum(p.stat().st_size for p in (self.root / prefix).rglob("*") if p.is_file())

    def occupied(self) -> bool:
        return self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir()))

    def write_problem(self) -> str | None:
        # Missing parent folders are made (as `mkdir -p` would); what must hold is that the
        # nearest existing ancestor is a folder we may write in.
        folder = self.root
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            return f"{folder} is a file, not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"cannot write in {folder} (permission denied)"
        return None


@dataclass(frozen=True)
class FsspecStorage(Storage):
    """Objects under a root path of an fsspec file system (an object store, or memory)."""

    name: str
    fs: AbstractFileSystem
    root: str

    @property
    def zarr_path(self) -> str:
        return self.name

    @property
    def shared_url(self) -> str:
        return self.name

    @property
    def in_process_only(self) -> bool:
        return "memory" in _protocols(self.fs)

    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self._path(key))

    def read_range(self, key: str, start: int, stop: int | None = None) -> bytes:
        return self.fs.cat_file(self._path(key), start=start, end=stop)

    def write_json(self, key: str, payload: dict[str, Any]) -> None:
        self.fs.pipe_file(self._path(key), json.dumps(payload).encode())  # one atomic PUT

    def write_bytes(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(key), data)  # one atomic PUT, durable once it returns

    def sync_all(self) -> None:
        """Nothing to do: every finished PUT is durable."""

    def keys(self, prefix: str) -> list[str]:
        path = self._path(prefix)
        self.fs.invalidate_cache(path)  # listings are cached; other processes write here
        try:
            return sorted(posixpath.basename(p) for p in self.fs.ls(path, detail=False))
        except FileNotFoundError:
            return []

    def remove(self, prefix: str = "") -> None:
        with suppress(FileNotFoundError):
            self.fs.rm(self._path(prefix), recursive=True)

    def total_bytes(self, prefix: str = "") -> int:
        path = self._path(prefix)
        self.fs.invalidate_cache(path)
        try:
            return int(self.fs.du(path, total=True))
        except FileNotFoundError:
            return 0

    def occupied(self) -> bool:
        try:  # the first request to the backend: its errors (no credentials...) differ in type
            return bool(self.keys(""))
        except Exception as error:
            raise InputError(
                f"{self.name}: cannot reach it ({type(error).__name__}: {error})"
            ) from None

    def write_problem(self) -> str | None:
        probe = self._path(f".fgd-write-probe-{uuid.uuid4().hex}")
        try:  # the backend's own errors (no bucket, no credentials...) differ in type
            self.fs.pipe_file(probe, b"")
            self.fs.rm_file(probe)
        except Exception as error:
            return f"cannot write there ({type(error).__name__}: {error})"
        return None

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root


def _protocols(fs: AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
