"""Model inputs from uint8 image pairs: convert, resize and normalise (no targets needed).

The one path from pixels to network inputs. Validation, ``fgd eval`` and ``fgd predict`` call
:func:`preprocess`; training calls :func:`training.fitting.augment.prepare_batch`, which is these
same steps with the augmentation's geometry and colour changes in between (and the targets carried
along), so that without augmentation both give the same bytes.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from datagen.store.audit import measure_stats
from datagen.store.reader import FgdStore


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean/std (RGB, in [0, 1] units) subtracted from each image."""

    bg_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    bg_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    fgbg_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    fgbg_std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> Normalization:
        return cls(**{k: tuple(float(x) for x in v) for k, v in data.items()})


def normalization_from_store(ds: FgdStore, progress: bool = True) -> Normalization:
    """Image mean/std (in [0, 1] units) from the store's statistics.

    A store whose ``fgd datagen stats`` was never run gets them measured here, by the same
    deterministic pass, without writing them: every run on one store normalises alike, whether
    or not its stats were saved.
    """
    stats = ds.stats
    if stats is None:
        print(
            f"fgd: {ds.path} has no stats; measuring them for this run (save them once with "
            f"`fgd datagen stats {ds.path}`)",
            file=sys.stderr,
        )
        stats = measure_stats(ds, progress)
    return Normalization(stats.bg_mean, stats.bg_std, stats.fgbg_mean, stats.fgbg_std)


def preprocess(
    bg: Tensor, fgbg: Tensor, size: int, norm: Normalization, channels_last: bool = False
) -> dict[str, Tensor]:
    """Network inputs of image pairs (on their device), resized to ``size`` and normalised.

    Args:
        bg, fgbg: (B, H, W, 3) uint8 RGB, H == W.
        size: Output height and width.
        norm: Image normalisation.
        channels_last: Return the images in channels-last memory format.

    Returns:
        ``bg``, ``fgbg``: (B, 3, size, size) float32.
    """
    return normalize(resampled_images(bg, fgbg, size), norm, channels_last)


def resampled_images(bg: Tensor, fgbg: Tensor, size: int) -> Tensor:
    """``[bg; fgbg]`` (each (B, H, W, 3) uint8, H == W) as (2B, 3, size, size) float in [0, 1]:
    the resampling of :func:`preprocess`, before normalisation."""
    images = unit_images(bg, fgbg, size)
    if bg.shape[1] != size:
        images = sample_images(images, identity_grid(bg.shape[0], size, bg.device))
    return images


def unit_images(bg: Tensor, fgbg: Tensor, needed: int) -> Tensor:
    """``[bg; fgbg]`` as (2B, 3, H, W) float in [0, 1], with an anti-aliased downscale to
    ``needed`` px when the images are larger (grid sampling alone would alias)."""
    images = torch.cat([bg, fgbg]).permute(0, 3, 1, 2).float().div_(255)
    if images.shape[-1] > needed:
        images = F.interpolate(
            images, size=(needed, needed), mode="bilinear", antialias=True, align_corners=False
        )
    return images


def identity_grid(n: int, size: int, device: torch.device) -> Tensor:
    """The ``affine_grid`` of no transform: plain resizing to ``size``."""
    theta = torch.eye(2, 3, device=device).expand(n, 2, 3)
    return F.affine_grid(theta, [n, 1, size, size], align_corners=False)


def sample_images(images: Tensor, grid: Tensor) -> Tensor:
    """Bilinear ``grid_sample`` of stacked ``[bg; fgbg]`` images, both through the same grid."""
    return F.grid_sample(
        images, torch.cat([grid, grid]), mode="bilinear", padding_mode="border", align_corners=False
    )


def normalize(images: Tensor, norm: Normalization, channels_last: bool) -> dict[str, Tensor]:
    """Split stacked ``[bg; fgbg]`` images in [0, 1] and normalise each with its mean/std."""
    n = images.shape[0] // 2
    device = images.device
    mean = torch.tensor([norm.bg_mean, norm.fgbg_mean], device=device).repeat_interleave(n, 0)
    std = torch.tensor([norm.bg_std, norm.fgbg_std], device=device).repeat_interleave(n, 0)
    images = images.sub_(mean[..., None, None]).div_(std[..., None, None])
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    images = images.contiguous(memory_format=memory_format)
    return {"bg": images[:n], "fgbg": images[n:]}
