"""The training loop behind ``fgd train``: one run trains the mask and the depth task together.

Single process, or DDP under ``torchrun`` on one or several machines (``WORLD_SIZE > 1``: nccl
on GPUs, gloo on the CPU; each rank reads its own part of every epoch, only rank 0 writes).
``--batch-size`` is per rank: a step trains ``batch_size * world`` samples. AdamW with linear
warm-up and cosine decay, bf16 autocast on CUDA, channels-last, gradient clipping, and a guard
that stops on a non-finite loss.

The parts, one job each: :mod:`training.fitting.run_setup` checks the inputs and plans the run
(rank 0 holding RUN_DIR's lock, :mod:`training.fitting.run_lock`, for as long as it trains),
:mod:`training.runtime` places it (device, autocast, DDP), :mod:`training.fitting.schedule` makes
the optimizer and LR schedule, :mod:`training.checkpoint` writes ``checkpoints/last.pt`` /
``best.pt``, :mod:`training.fitting.run_dir` the rest of RUN_DIR, and
:class:`training.fitting.epochs.EpochCursor` keeps the position in the epoch. This module is the
loop.

``--resume`` continues exactly where ``last.pt`` left off: the epoch order and augmentation of
every batch are pure functions of (seed, epoch, the epoch's segments, batch index in the epoch,
rank), so the saved step and position in the epoch, the model, optimizer, scheduler and RNG
states are all that is needed; a resumed run reaches the same weights as an uninterrupted one.
A resume may use another number of ranks: the rest of the current epoch (what no rank has
trained yet) is split among the new ranks (:func:`training.fitting.epochs.segment_order`), the
step count and LR schedule go on, and the global batch changes with the world.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from datagen.common.errors import InputError, WriteError, error_summary
from datagen.common.progress import progress_bar
from training.checkpoint import CheckpointSaver, rng_state, set_rng_state
from training.config import TrainConfig
from training.fitting.augment import batch_seed, prepare_batch
from training.fitting.epochs import eval_order
from training.fitting.evaluate import EvalSetup, evaluate
from training.fitting.loader import Loader
from training.fitting.run_dir import RunOutputs
from training.fitting.run_setup import RunSetup, setup_run
from training.fitting.schedule import create_optimizer, create_scheduler
from training.inference.visualize import render_grid, row_label
from training.losses import DualTaskLoss, depth_to_target
from training.models import ModelConfig, build_model
from training.runtime import (
    DistInfo,
    autocast,
    init_distributed,
    mean_over_ranks,
    shutdown_distributed,
    to_device,
    wrap_ddp,
)


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops (the last checkpoint stays usable)."""


def model_config(cfg: TrainConfig) -> ModelConfig:
    """The network a train config asks for."""
    return ModelConfig(
        backbone=cfg.backbone,
        decoder=cfg.decoder,
        decoder_channels=cfg.decoder_channels,
        full_res_stage=cfg.full_res_stage,
        fusion=cfg.fusion,
        pretrained_path=cfg.pretrained or None,
    )


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict[str, float]:
    """Run (or resume) training; returns the last validation metrics."""
    dinfo = init_distributed(cfg.device)
    try:
        # Rank 0 holds RUN_DIR's lock in here.
        with setup_run(cfg, resume, dinfo, progress) as setup:
            trainer = Trainer(setup, dinfo, progress)
            try:
                return trainer.run()
            finally:
                trainer.close()
    except WriteError as error:
        saved = (Path(cfg.out) / "checkpoints" / "last.pt").is_file()
        then = "rerun with --resume" if saved else "rerun to start it over (none was saved)"
        raise WriteError(f"{error}; once there is room, {then}") from None
    finally:
        shutdown_distributed(dinfo)


class _Objective(nn.Module):
    """Model + loss in one module, so DDP also all-reduces the learned loss weights."""

    def __init__(self, model: nn.Module, loss: nn.Module, device: torch.device, amp: str):
        super().__init__()
        self.model, self.loss = model, loss
        self.device, self.amp = device, amp

    def forward(self, inputs: dict[str, torch.Tensor], depth_target: torch.Tensor):
        with autocast(self.device, self.amp):
            out = self.model(inputs["bg"], inputs["fgbg"])
        out = {k: v.float() for k, v in out.items()}
        return self.loss(out, inputs["mask"], depth_target)


class _LossMeter:
    """Running sums of the loss parts since the last validation, and the samples/s and the
    share of wall time spent waiting for the loader since the last log line."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.n = 0
        self.samples, self.since, self.waited = 0, time.perf_counter(), 0.0

    def timed(self, batches: Iterator[Any]) -> Iterator[Any]:
        """``batches``, adding the time each one kept the loop waiting to :attr:`waited`."""
        while True:
            start = time.perf_counter()
            item = next(batches, None)
            self.waited += time.perf_counter() - start
            if item is None:
                return
            yield item

    def add(self, parts: dict[str, float], samples: int) -> None:
        for k, v in parts.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.n += 1
        self.samples += samples

    def means(self) -> dict[str, float]:
        return {k: v / self.n for k, v in self.sums.items()} if self.n else {}

    def take_means(self) -> dict[str, float]:
        """The means so far, starting afresh."""
        means = self.means()
        self.sums, self.n = {}, 0
        return means

    def take_rate(self) -> tuple[float, float]:
        """Samples per second, and the fraction of the time spent waiting for data (a loader-
        bound run waits much; the step's own device work is in the rest), since the last call.
        """
        now = time.perf_counter()
        span = max(now - self.since, 1e-9)
        rate, wait = self.samples / span, self.waited / span
        self.samples, self.since, self.waited = 0, now, 0.0
        return rate, wait


class Trainer:
    """The model, optimizer, loaders and logs of one planned run; :meth:`run` is the loop."""

    def __init__(self, setup: RunSetup, dinfo: DistInfo, progress: bool) -> None:
        cfg = self.cfg = setup.cfg
        self.setup, self.dinfo, self.cursor = setup, dinfo, setup.cursor
        self.device = setup.device
        self.progress = progress and dinfo.is_main
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes between resizes
        torch.manual_seed(cfg.seed)
        self.model_cfg = model_config(cfg)
        self.model = build_model(self.model_cfg).to(self.device)
        self.channels_last = cfg.channels_last and self.device.type == "cuda"
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.loss = DualTaskLoss(
            weighting=cfg.loss_weighting,
            mask_weight=cfg.mask_weight,
            depth_weight=cfg.depth_weight,
        ).to(self.device)
        objective = _Objective(self.model, self.loss, self.device, cfg.amp)
        self.objective = wrap_ddp(objective, self.device, dinfo)
        self.optimizer = create_optimizer(self.objective, cfg)
        self.scheduler = create_scheduler(self.optimizer, setup.total_steps, cfg)
        loader = (cfg.store, cfg.batch_size, self.cursor.window, cfg.workers, cfg.prefetch)
        self.train_loader = Loader(*loader, pin_memory=self.device.type == "cuda")
        self.val_loader = Loader(*loader, pin_memory=self.device.type == "cuda")
        self.eval_setup = EvalSetup(
            cfg.size, setup.norm, setup.depth_max, self.device, cfg.amp, self.channels_last
        )
        self.saver = CheckpointSaver(setup.out / "checkpoints", dinfo.is_main)
        self.last_metrics: dict[str, float] = {}
        self.elapsed0, self.t0 = 0.0, time.perf_counter()  # wall time of earlier runs, start
        if setup.checkpoint is not None:
            self._restore(setup.checkpoint)
        self.outputs = RunOutputs.open(
            setup.out,
            cfg,
            dinfo,
            self.cursor.step,
            resumed=setup.checkpoint is not None,
            split=setup.split_record,
        )

    def run(self) -> dict[str, float]:
        cfg, cursor, total = self.cfg, self.cursor, self.setup.total_steps
        bar = progress_bar(
            total=total, initial=cursor.step, enabled=self.progress, desc="train", unit="step"
        )
        meter = _LossMeter()
        last_val = cursor.step if self.last_metrics else -1
        first_order: tuple[Any, int] | None = self.setup.first_order
        with bar:
            while cursor.step < total:
                order, done = first_order or cursor.order()
                first_order = None
                n_batches = len(order) // cfg.batch_size
                if done >= n_batches:  # a resume with more ranks found too little left
                    cursor.next_epoch()
                    continue
                batches = self.train_loader.batches(order, done)
                for b, raw in meter.timed(iter(batches)):
                    meter.add(self._train_step(raw), cfg.batch_size * self.dinfo.world)
                    self.outputs.log_samples(cursor.epoch, cursor.step + 1, cursor.batch,
                                             raw["index"])  # fmt: skip
                    cursor.advance(end_of_epoch=b + 1 == n_batches)
                    if cursor.step % cfg.log_every == 0 or cursor.step == total:
                        self._log_train(meter, bar)
                    bar.update(1)
                    end_of_epoch = not cursor.segments
                    if (cfg.val_every and cursor.step % cfg.val_every == 0) or (
                        not cfg.val_every and end_of_epoch
                    ):
                        self._validate(meter.take_means(), bar)
                        last_val = cursor.step
                        self.saver.save_last(self._state)
                    elif cursor.step % cfg.checkpoint_every == 0:
                        self.saver.save_last(self._state)
                    if cursor.step >= total or end_of_epoch:
                        break
            if last_val != cursor.step:
                self._validate(meter.take_means(), bar)
            self.saver.save_last(self._state)
        return self.last_metrics

    def close(self) -> None:
        """Stop the loader workers and close the logs."""
        self.train_loader.close()
        self.val_loader.close()
        self.outputs.close()

    def elapsed(self) -> float:
        """Wall seconds of training so far (across resumes)."""
        return self.elapsed0 + time.perf_counter() - self.t0

    def _train_step(self, raw: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg, cursor = self.cfg, self.cursor
        batch = to_device(raw, self.device)
        # batch = this batch's index in the epoch: a pure function of its place in the run
        seed = batch_seed(cfg.seed, cursor.epoch, cursor.batch, self.dinfo.rank)
        inputs = prepare_batch(
            batch,
            cfg.size_at(cursor.epoch, cursor.step),
            self.setup.norm,
            cfg.augment,
            seed,
            self.channels_last,
            far=self.setup.depth_max,
        )
        total, parts = self.objective(
            inputs, depth_to_target(inputs["depth"], self.setup.depth_max)
        )
        reduced = torch.stack([total.detach(), *(v.detach().float() for v in parts.values())])
        values = mean_over_ranks(reduced, self.dinfo).tolist()
        if not math.isfinite(values[0]):
            raise NonFiniteLossError(
                f"loss is {values[0]} at step {cursor.step} (epoch {cursor.epoch}); stopping. "
                f"Lower --lr (now {cfg.lr:g}) or check the store; {self.saver.folder} "
                "keeps the last good state"
            )
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(self.objective.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return dict(zip(["loss", *parts], values, strict=True))

    def _log_train(self, meter: _LossMeter, bar: Any) -> None:
        rate, wait = meter.take_rate()
        if not self.dinfo.is_main or not meter.n:
            return
        lr = self.optimizer.param_groups[0]["lr"]
        means = meter.means()
        scalars = {**means, "lr": lr, "samples_per_s": rate, "data_wait_frac": wait}
        self.outputs.log_scalars("train", scalars, self.cursor.step)
        bar.set_postfix(loss=f"{means['loss']:.4f}", samples_s=f"{rate:.0f}", lr=f"{lr:.2g}")

    def _validate(self, train_losses: dict[str, float], bar: Any) -> None:
        cursor, dinfo = self.cursor, self.dinfo
        order = eval_order(self.setup.split.val, dinfo.rank, dinfo.world)
        batches = progress_bar(
            self.val_loader.batches(order, drop_last=False),
            enabled=self.progress and dinfo.is_main,
            total=math.ceil(len(order) / self.cfg.batch_size),
            desc="validate",
            unit="batch",
            leave=False,
        )
        keep = self.cfg.log_images if dinfo.is_main else 0
        metrics, shown = evaluate(self.model, batches, self.eval_setup, keep_images=keep)
        self.last_metrics = metrics
        if not dinfo.is_main:
            return
        record = {
            "step": cursor.step,
            "epoch": cursor.epoch,
            "elapsed_s": round(self.elapsed(), 1),
            **metrics,
            **{f"train_{k}": v for k, v in train_losses.items()},
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        grid = None
        if shown is not None:
            labels = [row_label(int(i)) for i in shown["index"]]
            predicted = {"mask": shown["pred_mask"], "depth": shown["pred_depth"]}
            tile = min(224, max(96, self.setup.store_size))
            grid = render_grid(shown, predicted, labels, tile=tile)
        self.outputs.log_validation(record, metrics, grid)
        self.saver.save_if_best(metrics["mask_iou"] + metrics["depth_delta1"], self._state)
        if self.progress:
            bar.write(
                f"step {cursor.step} epoch {cursor.epoch}: mask_iou {metrics['mask_iou']:.4f} "
                f"depth_delta1 {metrics['depth_delta1']:.4f} "
                f"depth_absrel {metrics['depth_absrel']:.4f}"
            )

    def _state(self) -> dict[str, Any]:
        """The checkpoint payload (:mod:`training.checkpoint`)."""
        cfg = self.cfg
        return {
            "model": self.model.state_dict(),
            "model_config": self.model_cfg.to_dict(),
            "train_config": cfg.to_dict(),
            "depth_max": self.setup.depth_max,
            "normalization": self.setup.norm.to_dict(),
            "store": {"path": str(cfg.store), "size": self.setup.store_size},
            "split": self.setup.split_record,
            **self.cursor.position(),
            "best_score": self.saver.best,
            "elapsed_s": self.elapsed(),
            "metrics": self.last_metrics,
            "loss": self.loss.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(),
        }

    def _restore(self, ckpt: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(ckpt["model"])
            self.loss.load_state_dict(ckpt["loss"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise InputError(
                f"--resume: last.pt does not fit this run ({error_summary(exc)})"
            ) from None
        self.saver.best = ckpt.get("best_score", -math.inf)
        self.elapsed0 = ckpt.get("elapsed_s", 0.0)
        self.last_metrics = dict(ckpt.get("metrics", {}))
        set_rng_state(ckpt["rng"])
