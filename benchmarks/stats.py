"""`fgd datagen stats`: seconds per store and ms per sample, against another checkout of fgd.

Builds one procedural store (or takes ``--store``), then times the statistics pass
(``datagen.audit.measure_stats``, what ``fgd datagen stats`` and a ``fgd train`` on a store
without saved stats run) in a fresh process per run, taking turns: this checkout with one
worker and with ``--workers``, and ``--checkout DIR`` (an older fgd; one process, as it had no
workers) when given. Prints medians of ``--repeats``, the ratio to the checkout's, and the
largest relative difference between the statistics each computed (they must agree).

    python -m benchmarks.stats [--store S | --n-bg 10 --n-fg 50 --positions 20] \
        [--workers 2] [--repeats 3] [--checkout DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from datagen.build import build_store
from datagen.config import BuildConfig

# Runs in the checkout timed: its measure_stats, with `workers` where it has them.
TIMED = """
import inspect, json, sys, time
from datagen.audit import measure_stats
from datagen.store import open_store
ds = open_store(sys.argv[1])
workers = int(sys.argv[2])
kwargs = {"workers": workers} if "workers" in inspect.signature(measure_stats).parameters else {}
start = time.perf_counter()
stats = measure_stats(ds, progress=False, **kwargs)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "n": len(ds), "stats": stats.to_dict()}))
"""


def timed(checkout: Path, store: str, workers: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run(
        [sys.executable, "-c", TIMED, store, str(workers)],
        cwd=checkout, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def largest_difference(a: dict, b: dict) -> float:
    """Largest relative difference between two stats records' numbers."""
    worst = 0.0
    for key, value in a.items():
        pairs = zip(value, b[key], strict=True) if isinstance(value, list) else [(value, b[key])]
        for x, y in pairs:
            if isinstance(x, int | float) and not isinstance(x, bool):
                worst = max(worst, abs(x - y) / max(abs(y), 1e-12))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="an existing store (default: build one)")
    parser.add_argument("--n-bg", type=int, default=10)
    parser.add_argument("--n-fg", type=int, default=50)
    parser.add_argument("--positions", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkout", type=Path, help="an older fgd checkout to compare with")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fgd-stats-"))
    try:
        store = args.store
        if store is None:
            store = str(work / "s.zarr")
            build_store(BuildConfig(out=store, n_bg=args.n_bg, n_fg=args.n_fg,
                                    positions=args.positions), progress=False)  # fmt: skip
        here = Path(__file__).resolve().parents[1]
        runs = {"this checkout, 1 worker": (here, 1),
                f"this checkout, {args.workers} workers": (here, args.workers)}  # fmt: skip
        if args.checkout:
            runs[f"{args.checkout}, 1 process"] = (args.checkout.resolve(), 1)
        results: dict[str, list[dict]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, (checkout, workers) in runs.items():
                results[name].append(timed(checkout, store, workers))
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        first = next(iter(results.values()))
        base = list(results)[-1]
        base_s = statistics.median(r["seconds"] for r in results[base])
        print(f"{first[0]['n']:,} samples, {os.cpu_count()} cores, load average after: {load}; "
              f"medians of {args.repeats}\n")  # fmt: skip
        print(f"| run | s | ms/sample | vs {base} | stats differ by (relative) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, rs in results.items():
            seconds = statistics.median(r["seconds"] for r in rs)
            differ = largest_difference(rs[0]["stats"], results[base][0]["stats"])
            print(f"| {name} | {seconds:.1f} | {1000 * seconds / rs[0]['n']:.2f} "
                  f"| {base_s / seconds:.2f}x | {differ:.1e} |")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
