"""Evaluation: what ``fgd train`` validates with and ``fgd eval`` runs.

Both turn validation batches into model inputs with :func:`training.preprocess.preprocess`
(no augmentation) and report dataset-level metrics (:mod:`training.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from datagen.common.errors import InputError
from datagen.common.progress import progress_bar
from datagen.store.reader import open_store
from training.checkpoint import LoadedModel, load_checkpoint, model_from_checkpoint
from training.config import DEVICES
from training.fitting.augment import depth_metres, resized_targets
from training.fitting.epochs import eval_order, make_split, window_size
from training.fitting.loader import Loader
from training.losses import target_to_depth
from training.metrics import METRIC_KEYS, MetricAccumulator
from training.options import EVAL_SPLITS
from training.preprocess import Normalization, preprocess
from training.runtime import autocast, resolve_device, to_device


@dataclass(frozen=True)
class EvalSetup:
    """How validation batches are turned into model inputs (shared by train and eval)."""

    size: int
    norm: Normalization
    depth_max: float
    device: torch.device
    amp: str = "off"
    channels_last: bool = False


def eval_setup(loaded: LoadedModel, device: torch.device, size: int) -> EvalSetup:
    """How to feed ``loaded``'s model at ``size`` px on ``device`` (as its run was validated);
    moves the model to channels-last when the run used it on CUDA."""
    cfg = loaded.train_config
    setup = EvalSetup(
        size=size,
        norm=loaded.normalization,
        depth_max=loaded.depth_max,
        device=device,
        amp=cfg.amp,
        channels_last=cfg.channels_last and device.type == "cuda",
    )
    if setup.channels_last:
        loaded.model.to(memory_format=torch.channels_last)
    return setup


def predict(model: nn.Module, inputs: dict[str, torch.Tensor], setup: EvalSetup):
    """Model outputs in float32 for prepared inputs (under the configured autocast)."""
    with autocast(setup.device, setup.amp):
        out = model(inputs["bg"], inputs["fgbg"])
    return {k: v.float() for k, v in out.items()}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterator[tuple[int, dict[str, torch.Tensor]]],
    setup: EvalSetup,
    keep_images: int = 0,
) -> tuple[dict[str, float], dict[str, np.ndarray] | None]:
    """All metrics over ``batches`` (merged across DDP ranks when a process group is up).

    Returns the metric dict (keys :data:`METRIC_KEYS`) and, when ``keep_images`` > 0, the first
    samples with their predictions at the store's resolution, for an image grid.
    """
    was_training = model.training
    model.eval()
    acc = MetricAccumulator(device=setup.device)
    shown: dict[str, np.ndarray] | None = None
    for _, raw in batches:
        batch = to_device(raw, setup.device)
        inputs = preprocess(batch["bg"], batch["fgbg"], setup.size, setup.norm, setup.channels_last)
        out = predict(model, inputs, setup)
        prob = torch.sigmoid(out["mask_logits"])
        depth = target_to_depth(out["depth"], setup.depth_max)
        gt_mask, gt_depth = resized_targets(batch, setup.size)
        acc.update(prob, gt_mask, depth, gt_depth)
        if shown is None and keep_images:
            shown = _grid_samples(raw, prob, depth, keep_images)
    model.train(was_training)
    if dist.is_available() and dist.is_initialized():
        acc.all_reduce()
    return {k: float(v) for k, v in acc.compute().items()}, shown


def _grid_samples(raw, prob, depth, n) -> dict[str, np.ndarray]:
    size = raw["bg"].shape[1]
    prob = torch.nn.functional.interpolate(prob[:n], size=(size, size), mode="bilinear")
    depth = torch.nn.functional.interpolate(depth[:n], size=(size, size), mode="nearest")
    out = {k: raw[k][:n].numpy() for k in ("bg", "fgbg", "mask", "index")}
    out["depth"] = depth_metres(raw["depth"][:n]).numpy()
    out["pred_mask"] = prob[:, 0].cpu().numpy()
    out["pred_depth"] = depth[:, 0].cpu().numpy()
    return out


def run_eval(
    store: str,
    checkpoint: str,
    split: str = "val",
    batch_size: int | None = None,
    device: str = "auto",
    workers: int = 2,
    progress: bool = True,
) -> dict[str, float]:
    """``fgd eval``: metrics of a checkpoint on a split of a store (recomputed from the
    checkpoint's seed, split kind and validation fraction)."""
    if split not in EVAL_SPLITS:
        raise InputError(f"--split must be {', '.join(EVAL_SPLITS)}, got {split!r}")
    if device not in DEVICES:
        raise InputError(f"--device must be {', '.join(DEVICES)}, got {device!r}")
    if batch_size is not None and batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {batch_size}")
    if workers < 0:
        raise InputError(f"--workers must be >= 0, got {workers}")
    ckpt = load_checkpoint(checkpoint)
    ds = open_store(store)
    dev = resolve_device(device)
    loaded = model_from_checkpoint(ckpt, dev, checkpoint)
    cfg = loaded.train_config
    if split == "all":
        indices = np.arange(len(ds))
    else:
        parts = make_split(ds.bg_ids, cfg.split, cfg.val_fraction, cfg.seed)
        indices = parts.val if split == "val" else parts.train
    batch = batch_size or cfg.batch_size
    setup = eval_setup(loaded, dev, cfg.size or ds.size)
    window = window_size(batch, ds.chunk_size, cfg.shuffle_chunks)
    order = eval_order(indices)
    with Loader(store, batch, window, workers, pin_memory=dev.type == "cuda") as loader:
        batches = progress_bar(
            loader.batches(order, drop_last=False),
            enabled=progress,
            total=math.ceil(len(order) / batch),
            desc=f"eval {split}",
            unit="batch",
        )
        metrics, _ = evaluate(loaded.model, batches, setup)
    return metrics


def format_metrics(metrics: dict[str, float]) -> str:
    """Aligned two-column table of the metric keys."""
    width = max(map(len, METRIC_KEYS))
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ------"]
    for key in METRIC_KEYS:
        value = metrics[key]
        text = f"{int(value)}" if key == "n_samples" else f"{value:.4f}"
        lines.append(f"{key:<{width}}  {text}")
    return "\n".join(lines)
