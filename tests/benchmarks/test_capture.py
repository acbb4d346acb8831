"""`benchmarks.capture`: how its training assets are chosen and varied."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmarks.capture import split_assets, warp_cutouts


def _cutout(path: Path, colour: tuple[int, int, int]) -> None:
    """A 120 x 60 figure of one colour on a transparent surround that is white (so a warp that
    bled the surround into the edge would show)."""
    rgba = np.zeros((160, 100, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[20:140, 20:80] = (*colour, 255)
    cv2.imwrite(str(path), rgba)


def _real_folder(root: Path) -> Path:
    """A stand-in for ``../shared/real-samples``: 4 (empty) bg files, 5 fg files."""
    for kind, count in (("bg", 4), ("fg", 5)):
        (root / kind).mkdir(parents=True)
        for k in range(count):
            (root / kind / f"{kind}_{k}.png").write_bytes(b"")
    return root


def test_warped_cutouts_are_new_shapes_of_the_same_object(tmp_path: Path) -> None:
    _cutout(tmp_path / "fg_a.png", (40, 80, 200))
    warp_cutouts(tmp_path, copies=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["fg_a.png", "fg_a_warp0.png", "fg_a_warp1.png"]
    original = cv2.imread(str(tmp_path / "fg_a.png"), cv2.IMREAD_UNCHANGED)
    silhouettes = []
    for name in names[1:]:
        warped = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
        alpha = warped[..., 3]
        # About the same area, another outline, and only the object's colour inside it.
        assert 0.8 < (alpha > 127).sum() / (original[..., 3] > 127).sum() < 1.25
        assert np.abs(warped[alpha > 0][:, :3].astype(int) - (40, 80, 200)).max() <= 1
        silhouettes.append(alpha > 127)
    assert (silhouettes[0] != silhouettes[1]).any()


def test_the_training_cutouts_can_be_fewer(tmp_path: Path) -> None:
    root = _real_folder(tmp_path / "real")
    train_bg, train_fg, test_bg, test_fg = split_assets(root, tmp_path / "work", train_fg=2)
    assert sorted(p.name for p in train_fg.iterdir()) == ["fg_0.png", "fg_1.png"]
    assert [p.name for p in test_fg] == ["fg_3.png", "fg_4.png"]  # held out whatever N is
    assert len(list(train_bg.iterdir())) == 2 and len(test_bg) == 2


def test_any_two_cutouts_can_be_held_out(tmp_path: Path) -> None:
    root = _real_folder(tmp_path / "real")
    _, train_fg, _, test_fg = split_assets(
        root, tmp_path / "work", train_fg=2, test_fg=["fg_0.png", "fg_2.png"]
    )
    assert [p.name for p in test_fg] == ["fg_0.png", "fg_2.png"]
    assert sorted(p.name for p in train_fg.iterdir()) == ["fg_1.png", "fg_3.png"]
