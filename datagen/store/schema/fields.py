"""What a reader returns for a sample: :data:`FIELDS`, one :class:`SampleField` per array
(``bg``, ``fgbg``, ``mask``, ``depth``) with its dtype, shape, the stored arrays
(:data:`datagen.store.schema.arrays.ARRAYS`) it is decoded from, how, and how the HDF5 export stores
it. A field readers see is one row here with its decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from datagen.common.imaging import decode_jpeg
from datagen.store.schema.arrays import depth_metres, payload_box, square, unpack_layer
from datagen.store.schema.records import COLUMN


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
    SampleField("bg", np.uint8, square(3), (), _decode_bg, "the sample's bg scene, RGB",
                exported=False),
    SampleField("fgbg", np.uint8, square(3), ("fgbg_jpeg",), _decode_fgbg,
                "fg_bg image, RGB"),
    SampleField("mask", np.uint8, square(), ("mask",), _decode_mask,
                "fg mask, 0 = background, 255 = foreground",
                hdf5_attrs=(("values", "0 background, 255 foreground"),)),
    SampleField("depth", np.float32, square(), ("depth", "mask", "fg_depth"), _decode_depth,
                "depth of the fg_bg image in metres (larger = farther)", hdf5_shuffle=True,
                hdf5_attrs=(("unit", "m"),)),
)  # fmt: skip
FIELD = {f.name: f for f in FIELDS}
