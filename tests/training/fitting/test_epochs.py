"""Splits, epoch orders and the chunk-aligned loader."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagen.common.errors import InputError
from datagen.store.reader import open_store
from training.fitting.epochs import (
    EpochCursor,
    epoch_order,
    epoch_stream,
    eval_order,
    make_split,
    normalize_segments,
    remaining_stream,
    resolve_split,
    segment_order,
    window_size,
)
from training.fitting.loader import Loader


def test_scene_split_holds_out_whole_scenes(tiny_store):
    ds = open_store(tiny_store)
    split = make_split(ds.bg_ids, ds.fg_ids, "scene", 0.2, seed=0)
    train_scenes, val_scenes = set(ds.bg_ids[split.train]), set(ds.bg_ids[split.val])
    assert train_scenes.isdisjoint(val_scenes)
    assert len(val_scenes) == 1  # round(0.2 * 5 scenes)
    assert sorted([*split.train, *split.val]) == list(range(len(ds)))


def test_scene_split_is_seeded():
    bg_ids = np.repeat(np.arange(20), 7)
    fg_ids = np.tile(np.arange(7), 20)
    a, b = make_split(bg_ids, fg_ids, "scene", 0.1, 3), make_split(bg_ids, fg_ids, "scene", 0.1, 3)
    assert np.array_equal(a.val, b.val)
    held_out = {tuple(make_split(bg_ids, fg_ids, "scene", 0.1, s).held_out_bg) for s in range(8)}
    assert len(held_out) > 1


def test_random_split_sizes():
    split = make_split(*np.zeros((2, 1000), dtype=np.int32), "random", 0.1, seed=1)
    assert len(split.val) == 100
    assert np.intersect1d(split.train, split.val).size == 0


def test_scene_split_needs_two_scenes():
    with pytest.raises(InputError, match="--split random"):
        make_split(*np.zeros((2, 10), dtype=np.int32), "scene", 0.1, 0)


def _split_before_objects(bg_ids: np.ndarray, kind: str, val_fraction: float, seed: int):
    """``make_split`` as it was before cutouts could be held out (its ``scene`` and ``random``
    kinds), literally: runs recorded with those kinds must resume on the same indices."""
    rng = np.random.default_rng([seed, 0x5B1])
    n = len(bg_ids)
    if kind == "scene":
        scenes = np.unique(bg_ids)
        n_val = min(len(scenes) - 1, max(1, round(val_fraction * len(scenes))))
        is_val = np.isin(bg_ids, rng.choice(scenes, size=n_val, replace=False))
    else:
        is_val = np.zeros(n, dtype=bool)
        is_val[rng.permutation(n)[: min(n - 1, max(1, round(val_fraction * n)))]] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


@settings(max_examples=30, deadline=None)
@given(
    n_bg=st.integers(2, 40),
    n_fg=st.integers(1, 12),
    fraction=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**31),
    kind=st.sampled_from(["scene", "random"]),
)
def test_scene_and_random_splits_are_the_ones_old_runs_trained_on(n_bg, n_fg, fraction, seed,
                                                                   kind):  # fmt: skip
    bg_ids = np.repeat(np.arange(n_bg, dtype=np.int32), n_fg * 2)
    fg_ids = np.tile(np.arange(n_fg, dtype=np.int32), n_bg * 2)
    split = make_split(bg_ids, fg_ids, kind, fraction, seed)
    train, val = _split_before_objects(bg_ids, kind, fraction, seed)
    assert np.array_equal(split.train, train) and np.array_equal(split.val, val)


def _asset_ids(draw, n: int) -> np.ndarray:
    """``n`` arbitrary ids of at most 8 assets."""
    return np.array(draw(st.lists(st.integers(0, 7), min_size=n, max_size=n)), dtype=np.int32)


@st.composite
def _stores(draw) -> tuple[np.ndarray, np.ndarray]:
    """bg and fg ids of a store: a plan's full cross product (as fgd builds), or arbitrary."""
    if draw(st.booleans()):
        n_bg, n_fg, reps = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 3))
        pairs = np.array([(b, f) for b in range(n_bg) for f in range(n_fg)] * reps, np.int32)
        order = np.random.default_rng(draw(st.integers(0, 99))).permutation(len(pairs))
        return pairs[order, 0], pairs[order, 1]
    n = draw(st.integers(1, 60))
    return _asset_ids(draw, n), _asset_ids(draw, n)


@settings(max_examples=300, deadline=None)
@given(
    store=_stores(),
    kind=st.sampled_from(["scene+object", "object", "scene", "random", "auto"]),
    fraction=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**31),
)
def test_no_split_leaks_a_held_out_asset_into_training(store, kind, fraction, seed):
    bg_ids, fg_ids = store
    resolved = resolve_split(kind, bg_ids, fg_ids)[0]
    refused = None
    try:
        split = make_split(bg_ids, fg_ids, kind, fraction, seed)
    except InputError as error:
        refused = str(error)
    if refused is not None:  # too few assets, or a part left empty: said, never silent
        assert re.match(rf"--split {re.escape(resolved)}[ :]", refused)
        return
    assert split.kind == resolved != "auto"
    train, val = split.train, split.val
    assert len(train) and len(val) and np.intersect1d(train, val).size == 0
    assert np.array_equal(train, np.unique(train)) and np.array_equal(val, np.unique(val))
    assert set(bg_ids[train].tolist()).isdisjoint(split.held_out_bg.tolist())
    assert set(fg_ids[train].tolist()).isdisjoint(split.held_out_fg.tolist())
    in_bg, in_fg = np.isin(bg_ids, split.held_out_bg), np.isin(fg_ids, split.held_out_fg)
    for axis, ids, held in (("scene", bg_ids, split.held_out_bg),
                            ("object", fg_ids, split.held_out_fg)):  # fmt: skip
        n = len(np.unique(ids))
        expected = min(n - 1, max(1, round(fraction * n))) if axis in split.kind else 0
        assert len(held) == expected and set(held.tolist()) <= set(ids.tolist())
    if split.kind == "scene+object":  # val: both held out; train: neither
        assert np.array_equal(val, np.flatnonzero(in_bg & in_fg))
        assert np.array_equal(train, np.flatnonzero(~in_bg & ~in_fg))
    elif split.kind == "random":
        assert len(val) == min(len(bg_ids) - 1, max(1, round(fraction * len(bg_ids))))
    if split.kind != "scene+object":  # every sample is in one part
        assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(bg_ids)))
    if split.kind in ("scene", "object"):
        assert np.array_equal(val, np.flatnonzero(in_bg | in_fg))


def test_scene_object_holds_out_the_scenes_of_scene_and_the_cutouts_of_object():
    bg_ids = np.repeat(np.arange(30), 8)
    fg_ids = np.tile(np.arange(8), 30)
    for seed in range(5):
        both = make_split(bg_ids, fg_ids, "scene+object", 0.2, seed)
        scene = make_split(bg_ids, fg_ids, "scene", 0.2, seed)
        obj = make_split(bg_ids, fg_ids, "object", 0.2, seed)
        assert np.array_equal(both.held_out_bg, scene.held_out_bg)
        assert np.array_equal(both.held_out_fg, obj.held_out_fg)
        assert (len(both.held_out_bg), len(both.held_out_fg)) == (6, 2)
        assert len(both.val) == 6 * 2 and len(both.train) == 24 * 6
    assert len({tuple(make_split(bg_ids, fg_ids, "object", 0.2, s).held_out_fg)
                for s in range(8)}) > 1  # fmt: skip


@pytest.mark.parametrize(
    ("n_bg", "n_fg", "kind", "says"),
    [
        (5, 5, "scene+object", "the store has 5 bg scenes and 5 fg cutouts: validation shows only"),
        (200, 10, "scene+object", "200 bg scenes and 10 fg cutouts"),
        (5, 3, "scene", "3 fg cutouts, fewer than 5 of each: validation holds out scenes only"),
        (4, 50, "scene", "4 bg scenes"),
        (1, 4, "object", "1 bg scene and 4 fg cutouts, fewer than 5 of each: validation holds"),
        (1, 1, "random", "1 bg scene and 1 fg cutout: validation samples show the scene"),
    ],
)
def test_auto_resolves_to_the_most_honest_split_the_store_allows(n_bg, n_fg, kind, says):
    bg_ids = np.repeat(np.arange(n_bg), n_fg * 2)
    fg_ids = np.tile(np.arange(n_fg), n_bg * 2)
    resolved, why = resolve_split("auto", bg_ids, fg_ids)
    assert resolved == kind and says in why
    assert make_split(bg_ids, fg_ids, "auto", 0.1, 0).kind == kind
    assert resolve_split("scene", bg_ids, fg_ids) == ("scene", "")  # a kind given is kept


@pytest.mark.parametrize(
    ("kind", "bg", "fg", "instead"),
    [("object", 3, 1, "scene or random"), ("scene+object", 1, 3, "object or random"),
     ("scene+object", 3, 1, "scene or random")],
)  # fmt: skip
def test_a_split_without_two_of_an_axis_names_what_to_use(kind, bg, fg, instead):
    bg_ids, fg_ids = np.repeat(np.arange(bg), fg), np.tile(np.arange(fg), bg)
    with pytest.raises(InputError, match=f"--split {re.escape(kind)} needs at least 2 .*; use "
                                         f"--split {instead}$"):  # fmt: skip
        make_split(bg_ids, fg_ids, kind, 0.1, 0)


def _train_indices(n: int, holes: int, seed: int) -> np.ndarray:
    """Sorted indices 0..n-1 minus a few (as a split leaves them, chunks partly filtered)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=n - holes, replace=False))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(16, 400),
    chunk=st.integers(1, 64),
    batch=st.integers(1, 16),
    shuffle_chunks=st.integers(1, 4),
    world=st.integers(1, 4),
    epoch=st.integers(0, 5),
)
def test_epoch_order_ranks_partition_the_split(n, chunk, batch, shuffle_chunks, world, epoch):
    indices = _train_indices(n, n // 5, seed=n)
    window = window_size(batch, chunk, shuffle_chunks)
    parts = [epoch_order(indices, chunk, window, 7, epoch, r, world) for r in range(world)]
    assert {len(p) for p in parts} == {len(indices) // world}
    merged = np.concatenate(parts)
    assert len(np.unique(merged)) == len(merged)  # no sample twice, no overlap between ranks
    assert set(merged) <= set(indices)
    assert len(indices) - len(merged) < world  # all but the remainder of n / world
    for part in parts:  # windows are contiguous in chunk order: only boundary chunks shared
        reads = [np.unique(part[s : s + window] // chunk) for s in range(0, len(part), window)]
        if reads:
            total = sum(len(r) for r in reads)
            assert total <= len(np.unique(part // chunk)) + len(reads) - 1


def test_epoch_orders_differ_and_each_covers_the_split():
    indices = _train_indices(300, 30, seed=0)
    orders = [epoch_order(indices, 16, 32, seed=0, epoch=e) for e in range(4)]
    for order in orders:
        assert np.array_equal(np.sort(order), indices)
    assert all(not np.array_equal(orders[0], o) for o in orders[1:])
    assert np.array_equal(orders[2], epoch_order(indices, 16, 32, seed=0, epoch=2))
    assert not np.array_equal(orders[0], epoch_order(indices, 16, 32, seed=1, epoch=0))


def test_epoch_order_mixes_beyond_chunks():
    """A batch holds samples of several chunks, and the chunk order changes every epoch."""
    indices = np.arange(512)
    o0, o1 = (epoch_order(indices, 16, 64, seed=0, epoch=e) for e in (0, 1))
    assert len(np.unique(o0[:16] // 16)) > 1
    assert not np.array_equal(np.unique(o0[:64] // 16), np.unique(o1[:64] // 16))


def test_eval_order_splits_ranks_without_overlap():
    val = _train_indices(101, 10, seed=2)
    parts = [eval_order(val, r, 3) for r in range(3)]
    assert np.array_equal(np.concatenate(parts), val)


def test_window_size_is_whole_batches():
    assert window_size(32, 64, 4) == 256
    assert window_size(48, 64, 1) == 96
    assert window_size(512, 8, 2) == 512


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_delivers_the_order(tiny_store, workers):
    ds = open_store(tiny_store)
    indices = make_split(ds.bg_ids, ds.fg_ids, "scene", 0.2, 0).train
    order = epoch_order(indices, ds.chunk_size, 16, seed=0, epoch=0)
    loader = Loader(tiny_store, batch_size=4, window=16, workers=workers)
    batches = list(loader.batches(order))
    assert [b for b, _ in batches] == list(range(len(order) // 4))
    got = np.concatenate([batch["index"].numpy() for _, batch in batches])
    assert np.array_equal(got, order[: len(got)])
    _, first = batches[0]
    expected = ds.read_batch(first["index"].numpy(), depth_units=True)
    for key in ("bg", "fgbg", "mask", "depth"):
        assert first[key].numpy().dtype == expected[key].dtype
        assert np.array_equal(first[key].numpy(), expected[key])
    # a second pass (next epoch) and a pass that starts mid-epoch, on the same workers
    tail = [b for b, _ in loader.batches(order, start_batch=5)]
    assert tail == list(range(5, len(order) // 4))


def test_loader_keeps_last_partial_batch_for_eval(tiny_store):
    loader = Loader(tiny_store, batch_size=8, window=16, workers=0)
    order = np.arange(21)
    sizes = [len(batch["index"]) for _, batch in loader.batches(order, drop_last=False)]
    assert sizes == [8, 8, 5]


# ----------------------------------------------------------------------------- segments


def _run_segments(indices, chunk, window, batch, plan, seed=7, epoch=0):
    """Run ``plan`` [(world, batches, or None: to the end of the epoch)] as a trainer would.

    Returns the samples each segment trained (a list of one array per rank, in training order)
    and the segments as a checkpoint holds them.
    """
    segments, trained = [], []
    for world, batches in plan:
        parts = [
            segment_order(indices, chunk, window, batch, seed, epoch, segments, r, world)
            for r in range(world)
        ]
        done = parts[0][1]
        n_batches = len(parts[0][0]) // batch
        assert all(d == done and len(o) // batch == n_batches for o, d in parts)  # lockstep
        k = n_batches - done if batches is None else min(batches, n_batches - done)
        trained.append([order[done * batch : (done + k) * batch] for order, _ in parts])
        segments.append((world, k))
    return trained, segments


def _flat(trained) -> np.ndarray:
    return np.concatenate([np.zeros(0, dtype=np.int64)] + [p for seg in trained for p in seg])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(8, 300),
    chunk=st.integers(1, 32),
    batch=st.integers(1, 8),
    shuffle_chunks=st.integers(1, 3),
    plan=st.lists(st.tuples(st.integers(1, 4), st.integers(0, 6)), max_size=4),
    last_world=st.integers(1, 4),
)
def test_segments_train_each_sample_at_most_once(n, chunk, batch, shuffle_chunks, plan, last_world):
    """Any sequence of worlds: no sample twice, fewer than last world x batch left out."""
    indices = _train_indices(n, n // 6, seed=n)
    window = window_size(batch, chunk, shuffle_chunks)
    trained, segments = _run_segments(indices, chunk, window, batch, [*plan, (last_world, None)])
    merged = _flat(trained)
    assert len(np.unique(merged)) == len(merged)
    assert set(merged.tolist()) <= set(indices.tolist())
    assert len(indices) - len(merged) < last_world * batch
    # what the last segment starts from is the untrained rest, in the epoch's stream order
    stream = epoch_stream(indices, chunk, 7, 0)
    rest = remaining_stream(stream, window, batch, 7, 0, segments[:-1])
    assert np.array_equal(np.sort(rest), np.setdiff1d(indices, _flat(trained[:-1])))
    position = {int(v): i for i, v in enumerate(stream)}
    assert np.all(np.diff([position[int(v)] for v in rest]) > 0)


@pytest.mark.parametrize(("world", "k1", "k2"), [(1, 3, 4), (2, 1, 2), (3, 2, 0), (4, 0, 1)])
def test_same_world_segments_continue_the_uninterrupted_order(world, k1, k2):
    """Stopping and resuming with the same world replays nothing: the order goes on."""
    indices = _train_indices(400, 40, seed=1)
    window = window_size(4, 16, 2)
    (whole,), _ = _run_segments(indices, 16, window, 4, [(world, None)])
    for r, part in enumerate(whole):
        assert np.array_equal(part, epoch_order(indices, 16, window, 7, 0, r, world)[: len(part)])
    for plan in ([(world, k1), (world, k2), (world, None)], [(world, k1), (2, 0), (world, None)]):
        trained, _ = _run_segments(indices, 16, window, 4, plan)
        for r in range(world):
            mine = [seg[r] for seg in trained if len(seg) == world]
            assert np.array_equal(np.concatenate(mine), whole[r])
    order, done = segment_order(indices, 16, window, 4, 7, 0, [(world, k1)], 0, world)
    assert done == k1 and np.array_equal(order, epoch_order(indices, 16, window, 7, 0, 0, world))


def test_a_new_world_splits_the_rest_into_contiguous_blocks():
    """After 2 ranks trained 5 batches each, 3 ranks share what is left, in stream order."""
    indices = np.arange(256)
    trained, segments = _run_segments(indices, 16, 32, 4, [(2, 5), (3, 1)])
    stream = epoch_stream(indices, 16, 7, 0)
    rest = remaining_stream(stream, 32, 4, 7, 0, segments[:1])
    assert len(rest) == 256 - 2 * 5 * 4
    per_rank = len(rest) // 3
    for r, part in enumerate(trained[1]):
        assert set(part.tolist()) <= set(rest[r * per_rank : (r + 1) * per_rank].tolist())
    assert normalize_segments([(2, 5), (2, 0), (3, 0), (2, 1), (3, 2)]) == [(2, 6), (3, 2)]


def test_impossible_segments_are_refused():
    indices = np.arange(64)
    with pytest.raises(ValueError, match="exceed"):
        segment_order(indices, 8, 8, 4, 0, 0, [(2, 9)], 0, 1)  # 2 x 9 x 4 > 64
    with pytest.raises(ValueError, match="exceed"):
        segment_order(indices, 8, 8, 4, 0, 0, [(1, 17)], 0, 1)
    with pytest.raises(ValueError, match="bad segment"):
        normalize_segments([(0, 3)])


@pytest.mark.parametrize("workers", [0, 1])
def test_a_damaged_store_raises_its_one_line_error_from_a_worker(tiny_store, monkeypatch, workers):
    from datagen.common.errors import DamagedDataError
    from datagen.store.reader import FgdStore

    message = "store tiny.zarr: shard mask/c/0/0/0 is truncated (run fgd datagen verify)"

    def damaged(self, *args, **kwargs):
        raise DamagedDataError(message)

    monkeypatch.setattr(FgdStore, "read_batch", damaged)  # forked workers inherit it
    with Loader(tiny_store, 8, 16, workers) as loader, pytest.raises(DamagedDataError) as info:
        next(loader.batches(np.arange(32)))
    assert str(info.value) == message


def test_epoch_cursor_counts_batches_segments_and_epochs():
    indices = np.arange(40)
    cursor = EpochCursor(indices, chunk_size=8, window=8, batch_size=4, seed=0, world=2)
    order, done = cursor.order()
    assert done == 0 and len(order) == 20  # this rank's block of 40 // 2
    cursor.advance(end_of_epoch=False)
    cursor.advance(end_of_epoch=False)
    assert (cursor.step, cursor.epoch, cursor.batch, cursor.segments) == (2, 0, 2, [[2, 2]])
    resumed = EpochCursor(indices, chunk_size=8, window=8, batch_size=4, seed=0, world=1)
    resumed.restore(cursor.position())
    _, done = resumed.order()
    assert done == 0 and resumed.batch == 2  # a new segment: the rest split among 1 rank
    resumed.advance(end_of_epoch=True)
    assert (resumed.step, resumed.epoch, resumed.segments) == (3, 1, [])
    assert resumed.position()["segments"] == [] and resumed.position()["world_size"] == 1
