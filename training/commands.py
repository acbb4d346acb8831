"""The click commands of the training package: ``fgd train``, ``eval``, ``predict``,
``export-model`` and ``export-samples`` (``cli.py`` adds them to the ``fgd`` group).

This module imports no torch, timm or OpenCV: a command's ``--help`` and a mistyped option cost
what click costs, and each command imports its logic when it runs. Defaults and choices shown
here are read from torch-free modules, each the one place its values are set:
:class:`~training.config.TrainConfig` and the choice tuples of :mod:`training.config`, and
:mod:`training.options`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from datagen.common.errors import InputError
from datagen.common.files import check_output, write_text_atomic
from datagen.options import LOADER_PROCESSES
from training.config import (
    DECODERS,
    DEVICES,
    FUSIONS,
    LOSS_WEIGHTINGS,
    SPLITS,
    TrainConfig,
    load_yaml,
)
from training.model_config import HUB_WEIGHTS
from training.options import (
    DEFAULT_REFINER,
    EVAL_SPLITS,
    FORMATS,
    FULL_GRID_TILE,
    MAX_SAMPLES,
    MAX_TILE,
    METHODS,
    PREDICT_TTA,
    REFINERS,
    SETTINGS_FILE,
    Format,
    Method,
    Refiner,
    TTAConfig,
    parse_scales,
    scales_text,
)
from training.recipes import NO_RECIPE, default_recipe, load_recipe, recipe_names

DEFAULTS = TrainConfig()

#: Flags of ``fgd train`` that map one-to-one onto TrainConfig keys.
_OVERRIDES = (
    "store",
    "backbone",
    "decoder",
    "size",
    "batch_size",
    "epochs",
    "max_steps",
    "lr",
    "device",
    "split",
    "val_fraction",
    "seed",
    "workers",
    "loss_weighting",
    "val_every",
    "checkpoint_every",
    "pretrained",
    "decoder_channels",
    "fusion",
    "sample_log",
)


def _option(*names: str, key: str, help: str, **kwargs: Any):
    """An ``fgd train`` option for TrainConfig's ``key``. It applies only when typed, over the
    recipe; help shows the plain default (``--recipe none``) when it is not empty."""
    default = getattr(DEFAULTS, key)
    shown = f"the recipe's, else {default}" if default != "" else False
    return click.option(*names, default=default, show_default=shown, help=help, **kwargs)


def _choices(values: tuple[str, ...]) -> str:
    return " | ".join(values)


def _list_recipes(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    for name in recipe_names():
        click.echo(f"{name:12s} {load_recipe(name).summary}")
    defaults = ", ".join(f"{recipe} on a {device}" for device, recipe in _DEFAULT_RECIPES.items())
    click.echo(f"without --recipe: {defaults}; --recipe {NO_RECIPE}: TrainConfig's defaults")
    ctx.exit()


_DEFAULT_RECIPES = {"CPU": default_recipe("cpu"), "GPU": default_recipe("cuda")}


@click.command("train")
@_option("--store", key="store", help="The fgd Zarr store to train on.")
@click.option("--out", required=True, help="Run directory (config, logs, checkpoints).")
@click.option(
    "--recipe",
    "recipe_name",
    help=f"Preset to start from (--list-recipes); default: the measured best for the device "
    f"({_DEFAULT_RECIPES['CPU']} on a CPU, {_DEFAULT_RECIPES['GPU']} on a GPU). Precedence: "
    "recipe < --config < flags.",
)
@click.option(
    "--list-recipes",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_list_recipes,
    help="List the recipes and exit.",
)
@click.option("--config", "config_file", help="YAML file of TrainConfig keys; flags override it.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from checkpoints/last.pt.")
@_option("--backbone", key="backbone", help="timm encoder name.")
@_option(
    "--decoder",
    key="decoder",
    help=f"{_choices(DECODERS)} (separate: one decoder per head).",
)
@_option(
    "--decoder-channels", key="decoder_channels", type=int,
    help="Width of the coarsest decoder stage.",
)  # fmt: skip
@_option(
    "--fusion",
    key="fusion",
    help=f"{_choices(FUSIONS)}: how the shots meet (early: stacked channels; siamese: one "
    "shared encoder per shot, the decoder sees feature differences).",
)
@_option(
    "--pretrained",
    key="pretrained",
    is_flag=False,
    flag_value=HUB_WEIGHTS,
    help="Backbone weights: a local file of the 3-channel timm model, a timm name ARCH.TAG, or "
    "alone: timm's hub weights of --backbone (from the HF cache; offline when cached).",
)
@_option("--size", key="size", type=int, help="Training resolution (0: the store's image size).")
@_option(
    "--batch-size", key="batch_size", type=int,
    help="Samples per step and process; a step trains batch size x processes.",
)  # fmt: skip
@_option("--epochs", key="epochs", type=int, help="Epochs to train.")
@_option(
    "--max-steps", key="max_steps", type=int,
    help="Stop after N optimizer steps, instead of --epochs (0: train --epochs).",
)  # fmt: skip
@_option("--lr", key="lr", type=float, help="Peak AdamW learning rate.")
@_option("--device", key="device", help=_choices(DEVICES) + ".")
@_option(
    "--split",
    key="split",
    help=f"{_choices(SPLITS)}: what validation holds out (scene+object: whole bg scenes and fg "
    "cutouts, validating on samples of both and training on samples of neither; object: whole "
    "cutouts; scene: whole scenes; random: samples; auto: scene+object with >= 5 of each, else "
    "scene, else object, else random).",
)
@_option(
    "--val-fraction", key="val_fraction", type=float,
    help="Fraction held out for validation: of the samples (random), else of the scenes and "
    "of the cutouts, each axis the split holds out.",
)  # fmt: skip
@_option("--seed", key="seed", type=int, help="Seed of the split, the order and the augmentation.")
@_option(
    "--workers", key="workers", type=LOADER_PROCESSES,
    help="Loader processes (0: the main process loads).",
)  # fmt: skip
@_option(
    "--loss-weighting", key="loss_weighting",
    help=f"{_choices(LOSS_WEIGHTINGS)} (uncertainty: learned task weights).",
)  # fmt: skip
@_option("--val-every", key="val_every", type=int, help="Validate every N steps (0: every epoch).")
@_option("--checkpoint-every", key="checkpoint_every", type=int, help="Save last.pt every N steps.")
@_option(
    "--sample-log/--no-sample-log",
    key="sample_log",
    help="Every process appends the sample indices of each batch it trains (with epoch and "
    "step) to RUN_DIR/samples/rank{R}.jsonl, to audit what the model saw.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def train_command(
    out: str,
    recipe_name: str | None,
    config_file: str | None,
    resume: bool,
    no_progress: bool,
    **flags: Any,
) -> None:
    """Train the mask + depth network on a store (DDP under torchrun, on one or more machines).

    --resume may run with another number of processes: the rest of the epoch is split among
    them (see docs/scaling.md).
    """
    # training.runtime before the rest of training: it must look at $TMPDIR before timm writes there
    from training import runtime
    from training.fitting.evaluate import format_metrics
    from training.fitting.train import NonFiniteLossError, train

    cfg = resolve_train_config(out, config_file, resume, _given(flags), recipe_name)
    try:
        metrics = train(cfg, resume=resume, progress=not no_progress)
    except NonFiniteLossError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.remove_scratch()
    if int(os.environ.get("RANK", "0")) == 0:
        click.echo(format_metrics(metrics))


def _given(flags: dict[str, Any]) -> dict[str, Any]:
    """The flags the user actually typed (or set through the environment)."""
    ctx = click.get_current_context()
    typed = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {k: v for k, v in flags.items() if ctx.get_parameter_source(k) in typed}


def resolve_train_config(
    out: str,
    config_file: str | None,
    resume: bool,
    flags: dict[str, Any],
    recipe: str | None = NO_RECIPE,
) -> TrainConfig:
    """Defaults < recipe (or the resumed run's config) < ``--config`` file < command-line flags.

    ``recipe`` None picks the device's default recipe (``device`` as the file or flags set it);
    :data:`~training.recipes.NO_RECIPE` starts from the dataclass defaults. A layer that sets
    ``epochs`` without ``max_steps`` (``size`` without ``resize_schedule``) resets that partner
    of the layers below it.
    """
    from training.fitting.run_dir import check_run_dir

    check_run_dir(Path(out), resume)
    file_data = load_yaml(config_file) if config_file else {}
    data: dict[str, Any] = {}
    if resume:
        if recipe not in (None, NO_RECIPE):
            raise InputError("--recipe: not with --resume (the run's config.yaml holds its recipe)")
        from training.checkpoint import load_checkpoint

        data = _as_trained(
            load_checkpoint(Path(out) / "checkpoints" / "last.pt", "--resume:")["train_config"]
        )
    else:
        name = recipe or _recipe_for(flags.get("device") or file_data.get("device", "auto"))
        if name != NO_RECIPE:
            data = {**load_recipe(name).settings, "recipe": name}
    for key in ("size", "epochs", "max_steps"):
        if key in flags and flags[key] <= 0:
            raise InputError(f"--{key.replace('_', '-')} must be positive, got {flags[key]}")
    if "epochs" in flags and "max_steps" in flags:
        raise InputError("give --epochs or --max-steps, not both")
    flags = {k: v for k, v in flags.items() if k in _OVERRIDES}
    for layer in (file_data, flags):
        data = _merge(data, _reset_partners(layer))
    return TrainConfig.from_dict({**data, "out": out}, config_file or "options")


def _as_trained(saved: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's train config as that run trained: runs saved before the capture
    augmentation existed trained without it, and resume exactly so."""
    augment = saved.get("augment", {})
    if "capture" in augment:
        return saved
    return {**saved, "augment": {**augment, "capture": {"enabled": False}}}


def _recipe_for(device: str) -> str:
    """The default recipe for a run asked to train on ``device`` (auto, cpu or cuda)."""
    from training import runtime

    return default_recipe(runtime.resolve_device(device).type if device in DEVICES else "cpu")


#: A layer that sets the key without its partner resets the partner of the layers below:
#: ``epochs`` alone means "train epochs, not the recipe's steps", ``size`` alone "train at this
#: size, not the recipe's progressive schedule".
_PARTNERS = {"epochs": ("max_steps", 0), "size": ("resize_schedule", [])}


def _reset_partners(layer: dict[str, Any]) -> dict[str, Any]:
    """``layer`` with the partners of the keys it sets alone reset (:data:`_PARTNERS`)."""
    resets = {
        partner: value
        for key, (partner, value) in _PARTNERS.items()
        if key in layer and partner not in layer
    }
    return {**layer, **resets}


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``, merging nested mappings (the ``augment`` section) key by key."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            value = _merge(base[key], value)
        merged[key] = value
    return merged


@click.command("eval")
@click.option("--store", required=True, help="The fgd Zarr store to evaluate on.")
@click.option("--checkpoint", required=True, help="A checkpoint written by fgd train.")
@click.option(
    "--split",
    default=EVAL_SPLITS[0],
    show_default=True,
    help=f"{_choices(EVAL_SPLITS)} (recomputed from the checkpoint's seed and split settings).",
)
@click.option(
    "--holdout",
    help=f"{_choices(SPLITS)}: the split kind that cuts the store into val and train "
    "[default: the one the checkpoint trained with; its seed and validation fraction stay].",
)
@click.option(
    "--json", "json_out",
    help="Also write the metrics (overall, per held-out object, per kind) to this JSON file.",
)  # fmt: skip
@click.option("--batch-size", type=int, help="Samples per batch [the run's batch size].")
@click.option("--device", default=DEFAULTS.device, show_default=True, help=_choices(DEVICES) + ".")
@click.option(
    "--workers", type=LOADER_PROCESSES, default=DEFAULTS.workers, show_default=True,
    help="Loader processes (0: the main process loads).",
)  # fmt: skip
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def eval_command(
    store: str,
    checkpoint: str,
    split: str,
    holdout: str | None,
    json_out: str | None,
    batch_size: int | None,
    device: str,
    workers: int,
    no_progress: bool,
) -> None:
    """Print all metrics of a checkpoint on a split of a store, per held-out object and per
    kind too (and write them as JSON)."""
    if json_out is not None:  # before any work: a run must not be lost to an unwritable path
        if not Path(json_out).parent.exists():
            raise InputError(f"--json {json_out}: folder {Path(json_out).parent} does not exist")
        check_output(json_out, "--json")
    # training.runtime before the rest of training: it must look at $TMPDIR before timm writes there
    from training import runtime
    from training.fitting.evaluate import format_report, run_eval

    try:
        report = run_eval(
            store, checkpoint, split, batch_size, device, workers, not no_progress, holdout
        )
    finally:
        runtime.remove_scratch()
    click.echo(format_report(report))
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(report.to_json(), indent=2) + "\n", "--json")


#: ``--device`` of the commands that run a checkpoint (``fgd predict``, ``fgd export-samples``).
device_option = click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="Where the checkpoint runs (auto: the GPU when there is one).",
)


@click.command("predict")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(path_type=Path),
    help="A checkpoint of fgd train, or an ONNX file of fgd export-model (FILE.onnx: run by "
    "onnxruntime on the CPU).",
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
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Output folder (files of an earlier run in it are replaced).",
)
@click.option("--resize", is_flag=True, help="Scale a bg of another size to its fg_bg's size.")
@click.option(
    "--align",
    type=click.Choice(METHODS),
    default="auto",
    show_default=True,
    help="Register the bg to the fg_bg (a homography) before predicting: auto predicts a pair "
    "that cannot be registered unaligned, with a warning; homography stops there; off skips it.",
)
@click.option(
    "--scales",
    default=scales_text(PREDICT_TTA.scales),
    show_default=True,
    callback=lambda ctx, param, value: parse_scales(value),
    help="Test-time augmentation: input sizes, as multiples of the trained size, whose mask "
    "probabilities are averaged (depth comes from 1, which must be listed). 1 alone: one pass.",
)
@click.option(
    "--flip/--no-flip",
    default=PREDICT_TTA.flip,
    show_default=True,
    help="Test-time augmentation: add a mirrored pass at every scale.",
)
@click.option(
    "--refine",
    type=click.Choice(REFINERS),
    default=DEFAULT_REFINER,
    show_default=True,
    help="How the network's coarse mask reaches the photo's size: guided fits its edge to the "
    "photo's (a fast guided filter on the fg_bg and its difference to the bg); off resizes it.",
)
@click.option(
    "--composite",
    "composite_bg",
    type=click.Path(path_type=Path),
    metavar="IMAGE",
    help="Also write composite.png: the object on this background (scaled to cover the photo "
    "and centre-cropped).",
)
@device_option
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
    align: Method,
    scales: tuple[float, ...],
    flip: bool,
    refine: Refiner,
    composite_bg: Path | None,
    device: str,
    batch_size: int,
    no_progress: bool,
) -> None:
    """Predict mask and depth of your own photo pairs, any size.

    Writes, at the photo's size: alpha.png (the soft alpha, 8-bit; --refine), mask.png
    (alpha >= 0.5, 0/255), foreground.png (RGBA: the object's colours, estimated under the soft
    alpha with fgd[matting], and its alpha), overlay.png (the alpha on the fg_bg photo),
    depth.png (16-bit; depth.json holds metres per unit), depth_color.png, composite.png with
    --composite, and align.json (the bg -> fg_bg homography and its residual); predict.json in
    --out records the settings and which folder holds each pair. Each prediction averages the
    passes of --scales and --flip.
    """
    if batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {batch_size}")
    from training.inference.pairs import check_jobs, predict_jobs, predict_pairs, read_image
    from training.inference.predictor import Predictor

    jobs = predict_jobs(out, bg, fgbg, pairs, bg_dir, fgbg_dir)
    tta = TTAConfig(scales, flip)
    check_jobs(jobs)
    new_bg = None if composite_bg is None else read_image(composite_bg, "--composite")
    predictor = Predictor.from_file(checkpoint, device).with_tta(tta)
    predict_pairs(
        predictor,
        jobs,
        resize=resize,
        batch_size=batch_size,
        progress=not no_progress and len(jobs) > 1,
        align=align,
        refine=refine,
        new_bg=new_bg,
    )
    settings = {
        "checkpoint": str(checkpoint),
        "trained_size": predictor.size,
        "scales": list(tta.scales),
        "input_sizes": tta.input_sizes(predictor.size),
        "flip": tta.flip,
        "align": align,
        "refine": refine,
        "composite": None if composite_bg is None else str(composite_bg),
        "pairs": len(jobs),
        # Where each pair's files went: a folder name may differ from its photo's (made safe
        # and unique by training.inference.pairs.pair_folders).
        "folders": [
            {
                "bg": str(job.bg),
                "fgbg": str(job.fgbg),
                "folder": job.out.relative_to(out).as_posix(),
            }
            for job in jobs
        ],
    }
    write_text_atomic(out / SETTINGS_FILE, json.dumps(settings, indent=2) + "\n", "--out")
    sizes = ", ".join(str(n) for n in settings["input_sizes"])
    click.echo(
        f"wrote {len(jobs)} prediction(s) to {out} ({tta.passes} pass(es) per pair at {sizes} px"
        f"{', each also mirrored' if flip else ''})"
    )


@click.command("export-model")
@click.argument("checkpoint", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="onnx",
    show_default=True,
    help="ONNX (run it with onnxruntime) or TorchScript (torch.jit.load).",
)
@click.option("--out", required=True, type=click.Path(), help="The file to write.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def export_model_command(checkpoint: str, fmt: Format, out: str, overwrite: bool) -> None:
    """Export CHECKPOINT as a model that runs without fgd: inputs bg and fg_bg as (N, 3, H, W)
    uint8 RGB (any N, H, W), outputs mask probability and depth in metres, (N, 1, H, W)."""
    from training.inference.export_model import export_model

    click.echo(export_model(checkpoint, fmt, out, overwrite).summary())


def _parse_indices(text: str | None) -> list[int] | None:
    """``--indices`` text ("3,17,42") as sample indices; not integers -> InputError."""
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
@click.option(
    "--n",
    default=16,
    show_default=True,
    help=f"Samples drawn from --split (at most {MAX_SAMPLES}; fewer for a --tile above "
    f"{FULL_GRID_TILE}).",
)
@click.option(
    "--split",
    type=click.Choice(EVAL_SPLITS),
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
@click.option(
    "--tile",
    default=224,
    show_default=True,
    help=f"Tile edge in the grid, in pixels (32 to {MAX_TILE}).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@device_option
@click.option("--no-progress", is_flag=True, help="No progress bar.")
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
    overwrite: bool,
    device: str,
    no_progress: bool,
) -> None:
    """Draw store samples as a grid (with a checkpoint: predictions and errors too)."""
    chosen = _parse_indices(indices)
    from training.inference.export_samples import export_samples

    written = export_samples(
        store,
        checkpoint=checkpoint,
        n=n,
        split=split,
        indices=chosen,
        seed=seed,
        out=out,
        per_sample=per_sample,
        overview=overview,
        tile=tile,
        device=device,
        overwrite=overwrite,
        progress=not no_progress,
    )
    for path in written:
        click.echo(f"wrote {path}")
