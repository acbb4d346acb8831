"""`benchmarks.capture`: the split of the real assets, with built-in cutouts added to training."""

from __future__ import annotations

from pathlib import Path

import cv2

from benchmarks.capture import TEST_BG, TEST_FG, split_assets


def test_procedural_cutouts_join_the_training_cutouts_only(
    tmp_path: Path, real_samples: Path
) -> None:
    train_bg, train_fg, test_bg, test_fg = split_assets(real_samples, tmp_path, procedural_fg=3)
    real_fg = sorted((real_samples / "fg").iterdir())
    names = sorted(p.name for p in train_fg.iterdir())
    assert names[: len(real_fg) - TEST_FG] == [p.name for p in real_fg[:-TEST_FG]]
    added = [train_fg / n for n in names if n.startswith("proc-fg-")]
    assert len(added) == 3 and len(names) == len(real_fg) - TEST_FG + 3
    for path in added:  # RGBA cutouts the builder takes: an alpha with something in it
        rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert rgba.shape[2] == 4 and rgba[..., 3].max() == 255
    assert test_fg == real_fg[-TEST_FG:] and len(test_bg) == TEST_BG
    assert len(list(train_bg.iterdir())) == len(list((real_samples / "bg").iterdir())) - TEST_BG
