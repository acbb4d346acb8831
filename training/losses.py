r"""Training losses: mask (BCE + Dice), depth (L1 + SSIM + gradient), multi-task weighting.

Each loss is a pure function with a thin :class:`torch.nn.Module` around it (kornia's style).
Inputs are ``(B, 1, H, W)``; losses are computed in float32 whatever the autocast dtype.

Depth target space
------------------
The depth head predicts normalised log-depth

.. math::

    t = \operatorname{clamp}\Bigl(1 + \frac{\ln(d / d_{max})}{\ln R},\ 0,\ 1\Bigr),
    \qquad d = d_{max} \, R^{\,t - 1},

with ``R = DEPTH_RANGE = 100`` (so ``t`` covers ``[d_max / 100, d_max]``; with the store's
30 m far clip, 0.3 m to 30 m) with a linear head; :func:`target_to_depth` clamps ``t`` to
``[0, 1]``. Why log-depth rather than ``d / d_max``: the
reported metrics (AbsRel, delta < 1.25) are relative, and in log space an error ``e`` in ``t`` is
the same relative depth error ``R**e`` near and far, so the L1/SSIM/gradient losses weigh every
distance alike; a linear target would spend the loss on far pixels and under-fit the near
ground and the object, which dominate AbsRel. ``delta < 1.25`` is ``|e| < ln 1.25 / ln 100 =
0.048``. The range ``[0, 1]`` is what the SSIM constants (``max_val=1``) assume.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.filters import gaussian_kernel1d, separable_filter

DEPTH_RANGE = 100.0  # d_max / nearest depth the target space represents
# DenseDepth weighs L1 by 0.1, but its L1 is taken on depths of 10..1000 units, where it is large;
# on our [0, 1] target it would be negligible next to SSIM.
W_L1 = 1.0


def depth_to_target(depth_m: Tensor, depth_max: float) -> Tensor:
    r"""Metres -> target space: :math:`t = \mathrm{clamp}(1 + \ln(d/d_{max}) / \ln R, 0, 1)`."""
    return (1.0 + torch.log(depth_m / depth_max) / math.log(DEPTH_RANGE)).clamp(0.0, 1.0)


def target_to_depth(target: Tensor, depth_max: float) -> Tensor:
    r"""Target space -> metres: :math:`d = d_{max} R^{\mathrm{clamp}(t, 0, 1) - 1}` (inverts
    :func:`depth_to_target`; the clamp keeps predictions inside the represented range)."""
    return depth_max * torch.exp((target.clamp(0.0, 1.0) - 1.0) * math.log(DEPTH_RANGE))


# ----------------------------------------------------------------------------- mask


def bce_dice_loss(logits: Tensor, target: Tensor, smooth: float = 1.0) -> Tensor:
    r"""Binary cross-entropy with logits plus soft Dice loss.

    With :math:`p = \sigma(z)` and target :math:`y \in [0, 1]`, per sample :math:`b`:

    .. math::

        L = \frac{1}{N}\sum_i \mathrm{BCE}(z_i, y_i)
            + \frac{1}{B}\sum_b \Bigl(1 - \frac{2\sum_i p_i y_i + s}{\sum_i p_i + \sum_i y_i + s}
            \Bigr)

    The smoothing ``s`` makes an empty prediction of an empty mask a perfect Dice of 1.

    Args:
        logits: ``(B, 1, H, W)`` mask logits.
        target: ``(B, 1, H, W)`` in ``[0, 1]`` (any dtype).
        smooth: Dice smoothing ``s``.
    """
    logits, target = logits.float(), target.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p, y = torch.sigmoid(logits).flatten(1), target.flatten(1)
    dice = (2 * (p * y).sum(1) + smooth) / (p.sum(1) + y.sum(1) + smooth)
    return bce + (1 - dice).mean()


class BCEDiceLoss(nn.Module):
    """Module form of :func:`bce_dice_loss`."""

    def __init__(self, smooth: float = 1.0) -> None:
        super().__init__()
        self.smooth = smooth

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return bce_dice_loss(logits, target, self.smooth)


# ----------------------------------------------------------------------------- depth


def gradient_loss(pred: Tensor, target: Tensor) -> Tensor:
    r"""Edge matching: mean absolute difference of the forward finite differences.

    .. math::

        L = \operatorname{mean}|\partial_x p - \partial_x y| + \operatorname{mean}|\partial_y p -
        \partial_y y|, \quad \partial_x u = u_{i, j+1} - u_{i, j}

    Zero for any prediction that differs from the target by a constant.
    """
    pred, target = pred.float(), target.float()
    err = pred - target
    return (err[..., :, 1:] - err[..., :, :-1]).abs().mean() + (
        err[..., 1:, :] - err[..., :-1, :]
    ).abs().mean()


def ssim_loss(
    pred: Tensor, target: Tensor, window_size: int = 7, max_val: float = 1.0, eps: float = 1e-12
) -> Tensor:
    r"""Structural dissimilarity :math:`\operatorname{mean}\operatorname{clamp}((1 - S) / 2, 0, 1)`
    of ``(B, C, H, W)`` images, with the SSIM map (Wang et al. 2004)

    .. math::

        S = \frac{(2 \mu_p \mu_y + C_1)(2 \sigma_{py} + C_2)}
        {(\mu_p^2 + \mu_y^2 + C_1)(\sigma_p^2 + \sigma_y^2 + C_2) + \epsilon},
        \quad C_1 = (0.01 m)^2, \; C_2 = (0.03 m)^2,

    local moments under a Gaussian window of ``window_size`` (odd) taps, sigma 1.5, reflect
    padding, :math:`m` = ``max_val``. The values of ``kornia.losses.ssim_loss``; the five moment
    maps are filtered in one grouped convolution per axis, faster on the CPU than kornia's
    separate filters.
    Computed in at least float32 with autocast off: the variances are differences of nearly
    equal moments, which half precision would cancel away.
    """
    if window_size % 2 == 0:
        raise ValueError(f"window_size must be odd, got {window_size}")
    dtype = torch.promote_types(pred.dtype, torch.float32)
    pred, target = pred.to(dtype), target.to(dtype)
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    sigma = torch.tensor([1.5], dtype=pred.dtype, device=pred.device)
    kernel = gaussian_kernel1d(sigma, window_size // 2)
    stacked = torch.cat([pred, target, pred * pred, target * target, pred * target], dim=1)
    with torch.autocast(pred.device.type, enabled=False):
        moments = separable_filter(stacked, kernel.expand(stacked.shape[0] * stacked.shape[1], -1))
    mu_p, mu_y, e_pp, e_yy, e_py = moments.chunk(5, dim=1)
    var_p, var_y, cov = e_pp - mu_p**2, e_yy - mu_y**2, e_py - mu_p * mu_y
    num = (2 * mu_p * mu_y + c1) * (2 * cov + c2)
    den = (mu_p**2 + mu_y**2 + c1) * (var_p + var_y + c2)
    return torch.clamp((1 - num / (den + eps)) / 2, 0, 1).mean()


class SSIMLoss(nn.Module):
    """Module form of :func:`ssim_loss`."""

    def __init__(self, window_size: int = 7, max_val: float = 1.0) -> None:
        super().__init__()
        self.window_size, self.max_val = window_size, max_val

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return ssim_loss(pred, target, self.window_size, self.max_val)


def depth_loss_terms(pred: Tensor, target: Tensor, window_size: int = 7) -> dict[str, Tensor]:
    r"""The unweighted depth terms, in target space (:func:`depth_to_target`):

    - ``l1``: :math:`\operatorname{mean}|p - y|`;
    - ``ssim``: :func:`ssim_loss` with a window of ``window_size`` taps, ``max_val=1``;
    - ``grad``: :func:`gradient_loss`.
    """
    pred, target = pred.float(), target.float()
    return {
        "l1": F.l1_loss(pred, target),
        "ssim": ssim_loss(pred, target, window_size),
        "grad": gradient_loss(pred, target),
    }


def _weigh(terms: dict[str, Tensor], w_l1: float, w_ssim: float, w_grad: float) -> Tensor:
    return w_l1 * terms["l1"] + w_ssim * terms["ssim"] + w_grad * terms["grad"]


def depth_loss(
    pred: Tensor,
    target: Tensor,
    w_l1: float = W_L1,
    w_ssim: float = 1.0,
    w_grad: float = 1.0,
    window_size: int = 7,
) -> Tensor:
    r"""DenseDepth's loss (Alhashim & Wonka 2018) in target space:
    :math:`L = w_{l1} L_{l1} + w_{ssim} L_{ssim} + w_{grad} L_{grad}`
    (terms as in :func:`depth_loss_terms`; default weights :data:`W_L1`, 1, 1)."""
    return _weigh(depth_loss_terms(pred, target, window_size), w_l1, w_ssim, w_grad)


class DepthLoss(nn.Module):
    """Module form of :func:`depth_loss`."""

    def __init__(
        self, w_l1: float = W_L1, w_ssim: float = 1.0, w_grad: float = 1.0, window_size: int = 7
    ) -> None:
        super().__init__()
        self.w_l1, self.w_ssim, self.w_grad = w_l1, w_ssim, w_grad
        self.window_size = window_size

    def terms(self, pred: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Unweighted terms plus their weighted sum under ``"total"``."""
        terms = depth_loss_terms(pred, target, self.window_size)
        return {**terms, "total": _weigh(terms, self.w_l1, self.w_ssim, self.w_grad)}

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.terms(pred, target)["total"]


# ----------------------------------------------------------------------------- multi-task


def uncertainty_weighted_sum(losses: Tensor, log_vars: Tensor) -> Tensor:
    r"""Kendall, Gal & Cipolla (2018), in the common log-variance form:
    :math:`L = \sum_i e^{-s_i} L_i + s_i` with :math:`s_i = \ln \sigma_i^2`.

    For a fixed :math:`L_i` the minimum is at :math:`s_i = \ln L_i`, so each task ends up weighted
    by roughly the inverse of its own loss.
    """
    return (torch.exp(-log_vars) * losses + log_vars).sum()


class UncertaintyWeighting(nn.Module):
    """Learned task weights: ``log_vars`` (one per task, initialised to 0 = weight 1) are
    parameters; they must be in the optimizer (without weight decay)."""

    def __init__(self, n_tasks: int = 2) -> None:
        super().__init__()
        self.log_vars = nn.Parameter(torch.zeros(n_tasks))

    def forward(self, losses: Tensor) -> Tensor:
        return uncertainty_weighted_sum(losses, self.log_vars)


class FixedWeighting(nn.Module):
    r"""Constant task weights: :math:`L = \sum_i w_i L_i`."""

    def __init__(self, weights: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32))

    def forward(self, losses: Tensor) -> Tensor:
        return (self.weights * losses).sum()


class DualTaskLoss(nn.Module):
    """Mask + depth loss of a :class:`training.models.DualHeadNet` output.

    ``forward(output, mask, depth) -> (total, parts)``: ``output`` is the model's dict
    (``mask_logits``, ``depth``); ``mask`` is ``(B, 1, H, W)`` or ``(B, H, W)`` with values in
    ``[0, 1]`` (any dtype; *not* 0/255); ``depth`` has the same shape, in the target space of
    :func:`depth_to_target`. ``parts`` are detached scalar tensors for logging (no host sync):
    ``mask``, ``depth``, ``depth_l1``, ``depth_ssim``, ``depth_grad``, and with uncertainty
    weighting ``log_var_mask``, ``log_var_depth``.

    Args:
        weighting: ``"uncertainty"`` (:class:`UncertaintyWeighting`; this module then has
            parameters to optimise and to checkpoint) or ``"fixed"``.
        mask_weight, depth_weight: task weights for ``"fixed"``.
        w_l1, w_ssim, w_grad, window_size: the depth loss (:func:`depth_loss`).
    """

    def __init__(
        self,
        weighting: Literal["uncertainty", "fixed"] = "uncertainty",
        mask_weight: float = 1.0,
        depth_weight: float = 1.0,
        w_l1: float = W_L1,
        w_ssim: float = 1.0,
        w_grad: float = 1.0,
        window_size: int = 7,
    ) -> None:
        super().__init__()
        if weighting not in ("uncertainty", "fixed"):
            raise ValueError(f"weighting must be 'uncertainty' or 'fixed', got {weighting!r}")
        self.weighting = (
            UncertaintyWeighting(2)
            if weighting == "uncertainty"
            else FixedWeighting((mask_weight, depth_weight))
        )
        self.depth_loss = DepthLoss(w_l1, w_ssim, w_grad, window_size)

    def forward(
        self, output: dict[str, Tensor], mask: Tensor, depth: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        logits = output["mask_logits"]
        mask_loss = bce_dice_loss(logits, mask.reshape(logits.shape))
        depth = self.depth_loss.terms(output["depth"], depth.reshape(logits.shape))
        total = self.weighting(torch.stack([mask_loss, depth["total"]]))
        parts = {
            "mask": mask_loss,
            "depth": depth["total"],
            **{f"depth_{k}": v for k, v in depth.items() if k != "total"},
        }
        if isinstance(self.weighting, UncertaintyWeighting):
            parts["log_var_mask"], parts["log_var_depth"] = self.weighting.log_vars.unbind()
        return total, {k: v.detach() for k, v in parts.items()}
