"""Evaluation: what ``fgd train`` validates with and ``fgd eval`` runs.

Both turn validation batches into model inputs with :func:`training.preprocess.preprocess`
(no augmentation) and report dataset-level metrics (:mod:`training.metrics`). ``fgd eval`` also
reports them per held-out fg cutout and per cutout kind (:class:`EvalReport`), each pooled over
its own samples: the groups' sums add up to the overall metric's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from datagen.common.errors import InputError
from datagen.common.progress import progress_bar
from datagen.store.reader import open_store
from training.checkpoint import LoadedModel, load_checkpoint, model_from_checkpoint
from training.config import DEVICES, SPLITS
from training.fitting.augment import depth_metres, resized_targets
from training.fitting.epochs import Split, eval_order, make_split, resolve_split, window_size
from training.fitting.loader import Loader
from training.losses import target_to_depth
from training.metrics import METRIC_KEYS, GroupedAccumulator, MetricAccumulator
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


#: A scored batch: the raw batch, mask probability, depth (m), gt mask, gt depth (m).
_Scored = tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _scored(
    model: nn.Module,
    batches: Iterator[tuple[int, dict[str, torch.Tensor]]],
    setup: EvalSetup,
) -> Iterator[_Scored]:
    """Each batch as ``(raw, mask probability, depth m, gt mask, gt depth m)`` at the
    evaluation size, the model in eval mode meanwhile (its mode is restored after)."""
    was_training = model.training
    model.eval()
    try:
        for _, raw in batches:
            batch = to_device(raw, setup.device)
            inputs = preprocess(
                batch["bg"], batch["fgbg"], setup.size, setup.norm, setup.channels_last
            )
            out = predict(model, inputs, setup)
            prob = torch.sigmoid(out["mask_logits"])
            depth = target_to_depth(out["depth"], setup.depth_max)
            gt_mask, gt_depth = resized_targets(batch, setup.size)
            yield raw, prob, depth, gt_mask, gt_depth
    finally:
        model.train(was_training)


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
    acc = MetricAccumulator(device=setup.device)
    shown: dict[str, np.ndarray] | None = None
    for raw, prob, depth, gt_mask, gt_depth in _scored(model, batches, setup):
        acc.update(prob, gt_mask, depth, gt_depth)
        if shown is None and keep_images:
            shown = _grid_samples(raw, prob, depth, keep_images)
    if dist.is_available() and dist.is_initialized():
        acc.all_reduce()
    return {k: float(v) for k, v in acc.compute().items()}, shown


@torch.no_grad()
def evaluate_groups(
    model: nn.Module,
    batches: Iterator[tuple[int, dict[str, torch.Tensor]]],
    setup: EvalSetup,
    group_of: np.ndarray,
    n_groups: int,
) -> GroupedAccumulator:
    """The metric sums over ``batches``, one accumulator per group: store sample ``i`` counts
    to group ``group_of[i]`` (in ``[0, n_groups)``; ``fgd eval`` groups by fg cutout)."""
    acc = GroupedAccumulator(n_groups, device=setup.device)
    for raw, prob, depth, gt_mask, gt_depth in _scored(model, batches, setup):
        groups = torch.from_numpy(np.asarray(group_of)[raw["index"].numpy()])
        acc.update(groups, prob, gt_mask, depth, gt_depth)
    return acc


def _grid_samples(raw, prob, depth, n) -> dict[str, np.ndarray]:
    size = raw["bg"].shape[1]
    prob = torch.nn.functional.interpolate(prob[:n], size=(size, size), mode="bilinear")
    depth = torch.nn.functional.interpolate(depth[:n], size=(size, size), mode="nearest")
    out = {k: raw[k][:n].numpy() for k in ("bg", "fgbg", "mask", "index")}
    out["depth"] = depth_metres(raw["depth"][:n]).numpy()
    out["pred_mask"] = prob[:, 0].cpu().numpy()
    out["pred_depth"] = depth[:, 0].cpu().numpy()
    return out


@dataclass(frozen=True)
class EvalReport:
    """What ``fgd eval`` measured on one part of a store.

    Attributes:
        part: ``val``, ``train`` or ``all``.
        holdout: The split kind the part was cut by (the run's unless ``--holdout`` said
            otherwise); None for ``all``, which needs no split.
        source: Where ``holdout`` came from: ``"the checkpoint's"`` or ``"--holdout"``.
        held_out: ``{"bg": names, "fg": names}`` the split holds out (empty for ``all``).
        metrics: The pooled metrics of the part (keys :data:`METRIC_KEYS`).
        per_object: Held-out fg name -> ``{"kind": kind or None, **metrics}`` over its samples
            in the part.
        per_kind: Cutout kind -> metrics over the part's samples of cutouts of that kind; empty
            unless the store knows the kind of every cutout in the part (``fg_kinds`` of a
            ``labels.csv``, or the names of built-in cutouts).
    """

    part: str
    holdout: str | None
    source: str
    held_out: dict[str, list[str]]
    metrics: dict[str, float]
    per_object: dict[str, dict[str, Any]]
    per_kind: dict[str, dict[str, float]]

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``fgd eval --json``: the metrics at the top level, as before there were
        groups, then the part, the split and the groups."""
        return {
            **_json_metrics(self.metrics),
            "part": self.part,
            "holdout": self.holdout,
            "held_out": self.held_out,
            "per_object": {
                name: {"kind": row["kind"], **_json_metrics(row)}
                for name, row in self.per_object.items()
            },
            "per_kind": {kind: _json_metrics(row) for kind, row in self.per_kind.items()},
        }


def _json_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: int(metrics[k]) if k == "n_samples" else metrics[k] for k in METRIC_KEYS}


def run_eval(
    store: str,
    checkpoint: str,
    split: str = "val",
    batch_size: int | None = None,
    device: str = "auto",
    workers: int = 2,
    progress: bool = True,
    holdout: str | None = None,
) -> EvalReport:
    """``fgd eval``: metrics of a checkpoint on a part of a store, overall, per held-out fg
    cutout and per cutout kind.

    The part is recomputed from the checkpoint's seed, split kind (``holdout`` overrides it)
    and validation fraction; where the checkpoint records the bg and fg its run held out, the
    recomputed split must hold out the same (another store's split would not be the run's).
    """
    if split not in EVAL_SPLITS:
        raise InputError(f"--split must be {', '.join(EVAL_SPLITS)}, got {split!r}")
    if holdout is not None and holdout not in SPLITS:
        raise InputError(f"--holdout must be one of {', '.join(SPLITS)}, got {holdout!r}")
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
    kind = holdout or cfg.split
    source = "--holdout" if holdout is not None else "the checkpoint's"
    parts: Split | None = None
    if split == "all":
        indices = np.arange(len(ds))
    else:
        kind, _ = resolve_split(kind, ds.bg_ids, ds.fg_ids)
        parts = make_split(ds.bg_ids, ds.fg_ids, kind, cfg.val_fraction, cfg.seed)
        _check_recorded_split(ckpt.get("split"), parts, store, checkpoint)
        indices = parts.val if split == "val" else parts.train
    batch = batch_size or cfg.batch_size
    setup = eval_setup(loaded, dev, cfg.size or ds.size)
    window = window_size(batch, ds.chunk_size, cfg.shuffle_chunks)
    order = eval_order(indices)
    n_fg = len(ds.fg_names)
    with Loader(store, batch, window, workers, pin_memory=dev.type == "cuda") as loader:
        batches = progress_bar(
            loader.batches(order, drop_last=False),
            enabled=progress,
            total=math.ceil(len(order) / batch),
            desc=f"eval {split}",
            unit="batch",
        )
        by_fg = evaluate_groups(loaded.model, batches, setup, ds.fg_ids, n_fg)
    counts = by_fg.counts()
    held_fg = [] if parts is None else [int(g) for g in parts.held_out_fg if counts[g] > 0]
    kinds = _cutout_kinds(ds.root.fg_kinds, ds.fg_names)
    present = [g for g in range(n_fg) if counts[g] > 0]
    per_kind: dict[str, MetricAccumulator] = {}
    if all(kinds[g] is not None for g in present):
        for g in present:
            per_kind.setdefault(str(kinds[g]), MetricAccumulator()).merge(by_fg.group(g))
    return EvalReport(
        part=split,
        holdout=None if parts is None else kind,
        source=source,
        held_out={
            "bg": [] if parts is None else [ds.bg_names[i] for i in parts.held_out_bg],
            "fg": [] if parts is None else [ds.fg_names[i] for i in parts.held_out_fg],
        },
        metrics=by_fg.total().compute(),
        per_object={
            ds.fg_names[g]: {"kind": kinds[g], **by_fg.group(g).compute()} for g in held_fg
        },
        per_kind={k: acc.compute() for k, acc in sorted(per_kind.items())},
    )


def _cutout_kinds(recorded: list[str] | None, fg_names: list[str]) -> list[str | None]:
    """The kind of every fg of a store: its ``fg_kinds`` (a ``labels.csv``), else what the
    names of built-in cutouts say (None for any other cutout)."""
    if recorded is not None:
        return list(recorded)
    # Imported here: only fgd eval names kinds, and the generators take a while to import.
    from datagen.builder.procedural.cutouts.cutout import procedural_kind

    return [procedural_kind(name) for name in fg_names]


def _check_recorded_split(
    recorded: dict[str, Any] | None, parts: Split, store: str, checkpoint: str
) -> None:
    """Refuse a split of another kind's ids than the run's record of the same kind (a store
    that is not the run's: its val part would hold samples the model trained on)."""
    if recorded is None or recorded.get("kind") != parts.kind:
        return  # a checkpoint from before the record, or a --holdout of another kind
    for axis, ids in (("bg", parts.held_out_bg), ("fg", parts.held_out_fg)):
        if list(recorded[f"held_out_{axis}"]) != [int(i) for i in ids]:
            raise InputError(
                f"--store {store}: its {parts.kind} split holds out other {axis} than the run "
                f"of {checkpoint} did (not the store it trained on?); use --split all"
            )


def format_metrics(metrics: dict[str, float]) -> str:
    """Aligned two-column table of the metric keys."""
    width = max(map(len, METRIC_KEYS))
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ------"]
    for key in METRIC_KEYS:
        value = metrics[key]
        text = f"{int(value)}" if key == "n_samples" else f"{value:.4f}"
        lines.append(f"{key:<{width}}  {text}")
    return "\n".join(lines)


#: The columns of the per-object and per-kind tables of :func:`format_report`.
_GROUP_COLUMNS = ("mask_iou", "mask_boundary_f", "depth_delta1", "n_samples")


def format_report(report: EvalReport) -> str:
    """The table of :func:`format_metrics` under a line naming the part and its split, then
    the tables per held-out object and per kind (where there are any)."""
    if report.holdout is None:
        head = f"{report.part}: every sample of the store"
    else:
        nouns = {"bg": "bg scene", "fg": "fg cutout"}
        held = ", ".join(
            f"{len(names)} {nouns[axis]}{'' if len(names) == 1 else 's'}"
            for axis, names in report.held_out.items()
            if names
        )
        held = f"; held out: {held}" if held else ""
        head = f"{report.part} part of the {report.holdout} split ({report.source}{held})"
    blocks = [head, format_metrics(report.metrics)]
    if report.per_object:
        rows = {
            name: [str(row["kind"] or "-"), *_cells(row)] for name, row in report.per_object.items()
        }
        blocks.append(_table("held-out object", ["kind", *_GROUP_COLUMNS], rows))
    if report.per_kind:
        rows = {kind: _cells(row) for kind, row in report.per_kind.items()}
        blocks.append(_table("kind", list(_GROUP_COLUMNS), rows))
    return "\n\n".join(blocks)


def _cells(metrics: dict[str, Any]) -> list[str]:
    return [
        f"{int(metrics[k])}" if k == "n_samples" else f"{metrics[k]:.4f}" for k in _GROUP_COLUMNS
    ]


def _table(first: str, columns: list[str], rows: dict[str, list[str]]) -> str:
    """Aligned columns: ``first`` (the row names) and ``kind`` left-aligned, the numbers
    right-aligned."""
    widths = [max(len(first), *map(len, rows))]
    widths += [max(len(c), *(len(r[i]) for r in rows.values())) for i, c in enumerate(columns)]
    lines = [[first, *columns], ["-" * w for w in widths], *([n, *r] for n, r in rows.items())]
    return "\n".join(
        "  ".join(
            cell.ljust(widths[i]) if i == 0 or columns[i - 1] == "kind" else cell.rjust(widths[i])
            for i, cell in enumerate(line)
        ).rstrip()
        for line in lines
    )
