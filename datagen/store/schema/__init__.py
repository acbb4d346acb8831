"""The store contract as data: every array, and the root attributes (format version 3).

This package is the one written contract between the builder, the reader, the HDF5 export, the
loader, ``stats`` and ``verify``; ``data/README.md`` documents the same layout for people
reading the store with plain zarr. Its modules: :mod:`~datagen.store.schema.records` (what a
placement record holds), :mod:`~datagen.store.schema.arrays`, :mod:`~datagen.store.schema.fields`
and :mod:`~datagen.store.schema.attributes`; everything is importable from here. Two tables say
everything about the arrays:

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
  :class:`~datagen.store.schema.ShadowParams`): the placement record, enough to regenerate the
  sample from its assets.
- Per store: ``bg`` (n_bg, S, S, 3) uint8, ``bg_depth`` (n_bg, S, S) uint16, ``bg_ground``
  (n_bg, 2) float32, ``bg_light`` (n_bg, 4) float32 (the scene's key light, NaN for a photo),
  ``fg`` (n_fg, S, S, 4) uint8, ``fg_shape`` (n_fg, 2) int32.
- Teacher stores only (``--depth teacher``, :attr:`ArraySpec.teacher_since`): ``teacher_fit``
  (N, 2) float32 and, per store, ``bg_teacher_fit`` (n_bg, 2) float32: the scale and shift
  that made the teacher's depth of each fg_bg composite (each bg) metric
  (:class:`TeacherAttrs`). Other stores lack both.
"""

from __future__ import annotations

from datagen.store.schema.arrays import (
    ARRAYS,
    ASSET_ARRAYS,
    CODEC,
    DEPTH_SCALE,
    FORMAT_VERSION,
    MASK_THRESHOLD,
    PACKED_CHUNK_BYTES,
    READABLE_FORMATS,
    SAMPLE_ARRAYS,
    SPEC,
    UNITS_PER_METRE,
    ArraySpec,
    AssetEncoder,
    AssetTables,
    PayloadEncoder,
    PayloadLength,
    SampleEncoder,
    asset_arrays,
    create_sample_arrays,
    depth_layer,
    depth_metres,
    jpeg_slot_bytes,
    n_samples,
    payload_box,
    payload_starts,
    quantize_depth,
    sample_arrays,
    shard_key,
    square,
    unpack_layer,
    write_asset_arrays,
)
from datagen.store.schema.attributes import (
    TEACHER_RULES,
    DepthAttrs,
    RootAttrs,
    Stats,
    TeacherAttrs,
)
from datagen.store.schema.fields import (
    FIELD,
    FIELDS,
    FieldDecoder,
    SampleField,
    SampleSource,
)
from datagen.store.schema.records import (
    BOX_COLUMNS,
    COLUMN,
    COLUMN_F,
    LIGHT_COLUMNS,
    MAX_ELEVATION_DEG,
    NO_SHADOW,
    PLAN_COLUMNS,
    RECORD_COLUMNS,
    RECORD_F_COLUMNS,
    RECORD_SHADOW_COLUMNS,
    TEACHER_FIT_COLUMNS,
    Composite,
    Placement,
    PlanEntry,
    Rendered,
    SceneLight,
    ShadowParams,
)

__all__ = [
    "ARRAYS",
    "ASSET_ARRAYS",
    "BOX_COLUMNS",
    "CODEC",
    "COLUMN",
    "COLUMN_F",
    "DEPTH_SCALE",
    "FIELD",
    "FIELDS",
    "FORMAT_VERSION",
    "LIGHT_COLUMNS",
    "MASK_THRESHOLD",
    "MAX_ELEVATION_DEG",
    "NO_SHADOW",
    "PACKED_CHUNK_BYTES",
    "PLAN_COLUMNS",
    "READABLE_FORMATS",
    "RECORD_COLUMNS",
    "RECORD_F_COLUMNS",
    "RECORD_SHADOW_COLUMNS",
    "SAMPLE_ARRAYS",
    "SPEC",
    "TEACHER_FIT_COLUMNS",
    "TEACHER_RULES",
    "UNITS_PER_METRE",
    "ArraySpec",
    "AssetEncoder",
    "AssetTables",
    "Composite",
    "DepthAttrs",
    "FieldDecoder",
    "PayloadEncoder",
    "PayloadLength",
    "Placement",
    "PlanEntry",
    "Rendered",
    "RootAttrs",
    "SampleEncoder",
    "SampleField",
    "SampleSource",
    "SceneLight",
    "ShadowParams",
    "Stats",
    "TeacherAttrs",
    "asset_arrays",
    "create_sample_arrays",
    "depth_layer",
    "depth_metres",
    "jpeg_slot_bytes",
    "n_samples",
    "payload_box",
    "payload_starts",
    "quantize_depth",
    "sample_arrays",
    "shard_key",
    "square",
    "unpack_layer",
    "write_asset_arrays",
]
