"""The full-resolution refinement: its filter's math, and that it beats plain upsampling on a
pair whose soft edge is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from training.alpha_metrics import sad
from training.inference import refine
from training.metrics import per_sample_boundary_f

WIDTH, HEIGHT = 480, 270
GRID = (48, 27)  # the network's grid for such a photo: 10x coarser, as at 1920x1080


def soft_edged_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bg, fg_bg, true alpha): a textured bg and a five-pointed star of another colour whose
    edge is soft over a few pixels (drawn 4x finer, area-averaged, blurred)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (HEIGHT // 30, WIDTH // 30, 3), dtype=np.uint8)
    bg = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    angles = np.linspace(-np.pi / 2, 1.5 * np.pi, 11)[:-1]
    radii = np.where(np.arange(10) % 2 == 0, 110, 45)
    points = np.stack([WIDTH / 2 + radii * np.cos(angles), HEIGHT / 2 + radii * np.sin(angles)], 1)
    fine = np.zeros((HEIGHT * 4, WIDTH * 4), np.uint8)
    cv2.fillPoly(fine, [np.round(points * 4).astype(np.int32)], 255)
    alpha = cv2.resize(fine, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha = cv2.GaussianBlur(alpha / 255, (0, 0), 1.0)
    colour = np.array([230, 40, 200], np.float32)
    fgbg = alpha[..., None] * colour + (1 - alpha[..., None]) * bg.astype(np.float32)
    return bg, np.rint(fgbg).astype(np.uint8), alpha


def coarse_of(alpha: np.ndarray) -> np.ndarray:
    """What a network at a 10x coarser grid sees of ``alpha``: its area mean, blurred a cell."""
    coarse = cv2.resize(alpha, GRID, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(coarse, (3, 3), 0.8)


def boundary_f(pred: np.ndarray, gt: np.ndarray) -> float:
    """Boundary F within 2 px (DAVIS's tolerance at this size is 5 px, which forgives the
    rounded points of an upsampled star)."""
    masks = [torch.from_numpy(a >= 0.5)[None] for a in (pred, gt)]
    return float(per_sample_boundary_f(*masks, tolerance=2)[0])


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("with_bg", [False, True], ids=["colour guide", "colour + bg difference"])
def test_refinement_beats_upsampling_on_a_known_soft_edge(with_bg, seed):
    bg, fgbg, alpha = soft_edged_pair(seed)
    coarse = coarse_of(alpha)
    upsampled = refine.refine_alpha(coarse, fgbg, bg, "off")
    refined = refine.refine_alpha(coarse, fgbg, bg if with_bg else None, "guided")
    assert refined.shape == alpha.shape and refined.dtype == np.float32
    assert 0 <= refined.min() <= refined.max() <= 1
    assert sad(refined, alpha) < 0.6 * sad(upsampled, alpha)
    assert boundary_f(refined, alpha) > boundary_f(upsampled, alpha) + 0.04


def test_off_is_bilinear_upsampling():
    coarse = np.random.default_rng(0).random((9, 16), dtype=np.float32)
    image = np.zeros((90, 160, 3), np.uint8)
    expected = cv2.resize(coarse, (160, 90), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(refine.refine_alpha(coarse, image, None, "off"), expected)


def test_the_filter_keeps_a_linear_function_of_the_guide():
    """Where the coarse input is an exact linear function of the guide, every window fits it
    exactly (eps -> 0), so the output is that function of the full-resolution guide."""
    rng = np.random.default_rng(1)
    image = cv2.resize(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8), (200, 120))
    guide = refine.guide_channels(image)
    weights, offset = np.array([0.5, -0.3, 0.2], np.float32), 0.3
    exact = np.tensordot(weights, guide, axes=1) + offset  # (H, W), inside [0, 1]
    coarse = (
        np.tensordot(
            weights,
            np.stack([cv2.resize(p, (100, 60), interpolation=cv2.INTER_AREA) for p in guide]),
            1,
        )
        + offset
    )
    out = refine.fast_guided_filter(coarse, guide, radius=3, eps=1e-8, work_side=100)
    assert np.abs(out - exact).max() < 2e-3


def test_the_vectorised_solve_is_lapacks():
    rng = np.random.default_rng(2)
    n, count = 6, 500
    x = rng.normal(size=(count, n, 9))
    sigma = np.einsum("pik,pjk->pij", x, x) / 9
    rhs = rng.normal(size=(count, n))
    rows, cols = np.triu_indices(n)
    solved = refine.solve_spd(sigma[:, rows, cols], rhs, n, 1e-3)
    expected = np.linalg.solve(sigma + 1e-3 * np.eye(n), rhs[..., None])[..., 0]
    np.testing.assert_allclose(solved, expected, rtol=1e-4, atol=1e-5)


def test_sharpen_steepens_around_one_half():
    p = np.array([0.0, 0.3, 0.5, 0.6, 1.0], np.float32)
    np.testing.assert_allclose(refine.sharpen(p, 4.0), [0.0, 0.0, 0.5, 0.9, 1.0], atol=1e-6)
    np.testing.assert_array_equal(refine.sharpen(p, 1.0), p)
