"""Separable Gaussian filtering against direct 2-D convolution and hand-computed taps."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from training.filters import gaussian_kernel1d, separable_filter


def test_gaussian_kernel_hand_computed():
    k = gaussian_kernel1d(torch.tensor([1.0, 2.0], dtype=torch.float64), radius=1)
    for row, sigma in zip(k, (1.0, 2.0), strict=True):
        e = math.exp(-0.5 / sigma**2)
        assert row.tolist() == pytest.approx([e / (1 + 2 * e), 1 / (1 + 2 * e), e / (1 + 2 * e)])


def test_separable_filter_equals_the_outer_product_convolution_per_plane():
    x = torch.rand(2, 3, 10, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigmas = torch.linspace(0.5, 2.0, 6, dtype=torch.float64)
    kernels = gaussian_kernel1d(sigmas, radius=2)
    got = separable_filter(x, kernels)
    for plane, kernel in enumerate(kernels):
        img = x.flatten(0, 1)[plane][None, None]
        want = F.conv2d(
            F.pad(img, (2, 2, 2, 2), mode="reflect"), torch.outer(kernel, kernel)[None, None]
        )
        torch.testing.assert_close(got.flatten(0, 1)[plane], want[0, 0])


def test_separable_filter_keeps_a_constant_image():
    x = torch.full((1, 2, 7, 7), 0.3)
    kernels = gaussian_kernel1d(torch.tensor([1.5]), radius=3).expand(2, -1)
    torch.testing.assert_close(separable_filter(x, kernels), x)
