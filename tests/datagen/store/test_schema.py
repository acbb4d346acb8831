"""The store contract's own arithmetic: depth quantization and the packed arrays' geometry."""

from __future__ import annotations

import numpy as np
import pytest

from datagen.store import schema


def test_a_float_quantizes_as_an_array_does() -> None:
    # Halves of a millimetre (ties round to even), the clip at both ends, ordinary values.
    metres = [0.0, 0.0004, 0.0005, 0.0015, 0.0025, 1.2345, 2.5e-3, 29.9995, 30.0, 31.7, 7.0]
    metres += list(np.random.default_rng(0).uniform(0, 35, 2000))
    as_array = schema.quantize_depth(np.array(metres), 30.0)
    as_floats = [schema.quantize_depth(float(m), 30.0) for m in metres]
    assert all(isinstance(units, int) for units in as_floats)
    np.testing.assert_array_equal(as_array, as_floats)
    assert as_array.dtype == np.uint16 and (as_array[:2] == 1).all() and as_array[8] == 30000


def test_payload_starts_restart_at_each_shard() -> None:
    lengths = np.array([3, 0, 5, 2, 4, 1, 6])
    starts = schema.payload_starts(lengths, shard_size=3, shard_elements=100)
    np.testing.assert_array_equal(starts, [0, 3, 3, 100, 102, 106, 200])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_unpack_layer_places_a_box_payload_and_takes_a_whole_frame_as_it_is(dtype: type) -> None:
    record = np.zeros(len(schema.RECORD_COLUMNS), np.int32)
    for name, value in zip(schema.BOX_COLUMNS, (2, 1, 4, 4), strict=True):
        record[schema.COLUMN[name]] = value
    frame = schema.unpack_layer(np.arange(1, 7, dtype=dtype), record, 5)
    expected = np.zeros((5, 5), dtype)
    expected[2:4, 1:4] = [[1, 2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(frame, expected)
    whole = np.arange(25, dtype=dtype)  # a teacher's depth: the whole frame, whatever the box
    np.testing.assert_array_equal(schema.unpack_layer(whole, record, 5), whole.reshape(5, 5))
    rows = np.ones((5, 5), dtype)  # formats 1 and 2 stored the frame itself
    assert schema.unpack_layer(rows, record, 5) is rows
