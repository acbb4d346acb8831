"""Checkpoints: what older fgd versions wrote still loads and predicts the same; damage is found."""

from __future__ import annotations

import re
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from datagen.common.errors import DamagedDataError
from training.checkpoint import (
    CHECKSUM_KEY,
    load_checkpoint,
    model_from_checkpoint,
    tensor_checksum,
)
from training.commands import resolve_train_config
from training.fitting.evaluate import eval_setup, predict
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


# ----------------------------------------------------------------------------- damage


def _largest_storage(path: Path) -> zipfile.ZipInfo:
    """The zip member of the biggest tensor storage in the checkpoint ``path`` (``*/data/N``)."""
    with zipfile.ZipFile(path) as archive:
        storages = [info for info in archive.infolist() if "/data/" in info.filename]
    return max(storages, key=lambda info: info.file_size)


def _flip_bit_in_place(path: Path) -> None:
    """Flip one bit in the middle of the biggest tensor's bytes, as a disk or a copy might."""
    info = _largest_storage(path)
    raw = bytearray(path.read_bytes())
    # The member's bytes follow its 30-byte local header, name and extra field (alignment).
    name, extra = struct.unpack_from("<HH", raw, info.header_offset + 26)
    raw[info.header_offset + 30 + name + extra + info.file_size // 2] ^= 0x10
    path.write_bytes(raw)


def _flip_bit_and_zip_again(path: Path) -> None:
    """Flip one bit in the biggest tensor and write the archive again, every CRC recomputed."""
    target = _largest_storage(path).filename
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, bytearray(archive.read(info))) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            if name == target:
                data[len(data) // 2] ^= 0x10
            archive.writestr(name, bytes(data))


def _tensors_of(path: Path) -> str:
    """The checksum of the tensors torch reads from ``path``, unchecked."""
    return tensor_checksum(torch.load(path, map_location="cpu", weights_only=True))


@pytest.fixture(params=["saved now", "format 1"])
def copied(request, checkpoint: Path, tmp_path: Path) -> tuple[Path, Path]:
    """``(a copy, its source)``: a checkpoint `fgd train` writes now, which carries the tensor
    checksum, or the format-1 fixture, which does not (so its zip CRCs must find damage)."""
    source = checkpoint if request.param == "saved now" else OLD_CHECKPOINT
    path = tmp_path / "best.pt"
    shutil.copy(source, path)
    assert (CHECKSUM_KEY in load_checkpoint(path)) == (request.param == "saved now")
    return path, source


def test_a_flipped_bit_in_a_tensor_is_an_error_naming_the_file(copied):
    path, source = copied
    _flip_bit_in_place(path)
    assert _tensors_of(path) != _tensors_of(source)  # which torch alone would use silently
    with pytest.raises(DamagedDataError, match=rf"^checkpoint {re.escape(str(path))} is damaged: "):
        load_checkpoint(path)


def test_a_tensor_edited_and_zipped_again_fails_the_saved_checksum(checkpoint, tmp_path):
    path = tmp_path / "best.pt"
    shutil.copy(checkpoint, path)
    _flip_bit_and_zip_again(path)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None  # every member's CRC-32 matches
    assert _tensors_of(path) != _tensors_of(checkpoint)
    with pytest.raises(
        DamagedDataError, match=rf"^checkpoint {re.escape(str(path))} is damaged: its tensors "
    ):
        load_checkpoint(path)


def test_export_model_of_a_damaged_checkpoint_is_one_line_and_writes_nothing(
    fgd, checkpoint, tmp_path
):
    path = tmp_path / "best.pt"
    shutil.copy(checkpoint, path)
    _flip_bit_in_place(path)
    out = tmp_path / "out" / "model.pt"
    args = ["export-model", str(path), "--format", "torchscript", "--out", str(out)]
    result = CliRunner().invoke(fgd, args)
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fgd: error: checkpoint {path} is damaged")
    assert not out.parent.exists()
