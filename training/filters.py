"""Separable Gaussian filtering, shared by the blur augmentation and the SSIM depth loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_kernel1d(sigma: Tensor, radius: int) -> Tensor:
    r"""``(N, 2 * radius + 1)`` normalised Gaussian taps, one row per entry of ``sigma`` ``(N,)``:
    :math:`k_i \propto \exp(-i^2 / 2\sigma^2)` for :math:`i = -r..r`, in ``sigma``'s dtype."""
    x = torch.arange(-radius, radius + 1, dtype=sigma.dtype, device=sigma.device)
    kernel = torch.exp(-0.5 * (x[None] / sigma[:, None]) ** 2)
    return kernel / kernel.sum(1, keepdim=True)


def separable_filter(x: Tensor, kernels: Tensor) -> Tensor:
    """Filter every ``(H, W)`` plane of ``x`` ``(N, C, H, W)`` by the outer product of a 1-D
    kernel with itself, reflect-padded to the same size.

    ``kernels`` is ``(N * C, k)`` with ``k`` odd: one kernel per plane, in ``x.flatten(0, 1)``
    order (expand a single row to filter every plane alike). All planes go through one grouped
    convolution per axis, which on the CPU is several times faster than a convolution per plane.
    """
    n, c, h, w = x.shape
    r = kernels.shape[1] // 2
    flat = F.pad(x.reshape(1, n * c, h, w), (r, r, r, r), mode="reflect")
    flat = F.conv2d(flat, kernels[:, None, None, :], groups=n * c)
    flat = F.conv2d(flat, kernels[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, h, w)
