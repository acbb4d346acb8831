"""Outputs `fgd export-samples` and `fgd predict` cannot write: one line, exit 2, nothing left.

CI runs the tests as root, whom a chmod does not stop, so the read-only place is sysfs (which
takes no new files from anyone) where it is mounted, and a chmod 555 folder only for other users.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from .inference.test_pairs import assert_one_line_error, write_photo


def _can_write_in(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder this process may not write in."""
    sysfs = Path("/sys")
    if sysfs.is_dir() and not _can_write_in(sysfs):
        yield sysfs
    elif os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        yield locked
        locked.chmod(0o755)
    else:
        pytest.skip("no folder here that root may not write in")


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# (command, output arguments, words of the error); {file} is a regular file, {dir} a folder
# whose 05/mask.png is a folder too, {ro} a folder we may not write in. All but the 05/mask.png
# cases are refused before any work; those fail when that file is written.
CASES = [
    ("export-samples", ["--out", "{file}/grid.png"], ["--out", "{file} is not a folder"]),
    ("export-samples", ["--out", "{dir}"], ["--out", "{dir}", "is a directory"]),
    ("export-samples", ["--out", "{ro}/grid.png"], ["--out", "{ro}/grid.png", "cannot"]),
    ("export-samples", ["--overview", "{file}/o.png"], ["--overview", "{file} is not a folder"]),
    ("export-samples", ["--per-sample", "{file}"], ["--per-sample", "{file}: is a file"]),
    ("export-samples", ["--per-sample", "{ro}/files"], ["--per-sample", "{ro}/files", "cannot"]),
    ("export-samples", ["--per-sample", "{dir}", "--overwrite", "--no-progress"],
     ["--per-sample", "{dir}/05/mask.png", "cannot write"]),
    ("predict", ["--out", "{file}"], ["--out", "{file}: is a file"]),
    ("predict", ["--out", "{file}/o"], ["--out", "{file}/o", "{file} is a file"]),
    ("predict", ["--out", "{ro}/o"], ["--out", "{ro}/o", "cannot write in {ro}"]),
    ("predict", ["--out", "{dir}/05"], ["--out", "{dir}/05/mask.png", "cannot write"]),
]  # fmt: skip


@pytest.mark.parametrize(("command", "outputs", "words"), CASES)
def test_unwritable_output_is_one_line_and_leaves_nothing(
    fgd, tiny_store, checkpoint, tmp_path, read_only, command, outputs, words
):
    places = {"file": tmp_path / "file", "dir": tmp_path / "dir", "ro": read_only}
    places["file"].write_text("a regular file")
    (places["dir"] / "05" / "mask.png").mkdir(parents=True)
    inputs = tmp_path / "in"
    inputs.mkdir()
    if command == "predict":
        write_photo(inputs / "bg.png", 40, 60)
        write_photo(inputs / "fgbg.png", 40, 60, seed=1)
        args = ["--bg", str(inputs / "bg.png"), "--fgbg", str(inputs / "fgbg.png")]
    else:
        args = ["--store", tiny_store, "--indices", "5", "--tile", "32"]
    args += ["--checkpoint", str(checkpoint), "--device", "cpu"]
    before = tree(tmp_path)
    expand = {key: str(path) for key, path in places.items()}
    outputs = [arg.format(**expand) for arg in outputs]
    result = CliRunner().invoke(fgd, [command, *args, *outputs])
    assert_one_line_error(result, *(word.format(**expand) for word in words))
    after = tree(tmp_path)
    if "{dir}/05/mask.png" in words[1]:  # complete files of the folder may stay, no temporary
        assert set(before) <= set(after)
        assert not [name for name in after if Path(name).name.startswith(".")]
    else:
        assert after == before
