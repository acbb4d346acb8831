"""The ``fgd train`` and ``fgd eval`` commands (``cli.py`` adds them to the ``fgd`` group).

Defaults and choices shown here are read from :class:`~training.config.TrainConfig` and the
choice tuples of :mod:`training.config`: the dataclass is the one place they are set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from datagen.errors import InputError
from datagen.files import check_output, write_text_atomic

# training.runtime before the rest of training: it must look at $TMPDIR before timm writes there
from training import runtime
from training.checkpoint import load_checkpoint
from training.config import (
    DECODERS,
    DEVICES,
    FUSIONS,
    LOSS_WEIGHTINGS,
    SPLITS,
    TrainConfig,
    load_yaml,
)
from training.evaluate import EVAL_SPLITS, METRIC_KEYS, format_metrics, run_eval
from training.models import HUB_WEIGHTS
from training.outputs import check_run_dir
from training.recipes import NO_RECIPE, default_recipe, load_recipe, recipe_names
from training.train import NonFiniteLossError, train

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
    help=f"{_choices(SPLITS)} (scene: hold out whole bg scenes; random: hold out samples).",
)
@_option("--val-fraction", key="val_fraction", type=float, help="Fraction held out for validation.")
@_option("--seed", key="seed", type=int, help="Seed of the split, the order and the augmentation.")
@_option("--workers", key="workers", type=int, help="Loader processes.")
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
    check_run_dir(Path(out), resume)
    file_data = load_yaml(config_file) if config_file else {}
    data: dict[str, Any] = {}
    if resume:
        if recipe not in (None, NO_RECIPE):
            raise InputError("--recipe: not with --resume (the run's config.yaml holds its recipe)")
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
@click.option("--json", "json_out", help="Also write the metrics to this JSON file.")
@click.option("--batch-size", type=int, help="Samples per batch [the run's batch size].")
@click.option("--device", default=DEFAULTS.device, show_default=True, help=_choices(DEVICES) + ".")
@click.option("--workers", default=DEFAULTS.workers, show_default=True, help="Loader processes.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def eval_command(
    store: str,
    checkpoint: str,
    split: str,
    json_out: str | None,
    batch_size: int | None,
    device: str,
    workers: int,
    no_progress: bool,
) -> None:
    """Print all metrics of a checkpoint on a split of a store (and write them as JSON)."""
    if json_out is not None:  # before any work: a run must not be lost to an unwritable path
        if not Path(json_out).parent.exists():
            raise InputError(f"--json {json_out}: folder {Path(json_out).parent} does not exist")
        check_output(json_out, "--json")
    try:
        metrics = run_eval(
            store, checkpoint, split, batch_size, device, workers, progress=not no_progress
        )
    finally:
        runtime.remove_scratch()
    click.echo(format_metrics(metrics))
    if json_out is not None:
        values = {k: metrics[k] for k in METRIC_KEYS} | {"n_samples": int(metrics["n_samples"])}
        write_text_atomic(json_out, json.dumps(values, indent=2) + "\n", "--json")
