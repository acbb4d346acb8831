"""Splits, epoch orders and the chunk-aligned loader that feeds training from the Zarr store.

**Reads.** The store is written pre-shuffled in chunks of ``chunk_size`` samples, and a whole-chunk
read costs little more than one random read. So the loader never reads single samples: the unit
of work is a *window* of consecutive positions in the epoch order, and a worker process fills a
window with one ``ds.read_batch`` (each touched chunk is decoded once; the store is opened
lazily, once per worker), writing straight into shared-memory tensors so the window crosses to
the main process without another copy. Windows travel as uint8 tensors (depth as the store's
uint16 units, converted to metres on the device by :func:`training.augment.prepare_batch`), in
pinned memory when a GPU is used; the main process cuts them into batches, so nothing is
converted or augmented on the CPU. Each loader holds ``workers * prefetch + 1`` windows in shared
memory for good: ~450 KB per sample at 224 px, so ~115 MB per 256-sample window and ~0.6 GB for
the defaults (2 workers, prefetch 2); a run has a training and a validation loader per rank.

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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from datagen.errors import InputError
from datagen.store import open_store

# Distinct streams of the seed so that split, order and augmentation draws never coincide.
_SPLIT_STREAM = 0x5B1
_ORDER_STREAM = 0x0DE


@dataclass(frozen=True)
class Split:
    """Sorted sample indices of the training and validation parts."""

    train: np.ndarray
    val: np.ndarray


def make_split(bg_ids: np.ndarray, kind: str, val_fraction: float, seed: int) -> Split:
    """Split sample indices into train / val.

    ``kind="scene"`` holds out whole bg scenes (``round(val_fraction * n_scenes)``, at least one,
    chosen by ``seed``), so validation measures generalisation to scenes never seen in training.
    ``kind="random"`` holds out a seeded random ``val_fraction`` of the samples, as the original
    notebooks did.
    """
    bg_ids = np.asarray(bg_ids)
    n = len(bg_ids)
    rng = np.random.default_rng([seed, _SPLIT_STREAM])
    if kind == "scene":
        scenes = np.unique(bg_ids)
        if len(scenes) < 2:
            raise InputError(
                f"--split scene needs at least 2 bg scenes, the store has {len(scenes)}; "
                "use --split random"
            )
        n_val = min(len(scenes) - 1, max(1, round(val_fraction * len(scenes))))
        held_out = rng.choice(scenes, size=n_val, replace=False)
        is_val = np.isin(bg_ids, held_out)
    elif kind == "random":
        if n < 2:
            raise InputError(f"--split random needs at least 2 samples, the store has {n}")
        n_val = min(n - 1, max(1, round(val_fraction * n)))
        is_val = np.zeros(n, dtype=bool)
        is_val[rng.permutation(n)[:n_val]] = True
    else:
        raise InputError(f"--split must be scene or random, got {kind!r}")
    return Split(train=np.flatnonzero(~is_val), val=np.flatnonzero(is_val))


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


class WindowDataset(Dataset):
    """Item ``(slot, indices)``: read the samples at ``indices`` (one window) into window buffer
    ``slot`` and return only ``{"slot", "index"}``.

    The buffers are shared-memory tensors made once in the main process and inherited by the
    workers, so a window crosses processes without a copy and without the page faults of fresh
    shared memory (which cost more than reading the samples). Picklable by store path; each
    worker opens the store on first use.
    """

    def __init__(self, store_path: str, window: int, n_slots: int) -> None:
        self.store_path = store_path
        size = open_store(store_path).size
        image = (n_slots, window, size, size, 3)
        self.buffers = {
            "bg": torch.empty(image, dtype=torch.uint8).share_memory_(),
            "fgbg": torch.empty(image, dtype=torch.uint8).share_memory_(),
            "mask": torch.empty(image[:-1], dtype=torch.uint8).share_memory_(),
            "depth": torch.empty(image[:-1], dtype=torch.uint16).share_memory_(),
        }
        self._ds = None

    def __getitem__(self, item: tuple[int, np.ndarray]) -> dict[str, torch.Tensor | int]:
        slot, indices = item
        if self._ds is None:
            self._ds = open_store(self.store_path)
        n = len(indices)
        out = {key: buffer[slot, :n].numpy() for key, buffer in self.buffers.items()}
        try:
            self._ds.read_batch(indices, depth_units=True, out=out)
        except InputError as exc:
            # Returned, not raised: DataLoader would re-raise it in the main process with the
            # worker's traceback in its message; the loader raises it there as it was.
            return {"slot": slot, "error": exc}
        return {"slot": slot, "index": torch.from_numpy(np.asarray(indices, dtype=np.int64))}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_ds": None}


class _WindowSampler(Sampler):
    """Yields ``(slot, indices)`` for each window of the current pass (set by
    :meth:`Loader.batches`); window ``k`` of a pass goes to buffer ``k % n_slots``."""

    def __init__(self, window: int, n_slots: int) -> None:
        self.window = window
        self.n_slots = n_slots
        self.order = np.zeros(0, dtype=np.int64)
        self.start = 0

    def __len__(self) -> int:
        return max(0, math.ceil(len(self.order) / self.window) - self.start)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        w = self.window
        starts = range(self.start * w, len(self.order), w)
        return ((k % self.n_slots, self.order[s : s + w]) for k, s in enumerate(starts))


class Loader:
    """Delivers batches of a given order, in order, independent of the number of workers:
    ``bg``/``fgbg`` (B, H, W, 3) uint8, ``mask`` (B, H, W) uint8, ``depth`` (B, H, W) uint16
    store units, ``index`` (B,) int64. Each batch is the caller's to keep.

    Workers persist across passes; the order of each pass is sent with the window keys. Windows
    are written into ``workers * prefetch + 1`` shared buffers used round robin: the DataLoader
    keeps ``workers * prefetch`` windows in flight, so the window being handed out is never the
    one a worker is writing; each batch is copied out of its buffer (into pinned memory with
    ``pin_memory``) before it is yielded, and a new pass starts only after the workers have
    finished the previous pass's windows (DataLoader drains them when a pass is restarted).

    Args:
        store_path: The fgd store.
        batch_size: Samples per batch.
        window: Samples per worker read (a multiple of ``batch_size``).
        workers: Loader processes (0: read in the main process).
        prefetch: Windows queued per worker.
        pin_memory: Copy batches into pinned memory for asynchronous host-to-device copies.
    """

    def __init__(
        self,
        store_path: str,
        batch_size: int,
        window: int,
        workers: int,
        prefetch: int = 2,
        pin_memory: bool = False,
    ) -> None:
        if window % batch_size:
            raise ValueError("window must be a multiple of batch_size")
        self.batch_size = batch_size
        self.window = window
        n_slots = workers * prefetch + 1
        self.sampler = _WindowSampler(window, n_slots)
        self.dataset = WindowDataset(store_path, window, n_slots)
        self.workers = workers
        self.prefetch = prefetch
        self.pin_memory = pin_memory

    @cached_property
    def _loader(self) -> DataLoader:
        return DataLoader(
            self.dataset,
            sampler=self.sampler,
            batch_size=None,
            num_workers=self.workers,
            prefetch_factor=self.prefetch if self.workers else None,
            persistent_workers=self.workers > 0,
            collate_fn=_identity,
            # Own generator: creating an iterator must not draw from the global torch RNG
            # (that would make a resumed run diverge from an uninterrupted one).
            generator=torch.Generator(),
        )

    def batches(
        self, order: np.ndarray, start_batch: int = 0, drop_last: bool = True
    ) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        """Yield ``(batch_index, batch)`` for ``order`` from batch ``start_batch`` on."""
        b = self.batch_size
        n_batches = len(order) // b if drop_last else math.ceil(len(order) / b)
        if start_batch >= n_batches:
            return
        per_window = self.window // b
        self.sampler.order = order[: n_batches * b] if drop_last else order
        self.sampler.start = start_batch // per_window
        batch_index = self.sampler.start * per_window
        for data in self._loader:
            if "error" in data:  # a damaged store (WindowDataset)
                raise data["error"]
            slot, index = data["slot"], data["index"]
            for s in range(0, len(index), b):
                if batch_index >= start_batch:
                    rows = slice(s, min(s + b, len(index)))
                    batch = {
                        k: self._copy(buf[slot, rows]) for k, buf in self.dataset.buffers.items()
                    }
                    batch["index"] = index[rows]
                    yield batch_index, batch
                batch_index += 1

    def close(self) -> None:
        """Stop the worker processes (they exit cleanly, removing their ``pymp-*`` folders from
        $TMPDIR; killed at interpreter exit instead, they would leave them behind)."""
        loader = self.__dict__.pop("_loader", None)
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _copy(self, view: torch.Tensor) -> torch.Tensor:
        if self.pin_memory:
            return torch.empty(view.shape, dtype=view.dtype, pin_memory=True).copy_(view)
        # numpy's allocator asks for huge pages on large arrays: far fewer page faults than a
        # fresh torch tensor of the same size.
        return torch.from_numpy(view.numpy().copy())


def _identity(x):
    return x
