"""``fgd export-samples``: draw store samples as a grid (its command is in training.commands).

Each grid row is one sample (bg | fg_bg | mask | depth); with a checkpoint also its predictions,
their errors and per-sample IoU / delta1. Optionally each sample's images go to a folder of
their own, and a contact sheet shows the store's assets. The drawing is
:mod:`training.inference.visualize`'s.

How many samples one run draws is capped (:func:`sample_cap`), and a request above the cap is
refused rather than paged into several grids: every drawn sample is held in memory at once and
shares one depth colour scale with the others (grid and per-sample files alike), which paging
would give up, and a grid of more rows than the cap is no longer read as one figure. Refusing
names the cap; another ``--seed`` or ``--indices`` shows other samples.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import torch

from datagen.common.errors import InputError, error_summary
from datagen.common.files import check_output, write_files_atomic
from datagen.common.progress import progress_bar
from datagen.store.reader import FgdStore, open_store
from datagen.store.schema import MASK_THRESHOLD
from training.config import TrainConfig
from training.fitting.epochs import make_split
from training.inference.predictor import Predictor
from training.inference.visualize import (
    check_output_folder,
    colorize_depth,
    colorize_depth_error,
    contact_sheet,
    depth_png_files,
    depth_range,
    mask_error_image,
    png_bytes,
    render_grid,
    row_label,
    stack_sheets,
    write_png,
)
from training.metrics import per_sample_delta1, per_sample_iou
from training.options import FULL_GRID_TILE, MAX_SAMPLES, MAX_TILE

#: Most assets of each kind drawn on the overview sheet.
OVERVIEW_MAX = 200
#: Samples per forward pass of export-samples.
_BATCH = 16


def sample_cap(tile: int, grid: bool) -> int:
    """Most samples a run may draw: :data:`MAX_SAMPLES`, and with a grid to draw fewer for tiles
    larger than :data:`FULL_GRID_TILE` (as 1 / tile², so the grid's pixel count stays put).

    At the cap a grid of all eight columns is about 30 million pixels at any tile size: a third
    of what Pillow opens without complaint (``Image.MAX_IMAGE_PIXELS``, about 89 million), and
    about 90 MB of RGB while it is drawn.
    """
    if not grid or tile <= FULL_GRID_TILE:
        return MAX_SAMPLES
    return max(1, MAX_SAMPLES * FULL_GRID_TILE**2 // tile**2)


def select_samples(
    ds: FgdStore,
    *,
    split: str,
    n: int,
    seed: int,
    train_config: TrainConfig,
    indices: list[int] | None = None,
) -> np.ndarray:
    """The sample indices to show, sorted: ``indices`` as given, else ``n`` drawn (with
    ``seed``) from ``split`` ("val", "train" or "all"; all of it when it holds fewer), which is
    computed exactly as training computes it from ``train_config``'s split kind, validation
    fraction and seed."""
    if indices is not None:
        bad = [i for i in indices if not 0 <= i < len(ds)]
        if bad:
            raise InputError(f"--indices {bad[0]}: out of range, the store has {len(ds)} samples")
        return np.asarray(indices, dtype=np.int64)
    if split == "all":
        pool = np.arange(len(ds))
    else:
        cfg = train_config
        parts = make_split(ds.bg_ids, ds.fg_ids, cfg.split, cfg.val_fraction, cfg.seed)
        pool = parts.val if split == "val" else parts.train
    chosen = np.random.default_rng(seed).choice(pool, size=min(n, len(pool)), replace=False)
    return np.sort(chosen)


def write_overview(ds: FgdStore, out: Path) -> None:
    """Contact sheets of the store's bg scenes and fg cutouts (at most OVERVIEW_MAX of each)."""
    sheets = []
    for kind, images, names in (
        ("bg scenes", ds.bg_images, ds.bg_names),
        ("fg cutouts", ds.fg_cutouts, ds.fg_names),
    ):
        shown = min(len(names), OVERVIEW_MAX)
        title = (
            f"{kind} ({len(names)})" if shown == len(names) else f"{kind} ({shown} of {len(names)})"
        )
        sheets.append(contact_sheet(images[:shown], title, names[:shown]))
    write_png(out, stack_sheets(sheets), "--overview")


def _check_request(
    n: int, tile: int, split: str | None, indices: list[int] | None, grid: bool
) -> None:
    """Refuse nonsense options and draws above :func:`sample_cap`, before anything is read."""
    if n < 1:
        raise InputError(f"--n must be >= 1, got {n}")
    if not 32 <= tile <= MAX_TILE:
        raise InputError(f"--tile must be 32 to {MAX_TILE} pixels, got {tile}")
    if indices is not None and split is not None:
        raise InputError("give --indices or --split, not both")
    cap = sample_cap(tile, grid)
    asked = f"--n {n}" if indices is None else f"--indices ({len(indices)} given)"
    if (n if indices is None else len(indices)) > cap:
        if grid:
            limit = f"a grid of --tile {tile} holds at most {cap} samples (a taller PNG is "
            limit += "too big to open)"
        else:
            limit = f"one run draws at most {cap} samples (they are held in memory together)"
        raise InputError(f"{asked}: {limit}; draw others with another --seed or --indices")


def _sample_folders(ds: FgdStore, per_sample: Path, chosen: np.ndarray) -> list[Path]:
    width = len(str(len(ds) - 1))
    return [per_sample / f"{i:0{width}d}" for i in chosen]


def _check_outputs(
    files: list[tuple[Path | None, str]], folders: list[Path], overwrite: bool
) -> None:
    """Refuse outputs that cannot be written, or exist without ``overwrite``, before any work.

    Args:
        files: (path or None, option) of the PNGs to write.
        folders: the per-sample folders to write.
    """
    for path, option in files:
        if path is not None:
            check_output(path, option, overwrite)
    if folders:
        check_output_folder(folders[0].parent, "--per-sample")
    for folder in folders:
        if folder.exists() and not overwrite:
            raise InputError(
                f"--per-sample {folder.parent}: {folder} exists (pass --overwrite to replace it)"
            )
        check_output_folder(folder, "--per-sample")


def _draw(
    ds: FgdStore, chosen: np.ndarray, predictor: Predictor | None, progress: bool
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None, list[str]]:
    """The chosen samples, the checkpoint's predictions of them (or None) and the row labels."""
    parts, outputs = [], []
    with progress_bar(
        total=len(chosen), desc="export-samples", unit="sample", enabled=progress
    ) as bar:
        for start in range(0, len(chosen), _BATCH):
            part = ds.read_batch(chosen[start : start + _BATCH])
            parts.append(part)
            if predictor is not None:
                outputs.append(predictor.run(part["bg"], part["fgbg"]))
            bar.update(len(part["bg"]))
    samples = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    if predictor is None:
        return samples, None, [row_label(int(i)) for i in chosen]
    preds = {
        "mask": np.concatenate([p for p, _ in outputs]),
        "depth": np.concatenate([d for _, d in outputs]),
    }
    iou = per_sample_iou(torch.from_numpy(preds["mask"]), torch.from_numpy(samples["mask"]))
    delta1 = per_sample_delta1(torch.from_numpy(preds["depth"]), torch.from_numpy(samples["depth"]))
    labels = [
        row_label(int(i), float(a), float(b)) for i, a, b in zip(chosen, iou, delta1, strict=True)
    ]
    return samples, preds, labels


def _write_sample_files(
    folder: Path,
    k: int,
    samples: dict[str, np.ndarray],
    preds: dict[str, np.ndarray] | None,
    limits: tuple[float, float],
    depth_max: float,
) -> None:
    """Write the images of sample ``k`` of ``samples`` (and of ``preds``) to ``folder``."""
    sample = {key: value[k] for key, value in samples.items()}
    pred = {key: value[k] for key, value in preds.items()} if preds else None
    option = "--per-sample"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{option} {folder}: cannot create it ({error_summary(exc)})") from None
    files = {
        folder / "bg.png": png_bytes(sample["bg"]),
        folder / "fgbg.png": png_bytes(sample["fgbg"]),
        folder / "mask.png": png_bytes(sample["mask"]),
        **depth_png_files(folder / "depth.png", sample["depth"], depth_max),
        folder / "depth_color.png": png_bytes(colorize_depth(sample["depth"], *limits)),
    }
    if pred is not None:
        pred_mask = np.where(pred["mask"] >= MASK_THRESHOLD, 255, 0).astype(np.uint8)
        mask_error = mask_error_image(pred["mask"], sample["mask"])
        depth_error = colorize_depth_error(pred["depth"], sample["depth"])
        files.update(
            {
                folder / "pred_mask.png": png_bytes(pred_mask),
                **depth_png_files(folder / "pred_depth.png", pred["depth"], depth_max),
                folder / "pred_depth_color.png": png_bytes(colorize_depth(pred["depth"], *limits)),
                folder / "mask_error.png": png_bytes(mask_error),
                folder / "depth_error.png": png_bytes(depth_error),
            }
        )
    write_files_atomic(files, option)  # a sample's files all, or none


def export_samples(
    store: str | Path,
    *,
    checkpoint: str | Path | None = None,
    n: int = 16,
    split: str | None = None,
    indices: list[int] | None = None,
    seed: int = 0,
    out: Path | None = None,
    per_sample: Path | None = None,
    overview: Path | None = None,
    tile: int = 224,
    device: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Everything ``fgd export-samples`` writes; returns the paths written (grid, overview,
    per-sample folder).

    The grid goes to ``out``, by default ``grid.png`` unless only ``overview`` or
    ``per_sample`` is asked for. Existing output files are refused without ``overwrite``.
    Every input and output is checked before anything is drawn.
    """
    if out is None and per_sample is None and overview is None:
        out = Path("grid.png")
    _check_request(n, tile, split, indices, grid=out is not None)
    ds = open_store(store)
    if out is None and per_sample is None:
        _check_outputs([(overview, "--overview")], [], overwrite)
        write_overview(ds, overview)
        return [overview]
    predictor = Predictor.from_checkpoint(checkpoint, device) if checkpoint else None
    split = split or ("val" if predictor else "all")
    chosen = select_samples(
        ds,
        split=split,
        n=n,
        seed=seed,
        train_config=predictor.train_config if predictor else TrainConfig(),
        indices=indices,
    )
    folders = _sample_folders(ds, per_sample, chosen) if per_sample is not None else []
    _check_outputs([(overview, "--overview"), (out, "--out")], folders, overwrite)
    if indices is None and len(chosen) < n:
        pool = "the store" if split == "all" else f"the {split} split"
        click.echo(
            f"fgd export-samples: --n {n}: {pool} holds {len(chosen)} samples; drawing all of them",
            err=True,
        )
    written: list[Path] = []
    if overview is not None:
        write_overview(ds, overview)
        written.append(overview)
    samples, preds, labels = _draw(ds, chosen, predictor, progress)
    limits = depth_range(samples["depth"])
    if out is not None:
        grid = render_grid(samples, preds, labels, tile=tile, depth_limits=limits)
        write_png(out, grid, "--out")
        written.append(out)
    if per_sample is not None:
        for k, folder in enumerate(progress_bar(folders, desc="per-sample", enabled=progress)):
            _write_sample_files(folder, k, samples, preds, limits, ds.depth_max)
        written.append(per_sample)
    return written
