"""Device augmentation: alignment of images, mask and depth; determinism; colour ops."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from training.config import AugmentConfig
from training.fitting.augment import Normalization, batch_seed, color_matrix, prepare_batch
from training.fitting.capture import CaptureConfig, draw_capture_params, warp_homography

IDENTITY_NORM = Normalization((0.0,) * 3, (1.0,) * 3, (0.0,) * 3, (1.0,) * 3)
PAINT, FG_DEPTH, BG_DEPTH = (250, 20, 200), 1.5, 7.0


def _scene(n: int, h: int, boxes: list[tuple[int, int, int, int]]) -> dict[str, torch.Tensor]:
    """A textured bg; fgbg = bg with a box painted in PAINT; mask 255 and depth FG_DEPTH there."""
    yy, xx = np.mgrid[0:h, 0:h]
    bg = np.stack([xx * 200 // h, yy * 200 // h, ((xx // 4 + yy // 4) % 2) * 150], -1)
    bg = np.broadcast_to(bg.astype(np.uint8), (n, h, h, 3)).copy()
    fgbg, mask = bg.copy(), np.zeros((n, h, h), np.uint8)
    depth = np.full((n, h, h), BG_DEPTH, np.float32)
    for i, (y, x, bh, bw) in enumerate(boxes):
        mask[i, y : y + bh, x : x + bw] = 255
    fgbg[mask > 0] = PAINT
    depth[mask > 0] = FG_DEPTH
    return {k: torch.from_numpy(v) for k, v in
            {"bg": bg, "fgbg": fgbg, "mask": mask, "depth": depth}.items()}  # fmt: skip


def _interior(mask: torch.Tensor, value: float, margin: int) -> torch.Tensor:
    """Pixels whose whole (2 margin + 1)^2 neighbourhood lies in the frame with the mask at
    ``value`` (away from edges, where resampling mixes the two sides)."""
    hit = (mask == value).float()
    return torch.nn.functional.avg_pool2d(hit, 2 * margin + 1, 1, margin) == 1


NO_CAPTURE = CaptureConfig(enabled=False)
GEOMETRY_ONLY = AugmentConfig(
    crop_scale=(0.5, 1.0), rotate_degrees=10.0, zoom_depth=False,
    brightness=0, contrast=0, saturation=0, hue=0, pair_jitter=0, blur_p=0, noise_p=0,
    capture=NO_CAPTURE,
)  # fmt: skip
#: The capture model switched on with every op off: each test turns on what it checks.
CAPTURE_NO_OPS = CaptureConfig(
    warp_p=0.0, colour_p=0.0, noise_p=0.0, jpeg_p=0.0, sharpness_p=0.0,
    fgbg_noise_p=0.0, fgbg_jpeg_p=0.0,
)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    seed=st.integers(0, 2**31 - 1),
    out_size=st.sampled_from([24, 32, 48]),
    photometric=st.booleans(),
)
def test_geometry_keeps_images_mask_and_depth_aligned(data, seed, out_size, photometric):
    n, h = 4, 32
    boxes = [
        (data.draw(st.integers(2, 14)), data.draw(st.integers(2, 14)),
         data.draw(st.integers(8, 16)), data.draw(st.integers(8, 16)))
        for _ in range(n)
    ]  # fmt: skip
    aug = GEOMETRY_ONLY
    if photometric:  # shared colour jitter; pair jitter, noise (and blur) would break equality
        aug = dataclasses.replace(
            AugmentConfig(), pair_jitter=0, noise_p=0, blur_p=0, zoom_depth=False,
            crop_scale=(0.5, 1.0), rotate_degrees=10.0, capture=NO_CAPTURE,
        )  # fmt: skip
    out = prepare_batch(_scene(n, h, boxes), out_size, IDENTITY_NORM, aug, seed)
    assert out["bg"].shape == (n, 3, out_size, out_size)
    assert out["mask"].shape == out["depth"].shape == (n, 1, out_size, out_size)
    assert set(out["mask"].unique().tolist()) <= {0.0, 1.0}
    assert set(out["depth"].unique().tolist()) <= {FG_DEPTH, BG_DEPTH}  # nearest: never mixed

    margin = 2  # anti-aliased downscaling + bilinear sampling reach ~2 output pixels
    inside, outside = _interior(out["mask"], 1, margin), _interior(out["mask"], 0, margin)
    assume(inside.any())  # the crop can miss every object
    # depth follows the mask
    assert (out["depth"][inside] == FG_DEPTH).all()
    assert (out["depth"][outside] == BG_DEPTH).all()
    # bg and fgbg saw the same geometry (and colour): equal wherever there is no object
    outside3 = outside.expand(-1, 3, -1, -1)
    assert torch.allclose(out["bg"][outside3], out["fgbg"][outside3], atol=1e-5)
    # the painted object sits under the mask
    paint = torch.tensor(PAINT, dtype=torch.float32)[:, None] / 255
    fg_pixels = out["fgbg"].permute(1, 0, 2, 3)[:, inside[:, 0]]
    if photometric:
        assert (fg_pixels - paint).abs().mean() < (out["bg"].mean() - paint).abs().mean()
    else:
        assert torch.allclose(fg_pixels, paint.expand_as(fg_pixels), atol=1e-5)


def test_no_augmentation_at_store_size_is_exact():
    batch = _scene(2, 32, [(4, 4, 10, 12), (10, 8, 16, 9)])
    out = prepare_batch(batch, 32, IDENTITY_NORM, None)
    assert torch.equal(out["mask"][:, 0], batch["mask"].float() / 255)
    assert torch.equal(out["depth"][:, 0], batch["depth"])
    assert torch.allclose(out["fgbg"], batch["fgbg"].permute(0, 3, 1, 2).float() / 255)


def test_normalization_is_applied_per_image():
    batch = _scene(1, 32, [(4, 4, 10, 12)])
    norm = Normalization((0.5,) * 3, (0.25,) * 3, (0.1,) * 3, (0.5,) * 3)
    out = prepare_batch(batch, 32, norm, None)
    raw_bg = batch["bg"].permute(0, 3, 1, 2).float() / 255
    raw_fgbg = batch["fgbg"].permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(out["bg"], (raw_bg - 0.5) / 0.25)
    assert torch.allclose(out["fgbg"], (raw_fgbg - 0.1) / 0.5)


def test_augmentation_is_a_function_of_the_seed():
    batch = _scene(4, 32, [(4, 4, 10, 12)] * 4)
    a = prepare_batch(batch, 32, IDENTITY_NORM, AugmentConfig(noise_p=1, blur_p=1), seed=5)
    b = prepare_batch(batch, 32, IDENTITY_NORM, AugmentConfig(noise_p=1, blur_p=1), seed=5)
    c = prepare_batch(batch, 32, IDENTITY_NORM, AugmentConfig(noise_p=1, blur_p=1), seed=6)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fgbg"], c["fgbg"])
    assert batch_seed(0, 1, 2) == batch_seed(0, 1, 2) != batch_seed(0, 1, 3)


def test_pair_jitter_and_noise_make_the_shots_differ_a_little():
    batch = _scene(8, 32, [(0, 0, 1, 1)] * 8)
    aug = dataclasses.replace(GEOMETRY_ONLY, pair_jitter=0.1, noise_p=1.0, noise_std=0.02)
    out = prepare_batch(batch, 32, IDENTITY_NORM, aug, seed=1)
    diff = (out["bg"] - out["fgbg"])[:, :, 2:, 2:].abs()
    assert 0.005 < diff.mean() < 0.15


def test_color_matrix_identity_and_hue_keeps_grey():
    one, zero = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    assert torch.allclose(color_matrix(one, one, zero)[0], torch.eye(3, dtype=torch.float64))
    grey = torch.full((3,), 0.4, dtype=torch.float64)
    turned = color_matrix(one, one, torch.full((1,), 0.3, dtype=torch.float64))[0] @ grey
    assert torch.allclose(turned, grey, atol=1e-6)
    desaturated = color_matrix(one, zero, zero)[0] @ torch.tensor([0.9, 0.1, 0.3]).double()
    assert torch.allclose(desaturated, desaturated.mean().expand(3), atol=1e-6)


@pytest.mark.gpu
def test_cuda_matches_cpu_geometry():
    batch = _scene(4, 32, [(4, 4, 10, 12)] * 4)
    cpu = prepare_batch(batch, 32, IDENTITY_NORM, GEOMETRY_ONLY, seed=3)
    gpu = prepare_batch({k: v.cuda() for k, v in batch.items()}, 32, IDENTITY_NORM,
                        GEOMETRY_ONLY, seed=3)  # fmt: skip
    assert torch.allclose(cpu["fgbg"], gpu["fgbg"].cpu(), atol=1e-4)
    assert (cpu["mask"] != gpu["mask"].cpu()).float().mean() < 0.01


@pytest.mark.parametrize("area", [0.25, 0.5, 1.0])
def test_zoom_divides_depth_except_at_the_far_clip(area):
    batch = _scene(3, 32, [(4, 4, 20, 20)] * 3)
    batch["depth"][:, :, :8] = 30.0  # a far-clipped band on the left
    zoom = dataclasses.replace(
        GEOMETRY_ONLY, crop_scale=(area, area), crop_ratio=(1, 1), rotate_degrees=0, hflip=0,
        zoom_depth=True,
    )  # fmt: skip
    plain = prepare_batch(batch, 32, IDENTITY_NORM, dataclasses.replace(zoom, zoom_depth=False))
    zoomed = prepare_batch(batch, 32, IDENTITY_NORM, zoom, far=30.0)
    far = plain["depth"] == 30.0
    assert torch.equal(zoomed["depth"][far], plain["depth"][far])
    expected = plain["depth"][~far] * area**0.5  # zoom s = 1 / sqrt(area)
    assert torch.allclose(zoomed["depth"][~far], expected, rtol=1e-5)
    assert torch.equal(zoomed["mask"], plain["mask"])


@pytest.mark.parametrize(("h", "size"), [(32, 32), (32, 24), (32, 48), (64, 24)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_without_augmentation_the_inputs_are_preprocess(h, size, channels_last):
    from training.preprocess import preprocess

    batch = _scene(3, h, [(2, 3, 10, 12), (5, 5, 8, 8), (0, 0, 16, 16)])
    norm = Normalization()
    prepared = prepare_batch(batch, size, norm, None, channels_last=channels_last)
    inputs = preprocess(batch["bg"], batch["fgbg"], size, norm, channels_last)
    off = prepare_batch(batch, size, norm, AugmentConfig(enabled=False), 5, channels_last)
    for key in ("bg", "fgbg"):
        assert torch.equal(inputs[key], prepared[key]) and torch.equal(off[key], prepared[key])
        assert inputs[key].stride() == prepared[key].stride()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), out_size=st.sampled_from([24, 32, 48]))
def test_capture_moves_the_bg_only_mask_and_depth_stay_with_fgbg(seed, out_size):
    """With the second shot on, the bg is the capture-off bg seen through the drawn homography,
    while fgbg, mask and depth are exactly those of the run without it (same seed): the targets
    stay pixel-aligned with fgbg whatever the bg does."""
    n = 4
    batch = _scene(n, 32, [(4, 4, 12, 10), (10, 8, 16, 9), (2, 14, 8, 16), (12, 12, 14, 14)])
    moving = dataclasses.replace(CAPTURE_NO_OPS, warp_p=1.0, shift=0.05)
    geometry = dataclasses.replace(GEOMETRY_ONLY, zoom_depth=True)
    off = prepare_batch(batch, out_size, IDENTITY_NORM, geometry, seed, far=30.0)
    on = prepare_batch(
        batch, out_size, IDENTITY_NORM, dataclasses.replace(geometry, capture=moving), seed,
        far=30.0,
    )  # fmt: skip
    for key in ("fgbg", "mask", "depth"):
        assert torch.equal(on[key], off[key]), key
    homography = draw_capture_params(n, moving, seed).homography
    assert torch.equal(on["bg"], warp_homography(off["bg"], homography))
    moved = homography[:, :2, 2].abs().amax(1) * out_size / 2 > 1  # more than a pixel
    for i in moved.nonzero()[:, 0].tolist():
        assert not torch.allclose(on["bg"][i], off["bg"][i], atol=1e-3)

    # The default mix changes both shots' pixels but never the targets.
    full = prepare_batch(
        batch, out_size, IDENTITY_NORM, dataclasses.replace(geometry, capture=CaptureConfig()),
        seed, far=30.0,
    )  # fmt: skip
    assert torch.equal(full["mask"], off["mask"]) and torch.equal(full["depth"], off["depth"])


def test_with_capture_on_its_noise_replaces_the_colour_stage_noise():
    batch = _scene(4, 32, [(0, 0, 1, 1)] * 4)
    noisy = dataclasses.replace(GEOMETRY_ONLY, noise_p=1.0, noise_std=0.05)
    out = prepare_batch(batch, 32, IDENTITY_NORM, noisy, seed=2)
    assert (out["bg"] - out["fgbg"])[:, :, 2:, 2:].abs().mean() > 0.005
    quiet = prepare_batch(
        batch, 32, IDENTITY_NORM, dataclasses.replace(noisy, capture=CAPTURE_NO_OPS), seed=2
    )
    assert torch.equal(quiet["bg"][:, :, 2:, 2:], quiet["fgbg"][:, :, 2:, 2:])


def test_capture_settings_load_from_a_nested_mapping_and_are_checked():
    from datagen.common.errors import InputError
    from training.config import TrainConfig

    cfg = TrainConfig.from_dict(
        {"augment": {"capture": {"warp_p": 0.25, "jpeg_quality": [70, 90]}}}
    )
    assert cfg.augment.capture == CaptureConfig(warp_p=0.25, jpeg_quality=(70, 90))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InputError, match=r"augment\.capture\.warp_p"):
        TrainConfig.from_dict({"augment": {"capture": {"warp_p": 2.0}}})
    with pytest.raises(InputError, match="unknown key 'shfit'"):
        TrainConfig.from_dict({"augment": {"capture": {"shfit": 0.01}}})
