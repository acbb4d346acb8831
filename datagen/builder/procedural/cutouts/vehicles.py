"""Cutouts of vehicles seen from the side: cars, vans and bikes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datagen.builder.procedural.common import (
    grey,
    hsv_colour,
    mix,
    random_colour,
    smoothstep,
    tinted,
)
from datagen.builder.procedural.cutouts.raster import Part
from datagen.builder.procedural.cutouts.shapes import (
    capsule,
    circle,
    cut,
    ellipse,
    polygon,
    rbox,
    ring,
    union,
)
from datagen.builder.procedural.cutouts.textures import Texture, plain


def _glass_texture(tint: np.ndarray) -> Texture:
    """Tinted glass: a vertical gradient and a diagonal reflection streak."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        streak = smoothstep(0.12, 0.0, np.abs(((x + y * 0.8) * 1.3) % 1.0 - 0.5))
        return mix(tint * 0.4, tint * 1.6 + 0.15, smoothstep(0.8, 1.5, y) * 0.5 + 0.5 * streak)

    return texture


def _wheel(cx: float, r: float, rim: np.ndarray, rng: np.random.Generator) -> list[Part]:
    """A tyre of radius r standing on the ground at x = cx, around a spoked hub."""
    spokes = int(rng.integers(5, 8))

    def hub(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        angle = np.arctan2(y - r, x - cx)
        ribs = 0.5 + 0.5 * np.cos(angle * spokes)
        radius = np.hypot(x - cx, y - r)
        return tinted(rim, 0.55 + 0.45 * smoothstep(0.3, 0.7, ribs) * (radius > r * 0.18))

    return [
        Part(circle(cx, r, r), plain(grey(rng, 0.01, 0.04), 0.2, 40), r * 0.3),
        Part(circle(cx, r, r * 0.62), hub, r * 0.15, 0.5),
    ]


@dataclass(frozen=True)
class _CarStyle:
    """Side-view proportions of a car body, in metres (lengths along the car as fractions)."""

    length: float
    roof: float
    clearance: float
    wheel: float
    """Wheel radius."""
    cabin: tuple[tuple[float, float], ...]
    """Windscreen foot, front and back of the roof, rear window foot: (fraction of the length,
    fraction of the way from the waistline up to the roof)."""
    door: float
    """Where the door seam is, as a fraction of the length."""


_CAR_STYLES = {
    "sedan": _CarStyle(4.6, 1.45, 0.22, 0.34, ((0.78, 0), (0.6, 1), (0.36, 1), (0.18, 0.1)), 0.52),
    "hatch": _CarStyle(4.0, 1.5, 0.22, 0.34, ((0.75, 0), (0.58, 1), (0.12, 1), (0.03, 0.1)), 0.52),
    "suv": _CarStyle(4.7, 1.75, 0.32, 0.4, ((0.8, 0), (0.68, 1), (0.05, 1), (0.0, 0.1)), 0.52),
    "sports": _CarStyle(4.4, 1.2, 0.22, 0.32, ((0.72, 0), (0.52, 1), (0.35, 1), (0.12, 0.1)), 0.52),
    "van": _CarStyle(5.2, 2.2, 0.22, 0.34, ((0.9, 0), (0.8, 1), (0.02, 1), (0.0, 0.1)), 0.7),
}


def draw_vehicle(rng: np.random.Generator, kind: str) -> list[Part]:
    """A car (sedan, hatchback, SUV, sports car) or a van from the side, facing right."""
    style = _CAR_STYLES[rng.choice(["sedan", "hatch", "suv", "sports"]) if kind == "car" else "van"]
    L = style.length * rng.uniform(0.92, 1.08)
    low, roof, r = style.clearance, style.roof, style.wheel
    belt = roof * rng.uniform(0.6, 0.66)
    cabin = [(f * L, belt + up * (roof - belt)) for f, up in style.cabin]
    body = [
        (0.02 * L, low),
        (0.98 * L, low),
        (L, low + 0.25),
        (0.99 * L, belt - 0.05),
        *cabin,
        (0.0, belt),
        (0.0, low + 0.25),
    ]
    glass = [
        (x + dx, y + dy)
        for (x, y), (dx, dy) in zip(
            cabin, [(-0.12, 0.06), (-0.08, -0.07), (0.08, -0.07), (0.1, 0.06)], strict=True
        )
    ]
    pillar = rbox((glass[1][0] + glass[2][0]) / 2 + 0.1, (belt + roof) / 2, 0.05, roof)
    paint = random_colour(rng, sat=(0.0, 0.85), val=(0.1, 0.9))
    front, back = 0.8 * L, 0.18 * L
    arches = union(circle(front, r, r * 1.12), circle(back, r, r * 1.12))
    bumpers = union(*(rbox(x * L, low + 0.08, 0.06, 0.08, 0.04) for x in (0.015, 0.985)))
    lamps = union(
        ellipse(0.985 * L, belt - 0.15, 0.07, 0.05), ellipse(0.015 * L, belt - 0.12, 0.05, 0.06)
    )
    seam = rbox(style.door * L, (low + belt) / 2, 0.008, (belt - low) / 2 - 0.05)
    handle = rbox((style.door - 0.04) * L, belt - 0.12, 0.07, 0.015, 0.01)
    rim = grey(rng, 0.4, 0.85)
    return [
        Part(polygon(body, 0.06), plain(paint, 0.04), 0.12, 0.45),
        Part(
            cut(polygon(glass, 0.03), pillar),
            _glass_texture(hsv_colour(0.58, 0.3, 0.45)),
            0.05,
            0.6,
        ),
        Part(arches, plain(paint * 0.15, 0.05), 0.05),
        Part(bumpers, plain(grey(rng, 0.02, 0.2)), 0.04, 0.3),
        Part(lamps, _car_lamps(L / 2), 0.03, 0.8),
        Part(union(seam, handle), plain(paint * 0.3), 0.01, 0.3),
        *_wheel(front, r, rim, rng),
        *_wheel(back, r, rim, rng),
    ]


def _car_lamps(middle: float) -> Texture:
    """White headlamps in front of x = `middle`, red tail lamps behind it."""
    head, tail = hsv_colour(0.12, 0.2, 1.0) * 1.5, hsv_colour(0.0, 0.9, 0.8)
    return lambda x, y, px: mix(head, tail, (np.broadcast_to(x, np.shape(x + y)) < middle) * 1.0)


def draw_bike(rng: np.random.Generator) -> list[Part]:
    """A bicycle from the side."""
    r, base = rng.uniform(0.3, 0.36), rng.uniform(1.0, 1.1)
    bb = (base * 0.42, r * 0.85)
    seat = (base * 0.3, r + rng.uniform(0.45, 0.6))
    head_top, head_bottom = (base * 0.88, seat[1] + 0.02), (base * 0.9, seat[1] - 0.15)
    rear, front = (0.0, r), (base, r)
    tube = rng.uniform(0.014, 0.022)
    frame = union(
        capsule(bb, seat, tube),
        capsule(seat, head_top, tube),
        capsule(bb, head_bottom, tube * 1.2),
        capsule(bb, rear, tube * 0.8),
        capsule(seat, rear, tube * 0.7),
        capsule(head_top, front, tube),
        capsule(head_top, (head_top[0] - 0.02, head_top[1] + 0.12), tube),
        capsule(
            (head_top[0] - 0.02, head_top[1] + 0.12),
            (head_top[0] - 0.14, head_top[1] + 0.14),
            tube * 0.9,
        ),
    )
    wheels = union(*(ring(cx, r, r - 0.025, 0.022) for cx in (0.0, base)))
    spokes = union(
        *(
            capsule((cx, r), (cx + (r - 0.04) * math.cos(a), r + (r - 0.04) * math.sin(a)), 0.003)
            for cx in (0.0, base)
            for a in np.linspace(0, 2 * np.pi, 16, endpoint=False)
        )
    )
    saddle = polygon(
        [
            (seat[0] - 0.12, seat[1] + 0.06),
            (seat[0] + 0.1, seat[1] + 0.07),
            (seat[0] + 0.1, seat[1] + 0.04),
            (seat[0] - 0.1, seat[1] + 0.02),
        ],
        0.015,
    )
    crank = union(
        circle(*bb, 0.07),
        capsule(bb, (bb[0] + 0.05, bb[1] - 0.15), 0.012),
        rbox(bb[0] + 0.05, bb[1] - 0.16, 0.045, 0.012, 0.005),
    )
    paint = random_colour(rng, sat=(0.3, 0.95), val=(0.15, 0.9))
    black = plain(grey(rng, 0.01, 0.04), 0.1)
    return [
        Part(spokes, plain(grey(rng, 0.5, 0.8)), 0.003, 0.5),
        Part(wheels, black, 0.02),
        Part(frame, plain(paint, 0.03), tube, 0.7),
        Part(crank, plain(grey(rng, 0.2, 0.6)), 0.02, 0.6),
        Part(
            union(saddle, capsule(seat, (seat[0] - 0.02, seat[1] + 0.04), 0.01)), black, 0.02, 0.3
        ),
    ]
