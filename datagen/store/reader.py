"""The reader: :func:`open_store` gives a read-only, picklable view of a finished store.

Samples come back as full-frame numpy arrays: the reader pastes each sample's JPEG-coded box
onto its bg and lays its depth layer over its bg's depth (see :mod:`datagen.store.schema`). Reading
whole chunks (:meth:`FgdStore.read_chunk`) or many indices at once (:meth:`FgdStore.read_batch`)
decodes each touched chunk once; a loop over ``ds[i]`` pays zarr's per-read overhead each time.
A store may be a local folder or any fsspec URL zarr opens (``s3://bucket/x.zarr``, ``file://``,
``memory://``; see :mod:`datagen.store.storage`).

What the reader returns, and from which stored arrays, is the contract's :data:`schema.FIELDS`.
It reads stores of every format in :data:`schema.READABLE_FORMATS`; a format-1 store has no
shadows, and its samples' shadow records read as :data:`datagen.store.schema.NO_SHADOW`.

**Damage.** zarr reads a missing shard as fill values (zeros) and does not check a chunk's bytes,
so a deleted or altered shard would silently become empty masks or a traceback from a decoder.
The first time a process touches a shard of a per-sample array, the reader compares the CRC-32
of the whole shard object with the one the build recorded (one extra read of each shard per
process), and raises :class:`DamagedDataError` naming the store, the array and the shard if it
is missing or differs; a decode that fails all the same (the shard changed after its check)
raises the same error.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import zarr

from datagen.common.errors import DamagedDataError, InputError, error_summary
from datagen.store import schema
from datagen.store.schema import FIELDS, SPEC, RootAttrs, SampleSource, Stats
from datagen.store.shards import MISSING, layout_of
from datagen.store.storage import Storage, storage_at

Sample = dict[str, np.ndarray]


def open_store(path: str | Path) -> FgdStore:
    """Open the fgd store at `path` (a folder or an fsspec URL) for reading.

    Raises:
        InputError: `path` is missing, is not an fgd store, has a format this fgd does not
            read, or is an unfinished build.
    """
    return FgdStore(str(path))


def shard_problem(storage: Storage, array: zarr.Array, shard: int, recorded: str) -> str | None:
    """What is wrong with `shard` of per-sample `array`: ``"missing"``, ``"checksum X !=
    recorded Y"``, or None when its object matches the CRC-32 the build recorded."""
    try:
        data = storage.read_bytes(f"{array.path}/{schema.shard_key(array, shard)}")
    except FileNotFoundError:
        return "missing"
    crc = f"{zlib.crc32(data):08x}"
    return None if crc == recorded else f"checksum {crc} != recorded {recorded}"


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
        if attrs["fgd_format"] not in schema.READABLE_FORMATS:
            readable = " and ".join(str(v) for v in schema.READABLE_FORMATS)
            raise InputError(
                f"{path}: store format {attrs['fgd_format']!r}, this fgd reads formats {readable}"
            )
        if attrs.get("status") != "complete":
            raise InputError(f"{path}: unfinished build; rerun the same build command to finish")
        try:
            root = RootAttrs.from_dict(attrs)
        except (KeyError, TypeError, ValueError) as error:
            raise DamagedDataError(
                f"{path}: damaged root attributes ({type(error).__name__}: {error_summary(error)})"
            ) from None
        if root.integrity is None:
            raise DamagedDataError(f"{path}: the root attributes lack the integrity record")
        names = (*root.sample_arrays, *root.asset_arrays)
        missing = [name for name in names if name not in group.array_keys()]
        if missing:
            raise InputError(f"{path}: store lacks the arrays {', '.join(missing)}")
        self._storage = storage
        self._group = group
        self._arrays: dict[str, zarr.Array] = {name: group[name] for name in names}
        try:
            self._layouts = {name: layout_of(self._arrays[name]) for name in root.sample_arrays}
        except ValueError as error:  # another writer's codecs
            raise InputError(f"{path}: {error_summary(error)}") from None
        self._checked: set[tuple[str, int]] = set()
        self._chunk_ranges: dict[tuple[str, int], np.ndarray] = {}
        self._payload_table: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.root = root
        #: The per-sample and per-store arrays of this store (its format, its teacher).
        self.sample_arrays = root.sample_arrays
        self.asset_arrays = root.asset_arrays
        #: The raw root attributes (the typed view is :attr:`root`).
        self.attrs: dict[str, Any] = attrs
        self.size = root.size
        self.chunk_size = root.chunk_size
        self.depth_max = root.depth.max
        self.depth_unit = root.depth.unit
        self.bg_names: list[str] = list(root.bg_names)
        self.fg_names: list[str] = list(root.fg_names)

    def __getstate__(self) -> dict[str, str]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.path = state["path"]
        self._open()

    def __len__(self) -> int:
        return self.root.n_samples

    def __repr__(self) -> str:
        return f"FgdStore({self.path!r}, n={len(self)}, size={self.size})"

    @property
    def n_chunks(self) -> int:
        return -(-len(self) // self.chunk_size)

    @cached_property
    def stats(self) -> Stats | None:
        """The store's statistics (``fgd datagen stats``), or None if they were never computed.

        Raises:
            DamagedDataError: The ``stats`` attribute is malformed.
        """
        raw = self.attrs.get("stats")
        if raw is None:
            return None
        try:
            return Stats.from_dict(raw)
        except (KeyError, TypeError, ValueError) as error:
            raise DamagedDataError(
                f"{self.path}: malformed stats attribute ({error_summary(error)}); rerun "
                f"`fgd datagen stats {self.path}`"
            ) from None

    @cached_property
    def records(self) -> np.ndarray:
        """(N, len(RECORD_COLUMNS)) int32 placement records of every sample."""
        return self._read_checked("records", 0, len(self))

    @cached_property
    def records_f(self) -> np.ndarray:
        """(N, len(RECORD_F_COLUMNS)) float32 placement records of every sample."""
        return self._read_checked("records_f", 0, len(self))

    @cached_property
    def records_shadow(self) -> np.ndarray:
        """(N, len(RECORD_SHADOW_COLUMNS)) float32 shadow parameters of every sample
        (:data:`~datagen.store.schema.NO_SHADOW` throughout a format-1 store)."""
        if "records_shadow" not in self.sample_arrays:
            none = np.array(schema.NO_SHADOW.record(), np.float32)
            return np.broadcast_to(none, (len(self), len(none)))
        return self._read_checked("records_shadow", 0, len(self))

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
        return self._arrays["bg"][...]

    @cached_property
    def bg_depth(self) -> np.ndarray:
        """(n_bg, S, S) float32 bg depth in metres."""
        return schema.depth_metres(self._bg_depth_units)

    @cached_property
    def fg_cutouts(self) -> list[np.ndarray]:
        """The fg working copies as (h, w, 4) uint8 straight RGBA, one per fg id."""
        fg, shapes = self._arrays["fg"][...], self._arrays["fg_shape"][...]
        return [fg[i, :h, :w] for i, (h, w) in enumerate(shapes)]

    @cached_property
    def _bg_depth_units(self) -> np.ndarray:
        return self._arrays["bg_depth"][...]

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
                :data:`datagen.store.schema.UNITS_PER_METRE` for metres) instead of float32 metres:
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
        units = {"depth": np.uint16} if depth_units else {}
        return {f.name: f.empty(n, self.size, units.get(f.name)) for f in FIELDS}

    def meta(self, index: int) -> dict[str, Any]:
        """The placement record of sample `index`, with its asset names."""
        record = dict(
            zip(schema.RECORD_COLUMNS, (int(v) for v in self.records[index]), strict=True)
        )
        floats = self._read_checked("records_f", index, index + 1)[0]
        record.update(zip(schema.RECORD_F_COLUMNS, (float(v) for v in floats), strict=True))
        shadow = self.records_shadow[index]
        record.update(zip(schema.RECORD_SHADOW_COLUMNS, (float(v) for v in shadow), strict=True))
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
        names = dict.fromkeys(name for field in FIELDS for name in field.reads)  # each once
        stored = {
            name: self._read_stored(name, start, stop)
            for name in names
            if name in self.sample_arrays
        }
        records = self.records[rows]
        bg_images, bg_units = self.bg_images, self._bg_depth_units
        for position, row, record in zip(positions, rows - start, records, strict=True):
            bg_id = record[schema.COLUMN["bg_id"]]
            source = SampleSource(
                rows={name: data[row] for name, data in stored.items()},
                record=record,
                bg=bg_images[bg_id],
                bg_depth_units=bg_units[bg_id],
            )
            for field in FIELDS:
                try:
                    field.decode(source, out[field.name][position])
                except (ValueError, cv2.error) as error:
                    name = next((n for n in field.reads if n in stored), "bg")
                    shard = self._shard_of(start + row)
                    raise self._damaged(name, shard, error_summary(error)) from None

    def stored(self, name: str, start: int, stop: int) -> np.ndarray | list[np.ndarray]:
        """What samples start..stop-1 store in per-sample array `name`, undecoded: their rows
        (stacked), or a list of their payloads if the array is packed in this store's format
        (:meth:`datagen.store.schema.ArraySpec.packed`)."""
        if name not in self.sample_arrays:
            raise KeyError(f"{self.path}: no per-sample array {name!r}")
        if not 0 <= start < stop <= len(self):
            raise IndexError(f"samples {start}..{stop - 1}: not a range within [0, {len(self)})")
        if not SPEC[name].packed(self.root.fgd_format):
            return self._read_checked(name, start, stop)
        size = self.root.shard_size
        edges = sorted({start, stop, *range(start - start % size + size, stop, size)})
        payloads: list[np.ndarray] = []
        for a, b in pairwise(edges):
            payloads += self._read_stored(name, a, b)  # one shard at a time
        return payloads

    def _read_stored(self, name: str, start: int, stop: int) -> np.ndarray | list[np.ndarray]:
        """What samples start..stop-1 (of one shard) store in per-sample array `name`: their
        rows, or their payloads if it is packed."""
        if not SPEC[name].packed(self.root.fgd_format):
            return self._read_checked(name, start, stop)
        self._check_shards(name, start, stop)
        starts, lengths = self._payloads(name)
        first, end = int(starts[start]), int(starts[stop - 1] + lengths[stop - 1])
        try:
            data = self._read_elements(name, first, end)
        except (ValueError, OSError) as error:  # changed since its check
            raise self._damaged(name, self._shard_of(start), error_summary(error)) from None
        return [
            data[a - first : a - first + n]
            for a, n in zip(starts[start:stop], lengths[start:stop], strict=True)
        ]

    def _payloads(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Where each sample's payload in packed array `name` starts, and its length."""
        if name not in self._payload_table:
            spec, root = SPEC[name], self.root
            lengths = spec.payload_length(self.records, self.size)  # type: ignore[misc]
            elements = spec.shard_elements(self.size, root.shard_size)
            starts = schema.payload_starts(lengths, root.shard_size, elements)
            self._payload_table[name] = starts, lengths
        return self._payload_table[name]

    def _read_elements(self, name: str, first: int, end: int) -> np.ndarray:
        """Elements first..end-1 of packed array `name`, all in one shard."""
        layout = self._layouts[name]
        if end <= first:
            return np.empty(0, layout.dtype)
        k0, k1 = first // layout.chunk, (end - 1) // layout.chunk + 1
        parts = [self._read_chunk_rows(name, k, 0, layout.chunk) for k in range(k0, k1)]
        data = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return data[first - k0 * layout.chunk : end - k0 * layout.chunk]

    def _check_shards(self, name: str, start: int, stop: int) -> None:
        """Check the shards of per-sample array `name` that hold samples start..stop-1 against
        their build-time checksums, each once per process."""
        shard_size = self.root.shard_size
        for shard in range(start // shard_size, (stop - 1) // shard_size + 1):
            if (name, shard) in self._checked:
                continue
            recorded = self.root.integrity[name][shard]  # type: ignore[index]
            problem = shard_problem(self._storage, self._arrays[name], shard, recorded)
            if problem is not None:
                raise self._damaged(name, shard, problem)
            self._checked.add((name, shard))

    def _read_checked(self, name: str, start: int, stop: int) -> np.ndarray:
        """Samples start..stop-1 of unpacked per-sample array `name`, each shard checked once."""
        self._check_shards(name, start, stop)
        size = self.chunk_size
        first = start - start % size
        try:
            parts = [
                self._read_chunk_rows(name, c // size, max(start, c) - c, min(stop, c + size) - c)
                for c in range(first, stop, size)
            ]
        except (ValueError, OSError) as error:  # changed since its check
            raise self._damaged(name, self._shard_of(start), error_summary(error)) from None
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _read_chunk_rows(self, name: str, chunk: int, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi-1 of chunk `chunk` of per-sample array `name`: its bytes read from the
        shard object and decompressed here (zarr's read path costs several times the
        decompression per chunk)."""
        layout = self._layouts[name]
        shard, k = divmod(chunk, layout.chunks_per_shard)
        key = f"{self._arrays[name].path}/{schema.shard_key(self._arrays[name], shard)}"
        if (name, shard) not in self._chunk_ranges:
            tail = self._storage.read_range(key, -layout.index_bytes)
            self._chunk_ranges[(name, shard)] = layout.chunk_ranges(tail)
        begin, end = (int(v) for v in self._chunk_ranges[(name, shard)][k])
        if begin == MISSING:
            raise ValueError(f"chunk {k} of the shard, which its records point into, is missing")
        return layout.decode_chunk(self._storage.read_range(key, begin, end))[lo:hi]

    def _shard_of(self, index: int) -> int:
        return int(index) // self.root.shard_size

    def _damaged(self, name: str, shard: int, problem: str) -> DamagedDataError:
        state = "missing" if problem == "missing" else f"damaged ({problem})"
        return DamagedDataError(
            f"{self.path}: {name} shard {shard} is {state}; run `fgd datagen verify {self.path}`"
        )
