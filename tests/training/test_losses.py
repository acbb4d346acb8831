"""Losses against hand-computed values on tiny tensors; function and module agree."""

from __future__ import annotations

import math

import kornia
import pytest
import torch

from training.losses import (
    DEPTH_RANGE,
    BCEDiceLoss,
    DepthLoss,
    DualTaskLoss,
    FixedWeighting,
    SSIMLoss,
    UncertaintyWeighting,
    bce_dice_loss,
    depth_loss,
    depth_loss_terms,
    depth_to_target,
    gradient_loss,
    ssim_loss,
    target_to_depth,
    uncertainty_weighted_sum,
)

C1, C2 = 0.01**2, 0.03**2  # SSIM constants for a data range of 1


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- target space


def test_depth_target_space_round_trips_and_hits_its_ends():
    d_max = 30.0
    depth = torch.tensor([d_max / DEPTH_RANGE, 0.5, 1.0, 7.3, d_max])
    t = depth_to_target(depth, d_max)
    assert t[0] == pytest.approx(0.0, abs=1e-6) and t[-1] == pytest.approx(1.0)
    assert torch.all(t[1:] > t[:-1])  # monotone
    assert torch.allclose(target_to_depth(t, d_max), depth, rtol=1e-5)
    # log space: the same ratio of depths is the same step in t
    assert (t[2] - t[1]).item() == pytest.approx(math.log(2) / math.log(DEPTH_RANGE), rel=1e-5)


def test_depth_target_space_clamps_out_of_range_depth():
    t = depth_to_target(torch.tensor([0.0, 1e-3, 100.0]), 30.0)
    assert t.tolist() == [0.0, 0.0, 1.0]


def test_depth_from_an_out_of_range_prediction_is_clamped_to_the_range():
    d = target_to_depth(torch.tensor([-0.3, 0.0, 1.0, 1.7]), 30.0)
    assert torch.allclose(d, torch.tensor([0.3, 0.3, 30.0, 30.0]))


# ----------------------------------------------------------------------------- mask


def test_bce_dice_of_a_perfect_prediction_is_near_zero():
    target = (_rand(2, 1, 8, 8) > 0.5).float()
    logits = (target * 2 - 1) * 30
    assert bce_dice_loss(logits, target).item() == pytest.approx(0.0, abs=1e-6)


def test_bce_dice_hand_computed():
    # logits 0 -> p = 0.5 everywhere: BCE = ln 2; one of four pixels set:
    # Dice = (2 * 0.5 * 1 + 1) / (0.5 * 4 + 1 + 1) = 0.5
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert bce_dice_loss(torch.zeros(1, 1, 2, 2), target).item() == pytest.approx(math.log(2) + 0.5)


def test_bce_dice_is_per_sample_dice_and_accepts_uint8_targets():
    logits = torch.tensor([[[[20.0, -20.0]]], [[[-20.0, -20.0]]]])  # (2, 1, 1, 2)
    target = torch.tensor([[[[1, 0]]], [[[1, 1]]]], dtype=torch.uint8)
    # sample 0 perfect (dice 1); sample 1 misses both pixels: dice = 1 / (0 + 2 + 1)
    bce = (0 + 0 + 20 + 20) / 4  # BCE of a logit 20 on the wrong side is ~20
    want = bce + (0 + (1 - 1 / 3)) / 2
    assert bce_dice_loss(logits, target).item() == pytest.approx(want, rel=1e-4)


# ----------------------------------------------------------------------------- depth


def test_gradient_loss_ignores_a_constant_offset():
    y = _rand(2, 1, 6, 7)
    assert gradient_loss(y + 0.3, y).item() == pytest.approx(0.0, abs=1e-6)


def test_gradient_loss_of_a_ramp_is_its_slope():
    y = _rand(1, 1, 5, 6)
    ramp = torch.arange(6.0) * 0.05  # +0.05 per column, nothing along rows
    assert gradient_loss(y + ramp, y).item() == pytest.approx(0.05, rel=1e-4)


@pytest.mark.parametrize(("shape", "window"), [((2, 1, 16, 16), 7), ((3, 2, 9, 13), 5)])
def test_ssim_loss_matches_kornia_in_value_and_gradient(shape, window):
    pred = _rand(*shape).requires_grad_()
    target = _rand(*shape, seed=1)
    ours = ssim_loss(pred, target, window)
    (grad,) = torch.autograd.grad(ours, pred)
    ref = kornia.losses.ssim_loss(pred, target, window, max_val=1.0)
    (ref_grad,) = torch.autograd.grad(ref, pred)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-6)
    torch.testing.assert_close(grad, ref_grad, atol=1e-7, rtol=1e-4)


def test_ssim_loss_ignores_autocast():
    pred, target = _rand(2, 1, 16, 16), _rand(2, 1, 16, 16, seed=1)
    want = ssim_loss(pred, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ssim_loss(pred, target)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(want.item(), abs=1e-7)


def test_ssim_loss_rejects_an_even_window():
    with pytest.raises(ValueError, match="odd"):
        ssim_loss(_rand(1, 1, 8, 8), _rand(1, 1, 8, 8), window_size=4)


def test_ssim_term_of_identical_images_is_zero():
    y = _rand(2, 1, 16, 16)
    assert depth_loss_terms(y, y)["ssim"].item() == pytest.approx(0.0, abs=1e-5)


def test_depth_terms_of_constant_images_hand_computed():
    # flat images: no variance, SSIM is the luminance term only
    a, b = 0.2, 0.6
    pred, target = torch.full((1, 1, 12, 12), a), torch.full((1, 1, 12, 12), b)
    ssim = (2 * a * b + C1) / (a**2 + b**2 + C1)
    terms = depth_loss_terms(pred, target)
    assert terms["l1"].item() == pytest.approx(b - a)
    assert terms["ssim"].item() == pytest.approx((1 - ssim) / 2, abs=1e-4)  # float32 moments
    assert terms["grad"].item() == pytest.approx(0.0, abs=1e-7)
    want = 0.5 * (b - a) + 2.0 * (1 - ssim) / 2
    assert depth_loss(pred, target, w_l1=0.5, w_ssim=2.0, w_grad=3.0).item() == pytest.approx(
        want, abs=2e-4
    )


def test_depth_loss_is_zero_for_a_perfect_prediction():
    y = _rand(2, 1, 16, 16)
    assert depth_loss(y, y).item() == pytest.approx(0.0, abs=1e-5)


# ----------------------------------------------------------------------------- multi-task


def test_uncertainty_weighted_sum_hand_computed():
    losses = torch.tensor([1.0, 4.0])
    log_vars = torch.tensor([0.0, math.log(2)], requires_grad=True)
    total = uncertainty_weighted_sum(losses, log_vars)
    assert total.item() == pytest.approx(1 + 0 + 4 / 2 + math.log(2))
    total.backward()  # d/ds (e^-s L + s) = 1 - e^-s L
    assert log_vars.grad.tolist() == pytest.approx([0.0, -1.0])


def test_fixed_weighting():
    assert FixedWeighting((2.0, 0.5))(torch.tensor([3.0, 4.0])).item() == pytest.approx(8.0)


def test_modules_agree_with_functions():
    logits, mask = _rand(2, 1, 8, 8) * 4 - 2, (_rand(2, 1, 8, 8, seed=1) > 0.5).float()
    pred, target = _rand(2, 1, 16, 16, seed=2), _rand(2, 1, 16, 16, seed=3)
    assert torch.equal(BCEDiceLoss(smooth=2.0)(logits, mask), bce_dice_loss(logits, mask, 2.0))
    mod = DepthLoss(w_l1=0.3, w_ssim=0.7, w_grad=2.0, window_size=5)
    assert torch.equal(mod(pred, target), depth_loss(pred, target, 0.3, 0.7, 2.0, 5))
    assert torch.equal(SSIMLoss(5, 2.0)(pred, target), ssim_loss(pred, target, 5, 2.0))
    weigh = UncertaintyWeighting(2)
    with torch.no_grad():
        weigh.log_vars.copy_(torch.tensor([0.5, -1.0]))
    losses = torch.tensor([0.2, 0.9])
    assert torch.equal(weigh(losses), uncertainty_weighted_sum(losses, weigh.log_vars))


def _model_output(seed: int = 0) -> dict[str, torch.Tensor]:
    return {
        "mask_logits": (_rand(2, 1, 16, 16, seed=seed) * 6 - 3).requires_grad_(),
        "depth": _rand(2, 1, 16, 16, seed=seed + 1).requires_grad_(),
    }


def test_dual_task_loss_fixed_weights_combines_the_parts():
    out = _model_output()
    mask = (_rand(2, 16, 16, seed=5) > 0.5).to(torch.uint8)  # (B, H, W) uint8 is accepted
    depth = _rand(2, 1, 16, 16, seed=6)
    total, parts = DualTaskLoss("fixed", mask_weight=2.0, depth_weight=3.0)(out, mask, depth)
    assert parts["mask"] == bce_dice_loss(out["mask_logits"], mask[:, None])
    assert parts["depth"] == depth_loss(out["depth"], depth)
    assert total.item() == pytest.approx(2 * parts["mask"].item() + 3 * parts["depth"].item())
    assert {"depth_l1", "depth_ssim", "depth_grad"} <= set(parts)
    assert not any(v.requires_grad for v in parts.values())
    assert not list(DualTaskLoss("fixed").parameters())


def test_dual_task_loss_uncertainty_has_learned_weights_and_finite_grads():
    out = _model_output()
    mask, depth = (_rand(2, 1, 16, 16, seed=5) > 0.5).float(), _rand(2, 1, 16, 16, seed=6)
    loss = DualTaskLoss("uncertainty")
    total, parts = loss(out, mask, depth)
    # log-variances start at 0: the total is the plain sum
    assert total.item() == pytest.approx(parts["mask"].item() + parts["depth"].item())
    assert parts["log_var_mask"] == 0 and parts["log_var_depth"] == 0
    total.backward()
    for t in (out["mask_logits"], out["depth"], loss.weighting.log_vars):
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_gradients_stay_finite_at_the_extremes():
    """Saturated logits, depth at the ends of the target range, bf16 predictions."""
    out = {
        "mask_logits": torch.tensor([-80.0, 80.0]).repeat(16, 8).reshape(1, 1, 16, 16),
        "depth": torch.zeros(1, 1, 16, 16).bfloat16(),
    }
    for v in out.values():
        v.requires_grad_()
    mask = torch.zeros(1, 1, 16, 16)
    target = torch.ones(1, 1, 16, 16)
    total, _ = DualTaskLoss("uncertainty")(out, mask, target)
    total.backward()
    assert torch.isfinite(total)
    assert all(torch.isfinite(v.grad).all() for v in out.values())


def test_dual_task_loss_rejects_an_unknown_weighting():
    with pytest.raises(ValueError, match="weighting"):
        DualTaskLoss("equal")  # type: ignore[arg-type]
