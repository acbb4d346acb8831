"""Size and per-sample random-read time of the HDF5 export for a few filter / chunk choices.

    python -m benchmarks.experiments.hdf5_export STORE [--reads 200]

Prints one row per choice: MB on disk, export seconds, mean and p95 ms to read one random
sample's fgbg + mask + depth with a fresh h5py handle per run (chunk cache cold per sample).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from datagen.store.hdf5 import export_hdf5


def read_times(path: Path, n: int, reads: int, seed: int = 0) -> np.ndarray:
    order = np.random.default_rng(seed).integers(0, n, reads)
    times = []
    with h5py.File(path, "r") as f:
        arrays = [f["fgbg"], f["mask"], f["depth"]]
        for i in order:
            t = time.perf_counter()
            for a in arrays:
                a[i]
            times.append(time.perf_counter() - t)
    return np.array(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    print(f"{'compression':<12} {'MB':>7} {'export s':>9} {'read ms':>8} {'p95 ms':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for compression in ("gzip", "lzf", "none"):
            out = Path(tmp) / f"{compression}.h5"
            summary = export_hdf5(args.store, out, compression=compression, progress=False)
            ms = read_times(out, summary.n_samples, args.reads)
            print(
                f"{compression:<12} {summary.bytes_on_disk / 1e6:7.1f} {summary.seconds:9.1f} "
                f"{ms.mean():8.2f} {np.percentile(ms, 95):7.2f}"
            )


if __name__ == "__main__":
    main()
