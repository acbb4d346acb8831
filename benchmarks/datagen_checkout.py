"""`fgd datagen build` or its statistics pass, this checkout against another checkout of fgd.

Every run is a fresh process in the checkout it times, the checkouts taking turns within each
repeat so that a change of the machine's load hits them alike. Without ``--checkout``, this
checkout alone is timed.

- The build (default): the user's command, ``python -m cli datagen build`` (imports, asset
  preparation and worker start-up included). Printed: the median wall seconds and samples/s,
  CPU ms per sample (user + system of the command and its workers), the ratio to the other
  checkout, the bytes per sample of each store, and whether the two stores hold the same bytes
  (every object of every array; the root record differs only in where and how it was built)
  or, across a change of store format, the same samples.
- ``--stats``: the statistics pass (``datagen.store.audit.measure_stats``, what ``fgd datagen
  stats`` and a ``fgd train`` on a store without saved stats run) over the plan's store as each
  checkout built it, or over ``--store``: this checkout with one worker and with ``--workers``,
  the other checkout with one (older ones had no workers). Printed: the median seconds and ms
  per sample, the ratio to the last row, and the largest relative difference between the
  statistics each row computed and the last row's (they must agree).

    python -m benchmarks.datagen_checkout [--checkout DIR] [--stats [--store S]] [--bg D --fg D]
        [--n-bg 10 --n-fg 10 --positions 40 --workers 2 --repeats 3] [-- more build options]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datagen.builder.build import directory_bytes
from datagen.store.reader import open_store

HERE = Path(__file__).resolve().parents[1]

# Runs in the checkout timed: its measure_stats, with `workers` where it has them.
TIMED_STATS = """
import inspect, json, sys, time
from datagen.store.audit import measure_stats
from datagen.store.reader import open_store
ds = open_store(sys.argv[1])
workers = int(sys.argv[2])
kwargs = {"workers": workers} if "workers" in inspect.signature(measure_stats).parameters else {}
start = time.perf_counter()
stats = measure_stats(ds, progress=False, **kwargs)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "n": len(ds), "stats": stats.to_dict()}))
"""


def plan_options(args: argparse.Namespace) -> list[str]:
    """The `fgd datagen build` options of the plan in `args` (its sizes and asset folders)."""
    options = ["--n-bg", str(args.n_bg), "--n-fg", str(args.n_fg)]
    options += ["--positions", str(args.positions)]
    for flag, folder in (("--bg", args.bg), ("--fg", args.fg)):
        # Absolute: each build runs in its own checkout.
        options += [flag, str(Path(folder).resolve())] if folder else []
    return options


def timed_build(checkout: Path, out: Path, options: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (the process and its workers) of one build into `out`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cli", "datagen", "build", "--out", str(out), "--quiet", *options],
        cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)}, check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def timed_stats(checkout: Path, store: Path, workers: int) -> dict:
    """Seconds, sample count and statistics of one statistics pass of `checkout` over `store`."""
    out = subprocess.run(
        [sys.executable, "-c", TIMED_STATS, str(store), str(workers)],
        cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)}, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def array_objects(store: Path) -> dict[str, bytes]:
    """Every object under the store's arrays (their metadata included), by relative path."""
    return {
        str(path.relative_to(store)): path.read_bytes()
        for path in sorted(store.rglob("*"))
        if path.is_file() and path.parent != store
    }


def same_samples(store: Path, other: Path) -> bool:
    """Whether two stores (of any formats this fgd reads) hold the same samples: every field
    and record of every sample, read back."""
    a, b = open_store(str(store)), open_store(str(other))
    if len(a) != len(b) or not (a.records == b.records).all():
        return False
    for chunk in range(a.n_chunks):
        mine, theirs = a.read_chunk(chunk), b.read_chunk(chunk)
        if any(not (mine[key] == theirs[key]).all() for key in mine):
            return False
    return True


def largest_difference(a: dict, b: dict) -> float:
    """Largest relative difference between the numbers of two statistics records."""
    worst = 0.0
    for key, value in a.items():
        pairs = zip(value, b[key], strict=True) if isinstance(value, list) else [(value, b[key])]
        for x, y in pairs:
            if isinstance(x, int | float) and not isinstance(x, bool):
                worst = max(worst, abs(x - y) / max(abs(y), 1e-12))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, help="the other fgd checkout")
    parser.add_argument("--stats", action="store_true", help="time the statistics pass")
    parser.add_argument("--store", type=Path, help="with --stats: this store, not the plan's")
    parser.add_argument("--bg")
    parser.add_argument("--fg")
    parser.add_argument("--n-bg", type=int, default=10)
    parser.add_argument("--n-fg", type=int, default=10)
    parser.add_argument("--positions", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="more `fgd datagen build` options, after --")
    args = parser.parse_args()
    if args.store and not args.stats:
        parser.error("--store: only with --stats (a build writes its own store)")
    options = [*plan_options(args), "--workers", str(args.workers), *args.extra]
    checkouts = {"this checkout": HERE}
    if args.checkout:
        checkouts[str(args.checkout)] = args.checkout.resolve()
    work = Path(tempfile.mkdtemp(prefix="fgd-checkout-"))
    try:
        if args.stats:
            _compare_stats(checkouts, options, args, work)
        else:
            _compare_builds(checkouts, options, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _compare_builds(
    checkouts: dict[str, Path], options: list[str], args: argparse.Namespace, work: Path
) -> None:
    load_before = os.getloadavg()[0]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
    for repeat in range(args.repeats):
        for k, (name, checkout) in enumerate(checkouts.items()):
            out = work / f"{k}-{repeat}.zarr"
            times[name].append(timed_build(checkout, out, options))
            if repeat:  # the first repeat's stores are kept for the comparison
                shutil.rmtree(out)
    stores = [work / f"{k}-0.zarr" for k in range(len(checkouts))]
    n = len(open_store(str(stores[0])))
    print(
        f"{n:,} samples, {'photos' if args.bg else 'procedural'} assets, {args.workers} workers, "
        f"{os.cpu_count()} cores; medians of {args.repeats}; load average before "
        f"{load_before:.2f}, after {os.getloadavg()[0]:.2f}\n"
    )
    other = list(times)[-1]
    other_wall = statistics.median(wall for wall, _ in times[other])
    print(f"| build | wall s | samples/s | CPU ms/sample | vs {other} |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(
            f"| {name} | {wall:.2f} | {n / wall:,.0f} | {1e3 * cpu / n:.3f} "
            f"| {other_wall / wall:.2f}x |"
        )
    print()
    if len(stores) == 2:
        print(_verdict(*stores))
    print("bytes per sample: " + " / ".join(f"{directory_bytes(s) / n:,.0f}" for s in stores))


def _verdict(store: Path, other: Path) -> str:
    formats = [open_store(str(s)).root.fgd_format for s in (store, other)]
    if formats[0] == formats[1]:
        same = array_objects(store) == array_objects(other)
        return f"stores identical (every array object): {'yes' if same else 'NO'}"
    same = same_samples(store, other)
    return (
        f"formats {formats[0]} and {formats[1]}; same samples (every field, read back): "
        f"{'yes' if same else 'NO'}"
    )


def _compare_stats(
    checkouts: dict[str, Path], options: list[str], args: argparse.Namespace, work: Path
) -> None:
    runs: dict[str, tuple[Path, Path, int]] = {}  # row -> checkout, store, workers
    for k, (name, checkout) in enumerate(checkouts.items()):
        store = args.store.resolve() if args.store else None
        if store is None:  # each checkout reads the plan as it builds it, in its own format
            store = work / f"{k}.zarr"
            timed_build(checkout, store, options)
        if k == 0:
            runs["this checkout, 1 worker"] = (checkout, store, 1)
            runs[f"this checkout, {args.workers} workers"] = (checkout, store, args.workers)
        else:
            runs[f"{name}, 1 worker"] = (checkout, store, 1)
    results: dict[str, list[dict]] = {row: [] for row in runs}
    for _ in range(args.repeats):
        for row, (checkout, store, workers) in runs.items():
            results[row].append(timed_stats(checkout, store, workers))
    n = results["this checkout, 1 worker"][0]["n"]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{n:,} samples, {os.cpu_count()} cores, load average after: {load}; "
          f"medians of {args.repeats}\n")  # fmt: skip
    base = list(results)[-1]
    base_s = statistics.median(r["seconds"] for r in results[base])
    print(f"| run | s | ms/sample | vs {base} | stats differ by (relative) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row, rs in results.items():
        seconds = statistics.median(r["seconds"] for r in rs)
        differ = largest_difference(rs[0]["stats"], results[base][0]["stats"])
        print(f"| {row} | {seconds:.1f} | {1000 * seconds / rs[0]['n']:.2f} "
              f"| {base_s / seconds:.2f}x | {differ:.1e} |")  # fmt: skip


if __name__ == "__main__":
    main()
