"""Byte identity of whole stores across code changes.

``fixtures/store_digests.json`` holds a SHA-256 of every file (metadata and shards alike) of a
few tiny stores, recorded with the code before the store contract was refactored. Each test
rebuilds one store and compares every file's digest, so a refactor that changes one stored byte
(an attribute's order in ``zarr.json``, a codec setting, a pixel) fails here.

Builds run from a scratch working folder with relative paths (``--out store.zarr``, ``--bg bg``
with ``bg`` a link to the real photos): the root attributes record every path option, which
would otherwise differ between temporary folders and checkouts.

Regenerate the fixture (only for an intended format change) with
``python -m tests.datagen.test_store_identity``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from datagen.build import build_store
from tests.conftest import REAL_SAMPLES
from tests.datagen.conftest import tiny_config

FIXTURE = Path(__file__).with_name("fixtures") / "store_digests.json"
OUT = "store.zarr"


def write_bg_depth(folder: Path, bg_folder: Path) -> None:
    """One synthetic depth map per bg photo: a .npy (metres) for even ones, a .png (mm) else."""
    folder.mkdir()
    for k, photo in enumerate(sorted(bg_folder.iterdir())):
        h, w = cv2.imread(str(photo)).shape[:2]
        rows = np.linspace(2.0 + k, 20.0, h, dtype=np.float32)[:, None]
        depth = np.repeat(rows, w, axis=1) + np.linspace(0.0, 1.0, w, dtype=np.float32)
        if k % 2 == 0:
            np.save(folder / f"{photo.stem}.npy", depth)
        else:
            cv2.imwrite(str(folder / f"{photo.stem}.png"), np.rint(depth * 1000).astype(np.uint16))


REAL = {"bg": "bg", "fg": "fg", "n_bg": 2, "n_fg": 2}

#: Store name -> (BuildConfig overrides of tiny_config, needs the real photos).
CASES: dict[str, tuple[dict[str, object], bool]] = {
    "procedural": ({}, False),
    "no_flip": ({"flip": False}, False),
    "jpeg_quality_80": ({"jpeg_quality": 80}, False),
    "jitter_two_workers": ({"fg_jitter": True, "workers": 2}, False),
    "real": (REAL, True),
    "real_bg_depth": ({**REAL, "bg_depth": "bg_depth"}, True),
}


def store_digests(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root`, by relative POSIX path."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def build_case(name: str, cwd: Path) -> dict[str, str]:
    """Build store `name` of :data:`CASES` as ``cwd/store.zarr``; return its file digests."""
    overrides, real = CASES[name]
    if real:
        for kind in ("bg", "fg"):
            (cwd / kind).symlink_to(REAL_SAMPLES / kind)
        write_bg_depth(cwd / "bg_depth", REAL_SAMPLES / "bg")
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        build_store(tiny_config(Path(OUT), **overrides), progress=False)
    finally:
        os.chdir(previous)
    return store_digests(cwd / OUT)


@pytest.mark.parametrize("name", sorted(CASES))
def test_store_bytes_are_unchanged(name: str, tmp_path: Path) -> None:
    if CASES[name][1] and not (REAL_SAMPLES / "bg").is_dir():
        pytest.skip("../shared/real-samples is not present")
    expected = json.loads(FIXTURE.read_text())[name]
    actual = build_case(name, tmp_path)
    assert sorted(actual) == sorted(expected), "the store's files differ"
    changed = [key for key in expected if actual[key] != expected[key]]
    assert not changed, f"files with other bytes: {changed}"


def _regenerate(scratch: Path) -> None:
    digests = {}
    for name in sorted(CASES):
        cwd = scratch / name
        cwd.mkdir()
        digests[name] = build_case(name, cwd)
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    import tempfile

    if not (REAL_SAMPLES / "bg").is_dir():
        sys.exit(f"{REAL_SAMPLES} is needed to record every store")
    with tempfile.TemporaryDirectory() as scratch:
        _regenerate(Path(scratch))
