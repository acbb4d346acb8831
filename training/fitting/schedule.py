"""The optimizer and its learning-rate schedule (after timm's ``create_optimizer`` and
``scheduler_factory``): AdamW without weight decay on 1-d parameters, linear warm-up then
cosine decay, and how many steps a run (or the rest of a resumed one) has."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from training.config import TrainConfig


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warm-up from 0 over ``warmup`` steps, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases, norm layers and the learned loss weights (1-d tensors)."""
    decay = [p for p in module.parameters() if p.requires_grad and p.ndim > 1]
    other = [p for p in module.parameters() if p.requires_grad and p.ndim <= 1]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]


def create_optimizer(module: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over ``module``'s parameters (:func:`param_groups`)."""
    # fused: one kernel for all parameters, on the CPU too
    return torch.optim.AdamW(
        param_groups(module, cfg.weight_decay),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        fused=True,
    )


def create_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, cfg: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """:func:`lr_factor` over ``total_steps``; the warm-up is at most a fifth of the run."""
    warmup = min(cfg.warmup_steps, total_steps // 5)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, warmup, cfg.min_lr_ratio)
    )


def total_steps(
    cfg: TrainConfig, step: int, epoch: int, left_in_epoch: int, steps_per_epoch: int
) -> int:
    """Steps of the whole run: ``max_steps`` if set, else those done, the ``left_in_epoch`` of
    the current epoch and ``steps_per_epoch`` for each epoch after it."""
    if cfg.max_steps:
        return cfg.max_steps
    if epoch < cfg.epochs:
        return step + left_in_epoch + (cfg.epochs - epoch - 1) * steps_per_epoch
    return step
