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
        return self._read(slice(start, min(start + self.chunk_size, len(self))))

    def read_range(self, start: int, stop: int) -> Sample:
        """Samples start..stop-1, stacked."""
        return self._read(slice(start, stop))

    def read_batch(self, indices: Sequence[int] | np.ndarray) -> Sample:
        """Samples at `indices`, stacked in that order; each touched chunk is decoded once."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"index out of range [0, {len(self)})")
        unique, inverse = np.unique(indices, return_inverse=True)
        samples = self._read(unique)
        return {key: value[inverse] for key, value in samples.items()}

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

    def _read(self, selection: slice | np.ndarray) -> Sample:
        if isinstance(selection, slice):
            parts = [self._read_span(selection.start, selection.stop)]
        else:  # one contiguous read per touched chunk: zarr decodes a chunk whole anyway
            chunk_of = selection // self.chunk_size
            groups = np.split(selection, np.flatnonzero(np.diff(chunk_of)) + 1)
            parts = [
                {
                    k: v[group - group[0]]
                    for k, v in self._read_span(group[0], group[-1] + 1).items()
                }
                for group in groups
                if group.size
            ]
        if len(parts) == 1:
            return parts[0]
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}

    def _read_span(self, start: int, stop: int) -> Sample:
        group = self._group
        jpegs, masks, layers = (group[name][start:stop] for name in ("fgbg_jpeg", "mask", "depth"))
        records = self.records[start:stop]
        bg_ids = records[:, schema.COLUMN["bg_id"]]
        bg = self.bg_images[bg_ids]  # one gather; fg_bg starts as a copy of it
        fgbg = bg.copy()
        for sample, record in enumerate(records):
            self._paste_box(fgbg[sample], jpegs[sample], record)
        units = np.where(layers > 0, layers, self._bg_depth_units[bg_ids])
        return {
            "bg": bg,
            "fgbg": fgbg,
            "mask": masks,
            "depth": schema.depth_metres(units),
        }

    @staticmethod
    def _paste_box(frame: np.ndarray, jpeg_slot: np.ndarray, record: np.ndarray) -> None:
        n_bytes = record[schema.COLUMN["jpeg_bytes"]]
        if n_bytes == 0:
            return
        y0, x0, y1, x1 = record[schema.COLUMN["box_y0"] : schema.COLUMN["box_x1"] + 1]
        frame[y0:y1, x0:x1] = decode_jpeg(jpeg_slot[:n_bytes])
