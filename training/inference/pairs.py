"""``fgd predict``'s photo pairs: which pairs one call names (``--bg``/``--fgbg``, a CSV, or two
folders), where each one's outputs go (a safe, unique folder inside ``--out``), reading and
registering the photos, and writing the results (the command itself is in
:mod:`training.commands`; the model is a :class:`training.inference.predictor.Predictor`).

Two hand-held shots are never pixel-aligned, so by default (``--align auto``) the bg photo is
first registered to the fg_bg photo (:func:`training.inference.align.align_bg`) and warped onto
it; ``align.json`` in each output folder says what was found. A pair that cannot be registered
is reported in one line and predicted unaligned (``--align homography`` stops instead;
``--align off`` skips the step).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import cv2
import numpy as np

from datagen.builder.assets import image_files, skipped_note
from datagen.common.errors import InputError, error_summary
from datagen.common.files import inside, write_files_atomic
from datagen.common.imaging import has_alpha, read_image_file
from datagen.common.progress import progress_bar
from datagen.store.schema import MASK_THRESHOLD
from training.capture_config import trains_for_misalignment
from training.inference.align import AlignResult, align_bg
from training.inference.compose import (
    FOREGROUND_NOTE,
    composite,
    cover,
    estimate_foreground,
    has_pymatting,
    matte_overlay,
    rgba,
)
from training.inference.predictor import Predictor
from training.inference.refine import refine_alpha, upsample_probability
from training.inference.visualize import (
    check_output_folder,
    colorize_depth,
    depth_png_files,
    depth_range,
    png_bytes,
)
from training.options import (
    DEFAULT_REFINER,
    METHODS,
    MIN_INPUT_SIZE,
    REFINERS,
    SETTINGS_FILE,
    Method,
    Refiner,
)

__all__ = [
    "PairJob",
    "align_pair",
    "align_report",
    "check_jobs",
    "finish_pair",
    "load_pair",
    "pair_folders",
    "pairs_from_csv",
    "pairs_from_dirs",
    "predict_jobs",
    "predict_pairs",
    "read_image",
    "write_prediction",
]

#: The smallest side of a photo: a smaller one holds less detail than one cell of the encoder's
#: deepest stage, whatever size it is scaled to.
MIN_PHOTO_SIDE = MIN_INPUT_SIZE
#: Aspects of a bg and its fg_bg this far apart (as a fraction) make ``--resize`` warn: it
#: stretches the bg.
RESIZE_ASPECT_TOLERANCE = 0.01
#: What may not appear in a pair's folder name: it would name a folder further down, or fail.
SEPARATORS = frozenset({"/", "\\", "\0"})


@dataclass(frozen=True)
class PairJob:
    """One photo pair to predict and where its outputs go: ``root / folder``, the folder
    ``root`` the user named (``--out``) or a sub-folder of it (:func:`pair_folders`)."""

    bg: Path
    fgbg: Path
    root: Path
    folder: str = ""

    @property
    def out(self) -> Path:
        """The folder the pair's outputs go to."""
        return self.root / self.folder

    @property
    def renamed(self) -> bool:
        """The pair's sub-folder is not named after its fg_bg photo (:func:`pair_folders`)."""
        return self.folder not in ("", self.fgbg.stem)


def read_image(path: Path, what: str, warnings: list[str] | None = None) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, EXIF orientation applied; InputError if it is
    missing, cut short or not an image (:func:`datagen.common.imaging.read_image_file`), or smaller
    than :data:`MIN_PHOTO_SIDE` on a side. An alpha channel is dropped (the photo is predicted
    from its colours, whatever they are under its transparent pixels), and a line saying so is
    appended to ``warnings``."""
    data, image = read_image_file(path, what, cv2.IMREAD_COLOR)
    h, w = image.shape[:2]
    if min(h, w) < MIN_PHOTO_SIDE:
        raise InputError(
            f"{what} {path}: {w}x{h} px is too small (a photo needs at least "
            f"{MIN_PHOTO_SIDE}x{MIN_PHOTO_SIDE} px)"
        )
    if has_alpha(data) and warnings is not None:
        warnings.append(
            f"{what} {path} has an alpha channel: it is ignored, and the colours under its "
            "transparent pixels are predicted as they are"
        )
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_pair(job: PairJob, resize: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a pair, with the one-line warnings of reading it (:func:`read_image`); a bg of
    another size than its fg_bg is resized to it with ``resize`` (warned when that stretches
    it: aspects more than :data:`RESIZE_ASPECT_TOLERANCE` apart), else it is an InputError."""
    warnings: list[str] = []
    bg, fgbg = read_image(job.bg, "bg", warnings), read_image(job.fgbg, "fg_bg", warnings)
    if bg.shape != fgbg.shape:
        (h, w), (bh, bw) = fgbg.shape[:2], bg.shape[:2]
        if not resize:
            raise InputError(
                f"bg {job.bg} is {bw}x{bh} but fg_bg {job.fgbg} is {w}x{h}: "
                "the photos must be the same size (--resize scales bg to fg_bg's size)"
            )
        stretch = (bw * h) / (bh * w)
        if abs(stretch - 1) > RESIZE_ASPECT_TOLERANCE:
            warnings.append(
                f"bg {job.bg} is {bw}x{bh} and fg_bg {job.fgbg} is {w}x{h}: their aspects "
                f"differ by {abs(stretch - 1):.0%}, and --resize stretches the bg to fit"
            )
        shrinking = h * w < bh * bw
        bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return bg, fgbg, warnings


def align_pair(
    job: PairJob, bg: np.ndarray, fgbg: np.ndarray, method: Method
) -> tuple[np.ndarray, AlignResult]:
    """The bg of a loaded pair registered to its fg_bg (:func:`training.inference.align.align_bg`).

    A failed registration is an InputError with ``method="homography"``; with ``"auto"`` the
    caller gets the bg unchanged and the result's one-line ``reason`` to report.
    """
    result = align_bg(bg, fgbg, method)
    if not result.ok and method == "homography":
        raise InputError(
            f"bg {job.bg}: cannot align to fg_bg {job.fgbg}: {result.reason} (--align off skips it)"
        )
    return result.warped_bg, result


def align_report(result: AlignResult, method: Method) -> dict[str, object]:
    """What ``align.json`` records: the method, whether the bg was warped, the bg -> fg_bg
    homography (full-size pixels), the median inlier residual (null when not measured)."""
    return {
        "method": method,
        "ok": result.ok,
        "reason": result.reason,
        "homography": result.homography.tolist(),
        "residual_px": None if math.isnan(result.residual_px) else result.residual_px,
        "inliers": result.inliers,
    }


def pair_folders(wanted: Sequence[str]) -> list[str]:
    """A sub-folder name of ``--out`` for each pair, from the name it would have (its fg_bg
    photo's stem): that name where it is usable and its own, else a visible variant.

    A name of dots or spaces only (``..`` is the stem of a photo ``...jpg``, ``.`` that of
    ``..jpg``) or holding a path separator becomes ``pair``; a name that another pair holds
    already (compared without case, as the disks of Windows and macOS do) or that is
    :data:`SETTINGS_FILE`'s gets the first free of ``-2``, ``-3``, ...; names that are free keep
    them, whatever their place in the list.
    """
    usable = [bool(name.strip(". ")) and not set(name) & SEPARATORS for name in wanted]
    folders: dict[int, str] = {}
    taken = {SETTINGS_FILE.casefold()}
    for i, name in enumerate(wanted):  # first every name that is usable and free
        if usable[i] and name.casefold() not in taken:
            folders[i] = name
            taken.add(name.casefold())
    for i, name in enumerate(wanted):  # then a variant for each of the others
        if i not in folders:
            base = name if usable[i] else "pair"
            folder, k = base, 1
            while folder.casefold() in taken:
                k += 1
                folder = f"{base}-{k}"
            folders[i] = folder
            taken.add(folder.casefold())
    return [folders[i] for i in range(len(wanted))]


def pairs_from_csv(csv_path: Path, out_dir: Path) -> list[PairJob]:
    """Pairs listed one per line as ``bg,fgbg`` (an optional ``bg,fgbg`` header is skipped;
    relative paths are relative to the CSV file). Outputs go to ``out_dir/<fg_bg stem>``, made
    unique and safe by :func:`pair_folders`."""
    if not csv_path.is_file():
        raise InputError(f"--pairs {csv_path}: no such file")
    pairs: list[tuple[Path, Path]] = []
    with open(csv_path, newline="") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            cells = [c.strip() for c in row]
            if not any(cells) or (line == 1 and [c.lower() for c in cells] == ["bg", "fgbg"]):
                continue
            if len(cells) != 2 or not all(cells):
                raise InputError(f"--pairs {csv_path} line {line}: expected 'bg,fgbg', got {row}")
            bg, fgbg = (csv_path.parent / c for c in cells)
            pairs.append((bg, fgbg))
    if not pairs:
        raise InputError(f"--pairs {csv_path}: lists no pairs")
    folders = pair_folders([fgbg.stem for _, fgbg in pairs])
    return [
        PairJob(bg, fgbg, out_dir, folder)
        for (bg, fgbg), folder in zip(pairs, folders, strict=True)
    ]


def pairs_from_dirs(bg_dir: Path, fgbg_dir: Path, out_dir: Path) -> list[PairJob]:
    """Images of ``bg_dir`` and ``fgbg_dir`` paired by name (without extension); every image
    must have its partner, and other files are passed over with a note
    (:func:`datagen.builder.assets.image_files`). Outputs go to ``out_dir/<name>``, made unique and
    safe by :func:`pair_folders`."""
    stems, passed_over = {}, {}
    for option, folder in (("--bg-dir", bg_dir), ("--fgbg-dir", fgbg_dir)):
        if not folder.is_dir():
            raise InputError(f"{option} {folder}: no such folder")
        files, passed_over[option, folder] = image_files(folder)
        by_stem = {p.stem: p for p in files}
        if len(by_stem) < len(files):
            twin = next(p for p in files if by_stem[p.stem] != p)
            raise InputError(f"{option} {folder}: two images named {twin.stem!r}")
        stems[option] = by_stem
    bgs, fgbgs = stems["--bg-dir"], stems["--fgbg-dir"]
    for option, mine, other, folder in (
        ("--bg-dir", bgs, fgbgs, fgbg_dir),
        ("--fgbg-dir", fgbgs, bgs, bg_dir),
    ):
        alone = sorted(set(mine) - set(other))
        if alone:
            raise InputError(
                f"{option}: {len(alone)} image(s) have no partner of the same name in {folder} "
                f"(first: {mine[alone[0]].name})"
            )
    if not bgs:
        raise InputError(f"--bg-dir {bg_dir}: holds no images")
    for (option, folder), skipped in passed_over.items():
        for line in skipped_note(option, folder, skipped):
            click.echo(line, err=True)
    names = sorted(bgs)
    return [
        PairJob(bgs[s], fgbgs[s], out_dir, folder)
        for s, folder in zip(names, pair_folders(names), strict=True)
    ]


def check_jobs(jobs: Sequence[PairJob], option: str = "--out") -> None:
    """Fail on a missing photo, or an output folder outside its ``root`` or that cannot be
    written (``option`` names it), before anything is read or written; creates nothing."""
    for job in jobs:
        for what, path in (("bg", job.bg), ("fg_bg", job.fgbg)):
            if not path.is_file():
                raise InputError(f"{what} {path}: no such file")
    for job in jobs:
        check_output_folder(inside(job.root, job.out, option), option)


def write_prediction(
    out_dir: Path,
    fgbg: np.ndarray,
    alpha: np.ndarray,
    depth: np.ndarray,
    depth_max: float,
    option: str = "--out",
    align: dict[str, object] | None = None,
    root: Path | None = None,
    foreground: np.ndarray | None = None,
    new_bg: np.ndarray | None = None,
) -> None:
    """Write a pair's outputs into ``out_dir``, all or none (files of an earlier prediction stay
    whole when a write fails): ``alpha.png`` (the soft ``alpha`` (H, W) in [0, 1], 8-bit),
    ``mask.png`` (alpha >= 0.5, 0/255), ``foreground.png`` (RGBA: ``foreground``'s colours,
    default the fg_bg's, with the alpha), ``overlay.png`` (:func:`matte_overlay` of the alpha
    on the fg_bg photo), ``depth.png`` (16-bit) + ``depth.json`` (its scale),
    ``depth_color.png``, ``composite.png`` when a ``new_bg`` of the photo's size is given
    (:func:`training.inference.compose.composite`), and ``align.json`` when an ``align``
    report (:func:`align_report`) is. A failed write, or a file that would land outside
    ``root`` (the folder the user named; default ``out_dir``), is an InputError naming
    ``option``."""
    root = out_dir if root is None else root
    try:
        inside(root, out_dir, option).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{option} {out_dir}: cannot create it ({error_summary(exc)})") from None
    mask = np.where(alpha >= MASK_THRESHOLD, 255, 0).astype(np.uint8)
    alpha_u8 = np.clip(np.rint(alpha * 255), 0, 255).astype(np.uint8)
    colours = fgbg if foreground is None else foreground
    files = {
        out_dir / "mask.png": png_bytes(mask),
        out_dir / "alpha.png": png_bytes(alpha_u8),
        out_dir / "foreground.png": png_bytes(rgba(colours, alpha_u8)),
        **depth_png_files(out_dir / "depth.png", depth, depth_max),
        out_dir / "depth_color.png": png_bytes(colorize_depth(depth, *depth_range(depth))),
        out_dir / "overlay.png": png_bytes(matte_overlay(fgbg, alpha)),
    }
    if new_bg is not None:
        files[out_dir / "composite.png"] = png_bytes(composite(colours, alpha_u8, new_bg))
    if align is not None:
        files[out_dir / "align.json"] = (json.dumps(align, indent=2) + "\n").encode()
    for path in files:
        inside(root, path, option)  # a linked folder on the way leads elsewhere
    write_files_atomic(files, option)  # all of a pair's files, or none


def finish_pair(
    bg: np.ndarray,
    fgbg: np.ndarray,
    coarse_prob: np.ndarray,
    coarse_depth: np.ndarray,
    refine: Refiner = DEFAULT_REFINER,
    registered: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The soft alpha and the depth of a pair at the photo's size from the network's coarse
    outputs (:meth:`Predictor.run_pairs_coarse
    <training.inference.predictor.Predictor.run_pairs_coarse>`): the alpha refined as
    ``refine`` says (:func:`training.inference.refine.refine_alpha`, guided by the bg too where
    it is ``registered`` to the fg_bg: an unregistered bg's difference is no guide), the depth
    resized bilinearly."""
    height, width = fgbg.shape[:2]
    alpha = refine_alpha(coarse_prob, fgbg, bg if registered else None, refine)
    return alpha, upsample_probability(coarse_depth, height, width)


def predict_pairs(
    predictor: Predictor,
    jobs: Sequence[PairJob],
    *,
    resize: bool = False,
    batch_size: int = 8,
    progress: bool = True,
    align: Method = "auto",
    refine: Refiner = DEFAULT_REFINER,
    new_bg: np.ndarray | None = None,
) -> None:
    """Predict every pair of ``jobs`` and write its outputs (:func:`write_prediction`): the
    network's coarse outputs brought to the photo's size by :func:`finish_pair` (``refine``),
    the object's colours by :func:`training.inference.compose.estimate_foreground` (a note line
    says when pymatting is missing), and with a ``new_bg`` (any size: :func:`cover` fits it to
    each photo) the object composited on it.

    Each bg is first registered to its fg_bg as ``align`` says (:func:`align_pair`); with
    ``"auto"`` a pair that cannot be is predicted as it is. That, an alpha channel dropped and a
    bg stretched by ``resize`` are each said in one line on stderr once the pair's outputs are
    written; the pairs whose folders are not named after their fg_bg photo
    (:func:`pair_folders`) are listed in one note line at the end.
    Pairs run ``batch_size`` at a time (all are letterboxed to the model size); images are
    decoded, registered and encoded by a thread pool (OpenCV releases the GIL). A bad image or
    (with ``"homography"``) a failed registration stops the run with an InputError naming it
    before any output of its batch is written; folders of earlier pairs are complete. Check
    the jobs first (:func:`check_jobs`) to fail on a missing file or an unwritable folder
    before any work.
    """
    if align not in METHODS:
        raise InputError(f"--align {align!r}: choose one of {', '.join(METHODS)}")
    if refine not in REFINERS:
        raise InputError(f"--refine {refine!r}: choose one of {', '.join(REFINERS)}")

    def load(job: PairJob) -> tuple[np.ndarray, np.ndarray, AlignResult, list[str]]:
        bg, fgbg, warnings = load_pair(job, resize)
        bg, result = align_pair(job, bg, fgbg, align)
        return bg, fgbg, result, warnings

    def finish_and_write(
        job: PairJob,
        loaded: tuple[np.ndarray, np.ndarray, AlignResult, list[str]],
        coarse: tuple[np.ndarray, np.ndarray],
    ) -> None:
        bg, fgbg, result, _ = loaded
        alpha, depth = finish_pair(bg, fgbg, *coarse, refine, registered=result.ok)
        height, width = fgbg.shape[:2]
        write_prediction(
            job.out,
            fgbg,
            alpha,
            depth,
            predictor.depth_max,
            align=align_report(result, align),
            root=job.root,
            foreground=estimate_foreground(fgbg, alpha),
            new_bg=None if new_bg is None else cover(new_bg, height, width),
        )

    cfg = predictor.train_config
    caveat = (
        ""
        if cfg is None or (cfg.augment.enabled and trains_for_misalignment(cfg.augment.capture))
        else " (its model was trained on aligned shots only: expect a poor mask if they moved)"
    )
    threads = min(8, os.cpu_count() or 1)
    with (
        ThreadPoolExecutor(threads) as pool,
        progress_bar(total=len(jobs), desc="predict", unit="pair", enabled=progress) as bar,
    ):
        for start in range(0, len(jobs), batch_size):
            part = jobs[start : start + batch_size]
            loaded = list(pool.map(load, part))
            pairs = [(bg, fgbg) for bg, fgbg, _, _ in loaded]
            writes = [
                pool.submit(finish_and_write, job, pair, coarse)
                for job, pair, coarse in zip(
                    part, loaded, predictor.run_pairs_coarse(pairs), strict=True
                )
            ]
            # Warned once the outputs are written: a failed write is then the one line shown.
            for write, job, (_, _, result, warnings) in zip(writes, part, loaded, strict=True):
                write.result()
                if not result.ok:
                    warnings.append(
                        f"bg {job.bg}: cannot align to fg_bg {job.fgbg}: {result.reason}; "
                        f"predicted it unaligned{caveat}"
                    )
                for warning in warnings:
                    bar.write(f"fgd: warning: {warning}", file=sys.stderr)
                bar.update()
    if not has_pymatting():  # after the outputs, as the other notes: an error stays one line
        click.echo(f"fgd: note: {FOREGROUND_NOTE}", err=True)
    renamed = [job for job in jobs if job.renamed]
    if renamed:
        mapping = ", ".join(f"{job.fgbg} -> {job.folder}" for job in renamed)
        click.echo(
            f"fgd: note: {len(renamed)} pair(s) written to a folder not named after the fg_bg "
            f"photo (its name was taken or cannot name a folder): {mapping}",
            err=True,
        )


# ----------------------------------------------------------------------------- fgd predict


def predict_jobs(
    out: Path,
    bg: Path | None,
    fgbg: Path | None,
    pairs: Path | None,
    bg_dir: Path | None,
    fgbg_dir: Path | None,
) -> list[PairJob]:
    """The pairs one ``fgd predict`` call names: exactly one of (--bg and --fgbg), --pairs,
    (--bg-dir and --fgbg-dir)."""
    modes = [
        m
        for m, given in (
            ("--bg/--fgbg", bg or fgbg),
            ("--pairs", pairs),
            ("--bg-dir/--fgbg-dir", bg_dir or fgbg_dir),
        )
        if given
    ]
    if len(modes) != 1:
        raise InputError(
            "give one of --bg and --fgbg (one pair), --pairs FILE.csv, or --bg-dir and "
            f"--fgbg-dir (got {' and '.join(modes) or 'none'})"
        )
    if pairs is not None:
        return pairs_from_csv(pairs, out)
    if bg_dir is not None or fgbg_dir is not None:
        if bg_dir is None or fgbg_dir is None:
            raise InputError("--bg-dir and --fgbg-dir go together")
        return pairs_from_dirs(bg_dir, fgbg_dir, out)
    if bg is None or fgbg is None:
        raise InputError("--bg and --fgbg go together")
    return [PairJob(bg, fgbg, out)]
