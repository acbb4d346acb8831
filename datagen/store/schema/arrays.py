"""The stored arrays: :data:`ARRAYS`, one :class:`ArraySpec` per array (name, per-sample or
per-store, dtype, shape after the first axis, chunking and codec, how the builder encodes it),
how packed arrays lay out their payloads, and the depth units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, overload

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from datagen.store.schema.records import (
    BOX_COLUMNS,
    COLUMN,
    LIGHT_COLUMNS,
    RECORD_COLUMNS,
    RECORD_F_COLUMNS,
    RECORD_SHADOW_COLUMNS,
    TEACHER_FIT_COLUMNS,
    Rendered,
)

FORMAT_VERSION = 3
#: The formats this fgd reads.
READABLE_FORMATS = (1, 2, 3)

#: A pixel belongs to the object where its alpha (in the store) or predicted probability (in
#: training, eval and predict) is at least this.
MASK_THRESHOLD = 0.5

#: Depth is stored in millimetres: units per metre, and metres per unit.
UNITS_PER_METRE = 1000
DEPTH_SCALE = 1 / UNITS_PER_METRE

# One codec for every array, chosen by measurement on composites of the real sample photos
# (data/README.md, "Why this layout").
CODEC = ZstdCodec(level=3)

#: Bytes of one inner chunk of a packed array (format 3): what a single-sample read decodes.
PACKED_CHUNK_BYTES = 1 << 18


def jpeg_slot_bytes(size: int) -> int:
    """Bytes reserved per sample for the JPEG of its box: one byte per frame pixel.

    A box rarely covers half the frame and a JPEG of a photo takes well under a byte per pixel,
    so the slot is seldom full; the builder lowers the quality of the rare box that would not
    fit (the record keeps the quality used).
    """
    return max(4096, size * size)


def n_samples(n_bg: int, n_fg: int, n_flips: int, positions: int) -> int:
    """Number of samples of a plan."""
    return n_bg * n_fg * n_flips * positions


@overload
def quantize_depth(depth_m: float, max_depth: float) -> int: ...
@overload
def quantize_depth(depth_m: np.ndarray, max_depth: float) -> np.ndarray: ...
def quantize_depth(depth_m: np.ndarray | float, max_depth: float) -> np.ndarray | int:
    """Metres -> uint16 units of DEPTH_SCALE, clipped to [1 unit, max_depth] (a float gives
    an int: the builder quantizes one fg depth per sample, where numpy's per-call cost is most
    of the work; the same float64 product, rounding half to even and clip)."""
    if isinstance(depth_m, float):
        units = round(depth_m * UNITS_PER_METRE)
        return min(max(units, 1), round(max_depth * UNITS_PER_METRE))
    units = np.array(depth_m, dtype=np.float64)  # one float64 copy, worked on in place
    units *= UNITS_PER_METRE
    np.rint(units, out=units)
    np.clip(units, 1, round(max_depth * UNITS_PER_METRE), out=units)
    return units.astype(np.uint16)


def depth_metres(units: np.ndarray) -> np.ndarray:
    """uint16 depth units -> float32 metres (a correctly rounded division: 30000 -> 30.0)."""
    return units.astype(np.float32) / np.float32(UNITS_PER_METRE)


# --- the arrays ------------------------------------------------------------------------------


class AssetTables(Protocol):
    """The build's assets as the per-store encoders read them
    (:class:`datagen.builder.assets.Assets`)."""

    bg: np.ndarray
    bg_depth: np.ndarray
    bg_ground: np.ndarray
    bg_light: np.ndarray
    fg: np.ndarray
    fg_shape: np.ndarray


#: ``encode(rendered, row)``: write one sample's stored row (zeroed beforehand).
SampleEncoder = Callable[[Rendered, np.ndarray], None]
#: ``encode(rendered)``: one sample's payload in a packed array (format 3), any shape.
PayloadEncoder = Callable[[Rendered], np.ndarray]
#: ``length(records, size)``: elements of each sample's payload in a packed array, from the
#: samples' records and the frame size S.
PayloadLength = Callable[[np.ndarray, int], np.ndarray]
#: ``encode(assets, max_depth)``: the whole per-store array.
AssetEncoder = Callable[[AssetTables, float], np.ndarray]


@dataclass(frozen=True)
class ArraySpec:
    """One stored array of the contract.

    Attributes:
        name: Array path in the store.
        per: ``"sample"`` (first axis N, chunked by ``chunk_size``, sharded by ``shard_size``)
            or ``"store"`` (first axis n_bg or n_fg, one chunk per asset).
        dtype: Stored dtype.
        tail: Shape after the first axis, from the frame size S.
        content: What the array holds (for ``fgd datagen info`` and the card).
        columns: Names of the last axis (stored as the array's ``columns`` attribute).
        encode_sample: For a per-sample array: writes one sample's row.
        encode_assets: For a per-store array: builds the array from the build's assets.
        since: The store format that introduced it (older stores lack it).
        teacher_since: From this store format on, only ``--depth teacher`` stores have it,
            written by the builder from the teacher's output (so it takes no encoder).
        packed_since: From this store format on the array is *packed*: one flat array in
            which each shard holds its samples' payloads back to back (see
            :meth:`packed`); before it, rows of shape ``tail``.
        encode_payload: For a packed array: one sample's payload.
        payload_length: For a packed array: the length of each sample's payload.
    """

    name: str
    per: Literal["sample", "store"]
    dtype: type[np.generic]
    tail: Callable[[int], tuple[int, ...]]
    content: str
    columns: tuple[str, ...] | None = None
    encode_sample: SampleEncoder | None = None
    encode_assets: AssetEncoder | None = None
    since: int = 1
    teacher_since: int | None = None
    packed_since: int | None = None
    encode_payload: PayloadEncoder | None = None
    payload_length: PayloadLength | None = None

    def __post_init__(self) -> None:
        encoders = (self.encode_sample, self.encode_assets, self.encode_payload)
        own = {"sample": self.encode_payload if self.packed_since else self.encode_sample,
               "store": self.encode_assets}[self.per]  # fmt: skip
        teacher = self.teacher_since is not None
        if teacher and any(e is not None for e in encoders):
            raise TypeError(f"{self.name}: a teacher array is written by the builder, no encoder")
        if not teacher and (own is None or sum(e is not None for e in encoders) != 1):
            raise TypeError(f"{self.name}: a per-{self.per} array takes exactly its own encoder")
        if (self.packed_since is None) != (self.payload_length is None):
            raise TypeError(f"{self.name}: a packed array, and only one, has payload lengths")

    def packed(self, fmt: int) -> bool:
        """Whether the array is packed in a store of format `fmt`.

        A packed array is one flat array of ``n_shards * shard_elements(size, shard)``
        elements. Each shard holds the payloads of its samples back to back in sample order
        from the shard's first element (a sample's payload is ``payload_length`` elements: the
        values of its box, its JPEG's bytes), and nothing after them: the inner chunks past
        the last payload are not stored (zarr reads them as 0). Where a sample's payload
        starts follows from the records alone (:func:`payload_starts`).
        """
        return self.packed_since is not None and fmt >= self.packed_since

    def slot(self, size: int) -> int:
        """The most elements one sample's payload can take (one row of the unpacked layout)."""
        return math.prod(self.tail(size))

    def shard_elements(self, size: int, shard: int) -> int:
        """Elements of each shard of the packed array: room for `shard` full slots, rounded
        up to whole inner chunks."""
        inner = self.packed_chunk
        return -(-shard * self.slot(size) // inner) * inner

    @property
    def packed_chunk(self) -> int:
        """Elements of one inner chunk of the packed array."""
        return PACKED_CHUNK_BYTES // np.dtype(self.dtype).itemsize

    def empty(self, n: int, size: int, zeros: Callable[..., np.ndarray] = np.zeros) -> np.ndarray:
        """Zeroed rows of `n` samples (or assets) of a store of frame size `size`, made by
        `zeros` (an ``np.zeros`` alike)."""
        return zeros((n, *self.tail(size)), self.dtype)

    def create(
        self,
        group: zarr.Group,
        n: int,
        size: int,
        chunk: int = 1,
        shard: int | None = None,
        fmt: int = FORMAT_VERSION,
    ) -> zarr.Array:
        """Create the array of a store of format `fmt` in `group` (overwriting an old one);
        `chunk` and `shard` in samples (per-store arrays always take one chunk per asset and
        no shards; a packed array takes its own inner chunks)."""
        tail = self.tail(size)
        shape, chunks = (n, *tail), (chunk if self.per == "sample" else 1, *tail)
        options: dict[str, Any] = {}
        if self.per == "sample":
            options = {
                "shards": (shard or chunk, *tail),
                # Skips zarr's scan of every chunk for "all fill value" (a large share of
                # the write time: data/README.md). A runtime setting, not stored: the
                # builder sets it again where it writes shards.
                "config": {"write_empty_chunks": True},
            }
        if self.packed(fmt):
            elements = self.shard_elements(size, shard or chunk)
            shape, chunks = (-(-n // (shard or chunk)) * elements,), (self.packed_chunk,)
            options["shards"] = (elements,)
        array = group.create_array(
            self.name,
            shape=shape,
            chunks=chunks,
            dtype=self.dtype,
            compressors=[CODEC],
            fill_value=0,
            overwrite=True,
            **options,
        )
        if self.columns is not None:
            array.attrs["columns"] = list(self.columns)
        return array


def _encode_jpeg(rendered: Rendered) -> np.ndarray:
    return np.frombuffer(rendered.jpeg, np.uint8)


def _encode_mask(rendered: Rendered) -> np.ndarray:
    return rendered.composite.mask


def _encode_fg_depth(rendered: Rendered, row: np.ndarray) -> None:
    row[0] = rendered.fg_units


def _jpeg_length(records: np.ndarray, size: int) -> np.ndarray:
    return records[:, COLUMN["jpeg_bytes"]].astype(np.int64)


def _box_area(records: np.ndarray, size: int) -> np.ndarray:
    y0, x0, y1, x1 = (records[:, COLUMN[k]].astype(np.int64) for k in BOX_COLUMNS)
    return (y1 - y0) * (x1 - x0)


def _frame_length(records: np.ndarray, size: int) -> np.ndarray:
    return np.full(len(records), size * size, np.int64)


def depth_layer(mask: np.ndarray, fg_units: int) -> np.ndarray:
    """A geometric sample's depth layer: the fg's depth (store units) on its mask, 0 (the bg's
    depth) elsewhere."""
    return np.multiply(mask > 0, np.uint16(fg_units))  # cheaper here than a masked copy


def payload_starts(lengths: np.ndarray, shard_size: int, shard_elements: int) -> np.ndarray:
    """Where each sample's payload starts in a packed array (:meth:`ArraySpec.packed`).

    Args:
        lengths: (N,) elements of every sample's payload, in storage order.
        shard_size: Samples per shard.
        shard_elements: Elements per shard of the packed array.
    """
    lengths = np.asarray(lengths, np.int64)
    starts = np.cumsum(lengths) - lengths
    shard = np.arange(len(lengths)) // shard_size
    return starts - starts[shard * shard_size] + shard * shard_elements


def payload_box(payload: np.ndarray, record: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """The box (y0, x0, y1, x1) of the frame that a packed mask or depth payload covers: the
    sample's box, or the whole frame for a payload one frame long (a teacher's depth)."""
    if payload.size == size * size:
        return 0, 0, size, size
    y0, x0, y1, x1 = (int(record[COLUMN[k]]) for k in BOX_COLUMNS)
    return y0, x0, y1, x1


def unpack_layer(stored: np.ndarray, record: np.ndarray, size: int) -> np.ndarray:
    """A sample's mask or depth layer as the (S, S) frame formats 1 and 2 stored: `stored` is
    that frame already, or the payload of a packed array (format 3), 0 around its
    :func:`payload_box`."""
    if stored.ndim > 1:
        return stored
    y0, x0, y1, x1 = payload_box(stored, record, size)
    if (y1 - y0, x1 - x0) == (size, size):
        return stored.reshape(size, size)
    frame = np.zeros((size, size), stored.dtype)
    frame[y0:y1, x0:x1] = stored.reshape(y1 - y0, x1 - x0)
    return frame


def _encode_record(rendered: Rendered, row: np.ndarray) -> None:
    p, entry = rendered.placement, rendered.placement.entry
    row[:] = (
        rendered.plan_index, entry.bg_id, entry.fg_id, entry.flip, entry.position,
        p.x, p.y, p.width, p.height, *rendered.composite.box, len(rendered.jpeg),
        rendered.quality,
    )  # fmt: skip


def _encode_record_f(rendered: Rendered, row: np.ndarray) -> None:
    p = rendered.placement
    row[:] = (p.scale, p.contact_depth, *p.jitter)


def _encode_record_shadow(rendered: Rendered, row: np.ndarray) -> None:
    row[:] = rendered.shadow.record()


def square(*channels: int) -> Callable[[int], tuple[int, ...]]:
    return lambda size: (size, size, *channels)


#: The stored arrays, in the order the builder creates them (per-store first).
ARRAYS: tuple[ArraySpec, ...] = (
    ArraySpec("bg", "store", np.uint8, square(3), "bg scenes, RGB, lossless",
              encode_assets=lambda a, _: a.bg),
    ArraySpec("bg_depth", "store", np.uint16, square(), "bg depth in store units (mm)",
              encode_assets=lambda a, max_depth: quantize_depth(a.bg_depth, max_depth)),
    ArraySpec("bg_ground", "store", np.float32, lambda _: (2,),
              "horizon_y, ground_k of each bg (NaN ground_k: read depth from bg_depth)",
              encode_assets=lambda a, _: a.bg_ground),
    ArraySpec("bg_light", "store", np.float32, lambda _: (len(LIGHT_COLUMNS),),
              "key light of each procedural bg in the camera frame (NaN: a photo)",
              LIGHT_COLUMNS, encode_assets=lambda a, _: a.bg_light, since=2),
    ArraySpec("fg", "store", np.uint8, square(4),
              "fg working copies, straight RGBA, top-left aligned",
              encode_assets=lambda a, _: a.fg),
    ArraySpec("fg_shape", "store", np.int32, lambda _: (2,),
              "height, width of each fg working copy", encode_assets=lambda a, _: a.fg_shape),
    ArraySpec("fgbg_jpeg", "sample", np.uint8, lambda size: (jpeg_slot_bytes(size),),
              "JPEG (4:4:4) of the fg_bg pixels inside each sample's box, packed",
              packed_since=3, encode_payload=_encode_jpeg, payload_length=_jpeg_length),
    ArraySpec("mask", "sample", np.uint8, square(), "fg mask inside each box, 0 / 255, packed",
              packed_since=3, encode_payload=_encode_mask, payload_length=_box_area),
    ArraySpec("fg_depth", "sample", np.uint16, lambda _: (1,),
              "the fg's depth in store units (a geometric store's depth on the mask)",
              since=3, encode_sample=_encode_fg_depth),
    ArraySpec("depth", "sample", np.uint16, square(),
              "the teacher's depth of the fg_bg image in store units, packed",
              teacher_since=3, packed_since=3, payload_length=_frame_length),
    ArraySpec("records", "sample", np.int32, lambda _: (len(RECORD_COLUMNS),),
              "placement record (int columns)", RECORD_COLUMNS, encode_sample=_encode_record),
    ArraySpec("records_f", "sample", np.float32, lambda _: (len(RECORD_F_COLUMNS),),
              "placement record (float columns)", RECORD_F_COLUMNS,
              encode_sample=_encode_record_f),
    ArraySpec("records_shadow", "sample", np.float32, lambda _: (len(RECORD_SHADOW_COLUMNS),),
              "placement record (the shadow's parameters)", RECORD_SHADOW_COLUMNS,
              encode_sample=_encode_record_shadow, since=2),
    ArraySpec("teacher_fit", "sample", np.float32, lambda _: (len(TEACHER_FIT_COLUMNS),),
              "scale, shift that made the teacher's depth of the fg_bg image metric",
              TEACHER_FIT_COLUMNS, since=2, teacher_since=2),
    ArraySpec("bg_teacher_fit", "store", np.float32, lambda _: (len(TEACHER_FIT_COLUMNS),),
              "scale, shift that made the teacher's depth of each bg metric",
              TEACHER_FIT_COLUMNS, since=2, teacher_since=2),
)  # fmt: skip
SPEC = {spec.name: spec for spec in ARRAYS}


def _arrays(per: str, fmt: int, teacher: bool) -> tuple[str, ...]:
    return tuple(
        spec.name
        for spec in ARRAYS
        if spec.per == per
        and spec.since <= fmt
        and (teacher or spec.teacher_since is None or fmt < spec.teacher_since)
    )


def sample_arrays(fmt: int = FORMAT_VERSION, teacher: bool = False) -> tuple[str, ...]:
    """The per-sample arrays of a store of format `fmt` (`teacher`: a ``--depth teacher``
    store, which has the teacher's arrays too)."""
    return _arrays("sample", fmt, teacher)


def asset_arrays(fmt: int = FORMAT_VERSION, teacher: bool = False) -> tuple[str, ...]:
    """The per-store arrays of a store of format `fmt` (`teacher`: as in sample_arrays)."""
    return _arrays("store", fmt, teacher)


#: The arrays every store of the current format has (teacher stores add the teacher's).
SAMPLE_ARRAYS = sample_arrays()
ASSET_ARRAYS = asset_arrays()


def create_sample_arrays(
    group: zarr.Group, n: int, size: int, chunk: int, shard: int, teacher: bool = False
) -> dict[str, zarr.Array]:
    """Create the per-sample arrays of a store of `n` samples (overwriting old ones)."""
    names = sample_arrays(teacher=teacher)
    return {name: SPEC[name].create(group, n, size, chunk, shard) for name in names}


def write_asset_arrays(group: zarr.Group, assets: AssetTables, size: int, max_depth: float) -> None:
    """Write the per-store asset arrays, one chunk per asset."""
    for name in ASSET_ARRAYS:
        spec = SPEC[name]
        data = np.asarray(spec.encode_assets(assets, max_depth), dtype=spec.dtype)  # type: ignore[misc]
        spec.create(group, len(data), size)[...] = data


def shard_key(array: zarr.Array, shard: int) -> str:
    """Store key (relative to the array) of the object holding `shard` of a per-sample array."""
    return array.metadata.encode_chunk_key((shard,) + (0,) * (array.ndim - 1))
