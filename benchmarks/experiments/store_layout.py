"""How chunk size trades read speed against random access, on one plan built several ways.

For each chunk size the same plan is built (one shard per 1024 samples) and read back through
``open_store``: whole chunks (what the training loader does), random single samples (what a
naive loader does), and random batches of 64 indices. Medians over ``--repeats`` passes.

``--checkout DIR`` also builds the plan (default chunks) with another checkout of fgd, one that
writes an older store format, and reads that store with this checkout's reader too: the same
samples in two formats, read by one reader.

Usage: ``python -m benchmarks.experiments.store_layout [--chunks 16,32,64,128,256]
[--bg DIR --fg DIR] [--checkout DIR]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.datagen_checkout import plan_options, timed_build
from datagen.builder.build import build_store, directory_bytes
from datagen.builder.config import BuildConfig
from datagen.store.reader import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", default="16,32,64,128,256")
    parser.add_argument("--n-bg", type=int, default=10)
    parser.add_argument("--n-fg", type=int, default=10)
    parser.add_argument("--positions", type=int, default=20)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--bg")
    parser.add_argument("--fg")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkout", type=Path, help="another fgd checkout to build with too")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fgd-layout-"))
    print(f"{'store':>20s} {'chunk read ms/sample':>21s} {'random read ms/sample':>22s} "
          f"{'batch-64 ms/sample':>19s} {'bytes/sample':>13s}")  # fmt: skip
    try:
        for chunk in (int(c) for c in args.chunks.split(",")):
            out = work / f"c{chunk}.zarr"
            build_store(
                BuildConfig(
                    out=str(out), bg=args.bg, fg=args.fg, size=args.size, n_bg=args.n_bg,
                    n_fg=args.n_fg, positions=args.positions, chunk_size=chunk,
                    shard_size=max(1024, chunk),
                ),
                progress=False,
            )  # fmt: skip
            _print_row(f"chunk {chunk}", out, args.repeats)
        if args.checkout:
            out = work / "checkout.zarr"
            options = ["--size", str(args.size), *plan_options(args)]
            timed_build(args.checkout.resolve(), out, options)
            _print_row(f"{args.checkout.name}, chunk 64", out, args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _print_row(label: str, out: Path, repeats: int) -> None:
    whole, single, batch = _measure(out, repeats)
    ds = open_store(out)
    label = f"{label} (f{ds.root.fgd_format})"
    size = directory_bytes(out) / len(ds)
    print(f"{label:>20s} {whole:21.3f} {single:22.3f} {batch:19.3f} {size:13,.0f}")


def _measure(out: Path, repeats: int) -> tuple[float, float, float]:
    """ms per sample: whole-chunk reads, random single reads, random batches of 64."""
    ds = open_store(out)
    _ = ds.bg_images, ds.bg_depth, ds.records  # warm the per-store caches
    rng = np.random.default_rng(0)
    singles = rng.choice(len(ds), min(200, len(ds)), replace=False)
    batches = [rng.choice(len(ds), min(64, len(ds)), replace=False) for _ in range(10)]
    whole = _median_ms(repeats, len(ds), lambda: [ds.read_chunk(c) for c in range(ds.n_chunks)])
    single = _median_ms(repeats, len(singles), lambda: [ds[int(i)] for i in singles])
    batch = _median_ms(repeats, 10 * len(batches[0]), lambda: [ds.read_batch(b) for b in batches])
    return whole, single, batch


def _median_ms(repeats: int, samples: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3 / samples


if __name__ == "__main__":
    main()
