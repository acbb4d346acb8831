"""Small stores built once per session and reused by the datagen tests."""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
import zarr

from datagen.builder.build import build_store
from datagen.builder.config import BuildConfig
from datagen.store import schema
from datagen.store.reader import FgdStore, open_store
from datagen.store.schema import SPEC
from datagen.store.shards import layout_of


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
    zero-padded slot, the mask and a teacher's depth as whole frames), and a geometric format-3
    store's depth layer made from its mask and ``fg_depth``."""
    stop = len(ds) if stop is None else stop
    spec = SPEC[name]
    if name not in ds.sample_arrays:  # the depth layer of a geometric store of format 3
        masks = unpacked_rows(ds, "mask", start, stop)
        fg_units = ds.stored("fg_depth", start, stop)[:, 0]  # type: ignore[call-overload]
        return np.stack(
            [schema.depth_layer(m, int(u)) for m, u in zip(masks, fg_units, strict=True)]
        )
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
    """Every array of the store at `path` as format 2 held it (:func:`unpacked_rows`), so that
    stores of other shard sizes or formats compare by what they hold."""
    ds = open_store(path)
    group = zarr.open_group(str(path), mode="r")
    teacher = ds.root.depth.teacher is not None
    names = schema.sample_arrays(min(2, ds.root.fgd_format), teacher)
    rows = {name: unpacked_rows(ds, name) for name in names}
    return {**rows, **{name: group[name][...] for name in ds.asset_arrays}}


def as_format_2(store: Path, out: Path) -> Path:
    """A copy of a format-3 store as format 2 wrote it: its per-sample arrays as
    :func:`unpacked_rows` gives them, without ``fg_depth``, and format 2's root attributes,
    the checksums those of the new shard objects (test_store_identity proves the result equal
    to what format 2's builder wrote)."""
    ds = open_store(store)
    shutil.copytree(store, out)
    group = zarr.open_group(str(out), mode="r+")
    attrs = group.attrs.asdict()
    root = ds.root
    names = schema.sample_arrays(2, root.depth.teacher is not None)
    integrity = {}
    for name in names:
        if name in root.sample_arrays and not SPEC[name].packed(root.fgd_format):
            integrity[name] = attrs["integrity"][name]  # the same rows
            continue
        shutil.rmtree(out / name, ignore_errors=True)
        array = SPEC[name].create(group, len(ds), ds.size, root.chunk_size, root.shard_size, fmt=2)
        layout = layout_of(array)
        integrity[name] = []
        for shard in range(root.n_shards):
            start = shard * root.shard_size
            rows = unpacked_rows(ds, name, start, start + root.shard_length(shard))
            data = layout.encode(rows, shard)
            path = out / name / schema.shard_key(array, shard)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            integrity[name].append(f"{zlib.crc32(data):08x}")
    for name in set(root.sample_arrays) - set(names):
        shutil.rmtree(out / name)
    attrs["fgd_format"], attrs["integrity"] = 2, integrity
    group.attrs.put(attrs)
    return out
