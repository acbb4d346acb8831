"""Albedo textures of cutout parts, and the cloth palette shared by several kinds."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from datagen.builder.procedural.common import (
    grey,
    lines,
    mix,
    random_colour,
    smoothstep,
    tinted,
    value_noise,
)

Texture = Callable[[np.ndarray, np.ndarray, float], np.ndarray]
"""(x (1, w), y (h, 1), metres per pixel) -> albedo, channel first (3, h, w)."""


def plain(colour: np.ndarray, grain: float = 0.08, scale: float = 10.0) -> Texture:
    """One colour with a faint mottle (cloth, paint, skin)."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        return tinted(colour, 1.0 + grain * 2.0 * (value_noise(x * scale, y * scale) - 0.5))

    return texture


def striped(colour: np.ndarray, other: np.ndarray, period: float, angle: float = 0.0) -> Texture:
    """Stripes of `other` on `colour`, `period` metres apart, running at `angle` radians."""
    c, s = math.cos(angle), math.sin(angle)

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        stripe = lines(x * s + y * c, period, period * 0.4, px)
        return mix(colour, other, stripe) * (1.0 + 0.1 * (value_noise(x * 10, y * 10) - 0.5))

    return texture


def _checked(colour: np.ndarray, other: np.ndarray, period: float) -> Texture:
    """Tartan-like checks: crossing translucent bands."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        cross = lines(x, period, period * 0.35, px) + lines(y, period, period * 0.35, px)
        return mix(colour, other, 0.45 * cross)

    return texture


def furry(colour: np.ndarray, angle: float, grain: float = 0.35) -> Texture:
    """Fur or feathers: fine streaks along `angle`, and soft darker patches."""
    c, s = math.cos(angle), math.sin(angle)

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        along, across = x * c + y * s, y * c - x * s
        fade = min(1.0, 0.004 / px)
        streaks = value_noise(along * 15.0, across * 160.0, rough=True) - 0.5
        return tinted(
            colour, 1.0 + grain * 2.0 * fade * streaks + 0.3 * (value_noise(x * 5, y * 5) - 0.5)
        )

    return texture


def patched(base: Texture, other: np.ndarray, scale: float, cover: float, seed: float) -> Texture:
    """`base` with blotches of `other` (spots, patches) covering about `cover` of it."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        blobs = value_noise(x * scale + seed, y * scale + 2 * seed)
        mask = smoothstep(1.0 - cover - 0.02, 1.0 - cover + 0.02, blobs * 0.8 + 0.1)
        return mix(base(x, y, px), other, mask)

    return texture


def fading(base: Texture, other: np.ndarray, y0: float, y1: float) -> Texture:
    """`base` blending into `other` from height y1 down to y0 (a pale belly, a dark sole)."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        height = np.broadcast_to(y, np.broadcast_shapes(np.shape(x), np.shape(y)))
        return mix(base(x, y, px), other, smoothstep(y1, y0, height))

    return texture


def grain_texture(colour: np.ndarray, vertical: bool = True) -> Texture:
    """Wood: fine streaks along the piece."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        along, across = (y, x) if vertical else (x, y)
        streaks = value_noise(across * 120.0, along * 6.0, rough=True) - 0.5
        return tinted(colour, 1.0 + 0.5 * streaks + 0.15 * (value_noise(x * 6, y * 6) - 0.5))

    return texture


def cloth(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.35:
        return grey(rng, 0.08, 0.95)
    return random_colour(rng, sat=(0.2, 0.85), val=(0.2, 0.9))


def cloth_texture(rng: np.random.Generator, colour: np.ndarray) -> Texture:
    """Plain, striped or checked fabric."""
    style = rng.choice(["plain", "plain", "plain", "stripes", "checks"])
    other = cloth(rng)
    if style == "stripes":
        return striped(colour, other, rng.uniform(0.02, 0.08), rng.choice([0.0, math.pi / 2]))
    if style == "checks":
        return _checked(colour, other, rng.uniform(0.03, 0.08))
    return plain(colour, 0.1, rng.uniform(20, 60))


def darker(texture: Texture, factor: float) -> Texture:
    """`texture` in shade (far legs, far ears)."""
    if factor == 1.0:
        return texture
    return lambda x, y, px: texture(x, y, px) * factor
