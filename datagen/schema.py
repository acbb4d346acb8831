"""The store contract as data: every array, and the root attributes (format version 3).

This module is the one written contract between the builder, the reader, the HDF5 export, the
loader, ``stats`` and ``verify``; ``data/README.md`` documents the same layout for people
reading the store with plain zarr. Two tables say everything about the arrays:

- :data:`ARRAYS`, one :class:`ArraySpec` per stored array: name, per-sample or per-store,
  dtype, shape after the first axis, chunking and codec, and how the builder encodes it (from
  one rendered sample, or from the build's assets). Per-sample arrays hold N samples in a seeded
  random order, sharded, either as rows chunked along the sample axis or *packed* (each
  shard's payloads back to back: :meth:`ArraySpec.packed`); per-store arrays hold one chunk
  per asset.
- :data:`FIELDS`, one :class:`SampleField` per array a reader returns for a sample (``bg``,
  ``fgbg``, ``mask``, ``depth``): dtype, shape, which stored arrays it is decoded from, how,
  and how the HDF5 export stores it.

Adding a per-sample array is one :class:`ArraySpec` row with its encoder, and (if readers see
it) one :class:`SampleField` row with its decoder; the builder, reader, export and ``verify``
iterate over the tables. The root attributes are :class:`RootAttrs` (with :class:`DepthAttrs`
and :class:`Stats`), frozen dataclasses whose ``to_dict`` writes exactly the JSON every store
holds.

Formats: 1 had no shadows (no ``records_shadow``, no ``bg_light``) and its boxes held the fg
alone; 2 adds both arrays and lets a sample's box hold its shadow too; 3 packs ``fgbg_jpeg``
and ``mask`` (:attr:`ArraySpec.packed_since`), which 1 and 2 stored as rows (the JPEG in a
zero-padded slot of B bytes, the mask as whole frames), and replaces a geometric store's
``depth`` rows by ``fg_depth``, from which they follow; the samples are the same. Each array
says the format it appeared in (:attr:`ArraySpec.since`); readers open every format of
:data:`READABLE_FORMATS`, and a format-1 sample reads as one without a shadow.

The arrays (S = ``size``):

- ``fgbg_jpeg``, packed uint8: the fg_bg pixels inside the sample's box as a JPEG (4:4:4). The
  box holds every pixel the sample changes: the fg and its shadow. Outside its box a fg_bg
  image equals its bg exactly, so the bg is stored once per scene instead of once per sample.
- ``mask``, packed uint8 0/255, lossless: the mask inside the box (0 outside it).
- ``fg_depth`` (N, 1) uint16 (format 3): the fg's depth in :data:`DEPTH_SCALE` metre units.
  A geometric store's depth is this on the mask and the bg's (``bg_depth``) elsewhere, so it
  stores no depth array; formats 1 and 2 stored that layer as ``depth`` (N, S, S) rows, 0
  where the bg's depth shows.
- ``depth``, packed uint16, teacher stores only (format 3): the teacher's depth of the whole
  fg_bg frame in store units (it differs from the bg's everywhere).
- ``records`` (N, len(RECORD_COLUMNS)) int32 and ``records_f`` (N, len(RECORD_F_COLUMNS))
  float32, and ``records_shadow`` (N, 6) float32 (the shadow's
  :class:`~datagen.shadows.ShadowParams`): the placement record, enough to regenerate the sample
  from its assets.
- Per store: ``bg`` (n_bg, S, S, 3) uint8, ``bg_depth`` (n_bg, S, S) uint16, ``bg_ground``
  (n_bg, 2) float32, ``bg_light`` (n_bg, 4) float32 (the scene's key light, NaN for a photo),
  ``fg`` (n_fg, S, S, 4) uint8, ``fg_shape`` (n_fg, 2) int32.
- Teacher stores only (``--depth teacher``, :attr:`ArraySpec.teacher_since`): ``teacher_fit``
  (N, 2) float32 and, per store, ``bg_teacher_fit`` (n_bg, 2) float32: the scale and shift
  that made the teacher's depth of each fg_bg composite (each bg) metric
  (:class:`TeacherAttrs`). Other stores lack both, byte for byte as before.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from datagen import shadows
from datagen.imaging import decode_jpeg

if TYPE_CHECKING:
    from datagen.assets import Assets
    from datagen.composite import Composite, Placement

FORMAT_VERSION = 3
#: The formats this fgd reads.
READABLE_FORMATS = (1, 2, 3)

#: A pixel belongs to the object where its alpha (in the store) or predicted probability (in
#: training, eval and predict) is at least this.
MASK_THRESHOLD = 0.5

#: Depth is stored in millimetres: units per metre, and metres per unit.
UNITS_PER_METRE = 1000
DEPTH_SCALE = 1 / UNITS_PER_METRE

RECORD_COLUMNS = (
    "plan_index",
    "bg_id",
    "fg_id",
    "flip",
    "position",
    "x",
    "y",
    "width",
    "height",
    "box_y0",
    "box_x0",
    "box_y1",
    "box_x1",
    "jpeg_bytes",
    "jpeg_quality",
)
RECORD_F_COLUMNS = (
    "scale",
    "contact_depth",
    "jitter_brightness",
    "jitter_contrast",
    "jitter_hue",
    "jitter_blur",
)
#: Columns of ``records_shadow`` (format 2): the sample's ShadowParams.
RECORD_SHADOW_COLUMNS = shadows.RECORD_COLUMNS
#: Columns of ``bg_light``: the scene's :class:`~datagen.shadows.SceneLight` (NaN: a photo).
LIGHT_COLUMNS = tuple(f.name for f in dataclasses.fields(shadows.SceneLight))
#: Columns of ``teacher_fit`` and ``bg_teacher_fit``: :math:`s, t` of :math:`1/d = s D + t`
#: (:mod:`datagen.teacher`; 1, 0 for a metric model).
TEACHER_FIT_COLUMNS = ("scale", "shift")
COLUMN = {name: i for i, name in enumerate(RECORD_COLUMNS)}
#: The record's box: every pixel where a sample's fg_bg differs from its bg.
BOX_COLUMNS = ("box_y0", "box_x0", "box_y1", "box_x1")
COLUMN_F = {name: i for i, name in enumerate(RECORD_F_COLUMNS)}

#: The order in which samples are enumerated (the ``plan`` root attribute).
PLAN_COLUMNS = ("bg_id", "fg_id", "flip", "position")

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


@dataclass(frozen=True)
class Rendered:
    """One rendered sample, as the per-sample encoders take it.

    Attributes:
        plan_index: The sample's place in the plan.
        placement: Where its fg went (with its plan entry).
        composite: The exact composite inside its box, and the box.
        jpeg: The JPEG of ``composite.rgb`` that fits the slot (empty for an empty box).
        quality: The JPEG quality used (0 for an empty box).
        fg_units: The fg's depth in store units.
        shadow: The shadow it was rendered with (``NO_SHADOW`` for none).
    """

    plan_index: int
    placement: Placement
    composite: Composite
    jpeg: bytes
    quality: int
    fg_units: int
    shadow: shadows.ShadowParams


#: ``encode(rendered, row)``: write one sample's stored row (zeroed beforehand).
SampleEncoder = Callable[[Rendered, np.ndarray], None]
#: ``encode(rendered)``: one sample's payload in a packed array (format 3), any shape.
PayloadEncoder = Callable[[Rendered], np.ndarray]
#: ``length(records, size)``: elements of each sample's payload in a packed array, from the
#: samples' records and the frame size S.
PayloadLength = Callable[[np.ndarray, int], np.ndarray]
#: ``encode(assets, max_depth)``: the whole per-store array.
AssetEncoder = Callable[["Assets", float], np.ndarray]


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


def _square(*channels: int) -> Callable[[int], tuple[int, ...]]:
    return lambda size: (size, size, *channels)


#: The stored arrays, in the order the builder creates them (per-store first).
ARRAYS: tuple[ArraySpec, ...] = (
    ArraySpec("bg", "store", np.uint8, _square(3), "bg scenes, RGB, lossless",
              encode_assets=lambda a, _: a.bg),
    ArraySpec("bg_depth", "store", np.uint16, _square(), "bg depth in store units (mm)",
              encode_assets=lambda a, max_depth: quantize_depth(a.bg_depth, max_depth)),
    ArraySpec("bg_ground", "store", np.float32, lambda _: (2,),
              "horizon_y, ground_k of each bg (NaN ground_k: read depth from bg_depth)",
              encode_assets=lambda a, _: a.bg_ground),
    ArraySpec("bg_light", "store", np.float32, lambda _: (len(LIGHT_COLUMNS),),
              "key light of each procedural bg in the camera frame (NaN: a photo)",
              LIGHT_COLUMNS, encode_assets=lambda a, _: a.bg_light, since=2),
    ArraySpec("fg", "store", np.uint8, _square(4),
              "fg working copies, straight RGBA, top-left aligned",
              encode_assets=lambda a, _: a.fg),
    ArraySpec("fg_shape", "store", np.int32, lambda _: (2,),
              "height, width of each fg working copy", encode_assets=lambda a, _: a.fg_shape),
    ArraySpec("fgbg_jpeg", "sample", np.uint8, lambda size: (jpeg_slot_bytes(size),),
              "JPEG (4:4:4) of the fg_bg pixels inside each sample's box, packed",
              packed_since=3, encode_payload=_encode_jpeg, payload_length=_jpeg_length),
    ArraySpec("mask", "sample", np.uint8, _square(), "fg mask inside each box, 0 / 255, packed",
              packed_since=3, encode_payload=_encode_mask, payload_length=_box_area),
    ArraySpec("fg_depth", "sample", np.uint16, lambda _: (1,),
              "the fg's depth in store units (a geometric store's depth on the mask)",
              since=3, encode_sample=_encode_fg_depth),
    ArraySpec("depth", "sample", np.uint16, _square(),
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


def write_asset_arrays(group: zarr.Group, assets: Assets, size: int, max_depth: float) -> None:
    """Write the per-store asset arrays, one chunk per asset."""
    for name in ASSET_ARRAYS:
        spec = SPEC[name]
        data = np.asarray(spec.encode_assets(assets, max_depth), dtype=spec.dtype)  # type: ignore[misc]
        spec.create(group, len(data), size)[...] = data


def shard_key(array: zarr.Array, shard: int) -> str:
    """Store key (relative to the array) of the object holding `shard` of a per-sample array."""
    return array.metadata.encode_chunk_key((shard,) + (0,) * (array.ndim - 1))


# --- what a reader returns -------------------------------------------------------------------


@dataclass(frozen=True)
class SampleSource:
    """What one sample is decoded from: its stored rows (a row of each unpacked array, the
    payload of each packed one), its record, its bg's assets."""

    rows: dict[str, np.ndarray]
    record: np.ndarray
    bg: np.ndarray
    bg_depth_units: np.ndarray


#: ``decode(source, out)``: write one sample's field into `out`.
FieldDecoder = Callable[[SampleSource, np.ndarray], None]


@dataclass(frozen=True)
class SampleField:
    """One array a reader returns per sample (``ds[i][name]``), and how the export stores it.

    Attributes:
        name: Key in a sample dict.
        dtype: Returned dtype (``depth`` is float32 metres, or uint16 store units on request).
        tail: Shape of one sample, from the frame size S.
        reads: The per-sample stored arrays it is decoded from (those the store has: a
            geometric format-3 store has no ``depth``, an older one no ``fg_depth``).
        decode: Writes one sample's field.
        content: What it holds (the HDF5 export's card).
        exported: Whether the HDF5 export stores it per sample (the bg is stored per scene).
        hdf5_shuffle: Byte-shuffle before the HDF5 filter (groups a float's exponent bytes).
        hdf5_attrs: Attributes of its HDF5 dataset.
    """

    name: str
    dtype: type[np.generic]
    tail: Callable[[int], tuple[int, ...]]
    reads: tuple[str, ...]
    decode: FieldDecoder
    content: str
    exported: bool = True
    hdf5_shuffle: bool = False
    hdf5_attrs: tuple[tuple[str, str], ...] = ()

    def empty(self, n: int, size: int, dtype: type[np.generic] | None = None) -> np.ndarray:
        """Uninitialised room for `n` samples."""
        return np.empty((n, *self.tail(size)), dtype or self.dtype)


def _decode_bg(source: SampleSource, out: np.ndarray) -> None:
    out[...] = source.bg


def _decode_fgbg(source: SampleSource, out: np.ndarray) -> None:
    out[...] = source.bg
    n_bytes = source.record[COLUMN["jpeg_bytes"]]
    if n_bytes == 0:
        return
    y0, x0, y1, x1 = source.record[COLUMN["box_y0"] : COLUMN["box_x1"] + 1]
    box = decode_jpeg(source.rows["fgbg_jpeg"][:n_bytes])
    if box.shape != (y1 - y0, x1 - x0, 3):
        raise ValueError(f"its JPEG box is {box.shape[:2]}, the record says {(y1 - y0, x1 - x0)}")
    out[y0:y1, x0:x1] = box


def _decode_mask(source: SampleSource, out: np.ndarray) -> None:
    out[...] = unpack_layer(source.rows["mask"], source.record, out.shape[0])


def _decode_depth(source: SampleSource, out: np.ndarray) -> None:
    size = out.shape[0]
    if "depth" in source.rows:  # formats 1 and 2, and a teacher's depth
        layer = unpack_layer(source.rows["depth"], source.record, size)
        units = np.where(layer > 0, layer, source.bg_depth_units)
    else:  # a geometric store of format 3: the fg's depth on its mask, within its box
        mask = source.rows["mask"]
        y0, x0, y1, x1 = payload_box(mask, source.record, size)
        units = source.bg_depth_units.copy()
        on_mask = mask.reshape(y1 - y0, x1 - x0) > 0
        np.copyto(units[y0:y1, x0:x1], source.rows["fg_depth"][0], where=on_mask)
    out[...] = units if out.dtype == np.uint16 else depth_metres(units)


#: The arrays of a sample, in the order a reader returns them.
FIELDS: tuple[SampleField, ...] = (
    SampleField("bg", np.uint8, _square(3), (), _decode_bg, "the sample's bg scene, RGB",
                exported=False),
    SampleField("fgbg", np.uint8, _square(3), ("fgbg_jpeg",), _decode_fgbg,
                "fg_bg image, RGB"),
    SampleField("mask", np.uint8, _square(), ("mask",), _decode_mask,
                "fg mask, 0 = background, 255 = foreground",
                hdf5_attrs=(("values", "0 background, 255 foreground"),)),
    SampleField("depth", np.float32, _square(), ("depth", "mask", "fg_depth"), _decode_depth,
                "depth of the fg_bg image in metres (larger = farther)", hdf5_shuffle=True,
                hdf5_attrs=(("unit", "m"),)),
)  # fmt: skip
FIELD = {f.name: f for f in FIELDS}


# --- the root attributes ---------------------------------------------------------------------


#: How a teacher's output became metres (:mod:`datagen.teacher`).
TEACHER_RULES = ("metric", "ground-fit", "user-scale")


@dataclass(frozen=True)
class TeacherAttrs:
    """The ``depth.teacher`` attribute of a ``--depth teacher`` store: the model and the rule
    that made its output metric (:meth:`datagen.teacher.DepthTeacher.record`).

    Each image's fitted :math:`s, t` (:data:`TEACHER_FIT_COLUMNS`) is in the arrays
    ``teacher_fit`` (per sample) and ``bg_teacher_fit`` (per bg).

    Attributes:
        model: What ``--depth-model`` said (a file, a folder or a hub id).
        kind: ``"torchscript"`` or ``"transformers"``.
        rule: One of :data:`TEACHER_RULES`.
        scale: The ``user-scale`` rule's :math:`s` (``--depth-scale``), else None.
    """

    model: str
    kind: str
    rule: str
    scale: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherAttrs:
        """Raises KeyError, TypeError or ValueError for a malformed attribute."""
        rule = str(data["rule"])
        if rule not in TEACHER_RULES:
            raise ValueError(f"teacher rule {rule!r} is none of {', '.join(TEACHER_RULES)}")
        scale = data.get("scale")
        return cls(
            str(data["model"]), str(data["kind"]), rule, None if scale is None else float(scale)
        )


@dataclass(frozen=True)
class DepthAttrs:
    """The ``depth`` root attribute: how stored depth maps to metres, and where it came from
    (``teacher`` only in a ``--depth teacher`` store)."""

    unit: str
    scale: float
    max: float
    source: str
    teacher: TeacherAttrs | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"unit": self.unit, "scale": self.scale, "max": self.max, "source": self.source}
        if self.teacher is not None:
            out["teacher"] = self.teacher.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DepthAttrs:
        teacher = data.get("teacher")
        return cls(
            str(data["unit"]),
            float(data["scale"]),
            float(data["max"]),
            str(data["source"]),
            None if teacher is None else TeacherAttrs.from_dict(teacher),
        )


@dataclass(frozen=True)
class Stats:
    """The ``stats`` root attribute (``fgd datagen stats``): image means and stds in [0, 1]
    units, RGB order (bg weighted by how many samples use each bg), mask coverage, depth in
    metres."""

    fgbg_mean: tuple[float, float, float]
    fgbg_std: tuple[float, float, float]
    bg_mean: tuple[float, float, float]
    bg_std: tuple[float, float, float]
    mask_coverage: float
    depth_min: float
    depth_max: float
    depth_mean: float
    depth_std: float
    n_samples: int
    note: str = "means and stds of images are in [0, 1] units, RGB order; depth in metres"

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        """Raises KeyError, TypeError or ValueError for a malformed attribute."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "note":
                values["note"] = str(data.get("note", f.default))
            elif f.name.endswith(("_mean", "_std")) and f.name.startswith(("fgbg", "bg")):
                rgb = tuple(float(v) for v in data[f.name])
                if len(rgb) != 3:
                    raise ValueError(f"{f.name} has {len(rgb)} values, not 3")
                values[f.name] = rgb
            elif f.name == "n_samples":
                values[f.name] = int(data[f.name])
            else:
                values[f.name] = float(data[f.name])
        return cls(**values)


@dataclass(frozen=True)
class RootAttrs:
    """The root attributes of a store (``zarr.json``), in the order every store holds.

    ``config`` is the build's content key (:meth:`datagen.config.BuildConfig.content_key`),
    ``runtime`` its other fields; ``integrity`` (CRC-32 of every shard object of every
    per-sample array, hex) appears when the build completes, ``stats`` once ``fgd datagen
    stats`` ran.
    """

    fgd_format: int
    status: Literal["building", "complete"]
    config: dict[str, Any]
    assets_digest: str
    runtime: dict[str, Any]
    seed: int
    n_samples: int
    size: int
    chunk_size: int
    shard_size: int
    n_shards: int
    depth: DepthAttrs
    bg_names: list[str]
    fg_names: list[str]
    plan: list[str]
    n_flips: int
    integrity: dict[str, list[str]] | None = None
    stats: Stats | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = value.to_dict() if hasattr(value, "to_dict") else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RootAttrs:
        """Raises KeyError, TypeError or ValueError for missing or malformed attributes
        (``stats`` excepted: see :meth:`Stats.from_dict`, which the reader calls on demand)."""
        values = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.default is not None}
        values["depth"] = DepthAttrs.from_dict(data["depth"])
        for key in ("fgd_format", "seed", "n_samples", "size", "chunk_size", "shard_size",
                    "n_shards", "n_flips"):  # fmt: skip
            values[key] = int(values[key])
        if not isinstance(values["config"], dict) or not isinstance(values["runtime"], dict):
            raise TypeError("config and runtime must be objects")
        integrity = data.get("integrity")
        if integrity is not None:
            names = sample_arrays(values["fgd_format"], values["depth"].teacher is not None)
            integrity = {name: [str(c) for c in integrity[name]] for name in names}
        return cls(**values, integrity=integrity)

    @property
    def sample_arrays(self) -> tuple[str, ...]:
        """The per-sample arrays of this store (its format's, and the teacher's if it has one)."""
        return sample_arrays(self.fgd_format, self.depth.teacher is not None)

    @property
    def asset_arrays(self) -> tuple[str, ...]:
        """The per-store arrays of this store."""
        return asset_arrays(self.fgd_format, self.depth.teacher is not None)

    def shard_length(self, shard: int) -> int:
        """Samples in `shard` (the last one may be short)."""
        return min(self.shard_size, self.n_samples - shard * self.shard_size)
