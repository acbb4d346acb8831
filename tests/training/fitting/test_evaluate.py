"""The trainer normalises with the statistics `fgd datagen stats` stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagen.builder.build import build_store
from datagen.builder.config import BuildConfig
from datagen.store.audit import compute_stats
from datagen.store.reader import open_store
from training.preprocess import Normalization, normalization_from_store


def test_normalization_comes_from_the_store_stats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.zarr"
    build_store(BuildConfig(out=str(out), size=32, n_bg=2, n_fg=2, positions=1, workers=1),
                progress=False)  # fmt: skip
    # No stats saved yet: they are measured, not replaced by ImageNet's, and the user is told.
    unsaved = normalization_from_store(open_store(out), progress=False)
    assert "has no stats" in capsys.readouterr().err
    assert open_store(out).stats is None  # measuring stores nothing
    stats = compute_stats(str(out), progress=False)
    norm = normalization_from_store(open_store(out), progress=False)
    assert "has no stats" not in capsys.readouterr().err
    assert norm.fgbg_mean == pytest.approx(tuple(stats["fgbg_mean"]))
    assert norm.bg_std == pytest.approx(tuple(stats["bg_std"]))
    assert norm != Normalization()
    assert unsaved == norm  # one store, one normalisation, saved stats or not
