"""Where a run executes: its device, autocast, its place in a DDP job; what it leaves in $TMPDIR.

Single process, or DDP under ``torchrun`` (``WORLD_SIZE > 1``: nccl on GPUs, gloo on the CPU).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from datagen.common.errors import InputError


def _inductor_cache() -> Path:
    """The folder torch._inductor.runtime.cache_dir_utils.cache_dir() will create."""
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid_{os.getuid()}"
    return Path(tempfile.gettempdir(), "torchinductor_" + re.sub(r'[\\/:*?"<>|]', "_", user))


# timm imports torch._dynamo, which creates torch's (empty) compile cache folder in $TMPDIR at
# import time; fgd never compiles, so it removes that folder again when it made it. This module
# is imported before timm by every command that trains or evaluates (training.commands), and
# names the folder as torch._inductor.runtime.cache_dir_utils does without importing it (that
# import creates it).
_INDUCTOR_CACHE = _inductor_cache()
_INDUCTOR_CACHE_EXISTED = _INDUCTOR_CACHE.exists()


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the torchrun job (env:// rendezvous) when WORLD_SIZE > 1: nccl for GPUs, else gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device != "cpu" and torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local % torch.cuda.device_count())
        dist.init_process_group(backend)
    return DistInfo(rank, world, local)


def shutdown_distributed(dinfo: DistInfo) -> None:
    """Leave the job joined by :func:`init_distributed`."""
    if dinfo.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def barrier(dinfo: DistInfo) -> None:
    """Wait for every rank (a no-op in a single process)."""
    if dinfo.world > 1:
        dist.barrier()


def mean_over_ranks(values: torch.Tensor, dinfo: DistInfo) -> torch.Tensor:
    """``values`` averaged over the ranks, in place (unchanged in a single process)."""
    if dinfo.world > 1:
        dist.all_reduce(values)
        values /= dinfo.world
    return values


def wrap_ddp(module: nn.Module, device: torch.device, dinfo: DistInfo) -> nn.Module:
    """``module`` under DistributedDataParallel in a job of several ranks, else itself."""
    if dinfo.world <= 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


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


def remove_scratch() -> None:
    """Remove torch's compile cache folder if this process created it and it is still empty."""
    if not _INDUCTOR_CACHE_EXISTED:
        with contextlib.suppress(OSError):  # not empty (another process uses it) or gone
            _INDUCTOR_CACHE.rmdir()
