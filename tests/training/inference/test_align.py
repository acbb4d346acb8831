"""Registering a bg photo to its fg_bg photo: a known homography is recovered, failures say why."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.inference.align import MIN_ALIGN_SIDE, AlignConfig, align_bg, corner_error

SIZE = 640


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(image, code)


def known_motion(dx: float, dy: float, degrees: float, scale: float) -> np.ndarray:
    """bg -> fg_bg homography: rotate and zoom about the frame centre, then shift."""
    c = (SIZE - 1) / 2
    a = math.radians(degrees)
    rotate = np.array(
        [
            [scale * math.cos(a), -scale * math.sin(a), 0],
            [scale * math.sin(a), scale * math.cos(a), 0],
            [0, 0, 1],
        ]
    )
    centre = np.array([[1, 0, c], [0, 1, c], [0, 0, 1.0]])
    shift = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])
    return shift @ centre @ rotate @ np.linalg.inv(centre)


def photo_pair(
    real: Path, bg_name: str, motion: np.ndarray, gain: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bg, fg_bg, object mask): a real photo upscaled to 640 px; fg_bg is it seen through
    `motion`, re-exposed by `gain`, with a real cutout covering over a third of the frame."""
    bg = cv2.resize(read_rgb(real / "bg" / bg_name), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    fgbg = cv2.warpPerspective(
        bg, motion, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    fgbg = np.clip(fgbg.astype(np.float32) * gain, 0, 255)
    cutout = read_rgb(real / "fg" / "fg_001.png")
    width, height = int(0.95 * SIZE), int(0.9 * SIZE)
    cutout = cv2.resize(cutout, (width, height), interpolation=cv2.INTER_AREA)
    alpha = cutout[..., 3:].astype(np.float32) / 255
    x0, y0 = (SIZE - width) // 2, SIZE - height
    region = fgbg[y0:, x0 : x0 + width]
    fgbg[y0:, x0 : x0 + width] = cutout[..., :3] * alpha + region * (1 - alpha)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y0:, x0 : x0 + width] = alpha[..., 0] >= 0.5
    return bg, np.rint(fgbg).astype(np.uint8), mask


@pytest.mark.parametrize(
    ("bg_name", "gain"), [("bg_005.jpg", 1.0), ("bg_020.jpg", 1.0), ("bg_040.jpg", 1.12)]
)
def test_recovers_a_known_homography_behind_a_large_object(
    real_samples: Path, bg_name: str, gain: float
) -> None:
    truth = known_motion(3.4, -2.2, 0.5, 1.01)
    bg, fgbg, mask = photo_pair(real_samples, bg_name, truth, gain)
    assert mask.mean() > 0.3  # the object hides a large part of the frame

    result = align_bg(bg, fgbg)

    assert result.ok, result.reason
    assert corner_error(result.homography, truth, (SIZE, SIZE)) < 0.5
    assert result.inliers >= AlignConfig().min_inliers and result.residual_px < 1.5
    assert "aligned" in result.reason and "\n" not in result.reason
    # Off the object (and off what the gain clipped) the warped bg now matches fg_bg far better
    # than the raw bg did.
    inside = ~mask & (fgbg.max(axis=2) < 250)
    inside[:16], inside[-16:], inside[:, :16], inside[:, -16:] = False, False, False, False
    before = np.abs(bg.astype(np.float32) / 255 * gain - fgbg / 255)[inside].mean()
    after = np.abs(result.warped_bg.astype(np.float32) / 255 * gain - fgbg / 255)[inside].mean()
    assert after < 0.5 * before


def test_same_pair_same_answer(real_samples: Path) -> None:
    bg, fgbg, _ = photo_pair(real_samples, "bg_010.jpg", known_motion(-2.0, 1.5, -0.4, 0.995))
    first, second = align_bg(bg, fgbg), align_bg(bg, fgbg)
    np.testing.assert_array_equal(first.homography, second.homography)
    np.testing.assert_array_equal(first.warped_bg, second.warped_bg)


def test_noise_against_a_photo_fails_with_a_reason(real_samples: Path) -> None:
    _, fgbg, _ = photo_pair(real_samples, "bg_005.jpg", np.eye(3))
    noise = np.random.default_rng(0).integers(0, 256, fgbg.shape, dtype=np.uint8)
    result = align_bg(noise, fgbg, method="homography")
    assert not result.ok
    assert result.reason and "\n" not in result.reason and "match" in result.reason
    assert result.warped_bg is noise
    np.testing.assert_array_equal(result.homography, np.eye(3))


def test_an_implausible_motion_is_refused(real_samples: Path) -> None:
    bg, fgbg, _ = photo_pair(real_samples, "bg_020.jpg", known_motion(60.0, 40.0, 0.0, 1.0))
    config = AlignConfig(max_corner_shift=0.05)  # 72 px of shift > 5 % of the 905 px diagonal
    result = align_bg(bg, fgbg, config=config)
    assert not result.ok and "implausible motion" in result.reason
    assert align_bg(bg, fgbg).ok  # within the default 10 % it is a plausible re-framing


def test_off_returns_the_input_and_an_aligned_pair_is_left_alone(real_samples: Path) -> None:
    bg, fgbg, _ = photo_pair(real_samples, "bg_030.jpg", np.eye(3))
    off = align_bg(bg, fgbg, method="off")
    assert off.ok and off.warped_bg is bg and off.inliers == 0
    np.testing.assert_array_equal(off.homography, np.eye(3))
    same = align_bg(bg, fgbg)
    assert same.ok and same.warped_bg is bg and "already aligned" in same.reason


def test_bad_arguments() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="method"):
        align_bg(image, image, method="sift")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="differ in size"):
        align_bg(image, np.zeros((32, 40, 3), np.uint8))


@pytest.mark.parametrize(
    ("h", "w"), [(1, 1), (1, 100), (100, 1), (40, 40), (MIN_ALIGN_SIDE - 1, 300), (4, 5000)]
)
def test_a_pair_too_small_for_features_fails_with_a_reason(h: int, w: int) -> None:
    """ORB finds nothing within 31 px of an edge (and fails outright on a side of 1 px, which a
    long, thin photo has at the working scale): such a pair is no registration, not a crash."""
    bg = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    result = align_bg(bg, bg.copy())
    assert not result.ok and result.warped_bg is bg
    assert "too small to register" in result.reason and f"{MIN_ALIGN_SIDE} px" in result.reason
    assert ("working scale" in result.reason) is (w > AlignConfig().max_side)
    side = np.zeros((MIN_ALIGN_SIDE, MIN_ALIGN_SIDE, 3), np.uint8)
    assert "too small" not in align_bg(side, side).reason  # the smallest one it tries
