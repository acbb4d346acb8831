"""What a second core of this machine gives: the same work in one process alone, and in two at once.

Issue 13 asks that two build workers be close to twice as fast as one. That can only hold where
the machine itself scales: two vCPUs of a virtual machine may share one physical core
(hyper-threads), a memory bus or a host that steals time. So each workload below runs a fixed
amount of work in one process while the other core idles, then in two processes started
together (a barrier), the two taking turns ``--repeats`` times:

- ``shard``: what a build worker does, :func:`datagen.builder.build.build_shard` rebuilding
  whole shards of a store of the real photos (each process its own shards; one untimed shard
  first loads the assets, as a worker's first task does);
- ``python``: an interpreter loop on a few integers (one core's execution units, no memory);
- ``zstd``: compressing a 3 MB mostly-zero buffer, as the builder's shard encoder does with a
  chunk of masks (streaming memory);
- ``jpeg``: OpenCV coding 160 x 120 boxes at quality 95 (libjpeg-turbo, in cache).

Printed per workload: seconds of one process alone, seconds of each of two at once (median of
both processes over the repeats), and the **scaling**, two processes' throughput over one's
(``2 x alone / together``; 2.00 = the second core is a whole core). The load average is printed
before and after: run it on an idle machine.

    .venv/bin/python -m benchmarks.experiments.cores [--repeats 5] [--shards 2] [--store DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from numcodecs import Zstd

from datagen.builder.build import build_shard, build_store
from datagen.builder.config import BuildConfig
from datagen.common.errors import InputError
from datagen.store.reader import open_store

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real-samples"


def python_loop() -> None:
    total = 0
    for i in range(6_000_000):
        total += i * i % 7


def zstd_chunk() -> None:
    chunk = np.zeros((64, 224, 224), np.uint8)
    chunk[:, 60:160, 80:140] = 255  # every sample's mask: a box of ones among zeros
    codec = Zstd(level=3)
    for _ in range(600):
        codec.encode(chunk)


def jpeg_boxes() -> None:
    box = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    box = cv2.GaussianBlur(box, (0, 0), 2)  # photo-like: smooth, so libjpeg does real work
    for _ in range(9000):
        cv2.imencode(".jpg", box, [cv2.IMWRITE_JPEG_QUALITY, 95])


def shard_work(store: str, shards: list[int]) -> Callable[[], None]:
    def work() -> None:
        for shard in shards:
            build_shard(store, shard)

    return work


def _run(work: Callable[[], None], warm: Callable[[], None], barrier, results, slot: int) -> None:
    warm()
    barrier.wait()
    start = time.perf_counter()
    work()
    results[slot] = time.perf_counter() - start


def timed(works: list[tuple[Callable[[], None], Callable[[], None]]]) -> list[float]:
    """Seconds each of `works` ((work, untimed warm-up) pairs) took, all started at once, each
    in a process of its own."""
    context = mp.get_context("fork")
    barrier = context.Barrier(len(works))
    results = context.Array("d", len(works))
    processes = [
        context.Process(target=_run, args=(work, warm, barrier, results, slot))
        for slot, (work, warm) in enumerate(works)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a measuring process failed (exit {process.exitcode})")
    return list(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shards", type=int, default=2, help="timed shards per process")
    parser.add_argument(
        "--store", type=Path, help="a built store to rebuild shards of (default: build one)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    work_dir = Path(tempfile.mkdtemp(prefix="fgd-cores-"))
    try:
        store = str(args.store or _real_photo_store(work_dir / "real.zarr"))
        try:
            n_shards = open_store(store).root.n_shards
        except InputError as error:
            raise SystemExit(f"--store {error}") from None
        per_process = 1 + args.shards  # one warm-up shard, then the timed ones
        if n_shards < 2 * per_process:
            raise SystemExit(f"{store}: {n_shards} shards, the run needs {2 * per_process}")
        own = [list(range(k * per_process, (k + 1) * per_process)) for k in range(2)]
        workloads = {
            "shard": [(shard_work(store, s[1:]), shard_work(store, s[:1])) for s in own],
            "python": [(python_loop, _nothing)] * 2,
            "zstd": [(zstd_chunk, _nothing)] * 2,
            "jpeg": [(jpeg_boxes, _nothing)] * 2,
        }
        print(
            f"{os.cpu_count()} CPUs; load average {load_before[0]:.2f} before; "
            f"{args.repeats} repeats, alone and together taking turns\n"
        )
        print("| workload | alone s | two at once s (each) | scaling (2.00 = two whole cores) |")
        print("| --- | ---: | ---: | ---: |")
        for name, pair in workloads.items():
            alone, together = [], []
            for _ in range(args.repeats):
                alone += timed(pair[:1])
                together += timed(pair)
            a, t = statistics.median(alone), statistics.median(together)
            print(f"| {name} | {a:.3f} | {t:.3f} | {2 * a / t:.2f} |")
        print(f"\nload average {os.getloadavg()[0]:.2f} after")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _nothing() -> None:
    pass


def _real_photo_store(out: Path) -> Path:
    """The issue's 8,000-sample plan of the real photos (8 shards), built with one worker."""
    if not REAL.is_dir():
        raise SystemExit(f"{REAL}: the real sample photos are not here; pass --store")
    config = BuildConfig(
        out=str(out),
        bg=str(REAL / "bg"),
        fg=str(REAL / "fg"),
        n_bg=10,
        n_fg=10,
        positions=40,
        workers=1,
    )
    build_store(config, progress=False)
    return out


if __name__ == "__main__":
    main()
