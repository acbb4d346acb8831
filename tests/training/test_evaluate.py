"""The trainer normalises with the statistics `fgd datagen stats` stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagen.audit import compute_stats
from datagen.build import build_store
from datagen.config import BuildConfig
from datagen.store import open_store
from training.preprocess import Normalization, normalization_from_store


def test_normalization_comes_from_the_store_stats(tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    build_store(BuildConfig(out=str(out), size=32, n_bg=2, n_fg=2, positions=1, workers=1),
                progress=False)  # fmt: skip
    assert normalization_from_store(open_store(out).attrs) == Normalization()  # no stats yet
    stats = compute_stats(str(out), progress=False)
    norm = normalization_from_store(open_store(out).attrs)
    assert norm.fgbg_mean == pytest.approx(tuple(stats["fgbg_mean"]))
    assert norm.bg_std == pytest.approx(tuple(stats["bg_std"]))
    assert norm != Normalization()
