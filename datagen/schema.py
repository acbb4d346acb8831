"""The store's layout: array names, shapes, chunking and codecs (format version 1).

This module is the written contract between the builder and every reader; ``data/README.md``
documents the same layout for people reading the store with plain zarr.

Per-sample arrays (N samples, stored in a seeded random order, chunked along the sample axis):

- ``fgbg_jpeg`` (N, B) uint8: the fg_bg pixels inside the sample's box as a JPEG (4:4:4), in a
  fixed slot of B bytes padded with zeros (zstd squashes the padding). Outside its box a fg_bg
  image equals its bg exactly, so the bg is stored once per scene instead of once per sample.
- ``mask`` (N, S, S) uint8 0/255, lossless.
- ``depth`` (N, S, S) uint16: the fg's depth layer in :data:`DEPTH_SCALE` metre units; 0 where
  the sample's depth equals its bg's (``bg_depth``), lossless.
- ``records`` (N, len(RECORD_COLUMNS)) int32 and ``records_f`` (N, len(RECORD_F_COLUMNS))
  float32: the placement record, enough to regenerate the sample from its assets.

Per-store arrays: ``bg`` (n_bg, S, S, 3) uint8, ``bg_depth`` (n_bg, S, S) uint16,
``bg_ground`` (n_bg, 2) float32, ``fg`` (n_fg, S, S, 4) uint8, ``fg_shape`` (n_fg, 2) int32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

FORMAT_VERSION = 1

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
COLUMN = {name: i for i, name in enumerate(RECORD_COLUMNS)}
COLUMN_F = {name: i for i, name in enumerate(RECORD_F_COLUMNS)}

SAMPLE_ARRAYS = ("fgbg_jpeg", "mask", "depth", "records", "records_f")
ASSET_ARRAYS = ("bg", "bg_depth", "bg_ground", "fg", "fg_shape")

# One codec for every array, chosen by measurement on composites of the real sample photos
# (data/README.md, "Codecs"): zstd level 3 writes a 224x224 mask in 0.03 ms and a depth layer in
# 0.05 ms (~460 B and ~650 B); blosc-zstd with bit shuffling is 40% smaller but 3-4x slower to
# write, which would cost the 400K build ~40 s for ~200 MB.
CODEC = ZstdCodec(level=3)


def jpeg_slot_bytes(size: int) -> int:
    """Bytes reserved per sample for the JPEG of its box: one byte per frame pixel.

    A quality-95 JPEG of a photo takes ~0.5 byte per pixel and a box rarely covers half the
    frame, so the slot is seldom more than a fifth full; the builder lowers the quality of the
    rare box that would not fit (the record keeps the quality used).
    """
    return max(4096, size * size)


def n_samples(n_bg: int, n_fg: int, n_flips: int, positions: int) -> int:
    """Number of samples of a plan."""
    return n_bg * n_fg * n_flips * positions


def quantize_depth(depth_m: np.ndarray, max_depth: float) -> np.ndarray:
    """Metres -> uint16 units of DEPTH_SCALE, clipped to [1 unit, max_depth]."""
    units = np.rint(np.asarray(depth_m, dtype=np.float64) * UNITS_PER_METRE)
    return np.clip(units, 1, round(max_depth * UNITS_PER_METRE)).astype(np.uint16)


def depth_metres(units: np.ndarray) -> np.ndarray:
    """uint16 depth units -> float32 metres (a correctly rounded division: 30000 -> 30.0)."""
    return units.astype(np.float32) / np.float32(UNITS_PER_METRE)


def create_sample_arrays(
    group: zarr.Group, n: int, size: int, chunk: int, shard: int
) -> dict[str, zarr.Array]:
    """Create the per-sample arrays of a store of `n` samples (overwriting old ones)."""
    specs: dict[str, tuple[tuple[int, ...], Any]] = {
        "fgbg_jpeg": ((jpeg_slot_bytes(size),), np.uint8),
        "mask": ((size, size), np.uint8),
        "depth": ((size, size), np.uint16),
        "records": ((len(RECORD_COLUMNS),), np.int32),
        "records_f": ((len(RECORD_F_COLUMNS),), np.float32),
    }
    arrays = {}
    for name, (tail, dtype) in specs.items():
        arrays[name] = group.create_array(
            name,
            shape=(n, *tail),
            chunks=(chunk, *tail),
            shards=(shard, *tail),
            dtype=dtype,
            compressors=[CODEC],
            fill_value=0,
            overwrite=True,
            # Skips zarr's scan of every chunk for "all fill value" (40% of write time here).
            # A runtime setting, not stored: the builder sets it again where it writes shards.
            config={"write_empty_chunks": True},
        )
    arrays["records"].attrs["columns"] = list(RECORD_COLUMNS)
    arrays["records_f"].attrs["columns"] = list(RECORD_F_COLUMNS)
    return arrays


def write_asset_arrays(group: zarr.Group, arrays: dict[str, np.ndarray]) -> None:
    """Write the per-store asset arrays, one chunk per asset."""
    for name in ASSET_ARRAYS:
        data = arrays[name]
        group.create_array(
            name,
            shape=data.shape,
            chunks=(1, *data.shape[1:]),
            dtype=data.dtype,
            compressors=[CODEC],
            fill_value=0,
            overwrite=True,
        )[...] = data


def shard_key(array: zarr.Array, shard: int) -> str:
    """Store key of the object holding `shard` of a per-sample array."""
    return array.metadata.encode_chunk_key((shard,) + (0,) * (array.ndim - 1))
