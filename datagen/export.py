"""`fgd datagen export`: copy a finished store into one HDF5 file that plain h5py can read.

The store keeps fg_bg as a JPEG of the changed box and depth as a layer over the bg's depth;
the export materialises both as full per-sample arrays, so a reader needs no fgd code::

    with h5py.File("fgd.h5") as f:
        fgbg, mask, depth = f["fgbg"][i], f["mask"][i], f["depth"][i]
        bg = f["bg_scenes"][f["placement/bg_id"][i]]

Each per-sample dataset is chunked one sample per chunk, so a random read decompresses exactly
one sample. The bg is stored once per scene (a per-sample copy would add ``N * S * S * 3``
bytes of near-duplicate photos); ``placement/bg_id`` indexes it. The file is written as
``FILE.partial`` and renamed when complete, so a file at ``FILE`` is always whole.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import click
import h5py
import numpy as np
from tqdm import tqdm

from datagen import schema
from datagen.errors import InputError
from datagen.storage import storage_at
from datagen.store import FgdStore, open_store

#: Version of the HDF5 layout below (root attribute ``fgd_hdf5_version``).
HDF5_VERSION = 1

#: Record columns about the store's JPEG coding, meaningless once fg_bg is materialised.
_STORAGE_COLUMNS = frozenset({"jpeg_bytes", "jpeg_quality"})

Compression = Literal["gzip", "lzf", "none"]
COMPRESSIONS: tuple[str, ...] = ("gzip", "lzf", "none")


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
    for name, tail, dtype, opts in (
        ("fgbg", (s, s, 3), np.uint8, plain),
        ("mask", (s, s), np.uint8, plain),
        # Byte shuffle groups the float32 exponent bytes, which roughly halves depth's size.
        ("depth", (s, s), np.float32, _filters(compression, shuffle=True)),
    ):
        f.create_dataset(name, shape=(n, *tail), dtype=dtype, chunks=(1, *tail), **opts)
    f["mask"].attrs["values"] = "0 background, 255 foreground"
    f["depth"].attrs["unit"] = "m"
    f.create_dataset("bg_scenes", data=ds.bg_images, chunks=(1, s, s, 3), **plain)
    string = h5py.string_dtype("utf-8")
    f.create_dataset("bg_names", data=np.array(ds.bg_names, dtype=object), dtype=string)
    f.create_dataset("fg_names", data=np.array(ds.fg_names, dtype=object), dtype=string)

    placement = f.create_group("placement")
    records_f = storage_at(ds.path).open_group(mode="r")["records_f"][...]
    for columns, table in (
        (schema.RECORD_COLUMNS, ds.records),
        (schema.RECORD_F_COLUMNS, records_f),
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
    compression: Compression = "gzip",
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
        InputError: The store is not readable, ``out_path`` exists (without ``overwrite``) or is
            a folder, or ``compression`` is unknown.
    """
    start = time.perf_counter()
    if compression not in COMPRESSIONS:
        raise InputError(f"--compression {compression!r}: choose one of {', '.join(COMPRESSIONS)}")
    ds = open_store(store_path)
    out = Path(out_path)
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give the path of the .h5 file to write")
    if out.exists() and not overwrite:
        raise InputError(f"--out {out}: exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)  # left by a crashed export: start over
    try:
        with h5py.File(partial, "w") as f:
            _create_layout(f, ds, compression)
            bar = tqdm(total=len(ds), desc="export", unit="sample", disable=not progress)
            with bar:
                for c in range(ds.n_chunks):
                    data = ds.read_chunk(c)
                    lo = c * ds.chunk_size
                    hi = lo + len(data["fgbg"])
                    for name in ("fgbg", "mask", "depth"):
                        f[name][lo:hi] = data[name]
                    bar.update(hi - lo)
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExportSummary(
        path=str(out),
        n_samples=len(ds),
        seconds=time.perf_counter() - start,
        bytes_on_disk=out.stat().st_size,
    )


@click.command("export")
@click.argument("store", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["hdf5"]),
    default="hdf5",
    show_default=True,
    help="File format to write.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, metavar="FILE", help="File to write."
)
@click.option(
    "--compression",
    type=click.Choice(COMPRESSIONS),
    default="gzip",
    show_default=True,
    help="Filter of the image datasets (one sample per chunk).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def export_command(
    store: Path, fmt: str, out: Path, compression: Compression, overwrite: bool
) -> None:
    """Export STORE to one file readable without fgd (HDF5: fgbg, mask, depth, bg, placement)."""
    click.echo(export_hdf5(store, out, compression=compression, overwrite=overwrite))
