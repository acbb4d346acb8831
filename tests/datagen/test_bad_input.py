"""Every bad input gets one line naming the file or option, exit code 2, and no store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cli import fgd


def write_bg(folder: Path, count: int = 2, size: int = 80) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        cv2.imwrite(
            str(folder / f"bg_{i}.jpg"), rng.integers(0, 256, (size, size + 10, 3), dtype=np.uint8)
        )
    return folder


def write_fg(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        rgba = np.zeros((60, 30, 4), np.uint8)
        rgba[5:55, 5:25] = (40 * i, 200, 90, 255)
        cv2.imwrite(str(folder / f"fg_{i}.png"), rgba)
    return folder


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(fgd, list(args))
    return result.exit_code, result.output


def assert_one_line_error(code: int, output: str, *needles: str) -> None:
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    for needle in needles:
        assert needle in lines[0], lines[0]


def build_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["datagen", "build", "--out", str(tmp_path / "out.zarr"), "--size", "64",
            "--positions", "1", "--workers", "1", "--quiet", *extra]  # fmt: skip


Case = Callable[[Path], tuple[list[str], tuple[str, ...]]]


def missing_bg(tmp: Path):
    return ["--bg", str(tmp / "nope"), "--fg", str(write_fg(tmp / "fg"))], (
        "--bg",
        "no such folder",
    )


def empty_bg(tmp: Path):
    (tmp / "empty").mkdir()
    return ["--bg", str(tmp / "empty"), "--fg", str(write_fg(tmp / "fg"))], ("holds no images",)


def only_non_images(tmp: Path):
    bg = tmp / "bg"
    bg.mkdir()
    (bg / "notes.txt").write_text("hello")
    (bg / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return ["--bg", str(bg), "--fg", str(write_fg(tmp / "fg"))], (
        "--bg",
        "holds no images (only 2 other file(s)",
        ".jpg",
    )


def cut_in_half(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def truncated_bg_jpeg(tmp: Path):
    bg = write_bg(tmp / "bg")
    cut_in_half(bg / "bg_1.jpg")
    return ["--bg", str(bg), "--fg", str(write_fg(tmp / "fg"))], ("--bg", "bg_1.jpg", "truncated")


def truncated_fg_png(tmp: Path):
    fg = write_fg(tmp / "fg")
    cut_in_half(fg / "fg_1.png")
    return ["--bg", str(write_bg(tmp / "bg")), "--fg", str(fg)], ("--fg", "fg_1.png", "truncated")


def corrupt_image(tmp: Path):
    fg = write_fg(tmp / "fg")
    (fg / "fg_9.png").write_bytes(b"\x89PNG garbage")
    return ["--bg", str(write_bg(tmp / "bg")), "--fg", str(fg)], ("fg_9.png", "cannot be decoded")


def fg_without_alpha(tmp: Path):
    fg = tmp / "fg"
    fg.mkdir()
    cv2.imwrite(str(fg / "rgb.png"), np.full((40, 20, 3), 128, np.uint8))
    return ["--bg", str(write_bg(tmp / "bg")), "--fg", str(fg)], ("rgb.png", "no alpha channel")


def transparent_fg(tmp: Path):
    fg = tmp / "fg"
    fg.mkdir()
    cv2.imwrite(str(fg / "ghost.png"), np.zeros((40, 20, 4), np.uint8))
    return ["--bg", str(write_bg(tmp / "bg")), "--fg", str(fg)], ("ghost.png", "transparent")


def small_bg(tmp: Path):
    bg = write_bg(tmp / "bg", size=40)
    return ["--bg", str(bg), "--fg", str(write_fg(tmp / "fg"))], ("bg_0.jpg", "too small")


def too_many_files(tmp: Path):
    args = ["--bg", str(write_bg(tmp / "bg")), "--fg", str(write_fg(tmp / "fg")), "--n-bg", "5"]
    return args, ("--bg", "asked for 5")


def bad_size(tmp: Path):
    return ["--size", "7"], ("--size",)


def non_numeric_size(tmp: Path):
    return ["--size", "big"], ("fgd datagen build", "--size", "big")


def zero_bg(tmp: Path):
    return ["--n-bg", "0"], ("--n-bg",)


def builtin_fg_without_fg(tmp: Path):
    return ["--builtin-fg", "3"], ("--builtin-fg", "needs --fg")


def zero_builtin_fg(tmp: Path):
    return ["--fg", str(write_fg(tmp / "fg")), "--builtin-fg", "0"], ("--builtin-fg", "from 1")


def bad_scale(tmp: Path):
    return ["--scale-range", "0.9,0.2"], ("--scale-range",)


def bad_shadow_mode(tmp: Path):
    return ["--shadows", "dramatic"], ("--shadows", "dramatic")


def bad_shadow_p(tmp: Path):
    return ["--shadow-p", "1.5"], ("--shadow-p", "probability")


def bad_shadow_strength(tmp: Path):
    return ["--shadow-strength", "0.5,1.2"], ("--shadow-strength", "< 1")


def non_numeric_shadow_strength(tmp: Path):
    return ["--shadow-strength", "dark"], ("--shadow-strength", "MIN,MAX")


def not_torchscript(tmp: Path):
    model = tmp / "model.pt"
    model.write_bytes(b"definitely not a model")
    return ["--depth", "teacher", "--depth-model", str(model)], ("--depth-model", "TorchScript")


def teacher_without_model(tmp: Path):
    return ["--depth", "teacher"], ("--depth-model",)


def not_a_depth_model(tmp: Path):
    torch = pytest.importorskip("torch")

    class Classifier(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3))

    path = tmp / "classifier.pt"
    torch.jit.script(Classifier()).save(str(path))
    return ["--depth", "teacher", "--depth-model", str(path)], ("not a depth model",)


def out_under_a_file(tmp: Path):
    (tmp / "file").write_text("x")
    return ["--out", str(tmp / "file" / "deeper" / "s.zarr")], ("--out", "is a file, not a folder")


def out_is_foreign_folder(tmp: Path):
    (tmp / "precious").mkdir()
    (tmp / "precious" / "thesis.tex").write_text("x")
    return ["--out", str(tmp / "precious"), "--overwrite"], ("not an fgd store",)


def _bg_depth_case(tmp: Path, write: Callable[[Path], None]) -> list[str]:
    """--bg of two photos, --fg, and a --bg-depth folder that `write` fills."""
    depth = tmp / "depth"
    depth.mkdir()
    write(depth)
    return ["--bg", str(write_bg(tmp / "bg")), "--fg", str(write_fg(tmp / "fg")),
            "--bg-depth", str(depth)]  # fmt: skip


def bg_depth_missing_map(tmp: Path):
    args = _bg_depth_case(tmp, lambda d: np.save(d / "bg_0.npy", np.full((80, 90), 4.0)))
    return args, ("--bg-depth", "no depth map for bg_1.jpg", "bg_1.npy")


def bg_depth_not_numeric(tmp: Path):
    def write(d: Path) -> None:
        np.save(d / "bg_0.npy", np.full((80, 90), "far"))
        np.save(d / "bg_1.npy", np.full((80, 90), 4.0))

    return _bg_depth_case(tmp, write), ("--bg-depth", "bg_0.npy", "not a numeric .npy")


def bg_depth_8_bit_png(tmp: Path):
    def write(d: Path) -> None:
        cv2.imwrite(str(d / "bg_0.png"), np.full((80, 90), 200, np.uint8))
        np.save(d / "bg_1.npy", np.full((80, 90), 4.0))

    return _bg_depth_case(tmp, write), ("--bg-depth", "bg_0.png", "16-bit PNG")


def bg_depth_not_positive(tmp: Path):
    def write(d: Path) -> None:
        np.save(d / "bg_0.npy", np.full((80, 90), 4.0))
        np.save(d / "bg_1.npy", np.full((80, 90), -1.0))

    return _bg_depth_case(tmp, write), ("--bg-depth", "bg_1.npy", "finite, positive")


def _labels_case(tmp: Path, text: str) -> list[str]:
    """--bg, and --fg of fg_0.png and fg_1.png with a labels.csv of ``text``."""
    fg = write_fg(tmp / "fg")
    (fg / "labels.csv").write_text(text)
    return ["--bg", str(write_bg(tmp / "bg")), "--fg", str(fg)]


def labels_without_header(tmp: Path):
    args = _labels_case(tmp, "fg_0.png,person\nfg_1.png,animal\n")
    return args, ("--fg", "labels.csv", "header name,kind")


def labels_naming_no_file(tmp: Path):
    args = _labels_case(tmp, "name,kind\nfg_0.png,person\nfg_7.png,animal\n")
    return args, ("labels.csv", "row 3", "'fg_7.png'", "no file of")


def labels_missing_a_cutout(tmp: Path):
    args = _labels_case(tmp, "name,kind\nfg_0.png,person\n")
    return args, ("labels.csv", "no kind for 'fg_1.png'")


def labels_twice(tmp: Path):
    args = _labels_case(tmp, "name,kind\nfg_0.png,person\nfg_0.png,animal\nfg_1.png,x\n")
    return args, ("labels.csv", "row 3", "a second time")


def labels_empty_kind(tmp: Path):
    args = _labels_case(tmp, "name,kind\nfg_0.png,\nfg_1.png,animal\n")
    return args, ("labels.csv", "row 2", "no kind")


def labels_three_fields(tmp: Path):
    args = _labels_case(tmp, "name,kind\nfg_0.png,person,tall\nfg_1.png,animal\n")
    return args, ("labels.csv", "row 2", "3 fields")


def bg_depth_without_bg(tmp: Path):
    (tmp / "depth").mkdir()
    return ["--bg-depth", str(tmp / "depth")], ("--bg-depth needs --bg",)


CASES: list[Case] = [
    missing_bg, empty_bg, only_non_images, truncated_bg_jpeg, truncated_fg_png, corrupt_image,
    fg_without_alpha, transparent_fg, small_bg,
    too_many_files, bad_size, non_numeric_size, zero_bg, builtin_fg_without_fg, zero_builtin_fg,
    bad_scale, bad_shadow_mode,
    bad_shadow_p, bad_shadow_strength, non_numeric_shadow_strength, not_torchscript,
    teacher_without_model, not_a_depth_model, out_under_a_file, out_is_foreign_folder,
    bg_depth_missing_map, bg_depth_not_numeric, bg_depth_8_bit_png, bg_depth_not_positive,
    bg_depth_without_bg, labels_without_header, labels_naming_no_file, labels_missing_a_cutout,
    labels_twice, labels_empty_kind, labels_three_fields,
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, case: Case) -> None:
    extra, needles = case(tmp_path)
    code, output = run(*build_args(tmp_path), *extra)
    assert_one_line_error(code, output, *needles)
    assert not (tmp_path / "out.zarr").exists()
    if case is out_is_foreign_folder:
        assert (tmp_path / "precious" / "thesis.tex").read_text() == "x"


@pytest.mark.parametrize("case", [truncated_bg_jpeg, truncated_fg_png], ids=lambda c: c.__name__)
def test_a_file_cut_short_is_one_line_on_the_real_stderr(tmp_path: Path, case: Case) -> None:
    """The decoders print their own lines on stderr (libjpeg's "Premature end of JPEG file",
    libpng's "Read Error"), past CliRunner: a file cut short never reaches them."""
    extra, needles = case(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-m", "cli", *build_args(tmp_path), *extra],
        capture_output=True,
        text=True,
        env=env,
    )
    assert_one_line_error(done.returncode, done.stderr, *needles)
    assert done.stderr.startswith("fgd: error: ") and not done.stdout
    assert not (tmp_path / "out.zarr").exists()


def test_existing_store_with_another_config_needs_overwrite(tmp_path: Path) -> None:
    bg, fg = write_bg(tmp_path / "bg"), write_fg(tmp_path / "fg")
    first = build_args(tmp_path, "--bg", str(bg), "--fg", str(fg))
    assert run(*first)[0] == 0
    code, output = run(*first, "--seed", "3")
    assert_one_line_error(code, output, "--out", "another config", "seed", "--overwrite")
    assert run(*first, "--seed", "3", "--overwrite")[0] == 0


def test_shards_too_large_for_the_memory_are_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A machine of 64 KB; a sample at 64 px takes ~16.5 KB while its shard is built (a 4 KB
    # JPEG slot, a 4 KB mask, an 8 KB depth layer, the records), so 8 in a shard are too many.
    pages = {"SC_PHYS_PAGES": 16, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    plan = build_args(tmp_path, "--n-bg", "2", "--n-fg", "2")  # 8 samples
    code, output = run(*plan, "--shard-size", "8", "--chunk-size", "2")
    assert_one_line_error(code, output, "--shard-size 8", "MB in memory", "smaller --shard-size")
    assert not (tmp_path / "out.zarr").exists()
    assert run(*plan, "--shard-size", "2", "--chunk-size", "2")[0] == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_out(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    code, output = run(*build_args(tmp_path), "--out", str(locked / "s.zarr"))
    assert_one_line_error(code, output, "permission denied")


@pytest.mark.parametrize("command", ["verify", "stats", "info"])
def test_reading_commands_reject_a_missing_or_foreign_store(tmp_path: Path, command: str) -> None:
    assert_one_line_error(*run("datagen", command, str(tmp_path / "nope.zarr")), "no such store")
    (tmp_path / "plain").mkdir()
    assert_one_line_error(*run("datagen", command, str(tmp_path / "plain")), "plain")


def test_stats_rejects_a_worker_count_below_one(tiny_store: Path) -> None:
    assert_one_line_error(*run("datagen", "stats", str(tiny_store), "--workers", "0"), "--workers")
