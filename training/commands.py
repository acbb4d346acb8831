"""The ``fgd train`` and ``fgd eval`` commands (``cli.py`` adds them to the ``fgd`` group)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from datagen.errors import InputError
from training.config import TrainConfig, load_yaml
from training.evaluate import METRIC_KEYS, format_metrics, load_checkpoint, run_eval
from training.train import NonFiniteLossError, check_run_dir, train

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
    "sample_log",
)


@click.command("train")
@click.option("--store", help="The fgd Zarr store to train on.")
@click.option("--out", required=True, help="Run directory (config, logs, checkpoints).")
@click.option("--config", "config_file", help="YAML file of TrainConfig keys; flags override it.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from checkpoints/last.pt.")
@click.option("--backbone", help=f"timm encoder name [{TrainConfig.backbone}].")
@click.option("--decoder", help="shared | separate (one decoder per head) [shared].")
@click.option(
    "--decoder-channels",
    type=int,
    help=f"Width of the coarsest decoder stage [{TrainConfig.decoder_channels}].",
)
@click.option("--pretrained", help="Local weights file of the 3-channel timm backbone.")
@click.option("--size", type=int, help="Training resolution [the store's image size].")
@click.option(
    "--batch-size",
    type=int,
    help="Samples per step and process; a step trains batch size x processes [32].",
)
@click.option("--epochs", type=int, help="Epochs to train [10].")
@click.option("--max-steps", type=int, help="Stop after N optimizer steps (instead of --epochs).")
@click.option("--lr", type=float, help="Peak AdamW learning rate [1e-3].")
@click.option("--device", help="auto | cpu | cuda [auto].")
@click.option("--split", help="scene: hold out whole bg scenes | random: hold out samples [scene].")
@click.option("--val-fraction", type=float, help="Fraction held out for validation [0.1].")
@click.option("--seed", type=int, help="Seed of the split, the order and the augmentation [0].")
@click.option("--workers", type=int, help="Loader processes [2].")
@click.option("--loss-weighting", help="fixed | uncertainty (learned task weights) [uncertainty].")
@click.option("--val-every", type=int, help="Validate every N steps (0: every epoch) [0].")
@click.option("--checkpoint-every", type=int, help="Save last.pt every N steps [500].")
@click.option(
    "--sample-log/--no-sample-log",
    default=None,
    help="Every process appends the sample indices of each batch it trains (with epoch and "
    "step) to RUN_DIR/samples/rank{R}.jsonl, to audit what the model saw [off].",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def train_command(
    out: str, config_file: str | None, resume: bool, no_progress: bool, **flags: Any
) -> None:
    """Train the mask + depth network on a store (DDP under torchrun, on one or more machines).

    --resume may run with another number of processes: the rest of the epoch is split among
    them (see docs/scaling.md).
    """
    cfg = resolve_train_config(out, config_file, resume, _given(flags))
    try:
        metrics = train(cfg, resume=resume, progress=not no_progress)
    except NonFiniteLossError as exc:
        raise click.ClickException(str(exc)) from None
    if int(os.environ.get("RANK", "0")) == 0:
        click.echo(format_metrics(metrics))


def _given(flags: dict[str, Any]) -> dict[str, Any]:
    """The flags the user actually typed (or set through the environment)."""
    ctx = click.get_current_context()
    typed = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {k: v for k, v in flags.items() if ctx.get_parameter_source(k) in typed}


def resolve_train_config(
    out: str, config_file: str | None, resume: bool, flags: dict[str, Any]
) -> TrainConfig:
    """Defaults < the resumed run's config < ``--config`` file < command-line flags."""
    check_run_dir(Path(out), resume)
    data: dict[str, Any] = {}
    if resume:
        data = load_checkpoint(Path(out) / "checkpoints" / "last.pt")["train_config"]
    if config_file:
        data = _merge(data, load_yaml(config_file))
    for key in ("size", "epochs", "max_steps"):
        if key in flags and flags[key] <= 0:
            raise InputError(f"--{key.replace('_', '-')} must be positive, got {flags[key]}")
    if "epochs" in flags and "max_steps" in flags:
        raise InputError("give --epochs or --max-steps, not both")
    if "epochs" in flags:  # --epochs on the command line beats max_steps from a file
        flags = {**flags, "max_steps": 0}
    data = {**data, **{k: v for k, v in flags.items() if k in _OVERRIDES}, "out": out}
    return TrainConfig.from_dict(data, config_file or "options")


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
    default="val",
    show_default=True,
    help="val | train | all (recomputed from the checkpoint's seed and split settings).",
)
@click.option("--json", "json_out", help="Also write the metrics to this JSON file.")
@click.option("--batch-size", type=int, help="Samples per batch [the run's batch size].")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda.")
@click.option("--workers", default=2, show_default=True, help="Loader processes.")
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
    if split not in ("val", "train", "all"):
        raise InputError(f"--split must be val, train or all, got {split!r}")
    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, got {device!r}")
    if json_out is not None and not Path(json_out).parent.is_dir():
        raise InputError(f"--json {json_out}: folder {Path(json_out).parent} does not exist")
    metrics = run_eval(
        store, checkpoint, split, batch_size, device, workers, progress=not no_progress
    )
    click.echo(format_metrics(metrics))
    if json_out is not None:
        path = Path(json_out)
        tmp = path.with_name(f".{path.name}.tmp")
        values = {k: metrics[k] for k in METRIC_KEYS} | {"n_samples": int(metrics["n_samples"])}
        tmp.write_text(json.dumps(values, indent=2) + "\n")
        os.replace(tmp, path)
