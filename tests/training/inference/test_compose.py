"""The object under its soft alpha: foreground colours, the new background, ``fgd predict
--composite`` and its files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from training.inference import compose, pairs

from .test_pairs import assert_one_line_error, write_photo


def test_composite_keeps_the_new_bg_at_alpha_0_and_the_object_at_255():
    rng = np.random.default_rng(0)
    fg, new_bg = (rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(2))
    alpha = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    alpha[:5], alpha[5:10] = 0, 255
    out = compose.composite(fg, alpha, new_bg)
    np.testing.assert_array_equal(out[:5], new_bg[:5])
    np.testing.assert_array_equal(out[5:10], fg[5:10])
    a = alpha[10:, :, None] / 255
    expected = np.rint(a * fg[10:] + (1 - a) * new_bg[10:])
    assert np.abs(out[10:].astype(int) - expected).max() <= 1  # float32 against float64


@pytest.mark.parametrize(("h", "w"), [(40, 40), (10, 100), (300, 20), (90, 160)])
def test_cover_scales_to_cover_and_crops_the_centre(h, w):
    image = np.zeros((h, w, 3), np.uint8)
    image[h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2] = 255  # a dot in the middle
    out = compose.cover(image, 60, 80)
    assert out.shape == (60, 80, 3)
    ys, xs = np.nonzero(out[..., 0] > 100)
    assert abs(ys.mean() - 29.5) <= 2 and abs(xs.mean() - 39.5) <= 2


def test_the_overlay_dims_only_what_the_alpha_leaves_out():
    image = np.full((4, 3, 3), 200, np.uint8)
    alpha = np.array([[1.0] * 3, [0.0] * 3, [0.5] * 3, [0.25] * 3], np.float32)
    out = compose.matte_overlay(image, alpha).astype(int)
    np.testing.assert_array_equal(out[0], image[0])
    assert (out[1].sum(-1) < out[3].sum(-1)).all() and (out[3].sum(-1) < out[2].sum(-1)).all()


def test_without_pymatting_the_foreground_is_the_photo(monkeypatch):
    monkeypatch.setattr(compose, "has_pymatting", lambda: False)
    image = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert compose.estimate_foreground(image, np.full((8, 8), 0.5, np.float32)) is image


@pytest.mark.skipif(not compose.has_pymatting(), reason="needs the fgd[matting] extra")
def test_pymatting_takes_the_old_background_out_of_a_soft_edge():
    """A half-transparent band of a red object over a blue bg: the photo's colour there is
    purple; the estimate is nearer the object's red."""
    alpha = np.zeros((40, 40), np.float32)
    alpha[:, :15], alpha[:, 15:25] = 1.0, 0.5
    red, blue = np.array([220, 30, 30], np.float32), np.array([30, 30, 220], np.float32)
    image = np.rint(alpha[..., None] * red + (1 - alpha[..., None]) * blue).astype(np.uint8)
    fg = compose.estimate_foreground(image, alpha).astype(float)
    band = (slice(None), slice(16, 24))
    assert np.abs(fg[band] - red).mean() < 0.5 * np.abs(image[band].astype(float) - red).mean()


# ----------------------------------------------------------------------------- fgd predict


@pytest.mark.parametrize("matting", [True, False], ids=["pymatting", "without pymatting"])
def test_predict_composite_is_the_object_over_the_new_bg(
    fgd, checkpoint, tmp_path, monkeypatch, matting
):
    if matting and not compose.has_pymatting():
        pytest.skip("needs the fgd[matting] extra")
    if not matting:
        monkeypatch.setattr(pairs, "has_pymatting", lambda: False)
        monkeypatch.setattr(compose, "has_pymatting", lambda: False)
    known = np.zeros((60, 90), np.float32)  # the alpha: clear, solid and soft thirds
    known[:, 30:60], known[:, 60:] = 1.0, 0.4
    monkeypatch.setattr(pairs, "refine_alpha", lambda coarse, image, bg, method: known)
    write_photo(tmp_path / "bg.png", 60, 90)
    fgbg = write_photo(tmp_path / "fgbg.png", 60, 90, seed=1)
    new_bg = write_photo(tmp_path / "new.png", 120, 120, seed=2)  # square: cropped to 3:2
    out = tmp_path / "out"
    result = CliRunner().invoke(fgd, [
        "predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.png"),
        "--fgbg", str(tmp_path / "fgbg.png"), "--out", str(out), "--device", "cpu",
        "--composite", str(tmp_path / "new.png"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "pymatting is not installed" in line]
    assert len(notes) == (0 if matting else 1)
    read = {n: cv2.imread(str(out / f"{n}.png"), cv2.IMREAD_UNCHANGED) for n in
            ("alpha", "mask", "foreground", "composite")}  # fmt: skip
    alpha = read["alpha"]
    np.testing.assert_array_equal(alpha, np.rint(known * 255))
    np.testing.assert_array_equal(read["mask"], np.where(alpha >= 128, 255, 0))
    foreground = cv2.cvtColor(read["foreground"], cv2.COLOR_BGRA2RGBA)
    np.testing.assert_array_equal(foreground[..., 3], alpha)
    if not matting:
        np.testing.assert_array_equal(foreground[..., :3], fgbg)
    composite = cv2.cvtColor(read["composite"], cv2.COLOR_BGR2RGB)
    covered = compose.cover(new_bg, 60, 90)
    np.testing.assert_array_equal(composite[:, :30], covered[:, :30])
    np.testing.assert_array_equal(composite[:, 30:60], foreground[:, 30:60, :3])
    soft = composite[:, 60:].astype(int)  # between the two
    low = np.minimum(covered[:, 60:], foreground[:, 60:, :3]).astype(int)
    high = np.maximum(covered[:, 60:], foreground[:, 60:, :3]).astype(int)
    assert ((low <= soft) & (soft <= high)).all()


def test_predict_composite_that_is_no_image_is_one_line_and_writes_nothing(
    fgd, checkpoint, tmp_path
):
    write_photo(tmp_path / "bg.png", 40, 48)
    write_photo(tmp_path / "fgbg.png", 40, 48, seed=1)
    (tmp_path / "new.jpg").write_text("not a picture")
    result = CliRunner().invoke(fgd, [
        "predict", "--checkpoint", str(checkpoint), "--bg", str(tmp_path / "bg.png"),
        "--fgbg", str(tmp_path / "fgbg.png"), "--out", str(tmp_path / "out"), "--device", "cpu",
        "--composite", str(tmp_path / "new.jpg"),
    ])  # fmt: skip
    assert_one_line_error(result, "--composite", "new.jpg", "not an image")
    assert not (tmp_path / "out").exists()
