"""Furniture and street objects built from primitives, and where they are placed on the floor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datagen.builder.procedural.common import (
    SPINES,
    grey,
    hash,
    hsv_colour,
    lines,
    mix,
    random_colour,
    tinted,
)
from datagen.builder.procedural.scenes.camera import Vec3
from datagen.builder.procedural.scenes.materials import (
    Material,
    Surface,
    band,
    bark_material,
    detail,
    fabric_material,
    flat,
    foliage,
    glass_material,
    metal_material,
)
from datagen.builder.procedural.scenes.primitives import Box, Cylinder, Primitive, Sphere

Rect = tuple[float, float, float, float]
"""(x0, x1, z0, z1): a rectangle on the floor."""


@dataclass(frozen=True)
class Frame:
    """An object's placement: centre (x, z) on the ground, and the way its front faces.

    Local coordinates are a (across the front), y (up) and b (towards the front).
    """

    x: float
    z: float
    facing: tuple[int, int]
    """Unit (x, z) direction of the front: (0, -1) faces the camera."""

    def point(self, a: float, b: float) -> tuple[float, float]:
        """World (x, z) of local (a, b)."""
        fx, fz = self.facing
        return self.x + a * fz + b * fx, self.z - a * fx + b * fz

    def box(
        self,
        a: tuple[float, float],
        y: tuple[float, float],
        b: tuple[float, float],
        side: Material,
        top: Material | None = None,
    ) -> Box:
        """The box spanning local ranges a, y and b."""
        (x0, z0), (x1, z1) = self.point(a[0], b[0]), self.point(a[1], b[1])
        return Box((min(x0, x1), y[0], min(z0, z1)), (max(x0, x1), y[1], max(z0, z1)), side, top)

    @property
    def front_face(self) -> int:
        """Face code of a box face looking the way this frame faces."""
        return {(1, 0): 1, (-1, 0): 0, (0, 1): 5, (0, -1): 4}[self.facing]


def table(f: Frame, width: float, depth: float, height: float, wood: Material) -> list[Box]:
    """A top on four legs."""
    top = f.box((-width / 2, width / 2), (height - 0.05, height), (-depth / 2, depth / 2), wood)
    legs = [
        f.box((a - 0.03, a + 0.03), (0.0, height - 0.05), (b - 0.03, b + 0.03), wood)
        for a in (-width / 2 + 0.06, width / 2 - 0.06)
        for b in (-depth / 2 + 0.06, depth / 2 - 0.06)
    ]
    return [top, *legs]


def chair(f: Frame, seat: Material, frame: Material) -> list[Box]:
    """A small table with a cushion and a back."""
    parts = table(f, 0.44, 0.44, 0.46, frame)
    cushion = f.box((-0.21, 0.21), (0.46, 0.5), (-0.21, 0.21), seat)
    back = f.box((-0.22, 0.22), (0.5, 0.92), (-0.22, -0.18), frame)
    return [*parts, cushion, back]


def sofa(f: Frame, width: float, fabric: Material, plinth: Material) -> list[Box]:
    """Seat, back and arms on a dark plinth."""
    w = width / 2
    return [
        f.box((-w + 0.05, w - 0.05), (0.0, 0.1), (-0.4, 0.4), plinth),
        f.box((-w, w), (0.1, 0.45), (-0.45, 0.45), fabric),
        f.box((-w, w), (0.45, 0.9), (-0.45, -0.22), fabric),
        f.box((-w, -w + 0.22), (0.45, 0.65), (-0.45, 0.45), fabric),
        f.box((w - 0.22, w), (0.45, 0.65), (-0.45, 0.45), fabric),
    ]


def cabinet(f: Frame, size: Vec3, front: Material, body: Material) -> list[Box]:
    """One box of size (width, height, depth) whose front shows `front` (doors, shelves)."""
    w, h, d = size
    return [f.box((-w / 2, w / 2), (0.0, h), (-d / 2, d / 2), _facing(f, front, body))]


def _facing(f: Frame, front: Material, body: Material) -> Material:
    """`front` on the face looking along the frame's front, `body` elsewhere."""
    code = f.front_face

    def shade(s: Surface) -> np.ndarray:
        return front(s) if s.face == code else body(s)

    return shade


def doors_material(colour: np.ndarray, handle: np.ndarray, door_width: float) -> Material:
    """Cabinet doors: seams every door width, a handle on each, a dark plinth."""

    def shade(s: Surface) -> np.ndarray:
        width, height = s.size
        doors = max(round(width / door_width), 1)
        pitch = width / doors
        seams = lines(s.u, pitch, 0.012, s.footprint) + band(s.v, -1.0, 0.08, s.footprint)
        knob = band(s.u % pitch, pitch - 0.09, pitch - 0.06, s.footprint)
        knob *= band(s.v, 0.6 * height, 0.6 * height + 0.12, s.footprint)
        out = tinted(colour, 1.0 - 0.6 * np.clip(seams, 0, 1) + detail(s, 2, 2, 0.04))
        return mix(out, handle, knob)

    return shade


def shelves(frame: np.ndarray, item_size: tuple[float, float], shelf: float, salt: int) -> Material:
    """Shelving seen from the front: boards every `shelf` metres holding rows of books or boxes
    of random colours and heights, each up to `item_size` (width, height)."""

    def shade(s: Surface) -> np.ndarray:
        row = np.floor(s.v / shelf)
        slot = np.floor(s.u / item_size[0] + 7.3 * row)
        colour = SPINES[:, (hash(slot, row, salt) * SPINES.shape[1]).astype(int)]
        colour = colour * (0.6 + 0.6 * hash(slot, row, salt + 1))
        tall = item_size[1] * (0.6 + 0.4 * hash(slot, row, salt + 2))
        filled = band(s.v - row * shelf, 0.03, 0.03 + tall, s.footprint)
        gaps = lines(s.u, item_size[0], 0.006, s.footprint)
        out = mix(frame * 0.3, mix(colour, frame * 0.3, gaps), filled)
        board = lines(s.v, shelf, 0.05, s.footprint)
        sides = band(s.u, -np.inf, 0.03, s.footprint) + band(
            s.u, s.size[0] - 0.03, np.inf, s.footprint
        )
        return mix(out, frame, np.clip(board + sides, 0.0, 1.0))

    return shade


def plant(x: float, z: float, rng: np.random.Generator) -> list[Primitive]:
    """A leafy ball in a pot, on a stem when it stands high."""
    pot_r, pot_h = rng.uniform(0.14, 0.28), rng.uniform(0.25, 0.55)
    pot = flat(random_colour(rng, hue=(0.02, 0.1), sat=(0.2, 0.7), val=(0.35, 0.85)))
    leaves = foliage(random_colour(rng, hue=(0.22, 0.36), sat=(0.45, 0.8), val=(0.25, 0.55)))
    crown = rng.uniform(0.3, 0.6)
    top = pot_h + crown * rng.uniform(0.6, 1.3)
    parts: list[Primitive] = [Cylinder((x, z), pot_r, 0.0, pot_h, pot)]
    if top - crown > pot_h + 0.1:
        trunk = bark_material(random_colour(rng, hue=(0.05, 0.09), sat=(0.3, 0.5), val=(0.2, 0.4)))
        parts.append(Cylinder((x, z), 0.025, pot_h, top, trunk))
    parts.append(Sphere((x, top, z), crown, leaves))
    return parts


def floor_lamp(x: float, z: float, rng: np.random.Generator) -> list[Primitive]:
    """Base, pole and a pale shade."""
    metal = metal_material(grey(rng, 0.1, 0.7))
    shade = fabric_material(
        random_colour(rng, hue=(0.05, 0.15), sat=(0.05, 0.4), val=(0.75, 0.95)) * 1.5
    )
    height = rng.uniform(1.4, 1.8)
    return [
        Cylinder((x, z), 0.16, 0.0, 0.03, metal),
        Cylinder((x, z), 0.015, 0.03, height, metal),
        Cylinder((x, z), rng.uniform(0.16, 0.25), height - 0.3, height, shade),
    ]


def crate_stack(x: float, z: float, rng: np.random.Generator, wood: Material) -> list[Box]:
    """One to three cubic crates, stacked a little askew."""
    size = rng.uniform(0.5, 1.1)
    stack = []
    for level in range(rng.integers(1, 4)):
        cx, cz = np.array([x, z]) + rng.uniform(-0.05, 0.05, 2)
        lo = (cx - size / 2, level * size, cz - size / 2)
        stack.append(Box(lo, (lo[0] + size, lo[1] + size, lo[2] + size), wood))
    return stack


def tree(
    x: float, z: float, rng: np.random.Generator, scale: float = 1.0, lobes: int = 5
) -> list[Primitive]:
    """A trunk under a crown of 2 to `lobes` leafy spheres."""
    trunk_h = rng.uniform(1.8, 3.2) * scale
    bark = bark_material(random_colour(rng, hue=(0.05, 0.09), sat=(0.2, 0.45), val=(0.15, 0.35)))
    leaves = foliage(random_colour(rng, hue=(0.18, 0.36), sat=(0.4, 0.8), val=(0.2, 0.5)))
    crown = rng.uniform(1.2, 2.0) * scale
    top = trunk_h + crown * 0.8
    parts: list[Primitive] = [Cylinder((x, z), 0.12 * scale + 0.04, 0.0, top, bark)]
    for _ in range(rng.integers(2, lobes + 1)):
        r = crown * rng.uniform(0.5, 0.75)
        offset = rng.normal(0.0, 0.45, 3) * (crown - r * 0.5)
        centre = (x + offset[0], top + offset[1] * 0.7, z + offset[2])
        parts.append(Sphere(centre, r, leaves))
    return parts


def bench(f: Frame, wood: Material, metal: Material) -> list[Box]:
    """A slatted seat and back on two metal legs."""
    return [
        f.box((-0.8, 0.8), (0.42, 0.47), (-0.22, 0.22), wood),
        f.box((-0.8, 0.8), (0.55, 0.85), (-0.25, -0.21), wood),
        *(f.box((a - 0.03, a + 0.03), (0.0, 0.55), (-0.22, 0.2), metal) for a in (-0.65, 0.65)),
    ]


def lamp_post(x: float, z: float, arm: float, metal: Material, glow: Material) -> list[Primitive]:
    """A pole with a lamp head reaching `arm` metres along x."""
    height = 4.5
    return [
        Cylinder((x, z), 0.07, 0.0, height, metal),
        Box(
            (min(x, x + arm) - 0.1, height - 0.25, z - 0.15),
            (max(x, x + arm) + 0.1, height, z + 0.15),
            glow,
        ),
    ]


def car(x: float, z: float, rng: np.random.Generator) -> list[Box]:
    """A car along z: body, glass cabin and dark wheel blocks at the axles."""
    length, width = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9)
    paint = metal_material(random_colour(rng, sat=(0.0, 0.8), val=(0.15, 0.9)))
    glass = glass_material(hsv_colour(0.58, 0.2, 0.6), hsv_colour(0.6, 0.2, 0.12), (1, 1))
    tyre = flat(grey(rng, 0.05, 0.12))
    roof = rng.uniform(1.35, 1.6)
    cab0, cab1 = z - length * rng.uniform(0.1, 0.3), z + length * rng.uniform(0.15, 0.3)
    parts = [
        Box((x - width / 2, 0.3, z - length / 2), (x + width / 2, 0.95, z + length / 2), paint),
        Box((x - width / 2 + 0.1, 0.95, cab0), (x + width / 2 - 0.1, roof, cab1), glass, paint),
    ]
    for axle in (z - length * 0.32, z + length * 0.32):
        parts.append(
            Box(
                (x - width / 2 - 0.03, 0.0, axle - 0.33),
                (x + width / 2 + 0.03, 0.62, axle + 0.33),
                tyre,
            )
        )
    return parts


class Floorplan:
    """Hands out footprints on the floor that do not overlap the ones already taken."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.taken: list[Rect] = []

    def claim(
        self, xs: tuple[float, float], zs: tuple[float, float], w: float, d: float
    ) -> tuple[float, float] | None:
        """A centre (x, z) in xs x zs for a w x d footprint, or None if none was found."""
        if xs[1] - xs[0] < w or zs[1] - zs[0] < d:
            return None
        for _ in range(25):
            x = self.rng.uniform(xs[0] + w / 2, xs[1] - w / 2)
            z = self.rng.uniform(zs[0] + d / 2, zs[1] - d / 2)
            rect = (x - w / 2, x + w / 2, z - d / 2, z + d / 2)
            if all(
                r[1] < rect[0] or rect[1] < r[0] or r[3] < rect[2] or rect[3] < r[2]
                for r in self.taken
            ):
                self.taken.append(rect)
                return x, z
        return None
