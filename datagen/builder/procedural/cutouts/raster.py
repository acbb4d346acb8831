"""Cutout parts and their rasterising: shading, back-to-front compositing, cropping, encoding."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from datagen.builder.procedural.common import encode, span, tinted, tone_map
from datagen.builder.procedural.cutouts.shapes import Shape, bounds
from datagen.builder.procedural.cutouts.textures import Texture


@dataclass(frozen=True)
class Part:
    """One piece of a cutout: shape, albedo texture, rounded-edge width (m) and gloss."""

    shape: Shape
    texture: Texture
    bevel: float
    gloss: float = 0.0


LIGHT = np.array([-0.45, -0.6, 0.66]) / np.linalg.norm([-0.45, -0.6, 0.66])
"""Key light of cutouts, in image space (x right, y down, z towards the viewer): upper left."""
_RIM = np.array([0.05, 0.07, 0.1], np.float32)
"""Colour of the cool rim light on edges turned away from the key light."""
_EDGE_PX = 1.5
"""Width of the alpha ramp across an edge, in pixels."""


def _shade_part(
    part: Part, x: np.ndarray, y: np.ndarray, d: np.ndarray, px: float, light: np.ndarray
) -> np.ndarray:
    """Lit colour of a part: albedo under a pseudo-3D normal, with rim light and gloss.

    The surface is a rounded bevel `part.bevel` wide: the normal tilts out along the SDF
    gradient as the edge nears, by the profile of a quarter circle. The gradient is taken of
    a blurred SDF, so that it fades out (rather than flips) across a shape's medial axis.
    """
    bevel = part.bevel / px
    sigma = min(max(0.3 * bevel, 0.5), 10.0)
    gy, gx = np.gradient(cv2.GaussianBlur(np.ascontiguousarray(d, np.float32), (0, 0), sigma))
    tilt = 1.0 - np.clip(-d / bevel, 0.0, 1.0)
    nx, ny = tilt * gx, tilt * gy
    nz = np.sqrt(np.maximum(1.0 - nx * nx - ny * ny, 0.0))
    diffuse = np.maximum(nx * light[0] + ny * light[1] + nz * light[2], 0.0)
    shade = 0.3 + 0.12 * (0.5 - 0.5 * ny) + 0.75 * diffuse
    out = part.texture(x, y, px) * shade
    # A cool rim light catches the edges turned away from the key light.
    rim = tilt**3 * np.maximum(-(nx * light[0] + ny * light[1]), 0.0)
    out = out + tinted(_RIM, rim)
    if part.gloss:
        half = light + np.array([0.0, 0.0, 1.0])
        half /= np.linalg.norm(half)
        out = out + part.gloss * np.maximum(nx * half[0] + ny * half[1] + nz * half[2], 0.0) ** 40
    return out


def rasterise(parts: Sequence[Part], height: int, light: np.ndarray) -> np.ndarray:
    """Composite parts back to front at `height` pixels tall; (h, w, 4) straight-alpha uint8."""
    canvas = _Canvas.around(parts, height)
    for part in parts:
        canvas.paint(part, light)
    return _finish(canvas.colour, canvas.alpha, height)


_MARGIN = 3
"""Transparent pixels kept around a cutout while painting."""
_CONTACT = (0.3, 5.0)
"""Darkening, and reach in pixels, of the shadow a part casts on the parts behind it."""


@dataclass(frozen=True)
class _Canvas:
    """Premultiplied colour and alpha being painted; pixel (0, 0) has its top left at (x0, y1)."""

    x0: float
    y1: float
    px: float
    """Metres per pixel."""
    colour: np.ndarray
    alpha: np.ndarray

    @classmethod
    def around(cls, parts: Sequence[Part], height: int) -> _Canvas:
        """A blank canvas framing `parts`, scaled so that they stand about `height` pixels tall."""
        x0, y0, x1, y1 = bounds([p.shape.box for p in parts])
        px = (y1 - y0) / max(height - _EDGE_PX, 1.0)
        rows, cols = height + 2 * _MARGIN, math.ceil((x1 - x0) / px) + 2 * _MARGIN
        return cls(
            x0 - _MARGIN * px,
            y1 + _MARGIN * px,
            px,
            np.zeros((3, rows, cols), np.float32),
            np.zeros((rows, cols), np.float32),
        )

    def paint(self, part: Part, light: np.ndarray) -> None:
        """Shade `part` and lay it over the canvas, with a contact shadow around it."""
        bx0, by0, bx1, by1 = part.shape.box
        rows, cols = self.alpha.shape
        r = span((self.y1 - by1) / self.px - 1, (self.y1 - by0) / self.px + 1, rows)
        c = span((bx0 - self.x0) / self.px - 1, (bx1 - self.x0) / self.px + 1, cols)
        if r.stop - r.start < 3 or c.stop - c.start < 3:
            return
        xs = (self.x0 + (np.arange(c.start, c.stop) + 0.5) * self.px)[None, :]
        ys = (self.y1 - (np.arange(r.start, r.stop) + 0.5) * self.px)[:, None]
        d = np.broadcast_to(part.shape.sdf(xs, ys), (r.stop - r.start, c.stop - c.start)) / self.px
        cover = np.clip(0.5 - d / _EDGE_PX, 0.0, 1.0)
        darkening, reach = _CONTACT
        behind = (1.0 - darkening * np.clip(1.0 - d / reach, 0.0, 1.0)) * (1.0 - cover)
        shaded = _shade_part(part, xs, ys, d, self.px, light)
        self.colour[:, r, c] = self.colour[:, r, c] * behind + shaded * cover
        self.alpha[r, c] = self.alpha[r, c] * (1.0 - cover) + cover


def _finish(colour: np.ndarray, alpha: np.ndarray, height: int) -> np.ndarray:
    """Crop to alpha > 0, stretch to exactly `height` rows, unpremultiply and encode."""
    colour, alpha = _crop(colour, alpha)
    if alpha.shape[0] != height:
        # Linear resampling that maps first row to first row and last to last, so the crop
        # stays tight; the stretch is a pixel or two at most.
        pos = np.linspace(0.0, alpha.shape[0] - 1.0, height)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, alpha.shape[0] - 1)
        f = (pos - lo)[:, None].astype(np.float32)
        colour = colour[:, lo] * (1 - f) + colour[:, hi] * f
        alpha = alpha[lo] * (1 - f) + alpha[hi] * f
        colour, alpha = _crop(colour, alpha)
    a8 = np.round(alpha * 255.0).astype(np.uint8)
    straight = colour / np.maximum(alpha, 1e-6)
    rgb = encode(tone_map(straight.transpose(1, 2, 0)))
    return np.dstack([rgb * (a8 > 0)[..., None], a8])


def _crop(colour: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trim rows and columns whose alpha rounds to 0 in uint8."""
    solid = alpha >= 0.5 / 255.0
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    r, c = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    return colour[:, r, c], alpha[r, c]
