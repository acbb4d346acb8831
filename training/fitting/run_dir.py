"""What a run writes into RUN_DIR besides its checkpoints, and the checks made before it does.

Rank 0 writes ``config.yaml`` (the resolved config), ``split.json`` (the held-out bg and fg
ids and names of its split: :meth:`training.fitting.epochs.Split.record`), ``metrics.jsonl``
(one line per validation) and TensorBoard events under ``tb/``; with ``sample_log`` every rank
appends its batches to ``samples/rank{R}.jsonl``. A resumed run first drops the lines past its
checkpoint (what a killed run logged after it), so the logs read as those of one uninterrupted
run; a new run in the RUN_DIR of one that stopped before its first checkpoint first removes what
that one left, so it starts over in place.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datagen.common.errors import InputError, error_summary
from datagen.common.files import temp_path, write_text_atomic
from training.config import TrainConfig, dump_yaml
from training.fitting.run_lock import refuse_if_in_use
from training.runtime import DistInfo, barrier

#: Run-directory entries that mark an existing run (all that a run writes there).
RUN_MARKERS = ("config.yaml", "split.json", "metrics.jsonl", "tb", "checkpoints", "samples")


def check_run_dir(out: Path, resume: bool) -> None:
    """A RUN_DIR that no live trainer holds (:mod:`training.fitting.run_lock`; checked by rank 0,
    the rank that holds it) and a place we can write (checked without leaving anything behind).

    A new run needs a RUN_DIR without a run, or one whose run saved no checkpoint (it stopped
    before its first; :func:`clear_unsaved_run` starts it over in place); ``--resume`` needs
    ``checkpoints/last.pt``.
    """
    if os.environ.get("RANK", "0") == "0":  # the other ranks of a job would find rank 0's lock
        refuse_if_in_use(out)
    last = out / "checkpoints" / "last.pt"
    saved = any((out / "checkpoints").glob("*.pt"))
    if resume:
        if last.is_dir():
            raise InputError(f"--resume: {last} is a directory")
        if not last.is_file() and not saved and _holds_run(out):
            raise InputError(
                f"--resume: the run in {out} stopped before its first checkpoint (no {last}); "
                "run the command without --resume to start it over there"
            )
        if not last.is_file():
            raise InputError(f"--resume: no checkpoint {last}")
    elif saved:
        if not last.is_file():  # killed between writing best.pt and last.pt
            raise InputError(f"--out {out} holds checkpoints but no {last}; use a new --out")
        raise InputError(f"--out {out} already holds a run; use --resume or a new --out")
    elif out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a directory")
    _check_writable(out)


def _holds_run(out: Path) -> bool:
    return any((out / m).exists() for m in RUN_MARKERS)


def clear_unsaved_run(out: Path) -> None:
    """Remove what a run that saved no checkpoint left in RUN_DIR, with a note naming it: a new
    run starts over in its place (:func:`check_run_dir` let it; the run lock keeps any other
    trainer out meanwhile)."""
    left = [out / m for m in RUN_MARKERS if (out / m).exists()]
    if not left:
        return
    names = ", ".join(f"{p.name}/" if p.is_dir() else p.name for p in left)
    for path in left:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    print(
        f"fgd train: --out {out} held a run that saved no checkpoint; starting it over there "
        f"(removed its {names})",
        file=sys.stderr,
    )


def _check_writable(out: Path) -> None:
    """Refuse an ``--out`` below a file or in a folder we may not write, before any work."""
    folder = out if out.is_dir() else out.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"--out {out}: {folder} is a file, not a folder")
    probe = temp_path(folder / "fgd-run")
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write in {folder} ({error_summary(exc)})") from None


class RunOutputs:
    """The logs of one run (see the module docstring); :meth:`open` starts them."""

    def __init__(
        self,
        out: Path,
        cfg: TrainConfig,
        dinfo: DistInfo,
        step: int,
        resumed: bool,
        split: dict[str, Any],
    ):
        from torch.utils.tensorboard import SummaryWriter

        self.out, self.dinfo = out, dinfo
        self.writer = None
        if dinfo.is_main:
            out.mkdir(parents=True, exist_ok=True)
            dump_yaml(cfg, out / "config.yaml")
            write_text_atomic(out / "split.json", json.dumps(split, indent=2) + "\n", "--out")
            if resumed:
                _trim_jsonl(out / "metrics.jsonl", step)
            self.writer = SummaryWriter(str(out / "tb"), purge_step=step if resumed else None)
        self.sample_log = None
        if cfg.sample_log:
            (out / "samples").mkdir(parents=True, exist_ok=True)
            path = out / "samples" / f"rank{dinfo.rank}.jsonl"
            self.sample_log = open(path, "a", buffering=1)  # noqa: SIM115 (closed by close)

    @classmethod
    def open(
        cls,
        out: Path,
        cfg: TrainConfig,
        dinfo: DistInfo,
        step: int,
        resumed: bool,
        split: dict[str, Any],
    ) -> RunOutputs:
        """Start the logs once every rank is ready (a resumed run's trimmed first, what a run
        that saved nothing left removed); ``split`` is what ``split.json`` records."""
        if dinfo.is_main:  # before the barrier: the other ranks open their sample logs after it
            if resumed:
                trim_sample_logs(out, step)
            else:
                clear_unsaved_run(out)
        barrier(dinfo)  # every rank has checked RUN_DIR before rank 0 writes into it
        return cls(out, cfg, dinfo, step, resumed, split)

    def log_samples(self, epoch: int, step: int, batch: int, indices: torch.Tensor) -> None:
        """One line of ``samples/rank{R}.jsonl`` for a batch just trained (``sample_log``)."""
        if self.sample_log is None:
            return
        record = {
            "epoch": epoch,
            "step": step,
            "batch": batch,
            "rank": self.dinfo.rank,
            "world": self.dinfo.world,
            "indices": indices.tolist(),
        }
        self.sample_log.write(json.dumps(record, separators=(",", ":")) + "\n")

    def log_scalars(self, prefix: str, values: dict[str, float], step: int) -> None:
        """TensorBoard scalars ``{prefix}/{key}`` (rank 0)."""
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{prefix}/{k}", v, step)

    def log_validation(
        self, record: dict[str, Any], metrics: dict[str, float], grid: np.ndarray | None
    ) -> None:
        """A line of ``metrics.jsonl``, the ``val/`` scalars and the prediction grid (rank 0)."""
        if self.writer is None:
            return
        with open(self.out / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        self.log_scalars("val", metrics, record["step"])
        if grid is not None:
            self.writer.add_image("val/predictions", grid, record["step"], dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.sample_log is not None:
            self.sample_log.close()


def _trim_jsonl(path: Path, step: int) -> None:
    """Keep the lines of a log with ``step`` <= ``step`` (and drop a line cut short by a kill)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    write_text_atomic(path, "".join(f"{line}\n" for line in kept), "--out")


def trim_sample_logs(out: Path, step: int) -> None:
    """Drop sample-log lines past ``step`` (batches a killed run trained after its checkpoint)."""
    for path in sorted((out / "samples").glob("rank*.jsonl")):
        _trim_jsonl(path, step)


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
