"""Checkpoints, devices and evaluation: what ``fgd train`` validates with and ``fgd eval`` runs.

A checkpoint is a plain dict that ``torch.load(..., weights_only=True)`` accepts (tensors, dicts,
lists, str, int, float, bool; RNG states as uint8 tensors), tagged ``{"fgd-checkpoint": 1}``.
It carries everything evaluation needs: the model config, the depth range and image
normalisation used, and the resolved train config (whose seed and split settings let ``fgd eval``
recompute the validation split).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from datagen.errors import InputError
from datagen.store import open_store
from training.augment import Normalization, depth_metres, prepare_batch
from training.config import TrainConfig
from training.data import Loader, eval_order, make_split, window_size
from training.losses import target_to_depth
from training.metrics import METRIC_KEYS, MetricAccumulator
from training.models import ModelConfig, build_model

CHECKPOINT_TAG = "fgd-checkpoint"
CHECKPOINT_FORMAT = 1
_REQUIRED = ("model", "model_config", "train_config", "depth_max", "normalization", "step")


# ----------------------------------------------------------------------------- devices


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this rank's GPU if CUDA is available, else the CPU."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA for ``amp=auto``, on any device for ``amp=bf16``; else fp32."""
    if amp == "bf16" or (amp == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Copy a (pinned) uint8 batch to the device; asynchronous when the memory is pinned."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


# ----------------------------------------------------------------------------- checkpoints


def normalization_from_store(attrs: dict[str, Any]) -> Normalization:
    """Image mean/std from the store's ``stats`` attribute (written by ``fgd datagen stats``), in
    [0, 1] units; ImageNet's when the store has none."""
    stats = attrs.get("stats") or {}
    try:
        values = {}
        for key in ("bg_mean", "bg_std", "fgbg_mean", "fgbg_std"):
            v = np.asarray(stats[key], dtype=np.float64).reshape(3)
            values[key] = tuple(float(x) for x in v)
        return Normalization(**values)
    except (KeyError, TypeError, ValueError):
        return Normalization()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a reader (or a SIGKILL) sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({CHECKPOINT_TAG: CHECKPOINT_FORMAT, **payload}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint (safely: ``weights_only=True``). Bad file -> InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise InputError(f"checkpoint {path} is corrupt or not a torch file ({reason})") from None
    if not isinstance(ckpt, dict) or CHECKPOINT_TAG not in ckpt:
        raise InputError(f"checkpoint {path} is not an fgd checkpoint")
    if ckpt[CHECKPOINT_TAG] != CHECKPOINT_FORMAT:
        raise InputError(
            f"checkpoint {path} has format {ckpt[CHECKPOINT_TAG]!r}, this fgd reads "
            f"{CHECKPOINT_FORMAT}"
        )
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise InputError(f"checkpoint {path} lacks {', '.join(missing)}")
    return ckpt


@dataclass(frozen=True)
class LoadedModel:
    """A model rebuilt from a checkpoint, with what its inputs and outputs need."""

    model: nn.Module
    train_config: TrainConfig
    normalization: Normalization
    depth_max: float


def model_from_checkpoint(
    ckpt: dict[str, Any], device: torch.device, path: str = "checkpoint"
) -> LoadedModel:
    """Rebuild the network of a checkpoint (from :func:`load_checkpoint`) in eval mode."""
    try:
        model = build_model(ModelConfig.from_dict(ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
        cfg = TrainConfig.from_dict(ckpt["train_config"], f"{path}: train_config")
        norm = Normalization.from_dict(ckpt["normalization"])
    except (RuntimeError, TypeError, KeyError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise InputError(f"{path}: weights do not fit its model config ({reason})") from None
    model.to(device).eval()
    return LoadedModel(model, cfg, norm, float(ckpt["depth_max"]))


# ----------------------------------------------------------------------------- evaluation


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
        inputs = prepare_batch(batch, setup.size, setup.norm, channels_last=setup.channels_last)
        out = predict(model, inputs, setup)
        prob = torch.sigmoid(out["mask_logits"])
        depth = target_to_depth(out["depth"], setup.depth_max)
        acc.update(prob, inputs["mask"], depth, inputs["depth"])
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
    loader = Loader(
        store,
        batch,
        window_size(batch, ds.chunk_size, cfg.shuffle_chunks),
        workers,
        pin_memory=dev.type == "cuda",
    )
    order = eval_order(indices)
    batches = loader.batches(order, drop_last=False)
    if progress:
        from tqdm import tqdm

        batches = tqdm(
            batches, total=math.ceil(len(order) / batch), desc=f"eval {split}", unit="batch"
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
