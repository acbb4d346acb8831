"""`fgd datagen build` of this checkout against another checkout of fgd, same command.

Each run is the user's command in a fresh process (``python -m cli datagen build``, imports,
asset preparation and worker start-up included), the two checkouts taking turns within each
repeat so that a change of the machine's load hits both alike. Printed: the median wall
seconds and samples/s, CPU ms per sample (user + system of the command and its workers), the
ratio to the other checkout, the bytes per sample of each store, and whether the two stores
hold the same bytes (every object of every array; the root record differs only in where and
how it was built) or, across a change of store format, the same samples.

    python -m benchmarks.datagen_checkout --checkout DIR [--bg D --fg D] [--n-bg 10 --n-fg 10
        --positions 40 --workers 2 --repeats 3] [-- more build options]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datagen.build import directory_bytes
from datagen.store import open_store


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, required=True, help="the other fgd checkout")
    parser.add_argument("--bg")
    parser.add_argument("--fg")
    parser.add_argument("--n-bg", type=int, default=10)
    parser.add_argument("--n-fg", type=int, default=10)
    parser.add_argument("--positions", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="more `fgd datagen build` options, after --")
    args = parser.parse_args()
    options = ["--n-bg", str(args.n_bg), "--n-fg", str(args.n_fg)]
    options += ["--positions", str(args.positions), "--workers", str(args.workers)]
    for flag, folder in (("--bg", args.bg), ("--fg", args.fg)):
        options += [flag, str(Path(folder).resolve())] if folder else []
    options += args.extra
    here = Path(__file__).resolve().parents[1]
    checkouts = {"this checkout": here, str(args.checkout): args.checkout.resolve()}
    work = Path(tempfile.mkdtemp(prefix="fgd-build-checkout-"))
    load_before = os.getloadavg()[0]
    try:
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
        for repeat in range(args.repeats):
            for k, (name, checkout) in enumerate(checkouts.items()):
                out = work / f"{k}-{repeat}.zarr"
                times[name].append(timed_build(checkout, out, options))
                if repeat:  # the first repeat's stores are kept for the comparison
                    shutil.rmtree(out)
        stores = work / "0-0.zarr", work / "1-0.zarr"
        formats = [open_store(str(store)).root.fgd_format for store in stores]
        n = len(open_store(str(stores[0])))
        if formats[0] == formats[1]:
            verdict = "stores identical (every array object): "
            verdict += "yes" if array_objects(stores[0]) == array_objects(stores[1]) else "NO"
        else:
            verdict = (
                f"formats {formats[0]} and {formats[1]}; same samples (every field, read back): "
            )
            verdict += "yes" if same_samples(*stores) else "NO"
        sizes = " / ".join(f"{directory_bytes(store) / n:,.0f}" for store in stores)
        _print_table(times, n, args, load_before, f"{verdict}\nbytes per sample: {sizes}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _print_table(
    times: dict[str, list[tuple[float, float]]],
    n: int,
    args: argparse.Namespace,
    load_before: float,
    verdict: str,
) -> None:
    source = "photos" if args.bg else "procedural"
    print(
        f"{n:,} samples, {source} assets, {args.workers} workers, {os.cpu_count()} cores; "
        f"medians of {args.repeats}; load average before {load_before:.2f}, after "
        f"{os.getloadavg()[0]:.2f}\n"
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
    print(f"\n{verdict}")


if __name__ == "__main__":
    main()
