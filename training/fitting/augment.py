"""Training's batch augmentation on the device (plain torch; the same code runs on the CPU).

:func:`prepare_batch` is :func:`training.preprocess.preprocess` (the inputs of evaluation and
prediction) with the targets carried along and, in training, the augmentation in between. A batch
arrives as the loader delivers it (uint8 NHWC images, uint8 mask, depth in the store's
uint16 units) and leaves as normalised float NCHW tensors at the requested size:

* **Geometry**, one affine map per sample applied identically to bg, fgbg, mask and depth:
  horizontal flip, random resized crop (area fraction ``crop_scale``, aspect ``crop_ratio``) and a
  small rotation, all sampled through one ``grid_sample`` that also resizes to the output size.
  The crop is shrunk until the rotated crop lies inside the frame, so no pixel is ever sampled
  from outside the image: depth never mixes with an invalid border and the mask never gains a
  fake border. Images are sampled bilinearly (after an anti-aliased downscale when the store is
  much larger than the output), the mask bilinearly then thresholded at 0.5, depth with nearest
  neighbour (no flying pixels between the object and the background behind it). A crop that
  zooms by ``s`` (``s = 1 / sqrt(crop area fraction)``) shows what the same camera would see of
  a scene ``s`` times nearer: for a pinhole at a fixed height, the image row of a ground point
  and the image size of an object both scale with ``f / Z``. So with ``zoom_depth`` the depth
  target is divided by ``s`` (Eigen et al. 2014, scale augmentation), except at the far clip;
  without it, zoom would teach the network that apparent size says nothing about distance.
* **Colour**, on bg and fgbg with the *same* parameters, since they are two shots of one scene:
  brightness, saturation and hue are one 3x3 colour matrix per sample (hue is a rotation about the
  grey axis in YIQ space, which is linear, unlike an HSV round trip), then contrast about the mean
  grey of bg. fgbg alone gets a further small brightness/contrast/saturation change
  (``pair_jitter``): the light differs a little between the two shots. Then the same Gaussian
  blur on both, and independent Gaussian noise (sensor noise differs between shots) unless the
  capture model below brings its own.
* **Capture** (``augment.capture``, :mod:`training.fitting.capture`), last, on the [0, 1] images
  before normalisation: the bg is re-shot (:func:`~training.fitting.capture.second_shot`: a
  small homography, focus, exposure and white balance, sensor noise, its own JPEG) and the fgbg
  gets its own noise and JPEG history (:func:`~training.fitting.capture.independent_noise_jpeg`).
  Only the bg moves, so the mask and depth, which belong to fgbg, stay exact. After the
  geometry, so the second shot's shift is a fraction of the frame the network sees, whatever the
  crop.

Randomness comes from one integer seed per batch (:func:`batch_seed`), derived from
``(seed, epoch, batch index, rank)``: a resumed run augments exactly as an uninterrupted one and
the result does not depend on the number of loader workers. Parameters are drawn on the CPU
(a few numbers per sample); the noise field is drawn on the device.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from datagen.store.schema import MASK_THRESHOLD, UNITS_PER_METRE
from training.config import AugmentConfig
from training.filters import gaussian_kernel1d, separable_filter
from training.fitting.capture import independent_noise_jpeg, second_shot
from training.preprocess import (
    Normalization,
    identity_grid,
    normalize,
    sample_images,
    unit_images,
)

_AUG_STREAM = 0xA06

# RGB -> YIQ; hue rotates the (I, Q) plane, Y is the luma that saturation keeps.
_RGB2YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64
)
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)
_LUMA = _RGB2YIQ[0]


def depth_metres(depth: torch.Tensor) -> torch.Tensor:
    """Depth in float32 metres from the store's uint16 units (float input passes through).

    The same correctly rounded float32 division as :func:`datagen.store.schema.depth_metres`.
    """
    if depth.dtype == torch.uint16:
        return depth.float().div_(UNITS_PER_METRE)
    return depth.float()


def batch_seed(seed: int, epoch: int, batch: int, rank: int = 0) -> int:
    """The augmentation seed of one batch: a pure function of where it sits in the run."""
    return int(np.random.SeedSequence([seed, _AUG_STREAM, epoch, batch, rank]).generate_state(1)[0])


def prepare_batch(
    batch: dict[str, torch.Tensor],
    size: int,
    norm: Normalization,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    channels_last: bool = False,
    far: float = math.inf,
) -> dict[str, torch.Tensor]:
    """Turn a loader batch (already on its device) into model inputs and targets.

    Without augmentation the inputs are exactly :func:`training.preprocess.preprocess`'s.

    Args:
        batch: ``bg``/``fgbg`` (B, H, W, 3) uint8, ``mask`` (B, H, W) uint8 0/255, ``depth``
            (B, H, W): uint16 store units as the loader delivers them (:func:`depth_metres`), or
            float32 metres.
        size: Output height and width.
        norm: Image normalisation.
        augment: Augmentation settings; None (or ``enabled: false``) only resizes.
        seed: Per-batch seed (:func:`batch_seed`).
        channels_last: Return the images in channels-last memory format.
        far: The store's far clip in metres: depth there stays there when ``zoom_depth``
            scales the rest.

    Returns:
        ``bg``, ``fgbg``: (B, 3, size, size) float32, normalised; ``mask``: (B, 1, size, size)
        float32 in {0, 1}; ``depth``: (B, 1, size, size) float32 metres.
    """
    bg, fgbg = batch["bg"], batch["fgbg"]
    n, h = bg.shape[0], bg.shape[1]
    device = bg.device
    aug = augment if augment is not None and augment.enabled else None
    gen = torch.Generator().manual_seed(seed)

    # Downscale to the resolution the smallest crop needs (the output size when not cropping);
    # grid_sample then scales by at most 1 / sqrt(crop_scale[0]).
    needed = math.ceil(size / math.sqrt(aug.crop_scale[0])) if aug else size
    images = unit_images(bg, fgbg, needed)  # (2B, 3, H, W)
    mask, depth = _targets(batch)

    if aug is not None or h != size:
        if aug is None:
            grid = identity_grid(n, size, device)
        else:
            theta = affine(n, aug, gen).to(device)
            grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
        images = sample_images(images, grid)
        mask, depth = _sample_targets(mask, depth, grid)
        if aug is not None and aug.zoom_depth:
            zoom = theta[:, :2, :2].det().abs().rsqrt()[:, None, None, None]
            depth = torch.where(depth >= far, depth, depth / zoom)

    if aug is not None:
        images = photometric(images, n, aug, gen, seed)
        if aug.capture.enabled:
            images = torch.cat(
                [
                    second_shot(images[:n], aug.capture, seed),
                    independent_noise_jpeg(images[n:], aug.capture, seed),
                ]
            )
    return {**normalize(images, norm, channels_last), "mask": mask, "depth": depth}


def resized_targets(batch: dict[str, torch.Tensor], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``mask`` (B, 1, size, size) in {0, 1} and ``depth`` (metres) of a loader batch,
    resized as :func:`prepare_batch` resizes them without augmentation (for evaluation)."""
    mask, depth = _targets(batch)
    if mask.shape[-1] != size:
        grid = identity_grid(mask.shape[0], size, mask.device)
        mask, depth = _sample_targets(mask, depth, grid)
    return mask, depth


def _targets(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, H, W) float mask in [0, 1] and depth in metres."""
    return batch["mask"][:, None].float().div_(255), depth_metres(batch["depth"])[:, None]


def _sample_targets(
    mask: torch.Tensor, depth: torch.Tensor, grid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets through ``grid``: the mask bilinearly then thresholded, depth nearest-neighbour
    (no flying pixels between an object and what lies behind it)."""
    mask = F.grid_sample(mask, grid, mode="bilinear", padding_mode="border", align_corners=False)
    depth = F.grid_sample(depth, grid, mode="nearest", padding_mode="border", align_corners=False)
    return (mask > MASK_THRESHOLD).float(), depth


def _uniform(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)


def affine(n: int, aug: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(n, 2, 3) maps from output to input normalised coordinates (``affine_grid`` convention).

    Output point ``p`` in [-1, 1]^2 samples input point ``c + R(angle) diag(sx, sy) F p``, where
    ``F`` flips x, ``(sx, sy)`` are the crop's half-sides and ``c`` its centre. The rotated crop's
    half-extent along x is ``sx|cos| + sy|sin|`` (along y likewise); both are scaled down to at
    most 1 and the centre is drawn so that the crop stays inside [-1, 1]^2.
    """
    area = _uniform(gen, n, *aug.crop_scale)
    log_ratio = _uniform(gen, n, math.log(aug.crop_ratio[0]), math.log(aug.crop_ratio[1]))
    ratio = torch.exp(log_ratio)
    sx, sy = torch.sqrt(area * ratio), torch.sqrt(area / ratio)
    angle = torch.deg2rad(_uniform(gen, n, -aug.rotate_degrees, aug.rotate_degrees))
    cos, sin = torch.cos(angle), torch.sin(angle)
    ex, ey = sx * cos.abs() + sy * sin.abs(), sx * sin.abs() + sy * cos.abs()
    shrink = torch.clamp(torch.maximum(ex, ey), min=1.0)
    sx, sy, ex, ey = sx / shrink, sy / shrink, ex / shrink, ey / shrink
    cx = (1 - ex) * _uniform(gen, n, -1.0, 1.0)
    cy = (1 - ey) * _uniform(gen, n, -1.0, 1.0)
    flip = torch.where(torch.rand(n, generator=gen) < aug.hflip, -1.0, 1.0).double()
    theta = torch.stack(
        [
            torch.stack([cos * sx * flip, -sin * sy, cx], dim=1),
            torch.stack([sin * sx * flip, cos * sy, cy], dim=1),
        ],
        dim=1,
    )
    return theta.float()


def color_matrix(brightness: torch.Tensor, saturation: torch.Tensor, hue: torch.Tensor):
    """(n, 3, 3) RGB matrices: brightness * hue rotation * saturation blend (all linear)."""
    n = len(brightness)
    luma = _LUMA.expand(n, 1, 3)
    eye = torch.eye(3, dtype=torch.float64).expand(n, 3, 3)
    s = saturation[:, None, None]
    sat = s * eye + (1 - s) * torch.ones(n, 3, 1, dtype=torch.float64) @ luma
    angle = 2 * math.pi * hue
    rot = torch.zeros(n, 3, 3, dtype=torch.float64)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2] = torch.cos(angle), -torch.sin(angle)
    rot[:, 2, 1], rot[:, 2, 2] = torch.sin(angle), torch.cos(angle)
    hue_m = _YIQ2RGB @ rot @ _RGB2YIQ
    return brightness[:, None, None] * hue_m @ sat


def photometric(
    images: torch.Tensor, n: int, aug: AugmentConfig, gen: torch.Generator, seed: int
) -> torch.Tensor:
    """Colour jitter, blur and noise of the stacked (2n, 3, H, W) [bg; fgbg] images in [0, 1]."""
    device = images.device
    b = _uniform(gen, n, 1 - aug.brightness, 1 + aug.brightness)
    c = _uniform(gen, n, 1 - aug.contrast, 1 + aug.contrast)
    s = _uniform(gen, n, 1 - aug.saturation, 1 + aug.saturation)
    h = _uniform(gen, n, -aug.hue, aug.hue)
    pair = [_uniform(gen, n, 1 - aug.pair_jitter, 1 + aug.pair_jitter) for _ in range(3)]
    matrix = torch.cat([color_matrix(b, s, h), color_matrix(b * pair[0], s * pair[2], h)])
    contrast = torch.cat([c, c * pair[1]])
    images = torch.einsum("bij,bjhw->bihw", matrix.float().to(device), images)
    # Contrast pivots on the bg's mean grey for both shots, so that bg and fgbg get the very
    # same affine colour map (the object in fgbg must not shift the pivot).
    grey = (images[:n] * _LUMA.float().to(device)[:, None, None]).sum(1, keepdim=True)
    grey = grey.mean((2, 3), keepdim=True).repeat(2, 1, 1, 1)
    contrast = contrast.float().to(device)[:, None, None, None]
    images = (images - grey).mul_(contrast).add_(grey).clamp_(0, 1)

    # Which images get blur / noise is decided on the CPU: no device sync, indices copied once.
    blurred = torch.cat([torch.rand(n, generator=gen) < aug.blur_p] * 2)
    sigma = torch.cat([_uniform(gen, n, *aug.blur_sigma)] * 2)
    if blurred.any():
        idx = blurred.nonzero()[:, 0]
        picked = _gaussian_blur(images[idx.to(device)], sigma[idx], aug.blur_sigma[1])
        images = images.index_copy(0, idx.to(device), picked)

    noisy = torch.cat([torch.rand(n, generator=gen) < aug.noise_p] * 2)
    std = torch.cat([_uniform(gen, n, 0.0, aug.noise_std)] * 2)
    if noisy.any() and not aug.capture.enabled:  # the capture model adds its own sensor noise
        idx = noisy.nonzero()[:, 0]
        scale = std[idx].float().to(device)[:, None, None, None]
        device_gen = torch.Generator(device).manual_seed(seed)
        noise = torch.randn((len(idx), *images.shape[1:]), generator=device_gen, device=device)
        picked = images[idx.to(device)].add_(noise.mul_(scale)).clamp_(0, 1)
        images = images.index_copy(0, idx.to(device), picked)
    return images


def _gaussian_blur(images: torch.Tensor, sigma: torch.Tensor, sigma_max: float) -> torch.Tensor:
    """Separable Gaussian blur with a per-image ``sigma``, reflect-padded."""
    radius = max(1, math.ceil(3 * sigma_max))
    kernels = gaussian_kernel1d(sigma, radius).float().to(images.device)  # (m, k)
    # one kernel per channel of each image
    return separable_filter(images, kernels.repeat_interleave(images.shape[1], 0))
