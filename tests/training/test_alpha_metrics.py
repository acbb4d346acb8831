"""The matte errors of alphamatting.com against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.alpha_metrics import (
    ALPHA_METRIC_KEYS,
    alpha_metrics,
    connectivity_error,
    gradient_error,
    mse,
    sad,
)
from training.metrics import per_sample_boundary_f


def square(size: int = 60, top: int = 20, side: int = 20) -> np.ndarray:
    alpha = np.zeros((size, size), np.float32)
    alpha[top : top + side, top : top + side] = 1.0
    return alpha


def test_sad_and_mse_hand_computed():
    gt = square()
    pred = gt.copy()
    pred[:10, :40] = 0.5  # 400 px off by 0.5, away from the square
    assert sad(pred, gt) == pytest.approx(400 * 0.5 / 1000)
    assert mse(pred, gt) == pytest.approx(400 * 0.25 / 3600)
    region = np.zeros_like(gt, bool)
    region[:5] = True  # 200 of those pixels
    assert sad(pred, gt, region) == pytest.approx(200 * 0.5 / 1000)
    assert mse(pred, gt, region) == pytest.approx(0.25 * 200 / 300)


def test_gradient_error_sees_a_blurred_edge_not_an_offset():
    gt = square()
    assert gradient_error(gt, gt) == 0
    assert gradient_error(gt * 0.5 + 0.25, gt * 0.5 + 0.25 + 0.1) == pytest.approx(0, abs=1e-12)
    blurred = np.asarray(torch.nn.functional.avg_pool2d(
        torch.from_numpy(gt)[None, None], 5, stride=1, padding=2, count_include_pad=False
    )[0, 0])  # fmt: skip
    shifted = np.roll(gt, 1, axis=1)
    # a blurred edge changes the gradient's magnitude; a shifted one mostly moves it
    assert gradient_error(blurred, gt) > 0
    assert gradient_error(blurred, gt) > gradient_error(shifted, gt) * 0.1


def test_connectivity_error_of_a_detached_island_is_its_area():
    """An island of alpha 1 apart from the object is not connected at any threshold: its
    level is 0, so phi = 0 there against the truth's 1, one per pixel."""
    gt = square()
    pred = gt.copy()
    pred[2:12, 45:55] = 1.0  # 100 px island
    assert connectivity_error(gt, gt) == 0
    assert connectivity_error(pred, gt) == pytest.approx(100 / 1000)
    half = gt.copy()
    half[2:12, 45:55] = 0.5  # half as opaque: d = 0.5 >= theta, half the penalty
    assert connectivity_error(half, gt) == pytest.approx(100 * 0.5 / 1000)


def test_connectivity_error_of_a_faint_veil_is_small():
    """Alpha below theta = 0.15 above its level is not penalised."""
    gt = square()
    veil = gt.copy()
    veil[gt == 0] = 0.1
    assert connectivity_error(veil, gt) == 0
    assert sad(veil, gt) > 0


def test_alpha_metrics_holds_every_key_and_the_full_size_boundary_f():
    gt = square(120, 30, 50)
    pred = np.roll(gt, 3, axis=0)
    metrics = alpha_metrics(pred, gt)
    assert tuple(metrics) == ALPHA_METRIC_KEYS
    masks = [torch.from_numpy(a >= 0.5)[None] for a in (pred, gt)]
    assert metrics["boundary_f"] == pytest.approx(float(per_sample_boundary_f(*masks)[0]))
    assert metrics["iou"] == pytest.approx((50 - 3) * 50 / ((50 + 3) * 50))
    assert alpha_metrics(gt, gt) == {
        "iou": 1.0, "boundary_f": 1.0, "sad": 0.0, "mse": 0.0, "grad": 0.0, "conn": 0.0,
    }  # fmt: skip


def test_mattes_of_other_sizes_are_refused():
    with pytest.raises(ValueError, match="one size"):
        sad(np.zeros((4, 4)), np.zeros((4, 5)))
