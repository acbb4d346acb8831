r"""The network's coarse mask probability brought to the photo's own resolution, guided by the
photo: a fast guided filter (He et al., "Guided Image Filtering", TPAMI 2013; Wu et al., "Fast
End-to-End Trainable Guided Filter", CVPR 2018, whose learned form is RobustVideoMatting's
``DeepGuidedFilter``), without training.

The network sees a pair letterboxed to a small square (96 px for the CPU recipes), so its
probability is 10-20x coarser than a hand-held photo: resized up it gives an outline 10-40 px
wide. The guided filter models the alpha, in every small window, as a linear function of the
guide's channels; that model is fitted to the coarse probability on a working grid and then
applied to the full-resolution guide, so the edge follows the photo's own edges (and its
strands of hair, where they differ from the background) instead of the coarse grid.

Two shots make a strong extra guide: where the bg is the fg_bg without the object,
:math:`I = \alpha F + (1 - \alpha) B` gives :math:`|I - B| = \alpha |F - B|`, linear in the
alpha wherever the object's colour differs from the background's (:func:`guide_channels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from training.options import Refiner

__all__ = [
    "DIFF_WEIGHT",
    "EPS",
    "SHARPEN",
    "STAGES",
    "Stage",
    "fast_guided_filter",
    "guide_channels",
    "refine_alpha",
    "sharpen",
    "solve_spd",
    "upsample_probability",
]

# The defaults of refine_alpha, each chosen by benchmarks/refine.py on real-hires composites
# with a checkpoint trained on other photos (docs/benchmarks.md, "Full-resolution refinement").
#: Regularisation: the guide variance below which a window follows the coarse probability.
EPS = 1e-3
#: Weight of the |fg_bg - bg| channels against the colour channels.
DIFF_WEIGHT = 1.0
#: Gain of the probability around 0.5 before each stage's fit (:func:`sharpen`).
SHARPEN = 4.0


@dataclass(frozen=True)
class Stage:
    """One guided filter of :func:`refine_alpha`'s cascade (:func:`fast_guided_filter`).

    Attributes:
        work_side: Longer side of the working grid on which the linear model is fitted.
        radius: Window radius on that grid.
        eps: Regularisation.
        sharpen: Gain of its input around 0.5 (:func:`sharpen`).
    """

    work_side: int
    radius: int
    eps: float = EPS
    sharpen: float = SHARPEN


#: The cascade: a wide window on a coarse grid finds where the edge runs in the photo (the
#: network's edge is off by up to a grid cell); a narrow one on a finer grid then fits the
#: soft edge to the photo's own, each strand of hair included.
STAGES = (Stage(240, 16), Stage(480, 4))


def upsample_probability(coarse: np.ndarray, height: int, width: int) -> np.ndarray:
    """``coarse`` (h, w) float32 resized bilinearly to (height, width): ``--refine off``."""
    prob = np.ascontiguousarray(coarse, dtype=np.float32)
    return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)


def sharpen(prob: np.ndarray, gain: float = SHARPEN) -> np.ndarray:
    r""":math:`\mathrm{clip}(k (p - \tfrac12) + \tfrac12, 0, 1)`: the probability steepened around
    0.5 by the gain :math:`k` (1: unchanged), float32.

    A network that sees the photo at 96 px is unsure over a band of its grid cells on each
    side of every edge, and inside thin or textured parts: left as it is, that doubt becomes a
    grey veil the guided filter carries into the result. Steepened, the coarse mask says
    "object" or "not" and the filter draws the soft edge from the guide instead.
    """
    out = np.asarray(prob, np.float32) - np.float32(0.5)
    out *= np.float32(gain)
    out += np.float32(0.5)
    return np.clip(out, 0.0, 1.0, out=out)


def guide_channels(
    image: np.ndarray, bg: np.ndarray | None = None, diff_weight: float = DIFF_WEIGHT
) -> np.ndarray:
    r"""The guide of :func:`fast_guided_filter`: ``image``'s R, G, B in [0, 1], and with ``bg``
    (registered to ``image``, same size) three more planes :math:`w\,|I - B|`, one per colour.

    (H, W, 3) uint8 ``image`` and ``bg`` -> (3 or 6, H, W) float32, one plane per channel (so
    that each full-size step reads contiguous memory). ``diff_weight`` is :math:`w`: a channel
    scaled by :math:`w` is regularised as if by :math:`\epsilon / w^2`.
    """
    planes = cv2.split(image)
    weights = [1.0] * 3
    if bg is not None:
        planes += cv2.split(cv2.absdiff(image, bg))
        weights += [diff_weight] * 3
    guide = np.stack(planes).astype(np.float32)
    guide *= (np.asarray(weights, np.float32) / 255)[:, None, None]
    return guide


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, edges reflected; (H, W[, K]) float32, K any."""
    k = 2 * radius + 1
    return cv2.boxFilter(x, -1, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


def solve_spd(upper: np.ndarray, rhs: np.ndarray, n: int, eps: float) -> np.ndarray:
    r"""Solve :math:`(\Sigma + \epsilon U) a = c` at every pixel by Cholesky factorisation,
    vectorised over the pixels (a LAPACK call per pixel costs far more than the arithmetic).

    ``upper`` (..., n(n+1)/2) holds :math:`\Sigma`'s upper triangle in ``np.triu_indices(n)``
    order, ``rhs`` (..., n) is :math:`c`; :math:`\Sigma` is a covariance, so with
    :math:`\epsilon > 0` the matrix is positive definite. Float64 inside: the variances of a
    flat window are tiny beside :math:`\epsilon`'s rounding in float32.
    """
    index = {pair: k for k, pair in enumerate(zip(*np.triu_indices(n), strict=True))}
    planes = np.moveaxis(upper, -1, 0).astype(np.float64)  # one contiguous plane per entry
    rhs = np.moveaxis(rhs, -1, 0).astype(np.float64)
    entry = [[planes[index[min(i, j), max(i, j)]] for j in range(n)] for i in range(n)]
    for i in range(n):
        entry[i][i] = entry[i][i] + eps
    low: list[list[np.ndarray]] = [[None] * n for _ in range(n)]  # type: ignore[list-item]
    for j in range(n):
        diag = entry[j][j] - sum((low[j][k] ** 2 for k in range(j)), np.zeros_like(entry[j][j]))
        low[j][j] = np.sqrt(np.maximum(diag, eps))
        for i in range(j + 1, n):
            acc = entry[i][j] - sum((low[i][k] * low[j][k] for k in range(j)), 0.0)
            low[i][j] = acc / low[j][j]
    y: list[np.ndarray] = []
    for i in range(n):  # L y = c
        y.append((rhs[i] - sum((low[i][k] * y[k] for k in range(i)), 0.0)) / low[i][i])
    x: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    for i in reversed(range(n)):  # L^T x = y
        x[i] = (y[i] - sum((low[k][i] * x[k] for k in range(i + 1, n)), 0.0)) / low[i][i]
    return np.stack(x, axis=-1).astype(np.float32)


def fast_guided_filter(
    coarse: np.ndarray,
    guide: np.ndarray,
    *,
    radius: int,
    eps: float,
    work_side: int,
) -> np.ndarray:
    r"""The guided filter of ``coarse`` by ``guide``, fitted on a working grid and applied at
    the guide's full resolution; (H, W) float32 in [0, 1].

    With the guide :math:`I` (C channels) and the coarse probability resized to a working grid
    whose longer side is ``work_side`` (the guide area-averaged to it: :math:`I_l`, :math:`p_l`),
    and :math:`\bar{x}` the mean of :math:`x` over the :math:`(2r+1)^2` window around a pixel:

    .. math::

        \Sigma &= \overline{I_l I_l^\top} - \bar{I_l} \bar{I_l}^\top, \qquad
        c = \overline{I_l p_l} - \bar{I_l}\, \bar{p_l} \\
        a &= (\Sigma + \epsilon U)^{-1} c, \qquad b = \bar{p_l} - a^\top \bar{I_l} \\
        q &= \mathrm{up}(\bar{a})^\top I + \mathrm{up}(\bar{b})

    clipped to [0, 1], where up is bilinear resizing to the guide's size (He et al.'s guided
    filter on the working grid, Wu et al.'s fast form for the last line). ``eps`` is the
    variance (guide units squared) below which a window's guide counts as flat and the
    output follows the coarse probability; above it the output follows the guide's edges.

    Args:
        coarse: (h, w) probability at the network's output size (the picture area only).
        guide: (C, H, W) float32 full-resolution guide, one plane per channel
            (:func:`guide_channels`).
        radius: window radius in working-grid pixels.
        eps: regularisation :math:`\epsilon`.
        work_side: longer side of the working grid; at most the guide's own.
    """
    channels, height, width = guide.shape
    scale = min(1.0, work_side / max(height, width))
    wh, ww = max(1, round(height * scale)), max(1, round(width * scale))
    small = np.stack(
        [cv2.resize(plane, (ww, wh), interpolation=cv2.INTER_AREA) for plane in guide], axis=-1
    )
    p = cv2.resize(
        np.ascontiguousarray(coarse, dtype=np.float32), (ww, wh), interpolation=cv2.INTER_LINEAR
    )

    # One box filter over every product the fit needs: I_c, I_c * I_d (d >= c), I_c * p, p.
    rows, cols = np.triu_indices(channels)
    stack = np.concatenate(
        [small, small[..., rows] * small[..., cols], small * p[..., None], p[..., None]], axis=2
    )
    means = _box(stack, radius)
    mean_i = means[..., :channels]
    n_pairs = len(rows)
    mean_ii = means[..., channels : channels + n_pairs]
    mean_ip = means[..., channels + n_pairs : 2 * channels + n_pairs]
    mean_p = means[..., -1]

    cov_pairs = mean_ii - mean_i[..., rows] * mean_i[..., cols]
    cov_ip = mean_ip - mean_i * mean_p[..., None]
    a = solve_spd(cov_pairs, cov_ip, channels, eps)
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)

    coef = _box(np.concatenate([a, b[..., None]], axis=2), radius)
    q = cv2.resize(coef[..., -1], (width, height), interpolation=cv2.INTER_LINEAR)
    for c in range(channels):  # one full-size plane at a time: memory stays at a few planes
        up = cv2.resize(
            np.ascontiguousarray(coef[..., c]), (width, height), interpolation=cv2.INTER_LINEAR
        )
        up *= guide[c]
        q += up
    return np.clip(q, 0.0, 1.0, out=q)


def refine_alpha(
    coarse: np.ndarray,
    image: np.ndarray,
    bg: np.ndarray | None = None,
    method: Refiner = "guided",
    stages: Sequence[Stage] = STAGES,
    diff_weight: float = DIFF_WEIGHT,
) -> np.ndarray:
    r"""The soft alpha of ``fgd predict`` at ``image``'s size, (H, W) float32 in [0, 1].

    ``coarse`` is the network's probability over the picture area at its output size; ``image``
    the full-resolution fg_bg (H, W, 3) uint8 and ``bg`` the bg registered to it (None: the
    colour guide alone). ``method`` ``"off"`` is bilinear upsampling
    (:func:`upsample_probability`); ``"guided"`` runs the cascade ``stages`` on the guide
    :math:`I` of :func:`guide_channels`: with :math:`p_0` = ``coarse``,

    .. math::

        p_k = \mathrm{FGF}_k(\mathrm{sharpen}_k(p_{k-1}),\ I_k)

    where :math:`\mathrm{FGF}_k` is :func:`fast_guided_filter` with stage k's settings and
    :math:`I_k` the guide on the next stage's working grid (the photo's own size for the
    last), so only the last stage works at full size. The defaults were measured
    (docs/benchmarks.md, "Full-resolution refinement").
    """
    height, width = image.shape[:2]
    if method == "off" or not stages:
        return upsample_probability(coarse, height, width)
    guide = guide_channels(image, bg, diff_weight)
    prob = np.asarray(coarse, np.float32)
    for k, stage in enumerate(stages):
        target = guide if k == len(stages) - 1 else _shrink(guide, stages[k + 1].work_side)
        prob = fast_guided_filter(
            sharpen(prob, stage.sharpen),
            target,
            radius=stage.radius,
            eps=stage.eps,
            work_side=stage.work_side,
        )
    return prob


def _shrink(guide: np.ndarray, side: int) -> np.ndarray:
    """(C, H, W) planes area-averaged to a longer side of at most ``side``."""
    _, height, width = guide.shape
    scale = min(1.0, side / max(height, width))
    if scale == 1.0:
        return guide
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.stack([cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in guide])
