"""`fgd datagen build`: write the whole dataset into one sharded Zarr store, resumably.

A build runs in three steps:

1. :func:`prepare_store` validates the inputs, loads the assets and creates the store (or finds
   the same build half done and resumes it); nothing is written before every input checked out.
2. :func:`build_shard` renders and writes one whole shard. It is a plain function of
   ``(store URL, shard index)`` - it reads the config and the assets from the store - so local
   processes or a Dask cluster (:mod:`datagen.builder.cluster`) can run shards in any order. It
   makes the shard's objects durable, then records them with their checksums in an atomic marker;
   only a marked shard is finished.
3. :func:`finalize` gathers the markers into the root attributes and marks the store complete.

A killed build rerun with the same command skips the marked shards; because every sample is a
function of ``(seed, plan index)``, the result equals an uninterrupted build byte for byte. The
store may be a local folder or any fsspec URL (:mod:`datagen.store.storage`).
"""

from __future__ import annotations

import math
import mmap
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from functools import cached_property, lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import zarr

from datagen.builder import shadows
from datagen.builder.assets import Assets, asset_counts, load_assets
from datagen.builder.composite import (
    IDENTITY_JITTER,
    PlacementStreams,
    draw_placement,
    placement_rng,
    plan_entry,
    prepare_cutout,
    render,
)
from datagen.builder.config import BuildConfig
from datagen.common.errors import InputError, WriteError
from datagen.common.imaging import encode_jpeg, mip_levels, pick_level
from datagen.common.progress import progress_bar
from datagen.common.workers import (
    check_interrupt,
    completed,
    deferred_interrupts,
    process_pool,
    shared_pool,
)
from datagen.store import schema
from datagen.store.schema import SPEC, DepthAttrs, RootAttrs, TeacherAttrs
from datagen.store.shards import ShardLayout, layout_of
from datagen.store.storage import Storage, storage_at

if TYPE_CHECKING:  # torch is imported only for teacher builds
    from datagen.builder.teacher import DepthTeacher, TeacherDepth

#: Folder inside the store that holds one marker per finished shard while a build runs.
PROGRESS_DIR = "_build"
_ASSETS_MARKER = f"{PROGRESS_DIR}/assets.json"
_ORDER_SALT = 0x4F524452


@dataclass(frozen=True)
class BuildSummary:
    """What a build did: counts, time and size."""

    path: str
    n_samples: int
    n_shards: int
    shards_built: int
    seconds: float
    bytes_on_disk: int

    def __str__(self) -> str:
        rate = self.n_samples / self.seconds if self.seconds else float("inf")
        return (
            f"{self.path}: {self.n_samples:,} samples in {self.n_shards} shards "
            f"({self.shards_built} built now) in {self.seconds:.1f} s "
            f"({rate:,.0f} samples/s), {self.bytes_on_disk / 1e6:,.1f} MB on disk"
        )


def build_store(
    config: BuildConfig, progress: bool = True, dask: str | None = None
) -> BuildSummary:
    """Build (or finish building) the store `config` describes.

    Args:
        config: What to build, and where (a folder or an fsspec URL).
        progress: Show a progress bar.
        dask: Run the shards on a Dask cluster instead of ``config.workers`` local processes:
            a scheduler address, or ``"local:N"`` for a LocalCluster of N workers. How the
            shards run changes no stored byte.
    """
    start = time.perf_counter()
    storage = storage_at(config.out)
    try:
        with (
            deferred_interrupts(),
            shared_pool(config.workers, preload_assets(config, storage, dask)),
            _shard_runner(storage, config.workers, dask) as run,
        ):
            group = prepare_store(config, progress)
            root = RootAttrs.from_dict(group.attrs.asdict())
            finished = set(storage.keys(PROGRESS_DIR))
            pending = [
                s
                for s in range(root.n_shards)
                if root.status != "complete" and _marker_name(s) not in finished
            ]
            _build_pending(root, pending, run, progress)
            check_interrupt()
            finalize(config.out)
    except WriteError as error:
        raise WriteError(
            f"{error}; the shards finished so far are kept: rerun the same command to go on"
        ) from None
    finally:
        vars(_reused).pop("buffers", None)  # shards built in this thread: free their memory
    return BuildSummary(
        path=config.out,
        n_samples=root.n_samples,
        n_shards=root.n_shards,
        shards_built=len(pending),
        seconds=time.perf_counter() - start,
        bytes_on_disk=storage.total_bytes(),
    )


def preload_assets(config: BuildConfig, storage: Storage, dask: str | None) -> tuple[str, ...]:
    """What the worker processes import as soon as they start, while this process reads the
    assets: the build's modules when the shards run on two or more local processes, else
    nothing (and the pool starts when first needed, or never)."""
    if dask is not None or config.workers < 2 or storage.in_process_only:
        return ()
    n = schema.n_samples(*asset_counts(config), config.n_flips, config.positions)
    return (__name__,) if n > config.shard_size else ()


def _build_pending(
    root: RootAttrs,
    pending: list[int],
    run: Callable[[list[int]], Iterator[dict[str, Any]]],
    progress: bool,
) -> None:
    done_samples = root.n_samples - sum(root.shard_length(s) for s in pending)
    with progress_bar(
        total=root.n_samples,
        initial=done_samples,
        unit="sample",
        desc="build",
        enabled=progress,
        smoothing=0.1,
    ) as bar:
        for result in run(pending):
            bar.update(result["n_samples"])


def prepare_store(config: BuildConfig, progress: bool = False) -> zarr.Group:
    """Create the store for `config`, or reopen the same unfinished (or finished) build.

    `progress` shows a bar while procedural assets are rendered.

    Raises:
        InputError: For bad inputs, an unwritable ``--out``, or an existing store built with
            another config (without ``--overwrite``).
    """
    out = config.out
    storage = storage_at(out)
    existing = _existing_build(storage)
    if existing is None:
        if storage.occupied():
            raise InputError(f"--out {out}: exists and is not an fgd store; refusing to touch it")
        problem = storage.write_problem()
        if problem:
            raise InputError(f"--out {out}: {problem}")
    teacher = _teacher(config)
    bg_estimates: list[TeacherDepth] = []

    def bg_depth(images: np.ndarray) -> np.ndarray:
        bg_estimates.append(teacher.estimate(images))  # type: ignore[union-attr]
        return bg_estimates[-1].depth

    assets = load_assets(config, bg_depth_fn=bg_depth if teacher else None, progress=progress)
    n = schema.n_samples(
        len(assets.bg_names), len(assets.fg_names), config.n_flips, config.positions
    )
    _check_shard_memory(config, n, teacher is not None)
    bg_fit = bg_estimates[-1].fit if bg_estimates else None
    key = {
        "format": schema.FORMAT_VERSION,
        "config": config.content_key(),
        "assets_digest": assets.digest,
    }
    if existing is not None:
        if _build_key(existing) == key:
            group = storage.open_group(mode="r+")
            if existing.get("status") != "complete" and storage.read_json(_ASSETS_MARKER) is None:
                _write_assets(group, config, assets, storage, bg_fit)
            return group
        if not config.overwrite:
            changed = _changed_keys(_build_key(existing), key)
            raise InputError(
                f"--out {out}: holds a store built with another config "
                f"(differs in: {', '.join(changed)}); pass --overwrite or choose another --out"
            )
        storage.remove()
    group = storage.open_group(mode="w")
    root = _new_root(config, assets, n, teacher.record() if teacher else None)
    group.attrs.update(root.to_dict())
    _write_assets(group, config, assets, storage, bg_fit)
    return group


def _check_shard_memory(config: BuildConfig, n: int, teacher: bool) -> None:
    """Refuse a plan whose shards, one per worker, would not fit in this machine's memory.

    A shard is rendered whole in memory before it is written (:func:`_shard_buffers`, plus
    the full fg_bg frames a teacher reads).
    """
    shard = min(config.shard_size, n)
    slots = sum(SPEC[name].slot(config.size) * np.dtype(SPEC[name].dtype).itemsize
                for name in schema.sample_arrays(teacher=teacher))  # fmt: skip
    per_sample = slots + (3 * config.size**2 if teacher else 0)
    workers = min(config.workers, -(-n // shard))
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return
    if workers * shard * per_sample > memory:
        raise InputError(
            f"--shard-size {config.shard_size}: {workers} worker(s) would each hold a shard of "
            f"{shard * per_sample / 1e6:,.0f} MB in memory while building it, more than this "
            f"machine's {memory / 1e6:,.0f} MB together; use a smaller --shard-size or fewer "
            "--workers"
        )


def _new_root(
    config: BuildConfig, assets: Assets, n: int, teacher: dict[str, Any] | None
) -> RootAttrs:
    """The root attributes of a new build of `n` samples (`teacher`: its record, if any)."""
    content = config.content_key()
    return RootAttrs(
        fgd_format=schema.FORMAT_VERSION,
        status="building",
        config=content,
        assets_digest=assets.digest,
        runtime={k: v for k, v in config.to_dict().items() if k not in content},
        seed=config.seed,
        n_samples=n,
        size=config.size,
        chunk_size=config.chunk_size,
        shard_size=config.shard_size,
        n_shards=-(-n // config.shard_size),
        depth=DepthAttrs(
            unit="m",
            scale=schema.DEPTH_SCALE,
            max=config.max_depth,
            source=config.depth,
            teacher=None if teacher is None else TeacherAttrs.from_dict(teacher),
        ),
        bg_names=assets.bg_names,
        fg_names=assets.fg_names,
        plan=list(schema.PLAN_COLUMNS),
        n_flips=config.n_flips,
        fg_kinds=assets.fg_kinds,
    )


def build_shard(store_path: str, shard: int) -> dict[str, Any]:
    """Render and durably write one whole shard; return its checksums.

    Everything comes from the store (config, assets, sample order), so this runs anywhere the
    store is reachable. A shard is finished only once its marker exists. Running a shard twice
    (a retried task whose first run went on) is harmless: it writes the same bytes, and each
    object write is atomic.
    """
    storage = storage_at(store_path)
    context = _shard_context(store_path, _stamp(storage))
    config = context.config
    start = shard * config.shard_size
    n = context.root.shard_length(shard)
    size = config.size
    buffers = _shard_buffers(n, size, config.shard_size, context.teacher is not None)
    full_fgbg = np.zeros((n, size, size, 3), np.uint8) if context.teacher else None
    streams = PlacementStreams(config.seed)
    for row, plan_index in enumerate(context.order[start : start + n]):
        check_interrupt()  # in-process builds: a shard takes seconds
        rng = streams.of(int(plan_index))
        _render_into(context, int(plan_index), rng, row, buffers, full_fgbg)
    if context.teacher is not None:
        estimate = context.teacher.estimate(full_fgbg)
        depth = buffers["depth"]
        assert isinstance(depth, _Packed)
        depth.append(schema.quantize_depth(estimate.depth, config.max_depth))  # whole frames
        buffers["teacher_fit"] = estimate.fit
    checksums = {}
    for name, rows in buffers.items():
        array, layout = context.sample_arrays[name]
        if isinstance(rows, _Packed):
            data = layout.encode(rows.room, shard, filled=rows.filled)
        else:
            data = layout.encode(rows, shard)
        storage.write_bytes(f"{array.path}/{schema.shard_key(array, shard)}", data)
        checksums[name] = f"{zlib.crc32(data):08x}"
    result = {"shard": shard, "n_samples": n, "checksums": checksums}
    storage.write_json(f"{PROGRESS_DIR}/{_marker_name(shard)}", result)
    return result


def regenerate(store_path: str, index: int) -> dict[str, np.ndarray]:
    """Render sample `index` again from its placement record and the stored assets.

    Returns the exact composite (``fgbg`` before JPEG coding), ``mask`` and the depth layer
    (``depth``, uint16 units, 0 where the bg depth shows) - what the build stored, bar the JPEG
    - and in a teacher store the teacher's ``teacher_fit`` row (scale, shift) of the composite.
    The shadow is rebuilt from the record's ``records_shadow`` row (none in a format-1 store).
    """
    storage = storage_at(store_path)
    context = _shard_context(store_path, _stamp(storage))
    plan_index = int(context.group["records"][index, 0])
    shadow = schema.NO_SHADOW
    if "records_shadow" in schema.sample_arrays(context.root.fgd_format):
        shadow = schema.ShadowParams(*(float(v) for v in context.group["records_shadow"][index]))
    size = context.config.size
    buffers = _empty_buffers(1, size, 1)
    fgbg = np.zeros((1, size, size, 3), np.uint8)
    rng = placement_rng(context.config.seed, plan_index)
    _render_into(context, plan_index, rng, 0, buffers, fgbg, shadow)
    mask, fg_depth = buffers["mask"], buffers["fg_depth"]
    assert isinstance(mask, _Packed) and isinstance(fg_depth, np.ndarray)
    sample = {
        "fgbg": fgbg[0],
        "mask": schema.unpack_layer(mask.payloads, buffers["records"][0], size),
    }
    sample["depth"] = schema.depth_layer(sample["mask"], int(fg_depth[0, 0]))
    if context.teacher is not None:
        estimate = context.teacher.estimate(fgbg)
        sample["depth"] = schema.quantize_depth(estimate.depth, context.config.max_depth)[0]
        sample["teacher_fit"] = estimate.fit[0]
    return sample


def finalize(store_path: str) -> None:
    """Record every shard's checksums in the root attributes and mark the store complete."""
    storage = storage_at(store_path)
    group = storage.open_group(mode="r+")
    root = RootAttrs.from_dict(group.attrs.asdict())
    if root.status == "complete":
        return
    markers = [storage.read_json(f"{PROGRESS_DIR}/{_marker_name(s)}") for s in range(root.n_shards)]
    missing = [s for s, marker in enumerate(markers) if marker is None]
    if missing:
        raise RuntimeError(f"{store_path}: shards {missing} have no marker; rerun the build")
    integrity = {name: [m["checksums"][name] for m in markers] for name in root.sample_arrays}
    group.attrs.put(replace(root, status="complete", integrity=integrity).to_dict())
    storage.remove(PROGRESS_DIR)


def directory_bytes(path: str | Path) -> int:
    """Bytes of all objects of the store (or of any folder) at `path`, a path or URL."""
    return storage_at(path).total_bytes()


#: Build options older formats did not record, and the value their stores were built with.
_FORMAT_DEFAULTS: dict[int, dict[str, Any]] = {1: {"shadows": "off"}}


def config_from_attrs(attrs: dict[str, Any] | RootAttrs, out: str) -> BuildConfig:
    """Rebuild the BuildConfig a store was made with (runtime keys from its attributes)."""
    root = attrs if isinstance(attrs, RootAttrs) else RootAttrs.from_dict(attrs)
    values = {
        **_FORMAT_DEFAULTS.get(root.fgd_format, {}),
        **root.runtime,
        **root.config,
        "out": out,
    }
    return BuildConfig(**{f.name: values[f.name] for f in fields(BuildConfig) if f.name in values})


# --- internals -------------------------------------------------------------------------------


@dataclass
class _ShardContext:
    group: zarr.Group
    root: RootAttrs
    config: BuildConfig
    order: np.ndarray
    bg: np.ndarray
    bg_depth_units: np.ndarray
    bg_depth: np.ndarray
    bg_ground: np.ndarray
    bg_light: list[schema.SceneLight | None]
    fg: list[np.ndarray]
    teacher: DepthTeacher | None

    @cached_property
    def receivers(self) -> list[np.ndarray | None]:
        """Where each bg shows its ground plane (None: everywhere, for bgs without one)."""
        out: list[np.ndarray | None] = []
        for depth, (horizon_y, ground_k) in zip(self.bg_depth, self.bg_ground, strict=True):
            finite = bool(np.isfinite(ground_k))
            out.append(shadows.ground_receiver(depth, horizon_y, ground_k) if finite else None)
        return out

    @cached_property
    def sample_arrays(self) -> dict[str, tuple[zarr.Array, ShardLayout]]:
        """Each per-sample array and the layout its shard objects are written in."""
        names = self.root.sample_arrays
        return {name: (self.group[name], layout_of(self.group[name])) for name in names}

    @cached_property
    def cutouts(self) -> dict[tuple[int, bool], list[np.ndarray]]:
        """Mip levels of the premultiplied working copies by (fg id, flip), without jitter."""
        return {
            (fg_id, flip): mip_levels(prepare_cutout(fg, flip, IDENTITY_JITTER))
            for fg_id, fg in enumerate(self.fg)
            for flip in (False, True)
        }


@lru_cache(maxsize=2)
def _shard_context(store_path: str, stamp: int) -> _ShardContext:
    """Per-process cache of what every shard of a store needs (`stamp`: see :func:`_stamp`)."""
    cv2.setNumThreads(1)
    group = storage_at(store_path).open_group(mode="r+")
    root = RootAttrs.from_dict(group.attrs.asdict())
    config = config_from_attrs(root, store_path)
    depth_units = group["bg_depth"][...]
    fg, fg_shape = group["fg"][...], group["fg_shape"][...]
    lights = group["bg_light"][...] if "bg_light" in schema.asset_arrays(root.fgd_format) else []
    return _ShardContext(
        group=group,
        root=root,
        config=config,
        order=sample_order(config.seed, root.n_samples),
        bg=group["bg"][...],
        bg_depth_units=depth_units,
        bg_depth=schema.depth_metres(depth_units),
        bg_ground=group["bg_ground"][...],
        bg_light=[
            None if np.isnan(row).any() else schema.SceneLight(*(float(v) for v in row))
            for row in lights
        ],
        fg=[fg[i, :h, :w] for i, (h, w) in enumerate(fg_shape)],
        teacher=_teacher(config),
    )


def sample_order(seed: int, n: int) -> np.ndarray:
    """Plan index of the sample at each storage position (a seeded shuffle)."""
    return np.random.default_rng([seed, _ORDER_SALT]).permutation(n)


def _render_into(
    context: _ShardContext,
    plan_index: int,
    rng: np.random.Generator,
    row: int,
    buffers: Buffers,
    full_fgbg: np.ndarray | None,
    shadow: schema.ShadowParams | None = None,
) -> None:
    """Render sample `plan_index` into row `row` of `buffers` (its payloads after the others
    in their packed arrays) and of `full_fgbg` (for the teacher), drawing from `rng` (its
    :func:`~datagen.builder.composite.placement_rng` stream); `shadow` replaces the shadow the
    stream would draw (regenerate's record)."""
    config = context.config
    entry = plan_entry(plan_index, len(context.fg), config.n_flips, config.positions)
    horizon_y, ground_k = (float(v) for v in context.bg_ground[entry.bg_id])
    bg_depth = context.bg_depth[entry.bg_id]
    placement = draw_placement(
        entry,
        rng,
        size=config.size,
        fg_shape=context.fg[entry.fg_id].shape[:2],
        horizon_y=horizon_y,
        ground_k=ground_k,
        bg_depth=bg_depth,
        scale_range=(config.scale_min, config.scale_max),
        max_outside=config.max_outside,
        max_depth=config.max_depth,
        jitter=config.fg_jitter,
    )
    if shadow is None:
        shadow = _draw_shadow(context, entry.bg_id, rng)
    if placement.jitter == IDENTITY_JITTER:
        levels = context.cutouts[entry.fg_id, entry.flip]
        cutout = pick_level(levels, placement.height, placement.width)
    else:
        cutout = prepare_cutout(context.fg[entry.fg_id], entry.flip, placement.jitter)
    caster = None
    if shadow != schema.NO_SHADOW:
        caster = partial(
            shadows.shade,
            params=shadow,
            size=config.size,
            contact=(placement.y + placement.height - 1, placement.x + placement.width / 2),
            horizon_y=horizon_y,
            receiver=context.receivers[entry.bg_id],
        )
    composite = render(placement, context.bg[entry.bg_id], bg_depth, cutout, caster)
    jpeg, quality = encode_in_slot(
        composite.rgb, config.jpeg_quality, SPEC["fgbg_jpeg"].slot(config.size)
    )
    rendered = schema.Rendered(
        plan_index=plan_index,
        placement=placement,
        composite=composite,
        jpeg=jpeg,
        quality=quality,
        fg_units=schema.quantize_depth(placement.contact_depth, config.max_depth),
        shadow=shadow,
    )
    for name, rows in buffers.items():
        spec = SPEC[name]
        if spec.encode_payload is not None:
            rows.append(spec.encode_payload(rendered))  # type: ignore[union-attr]
        elif spec.encode_sample is not None:  # not the teacher's arrays: written after it ran
            spec.encode_sample(rendered, rows[row])  # type: ignore[index]
    if full_fgbg is not None:
        full_fgbg[row] = composite.paste(context.bg[entry.bg_id])[0]


def _draw_shadow(
    context: _ShardContext, bg_id: int, rng: np.random.Generator
) -> schema.ShadowParams:
    """The sample's shadow, drawn from its placement generator after the placement."""
    config = context.config
    if config.shadows == "off":
        return schema.NO_SHADOW
    return shadows.draw_shadow_params(
        rng,
        context.bg_light[bg_id] if context.bg_light else None,
        strength_range=(config.shadow_strength_min, config.shadow_strength_max),
        hard=config.shadows == "hard",
        p_shadow=config.shadow_p,
    )


@dataclass
class _Packed:
    """One shard of a packed array as the builder fills it: its samples' payloads back to back
    at the front of `room` (the shard's elements); what lies past `filled` is never written."""

    room: np.ndarray
    filled: int = 0

    def append(self, payload: np.ndarray) -> None:
        """Add the next sample's payload (any shape: its elements in C order)."""
        flat = payload.reshape(-1)
        self.room[self.filled : self.filled + flat.size] = flat
        self.filled += flat.size

    @property
    def payloads(self) -> np.ndarray:
        return self.room[: self.filled]


#: One shard's per-sample arrays as the builder fills them: rows of each unpacked array (zeroed
#: before the shard) and the payloads of each packed one.
Buffers = dict[str, "np.ndarray | _Packed"]


def _empty_buffers(
    n: int,
    size: int,
    shard_size: int,
    teacher: bool = False,
    zeros: Callable[..., np.ndarray] = np.zeros,
) -> Buffers:
    """The buffers of a shard of `n` samples of a store of `shard_size` samples per shard (a
    teacher store's, with `teacher`), their memory made by `zeros` (an ``np.zeros`` alike)."""
    buffers: Buffers = {}
    for name in schema.sample_arrays(teacher=teacher):
        spec = SPEC[name]
        if spec.packed(schema.FORMAT_VERSION):
            buffers[name] = _Packed(zeros((spec.shard_elements(size, shard_size),), spec.dtype))
        else:
            buffers[name] = spec.empty(n, size, zeros)
    return buffers


#: Per thread (a threaded Dask worker runs shards side by side): (size, shard size, teacher
#: store or not; the buffers). Kept until the thread's end, its next shard of another store
#: layout, or the end of a build_store it ran.
_reused = threading.local()


def _shard_buffers(n: int, size: int, shard_size: int, teacher: bool) -> Buffers:
    """:func:`_empty_buffers` for a shard of `n` samples, in the memory of the thread's
    previous shards.

    A shard's packed arrays take hundreds of MB of room, written only up to the shard's last
    payload. The first write into a page costs the kernel a fault and a cleared page, so the
    memory is kept for the next shard, and it is made of ordinary pages: numpy asks for 2 MB
    huge pages at this size, and the kernel clears the whole huge page a write touches, which
    can take seconds per worker (docs/benchmarks.md, "Where a shard task's time goes"). Rows
    are zeroed here, not after use, and each packed array starts empty, so that a shard that
    stopped half-way leaves nothing behind.
    """
    layout = (size, shard_size, teacher)
    held_layout, held = getattr(_reused, "buffers", (None, {}))
    if held_layout != layout:
        held = _empty_buffers(shard_size, size, shard_size, teacher, _zeros_in_small_pages)
        _reused.buffers = layout, held
    buffers: Buffers = {}
    for name, kept in held.items():
        if isinstance(kept, _Packed):
            buffers[name] = _Packed(kept.room)
        else:
            buffers[name] = rows = kept[:n]  # a view: the teacher replaces one
            rows.fill(0)
    return buffers


def _zeros_in_small_pages(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """``np.zeros(shape, dtype)`` in an anonymous memory map that asks for no huge pages."""
    dtype = np.dtype(dtype)
    count = math.prod(shape)
    memory = mmap.mmap(-1, max(1, count * dtype.itemsize))
    if hasattr(mmap, "MADV_NOHUGEPAGE"):  # Linux
        memory.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(memory, dtype, count).reshape(shape)


def encode_in_slot(rgb: np.ndarray, quality: int, slot: int) -> tuple[bytes, int]:
    """JPEG of `rgb` that fits in `slot` bytes, lowering the quality only if it must.

    A cut JPEG would not decode, so the quality goes as low as it must (a box with its shadow
    can cover the whole frame); even quality 1 of pure noise takes well under the slot's byte
    per pixel.
    """
    if rgb.size == 0:
        return b"", 0
    while True:
        data = encode_jpeg(rgb, quality)
        if len(data) <= slot:
            return data, quality
        if quality == 1:
            raise RuntimeError(f"a {rgb.shape[1]}x{rgb.shape[0]} JPEG does not fit {slot} bytes")
        quality = max(1, quality - 5)


def _write_assets(
    group: zarr.Group,
    config: BuildConfig,
    assets: Assets,
    storage: Storage,
    bg_fit: np.ndarray | None,
) -> None:
    """(Re)create every array, write the assets (and a teacher's `bg_fit` of each bg), then
    mark the assets as durable."""
    storage.remove(PROGRESS_DIR)
    schema.write_asset_arrays(group, assets, config.size, config.max_depth)
    if bg_fit is not None:
        SPEC["bg_teacher_fit"].create(group, len(bg_fit), config.size)[...] = bg_fit
    schema.create_sample_arrays(
        group,
        int(group.attrs["n_samples"]),
        config.size,
        config.chunk_size,
        config.shard_size,
        teacher=bg_fit is not None,
    )
    storage.sync_all()
    storage.write_json(_ASSETS_MARKER, {"assets_digest": assets.digest})


@contextmanager
def _shard_runner(
    storage: Storage, workers: int, dask: str | None
) -> Iterator[Callable[[list[int]], Iterator[dict[str, Any]]]]:
    """Check that the store is reachable from the workers; yield ``run(shards)``.

    With `dask`, the cluster is reached (or started) before anything is written.
    """
    if dask is None:
        if storage.in_process_only and workers > 1:
            raise InputError(
                f"--out {storage.name}: a memory:// store lives in this process only, where "
                "worker processes cannot reach it: use --workers 1 (or --dask local:N, threads)"
            )
        yield partial(_run_shards, storage.name, workers=workers)
        return
    from datagen.builder.cluster import DaskTarget, dask_runner

    with dask_runner(DaskTarget.parse(dask), storage.in_process_only) as run:
        yield partial(run, build_shard, storage.shared_url)


def _run_shards(store_path: str, shards: list[int], workers: int) -> Iterator[dict[str, Any]]:
    """Yield each shard's result as it finishes, in-process or across worker processes."""
    if not shards:
        return
    if workers == 1 or len(shards) == 1:
        for shard in shards:
            yield build_shard(store_path, shard)
        return
    with process_pool(min(workers, len(shards))) as pool:
        yield from completed(pool.submit(build_shard, store_path, s) for s in shards)


def _teacher(config: BuildConfig) -> DepthTeacher | None:
    if config.depth != "teacher":
        return None
    from datagen.builder.teacher import DepthTeacher

    return DepthTeacher.load(config.depth_model or "", config.max_depth, scale=config.depth_scale)


def _existing_build(storage: Storage) -> dict[str, Any] | None:
    """The root attributes of the fgd store at `storage`, or None if there is none."""
    attrs = (storage.read_json("zarr.json") or {}).get("attributes", {})
    return attrs if isinstance(attrs, dict) and "fgd_format" in attrs else None


def _build_key(attrs: dict[str, Any]) -> dict[str, Any]:
    """What must match for a rerun to continue a build: store format, content config and
    asset digest."""
    return {
        "format": attrs.get("fgd_format"),
        "config": attrs.get("config"),
        "assets_digest": attrs.get("assets_digest"),
    }


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old_config = old.get("config") or {}
    # Both sides' keys: a key recorded only when set (RECORDED_WHEN_SET) may be on one side.
    keys = {**old_config, **new["config"]}
    changed = [k for k in keys if old_config.get(k) != new["config"].get(k)]
    if old.get("assets_digest") != new["assets_digest"]:
        changed.append("assets (files or generated pixels)")
    if old.get("format") != new["format"]:
        changed.append(f"store format ({old.get('format')}; this fgd writes {new['format']})")
    return changed


def _marker_name(shard: int) -> str:
    return f"shard-{shard:06d}.json"


def _stamp(storage: Storage) -> int:
    """Identity of a store's root metadata (its config and assets digest), for caching."""
    return zlib.crc32(storage.read_bytes("zarr.json"))
