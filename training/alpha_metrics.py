r"""Errors of a soft alpha matte at the photo's own resolution: the four of alphamatting.com
(Rhemann et al., "A Perceptually Motivated Online Benchmark for Image Matting", CVPR 2009) and
the mask metrics of :mod:`training.metrics` on the thresholded matte.

Each function takes a predicted and a true alpha, (H, W) float in [0, 1], and optionally a
``region`` (H, W) bool where the error is summed (alphamatting.com sums over a trimap's unknown
band; without a trimap, as here, the whole image). Following the matting papers that report
them (Deep Image Matting, Xu et al. 2017, and after), SAD, gradient and connectivity errors are
sums divided by 1000 and MSE is a mean:

- SAD :math:`= \sum |p - g| / 1000`;
- MSE :math:`= \frac{1}{N} \sum (p - g)^2`;
- gradient error :math:`= \sum (\|\nabla_\sigma p\| - \|\nabla_\sigma g\|)^2 / 1000` with
  first-order Gaussian derivative filters of :math:`\sigma` = 1.4 (:func:`gradient_error`);
- connectivity error :math:`= \sum |\varphi(p) - \varphi(g)| / 1000`
  (:func:`connectivity_error`);
- ``iou`` and ``boundary_f``: :func:`training.metrics.per_sample_iou` and
  :func:`training.metrics.per_sample_boundary_f` of both mattes thresholded at 0.5, at the full
  size (so the boundary tolerance is DAVIS's 0.008 of the full image's diagonal).
"""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import torch

from datagen.store.schema import MASK_THRESHOLD
from training.metrics import per_sample_boundary_f, per_sample_iou

__all__ = [
    "ALPHA_METRIC_KEYS",
    "alpha_metrics",
    "connectivity_error",
    "gradient_error",
    "mse",
    "sad",
]

#: The keys of :func:`alpha_metrics`, in the order tables show them.
ALPHA_METRIC_KEYS = ("iou", "boundary_f", "sad", "mse", "grad", "conn")
#: Gaussian of the gradient error's derivative filters (alphamatting.com's ``gaussgradient``).
GRADIENT_SIGMA = 1.4
#: Threshold step of the connectivity error.
CONNECTIVITY_STEP = 0.1
#: Distance below its connected level from which a pixel counts as disconnected (Rhemann et al.).
CONNECTIVITY_THETA = 0.15


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"alphas must be two (H, W) arrays of one size, got {p.shape}, {g.shape}")
    return p, g


def _sum(error: np.ndarray, region: np.ndarray | None) -> float:
    return float(error.sum() if region is None else error[region].sum())


def sad(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    r"""Sum of absolute differences, in thousands: :math:`\sum |p - g| / 1000`."""
    p, g = _pair(pred, gt)
    return _sum(np.abs(p - g), region) / 1000


def mse(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    r"""Mean squared error :math:`\frac{1}{N} \sum (p - g)^2` over the ``region``'s N pixels
    (NaN when it has none)."""
    p, g = _pair(pred, gt)
    n = p.size if region is None else int(np.count_nonzero(region))
    return _sum((p - g) ** 2, region) / n if n else math.nan


def _gauss_gradient_kernels(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """alphamatting.com's ``gaussgradient`` taps: a Gaussian across, its derivative along,
    the 2-D kernel scaled to unit Frobenius norm; half-size where the Gaussian falls to 1 %."""
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * 1e-2)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(x**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    dgauss = -x * gauss / sigma**2
    norm = np.linalg.norm(gauss) * np.linalg.norm(dgauss)
    return gauss / math.sqrt(norm), dgauss / math.sqrt(norm)


def _gradient_magnitude(alpha: np.ndarray, sigma: float) -> np.ndarray:
    gauss, dgauss = _gauss_gradient_kernels(sigma)
    border = cv2.BORDER_REPLICATE
    gx = cv2.sepFilter2D(alpha, cv2.CV_64F, dgauss, gauss, borderType=border)
    gy = cv2.sepFilter2D(alpha, cv2.CV_64F, gauss, dgauss, borderType=border)
    return np.hypot(gx, gy)


def gradient_error(
    pred: np.ndarray,
    gt: np.ndarray,
    region: np.ndarray | None = None,
    sigma: float = GRADIENT_SIGMA,
) -> float:
    r"""Gradient error, in thousands:
    :math:`\sum (\|\nabla_\sigma p\| - \|\nabla_\sigma g\|)^2 / 1000`, where
    :math:`\nabla_\sigma` filters with a Gaussian of :math:`\sigma` across and its derivative
    along each axis (edges replicated). Unlike alphamatting.com's MATLAB code the mattes are
    not first stretched to their own [min, max] (which would blow up a near-empty one)."""
    p, g = _pair(pred, gt)
    diff = _gradient_magnitude(p, sigma) - _gradient_magnitude(g, sigma)
    return _sum(diff**2, region) / 1000


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a bool mask (all False if it is empty)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros_like(mask)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def connectivity_error(
    pred: np.ndarray,
    gt: np.ndarray,
    region: np.ndarray | None = None,
    step: float = CONNECTIVITY_STEP,
) -> float:
    r"""Connectivity error, in thousands: :math:`\sum |\varphi(p) - \varphi(g)| / 1000`.

    For thresholds :math:`t_k = k \cdot` ``step``, the source region :math:`\Omega_k` is the
    largest 4-connected component of :math:`(p \ge t_k) \wedge (g \ge t_k)`. A pixel's level
    :math:`l` is the last threshold :math:`t_{k-1}` before the first :math:`\Omega_k` it is
    not in (1 if it is in all of them); with :math:`d = \alpha - l`,
    :math:`\varphi(\alpha) = 1 - d\,[d \ge \theta]`, :math:`\theta = 0.15`: a pixel whose alpha
    is well above the level at which it is still connected to the object is penalised (as in
    alphamatting.com's ``compute_connectivity_error``).
    """
    p, g = _pair(pred, gt)
    thresholds = np.round(np.arange(0.0, 1.0 + step / 2, step), 10)
    level = np.full(p.shape, -1.0)
    for below, t in itertools.pairwise(thresholds):
        omega = _largest_component((p >= t) & (g >= t))
        level[(level == -1) & ~omega] = below
    level[level == -1] = 1.0

    def phi(alpha: np.ndarray) -> np.ndarray:
        d = alpha - level
        return 1 - d * (d >= CONNECTIVITY_THETA)

    return _sum(np.abs(phi(p) - phi(g)), region) / 1000


def alpha_metrics(
    pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None
) -> dict[str, float]:
    """Every metric of the module, keys :data:`ALPHA_METRIC_KEYS`; ``iou`` and ``boundary_f``
    over the whole image (the thresholded mattes at their full size)."""
    p, g = _pair(pred, gt)
    binary = [torch.from_numpy(a >= MASK_THRESHOLD)[None] for a in (p, g)]
    return {
        "iou": float(per_sample_iou(*binary)[0]),
        "boundary_f": float(per_sample_boundary_f(*binary)[0]),
        "sad": sad(p, g, region),
        "mse": mse(p, g, region),
        "grad": gradient_error(p, g, region),
        "conn": connectivity_error(p, g, region),
    }
