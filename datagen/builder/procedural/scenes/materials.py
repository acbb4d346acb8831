"""Materials of scene surfaces: albedo as a function of face coordinates (paint, wood, tiles,
bricks, glass, doors, facades...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from datagen.builder.procedural.common import (
    channels,
    grey,
    hash,
    hsv_colour,
    lines,
    mix,
    random_colour,
    smoothstep,
    speckle,
    tinted,
    value_noise,
)


@dataclass(frozen=True)
class Surface:
    """Samples on one face of one primitive, where a material is evaluated.

    Attributes:
        u: Metres along the face (world x or z on horizontal faces and walls).
        v: Metres up the face, or across it for horizontal faces.
        size: The face's extent along u and v (inf when unbounded).
        footprint: Metres one sample covers there; detail finer than this is faded out.
        face: The primitive's face code (see ``_FACE_NORMALS``).
    """

    u: np.ndarray
    v: np.ndarray
    size: tuple[float, float]
    footprint: np.ndarray
    face: int

    def subset(self, mask: np.ndarray) -> Surface:
        return Surface(self.u[mask], self.v[mask], self.size, self.footprint[mask], self.face)

    def local(self, u0: float, v0: float, u1: float, v1: float) -> Surface:
        """The same samples in the frame of the rectangle [u0, u1] x [v0, v1] of this face."""
        return Surface(self.u - u0, self.v - v0, (u1 - u0, v1 - v0), self.footprint, self.face)


Material = Callable[[Surface], np.ndarray]
"""Albedo (linear RGB, channel first (3, n)) of the samples on a surface."""


def detail(
    s: Surface, freq_u: float, freq_v: float, amount: float, rough: bool = False
) -> np.ndarray:
    """Zero-mean noise of the given frequency (texels per metre), faded where samples outgrow it."""
    fade = np.clip(1.5 - s.footprint * max(freq_u, freq_v), 0.0, 1.0)
    noise = (
        speckle(s.u * freq_u, s.v * freq_v) if rough else value_noise(s.u * freq_u, s.v * freq_v)
    )
    return (noise - 0.5) * (2.0 * amount) * fade


def band(coord: np.ndarray, lo: float, hi: float, footprint: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of the band lo <= coord <= hi."""
    fp = np.maximum(footprint, 1e-4)
    return np.clip((coord - lo) / fp + 0.5, 0.0, 1.0) * np.clip((hi - coord) / fp + 0.5, 0.0, 1.0)


@dataclass(frozen=True)
class _Cells:
    """A running-bond grid of cells (tiles, bricks, planks) over a surface."""

    i: np.ndarray
    j: np.ndarray
    joint: np.ndarray
    """Coverage of the joints between cells (grout, mortar, gaps), anti-aliased."""


def _cells(
    u: np.ndarray,
    v: np.ndarray,
    footprint: np.ndarray,
    size: tuple[float, float],
    joint: float,
    stagger: float | None = 0.0,
) -> _Cells:
    """Cells of `size`, `joint` apart; each row shifts by `stagger` cells (None: at random)."""
    width, height = size
    j = np.floor(v / height)
    shift = hash(j, j, 77) if stagger is None else stagger * (j % 2)
    u = u + shift * width
    i = np.floor(u / width)
    du = np.minimum(u - i * width, (i + 1) * width - u)
    dv = np.minimum(v - j * height, (j + 1) * height - v)
    fp = np.maximum(footprint, 1e-4)
    sharp = np.clip((0.5 * joint - np.minimum(du, dv)) / fp + 0.5, 0.0, 1.0)
    mean = min(joint * (1 / width + 1 / height), 1.0)
    fade = smoothstep(0.15, 0.6, footprint / min(width, height))
    return _Cells(i, j, sharp + (mean - sharp) * fade)


def flat(colour: np.ndarray, mottle: float = 0.06) -> Material:
    """Paint or plastic: one colour with faint large-scale mottling."""

    def shade(s: Surface) -> np.ndarray:
        return tinted(colour, 1.0 + detail(s, 1.5, 1.5, mottle))

    return shade


def wood_material(colour: np.ndarray) -> Material:
    """Wood with grain streaks running along u."""

    def shade(s: Surface) -> np.ndarray:
        grain = speckle(s.u * 3.0, s.v * 90.0) - 0.5
        fade = np.clip(1.5 - s.footprint * 60.0, 0.0, 1.0)
        return tinted(colour, 1.0 + 0.5 * grain * fade + detail(s, 2.0, 2.0, 0.08))

    return shade


def fabric_material(colour: np.ndarray) -> Material:
    def shade(s: Surface) -> np.ndarray:
        weave = detail(s, 120.0, 120.0, 0.12, rough=True)
        return tinted(colour, 1.0 + weave + detail(s, 4.0, 4.0, 0.08))

    return shade


def foliage(colour: np.ndarray) -> Material:
    """Leafy clumps: high-contrast light and dark blotches."""

    def shade(s: Surface) -> np.ndarray:
        leaves = value_noise(s.u * 14.0, s.v * 14.0, rough=True)
        fade = np.clip(1.5 - s.footprint * 14.0, 0.0, 1.0)
        clumps = smoothstep(0.3, 0.7, value_noise(s.u * 2.5 + 31.0, s.v * 2.5))
        light = 0.55 + 0.5 * clumps + 0.9 * (leaves - 0.5) * fade
        return tinted(colour, light)

    return shade


def bark_material(colour: np.ndarray) -> Material:
    def shade(s: Surface) -> np.ndarray:
        return tinted(colour, 1.0 + detail(s, 40.0, 4.0, 0.45, rough=True))

    return shade


def metal_material(colour: np.ndarray) -> Material:
    """Painted metal with vertical streaks."""

    def shade(s: Surface) -> np.ndarray:
        return tinted(colour, 1.0 + detail(s, 30.0, 1.0, 0.08) + detail(s, 2.0, 2.0, 0.05))

    return shade


def tiles(
    colour: np.ndarray,
    other: np.ndarray | None,
    size: float,
    grout: np.ndarray,
    salt: int,
) -> Material:
    """Square tiles with grout; a checkerboard when `other` is given; each tile's tone jitters."""

    def shade(s: Surface) -> np.ndarray:
        cells = _cells(s.u, s.v, s.footprint, (size, size), 0.02)
        checker = (cells.i + cells.j) % 2 if other is not None else 0.0
        base = mix(colour, other if other is not None else colour, checker)
        tone = 0.9 + 0.2 * hash(cells.i, cells.j, salt) + detail(s, 3.0, 3.0, 0.05)
        return mix(tinted(base, tone), grout, cells.joint)

    return shade


def planks(colour: np.ndarray, width: float, length: float, salt: int) -> Material:
    """Floorboards running along v (the depth axis on the ground), with staggered ends."""

    def shade(s: Surface) -> np.ndarray:
        cells = _cells(s.v, s.u, s.footprint, (length, width), 0.004, stagger=None)
        tone = 0.75 + 0.5 * hash(cells.i, cells.j, salt)
        grain = detail(s, 80.0, 3.0, 0.25, rough=True)
        return mix(tinted(colour, tone + grain), colour * 0.25, cells.joint)

    return shade


def carpet(colour: np.ndarray) -> Material:
    def shade(s: Surface) -> np.ndarray:
        pile = 1.0 + detail(s, 150.0, 150.0, 0.2, rough=True) + detail(s, 1.0, 1.0, 0.1)
        return tinted(colour, pile)

    return shade


def concrete(colour: np.ndarray, slab: float) -> Material:
    """Poured concrete: blotchy, with saw-cut joints every `slab` metres."""

    def shade(s: Surface) -> np.ndarray:
        tone = 1.0 + detail(s, 0.8, 0.8, 0.25) + detail(s, 60.0, 60.0, 0.12, rough=True)
        cells = _cells(s.u, s.v, s.footprint, (slab, slab), 0.01)
        return mix(tinted(colour, tone), colour * 0.45, cells.joint)

    return shade


def asphalt(colour: np.ndarray) -> Material:
    def shade(s: Surface) -> np.ndarray:
        tone = 1.0 + detail(s, 0.5, 0.5, 0.35) + detail(s, 120.0, 120.0, 0.5, rough=True)
        return tinted(colour, tone)

    return shade


def grass_material(colour: np.ndarray, dry: np.ndarray) -> Material:
    def shade(s: Surface) -> np.ndarray:
        patches = smoothstep(0.35, 0.7, value_noise(s.u * 0.4, s.v * 0.4))
        blades = 1.0 + detail(s, 60.0, 60.0, 0.6, rough=True) + detail(s, 4.0, 4.0, 0.25)
        return mix(colour, dry, patches) * blades

    return shade


def speckled(colour: np.ndarray) -> Material:
    """Fine speckle: gravel, lino, terrazzo."""

    def shade(s: Surface) -> np.ndarray:
        stones = 1.0 + detail(s, 90.0, 90.0, 0.5, rough=True) + detail(s, 2.0, 2.0, 0.1)
        return tinted(colour, stones)

    return shade


def paving(colour: np.ndarray, size: tuple[float, float], salt: int) -> Material:
    """Stone setts or pavers in running bond."""

    def shade(s: Surface) -> np.ndarray:
        cells = _cells(s.u, s.v, s.footprint, size, 0.015, stagger=0.5)
        tone = 0.8 + 0.4 * hash(cells.i, cells.j, salt) + detail(s, 40.0, 40.0, 0.1, rough=True)
        return mix(tinted(colour, tone), colour * 0.35, cells.joint)

    return shade


def bricks(colour: np.ndarray, mortar: np.ndarray, salt: int) -> Material:
    def shade(s: Surface) -> np.ndarray:
        cells = _cells(s.u, s.v, s.footprint, (0.24, 0.08), 0.012, stagger=0.5)
        tone = 0.75 + 0.5 * hash(cells.i, cells.j, salt) + detail(s, 30.0, 30.0, 0.1, True)
        return mix(tinted(colour, tone), mortar, cells.joint)

    return shade


def corrugated(colour: np.ndarray) -> Material:
    """Ribbed metal cladding."""

    def shade(s: Surface) -> np.ndarray:
        ribs = np.cos(s.u * (2 * np.pi / 0.2)) * np.clip(1.5 - s.footprint * 10.0, 0.0, 1.0)
        seams = lines(s.u, 3.0, 0.03, s.footprint)
        tone = (1.0 + 0.18 * ribs + detail(s, 0.5, 2.0, 0.15)) * (1.0 - 0.5 * seams)
        return tinted(colour, tone)

    return shade


def stripes(colour: np.ndarray, other: np.ndarray, period: float) -> Material:
    """Striped wallpaper."""

    def shade(s: Surface) -> np.ndarray:
        stripe = band(s.u % period, 0.0, 0.5 * period, s.footprint)
        stripe += (0.5 - stripe) * smoothstep(0.2, 0.6, s.footprint / period)
        return mix(colour, other, stripe) * (1.0 + detail(s, 1.5, 1.5, 0.04))

    return shade


def with_skirting(wall: Material, skirting: np.ndarray, height: float) -> Material:
    """A wall with a skirting board along its foot."""

    def shade(s: Surface) -> np.ndarray:
        return mix(wall(s), skirting, band(s.v, -1.0, height, s.footprint))

    return shade


def zones(zone: Callable[[Surface], np.ndarray], materials: Sequence[Material]) -> Material:
    """Material `materials[k]` wherever `zone(s) == k` (e.g. road / kerb / pavement)."""

    def shade(s: Surface) -> np.ndarray:
        which = zone(s)
        out = np.empty((3, s.u.size), np.float32)
        for k, material in enumerate(materials):
            mask = which == k
            if mask.any():
                out[:, mask] = material(s.subset(mask))
        return out

    return shade


@dataclass(frozen=True)
class Marking:
    """A painted line on the ground along z at x = `x`, dashed when `dash` > 0."""

    x: float
    width: float
    colour: np.ndarray
    dash: float = 0.0


def with_markings(ground: Material, markings: Sequence[Marking]) -> Material:
    """`ground` with painted lines on it."""

    def shade(s: Surface) -> np.ndarray:
        out = ground(s)
        for mark in markings:
            paint = band(s.u, mark.x - mark.width / 2, mark.x + mark.width / 2, s.footprint)
            if mark.dash:
                paint *= band(s.v % mark.dash, 0.0, 0.5 * mark.dash, s.footprint)
            out = mix(out, tinted(mark.colour, 1.0 + detail(s, 20.0, 20.0, 0.1)), paint)
        return out

    return shade


@dataclass(frozen=True)
class Panel:
    """The rectangle [u0, u1] x [v0, v1] of face `face`, painted with its own material.

    The material sees the panel's own frame: u and v from its corner, size (u1 - u0, v1 - v0).
    """

    face: int
    u0: float
    v0: float
    u1: float
    v1: float
    material: Material


def with_panels(base: Material, panels: Sequence[Panel]) -> Material:
    """`base` with panels (windows, doors, pictures, lights) laid over it."""

    def shade(s: Surface) -> np.ndarray:
        out = base(s)
        for p in (p for p in panels if p.face == s.face):
            inside = (s.u > p.u0) & (s.u < p.u1) & (s.v > p.v0) & (s.v < p.v1)
            if inside.any():
                out[:, inside] = p.material(s.subset(inside).local(p.u0, p.v0, p.u1, p.v1))
        return out

    return shade


def framed(inner: Material, frame: np.ndarray, width: float) -> Material:
    """`inner` inside a frame `width` wide around the panel's edge."""

    def shade(s: Surface) -> np.ndarray:
        w, h = s.size
        edge = np.minimum(np.minimum(s.u, w - s.u), np.minimum(s.v, h - s.v))
        return mix(inner(s), frame, np.clip((width - edge) / np.maximum(s.footprint, 1e-4), 0, 1))

    return shade


def glass_material(sky: np.ndarray, ground: np.ndarray, mullions: tuple[int, int]) -> Material:
    """A window pane seen from indoors or outdoors: a bright reflection gradient, with mullions."""

    def shade(s: Surface) -> np.ndarray:
        w, h = s.size
        streak = smoothstep(0.3, 0.0, np.abs((s.u - 0.6 * s.v) / max(w, h) % 1.0 - 0.5))
        out = mix(ground, sky, smoothstep(0.0, 0.8, s.v / h)) * (1.0 + 0.3 * streak)
        bars = lines(s.u, w / mullions[0], 0.05, s.footprint) if mullions[0] > 1 else 0.0
        bars = np.maximum(bars, lines(s.v, h / mullions[1], 0.05, s.footprint))
        return mix(out, sky * 0.15, bars)

    return shade


def door_material(colour: np.ndarray, handle: np.ndarray) -> Material:
    """A panelled door with a handle."""

    def shade(s: Surface) -> np.ndarray:
        w, h = s.size
        recess = band(s.u, 0.15 * w, 0.85 * w, s.footprint) * (
            band(s.v, 0.1 * h, 0.45 * h, s.footprint) + band(s.v, 0.55 * h, 0.9 * h, s.footprint)
        )
        rim = band(s.u, 0.13 * w, 0.87 * w, s.footprint) - recess
        out = tinted(colour, 1.0 - 0.25 * np.clip(rim, 0, 1) + detail(s, 2.0, 2.0, 0.05))
        knob = band(s.u, 0.82 * w, 0.9 * w, s.footprint) * band(
            s.v, 0.47 * h, 0.52 * h, s.footprint
        )
        return mix(out, handle, knob)

    return shade


def picture(rng: np.random.Generator) -> Material:
    """A framed abstract painting: a few soft blobs of colour on a ground."""
    colours = [random_colour(rng, sat=(0.2, 0.8), val=(0.3, 0.95)) for _ in range(3)]
    offset = rng.uniform(0, 256, 2)

    def shade(s: Surface) -> np.ndarray:
        blob = value_noise(s.u * 6.0 + offset[0], s.v * 6.0 + offset[1])
        out = mix(colours[0], colours[1], smoothstep(0.45, 0.55, blob))
        return mix(out, colours[2], smoothstep(0.62, 0.66, blob))

    return framed(shade, hsv_colour(0.08, 0.4, 0.2), 0.04)


def light_panel(colour: np.ndarray) -> Material:
    def shade(s: Surface) -> np.ndarray:
        return np.broadcast_to(channels(colour * 2.5, 1), (3, s.u.size))

    return framed(shade, colour * 0.6, 0.03)


def lit_ceiling(
    rng: np.random.Generator, width: float, depth: float, light: tuple[float, float], rows: int
) -> Material:
    """A painted ceiling (face 2 of a shell) with `rows` rows of light panels running back."""
    pitch = rng.uniform(2.0, 3.5)
    lamp = light_panel(grey(rng, 0.9, 1.0))
    lights = [
        Panel(2, u - light[0] / 2, v, u + light[0] / 2, v + light[1], lamp)
        for u in np.linspace(0.0, width, rows + 2)[1:-1]
        for v in np.arange(1.5, depth, pitch)
    ]
    return with_panels(flat(grey(rng, 0.7, 0.95)), lights)


@dataclass(frozen=True)
class Opening:
    """A rectangle [u0, u1] x [v0, v1] (in bays and storeys) repeated on some facade cells."""

    where: Callable[[np.ndarray, np.ndarray, int], np.ndarray]
    """(column, row, number of bays) -> which cells have this opening."""
    rect: tuple[float, float, float, float]
    material: Material


def facade(wall: Material, openings: Sequence[Opening], storey: float, bay: float) -> Material:
    """A building face: `wall` with openings laid out on a grid of bays (centred) and storeys."""

    def shade(s: Surface) -> np.ndarray:
        out = wall(s)
        width, height = s.size
        bays = max(int(width // bay), 1)
        margin = (width - bays * bay) / 2
        col = np.floor((s.u - margin) / bay)
        row = np.floor(s.v / storey)
        cu = (s.u - margin) / bay - col
        cv = s.v / storey - row
        in_grid = (col >= 0) & (col < bays) & (row < np.floor(height / storey))
        for op in openings:
            u0, v0, u1, v1 = op.rect
            mask = (
                in_grid & op.where(col, row, bays) & (cu > u0) & (cu < u1) & (cv > v0) & (cv < v1)
            )
            if mask.any():
                size = ((u1 - u0) * bay, (v1 - v0) * storey)
                local = Surface(
                    (cu[mask] - u0) * bay, (cv[mask] - v0) * storey, size, s.footprint[mask], s.face
                )
                out[:, mask] = op.material(local)
        return out

    return shade
