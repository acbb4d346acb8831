"""``fgd export-samples`` and ``fgd predict`` (``cli.py`` adds them to the ``fgd`` group).

export-samples draws store samples as a grid (bg | fg_bg | mask | depth), with a checkpoint also
its predictions and their errors, and optionally a contact sheet of the store's assets. predict
runs a checkpoint on the user's own photo pairs (see :mod:`training.predict`).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import torch

from datagen.errors import InputError
from datagen.store import FgdStore, open_store
from training.config import TrainConfig
from training.data import make_split
from training.metrics import per_sample_delta1, per_sample_iou
from training.predict import (
    PairJob,
    Predictor,
    pairs_from_csv,
    pairs_from_dirs,
    predict_pairs,
)
from training.visualize import (
    colorize_depth,
    colorize_depth_error,
    contact_sheet,
    depth_range,
    mask_error_image,
    render_grid,
    row_label,
    stack_sheets,
    write_depth_png,
    write_png,
)

#: Most assets of each kind drawn on the overview sheet.
OVERVIEW_MAX = 200
#: Samples per forward pass of export-samples.
_BATCH = 16

_device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the checkpoint runs (auto: the GPU when there is one).",
)


# ----------------------------------------------------------------------------- export-samples


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
    ``seed``) from ``split`` ("val", "train" or "all"), which is computed exactly as training
    computes it from ``train_config``'s split kind, validation fraction and seed."""
    if indices is not None:
        bad = [i for i in indices if not 0 <= i < len(ds)]
        if bad:
            raise InputError(f"--indices {bad[0]}: out of range, the store has {len(ds)} samples")
        return np.asarray(indices, dtype=np.int64)
    if split == "all":
        pool = np.arange(len(ds))
    else:
        cfg = train_config
        parts = make_split(ds.bg_ids, cfg.split, cfg.val_fraction, cfg.seed)
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
    write_png(out, stack_sheets(sheets))


def _write_sample_files(
    folder: Path,
    sample: dict[str, np.ndarray],
    pred: dict[str, np.ndarray] | None,
    limits: tuple[float, float],
    depth_max: float,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_png(folder / "bg.png", sample["bg"])
    write_png(folder / "fgbg.png", sample["fgbg"])
    write_png(folder / "mask.png", sample["mask"])
    write_depth_png(folder / "depth.png", sample["depth"], depth_max)
    write_png(folder / "depth_color.png", colorize_depth(sample["depth"], *limits))
    if pred is not None:
        write_png(folder / "pred_mask.png", np.where(pred["mask"] >= 0.5, 255, 0).astype(np.uint8))
        write_depth_png(folder / "pred_depth.png", pred["depth"], depth_max)
        write_png(folder / "pred_depth_color.png", colorize_depth(pred["depth"], *limits))
        write_png(folder / "mask_error.png", mask_error_image(pred["mask"], sample["mask"]))
        write_png(folder / "depth_error.png", colorize_depth_error(pred["depth"], sample["depth"]))


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
) -> list[Path]:
    """Everything ``fgd export-samples`` writes; returns the paths written (grid, overview,
    per-sample folder)."""
    if n < 1:
        raise InputError(f"--n must be >= 1, got {n}")
    if tile < 32:
        raise InputError(f"--tile must be >= 32 pixels, got {tile}")
    if indices is not None and split is not None:
        raise InputError("give --indices or --split, not both")
    ds = open_store(store)
    written: list[Path] = []
    if overview is not None:
        write_overview(ds, overview)
        written.append(overview)
        if out is None and per_sample is None:
            return written
    predictor = Predictor.from_checkpoint(checkpoint, device) if checkpoint else None
    train_config = predictor.loaded.train_config if predictor else TrainConfig()
    chosen = select_samples(
        ds,
        split=split or ("val" if predictor else "all"),
        n=n,
        seed=seed,
        train_config=train_config,
        indices=indices,
    )
    samples = ds.read_batch(chosen)
    preds = None
    labels = [row_label(int(i)) for i in chosen]
    if predictor is not None:
        parts = [
            predictor.run(samples["bg"][s : s + _BATCH], samples["fgbg"][s : s + _BATCH])
            for s in range(0, len(chosen), _BATCH)
        ]
        preds = {
            "mask": np.concatenate([p for p, _ in parts]),
            "depth": np.concatenate([d for _, d in parts]),
        }
        iou = per_sample_iou(torch.from_numpy(preds["mask"]), torch.from_numpy(samples["mask"]))
        delta1 = per_sample_delta1(
            torch.from_numpy(preds["depth"]), torch.from_numpy(samples["depth"])
        )
        labels = [
            row_label(int(i), float(a), float(b))
            for i, a, b in zip(chosen, iou, delta1, strict=True)
        ]
    limits = depth_range(samples["depth"])
    if out is not None or per_sample is None:
        out = out or Path("grid.png")
        write_png(out, render_grid(samples, preds, labels, tile=tile, depth_limits=limits))
        written.append(out)
    if per_sample is not None:
        width = len(str(len(ds) - 1))
        for k, i in enumerate(chosen):
            sample = {key: value[k] for key, value in samples.items()}
            pred = {key: value[k] for key, value in preds.items()} if preds else None
            _write_sample_files(per_sample / f"{i:0{width}d}", sample, pred, limits, ds.depth_max)
        written.append(per_sample)
    return written


def _parse_indices(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--indices {text!r}: expected comma-separated integers") from None
    if not values:
        raise InputError("--indices: no index given")
    return values


@click.command("export-samples")
@click.option("--store", required=True, type=click.Path(path_type=Path), help="The fgd store.")
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path),
    help="A checkpoint of fgd train: adds its predictions, their errors and per-sample IoU / "
    "delta1.",
)
@click.option("--n", default=16, show_default=True, help="Samples drawn from --split.")
@click.option(
    "--split",
    type=click.Choice(["val", "train", "all"]),
    help="Where samples are drawn from, split as training splits them (the checkpoint's "
    "settings, else the defaults)  [default: val with --checkpoint, else all]",
)
@click.option("--indices", help="Comma-separated sample indices to show instead (e.g. 3,17,42).")
@click.option("--seed", default=0, show_default=True, help="Seed of the draw from --split.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    metavar="PNG",
    help="Grid PNG to write  [default: grid.png, unless only --overview or --per-sample is given]",
)
@click.option(
    "--per-sample",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Also write each sample's images to DIR/<index>/ (masks 8-bit, depth 16-bit PNG with "
    "a JSON scale).",
)
@click.option(
    "--overview",
    type=click.Path(path_type=Path),
    metavar="PNG",
    help="Write contact sheets of the store's bg scenes and fg cutouts to this PNG.",
)
@click.option("--tile", default=224, show_default=True, help="Tile edge in the grid, in pixels.")
@_device_option
def export_samples_command(
    store: Path,
    checkpoint: Path | None,
    n: int,
    split: str | None,
    indices: str | None,
    seed: int,
    out: Path | None,
    per_sample: Path | None,
    overview: Path | None,
    tile: int,
    device: str,
) -> None:
    """Draw store samples as a grid (with a checkpoint: predictions and errors too)."""
    written = export_samples(
        store,
        checkpoint=checkpoint,
        n=n,
        split=split,
        indices=_parse_indices(indices),
        seed=seed,
        out=out,
        per_sample=per_sample,
        overview=overview,
        tile=tile,
        device=device,
    )
    for path in written:
        click.echo(f"wrote {path}")


# ----------------------------------------------------------------------------- predict


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


@click.command("predict")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(path_type=Path),
    help="A checkpoint of fgd train.",
)
@click.option("--bg", type=click.Path(path_type=Path), help="Background photo (one pair).")
@click.option("--fgbg", type=click.Path(path_type=Path), help="Same scene with the object.")
@click.option(
    "--pairs",
    type=click.Path(path_type=Path),
    metavar="CSV",
    help="CSV of 'bg,fgbg' lines (paths relative to the CSV); one sub-folder per pair.",
)
@click.option(
    "--bg-dir", type=click.Path(path_type=Path), metavar="DIR", help="Folder of bg photos ..."
)
@click.option(
    "--fgbg-dir",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="... and of fg_bg photos, paired by file name; one sub-folder per pair.",
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), metavar="DIR", help="Output folder."
)
@click.option("--resize", is_flag=True, help="Scale a bg of another size to its fg_bg's size.")
@_device_option
@click.option("--batch-size", default=8, show_default=True, help="Pairs per forward pass.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def predict_command(
    checkpoint: Path,
    bg: Path | None,
    fgbg: Path | None,
    pairs: Path | None,
    bg_dir: Path | None,
    fgbg_dir: Path | None,
    out: Path,
    resize: bool,
    device: str,
    batch_size: int,
    no_progress: bool,
) -> None:
    """Predict mask and depth of your own photo pairs, any size.

    Writes mask.png (0/255), depth.png (16-bit; depth.json holds metres per unit),
    depth_color.png and overlay.png (mask outline on the fg_bg photo) at the photo's size.
    """
    if batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {batch_size}")
    jobs = predict_jobs(out, bg, fgbg, pairs, bg_dir, fgbg_dir)
    predictor = Predictor.from_checkpoint(checkpoint, device)
    predict_pairs(
        predictor,
        jobs,
        resize=resize,
        batch_size=batch_size,
        progress=not no_progress and len(jobs) > 1,
    )
    click.echo(f"wrote {len(jobs)} prediction(s) to {out}")
