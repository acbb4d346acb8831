"""Byte identity of whole stores across code changes.

``fixtures/store_digests.json`` holds a SHA-256 of every file (metadata and shards alike) of a
few tiny format-1 stores, recorded with the code before the store contract was refactored;
``fixtures/store_digests_v2.json`` those of format-2 stores with shadows on; and
``fixtures/store_digests_v3.json`` those of the same stores in format 3, compared file for file.
So a change of one stored byte (an attribute's order, a codec setting, a pixel, a shadow)
fails here.

The older formats keep proving that the samples never changed: format 3 stores the same
samples, with mask, depth and JPEG packed (``datagen.store.schema.ArraySpec.packed``), so each store
is rebuilt, unpacked into format 2's layout (``conftest.as_format_2``) and compared with the
older fixtures: every file of a format-2 store; for a format-1 store, built with ``--shadows
off``, every file except the root ``zarr.json`` (its attributes now hold ``fgd_format`` 2,
the four shadow options in ``config``, and ``records_shadow`` in ``integrity``) and the files
of the arrays format 2 added (``records_shadow/``, ``bg_light/``).

Builds run from a scratch working folder with relative paths (``--out store.zarr``, ``--bg bg``
with ``bg`` a link to the real photos): the root attributes record every path option, which
would otherwise differ between temporary folders and checkouts.

Regenerate the format-3 fixture (only for an intended format change) with
``python -m tests.datagen.test_store_identity``; the older ones cannot be rebuilt any more
(the jitter store's format-1 digests as other OpenCV kernels write them are recorded beside it:
``JITTER_VARIANTS``).
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

from datagen.builder.build import build_store
from tests.conftest import REAL_SAMPLES
from tests.datagen.conftest import as_format_2, tiny_config

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store_digests.json"
FIXTURE_V2 = FIXTURE.with_name("store_digests_v2.json")
FIXTURE_V3 = FIXTURE.with_name("store_digests_v3.json")
#: The one file of a format-1 store that a ``--shadows off`` build writes with other bytes.
CHANGED_SINCE_V1 = frozenset({"zarr.json"})
#: OpenCV's uint8 HSV -> RGB conversion (the hue jitter) rounds with the SIMD kernel it picks for
#: the CPU it runs on (AVX2, AVX-512, ...), so the jitter store's fg_bg pixels, and with them the
#: records' JPEG lengths, depend on the machine, not on fgd. The format-1 fixture holds the bytes
#: of one kernel; this file holds, per other kernel seen, the digests of the files whose bytes it
#: changes (recorded on such a machine with ``python -m tests.datagen.test_store_identity
#: --jitter-opencv``). A store must match one of them.
JITTER_VARIANTS = FIXTURE.with_name("store_digests_jitter_opencv.json")
#: Folders of the arrays format 2 added.
NEW_SINCE_V1 = ("records_shadow/", "bg_light/")
OUT = "store.zarr"
#: Where a test writes the store unpacked into format 2's layout (its root attributes still
#: say ``out``: OUT).
UNPACKED = "unpacked.zarr"


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
OFF = {"shadows": "off"}

#: Store name -> (BuildConfig overrides of tiny_config, needs the real photos): the format-1
#: stores of ``FIXTURE``, built without shadows.
CASES: dict[str, tuple[dict[str, object], bool]] = {
    "procedural": (OFF, False),
    "no_flip": ({**OFF, "flip": False}, False),
    "jpeg_quality_80": ({**OFF, "jpeg_quality": 80}, False),
    "jitter_two_workers": ({**OFF, "fg_jitter": True, "workers": 2}, False),
    "real": ({**OFF, **REAL}, True),
    "real_bg_depth": ({**OFF, **REAL, "bg_depth": "bg_depth"}, True),
}
#: The format-2 stores of ``FIXTURE_V2``, with shadows (on every sample, to test them all).
CASES_V2: dict[str, tuple[dict[str, object], bool]] = {
    "procedural_shadows": ({"shadow_p": 1.0}, False),
    "procedural_default": ({}, False),
    "procedural_hard_two_workers": ({"shadows": "hard", "workers": 2}, False),
    "real_shadows": ({**REAL, "shadow_p": 1.0}, True),
    "real_bg_depth_shadows": ({**REAL, "bg_depth": "bg_depth", "shadow_p": 1.0}, True),
}


def store_digests(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root`, by relative POSIX path."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def as_format_2_digests(cwd: Path) -> dict[str, str]:
    """The file digests of the store :func:`build_case` built in `cwd`, unpacked into format
    2's layout."""
    return store_digests(as_format_2(cwd / OUT, cwd / UNPACKED))


def build_case(name: str, cwd: Path) -> dict[str, str]:
    """Build store `name` of :data:`CASES` or :data:`CASES_V2` as ``cwd/store.zarr``; return
    its file digests."""
    overrides, real = {**CASES, **CASES_V2}[name]
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
def test_shadows_off_keeps_the_format_1_bytes(name: str, tmp_path: Path) -> None:
    if CASES[name][1] and not (REAL_SAMPLES / "bg").is_dir():
        pytest.skip("../shared/real-samples is not present")
    expected = json.loads(FIXTURE.read_text())[name]
    variants = _jitter_variants() if CASES[name][0].get("fg_jitter") else [{}]
    build_case(name, tmp_path)
    actual = as_format_2_digests(tmp_path)
    new = sorted(key for key in actual if key.startswith(NEW_SINCE_V1))
    assert new and {key.split("/")[0] for key in new} == {"records_shadow", "bg_light"}
    assert sorted(set(actual) - set(new)) == sorted(expected), "the store's files differ"
    changed = [
        {key for key in expected if actual[key] != {**expected, **variant}[key]}
        for variant in variants
    ]
    assert CHANGED_SINCE_V1 in changed, f"files with other bytes: {sorted(min(changed, key=len))}"


@pytest.mark.parametrize("name", sorted(CASES_V2))
def test_shadow_store_bytes_are_unchanged(name: str, tmp_path: Path) -> None:
    if CASES_V2[name][1] and not (REAL_SAMPLES / "bg").is_dir():
        pytest.skip("../shared/real-samples is not present")
    for fixture, actual in (
        (FIXTURE_V3, build_case(name, tmp_path)),
        (FIXTURE_V2, as_format_2_digests(tmp_path)),
    ):
        expected = json.loads(fixture.read_text())[name]
        assert sorted(actual) == sorted(expected), f"the store's files differ ({fixture.name})"
        changed = [key for key in expected if actual[key] != expected[key]]
        assert not changed, f"files with other bytes ({fixture.name}): {changed}"


def _jitter_variants() -> list[dict[str, str]]:
    """The jitter store's files as each known OpenCV kernel writes them: the fixture's own
    ({}: no file differs) and each recorded variant (the files it writes with other bytes)."""
    return [{}, *json.loads(JITTER_VARIANTS.read_text()).values()]


def _record_jitter_digests(scratch: Path) -> None:
    """Record the files of the jitter store that this machine's OpenCV kernel writes with other
    bytes, under the name of its OpenCV release and CPU features."""
    expected = json.loads(FIXTURE.read_text())["jitter_two_workers"]
    build_case("jitter_two_workers", scratch)
    actual = as_format_2_digests(scratch)
    changed = {
        key: actual[key]
        for key in expected
        if key not in CHANGED_SINCE_V1 and actual[key] != expected[key]
    }
    recorded = json.loads(JITTER_VARIANTS.read_text())
    if changed in [{}, *recorded.values()]:
        sys.exit("this machine writes a jitter store already recorded: nothing to record")
    recorded[f"OpenCV {cv2.__version__}, {cv2.getCPUFeaturesLine()}"] = changed
    JITTER_VARIANTS.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")


def _regenerate(scratch: Path) -> None:
    digests = {}
    for name in sorted(CASES_V2):
        cwd = scratch / name
        cwd.mkdir()
        digests[name] = build_case(name, cwd)
    FIXTURE_V3.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    import tempfile

    if not (REAL_SAMPLES / "bg").is_dir():
        sys.exit(f"{REAL_SAMPLES} is needed to record every store")
    with tempfile.TemporaryDirectory() as scratch:
        if sys.argv[1:] == ["--jitter-opencv"]:
            _record_jitter_digests(Path(scratch))
        else:
            _regenerate(Path(scratch))
