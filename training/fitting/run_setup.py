"""Everything a run needs to know before it builds a model, with every input checked.

:func:`setup_run` checks RUN_DIR, what ``--resume`` may change, the store and the sizes, makes
the split and places the run in it (:class:`training.fitting.epochs.EpochCursor`), and counts the
steps ahead; any bad input is an :class:`~datagen.common.errors.InputError` before anything is
written.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datagen.common.errors import InputError
from datagen.store.reader import open_store
from training.checkpoint import load_checkpoint
from training.config import TrainConfig, fixed_on_resume
from training.fitting.epochs import EpochCursor, Split, make_split, resolve_split, window_size
from training.fitting.run_dir import check_run_dir
from training.fitting.run_lock import RunLock
from training.fitting.schedule import total_steps
from training.models import check_backbone
from training.preprocess import Normalization, normalization_from_store
from training.runtime import DistInfo, resolve_device


@dataclass
class RunSetup:
    """A checked run: its config (``size`` resolved), data, position and length.

    Rank 0's setup holds RUN_DIR's lock until it is released, by :meth:`release` or at the end
    of a ``with`` block.
    """

    cfg: TrainConfig
    out: Path
    checkpoint: dict[str, Any] | None  # last.pt of a resumed run
    device: torch.device
    store_size: int
    depth_max: float
    norm: Normalization
    split: Split
    split_record: dict[str, Any]  # what the run records of its split (Split.record)
    cursor: EpochCursor
    first_order: tuple[np.ndarray, int]  # the cursor's order for the epoch it starts in
    total_steps: int
    lock: RunLock | None  # rank 0's

    def release(self) -> None:
        """Let RUN_DIR go (another trainer may take it from here)."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> RunSetup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def setup_run(cfg: TrainConfig, resume: bool, dinfo: DistInfo, progress: bool = True) -> RunSetup:
    """Check a run's inputs and plan it (see the module docstring). ``progress`` shows the bar
    of a stats pass (a store without saved stats), on the main process only.

    Rank 0 takes RUN_DIR's lock as soon as RUN_DIR is checked, before it reads a checkpoint or
    measures anything, and holds it until the returned setup is released, or until the error
    that refuses the run.
    """
    out = Path(cfg.out)
    check_run_dir(out, resume)
    lock = RunLock.take(out) if dinfo.is_main else None
    try:
        return _plan_run(cfg, out, resume, dinfo, lock, progress)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _plan_run(
    cfg: TrainConfig,
    out: Path,
    resume: bool,
    dinfo: DistInfo,
    lock: RunLock | None,
    progress: bool,
) -> RunSetup:
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt", "--resume:") if resume else None
    device = resolve_device(cfg.device, dinfo.local_rank)
    if not cfg.store:
        raise InputError("--store is required")
    ds = open_store(cfg.store)
    # The kind `auto` resolves to is the run's: what config.yaml, the checkpoint and a resume
    # see (a resumed run's config holds it already, so a resume compares resolved kinds).
    kind, why = resolve_split(cfg.split, ds.bg_ids, ds.fg_ids)
    split_note = f"fgd train: --split {cfg.split}: using {kind} ({why})" if why else ""
    cfg = cfg.replace(split=kind)
    if ckpt is not None:
        check_resumable(TrainConfig.from_dict(ckpt["train_config"], "checkpoint train_config"), cfg)
    check_backbone(cfg.backbone)  # before any long work (measuring the store's stats)
    sizes = [
        ("--size", cfg.size or ds.size),
        *(("resize_schedule", s) for _, s in cfg.resize_schedule),
    ]
    for option, size in sizes:
        if size < 16 or size > ds.size:
            recipe = f"; recipe {cfg.recipe} sets it unless --size is given" if cfg.recipe else ""
            raise InputError(
                f"{option} {size}: must be in [16, {ds.size}] (the store's images are "
                f"{ds.size}x{ds.size}{recipe})"
            )
    if cfg.size == 0:
        cfg = cfg.replace(size=ds.size)
    split = make_split(ds.bg_ids, ds.fg_ids, cfg.split, cfg.val_fraction, cfg.seed)
    per_rank = len(split.train) // dinfo.world
    if per_rank < cfg.batch_size:
        raise InputError(
            f"--batch-size {cfg.batch_size} is larger than the training split per process "
            f"({per_rank} samples)"
        )
    window = window_size(cfg.batch_size, ds.chunk_size, cfg.shuffle_chunks)
    cursor = EpochCursor(
        split.train, ds.chunk_size, window, cfg.batch_size, cfg.seed, dinfo.rank, dinfo.world
    )
    if ckpt is not None:
        cursor.restore(ckpt)
        if ckpt.get("world_size", 1) != dinfo.world and dinfo.is_main:
            _note_world_change(ckpt.get("world_size", 1), dinfo.world, cfg.batch_size)
    try:
        order, done = cursor.order()
    except ValueError as exc:  # a position that this split cannot have reached
        raise InputError(f"--resume: last.pt does not fit this run ({exc})") from None
    if split_note and dinfo.is_main:  # once the run is accepted: bad input stays one line
        print(split_note, file=sys.stderr)
    steps_per_epoch = per_rank // cfg.batch_size  # of a whole epoch with this world
    left = len(order) // cfg.batch_size - done
    norm = (
        normalization_from_store(ds, progress=progress and dinfo.is_main)
        if ckpt is None
        else Normalization.from_dict(ckpt["normalization"])
    )
    return RunSetup(
        cfg=cfg,
        out=out,
        checkpoint=ckpt,
        device=device,
        store_size=ds.size,
        depth_max=float(ds.depth_max),
        norm=norm,
        split=split,
        split_record=split.record(ds.bg_names, ds.fg_names),
        cursor=cursor,
        first_order=(order, done),
        total_steps=total_steps(cfg, cursor.step, cursor.epoch, left, steps_per_epoch),
        lock=lock,
    )


def check_resumable(saved: TrainConfig, cfg: TrainConfig) -> None:
    """The settings that fix the data order and the model cannot change on resume
    (:func:`training.config.fixed_on_resume`); the store is compared as a resolved path.

    The number of processes can: the rest of the epoch is split among the new ones.
    """
    for key, why in fixed_on_resume().items():
        before, now = getattr(saved, key), getattr(cfg, key)
        if key == "store":
            same = os.path.realpath(before) == os.path.realpath(now)
        else:
            same = before == now
        if not same:
            raise InputError(
                f"--resume: {key} was {before!r} in the run, got {now!r} ({why}); start a new "
                "--out to change it"
            )


def _note_world_change(before: int, now: int, batch_size: int) -> None:
    print(
        f"fgd train: resuming a run of {before} processes on {now}: the rest of the epoch is "
        f"split among {now}; the global batch goes from {batch_size * before} to "
        f"{batch_size * now} samples (--batch-size {batch_size} per process)",
        file=sys.stderr,
    )
