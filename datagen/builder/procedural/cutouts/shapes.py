"""2D signed distance shapes of cutout parts, and how to combine them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

_Box2 = tuple[float, float, float, float]
"""(x0, y0, x1, y1), y up."""


@dataclass(frozen=True)
class Shape:
    """A 2D signed distance field (negative inside) and the box its inside lies in."""

    sdf: Callable[[np.ndarray, np.ndarray], np.ndarray]
    box: _Box2


def _rotate(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, angle: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of (x, y) in a frame centred on (cx, cy) and turned by `angle` radians."""
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = x - cx, y - cy
    return c * dx + s * dy, c * dy - s * dx


def circle(cx: float, cy: float, r: float) -> Shape:
    """A disc."""
    return Shape(lambda x, y: np.hypot(x - cx, y - cy) - r, (cx - r, cy - r, cx + r, cy + r))


def ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> Shape:
    """An ellipse of radii (rx, ry) turned by `angle`; its distance is a close approximation."""

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _rotate(x, y, cx, cy, angle)
        k0 = np.hypot(u / rx, v / ry)
        k1 = np.hypot(u / rx**2, v / ry**2)
        return np.where(k0 < 1, (k0 - 1) * min(rx, ry), k0 * (k0 - 1) / np.maximum(k1, 1e-9))

    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    hx, hy = math.hypot(rx * c, ry * s), math.hypot(rx * s, ry * c)
    return Shape(sdf, (cx - hx, cy - hy, cx + hx, cy + hy))


def capsule(
    a: tuple[float, float], b: tuple[float, float], ra: float, rb: float | None = None
) -> Shape:
    """A segment from a to b thickened to radius ra at a and rb (default ra) at b."""
    rb = ra if rb is None else rb
    (ax, ay), (bx, by) = a, b
    ex, ey = bx - ax, by - ay
    length2 = max(ex * ex + ey * ey, 1e-12)

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        wx, wy = x - ax, y - ay
        t = np.clip((wx * ex + wy * ey) / length2, 0.0, 1.0)
        return np.hypot(wx - ex * t, wy - ey * t) - (ra + (rb - ra) * t)

    r = max(ra, rb)
    return Shape(sdf, (min(ax, bx) - r, min(ay, by) - r, max(ax, bx) + r, max(ay, by) + r))


def rbox(cx: float, cy: float, hw: float, hh: float, r: float = 0.0, angle: float = 0.0) -> Shape:
    """A box of half-size (hw, hh) with corners rounded by r, turned by `angle`."""
    r = min(r, hw, hh)

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _rotate(x, y, cx, cy, angle)
        qx, qy = np.abs(u) - hw + r, np.abs(v) - hh + r
        outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
        return outside + np.minimum(np.maximum(qx, qy), 0.0) - r

    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    ex, ey = hw * c + hh * s, hw * s + hh * c
    return Shape(sdf, (cx - ex, cy - ey, cx + ex, cy + ey))


def polygon(points: Sequence[tuple[float, float]], r: float = 0.0) -> Shape:
    """A simple polygon, its corners rounded by r (the shape grows by r)."""
    pts = np.asarray(points, np.float64)

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y = np.broadcast_arrays(x, y)
        dist2 = (x - pts[0, 0]) ** 2 + (y - pts[0, 1]) ** 2
        sign = np.ones_like(x)
        for (px, py), (qx, qy) in zip(pts, np.roll(pts, 1, axis=0), strict=True):
            ex, ey, wx, wy = qx - px, qy - py, x - px, y - py
            t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
            dist2 = np.minimum(dist2, (wx - ex * t) ** 2 + (wy - ey * t) ** 2)
            above, below, left = y >= py, y < qy, ex * wy > ey * wx
            sign = np.where((above & below & left) | (~above & ~below & ~left), -sign, sign)
        return sign * np.sqrt(dist2) - r

    lo, hi = pts.min(axis=0) - r, pts.max(axis=0) + r
    return Shape(sdf, (lo[0], lo[1], hi[0], hi[1]))


def ring(cx: float, cy: float, r: float, width: float) -> Shape:
    """A circle of radius r drawn `width` thick on either side (a tyre)."""
    h = r + width
    return Shape(
        lambda x, y: np.abs(np.hypot(x - cx, y - cy) - r) - width, (cx - h, cy - h, cx + h, cy + h)
    )


def lathe(cx: float, profile: Sequence[tuple[float, float]]) -> Shape:
    """A symmetric silhouette (bottle, vase, cone): half-widths at heights, smoothly joined.

    Args:
        cx: Axis of symmetry.
        profile: (height, half-width) pairs, heights increasing.
    """
    knots = np.asarray(profile, np.float64)
    ys = np.linspace(knots[0, 0], knots[-1, 0], 128)
    rs = np.convolve(np.pad(np.interp(ys, *knots.T), 8, mode="edge"), np.ones(17) / 17, "valid")
    slope = np.gradient(rs, ys)

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        side = (np.abs(x - cx) - np.interp(y, ys, rs)) / np.sqrt(1 + np.interp(y, ys, slope) ** 2)
        return np.maximum(side, np.maximum(ys[0] - y, y - ys[-1]))

    w = float(rs.max())
    return Shape(sdf, (cx - w, ys[0], cx + w, ys[-1]))


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """min(a, b) with the corner rounded over about k (polynomial smooth minimum)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def bounds(boxes: Sequence[_Box2], grow: float = 0.0) -> _Box2:
    """The box around boxes, grown by `grow` on every side."""
    x0, y0, x1, y1 = zip(*boxes, strict=True)
    return min(x0) - grow, min(y0) - grow, max(x1) + grow, max(y1) + grow


def union(*shapes: Shape, k: float = 0.0) -> Shape:
    """Union of shapes, blended over a fillet of size k when k > 0."""

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        d = shapes[0].sdf(x, y)
        for shape in shapes[1:]:
            d = _smooth_min(d, shape.sdf(x, y), k) if k else np.minimum(d, shape.sdf(x, y))
        return d

    return Shape(sdf, bounds([s.box for s in shapes], k / 4))


def cut(shape: Shape, hole: Shape) -> Shape:
    """`shape` with `hole` removed."""
    return Shape(lambda x, y: np.maximum(shape.sdf(x, y), -hole.sdf(x, y)), shape.box)


def clip_shape(shape: Shape, mask: Shape) -> Shape:
    """The part of `shape` inside `mask`."""
    box = (*np.maximum(shape.box[:2], mask.box[:2]), *np.minimum(shape.box[2:], mask.box[2:]))
    return Shape(lambda x, y: np.maximum(shape.sdf(x, y), mask.sdf(x, y)), box)


def curve(points: Sequence[tuple[float, float]], r0: float, r1: float, steps: int = 6) -> Shape:
    """A tapering tube along a quadratic Bezier through three control points."""
    (ax, ay), (bx, by), (cx, cy) = points
    t = np.linspace(0.0, 1.0, steps + 1)
    xs = (1 - t) ** 2 * ax + 2 * (1 - t) * t * bx + t**2 * cx
    ys = (1 - t) ** 2 * ay + 2 * (1 - t) * t * by + t**2 * cy
    radii = np.linspace(r0, r1, steps + 1)
    segments = [
        capsule((xs[i], ys[i]), (xs[i + 1], ys[i + 1]), radii[i], radii[i + 1])
        for i in range(steps)
    ]
    return union(*segments)
