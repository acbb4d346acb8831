"""Splits, epoch orders and the chunk-aligned loader that feeds training from the Zarr store.

**Reads.** The store is written pre-shuffled in chunks of ``chunk_size`` samples, and a whole-chunk
read costs little more than one random read. So the loader never reads single samples: the unit
of work is a *window* of consecutive positions in the epoch order, and a worker process fills a
window with ``ds.read_chunk`` of every chunk it touches (the store is opened lazily, once per
worker). Windows travel as uint8 tensors (depth float32) in pinned memory when a GPU is used; the
main process cuts them into batches, so nothing is decoded, converted or augmented on the CPU.

**Epoch order** (:func:`epoch_order`), a pure function of ``(seed, epoch, rank, world)``:

1. the chunks holding training samples are permuted uniformly at random;
2. their training samples, chunk after chunk, form a stream; rank ``r`` of ``world`` takes the
   ``r``-th of ``world`` equal contiguous slices (``n // world`` samples each);
3. the slice is cut into windows of ``W`` samples (``W`` = ``shuffle_chunks`` chunks rounded up
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

Validation uses the same windows over the validation split in store order, split across ranks in
contiguous parts, keeping the last incomplete batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from datagen.errors import InputError
from datagen.store import open_store

#: Arrays delivered per sample, as the store's reader returns them.
KEYS = ("bg", "fgbg", "mask", "depth")

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
    rng = np.random.default_rng([seed, _ORDER_STREAM, epoch])
    chunks = indices // chunk_size
    chunk_order = rng.permutation(np.unique(chunks))
    rank_of_chunk = np.empty(chunks.max() + 1, dtype=np.int64)
    rank_of_chunk[chunk_order] = np.arange(len(chunk_order))
    stream = indices[np.argsort(rank_of_chunk[chunks], kind="stable")]
    per_rank = len(stream) // world
    mine = stream[rank * per_rank : (rank + 1) * per_rank]
    window_rng = np.random.default_rng([seed, _ORDER_STREAM, epoch, rank])
    return np.concatenate(
        [window_rng.permutation(mine[s : s + window]) for s in range(0, len(mine), window)]
        or [mine]
    )


def eval_order(indices: np.ndarray, rank: int = 0, world: int = 1) -> np.ndarray:
    """This rank's contiguous part of the (sorted) validation indices; parts may differ by one."""
    return np.array_split(np.sort(indices), world)[rank]


class WindowDataset(Dataset):
    """Item = the samples at the given indices (one window), read chunk by chunk.

    Picklable by store path; each worker process opens the store on first use.
    """

    def __init__(self, store_path: str) -> None:
        self.store_path = store_path
        self._ds = None

    def __getitem__(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        if self._ds is None:
            self._ds = open_store(self.store_path)
        return read_samples(self._ds, indices)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_ds": None}


def read_samples(ds, indices: np.ndarray) -> dict[str, torch.Tensor]:
    """Samples ``indices`` (in that order) as tensors, reading each touched chunk once."""
    chunk_size = ds.chunk_size
    chunks = indices // chunk_size
    out: dict[str, np.ndarray] = {}
    for c in np.unique(chunks):
        data = ds.read_chunk(int(c))
        where = np.flatnonzero(chunks == c)
        rows = indices[where] - c * chunk_size
        for key in KEYS:
            arr = data[key]
            if key not in out:
                out[key] = np.empty((len(indices), *arr.shape[1:]), dtype=arr.dtype)
            out[key][where] = arr[rows]
    batch = {key: torch.from_numpy(out[key]) for key in KEYS}
    batch["index"] = torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64))
    return batch


class _WindowSampler(Sampler):
    """Yields the index array of each window of the current pass (set by :meth:`Loader.batches`)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.order = np.zeros(0, dtype=np.int64)
        self.start = 0

    def __len__(self) -> int:
        return max(0, math.ceil(len(self.order) / self.window) - self.start)

    def __iter__(self) -> Iterator[np.ndarray]:
        w = self.window
        return (self.order[s : s + w] for s in range(self.start * w, len(self.order), w))


class Loader:
    """Delivers batches (dicts of uint8 image/mask tensors, float32 depth, int64 index) of a
    given order, in order, independent of the number of workers.

    Workers persist across passes; the order of each pass is sent with the window keys.

    Args:
        store_path: The fgd store.
        batch_size: Samples per batch.
        window: Samples per worker read (a multiple of ``batch_size``).
        workers: Loader processes (0: read in the main process).
        prefetch: Windows queued per worker.
        pin_memory: Pin windows for asynchronous host-to-device copies (use with CUDA).
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
        self.sampler = _WindowSampler(window)
        self.dataset = WindowDataset(store_path)
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
            pin_memory=self.pin_memory,
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
            for s in range(0, len(data["index"]), b):
                if batch_index >= start_batch:
                    yield batch_index, {k: v[s : s + b] for k, v in data.items()}
                batch_index += 1


def _identity(x):
    return x
