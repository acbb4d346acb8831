"""`fgd predict`: letterboxing, original sizes restored, batch modes, one-line errors."""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from training.checkpoint import load_checkpoint, save_checkpoint
from training.inference.align import corner_error
from training.inference.pairs import MIN_PHOTO_SIDE, pair_folders, read_image
from training.inference.predictor import Predictor
from training.inference.refine import refine_alpha
from training.inference.visualize import Letterbox
from training.options import PREDICT_TTA

from ..conftest import fgd_command

OUTPUTS = (
    "align.json", "alpha.png", "depth.json", "depth.png", "depth_color.png", "foreground.png",
    "mask.png", "overlay.png",
)  # fmt: skip
SETTINGS = "predict.json"  # in --out, beside the pair's outputs or its folders
REPO = Path(__file__).resolve().parents[3]


def write_photo(path: Path, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB photo (JPEG-safe content), returned as written (RGB)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    rgb = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(path), rgb[..., ::-1])
    return rgb


def invoke(fgd, *args: str):
    return CliRunner().invoke(fgd, list(args))


def assert_one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("fgd: error: ")
    for word in words:
        assert word in lines[0]


# ----------------------------------------------------------------------------- letterbox


@pytest.mark.parametrize(("h", "w"), [(480, 640), (640, 480), (100, 37), (3000, 10), (64, 64)])
def test_letterbox_fits_centres_and_pads(h, w):
    box = Letterbox(h, w, 64)
    ih, iw = box.inner
    assert max(ih, iw) == 64
    assert abs(ih / iw - h / w) <= max(1 / ih, 1 / iw) * (h / w) + 1e-9
    image = np.full((h, w, 3), 7, np.uint8)
    boxed = box.apply(image, (1, 2, 3))
    assert boxed.shape == (64, 64, 3)
    top, left = box.offset
    assert (boxed[top : top + ih, left : left + iw] == 7).all()
    assert (boxed == 7).all(axis=-1).sum() == ih * iw  # the rest is padding
    assert abs(top - (64 - ih - top)) <= 1
    assert abs(left - (64 - iw - left)) <= 1


@pytest.mark.parametrize(("h", "w"), [(120, 200), (200, 120), (40, 64)])
def test_letterbox_invert_restores_size_and_content(h, w):
    yy, xx = np.mgrid[:h, :w]
    smooth = (np.sin(yy / h * 3) + np.cos(xx / w * 2)).astype(np.float32)
    box = Letterbox(h, w, 96)
    restored = box.invert(box.apply(smooth, 0.0))
    assert restored.shape == (h, w)
    assert np.abs(restored - smooth).mean() < 0.02


# ----------------------------------------------------------------------------- fgd predict


def test_predict_one_pair_at_its_own_size(fgd, checkpoint, tmp_path):
    write_photo(tmp_path / "bg.jpg", 90, 150)
    fgbg = write_photo(tmp_path / "fgbg.png", 90, 150, seed=1)
    out = tmp_path / "out"
    result = invoke(
        fgd, "predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.jpg"),
        "--fgbg", str(tmp_path / "fgbg.png"), "--out", str(out), "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUTS, SETTINGS])
    mask = cv2.imread(str(out / "mask.png"), cv2.IMREAD_UNCHANGED)
    depth = cv2.imread(str(out / "depth.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == depth.shape == fgbg.shape[:2]
    assert mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    assert depth.dtype == np.uint16
    for name in ("depth_color.png", "overlay.png"):
        assert cv2.imread(str(out / name)).shape == fgbg.shape
    scale = json.loads((out / "depth.json").read_text())
    assert scale["unit"] == "m"
    metres = depth * scale["scale_m_per_unit"]
    assert 0 < metres.min() <= metres.max() <= scale["depth_max_m"]


def test_a_full_disk_leaves_the_earlier_prediction_whole(fgd, checkpoint, tmp_path, monkeypatch):
    write_photo(tmp_path / "bg.jpg", 90, 150)
    write_photo(tmp_path / "fgbg.png", 90, 150, seed=1)
    out = tmp_path / "out"
    args = ("predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.jpg"),
            "--fgbg", str(tmp_path / "fgbg.png"), "--out", str(out), "--device", "cpu")  # fmt: skip
    assert invoke(fgd, *args).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    write_photo(tmp_path / "fgbg.png", 90, 150, seed=2)  # another shot: another prediction
    real = Path.write_bytes

    def full_at_the_overlay(self: Path, data) -> int:  # after mask, depth and its colours
        if self.name.startswith(".overlay.png."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_at_the_overlay)
    assert_one_line_error(invoke(fgd, *args), "overlay.png: the disk is full")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no new mask, old depth


def test_predict_matches_the_predictor_and_is_deterministic(fgd, checkpoint, tmp_path):
    bg = write_photo(tmp_path / "bg.png", 70, 50)
    fgbg = write_photo(tmp_path / "fgbg.png", 70, 50, seed=3)
    args = ["predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.png"),
            "--fgbg", str(tmp_path / "fgbg.png"), "--device", "cpu"]  # fmt: skip
    for run in ("a", "b"):
        assert invoke(fgd, *args, "--out", str(tmp_path / run)).exit_code == 0
    for name in ("mask.png", "depth.png"):
        a = cv2.imread(str(tmp_path / "a" / name), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(tmp_path / "b" / name), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(a, b)
    predictor = Predictor.from_checkpoint(checkpoint, "cpu").with_tta(PREDICT_TTA)
    with torch.no_grad():
        ((prob, _),) = predictor.run_pairs([(bg, fgbg)])
        ((coarse, _),) = predictor.run_pairs_coarse([(bg, fgbg)])
    # --refine off is the probability as fgd predicted it before refinement, bit for bit
    off = invoke(fgd, *args, "--refine", "off", "--align", "off", "--out", str(tmp_path / "off"))
    assert off.exit_code == 0, off.output
    mask = cv2.imread(str(tmp_path / "off" / "mask.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask, np.where(prob >= 0.5, 255, 0))
    alpha = cv2.imread(str(tmp_path / "off" / "alpha.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(alpha, np.clip(np.rint(prob * 255), 0, 255))
    # the default refines the same coarse probability, guided by the photo and the bg
    assert invoke(fgd, *args, "--align", "off", "--out", str(tmp_path / "guided")).exit_code == 0
    refined = refine_alpha(coarse, fgbg, bg, "guided")
    alpha = cv2.imread(str(tmp_path / "guided" / "alpha.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(alpha, np.clip(np.rint(refined * 255), 0, 255))
    mask = cv2.imread(str(tmp_path / "guided" / "mask.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask, np.where(refined >= 0.5, 255, 0))


def test_predict_pairs_csv_writes_one_folder_per_pair(fgd, checkpoint, tmp_path):
    sizes = {"p1": (60, 100), "p2": (100, 60), "p3": (48, 48)}
    (tmp_path / "imgs").mkdir()
    lines = ["bg,fgbg"]
    for k, (name, (h, w)) in enumerate(sizes.items()):
        write_photo(tmp_path / "imgs" / f"{name}_bg.jpg", h, w, seed=k)
        write_photo(tmp_path / "imgs" / f"{name}.jpg", h, w, seed=10 + k)
        lines.append(f"imgs/{name}_bg.jpg,imgs/{name}.jpg")
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n\n")
    out = tmp_path / "out"
    result = invoke(
        fgd, "predict", "--checkpoint", str(checkpoint), "--pairs", str(tmp_path / "pairs.csv"),
        "--out", str(out), "--device", "cpu", "--batch-size", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted([*sizes, SETTINGS])
    for name, size in sizes.items():
        assert sorted(p.name for p in (out / name).iterdir()) == sorted(OUTPUTS)
        assert cv2.imread(str(out / name / "mask.png"), cv2.IMREAD_UNCHANGED).shape == size


def test_predict_folders_pair_files_by_name(fgd, checkpoint, tmp_path):
    for folder in ("bgs", "fgbgs"):
        (tmp_path / folder).mkdir()
    for k, name in enumerate(("a", "b")):
        write_photo(tmp_path / "bgs" / f"{name}.jpg", 40, 72, seed=k)
        write_photo(tmp_path / "fgbgs" / f"{name}.png", 40, 72, seed=5 + k)
    out = tmp_path / "out"
    args = ["predict", "--checkpoint", str(checkpoint), "--bg-dir", str(tmp_path / "bgs"),
            "--fgbg-dir", str(tmp_path / "fgbgs"), "--out", str(out),
            "--device", "cpu"]  # fmt: skip
    assert invoke(fgd, *args).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", SETTINGS]
    write_photo(tmp_path / "fgbgs" / "c.png", 40, 72)
    assert_one_line_error(invoke(fgd, *args), "--fgbg-dir", "c.png")


def test_predict_resize_matches_a_smaller_bg(fgd, checkpoint, tmp_path):
    write_photo(tmp_path / "bg.jpg", 40, 60)
    write_photo(tmp_path / "fgbg.jpg", 80, 120)
    args = ["predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.jpg"),
            "--fgbg", str(tmp_path / "fgbg.jpg"), "--out", str(tmp_path / "o"),
            "--device", "cpu"]  # fmt: skip
    assert_one_line_error(invoke(fgd, *args), "60x40", "120x80", "--resize")
    assert not (tmp_path / "o").exists()
    assert invoke(fgd, *args, "--resize").exit_code == 0
    assert cv2.imread(str(tmp_path / "o" / "mask.png")).shape[:2] == (80, 120)


def test_predict_bad_inputs_exit_2_with_one_line(fgd, checkpoint, tmp_path):
    write_photo(tmp_path / "bg.jpg", 32, 32)
    (tmp_path / "notes.txt").write_text("not an image")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    (tmp_path / "bad.csv").write_text("only_one_column.jpg\n")
    base = ["predict", "--out", str(tmp_path / "o"), "--device", "cpu"]
    pair = ["--bg", str(tmp_path / "bg.jpg"), "--fgbg", str(tmp_path / "bg.jpg")]
    ck = ["--checkpoint", str(checkpoint)]
    cases = [
        ([*ck, "--bg", str(tmp_path / "bg.jpg"), "--fgbg", str(tmp_path / "gone.jpg")],
         ["fg_bg", "gone.jpg", "no such file"]),
        ([*ck, "--bg", str(tmp_path / "notes.txt"), "--fgbg", str(tmp_path / "bg.jpg")],
         ["notes.txt", "cannot be decoded as an image"]),
        (["--checkpoint", str(tmp_path / "other.pt"), *pair],
         ["other.pt", "not an fgd checkpoint"]),
        (["--checkpoint", str(tmp_path / "notes.txt"), *pair], ["notes.txt"]),
        ([*ck, "--bg", str(tmp_path / "bg.jpg")], ["--bg and --fgbg"]),
        ([*ck], ["--pairs"]),
        ([*ck, *pair, "--pairs", str(tmp_path / "bad.csv")], ["--bg/--fgbg and --pairs"]),
        ([*ck, "--pairs", str(tmp_path / "bad.csv")], ["bad.csv line 1"]),
        ([*ck, "--bg-dir", str(tmp_path / "nowhere"), "--fgbg-dir", str(tmp_path)], ["nowhere"]),
        ([*ck, *pair, "--scales", "1.5,2"], ["--scales 1.5,2", "must include 1"]),
        ([*ck, *pair, "--scales", "1,big"], ["--scales", "'1,big'", "numbers"]),
        ([*ck, *pair, "--scales", "0.5,1"], ["--scales 0.5,1", "16 px", "32 px"]),
        ([*ck, *pair, "--scales", "1,9"], ["--scales 1,9", "(0, 4]"]),
    ]  # fmt: skip
    for args, words in cases:
        assert_one_line_error(invoke(fgd, *base, *args), *words)
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- --scales, --flip


def test_predict_records_its_settings(fgd, checkpoint, tmp_path):
    write_photo(tmp_path / "bg.png", 60, 80)
    write_photo(tmp_path / "fgbg.png", 60, 80, seed=1)
    args = ["predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.png"),
            "--fgbg", str(tmp_path / "fgbg.png"), "--device", "cpu"]  # fmt: skip
    default = invoke(fgd, *args, "--out", str(tmp_path / "d"))
    assert default.exit_code == 0, default.output
    assert "6 pass(es) per pair at 32, 48, 64 px, each also mirrored" in default.output
    settings = json.loads((tmp_path / "d" / SETTINGS).read_text())
    assert settings["scales"] == list(PREDICT_TTA.scales) and settings["flip"] is PREDICT_TTA.flip
    assert settings["input_sizes"] == [32, 48, 64] and settings["trained_size"] == 32
    single = invoke(fgd, *args, "--out", str(tmp_path / "s"), "--scales", "1", "--no-flip")
    assert "1 pass(es) per pair at 32 px)" in single.output
    assert json.loads((tmp_path / "s" / SETTINGS).read_text())["flip"] is False


# ----------------------------------------------------------------------------- --align


def test_predict_align_on_a_pair_it_cannot_align(fgd, checkpoint, tmp_path):
    """Two unrelated pictures: homography stops in one line and writes nothing; auto warns in
    one line, predicts the pair unaligned and records why; off does not try."""
    write_photo(tmp_path / "bg.png", 120, 160, seed=0)
    write_photo(tmp_path / "fgbg.png", 120, 160, seed=1)
    args = ["predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.png"),
            "--fgbg", str(tmp_path / "fgbg.png"), "--device", "cpu"]  # fmt: skip

    stopped = invoke(fgd, *args, "--out", str(tmp_path / "h"), "--align", "homography")
    assert_one_line_error(stopped, "bg.png", "cannot align to fg_bg", "--align off")
    assert not (tmp_path / "h").exists()

    auto = invoke(fgd, *args, "--out", str(tmp_path / "a"))
    assert auto.exit_code == 0, auto.output
    warnings = [line for line in auto.output.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "cannot align" in warnings[0] and "unaligned" in warnings[0]
    report = json.loads((tmp_path / "a" / "align.json").read_text())
    assert report["method"] == "auto" and report["ok"] is False and report["reason"]
    assert report["homography"] == np.eye(3).tolist()

    off = invoke(fgd, *args, "--out", str(tmp_path / "o"), "--align", "off")
    assert off.exit_code == 0 and "warning" not in off.output
    assert json.loads((tmp_path / "o" / "align.json").read_text())["ok"] is True
    for name in ("mask.png", "depth.png"):  # unaligned = off: the very same prediction
        a = cv2.imread(str(tmp_path / "a" / name), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(a, cv2.imread(str(tmp_path / "o" / name), -1))


@pytest.mark.parametrize(
    ("capture", "augmented", "cautioned"),
    [({}, True, False), ({"residual_p": 1.0}, True, True), ({"warp_p": 0.0}, True, True),
     ({"enabled": False}, True, True), ({"residual_p": 1.0, "residual_scale": 1.0}, True, False),
     ({}, False, True)],
)  # fmt: skip
def test_unaligned_warning_says_when_the_model_never_saw_a_moved_bg(
    fgd, checkpoint, tmp_path, capture, augmented, cautioned
):
    """A model trained only on aligned (or residually moved) bg shots, or with augmentation off
    altogether, is unreliable on a pair that could not be registered; the warning says so, and
    only then."""
    ckpt = load_checkpoint(checkpoint)
    ckpt["train_config"]["augment"]["capture"].update(capture)
    ckpt["train_config"]["augment"]["enabled"] = augmented
    edited = tmp_path / "edited.pt"
    save_checkpoint(edited, ckpt)
    write_photo(tmp_path / "bg.png", 120, 160, seed=0)
    write_photo(tmp_path / "fgbg.png", 120, 160, seed=1)
    result = invoke(fgd, "predict", "--checkpoint", str(edited), "--bg", str(tmp_path / "bg.png"),
                    "--fgbg", str(tmp_path / "fgbg.png"), "--device", "cpu", "--scales", "1",
                    "--no-flip", "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.output.splitlines() if "fgd: warning" in line]
    assert ("trained on aligned shots only" in warning) is cautioned


def test_predict_align_records_the_homography_of_a_shifted_photo(
    fgd, checkpoint, tmp_path, real_samples
):
    photo = cv2.imread(str(real_samples / "bg" / "bg_020.jpg"))
    bg = cv2.resize(photo, (480, 360), interpolation=cv2.INTER_AREA)
    truth = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, -3.0], [0.0, 0.0, 1.0]])
    fgbg = cv2.warpPerspective(bg, truth, (480, 360), borderMode=cv2.BORDER_REFLECT)
    cv2.imwrite(str(tmp_path / "bg.png"), bg)
    cv2.imwrite(str(tmp_path / "fgbg.png"), fgbg)
    out = tmp_path / "out"
    result = invoke(
        fgd, "predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.png"),
        "--fgbg", str(tmp_path / "fgbg.png"), "--out", str(out), "--device", "cpu",
        "--align", "homography",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "align.json").read_text())
    assert report["ok"] is True and "aligned" in report["reason"]
    assert corner_error(np.array(report["homography"]), truth, (480, 360)) < 0.5
    assert 0 <= report["residual_px"] < 1.5 and report["inliers"] >= 25


# ----------------------------------------------------------------------------- hostile inputs


def predict_args(checkpoint: Path, out: Path, *pairs: str) -> list[str]:
    """`fgd predict` of ``pairs`` into ``out`` in one fast pass (no registration, no TTA)."""
    return ["predict", "--checkpoint", str(checkpoint), *pairs, "--out", str(out),
            "--device", "cpu", "--align", "off", "--scales", "1", "--no-flip"]  # fmt: skip


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_pair_folders_are_safe_unique_and_keep_free_names():
    wanted = ["..", ".", "", "...", " ", "x", "X", "x", "pair", "x-2", "predict.json", "a\\b"]
    folders = pair_folders(wanted)
    assert len(folders) == len(wanted)
    assert len({f.casefold() for f in folders}) == len(folders)  # unique on any disk
    assert "predict.json" not in folders
    for folder in folders:
        assert folder.strip(". ") and not {"/", "\\", "\0"} & set(folder)
    # A free name is kept wherever it stands; the rest get the first free variant.
    assert folders[5] == "x" and folders[8] == "pair" and folders[9] == "x-2"
    assert folders[6] == "X-3" and folders[7] == "x-4"
    assert folders[0] == "pair-2" and folders[10] == "predict.json-2"
    assert pair_folders(["b", "a"]) == ["b", "a"]


def renamed_pairs(output: str) -> dict[str, str]:
    """fg_bg photo -> folder, from the note of `fgd predict` on pairs it renamed."""
    (note,) = [line for line in output.splitlines() if "not named after the fg_bg" in line]
    return dict(item.split(" -> ") for item in note.split("): ", 1)[1].split(", "))


def test_no_file_lands_outside_out_whatever_the_photos_are_called(fgd, checkpoint, tmp_path):
    """fg_bg photos named `...jpg` (stem `..`) and `..jpg` (stem `.`), a cell `a/../b.jpg`,
    two photos of one name in two folders, names that differ in case only: every output lands
    in a folder of its own inside --out, and a note says which pair went where. In folders,
    names starting with a dot are hidden files, passed over with a note."""
    inputs = tmp_path / "in"
    for folder in ("a", "x", "y", "bgs", "fgbgs"):
        (inputs / folder).mkdir(parents=True)
    write_photo(inputs / "b.jpg", 40, 48)
    for k, name in enumerate(("...jpg", "..jpg", "x/p.jpg", "y/p.jpg")):
        write_photo(inputs / name, 40, 48, seed=k + 1)
    (inputs / "p.csv").write_text(
        "b.jpg,...jpg\nb.jpg,..jpg\nb.jpg,a/../b.jpg\nb.jpg,x/p.jpg\nb.jpg,y/p.jpg\n"
    )
    for k, name in enumerate(("...jpg", "..jpg", " .jpg", "C.jpg", "c.jpg")):
        write_photo(inputs / "bgs" / name, 40, 48, seed=10 + k)
        write_photo(inputs / "fgbgs" / name, 40, 48, seed=20 + k)
    fgbgs = inputs / "fgbgs"
    runs = {
        "csv": (
            ["--pairs", str(inputs / "p.csv")],
            {"pair", "pair-2", "b", "p", "p-2"},
            {inputs / "...jpg": "pair", inputs / "..jpg": "pair-2", inputs / "y/p.jpg": "p-2"},
        ),
        "dirs": (
            ["--bg-dir", str(inputs / "bgs"), "--fgbg-dir", str(fgbgs)],
            {"pair", "C", "c-2"},
            {fgbgs / " .jpg": "pair", fgbgs / "c.jpg": "c-2"},
        ),
    }
    for run, (pairs, folders, renamed) in runs.items():
        out = tmp_path / run / "parent" / "out"
        out.parent.mkdir(parents=True)
        before = files_under(tmp_path)
        result = invoke(fgd, *predict_args(checkpoint, out, *pairs))
        assert result.exit_code == 0, result.output
        new = files_under(tmp_path) - before
        assert new and all(out in p.parents for p in new), sorted(new - files_under(out))
        assert {p.name for p in out.iterdir()} == {*folders, SETTINGS}
        for folder in folders:
            assert sorted(p.name for p in (out / folder).iterdir()) == sorted(OUTPUTS)
        assert renamed_pairs(result.output) == {str(k): v for k, v in renamed.items()}
    skipped = [line for line in result.output.splitlines() if "skipped 2 file(s)" in line]
    assert len(skipped) == 2 and all("...jpg" in line and "..jpg" in line for line in skipped)


def test_a_pair_folder_linked_elsewhere_is_refused_before_any_work(fgd, checkpoint, tmp_path):
    write_photo(tmp_path / "bg.jpg", 40, 48)
    write_photo(tmp_path / "p.jpg", 40, 48, seed=1)
    (tmp_path / "p.csv").write_text("bg.jpg,p.jpg\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "p").symlink_to(tmp_path / "elsewhere")
    result = invoke(fgd, *predict_args(checkpoint, tmp_path / "out", "--pairs",
                                       str(tmp_path / "p.csv")))  # fmt: skip
    assert_one_line_error(result, "--out", "p", "would be written outside it")
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["p"]  # no predict.json either


def warnings_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("fgd: warning: ")]


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
@pytest.mark.parametrize("which", ["--bg", "--fgbg"])
def test_a_photo_cut_short_is_refused_in_one_line(fgd, checkpoint, tmp_path, suffix, which):
    photos = {opt: tmp_path / f"{opt[2:]}{suffix}" for opt in ("--bg", "--fgbg")}
    for k, path in enumerate(photos.values()):
        write_photo(path, 60, 80, seed=k)
    whole = photos[which].read_bytes()
    photos[which].write_bytes(whole[: len(whole) // 2])
    pair = [arg for opt, path in photos.items() for arg in (opt, str(path))]
    result = invoke(fgd, *predict_args(checkpoint, tmp_path / "out", *pair))
    assert_one_line_error(result, photos[which].name, "truncated")
    assert not (tmp_path / "out").exists()


def test_a_jpeg_cut_short_is_one_line_on_the_real_stderr(checkpoint, tmp_path):
    """libjpeg itself warns on stderr ("Premature end of JPEG file") when it decodes half a
    file: the photo must be refused before it gets there."""
    write_photo(tmp_path / "bg.jpg", 60, 80)
    write_photo(tmp_path / "fgbg.jpg", 60, 80, seed=1)
    data = (tmp_path / "fgbg.jpg").read_bytes()
    (tmp_path / "fgbg.jpg").write_bytes(data[: len(data) // 2])
    args = predict_args(checkpoint, tmp_path / "out", "--bg", str(tmp_path / "bg.jpg"),
                        "--fgbg", str(tmp_path / "fgbg.jpg"))  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([*fgd_command(), *args], capture_output=True, text=True, env=env)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("fgd: error: fg_bg ") and "fgbg.jpg: truncated" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("h", "w"), [(1, 1), (8, 8), (1, 100), (200, 31)])
def test_a_photo_too_small_is_refused_in_one_line(fgd, checkpoint, tmp_path, h, w):
    """Refused when read, with the default --align auto too (whose features once crashed on a
    1-px side)."""
    rng = np.random.default_rng(0)
    for name in ("bg.png", "fgbg.png"):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    args = ["predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.png"),
            "--fgbg", str(tmp_path / "fgbg.png"), "--out", str(tmp_path / "out"),
            "--device", "cpu"]  # fmt: skip
    result = invoke(fgd, *args)
    assert_one_line_error(result, "bg.png", f"{w}x{h} px is too small", f"{MIN_PHOTO_SIDE}x")
    assert not (tmp_path / "out").exists()


def test_the_smallest_photo_is_predicted_and_said_too_small_to_register(fgd, checkpoint, tmp_path):
    write_photo(tmp_path / "bg.png", MIN_PHOTO_SIDE, 50)
    write_photo(tmp_path / "fgbg.png", MIN_PHOTO_SIDE, 50, seed=1)
    args = ["predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.png"),
            "--fgbg", str(tmp_path / "fgbg.png"), "--out", str(tmp_path / "out"),
            "--device", "cpu", "--scales", "1", "--no-flip"]  # fmt: skip
    result = invoke(fgd, *args)
    assert result.exit_code == 0, result.output
    (warning,) = warnings_of(result.output)
    assert "too small to register" in warning and "predicted it unaligned" in warning
    mask = cv2.imread(str(tmp_path / "out" / "mask.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (MIN_PHOTO_SIDE, 50)


def test_an_alpha_channel_is_dropped_with_a_warning(fgd, checkpoint, tmp_path):
    write_photo(tmp_path / "bg.png", 40, 48)
    fgbg = write_photo(tmp_path / "fgbg.png", 40, 48, seed=1)
    pair = ["--bg", str(tmp_path / "bg.png"), "--fgbg", str(tmp_path / "fgbg.png")]
    plain = invoke(fgd, *predict_args(checkpoint, tmp_path / "plain", *pair))
    assert plain.exit_code == 0 and warnings_of(plain.output) == [], plain.output
    alpha = np.full((40, 48, 1), 255, np.uint8)
    alpha[:10] = 0  # transparent at the top, the colours under it kept
    cv2.imwrite(str(tmp_path / "fgbg.png"), np.concatenate([fgbg[..., ::-1], alpha], axis=2))
    result = invoke(fgd, *predict_args(checkpoint, tmp_path / "rgba", *pair))
    assert result.exit_code == 0, result.output
    (warning,) = warnings_of(result.output)
    assert "fg_bg" in warning and "fgbg.png has an alpha channel: it is ignored" in warning
    for name in ("mask.png", "depth.png"):  # predicted from the same colours
        a = cv2.imread(str(tmp_path / "plain" / name), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(a, cv2.imread(str(tmp_path / "rgba" / name), -1))


def test_resize_warns_when_it_stretches_the_bg(fgd, checkpoint, tmp_path):
    write_photo(tmp_path / "fgbg.jpg", 80, 120)
    pair = ["--bg", str(tmp_path / "bg.jpg"), "--fgbg", str(tmp_path / "fgbg.jpg"), "--resize"]
    for (h, w), stretched in (((40, 60), False), ((60, 90), False), ((40, 80), True)):
        write_photo(tmp_path / "bg.jpg", h, w, seed=1)
        result = invoke(fgd, *predict_args(checkpoint, tmp_path / f"{h}x{w}", *pair))
        assert result.exit_code == 0, result.output
        warnings = warnings_of(result.output)
        assert len(warnings) == stretched, result.output
    (warning,) = warnings
    assert "80x40" in warning and "120x80" in warning and "stretches the bg" in warning
    assert "33%" in warning  # 2:1 against 3:2


def test_paths_are_taken_literally_never_by_a_shell(fgd, checkpoint, tmp_path):
    """Folders and files named with shell metacharacters, in a CSV (quoted where it must be)
    and on the command line."""
    folder = tmp_path / "in $(touch pwned); *"
    folder.mkdir()
    bg, fgbg = folder / "b g;`touch pwned`.jpg", folder / "f,'x' \"y\" & $HOME|*.jpg"
    write_photo(bg, 40, 48)
    write_photo(fgbg, 40, 48, seed=1)
    with open(folder / "p.csv", "w", newline="") as fh:
        csv.writer(fh).writerow([bg.name, fgbg.name])
    out = tmp_path / "out $(touch pwned)"
    listed = invoke(fgd, *predict_args(checkpoint, out, "--pairs", str(folder / "p.csv")))
    assert listed.exit_code == 0, listed.output
    assert sorted(p.name for p in (out / fgbg.stem).iterdir()) == sorted(OUTPUTS)
    single = invoke(fgd, *predict_args(checkpoint, out / "one", "--bg", str(bg), "--fgbg",
                                       str(fgbg)))  # fmt: skip
    assert single.exit_code == 0, single.output
    assert (out / "one" / "mask.png").is_file()
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_an_exif_rotated_photo_is_read_as_a_viewer_shows_it(fgd, checkpoint, tmp_path):
    """A camera held upright stores a landscape frame and an EXIF orientation of 6 (turn it 90
    degrees clockwise): the fg_bg is read 40 wide and 64 high, like the plain bg beside it."""
    upright = write_photo(tmp_path / "bg.png", 64, 40)
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # what the sensor wrote, 40 high
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "fgbg.jpg", quality=95, exif=exif.tobytes())
    read = read_image(tmp_path / "fgbg.jpg", "fg_bg").astype(int)
    assert read.shape == upright.shape
    assert np.abs(read - upright).mean() < 3 < np.abs(read - upright[::-1, ::-1]).mean()
    pair = ["--bg", str(tmp_path / "bg.png"), "--fgbg", str(tmp_path / "fgbg.jpg")]
    result = invoke(fgd, *predict_args(checkpoint, tmp_path / "out", *pair))
    assert result.exit_code == 0, result.output  # the same size as the bg: turned upright
    mask = cv2.imread(str(tmp_path / "out" / "mask.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == upright.shape[:2]
