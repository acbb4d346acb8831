"""The bytes of one shard object of a per-sample array, as zarr's sharding codec writes them.

The builder renders a whole shard in memory and writes each array's shard as one object.
Through zarr that write costs a fill-valued buffer and a copy per chunk, an event-loop round
trip per array, and reading the object back for its checksum; encoding the object here costs
the compression alone, and the checksum is taken from the bytes in hand.

The layout is the one :meth:`datagen.store.schema.ArraySpec.create` gives every per-sample array
(zarr's ``sharding_indexed`` codec): the shard's chunks one after the other, each C-ordered
little-endian bytes compressed by zstd, chunks beyond the array's end (or, in a packed array,
beyond the shard's payloads) left out and a chunk that reaches past it padded with the fill
value (0); then the index, one (offset, length) pair of
little-endian uint64 per chunk (``2**64 - 1`` twice for a missing chunk), and the index's
CRC-32C. :func:`layout_of` refuses an array whose codecs say anything else. Readers decode the
same layout back, a chunk at a time (:meth:`ShardLayout.chunk_ranges`,
:meth:`ShardLayout.decode_chunk`), without zarr's event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import google_crc32c
import numpy as np
import zarr
from numcodecs import Zstd

#: Offset and length of a chunk a shard does not hold.
MISSING = 2**64 - 1


@dataclass(frozen=True)
class ShardLayout:
    """How the shards of one per-sample array are laid out.

    Attributes:
        chunk: Samples per chunk.
        chunks_per_shard: Chunks per shard.
        n_samples: Length of the array (its last shard may be short).
        dtype: The array's dtype, little-endian.
        level: zstd level of the chunks.
        tail: The shape of one sample.
    """

    chunk: int
    chunks_per_shard: int
    n_samples: int
    dtype: np.dtype
    level: int
    tail: tuple[int, ...]  # the shape of one sample

    def encode(self, rows: np.ndarray, shard: int, filled: int | None = None) -> bytes:
        """The object holding shard `shard`, whose samples are `rows` (all of them).

        `filled`: only the first `filled` rows hold data (a packed array's payloads, the rest
        of `rows` being room never written): the chunks past them are left out of the object,
        as zarr leaves out a chunk of fill values, and the chunk that holds the last of them
        is padded with the fill value.
        """
        start = shard * self.chunk * self.chunks_per_shard
        expected = min(self.chunk * self.chunks_per_shard, self.n_samples - start)
        if rows.shape[0] != expected:
            raise ValueError(f"shard {shard} holds {expected} samples, got {rows.shape[0]}")
        end = expected if filled is None else filled
        codec = Zstd(level=self.level, checksum=False)
        index = np.full((self.chunks_per_shard, 2), MISSING, dtype="<u8")
        parts: list[bytes] = []
        offset = 0
        for k in range(-(-end // self.chunk)):
            data = np.ascontiguousarray(
                rows[k * self.chunk : min((k + 1) * self.chunk, end)], self.dtype
            )
            if data.shape[0] < self.chunk:  # the last chunk: padded with the fill value
                padded = np.zeros((self.chunk, *data.shape[1:]), self.dtype)
                padded[: data.shape[0]] = data
                data = padded
            blob = codec.encode(data)
            index[k] = offset, len(blob)
            offset += len(blob)
            parts.append(blob)
        index_bytes = index.tobytes()
        checksum = np.uint32(google_crc32c.value(index_bytes)).astype("<u4").tobytes()
        return b"".join([*parts, index_bytes, checksum])

    @property
    def index_bytes(self) -> int:
        """Length of the index at a shard's end, its CRC-32C included."""
        return 16 * self.chunks_per_shard + 4

    def chunk_ranges(self, index: bytes) -> np.ndarray:
        """(chunks_per_shard, 2) start and stop offsets of each chunk in a shard object, from
        the object's last :attr:`index_bytes` bytes; both :data:`MISSING` for a chunk the
        object does not hold.

        Raises:
            ValueError: The index does not match its checksum.
        """
        table, checksum = index[:-4], index[-4:]
        if np.uint32(google_crc32c.value(table)).astype("<u4").tobytes() != checksum:
            raise ValueError("its chunk index fails its CRC-32C")
        offsets = np.frombuffer(table, "<u8").reshape(self.chunks_per_shard, 2)
        ranges = np.stack([offsets[:, 0], offsets.sum(axis=1)], axis=1)
        ranges[offsets[:, 0] == MISSING] = MISSING  # the sum wrapped around
        return ranges

    def decode_chunk(self, blob: bytes) -> np.ndarray:
        """The (chunk, *tail) samples of one compressed chunk of a shard object.

        Raises:
            ValueError: The bytes do not decompress to one chunk.
        """
        try:
            raw = Zstd().decode(blob)
        except RuntimeError as error:  # numcodecs' word for bytes that are not a zstd frame
            raise ValueError(f"a chunk does not decompress ({error})") from None
        expected = self.chunk * int(np.prod(self.tail)) * self.dtype.itemsize
        if len(raw) != expected:
            raise ValueError(f"a chunk decompressed to {len(raw)} bytes, not {expected}")
        return np.frombuffer(raw, self.dtype).reshape(self.chunk, *self.tail)


def layout_of(array: zarr.Array) -> ShardLayout:
    """The shard layout of a per-sample array of the store contract.

    Raises:
        ValueError: The array's codecs are not the layout :class:`ShardLayout` writes.
    """
    (sharding,) = array.metadata.codecs
    config = sharding.to_dict()
    chunk = int(config["configuration"]["chunk_shape"][0])
    level = int(config["configuration"]["codecs"][-1]["configuration"]["level"])
    if config != _sharding_config(array, chunk, level) or array.fill_value != 0:
        raise ValueError(f"{array.path}: not the sharded layout the builder writes ({config})")
    shard = int(array.metadata.chunk_grid.chunk_shape[0])
    return ShardLayout(
        chunk=chunk,
        chunks_per_shard=shard // chunk,
        n_samples=int(array.shape[0]),
        dtype=array.dtype.newbyteorder("<"),
        level=level,
        tail=tuple(int(v) for v in array.shape[1:]),
    )


def _sharding_config(array: zarr.Array, chunk: int, level: int) -> dict[str, Any]:
    """The ``sharding_indexed`` codec :class:`ShardLayout` writes, as zarr describes it."""
    little = {"name": "bytes", "configuration": {"endian": "little"}}
    inner = {"name": "bytes"} if array.dtype.itemsize == 1 else little
    zstd = {"name": "zstd", "configuration": {"level": level, "checksum": False}}
    return {
        "name": "sharding_indexed",
        "configuration": {
            "chunk_shape": (chunk, *array.shape[1:]),
            "codecs": (inner, zstd),
            "index_codecs": (little, {"name": "crc32c"}),
            "index_location": "end",
        },
    }
