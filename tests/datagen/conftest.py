"""Small stores built once per session and reused by the datagen tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagen.build import build_store
from datagen.config import BuildConfig


def tiny_config(out: Path, **overrides: object) -> BuildConfig:
    """A 36-sample procedural plan at 64 px in 3 shards of 2 chunks."""
    values: dict[str, object] = {
        "out": str(out),
        "size": 64,
        "n_bg": 3,
        "n_fg": 3,
        "positions": 2,
        "workers": 1,
        "chunk_size": 8,
        "shard_size": 16,
    }
    values.update(overrides)
    return BuildConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny procedural store (read-only for the tests that use it)."""
    out = tmp_path_factory.mktemp("stores") / "tiny.zarr"
    build_store(tiny_config(out), progress=False)
    return out
