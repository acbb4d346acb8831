"""Both kinds of storage read an object's byte ranges alike (slices, from either end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagen.store.storage import storage_at

DATA = bytes(range(100))


@pytest.mark.parametrize("where", ["local", "memory"])
def test_read_range_is_a_slice_of_the_object(where: str, tmp_path: Path) -> None:
    location = str(tmp_path / "s") if where == "local" else "memory://fgd-test/ranges"
    storage = storage_at(location)
    storage.write_bytes("a/object", DATA)
    try:
        for start, stop in [(0, 10), (37, 64), (-20, None), (-20, 90), (90, None), (5, 5)]:
            assert storage.read_range("a/object", start, stop) == DATA[start:stop]
        with pytest.raises(FileNotFoundError):
            storage.read_range("a/missing", 0, 4)
    finally:
        storage.remove()
