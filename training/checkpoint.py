"""The checkpoint file: its format, writing it atomically, reading it safely, the RNG state.

A checkpoint is a plain dict that ``torch.load(..., weights_only=True)`` accepts (tensors, dicts,
lists, str, int, float, bool; RNG states as tensors), tagged ``{"fgd-checkpoint": 1}``, with the
``fgd_version`` that wrote it (older checkpoints of the same format lack it). It carries
everything evaluation needs: the model config, the depth range and image normalisation used, and
the resolved train config (whose seed and split settings let ``fgd eval`` recompute the
validation split); ``last.pt`` also carries
the optimizer, scheduler, loss and RNG states and the epoch position that ``--resume`` needs.
"""

from __future__ import annotations

import importlib.metadata
import io
import math
import pickle
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from torch import nn

from datagen.errors import InputError, error_summary
from datagen.files import atomic_output
from training.config import TrainConfig
from training.models import ModelConfig, build_model
from training.preprocess import Normalization

CHECKPOINT_TAG = "fgd-checkpoint"
CHECKPOINT_FORMAT = 1
_REQUIRED = ("model", "model_config", "train_config", "depth_max", "normalization", "step")


def fgd_version() -> str:
    """The installed fgd's version ("unknown" when run from a bare checkout)."""
    try:
        return importlib.metadata.version("fgd")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a reader (or a SIGKILL) sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tagged = {CHECKPOINT_TAG: CHECKPOINT_FORMAT, "fgd_version": fgd_version(), **payload}
    # Serialised in memory first: torch's zip writer reports a full disk as a RuntimeError
    # with no errno, a plain write as the OSError that atomic_output turns into one line.
    buffer = io.BytesIO()
    torch.save(tagged, buffer)
    with atomic_output(path, "checkpoint") as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_checkpoint(path: str | Path, option: str = "checkpoint") -> dict[str, Any]:
    """Read and check a checkpoint (safely: ``weights_only=True``). Bad file -> InputError."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise InputError(f"{option} {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as exc:
        raise InputError(
            f"{option} {path} is corrupt or not a torch file ({error_summary(exc, 120)})"
        ) from None
    if not isinstance(ckpt, dict) or CHECKPOINT_TAG not in ckpt:
        raise InputError(f"{option} {path} is not an fgd checkpoint")
    if ckpt[CHECKPOINT_TAG] != CHECKPOINT_FORMAT:
        written = f" (written by fgd {ckpt['fgd_version']})" if "fgd_version" in ckpt else ""
        raise InputError(
            f"{option} {path} has format {ckpt[CHECKPOINT_TAG]!r}{written}, this fgd "
            f"{fgd_version()} reads format {CHECKPOINT_FORMAT}"
        )
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise InputError(f"{option} {path} lacks {', '.join(missing)}")
    return ckpt


class CheckpointSaver:
    """``RUN_DIR/checkpoints/last.pt`` and ``best.pt`` (after timm's CheckpointSaver).

    Only the main rank writes; ``state`` callables build the payload only when it does.
    """

    def __init__(self, folder: Path, enabled: bool, best: float = -math.inf) -> None:
        self.folder, self.enabled, self.best = folder, enabled, best

    def save_last(self, state: Callable[[], dict[str, Any]]) -> None:
        if self.enabled:
            save_checkpoint(self.folder / "last.pt", state())

    def save_if_best(self, score: float, state: Callable[[], dict[str, Any]]) -> bool:
        """Write ``best.pt`` when ``score`` beats every earlier one; True if it did."""
        if score <= self.best:
            return False
        self.best = score
        if self.enabled:
            save_checkpoint(self.folder / "best.pt", state())
        return True


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
    model_cfg = ckpt["model_config"]
    backbone = model_cfg.get("backbone") if isinstance(model_cfg, dict) else None
    if isinstance(backbone, str) and not timm.is_model(backbone):
        raise InputError(
            f"{path}: its model's backbone {backbone!r} is not a model of the installed timm "
            f"{timm.__version__}"
        )
    try:
        model = build_model(ModelConfig.from_dict(model_cfg))
        model.load_state_dict(ckpt["model"])
        cfg = TrainConfig.from_dict(ckpt["train_config"], f"{path}: train_config")
        norm = Normalization.from_dict(ckpt["normalization"])
    except (InputError, RuntimeError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(
            f"{path}: its model config and weights do not rebuild a network ({error_summary(exc)})"
        ) from None
    model.to(device).eval()
    return LoadedModel(model, cfg, norm, float(ckpt["depth_max"]))


def rng_state() -> dict[str, Any]:
    """Every global RNG as tensors/ints (loadable with ``weights_only=True``)."""
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global RNG is what we save)
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {
            "version": py_version,
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss": py_gauss,
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
