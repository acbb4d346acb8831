"""The training loop behind ``fgd train``: one run trains the mask and the depth task together.

Single process, or DDP under ``torchrun`` on one or several machines (``WORLD_SIZE > 1``: nccl
on GPUs, gloo on the CPU; each rank reads its own part of every epoch, only rank 0 writes).
``--batch-size`` is per rank: a step trains ``batch_size * world`` samples. AdamW with linear
warm-up and cosine decay, bf16 autocast on CUDA, channels-last, gradient clipping, and a guard
that stops on a non-finite loss.

A run directory holds ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one line per
validation), TensorBoard events under ``tb/``, ``checkpoints/last.pt`` / ``best.pt`` and, with
``sample_log``, ``samples/rank{R}.jsonl`` (every batch's sample indices, one line per batch and
rank). ``--resume`` continues exactly where ``last.pt`` left off: the epoch order and
augmentation of every batch are pure functions of (seed, epoch, the epoch's segments, batch index
in the epoch, rank), so the saved step and position in the epoch, the model, optimizer, scheduler
and RNG states are all that is needed; a resumed run reaches the same weights as an uninterrupted
one. A resume may use another number of ranks: the rest of the current epoch (what no rank has
trained yet) is split among the new ranks (:func:`training.data.segment_order`), the step count
and LR schedule go on, and the global batch changes with the world.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from datagen.errors import InputError
from datagen.store import open_store
from training.augment import Normalization, batch_seed, prepare_batch
from training.config import TrainConfig, dump_yaml
from training.data import (
    Loader,
    eval_order,
    make_split,
    normalize_segments,
    segment_order,
    window_size,
)
from training.evaluate import (
    EvalSetup,
    autocast,
    evaluate,
    load_checkpoint,
    normalization_from_store,
    resolve_device,
    save_checkpoint,
    to_device,
)
from training.losses import DualTaskLoss, depth_to_target
from training.models import ModelConfig, build_model
from training.visualize import render_grid, row_label

#: Run-directory entries that mark an existing run.
RUN_MARKERS = ("config.yaml", "metrics.jsonl", "checkpoints", "samples")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops (the last checkpoint stays usable)."""


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def model_config(cfg: TrainConfig) -> ModelConfig:
    """The network a train config asks for."""
    return ModelConfig(
        backbone=cfg.backbone,
        decoder=cfg.decoder,
        decoder_channels=cfg.decoder_channels,
        full_res_stage=cfg.full_res_stage,
        pretrained_path=cfg.pretrained or None,
    )


def check_run_dir(out: Path, resume: bool) -> None:
    """A new run needs a fresh RUN_DIR; ``--resume`` needs ``checkpoints/last.pt`` in it."""
    if resume:
        if not (out / "checkpoints" / "last.pt").is_file():
            raise InputError(f"--resume: no checkpoint {out / 'checkpoints' / 'last.pt'}")
    elif out.exists() and any((out / m).exists() for m in RUN_MARKERS):
        raise InputError(f"--out {out} already holds a run; use --resume or a new --out")
    elif out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a directory")


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warm-up from 0 over ``warmup`` steps, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


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


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict[str, float]:
    """Run (or resume) training; returns the last validation metrics."""
    dinfo = _init_distributed(cfg.device)
    try:
        return _Trainer(cfg, resume, progress, dinfo).run()
    finally:
        if dinfo.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _init_distributed(device: str) -> DistInfo:
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


class _Trainer:
    """State of one run; :meth:`run` is the loop."""

    def __init__(self, cfg: TrainConfig, resume: bool, progress: bool, dinfo: DistInfo):
        self.dinfo = dinfo
        out = Path(cfg.out)
        check_run_dir(out, resume)
        ckpt = load_checkpoint(out / "checkpoints" / "last.pt") if resume else None
        if ckpt is not None:
            saved = TrainConfig.from_dict(ckpt["train_config"], "checkpoint train_config")
            _check_resumable(saved, cfg)
        self.cfg = cfg
        self.out = out
        self.progress = progress and dinfo.is_main
        self.device = resolve_device(cfg.device, dinfo.local_rank)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes between resizes
        if not cfg.store:
            raise InputError("--store is required")
        ds = open_store(cfg.store)
        self.store_size, self.chunk_size = ds.size, ds.chunk_size
        self.depth_max = float(ds.depth_max)
        self.size = cfg.size or ds.size
        for size in [self.size, *(s for _, s in cfg.resize_schedule)]:
            if size < 16 or size > ds.size:
                raise InputError(
                    f"--size {size}: must be in [16, {ds.size}] (the store's images are "
                    f"{ds.size}x{ds.size})"
                )
        if cfg.size == 0:
            self.cfg = cfg = cfg.replace(size=ds.size)
        self.split = make_split(ds.bg_ids, cfg.split, cfg.val_fraction, cfg.seed)
        per_rank = len(self.split.train) // dinfo.world
        if per_rank < cfg.batch_size:
            raise InputError(
                f"--batch-size {cfg.batch_size} is larger than the training split per process "
                f"({per_rank} samples)"
            )
        self.steps_per_epoch = per_rank // cfg.batch_size  # of a whole epoch with this world
        self.window = window_size(cfg.batch_size, self.chunk_size, cfg.shuffle_chunks)
        # Position: steps so far, epoch, and the segments (world, batches) of this epoch so far.
        self.step, self.epoch, self.segments = 0, 0, []
        if ckpt is not None:
            self.step, self.epoch = ckpt["step"], ckpt["epoch"]
            self.segments = [list(s) for s in _saved_segments(ckpt)]
            if ckpt.get("world_size", 1) != dinfo.world and dinfo.is_main:
                _note_world_change(ckpt.get("world_size", 1), dinfo.world, cfg.batch_size)
        try:
            self._plan: tuple[np.ndarray, int] | None = self._segment_order()
        except ValueError as exc:  # a position that this split cannot have reached
            raise InputError(f"--resume: last.pt does not fit this run ({exc})") from None
        if cfg.max_steps:
            self.total_steps = cfg.max_steps
        elif self.epoch < cfg.epochs:  # the rest of this epoch, then whole ones with this world
            order, done = self._plan
            left = len(order) // cfg.batch_size - done
            self.total_steps = (
                self.step + left + (cfg.epochs - self.epoch - 1) * self.steps_per_epoch
            )
        else:
            self.total_steps = self.step
        self.norm = (
            normalization_from_store(ds.attrs)
            if ckpt is None
            else Normalization.from_dict(ckpt["normalization"])
        )

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
        if dinfo.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            objective = DistributedDataParallel(objective, device_ids=ids)
        self.objective = objective
        # fused: one kernel for all parameters (on the CPU too); the step took 17.6 ms of a
        # ~570 ms 96 px CPU step with the default per-parameter loop (benchmarks/train_step.py)
        self.optimizer = torch.optim.AdamW(
            _param_groups(objective, cfg.weight_decay),
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            fused=True,
        )
        warmup = min(cfg.warmup_steps, self.total_steps // 5)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(s, self.total_steps, warmup, cfg.min_lr_ratio),
        )

        window = self.window
        pin = self.device.type == "cuda"
        self.train_loader = Loader(
            cfg.store, cfg.batch_size, window, cfg.workers, cfg.prefetch, pin
        )
        self.val_loader = Loader(cfg.store, cfg.batch_size, window, cfg.workers, cfg.prefetch, pin)
        self.eval_setup = EvalSetup(
            self.size, self.norm, self.depth_max, self.device, cfg.amp, self.channels_last
        )

        self.best = -math.inf
        self.last_metrics: dict[str, float] = {}
        self.elapsed0, self.t0 = 0.0, time.perf_counter()  # wall time of earlier runs, start
        if ckpt is not None:
            self._restore(ckpt)
            if dinfo.is_main:
                trim_sample_logs(out, self.step)
        if dinfo.world > 1:
            dist.barrier()  # every rank has checked RUN_DIR before rank 0 writes into it
        if dinfo.is_main:
            self._open_outputs(resumed=ckpt is not None)
        self.sample_log = None
        if cfg.sample_log:
            (out / "samples").mkdir(parents=True, exist_ok=True)
            path = out / "samples" / f"rank{dinfo.rank}.jsonl"
            self.sample_log = open(path, "a", buffering=1)  # noqa: SIM115 (closed by run)

    @property
    def batch(self) -> int:
        """Batches this rank trained in the current epoch (all segments)."""
        return sum(b for _, b in self.segments)

    def _segment_order(self) -> tuple[np.ndarray, int]:
        """This rank's order for the rest of the current epoch, and its batches already done."""
        return segment_order(
            self.split.train,
            self.chunk_size,
            self.window,
            self.cfg.batch_size,
            self.cfg.seed,
            self.epoch,
            self.segments,
            self.dinfo.rank,
            self.dinfo.world,
        )

    # ------------------------------------------------------------------ outputs

    def elapsed(self) -> float:
        """Wall seconds of training so far (across resumes)."""
        return self.elapsed0 + time.perf_counter() - self.t0

    def _open_outputs(self, resumed: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.out.mkdir(parents=True, exist_ok=True)
        dump_yaml(self.cfg, self.out / "config.yaml")
        metrics = self.out / "metrics.jsonl"
        if resumed and metrics.exists():  # drop validations past the checkpoint
            lines = [ln for ln in metrics.read_text().splitlines() if ln.strip()]
            kept = [ln for ln in lines if json.loads(ln)["step"] <= self.step]
            metrics.write_text("".join(f"{ln}\n" for ln in kept))
        self.writer = SummaryWriter(str(self.out / "tb"), purge_step=self.step if resumed else None)

    def _checkpoint(self, name: str) -> None:
        if not self.dinfo.is_main:
            return
        save_checkpoint(self.out / "checkpoints" / name, self._state())

    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "model_config": self.model_cfg.to_dict(),
            "train_config": self.cfg.to_dict(),
            "depth_max": self.depth_max,
            "normalization": self.norm.to_dict(),
            "store": {"path": str(self.cfg.store), "size": self.store_size},
            "step": self.step,
            "epoch": self.epoch,
            "batch": self.batch,
            "segments": [list(s) for s in self.segments],
            "world_size": self.dinfo.world,
            "best_score": self.best,
            "elapsed_s": self.elapsed(),
            "metrics": self.last_metrics,
            "loss": self.loss.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": _rng_state(),
        }

    def _restore(self, ckpt: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(ckpt["model"])
            self.loss.load_state_dict(ckpt["loss"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
        except (KeyError, RuntimeError, ValueError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise InputError(f"--resume: last.pt does not fit this run ({reason})") from None
        self.best = ckpt.get("best_score", -math.inf)
        self.elapsed0 = ckpt.get("elapsed_s", 0.0)
        self.last_metrics = dict(ckpt.get("metrics", {}))
        _set_rng_state(ckpt["rng"])

    # ------------------------------------------------------------------ loop

    def run(self) -> dict[str, float]:
        cfg, dinfo = self.cfg, self.dinfo
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=not self.progress,
            desc="train",
            unit="step",
            dynamic_ncols=True,
        )
        sums: dict[str, float] = {}
        n_sum, t_log, samples = 0, time.perf_counter(), 0
        last_val = self.step if self.last_metrics else -1
        try:
            while self.step < self.total_steps:
                order, done = self._plan or self._segment_order()
                self._plan = None
                n_batches = len(order) // cfg.batch_size
                if done >= n_batches:  # a resume with more ranks found too little left
                    self.epoch, self.segments = self.epoch + 1, []
                    continue
                for b, raw in self.train_loader.batches(order, done):
                    parts = self._train_step(raw)
                    for k, v in parts.items():
                        sums[k] = sums.get(k, 0.0) + v
                    n_sum += 1
                    samples += cfg.batch_size * dinfo.world
                    self.step += 1
                    self._log_samples(raw["index"])
                    if self.segments and self.segments[-1][0] == dinfo.world:
                        self.segments[-1][1] += 1
                    else:
                        self.segments.append([dinfo.world, 1])
                    if b + 1 == n_batches:
                        self.epoch, self.segments = self.epoch + 1, []
                    if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                        now = time.perf_counter()
                        rate = samples / max(now - t_log, 1e-9)
                        self._log_train(sums, n_sum, rate, bar)
                        t_log, samples = now, 0
                    bar.update(1)
                    end_of_epoch = not self.segments
                    if (cfg.val_every and self.step % cfg.val_every == 0) or (
                        not cfg.val_every and end_of_epoch
                    ):
                        self._validate(sums, n_sum)
                        sums, n_sum, last_val = {}, 0, self.step
                        self._checkpoint("last.pt")
                    elif self.step % cfg.checkpoint_every == 0:
                        self._checkpoint("last.pt")
                    if self.step >= self.total_steps or end_of_epoch:
                        break
            if last_val != self.step:
                self._validate(sums, n_sum)
            self._checkpoint("last.pt")
        finally:
            bar.close()
            if dinfo.is_main:
                self.writer.close()
            if self.sample_log is not None:
                self.sample_log.close()
        return self.last_metrics

    def _log_samples(self, indices: torch.Tensor) -> None:
        """One line of ``samples/rank{R}.jsonl`` for the batch just trained (``sample_log``)."""
        if self.sample_log is None:
            return
        record = {
            "epoch": self.epoch,
            "step": self.step,
            "batch": self.batch,
            "rank": self.dinfo.rank,
            "world": self.dinfo.world,
            "indices": indices.tolist(),
        }
        self.sample_log.write(json.dumps(record, separators=(",", ":")) + "\n")

    def _train_step(self, raw: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        batch = to_device(raw, self.device)
        # batch = this batch's index in the epoch: a pure function of its place in the run
        seed = batch_seed(cfg.seed, self.epoch, self.batch, self.dinfo.rank)
        inputs = prepare_batch(
            batch,
            cfg.size_at(self.epoch, self.step),
            self.norm,
            cfg.augment,
            seed,
            self.channels_last,
            far=self.depth_max,
        )
        total, parts = self.objective(inputs, depth_to_target(inputs["depth"], self.depth_max))
        reduced = torch.stack([total.detach(), *(v.detach().float() for v in parts.values())])
        if self.dinfo.world > 1:
            dist.all_reduce(reduced)
            reduced /= self.dinfo.world
        values = reduced.tolist()
        if not math.isfinite(values[0]):
            raise NonFiniteLossError(
                f"loss is {values[0]} at step {self.step} (epoch {self.epoch}); stopping. "
                f"Lower --lr (now {cfg.lr:g}) or check the store; {self.out / 'checkpoints'} "
                "keeps the last good state"
            )
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(self.objective.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return dict(zip(["loss", *parts], values, strict=True))

    def _log_train(self, sums: dict[str, float], n: int, rate: float, bar: tqdm) -> None:
        if not self.dinfo.is_main or not n:
            return
        lr = self.optimizer.param_groups[0]["lr"]
        for k, v in sums.items():
            self.writer.add_scalar(f"train/{k}", v / n, self.step)
        self.writer.add_scalar("train/lr", lr, self.step)
        self.writer.add_scalar("train/samples_per_s", rate, self.step)
        bar.set_postfix(loss=f"{sums['loss'] / n:.4f}", samples_s=f"{rate:.0f}", lr=f"{lr:.2g}")

    def _validate(self, sums: dict[str, float], n: int) -> None:
        order = eval_order(self.split.val, self.dinfo.rank, self.dinfo.world)
        batches = self.val_loader.batches(order, drop_last=False)
        keep = self.cfg.log_images if self.dinfo.is_main else 0
        metrics, shown = evaluate(self.model, batches, self.eval_setup, keep_images=keep)
        self.last_metrics = metrics
        if not self.dinfo.is_main:
            return
        losses = {f"train_{k}": v / n for k, v in sums.items()} if n else {}
        record = {
            "step": self.step,
            "epoch": self.epoch,
            "elapsed_s": round(self.elapsed(), 1),
            **metrics,
            **losses,
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        with open(self.out / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        for k, v in metrics.items():
            self.writer.add_scalar(f"val/{k}", v, self.step)
        if shown is not None:
            labels = [row_label(int(i)) for i in shown["index"]]
            grid = render_grid(
                shown,
                {"mask": shown["pred_mask"], "depth": shown["pred_depth"]},
                labels,
                tile=min(224, max(96, self.store_size)),
            )
            self.writer.add_image("val/predictions", grid, self.step, dataformats="HWC")
        self.writer.flush()
        score = metrics["mask_iou"] + metrics["depth_delta1"]
        if score > self.best:
            self.best = score
            self._checkpoint("best.pt")
        if self.progress:
            tqdm.write(
                f"step {self.step} epoch {self.epoch}: mask_iou {metrics['mask_iou']:.4f} "
                f"depth_delta1 {metrics['depth_delta1']:.4f} "
                f"depth_absrel {metrics['depth_absrel']:.4f}"
            )


def _check_resumable(saved: TrainConfig, cfg: TrainConfig) -> None:
    """Settings that fix the data order and the model cannot change on resume.

    The number of processes can: the rest of the epoch is split among the new ones.
    """
    fixed = (
        "seed",
        "split",
        "val_fraction",
        "batch_size",
        "shuffle_chunks",
        "backbone",
        "decoder",
        "decoder_channels",
    )
    for key in fixed:
        if getattr(saved, key) != getattr(cfg, key):
            raise InputError(
                f"--resume: {key} was {getattr(saved, key)!r} in the run, got "
                f"{getattr(cfg, key)!r}; start a new --out to change it"
            )


def _saved_segments(ckpt: dict[str, Any]) -> list[tuple[int, int]]:
    """The checkpoint's segments of its epoch (older checkpoints: one, of their world)."""
    if "segments" in ckpt:
        return normalize_segments(ckpt["segments"])
    return normalize_segments([(ckpt.get("world_size", 1), ckpt["batch"])])


def _note_world_change(before: int, now: int, batch_size: int) -> None:
    print(
        f"fgd train: resuming a run of {before} processes on {now}: the rest of the epoch is "
        f"split among {now}; the global batch goes from {batch_size * before} to "
        f"{batch_size * now} samples (--batch-size {batch_size} per process)",
        file=sys.stderr,
    )


def trim_sample_logs(out: Path, step: int) -> None:
    """Drop sample-log lines past ``step`` (batches a killed run trained after its checkpoint)."""
    for path in sorted((out / "samples").glob("rank*.jsonl")):
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut short by the kill
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept))
        os.replace(tmp, path)


def read_sample_logs(out: str | Path) -> list[dict[str, Any]]:
    """Every line of ``RUN_DIR/samples/rank*.jsonl`` (``sample_log``), by step, then rank.

    Each record: ``epoch``, ``step`` (the optimizer step the batch made, counted from 1 as in
    metrics.jsonl), ``batch`` (its index in the epoch on its rank), ``rank``, ``world`` and
    ``indices`` (the store indices of the batch's samples, in batch order).
    """
    records = []
    for path in sorted(Path(out, "samples").glob("rank*.jsonl")):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        for i, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if i < len(lines) - 1:  # only the last line can be cut short (a killed run)
                    raise
    return sorted(records, key=lambda r: (r["step"], r["rank"]))


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases, norm layers and the learned loss weights (1-d tensors)."""
    decay = [p for p in module.parameters() if p.requires_grad and p.ndim > 1]
    other = [p for p in module.parameters() if p.requires_grad and p.ndim <= 1]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]


def _rng_state() -> dict[str, Any]:
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


def _set_rng_state(state: dict[str, Any]) -> None:
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
