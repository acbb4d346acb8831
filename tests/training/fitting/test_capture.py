"""The second-shot augmentation: only bg changes, reproducibly, within its configured bounds."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from datagen.common.errors import InputError
from training.filters import gaussian_kernel1d, separable_filter
from training.fitting.capture import (
    CaptureConfig,
    add_noise,
    adjust_exposure,
    apply_capture,
    blur_or_sharpen,
    draw_capture_params,
    independent_noise_jpeg,
    jpeg_roundtrip,
    nvjpeg_roundtrip,
    second_shot,
    warp_homography,
)

SIZE = 64
#: Every op off: each test turns on what it checks.
NOTHING = CaptureConfig(
    warp_p=0.0, colour_p=0.0, noise_p=0.0, jpeg_p=0.0, sharpness_p=0.0,
    fgbg_noise_p=0.0, fgbg_jpeg_p=0.0,
)  # fmt: skip
SHIFT_ONLY = replace(NOTHING, warp_p=1.0, rotate_degrees=0.0, scale=0.0, perspective=0.0)


def texture(n: int = 4, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) smooth random images in [0, 1] (bilinear upsampling of noise)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(0, 1)


def test_same_seed_same_shot_other_seed_other_shot() -> None:
    bg = texture(8)
    a, b = second_shot(bg, CaptureConfig(), 5), second_shot(bg, CaptureConfig(), 5)
    assert torch.equal(a, b)
    assert not torch.equal(a, second_shot(bg, CaptureConfig(), 6))
    assert not torch.equal(a, bg)


def test_disabled_or_all_off_is_the_identity_and_the_input_is_never_modified() -> None:
    bg = texture()
    before = bg.clone()
    assert second_shot(bg, replace(CaptureConfig(), enabled=False), 1) is bg
    assert torch.equal(second_shot(bg, NOTHING, 1), bg)
    assert torch.equal(independent_noise_jpeg(bg, NOTHING, 1), bg)
    second_shot(bg, CaptureConfig(warp_p=1, colour_p=1, noise_p=1, jpeg_p=1, sharpness_p=1), 1)
    assert torch.equal(bg, before)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), shift=st.sampled_from([0.01, 0.02, 0.05]))
def test_bg_moves_while_fgbg_and_its_mask_stay_pixel_aligned(seed: int, shift: float) -> None:
    """The property the targets rely on: after the augmentation fgbg still equals the original
    scene wherever the mask is 0 (so mask and depth, defined on fgbg, stay exact), while bg is the
    scene moved by the drawn shift, bounded by ``shift`` of the frame per axis."""
    scene = texture(1, seed=seed % 1000)
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 20:50, 24:40] = 1
    fgbg = torch.where(mask.bool(), torch.tensor([0.9, 0.1, 0.1])[None, :, None, None], scene)
    cfg = replace(SHIFT_ONLY, shift=shift)

    bg = second_shot(scene, cfg, seed)
    fgbg_out = independent_noise_jpeg(fgbg, cfg, seed)

    assert torch.equal(fgbg_out, fgbg)
    assert torch.equal(fgbg_out[(mask == 0).expand_as(fgbg)], scene[(mask == 0).expand_as(scene)])
    params = draw_capture_params(1, cfg, seed)
    drawn = params.homography[0, :2, 2].numpy() * SIZE / 2  # pixels, input = output + drawn
    assert (np.abs(drawn) <= shift * SIZE + 1e-9).all()
    assert params.corner_shift(SIZE, SIZE)[0] <= math.hypot(shift * SIZE, shift * SIZE) + 1e-9
    # bg is the scene resampled at (x + dx, y + dy): compare with OpenCV's own warp, inside.
    expected = np.stack(
        [
            cv2.warpAffine(
                plane.numpy(),
                np.array([[1.0, 0.0, drawn[0]], [0.0, 1.0, drawn[1]]]),
                (SIZE, SIZE),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            )
            for plane in scene[0]
        ]
    )
    margin = math.ceil(shift * SIZE) + 1
    inner = (slice(None), slice(margin, SIZE - margin), slice(margin, SIZE - margin))
    np.testing.assert_allclose(bg[0].numpy()[inner], expected[inner], atol=2e-3)
    if np.abs(drawn).max() > 1:
        outside = (mask == 0).expand_as(bg)
        assert (bg - fgbg_out)[outside].abs().mean() > 0.005  # the shots differ off the object


def test_warp_corner_displacement_is_bounded_by_the_config() -> None:
    cfg = replace(NOTHING, warp_p=1.0)
    params = draw_capture_params(512, cfg, 3)
    half = SIZE / 2
    diagonal = math.sqrt(2) * half
    bound = (
        math.sqrt(2) * cfg.shift * SIZE
        + diagonal * (math.radians(cfg.rotate_degrees) + cfg.scale)
        + diagonal * 2 * cfg.perspective * 1.1
    )
    shifts = params.corner_shift(SIZE, SIZE)
    assert (shifts <= bound).all()
    assert shifts.max() > 0.6 * bound  # the whole range is used


def test_residual_shots_scale_the_warp_and_leave_every_other_draw() -> None:
    whole = replace(NOTHING, warp_p=1.0, residual_p=0.0, colour_p=1.0, noise_p=1.0, jpeg_p=1.0)
    residual = replace(whole, residual_p=1.0, residual_scale=0.1)
    mixed = replace(whole, residual_p=0.5)
    drawn = {name: draw_capture_params(256, cfg, 5) for name, cfg in
             [("whole", whole), ("residual", residual), ("mixed", mixed)]}  # fmt: skip
    full = drawn["whole"].corner_shift(SIZE, SIZE)
    small = drawn["residual"].corner_shift(SIZE, SIZE)
    # Every term of the homography scales, so the corners move a tenth as far (to first order).
    assert torch.allclose(small, 0.1 * full, rtol=0.02, atol=1e-6)
    share = (drawn["mixed"].corner_shift(SIZE, SIZE) < 0.5 * full).double().mean()
    assert 0.35 < share < 0.65
    for name in ("sharpness", "gain", "gamma", "read_noise", "shot_noise", "jpeg_quality"):
        assert torch.equal(getattr(drawn["whole"], name), getattr(drawn["residual"], name))


def test_identity_homography_leaves_images_and_reflection_fills_the_border() -> None:
    images = texture(2)
    eye = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1)
    assert torch.equal(warp_homography(images, eye), images)
    shift = eye.clone()
    shift[1, 0, 2] = 0.25  # sample 1 shifted by 8 px: the right border comes from reflection
    out = warp_homography(images, shift)
    assert torch.equal(out[0], images[0])
    torch.testing.assert_close(out[1, :, :, -8:], images[1, :, :, -8:].flip(-1), atol=1e-5, rtol=0)


def test_exposure_gamma_white_balance() -> None:
    images = texture(2)
    gain = torch.tensor([[1.0, 1.0, 1.0], [1.1, 0.9, 1.0]], dtype=torch.float64)
    gamma = torch.tensor([1.0, 0.9], dtype=torch.float64)
    out = adjust_exposure(images, gain, gamma)
    assert torch.equal(out[0], images[0])
    expected = (images[1].pow(0.9) * gain[1].float()[:, None, None]).clamp(0, 1)
    torch.testing.assert_close(out[1], expected)


def test_noise_grows_with_the_signal() -> None:
    images = torch.stack([torch.full((3, SIZE, SIZE), 0.2), torch.full((3, SIZE, SIZE), 0.8)])
    read = torch.tensor([0.01, 0.01], dtype=torch.float64)
    shot = torch.tensor([0.03, 0.03], dtype=torch.float64)
    out = add_noise(images, read, shot, seed=1)
    std = (out - images).std(dim=(1, 2, 3))
    expected = torch.sqrt(0.01**2 + 0.03**2 * torch.tensor([0.2, 0.8]))
    torch.testing.assert_close(std, expected, rtol=0.05, atol=0)
    assert torch.equal(add_noise(images, read, shot, 1), out)


def test_jpeg_quality_orders_the_error_and_zero_means_untouched() -> None:
    images = texture(3)
    out = jpeg_roundtrip(images, torch.tensor([0, 95, 60]))
    assert torch.equal(out[0], images[0])
    err95, err60 = ((out[i] - images[i]).abs().mean() for i in (1, 2))
    assert 0 < err95 < err60 < 0.05
    quantised = out[1] * 255
    torch.testing.assert_close(quantised, quantised.round(), atol=1e-4, rtol=0)  # decoded bytes


# torchvision 0.29 deprecates its image codecs (TorchCodec takes over); they still run.
@pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")
def test_batched_nvjpeg_path_keeps_each_image_with_its_quality() -> None:
    # The CUDA path groups images by quality; torchvision's CPU codec runs the same code here.
    from torchvision.io import decode_jpeg, encode_jpeg

    images = (texture(5) * 255).round().to(torch.uint8)
    qualities = [90, 60, 90, 75, 60]
    out = nvjpeg_roundtrip(images, qualities)
    for image, q, got in zip(images, qualities, out, strict=True):
        assert torch.equal(got, decode_jpeg(encode_jpeg(image, quality=q)))


@pytest.mark.gpu
def test_cuda_jpeg_matches_the_cpu_codec() -> None:
    images = texture(3)
    quality = torch.tensor([0, 95, 60])
    gpu = jpeg_roundtrip(images.cuda(), quality).cpu()
    assert torch.equal(gpu[0], images[0])
    assert (gpu[1:] - jpeg_roundtrip(images, quality)[1:]).abs().mean() < 0.01


def test_blur_and_sharpen() -> None:
    images = texture(3)
    out = blur_or_sharpen(images, torch.tensor([0.0, -1.0, 0.8], dtype=torch.float64))
    assert torch.equal(out[0], images[0])
    kernel = gaussian_kernel1d(torch.ones(1, dtype=torch.float64), 3).float()
    blurred = separable_filter(images[1:2], kernel.expand(3, -1))[0]
    torch.testing.assert_close(out[1], blurred)

    def energy(x: torch.Tensor) -> float:
        return float(x.diff(dim=-1).abs().mean())

    assert energy(out[1]) < energy(images[1]) < energy(out[2])


def test_fgbg_history_is_drawn_apart_from_the_bg_shot() -> None:
    cfg = replace(NOTHING, noise_p=1.0, fgbg_noise_p=1.0)
    images = texture(2)
    bg, fgbg = second_shot(images, cfg, 4), independent_noise_jpeg(images, cfg, 4)
    assert not torch.equal(bg - images, fgbg - images)
    assert torch.equal(fgbg, independent_noise_jpeg(images, cfg, 4))


def test_apply_capture_replays_the_drawn_params() -> None:
    images = texture(4)
    cfg = CaptureConfig(warp_p=1, colour_p=1, noise_p=1, jpeg_p=1, sharpness_p=1)
    params = draw_capture_params(4, cfg, 9)
    assert torch.equal(apply_capture(images, params, 9), second_shot(images, cfg, 9))
    assert ((params.jpeg_quality >= 60) & (params.jpeg_quality <= 95)).all()
    exposure = params.gain.mean(1)  # white-balance gains have unit mean
    assert ((exposure >= 0.8 - 1e-9) & (exposure <= 1.25 + 1e-9)).all()
    balance = params.gain / exposure[:, None]
    wb = cfg.white_balance
    assert ((balance >= (1 - wb) / (1 + wb)) & (balance <= (1 + wb) / (1 - wb))).all()


@pytest.mark.parametrize(
    ("change", "key"),
    [({"warp_p": 1.5}, "warp_p"), ({"jpeg_quality": (90, 60)}, "jpeg_quality"),
     ({"exposure": (0.0, 1.0)}, "exposure"), ({"shift": -0.1}, "shift"),
     ({"residual_p": -0.1}, "residual_p"), ({"residual_scale": 0.0}, "residual_scale")],
)  # fmt: skip
def test_bad_config_is_an_input_error_naming_the_key(change: dict, key: str) -> None:
    with pytest.raises(InputError, match=f"augment.capture.{key}"):
        CaptureConfig(**change)


# ----------------------------------------------------------------------------- benchmark


def test_capture_benchmark_test_pairs_keep_exact_targets(real_samples, tmp_path) -> None:
    """benchmarks/capture.py's disturbed pairs: the bg moves or changes, the fg_bg changes only
    by its own noise or the shadow, so the one mask and depth stay exact for every condition."""
    from benchmarks import capture as bench

    _, _, test_bg, test_fg = bench.split_assets(real_samples, tmp_path)
    tests = bench.test_set(test_bg, test_fg, tmp_path, positions=1)
    n = 2 * 2 * 2
    assert tests.mask.shape == tests.depth.shape == (n, bench.FRAME, bench.FRAME)
    assert set(tests.pairs) == set(bench.CONDITIONS)
    clean_bg, clean_fgbg = tests.pairs["clean"]
    assert tests.mask.any(axis=(1, 2)).all()
    inside = np.broadcast_to(tests.mask[..., None], clean_fgbg.shape)
    # A composite as the builder makes it: the bg itself beyond the cutout's soft edge.
    ring = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)) for m in tests.mask])
    beyond = np.broadcast_to(ring[..., None] == 0, clean_fgbg.shape)
    assert (clean_fgbg[beyond] == clean_bg[beyond]).all()
    for condition in ("shift", "exposure"):
        bg, fgbg = tests.pairs[condition]
        assert (fgbg == clean_fgbg).all() and (bg != clean_bg).any(axis=(1, 2, 3)).all()
    bg, fgbg = tests.pairs["shadow"]
    assert (bg == clean_bg).all()
    assert (fgbg[inside] == clean_fgbg[inside]).mean() > 0.95  # only soft edges see the shade
    darker = fgbg.astype(int) - clean_fgbg
    assert (darker <= 0).all() and (darker < 0).any(axis=(1, 2, 3)).all()
    # the re-framed shot samples real photo pixels: at zero motion it is the clean frame
    photos = np.stack([bench.read_rgb(p) for p in test_bg])
    margin = (bench.PHOTO - bench.FRAME) // 2
    identity = bench.reframe(photos, np.eye(3)[None].repeat(len(photos), 0))
    np.testing.assert_array_equal(identity, photos[:, margin:-margin, margin:-margin])
    assert tests.depth[tests.mask].min() > 0 and tests.depth.max() <= bench.MAX_DEPTH


@pytest.mark.slow
def test_capture_benchmark_smoke(real_samples, tmp_path) -> None:
    from benchmarks import capture as bench

    figure = tmp_path / "grid.png"
    run = tmp_path / "run"
    args = ["--smoke", "--out", str(run), "--figure", str(figure), "--set", "fusion=siamese"]
    summary = bench.main(args)
    for model in ("a", "b"):
        for condition in bench.CONDITIONS:
            for align in ("off", "auto"):
                metrics = summary["results"][model][condition][align]
                assert metrics["n_samples"] == 2
                assert 0 <= metrics["mask_iou"] <= 1 and 0 <= metrics["depth_delta1"] <= 1
    assert set(summary["aligned_share"]) == set(bench.CONDITIONS)
    assert cv2.imread(str(figure)).shape[0] > len(bench.CONDITIONS) * bench.FRAME
    assert (run / "results.json").is_file()
    for model in ("a", "b"):  # --set reaches both models
        ckpt = torch.load(run / f"run_{model}" / "checkpoints" / "last.pt", weights_only=True)
        assert ckpt["model_config"]["fusion"] == "siamese"
