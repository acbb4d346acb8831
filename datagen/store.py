"""The reader: :func:`open_store` gives a read-only, picklable view of a finished store.

Samples come back as full-frame numpy arrays: the reader pastes each sample's JPEG-coded box
onto its bg and lays its depth layer over its bg's depth (see :mod:`datagen.schema`). Reading
whole chunks (:meth:`FgdStore.read_chunk`) or many indices at once (:meth:`FgdStore.read_batch`)
decodes each touched chunk once; a loop over ``ds[i]`` pays zarr's per-read overhead each time.
A store may be a local folder or any fsspec URL zarr opens (``s3://bucket/x.zarr``, ``file://``,
``memory://``; see :mod:`datagen.storage`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from datagen import schema
from datagen.errors import InputError
from datagen.imaging import decode_jpeg
from datagen.storage import storage_at

Sample = dict[str, np.ndarray]


def open_store(path: str | Path) -> FgdStore:
    """Open the fgd store at `path` (a folder or an fsspec URL) for reading.

    Raises:
        InputError: `path` is missing, is not an fgd store, has another format version, or is
            an unfinished build.
    """
    return FgdStore(str(path))


class FgdStore:
    """A finished fgd dataset: ``len(ds)``, ``ds[i]``, :meth:`read_batch`, :meth:`meta`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._open()

    def _open(self) -> None:
        path = self.path
        storage = storage_at(path)
        if not storage.occupied():
            empty_folder = "://" not in path and Path(path).is_dir()
            raise InputError(
                f"{path}: not an fgd store (an empty folder)"
                if empty_folder
                else f"{path}: no such store"
            )
        try:
            group = storage.open_group(mode="r")
        except (FileNotFoundError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"{path}: not a Zarr store ({type(error).__name__})") from None
        attrs = group.attrs.asdict()
        if "fgd_format" not in attrs:
            raise InputError(f"{path}: a Zarr store, but not one written by fgd datagen build")
        if attrs["fgd_format"] != schema.FORMAT_VERSION:
            raise InputError(
                f"{path}: store format {attrs['fgd_format']}, this fgd reads "
                f"{schema.FORMAT_VERSION}"
            )
        if attrs.get("status") != "complete":
            raise InputError(f"{path}: unfinished build; rerun the same build command to finish")
        missing = [
            name
            for name in (*schema.SAMPLE_ARRAYS, *schema.ASSET_ARRAYS)
            if name not in group.array_keys()
        ]
        if missing:
            raise InputError(f"{path}: store lacks the arrays {', '.join(missing)}")
        self._group = group
        self.attrs: dict[str, Any] = attrs
        self.size = int(attrs["size"])
        self.chunk_size = int(attrs["chunk_size"])
        self.depth_max = float(attrs["depth"]["max"])
        self.depth_unit = str(attrs["depth"]["unit"])
        self.bg_names: list[str] = list(attrs["bg_names"])
        self.fg_names: list[str] = list(attrs["fg_names"])

    def __getstate__(self) -> dict[str, str]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.path = state["path"]
        self._open()

    def __len__(self) -> int:
        return int(self.attrs["n_samples"])

    def __repr__(self) -> str:
        return f"FgdStore({self.path!r}, n={len(self)}, size={self.size})"

    @property
    def n_chunks(self) -> int:
        return -(-len(self) // self.chunk_size)

    @cached_property
    def records(self) -> np.ndarray:
        """(N, len(RECORD_COLUMNS)) int32 placement records of every sample."""
        return self._group["records"][...]

    @cached_property
    def bg_ids(self) -> np.ndarray:
        """(N,) int32 bg scene of every sample."""
        return np.ascontiguousarray(self.records[:, schema.COLUMN["bg_id"]])

    @cached_property
    def fg_ids(self) -> np.ndarray:
        """(N,) int32 fg cutout of every sample."""
        return np.ascontiguousarray(self.records[:, schema.COLUMN["fg_id"]])

    @cached_property
    def bg_images(self) -> np.ndarray:
        """(n_bg, S, S, 3) uint8 bg scenes."""
        return self._group["bg"][...]

    @cached_property
    def bg_depth(self) -> np.ndarray:
        """(n_bg, S, S) float32 bg depth in metres."""
        return schema.depth_metres(self._bg_depth_units)

    @cached_property
    def fg_cutouts(self) -> list[np.ndarray]:
        """The fg working copies as (h, w, 4) uint8 straight RGBA, one per fg id."""
        fg, shapes = self._group["fg"][...], self._group["fg_shape"][...]
        return [fg[i, :h, :w] for i, (h, w) in enumerate(shapes)]

    @cached_property
    def _bg_depth_units(self) -> np.ndarray:
        return self._group["bg_depth"][...]

    def __getitem__(self, index: int) -> Sample:
        return {key: value[0] for key, value in self.read_batch([index]).items()}

    def read_chunk(self, chunk: int) -> Sample:
        """All samples of one chunk, stacked (the cheapest read per sample)."""
        if not 0 <= chunk < self.n_chunks:
            raise IndexError(f"chunk {chunk} out of range [0, {self.n_chunks})")
        start = chunk * self.chunk_size
        return self.read_range(start, min(start + self.chunk_size, len(self)))

    def read_range(self, start: int, stop: int) -> Sample:
        """Samples start..stop-1, stacked."""
        return self.read_batch(np.arange(start, stop))

    def read_batch(
        self,
        indices: Sequence[int] | np.ndarray,
        *,
        depth_units: bool = False,
        out: Sample | None = None,
    ) -> Sample:
        """Samples at `indices`, stacked in that order; each touched chunk is decoded once.

        Args:
            indices: Sample indices, in any order, repeats allowed.
            depth_units: Return ``depth`` as the store's uint16 units (divide by
                :data:`datagen.schema.UNITS_PER_METRE` for metres) instead of float32 metres:
                half the bytes, for loaders that convert on the device.
            out: Arrays to write into instead of allocating (a loader passes shared memory):
                ``bg``, ``fgbg`` (n, S, S, 3) uint8, ``mask`` (n, S, S) uint8, ``depth``
                (n, S, S) float32 or uint16 as `depth_units` says.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"index out of range [0, {len(self)})")
        if out is None:
            out = self._empty(len(indices), depth_units)
        # One contiguous read per touched chunk (zarr decodes a chunk whole anyway).
        by_index = np.argsort(indices, kind="stable")
        chunk_of = indices[by_index] // self.chunk_size
        for positions in np.split(by_index, np.flatnonzero(np.diff(chunk_of)) + 1):
            if positions.size:
                self._read_rows(indices[positions], positions, out, depth_units)
        return out

    def _empty(self, n: int, depth_units: bool) -> Sample:
        s = self.size
        return {
            "bg": np.empty((n, s, s, 3), np.uint8),
            "fgbg": np.empty((n, s, s, 3), np.uint8),
            "mask": np.empty((n, s, s), np.uint8),
            "depth": np.empty((n, s, s), np.uint16 if depth_units else np.float32),
        }

    def meta(self, index: int) -> dict[str, Any]:
        """The placement record of sample `index`, with its asset names."""
        record = dict(
            zip(schema.RECORD_COLUMNS, (int(v) for v in self.records[index]), strict=True)
        )
        floats = self._group["records_f"][index]
        record.update(zip(schema.RECORD_F_COLUMNS, (float(v) for v in floats), strict=True))
        record["flip"] = bool(record["flip"])
        record["bg_name"] = self.bg_names[record["bg_id"]]
        record["fg_name"] = self.fg_names[record["fg_id"]]
        record["box"] = tuple(record[k] for k in ("box_y0", "box_x0", "box_y1", "box_x1"))
        return record

    def _read_rows(
        self, rows: np.ndarray, positions: np.ndarray, out: Sample, depth_units: bool
    ) -> None:
        """Samples `rows` (all in one chunk) into ``out[key][positions]``."""
        start, stop = int(rows.min()), int(rows.max()) + 1
        group = self._group
        jpegs, masks, layers = (group[name][start:stop] for name in ("fgbg_jpeg", "mask", "depth"))
        local = rows - start
        records = self.records[rows]
        bg_ids = records[:, schema.COLUMN["bg_id"]]
        bg_images, bg_units = self.bg_images, self._bg_depth_units
        for position, row, record, bg_id in zip(positions, local, records, bg_ids, strict=True):
            out["bg"][position] = bg_images[bg_id]
            out["fgbg"][position] = bg_images[bg_id]
            self._paste_box(out["fgbg"][position], jpegs[row], record)
            out["mask"][position] = masks[row]
            layer = layers[row]
            units = np.where(layer > 0, layer, bg_units[bg_id])
            out["depth"][position] = units if depth_units else schema.depth_metres(units)

    @staticmethod
    def _paste_box(frame: np.ndarray, jpeg_slot: np.ndarray, record: np.ndarray) -> None:
        n_bytes = record[schema.COLUMN["jpeg_bytes"]]
        if n_bytes == 0:
            return
        y0, x0, y1, x1 = record[schema.COLUMN["box_y0"] : schema.COLUMN["box_x1"] + 1]
        frame[y0:y1, x0:x1] = decode_jpeg(jpeg_slot[:n_bytes])
