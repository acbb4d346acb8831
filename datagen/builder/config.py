"""The build configuration: one frozen dataclass that fully determines a store's contents."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Literal, get_args

from datagen.common.errors import InputError

DepthSource = Literal["geometric", "teacher"]
ShadowMode = Literal["off", "soft", "hard"]
#: Procedural scenes (and cutouts) of a build that gives no --bg (--fg) and no --n-bg (--n-fg).
PROCEDURAL_COUNT = 100

#: The choices of ``--depth``.
DEPTH_SOURCES: tuple[str, ...] = get_args(DepthSource)
#: The choices of ``--shadows``.
SHADOW_MODES: tuple[str, ...] = get_args(ShadowMode)

#: Keys of :class:`BuildConfig` that change how a build runs but not a single stored byte.
RUNTIME_ONLY_KEYS = frozenset({"out", "workers", "overwrite"})
#: Keys a store's attributes record only when they are set: stores that leave them unset keep
#: the bytes of stores built before the keys existed.
RECORDED_WHEN_SET = frozenset({"depth_scale", "builtin_fg"})


@dataclass(frozen=True)
class BuildConfig:
    """Everything `fgd datagen build` needs.

    The stored arrays are a pure function of every field except :data:`RUNTIME_ONLY_KEYS`, so
    two builds with equal :meth:`content_key` give byte-identical arrays.

    Attributes:
        out: Path of the Zarr store to write.
        bg: Folder of bg photos, or None for the built-in procedural scenes.
        fg: Folder of RGBA fg cutouts, or None for the built-in procedural cutouts.
        size: Height and width of every stored image.
        n_bg: Number of bg scenes (procedural), or the first N files of `bg` in name order
            (None: all of them).
        n_fg: Likewise for fg cutouts.
        builtin_fg: With `fg`: this many of the built-in procedural cutouts are used beside
            the folder's (after them), so that a model meets more kinds of object than a few
            photos hold; None: none.
        positions: Random placements per (bg, fg, flip).
        flip: Whether each (bg, fg) pair is also composited with the fg mirrored.
        seed: Seed of everything random (procedural assets, sample order, placements).
        workers: Processes writing shards in parallel.
        overwrite: Replace an existing store built with another config.
        depth: Where the depth map comes from: the scene geometry or a teacher network.
        depth_model: The teacher (required by ``depth="teacher"``): a TorchScript file, a
            transformers depth-model folder or a Hugging Face hub id
            (:mod:`datagen.builder.teacher`).
        depth_scale: For a relative teacher: metric inverse depth per unit of its disparity
            (the ``user-scale`` rule); None fits each image to the ground-plane prior.
        bg_depth: Folder with one depth map per bg photo (`<stem>.npy` in metres or
            `<stem>.png` 16-bit in millimetres); None uses the ground-plane prior.
        scale_min: Smallest fg height, as a fraction of the frame height.
        scale_max: Largest fg height, as a fraction of the frame height.
        max_outside: Fraction of the fg width allowed to leave the frame at either side.
        fg_jitter: Per-composite photometric variation of the cutout (albumentations).
        max_depth: Far clip of every depth map, in metres.
        jpeg_quality: Quality of the JPEG-coded fg region of each fg_bg image (4:4:4).
        shadows: Shadows the fg casts on the ground of its fg_bg image
            (:mod:`datagen.builder.shadows`):
            ``"soft"`` (a penumbra that widens with the distance from the object), ``"hard"``
            (no penumbra) or ``"off"``.
        shadow_p: Fraction of the samples that get a shadow (cast and contact shadow). 0.3
            as BackgroundMattingV2's shadow augmentation; shading a sample costs more than
            compositing it, and 0.3 keeps the 400K default build within its time budget
            (docs/benchmarks.md, "Against another checkout").
        shadow_strength_min: Weakest cast shadow on a user photo (fraction of the ground's
            value it removes; a procedural scene's own light sets its strength).
        shadow_strength_max: Strongest cast shadow on a user photo.
        chunk_size: Samples per Zarr chunk (the unit the loader reads).
        shard_size: Samples per Zarr shard (the unit one build task writes).
    """

    out: str
    bg: str | None = None
    fg: str | None = None
    size: int = 224
    n_bg: int | None = None
    n_fg: int | None = None
    builtin_fg: int | None = None
    positions: int = 20
    flip: bool = True
    seed: int = 0
    workers: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    overwrite: bool = False
    depth: DepthSource = "geometric"
    depth_model: str | None = None
    depth_scale: float | None = None
    bg_depth: str | None = None
    scale_min: float = 0.3
    scale_max: float = 0.8
    max_outside: float = 0.1
    fg_jitter: bool = False
    max_depth: float = 30.0
    jpeg_quality: int = 95
    shadows: ShadowMode = "soft"
    shadow_p: float = 0.3
    shadow_strength_min: float = 0.2
    shadow_strength_max: float = 0.55
    chunk_size: int = 64
    shard_size: int = 1024

    def __post_init__(self) -> None:
        _check_range("--size", self.size, 32, 2048)
        for option, value in (
            ("--n-bg", self.n_bg),
            ("--n-fg", self.n_fg),
            ("--builtin-fg", self.builtin_fg),
        ):
            if value is not None:
                _check_range(option, value, 1, 1_000_000)
        _check_range("--positions", self.positions, 1, 100_000)
        _check_range("--seed", self.seed, 0, 2**63 - 1)
        _check_range("--workers", self.workers, 1, 1024)
        _check_range("--jpeg-quality", self.jpeg_quality, 50, 100)
        _check_range("--chunk-size", self.chunk_size, 1, 65536)
        _check_range("--shard-size", self.shard_size, 1, 1 << 20)
        if self.shard_size % self.chunk_size:
            raise InputError(
                f"--shard-size {self.shard_size}: must be a multiple of --chunk-size "
                f"{self.chunk_size}"
            )
        if not 0.0 < self.scale_min <= self.scale_max <= 1.0:
            raise InputError(
                f"--scale-range {self.scale_min},{self.scale_max}: need 0 < min <= max <= 1"
            )
        if not 0.0 <= self.max_outside < 0.5:
            raise InputError(f"--max-outside {self.max_outside}: need 0 <= value < 0.5")
        if not 0.0 < self.max_depth <= 65.0:
            raise InputError(f"--max-depth {self.max_depth}: need 0 < metres <= 65")
        if self.depth not in DEPTH_SOURCES:
            choices = " or ".join(repr(c) for c in DEPTH_SOURCES)
            raise InputError(f"--depth {self.depth!r}: choose {choices}")
        if self.depth == "teacher" and not self.depth_model:
            raise InputError(
                "--depth teacher needs --depth-model (a TorchScript file, a transformers model "
                "folder or a hub id)"
            )
        if self.depth == "geometric" and self.depth_model:
            raise InputError("--depth-model is only used with --depth teacher")
        if self.depth_scale is not None:
            if self.depth != "teacher":
                raise InputError("--depth-scale is only used with --depth teacher")
            if isinstance(self.depth_scale, bool) or not (
                isinstance(self.depth_scale, int | float)
                and math.isfinite(self.depth_scale)
                and self.depth_scale > 0
            ):
                raise InputError(f"--depth-scale {self.depth_scale!r}: must be a positive number")
        if self.shadows not in SHADOW_MODES:
            choices = " or ".join(repr(c) for c in SHADOW_MODES)
            raise InputError(f"--shadows {self.shadows!r}: choose {choices}")
        if not 0.0 <= self.shadow_p <= 1.0:
            raise InputError(f"--shadow-p {self.shadow_p}: need 0 <= probability <= 1")
        if not 0.0 <= self.shadow_strength_min <= self.shadow_strength_max < 1.0:
            raise InputError(
                f"--shadow-strength {self.shadow_strength_min},{self.shadow_strength_max}: "
                "need 0 <= min <= max < 1"
            )
        if self.builtin_fg is not None and not self.fg:
            raise InputError("--builtin-fg needs --fg (without it every cutout is built in)")
        if self.bg_depth and not self.bg:
            raise InputError("--bg-depth needs --bg (procedural scenes carry exact depth)")

    @property
    def n_flips(self) -> int:
        """Number of fg orientations per (bg, fg) pair."""
        return 2 if self.flip else 1

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON types (unset :data:`RECORDED_WHEN_SET` keys left
        out)."""
        return {
            k: v
            for k, v in dataclasses.asdict(self).items()
            if v is not None or k not in RECORDED_WHEN_SET
        }

    def content_key(self) -> dict[str, Any]:
        """The fields that determine the stored bytes (everything but runtime-only keys)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_ONLY_KEYS}


def default(name: str) -> Any:
    """The default of BuildConfig field `name` (what the command line shows and uses)."""
    field = BuildConfig.__dataclass_fields__[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()  # type: ignore[misc]


def _check_range(option: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{option} {value!r}: must be an integer from {low} to {high}")
