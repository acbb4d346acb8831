"""Built-in procedural asset set: bg scenes with exact depth, and RGBA fg cutouts.

When the user gives no asset folders, fgd composites these instead of photos. Everything is drawn
with numpy from ``np.random.default_rng([salt, index, seed])``: no downloads, no files, no global
state, so the bytes depend only on the arguments.

Scenes (:func:`render_scene`)
-----------------------------
A scene is a small world of analytic primitives (the ground plane, an optional room shell seen from
inside, axis-aligned boxes, vertical cylinders and spheres standing on the ground), ray cast for
every pixel at once.

Camera model. World axes are x right, y up, z forward; the ground is the plane y = 0. A pinhole
camera sits at (0, h, 0), h being the camera height in metres, and looks horizontally (no tilt,
no roll), turned by a small yaw about the vertical. Its focal length is f pixels and its principal
point is (size / 2, horizon_y): image rows grow downwards, and the row horizon_y is the ground's
vanishing line (an off-centre principal point, as a shifted lens gives). Pixel (col, row) covers
[col, col + 1) x [row, row + 1). In camera coordinates (X right, Y up, Z along the optical axis)
the ray through image point (px, py) has direction ((px - size / 2) / f, (horizon_y - py) / f, 1);
its Z component is 1, so the ray parameter of a hit *is* the hit's Z-depth.

Depth is the Z of the nearest hit on the ray through each pixel centre (col + 0.5, row + 0.5),
clipped to max_depth (sky, far ground). On visible ground it is exactly
``ground_k / (row + 0.5 - horizon_y)`` with ``ground_k = f * h``. Colour comes from the same rays,
then is anti-aliased by adaptive supersampling: a pixel whose four sub-pixel rays do not all hit
the same face, or whose colour stands out from a neighbour's, becomes the mean of those four rays
(in linear light, before tone mapping and gamma encoding). Depth stays exact at pixel centres.

Cutouts (:func:`render_cutout`)
-------------------------------
A cutout is a stack of parts (head, torso, wheel, seat...), each a 2D signed distance field built
from circles, ellipses, tapered capsules, rounded boxes, polygons and lathe profiles, combined with
(smooth) unions. Parts are composited back to front; alpha is the SDF's coverage over a 1.5 px
ramp, so edges are soft and the interior is opaque. Each part is shaded from a pseudo-3D normal
(a rounded bevel read off its distance to the edge), with its own colour and texture, a little rim
light, optional gloss, and a contact shadow on the parts behind it.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

_SCENE_SALT = 0x5CE4E
_SCENE_KIND_SALT = 0x5CE4F
_CUTOUT_SALT = 0xC0707
_CUTOUT_KIND_SALT = 0xC0708

# ------------------------------------------------------------------------------------------------
# Shared helpers: seeding, noise, hashing, colour
# ------------------------------------------------------------------------------------------------


def _rng(seed: int, index: int, salt: int) -> np.random.Generator:
    """The generator of one asset: a pure function of (seed, index, salt)."""
    return np.random.default_rng([salt, index % 2**64, seed % 2**64])


def _pick_kind(seed: int, index: int, kinds: Sequence[str], salt: int) -> str:
    """Deal kinds like cards: each run of len(kinds) consecutive indices holds every kind once."""
    block, slot = divmod(index, len(kinds))
    order = _rng(seed, block, salt).permutation(len(kinds))
    return kinds[order[slot]]


Vec3 = tuple[float, float, float]
_Rect = tuple[float, float, float, float]
"""(x0, x1, z0, z1): a rectangle on the floor."""

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


def _noise(u: np.ndarray, v: np.ndarray, rough: bool = False) -> np.ndarray:
    """Smooth (or, if rough, grainy) noise in [0, 1] at texel coordinates (u, v); period 256."""
    u, v = np.broadcast_arrays(np.asarray(u, np.float32), np.asarray(v, np.float32))
    u0, v0 = np.floor(u), np.floor(v)
    fu, fv = u - u0, v - v0
    a, b, c, d = (plane.take(_texel(u0, v0)) for plane in _noise_tile(_ROUGH if rough else _SMOOTH))
    top = a + (b - a) * fu
    return top + (c + (d - c) * fu - top) * fv


def _speckle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rough noise read from the nearest texel: grain for surfaces sampled about once per texel."""
    return _noise_tile(_ROUGH)[0].take(_texel(np.floor(u), np.floor(v)))


def _hash(i: np.ndarray, j: np.ndarray, salt: int = 0) -> np.ndarray:
    """A uniform value in [0, 1) for every integer cell (i, j); cheap stateless integer hashing."""
    h = np.asarray(i).astype(np.int64).astype(np.uint32) * np.uint32(0x9E3779B1)
    h ^= np.asarray(j).astype(np.int64).astype(np.uint32) * np.uint32(0x85EBCA77)
    h ^= np.uint32(salt * 0x27D4EB2F & 0xFFFFFFFF)
    for shift, factor in ((15, 0x2C1B3C6D), (12, 0x297A2D39), (15, 0x165667B1)):
        h ^= h >> np.uint32(shift)
        h *= np.uint32(factor)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _channels(colour: np.ndarray, ndim: int) -> np.ndarray:
    """A (3,) colour shaped to broadcast against channel-first arrays with `ndim` sample axes.

    Colours of many samples are stored channel first, (3, ...), so numpy's inner loops run
    over samples rather than over three channels.
    """
    return colour.reshape(3, *([1] * ndim)) if colour.ndim == 1 else colour


def _tint(colour: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Colour times a per-sample factor, channel first."""
    return _channels(colour, np.ndim(factor)) * factor


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Per-sample blend of colours a -> b (each (3,) or channel first) by t."""
    nd = np.ndim(t)
    a = _channels(a, nd)
    return a + (_channels(b, nd) - a) * t


def _colour(hue: float, sat: float, val: float) -> np.ndarray:
    """Linear-light RGB of the sRGB colour with this hue (in turns), saturation and value."""
    rgb = np.clip(np.abs((hue * 6.0 + np.array([0.0, 4.0, 2.0])) % 6.0 - 3.0) - 1.0, 0.0, 1.0)
    return (val * (1.0 - sat + sat * rgb)).astype(np.float32) ** 2.2


_SPINES = np.stack([_colour(h, 0.55, 0.65) for h in np.arange(12) / 12], axis=1)
"""Twelve book-spine colours around the colour wheel, channel first (3, 12)."""


def _random_colour(
    rng: np.random.Generator,
    hue: tuple[float, float] = (0.0, 1.0),
    sat: tuple[float, float] = (0.0, 1.0),
    val: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    return _colour(rng.uniform(*hue) % 1.0, rng.uniform(*sat), rng.uniform(*val))


def _encode(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> gamma-encoded uint8."""
    return (np.clip(linear, 0.0, 1.0) ** (1 / 2.2) * 255.0 + 0.5).astype(np.uint8)


# ------------------------------------------------------------------------------------------------
# Scenes: camera and rays
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """One procedural bg scene.

    Attributes:
        name: Stable id from index and kind, e.g. ``"proc-bg-017-street"``.
        rgb: (size, size, 3) uint8.
        depth: (size, size) float32 Z-depth in metres at pixel centres, in (0, max_depth].
        horizon_y: Image row of the ground plane's vanishing line (the principal point's row).
        ground_k: Focal length in pixels times camera height in metres: the ground at pixel row
            ``y`` has depth ``ground_k / (y + 0.5 - horizon_y)``.
    """

    name: str
    rgb: np.ndarray
    depth: np.ndarray
    horizon_y: float
    ground_k: float


@dataclass(frozen=True)
class _Camera:
    """Pinhole at (0, height, 0) looking horizontally, turned by `yaw`; see the module docstring."""

    size: int
    focal: float
    height: float
    horizon_y: float
    yaw: float = 0.0
    """Radians the camera is turned to the right (towards +x) about the vertical."""

    def rays(self, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World directions (dx, dy, dz) of the rays of a factor-times finer grid.

        Sample (row, col) of that grid sits at image point ((col + 0.5) / factor, (row + 0.5) /
        factor), so factor 1 gives the pixel centres. The direction is scaled so that its
        component along the optical axis is 1; dx and dz vary per column (1, n), dy per row
        (n, 1).
        """
        centres = (np.arange(self.size * factor, dtype=np.float64) + 0.5) / factor
        across = (centres - self.size / 2) / self.focal
        dy = (self.horizon_y - centres) / self.focal
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        dx, dz = c * across + s, c - s * across
        return (
            dx.astype(np.float32)[None, :],
            dy.astype(np.float32)[:, None],
            dz.astype(np.float32)[None, :],
        )

    def full_window(self, factor: int) -> tuple[slice, slice]:
        """All rows and columns of the factor-times grid."""
        n = self.size * factor
        return slice(0, n), slice(0, n)

    def window(self, lo: Vec3, hi: Vec3, factor: int) -> tuple[slice, slice]:
        """Rows and columns of the factor-times grid whose rays may meet the box [lo, hi], z > 0."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        cols, rows = [], []
        for x, y, z in itertools.product(*zip(lo, hi, strict=True)):
            across, ahead = c * x - s * z, max(s * x + c * z, 0.05)  # nothing behind is seen
            cols.append((self.size / 2 + self.focal * across / ahead) * factor)
            rows.append((self.horizon_y - self.focal * (y - self.height) / ahead) * factor)
        n = self.size * factor
        return _span(min(rows), max(rows), n), _span(min(cols), max(cols), n)


def _span(lo: float, hi: float, n: int) -> slice:
    return slice(min(max(math.floor(lo) - 1, 0), n), min(max(math.ceil(hi) + 1, 0), n))


def _random_camera(rng: np.random.Generator, size: int, max_yaw: float) -> _Camera:
    """Horizontal field of view 50-70 degrees, 1.2-1.8 m up, turned up to `max_yaw` degrees."""
    hfov = math.radians(rng.uniform(50.0, 70.0))
    return _Camera(
        size=size,
        focal=size / 2 / math.tan(hfov / 2),
        height=rng.uniform(1.2, 1.8),
        horizon_y=rng.uniform(0.3, 0.55) * size,
        yaw=math.radians(rng.uniform(-max_yaw, max_yaw)),
    )


# ------------------------------------------------------------------------------------------------
# Scenes: materials
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Surface:
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

    def subset(self, mask: np.ndarray) -> _Surface:
        return _Surface(self.u[mask], self.v[mask], self.size, self.footprint[mask], self.face)

    def local(self, u0: float, v0: float, u1: float, v1: float) -> _Surface:
        """The same samples in the frame of the rectangle [u0, u1] x [v0, v1] of this face."""
        return _Surface(self.u - u0, self.v - v0, (u1 - u0, v1 - v0), self.footprint, self.face)


Material = Callable[[_Surface], np.ndarray]
"""Albedo (linear RGB, channel first (3, n)) of the samples on a surface."""


def _detail(
    s: _Surface, freq_u: float, freq_v: float, amount: float, rough: bool = False
) -> np.ndarray:
    """Zero-mean noise of the given frequency (texels per metre), faded where samples outgrow it."""
    fade = np.clip(1.5 - s.footprint * max(freq_u, freq_v), 0.0, 1.0)
    noise = _speckle(s.u * freq_u, s.v * freq_v) if rough else _noise(s.u * freq_u, s.v * freq_v)
    return (noise - 0.5) * (2.0 * amount) * fade


def _band(coord: np.ndarray, lo: float, hi: float, footprint: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of the band lo <= coord <= hi."""
    fp = np.maximum(footprint, 1e-4)
    return np.clip((coord - lo) / fp + 0.5, 0.0, 1.0) * np.clip((hi - coord) / fp + 0.5, 0.0, 1.0)


def _lines(coord: np.ndarray, period: float, width: float, footprint: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of lines `width` wide every `period`, fading to their mean far away."""
    dist = np.abs((coord / period + 0.5) % 1.0 - 0.5) * period
    sharp = np.clip((0.5 * width - dist) / np.maximum(footprint, 1e-4) + 0.5, 0.0, 1.0)
    fade = _smoothstep(0.2, 0.7, footprint / period)
    return sharp + (width / period - sharp) * fade


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
    shift = _hash(j, j, 77) if stagger is None else stagger * (j % 2)
    u = u + shift * width
    i = np.floor(u / width)
    du = np.minimum(u - i * width, (i + 1) * width - u)
    dv = np.minimum(v - j * height, (j + 1) * height - v)
    fp = np.maximum(footprint, 1e-4)
    sharp = np.clip((0.5 * joint - np.minimum(du, dv)) / fp + 0.5, 0.0, 1.0)
    mean = min(joint * (1 / width + 1 / height), 1.0)
    fade = _smoothstep(0.15, 0.6, footprint / min(width, height))
    return _Cells(i, j, sharp + (mean - sharp) * fade)


def _flat(colour: np.ndarray, mottle: float = 0.06) -> Material:
    """Paint or plastic: one colour with faint large-scale mottling."""

    def shade(s: _Surface) -> np.ndarray:
        return _tint(colour, 1.0 + _detail(s, 1.5, 1.5, mottle))

    return shade


def _wood(colour: np.ndarray) -> Material:
    """Wood with grain streaks running along u."""

    def shade(s: _Surface) -> np.ndarray:
        grain = _speckle(s.u * 3.0, s.v * 90.0) - 0.5
        fade = np.clip(1.5 - s.footprint * 60.0, 0.0, 1.0)
        return _tint(colour, 1.0 + 0.5 * grain * fade + _detail(s, 2.0, 2.0, 0.08))

    return shade


def _fabric(colour: np.ndarray) -> Material:
    def shade(s: _Surface) -> np.ndarray:
        weave = _detail(s, 120.0, 120.0, 0.12, rough=True)
        return _tint(colour, 1.0 + weave + _detail(s, 4.0, 4.0, 0.08))

    return shade


def _foliage(colour: np.ndarray) -> Material:
    """Leafy clumps: high-contrast light and dark blotches."""

    def shade(s: _Surface) -> np.ndarray:
        leaves = _noise(s.u * 14.0, s.v * 14.0, rough=True)
        fade = np.clip(1.5 - s.footprint * 14.0, 0.0, 1.0)
        clumps = _smoothstep(0.3, 0.7, _noise(s.u * 2.5 + 31.0, s.v * 2.5))
        light = 0.55 + 0.5 * clumps + 0.9 * (leaves - 0.5) * fade
        return _tint(colour, light)

    return shade


def _bark(colour: np.ndarray) -> Material:
    def shade(s: _Surface) -> np.ndarray:
        return _tint(colour, 1.0 + _detail(s, 40.0, 4.0, 0.45, rough=True))

    return shade


def _metal(colour: np.ndarray) -> Material:
    """Painted metal with vertical streaks."""

    def shade(s: _Surface) -> np.ndarray:
        return _tint(colour, 1.0 + _detail(s, 30.0, 1.0, 0.08) + _detail(s, 2.0, 2.0, 0.05))

    return shade


def _tiles(
    colour: np.ndarray,
    other: np.ndarray | None,
    size: float,
    grout: np.ndarray,
    salt: int,
) -> Material:
    """Square tiles with grout; a checkerboard when `other` is given; each tile's tone jitters."""

    def shade(s: _Surface) -> np.ndarray:
        cells = _cells(s.u, s.v, s.footprint, (size, size), 0.02)
        checker = (cells.i + cells.j) % 2 if other is not None else 0.0
        base = _mix(colour, other if other is not None else colour, checker)
        tone = 0.9 + 0.2 * _hash(cells.i, cells.j, salt) + _detail(s, 3.0, 3.0, 0.05)
        return _mix(_tint(base, tone), grout, cells.joint)

    return shade


def _planks(colour: np.ndarray, width: float, length: float, salt: int) -> Material:
    """Floorboards running along v (the depth axis on the ground), with staggered ends."""

    def shade(s: _Surface) -> np.ndarray:
        cells = _cells(s.v, s.u, s.footprint, (length, width), 0.004, stagger=None)
        tone = 0.75 + 0.5 * _hash(cells.i, cells.j, salt)
        grain = _detail(s, 80.0, 3.0, 0.25, rough=True)
        return _mix(_tint(colour, tone + grain), colour * 0.25, cells.joint)

    return shade


def _carpet(colour: np.ndarray) -> Material:
    def shade(s: _Surface) -> np.ndarray:
        pile = 1.0 + _detail(s, 150.0, 150.0, 0.2, rough=True) + _detail(s, 1.0, 1.0, 0.1)
        return _tint(colour, pile)

    return shade


def _concrete(colour: np.ndarray, slab: float) -> Material:
    """Poured concrete: blotchy, with saw-cut joints every `slab` metres."""

    def shade(s: _Surface) -> np.ndarray:
        tone = 1.0 + _detail(s, 0.8, 0.8, 0.25) + _detail(s, 60.0, 60.0, 0.12, rough=True)
        cells = _cells(s.u, s.v, s.footprint, (slab, slab), 0.01)
        return _mix(_tint(colour, tone), colour * 0.45, cells.joint)

    return shade


def _asphalt(colour: np.ndarray) -> Material:
    def shade(s: _Surface) -> np.ndarray:
        tone = 1.0 + _detail(s, 0.5, 0.5, 0.35) + _detail(s, 120.0, 120.0, 0.5, rough=True)
        return _tint(colour, tone)

    return shade


def _grass(colour: np.ndarray, dry: np.ndarray) -> Material:
    def shade(s: _Surface) -> np.ndarray:
        patches = _smoothstep(0.35, 0.7, _noise(s.u * 0.4, s.v * 0.4))
        blades = 1.0 + _detail(s, 60.0, 60.0, 0.6, rough=True) + _detail(s, 4.0, 4.0, 0.25)
        return _mix(colour, dry, patches) * blades

    return shade


def _speckled(colour: np.ndarray) -> Material:
    """Fine speckle: gravel, lino, terrazzo."""

    def shade(s: _Surface) -> np.ndarray:
        stones = 1.0 + _detail(s, 90.0, 90.0, 0.5, rough=True) + _detail(s, 2.0, 2.0, 0.1)
        return _tint(colour, stones)

    return shade


def _paving(colour: np.ndarray, size: tuple[float, float], salt: int) -> Material:
    """Stone setts or pavers in running bond."""

    def shade(s: _Surface) -> np.ndarray:
        cells = _cells(s.u, s.v, s.footprint, size, 0.015, stagger=0.5)
        tone = 0.8 + 0.4 * _hash(cells.i, cells.j, salt) + _detail(s, 40.0, 40.0, 0.1, rough=True)
        return _mix(_tint(colour, tone), colour * 0.35, cells.joint)

    return shade


def _bricks(colour: np.ndarray, mortar: np.ndarray, salt: int) -> Material:
    def shade(s: _Surface) -> np.ndarray:
        cells = _cells(s.u, s.v, s.footprint, (0.24, 0.08), 0.012, stagger=0.5)
        tone = 0.75 + 0.5 * _hash(cells.i, cells.j, salt) + _detail(s, 30.0, 30.0, 0.1, True)
        return _mix(_tint(colour, tone), mortar, cells.joint)

    return shade


def _corrugated(colour: np.ndarray) -> Material:
    """Ribbed metal cladding."""

    def shade(s: _Surface) -> np.ndarray:
        ribs = np.cos(s.u * (2 * np.pi / 0.2)) * np.clip(1.5 - s.footprint * 10.0, 0.0, 1.0)
        seams = _lines(s.u, 3.0, 0.03, s.footprint)
        tone = (1.0 + 0.18 * ribs + _detail(s, 0.5, 2.0, 0.15)) * (1.0 - 0.5 * seams)
        return _tint(colour, tone)

    return shade


def _stripes(colour: np.ndarray, other: np.ndarray, period: float) -> Material:
    """Striped wallpaper."""

    def shade(s: _Surface) -> np.ndarray:
        stripe = _band(s.u % period, 0.0, 0.5 * period, s.footprint)
        stripe += (0.5 - stripe) * _smoothstep(0.2, 0.6, s.footprint / period)
        return _mix(colour, other, stripe) * (1.0 + _detail(s, 1.5, 1.5, 0.04))

    return shade


def _with_skirting(wall: Material, skirting: np.ndarray, height: float) -> Material:
    """A wall with a skirting board along its foot."""

    def shade(s: _Surface) -> np.ndarray:
        return _mix(wall(s), skirting, _band(s.v, -1.0, height, s.footprint))

    return shade


def _zones(zone: Callable[[_Surface], np.ndarray], materials: Sequence[Material]) -> Material:
    """Material `materials[k]` wherever `zone(s) == k` (e.g. road / kerb / pavement)."""

    def shade(s: _Surface) -> np.ndarray:
        which = zone(s)
        out = np.empty((3, s.u.size), np.float32)
        for k, material in enumerate(materials):
            mask = which == k
            if mask.any():
                out[:, mask] = material(s.subset(mask))
        return out

    return shade


@dataclass(frozen=True)
class _Marking:
    """A painted line on the ground along z at x = `x`, dashed when `dash` > 0."""

    x: float
    width: float
    colour: np.ndarray
    dash: float = 0.0


def _with_markings(ground: Material, markings: Sequence[_Marking]) -> Material:
    """`ground` with painted lines on it."""

    def shade(s: _Surface) -> np.ndarray:
        out = ground(s)
        for mark in markings:
            paint = _band(s.u, mark.x - mark.width / 2, mark.x + mark.width / 2, s.footprint)
            if mark.dash:
                paint *= _band(s.v % mark.dash, 0.0, 0.5 * mark.dash, s.footprint)
            out = _mix(out, _tint(mark.colour, 1.0 + _detail(s, 20.0, 20.0, 0.1)), paint)
        return out

    return shade


@dataclass(frozen=True)
class _Panel:
    """The rectangle [u0, u1] x [v0, v1] of face `face`, painted with its own material.

    The material sees the panel's own frame: u and v from its corner, size (u1 - u0, v1 - v0).
    """

    face: int
    u0: float
    v0: float
    u1: float
    v1: float
    material: Material


def _with_panels(base: Material, panels: Sequence[_Panel]) -> Material:
    """`base` with panels (windows, doors, pictures, lights) laid over it."""

    def shade(s: _Surface) -> np.ndarray:
        out = base(s)
        for p in (p for p in panels if p.face == s.face):
            inside = (s.u > p.u0) & (s.u < p.u1) & (s.v > p.v0) & (s.v < p.v1)
            if inside.any():
                out[:, inside] = p.material(s.subset(inside).local(p.u0, p.v0, p.u1, p.v1))
        return out

    return shade


def _framed(inner: Material, frame: np.ndarray, width: float) -> Material:
    """`inner` inside a frame `width` wide around the panel's edge."""

    def shade(s: _Surface) -> np.ndarray:
        w, h = s.size
        edge = np.minimum(np.minimum(s.u, w - s.u), np.minimum(s.v, h - s.v))
        return _mix(inner(s), frame, np.clip((width - edge) / np.maximum(s.footprint, 1e-4), 0, 1))

    return shade


def _glass(sky: np.ndarray, ground: np.ndarray, mullions: tuple[int, int]) -> Material:
    """A window pane seen from indoors or outdoors: a bright reflection gradient, with mullions."""

    def shade(s: _Surface) -> np.ndarray:
        w, h = s.size
        streak = _smoothstep(0.3, 0.0, np.abs((s.u - 0.6 * s.v) / max(w, h) % 1.0 - 0.5))
        out = _mix(ground, sky, _smoothstep(0.0, 0.8, s.v / h)) * (1.0 + 0.3 * streak)
        bars = _lines(s.u, w / mullions[0], 0.05, s.footprint) if mullions[0] > 1 else 0.0
        bars = np.maximum(bars, _lines(s.v, h / mullions[1], 0.05, s.footprint))
        return _mix(out, sky * 0.15, bars)

    return shade


def _door(colour: np.ndarray, handle: np.ndarray) -> Material:
    """A panelled door with a handle."""

    def shade(s: _Surface) -> np.ndarray:
        w, h = s.size
        recess = _band(s.u, 0.15 * w, 0.85 * w, s.footprint) * (
            _band(s.v, 0.1 * h, 0.45 * h, s.footprint) + _band(s.v, 0.55 * h, 0.9 * h, s.footprint)
        )
        rim = _band(s.u, 0.13 * w, 0.87 * w, s.footprint) - recess
        out = _tint(colour, 1.0 - 0.25 * np.clip(rim, 0, 1) + _detail(s, 2.0, 2.0, 0.05))
        knob = _band(s.u, 0.82 * w, 0.9 * w, s.footprint) * _band(
            s.v, 0.47 * h, 0.52 * h, s.footprint
        )
        return _mix(out, handle, knob)

    return shade


def _picture(rng: np.random.Generator) -> Material:
    """A framed abstract painting: a few soft blobs of colour on a ground."""
    colours = [_random_colour(rng, sat=(0.2, 0.8), val=(0.3, 0.95)) for _ in range(3)]
    offset = rng.uniform(0, 256, 2)

    def shade(s: _Surface) -> np.ndarray:
        blob = _noise(s.u * 6.0 + offset[0], s.v * 6.0 + offset[1])
        out = _mix(colours[0], colours[1], _smoothstep(0.45, 0.55, blob))
        return _mix(out, colours[2], _smoothstep(0.62, 0.66, blob))

    return _framed(shade, _colour(0.08, 0.4, 0.2), 0.04)


def _light_panel(colour: np.ndarray) -> Material:
    def shade(s: _Surface) -> np.ndarray:
        return np.broadcast_to(_channels(colour * 2.5, 1), (3, s.u.size))

    return _framed(shade, colour * 0.6, 0.03)


def _lit_ceiling(
    rng: np.random.Generator, width: float, depth: float, light: tuple[float, float], rows: int
) -> Material:
    """A painted ceiling (face 2 of a shell) with `rows` rows of light panels running back."""
    pitch = rng.uniform(2.0, 3.5)
    lamp = _light_panel(_grey(rng, 0.9, 1.0))
    lights = [
        _Panel(2, u - light[0] / 2, v, u + light[0] / 2, v + light[1], lamp)
        for u in np.linspace(0.0, width, rows + 2)[1:-1]
        for v in np.arange(1.5, depth, pitch)
    ]
    return _with_panels(_flat(_grey(rng, 0.7, 0.95)), lights)


@dataclass(frozen=True)
class _Opening:
    """A rectangle [u0, u1] x [v0, v1] (in bays and storeys) repeated on some facade cells."""

    where: Callable[[np.ndarray, np.ndarray, int], np.ndarray]
    """(column, row, number of bays) -> which cells have this opening."""
    rect: tuple[float, float, float, float]
    material: Material


def _facade(wall: Material, openings: Sequence[_Opening], storey: float, bay: float) -> Material:
    """A building face: `wall` with openings laid out on a grid of bays (centred) and storeys."""

    def shade(s: _Surface) -> np.ndarray:
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
                local = _Surface(
                    (cu[mask] - u0) * bay, (cv[mask] - v0) * storey, size, s.footprint[mask], s.face
                )
                out[:, mask] = op.material(local)
        return out

    return shade


# ------------------------------------------------------------------------------------------------
# Scenes: primitives
# ------------------------------------------------------------------------------------------------

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
class _Ground:
    """The plane y = 0, seen from above."""

    material: Material

    def window(self, camera: _Camera, factor: int) -> tuple[slice, slice]:
        return camera.full_window(factor)

    def intersect(
        self, camera: _Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | int]:
        with np.errstate(divide="ignore"):
            t = np.where(dy < 0, camera.height / -dy, np.inf).astype(np.float32)
        return np.broadcast_to(t, (dy.shape[0], dx.shape[1])), 3

    def patch(self, code: int, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> _Patch:
        return _Patch(_FACE_NORMALS[3], x, z, (math.inf, math.inf), self.material)


@dataclass(frozen=True)
class _Shell:
    """A room seen from inside: walls at x = lo.x, x = hi.x, z = hi.z and a ceiling at hi.y.

    The floor is the ground. The camera must be inside; walls use `side`, the ceiling `top`.
    """

    lo: Vec3
    hi: Vec3
    side: Material
    top: Material

    def window(self, camera: _Camera, factor: int) -> tuple[slice, slice]:
        return camera.full_window(factor)

    def intersect(
        self, camera: _Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
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
class _Box:
    """A solid axis-aligned box [lo, hi]; `top` (default `side`) covers its horizontal faces."""

    lo: Vec3
    hi: Vec3
    side: Material
    top: Material | None = None

    def window(self, camera: _Camera, factor: int) -> tuple[slice, slice]:
        return camera.window(self.lo, self.hi, factor)

    def intersect(
        self, camera: _Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
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
class _Cylinder:
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

    def window(self, camera: _Camera, factor: int) -> tuple[slice, slice]:
        return camera.window(self.lo, self.hi, factor)

    def intersect(
        self, camera: _Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
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
class _Sphere:
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

    def window(self, camera: _Camera, factor: int) -> tuple[slice, slice]:
        return camera.window(self.lo, self.hi, factor)

    def intersect(
        self, camera: _Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
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


_Primitive = _Ground | _Shell | _Box | _Cylinder | _Sphere
_Caster = _Box | _Cylinder | _Sphere


# ------------------------------------------------------------------------------------------------
# Scenes: rendering
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lighting:
    """Sun (or key light), sky and atmosphere of one scene; colours are linear RGB."""

    sun: np.ndarray
    """Unit vector towards the light, pointing up."""
    sun_colour: np.ndarray
    ambient: np.ndarray
    zenith: np.ndarray
    horizon: np.ndarray
    clouds: float
    """Cloud cover in [0, 1]."""
    haze: float
    """Distance (m) at which haze has covered 63 % of a surface's colour."""
    exposure: float
    vignette: float


@dataclass(frozen=True)
class _World:
    """Everything a scene is rendered from; `casters` are the primitives that cast shadows."""

    camera: _Camera
    lighting: _Lighting
    primitives: tuple[_Primitive, ...]
    casters: tuple[_Caster, ...] = field(init=False)

    def __post_init__(self) -> None:
        casters = tuple(p for p in self.primitives if isinstance(p, _Box | _Cylinder | _Sphere))
        object.__setattr__(self, "casters", casters)


@dataclass(frozen=True)
class _Grid:
    """Nearest hits of the rays of a factor-times grid, flattened row-major."""

    camera: _Camera
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


def _cast(world: _World, factor: int) -> _Grid:
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


def _render(world: _World, max_depth: float) -> tuple[np.ndarray, np.ndarray]:
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


def _shade(world: _World, rays: _Rays) -> np.ndarray:
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
    out[:, hit] = _mix(world.lighting.horizon, lit, fade)
    return out


def _surface(
    prim: _Primitive, code: int, rays: _Rays, height: float
) -> tuple[np.ndarray, np.ndarray]:
    """Normals and albedo (both channel first) of hits on one face of one primitive."""
    patch = prim.patch(code, *rays.points(height))
    normal = np.broadcast_to(_channels(patch.normal, 1), (3, rays.t.size))
    slant = np.abs(normal[0] * rays.dx + normal[1] * rays.dy + normal[2] * rays.dz)
    length2 = rays.dx**2 + rays.dy**2 + rays.dz**2
    footprint = rays.t * length2 * rays.scale / np.maximum(slant, 0.1 * length2)
    return normal, patch.material(_Surface(patch.u, patch.v, patch.size, footprint, code))


_SHADOW_RANGE = 60.0
"""Metres beyond which haze hides shadows, so none are cast."""


def _irradiance(world: _World, normal: np.ndarray, points: tuple[np.ndarray, ...]) -> np.ndarray:
    """Lambert sun (or key light) with soft shadows, plus hemispherical ambient; channel first."""
    light = world.lighting
    facing = np.maximum(sum(light.sun[i] * normal[i] for i in range(3)), 0.0)
    tested = (facing > 0) & (points[2] < _SHADOW_RANGE)
    facing[tested] *= 1.0 - _shadow(world.casters, [p[tested] for p in points], light.sun)
    return _tint(light.ambient, 0.75 + 0.25 * normal[1]) + _tint(light.sun_colour, facing)


def _penumbra(distance: np.ndarray) -> np.ndarray:
    """Width (m) over which a shadow fades, `distance` metres from its caster: contact-hard."""
    return 0.02 + 0.03 * distance


def _shadow(casters: Sequence[_Caster], points: list[np.ndarray], sun: np.ndarray) -> np.ndarray:
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


def _shadow_reach(caster: _Caster, sun: np.ndarray) -> tuple[tuple[float, float], ...]:
    """x and z ranges of the ground and anything above it that `caster` can shade."""
    reach = caster.hi[1] / sun[1]
    return tuple(
        (caster.lo[a] + min(0.0, -sun[a] * reach), caster.hi[a] + max(0.0, -sun[a] * reach))
        for a in (0, 2)
    )


def _sky(light: _Lighting, rays: _Rays) -> np.ndarray:
    """Sky gradient with clouds on a distant plane and a glow around the sun."""
    dx, dy, dz = rays.dx, rays.dy, rays.dz
    norm = np.sqrt(dx * dx + dy * dy + dz * dz)
    elevation = dy / norm
    colour = _mix(light.horizon, light.zenith, _smoothstep(-0.05, 0.7, elevation) ** 0.7)
    if light.clouds > 0:
        reach = 1.0 / np.maximum(dy, 1e-3)
        u, v = dx * reach, dz * reach
        density = _noise(u * 20.0 + 50.0, v * 20.0) + 0.35 * (_noise(u * 70.0, v * 70.0 + 90) - 0.5)
        cover = _smoothstep(1.0 - light.clouds, 1.15 - light.clouds, density)
        cover *= _smoothstep(0.0, 0.2, elevation)
        cloud = _tint(light.horizon * 0.5 + light.sun_colour * 0.35, 0.8 + 0.6 * density)
        colour = _mix(colour, cloud, cover * 0.9)
    facing = np.maximum((dx * light.sun[0] + dy * light.sun[1] + dz * light.sun[2]) / norm, 0.0)
    glow = 0.3 * facing**8 + 4.0 * facing**600
    return colour + _tint(light.sun_colour, glow * 0.3)


def _develop(image: np.ndarray, light: _Lighting) -> np.ndarray:
    """Channel-first linear RGB (3, n, n) -> vignetted, tone-mapped, gamma-encoded (n, n, 3)."""
    n = image.shape[1]
    image = np.ascontiguousarray(image.transpose(1, 2, 0))
    r = (np.arange(n, dtype=np.float32) + 0.5) / n * 2.0 - 1.0
    image *= (1.0 - light.vignette * (r[:, None] ** 2 + r[None, :] ** 2) / 2.0)[..., None]
    return _encode(_tone_map(image * light.exposure))


def _tone_map(x: np.ndarray) -> np.ndarray:
    """Identity below 0.8, then a soft shoulder that never quite reaches 1."""
    return np.where(x < 0.8, x, 1.0 - 0.2 * np.exp((0.8 - x) / 0.2))


# ------------------------------------------------------------------------------------------------
# Scenes: palettes and lighting
# ------------------------------------------------------------------------------------------------


def _wood_colour(rng: np.random.Generator) -> np.ndarray:
    return _random_colour(rng, hue=(0.04, 0.1), sat=(0.35, 0.7), val=(0.25, 0.75))


def _paint_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.25:
        return _random_colour(rng, sat=(0.3, 0.55), val=(0.5, 0.8))
    return _random_colour(rng, sat=(0.03, 0.3), val=(0.65, 0.95))


def _fabric_colour(rng: np.random.Generator) -> np.ndarray:
    return _random_colour(rng, sat=(0.15, 0.7), val=(0.2, 0.8))


def _grey(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    return _random_colour(rng, sat=(0.0, 0.08), val=(lo, hi))


def _sun_direction(elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    el, az = math.radians(elevation_deg), math.radians(azimuth_deg)
    return np.array(
        [math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)], np.float32
    )


def _outdoor_lighting(rng: np.random.Generator) -> _Lighting:
    """Sunny, golden-hour, overcast or hazy daylight, the sun mostly behind or beside the camera."""
    mood = rng.choice(["sunny", "sunny", "golden", "overcast", "hazy"])
    azimuth = 180.0 + rng.uniform(-110.0, 110.0)
    zenith = _random_colour(rng, hue=(0.56, 0.63), sat=(0.45, 0.7), val=(0.7, 0.95))
    horizon = _random_colour(rng, hue=(0.55, 0.62), sat=(0.08, 0.25), val=(0.88, 1.0))
    sun_colour = _colour(rng.uniform(0.08, 0.13), rng.uniform(0.05, 0.2), 1.0) * 2.6
    elevation, clouds, haze = rng.uniform(30, 65), rng.uniform(0.0, 0.5), rng.uniform(150, 400)
    if mood == "golden":
        elevation = rng.uniform(10, 22)
        sun_colour = _colour(rng.uniform(0.06, 0.1), rng.uniform(0.35, 0.55), 1.0) * 2.4
        horizon = _colour(rng.uniform(0.04, 0.1), rng.uniform(0.25, 0.45), 1.0)
    elif mood == "overcast":
        sun_colour, clouds = sun_colour * 0.35, rng.uniform(0.75, 0.95)
        zenith = horizon = _grey(rng, 0.7, 0.9)
    elif mood == "hazy":
        haze = rng.uniform(60, 100)
        zenith = _mix(zenith, horizon, 0.5)
    return _Lighting(
        sun=_sun_direction(elevation, azimuth),
        sun_colour=sun_colour,
        ambient=_mix(horizon, zenith, 0.5) * rng.uniform(0.55, 0.75),
        zenith=zenith,
        horizon=horizon,
        clouds=clouds,
        haze=haze,
        exposure=rng.uniform(0.6, 0.8),
        vignette=rng.uniform(0.0, 0.3),
    )


def _indoor_lighting(rng: np.random.Generator) -> _Lighting:
    """A warm or cool key light from above plus soft fill; no sky is visible."""
    warm = rng.random() < 0.7
    tint = _colour(
        rng.uniform(0.06, 0.12) if warm else rng.uniform(0.55, 0.62), rng.uniform(0.0, 0.22), 1.0
    )
    return _Lighting(
        sun=_sun_direction(rng.uniform(40, 75), rng.uniform(0, 360)),
        sun_colour=tint * rng.uniform(1.0, 1.8),
        ambient=tint * rng.uniform(0.6, 0.9),
        zenith=tint,
        horizon=tint * 0.8,
        clouds=0.0,
        haze=rng.uniform(150, 400),
        exposure=rng.uniform(0.7, 0.9),
        vignette=rng.uniform(0.1, 0.45),
    )


# ------------------------------------------------------------------------------------------------
# Scenes: furniture and street objects
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
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
    ) -> _Box:
        """The box spanning local ranges a, y and b."""
        (x0, z0), (x1, z1) = self.point(a[0], b[0]), self.point(a[1], b[1])
        return _Box((min(x0, x1), y[0], min(z0, z1)), (max(x0, x1), y[1], max(z0, z1)), side, top)

    @property
    def front_face(self) -> int:
        """Face code of a box face looking the way this frame faces."""
        return {(1, 0): 1, (-1, 0): 0, (0, 1): 5, (0, -1): 4}[self.facing]


def _table(f: _Frame, width: float, depth: float, height: float, wood: Material) -> list[_Box]:
    """A top on four legs."""
    top = f.box((-width / 2, width / 2), (height - 0.05, height), (-depth / 2, depth / 2), wood)
    legs = [
        f.box((a - 0.03, a + 0.03), (0.0, height - 0.05), (b - 0.03, b + 0.03), wood)
        for a in (-width / 2 + 0.06, width / 2 - 0.06)
        for b in (-depth / 2 + 0.06, depth / 2 - 0.06)
    ]
    return [top, *legs]


def _chair(f: _Frame, seat: Material, frame: Material) -> list[_Box]:
    """A small table with a cushion and a back."""
    parts = _table(f, 0.44, 0.44, 0.46, frame)
    cushion = f.box((-0.21, 0.21), (0.46, 0.5), (-0.21, 0.21), seat)
    back = f.box((-0.22, 0.22), (0.5, 0.92), (-0.22, -0.18), frame)
    return [*parts, cushion, back]


def _sofa(f: _Frame, width: float, fabric: Material, plinth: Material) -> list[_Box]:
    """Seat, back and arms on a dark plinth."""
    w = width / 2
    return [
        f.box((-w + 0.05, w - 0.05), (0.0, 0.1), (-0.4, 0.4), plinth),
        f.box((-w, w), (0.1, 0.45), (-0.45, 0.45), fabric),
        f.box((-w, w), (0.45, 0.9), (-0.45, -0.22), fabric),
        f.box((-w, -w + 0.22), (0.45, 0.65), (-0.45, 0.45), fabric),
        f.box((w - 0.22, w), (0.45, 0.65), (-0.45, 0.45), fabric),
    ]


def _cabinet(f: _Frame, size: Vec3, front: Material, body: Material) -> list[_Box]:
    """One box of size (width, height, depth) whose front shows `front` (doors, shelves)."""
    w, h, d = size
    return [f.box((-w / 2, w / 2), (0.0, h), (-d / 2, d / 2), _facing(f, front, body))]


def _facing(f: _Frame, front: Material, body: Material) -> Material:
    """`front` on the face looking along the frame's front, `body` elsewhere."""
    code = f.front_face

    def shade(s: _Surface) -> np.ndarray:
        return front(s) if s.face == code else body(s)

    return shade


def _doors(colour: np.ndarray, handle: np.ndarray, door_width: float) -> Material:
    """Cabinet doors: seams every door width, a handle on each, a dark plinth."""

    def shade(s: _Surface) -> np.ndarray:
        width, height = s.size
        doors = max(round(width / door_width), 1)
        pitch = width / doors
        seams = _lines(s.u, pitch, 0.012, s.footprint) + _band(s.v, -1.0, 0.08, s.footprint)
        knob = _band(s.u % pitch, pitch - 0.09, pitch - 0.06, s.footprint)
        knob *= _band(s.v, 0.6 * height, 0.6 * height + 0.12, s.footprint)
        out = _tint(colour, 1.0 - 0.6 * np.clip(seams, 0, 1) + _detail(s, 2, 2, 0.04))
        return _mix(out, handle, knob)

    return shade


def _shelves(
    frame: np.ndarray, item_size: tuple[float, float], shelf: float, salt: int
) -> Material:
    """Shelving seen from the front: boards every `shelf` metres holding rows of books or boxes
    of random colours and heights, each up to `item_size` (width, height)."""

    def shade(s: _Surface) -> np.ndarray:
        row = np.floor(s.v / shelf)
        slot = np.floor(s.u / item_size[0] + 7.3 * row)
        colour = _SPINES[:, (_hash(slot, row, salt) * _SPINES.shape[1]).astype(int)]
        colour = colour * (0.6 + 0.6 * _hash(slot, row, salt + 1))
        tall = item_size[1] * (0.6 + 0.4 * _hash(slot, row, salt + 2))
        filled = _band(s.v - row * shelf, 0.03, 0.03 + tall, s.footprint)
        gaps = _lines(s.u, item_size[0], 0.006, s.footprint)
        out = _mix(frame * 0.3, _mix(colour, frame * 0.3, gaps), filled)
        board = _lines(s.v, shelf, 0.05, s.footprint)
        sides = _band(s.u, -np.inf, 0.03, s.footprint) + _band(
            s.u, s.size[0] - 0.03, np.inf, s.footprint
        )
        return _mix(out, frame, np.clip(board + sides, 0.0, 1.0))

    return shade


def _plant(x: float, z: float, rng: np.random.Generator) -> list[_Primitive]:
    """A leafy ball in a pot, on a stem when it stands high."""
    pot_r, pot_h = rng.uniform(0.14, 0.28), rng.uniform(0.25, 0.55)
    pot = _flat(_random_colour(rng, hue=(0.02, 0.1), sat=(0.2, 0.7), val=(0.35, 0.85)))
    leaves = _foliage(_random_colour(rng, hue=(0.22, 0.36), sat=(0.45, 0.8), val=(0.25, 0.55)))
    crown = rng.uniform(0.3, 0.6)
    top = pot_h + crown * rng.uniform(0.6, 1.3)
    parts: list[_Primitive] = [_Cylinder((x, z), pot_r, 0.0, pot_h, pot)]
    if top - crown > pot_h + 0.1:
        trunk = _bark(_random_colour(rng, hue=(0.05, 0.09), sat=(0.3, 0.5), val=(0.2, 0.4)))
        parts.append(_Cylinder((x, z), 0.025, pot_h, top, trunk))
    parts.append(_Sphere((x, top, z), crown, leaves))
    return parts


def _floor_lamp(x: float, z: float, rng: np.random.Generator) -> list[_Primitive]:
    """Base, pole and a pale shade."""
    metal = _metal(_grey(rng, 0.1, 0.7))
    shade = _fabric(_random_colour(rng, hue=(0.05, 0.15), sat=(0.05, 0.4), val=(0.75, 0.95)) * 1.5)
    height = rng.uniform(1.4, 1.8)
    return [
        _Cylinder((x, z), 0.16, 0.0, 0.03, metal),
        _Cylinder((x, z), 0.015, 0.03, height, metal),
        _Cylinder((x, z), rng.uniform(0.16, 0.25), height - 0.3, height, shade),
    ]


def _crate_stack(x: float, z: float, rng: np.random.Generator, wood: Material) -> list[_Box]:
    """One to three cubic crates, stacked a little askew."""
    size = rng.uniform(0.5, 1.1)
    stack = []
    for level in range(rng.integers(1, 4)):
        cx, cz = np.array([x, z]) + rng.uniform(-0.05, 0.05, 2)
        lo = (cx - size / 2, level * size, cz - size / 2)
        stack.append(_Box(lo, (lo[0] + size, lo[1] + size, lo[2] + size), wood))
    return stack


def _tree(
    x: float, z: float, rng: np.random.Generator, scale: float = 1.0, lobes: int = 5
) -> list[_Primitive]:
    """A trunk under a crown of 2 to `lobes` leafy spheres."""
    trunk_h = rng.uniform(1.8, 3.2) * scale
    bark = _bark(_random_colour(rng, hue=(0.05, 0.09), sat=(0.2, 0.45), val=(0.15, 0.35)))
    leaves = _foliage(_random_colour(rng, hue=(0.18, 0.36), sat=(0.4, 0.8), val=(0.2, 0.5)))
    crown = rng.uniform(1.2, 2.0) * scale
    top = trunk_h + crown * 0.8
    parts: list[_Primitive] = [_Cylinder((x, z), 0.12 * scale + 0.04, 0.0, top, bark)]
    for _ in range(rng.integers(2, lobes + 1)):
        r = crown * rng.uniform(0.5, 0.75)
        offset = rng.normal(0.0, 0.45, 3) * (crown - r * 0.5)
        centre = (x + offset[0], top + offset[1] * 0.7, z + offset[2])
        parts.append(_Sphere(centre, r, leaves))
    return parts


def _bench(f: _Frame, wood: Material, metal: Material) -> list[_Box]:
    """A slatted seat and back on two metal legs."""
    return [
        f.box((-0.8, 0.8), (0.42, 0.47), (-0.22, 0.22), wood),
        f.box((-0.8, 0.8), (0.55, 0.85), (-0.25, -0.21), wood),
        *(f.box((a - 0.03, a + 0.03), (0.0, 0.55), (-0.22, 0.2), metal) for a in (-0.65, 0.65)),
    ]


def _lamp_post(x: float, z: float, arm: float, metal: Material, glow: Material) -> list[_Primitive]:
    """A pole with a lamp head reaching `arm` metres along x."""
    height = 4.5
    return [
        _Cylinder((x, z), 0.07, 0.0, height, metal),
        _Box(
            (min(x, x + arm) - 0.1, height - 0.25, z - 0.15),
            (max(x, x + arm) + 0.1, height, z + 0.15),
            glow,
        ),
    ]


def _car(x: float, z: float, rng: np.random.Generator) -> list[_Box]:
    """A car along z: body, glass cabin and dark wheel blocks at the axles."""
    length, width = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9)
    paint = _metal(_random_colour(rng, sat=(0.0, 0.8), val=(0.15, 0.9)))
    glass = _glass(_colour(0.58, 0.2, 0.6), _colour(0.6, 0.2, 0.12), (1, 1))
    tyre = _flat(_grey(rng, 0.05, 0.12))
    roof = rng.uniform(1.35, 1.6)
    cab0, cab1 = z - length * rng.uniform(0.1, 0.3), z + length * rng.uniform(0.15, 0.3)
    parts = [
        _Box((x - width / 2, 0.3, z - length / 2), (x + width / 2, 0.95, z + length / 2), paint),
        _Box((x - width / 2 + 0.1, 0.95, cab0), (x + width / 2 - 0.1, roof, cab1), glass, paint),
    ]
    for axle in (z - length * 0.32, z + length * 0.32):
        parts.append(
            _Box(
                (x - width / 2 - 0.03, 0.0, axle - 0.33),
                (x + width / 2 + 0.03, 0.62, axle + 0.33),
                tyre,
            )
        )
    return parts


class _Floorplan:
    """Hands out footprints on the floor that do not overlap the ones already taken."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.taken: list[_Rect] = []

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


# ------------------------------------------------------------------------------------------------
# Scenes: layouts
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decor:
    """The coherent set of materials one interior is furnished with."""

    wood: Material
    fabric: Material
    accent: Material
    metal: Material
    dark: Material
    paint: np.ndarray
    handle: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Decor:
        """A random but coherent set: one wood, two fabrics, one metal, one wall paint."""
        return cls(
            wood=_wood(_wood_colour(rng)),
            fabric=_fabric(_fabric_colour(rng)),
            accent=_fabric(_fabric_colour(rng)),
            metal=_metal(_grey(rng, 0.1, 0.8)),
            dark=_flat(_grey(rng, 0.03, 0.1)),
            paint=_paint_colour(rng),
            handle=_grey(rng, 0.5, 0.9),
        )


def _window(rng: np.random.Generator, frame: np.ndarray) -> Material:
    """A framed window onto a bright sky over greenery."""
    sky = _random_colour(rng, hue=(0.52, 0.62), sat=(0.1, 0.4), val=(0.85, 1.0)) * 1.6
    ground = _random_colour(rng, hue=(0.15, 0.35), sat=(0.2, 0.5), val=(0.4, 0.7))
    mullions = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
    return _framed(_glass(sky, ground, mullions), frame, 0.06)


def _wall_panels(
    rng: np.random.Generator, face: int, span: tuple[float, float], ceiling: float, decor: _Decor
) -> list[_Panel]:
    """Windows, doors and pictures along one wall, left to right, not overlapping."""
    frame = _grey(rng, 0.6, 0.95)
    panels, u = [], span[0] + rng.uniform(0.2, 1.5)
    while True:
        kind = rng.choice(["window", "door", "picture", "gap"], p=[0.35, 0.2, 0.3, 0.15])
        width = {"window": (0.9, 2.0), "door": (0.8, 1.0), "picture": (0.4, 1.2), "gap": (0.3, 1.5)}
        w = rng.uniform(*width[kind])
        if u + w > span[1] - 0.2:
            return panels
        if kind == "window":
            panels.append(
                _Panel(face, u, 0.9, u + w, min(2.3, ceiling - 0.25), _window(rng, frame))
            )
        elif kind == "door":
            door = _framed(_door(_wood_colour(rng), decor.handle), frame, 0.06)
            panels.append(_Panel(face, u, 0.0, u + w, 2.05, door))
        elif kind == "picture":
            v0 = rng.uniform(1.2, 1.6)
            panels.append(_Panel(face, u, v0, u + w, v0 + w * rng.uniform(0.6, 1.2), _picture(rng)))
        u += w + rng.uniform(0.3, 1.8)


def _plain_wall(rng: np.random.Generator, decor: _Decor) -> Material:
    """Paint, striped wallpaper or bare brick, with a skirting board."""
    style = rng.choice(["paint", "paint", "stripes", "bricks"])
    if style == "stripes":
        wall = _stripes(decor.paint, decor.paint * rng.uniform(0.6, 0.85), rng.uniform(0.1, 0.4))
    elif style == "bricks":
        brick = _random_colour(rng, hue=(0.0, 0.07), sat=(0.4, 0.7), val=(0.35, 0.65))
        wall = _bricks(brick, _grey(rng, 0.5, 0.8), int(rng.integers(1 << 16)))
    else:
        wall = _flat(decor.paint, 0.04)
    return _with_skirting(wall, _grey(rng, 0.1, 0.95), rng.uniform(0.06, 0.15))


def _floor(rng: np.random.Generator, styles: Sequence[str]) -> Material:
    """An indoor floor in one of `styles`: planks, tiles, carpet, lino or concrete."""
    salt = int(rng.integers(1 << 16))
    style = rng.choice(styles)
    if style == "planks":
        return _planks(_wood_colour(rng), rng.uniform(0.1, 0.25), rng.uniform(0.9, 2.5), salt)
    if style == "tiles":
        colour = _random_colour(rng, sat=(0.0, 0.35), val=(0.3, 0.95))
        other = _random_colour(rng, sat=(0.0, 0.35), val=(0.1, 0.9)) if rng.random() < 0.4 else None
        return _tiles(colour, other, rng.uniform(0.25, 0.8), _grey(rng, 0.2, 0.8), salt)
    if style == "carpet":
        return _carpet(_fabric_colour(rng))
    if style == "lino":
        return _speckled(_random_colour(rng, sat=(0.0, 0.3), val=(0.4, 0.8)) * 0.9)
    return _concrete(_grey(rng, 0.35, 0.7), rng.uniform(3.0, 6.0))


def _wall_spot(plan: _Floorplan, wall: str, room: _Rect, w: float, d: float) -> _Frame | None:
    """A free w (along the wall) x d (deep) footprint against one wall of room (x0, x1, z0, z1)."""
    x0, x1, z0, z1 = room
    if wall == "back":
        spot, facing = plan.claim((x0, x1), (z1 - d - 0.02, z1 - 0.01), w, d), (0, -1)
    elif wall == "left":
        spot, facing = plan.claim((x0 + 0.01, x0 + d + 0.02), (z0, z1), d, w), (1, 0)
    else:
        spot, facing = plan.claim((x1 - d - 0.02, x1 - 0.01), (z0, z1), d, w), (-1, 0)
    return None if spot is None else _Frame(*spot, facing)


def _wall_piece(
    rng: np.random.Generator, plan: _Floorplan, wall: str, room: _Rect, decor: _Decor
) -> list[_Primitive]:
    """One piece of furniture against a wall: sofa, cabinet, bookshelf, plant or lamp."""
    piece = rng.choice(["sofa", "cabinet", "shelf", "plant", "lamp", "sideboard"])
    if piece == "sofa":
        width = rng.uniform(1.6, 2.6)
        f = _wall_spot(plan, wall, room, width, 0.9)
        return [] if f is None else _sofa(f, width, decor.fabric, decor.dark)
    if piece in ("cabinet", "shelf", "sideboard"):
        w, h, d = {
            "cabinet": (rng.uniform(0.6, 1.4), rng.uniform(1.6, 2.2), 0.55),
            "shelf": (rng.uniform(0.8, 2.0), rng.uniform(1.6, 2.2), 0.35),
            "sideboard": (rng.uniform(1.0, 2.0), rng.uniform(0.7, 0.95), 0.45),
        }[piece]
        f = _wall_spot(plan, wall, room, w, d)
        if f is None:
            return []
        body = decor.wood if rng.random() < 0.6 else _flat(_paint_colour(rng))
        colour = _wood_colour(rng) if rng.random() < 0.5 else _paint_colour(rng)
        if piece == "shelf":
            front = _shelves(colour, (rng.uniform(0.03, 0.06), 0.28), 0.38, int(rng.integers(999)))
        else:
            front = _doors(colour, decor.handle, rng.uniform(0.4, 0.6))
        return _cabinet(f, (w, h, d), front, body)
    f = _wall_spot(plan, wall, room, 0.6, 0.6)
    if f is None:
        return []
    return _plant(f.x, f.z, rng) if piece == "plant" else _floor_lamp(f.x, f.z, rng)


def _centre_pieces(
    rng: np.random.Generator, plan: _Floorplan, room: _Rect, decor: _Decor
) -> list[_Primitive]:
    """A dining set or a coffee table with a rug, and maybe a plant, in the middle of a room."""
    x0, x1, z0, z1 = room
    middle = (x0 + 1.0, x1 - 1.0), (z0 + 0.5, z1 - 1.2)
    prims: list[_Primitive] = []
    w, d = rng.uniform(0.9, 1.8), rng.uniform(0.7, 1.0)
    spot = plan.claim(*middle, w + 1.1, d + 1.1)
    if spot is not None:
        x, z = spot
        if rng.random() < 0.5:
            prims += _table(_Frame(x, z, (0, -1)), w, d, 0.75, decor.wood)
            for facing in ((0, -1), (0, 1), (1, 0), (-1, 0))[: rng.integers(2, 5)]:
                cx, cz = x - facing[0] * (w / 2 + 0.15), z - facing[1] * (d / 2 + 0.15)
                prims += _chair(_Frame(cx, cz, facing), decor.accent, decor.wood)
        else:
            rug = _carpet(_fabric_colour(rng))
            prims.append(
                _Box(
                    (x - w / 2 - 0.5, 0.0, z - d / 2 - 0.5),
                    (x + w / 2 + 0.5, 0.012, z + d / 2 + 0.5),
                    rug,
                )
            )
            prims += _table(_Frame(x, z, (0, -1)), w * 0.8, d * 0.7, 0.42, decor.wood)
    spot = plan.claim(*middle, 0.6, 0.6)
    if spot is not None and rng.random() < 0.6:
        prims += _plant(*spot, rng)
    return prims


def _room(rng: np.random.Generator) -> list[_Primitive]:
    """A living or dining room: furniture along the walls and in the middle."""
    half, depth, ceiling = rng.uniform(2.5, 4.5), rng.uniform(6.0, 12.0), rng.uniform(2.6, 3.3)
    shift = rng.uniform(-1.0, 1.0) * (half - 1.2)
    x0, x1 = shift - half, shift + half
    decor = _Decor.draw(rng)
    panels = (
        _wall_panels(rng, 4, (0.0, x1 - x0), ceiling, decor)
        + _wall_panels(rng, 1, (2.0, depth + 1.0), ceiling, decor)
        + _wall_panels(rng, 0, (2.0, depth + 1.0), ceiling, decor)
    )
    walls = _with_panels(_plain_wall(rng, decor), panels)
    prims: list[_Primitive] = [
        _Ground(_floor(rng, ["planks", "planks", "tiles", "carpet", "concrete"])),
        _Shell(
            (x0, 0.0, -1.0),
            (x1, ceiling, depth),
            walls,
            _lit_ceiling(rng, x1 - x0, depth + 1.0, (0.5, 0.5), int(rng.integers(1, 3))),
        ),
    ]
    plan = _Floorplan(rng)
    bounds = (x0, x1, 2.0, depth)
    for wall in ("back", "left", "right", "back", "left", "right"):
        if rng.random() < 0.7:
            prims += _wall_piece(rng, plan, wall, bounds, decor)
    return prims + _centre_pieces(rng, plan, bounds, decor)


def _corridor(rng: np.random.Generator) -> list[_Primitive]:
    """A long corridor lined with doors, a window at the end, a few things along the walls."""
    half, depth, ceiling = rng.uniform(1.0, 1.8), rng.uniform(14.0, 30.0), rng.uniform(2.4, 3.0)
    shift = rng.uniform(-0.4, 0.4) * half
    x0, x1 = shift - half, shift + half
    decor = _Decor.draw(rng)
    frame = _grey(rng, 0.3, 0.95)
    panels = [_Panel(4, 0.2 * half, 0.9, 1.8 * half, ceiling - 0.3, _window(rng, frame))]
    for face in (0, 1):
        u = rng.uniform(1.5, 4.0)
        door = _framed(_door(_paint_colour(rng) * 0.7, decor.handle), frame, 0.06)
        while u < depth:
            panels.append(_Panel(face, u, 0.0, u + 0.95, 2.1, door))
            u += rng.uniform(3.0, 6.0)
    ceiling_material = _lit_ceiling(rng, 2 * half, depth + 1.0, (0.6, 1.2), 1)
    prims: list[_Primitive] = [
        _Ground(_floor(rng, ["tiles", "lino", "planks"])),
        _Shell(
            (x0, 0.0, -1.0),
            (x1, ceiling, depth),
            _with_panels(_plain_wall(rng, decor), panels),
            ceiling_material,
        ),
    ]
    plan = _Floorplan(rng)
    for _ in range(rng.integers(2, 6)):
        wall = rng.choice(["left", "right"])
        f = _wall_spot(plan, wall, (x0, x1, 2.5, depth - 0.5), rng.uniform(0.5, 1.6), 0.45)
        if f is None:
            continue
        piece = rng.choice(["bench", "plant", "bin", "cabinet"])
        if piece == "bench":
            prims += _bench(f, decor.wood, decor.metal)
        elif piece == "plant":
            prims += _plant(f.x, f.z, rng)
        elif piece == "bin":
            prims.append(_Cylinder((f.x, f.z), 0.2, 0.0, 0.6, decor.metal))
        else:
            prims += _cabinet(
                f, (0.8, 1.1, 0.45), _doors(decor.paint, decor.handle, 0.4), decor.metal
            )
    return prims


def _warehouse(rng: np.random.Generator) -> list[_Primitive]:
    """A tall shed: racks along ribbed walls, pillars, crates and barrels on a concrete floor."""
    half, depth, ceiling = rng.uniform(7.0, 14.0), rng.uniform(18.0, 32.0), rng.uniform(6.0, 10.0)
    shift = rng.uniform(-0.4, 0.4) * half
    x0, x1 = shift - half, shift + half
    yellow = _colour(rng.uniform(0.11, 0.15), 0.85, 0.9)
    lanes = [_Marking(x, 0.12, yellow) for x in (shift - 2.0, shift + 2.0)]
    floor = _with_markings(_concrete(_grey(rng, 0.3, 0.65), rng.uniform(4.0, 7.0)), lanes)
    prims: list[_Primitive] = [
        _Ground(floor),
        _Shell(
            (x0, 0.0, -1.0),
            (x1, ceiling, depth),
            _shed_walls(rng, 2 * half, depth + 1.0, ceiling),
            _shed_roof(rng, 2 * half, depth + 1.0),
        ),
    ]
    plan = _Floorplan(rng)
    racks = _random_colour(rng, sat=(0.5, 0.9), val=(0.3, 0.7))
    for wall in ("left", "right", "back"):
        for _ in range(rng.integers(1, 3)):
            length, height = rng.uniform(4.0, 12.0), rng.uniform(2.5, min(6.0, ceiling - 1.0))
            f = _wall_spot(plan, wall, (x0, x1, 3.0, depth), length, 1.1)
            if f is not None:
                front = _shelves(racks, (rng.uniform(0.4, 0.8), 0.6), 1.2, int(rng.integers(999)))
                prims += _cabinet(f, (length, height, 1.1), front, _metal(racks))
    pillar = _metal(_grey(rng, 0.4, 0.8))
    for z in np.arange(rng.uniform(4.0, 8.0), depth - 2.0, rng.uniform(6.0, 9.0)):
        for x in (shift - half * 0.45, shift + half * 0.45):
            if plan.claim((x - 0.3, x + 0.3), (z - 0.3, z + 0.3), 0.5, 0.5):
                prims.append(_Box((x - 0.2, 0.0, z - 0.2), (x + 0.2, ceiling, z + 0.2), pillar))
    crates = _wood(_wood_colour(rng))
    barrel = _metal(_random_colour(rng, sat=(0.5, 0.9), val=(0.3, 0.7)))
    for _ in range(rng.integers(3, 9)):
        spot = plan.claim((x0 + 1.5, x1 - 1.5), (3.0, depth - 2.0), 1.2, 1.2)
        if spot is not None and rng.random() < 0.6:
            prims += _crate_stack(*spot, rng, crates)
        elif spot is not None:
            prims.append(_Cylinder(spot, 0.3, 0.0, 0.9, barrel))
    return prims


def _shed_walls(rng: np.random.Generator, width: float, depth: float, height: float) -> Material:
    """Ribbed cladding over a concrete plinth, a row of high windows, a gate in the back wall."""
    frame = _grey(rng, 0.2, 0.6)
    gate = rng.uniform(3.0, 6.0)
    gate_u = rng.uniform(1.0, width - gate - 1.0)
    gate_door = _framed(_corrugated(_grey(rng, 0.4, 0.8)), frame, 0.12)
    panels = [_Panel(4, gate_u, 0.0, gate_u + gate, gate * 0.9, gate_door)]
    window = _window(rng, frame)
    for face, length in ((4, width), (0, depth), (1, depth)):
        for u in np.arange(2.0, length - 2.0, rng.uniform(3.0, 5.0)):
            panels.append(_Panel(face, u, height - 2.0, u + 2.0, height - 0.6, window))
    cladding = _corrugated(_random_colour(rng, sat=(0.0, 0.35), val=(0.4, 0.85)))
    return _with_panels(_with_skirting(cladding, _grey(rng, 0.3, 0.6), 1.0), panels)


def _shed_roof(rng: np.random.Generator, width: float, depth: float) -> Material:
    """Ribbed roofing with long skylights running back."""
    skylight = _light_panel(_grey(rng, 0.85, 1.0))
    skylights = [
        _Panel(2, u, 0.0, u + 1.5, depth, skylight)
        for u in np.arange(2.0, width - 2.0, rng.uniform(4.0, 7.0))
    ]
    return _with_panels(_corrugated(_grey(rng, 0.3, 0.7)), skylights)


def _facade_material(rng: np.random.Generator) -> Material:
    """A building face: brick, render or concrete, with windows, shop fronts and a door."""
    style = rng.choice(["bricks", "render", "concrete"])
    if style == "bricks":
        brick = _random_colour(rng, hue=(0.0, 0.07), sat=(0.4, 0.75), val=(0.3, 0.6))
        wall = _bricks(brick, _grey(rng, 0.5, 0.8), int(rng.integers(1 << 16)))
    elif style == "render":
        wall = _flat(_random_colour(rng, hue=(0.0, 0.2), sat=(0.05, 0.45), val=(0.5, 0.95)), 0.08)
    else:
        wall = _concrete(_grey(rng, 0.4, 0.75), rng.uniform(1.5, 3.0))
    frame = _grey(rng, 0.05, 0.9)
    sky = _random_colour(rng, hue=(0.55, 0.62), sat=(0.15, 0.4), val=(0.5, 0.9))
    glass = _framed(_glass(sky, sky * 0.15, (int(rng.integers(1, 3)), 2)), frame, 0.07)
    shop = _framed(_glass(sky * 0.6, _random_colour(rng, val=(0.1, 0.5)), (3, 1)), frame, 0.1)
    door = _framed(_door(_random_colour(rng, val=(0.1, 0.6)), _grey(rng, 0.6, 0.9)), frame, 0.07)
    wide = rng.uniform(0.15, 0.3)
    return _facade(
        wall,
        [
            _Opening(lambda c, r, n: r >= 1, (wide, 0.3, 1 - wide, 0.8), glass),
            _Opening(lambda c, r, n: (r == 0) & (c != n // 2), (0.08, 0.05, 0.92, 0.8), shop),
            _Opening(lambda c, r, n: (r == 0) & (c == n // 2), (0.3, 0.0, 0.7, 0.75), door),
        ],
        storey=rng.uniform(2.8, 3.6),
        bay=rng.uniform(2.2, 4.0),
    )


def _row_of_buildings(
    rng: np.random.Generator, face_x: float, side: int, z_range: tuple[float, float], gaps: bool
) -> list[_Box]:
    """Buildings along z whose street faces lie at x = face_x, on the left (-1) or right (+1)."""
    boxes, z = [], z_range[0]
    while z < z_range[1]:
        width = rng.uniform(8.0, 24.0)
        if gaps and z > 8.0 and rng.random() < 0.15:
            z += rng.uniform(8.0, 14.0)
            continue
        front = face_x + side * rng.uniform(0.0, 0.8)
        back = front + side * rng.uniform(10.0, 20.0)
        height = rng.uniform(6.0, 30.0)
        boxes.append(
            _Box(
                (min(front, back), 0.0, z),
                (max(front, back), height, z + width),
                _facade_material(rng),
            )
        )
        z += width
    return boxes


def _street(rng: np.random.Generator) -> list[_Primitive]:
    """A street between rows of buildings, with parked cars, trees and lamp posts."""
    centre, half, walk = rng.uniform(-2.0, 2.0), rng.uniform(3.0, 6.0), rng.uniform(2.0, 4.5)
    left, right = centre - half - walk, centre + half + walk
    prims: list[_Primitive] = [_Ground(_street_ground(rng, centre, half))]
    prims += _row_of_buildings(rng, left, -1, (-8.0, 120.0), gaps=True)
    prims += _row_of_buildings(rng, right, 1, (-8.0, 120.0), gaps=True)
    if rng.random() < 0.5:
        far_end = ((left - 30, 0.0, 120.0), (right + 30, rng.uniform(10, 30), 140.0))
        prims.append(_Box(*far_end, _facade_material(rng)))
    for side in (-1, 1):
        prims += _kerbside(rng, centre + side * half, side, walk)
    return prims


def _street_ground(rng: np.random.Generator, centre: float, half: float) -> Material:
    """A marked road `2 * half` wide centred on x = `centre`, kerbs, then paved pavements."""
    white = _grey(rng, 0.75, 0.9)
    paint = _colour(0.13, 0.85, 0.9) if rng.random() < 0.4 else white
    road = _with_markings(
        _asphalt(_grey(rng, 0.04, 0.12)),
        [
            _Marking(centre, 0.15, paint, dash=rng.uniform(4.0, 9.0)),
            _Marking(centre - half + 0.4, 0.12, white),
            _Marking(centre + half - 0.4, 0.12, white),
        ],
    )
    kerb = _flat(_grey(rng, 0.35, 0.6))
    setts = (rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6))
    stone = _random_colour(rng, sat=(0.0, 0.2), val=(0.35, 0.7))
    pavement = _paving(stone, setts, int(rng.integers(999)))

    def zone(s: _Surface) -> np.ndarray:
        off = np.abs(s.u - centre)
        return np.where(off < half, 0, np.where(off < half + 0.25, 1, 2))

    return _zones(zone, [road, kerb, pavement])


def _kerbside(rng: np.random.Generator, kerb: float, side: int, walk: float) -> list[_Primitive]:
    """Parked cars along the kerb at x = `kerb`; trees and lamp posts on the pavement beyond."""
    prims: list[_Primitive] = []
    for z in np.arange(rng.uniform(6.0, 10.0), 70.0, rng.uniform(5.5, 8.0)):
        if rng.random() < 0.55:
            prims += _car(kerb - side * rng.uniform(1.0, 1.4), z, rng)
    if rng.random() < 0.6:
        for z in np.arange(rng.uniform(2.0, 8.0), 80.0, rng.uniform(7.0, 14.0)):
            prims += _tree(kerb + side * walk * 0.45, z, rng, scale=rng.uniform(0.6, 0.9))
    metal = _metal(_grey(rng, 0.05, 0.4))
    glow = _flat(_grey(rng, 0.9, 1.0) * 2.0)
    for z in np.arange(rng.uniform(4.0, 12.0), 90.0, rng.uniform(15.0, 25.0)):
        prims += _lamp_post(kerb + side * 0.5, z, -side * 1.2, metal, glow)
    return prims


def _courtyard(rng: np.random.Generator) -> list[_Primitive]:
    """A paved yard closed by buildings (or a garden wall), with planters, benches, trees..."""
    half, depth = rng.uniform(6.0, 12.0), rng.uniform(14.0, 28.0)
    shift = rng.uniform(-0.4, 0.4) * half
    x0, x1 = shift - half, shift + half
    back = ((x0 - 30.0, 0.0, depth), (x1 + 30.0, rng.uniform(8.0, 22.0), depth + 12.0))
    prims: list[_Primitive] = [_Ground(_yard_ground(rng)), _Box(*back, _facade_material(rng))]
    prims += _row_of_buildings(rng, x0, -1, (-8.0, depth), gaps=False)
    if rng.random() < 0.7:
        prims += _row_of_buildings(rng, x1, 1, (-8.0, depth), gaps=False)
    else:
        brick = _random_colour(rng, hue=(0.0, 0.08), sat=(0.3, 0.6), val=(0.3, 0.6))
        wall = _bricks(brick, _grey(rng, 0.5, 0.8), int(rng.integers(999)))
        prims.append(_Box((x1, 0.0, -8.0), (x1 + 0.4, rng.uniform(1.5, 2.5), depth), wall))
        for z in np.arange(2.0, depth, rng.uniform(5.0, 9.0)):
            prims += _tree(x1 + 4.0, z, rng)
    plan = _Floorplan(rng)
    area = (x0 + 1.0, x1 - 1.0), (4.0, depth - 1.5)
    if rng.random() < 0.5 and (spot := plan.claim(*area, 5.0, 5.0)):
        prims += _fountain(rng, *spot)
    wood, metal = _wood(_wood_colour(rng)), _metal(_grey(rng, 0.05, 0.6))
    for _ in range(rng.integers(3, 9)):
        spot = plan.claim(*area, 2.0, 2.0)
        if spot is not None:
            prims += _yard_piece(rng, *spot, wood, metal)
    return prims


def _yard_ground(rng: np.random.Generator) -> Material:
    """Paving setts, gravel or large flags."""
    stone = _random_colour(rng, hue=(0.05, 0.12), sat=(0.05, 0.3), val=(0.4, 0.8))
    salt = int(rng.integers(999))
    style = rng.choice(["paving", "gravel", "flags"])
    if style == "paving":
        return _paving(stone, (rng.uniform(0.15, 0.5), rng.uniform(0.1, 0.3)), salt)
    if style == "gravel":
        return _speckled(stone)
    return _tiles(stone, None, rng.uniform(0.5, 1.0), stone * 0.5, salt)


def _fountain(rng: np.random.Generator, x: float, z: float) -> list[_Primitive]:
    """A round basin of water with a column in the middle."""
    stone = _concrete(_grey(rng, 0.5, 0.8), 10.0)
    water = _glass(_colour(0.55, 0.4, 0.7), _colour(0.5, 0.5, 0.3), (1, 1))
    radius = rng.uniform(1.4, 2.2)
    return [
        _Cylinder((x, z), radius, 0.0, 0.5, stone, water),
        _Cylinder((x, z), 0.2, 0.0, 1.4, stone),
    ]


def _yard_piece(
    rng: np.random.Generator, x: float, z: float, wood: Material, metal: Material
) -> list[_Primitive]:
    """A planter, bench, tree, cafe table under a parasol, or a row of bollards."""
    piece = rng.choice(["planter", "bench", "tree", "cafe", "bollards"])
    if piece == "planter":
        pot = _concrete(_grey(rng, 0.4, 0.8), 10.0)
        leaves = _foliage(_random_colour(rng, hue=(0.2, 0.35), sat=(0.4, 0.8), val=(0.2, 0.5)))
        return [
            _Box((x - 0.5, 0.0, z - 0.5), (x + 0.5, 0.6, z + 0.5), pot),
            _Sphere((x, 0.9, z), 0.6, leaves),
        ]
    if piece == "bench":
        return _bench(_Frame(x, z, (0, -1)), wood, metal)
    if piece == "tree":
        return _tree(x, z, rng, scale=rng.uniform(0.6, 1.0))
    if piece == "cafe":
        canopy = _fabric(_fabric_colour(rng))
        return [
            *_table(_Frame(x, z, (0, -1)), 0.7, 0.7, 0.74, metal),
            *_chair(_Frame(x, z + 0.6, (0, -1)), metal, metal),
            _Cylinder((x, z), 0.03, 0.74, 2.3, metal),
            _Cylinder((x, z), rng.uniform(1.0, 1.5), 2.2, 2.35, canopy),
        ]
    return [_Cylinder((x + a, z), 0.1, 0.0, 0.9, metal) for a in (-0.8, 0.0, 0.8)]


def _park(rng: np.random.Generator) -> list[_Primitive]:
    """Grass with a winding gravel path, trees, benches and lamps, and woods on the horizon."""
    grass = _grass(
        _random_colour(rng, hue=(0.22, 0.3), sat=(0.5, 0.8), val=(0.3, 0.6)),
        _random_colour(rng, hue=(0.12, 0.18), sat=(0.4, 0.7), val=(0.4, 0.7)),
    )
    gravel = _speckled(_random_colour(rng, hue=(0.07, 0.12), sat=(0.15, 0.4), val=(0.5, 0.8)))
    centre, sway, wiggle = rng.uniform(-3.0, 3.0), rng.uniform(0.5, 4.0), rng.uniform(0.05, 0.2)
    width = rng.uniform(0.8, 2.0)

    def path_x(z: np.ndarray | float) -> np.ndarray | float:
        return centre + sway * np.sin(z * wiggle)

    def zone(s: _Surface) -> np.ndarray:
        return (np.abs(s.u - path_x(s.v)) < width).astype(int)

    prims: list[_Primitive] = [_Ground(_zones(zone, [grass, gravel]))]
    far = rng.uniform(35.0, 60.0)
    for bearing in np.arange(-1.4, 1.4, rng.uniform(5.0, 9.0) / far):
        distance = far + rng.uniform(0, 15.0)
        prims += _tree(math.sin(bearing) * distance, math.cos(bearing) * distance, rng, 2.0, 3)
    plan = _Floorplan(rng)
    for _ in range(rng.integers(3, 10)):
        spot = plan.claim((-20.0, 20.0), (5.0, 30.0), 3.0, 3.0)
        if spot and abs(spot[0] - path_x(spot[1])) > width + 1.5:
            prims += _tree(*spot, rng, scale=rng.uniform(0.8, 1.4))
    wood, metal = _wood(_wood_colour(rng)), _metal(_grey(rng, 0.05, 0.4))
    lamp = _flat(_grey(rng, 0.9, 1.0) * 2.0)
    for z in np.arange(rng.uniform(4.0, 8.0), 30.0, rng.uniform(6.0, 12.0)):
        side = int(rng.choice([-1, 1]))
        x = path_x(z) + side * (width + 0.6)
        if rng.random() < 0.6:
            prims += _bench(_Frame(x, z, (-side, 0)), wood, metal)
        else:
            prims += _lamp_post(x, z, 0.0, metal, lamp)
    if rng.random() < 0.5:
        hedge = _foliage(_random_colour(rng, hue=(0.22, 0.33), sat=(0.5, 0.8), val=(0.2, 0.4)))
        x, z = rng.uniform(-12, 12), rng.uniform(8, 20)
        length = rng.uniform(4, 12)
        prims.append(_Box((x - length / 2, 0.0, z), (x + length / 2, 1.2, z + 1.0), hedge))
    return prims


@dataclass(frozen=True)
class _Layout:
    """How to build one kind of scene."""

    build: Callable[[np.random.Generator], list[_Primitive]]
    indoor: bool
    max_yaw: float
    """Degrees the camera may turn away from looking straight down the scene."""


_SCENE_LAYOUTS = {
    "room": _Layout(_room, indoor=True, max_yaw=25.0),
    "corridor": _Layout(_corridor, indoor=True, max_yaw=12.0),
    "warehouse": _Layout(_warehouse, indoor=True, max_yaw=25.0),
    "street": _Layout(_street, indoor=False, max_yaw=20.0),
    "courtyard": _Layout(_courtyard, indoor=False, max_yaw=25.0),
    "park": _Layout(_park, indoor=False, max_yaw=45.0),
}


def render_scene(seed: int, index: int, size: int, max_depth: float = 30.0) -> Scene:
    """Render bg scene `index` of the procedural set drawn from `seed`.

    Args:
        seed: Seed of the whole set.
        index: Which scene (>= 0); consecutive indices cycle through all kinds.
        size: Side of the square image in pixels.
        max_depth: Depth of sky and of anything farther, in metres.

    Returns:
        The scene; its bytes depend only on (seed, index, size, max_depth).
    """
    if size < 8:
        raise ValueError(f"scene size must be at least 8 pixels, got {size}")
    kind = _pick_kind(seed, index, list(_SCENE_LAYOUTS), _SCENE_KIND_SALT)
    layout = _SCENE_LAYOUTS[kind]
    rng = _rng(seed, index, _SCENE_SALT)
    camera = _random_camera(rng, size, layout.max_yaw)
    lighting = _indoor_lighting(rng) if layout.indoor else _outdoor_lighting(rng)
    world = _World(camera, lighting, tuple(layout.build(rng)))
    rgb, depth = _render(world, max_depth)
    return Scene(
        name=f"proc-bg-{index:03d}-{kind}",
        rgb=rgb,
        depth=depth,
        horizon_y=camera.horizon_y,
        ground_k=camera.focal * camera.height,
    )


# ------------------------------------------------------------------------------------------------
# Cutouts: 2D signed distance shapes
# ------------------------------------------------------------------------------------------------

_Box2 = tuple[float, float, float, float]
"""(x0, y0, x1, y1), y up."""


@dataclass(frozen=True)
class _Shape:
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


def _circle(cx: float, cy: float, r: float) -> _Shape:
    """A disc."""
    return _Shape(lambda x, y: np.hypot(x - cx, y - cy) - r, (cx - r, cy - r, cx + r, cy + r))


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> _Shape:
    """An ellipse of radii (rx, ry) turned by `angle`; its distance is a close approximation."""

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _rotate(x, y, cx, cy, angle)
        k0 = np.hypot(u / rx, v / ry)
        k1 = np.hypot(u / rx**2, v / ry**2)
        return np.where(k0 < 1, (k0 - 1) * min(rx, ry), k0 * (k0 - 1) / np.maximum(k1, 1e-9))

    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    hx, hy = math.hypot(rx * c, ry * s), math.hypot(rx * s, ry * c)
    return _Shape(sdf, (cx - hx, cy - hy, cx + hx, cy + hy))


def _capsule(
    a: tuple[float, float], b: tuple[float, float], ra: float, rb: float | None = None
) -> _Shape:
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
    return _Shape(sdf, (min(ax, bx) - r, min(ay, by) - r, max(ax, bx) + r, max(ay, by) + r))


def _rbox(cx: float, cy: float, hw: float, hh: float, r: float = 0.0, angle: float = 0.0) -> _Shape:
    """A box of half-size (hw, hh) with corners rounded by r, turned by `angle`."""
    r = min(r, hw, hh)

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _rotate(x, y, cx, cy, angle)
        qx, qy = np.abs(u) - hw + r, np.abs(v) - hh + r
        outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
        return outside + np.minimum(np.maximum(qx, qy), 0.0) - r

    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    ex, ey = hw * c + hh * s, hw * s + hh * c
    return _Shape(sdf, (cx - ex, cy - ey, cx + ex, cy + ey))


def _polygon(points: Sequence[tuple[float, float]], r: float = 0.0) -> _Shape:
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
    return _Shape(sdf, (lo[0], lo[1], hi[0], hi[1]))


def _ring(cx: float, cy: float, r: float, width: float) -> _Shape:
    """A circle of radius r drawn `width` thick on either side (a tyre)."""
    h = r + width
    return _Shape(
        lambda x, y: np.abs(np.hypot(x - cx, y - cy) - r) - width, (cx - h, cy - h, cx + h, cy + h)
    )


def _lathe(cx: float, profile: Sequence[tuple[float, float]]) -> _Shape:
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
    return _Shape(sdf, (cx - w, ys[0], cx + w, ys[-1]))


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """min(a, b) with the corner rounded over about k (polynomial smooth minimum)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _bounds(boxes: Sequence[_Box2], grow: float = 0.0) -> _Box2:
    """The box around boxes, grown by `grow` on every side."""
    x0, y0, x1, y1 = zip(*boxes, strict=True)
    return min(x0) - grow, min(y0) - grow, max(x1) + grow, max(y1) + grow


def _union(*shapes: _Shape, k: float = 0.0) -> _Shape:
    """Union of shapes, blended over a fillet of size k when k > 0."""

    def sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        d = shapes[0].sdf(x, y)
        for shape in shapes[1:]:
            d = _smooth_min(d, shape.sdf(x, y), k) if k else np.minimum(d, shape.sdf(x, y))
        return d

    return _Shape(sdf, _bounds([s.box for s in shapes], k / 4))


def _cut(shape: _Shape, hole: _Shape) -> _Shape:
    """`shape` with `hole` removed."""
    return _Shape(lambda x, y: np.maximum(shape.sdf(x, y), -hole.sdf(x, y)), shape.box)


def _clip(shape: _Shape, mask: _Shape) -> _Shape:
    """The part of `shape` inside `mask`."""
    box = (*np.maximum(shape.box[:2], mask.box[:2]), *np.minimum(shape.box[2:], mask.box[2:]))
    return _Shape(lambda x, y: np.maximum(shape.sdf(x, y), mask.sdf(x, y)), box)


# ------------------------------------------------------------------------------------------------
# Cutouts: textures, parts and rasterising
# ------------------------------------------------------------------------------------------------

Texture = Callable[[np.ndarray, np.ndarray, float], np.ndarray]
"""(x (1, w), y (h, 1), metres per pixel) -> albedo, channel first (3, h, w)."""


def _plain(colour: np.ndarray, grain: float = 0.08, scale: float = 10.0) -> Texture:
    """One colour with a faint mottle (cloth, paint, skin)."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        return _tint(colour, 1.0 + grain * 2.0 * (_noise(x * scale, y * scale) - 0.5))

    return texture


def _striped(colour: np.ndarray, other: np.ndarray, period: float, angle: float = 0.0) -> Texture:
    """Stripes of `other` on `colour`, `period` metres apart, running at `angle` radians."""
    c, s = math.cos(angle), math.sin(angle)

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        stripe = _lines(x * s + y * c, period, period * 0.4, px)
        return _mix(colour, other, stripe) * (1.0 + 0.1 * (_noise(x * 10, y * 10) - 0.5))

    return texture


def _checked(colour: np.ndarray, other: np.ndarray, period: float) -> Texture:
    """Tartan-like checks: crossing translucent bands."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        cross = _lines(x, period, period * 0.35, px) + _lines(y, period, period * 0.35, px)
        return _mix(colour, other, 0.45 * cross)

    return texture


def _furry(colour: np.ndarray, angle: float, grain: float = 0.35) -> Texture:
    """Fur or feathers: fine streaks along `angle`, and soft darker patches."""
    c, s = math.cos(angle), math.sin(angle)

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        along, across = x * c + y * s, y * c - x * s
        fade = min(1.0, 0.004 / px)
        streaks = _noise(along * 15.0, across * 160.0, rough=True) - 0.5
        return _tint(
            colour, 1.0 + grain * 2.0 * fade * streaks + 0.3 * (_noise(x * 5, y * 5) - 0.5)
        )

    return texture


def _patched(base: Texture, other: np.ndarray, scale: float, cover: float, seed: float) -> Texture:
    """`base` with blotches of `other` (spots, patches) covering about `cover` of it."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        blobs = _noise(x * scale + seed, y * scale + 2 * seed)
        mask = _smoothstep(1.0 - cover - 0.02, 1.0 - cover + 0.02, blobs * 0.8 + 0.1)
        return _mix(base(x, y, px), other, mask)

    return texture


def _fading(base: Texture, other: np.ndarray, y0: float, y1: float) -> Texture:
    """`base` blending into `other` from height y1 down to y0 (a pale belly, a dark sole)."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        height = np.broadcast_to(y, np.broadcast_shapes(np.shape(x), np.shape(y)))
        return _mix(base(x, y, px), other, _smoothstep(y1, y0, height))

    return texture


def _grain(colour: np.ndarray, vertical: bool = True) -> Texture:
    """Wood: fine streaks along the piece."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        along, across = (y, x) if vertical else (x, y)
        streaks = _noise(across * 120.0, along * 6.0, rough=True) - 0.5
        return _tint(colour, 1.0 + 0.5 * streaks + 0.15 * (_noise(x * 6, y * 6) - 0.5))

    return texture


@dataclass(frozen=True)
class _Part:
    """One piece of a cutout: shape, albedo texture, rounded-edge width (m) and gloss."""

    shape: _Shape
    texture: Texture
    bevel: float
    gloss: float = 0.0


_LIGHT = np.array([-0.45, -0.6, 0.66]) / np.linalg.norm([-0.45, -0.6, 0.66])
"""Key light of cutouts, in image space (x right, y down, z towards the viewer): upper left."""
_RIM = np.array([0.05, 0.07, 0.1], np.float32)
"""Colour of the cool rim light on edges turned away from the key light."""
_EDGE_PX = 1.5
"""Width of the alpha ramp across an edge, in pixels."""


def _shade_part(
    part: _Part, x: np.ndarray, y: np.ndarray, d: np.ndarray, px: float, light: np.ndarray
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
    out = out + _tint(_RIM, rim)
    if part.gloss:
        half = light + np.array([0.0, 0.0, 1.0])
        half /= np.linalg.norm(half)
        out = out + part.gloss * np.maximum(nx * half[0] + ny * half[1] + nz * half[2], 0.0) ** 40
    return out


def _rasterise(parts: Sequence[_Part], height: int, light: np.ndarray) -> np.ndarray:
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
    def around(cls, parts: Sequence[_Part], height: int) -> _Canvas:
        """A blank canvas framing `parts`, scaled so that they stand about `height` pixels tall."""
        x0, y0, x1, y1 = _bounds([p.shape.box for p in parts])
        px = (y1 - y0) / max(height - _EDGE_PX, 1.0)
        rows, cols = height + 2 * _MARGIN, math.ceil((x1 - x0) / px) + 2 * _MARGIN
        return cls(
            x0 - _MARGIN * px,
            y1 + _MARGIN * px,
            px,
            np.zeros((3, rows, cols), np.float32),
            np.zeros((rows, cols), np.float32),
        )

    def paint(self, part: _Part, light: np.ndarray) -> None:
        """Shade `part` and lay it over the canvas, with a contact shadow around it."""
        bx0, by0, bx1, by1 = part.shape.box
        rows, cols = self.alpha.shape
        r = _span((self.y1 - by1) / self.px - 1, (self.y1 - by0) / self.px + 1, rows)
        c = _span((bx0 - self.x0) / self.px - 1, (bx1 - self.x0) / self.px + 1, cols)
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
    rgb = _encode(_tone_map(straight.transpose(1, 2, 0)))
    return np.dstack([rgb * (a8 > 0)[..., None], a8])


def _crop(colour: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trim rows and columns whose alpha rounds to 0 in uint8."""
    solid = alpha >= 0.5 / 255.0
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    r, c = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    return colour[:, r, c], alpha[r, c]


# ------------------------------------------------------------------------------------------------
# Cutouts: palettes
# ------------------------------------------------------------------------------------------------


def _skin(rng: np.random.Generator) -> np.ndarray:
    return _random_colour(rng, hue=(0.03, 0.09), sat=(0.3, 0.6), val=(0.3, 0.95))


def _hair(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.15:
        return _grey(rng, 0.5, 0.85)
    return _random_colour(rng, hue=(0.03, 0.11), sat=(0.3, 0.8), val=(0.08, 0.7))


def _cloth(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.35:
        return _grey(rng, 0.08, 0.95)
    return _random_colour(rng, sat=(0.2, 0.85), val=(0.2, 0.9))


def _cloth_texture(rng: np.random.Generator, colour: np.ndarray) -> Texture:
    """Plain, striped or checked fabric."""
    style = rng.choice(["plain", "plain", "plain", "stripes", "checks"])
    other = _cloth(rng)
    if style == "stripes":
        return _striped(colour, other, rng.uniform(0.02, 0.08), rng.choice([0.0, math.pi / 2]))
    if style == "checks":
        return _checked(colour, other, rng.uniform(0.03, 0.08))
    return _plain(colour, 0.1, rng.uniform(20, 60))


# ------------------------------------------------------------------------------------------------
# Cutouts: people
# ------------------------------------------------------------------------------------------------

#: Arm poses: (upper arm, forearm) angle ranges in degrees from hanging straight down (outwards
#: positive), and how often each is struck.
_ARM_POSES = {
    "hang": ((3, 12), (0, 12), 0.4),
    "hips": ((35, 50), (-75, -50), 0.1),
    "hold": ((5, 20), (-80, -50), 0.1),
    "phone": ((5, 20), (150, 170), 0.08),
    "wave": ((120, 160), (150, 185), 0.12),
    "out": ((70, 95), (65, 110), 0.1),
    "raise": ((160, 175), (165, 180), 0.1),
}


def _limb(
    start: tuple[float, float],
    angles: tuple[float, float],
    lengths: tuple[float, float],
    radii: tuple[float, float, float],
    side: int,
) -> tuple[_Shape, tuple[float, float]]:
    """A two-segment limb from `start`, bent at the joint, on the left (-1) or right (+1).

    Returns the shape and where the limb ends (a hand, a foot).
    """
    (ax, ay), (l1, l2), (r0, r1, r2) = start, lengths, radii
    a1, a2 = (math.radians(a) for a in angles)
    joint = (ax + side * l1 * math.sin(a1), ay - l1 * math.cos(a1))
    end = (joint[0] + side * l2 * math.sin(a2), joint[1] - l2 * math.cos(a2))
    shape = _union(_capsule(start, joint, r0, r1), _capsule(joint, end, r1, r2), k=r1 * 0.5)
    return shape, end


@dataclass(frozen=True)
class _Figure:
    """Proportions of a person standing with feet at y = 0, in metres."""

    height: float
    head: float
    """Head radius."""
    build: float
    """Width factor: 1 is average."""
    shoulder: float
    waist: float
    hip: float
    """Heights of shoulders, waist and hips."""
    shoulder_w: float
    waist_w: float
    hip_w: float
    """Half-widths at those heights."""

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Figure:
        child = rng.random() < 0.15
        h = rng.uniform(1.0, 1.35) if child else rng.uniform(1.55, 1.9)
        build = rng.uniform(0.85, 1.3)
        return cls(
            height=h,
            head=h * (0.085 if child else rng.uniform(0.06, 0.07)),
            build=build,
            shoulder=h * 0.81,
            waist=h * 0.6,
            hip=h * (0.47 if child else 0.5),
            shoulder_w=h * 0.115 * build,
            waist_w=h * 0.08 * build,
            hip_w=h * 0.09 * build,
        )


def _head(
    rng: np.random.Generator, cx: float, cy: float, r: float, skin: Texture, hair: Texture
) -> tuple[list[_Part], list[_Part]]:
    """(parts behind the body, parts in front) of a head of radius r: long hair or a ponytail
    behind; ears, face, eyes and short hair, a bun or a hat in front."""
    rx, ry = r * 0.86, r * 1.05
    ears = _union(*(_ellipse(cx + s * rx, cy - 0.1 * r, 0.2 * r, 0.3 * r) for s in (-1, 1)))
    eyes = _union(
        *(_ellipse(cx + s * 0.36 * rx, cy + 0.02 * r, 0.1 * r, 0.13 * r) for s in (-1, 1))
    )
    front = [
        _Part(ears, skin, 0.2 * r),
        _Part(_ellipse(cx, cy, rx, ry), skin, r * 0.9),
        _Part(eyes, _plain(_grey(rng, 0.0, 0.03)), r * 0.05, 0.5),
    ]
    behind: list[_Part] = []
    style = rng.choice(["short", "short", "long", "bun", "bald", "hat", "ponytail"])
    if style == "long":
        behind.append(_Part(_rbox(cx, cy - 0.9 * r, rx * 1.2, ry * 1.5, r * 0.8), hair, r * 0.5))
    elif style == "ponytail":
        tail = _capsule((cx + rx * 0.6, cy), (cx + rx * 1.2, cy - 1.6 * r), 0.35 * r, 0.15 * r)
        behind.append(_Part(tail, hair, r * 0.3))
    elif style == "bun":
        front.append(_Part(_circle(cx, cy + ry * 1.05, r * 0.45), hair, r * 0.4))
    if style == "hat":
        crown = _rbox(cx, cy + ry * 0.75, rx * 0.95, ry * 0.45, r * 0.3)
        brim = _rbox(cx, cy + ry * 0.4, rx * rng.uniform(1.15, 1.7), r * 0.09, r * 0.08)
        front.append(_Part(_union(crown, brim), _cloth_texture(rng, _cloth(rng)), r * 0.3))
    elif style != "bald":
        face = _ellipse(cx, cy - 0.3 * r, rx * 0.92, ry * 0.92)
        cap = _cut(_ellipse(cx, cy + 0.06 * r, rx * 1.1, ry * 1.06), face)
        front.append(_Part(cap, hair, r * 0.4))
    return behind, front


def _draw_person(rng: np.random.Generator) -> list[_Part]:
    """A person standing, seen from the front, in one of several outfits and arm poses."""
    fig = _Figure.draw(rng)
    h = fig.height
    skin, hair = _plain(_skin(rng), 0.05), _plain(_hair(rng), 0.25, 80.0)
    top, bottom = _cloth_texture(rng, _cloth(rng)), _cloth_texture(rng, _cloth(rng))
    outfit = rng.choice(["trousers", "trousers", "shorts", "skirt", "dress", "coat"])
    legs, feet = _legs(rng, fig)
    behind, head = _head(rng, 0.0, fig.shoulder + 0.04 * h + fig.head, fig.head, skin, hair)
    neck = _capsule((0, fig.shoulder - 0.02 * h), (0, fig.shoulder + 0.05 * h), 0.028 * h)
    shoes = _plain(_grey(rng, 0.02, 0.5), 0.05)
    return [
        *behind,
        *_legwear(rng, fig, outfit, legs, skin, dress=top, bottom=bottom),
        *(_Part(_ellipse(x * 1.15, h * 0.03, 0.05 * h, 0.03 * h), shoes, 0.02 * h) for x in feet),
        _Part(neck, skin, 0.025 * h),
        _Part(_torso(fig, long=outfit == "coat"), top, 0.07 * h),
        *_arms(rng, fig, skin, sleeves=top),
        *head,
    ]


def _legs(rng: np.random.Generator, fig: _Figure) -> tuple[_Shape, list[float]]:
    """Both legs, feet a little apart and knees a little bent; and the x of each foot."""
    h = fig.height
    spread = rng.uniform(0.0, 0.09) * h
    legs, feet = [], []
    for side in (-1, 1):
        hip = (side * fig.hip_w * 0.5, fig.hip)
        foot = (side * (fig.hip_w * 0.45 + spread), h * 0.04)
        knee = (
            (hip[0] + foot[0]) / 2 + side * rng.uniform(-0.01, 0.02) * h,
            (hip[1] + foot[1]) / 2,
        )
        thigh = _capsule(hip, knee, 0.055 * h * fig.build**0.5, 0.036 * h)
        legs.append(_union(thigh, _capsule(knee, foot, 0.036 * h, 0.024 * h), k=0.02 * h))
        feet.append(foot[0])
    return _union(*legs), feet


def _torso(fig: _Figure, long: bool) -> _Shape:
    """Sloping shoulders narrowing to the waist, then the hips; to the knees for a coat."""
    h, sw, ww, hw = fig.height, fig.shoulder_w, fig.waist_w, fig.hip_w
    drop = 0.035 * h
    hem = (hw * 1.25, h * 0.3) if long else (hw, fig.hip)
    outline = [
        (-sw, fig.shoulder - drop),
        (-sw * 0.45, fig.shoulder + 0.01 * h),
        (sw * 0.45, fig.shoulder + 0.01 * h),
        (sw, fig.shoulder - drop),
        (ww, fig.waist),
        hem,
        (-hem[0], hem[1]),
        (-ww, fig.waist),
    ]
    return _polygon(outline, 0.035 * h)


def _legwear(
    rng: np.random.Generator,
    fig: _Figure,
    outfit: str,
    legs: _Shape,
    skin: Texture,
    dress: Texture,
    bottom: Texture,
) -> list[_Part]:
    """Trousers over the legs, or bare legs under shorts, a skirt or a dress."""
    h = fig.height
    pelvis = _rbox(0.0, fig.hip + 0.02 * h, fig.hip_w, 0.07 * h, 0.04 * h)
    if outfit in ("trousers", "coat"):
        return [_Part(_union(pelvis, legs, k=0.02 * h), bottom, 0.05 * h)]
    bare = _Part(legs, skin, 0.035 * h)
    if outfit == "shorts":
        shorts = [
            _capsule(
                (s * fig.hip_w * 0.5, fig.hip), (s * fig.hip_w * 0.55, fig.hip - 0.17 * h), 0.06 * h
            )
            for s in (-1, 1)
        ]
        return [bare, _Part(_union(pelvis, *shorts, k=0.02 * h), bottom, 0.05 * h)]
    hem = h * rng.uniform(0.22, 0.38)
    flare = fig.hip_w * rng.uniform(1.1, 1.6)
    ww = fig.waist_w
    skirt = _polygon([(-ww, fig.waist), (ww, fig.waist), (flare, hem), (-flare, hem)], 0.015 * h)
    return [bare, _Part(skirt, dress if outfit == "dress" else bottom, 0.06 * h)]


def _arms(rng: np.random.Generator, fig: _Figure, skin: Texture, sleeves: Texture) -> list[_Part]:
    """Two arms, each in its own pose, in long or short sleeves, with hands."""
    h = fig.height
    names = list(_ARM_POSES)
    weights = np.array([w for _, _, w in _ARM_POSES.values()])
    long_sleeves = rng.random() < 0.6
    parts = []
    for side in (-1, 1):
        upper, fore, _ = _ARM_POSES[names[rng.choice(len(names), p=weights / weights.sum())]]
        angles = (rng.uniform(*upper), rng.uniform(*fore))
        shoulder = (side * (fig.shoulder_w - 0.015 * h), fig.shoulder - 0.045 * h)
        radii = (0.034 * h, 0.027 * h, 0.021 * h)
        arm, hand = _limb(shoulder, angles, (0.18 * h, 0.16 * h), radii, side)
        if long_sleeves:
            parts.append(_Part(arm, sleeves, 0.03 * h))
        else:
            sleeve, _ = _limb(shoulder, (angles[0],) * 2, (0.09 * h, 0.0), (0.04 * h,) * 3, side)
            parts += [_Part(arm, skin, 0.03 * h), _Part(sleeve, sleeves, 0.03 * h)]
        parts.append(_Part(_circle(*hand, 0.03 * h), skin, 0.025 * h))
    return parts


# ------------------------------------------------------------------------------------------------
# Cutouts: animals
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Species:
    """Proportions of a quadruped seen from the side, in body lengths (chest to rump)."""

    length: tuple[float, float]
    """Body length in metres."""
    leg: tuple[float, float]
    girth: tuple[float, float]
    neck: tuple[float, float]
    neck_angle: tuple[float, float]
    """Degrees above horizontal."""
    head: tuple[float, float]
    snout: tuple[float, float]
    """Snout length, in head radii."""
    ears: str
    tail: str
    coats: tuple[str, ...]


# fmt: off
_SPECIES = {
    "dog": _Species(
        length=(0.6, 1.0), leg=(0.45, 0.65), girth=(0.32, 0.42), neck=(0.2, 0.3),
        neck_angle=(35, 60), head=(0.14, 0.18), snout=(0.9, 1.4),
        ears="dog", tail="up", coats=("solid", "two-tone", "spots"),
    ),
    "cat": _Species(
        length=(0.4, 0.5), leg=(0.4, 0.5), girth=(0.3, 0.36), neck=(0.12, 0.18),
        neck_angle=(30, 55), head=(0.15, 0.18), snout=(0.35, 0.5),
        ears="pointy", tail="long", coats=("solid", "two-tone", "stripes"),
    ),
    "horse": _Species(
        length=(1.6, 2.0), leg=(0.85, 1.0), girth=(0.42, 0.5), neck=(0.45, 0.55),
        neck_angle=(50, 65), head=(0.11, 0.13), snout=(2.2, 2.8),
        ears="small", tail="hair", coats=("solid", "solid", "two-tone"),
    ),
    "cow": _Species(
        length=(1.8, 2.2), leg=(0.5, 0.6), girth=(0.55, 0.62), neck=(0.2, 0.26),
        neck_angle=(10, 25), head=(0.13, 0.15), snout=(1.2, 1.5),
        ears="horns", tail="rope", coats=("patches",),
    ),
    "sheep": _Species(
        length=(1.0, 1.3), leg=(0.45, 0.55), girth=(0.5, 0.6), neck=(0.15, 0.22),
        neck_angle=(25, 45), head=(0.11, 0.13), snout=(1.2, 1.5),
        ears="small", tail="stub", coats=("wool",),
    ),
}
# fmt: on

_FUR = {
    "dog": ((0.05, 0.11), (0.2, 0.7), (0.1, 0.85)),
    "cat": ((0.04, 0.1), (0.0, 0.75), (0.1, 0.9)),
    "horse": ((0.03, 0.08), (0.3, 0.75), (0.08, 0.6)),
    "cow": ((0.05, 0.1), (0.0, 0.35), (0.55, 0.95)),
    "sheep": ((0.08, 0.12), (0.05, 0.2), (0.75, 0.95)),
}


def _fur_coat(rng: np.random.Generator, kind: str, colour: np.ndarray, belly_y: float) -> Texture:
    """A species' coat: fur streaks with spots, stripes, a pale belly, or wool."""
    style = rng.choice(_SPECIES[kind].coats)
    pale = _mix(colour, np.ones(3, np.float32), 0.7)
    if style == "wool":
        return lambda x, y, px: _tint(colour, 0.75 + 0.5 * _noise(x * 60, y * 60, rough=True))
    fur = _furry(colour, 0.0)
    if style == "spots":
        other = pale if rng.random() < 0.5 else _mix(colour, np.zeros(3, np.float32), 0.8)
        return _patched(
            fur, other, rng.uniform(3.0, 8.0), rng.uniform(0.3, 0.5), rng.uniform(0, 99)
        )
    if style == "stripes":
        dark = _mix(colour, np.zeros(3, np.float32), 0.6)
        stripes = _striped(colour, dark, rng.uniform(0.03, 0.05), math.pi / 2 + 0.3)
        return _fading(stripes, pale, belly_y - 0.05, belly_y + 0.05)
    if style == "two-tone":
        return _fading(fur, pale, belly_y - 0.05, belly_y + 0.05)
    if style == "patches":
        dark = _random_colour(rng, hue=(0.03, 0.08), sat=(0.0, 0.6), val=(0.02, 0.3))
        return _patched(
            fur, dark, rng.uniform(1.5, 3.0), rng.uniform(0.35, 0.5), rng.uniform(0, 99)
        )
    return fur


def _darker(texture: Texture, factor: float) -> Texture:
    """`texture` in shade (far legs, far ears)."""
    if factor == 1.0:
        return texture
    return lambda x, y, px: texture(x, y, px) * factor


def _curve(points: Sequence[tuple[float, float]], r0: float, r1: float, steps: int = 6) -> _Shape:
    """A tapering tube along a quadratic Bezier through three control points."""
    (ax, ay), (bx, by), (cx, cy) = points
    t = np.linspace(0.0, 1.0, steps + 1)
    xs = (1 - t) ** 2 * ax + 2 * (1 - t) * t * bx + t**2 * cx
    ys = (1 - t) ** 2 * ay + 2 * (1 - t) * t * by + t**2 * cy
    radii = np.linspace(r0, r1, steps + 1)
    segments = [
        _capsule((xs[i], ys[i]), (xs[i + 1], ys[i + 1]), radii[i], radii[i + 1])
        for i in range(steps)
    ]
    return _union(*segments)


@dataclass(frozen=True)
class _Build:
    """Sizes of one animal in metres: body length (chest to rump), leg length and girth."""

    length: float
    leg: float
    girth: float

    @property
    def body_y(self) -> float:
        """Height of the body's centre line."""
        return self.leg + self.girth * 0.45


def _draw_quadruped(rng: np.random.Generator, kind: str) -> list[_Part]:
    """A four-legged animal standing or walking, seen from the side, facing right."""
    sp = _SPECIES[kind]
    L = rng.uniform(*sp.length)
    build = _Build(L, rng.uniform(*sp.leg) * L, rng.uniform(*sp.girth) * L)
    by, girth = build.body_y, build.girth
    colour = _random_colour(rng, *_FUR[kind])
    coat = _fur_coat(rng, kind, colour, by - girth * 0.25)
    dark = _plain(_grey(rng, 0.02, 0.08), 0.1)
    skin = dark if kind == "sheep" else coat  # a sheep's face and legs are bare and dark
    hair = _plain(_mix(colour, np.zeros(3, np.float32), 0.6), 0.3, 80) if kind == "horse" else coat
    far_legs, near_legs = _beast_legs(rng, build, kind, skin, dark)

    neck = (0.42 * L, by + girth * 0.15)
    angle = math.radians(rng.uniform(*sp.neck_angle))
    reach = rng.uniform(*sp.neck) * L
    head_c = (neck[0] + reach * math.cos(angle), neck[1] + reach * math.sin(angle))
    head_r = rng.uniform(*sp.head) * L
    head, nose = _beast_head(rng, kind, head_c, head_r)
    far_ear, near_ear = _ears(sp.ears, head_c, head_r, rng)
    tail = _tail(sp.tail, (-0.5 * L, by + girth * 0.2), L, girth, rng)

    parts = [*far_legs, _Part(tail, hair, girth * 0.08)]
    if far_ear is not None:
        parts.append(_Part(far_ear, _darker(skin, 0.75), head_r * 0.2))
    parts.append(_Part(_beast_body(rng, build, kind, neck, head_c, head_r), coat, girth * 0.45))
    if kind == "cow":
        udder = _ellipse(-0.15 * L, by - girth * 0.5, 0.08 * L, 0.06 * L)
        parts.append(_Part(udder, _plain(_colour(0.98, 0.35, 0.85)), 0.05 * L))
    parts += near_legs
    if kind == "horse":
        crest = (neck[0] - 0.06 * L, neck[1] + girth * 0.35)
        middle = ((crest[0] + head_c[0]) / 2, head_c[1] - head_r * 0.2)
        poll = (head_c[0] - head_r * 0.5, head_c[1] + head_r * 0.8)
        parts.append(
            _Part(_curve([crest, middle, poll], girth * 0.12, girth * 0.06), hair, girth * 0.05)
        )
    parts.append(_Part(head, skin, head_r * 0.8))
    if near_ear is not None:
        parts.append(_Part(near_ear, skin, head_r * 0.2))
    if kind == "cow":
        parts.append(
            _Part(_horn(head_c, head_r), _plain(_colour(0.12, 0.15, 0.85)), head_r * 0.1, 0.3)
        )
    eye = _circle(head_c[0] + head_r * 0.35, head_c[1] + head_r * 0.3, head_r * 0.13)
    parts.append(_Part(eye, _plain(_grey(rng, 0.0, 0.02)), head_r * 0.1, 0.6))
    parts.append(_Part(_ellipse(*nose, head_r * 0.2, head_r * 0.15), dark, head_r * 0.1, 0.3))
    return parts


def _beast_legs(
    rng: np.random.Generator, build: _Build, kind: str, skin: Texture, hoof: Texture
) -> tuple[list[_Part], list[_Part]]:
    """(far, near) legs with their paws or hooves; hind legs bend back at the hock, and a
    walking gait swings near and far legs apart."""
    L, by = build.length, build.body_y
    thick = {"horse": 0.06, "sheep": 0.045}.get(kind, 0.075) * L
    stride = rng.uniform(0.0, 0.12) * L
    far: list[_Part] = []
    near: list[_Part] = []
    for hip_x, hind in ((0.3, False), (-0.32, True)):
        for side, parts in ((-1, far), (1, near)):
            x = hip_x * L - (0.05 * L if side < 0 else 0.0)
            foot_x = x + (side if hind else -side) * stride + (0.03 * L if hind else 0.0)
            joint = (x - (0.08 * L if hind else -0.01 * L), build.leg * 0.45)
            leg = _union(
                _capsule((x, by - build.girth * 0.1), joint, thick * 1.2, thick * 0.7),
                _capsule(joint, (foot_x, thick * 0.5), thick * 0.7, thick * 0.55),
                k=thick * 0.5,
            )
            shade = 0.7 if side < 0 else 1.0
            parts.append(_Part(leg, _darker(skin, shade), thick))
            if kind != "cat":
                foot = _rbox(foot_x + 0.01 * L, thick * 0.4, thick * 0.7, thick * 0.42, thick * 0.3)
                parts.append(_Part(foot, _darker(hoof, shade), thick * 0.4))
    return far, near


def _beast_body(
    rng: np.random.Generator,
    build: _Build,
    kind: str,
    neck: tuple[float, float],
    head_c: tuple[float, float],
    head_r: float,
) -> _Shape:
    """Deep chest, rump and belly blended with the neck; a sheep's fleece is puffy."""
    L, by, girth = build.length, build.body_y, build.girth
    body = _union(
        _ellipse(0.22 * L, by - girth * 0.05, 0.3 * L, girth * 0.55),
        _ellipse(-0.28 * L, by + girth * 0.05, 0.26 * L, girth * 0.45),
        _ellipse(0.0, by + girth * 0.02, 0.34 * L, girth * 0.38),
        _capsule(neck, head_c, girth * 0.3, head_r * 0.75),
        k=0.1 * L,
    )
    if kind != "sheep":
        return body
    puffs = rng.uniform([-0.45, -0.35, 0.25], [0.45, 0.35, 0.4], (14, 3))
    return _union(body, *(_circle(x * L, by + y * girth, r * girth) for x, y, r in puffs))


def _beast_head(
    rng: np.random.Generator, kind: str, centre: tuple[float, float], r: float
) -> tuple[_Shape, tuple[float, float]]:
    """Cranium and muzzle (long and drooping for grazers); and where the nose is."""
    length = rng.uniform(*_SPECIES[kind].snout) * r
    droop = math.radians(rng.uniform(-40, -15) if kind in ("horse", "cow") else rng.uniform(-20, 0))
    nose = (centre[0] + length * math.cos(droop), centre[1] + length * math.sin(droop))
    head = _union(_circle(*centre, r), _capsule(centre, nose, r * 0.75, r * 0.45), k=r * 0.4)
    return head, nose


def _horn(head_c: tuple[float, float], r: float) -> _Shape:
    hx, hy = head_c
    return _curve(
        [
            (hx - 0.2 * r, hy + 0.6 * r),
            (hx - 0.1 * r, hy + 1.3 * r),
            (hx + 0.35 * r, hy + 1.45 * r),
        ],
        r * 0.16,
        r * 0.06,
    )


def _ears(
    style: str, head_c: tuple[float, float], r: float, rng: np.random.Generator
) -> tuple[_Shape | None, _Shape | None]:
    """(far ear, near ear): pointed, floppy or small; a far ear only shows when pointed."""
    hx, hy = head_c
    if style == "dog":
        style = "pointy" if rng.random() < 0.5 else "floppy"
    if style == "pointy":
        tip = rng.uniform(0.9, 1.4) * r
        ear = [
            (hx - 0.6 * r, hy + 0.5 * r),
            (hx - 0.1 * r, hy + 0.8 * r),
            (hx - 0.45 * r, hy + 0.55 * r + tip),
        ]
        return _polygon(ear, r * 0.05), _polygon([(x + 0.25 * r, y) for x, y in ear])
    if style == "floppy":
        return None, _ellipse(hx - 0.45 * r, hy - 0.1 * r, 0.3 * r, 0.75 * r, -0.3)
    if style == "horns":  # a cow's ear sticks out sideways under its horns
        return None, _ellipse(hx - 0.9 * r, hy + 0.3 * r, 0.45 * r, 0.18 * r, 0.3)
    return None, _ellipse(hx - 0.35 * r, hy + 0.95 * r, 0.16 * r, 0.4 * r, 0.4)


#: Tails: the middle and end control points (in body lengths from the root, the end's rise
#: scaled by how cocked the tail is), and radii at root and tip in body lengths.
_TAILS = {
    "long": ((-0.35, -0.1), (-0.3, 0.45), 0.035, 0.025),
    "up": ((-0.2, 0.05), (-0.25, 0.3), 0.045, 0.02),
    "hair": ((-0.15, -0.1), (-0.12, -0.55), 0.05, 0.035),
    "rope": ((-0.06, -0.2), (-0.05, -0.45), 0.02, 0.035),
}


def _tail(
    style: str, root: tuple[float, float], L: float, girth: float, rng: np.random.Generator
) -> _Shape:
    """A tail curving from `root`; a stub is a round tuft."""
    if style not in _TAILS:
        return _circle(root[0] + 0.02 * L, root[1], girth * 0.15)
    (mx, my), (ex, ey), r0, r1 = _TAILS[style]
    cocked = rng.uniform(0.2, 1.0) if ey > 0 else 1.0
    middle = (root[0] + mx * L, root[1] + my * L)
    end = (root[0] + ex * L, root[1] + ey * L * cocked)
    return _curve([root, middle, end], r0 * L, r1 * L, 8)


ColourRange = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
"""Ranges of hue, saturation and value to draw a colour from."""


@dataclass(frozen=True)
class _BirdKind:
    size: float
    """Metres from breast to tail."""
    plumage: ColourRange
    accent: ColourRange | None
    """Colour of the head (`hood`) or of the breast; None: paler plumage."""
    hood: bool
    legs: float
    """Leg length, in sizes."""
    lean: tuple[float, float]
    """Degrees the body is tilted, head up."""
    beak: float
    """Beak length, in head radii."""


# fmt: off
_BIRDS = {
    "pigeon": _BirdKind(
        0.3, plumage=((0, 1), (0, 0.08), (0.3, 0.55)),
        accent=((0.35, 0.8), (0.5, 0.5), (0.45, 0.45)),
        hood=True, legs=0.25, lean=(10, 35), beak=0.8),
    "songbird": _BirdKind(
        0.15, plumage=((0.05, 0.12), (0.3, 0.6), (0.3, 0.6)),
        accent=None,
        hood=False, legs=0.25, lean=(15, 40), beak=0.8),
    "crow": _BirdKind(
        0.45, plumage=((0, 1), (0, 0.08), (0.03, 0.08)),
        accent=((0, 1), (0, 0.08), (0.03, 0.08)),
        hood=True, legs=0.25, lean=(10, 30), beak=1.0),
    "duck": _BirdKind(
        0.5, plumage=((0.06, 0.1), (0.3, 0.6), (0.3, 0.6)),
        accent=((0.36, 0.36), (0.7, 0.7), (0.35, 0.35)),
        hood=True, legs=0.2, lean=(0, 10), beak=1.1),
    "chicken": _BirdKind(
        0.5, plumage=((0.05, 0.1), (0.0, 0.7), (0.4, 0.95)),
        accent=None,
        hood=False, legs=0.35, lean=(10, 30), beak=0.7),
    "parrot": _BirdKind(
        0.4, plumage=((0.0, 0.7), (0.7, 0.95), (0.5, 0.9)),
        accent=((0, 1), (0.7, 1.0), (0.5, 0.9)),
        hood=True, legs=0.25, lean=(25, 45), beak=1.1),
}
# fmt: on


def _draw_bird(rng: np.random.Generator) -> list[_Part]:
    """A bird standing, seen from the side, facing right: pigeon, songbird, crow, duck..."""
    name = rng.choice(list(_BIRDS))
    kind = _BIRDS[name]
    size = kind.size * rng.uniform(0.85, 1.15)
    plumage = _random_colour(rng, *kind.plumage)
    accent = (
        _random_colour(rng, *kind.accent)
        if kind.accent
        else _mix(plumage, np.ones(3, np.float32), 0.35)
    )
    lean = math.radians(rng.uniform(*kind.lean))
    bx, by = 0.0, size * (kind.legs + 0.3)
    rx, ry = size * 0.5, size * 0.3
    head_c = (bx + rx * 0.85, by + ry * (0.9 if name == "duck" else 1.1))
    head_r = size * (0.2 if name == "songbird" else 0.17)
    hx, hy = head_c
    feathers = _furry(plumage, lean, 0.2)
    body = _union(
        _ellipse(bx, by, rx, ry, lean),
        _circle(*head_c, head_r),
        _capsule((bx + rx * 0.4, by + ry * 0.2), head_c, ry * 0.6, head_r * 0.8),
        k=size * 0.1,
    )
    tip = (bx - rx * 1.45, by + ry * (1.2 if name == "chicken" else -0.6))
    tail = _polygon(
        [
            (bx - rx * 0.5, by + ry * 0.3),
            (tip[0], tip[1] + ry * 0.3),
            (tip[0] + rx * 0.1, tip[1] - ry * 0.3),
            (bx - rx * 0.4, by - ry * 0.3),
        ],
        size * 0.02,
    )
    wing = _ellipse(bx - rx * 0.1, by + ry * 0.1, rx * 0.75, ry * 0.55, lean - 0.1)
    coverts = _mix(plumage, np.zeros(3, np.float32), 0.35)
    beak = _polygon(
        [
            (hx + head_r * 0.7, hy + head_r * 0.25),
            (hx + head_r * (0.7 + kind.beak), hy - head_r * 0.05),
            (hx + head_r * 0.7, hy - head_r * 0.25),
        ],
        head_r * 0.08,
    )
    parts = [
        _Part(
            _bird_legs(bx, by - ry * 0.7, size),
            _plain(_random_colour(rng, (0, 0.1), (0.3, 0.8), (0.3, 0.8))),
            size * 0.01,
        ),
        _Part(tail, _darker(feathers, 0.8), size * 0.05),
        _Part(
            body,
            feathers if kind.hood else _fading(feathers, accent, by - ry * 0.6, by + ry * 0.2),
            size * 0.2,
        ),
    ]
    if kind.hood:
        parts.append(_Part(_circle(*head_c, head_r * 1.02), _plain(accent, 0.15), head_r * 0.8))
    parts.append(
        _Part(wing, _striped(coverts, plumage * 0.6, size * 0.08, lean + math.pi / 2), size * 0.1)
    )
    if name == "chicken":
        comb = _union(
            *(_circle(hx + d * head_r, hy + head_r * 0.95, head_r * 0.3) for d in (-0.4, 0, 0.4))
        )
        parts.append(_Part(comb, _plain(_colour(0.0, 0.85, 0.8)), head_r * 0.2))
    bill = _random_colour(rng, hue=(0.08, 0.14), sat=(0.5, 0.9), val=(0.5, 0.9))
    eye = _circle(hx + head_r * 0.35, hy + head_r * 0.2, head_r * 0.17)
    return [
        *parts,
        _Part(beak, _plain(bill), head_r * 0.2, 0.3),
        _Part(eye, _plain(_grey(rng, 0.0, 0.02)), head_r * 0.1, 0.7),
    ]


def _bird_legs(x: float, hip: float, size: float) -> _Shape:
    """Two thin legs from `hip` height down to toes pointing forward."""
    legs = [
        _capsule((x + dx, hip), (x + dx + size * 0.03, 0.01 * size), size * 0.018)
        for dx in (-0.05 * size, 0.05 * size)
    ]
    toes = [
        _capsule((x + dx, 0.01 * size), (x + dx + size * 0.12, 0.01 * size), size * 0.012)
        for dx in (-0.03 * size, 0.07 * size)
    ]
    return _union(*legs, *toes)


# ------------------------------------------------------------------------------------------------
# Cutouts: furniture
# ------------------------------------------------------------------------------------------------


def _furniture_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.6:
        return _wood_colour(rng)
    return _random_colour(rng, sat=(0.0, 0.6), val=(0.1, 0.9))


def _one_of(
    rng: np.random.Generator, styles: Sequence[Callable[..., list[_Part]]], *args: object
) -> list[_Part]:
    """Draw with one of several styles, picked at random (repeat a style to favour it)."""
    return styles[rng.integers(len(styles))](rng, *args)


def _draw_chair(rng: np.random.Generator) -> list[_Part]:
    """A dining chair, bar stool, office chair or armchair, from the front."""
    return _one_of(rng, [_dining_chair, _dining_chair, _stool, _office_chair, _armchair])


def _dining_chair(rng: np.random.Generator) -> list[_Part]:
    colour = _furniture_colour(rng)
    frame = _grain(colour)
    seat_h, w, t = rng.uniform(0.42, 0.5), rng.uniform(0.4, 0.5), rng.uniform(0.02, 0.03)
    back_h = seat_h + rng.uniform(0.4, 0.55)
    post = w / 2 - t * 1.5
    back_legs = _union(
        *(_rbox(s * post, back_h / 2 + 0.04, t * 0.8, back_h / 2 - 0.04, t * 0.3) for s in (-1, 1))
    )
    rest_h = rng.uniform(0.1, 0.3)
    rest = _rbox(0.0, back_h - rest_h / 2 - 0.02, post, rest_h / 2, t * 0.5)
    slats = _striped(colour, colour * 0.3, rng.uniform(0.04, 0.08), math.pi / 2)
    top = seat_h + 0.07  # the seat is seen a little from above
    seat = _polygon(
        [(-w / 2, seat_h), (w / 2, seat_h), (w / 2 - 0.03, top), (-w / 2 + 0.03, top)], t * 0.5
    )
    front_legs = _union(
        *(_rbox(s * (w / 2 - t), seat_h / 2, t, seat_h / 2, t * 0.3) for s in (-1, 1))
    )
    cushion = _cloth_texture(rng, _cloth(rng)) if rng.random() < 0.5 else frame
    return [
        _Part(back_legs, _darker(frame, 0.7), t),
        _Part(rest, slats if rng.random() < 0.5 else _darker(frame, 0.85), t),
        _Part(seat, cushion, t * 1.5),
        _Part(front_legs, frame, t),
    ]


def _stool(rng: np.random.Generator) -> list[_Part]:
    seat_h = rng.uniform(0.6, 0.8)
    legs = [_capsule((s * 0.1, seat_h), (s * 0.2, 0.0), 0.015) for s in (-1, -0.35, 0.35, 1)]
    ring = _rbox(0.0, seat_h * 0.35, 0.16, 0.012, 0.01)
    seat = _ellipse(0.0, seat_h + 0.02, 0.19, 0.04)
    frame = _grain(_furniture_colour(rng))
    return [
        _Part(_union(*legs, ring), frame, 0.015, 0.3),
        _Part(seat, _cloth_texture(rng, _cloth(rng)), 0.04),
    ]


def _office_chair(rng: np.random.Generator) -> list[_Part]:
    seat_h = rng.uniform(0.42, 0.5)
    metal = _plain(_furniture_colour(rng) * 0.3, 0.05)
    fabric = _cloth_texture(rng, _cloth(rng))
    feet = (-0.3, -0.12, 0.12, 0.3)
    star = [_capsule((0.0, 0.08), (x, 0.05), 0.015) for x in feet]
    column = _rbox(0.0, 0.25, 0.025, 0.17, 0.01)
    back = _rbox(0.0, seat_h + rng.uniform(0.3, 0.45), 0.22, rng.uniform(0.2, 0.3), 0.06)
    arms = [_rbox(s * 0.28, seat_h + 0.15, 0.02, 0.1, 0.015) for s in (-1, 1)]
    return [
        _Part(
            _union(*(_circle(x, 0.03, 0.03) for x in feet)), _plain(_grey(rng, 0.01, 0.05)), 0.02
        ),
        _Part(_union(*star, column), metal, 0.012, 0.4),
        _Part(back, fabric, 0.06),
        _Part(_union(*arms), metal, 0.015, 0.3),
        _Part(_rbox(0.0, seat_h, 0.26, 0.05, 0.04), fabric, 0.04),
    ]


def _armchair(rng: np.random.Generator) -> list[_Part]:
    seat_h, w = rng.uniform(0.42, 0.5), rng.uniform(0.7, 0.95)
    fabric = _cloth_texture(rng, _cloth(rng))
    legs = _union(*(_rbox(s * (w / 2 - 0.06), 0.05, 0.02, 0.05, 0.01) for s in (-1, 1)))
    back = _rbox(0.0, seat_h + 0.25, w / 2 - 0.05, 0.35, 0.1)
    seat = _rbox(0.0, seat_h - 0.05, w / 2, 0.14, 0.06)
    arms = _union(*(_rbox(s * (w / 2 - 0.06), seat_h + 0.05, 0.07, 0.22, 0.06) for s in (-1, 1)))
    return [
        _Part(legs, _grain(_furniture_colour(rng)), 0.02),
        _Part(back, _darker(fabric, 0.85), 0.12),
        _Part(seat, fabric, 0.08),
        _Part(arms, fabric, 0.07),
    ]


def _draw_table(rng: np.random.Generator) -> list[_Part]:
    """A table from the front: on four legs (two in front, two behind) or one pedestal."""
    wood = _grain(_furniture_colour(rng), vertical=False)
    h, w, t = rng.uniform(0.7, 0.78), rng.uniform(0.8, 1.8), rng.uniform(0.03, 0.06)
    top = _Part(_rbox(0.0, h - t / 2, w / 2, t / 2, t * 0.3), wood, t)
    if rng.random() < 0.35:
        pedestal = _union(
            _rbox(0.0, h / 2, 0.04, h / 2, 0.02), _rbox(0.0, 0.02, w * 0.25, 0.02, 0.015)
        )
        return [_Part(pedestal, _darker(wood, 0.8), 0.03), top]
    inset, leg = rng.uniform(0.02, 0.1), rng.uniform(0.02, 0.04)
    far = _union(
        *(_rbox(s * (w / 2 - inset - 0.15), h / 2, leg * 0.9, h / 2, 0.01) for s in (-1, 1))
    )
    near = _union(
        *(_rbox(s * (w / 2 - inset), h / 2, leg, h / 2, 0.01) for s in (-1, 1)),
        _rbox(0.0, h - t - 0.04, w / 2 - inset, 0.04, 0.01),
    )
    return [_Part(far, _darker(wood, 0.6), leg), _Part(near, wood, leg), top]


def _draw_sofa(rng: np.random.Generator) -> list[_Part]:
    """A sofa from the front: back, base, two or three seat cushions, arms, little legs."""
    fabric = _cloth_texture(rng, _cloth(rng))
    w = rng.uniform(1.5, 2.4)
    seats = int(rng.integers(2, 4))
    pitch = (w - 0.4) / seats
    cushions = [
        _rbox(-w / 2 + 0.2 + pitch * (i + 0.5), 0.47, pitch / 2 - 0.01, 0.07, 0.05)
        for i in range(seats)
    ]
    return [
        _Part(
            _union(*(_rbox(s * (w / 2 - 0.1), 0.04, 0.025, 0.04, 0.01) for s in (-1, 1))),
            _grain(_wood_colour(rng)),
            0.02,
        ),
        _Part(_rbox(0.0, 0.6, w / 2 - 0.1, 0.28, 0.1), _darker(fabric, 0.85), 0.15),
        _Part(_rbox(0.0, 0.28, w / 2, 0.17, 0.06), _darker(fabric, 0.9), 0.08),
        _Part(_union(*cushions), fabric, 0.07),
        _Part(
            _union(*(_rbox(s * (w / 2 - 0.09), 0.4, 0.1, 0.25, 0.08) for s in (-1, 1))), fabric, 0.1
        ),
    ]


def _draw_lamp(rng: np.random.Generator) -> list[_Part]:
    """A floor lamp, desk lamp or table lamp."""
    metal = _plain(_random_colour(rng, sat=(0.0, 0.5), val=(0.1, 0.85)), 0.05)
    shade = _plain(_random_colour(rng, hue=(0.05, 0.15), sat=(0.05, 0.5), val=(0.6, 0.98)), 0.1)
    return _one_of(rng, [_standard_lamp, _desk_lamp, _table_lamp], metal, shade)


def _standard_lamp(rng: np.random.Generator, metal: Texture, fabric: Texture) -> list[_Part]:
    h = rng.uniform(1.4, 1.8)
    r0, r1 = rng.uniform(0.1, 0.18), rng.uniform(0.18, 0.28)
    stand = _union(_ellipse(0.0, 0.02, 0.16, 0.025), _rbox(0.0, h / 2, 0.012, h / 2))
    shade = _polygon([(-r1, h - 0.3), (r1, h - 0.3), (r0, h), (-r0, h)], 0.01)
    return [_Part(stand, metal, 0.01, 0.5), _Part(shade, fabric, 0.08)]


def _desk_lamp(rng: np.random.Generator, metal: Texture, fabric: Texture) -> list[_Part]:
    elbow = (rng.uniform(-0.2, -0.05), rng.uniform(0.25, 0.4))
    hx, hy = elbow[0] + rng.uniform(0.2, 0.3), elbow[1] + rng.uniform(0.05, 0.15)
    arm = _union(_capsule((0.0, 0.04), elbow, 0.012), _capsule(elbow, (hx, hy), 0.012))
    cone = [
        (hx - 0.02, hy + 0.04),
        (hx + 0.06, hy - 0.13),
        (hx + 0.16, hy - 0.06),
        (hx + 0.04, hy + 0.05),
    ]
    base = _ellipse(0.0, 0.02, 0.09, 0.02)
    return [
        _Part(_union(arm, base), metal, 0.01, 0.5),
        _Part(_polygon(cone, 0.01), metal, 0.04, 0.6),
    ]


def _table_lamp(rng: np.random.Generator, metal: Texture, fabric: Texture) -> list[_Part]:
    body = _lathe(
        0.0, [(0.0, 0.06), (0.05, 0.1), (0.15, 0.12), (0.25, 0.08), (0.3, 0.03), (0.35, 0.02)]
    )
    glaze = _plain(_random_colour(rng, sat=(0.2, 0.8), val=(0.2, 0.9)), 0.05)
    shade = _polygon([(-0.2, 0.33), (0.2, 0.33), (0.13, 0.58), (-0.13, 0.58)], 0.01)
    return [_Part(body, glaze, 0.08, 0.7), _Part(shade, fabric, 0.06)]


def _draw_plant(rng: np.random.Generator) -> list[_Part]:
    """A potted plant: leafy, a little tree, a cactus or tall blades."""
    r, h = rng.uniform(0.1, 0.25), rng.uniform(0.15, 0.4)
    green = _random_colour(rng, hue=(0.22, 0.38), sat=(0.4, 0.85), val=(0.2, 0.6))
    return _one_of(rng, [_leaves, _blades, _potted_tree, _cactus], r, h, green) + _pot(rng, r, h)


def _pot(rng: np.random.Generator, r: float, h: float) -> list[_Part]:
    """A flower pot `h` tall, `r` wide at the rim: terracotta, or glazed in any colour."""
    clay = _random_colour(rng, hue=(0.02, 0.1), sat=(0.2, 0.75), val=(0.3, 0.85))
    if rng.random() < 0.4:
        clay = _random_colour(rng, sat=(0.0, 0.6), val=(0.2, 0.95))
    body = _polygon([(-r * 0.75, 0.0), (r * 0.75, 0.0), (r, h * 0.9), (-r, h * 0.9)], r * 0.03)
    rim = _rbox(0.0, h * 0.93, r * 1.08, h * 0.07, r * 0.04)
    return [_Part(body, _plain(clay, 0.1), r * 0.6, 0.2), _Part(rim, _plain(clay * 0.9), h * 0.05)]


def _leaves(
    rng: np.random.Generator, r: float, h: float, green: np.ndarray, blade: float = 0.0
) -> list[_Part]:
    """Leaves fanning out of the pot at height h, in two layers; narrow blades when `blade`."""
    layers: tuple[list[_Shape], list[_Shape]] = ([], [])
    for i in range(rng.integers(7, 13)):
        angle = math.radians(rng.uniform(-70, 70))
        length = rng.uniform(0.3, 0.7) * (1.6 if blade else 1.0)
        width = length * (blade or rng.uniform(0.2, 0.3))
        centre = (math.sin(angle) * length * 0.5, h + math.cos(angle) * length * 0.5)
        layers[i % 2].append(_ellipse(*centre, width, length * 0.5, -angle))
    veins = (_striped(green * 0.7, green * 0.5, 0.04), _striped(green, green * 0.7, 0.04))
    return [_Part(_union(*layer), tex, 0.03) for layer, tex in zip(layers, veins, strict=True)]


def _blades(rng: np.random.Generator, r: float, h: float, green: np.ndarray) -> list[_Part]:
    return _leaves(rng, r, h, green, blade=0.08)


def _potted_tree(rng: np.random.Generator, r: float, h: float, green: np.ndarray) -> list[_Part]:
    top, canopy = h + rng.uniform(0.5, 1.2), rng.uniform(0.25, 0.45)
    trunk = _capsule((0.0, h * 0.8), (rng.uniform(-0.05, 0.05), top), 0.02, 0.015)
    centres = np.array([0.0, top]) + rng.normal(0.0, canopy * 0.4, (7, 2))
    blobs = [_circle(x, y, canopy * rng.uniform(0.5, 0.8)) for x, y in centres]
    return [
        _Part(trunk, _grain(_wood_colour(rng) * 0.6), 0.02),
        _Part(_union(*blobs), _furry(green, 0.0, 0.5), canopy * 0.6),
    ]


def _cactus(rng: np.random.Generator, r: float, h: float, green: np.ndarray) -> list[_Part]:
    height = rng.uniform(0.3, 0.9)
    arms = [
        _curve(
            [
                (0.0, h + height * y),
                (s * r * 1.6, h + height * y),
                (s * r * 1.6, h + height * (y + 0.3)),
            ],
            r * 0.35,
            r * 0.3,
        )
        for s, y in ((-1, rng.uniform(0.3, 0.5)), (1, rng.uniform(0.4, 0.6)))
    ]
    body = _union(_capsule((0.0, h), (0.0, h + height), r * 0.6), *arms, k=r * 0.1)
    return [_Part(body, _striped(green, green * 0.6, r * 0.25, math.pi / 2), r * 0.5)]


def _draw_cabinet(rng: np.random.Generator) -> list[_Part]:
    """A bookcase or a chest of drawers, from the front."""
    colour = _furniture_colour(rng)
    w, h = rng.uniform(0.6, 1.4), rng.uniform(0.7, 2.0)
    carcass = _rbox(0.0, h / 2, w / 2, h / 2, 0.01)
    return _one_of(rng, [_bookcase, _drawers], colour, w, h, carcass)


def _bookcase(
    rng: np.random.Generator, colour: np.ndarray, w: float, h: float, carcass: _Shape
) -> list[_Part]:
    shelves = int(max(2, h // 0.35))
    pitch = (h - 0.1) / shelves
    salt = int(rng.integers(999))

    def books(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        row = np.floor((y - 0.05) / pitch)
        slot = np.floor(x / 0.035 + 3.7 * row)
        spine = _SPINES[:, (_hash(slot, row, salt) * len(_SPINES[0])).astype(int)]
        spine = spine * (0.6 + 0.4 * _hash(slot, row, salt + 2))
        filled = ((y - 0.05) / pitch - row) < 0.6 + 0.35 * _hash(slot, row, salt + 1)
        gaps = _lines(x + 3.7 * row * 0.035, 0.035, 0.004, px)
        return np.where(filled, _mix(spine, colour * 0.2, gaps), _channels(colour * 0.25, 2))

    inside = _rbox(0.0, h / 2 + 0.01, w / 2 - 0.03, h / 2 - 0.04)
    return [_Part(carcass, _grain(colour), 0.02), _Part(inside, books, 0.005)]


def _drawers(
    rng: np.random.Generator, colour: np.ndarray, w: float, h: float, carcass: _Shape
) -> list[_Part]:
    count = int(rng.integers(3, 6))
    pitch = (h - 0.1) / count
    heights = [0.08 + pitch * (i + 0.5) for i in range(count)]
    fronts = [_rbox(0.0, y, w / 2 - 0.03, pitch / 2 - 0.01, 0.01) for y in heights]
    knobs = [_circle(s * (w / 2 - 0.03) * 0.5, y, 0.018) for y in heights for s in (-1, 1)]
    return [
        _Part(carcass, _darker(_grain(colour), 0.8), 0.02),
        _Part(_union(*fronts), _grain(colour, vertical=False), 0.015),
        _Part(_union(*knobs), _plain(_grey(rng, 0.3, 0.8)), 0.015, 0.8),
    ]


# ------------------------------------------------------------------------------------------------
# Cutouts: vehicles
# ------------------------------------------------------------------------------------------------


def _glass_texture(tint: np.ndarray) -> Texture:
    """Tinted glass: a vertical gradient and a diagonal reflection streak."""

    def texture(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        streak = _smoothstep(0.12, 0.0, np.abs(((x + y * 0.8) * 1.3) % 1.0 - 0.5))
        return _mix(tint * 0.4, tint * 1.6 + 0.15, _smoothstep(0.8, 1.5, y) * 0.5 + 0.5 * streak)

    return texture


def _wheel(cx: float, r: float, rim: np.ndarray, rng: np.random.Generator) -> list[_Part]:
    """A tyre of radius r standing on the ground at x = cx, around a spoked hub."""
    spokes = int(rng.integers(5, 8))

    def hub(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
        angle = np.arctan2(y - r, x - cx)
        ribs = 0.5 + 0.5 * np.cos(angle * spokes)
        radius = np.hypot(x - cx, y - r)
        return _tint(rim, 0.55 + 0.45 * _smoothstep(0.3, 0.7, ribs) * (radius > r * 0.18))

    return [
        _Part(_circle(cx, r, r), _plain(_grey(rng, 0.01, 0.04), 0.2, 40), r * 0.3),
        _Part(_circle(cx, r, r * 0.62), hub, r * 0.15, 0.5),
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


def _draw_vehicle(rng: np.random.Generator, kind: str) -> list[_Part]:
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
    pillar = _rbox((glass[1][0] + glass[2][0]) / 2 + 0.1, (belt + roof) / 2, 0.05, roof)
    paint = _random_colour(rng, sat=(0.0, 0.85), val=(0.1, 0.9))
    front, back = 0.8 * L, 0.18 * L
    arches = _union(_circle(front, r, r * 1.12), _circle(back, r, r * 1.12))
    bumpers = _union(*(_rbox(x * L, low + 0.08, 0.06, 0.08, 0.04) for x in (0.015, 0.985)))
    lamps = _union(
        _ellipse(0.985 * L, belt - 0.15, 0.07, 0.05), _ellipse(0.015 * L, belt - 0.12, 0.05, 0.06)
    )
    seam = _rbox(style.door * L, (low + belt) / 2, 0.008, (belt - low) / 2 - 0.05)
    handle = _rbox((style.door - 0.04) * L, belt - 0.12, 0.07, 0.015, 0.01)
    rim = _grey(rng, 0.4, 0.85)
    return [
        _Part(_polygon(body, 0.06), _plain(paint, 0.04), 0.12, 0.45),
        _Part(
            _cut(_polygon(glass, 0.03), pillar), _glass_texture(_colour(0.58, 0.3, 0.45)), 0.05, 0.6
        ),
        _Part(arches, _plain(paint * 0.15, 0.05), 0.05),
        _Part(bumpers, _plain(_grey(rng, 0.02, 0.2)), 0.04, 0.3),
        _Part(lamps, _car_lamps(L / 2), 0.03, 0.8),
        _Part(_union(seam, handle), _plain(paint * 0.3), 0.01, 0.3),
        *_wheel(front, r, rim, rng),
        *_wheel(back, r, rim, rng),
    ]


def _car_lamps(middle: float) -> Texture:
    """White headlamps in front of x = `middle`, red tail lamps behind it."""
    head, tail = _colour(0.12, 0.2, 1.0) * 1.5, _colour(0.0, 0.9, 0.8)
    return lambda x, y, px: _mix(head, tail, (np.broadcast_to(x, np.shape(x + y)) < middle) * 1.0)


def _draw_bike(rng: np.random.Generator) -> list[_Part]:
    """A bicycle from the side."""
    r, base = rng.uniform(0.3, 0.36), rng.uniform(1.0, 1.1)
    bb = (base * 0.42, r * 0.85)
    seat = (base * 0.3, r + rng.uniform(0.45, 0.6))
    head_top, head_bottom = (base * 0.88, seat[1] + 0.02), (base * 0.9, seat[1] - 0.15)
    rear, front = (0.0, r), (base, r)
    tube = rng.uniform(0.014, 0.022)
    frame = _union(
        _capsule(bb, seat, tube),
        _capsule(seat, head_top, tube),
        _capsule(bb, head_bottom, tube * 1.2),
        _capsule(bb, rear, tube * 0.8),
        _capsule(seat, rear, tube * 0.7),
        _capsule(head_top, front, tube),
        _capsule(head_top, (head_top[0] - 0.02, head_top[1] + 0.12), tube),
        _capsule(
            (head_top[0] - 0.02, head_top[1] + 0.12),
            (head_top[0] - 0.14, head_top[1] + 0.14),
            tube * 0.9,
        ),
    )
    wheels = _union(*(_ring(cx, r, r - 0.025, 0.022) for cx in (0.0, base)))
    spokes = _union(
        *(
            _capsule((cx, r), (cx + (r - 0.04) * math.cos(a), r + (r - 0.04) * math.sin(a)), 0.003)
            for cx in (0.0, base)
            for a in np.linspace(0, 2 * np.pi, 16, endpoint=False)
        )
    )
    saddle = _polygon(
        [
            (seat[0] - 0.12, seat[1] + 0.06),
            (seat[0] + 0.1, seat[1] + 0.07),
            (seat[0] + 0.1, seat[1] + 0.04),
            (seat[0] - 0.1, seat[1] + 0.02),
        ],
        0.015,
    )
    crank = _union(
        _circle(*bb, 0.07),
        _capsule(bb, (bb[0] + 0.05, bb[1] - 0.15), 0.012),
        _rbox(bb[0] + 0.05, bb[1] - 0.16, 0.045, 0.012, 0.005),
    )
    paint = _random_colour(rng, sat=(0.3, 0.95), val=(0.15, 0.9))
    black = _plain(_grey(rng, 0.01, 0.04), 0.1)
    return [
        _Part(spokes, _plain(_grey(rng, 0.5, 0.8)), 0.003, 0.5),
        _Part(wheels, black, 0.02),
        _Part(frame, _plain(paint, 0.03), tube, 0.7),
        _Part(crank, _plain(_grey(rng, 0.2, 0.6)), 0.02, 0.6),
        _Part(
            _union(saddle, _capsule(seat, (seat[0] - 0.02, seat[1] + 0.04), 0.01)), black, 0.02, 0.3
        ),
    ]


# ------------------------------------------------------------------------------------------------
# Cutouts: small objects and street furniture
# ------------------------------------------------------------------------------------------------


def _draw_bottle(rng: np.random.Generator) -> list[_Part]:
    """A glass bottle with a striped label and a cap."""
    h, r = rng.uniform(0.2, 0.35), rng.uniform(0.03, 0.045)
    neck = r * rng.uniform(0.3, 0.45)
    shoulder = rng.uniform(0.5, 0.7)
    body = _lathe(
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
    glass = _random_colour(rng, hue=(0.1, 0.45), sat=(0.3, 0.9), val=(0.2, 0.7))
    label = _clip(body, _rbox(0.0, h * shoulder * 0.55, r * 2, h * shoulder * 0.25))
    cap = _rbox(0.0, h + 0.008, neck * 1.15, 0.012, 0.004)
    return [
        _Part(body, _plain(glass, 0.03), r * 0.9, 0.9),
        _Part(label, _striped(_cloth(rng), _cloth(rng), h * 0.1, math.pi / 2), r * 0.8, 0.1),
        _Part(cap, _plain(_cloth(rng)), 0.006, 0.6),
    ]


def _draw_vase(rng: np.random.Generator) -> list[_Part]:
    """A glazed vase with a wavy profile, plain or banded."""
    h = rng.uniform(0.2, 0.6)
    radii = rng.uniform(0.25, 0.55, 5) * h * np.array([0.6, 1.0, 0.9, 0.5, 0.7])
    body = _lathe(0.0, list(zip(np.linspace(0.0, h, 5), radii, strict=True)))
    glaze = _random_colour(rng, sat=(0.2, 0.9), val=(0.2, 0.9))
    tex = (
        _striped(glaze, _cloth(rng), h * rng.uniform(0.05, 0.15), 0.0)
        if rng.random() < 0.5
        else _plain(glaze, 0.05)
    )
    return [_Part(body, tex, float(radii.max()), 0.8)]


def _draw_sign(rng: np.random.Generator) -> list[_Part]:
    """A road sign on a post: octagon, disc, triangle or panel, white-rimmed, maybe an arrow."""
    h, r = rng.uniform(2.0, 2.6), rng.uniform(0.3, 0.4)
    cy = h - r
    style = rng.choice(["octagon", "disc", "triangle", "panel"])
    shapes = {
        "octagon": lambda k: _regular_polygon(0.0, cy, r * k, 8, math.pi / 8),
        "disc": lambda k: _circle(0.0, cy, r * k),
        "triangle": lambda k: _regular_polygon(0.0, cy, 1.2 * r * k, 3, math.pi / 2, 0.03 * k),
        "panel": lambda k: _rbox(0.0, cy, r * 1.4 * k, r * 0.8 * k, 0.04),
    }[style]
    white = _plain(_grey(rng, 0.85, 0.95), 0.03)
    colour = _plain(_colour(rng.choice([0.0, 0.6, 0.35, 0.12]), 0.85, 0.75), 0.03)
    post = _rbox(0.0, h / 2 - 0.2, 0.03, h / 2 - 0.2, 0.01)
    parts = [
        _Part(post, _plain(_grey(rng, 0.3, 0.6), 0.03), 0.03, 0.5),
        _Part(shapes(1.0), white, 0.03, 0.3),
        _Part(shapes(0.85), colour, 0.02, 0.3),
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
        parts.append(_Part(_polygon([(x * r, cy + y * r) for x, y in arrow]), white, 0.01))
    return parts


def _regular_polygon(
    cx: float, cy: float, r: float, sides: int, turn: float, rounding: float = 0.0
) -> _Shape:
    """A regular polygon with corners on a circle of radius r, the first at angle `turn`."""
    angles = turn + np.arange(sides) * (2 * np.pi / sides)
    return _polygon(
        list(zip(cx + r * np.cos(angles), cy + r * np.sin(angles), strict=True)), rounding
    )


def _draw_cone(rng: np.random.Generator) -> list[_Part]:
    """An orange traffic cone with white bands, on its square base."""
    h = rng.uniform(0.45, 0.75)
    body = _lathe(0.0, [(0.03, h * 0.22), (h, h * 0.05)])
    orange = _colour(rng.uniform(0.02, 0.08), 0.9, 0.95)
    bands = _striped(orange, _grey(rng, 0.85, 0.95), h * 0.3, 0.0)
    base = _rbox(0.0, 0.02, h * 0.3, 0.02, 0.01)
    return [_Part(base, _plain(orange * 0.6), 0.02), _Part(body, bands, h * 0.12, 0.3)]


def _draw_hydrant(rng: np.random.Generator) -> list[_Part]:
    """A fire hydrant: barrel, domed cap, side nozzles and flanges."""
    paint = _plain(_random_colour(rng, hue=(-0.03, 0.15), sat=(0.7, 0.95), val=(0.5, 0.9)), 0.08)
    body = _union(
        _rbox(0.0, 0.35, 0.11, 0.3, 0.05),
        _circle(0.0, 0.65, 0.1),
        _rbox(0.0, 0.76, 0.025, 0.03, 0.01),
    )
    nozzles = _union(_rbox(0.0, 0.48, 0.19, 0.045, 0.02), _circle(0.0, 0.36, 0.07))
    flange = _union(_rbox(0.0, 0.03, 0.16, 0.03, 0.01), _rbox(0.0, 0.6, 0.14, 0.025, 0.01))
    return [
        _Part(nozzles, _darker(paint, 0.8), 0.04, 0.4),
        _Part(body, paint, 0.1, 0.4),
        _Part(flange, _darker(paint, 0.9), 0.02, 0.4),
    ]


def _draw_bin(rng: np.random.Generator) -> list[_Part]:
    """A ribbed wheelie bin with its lid."""
    h, w = rng.uniform(0.8, 1.1), rng.uniform(0.5, 0.7)
    colour = _random_colour(rng, sat=(0.0, 0.7), val=(0.1, 0.6))
    body = _polygon([(-w * 0.42, 0.0), (w * 0.42, 0.0), (w / 2, h * 0.9), (-w / 2, h * 0.9)], 0.02)
    lid = _rbox(0.0, h * 0.93, w * 0.53, h * 0.05, 0.02)
    wheels = _union(*(_circle(s * w * 0.35, 0.05, 0.06) for s in (-1, 1)))
    return [
        _Part(wheels, _plain(_grey(rng, 0.01, 0.04)), 0.03),
        _Part(body, _striped(colour, colour * 0.7, 0.08, math.pi / 2), 0.1, 0.2),
        _Part(lid, _plain(colour * 0.8), 0.03, 0.3),
    ]


def _draw_suitcase(rng: np.random.Generator) -> list[_Part]:
    """A ribbed hard-shell suitcase with a pull handle and wheels."""
    h, w = rng.uniform(0.5, 0.75), rng.uniform(0.35, 0.5)
    colour = _random_colour(rng, sat=(0.0, 0.9), val=(0.1, 0.9))
    body = _rbox(0.0, h / 2 + 0.04, w / 2, h / 2, 0.05)
    handle = _union(
        _rbox(-0.06, h + 0.1, 0.012, 0.06),
        _rbox(0.06, h + 0.1, 0.012, 0.06),
        _rbox(0.0, h + 0.16, 0.075, 0.015, 0.01),
    )
    wheels = _union(*(_circle(s * (w / 2 - 0.05), 0.03, 0.03) for s in (-1, 1)))
    return [
        _Part(_union(handle, wheels), _plain(_grey(rng, 0.02, 0.1)), 0.012, 0.5),
        _Part(body, _striped(colour, colour * 0.75, 0.06, math.pi / 2), 0.06, 0.5),
    ]


# ------------------------------------------------------------------------------------------------
# Cutouts: the set
# ------------------------------------------------------------------------------------------------

_CUTOUT_BUILDERS: dict[str, Callable[[np.random.Generator], list[_Part]]] = {
    "person": _draw_person,
    **{kind: functools.partial(_draw_quadruped, kind=kind) for kind in _SPECIES},
    "bird": _draw_bird,
    "chair": _draw_chair,
    "table": _draw_table,
    "sofa": _draw_sofa,
    "lamp": _draw_lamp,
    "plant": _draw_plant,
    "cabinet": _draw_cabinet,
    "car": functools.partial(_draw_vehicle, kind="car"),
    "van": functools.partial(_draw_vehicle, kind="van"),
    "bike": _draw_bike,
    "bottle": _draw_bottle,
    "vase": _draw_vase,
    "sign": _draw_sign,
    "cone": _draw_cone,
    "hydrant": _draw_hydrant,
    "bin": _draw_bin,
    "suitcase": _draw_suitcase,
}

#: Kinds dealt to indices, weighted by repetition: people most often, then animals.
_CUTOUT_KINDS = (
    ("person",) * 5
    + ("dog", "dog", "cat", "horse", "cow", "sheep", "bird", "bird")
    + ("chair", "chair", "table", "sofa", "lamp", "plant", "plant", "cabinet")
    + ("car", "car", "van", "bike")
    + ("bottle", "vase", "sign", "cone", "hydrant", "bin", "suitcase")
)


def render_cutout(seed: int, index: int, height: int) -> tuple[str, np.ndarray]:
    """Render fg cutout `index` of the procedural set drawn from `seed`.

    Args:
        seed: Seed of the whole set.
        index: Which cutout (>= 0); consecutive indices cycle through all kinds.
        height: Height of the cutout in pixels.

    Returns:
        (name, rgba): name like ``"proc-fg-042-dog"``; rgba is (height, w, 4) uint8 with
        straight alpha, cropped tightly to alpha > 0, w following the object's aspect.
    """
    if height < 8:
        raise ValueError(f"cutout height must be at least 8 pixels, got {height}")
    kind = _pick_kind(seed, index, _CUTOUT_KINDS, _CUTOUT_KIND_SALT)
    rng = _rng(seed, index, _CUTOUT_SALT)
    parts = _CUTOUT_BUILDERS[kind](rng)
    flip = bool(rng.random() < 0.5)
    light = _LIGHT * np.array([-1.0 if flip else 1.0, 1.0, 1.0])
    rgba = _rasterise(parts, height, light)
    return f"proc-fg-{index:03d}-{kind}", np.ascontiguousarray(rgba[:, ::-1] if flip else rgba)
