"""`fgd datagen export`: copy a finished store into one HDF5 file that plain h5py can read.

The store keeps fg_bg as a JPEG of the changed box and depth as a layer over the bg's depth;
the export materialises both as full per-sample arrays, so a reader needs no fgd code::

    with h5py.File("fgd.h5") as f:
        fgbg, mask, depth = f["fgbg"][i], f["mask"][i], f["depth"][i]
        bg = f["bg_scenes"][f["placement/bg_id"][i]]

Each per-sample dataset is chunked one sample per chunk, so a random read decompresses exactly
one sample. The bg is stored once per scene (a per-sample copy would add ``N * S * S * 3``
bytes of near-duplicate photos); ``placement/bg_id`` indexes it. The per-sample datasets are
the reader's fields (:data:`datagen.store.schema.FIELDS`). The file is written through
:func:`datagen.common.files.atomic_output`, so a file at ``FILE`` is always whole: an error, a
damaged store or Ctrl-C leaves no file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from datagen.common.errors import InputError
from datagen.common.files import atomic_output, check_output
from datagen.common.progress import progress_bar
from datagen.common.workers import check_interrupt, deferred_interrupts
from datagen.options import COMPRESSIONS, DEFAULT_COMPRESSION, Compression
from datagen.store import schema
from datagen.store.reader import FgdStore, open_store
from datagen.store.schema import FIELDS

#: Version of the HDF5 layout below (root attribute ``fgd_hdf5_version``).
HDF5_VERSION = 1

#: Record columns about the store's JPEG coding, meaningless once fg_bg is materialised.
_STORAGE_COLUMNS = frozenset({"jpeg_bytes", "jpeg_quality"})


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    path: str
    n_samples: int
    seconds: float
    bytes_on_disk: int

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.n_samples:,} samples in {self.seconds:.1f} s, "
            f"{self.bytes_on_disk / 1e6:,.1f} MB"
        )


def _filters(compression: Compression, shuffle: bool) -> dict[str, Any]:
    if compression == "none":
        return {}
    opts: dict[str, Any] = {"compression": compression, "shuffle": shuffle}
    if compression == "gzip":
        opts["compression_opts"] = 4
    return opts


def _create_layout(f: h5py.File, ds: FgdStore, compression: Compression) -> None:
    """Create every dataset and attribute; the per-sample arrays are filled chunk by chunk."""
    n, s = len(ds), ds.size
    plain = _filters(compression, shuffle=False)
    for field in FIELDS:
        if not field.exported:
            continue
        tail = field.tail(s)
        dataset = f.create_dataset(
            field.name,
            shape=(n, *tail),
            dtype=field.dtype,
            chunks=(1, *tail),
            **_filters(compression, shuffle=field.hdf5_shuffle),
        )
        for key, value in field.hdf5_attrs:
            dataset.attrs[key] = value
    f.create_dataset("bg_scenes", data=ds.bg_images, chunks=(1, s, s, 3), **plain)
    string = h5py.string_dtype("utf-8")
    f.create_dataset("bg_names", data=np.array(ds.bg_names, dtype=object), dtype=string)
    f.create_dataset("fg_names", data=np.array(ds.fg_names, dtype=object), dtype=string)

    placement = f.create_group("placement")
    for columns, table in (
        (schema.RECORD_COLUMNS, ds.records),
        (schema.RECORD_F_COLUMNS, ds.records_f),
        (schema.RECORD_SHADOW_COLUMNS, ds.records_shadow),
    ):
        for k, column in enumerate(columns):
            if column not in _STORAGE_COLUMNS:
                placement.create_dataset(column, data=np.ascontiguousarray(table[:, k]))

    f.attrs["fgd_hdf5_version"] = HDF5_VERSION
    f.attrs["n_samples"] = n
    f.attrs["size"] = s
    f.attrs["depth_max_m"] = ds.depth_max
    f.attrs["store_attrs_json"] = json.dumps(ds.attrs, sort_keys=True)


def export_hdf5(
    store_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    compression: Compression = DEFAULT_COMPRESSION,
    overwrite: bool = False,
    progress: bool = True,
) -> ExportSummary:
    """Write the store at ``store_path`` to the HDF5 file ``out_path`` (layout: module docstring).

    Args:
        store_path: A finished fgd store.
        out_path: The HDF5 file to write; its folder is created if needed.
        compression: Filter of the image datasets: "gzip" (level 4), "lzf" or "none".
        overwrite: Replace an existing ``out_path``.
        progress: Show a progress bar on stderr.

    Raises:
        InputError: The store is not readable, ``out_path`` exists (without ``overwrite``), is
            a folder or cannot be written, or ``compression`` is unknown.
        DamagedDataError: A shard of the store is missing or damaged (no file is left).
    """
    start = time.perf_counter()
    if compression not in COMPRESSIONS:
        raise InputError(f"--compression {compression!r}: choose one of {', '.join(COMPRESSIONS)}")
    ds = open_store(store_path)
    out = check_output(out_path, "--out", overwrite)
    _remove_leftovers(out)
    with (
        deferred_interrupts(),
        atomic_output(out, "--out") as partial,
        _write_failures_of_h5py() as failed,
    ):
        with h5py.File(partial, "w") as f:
            _create_layout(f, ds, compression)
            names = [field.name for field in FIELDS if field.exported]
            with progress_bar(total=len(ds), desc="export", unit="sample", enabled=progress) as bar:
                for c in range(ds.n_chunks):
                    check_interrupt()
                    if failed:
                        raise failed[0]
                    data = ds.read_chunk(c)
                    lo = c * ds.chunk_size
                    hi = lo + len(data["fgbg"])
                    for name in names:
                        f[name][lo:hi] = data[name]
                    bar.update(hi - lo)
        check_interrupt()
    return ExportSummary(
        path=str(out),
        n_samples=len(ds),
        seconds=time.perf_counter() - start,
        bytes_on_disk=out.stat().st_size,
    )


@contextlib.contextmanager
def _write_failures_of_h5py() -> Iterator[list[OSError]]:
    """Collect the OSErrors that h5py meets while flushing in an object's destructor.

    There Python can only print them (through ``sys.excepthook`` and ``sys.unraisablehook``):
    on a full disk a traceback per dataset and chunk, while the export went on. Collected, the
    export stops at the next chunk with the first of them.
    """
    failed: list[OSError] = []
    previous_excepthook, previous_unraisablehook = sys.excepthook, sys.unraisablehook

    def excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if isinstance(value, OSError):
            failed.append(value)
        else:
            previous_excepthook(kind, value, tb)

    def unraisablehook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, OSError):
            failed.append(unraisable.exc_value)
        else:
            previous_unraisablehook(unraisable)

    sys.excepthook, sys.unraisablehook = excepthook, unraisablehook
    try:
        yield failed
    finally:
        sys.excepthook, sys.unraisablehook = previous_excepthook, previous_unraisablehook


def _remove_leftovers(out: Path) -> None:
    """Delete what a killed export to `out` left: the temporary of a process that is gone, and
    ``FILE.partial`` (the temporary of fgd versions before :func:`atomic_output`)."""
    out.with_name(out.name + ".partial").unlink(missing_ok=True)
    prefix = f".{out.name}."
    for tmp in out.parent.iterdir():
        pid = tmp.name.removeprefix(prefix).removesuffix(".tmp")
        stale = tmp.name.startswith(prefix) and tmp.name.endswith(".tmp") and pid.isdigit()
        if stale and not _running(int(pid)):
            tmp.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
