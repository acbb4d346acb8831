"""Looking at a finished store: integrity (`verify`), statistics (`stats`) and layout (`info`).

Each takes a store path or fsspec URL, as :func:`datagen.store.open_store` does.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from datagen import schema
from datagen.storage import storage_at
from datagen.store import FgdStore, open_store


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
    integrity = ds.attrs["integrity"]
    bad = []
    jobs = [(name, s) for name in schema.SAMPLE_ARRAYS for s in range(len(integrity[name]))]
    for name, shard in tqdm(jobs, desc="verify", unit="shard", disable=not progress):
        try:
            data = storage.read_bytes(f"{name}/{schema.shard_key(group[name], shard)}")
        except FileNotFoundError:
            bad.append(BadShard(name, shard, "missing"))
            continue
        crc = f"{zlib.crc32(data):08x}"
        if crc != integrity[name][shard]:
            bad.append(
                BadShard(name, shard, f"checksum {crc} != recorded {integrity[name][shard]}")
            )
    return bad


def compute_stats(path: str, progress: bool = True) -> dict[str, Any]:
    """Per-channel mean/std of fgbg and bg, mask coverage and depth range, in one pass.

    The pass streams the store chunk by chunk; sums are accumulated in float64. bg statistics
    are weighted by how many samples use each bg, so they describe what a loader sees. The
    result is also stored in the store's root attributes under ``"stats"``.
    """
    ds = open_store(path)
    sums = np.zeros(3)
    squares = np.zeros(3)
    mask_pixels = 0
    depth_min, depth_max, depth_sum, depth_squares = np.inf, -np.inf, 0.0, 0.0
    for chunk in tqdm(range(ds.n_chunks), desc="stats", unit="chunk", disable=not progress):
        batch = ds.read_chunk(chunk)
        pixels = batch["fgbg"].reshape(-1, 3).astype(np.float64)
        sums += pixels.sum(axis=0)
        squares += np.square(pixels).sum(axis=0)
        mask_pixels += int(np.count_nonzero(batch["mask"]))
        depth = batch["depth"].astype(np.float64)
        depth_min, depth_max = min(depth_min, depth.min()), max(depth_max, depth.max())
        depth_sum += depth.sum()
        depth_squares += np.square(depth).sum()
    n_pixels = len(ds) * ds.size * ds.size
    fgbg_mean = sums / n_pixels
    depth_mean = depth_sum / n_pixels
    stats = {
        "fgbg_mean": _unit(fgbg_mean),
        "fgbg_std": _unit(np.sqrt(squares / n_pixels - np.square(fgbg_mean))),
        **_bg_stats(ds),
        "mask_coverage": mask_pixels / n_pixels,
        "depth_min": float(depth_min),
        "depth_max": float(depth_max),
        "depth_mean": float(depth_mean),
        "depth_std": float(np.sqrt(depth_squares / n_pixels - depth_mean**2)),
        "n_samples": len(ds),
        "note": "means and stds of images are in [0, 1] units, RGB order; depth in metres",
    }
    storage_at(path).open_group(mode="r+").attrs["stats"] = stats
    return stats


def info(path: str) -> dict[str, Any]:
    """Counts, shapes, chunking, bytes on disk per array, and the build config."""
    ds = open_store(path)
    storage = storage_at(path)
    group = storage.open_group(mode="r")
    arrays = {}
    for name in (*schema.SAMPLE_ARRAYS, *schema.ASSET_ARRAYS):
        array = group[name]
        arrays[name] = {
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "chunks": list(array.chunks),
            "shards": list(array.shards) if array.shards else None,
            "bytes_on_disk": storage.total_bytes(name),
        }
    return {
        "path": path,
        "format": ds.attrs["fgd_format"],
        "n_samples": len(ds),
        "n_bg": len(ds.bg_names),
        "n_fg": len(ds.fg_names),
        "size": ds.size,
        "depth": ds.attrs["depth"],
        "arrays": arrays,
        "bytes_on_disk": storage.total_bytes(),
        "config": {**ds.attrs["config"], **ds.attrs["runtime"]},
        "stats": ds.attrs.get("stats"),
    }


def _bg_stats(ds: FgdStore) -> dict[str, list[float]]:
    weights = np.bincount(ds.bg_ids, minlength=len(ds.bg_names)).astype(np.float64)
    images = ds.bg_images.reshape(len(ds.bg_names), -1, 3).astype(np.float64)
    per_bg_mean = images.mean(axis=1)
    per_bg_square = np.square(images).mean(axis=1)
    mean = weights @ per_bg_mean / weights.sum()
    square = weights @ per_bg_square / weights.sum()
    return {"bg_mean": _unit(mean), "bg_std": _unit(np.sqrt(square - np.square(mean)))}


def _unit(values: np.ndarray) -> list[float]:
    return [float(v) / 255.0 for v in values]
