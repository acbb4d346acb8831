"""Metrics against hand-computed values; the accumulator pools sums over the dataset."""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist

from training.metrics import (
    METRIC_KEYS,
    GroupedAccumulator,
    MetricAccumulator,
    boundary,
    boundary_stats,
    dilate,
    per_sample_absrel,
    per_sample_boundary_f,
    per_sample_delta1,
    per_sample_dice,
    per_sample_iou,
    tolerance_px,
)


def _box(size: int, top: int, left: int, h: int, w: int) -> torch.Tensor:
    m = torch.zeros(1, 1, size, size, dtype=torch.bool)
    m[..., top : top + h, left : left + w] = True
    return m


# ----------------------------------------------------------------------------- mask


def test_iou_and_dice_of_4x4_masks_hand_computed():
    pred = _box(4, 0, 0, 2, 2)  # 4 pixels
    gt = _box(4, 0, 0, 2, 3)  # 6 pixels, 4 shared
    assert per_sample_iou(pred, gt).item() == pytest.approx(4 / 6)
    assert per_sample_dice(pred, gt).item() == pytest.approx(2 * 4 / (4 + 6))
    disjoint = _box(4, 3, 3, 1, 1)
    assert per_sample_iou(disjoint, gt).item() == 0.0


def test_empty_masks_score_perfect_only_when_both_are_empty():
    empty, some = _box(8, 0, 0, 0, 0), _box(8, 2, 2, 3, 3)
    assert per_sample_iou(empty, empty).item() == 1.0
    assert per_sample_dice(empty, empty).item() == 1.0
    assert per_sample_boundary_f(empty, empty).item() == 1.0
    assert per_sample_iou(empty, some).item() == 0.0
    assert per_sample_boundary_f(empty, some).item() == 0.0
    assert per_sample_boundary_f(some, empty).item() == 0.0


def test_masks_may_be_probabilities_uint8_or_without_channel_axis():
    gt = _box(4, 0, 0, 2, 3)
    prob = gt.float() * 0.7 + 0.2  # 0.9 inside, 0.2 outside
    assert per_sample_iou(prob, gt[:, 0].to(torch.uint8) * 255).item() == 1.0


def test_boundary_is_the_inner_ring_and_the_image_border_is_not_one():
    ring = boundary(_box(5, 1, 1, 3, 3))
    want = _box(5, 1, 1, 3, 3) & ~_box(5, 2, 2, 1, 1)
    assert torch.equal(ring, want)
    assert not boundary(torch.ones(1, 1, 5, 5, dtype=torch.bool)).any()
    # a half-plane touching the border: only the edge facing the background
    half = _box(5, 0, 0, 5, 2)
    assert torch.equal(boundary(half), _box(5, 0, 1, 5, 1))


@pytest.mark.parametrize("radius", [0, 1, 2, 5, 18])
@pytest.mark.parametrize("shape", [(2, 1, 40, 50), (1, 1, 7, 9), (1, 1, 1, 30)])
def test_dilate_is_a_disk_convolution(radius, shape):
    """The row-run dilation against its definition: a convolution with the disk, zeros
    outside the image (a radius larger than the image included)."""
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(radius)) > 0.9
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    disk = ((r[:, None] ** 2 + r[None, :] ** 2) <= radius**2).float()
    expected = torch.nn.functional.conv2d(mask.float(), disk[None, None], padding=radius) > 0.5
    assert torch.equal(dilate(mask, radius), expected)


def test_boundary_f_of_a_one_pixel_shift_hand_computed():
    gt = _box(8, 2, 2, 4, 4)  # ring of 12 pixels
    pred = _box(8, 2, 3, 4, 4)  # shifted right by one
    # exact match: only the top and bottom rows at columns 3..5 coincide -> 6 of 12 each way
    stats = boundary_stats(pred, gt, tolerance=0)
    assert stats[0].tolist() == [6, 12, 6, 12]
    assert per_sample_boundary_f(pred, gt, tolerance=0).item() == pytest.approx(0.5)
    # within one pixel every boundary pixel is matched
    assert per_sample_boundary_f(pred, gt, tolerance=1).item() == pytest.approx(1.0)


def test_boundary_tolerance_follows_davis():
    assert tolerance_px(96, 96) == math.ceil(0.008 * math.hypot(96, 96)) == 2
    assert tolerance_px(224, 224) == 3


# ----------------------------------------------------------------------------- depth


def _depth_case() -> tuple[torch.Tensor, torch.Tensor]:
    gt = torch.tensor([1.0, 2.0, 4.0, 0.0]).reshape(1, 1, 2, 2)  # last pixel invalid
    pred = torch.tensor([1.1, 3.0, 4.0, 7.0]).reshape(1, 1, 2, 2)
    return pred, gt


def test_depth_metrics_hand_computed():
    pred, gt = _depth_case()
    acc = MetricAccumulator()
    acc.update(gt > 0, gt > 0, pred, gt)
    m = acc.compute()
    assert m["depth_absrel"] == pytest.approx((0.1 / 1 + 1 / 2 + 0) / 3)
    assert m["depth_rmse"] == pytest.approx(math.sqrt((0.01 + 1 + 0) / 3))
    # ratios 1.1, 1.5, 1.0 against 1.25, 1.5625, 1.953
    assert m["depth_delta1"] == pytest.approx(2 / 3)
    assert m["depth_delta2"] == pytest.approx(1.0)
    assert m["depth_delta3"] == pytest.approx(1.0)
    assert per_sample_delta1(pred, gt).item() == pytest.approx(2 / 3)
    assert per_sample_absrel(pred, gt).item() == pytest.approx(0.2)


def test_delta_is_symmetric_and_a_non_positive_prediction_fails_it():
    gt = torch.full((1, 1, 1, 4), 2.0)
    pred = torch.tensor([2.4, 1 / 0.6, 0.0, -2.0]).reshape(1, 1, 1, 4)  # 1.2x, 1.2x, 0, < 0
    assert per_sample_delta1(pred, gt).item() == pytest.approx(0.5)


def test_depth_metrics_without_valid_pixels_are_nan():
    assert math.isnan(per_sample_delta1(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)).item())


# ----------------------------------------------------------------------------- accumulator


def _two_batches() -> list[tuple[torch.Tensor, ...]]:
    """Batch A: a tiny object missed entirely (IoU 0); batch B: a big one found (IoU 1)."""
    gen = torch.Generator().manual_seed(0)
    batches = []
    for gt, pred in ((_box(16, 0, 0, 2, 2), _box(16, 8, 8, 2, 2)), (_box(16, 2, 2, 12, 12),) * 2):
        gt_depth = torch.rand(1, 1, 16, 16, generator=gen) * 9 + 1
        pred_depth = gt_depth * (1 + 0.5 * torch.rand(1, 1, 16, 16, generator=gen))
        batches.append((pred, gt, pred_depth, gt_depth))
    return batches


def test_accumulator_pools_pixels_over_the_dataset():
    batches = _two_batches()
    acc = MetricAccumulator()
    per_batch = []
    for b in batches:
        acc.update(*b)
        one = MetricAccumulator()
        one.update(*b)
        per_batch.append(one.compute())
    m = acc.compute()
    # mean of the batch IoUs is 0.5; pooled: 144 / (4 + 4 + 144)
    assert [p["mask_iou"] for p in per_batch] == [0.0, 1.0]
    assert m["mask_iou"] == pytest.approx(144 / 152)
    assert m["mask_iou"] != pytest.approx(sum(p["mask_iou"] for p in per_batch) / 2)
    # equals one computation over the concatenated batch
    whole = MetricAccumulator()
    whole.update(*(torch.cat(parts) for parts in zip(*batches, strict=True)))
    assert set(m) == set(METRIC_KEYS) and m["n_samples"] == 2
    for k in METRIC_KEYS:
        assert m[k] == pytest.approx(whole.compute()[k], rel=1e-9), k


def test_accumulator_matches_the_per_sample_functions_on_one_sample():
    pred, gt, pred_depth, gt_depth = _two_batches()[1]
    pred = _box(16, 3, 1, 12, 10)
    acc = MetricAccumulator()
    acc.update(pred, gt, pred_depth, gt_depth)
    m = acc.compute()
    assert m["mask_iou"] == pytest.approx(per_sample_iou(pred, gt).item())
    assert m["mask_dice"] == pytest.approx(per_sample_dice(pred, gt).item())
    assert m["mask_boundary_f"] == pytest.approx(per_sample_boundary_f(pred, gt).item())
    assert m["depth_delta1"] == pytest.approx(per_sample_delta1(pred_depth, gt_depth).item())
    assert 0 < m["mask_boundary_f"] < 1


def test_merge_and_state_tensor_add_up():
    a, b = _two_batches()
    left, right, both = MetricAccumulator(), MetricAccumulator(), MetricAccumulator()
    left.update(*a)
    right.update(*b)
    both.update(*a)
    both.update(*b)
    left.merge(right)
    assert torch.equal(left.state_tensor(), both.state_tensor())
    assert left.state_tensor().dtype == torch.float64


def _random_batches(n_batches: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    """Batches of 5 samples of blobby masks and depths, some pixels without depth."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        gt = torch.rand(5, 1, 24, 24, generator=gen) > 0.6
        pred = torch.rand(5, 1, 24, 24, generator=gen)
        has_depth = torch.rand(5, 1, 1, 1, generator=gen) > 0.2
        gt_depth = torch.rand(5, 1, 24, 24, generator=gen) * 10 * has_depth
        pred_depth = gt_depth * (0.7 + 0.6 * torch.rand(5, 1, 24, 24, generator=gen)) + 0.1
        out.append((pred, gt, pred_depth, gt_depth))
    return out


def test_group_accumulators_are_the_pooled_metrics_of_their_samples_and_add_up():
    """Per-object (and per-kind) figures of fgd eval: each group's accumulator is exactly that
    of its own samples, and the groups merged give the overall metric of all samples."""
    batches = _random_batches(4, seed=3)
    gen = torch.Generator().manual_seed(4)
    groups = [torch.randint(0, 4, (5,), generator=gen) for _ in batches]  # group 3 may be empty
    overall, by_group = MetricAccumulator(), GroupedAccumulator(5)
    alone = [MetricAccumulator() for _ in range(5)]
    for batch, group in zip(batches, groups, strict=True):
        overall.update(*batch)
        by_group.update(group, *batch)
        for g in group.unique().tolist():
            alone[g].update(*(t[group == g] for t in batch))
    for g in range(5):
        torch.testing.assert_close(by_group.group(g).state_tensor(), alone[g].state_tensor())
        assert by_group.counts()[g] == sum(int((group == g).sum()) for group in groups)
    merged = MetricAccumulator()
    for g in range(5):
        merged.merge(by_group.group(g))
    for total in (merged, by_group.total()):
        torch.testing.assert_close(total.state_tensor(), overall.state_tensor(), rtol=1e-12, atol=0)
        assert total.compute() == pytest.approx(overall.compute(), rel=1e-9, nan_ok=True)
    assert by_group.group(4).compute()["n_samples"] == 0  # a group never fed
    assert math.isnan(by_group.group(4).compute()["mask_iou"])
    # pooled, not averaged: the overall IoU is no mean of the groups' IoUs
    ious = [by_group.group(g).compute()["mask_iou"] for g in range(4) if by_group.counts()[g]]
    assert overall.compute()["mask_iou"] != pytest.approx(sum(ious) / len(ious), rel=1e-6)


def test_empty_accumulator_reports_nan_and_zero_samples():
    m = MetricAccumulator().compute()
    assert m["n_samples"] == 0 and all(math.isnan(m[k]) for k in METRIC_KEYS[:-1])


def test_all_reduce_over_a_process_group(tmp_path):
    """World size 1 with gloo: the call path works and keeps the totals."""
    a, _ = _two_batches()
    acc = MetricAccumulator()
    acc.update(*a)
    before = acc.compute()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        acc.all_reduce()
    finally:
        dist.destroy_process_group()
    assert acc.compute() == before


@pytest.mark.gpu
def test_accumulator_on_cuda_matches_cpu():
    cpu, gpu = MetricAccumulator(), MetricAccumulator()
    for b in _two_batches():
        cpu.update(*b)
        gpu.update(*(t.cuda() for t in b))
    assert gpu.state_tensor().is_cuda
    for k, v in cpu.compute().items():
        assert gpu.compute()[k] == pytest.approx(v, rel=1e-6)
