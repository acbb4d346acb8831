"""`fgd export-model`: ONNX and TorchScript files that match the torch model, and bad input."""

from __future__ import annotations

import json
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from datagen.common.errors import InputError
from training.fitting.evaluate import load_checkpoint, model_from_checkpoint
from training.inference.export_model import TOLERANCE, load_exported
from training.inference.predictor import Predictor
from training.losses import target_to_depth
from training.options import TTAConfig

from ..conftest import train_args

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module", params=["onnx", "torchscript"])
def exported(request, checkpoint, fgd, tmp_path_factory) -> tuple[Path, str]:
    fmt = request.param
    out = tmp_path_factory.mktemp("export") / ("model.onnx" if fmt == "onnx" else "model.pt")
    result = CliRunner().invoke(
        fgd, ["export-model", str(checkpoint), "--format", fmt, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out, result.output


def _reference(checkpoint: Path, bg: np.ndarray, fgbg: np.ndarray) -> tuple[np.ndarray, ...]:
    """The checkpoint's torch model run the way fgd runs it (normalise, pad, decode)."""
    loaded = model_from_checkpoint(load_checkpoint(checkpoint), torch.device("cpu"))
    norm = loaded.normalization

    def normalise(x: np.ndarray, mean, std) -> torch.Tensor:
        x = torch.from_numpy(x).float() / 255.0
        return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)

    with torch.no_grad():
        out = loaded.model(
            normalise(bg, norm.bg_mean, norm.bg_std), normalise(fgbg, norm.fgbg_mean, norm.fgbg_std)
        )
    mask = torch.sigmoid(out["mask_logits"])
    return mask.numpy(), target_to_depth(out["depth"], loaded.depth_max).numpy()


def _pair(n: int, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(rng.integers(0, 256, (n, 3, h, w), dtype=np.uint8) for _ in range(2))


def test_the_command_reports_the_differences_it_checked(exported):
    _, output = exported
    found = re.search(r"max \|exported - torch\| on random pairs: mask (\S+), depth (\S+)", output)
    assert found, output
    assert float(found[1]) <= TOLERANCE and float(found[2]) <= TOLERANCE * 30


@pytest.mark.parametrize(("n", "h", "w"), [(1, 32, 32), (3, 45, 61), (2, 96, 64)])
def test_exported_file_matches_torch_at_any_batch_and_size(exported, checkpoint, n, h, w):
    path, _ = exported
    model = load_exported(path)
    bg, fgbg = _pair(n, h, w, seed=h)
    mask, depth = model.run(bg, fgbg)
    ref_mask, ref_depth = _reference(checkpoint, bg, fgbg)
    assert mask.shape == depth.shape == (n, 1, h, w)
    assert np.abs(mask - ref_mask).max() < TOLERANCE
    assert np.abs(depth - ref_depth).max() < TOLERANCE * model.depth_max
    assert 0 <= mask.min() and mask.max() <= 1
    assert model.depth_max / 100 * 0.999 <= depth.min() and depth.max() <= model.depth_max * 1.001


def test_a_siamese_network_exports_and_matches_torch(fgd, tiny_store, tmp_path):
    """`fgd train --fusion siamese` (the shots through one encoder in one batch) to ONNX."""
    run = tmp_path / "run"
    args = train_args(tiny_store, run, "--max-steps", "2", "--fusion", "siamese")
    assert CliRunner().invoke(fgd, args).exit_code == 0
    checkpoint = run / "checkpoints" / "last.pt"
    assert load_checkpoint(checkpoint)["model_config"]["fusion"] == "siamese"
    out = tmp_path / "model.onnx"
    result = CliRunner().invoke(fgd, ["export-model", str(checkpoint), "--out", str(out)])
    assert result.exit_code == 0, result.output
    bg, fgbg = _pair(2, 45, 61, seed=3)
    mask, _ = load_exported(out).run(bg, fgbg)
    ref_mask, _ = _reference(checkpoint, bg, fgbg)
    assert np.abs(mask - ref_mask).max() < TOLERANCE


def test_exported_file_records_what_a_caller_needs(exported, checkpoint):
    path, _ = exported
    model = load_exported(path)
    ckpt = load_checkpoint(checkpoint)
    assert model.size == 32  # train_args' --size
    assert model.depth_max == pytest.approx(float(ckpt["depth_max"]))
    assert int(model.metadata["fgd.stride"]) == 32  # test_resnet's total stride
    assert json.loads(model.metadata["fgd.normalization"]) == ckpt["normalization"]


def test_exported_file_matches_torch_on_real_photos(exported, checkpoint, real_samples):
    path, _ = exported
    bg_path = sorted((real_samples / "bg").iterdir())[0]
    fg_path = sorted((real_samples / "fg").iterdir())[0]
    bg = cv2.resize(cv2.cvtColor(cv2.imread(str(bg_path)), cv2.COLOR_BGR2RGB), (224, 224))
    fg = cv2.resize(cv2.imread(str(fg_path), cv2.IMREAD_UNCHANGED), (112, 112))
    fgbg = bg.copy()
    alpha = fg[..., 3:] / 255.0
    patch = fgbg[100:212, 56:168]
    patch[:] = (alpha * cv2.cvtColor(fg[..., :3], cv2.COLOR_BGR2RGB) + (1 - alpha) * patch).astype(
        np.uint8
    )
    bg_n, fgbg_n = (np.ascontiguousarray(x.transpose(2, 0, 1)[None]) for x in (bg, fgbg))
    model = load_exported(path)
    mask, depth = model.run(bg_n, fgbg_n)
    ref_mask, ref_depth = _reference(checkpoint, bg_n, fgbg_n)
    print(f"real pair: max |mask diff| {np.abs(mask - ref_mask).max():.2e}")
    assert np.abs(mask - ref_mask).max() < TOLERANCE
    assert np.abs(depth - ref_depth).max() < TOLERANCE * model.depth_max


# ----------------------------------------------------------------------------- fgd predict


@pytest.fixture(scope="module")
def onnx_file(checkpoint, fgd, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    args = ["export-model", str(checkpoint), "--format", "onnx", "--out", str(out)]
    assert CliRunner().invoke(fgd, args).exit_code == 0
    return out


@pytest.mark.parametrize("side", [32, 57])
def test_predictor_from_onnx_matches_the_checkpoint(onnx_file, checkpoint, side):
    """At the model's size the two differ by float rounding; at another size the ONNX path's
    input is resampled like the checkpoint's, then rounded to uint8 (the file's input type)."""
    rng = np.random.default_rng(side)
    bg, fgbg = (rng.integers(0, 256, (3, side, side, 3), dtype=np.uint8) for _ in range(2))
    exported = Predictor.from_file(onnx_file, "cpu")
    native = Predictor.from_file(checkpoint, "cpu")
    assert exported.train_config is None and native.train_config is not None
    assert (exported.size, exported.norm) == (native.size, native.norm)
    assert exported.depth_max == pytest.approx(native.depth_max)
    (mask, depth), (ref_mask, ref_depth) = exported.run(bg, fgbg), native.run(bg, fgbg)
    assert mask.shape == depth.shape == (3, side, side)
    tolerance = TOLERANCE if side == native.size else 0.02
    assert np.abs(mask - ref_mask).max() < tolerance
    assert np.abs(depth - ref_depth).max() < tolerance * native.depth_max


def test_onnx_runs_the_tta_passes_like_the_checkpoint(onnx_file, checkpoint):
    rng = np.random.default_rng(1)
    bg, fgbg = (rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8) for _ in range(2))
    tta = TTAConfig(scales=(1.0, 2.0), flip=True)
    exported = Predictor.from_file(onnx_file, "cpu").with_tta(tta)
    native = Predictor.from_file(checkpoint, "cpu").with_tta(tta)
    (mask, depth), (ref_mask, ref_depth) = exported.run(bg, fgbg), native.run(bg, fgbg)
    # the scale-1 passes see the input resampled and rounded to uint8 (see above)
    assert np.abs(mask - ref_mask).max() < 0.02
    assert np.abs(depth - ref_depth).max() < 0.02 * native.depth_max


def test_fgd_predict_runs_an_onnx_file(fgd, onnx_file, checkpoint, tmp_path):
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (8, 12, 3), dtype=np.uint8)
    for name, seed in (("bg.png", 0), ("fgbg.png", 1)):
        image = np.roll(cv2.resize(small, (120, 80), interpolation=cv2.INTER_CUBIC), seed, axis=1)
        cv2.imwrite(str(tmp_path / name), image)
    masks = {}
    for model in (onnx_file, checkpoint):
        out = tmp_path / model.suffix[1:]
        result = CliRunner().invoke(
            fgd, ["predict", "--checkpoint", str(model), "--bg", str(tmp_path / "bg.png"),
                  "--fgbg", str(tmp_path / "fgbg.png"), "--out", str(out), "--align", "off"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        masks[model.suffix] = cv2.imread(str(out / "mask.png"), cv2.IMREAD_UNCHANGED)
    assert masks[".onnx"].shape == (80, 120)
    # uint8 rounding of the resampled input may flip a pixel right at the threshold, no more
    assert np.mean(masks[".onnx"] != masks[".pt"]) < 0.01


def test_onnx_on_cuda_is_a_one_line_error(fgd, onnx_file, tmp_path):
    for name in ("bg.png", "fgbg.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((16, 16, 3), np.uint8))
    result = CliRunner().invoke(
        fgd, ["predict", "--checkpoint", str(onnx_file), "--bg", str(tmp_path / "bg.png"),
              "--fgbg", str(tmp_path / "fgbg.png"), "--out", str(tmp_path / "out"),
              "--device", "cuda"],
    )  # fmt: skip
    _assert_one_line_error(result, "--device cuda", str(onnx_file), "CPU")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- bad input


def _assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


class _Opener:
    """Creates the file ``marker`` when unpickled, as any pickle may do to whoever loads it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _empty(path: Path, request) -> Path:
    path.write_bytes(b"")
    return path


def _text(path: Path, request) -> Path:
    path.write_text("step: 3\nweights: à venir\n")
    return path


def _onnx(path: Path, request) -> Path:
    return request.getfixturevalue("onnx_file")  # a real export of the test checkpoint


def _pickle(path: Path, request) -> Path:
    proof = path.with_name("proof")
    pickle.loads(pickle.dumps(_Opener(proof))).close()
    assert proof.exists()  # the payload is live
    path.write_bytes(pickle.dumps(_Opener(path.with_name("created"))))
    return path


def _legacy_torch(path: Path, request) -> Path:
    torch.save({"model": {"w": torch.ones(2)}}, path, _use_new_zipfile_serialization=False)
    return path


def _hdf5(path: Path, request) -> Path:
    with h5py.File(path, "w") as f:
        f["mask"] = np.zeros((2, 4, 4), np.uint8)
    return path


def _zip(path: Path, request) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "not a checkpoint")
    return path


def _truncated(path: Path, request) -> Path:
    whole = request.getfixturevalue("checkpoint").read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _torchscript(path: Path, request) -> Path:
    with warnings.catch_warnings():  # torch.jit's deprecation notes
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)), str(path))
    return path


#: A way to make each kind of file that is no checkpoint, and what the error says it is.
NOT_CHECKPOINTS = {
    "empty": (_empty, "is empty, not a checkpoint"),
    "text": (_text, "is a text file, not a checkpoint"),
    "onnx": (_onnx, "is an ONNX model, not a checkpoint: fgd predict runs it"),
    "hdf5": (_hdf5, "is an HDF5 file, not a checkpoint"),
    "pickle": (_pickle, "is a pickle, not an fgd checkpoint (fgd never unpickles it)"),
    "torch pickle": (_legacy_torch, "is a pickle, not an fgd checkpoint"),
    "zip": (_zip, "is a zip archive but not a torch checkpoint"),
    "truncated": (_truncated, "is truncated or damaged"),
    "torchscript": (_torchscript, "is a TorchScript model"),
}


@pytest.mark.parametrize("kind", NOT_CHECKPOINTS)
def test_a_file_that_is_no_checkpoint_is_named_in_one_line(fgd, tmp_path, request, kind):
    make, says = NOT_CHECKPOINTS[kind]
    ckpt = make(tmp_path / "best.pt", request)
    out = tmp_path / "out" / "model.onnx"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(fgd, ["export-model", str(ckpt), "--out", str(out)])
    _assert_one_line_error(result, f"checkpoint {ckpt} {says}")
    assert [str(w.message) for w in caught] == []
    assert not out.parent.exists()
    assert not (tmp_path / "created").exists()


def test_missing_checkpoint_is_one_line(fgd, tmp_path):
    result = CliRunner().invoke(
        fgd, ["export-model", str(tmp_path / "no.pt"), "--out", str(tmp_path / "m.onnx")]
    )
    _assert_one_line_error(result, "no.pt", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_existing_out_needs_overwrite(fgd, checkpoint, tmp_path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"keep me")
    args = ["export-model", str(checkpoint), "--out", str(out)]
    _assert_one_line_error(CliRunner().invoke(fgd, args), "--out", "exists", "--overwrite")
    assert out.read_bytes() == b"keep me"
    assert CliRunner().invoke(fgd, [*args, "--overwrite"]).exit_code == 0
    assert load_exported(out).size == 32


@pytest.mark.parametrize("name", ["model.onnx", "model.pt"])
def test_a_file_that_is_not_an_export_is_an_input_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"not a model")
    with pytest.raises(InputError, match=r"^--checkpoint .*: not an? (ONNX|TorchScript) model"):
        load_exported(path)
