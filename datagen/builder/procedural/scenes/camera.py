"""The pinhole camera of scenes and its rays (see the ``datagen.builder.procedural`` docstring)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from datagen.builder.procedural.common import span

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Camera:
    """Pinhole at (0, height, 0) looking horizontally, turned by `yaw`; see the package doc."""

    size: int
    focal: float
    height: float
    horizon_y: float
    yaw: float = 0.0
    """Radians the camera is turned to the right (towards +x) about the vertical."""

    def rays(self, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World directions (dx, dy, dz) of the rays of a factor-times finer grid.

        Sample (row, col) of that grid sits at image point ((col + 0.5) / factor, (row + 0.5) /
        factor), so factor 1 gives the pixel centres. The direction is scaled so that its
        component along the optical axis is 1; dx and dz vary per column (1, n), dy per row
        (n, 1).
        """
        centres = (np.arange(self.size * factor, dtype=np.float64) + 0.5) / factor
        across = (centres - self.size / 2) / self.focal
        dy = (self.horizon_y - centres) / self.focal
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        dx, dz = c * across + s, c - s * across
        return (
            dx.astype(np.float32)[None, :],
            dy.astype(np.float32)[:, None],
            dz.astype(np.float32)[None, :],
        )

    def full_window(self, factor: int) -> tuple[slice, slice]:
        """All rows and columns of the factor-times grid."""
        n = self.size * factor
        return slice(0, n), slice(0, n)

    def window(self, lo: Vec3, hi: Vec3, factor: int) -> tuple[slice, slice]:
        """Rows and columns of the factor-times grid whose rays may meet the box [lo, hi], z > 0."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        cols, rows = [], []
        for x, y, z in itertools.product(*zip(lo, hi, strict=True)):
            across, ahead = c * x - s * z, max(s * x + c * z, 0.05)  # nothing behind is seen
            cols.append((self.size / 2 + self.focal * across / ahead) * factor)
            rows.append((self.horizon_y - self.focal * (y - self.height) / ahead) * factor)
        n = self.size * factor
        return span(min(rows), max(rows), n), span(min(cols), max(cols), n)


def random_camera(rng: np.random.Generator, size: int, max_yaw: float) -> Camera:
    """A phone at eye level, around the ground-plane prior of user photos (60 degrees, 1.5 m;
    ``datagen.builder.assets``): horizontal field of view 55-65 degrees, 1.4-1.6 m up, turned up to
    `max_yaw` degrees.

    One image fixes depth only up to the product focal x height (ground depth is
    ``focal * height / (row - horizon)``), so the spread of that product across scenes bounds
    what any depth network can learn: a wide spread would cap even a perfect network without
    scale cues below a useful delta1. The ranges keep every scene's product within a factor 1.18
    of the middle.
    """
    hfov = math.radians(rng.uniform(55.0, 65.0))
    return Camera(
        size=size,
        focal=size / 2 / math.tan(hfov / 2),
        height=rng.uniform(1.4, 1.6),
        horizon_y=rng.uniform(0.3, 0.55) * size,
        yaw=math.radians(rng.uniform(-max_yaw, max_yaw)),
    )
