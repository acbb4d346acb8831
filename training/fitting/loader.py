"""The chunk-aligned loader that feeds training from the Zarr store, in the order of
:mod:`training.fitting.epochs`.

Splits, epoch orders and the chunk-aligned loader that feeds training from the Zarr store.

The store is written pre-shuffled in chunks of ``chunk_size`` samples, and a whole-chunk
read costs little more than one random read. So the loader never reads single samples: the unit
of work is a *window* of consecutive positions in the epoch order, and a worker process fills a
window with one ``ds.read_batch`` (each touched chunk is decoded once; the store is opened
lazily, once per worker), writing straight into shared-memory tensors so the window crosses to
the main process without another copy. Windows travel as uint8 tensors (depth as the store's
uint16 units, converted to metres on the device by :func:`training.fitting.augment.prepare_batch`),
in pinned memory when a GPU is used; the main process cuts them into batches, so nothing is
converted or augmented on the CPU. Each loader holds ``workers * prefetch + 1`` windows in shared
memory for good: ~450 KB per sample at 224 px, so ~115 MB per 256-sample window and ~0.6 GB for
the defaults (2 workers, prefetch 2); a run has a training and a validation loader per rank.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cached_property

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from datagen.common.errors import InputError
from datagen.store.reader import open_store


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
