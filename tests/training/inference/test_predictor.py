"""The predictor: test-time augmentation's passes and the letterbox around them."""

from __future__ import annotations

import dataclasses
import re

import cv2
import numpy as np
import pytest

from datagen.common.errors import InputError
from training.inference.predictor import Predictor
from training.inference.visualize import Letterbox
from training.options import TTAConfig


def test_run_pairs_puts_outputs_back_where_the_pixels_were(checkpoint, monkeypatch):
    """With a stand-in network that echoes its input, every output pixel equals the input pixel
    it came from: letterbox and inverse are aligned for any aspect."""
    predictor = Predictor.from_checkpoint(checkpoint, "cpu")

    def echo(self, bg: np.ndarray, fgbg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert bg.shape[1:3] == (self.size, self.size)
        red = fgbg[..., 0].astype(np.float32) / 255
        return red, red * 10

    monkeypatch.setattr(Predictor, "run", echo)
    for h, w in ((90, 150), (150, 90)):
        yy, xx = np.mgrid[:h, :w]
        fgbg = np.zeros((h, w, 3), np.uint8)
        fgbg[..., 0] = np.clip(255 * (yy / h + xx / w) / 2, 0, 255)
        ((prob, depth),) = predictor.run_pairs([(fgbg.copy(), fgbg)])
        assert prob.shape == depth.shape == (h, w)
        assert np.abs(prob - fgbg[..., 0] / 255).mean() < 0.01


def test_run_pairs_coarse_is_the_picture_area_at_the_models_grid(checkpoint, monkeypatch):
    """What refinement starts from: the letterbox's picture area, unresized; run_pairs is it
    resized to the photo."""
    predictor = Predictor.from_checkpoint(checkpoint, "cpu")

    def echo(self, bg: np.ndarray, fgbg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        red = fgbg[..., 0].astype(np.float32) / 255
        return red, red * 10

    monkeypatch.setattr(Predictor, "run", echo)
    rng = np.random.default_rng(0)
    fgbg = rng.integers(0, 256, (90, 150, 3), dtype=np.uint8)
    ((coarse, coarse_depth),) = predictor.run_pairs_coarse([(fgbg.copy(), fgbg)])
    box = Letterbox(90, 150, predictor.size)
    assert coarse.shape == coarse_depth.shape == box.inner
    boxed = box.crop(box.apply(fgbg))[..., 0]
    np.testing.assert_array_equal(coarse, boxed.astype(np.float32) / 255)
    ((prob, _),) = predictor.run_pairs([(fgbg.copy(), fgbg)])
    np.testing.assert_array_equal(prob, cv2.resize(coarse, (150, 90)))


def spied(predictor: Predictor, seen: list[tuple[int, int]]) -> Predictor:
    """``predictor`` recording (input side of the images it is given, pass size) per pass."""

    def spy(bg: np.ndarray, fgbg: np.ndarray, at: int):
        seen.append((bg.shape[1], at))
        return predictor.infer(bg, fgbg, at)

    return dataclasses.replace(predictor, infer=spy)


def test_tta_averages_every_pass_and_takes_depth_at_the_trained_size(checkpoint):
    single = Predictor.from_checkpoint(checkpoint, "cpu")
    seen: list[tuple[int, int]] = []
    tta = spied(single, seen).with_tta(TTAConfig(scales=(1.0, 2.0), flip=True))
    rng = np.random.default_rng(0)
    bg, fgbg = (rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8) for _ in range(2))
    prob, depth = tta.run(bg, fgbg)
    assert [at for _, at in seen] == [32, 32, 64, 64]
    assert prob.shape == depth.shape == (2, 64, 64)

    def one(scale: float, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        # one pass: the plain model, as if trained at the pass's size
        model = dataclasses.replace(single, size=round(single.size * scale))
        b, f = (x[:, :, ::-1] if flip else x for x in (bg, fgbg))
        p, d = model.run(b, f)
        return (p[:, :, ::-1], d[:, :, ::-1]) if flip else (p, d)

    passes = [one(scale, flip) for scale in (1.0, 2.0) for flip in (False, True)]
    np.testing.assert_allclose(prob, np.mean([p for p, _ in passes], axis=0), atol=1e-6)
    np.testing.assert_allclose(depth, np.mean([d for _, d in passes[:2]], axis=0), atol=1e-5)
    assert not np.allclose(prob, passes[0][0])  # the passes do differ


def test_flip_tta_is_mirror_symmetric(checkpoint):
    tta = Predictor.from_checkpoint(checkpoint, "cpu").with_tta(TTAConfig(flip=True))
    rng = np.random.default_rng(1)
    bg, fgbg = (rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8) for _ in range(2))
    prob, depth = tta.run(bg, fgbg)
    mirrored_prob, mirrored_depth = tta.run(bg[:, :, ::-1], fgbg[:, :, ::-1])
    np.testing.assert_allclose(mirrored_prob, prob[:, :, ::-1], atol=1e-6)
    np.testing.assert_allclose(mirrored_depth, depth[:, :, ::-1], atol=1e-5)


def test_pairs_are_letterboxed_to_the_largest_pass(checkpoint):
    """A pass above the trained size sees the photo's detail, not an upsampled small copy."""
    seen: list[tuple[int, int]] = []
    predictor = spied(Predictor.from_checkpoint(checkpoint, "cpu"), seen)
    rng = np.random.default_rng(2)
    bg, fgbg = (rng.integers(0, 256, (90, 150, 3), dtype=np.uint8) for _ in range(2))
    ((prob, depth),) = predictor.with_tta(TTAConfig(scales=(1.0, 1.5))).run_pairs([(bg, fgbg)])
    assert seen == [(48, 32), (48, 48)]
    assert prob.shape == depth.shape == (90, 150)


@pytest.mark.parametrize(
    ("scales", "words"),
    [((2.0,), "must include 1"), ((1.0, 0.0), "(0, 4]"), ((1.0, 4.5), "(0, 4]")],
)
def test_tta_config_refuses_scales_it_cannot_run(scales, words):
    with pytest.raises(InputError, match=re.escape(words)):
        TTAConfig(scales=scales)
