"""Rendering a scene's world: ray casting, adaptive supersampling, shading, shadows, sky, and
developing linear light into an image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from datagen.builder.procedural.common import (
    channels,
    encode,
    mix,
    smoothstep,
    tinted,
    tone_map,
    value_noise,
)
from datagen.builder.procedural.scenes.camera import Camera
from datagen.builder.procedural.scenes.lighting import Lighting
from datagen.builder.procedural.scenes.materials import Surface
from datagen.builder.procedural.scenes.primitives import (
    Box,
    Caster,
    Cylinder,
    Primitive,
    Sphere,
)


@dataclass(frozen=True)
class World:
    """Everything a scene is rendered from; `casters` are the primitives that cast shadows."""

    camera: Camera
    lighting: Lighting
    primitives: tuple[Primitive, ...]
    casters: tuple[Caster, ...] = field(init=False)

    def __post_init__(self) -> None:
        casters = tuple(p for p in self.primitives if isinstance(p, Box | Cylinder | Sphere))
        object.__setattr__(self, "casters", casters)


@dataclass(frozen=True)
class _Grid:
    """Nearest hits of the rays of a factor-times grid, flattened row-major."""

    camera: Camera
    factor: int
    t: np.ndarray
    """Ray parameter (= Z-depth) of the hit, inf for the sky."""
    key: np.ndarray
    """8 * (primitive index + 1) + face code; below 8 for the sky."""

    def rays(self, index: np.ndarray) -> _Rays:
        """The rays of the given grid samples."""
        dx, dy, dz = self.camera.rays(self.factor)
        rows, cols = np.divmod(index, dx.shape[1])
        scale = 1.0 / (self.camera.focal * self.factor)
        return _Rays(self.t[index], self.key[index], dx[0, cols], dy[rows, 0], dz[0, cols], scale)


@dataclass(frozen=True)
class _Rays:
    """Some rays of a grid: hit distance and key, slopes, and metres per sample at distance 1."""

    t: np.ndarray
    key: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    dz: np.ndarray
    scale: float

    def subset(self, index: np.ndarray) -> _Rays:
        return _Rays(
            self.t[index],
            self.key[index],
            self.dx[index],
            self.dy[index],
            self.dz[index],
            self.scale,
        )

    def points(self, height: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points hit, for a camera `height` metres up."""
        return self.dx * self.t, height + self.dy * self.t, self.dz * self.t


def _cast(world: World, factor: int) -> _Grid:
    """Nearest hit of every ray of the factor-times grid."""
    dx, dy, dz = world.camera.rays(factor)
    shape = (dy.shape[0], dx.shape[1])
    best = np.full(shape, np.inf, np.float32)
    key = np.zeros(shape, np.int16)
    for k, prim in enumerate(world.primitives):
        rows, cols = prim.window(world.camera, factor)
        if rows.start == rows.stop or cols.start == cols.stop:
            continue
        t, face = prim.intersect(world.camera, dx[:, cols], dy[rows], dz[:, cols])
        nearer = t < best[rows, cols]
        np.copyto(best[rows, cols], t, where=nearer)
        np.copyto(key[rows, cols], 8 * (k + 1) + face, where=nearer, casting="unsafe")
    return _Grid(world.camera, factor, best.ravel(), key.ravel())


def render_world(world: World, max_depth: float) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, depth) of a world.

    Depth and a first colour come from one ray through each pixel centre. Pixels whose four
    sub-pixel rays (a twice finer grid) do not all hit the same face, or whose first colour
    stands out from a neighbour's, are then re-shaded as the mean of those four rays: colour
    is anti-aliased at the cost of four rays per pixel only where it matters.
    """
    size = world.camera.size
    centres = _cast(world, 1)
    colour = _shade(world, centres.rays(np.arange(size * size)))
    fine = _cast(world, 2)
    refine = np.flatnonzero(_mixed(fine.key, size) | _contrasty(colour, size))
    quads = _sub_pixels(refine, size)
    colour[:, refine] = _shade(world, fine.rays(quads.ravel())).reshape(3, -1, 4).mean(axis=2)
    rgb = _develop(colour.reshape(3, size, size), world.lighting)
    return rgb, np.minimum(centres.t, np.float32(max_depth)).reshape(size, size)


def _sub_pixels(pixels: np.ndarray, size: int) -> np.ndarray:
    """(n, 4) indices into the twice finer grid of the four samples inside each pixel."""
    rows, cols = np.divmod(pixels, size)
    top_left = 2 * rows * (2 * size) + 2 * cols
    return top_left[:, None] + np.array([0, 1, 2 * size, 2 * size + 1])


def _mixed(key: np.ndarray, size: int) -> np.ndarray:
    """Pixels whose 2 x 2 sub-pixel rays do not all hit the same face of the same primitive."""
    quads = key.reshape(size, 2, size, 2)
    first = quads[:, 0, :, 0]
    return (
        (first != quads[:, 0, :, 1]) | (first != quads[:, 1, :, 0]) | (first != quads[:, 1, :, 1])
    ).ravel()


def _contrasty(colour: np.ndarray, size: int, threshold: float = 0.05) -> np.ndarray:
    """Pixels whose perceived brightness differs from a neighbour's by more than `threshold`."""
    luma = (np.maximum(colour.reshape(3, size, size), 0.0).mean(axis=0) + 1e-4) ** (1 / 2.2)
    down = np.abs(np.diff(luma, axis=0)) > threshold
    right = np.abs(np.diff(luma, axis=1)) > threshold
    edge = np.zeros((size, size), bool)
    edge[:-1] |= down
    edge[1:] |= down
    edge[:, :-1] |= right
    edge[:, 1:] |= right
    return edge.ravel()


def _shade(world: World, rays: _Rays) -> np.ndarray:
    """Linear RGB, channel first (3, n), seen along rays.

    Rays are sorted by what they hit; each primitive face gets normals and albedo from its
    material, then all hits are lit together (one shadow pass) and hazed; misses see the sky.
    """
    order = np.argsort(rays.key, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(rays.key[order])) + 1)
    sky = groups.pop(0) if groups and rays.key[groups[0][0]] < 8 else np.empty(0, np.intp)
    hit = np.concatenate(groups) if groups else np.empty(0, np.intp)
    hits = rays.subset(hit)
    points = hits.points(world.camera.height)
    normal = np.empty((3, hit.size), np.float32)
    albedo = np.empty((3, hit.size), np.float32)
    start = 0
    for group in groups:
        prim, code = divmod(int(rays.key[group[0]]), 8)
        part = slice(start, start + group.size)
        normal[:, part], albedo[:, part] = _surface(
            world.primitives[prim - 1], code, hits.subset(part), world.camera.height
        )
        start += group.size
    out = np.empty((3, rays.t.size), np.float32)
    out[:, sky] = _sky(world.lighting, rays.subset(sky))
    fade = np.exp(-hits.t / world.lighting.haze)
    lit = albedo * _irradiance(world, normal, points)
    out[:, hit] = mix(world.lighting.horizon, lit, fade)
    return out


def _surface(
    prim: Primitive, code: int, rays: _Rays, height: float
) -> tuple[np.ndarray, np.ndarray]:
    """Normals and albedo (both channel first) of hits on one face of one primitive."""
    patch = prim.patch(code, *rays.points(height))
    normal = np.broadcast_to(channels(patch.normal, 1), (3, rays.t.size))
    slant = np.abs(normal[0] * rays.dx + normal[1] * rays.dy + normal[2] * rays.dz)
    length2 = rays.dx**2 + rays.dy**2 + rays.dz**2
    footprint = rays.t * length2 * rays.scale / np.maximum(slant, 0.1 * length2)
    return normal, patch.material(Surface(patch.u, patch.v, patch.size, footprint, code))


_SHADOW_RANGE = 60.0
"""Metres beyond which haze hides shadows, so none are cast."""


def _irradiance(world: World, normal: np.ndarray, points: tuple[np.ndarray, ...]) -> np.ndarray:
    """Lambert sun (or key light) with soft shadows, plus hemispherical ambient; channel first."""
    light = world.lighting
    facing = np.maximum(sum(light.sun[i] * normal[i] for i in range(3)), 0.0)
    tested = (facing > 0) & (points[2] < _SHADOW_RANGE)
    facing[tested] *= 1.0 - _shadow(world.casters, [p[tested] for p in points], light.sun)
    return tinted(light.ambient, 0.75 + 0.25 * normal[1]) + tinted(light.sun_colour, facing)


def _shadow(casters: Sequence[Caster], points: list[np.ndarray], sun: np.ndarray) -> np.ndarray:
    """How much each point's view of the sun is blocked, in [0, 1].

    Points are sorted by z once, so each caster only tests the slice of points its shadow can
    reach (its box swept away from the sun down to the ground).
    """
    order = np.argsort(points[2])
    x, y, z = (p[order] for p in points)
    shadow = np.zeros(x.size, np.float32)
    for caster in casters:
        (x0, x1), (z0, z1) = _shadow_reach(caster, sun)
        a, b = np.searchsorted(z, np.array([z0, z1], np.float32))
        near = a + np.flatnonzero((x[a:b] > x0) & (x[a:b] < x1) & (y[a:b] < caster.hi[1]))
        if near.size:
            block = caster.occludes(x[near], y[near], z[near], sun)
            shadow[near] = np.maximum(shadow[near], block)
    unsorted = np.empty_like(shadow)
    unsorted[order] = shadow
    return unsorted


def _shadow_reach(caster: Caster, sun: np.ndarray) -> tuple[tuple[float, float], ...]:
    """x and z ranges of the ground and anything above it that `caster` can shade."""
    reach = caster.hi[1] / sun[1]
    return tuple(
        (caster.lo[a] + min(0.0, -sun[a] * reach), caster.hi[a] + max(0.0, -sun[a] * reach))
        for a in (0, 2)
    )


def _sky(light: Lighting, rays: _Rays) -> np.ndarray:
    """Sky gradient with clouds on a distant plane and a glow around the sun."""
    dx, dy, dz = rays.dx, rays.dy, rays.dz
    norm = np.sqrt(dx * dx + dy * dy + dz * dz)
    elevation = dy / norm
    colour = mix(light.horizon, light.zenith, smoothstep(-0.05, 0.7, elevation) ** 0.7)
    if light.clouds > 0:
        reach = 1.0 / np.maximum(dy, 1e-3)
        u, v = dx * reach, dz * reach
        density = value_noise(u * 20.0 + 50.0, v * 20.0) + 0.35 * (
            value_noise(u * 70.0, v * 70.0 + 90) - 0.5
        )
        cover = smoothstep(1.0 - light.clouds, 1.15 - light.clouds, density)
        cover *= smoothstep(0.0, 0.2, elevation)
        cloud = tinted(light.horizon * 0.5 + light.sun_colour * 0.35, 0.8 + 0.6 * density)
        colour = mix(colour, cloud, cover * 0.9)
    facing = np.maximum((dx * light.sun[0] + dy * light.sun[1] + dz * light.sun[2]) / norm, 0.0)
    glow = 0.3 * facing**8 + 4.0 * facing**600
    return colour + tinted(light.sun_colour, glow * 0.3)


def _develop(image: np.ndarray, light: Lighting) -> np.ndarray:
    """Channel-first linear RGB (3, n, n) -> vignetted, tone-mapped, gamma-encoded (n, n, 3)."""
    n = image.shape[1]
    image = np.ascontiguousarray(image.transpose(1, 2, 0))
    r = (np.arange(n, dtype=np.float32) + 0.5) / n * 2.0 - 1.0
    image *= (1.0 - light.vignette * (r[:, None] ** 2 + r[None, :] ** 2) / 2.0)[..., None]
    return encode(tone_map(image * light.exposure))
