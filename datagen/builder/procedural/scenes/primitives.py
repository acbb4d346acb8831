"""Analytic scene primitives (ground, room shell, boxes, cylinders, spheres): hits and shadows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from datagen.builder.procedural.scenes.camera import Camera, Vec3
from datagen.builder.procedural.scenes.materials import Material

#: Normals of face codes 0-5 (-x, +x, -y, +y, -z, +z); 6 is a cylinder's mantle, 7 a sphere.
_FACE_NORMALS = np.array(
    [[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]], np.float32
)
_MANTLE = 6
_SPHERE = 7


@dataclass(frozen=True)
class _Patch:
    """What shading needs about the hits on one face: normals, face coordinates, material."""

    normal: np.ndarray
    u: np.ndarray
    v: np.ndarray
    size: tuple[float, float]
    material: Material


def _slab(
    origin: float | np.ndarray, slope: np.ndarray, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameters (near, far) where origin + t * slope lies in [lo, hi], per ray."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t_lo, t_hi = (lo - origin) / slope, (hi - origin) / slope
    return np.minimum(t_lo, t_hi), np.maximum(t_lo, t_hi)


def _entry(slope: np.ndarray, neg_face: int, pos_face: int) -> np.ndarray:
    """Face a ray enters a slab through: the one facing against the ray."""
    return np.where(slope > 0, neg_face, pos_face)


def _convex_hit(
    intervals: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | int]],
) -> tuple[np.ndarray, np.ndarray]:
    """First hit (t, face) on the intersection of per-axis intervals (near, far, entry face)."""
    t, far, face = intervals[0]
    for near_k, far_k, face_k in intervals[1:]:
        later = near_k > t
        t, face = np.where(later, near_k, t), np.where(later, face_k, face)
        far = np.minimum(far, far_k)
    return np.where((t <= far) & (t > 0), t, np.inf).astype(np.float32), face


def _box_uv(
    lo: Vec3, hi: Vec3, code: int, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Face coordinates on an axis-aligned box face: from its low corner, v up (or along z)."""
    axis = code // 2
    if axis == 0:
        return z - lo[2], y - lo[1], (hi[2] - lo[2], hi[1] - lo[1])
    if axis == 1:
        return x - lo[0], z - lo[2], (hi[0] - lo[0], hi[2] - lo[2])
    return x - lo[0], y - lo[1], (hi[0] - lo[0], hi[1] - lo[1])


# Every primitive offers:
#   window(camera, factor): the rows and columns of the ray grid it may cover;
#   intersect(camera, dx, dy, dz): first hit (t, face code) of those rays, t = inf for a miss;
#   patch(code, x, y, z): normals, face coordinates and material at hit points on one face.
# Shadow casters also have lo / hi (their bounding box) and occludes(x, y, z, light).


@dataclass(frozen=True)
class Ground:
    """The plane y = 0, seen from above."""

    material: Material

    def window(self, camera: Camera, factor: int) -> tuple[slice, slice]:
        return camera.full_window(factor)

    def intersect(
        self, camera: Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | int]:
        with np.errstate(divide="ignore"):
            t = np.where(dy < 0, camera.height / -dy, np.inf).astype(np.float32)
        return np.broadcast_to(t, (dy.shape[0], dx.shape[1])), 3

    def patch(self, code: int, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> _Patch:
        return _Patch(_FACE_NORMALS[3], x, z, (math.inf, math.inf), self.material)


@dataclass(frozen=True)
class Shell:
    """A room seen from inside: walls at x = lo.x, x = hi.x, z = hi.z and a ceiling at hi.y.

    The floor is the ground. The camera must be inside; walls use `side`, the ceiling `top`.
    """

    lo: Vec3
    hi: Vec3
    side: Material
    top: Material

    def window(self, camera: Camera, factor: int) -> tuple[slice, slice]:
        return camera.full_window(factor)

    def intersect(
        self, camera: Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | int]:
        with np.errstate(divide="ignore"):
            t_x = np.where(dx > 0, self.hi[0], -self.lo[0]) / np.abs(dx)
            t_y = np.where(dy > 0, (self.hi[1] - camera.height) / dy, np.inf)
        t_z = self.hi[2] / dz
        face = np.where((t_x <= t_y) & (t_x <= t_z), _entry(dx, 0, 1), np.where(t_y <= t_z, 2, 4))
        return np.minimum(np.minimum(t_x, t_y), t_z).astype(np.float32), face

    def patch(self, code: int, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> _Patch:
        u, v, size = _box_uv(self.lo, self.hi, code, x, y, z)
        return _Patch(_FACE_NORMALS[code], u, v, size, self.top if code == 2 else self.side)


@dataclass(frozen=True)
class Box:
    """A solid axis-aligned box [lo, hi]; `top` (default `side`) covers its horizontal faces."""

    lo: Vec3
    hi: Vec3
    side: Material
    top: Material | None = None

    def window(self, camera: Camera, factor: int) -> tuple[slice, slice]:
        return camera.window(self.lo, self.hi, factor)

    def intersect(
        self, camera: Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | int]:
        return _convex_hit(
            [
                (*_slab(0.0, dz, self.lo[2], self.hi[2]), _entry(dz, 4, 5)),
                (*_slab(0.0, dx, self.lo[0], self.hi[0]), _entry(dx, 0, 1)),
                (*_slab(camera.height, dy, self.lo[1], self.hi[1]), _entry(dy, 2, 3)),
            ]
        )

    def patch(self, code: int, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> _Patch:
        u, v, size = _box_uv(self.lo, self.hi, code, x, y, z)
        material = self.top if code in (2, 3) and self.top is not None else self.side
        return _Patch(_FACE_NORMALS[code], u, v, size, material)

    def occludes(
        self, x: np.ndarray, y: np.ndarray, z: np.ndarray, light: np.ndarray
    ) -> np.ndarray:
        """How much this blocks the ray from each point (x, y, z) to the light, in [0, 1]."""
        (nx, fx), (ny, fy), (nz, fz) = (
            _slab(p, s, a, b) for p, s, a, b in zip((x, y, z), light, self.lo, self.hi, strict=True)
        )
        near = np.maximum(np.maximum(np.maximum(nx, ny), nz), 0.0)
        far = np.minimum(np.minimum(fx, fy), fz)
        return np.clip((far - near) / _penumbra(near), 0.0, 1.0)


@dataclass(frozen=True)
class Cylinder:
    """A solid vertical cylinder around (x, z) = `centre`, from y0 to y1."""

    centre: tuple[float, float]
    radius: float
    y0: float
    y1: float
    side: Material
    top: Material | None = None

    @property
    def lo(self) -> Vec3:
        return (self.centre[0] - self.radius, self.y0, self.centre[1] - self.radius)

    @property
    def hi(self) -> Vec3:
        return (self.centre[0] + self.radius, self.y1, self.centre[1] + self.radius)

    def window(self, camera: Camera, factor: int) -> tuple[slice, slice]:
        return camera.window(self.lo, self.hi, factor)

    def intersect(
        self, camera: Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | int]:
        cx, cz = self.centre
        a = dx * dx + dz * dz
        b = dx * cx + dz * cz
        disc = b * b - a * (cx * cx + cz * cz - self.radius**2)
        root = np.sqrt(np.maximum(disc, 0.0))
        near = np.where(disc >= 0, (b - root) / a, np.inf)
        far = np.where(disc >= 0, (b + root) / a, -np.inf)
        return _convex_hit(
            [
                (near, far, _MANTLE),
                (*_slab(camera.height, dy, self.y0, self.y1), _entry(dy, 2, 3)),
            ]
        )

    def patch(self, code: int, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> _Patch:
        cx, cz = self.centre
        r = self.radius
        if code != _MANTLE:
            material = self.top if self.top is not None else self.side
            return _Patch(_FACE_NORMALS[code], x - cx + r, z - cz + r, (2 * r, 2 * r), material)
        nx, nz = (x - cx) / r, (z - cz) / r
        normal = np.stack([nx, np.zeros_like(nx), nz])
        u = (np.arctan2(nz, nx) + np.pi) * r
        return _Patch(normal, u, y - self.y0, (2 * np.pi * r, self.y1 - self.y0), self.side)

    def occludes(
        self, x: np.ndarray, y: np.ndarray, z: np.ndarray, light: np.ndarray
    ) -> np.ndarray:
        s0 = np.maximum((self.y0 - y) / light[1], 0.0)
        s1 = (self.y1 - y) / light[1]
        # Closest approach to the axis of the segment of the shadow ray inside [y0, y1].
        px, pz = self.centre[0] - x, self.centre[1] - z
        reach = light[0] ** 2 + light[2] ** 2
        s = np.clip((px * light[0] + pz * light[2]) / reach, s0, s1)
        gap = np.hypot(px - s * light[0], pz - s * light[2])
        return np.where(s1 > s0, np.clip((self.radius - gap) / _penumbra(s), 0.0, 1.0), 0.0)


@dataclass(frozen=True)
class Sphere:
    """A solid sphere (a tree's crown, a bush)."""

    centre: Vec3
    radius: float
    side: Material

    @property
    def lo(self) -> Vec3:
        return tuple(c - self.radius for c in self.centre)

    @property
    def hi(self) -> Vec3:
        return tuple(c + self.radius for c in self.centre)

    def window(self, camera: Camera, factor: int) -> tuple[slice, slice]:
        return camera.window(self.lo, self.hi, factor)

    def intersect(
        self, camera: Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | int]:
        cx, cy, cz = self.centre
        oy = cy - camera.height
        a = dx * dx + dy * dy + dz * dz
        b = dx * cx + dy * oy + dz * cz
        disc = b * b - a * (cx * cx + oy * oy + cz * cz - self.radius**2)
        t = np.where(disc >= 0, (b - np.sqrt(np.maximum(disc, 0.0))) / a, np.inf)
        return np.where(t > 0, t, np.inf).astype(np.float32), _SPHERE

    def patch(self, code: int, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> _Patch:
        cx, cy, cz = self.centre
        r = self.radius
        normal = np.stack([x - cx, y - cy, z - cz]) / r
        u = (np.arctan2(normal[2], normal[0]) + np.pi) * r
        return _Patch(normal, u, y - cy + r, (2 * np.pi * r, 2 * r), self.side)

    def occludes(
        self, x: np.ndarray, y: np.ndarray, z: np.ndarray, light: np.ndarray
    ) -> np.ndarray:
        px, py, pz = (c - p for c, p in zip(self.centre, (x, y, z), strict=True))
        s = np.maximum(px * light[0] + py * light[1] + pz * light[2], 0.0)
        gap = np.sqrt(
            (px - s * light[0]) ** 2 + (py - s * light[1]) ** 2 + (pz - s * light[2]) ** 2
        )
        return np.clip((self.radius - gap) / _penumbra(s), 0.0, 1.0)


Primitive = Ground | Shell | Box | Cylinder | Sphere
Caster = Box | Cylinder | Sphere


def _penumbra(distance: np.ndarray) -> np.ndarray:
    """Width (m) over which a shadow fades, `distance` metres from its caster: contact-hard."""
    return 0.02 + 0.03 * distance
