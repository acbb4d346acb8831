r"""The "second shot": what a real camera changes between the bg photo and the fg_bg photo.

A stored sample's fg_bg equals its bg bit for bit outside the object, a tell no real pair has;
a network trained on it learns "mask = where the shots differ" and fails on real pairs
(misalignment, exposure change, noise). :func:`second_shot` re-shoots the **bg input only**, so
the mask and depth targets, which belong to fg_bg, stay exact and pixel-aligned with it. Each op
is a pure function of the images and its parameters; every sample draws its own parameters
(:func:`draw_capture_params`) and applies each op with its probability, in the order a camera
would:

1. :func:`warp_homography` - the camera moved: output pixel :math:`p` (normalised coordinates,
   ``align_corners=False``) samples the input at :math:`\pi(H p)`, with
   :math:`H = T(t) R(\theta) S(s) P(p_x, p_y)`: a shift :math:`t`, a rotation about the centre,
   a zoom, and a keystone :math:`P = [[1, 0, 0], [0, 1, 0], [p_x, p_y, 1]]` (a pan or tilt of
   about :math:`p \cdot f` radians for a focal length of :math:`f` half-widths).
2. :func:`blur_or_sharpen` - focus and in-camera sharpening differ:
   :math:`x + a (x - G_1 * x)`, :math:`a < 0` blurs, :math:`a > 0` sharpens (unsharp mask).
3. :func:`adjust_exposure` - auto exposure and white balance re-ran:
   :math:`g\, w_c\, x^{\gamma}` per channel :math:`c`, white-balance gains of unit mean.
4. :func:`add_noise` - the sensor's own noise: :math:`x + \sqrt{r^2 + k^2 x}\, n`,
   :math:`n \sim N(0, 1)`: read noise :math:`r` plus shot noise that grows with the signal.
5. :func:`jpeg_roundtrip` - each photo has its own JPEG history, at its own quality.

:func:`independent_noise_jpeg` gives the fg_bg shot its own noise and JPEG history (steps 4 and
5 only: its geometry and colour must stay those of the targets). Randomness is one integer seed
per batch (``training.fitting.augment.batch_seed``), so a resumed run re-draws the same shots.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from training.capture_config import CaptureConfig
from training.filters import gaussian_kernel1d, separable_filter

_BG_STREAM = 0xCA97
_FGBG_STREAM = 0xCA98


@dataclass(frozen=True)
class CaptureParams:
    """One batch's drawn second shots (CPU tensors, one row per sample).

    Attributes:
        homography: (B, 3, 3) float64, output -> input normalised coordinates; identity for
            samples not warped.
        sharpness: (B,) unsharp amount; 0 = untouched.
        gain: (B, 3) per-channel gain (exposure x white balance); 1 = untouched.
        gamma: (B,) exponent; 1 = untouched.
        read_noise, shot_noise: (B,) standard deviations; 0 = no noise.
        jpeg_quality: (B,) int64 quality; 0 = not re-encoded.
    """

    homography: Tensor
    sharpness: Tensor
    gain: Tensor
    gamma: Tensor
    read_noise: Tensor
    shot_noise: Tensor
    jpeg_quality: Tensor

    def corner_shift(self, height: int, width: int) -> Tensor:
        """(B,) largest displacement in pixels of the four frame corners under the warp."""
        corners = torch.tensor(
            [[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, 1.0, 1.0]],
            dtype=torch.float64,
        )
        mapped = torch.einsum("bij,kj->bki", self.homography, corners)
        moved = mapped[..., :2] / mapped[..., 2:] - corners[:, :2]
        pixels = moved * torch.tensor([width / 2, height / 2], dtype=torch.float64)
        return pixels.norm(dim=-1).amax(dim=1)


def capture_seed(seed: int, stream: int = _BG_STREAM) -> int:
    """The seed of one batch's capture draws, apart from the batch's other augmentations."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def draw_capture_params(n: int, cfg: CaptureConfig, seed: int) -> CaptureParams:
    """Parameters of `n` second shots: a fixed sequence of draws from a CPU generator seeded by
    :func:`capture_seed` (``seed``), whichever ops are picked, so the same seed gives the same
    shots on any device."""
    gen = torch.Generator().manual_seed(capture_seed(seed))

    def uniform(lo: float, hi: float, *shape: int) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, *shape, generator=gen, dtype=torch.float64)

    def picked(p: float) -> Tensor:
        return torch.rand(n, generator=gen, dtype=torch.float64) < p

    def log_uniform(lo: float, hi: float) -> Tensor:
        return torch.exp(uniform(math.log(lo), math.log(hi)))

    warp = picked(cfg.warp_p)
    shift = uniform(-2 * cfg.shift, 2 * cfg.shift, 2)  # the frame spans 2 normalised units
    angle = torch.deg2rad(uniform(-cfg.rotate_degrees, cfg.rotate_degrees))
    zoom = uniform(1 - cfg.scale, 1 + cfg.scale)
    keystone = uniform(-cfg.perspective, cfg.perspective, 2)

    sharp = picked(cfg.sharpness_p)
    sharpness = torch.where(sharp, uniform(-cfg.sharpness, cfg.sharpness), 0.0)

    colour = picked(cfg.colour_p)
    exposure = log_uniform(*cfg.exposure)
    gamma = log_uniform(*cfg.gamma)
    balance = uniform(1 - cfg.white_balance, 1 + cfg.white_balance, 3)
    balance = balance / balance.mean(dim=1, keepdim=True)
    gain = torch.where(colour[:, None], exposure[:, None] * balance, 1.0)
    gamma = torch.where(colour, gamma, 1.0)

    read, shot = _draw_noise(uniform, picked, cfg.noise_p, cfg.noise_std)
    quality = _draw_jpeg(gen, picked, n, cfg.jpeg_p, cfg.jpeg_quality)

    # Drawn last, so that a config without residual shots draws the shots it always drew.
    residual = torch.where(picked(cfg.residual_p), cfg.residual_scale, 1.0)
    homography = _homography(
        shift * residual[:, None],
        angle * residual,
        1 + (zoom - 1) * residual,
        keystone * residual[:, None],
    )
    homography[~warp] = torch.eye(3, dtype=torch.float64)
    return CaptureParams(homography, sharpness, gain, gamma, read, shot, quality)


Uniform = Callable[[float, float], Tensor]
Picked = Callable[[float], Tensor]


def _draw_noise(uniform: Uniform, picked: Picked, p: float, std: float) -> tuple[Tensor, Tensor]:
    noisy = picked(p)
    read, shot = uniform(0.0, std), uniform(0.0, std)
    return torch.where(noisy, read, 0.0), torch.where(noisy, shot, 0.0)


def _draw_jpeg(
    gen: torch.Generator, picked: Picked, n: int, p: float, span: tuple[int, int]
) -> Tensor:
    encoded = picked(p)
    quality = torch.randint(span[0], span[1] + 1, (n,), generator=gen)
    return torch.where(encoded, quality, 0)


def _homography(shift: Tensor, angle: Tensor, zoom: Tensor, keystone: Tensor) -> Tensor:
    """(B, 3, 3) ``T(shift) R(angle) S(zoom) P(keystone)`` in normalised coordinates."""
    n = len(angle)
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    affine = torch.zeros(n, 3, 3, dtype=torch.float64)
    affine[:, 0, 0], affine[:, 0, 1], affine[:, 0, 2] = cos, -sin, shift[:, 0]
    affine[:, 1, 0], affine[:, 1, 1], affine[:, 1, 2] = sin, cos, shift[:, 1]
    affine[:, 2, 2] = 1
    projective = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
    projective[:, 2, :2] = keystone
    return affine @ projective


def second_shot(bg: Tensor, cfg: CaptureConfig, seed: int) -> Tensor:
    """The bg shot re-taken: (B, 3, H, W) float in [0, 1] -> the same shape, on its device.

    ``cfg.enabled`` False returns `bg` itself. The input is never modified.
    """
    if not cfg.enabled:
        return bg
    params = draw_capture_params(bg.shape[0], cfg, seed)
    return apply_capture(bg, params, seed)


def apply_capture(bg: Tensor, params: CaptureParams, seed: int) -> Tensor:
    """Apply drawn second shots to `bg` (B, 3, H, W) in [0, 1] (see the module docstring)."""
    out = warp_homography(bg, params.homography)
    out = blur_or_sharpen(out, params.sharpness)
    out = adjust_exposure(out, params.gain, params.gamma)
    out = add_noise(out, params.read_noise, params.shot_noise, capture_seed(seed))
    return jpeg_roundtrip(out, params.jpeg_quality)


def independent_noise_jpeg(fgbg: Tensor, cfg: CaptureConfig, seed: int) -> Tensor:
    """The fg_bg shot's own sensor noise and JPEG history (B, 3, H, W) in [0, 1]: no geometric
    or colour change, so its targets stay exact. Drawn apart from :func:`second_shot`'s."""
    if not cfg.enabled:
        return fgbg
    n = fgbg.shape[0]
    gen = torch.Generator().manual_seed(capture_seed(seed, _FGBG_STREAM))

    def uniform(lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)

    def picked(p: float) -> Tensor:
        return torch.rand(n, generator=gen, dtype=torch.float64) < p

    read, shot = _draw_noise(uniform, picked, cfg.fgbg_noise_p, cfg.noise_std)
    quality = _draw_jpeg(gen, picked, n, cfg.fgbg_jpeg_p, cfg.jpeg_quality)
    out = add_noise(fgbg, read, shot, capture_seed(seed, _FGBG_STREAM))
    return jpeg_roundtrip(out, quality)


def warp_homography(images: Tensor, homography: Tensor) -> Tensor:
    """Resample each image through its (B, 3, 3) output -> input homography (normalised
    coordinates, ``align_corners=False``), bilinearly.

    Outside the frame the image is *reflected*: a real second shot sees more of the scene
    there, which a mirrored continuation of the texture resembles; ``border`` would smear the
    edge row into streaks and ``zeros`` paint a black band, both a difference between the shots
    that says "not the object" for free. Samples with the identity homography are untouched.
    """
    moved = ~(homography == torch.eye(3, dtype=homography.dtype)).all(dim=(1, 2))
    if not moved.any():
        return images
    idx = moved.nonzero()[:, 0]
    h, w = images.shape[-2:]
    device, dtype = images.device, images.dtype
    # The sampling grid is built on the images' device: only the 3x3 matrices travel.
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w * 2 - 1
    points = torch.stack(
        [xs.expand(h, w), ys[:, None].expand(h, w), torch.ones_like(ys[:, None].expand(h, w))], -1
    )
    mapped = torch.einsum("bij,hwj->bhwi", homography[idx].to(device, dtype), points)
    grid = mapped[..., :2] / mapped[..., 2:]
    warped = F.grid_sample(
        images[idx.to(images.device)],
        grid,
        mode="bilinear",
        padding_mode="reflection",
        align_corners=False,
    )
    return images.index_copy(0, idx.to(images.device), warped)


def blur_or_sharpen(images: Tensor, amount: Tensor) -> Tensor:
    """``x + a (x - G * x)`` with ``G`` a Gaussian of sigma 1 px, per-sample ``a`` (B,):
    negative blurs (``a = -1`` is the Gaussian blur itself), positive sharpens; clipped to
    [0, 1]. Samples with ``a = 0`` are untouched."""
    idx = amount.nonzero()[:, 0]
    if idx.numel() == 0:
        return images
    device = images.device
    picked = images[idx.to(device)]
    kernel = gaussian_kernel1d(torch.ones(1, dtype=torch.float64), 3).float().to(device)
    blurred = separable_filter(picked, kernel.expand(picked.shape[0] * picked.shape[1], -1))
    a = amount[idx].to(device, images.dtype)[:, None, None, None]
    return images.index_copy(0, idx.to(device), (picked + a * (picked - blurred)).clamp_(0, 1))


def adjust_exposure(images: Tensor, gain: Tensor, gamma: Tensor) -> Tensor:
    """``clip(gain_c * x ** gamma)`` per sample and channel: gain (B, 3), gamma (B,). Samples
    with unit gain and gamma are untouched."""
    idx = ((gain != 1).any(dim=1) | (gamma != 1)).nonzero()[:, 0]
    if idx.numel() == 0:
        return images
    device = images.device
    g = gain[idx].to(device, images.dtype)[:, :, None, None]
    e = gamma[idx].to(device, images.dtype)[:, None, None, None]
    picked = images[idx.to(device)].clamp(0, 1).pow(e).mul_(g).clamp_(0, 1)
    return images.index_copy(0, idx.to(device), picked)


def add_noise(images: Tensor, read: Tensor, shot: Tensor, seed: int) -> Tensor:
    """``x + sqrt(read^2 + shot^2 x) n``, ``n`` standard normal drawn on the images' device from
    `seed`, clipped to [0, 1]; read, shot (B,). Samples without noise are untouched."""
    idx = ((read > 0) | (shot > 0)).nonzero()[:, 0]
    if idx.numel() == 0:
        return images
    device = images.device
    picked = images[idx.to(device)]
    gen = torch.Generator(device).manual_seed(seed)
    noise = torch.randn(picked.shape, generator=gen, device=device, dtype=images.dtype)
    r = read[idx].to(device, images.dtype)[:, None, None, None]
    k = shot[idx].to(device, images.dtype)[:, None, None, None]
    std = (r * r + k * k * picked.clamp(0, 1)).sqrt_()
    return images.index_copy(0, idx.to(device), picked.add(noise.mul_(std)).clamp_(0, 1))


def jpeg_roundtrip(images: Tensor, quality: Tensor) -> Tensor:
    """Encode and decode each image whose `quality` (B,) is > 0 as a JPEG of that quality
    (4:2:0, as cameras write them); the others are untouched. On the CPU through OpenCV's
    libjpeg; on CUDA through torchvision's nvJPEG, on the device."""
    idx = quality.nonzero()[:, 0]
    if idx.numel() == 0:
        return images
    device = images.device
    picked = images[idx.to(device)].clamp(0, 1).mul(255).round_().to(torch.uint8)
    if device.type == "cuda":
        decoded = nvjpeg_roundtrip(picked, quality[idx].tolist())
    else:
        hwc = picked.permute(0, 2, 3, 1).contiguous().numpy()
        decoded = torch.from_numpy(
            np.stack(
                [
                    _cv2_jpeg(image, int(q))
                    for image, q in zip(hwc, quality[idx].tolist(), strict=True)
                ]
            )
        ).permute(0, 3, 1, 2)
    return images.index_copy(0, idx.to(device), decoded.to(images.dtype).div_(255))


def nvjpeg_roundtrip(images: Tensor, qualities: list[int]) -> Tensor:
    """(B, 3, H, W) uint8 `images` encoded at their `qualities` and decoded by nvJPEG on their
    device: one batched encode per distinct quality and one batched decode, since a call per
    image pays a launch and a synchronisation each."""
    # torchvision deprecates these from 0.29 (TorchCodec's encoders replace them); our pin
    # stops at 0.29, where they still run.
    from torchvision.io import decode_jpeg, encode_jpeg

    coded: list[Tensor] = [images.new_empty(0)] * len(images)
    for q in sorted(set(qualities)):
        members = [i for i, value in enumerate(qualities) if value == q]
        encoded = encode_jpeg([images[i] for i in members], quality=q)
        for i, data in zip(members, encoded, strict=True):
            coded[i] = data
    # The decoder reads its bitstreams from host memory: one copy for all of them.
    lengths = [len(data) for data in coded]
    host = torch.cat(coded).cpu().split(lengths)
    return torch.stack(decode_jpeg(list(host), device=images.device))


def _cv2_jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    # OpenCV takes BGR: swapped, its YCbCr conversion puts luma (and the finer sampling) where
    # a camera's encoder would.
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
