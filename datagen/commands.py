"""The `fgd datagen` command group: build, verify, stats, info and export.

This module imports no numpy, OpenCV, zarr or h5py: a command's ``--help`` and a mistyped
option cost what click costs, and each command imports its logic when it runs. Defaults and
choices come from :class:`~datagen.builder.config.BuildConfig` and :mod:`datagen.options`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from datagen.builder.config import (
    DEPTH_SOURCES,
    PROCEDURAL_COUNT,
    SHADOW_MODES,
    BuildConfig,
    default,
)
from datagen.options import COMPRESSIONS, DEFAULT_COMPRESSION, PROCESSES, Compression


@click.group("datagen")
def datagen_group() -> None:
    """Build and inspect the fg_bg / mask / depth dataset (a chunked Zarr store)."""


@datagen_group.command("build")
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="Zarr store to write: a folder or an fsspec URL (file://, s3://bucket/x.zarr, memory://).",
)
@click.option("--bg", type=click.Path(), help="Folder of bg photos (default: procedural scenes).")
@click.option(
    "--fg",
    type=click.Path(),
    help="Folder of RGBA PNG cutouts (default: procedural); an optional labels.csv in it (rows "
    "name,kind) gives each cutout's kind, for fgd eval's metrics per kind.",
)
@click.option("--size", default=default("size"), show_default=True, help="Image height and width.")
@click.option(
    "--n-bg", type=int, help=f"Number of bg scenes (default: {PROCEDURAL_COUNT}, or all files)."
)
@click.option(
    "--n-fg", type=int, help=f"Number of fg cutouts (default: {PROCEDURAL_COUNT}, or all files)."
)
@click.option(
    "--builtin-fg",
    type=int,
    metavar="N",
    help="With --fg: also use N built-in procedural cutouts, after the folder's (more kinds of "
    "object to learn from).",
)
@click.option(
    "--positions",
    default=default("positions"),
    show_default=True,
    help="Placements per bg/fg/flip.",
)
@click.option("--no-flip", is_flag=True, help="Do not add a mirrored copy of each fg.")
@click.option(
    "--seed", default=default("seed"), show_default=True, help="Seed of everything random."
)
@click.option(
    "--workers", type=PROCESSES, show_default="all cores", help="Processes writing shards."
)
@click.option(
    "--dask",
    metavar="ADDRESS|local:N",
    help="Run the shards on a Dask cluster (a scheduler address, or local:N to start N local "
    "workers) instead of --workers processes; needs fgd[scale].",
)
@click.option("--overwrite", is_flag=True, help="Replace a store built with another config.")
@click.option(
    "--depth",
    type=click.Choice(DEPTH_SOURCES),
    default=default("depth"),
    show_default=True,
    help="Depth from scene geometry or from a teacher network.",
)
@click.option(
    "--depth-model",
    type=click.Path(),
    help="TorchScript file, transformers depth-model folder or Hugging Face hub id (--depth "
    "teacher; hub models need fgd[teacher]).",
)
@click.option(
    "--depth-scale",
    type=float,
    default=default("depth_scale"),
    help="Relative models: metric inverse depth per unit of disparity; default: fit to the "
    "ground-plane prior.",
)
@click.option(
    "--bg-depth",
    type=click.Path(),
    help="Folder of bg depth maps (<stem>.npy metres or <stem>.png 16-bit mm).",
)
@click.option(
    "--scale-range",
    default=f"{default('scale_min')},{default('scale_max')}",
    show_default=True,
    help="fg height range as fractions of the frame height: MIN,MAX.",
)
@click.option(
    "--max-outside",
    default=default("max_outside"),
    show_default=True,
    help="Fraction of the fg width that may leave the frame.",
)
@click.option("--fg-jitter", is_flag=True, help="Photometric variation of each composited fg.")
@click.option(
    "--max-depth",
    default=default("max_depth"),
    show_default=True,
    help="Far clip of depth, metres.",
)
@click.option(
    "--jpeg-quality",
    default=default("jpeg_quality"),
    show_default=True,
    help="Quality of the fg region.",
)
@click.option(
    "--shadows",
    type=click.Choice(SHADOW_MODES),
    default=default("shadows"),
    show_default=True,
    help="Shadow of the fg on the ground: with a penumbra (soft), without (hard), or none.",
)
@click.option(
    "--shadow-p",
    default=default("shadow_p"),
    show_default=True,
    help="Fraction of the samples with a shadow.",
)
@click.option(
    "--shadow-strength",
    default=f"{default('shadow_strength_min')},{default('shadow_strength_max')}",
    show_default=True,
    help="Cast-shadow strength range on user photos (fraction of the ground's value): MIN,MAX.",
)
@click.option(
    "--chunk-size", default=default("chunk_size"), show_default=True, help="Samples per Zarr chunk."
)
@click.option(
    "--shard-size",
    default=default("shard_size"),
    show_default=True,
    help="Samples per Zarr shard (each worker holds the shard it builds in memory: ~0.2 MB "
    "per sample at 224 px).",
)
@click.option("--quiet", "--no-progress", "quiet", is_flag=True, help="No progress bar.")
def build_command(
    no_flip: bool,
    scale_range: str,
    shadow_strength: str,
    workers: int | None,
    dask: str | None,
    quiet: bool,
    **options: object,
) -> None:
    """Composite fg cutouts onto bg scenes into one chunked Zarr store (resumable)."""
    from datagen.builder.build import build_store

    config = BuildConfig(
        **options,  # type: ignore[arg-type]
        flip=not no_flip,
        workers=default("workers") if workers is None else workers,
        **_pair("--scale-range", scale_range, "scale_min", "scale_max", "0.3,0.8"),
        **_pair(
            "--shadow-strength",
            shadow_strength,
            "shadow_strength_min",
            "shadow_strength_max",
            "0.2,0.55",
        ),
    )
    summary = build_store(config, progress=not quiet, dask=dask)
    click.echo(str(summary))


@datagen_group.command("verify")
@click.argument("store", type=click.Path())
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def verify_command(store: str, no_progress: bool) -> None:
    """Check every shard against the checksums recorded at build time (exit 1 if any is bad)."""
    from datagen.store import audit

    bad = audit.verify(store, progress=not no_progress)
    if bad:
        click.echo(f"{store}: {len(bad)} bad shard(s):", err=True)
        for item in bad:
            click.echo(f"  {item}", err=True)
        sys.exit(1)
    click.echo(f"{store}: all shards match their build-time checksums")


@datagen_group.command("stats")
@click.argument("store", type=click.Path())
@click.option(
    "--workers",
    type=PROCESSES,
    show_default="one per core, one for a small store",
    help="Processes reading shards.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def stats_command(store: str, workers: int | None, no_progress: bool) -> None:
    """Per-channel mean/std, mask coverage and depth range (stored in the attributes too)."""
    from datagen.store import audit

    stats = audit.compute_stats(store, progress=not no_progress, workers=workers)
    click.echo(json.dumps(stats, indent=2))


@datagen_group.command("info")
@click.argument("store", type=click.Path())
def info_command(store: str) -> None:
    """Counts, shapes, bytes on disk per array, and the build config."""
    from datagen.store import audit

    click.echo(json.dumps(audit.info(store), indent=2))


@datagen_group.command("export")
@click.argument("store", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["hdf5"]),
    default="hdf5",
    show_default=True,
    help="File format to write.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, metavar="FILE", help="File to write."
)
@click.option(
    "--compression",
    type=click.Choice(COMPRESSIONS),
    default=DEFAULT_COMPRESSION,
    show_default=True,
    help="Filter of the image datasets (one sample per chunk).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def export_command(
    store: Path, fmt: str, out: Path, compression: Compression, overwrite: bool, no_progress: bool
) -> None:
    """Export STORE to one file readable without fgd (HDF5: fgbg, mask, depth, bg, placement)."""
    from datagen.store.hdf5 import export_hdf5

    summary = export_hdf5(
        store, out, compression=compression, overwrite=overwrite, progress=not no_progress
    )
    click.echo(summary)


def _pair(option: str, text: str, low_key: str, high_key: str, example: str) -> dict[str, float]:
    """``MIN,MAX`` of `option` as the two BuildConfig fields."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected MIN,MAX, e.g. {example}", param_hint=option) from None
    return {low_key: low, high_key: high}
