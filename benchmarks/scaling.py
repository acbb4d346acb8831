"""Datagen scale-out: local worker processes against Dask workers, on the same plan.

Every row builds the same plan into a fresh store (medians of ``--repeats`` runs):

- local, 1 worker: the shards run in this process (``--workers 1``).
- local, 2 processes: ``--workers 2``, a spawn process pool the build starts.
- Dask LocalCluster, 2 workers: ``--dask local:2``, the build starts and stops the cluster.
- Dask, 2 workers already up: ``--dask ADDRESS`` of a LocalCluster started beforehand, which
  separates Dask's cost per task from its start-up.

Columns: wall seconds, samples/s, wall time relative to "local, 2 processes" (the overhead of
Dask as a ratio), and CPU ms per sample (this process, its reaped children and the running
cluster's workers; robust to a loaded machine, unlike wall time). Every row includes the
preparation of the store (assets rendered and written once), printed separately. The stores
of all rows are checked to hold identical arrays.

Usage: ``python -m benchmarks.scaling [--n-bg 20 --n-fg 20 --positions 2 --size 224]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
from collections.abc import Callable
from itertools import count
from pathlib import Path

from benchmarks.datagen import Timing, measure
from benchmarks.datagen_checkout import array_objects
from datagen.builder.build import build_store, prepare_store
from datagen.builder.config import BuildConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-bg", type=int, default=20)
    parser.add_argument("--n-fg", type=int, default=20)
    parser.add_argument("--positions", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--shard-size", type=int, default=128, help="Samples per shard (task).")
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    work = Path(tempfile.mkdtemp(prefix="fgd-scaling-"))
    runs = count()

    def config(workers: int = 1) -> BuildConfig:
        return BuildConfig(
            out=str(work / f"run-{next(runs)}.zarr"),  # a new path: no worker reuses a cache
            size=args.size,
            n_bg=args.n_bg,
            n_fg=args.n_fg,
            positions=args.positions,
            shard_size=args.shard_size,
            chunk_size=args.chunk_size,
            workers=workers,
        )

    def timed(make: Callable[[], BuildConfig], dask: str | None = None, client=None):
        times, out = [], ""
        for _ in range(args.repeats):
            cfg = make()
            workers_cpu = _workers_cpu(client) if client else 0.0
            timing = measure(lambda cfg=cfg: build_store(cfg, progress=False, dask=dask))
            if client:
                extra = _workers_cpu(client) - workers_cpu
                timing = Timing(wall=timing.wall, cpu=timing.cpu + extra)
            times.append(timing)
            out = cfg.out
        return times, out

    try:
        prepare = [measure(lambda: prepare_store(config())) for _ in range(args.repeats)]
        rows = {
            "local, 1 worker": timed(lambda: config(1)),
            "local, 2 processes": timed(lambda: config(2)),
            "Dask LocalCluster, 2 workers": timed(config, dask="local:2"),
        }
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            rows["Dask, 2 workers already up"] = timed(
                config, dask=cluster.scheduler_address, client=client
            )
        identical = _same_arrays([out for _, out in rows.values()])
        _print_table(args, {name: times for name, (times, _) in rows.items()}, prepare, identical)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _workers_cpu(client) -> float:
    """CPU seconds used so far by all of a cluster's worker processes."""

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    return sum(client.run(cpu).values())


def _same_arrays(stores: list[str]) -> bool:
    """Whether the stores hold the same objects in every array (shards and metadata)."""
    first, *others = (array_objects(Path(store)) for store in stores)
    return all(other == first for other in others)


def _print_table(
    args: argparse.Namespace,
    rows: dict[str, list[Timing]],
    prepare: list[Timing],
    identical: bool,
) -> None:
    n = args.n_bg * args.n_fg * 2 * args.positions
    n_shards = -(-n // args.shard_size)
    reference = statistics.median(t.wall for t in rows["local, 2 processes"])
    print(
        f"\nplan: {n:,} samples at {args.size}x{args.size} in {n_shards} shards of "
        f"{args.shard_size}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
        f"medians of {args.repeats} runs\n"
    )
    header = (
        f"{'build':30s} {'wall s':>7s} {'samples/s':>9s} {'vs local x2':>11s} "
        f"{'CPU ms/sample':>13s}"
    )
    print(header)
    print("-" * len(header))
    for name, times in rows.items():
        wall = statistics.median(t.wall for t in times)
        cpu = statistics.median(t.cpu for t in times) / n
        print(
            f"{name:30s} {wall:7.2f} {n / wall:9,.0f} {wall / reference:10.2f}x {cpu * 1e3:13.2f}"
        )
    prepare_wall = statistics.median(t.wall for t in prepare)
    print(
        f"\nevery row includes preparing the store (assets rendered and written once): "
        f"{prepare_wall:.2f} s wall, {statistics.median(t.cpu for t in prepare):.2f} s CPU"
    )
    print(f"all stores hold identical arrays: {'yes' if identical else 'NO'}")


if __name__ == "__main__":
    main()
