"""Cutouts of small objects and street furniture: bottles, vases, signs, cones, hydrants, bins,
suitcases.
"""

from __future__ import annotations

import math

import numpy as np

from datagen.builder.procedural.common import grey, hsv_colour, random_colour
from datagen.builder.procedural.cutouts.raster import Part
from datagen.builder.procedural.cutouts.shapes import (
    Shape,
    circle,
    clip_shape,
    lathe,
    polygon,
    rbox,
    union,
)
from datagen.builder.procedural.cutouts.textures import cloth, darker, plain, striped


def draw_bottle(rng: np.random.Generator) -> list[Part]:
    """A glass bottle with a striped label and a cap."""
    h, r = rng.uniform(0.2, 0.35), rng.uniform(0.03, 0.045)
    neck = r * rng.uniform(0.3, 0.45)
    shoulder = rng.uniform(0.5, 0.7)
    body = lathe(
        0.0,
        [
            (0.0, r * 0.9),
            (0.01, r),
            (h * shoulder, r),
            (h * (shoulder + 0.12), neck * 1.2),
            (h * 0.95, neck),
            (h, neck),
        ],
    )
    glass = random_colour(rng, hue=(0.1, 0.45), sat=(0.3, 0.9), val=(0.2, 0.7))
    label = clip_shape(body, rbox(0.0, h * shoulder * 0.55, r * 2, h * shoulder * 0.25))
    cap = rbox(0.0, h + 0.008, neck * 1.15, 0.012, 0.004)
    return [
        Part(body, plain(glass, 0.03), r * 0.9, 0.9),
        Part(label, striped(cloth(rng), cloth(rng), h * 0.1, math.pi / 2), r * 0.8, 0.1),
        Part(cap, plain(cloth(rng)), 0.006, 0.6),
    ]


def draw_vase(rng: np.random.Generator) -> list[Part]:
    """A glazed vase with a wavy profile, plain or banded."""
    h = rng.uniform(0.2, 0.6)
    radii = rng.uniform(0.25, 0.55, 5) * h * np.array([0.6, 1.0, 0.9, 0.5, 0.7])
    body = lathe(0.0, list(zip(np.linspace(0.0, h, 5), radii, strict=True)))
    glaze = random_colour(rng, sat=(0.2, 0.9), val=(0.2, 0.9))
    tex = (
        striped(glaze, cloth(rng), h * rng.uniform(0.05, 0.15), 0.0)
        if rng.random() < 0.5
        else plain(glaze, 0.05)
    )
    return [Part(body, tex, float(radii.max()), 0.8)]


def draw_sign(rng: np.random.Generator) -> list[Part]:
    """A road sign on a post: octagon, disc, triangle or panel, white-rimmed, maybe an arrow."""
    h, r = rng.uniform(2.0, 2.6), rng.uniform(0.3, 0.4)
    cy = h - r
    style = rng.choice(["octagon", "disc", "triangle", "panel"])
    shapes = {
        "octagon": lambda k: _regular_polygon(0.0, cy, r * k, 8, math.pi / 8),
        "disc": lambda k: circle(0.0, cy, r * k),
        "triangle": lambda k: _regular_polygon(0.0, cy, 1.2 * r * k, 3, math.pi / 2, 0.03 * k),
        "panel": lambda k: rbox(0.0, cy, r * 1.4 * k, r * 0.8 * k, 0.04),
    }[style]
    white = plain(grey(rng, 0.85, 0.95), 0.03)
    colour = plain(hsv_colour(rng.choice([0.0, 0.6, 0.35, 0.12]), 0.85, 0.75), 0.03)
    post = rbox(0.0, h / 2 - 0.2, 0.03, h / 2 - 0.2, 0.01)
    parts = [
        Part(post, plain(grey(rng, 0.3, 0.6), 0.03), 0.03, 0.5),
        Part(shapes(1.0), white, 0.03, 0.3),
        Part(shapes(0.85), colour, 0.02, 0.3),
    ]
    if style in ("disc", "panel"):
        arrow = [
            (-0.5, -0.08),
            (0.1, -0.08),
            (0.1, -0.3),
            (0.55, 0),
            (0.1, 0.3),
            (0.1, 0.08),
            (-0.5, 0.08),
        ]
        parts.append(Part(polygon([(x * r, cy + y * r) for x, y in arrow]), white, 0.01))
    return parts


def _regular_polygon(
    cx: float, cy: float, r: float, sides: int, turn: float, rounding: float = 0.0
) -> Shape:
    """A regular polygon with corners on a circle of radius r, the first at angle `turn`."""
    angles = turn + np.arange(sides) * (2 * np.pi / sides)
    return polygon(
        list(zip(cx + r * np.cos(angles), cy + r * np.sin(angles), strict=True)), rounding
    )


def draw_cone(rng: np.random.Generator) -> list[Part]:
    """An orange traffic cone with white bands, on its square base."""
    h = rng.uniform(0.45, 0.75)
    body = lathe(0.0, [(0.03, h * 0.22), (h, h * 0.05)])
    orange = hsv_colour(rng.uniform(0.02, 0.08), 0.9, 0.95)
    bands = striped(orange, grey(rng, 0.85, 0.95), h * 0.3, 0.0)
    base = rbox(0.0, 0.02, h * 0.3, 0.02, 0.01)
    return [Part(base, plain(orange * 0.6), 0.02), Part(body, bands, h * 0.12, 0.3)]


def draw_hydrant(rng: np.random.Generator) -> list[Part]:
    """A fire hydrant: barrel, domed cap, side nozzles and flanges."""
    paint = plain(random_colour(rng, hue=(-0.03, 0.15), sat=(0.7, 0.95), val=(0.5, 0.9)), 0.08)
    body = union(
        rbox(0.0, 0.35, 0.11, 0.3, 0.05),
        circle(0.0, 0.65, 0.1),
        rbox(0.0, 0.76, 0.025, 0.03, 0.01),
    )
    nozzles = union(rbox(0.0, 0.48, 0.19, 0.045, 0.02), circle(0.0, 0.36, 0.07))
    flange = union(rbox(0.0, 0.03, 0.16, 0.03, 0.01), rbox(0.0, 0.6, 0.14, 0.025, 0.01))
    return [
        Part(nozzles, darker(paint, 0.8), 0.04, 0.4),
        Part(body, paint, 0.1, 0.4),
        Part(flange, darker(paint, 0.9), 0.02, 0.4),
    ]


def draw_bin(rng: np.random.Generator) -> list[Part]:
    """A ribbed wheelie bin with its lid."""
    h, w = rng.uniform(0.8, 1.1), rng.uniform(0.5, 0.7)
    colour = random_colour(rng, sat=(0.0, 0.7), val=(0.1, 0.6))
    body = polygon([(-w * 0.42, 0.0), (w * 0.42, 0.0), (w / 2, h * 0.9), (-w / 2, h * 0.9)], 0.02)
    lid = rbox(0.0, h * 0.93, w * 0.53, h * 0.05, 0.02)
    wheels = union(*(circle(s * w * 0.35, 0.05, 0.06) for s in (-1, 1)))
    return [
        Part(wheels, plain(grey(rng, 0.01, 0.04)), 0.03),
        Part(body, striped(colour, colour * 0.7, 0.08, math.pi / 2), 0.1, 0.2),
        Part(lid, plain(colour * 0.8), 0.03, 0.3),
    ]


def draw_suitcase(rng: np.random.Generator) -> list[Part]:
    """A ribbed hard-shell suitcase with a pull handle and wheels."""
    h, w = rng.uniform(0.5, 0.75), rng.uniform(0.35, 0.5)
    colour = random_colour(rng, sat=(0.0, 0.9), val=(0.1, 0.9))
    body = rbox(0.0, h / 2 + 0.04, w / 2, h / 2, 0.05)
    handle = union(
        rbox(-0.06, h + 0.1, 0.012, 0.06),
        rbox(0.06, h + 0.1, 0.012, 0.06),
        rbox(0.0, h + 0.16, 0.075, 0.015, 0.01),
    )
    wheels = union(*(circle(s * (w / 2 - 0.05), 0.03, 0.03) for s in (-1, 1)))
    return [
        Part(union(handle, wheels), plain(grey(rng, 0.02, 0.1)), 0.012, 0.5),
        Part(body, striped(colour, colour * 0.75, 0.06, math.pi / 2), 0.06, 0.5),
    ]
