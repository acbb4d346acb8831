r"""Evaluation metrics: mask IoU / Dice / boundary F, depth AbsRel / RMSE / delta accuracy.

Every metric is a ratio of sums, and the sums are what gets accumulated: the per-batch functions
``*_stats`` return per-sample sums ``(B, K)``, :class:`MetricAccumulator` adds them up on the
device (float64, no host sync per batch, one ``all_reduce`` for DDP) and ``compute()`` divides
once. So what is reported is the **dataset-level** (pooled) metric, not a mean of per-batch or
per-sample values:

- ``mask_iou`` = total intersection / total union over every pixel of every sample;
  ``mask_dice`` = 2 * total intersection / (total predicted + total ground-truth pixels);
- ``mask_boundary_f``: boundary precision = matched predicted boundary pixels / all predicted
  boundary pixels, recall likewise for the ground truth, both pooled over the dataset, then
  F = 2PR / (P + R);
- ``depth_absrel`` = mean |p - g| / g, ``depth_rmse`` = sqrt(mean (p - g)^2),
  ``depth_delta{k}`` = fraction with max(p/g, g/p) < 1.25^k, all over every valid pixel (g > 0)
  of the dataset, in metres.

The ``per_sample_*`` helpers apply the same formulas to one sample's sums (e.g. to label rows of
an image grid). A ratio whose denominator is zero is 1 for the mask metrics (nothing to find and
nothing found is a perfect score) and NaN for depth.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

BOUNDARY_TOLERANCE = 0.008  # DAVIS: match boundaries within ceil(0.008 * image diagonal) px
DELTA_BASE = 1.25

_REGION = ("intersection", "union", "pred", "gt")
_BOUNDARY = ("pred_matched", "pred_boundary", "gt_matched", "gt_boundary")
_DEPTH = ("abs_rel", "sq_err", "delta1", "delta2", "delta3", "valid")
_FIELDS = ("n_samples", *_REGION, *_BOUNDARY, *_DEPTH)
METRIC_KEYS = (
    "mask_iou",
    "mask_dice",
    "mask_boundary_f",
    "depth_absrel",
    "depth_rmse",
    "depth_delta1",
    "depth_delta2",
    "depth_delta3",
    "n_samples",
)


def _binary(mask: Tensor) -> Tensor:
    """``(B, 1, H, W)`` or ``(B, H, W)``, bool or values in [0, 1] (or 0/255) -> bool (B,1,H,W)."""
    mask = mask if mask.dtype == torch.bool else mask > 0.5
    return mask.reshape(mask.shape[0], 1, *mask.shape[-2:])


def _ratio(num: Tensor, den: Tensor, empty: float) -> Tensor:
    """``num / den``, or ``empty`` where ``den == 0``."""
    nonzero = den > 0
    return torch.where(nonzero, num / torch.where(nonzero, den, 1), empty)


# ----------------------------------------------------------------------------- mask


def region_stats(pred: Tensor, gt: Tensor) -> Tensor:
    """Per-sample ``(B, 4)`` float32: intersection, union, predicted and ground-truth pixels.

    Args:
        pred, gt: ``(B, 1, H, W)`` or ``(B, H, W)`` masks: bool, or values in [0, 1]
            (probabilities are thresholded at 0.5).
    """
    p, g = _binary(pred).flatten(1), _binary(gt).flatten(1)
    return torch.stack([(p & g).sum(1), (p | g).sum(1), p.sum(1), g.sum(1)], 1).float()


def boundary(mask: Tensor) -> Tensor:
    """One-pixel inner boundary of a bool ``(B, 1, H, W)`` mask: foreground pixels with a
    4-neighbour in the background (the image border does not count as background)."""
    m = F.pad(mask.float(), (1, 1, 1, 1), mode="replicate")
    cross = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=m.dtype, device=m.device)
    interior = F.conv2d(m, cross[None, None]) > 4.5  # the pixel and its 4 neighbours are fg
    return mask & ~interior


def tolerance_px(height: int, width: int, fraction: float = BOUNDARY_TOLERANCE) -> int:
    """DAVIS's match distance: ``ceil(fraction * image diagonal)`` pixels."""
    return math.ceil(fraction * math.hypot(height, width))


def dilate(mask: Tensor, radius: int) -> Tensor:
    """Binary dilation of a bool ``(B, 1, H, W)`` mask by a disk of ``radius`` pixels (the
    pixels with dx^2 + dy^2 <= radius^2; outside the image counts as background).

    The disk is a stack of row runs, half-width ``isqrt(radius^2 - dy^2)`` at row offsets +-dy,
    so the dilation is an OR of row-run tests shifted up and down, each a difference of one
    prefix sum along the rows: O(radius) per pixel rather than a (2 * radius + 1)^2
    convolution, which matters at a photo's full size (a radius of 18 px at 1920x1080).
    """
    h, w = mask.shape[-2:]
    prefix = F.pad(mask.to(torch.int32), (radius + 1, radius)).cumsum(-1, dtype=torch.int32)
    out = torch.zeros_like(mask, dtype=torch.bool)
    for dy in range(min(radius, h - 1) + 1):  # rows farther off are outside the image
        half = math.isqrt(radius * radius - dy * dy)
        # any mask pixel in [x - half, x + half] of the row; rows dy above and below share it
        run = (
            prefix[..., radius + 1 + half : radius + 1 + half + w]
            > (prefix[..., radius - half : radius - half + w])
        )
        out[..., : h - dy, :] |= run[..., dy:, :]
        if dy:
            out[..., dy:, :] |= run[..., : h - dy, :]
    return out


def boundary_stats(pred: Tensor, gt: Tensor, tolerance: int | None = None) -> Tensor:
    """Per-sample ``(B, 4)`` float32 boundary counts, DAVIS-style.

    The boundaries of ``pred`` and ``gt`` (:func:`boundary`) are matched within ``tolerance``
    pixels (a disk dilation; default :func:`tolerance_px` of the image size). Columns:
    predicted boundary pixels within the tolerance of the gt boundary, all predicted boundary
    pixels, gt boundary pixels within the tolerance of the predicted boundary, all gt boundary
    pixels. Precision = col0 / col1, recall = col2 / col3.
    """
    pb, gb = boundary(_binary(pred)), boundary(_binary(gt))
    radius = tolerance if tolerance is not None else tolerance_px(*pb.shape[-2:])
    cols = [pb & dilate(gb, radius), pb, gb & dilate(pb, radius), gb]
    return torch.stack([c.flatten(1).sum(1) for c in cols], 1).float()


# ----------------------------------------------------------------------------- depth


def depth_stats(pred: Tensor, gt: Tensor) -> Tensor:
    r"""Per-sample ``(B, 6)`` float32 sums over valid pixels (:math:`g > 0`), depths in metres:
    :math:`\sum |p-g|/g`, :math:`\sum (p-g)^2`, the counts of :math:`\max(p/g, g/p) < 1.25^k` for
    k = 1, 2, 3, and the number of valid pixels. Predictions are clamped to >= 1e-6 m."""
    p = pred.float().flatten(1).clamp_min(1e-6)
    g = gt.float().flatten(1)
    valid = g > 0
    g = torch.where(valid, g, torch.ones_like(g))
    ratio = torch.maximum(p / g, g / p)
    cols = [(p - g).abs() / g, (p - g) ** 2]
    cols += [(ratio < DELTA_BASE**k).float() for k in (1, 2, 3)]
    cols = [torch.where(valid, c, torch.zeros_like(c)).sum(1) for c in cols]
    return torch.stack([*cols, valid.sum(1).float()], 1)


# ----------------------------------------------------------------------------- sums -> metrics


def _region_metrics(region: Tensor) -> dict[str, Tensor]:
    inter, union, n_pred, n_gt = region.unbind(-1)
    return {
        "mask_iou": _ratio(inter, union, 1.0),
        "mask_dice": _ratio(2 * inter, n_pred + n_gt, 1.0),
    }


def _boundary_f(bnd: Tensor) -> Tensor:
    p = _ratio(bnd[..., 0], bnd[..., 1], 1.0)
    r = _ratio(bnd[..., 2], bnd[..., 3], 1.0)
    return _ratio(2 * p * r, p + r, 0.0)


def _depth_metrics(depth: Tensor) -> dict[str, Tensor]:
    abs_rel, sq_err, d1, d2, d3, valid = depth.unbind(-1)
    nan = math.nan
    return {
        "depth_absrel": _ratio(abs_rel, valid, nan),
        "depth_rmse": _ratio(sq_err, valid, nan).sqrt(),
        "depth_delta1": _ratio(d1, valid, nan),
        "depth_delta2": _ratio(d2, valid, nan),
        "depth_delta3": _ratio(d3, valid, nan),
    }


def per_sample_iou(pred_mask: Tensor, gt_mask: Tensor) -> Tensor:
    """``(B,)`` IoU of each sample (1 where both masks are empty)."""
    return _region_metrics(region_stats(pred_mask, gt_mask))["mask_iou"]


def per_sample_dice(pred_mask: Tensor, gt_mask: Tensor) -> Tensor:
    """``(B,)`` Dice of each sample (1 where both masks are empty)."""
    return _region_metrics(region_stats(pred_mask, gt_mask))["mask_dice"]


def per_sample_boundary_f(
    pred_mask: Tensor, gt_mask: Tensor, tolerance: int | None = None
) -> Tensor:
    """``(B,)`` boundary F-score of each sample (DAVIS's F for one frame)."""
    return _boundary_f(boundary_stats(pred_mask, gt_mask, tolerance))


def per_sample_delta1(pred_depth: Tensor, gt_depth: Tensor) -> Tensor:
    """``(B,)`` fraction of valid pixels with max(p/g, g/p) < 1.25 (NaN if none is valid)."""
    return _depth_metrics(depth_stats(pred_depth, gt_depth))["depth_delta1"]


def per_sample_absrel(pred_depth: Tensor, gt_depth: Tensor) -> Tensor:
    """``(B,)`` mean |p - g| / g over each sample's valid pixels (NaN if none is valid)."""
    return _depth_metrics(depth_stats(pred_depth, gt_depth))["depth_absrel"]


# ----------------------------------------------------------------------------- accumulator


def sample_stats(
    pred_mask: Tensor,
    gt_mask: Tensor,
    pred_depth: Tensor,
    gt_depth: Tensor,
    boundary_tolerance: int | None = None,
) -> Tensor:
    """Per-sample ``(B, len(FIELDS))`` float32 sums that the accumulators add up: a 1 (the
    sample count), :func:`region_stats`, :func:`boundary_stats`, :func:`depth_stats`."""
    return torch.cat(
        [
            torch.ones(pred_mask.shape[0], 1, device=pred_mask.device),
            region_stats(pred_mask, gt_mask),
            boundary_stats(pred_mask, gt_mask, boundary_tolerance),
            depth_stats(pred_depth, gt_depth),
        ],
        1,
    )


class MetricAccumulator:
    """Dataset-level metrics from summed statistics (see the module docstring).

    The sums live in one float64 tensor on the device of the first :meth:`update` (exact pixel
    counts far beyond float32's 2**24). Usage::

        acc = MetricAccumulator()
        for batch in loader:
            acc.update(mask_prob, gt_mask, depth_m, gt_depth_m)
        acc.all_reduce()          # under DDP: sum over ranks (every rank gets the total)
        metrics = acc.compute()   # dict of floats, keys METRIC_KEYS
    """

    def __init__(
        self, device: torch.device | str | None = None, boundary_tolerance: int | None = None
    ) -> None:
        """Args:
        device: where the sums start; ``None``: the device of the first batch. Under DDP with
            NCCL, pass the rank's GPU if a rank may see no batch at all.
        boundary_tolerance: boundary match distance in pixels; ``None``: :func:`tolerance_px`.
        """
        self.boundary_tolerance = boundary_tolerance
        self._sums = (
            None
            if device is None
            else torch.zeros(len(_FIELDS), device=device, dtype=torch.float64)
        )

    @torch.no_grad()
    def update(
        self, pred_mask: Tensor, gt_mask: Tensor, pred_depth: Tensor, gt_depth: Tensor
    ) -> None:
        """Add a batch.

        Args:
            pred_mask, gt_mask: ``(B, 1, H, W)`` or ``(B, H, W)``; bool, or values in [0, 1]
                (thresholded at 0.5, so mask probabilities can be passed directly).
            pred_depth, gt_depth: same shape, metres; pixels with ``gt_depth <= 0`` are ignored.
        """
        rows = sample_stats(pred_mask, gt_mask, pred_depth, gt_depth, self.boundary_tolerance)
        batch = rows.sum(0, dtype=torch.float64)
        self._sums = batch if self._sums is None else self._sums + batch

    @classmethod
    def of_sums(cls, sums: Tensor, boundary_tolerance: int | None = None) -> MetricAccumulator:
        """An accumulator holding these summed statistics (``(len(FIELDS),)`` float64)."""
        acc = cls(boundary_tolerance=boundary_tolerance)
        acc._sums = sums.to(torch.float64)
        return acc

    def state_tensor(self) -> Tensor:
        """The summed statistics, ``(len(FIELDS),)`` float64 (zeros before any update)."""
        if self._sums is None:
            return torch.zeros(len(_FIELDS), dtype=torch.float64)
        return self._sums

    def merge(self, other: MetricAccumulator) -> None:
        """Add another accumulator's sums (e.g. one per worker or per rank)."""
        theirs = other.state_tensor()
        mine = self.state_tensor().to(theirs.device)
        self._sums = mine + theirs

    def all_reduce(self) -> None:
        """Sum the statistics over all DDP ranks (a no-op without a process group); every rank
        must call it, and then holds the total."""
        if dist.is_available() and dist.is_initialized():
            self._sums = self.state_tensor()
            dist.all_reduce(self._sums)

    def compute(self) -> dict[str, float]:
        """The metrics (keys :data:`METRIC_KEYS`); all NaN (``n_samples`` 0) before any update."""
        s = self.state_tensor().cpu()
        if s[0] == 0:
            return {k: (0.0 if k == "n_samples" else math.nan) for k in METRIC_KEYS}
        out = {
            **_region_metrics(s[1:5]),
            "mask_boundary_f": _boundary_f(s[5:9]),
            **_depth_metrics(s[9:]),
        }
        return {**{k: float(v) for k, v in out.items()}, "n_samples": float(s[0])}


class GroupedAccumulator:
    """One :class:`MetricAccumulator` per group (e.g. per fg cutout), fed sample by sample.

    The sums are a ``(n_groups, len(FIELDS))`` float64 tensor: a group's row is exactly what a
    MetricAccumulator fed only that group's samples holds, so the groups' accumulators merged
    (:meth:`total`, or :meth:`MetricAccumulator.merge` over any subset, such as the cutouts of
    one kind) are the pooled metric of their samples together, not a mean of group metrics.
    """

    def __init__(
        self,
        n_groups: int,
        device: torch.device | str | None = None,
        boundary_tolerance: int | None = None,
    ) -> None:
        self.boundary_tolerance = boundary_tolerance
        self._sums = torch.zeros(n_groups, len(_FIELDS), device=device, dtype=torch.float64)

    @torch.no_grad()
    def update(
        self,
        group: Tensor,
        pred_mask: Tensor,
        gt_mask: Tensor,
        pred_depth: Tensor,
        gt_depth: Tensor,
    ) -> None:
        """Add a batch whose sample ``i`` belongs to group ``group[i]`` (``(B,)`` integers in
        ``[0, n_groups)``); the other arguments as :meth:`MetricAccumulator.update`'s."""
        rows = sample_stats(pred_mask, gt_mask, pred_depth, gt_depth, self.boundary_tolerance)
        self._sums = self._sums.to(rows.device)
        self._sums.index_add_(0, group.to(rows.device, torch.long), rows.to(torch.float64))

    def group(self, g: int) -> MetricAccumulator:
        """The accumulator of group ``g``'s samples."""
        return MetricAccumulator.of_sums(self._sums[g], self.boundary_tolerance)

    def total(self) -> MetricAccumulator:
        """The accumulator of every sample (all groups merged)."""
        return MetricAccumulator.of_sums(self._sums.sum(0), self.boundary_tolerance)

    def counts(self) -> Tensor:
        """``(n_groups,)`` samples added to each group (on the CPU)."""
        return self._sums[:, 0].cpu()
