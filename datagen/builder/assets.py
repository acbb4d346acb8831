"""Asset loading: bg scenes with depth and ground geometry, fg cutouts as working copies.

Every asset source (the built-in procedural set, or user folders) is normalised here into one
:class:`Assets` value, which the build writes into the store once. Shard tasks then read the
assets from the store, so a worker needs nothing but the store path.

Ground geometry: each bg has a horizon row ``horizon_y`` and ``ground_k`` (focal length in
pixels times camera height in metres); the ground plane then lies at depth
``ground_k / (y + 0.5 - horizon_y)`` at the centre of pixel row ``y``. User photos carry no such
geometry, so they get a documented prior (:data:`PRIOR_HORIZON`, :data:`PRIOR_HFOV_DEG`,
:data:`PRIOR_CAMERA_HEIGHT`); when the user also gives a depth map, the fg's depth is read from
that map at its contact point instead.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

import click
import cv2
import numpy as np

from datagen.builder.camera_prior import ground_prior
from datagen.builder.config import PROCEDURAL_COUNT, BuildConfig
from datagen.common.errors import InputError
from datagen.common.imaging import (
    alpha_bbox,
    center_crop_resize,
    premultiply,
    read_image_file,
    resize_premultiplied,
    unpremultiply,
)
from datagen.common.progress import progress_bar
from datagen.common.workers import parallel_map
from datagen.store import schema

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

#: A cutout whose opaque part is shorter than this many pixels is rejected.
MIN_FG_PIXELS = 16
#: How many of the files a folder listing passes over its note names.
NAMED_SKIPPED = 3

#: The optional file of the ``--fg`` folder that gives each cutout's kind (data/README.md).
LABELS_FILE = "labels.csv"


@dataclass(frozen=True)
class Assets:
    """All bg and fg assets of one build, at the build's size.

    Attributes:
        bg_names: File name (or procedural id) of every bg.
        bg: (n_bg, S, S, 3) uint8 RGB.
        bg_depth: (n_bg, S, S) float32 metres, in (0, max_depth].
        bg_ground: (n_bg, 2) float32 ``[horizon_y, ground_k]``; ``ground_k`` is NaN when the
            fg depth must be read from ``bg_depth`` at the contact point.
        bg_light: (n_bg, 4) float32 key light of each procedural scene (the fields of
            :class:`datagen.store.schema.SceneLight`); NaN for a photo, whose light is unknown.
        fg_names: File name (or procedural id) of every fg.
        fg: (n_fg, S, S, 4) uint8 straight RGBA working copies, top-left aligned, each cropped
            to its alpha and fitted inside S x S keeping its aspect.
        fg_shape: (n_fg, 2) int32 height and width of each working copy.
        digest: SHA-256 over the source files (or the rendered procedural assets).
        fg_kinds: The kind of every fg when the ``--fg`` folder holds a :data:`LABELS_FILE`
            (built-in cutouts beside them: the kind their name carries), else None.
    """

    bg_names: list[str]
    bg: np.ndarray
    bg_depth: np.ndarray
    bg_ground: np.ndarray
    bg_light: np.ndarray
    fg_names: list[str]
    fg: np.ndarray
    fg_shape: np.ndarray
    digest: str
    fg_kinds: list[str] | None = None


def load_assets(
    config: BuildConfig,
    bg_depth_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: bool = False,
) -> Assets:
    """Load or generate the assets `config` asks for.

    Procedural assets are rendered on ``config.workers`` processes (each is a pure function of
    its arguments, so the bytes do not depend on how many). Files of the user's folders passed
    over as not images, and cutouts without a transparent pixel, are reported on stderr in one
    line each once every asset is loaded (an error stays the only line).

    Args:
        config: The build configuration.
        bg_depth_fn: With ``depth="teacher"``: maps (n, S, S, 3) uint8 bg images to their depth.
        progress: Show a progress bar while procedural assets are rendered.

    Raises:
        InputError: For missing or empty folders, unreadable, non-image or unusable files.
    """
    digest = hashlib.sha256()
    said: list[str] = []  # notes and warnings, shown once every asset is loaded
    if config.bg is None:
        bg_names, bg, bg_depth, bg_ground, bg_light = _procedural_scenes(config, progress)
        # The rendered pixels, not just the recipe: a changed generator is a changed dataset,
        # so an existing store built by the old one is not taken as finished.
        for array in (bg, bg_depth, bg_ground):
            digest.update(np.ascontiguousarray(array).tobytes())
    else:
        bg_names, bg, bg_depth, bg_ground = _user_scenes(config, digest, said)
        bg_light = np.full((len(bg_names), len(fields(schema.SceneLight))), np.nan)
    fg_kinds = None
    if config.fg is None:
        cutouts = _procedural_cutouts(config, config.n_fg or PROCEDURAL_COUNT, digest, progress)
    else:
        cutouts = _user_cutouts(config, digest, said)
        fg_kinds = _user_labels(Path(config.fg), [name for name, _ in cutouts], digest)
        if config.builtin_fg:
            from datagen.builder.procedural.cutouts.cutout import procedural_kind

            builtin = _procedural_cutouts(config, config.builtin_fg, digest, progress)
            cutouts += builtin
            if fg_kinds is not None:
                fg_kinds += [str(procedural_kind(name)) for name, _ in builtin]
    if bg_depth_fn is not None:
        bg_depth = bg_depth_fn(bg)
        bg_ground[:, 1] = np.nan
    fg, fg_shape = _working_copies([rgba for _, rgba in cutouts], config.size)
    for line in said:
        click.echo(line, err=True)
    return Assets(
        bg_names=bg_names,
        bg=bg,
        bg_depth=np.clip(bg_depth, 1e-3, config.max_depth).astype(np.float32),
        bg_ground=bg_ground.astype(np.float32),
        bg_light=bg_light.astype(np.float32),
        fg_names=[name for name, _ in cutouts],
        fg=fg,
        fg_shape=fg_shape,
        digest=digest.hexdigest(),
        fg_kinds=fg_kinds,
    )


def _user_labels(folder: Path, names: list[str], digest: hashlib._Hash) -> list[str] | None:
    """The kind of each cutout in ``names`` from ``folder``'s :data:`LABELS_FILE` (rows
    ``name,kind`` under that header), or None without the file; its bytes join the digest, so
    a store built with other labels is another store."""
    path = folder / LABELS_FILE
    if not path.is_file():
        return None
    raw = path.read_bytes()
    digest.update(raw)
    where = f"--fg {path}"
    try:
        rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{where}: not a UTF-8 CSV file ({error})") from None
    if not rows or [cell.strip() for cell in rows[0]] != ["name", "kind"]:
        raise InputError(f"{where}: the first row must be the header name,kind")
    in_folder = {p.name for p in folder.iterdir()}
    kinds: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != 2:
            raise InputError(f"{where}: row {number} has {len(row)} fields, not 2 (name,kind)")
        name, kind = (cell.strip() for cell in row)
        if name not in in_folder:
            raise InputError(f"{where}: row {number} names {name!r}, no file of {folder}")
        if name in kinds:
            raise InputError(f"{where}: row {number} names {name!r} a second time")
        if not kind:
            raise InputError(f"{where}: row {number} gives {name!r} no kind")
        kinds[name] = kind
    missing = [name for name in names if name not in kinds]
    if missing:
        raise InputError(
            f"{where}: no kind for {missing[0]!r} ({len(missing)} cutouts have none; every "
            "cutout the build uses needs a row)"
        )
    return [kinds[name] for name in names]


def _render(
    fn: Callable[..., Any], jobs: list[tuple[Any, ...]], workers: int, desc: str, progress: bool
) -> list[Any]:
    """``[fn(*job) for job in jobs]`` on `workers` processes, with a progress bar."""
    with progress_bar(total=len(jobs), desc=desc, unit="asset", enabled=progress) as bar:
        results = []
        for result in parallel_map(fn, jobs, workers):
            results.append(result)
            bar.update()
    return results


def _procedural_cutouts(
    config: BuildConfig, count: int, digest: hashlib._Hash, progress: bool
) -> list[tuple[str, np.ndarray]]:
    # Imported only here and for scenes: build workers, which read the assets from the store,
    # and builds from photos alone never need the generators.
    from datagen.builder import procedural

    jobs = [(config.seed, i, config.size) for i in range(count)]
    cutouts = _render(procedural.render_cutout, jobs, config.workers, "fg cutouts", progress)
    for _, rgba in cutouts:
        digest.update(np.ascontiguousarray(rgba).tobytes())
    return cutouts


def asset_counts(config: BuildConfig) -> tuple[int, int]:
    """How many bg scenes and fg cutouts `config` builds from, without loading any.

    Raises:
        InputError: For a missing folder, or one that holds no images.
    """
    n_bg = config.n_bg or PROCEDURAL_COUNT
    n_fg = config.n_fg or PROCEDURAL_COUNT
    if config.bg is not None:
        n_bg = len(_list_images("--bg", config.bg, config.n_bg)[0])
    if config.fg is not None:
        n_fg = len(_list_images("--fg", config.fg, config.n_fg, skip=LABELS_FILE)[0])
        n_fg += config.builtin_fg or 0
    return n_bg, n_fg


def _procedural_scenes(
    config: BuildConfig, progress: bool
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from datagen.builder import procedural

    jobs = [
        (config.seed, i, config.size, config.max_depth)
        for i in range(config.n_bg or PROCEDURAL_COUNT)
    ]
    scenes = _render(procedural.render_scene, jobs, config.workers, "bg scenes", progress)
    return (
        [s.name for s in scenes],
        np.stack([s.rgb for s in scenes]),
        np.stack([s.depth for s in scenes]),
        np.array([[s.horizon_y, s.ground_k] for s in scenes], dtype=np.float64),
        np.array([astuple(s.light) for s in scenes], dtype=np.float64),
    )


def _user_scenes(
    config: BuildConfig, digest: hashlib._Hash, said: list[str]
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    paths, skipped = _list_images("--bg", config.bg, config.n_bg)
    said.extend(skipped_note("--bg", Path(config.bg or ""), skipped))
    images = []
    for path in paths:
        raw, image = read_image_file(path, "--bg", cv2.IMREAD_COLOR)
        digest.update(raw)
        if min(image.shape[:2]) < config.size:
            raise InputError(
                f"--bg {path}: {image.shape[1]}x{image.shape[0]} is too small for "
                f"--size {config.size} (the short side must be at least {config.size})"
            )
        images.append(
            cv2.cvtColor(center_crop_resize(image, config.size, cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        )
    prior_depth, horizon_y, ground_k = ground_prior(config.size, config.max_depth)
    if config.bg_depth is None:
        depth = np.stack([prior_depth] * len(paths))
    else:
        depth = np.stack([_user_depth(config, path, digest) for path in paths])
        ground_k = math.nan
    ground = np.array([[horizon_y, ground_k]] * len(paths), dtype=np.float64)
    return [p.name for p in paths], np.stack(images), depth, ground


def _user_depth(config: BuildConfig, bg_path: Path, digest: hashlib._Hash) -> np.ndarray:
    folder = Path(config.bg_depth or "")
    candidates = [folder / f"{bg_path.stem}.npy", folder / f"{bg_path.stem}.png"]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise InputError(
            f"--bg-depth {folder}: no depth map for {bg_path.name} "
            f"(expected {bg_path.stem}.npy in metres or {bg_path.stem}.png 16-bit millimetres)"
        )
    if path.suffix == ".npy":
        digest.update(path.read_bytes())
        try:
            depth = np.load(path, allow_pickle=False).astype(np.float32)
        except ValueError as error:
            raise InputError(f"--bg-depth {path}: not a numeric .npy array ({error})") from None
    else:
        raw, decoded = read_image_file(path, "--bg-depth", cv2.IMREAD_UNCHANGED)
        digest.update(raw)
        if decoded.dtype != np.uint16 or decoded.ndim != 2:
            raise InputError(f"--bg-depth {path}: expected a single-channel 16-bit PNG (mm)")
        depth = decoded.astype(np.float32) / 1000.0
    if depth.ndim != 2 or not np.isfinite(depth).all() or (depth <= 0).any():
        raise InputError(f"--bg-depth {path}: need a 2-D map of finite, positive depths")
    return center_crop_resize(depth, config.size, cv2.INTER_NEAREST)


def _user_cutouts(
    config: BuildConfig, digest: hashlib._Hash, said: list[str]
) -> list[tuple[str, np.ndarray]]:
    paths, skipped = _list_images("--fg", config.fg, config.n_fg, skip=LABELS_FILE)
    said.extend(skipped_note("--fg", Path(config.fg or ""), skipped))
    cutouts = []
    for path in paths:
        raw, image = read_image_file(path, "--fg", cv2.IMREAD_UNCHANGED)
        digest.update(raw)
        if image.ndim != 3 or image.shape[2] != 4:
            raise InputError(f"--fg {path}: has no alpha channel (need an RGBA PNG cutout)")
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        box = alpha_bbox(image[..., 3])
        if box is None:
            raise InputError(f"--fg {path}: fully transparent (the alpha channel is all 0)")
        if box[2] - box[0] < MIN_FG_PIXELS or box[3] - box[1] < MIN_FG_PIXELS:
            raise InputError(
                f"--fg {path}: the visible object is {box[3] - box[1]}x{box[2] - box[0]} px, "
                f"smaller than {MIN_FG_PIXELS}x{MIN_FG_PIXELS}"
            )
        if image[..., 3].min() > 0:
            # Taken as it is (an object may fill its frame), but most likely a photo saved
            # with an alpha channel it does not use.
            said.append(
                f"fgd: warning: --fg {path}: no pixel is transparent (alpha is never 0), so "
                "the whole picture is pasted as the object"
            )
        cutouts.append((path.name, cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)))
    return cutouts


def _working_copies(cutouts: list[np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop each cutout to its alpha and fit it inside size x size (premultiplied resize)."""
    fg = np.zeros((len(cutouts), size, size, 4), dtype=np.uint8)
    shapes = np.zeros((len(cutouts), 2), dtype=np.int32)
    for i, rgba in enumerate(cutouts):
        y0, x0, y1, x1 = alpha_bbox(rgba[..., 3])
        cropped = rgba[y0:y1, x0:x1]
        h, w = cropped.shape[:2]
        fit = min(size / h, size / w)
        height, width = max(1, min(size, round(h * fit))), max(1, min(size, round(w * fit)))
        working = unpremultiply(resize_premultiplied(premultiply(cropped), width, height))
        fg[i, :height, :width] = working
        shapes[i] = height, width
    return fg, shapes


def image_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The image files of ``folder`` (by suffix: :data:`IMAGE_SUFFIXES`), sorted, and the
    other files it holds, which are no images of the user's: hidden ones (``.DS_Store``, a
    Mac's ``._photo.jpg``) and those of another suffix (``Thumbs.db``, ``notes.txt``).
    Sub-folders are neither."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    images = [p for p in files if not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES]
    return images, sorted(set(files) - set(images))


def skipped_note(option: str, folder: Path, skipped: Sequence[Path]) -> list[str]:
    """The note line (none when nothing was) that names the files of ``folder`` (given as
    ``option``) passed over as not images: the first few, and how many."""
    if not skipped:
        return []
    names = ", ".join(p.name for p in skipped[:NAMED_SKIPPED])
    more = f" and {len(skipped) - NAMED_SKIPPED} more" if len(skipped) > NAMED_SKIPPED else ""
    return [
        f"fgd: note: {option} {folder}: skipped {len(skipped)} file(s) that are not images "
        f"({names}{more})"
    ]


def _list_images(
    option: str, folder: str | None, limit: int | None, skip: str | None = None
) -> tuple[list[Path], list[Path]]:
    """The first ``limit`` (default: all) images of the folder given as ``option``, and the
    files passed over (:func:`image_files`) but ``skip`` (the fg folder's labels, which are
    read, not passed over); a missing folder, one without images, or one with fewer than
    ``limit`` is an InputError."""
    root = Path(folder or "")
    if not root.is_dir():
        raise InputError(f"{option} {root}: no such folder")
    images, skipped = image_files(root)
    skipped = [p for p in skipped if p.name != skip]
    if not images:
        others = f" (only {len(skipped)} other file(s), e.g. {skipped[0].name})" if skipped else ""
        raise InputError(
            f"{option} {root}: the folder holds no images{others}; images end in "
            f"{', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    if limit is not None:
        if limit > len(images):
            raise InputError(
                f"{option} {root}: asked for {limit} images but the folder holds {len(images)}"
            )
        images = images[:limit]
    return images, skipped
