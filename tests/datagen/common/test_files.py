"""Outputs are whole or absent: one file (`atomic_output`), or several (`write_files_atomic`);
and never outside the folder the user named (`inside`)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import datagen.common.files
from datagen.common.errors import InputError, WriteError
from datagen.common.files import inside, write_bytes_atomic, write_files_atomic


def fill_the_disk_at(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes of the temporary of file `name` fail as on a full disk (after a few bytes)."""
    real = Path.write_bytes

    def write_bytes(self: Path, data) -> int:
        if self.name.startswith(f".{name}."):
            real(self, bytes(data)[:3])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def write_together(files: dict[Path, bytes]) -> None:
    write_files_atomic(files, "--out")


def test_a_group_replaces_all_its_files_or_none(tmp_path: Path, monkeypatch) -> None:
    for name in ("mask.png", "depth.png"):
        (tmp_path / name).write_bytes(b"old " + name.encode())
    fill_the_disk_at("depth.png", monkeypatch)
    new = {tmp_path / name: f"new {name}".encode() for name in ("mask.png", "depth.png", "o.png")}
    with pytest.raises(WriteError, match=r"^--out .*depth\.png: the disk is full$"):
        write_together(new)
    # The mask written before the failure did not replace the old one: the folder still
    # holds one prediction, the old one, and no temporaries.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["depth.png", "mask.png"]
    assert (tmp_path / "mask.png").read_bytes() == b"old mask.png"
    monkeypatch.undo()
    write_together(new)
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == new


def test_an_interrupt_inside_a_group_leaves_the_targets(tmp_path: Path, monkeypatch) -> None:
    def interrupted(*args: object) -> None:  # Ctrl-C once every file is staged
        raise KeyboardInterrupt

    monkeypatch.setattr(datagen.common.files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_together({tmp_path / "a.png": b"a", tmp_path / "b.png": b"b"})
    assert list(tmp_path.iterdir()) == []


def test_a_single_file_on_a_full_disk_is_a_write_error(tmp_path: Path, monkeypatch) -> None:
    fill_the_disk_at("grid.png", monkeypatch)
    with pytest.raises(WriteError, match=r"^--out .*grid\.png: the disk is full$"):
        write_bytes_atomic(tmp_path / "grid.png", b"png", "--out")
    assert list(tmp_path.iterdir()) == []


def test_inside_takes_paths_in_the_folder_and_refuses_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "out"
    (root / "real").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    for path in (root, root / "a" / "mask.png", root / "real" / ".." / "b", root / "new" / "x"):
        assert inside(root, path, "--out") == path
    outside = [
        root / ".." / "mask.png",  # a pair folder named after the stem ".."
        root / "real" / ".." / ".." / "x",
        tmp_path / "out2" / "x",  # shares the root's name as a prefix only
        root / "link" / "mask.png",  # a folder in it that links elsewhere
        Path("/") / "etc" / "x",
    ]
    for path in outside:
        with pytest.raises(InputError, match=r"^--out .*out: .* would be written outside it"):
            inside(root, path, "--out")
    assert inside(root / "real" / "..", root / "c", "--out") == root / "c"  # the root resolved too
