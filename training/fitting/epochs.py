"""Splits and epoch orders: which samples train and validate, and the order a run reads them.

**Epoch order** (:func:`epoch_order`), a pure function of ``(seed, epoch, rank, world)``:

1. the chunks holding training samples are permuted uniformly at random;
2. their training samples, chunk after chunk, form the epoch's *stream* (:func:`epoch_stream`,
   the same for any number of ranks); rank ``r`` of ``world`` takes the ``r``-th of ``world``
   equal contiguous *blocks* (``n // world`` samples each);
3. the block is cut into windows of ``W`` samples (``W`` = ``shuffle_chunks`` chunks rounded up
   to whole batches) and each window is permuted uniformly at random;
4. consecutive ``batch_size`` positions form a batch; the incomplete last batch is dropped.

Statistics: within an epoch no sample repeats and ranks never overlap; at most
``(world - 1) + world * (batch_size - 1)`` samples are left out, a different random set each
epoch. Each window is a uniformly random permutation, so a batch is a uniform random subset of
its window. A window spans about ``shuffle_chunks + 1`` chunks; because the store is pre-shuffled,
every chunk is itself a uniform random subset of the dataset, so every batch is too. What differs
from a full shuffle is only co-occurrence: two samples of the same chunk share a batch with
probability ~``(B - 1) / (W - 1)`` per epoch instead of ``(B - 1) / (N - 1)``, and which chunks
share a window changes every epoch. Adjacent windows share at most one boundary chunk, so each
chunk is read ~``1 + 1 / shuffle_chunks`` times per epoch.

**Resuming with another number of ranks** (:func:`segment_order`). What an epoch has consumed
does not depend on how many ranks consumed it: an epoch runs as one or more *segments*
``(world, batches)``, one per number of ranks it ran with. A segment over the part of the stream
still left (the whole stream for the first) gives each rank a block of it as above, and each rank
trains the first ``batches`` batches of its block. What is left after it, kept in stream order,
is every block's untrained tail plus the ``< world`` samples no block took. A resume with another
world starts a new segment over that rest (windows drawn from a stream of ``(seed, epoch,
rank, segment)``); a resume with the same world continues the last segment, so it is exactly an
uninterrupted run. The epoch ends when a rank's block has fewer than ``batch_size`` samples left;
the leftovers, fewer than ``world * batch_size`` of the last segment's world, skip this epoch
only. Checkpoints store the segments of the current epoch, and the next rank count replays them.

Validation uses the same windows over the validation split in store order, split across ranks in
contiguous parts, keeping the last incomplete batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datagen.common.errors import InputError
from training.config import SPLITS

# Distinct streams of the seed so that split, order and augmentation draws never coincide.
_SPLIT_STREAM = 0x5B1
_ORDER_STREAM = 0x0DE
# The held-out cutouts come from a stream of their own, so that ``scene+object`` holds out the
# scenes ``scene`` holds out and the cutouts ``object`` holds out (and ``scene`` draws as it
# always did: old runs resume with their split).
_OBJECT_STREAM = 0x0B7

#: ``auto`` holds out scenes and objects when the store has at least this many of each.
AUTO_MIN_ASSETS = 5


@dataclass(frozen=True)
class Split:
    """Sorted sample indices of the training and validation parts, the resolved kind that made
    them and the sorted bg / fg ids it held out (empty for an axis it does not hold out).

    No training sample shows a held-out bg or fg: for ``scene+object`` validation is the samples
    whose bg *and* fg are held out, and the samples that pair one held-out asset with a trained
    one are in neither part.
    """

    train: np.ndarray
    val: np.ndarray
    kind: str
    held_out_bg: np.ndarray
    held_out_fg: np.ndarray

    def record(self, bg_names: Sequence[str], fg_names: Sequence[str]) -> dict[str, Any]:
        """What the run records of its split (checkpoint key ``split``, ``RUN_DIR/split.json``):
        plain ints, strings and lists, so ``torch.load(weights_only=True)`` reads it."""
        return {
            "kind": self.kind,
            "n_train": len(self.train),
            "n_val": len(self.val),
            "held_out_bg": [int(i) for i in self.held_out_bg],
            "held_out_fg": [int(i) for i in self.held_out_fg],
            "held_out_bg_names": [bg_names[i] for i in self.held_out_bg],
            "held_out_fg_names": [fg_names[i] for i in self.held_out_fg],
        }


def resolve_split(kind: str, bg_ids: np.ndarray, fg_ids: np.ndarray) -> tuple[str, str]:
    """The split kind ``kind`` means for a store of these samples, and why.

    A kind other than ``auto`` is itself (reason ""). ``auto`` is the most honest split the
    store allows: ``scene+object`` with at least :data:`AUTO_MIN_ASSETS` bg scenes and fg
    cutouts, else ``scene`` (at least 2 scenes), else ``object`` (at least 2 cutouts), else
    ``random``; the reason says what the store has and what validation then measures.
    """
    if kind != "auto":
        return kind, ""
    n_bg, n_fg = len(np.unique(bg_ids)), len(np.unique(fg_ids))
    has = f"the store has {_count(n_bg, 'bg scene')} and {_count(n_fg, 'fg cutout')}"
    if n_bg >= AUTO_MIN_ASSETS and n_fg >= AUTO_MIN_ASSETS:
        return "scene+object", f"{has}: validation shows only scenes and cutouts never trained on"
    few = f"fewer than {AUTO_MIN_ASSETS} of each"
    if n_bg >= 2:
        return (
            "scene",
            f"{has}, {few}: validation holds out scenes only, its cutouts were trained on",
        )
    if n_fg >= 2:
        return (
            "object",
            f"{has}, {few}: validation holds out cutouts only, its scene was trained on",
        )
    return "random", f"{has}: validation samples show the scene and cutout of training samples"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def make_split(
    bg_ids: np.ndarray, fg_ids: np.ndarray, kind: str, val_fraction: float, seed: int
) -> Split:
    """Split sample indices into train / val (a pure function of its arguments).

    ``kind="scene"`` holds out whole bg scenes, ``"object"`` whole fg cutouts, ``"scene+object"``
    both (validation: the samples of a held-out scene *and* a held-out cutout; training: those
    of neither), so validation measures generalisation to scenes, objects or both never seen in
    training. Each held-out axis holds out ``round(val_fraction * n)`` of its ``n`` assets, at
    least one and at most ``n - 1``, chosen by ``seed``. ``kind="random"`` holds out a seeded
    random ``val_fraction`` of the samples, as the original notebooks did. ``"auto"`` is first
    resolved by :func:`resolve_split`.

    Raises:
        InputError: An unknown kind, too few assets on a held-out axis, or an empty part.
    """
    bg_ids, fg_ids = np.asarray(bg_ids), np.asarray(fg_ids)
    if kind not in SPLITS:
        raise InputError(f"--split must be one of {', '.join(SPLITS)}, got {kind!r}")
    if len(bg_ids) != len(fg_ids):
        raise ValueError(f"{len(bg_ids)} bg ids but {len(fg_ids)} fg ids")
    kind, _ = resolve_split(kind, bg_ids, fg_ids)
    n = len(bg_ids)
    rng = np.random.default_rng([seed, _SPLIT_STREAM])
    held_bg = held_fg = np.zeros(0, dtype=np.int64)
    if kind == "random":
        if n < 2:
            raise InputError(f"--split random needs at least 2 samples, the store has {n}")
        n_val = min(n - 1, max(1, round(val_fraction * n)))
        is_val = np.zeros(n, dtype=bool)
        is_val[rng.permutation(n)[:n_val]] = True
        return Split(np.flatnonzero(~is_val), np.flatnonzero(is_val), kind, held_bg, held_fg)
    if "scene" in kind:
        held_bg = _hold_out(bg_ids, "bg scenes", kind, val_fraction, rng)
    if "object" in kind:
        fg_rng = np.random.default_rng([seed, _SPLIT_STREAM, _OBJECT_STREAM])
        held_fg = _hold_out(fg_ids, "fg cutouts", kind, val_fraction, fg_rng)
    in_bg, in_fg = np.isin(bg_ids, held_bg), np.isin(fg_ids, held_fg)
    if kind == "scene+object":
        is_val, is_train = in_bg & in_fg, ~in_bg & ~in_fg
    else:
        is_val = in_bg | in_fg  # one axis is held out, the other's mask is all False
        is_train = ~is_val
    for part, mask in (("validation", is_val), ("training", is_train)):
        if not mask.any():
            raise InputError(f"--split {kind}: no sample is left for {part} in this store")
    return Split(
        train=np.flatnonzero(is_train),
        val=np.flatnonzero(is_val),
        kind=kind,
        held_out_bg=held_bg,
        held_out_fg=held_fg,
    )


#: What may still split a store that has too few of an axis: (kind, axis) -> the kinds to use.
_INSTEAD = {
    ("scene", "bg scenes"): "random",
    ("object", "fg cutouts"): "scene or random",
    ("scene+object", "bg scenes"): "object or random",
    ("scene+object", "fg cutouts"): "scene or random",
}


def _hold_out(
    ids: np.ndarray, what: str, kind: str, val_fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """The sorted ids of one axis held out: ``round(val_fraction * n)``, in ``[1, n - 1]``."""
    assets = np.unique(ids)
    if len(assets) < 2:
        raise InputError(
            f"--split {kind} needs at least 2 {what}, the store has {len(assets)}; "
            f"use --split {_INSTEAD[kind, what]}"
        )
    n_val = min(len(assets) - 1, max(1, round(val_fraction * len(assets))))
    return np.sort(rng.choice(assets, size=n_val, replace=False)).astype(np.int64)


def window_size(batch_size: int, chunk_size: int, shuffle_chunks: int) -> int:
    """Samples per shuffle/read window: ``shuffle_chunks`` chunks rounded up to whole batches."""
    return batch_size * max(1, math.ceil(shuffle_chunks * chunk_size / batch_size))


#: One part of an epoch run with a fixed number of ranks: ``(world, batches each rank trained)``.
Segment = tuple[int, int]


def epoch_stream(indices: np.ndarray, chunk_size: int, seed: int, epoch: int) -> np.ndarray:
    """The epoch's training samples chunk after chunk, the chunks in a random order.

    The same for any number of ranks: the ranks' blocks are cut from it.
    """
    if len(indices) == 0:
        return np.asarray(indices)
    rng = np.random.default_rng([seed, _ORDER_STREAM, epoch])
    chunks = indices // chunk_size
    chunk_order = rng.permutation(np.unique(chunks))
    rank_of_chunk = np.empty(chunks.max() + 1, dtype=np.int64)
    rank_of_chunk[chunk_order] = np.arange(len(chunk_order))
    return indices[np.argsort(rank_of_chunk[chunks], kind="stable")]


def _block_positions(
    n: int,
    window: int,
    seed: int,
    epoch: int,
    segment: int,
    rank: int,
    world: int,
    limit: int | None = None,
) -> np.ndarray:
    """Positions (in a stream of ``n``) of rank's block, each window permuted; first ``limit``."""
    per_rank = n // world
    positions = np.arange(rank * per_rank, (rank + 1) * per_rank)
    # Segment 0 keeps the key of the orders before segments existed (old checkpoints resume).
    key = [seed, _ORDER_STREAM, epoch, rank, *([segment] if segment else [])]
    rng = np.random.default_rng(key)
    stop = per_rank if limit is None else min(per_rank, limit)
    windows = [rng.permutation(positions[s : s + window]) for s in range(0, stop, window)]
    return np.concatenate(windows)[:stop] if windows else positions[:0]


def normalize_segments(segments: Iterable[Sequence[int]]) -> list[Segment]:
    """Drop segments that trained nothing and merge neighbours of the same world.

    A segment that continues one of the same world is that segment, longer: a resume with an
    unchanged number of ranks continues the order exactly.
    """
    out: list[Segment] = []
    for world, batches in segments:
        world, batches = int(world), int(batches)
        if world < 1 or batches < 0:
            raise ValueError(f"bad segment (world {world}, batches {batches})")
        if batches == 0:
            continue
        if out and out[-1][0] == world:
            out[-1] = (world, out[-1][1] + batches)
        else:
            out.append((world, batches))
    return out


def remaining_stream(
    stream: np.ndarray,
    window: int,
    batch_size: int,
    seed: int,
    epoch: int,
    segments: Iterable[Sequence[int]],
) -> np.ndarray:
    """What of the epoch's ``stream`` the ``segments`` left untrained, in stream order."""
    remaining = np.asarray(stream)
    for s, (world, batches) in enumerate(normalize_segments(segments)):
        taken = batches * batch_size
        if taken > len(remaining) // world:
            raise ValueError(
                f"segment {s}: {batches} batches of {batch_size} exceed the "
                f"{len(remaining) // world} samples each of {world} ranks had left"
            )
        keep = np.ones(len(remaining), dtype=bool)
        for rank in range(world):
            keep[_block_positions(len(remaining), window, seed, epoch, s, rank, world, taken)] = (
                False
            )
        remaining = remaining[keep]
    return remaining


def segment_order(
    indices: np.ndarray,
    chunk_size: int,
    window: int,
    batch_size: int,
    seed: int,
    epoch: int,
    segments: Iterable[Sequence[int]] = (),
    rank: int = 0,
    world: int = 1,
) -> tuple[np.ndarray, int]:
    """This rank's order for the part of ``epoch`` that ``world`` ranks run after ``segments``.

    Returns the order and how many of its batches are already trained: 0 for a new segment, or
    the last segment's count when it ran with the same ``world`` (it continues, so a resume with
    an unchanged number of ranks is exactly an uninterrupted run). The part of the epoch left to
    this world ends after ``len(order) // batch_size`` batches. With no ``segments`` the order is
    :func:`epoch_order`'s.
    """
    done_segments = normalize_segments(segments)
    done = 0
    if done_segments and done_segments[-1][0] == world:
        done = done_segments.pop()[1]
    stream = epoch_stream(indices, chunk_size, seed, epoch)
    remaining = remaining_stream(stream, window, batch_size, seed, epoch, done_segments)
    segment = len(done_segments)
    positions = _block_positions(len(remaining), window, seed, epoch, segment, rank, world)
    if done * batch_size > len(positions):
        raise ValueError(f"{done} batches of {batch_size} exceed this rank's {len(positions)}")
    return remaining[positions], done


def saved_segments(ckpt: dict[str, Any]) -> list[Segment]:
    """A checkpoint's segments of its epoch (older checkpoints: one, of their world)."""
    if "segments" in ckpt:
        return normalize_segments(ckpt["segments"])
    return normalize_segments([(ckpt.get("world_size", 1), ckpt["batch"])])


@dataclass
class EpochCursor:
    """Where a run stands: optimizer steps so far, the epoch, and that epoch's segments so far
    (``[world, batches]`` each); with what fixes the order of the training samples."""

    indices: np.ndarray
    chunk_size: int
    window: int
    batch_size: int
    seed: int
    rank: int = 0
    world: int = 1
    step: int = 0
    epoch: int = 0
    segments: list[list[int]] = field(default_factory=list)

    @property
    def batch(self) -> int:
        """Batches this rank trained in the current epoch (all segments)."""
        return sum(b for _, b in self.segments)

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Continue from a checkpoint's position (:meth:`position`)."""
        self.step, self.epoch = ckpt["step"], ckpt["epoch"]
        self.segments = [list(s) for s in saved_segments(ckpt)]

    def position(self) -> dict[str, Any]:
        """The checkpoint keys of the position."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch": self.batch,
            "segments": [list(s) for s in self.segments],
            "world_size": self.world,
        }

    def order(self) -> tuple[np.ndarray, int]:
        """This rank's order for the rest of the current epoch, and its batches already done
        (:func:`segment_order`); ValueError for a position this split cannot have reached."""
        return segment_order(
            self.indices,
            self.chunk_size,
            self.window,
            self.batch_size,
            self.seed,
            self.epoch,
            self.segments,
            self.rank,
            self.world,
        )

    def advance(self, end_of_epoch: bool) -> None:
        """One batch trained (the epoch's last when ``end_of_epoch``)."""
        self.step += 1
        if self.segments and self.segments[-1][0] == self.world:
            self.segments[-1][1] += 1
        else:
            self.segments.append([self.world, 1])
        if end_of_epoch:
            self.next_epoch()

    def next_epoch(self) -> None:
        self.epoch, self.segments = self.epoch + 1, []


def epoch_order(
    indices: np.ndarray,
    chunk_size: int,
    window: int,
    seed: int,
    epoch: int,
    rank: int = 0,
    world: int = 1,
) -> np.ndarray:
    """This rank's training order for ``epoch`` (see the module docstring for the statistics).

    Returns ``n // world`` indices; batches are consecutive runs of it, windows consecutive
    runs of ``window`` (a multiple of the batch size).
    """
    stream = epoch_stream(indices, chunk_size, seed, epoch)
    return stream[_block_positions(len(stream), window, seed, epoch, 0, rank, world)]


def eval_order(indices: np.ndarray, rank: int = 0, world: int = 1) -> np.ndarray:
    """This rank's contiguous part of the (sorted) validation indices; parts may differ by one."""
    return np.array_split(np.sort(indices), world)[rank]
