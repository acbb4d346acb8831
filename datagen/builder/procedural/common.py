"""Helpers shared by scenes and cutouts: seeding, noise, hashing, colour, tone mapping.

Colours are linear-light RGB float32; colours of many samples are stored channel first,
``(3, ...)``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np


def asset_rng(seed: int, index: int, salt: int) -> np.random.Generator:
    """The generator of one asset: a pure function of (seed, index, salt)."""
    return np.random.default_rng([salt, index % 2**64, seed % 2**64])


def pick_kind(seed: int, index: int, kinds: Sequence[str], salt: int) -> str:
    """Deal kinds like cards: each run of len(kinds) consecutive indices holds every kind once."""
    block, slot = divmod(index, len(kinds))
    order = asset_rng(seed, block, salt).permutation(len(kinds))
    return kinds[order[slot]]


_TILE = 256


@functools.cache
def _noise_tile(exponent: float) -> tuple[np.ndarray, ...]:
    """A tileable 256 x 256 field of 1/f**exponent noise with mean 0.5, clipped to [0, 1].

    Returned flattened, four times: as is, and shifted by one texel right, down, and both
    (wrapping), so that a bilinear lookup is four gathers at the same index.
    """
    rng = np.random.default_rng(0x7E57)
    freq = np.fft.fftfreq(_TILE)
    radius = np.hypot(freq[:, None], freq[None, :])
    radius[0, 0] = np.inf
    spectrum = np.fft.fft2(rng.standard_normal((_TILE, _TILE))) * radius**-exponent
    noise = np.fft.ifft2(spectrum).real
    noise = np.clip(0.5 + 0.17 * (noise - noise.mean()) / noise.std(), 0.0, 1.0)
    right, down = np.roll(noise, -1, axis=1), np.roll(noise, -1, axis=0)
    corners = (noise, right, down, np.roll(right, -1, axis=0))
    return tuple(c.astype(np.float32).ravel() for c in corners)


_SMOOTH, _ROUGH = 1.1, 0.6
"""Spectral exponents of smooth (cloudy) and rough (grainy) noise."""


def _texel(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Flat index of the tile texel holding (u, v), wrapping around."""
    return (v.astype(np.int64) & (_TILE - 1)) * _TILE + (u.astype(np.int64) & (_TILE - 1))


def value_noise(u: np.ndarray, v: np.ndarray, rough: bool = False) -> np.ndarray:
    """Smooth (or, if rough, grainy) noise in [0, 1] at texel coordinates (u, v); period 256."""
    u, v = np.broadcast_arrays(np.asarray(u, np.float32), np.asarray(v, np.float32))
    u0, v0 = np.floor(u), np.floor(v)
    fu, fv = u - u0, v - v0
    a, b, c, d = (plane.take(_texel(u0, v0)) for plane in _noise_tile(_ROUGH if rough else _SMOOTH))
    top = a + (b - a) * fu
    return top + (c + (d - c) * fu - top) * fv


def speckle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rough noise read from the nearest texel: grain for surfaces sampled about once per texel."""
    return _noise_tile(_ROUGH)[0].take(_texel(np.floor(u), np.floor(v)))


def hash(i: np.ndarray, j: np.ndarray, salt: int = 0) -> np.ndarray:
    """A uniform value in [0, 1) for every integer cell (i, j); cheap stateless integer hashing."""
    h = np.asarray(i).astype(np.int64).astype(np.uint32) * np.uint32(0x9E3779B1)
    h ^= np.asarray(j).astype(np.int64).astype(np.uint32) * np.uint32(0x85EBCA77)
    h ^= np.uint32(salt * 0x27D4EB2F & 0xFFFFFFFF)
    for shift, factor in ((15, 0x2C1B3C6D), (12, 0x297A2D39), (15, 0x165667B1)):
        h ^= h >> np.uint32(shift)
        h *= np.uint32(factor)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def channels(colour: np.ndarray, ndim: int) -> np.ndarray:
    """A (3,) colour shaped to broadcast against channel-first arrays with `ndim` sample axes.

    Colours of many samples are stored channel first, (3, ...), so numpy's inner loops run
    over samples rather than over three channels.
    """
    return colour.reshape(3, *([1] * ndim)) if colour.ndim == 1 else colour


def tinted(colour: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Colour times a per-sample factor, channel first."""
    return channels(colour, np.ndim(factor)) * factor


def mix(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Per-sample blend of colours a -> b (each (3,) or channel first) by t."""
    nd = np.ndim(t)
    a = channels(a, nd)
    return a + (channels(b, nd) - a) * t


def hsv_colour(hue: float, sat: float, val: float) -> np.ndarray:
    """Linear-light RGB of the sRGB colour with this hue (in turns), saturation and value."""
    rgb = np.clip(np.abs((hue * 6.0 + np.array([0.0, 4.0, 2.0])) % 6.0 - 3.0) - 1.0, 0.0, 1.0)
    return (val * (1.0 - sat + sat * rgb)).astype(np.float32) ** 2.2


SPINES = np.stack([hsv_colour(h, 0.55, 0.65) for h in np.arange(12) / 12], axis=1)
"""Twelve book-spine colours around the colour wheel, channel first (3, 12)."""


def random_colour(
    rng: np.random.Generator,
    hue: tuple[float, float] = (0.0, 1.0),
    sat: tuple[float, float] = (0.0, 1.0),
    val: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    return hsv_colour(rng.uniform(*hue) % 1.0, rng.uniform(*sat), rng.uniform(*val))


def encode(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> gamma-encoded uint8."""
    return (np.clip(linear, 0.0, 1.0) ** (1 / 2.2) * 255.0 + 0.5).astype(np.uint8)


def span(lo: float, hi: float, n: int) -> slice:
    return slice(min(max(math.floor(lo) - 1, 0), n), min(max(math.ceil(hi) + 1, 0), n))


def lines(coord: np.ndarray, period: float, width: float, footprint: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of lines `width` wide every `period`, fading to their mean far away."""
    dist = np.abs((coord / period + 0.5) % 1.0 - 0.5) * period
    sharp = np.clip((0.5 * width - dist) / np.maximum(footprint, 1e-4) + 0.5, 0.0, 1.0)
    fade = smoothstep(0.2, 0.7, footprint / period)
    return sharp + (width / period - sharp) * fade


def tone_map(x: np.ndarray) -> np.ndarray:
    """Identity below 0.8, then a soft shoulder that never quite reaches 1."""
    return np.where(x < 0.8, x, 1.0 - 0.2 * np.exp((0.8 - x) / 0.2))


def wood_colour(rng: np.random.Generator) -> np.ndarray:
    return random_colour(rng, hue=(0.04, 0.1), sat=(0.35, 0.7), val=(0.25, 0.75))


def paint_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.25:
        return random_colour(rng, sat=(0.3, 0.55), val=(0.5, 0.8))
    return random_colour(rng, sat=(0.03, 0.3), val=(0.65, 0.95))


def fabric_colour(rng: np.random.Generator) -> np.ndarray:
    return random_colour(rng, sat=(0.15, 0.7), val=(0.2, 0.8))


def grey(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    return random_colour(rng, sat=(0.0, 0.08), val=(lo, hi))
