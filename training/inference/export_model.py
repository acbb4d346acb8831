"""``fgd export-model``: a checkpoint as an ONNX or TorchScript file that runs without fgd.

The exported model (:class:`ExportWrapper`) takes

- ``bg``, ``fgbg``: ``(N, 3, H, W)`` **uint8** RGB (0-255), any batch size and image size;

normalises them inside with the checkpoint's mean/std, pads them (replicating the bottom row and
right column) to a multiple of the backbone's total stride as fgd does, and returns

- ``mask``: ``(N, 1, H, W)`` float32 foreground probability (an object where ``> 0.5``);
- ``depth``: ``(N, 1, H, W)`` float32 depth of fg_bg in metres, in ``[depth_max / 100,
  depth_max]``.

The network was trained at one image size (``fgd.size`` in the file's metadata); other sizes run
but give what the network gives off its training size. ONNX files come from the TorchScript-based
exporter (``torch.onnx.export(..., dynamo=False)``, opset :data:`OPSET`), which needs nothing
beyond torch; metadata (:data:`METADATA_KEYS`) is in the model's ``metadata_props``. TorchScript
files come from ``torch.jit.trace`` and carry the same metadata as the extra file
``fgd.json``. Every export is checked before it is kept: the written file, run by onnxruntime or
``torch.jit.load``, must match the checkpoint's torch model on random pairs of two sizes (one not
a multiple of the stride) to :data:`TOLERANCE`; the largest differences are reported.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from datagen.common.errors import InputError, error_summary
from datagen.common.files import atomic_output, check_output
from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.losses import target_to_depth
from training.options import Format
from training.preprocess import Normalization

OPSET = 17
#: Largest accepted difference between the exported file and the torch model (mask
#: probability, and depth relative to depth_max): float32 rounding of a re-ordered graph.
TOLERANCE = 1e-4
INPUT_NAMES = ("bg", "fgbg")
OUTPUT_NAMES = ("mask", "depth")
METADATA_KEYS = (
    "fgd.format",
    "fgd.size",
    "fgd.depth_max",
    "fgd.stride",
    # JSON of training.preprocess.Normalization (applied inside; for padding)
    "fgd.normalization",
    "fgd.inputs",
)
_EXTRA_FILE = "fgd.json"


class ExportWrapper(nn.Module):
    """A checkpoint's network with its input normalisation, padding and output decoding inside.

    ``forward(bg, fgbg) -> (mask probability, depth in metres)``; see the module docstring.
    Padding and cropping are gathers with indices computed from the input's shape, so a traced
    or exported graph keeps them for every image size.
    """

    def __init__(self, model: nn.Module, norm: Normalization, depth_max: float) -> None:
        super().__init__()
        self.model = model
        self.stride = int(model.stride)
        self.depth_max = float(depth_max)
        for name, values in (
            ("bg_mean", norm.bg_mean),
            ("bg_std", norm.bg_std),
            ("fgbg_mean", norm.fgbg_mean),
            ("fgbg_std", norm.fgbg_std),
        ):
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, bg: Tensor, fgbg: Tensor) -> tuple[Tensor, Tensor]:
        shape = torch._shape_as_tensor(bg)
        rows, cols = _padded_span(shape[2], self.stride), _padded_span(shape[3], self.stride)
        x = torch.cat([bg, fgbg], dim=1).index_select(2, rows).index_select(3, cols).float()
        x = x / 255.0
        out = self.model(
            (x[:, :3] - self.bg_mean) / self.bg_std, (x[:, 3:] - self.fgbg_mean) / self.fgbg_std
        )
        keep_rows, keep_cols = torch.arange(shape[2]), torch.arange(shape[3])
        mask = torch.sigmoid(out["mask_logits"].float())
        depth = target_to_depth(out["depth"].float(), self.depth_max)
        return tuple(  # type: ignore[return-value]
            t.index_select(2, keep_rows).index_select(3, keep_cols) for t in (mask, depth)
        )


def _padded_span(n: Tensor, stride: int) -> Tensor:
    """Indices ``0 .. ceil(n / stride) * stride - 1``, clamped to ``n - 1`` (replicate padding)."""
    return torch.arange((n + stride - 1) // stride * stride).clamp(max=n - 1)


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_model` wrote and how closely the file matches the torch model."""

    path: Path
    format: Format
    metadata: dict[str, str]
    max_abs_diff: dict[str, float]  # "mask", "depth" (metres) over the check pairs

    def summary(self) -> str:
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.max_abs_diff.items())
        kind = f"onnx, opset {OPSET}" if self.format == "onnx" else self.format
        return f"wrote {self.path} ({kind}); max |exported - torch| on random pairs: {diffs}"


def export_model(
    checkpoint: str | Path, fmt: Format, out: str | Path, overwrite: bool = False
) -> ExportReport:
    """Export ``checkpoint`` to ``out`` and check the written file against the torch model.

    Raises:
        InputError: A missing, corrupt or non-fgd checkpoint; an unwritable ``out`` (or an
            existing one without ``overwrite``); ``onnx`` without onnx/onnxruntime installed.
            Nothing is written then.
        RuntimeError: The exported file does not match the torch model (a bug).
    """
    if fmt not in ("onnx", "torchscript"):
        raise InputError(f"--format {fmt!r}: choose 'onnx' or 'torchscript'")
    if fmt == "onnx":
        _onnx_modules()
    ckpt = load_checkpoint(checkpoint)
    loaded = model_from_checkpoint(ckpt, torch.device("cpu"), str(checkpoint))
    size = loaded.train_config.size or int(ckpt.get("store", {}).get("size", 0))
    wrapper = ExportWrapper(loaded.model, loaded.normalization, loaded.depth_max).eval()
    out = check_output(out, "--out", overwrite)
    metadata = {
        "fgd.format": "1",
        "fgd.size": str(size),
        "fgd.depth_max": repr(loaded.depth_max),
        "fgd.stride": str(wrapper.stride),
        "fgd.normalization": json.dumps(loaded.normalization.to_dict()),
        "fgd.inputs": "bg, fgbg: (N, 3, H, W) uint8 RGB; outputs mask probability, depth (m)",
    }
    example = _random_pair(2, max(wrapper.stride, 64), max(wrapper.stride, 64), seed=0)
    with atomic_output(out, "--out") as tmp:
        if fmt == "onnx":
            _write_onnx(wrapper, example, tmp, metadata)
        else:
            _write_torchscript(wrapper, example, tmp, metadata)
        diffs = check_exported(wrapper, load_exported(tmp, fmt).run, wrapper.stride)
        limits = {"mask": TOLERANCE, "depth": TOLERANCE * loaded.depth_max}
        bad = {k: v for k, v in diffs.items() if v > limits[k]}
        if bad:
            raise RuntimeError(f"export of {checkpoint}: the file differs from torch by {bad}")
    return ExportReport(out, fmt, metadata, diffs)


def check_exported(
    wrapper: ExportWrapper,
    run: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    stride: int,
    pairs: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, float]:
    """Largest absolute differences (mask probability, depth in metres) between ``run`` and the
    torch ``wrapper`` over ``pairs`` of (N, 3, H, W) uint8 arrays; by default a batch of 2 at
    ``4 * stride`` square and a batch of 3 at a size that is not a multiple of ``stride``."""
    if pairs is None:
        pairs = [
            _random_pair(2, 4 * stride, 4 * stride, seed=1),
            _random_pair(3, 3 * stride + 5, 2 * stride - 3, seed=2),
        ]
    diffs = {"mask": 0.0, "depth": 0.0}
    for bg, fgbg in pairs:
        with torch.inference_mode():
            ref = wrapper(torch.from_numpy(bg), torch.from_numpy(fgbg))
        got = run(bg, fgbg)
        for key, r, g in zip(OUTPUT_NAMES, ref, got, strict=True):
            if g.shape != tuple(r.shape):
                raise RuntimeError(f"exported {key} has shape {g.shape}, torch {tuple(r.shape)}")
            diffs[key] = max(diffs[key], float(np.abs(g - r.numpy()).max()))
    return diffs


@dataclass(frozen=True)
class ExportedModel:
    """An exported file loaded for inference (what ``fgd predict --checkpoint FILE.onnx`` runs).

    Attributes:
        run: ``(bg, fgbg)`` (N, 3, H, W) uint8 RGB -> (mask probability, depth in metres), each
            (N, 1, H, W) float32.
        metadata: The ``fgd.*`` keys written at export (``fgd.size``: the training image size).
    """

    run: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    metadata: dict[str, str]

    @property
    def size(self) -> int:
        return int(self.metadata.get("fgd.size", 0))

    @property
    def depth_max(self) -> float:
        return float(self.metadata["fgd.depth_max"])


def load_exported(path: str | Path, fmt: Format | None = None) -> ExportedModel:
    """Load an exported model (``fmt`` from the suffix when None: ``.onnx`` is ONNX, else
    TorchScript) to run on the CPU. Not an fgd export -> InputError."""
    path = Path(path)
    fmt = fmt or ("onnx" if path.suffix.lower() == ".onnx" else "torchscript")
    if not path.is_file():
        raise InputError(f"--checkpoint {path}: no such file")
    if fmt == "onnx":
        _, ort = _onnx_modules()
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise InputError(
                f"--checkpoint {path}: not an ONNX model ({error_summary(exc)})"
            ) from None
        metadata = dict(session.get_modelmeta().custom_metadata_map)

        def run(bg: np.ndarray, fgbg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mask, depth = session.run(list(OUTPUT_NAMES), {"bg": bg, "fgbg": fgbg})
            return mask, depth

    else:
        extra = {_EXTRA_FILE: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra).eval()
        except (RuntimeError, ValueError) as exc:
            raise InputError(
                f"--checkpoint {path}: not a TorchScript model ({error_summary(exc)})"
            ) from None
        metadata = json.loads(extra[_EXTRA_FILE] or "{}")

        def run(bg: np.ndarray, fgbg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with torch.inference_mode():
                mask, depth = module(torch.from_numpy(bg), torch.from_numpy(fgbg))
            return mask.numpy(), depth.numpy()

    if "fgd.depth_max" not in metadata:
        raise InputError(f"--checkpoint {path}: not a model written by fgd export-model")
    return ExportedModel(run, metadata)


def _random_pair(n: int, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(rng.integers(0, 256, (n, 3, h, w), dtype=np.uint8) for _ in range(2))  # type: ignore[return-value]


def _onnx_modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise InputError(
            "--format onnx needs onnx and onnxruntime: pip install 'fgd[onnx]'"
        ) from None
    return onnx, onnxruntime


def _write_onnx(
    wrapper: ExportWrapper, example: tuple[np.ndarray, ...], path: Path, metadata: dict[str, str]
) -> None:
    onnx, _ = _onnx_modules()
    dynamic = {name: {0: "batch", 2: "height", 3: "width"} for name in INPUT_NAMES + OUTPUT_NAMES}
    with warnings.catch_warnings():  # the exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            tuple(torch.from_numpy(a) for a in example),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic,
        )
    model = onnx.load(str(path))
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def _write_torchscript(
    wrapper: ExportWrapper, example: tuple[np.ndarray, ...], path: Path, metadata: dict[str, str]
) -> None:
    with warnings.catch_warnings():  # tracer notes on shape arithmetic; and the deprecation
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapper, tuple(torch.from_numpy(a) for a in example))
        torch.jit.save(traced, str(path), _extra_files={_EXTRA_FILE: json.dumps(metadata)})
