"""Outputs are whole or absent: one file (`atomic_output`), or several (`write_files_atomic`)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import datagen.files
from datagen.errors import WriteError
from datagen.files import write_bytes_atomic, write_files_atomic


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

    monkeypatch.setattr(datagen.files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_together({tmp_path / "a.png": b"a", tmp_path / "b.png": b"b"})
    assert list(tmp_path.iterdir()) == []


def test_a_single_file_on_a_full_disk_is_a_write_error(tmp_path: Path, monkeypatch) -> None:
    fill_the_disk_at("grid.png", monkeypatch)
    with pytest.raises(WriteError, match=r"^--out .*grid\.png: the disk is full$"):
        write_bytes_atomic(tmp_path / "grid.png", b"png", "--out")
    assert list(tmp_path.iterdir()) == []
