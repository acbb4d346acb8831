"""Small stores built once per session and reused by the datagen tests."""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
import zarr

from datagen import schema
from datagen.build import build_store
from datagen.config import BuildConfig
from datagen.schema import SPEC
from datagen.shards import layout_of
from datagen.store import FgdStore, open_store


def tiny_config(out: Path, **overrides: object) -> BuildConfig:
    """A 36-sample procedural plan at 64 px in 3 shards of 2 chunks."""
    values: dict[str, object] = {
        "out": str(out),
        "size": 64,
        "n_bg": 3,
        "n_fg": 3,
        "positions": 2,
        "workers": 1,
        "chunk_size": 8,
        "shard_size": 16,
    }
    values.update(overrides)
    return BuildConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny procedural store (read-only for the tests that use it)."""
    out = tmp_path_factory.mktemp("stores") / "tiny.zarr"
    build_store(tiny_config(out), progress=False)
    return out


def unpacked_rows(ds: FgdStore, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Samples start..stop-1 of per-sample array `name` as format 2 stored them, whatever the
    store's format: a packed array's payloads unpacked into rows (the JPEG at the front of its
    zero-padded slot, mask and depth layer as whole frames)."""
    stop = len(ds) if stop is None else stop
    spec = SPEC[name]
    if not spec.packed(ds.root.fgd_format):
        return ds.stored(name, start, stop)  # type: ignore[return-value]
    rows = spec.empty(stop - start, ds.size)
    for row, payload, record in zip(
        rows, ds.stored(name, start, stop), ds.records[start:stop], strict=True
    ):
        if row.ndim == 1:  # the JPEG's slot
            row[: payload.size] = payload
        else:
            row[...] = schema.unpack_layer(payload, record, ds.size)
    return rows


def stored_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the store at `path`, the per-sample ones as :func:`unpacked_rows` gives
    them (so stores of other shard sizes or formats compare by what they hold)."""
    ds = open_store(path)
    group = zarr.open_group(str(path), mode="r")
    rows = {name: unpacked_rows(ds, name) for name in ds.sample_arrays}
    return {**rows, **{name: group[name][...] for name in ds.asset_arrays}}


def as_format_2(store: Path, out: Path) -> Path:
    """A copy of a format-3 store as format 2 wrote it: each packed array unpacked into rows
    (:func:`unpacked_rows`) and format 2's root attributes, its checksums those of the new
    shard objects (test_store_identity proves the result equal to what format 2's builder
    wrote)."""
    ds = open_store(store)
    shutil.copytree(store, out)
    group = zarr.open_group(str(out), mode="r+")
    attrs = group.attrs.asdict()
    root = ds.root
    for name in root.sample_arrays:
        spec = SPEC[name]
        if not spec.packed(root.fgd_format):
            continue
        shutil.rmtree(out / name)
        array = spec.create(group, len(ds), ds.size, root.chunk_size, root.shard_size, fmt=2)
        layout = layout_of(array)
        for shard in range(root.n_shards):
            start = shard * root.shard_size
            data = layout.encode(
                unpacked_rows(ds, name, start, start + root.shard_length(shard)), shard
            )
            path = out / name / schema.shard_key(array, shard)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            attrs["integrity"][name][shard] = f"{zlib.crc32(data):08x}"
    attrs["fgd_format"] = 2
    group.attrs.put(attrs)
    return out
