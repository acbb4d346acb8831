"""The builder's shard objects are byte for byte what zarr's sharding codec writes, in both
layouts: rows (every per-sample array of formats 1 and 2, the records of format 3) and
packed (format 3's mask, depth and JPEG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import ZstdCodec

from datagen.store import schema
from datagen.store.shards import MISSING, layout_of


@pytest.mark.parametrize(
    ("name", "n", "chunk", "shard"),
    [
        ("mask", 36, 8, 16),  # a short last shard ending in a partial chunk
        ("depth", 30, 5, 15),  # whole chunks, a whole last shard
        ("fgbg_jpeg", 20, 4, 12),
        ("records", 37, 8, 32),
        ("records_f", 9, 8, 16),  # one shard, short
        ("records_shadow", 64, 8, 16),
    ],
)
def test_encoded_shards_equal_zarr_writes(
    name: str, n: int, chunk: int, shard: int, tmp_path: Path
) -> None:
    spec = schema.SPEC[name]
    group = zarr.open_group(tmp_path / "store.zarr", mode="w")
    array = spec.create(group, n, 16, chunk, shard, fmt=2)
    rng = np.random.default_rng(0)
    data = (rng.random((n, *spec.tail(16))) * 200).astype(spec.dtype)
    data[rng.random(n) < 0.3] = 0  # some all-zero chunks: zarr must still write them
    with zarr.config.set({"array.write_empty_chunks": True}):
        array[...] = data
    layout = layout_of(array)
    for s in range(-(-n // shard)):
        stored = (tmp_path / "store.zarr" / name / schema.shard_key(array, s)).read_bytes()
        assert layout.encode(data[s * shard : (s + 1) * shard], s) == stored
        # ... and the reader's decoding of zarr's object gives zarr's chunks back.
        ranges = layout.chunk_ranges(stored[-layout.index_bytes :])
        for k in range(-(-min(shard, n - s * shard) // chunk)):
            first = s * shard + k * chunk
            rows = layout.decode_chunk(stored[ranges[k, 0] : ranges[k, 1]])
            np.testing.assert_array_equal(rows[: n - first], array[first : first + chunk])


@pytest.mark.parametrize(
    ("name", "n", "fill"),
    [
        ("mask", 40, 0.3),  # payloads ending inside a shard's second inner chunk
        ("depth", 20, 0.5),  # a short last shard
        ("fgbg_jpeg", 33, 1.0),  # shards filled to the brim
    ],
)
def test_packed_shards_equal_zarr_writes(name: str, n: int, fill: float, tmp_path: Path) -> None:
    spec, shard = schema.SPEC[name], 16
    group = zarr.open_group(tmp_path / "store.zarr", mode="w")
    array = spec.create(group, n, 224, 8, shard)
    layout = layout_of(array)
    elements = layout.chunk * layout.chunks_per_shard
    assert spec.packed(schema.FORMAT_VERSION) and array.shape == (-(-n // shard) * elements,)
    assert layout.chunks_per_shard > 1 and elements >= shard * spec.slot(224)
    rng = np.random.default_rng(0)
    for s in range(-(-n // shard)):
        filled = int(fill * elements)
        room = np.zeros(elements, spec.dtype)
        room[:filled] = rng.integers(1, 200, filled)
        # zarr leaves out the chunks of fill values past the payloads, as the builder does.
        array.with_config({"write_empty_chunks": False})[s * elements : (s + 1) * elements] = room
        stored = (tmp_path / "store.zarr" / name / schema.shard_key(array, s)).read_bytes()
        room[filled:] = 7  # what lies past the payloads is never read
        assert layout.encode(room, s, filled=filled) == stored
        ranges = layout.chunk_ranges(stored[-layout.index_bytes :])
        held = -(-filled // layout.chunk)
        assert (ranges[held:] == MISSING).all() and (ranges[:held] != MISSING).all()
        if filled < elements:  # the chunks left out read back as zeros
            np.testing.assert_array_equal(array[s * elements + filled : (s + 1) * elements], 0)


def test_other_layouts_are_refused(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "store.zarr", mode="w")
    array = group.create_array(
        "mask", shape=(8, 4), chunks=(2, 4), shards=(4, 4), dtype=np.uint8,
        compressors=[ZstdCodec(level=3, checksum=True)],
    )  # fmt: skip
    with pytest.raises(ValueError, match="not the sharded layout"):
        layout_of(array)


def test_a_shard_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "store.zarr", mode="w")
    layout = layout_of(schema.SPEC["mask"].create(group, 20, 16, 4, 8, fmt=2))
    with pytest.raises(ValueError, match="holds 4 samples"):
        layout.encode(np.zeros((8, 16, 16), np.uint8), 2)


def test_a_damaged_index_or_chunk_is_refused(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "store.zarr", mode="w")
    layout = layout_of(schema.SPEC["mask"].create(group, 8, 16, 4, 8, fmt=2))
    shard = layout.encode(np.ones((8, 16, 16), np.uint8), 0)
    index = bytearray(shard[-layout.index_bytes :])
    index[3] ^= 1
    with pytest.raises(ValueError, match="CRC-32C"):
        layout.chunk_ranges(bytes(index))
    start, stop = layout.chunk_ranges(shard[-layout.index_bytes :])[1]
    with pytest.raises(ValueError, match="does not decompress"):
        layout.decode_chunk(shard[start : stop - 2])  # a truncated chunk
