"""Checkpoints: what older fgd versions wrote still loads and predicts the same."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.commands import resolve_train_config
from training.evaluate import eval_setup, predict
from training.losses import target_to_depth
from training.preprocess import preprocess

FIXTURES = Path(__file__).parent / "fixtures"
#: Written by fgd at commit bcd8617 (checkpoint format 1): `fgd train` of test_efficientnet
#: (decoder channels 16, 32 px, batch 8) for 3 steps on the tests' tiny store, on the CPU.
OLD_CHECKPOINT = FIXTURES / "format1_test_efficientnet.pt"
#: Its inputs (two fixed 32 px pairs) and the mask probability and depth that code predicted.
OLD_EXPECTED = FIXTURES / "format1_test_efficientnet_expected.npz"


def test_a_format_1_checkpoint_loads_and_predicts_as_it_did():
    ckpt = load_checkpoint(OLD_CHECKPOINT)
    assert (ckpt["fgd-checkpoint"], ckpt["step"]) == (1, 3)
    device = torch.device("cpu")
    loaded = model_from_checkpoint(ckpt, device, str(OLD_CHECKPOINT))
    assert loaded.train_config.backbone == "test_efficientnet"
    setup = eval_setup(loaded, device, 32)
    expected = np.load(OLD_EXPECTED)
    bg, fgbg = torch.from_numpy(expected["bg"]), torch.from_numpy(expected["fgbg"])
    with torch.no_grad():
        out = predict(loaded.model, preprocess(bg, fgbg, 32, setup.norm), setup)
    prob = torch.sigmoid(out["mask_logits"])[:, 0].numpy()
    depth = target_to_depth(out["depth"], loaded.depth_max)[:, 0].numpy()
    np.testing.assert_allclose(prob, expected["prob"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(depth, expected["depth"], rtol=1e-4, atol=1e-6)


def test_a_run_saved_before_capture_augmentation_resumes_without_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(OLD_CHECKPOINT, run / "checkpoints" / "last.pt")
    assert "capture" not in load_checkpoint(OLD_CHECKPOINT)["train_config"]["augment"]
    cfg = resolve_train_config(str(run), None, True, {})
    assert cfg.augment.capture.enabled is False  # as that run trained
    assert cfg.backbone == "test_efficientnet"
