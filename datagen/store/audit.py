"""Looking at a finished store: integrity (`verify`), statistics (`stats`) and layout (`info`).

Each takes a store path or fsspec URL, as :func:`datagen.store.reader.open_store` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from datagen.common.files import write_error
from datagen.common.progress import progress_bar
from datagen.common.workers import check_interrupt, deferred_interrupts, parallel_map
from datagen.store.reader import FgdStore, open_store, shard_problem
from datagen.store.schema import SPEC, Stats
from datagen.store.storage import storage_at


@dataclass(frozen=True)
class BadShard:
    """A shard whose stored object is missing or differs from its build-time checksum."""

    array: str
    shard: int
    reason: str

    def __str__(self) -> str:
        return f"{self.array} shard {self.shard}: {self.reason}"


def verify(path: str, progress: bool = True) -> list[BadShard]:
    """Check every shard of every per-sample array against the checksums recorded at build."""
    ds = open_store(path)
    storage = storage_at(path)
    group = storage.open_group(mode="r")
    integrity = ds.root.integrity or {}
    bad = []
    jobs = [(name, s) for name in ds.sample_arrays for s in range(len(integrity[name]))]
    for name, shard in progress_bar(jobs, desc="verify", unit="shard", enabled=progress):
        problem = shard_problem(storage, group[name], shard, integrity[name][shard])
        if problem is not None:
            bad.append(BadShard(name, shard, problem))
    return bad


def compute_stats(path: str, progress: bool = True, workers: int | None = None) -> dict[str, Any]:
    """Per-channel mean/std of fgbg and bg, mask coverage and depth range, in one pass.

    The pass streams the store shard by shard (on `workers` processes, by default
    :func:`default_stats_workers`); fgbg and mask sums
    are exact integers and depth sums float64, added in shard order, so the result does not
    depend on `workers`. bg statistics are weighted by how many samples use each bg, so they
    describe what a loader sees. The result is stored in the store's root attributes under
    ``"stats"`` (read it back typed as :attr:`FgdStore.stats <datagen.store.reader.FgdStore.stats>`)
    and returned as that JSON object.

    Raises:
        DamagedDataError: A shard the pass reads is missing or damaged (nothing is stored).
    """
    with deferred_interrupts():
        stats = measure_stats(open_store(path), progress, workers)
        check_interrupt()
        group = storage_at(path).open_group(mode="r+")
        try:
            group.attrs.put(replace(open_store(path).root, stats=stats).to_dict())
        except OSError as exc:
            raise write_error(exc, f"{path}: saving the stats") from None
    return stats.to_dict()


#: Pixels per statistics worker: starting a pool of spawned processes (each a Python importing
#: numpy, OpenCV and zarr) costs as much as one process reading about this many.
PIXELS_PER_WORKER = 160_000_000


def default_stats_workers(ds: FgdStore) -> int:
    """Processes for the statistics pass over `ds`: one per core, fewer where a pool's start
    would cost more than it saves (one for a small store)."""
    wanted = len(ds) * ds.size * ds.size // PIXELS_PER_WORKER
    return max(1, min(os.cpu_count() or 1, wanted))


@dataclass(frozen=True)
class _Sums:
    """What :func:`measure_stats` adds up over a run of samples."""

    fgbg_counts: np.ndarray  # (3, 256) int64: how often each value occurs in each channel
    mask_pixels: int
    depth_min: float
    depth_max: float
    depth_sum: float
    depth_squares: float

    @staticmethod
    def zero() -> _Sums:
        return _Sums(np.zeros((3, 256), np.int64), 0, np.inf, -np.inf, 0.0, 0.0)

    def __add__(self, other: _Sums) -> _Sums:
        return _Sums(
            self.fgbg_counts + other.fgbg_counts,
            self.mask_pixels + other.mask_pixels,
            min(self.depth_min, other.depth_min),
            max(self.depth_max, other.depth_max),
            self.depth_sum + other.depth_sum,
            self.depth_squares + other.depth_squares,
        )


def measure_stats(ds: FgdStore, progress: bool = True, workers: int | None = None) -> Stats:
    """One pass over the store (see :func:`compute_stats`), storing nothing."""
    workers = default_stats_workers(ds) if workers is None else workers
    shard_size = ds.root.shard_size
    shards = [(ds, i, min(i + shard_size, len(ds))) for i in range(0, len(ds), shard_size)]
    parts = parallel_map(_sums_of, shards, workers)
    bar = progress_bar(parts, total=len(shards), desc="stats", unit="shard", enabled=progress)
    sums = sum(bar, start=_Sums.zero())
    n_pixels = len(ds) * ds.size * ds.size
    values = np.arange(256, dtype=np.int64)
    fgbg_mean = (sums.fgbg_counts @ values) / n_pixels
    fgbg_square = (sums.fgbg_counts @ np.square(values)) / n_pixels
    depth_mean = sums.depth_sum / n_pixels
    bg_mean, bg_std = _bg_stats(ds)
    return Stats(
        fgbg_mean=_unit(fgbg_mean),
        fgbg_std=_unit(np.sqrt(fgbg_square - np.square(fgbg_mean))),
        bg_mean=bg_mean,
        bg_std=bg_std,
        mask_coverage=sums.mask_pixels / n_pixels,
        depth_min=sums.depth_min,
        depth_max=sums.depth_max,
        depth_mean=float(depth_mean),
        depth_std=float(np.sqrt(sums.depth_squares / n_pixels - depth_mean**2)),
        n_samples=len(ds),
    )


def _sums_of(ds: FgdStore, start: int, stop: int) -> _Sums:
    """The sums over samples start..stop-1 (one shard: its checksum is read once)."""
    total = _Sums.zero()
    for chunk_start in range(start, stop, ds.chunk_size):
        check_interrupt()
        batch = ds.read_range(chunk_start, min(chunk_start + ds.chunk_size, stop))
        # OpenCV's histogram is exact here (a chunk holds far fewer than 2**24 pixels) and
        # an order of magnitude faster than float64 sums of the pixels.
        image = batch["fgbg"].reshape(-1, ds.size, 3)
        counts = np.stack(
            [cv2.calcHist([image], [c], None, [256], [0, 256]).ravel() for c in range(3)]
        ).astype(np.int64)
        depth = batch["depth"].reshape(-1).astype(np.float64)
        total += _Sums(
            counts,
            int(np.count_nonzero(batch["mask"])),
            float(depth.min()),
            float(depth.max()),
            float(depth.sum()),
            # Not `depth @ depth`: BLAS would spin threads on every core for no gain.
            float(np.einsum("i,i", depth, depth)),
        )
    return total


def info(path: str) -> dict[str, Any]:
    """Counts, shapes, chunking, bytes on disk per array, and the build config."""
    ds = open_store(path)
    storage = storage_at(path)
    group = storage.open_group(mode="r")
    arrays = {}
    for name in (*ds.sample_arrays, *ds.asset_arrays):
        array = group[name]
        arrays[name] = {
            "per": SPEC[name].per,
            # Packed: one flat array of each shard's payloads (data/README.md, "Store layout").
            "layout": "packed" if SPEC[name].packed(ds.root.fgd_format) else "rows",
            "content": SPEC[name].content,
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "chunks": list(array.chunks),
            "shards": list(array.shards) if array.shards else None,
            "bytes_on_disk": storage.total_bytes(name),
        }
    return {
        "path": path,
        "format": ds.root.fgd_format,
        "n_samples": len(ds),
        "n_bg": len(ds.bg_names),
        "n_fg": len(ds.fg_names),
        "size": ds.size,
        "depth": ds.root.depth.to_dict(),
        "arrays": arrays,
        "bytes_on_disk": storage.total_bytes(),
        "config": {**ds.root.config, **ds.root.runtime},
        "stats": ds.stats.to_dict() if ds.stats else None,
    }


def _bg_stats(ds: FgdStore) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    weights = np.bincount(ds.bg_ids, minlength=len(ds.bg_names)).astype(np.float64)
    images = ds.bg_images.reshape(len(ds.bg_names), -1, 3).astype(np.float64)
    per_bg_mean = images.mean(axis=1)
    per_bg_square = np.square(images).mean(axis=1)
    mean = weights @ per_bg_mean / weights.sum()
    square = weights @ per_bg_square / weights.sum()
    return _unit(mean), _unit(np.sqrt(square - np.square(mean)))


def _unit(values: np.ndarray) -> tuple[float, float, float]:
    red, green, blue = (float(v) / 255.0 for v in values)
    return red, green, blue
