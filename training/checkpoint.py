"""The checkpoint file: its format, writing it atomically, reading it safely, the RNG state.

A checkpoint is a plain dict that ``torch.load(..., weights_only=True)`` accepts (tensors, dicts,
lists, str, int, float, bool; RNG states as tensors), tagged ``{"fgd-checkpoint": 1}``, with the
``fgd_version`` that wrote it (older checkpoints of the same format lack it). It carries
everything evaluation needs: the model config, the depth range and image normalisation used, and
the resolved train config (whose seed and split settings let ``fgd eval`` recompute the
validation split) and ``split``, what that split held out
(:meth:`training.fitting.epochs.Split.record`; checkpoints from before it lack it); ``last.pt``
also carries the optimizer, scheduler, loss and RNG states and the epoch position that
``--resume`` needs.

A checkpoint is checked before it is used: a flipped bit in a weight would otherwise pass
unnoticed into every prediction. Its first bytes come first, so that a file of another kind (an
ONNX export, an HDF5 file, a plain pickle) is named as such and nothing in it is unpickled; then
the CRC-32 of each zip member, which torch's reader never checks, but for the tensors' bytes.
Those are checked once the payload is read: against the CRC-32 of all its tensors that
:func:`save_checkpoint` stores under :data:`CHECKSUM_KEY` (which also catches an edit zipped
again with fresh member CRCs), or, in a checkpoint written before there was one, by their
members' CRCs. Both guard against damage, not forgery (anyone can recompute a checksum), so
CRC-32 serves, as it does for the store's shards.
"""

from __future__ import annotations

import codecs
import importlib.metadata
import io
import math
import mmap
import pickle
import random
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from torch import nn

from datagen.common.errors import DamagedDataError, InputError, error_summary
from datagen.common.files import atomic_output
from training.config import TrainConfig
from training.models import ModelConfig, build_model
from training.preprocess import Normalization

CHECKPOINT_TAG = "fgd-checkpoint"
CHECKPOINT_FORMAT = 1
_REQUIRED = ("model", "model_config", "train_config", "depth_max", "normalization", "step")
#: Payload key of the checksum of the checkpoint's tensors (:func:`tensor_checksum`).
CHECKSUM_KEY = "tensors_crc32"

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive's end
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: Where an HDF5 superblock may start (after a user block of 512 bytes times a power of 2).
_HDF5_OFFSETS = (0, 512, 1024, 2048)
#: How many leading bytes tell a file's kind (the last HDF5 offset and its magic fit).
_SNIFF_BYTES = 4096
#: A zip local file header: its signature, then (at 26) the lengths of the name and extra field.
_LOCAL_HEADER = struct.Struct("<4s22xHH")
#: The zip members of torch's archive layout that hold the pickled payload, and the bytes of
#: one tensor storage.
_PICKLE = re.compile(r"[^/]+/data\.pkl")
_STORAGE = re.compile(r"[^/]+/data/\d+")
#: Tags that may follow an ONNX ModelProto's leading ir_version: protobuf writers emit fields in
#: number order, so next come producer_name, producer_version, domain (2-4, strings),
#: model_version (5, a varint), doc_string, graph or opset_import (6-8, length-delimited).
_ONNX_SECOND_TAGS = frozenset((0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42))


def fgd_version() -> str:
    """The installed fgd's version ("unknown" when run from a bare checkout)."""
    try:
        return importlib.metadata.version("fgd")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a reader (or a SIGKILL) sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tagged = {CHECKPOINT_TAG: CHECKPOINT_FORMAT, "fgd_version": fgd_version(), **payload}
    tagged[CHECKSUM_KEY] = tensor_checksum(tagged)
    # Serialised in memory first: torch's zip writer reports a full disk as a RuntimeError
    # with no errno, a plain write as the OSError that atomic_output turns into one line.
    buffer = io.BytesIO()
    torch.save(tagged, buffer)
    with atomic_output(path, "checkpoint") as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_checkpoint(path: str | Path, option: str = "checkpoint") -> dict[str, Any]:
    """Read and check a checkpoint (safely: ``weights_only=True``).

    Raises:
        InputError: ``path`` is missing, a folder, a file of another kind, not an fgd checkpoint
            or of another format, or lacks what evaluation needs; its subclass
            :class:`DamagedDataError` when its bytes fail a zip CRC-32 or its tensors the
            checksum saved with them. One line naming ``option`` and ``path``.
    """
    path = Path(path)
    what = f"{option} {path}"
    if path.is_dir():
        raise InputError(f"{what} is a directory, not a checkpoint file")
    if not path.is_file():
        raise InputError(f"{what} does not exist")
    _check_archive(path, what)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise _load_error(exc, what) from None
    if not isinstance(ckpt, dict) or CHECKPOINT_TAG not in ckpt:
        raise InputError(f"{what} is not an fgd checkpoint")
    if ckpt[CHECKPOINT_TAG] != CHECKPOINT_FORMAT:
        written = f" (written by fgd {ckpt['fgd_version']})" if "fgd_version" in ckpt else ""
        raise InputError(
            f"{what} has format {ckpt[CHECKPOINT_TAG]!r}{written}, this fgd "
            f"{fgd_version()} reads format {CHECKPOINT_FORMAT}"
        )
    if CHECKSUM_KEY not in ckpt:  # written before fgd saved one
        with zipfile.ZipFile(path) as archive:
            _verify_members(path, archive, what, tensors=True)
    elif ckpt[CHECKSUM_KEY] != tensor_checksum(ckpt):
        raise DamagedDataError(
            f"{what} is damaged: its tensors differ from the checksum saved with them (the file "
            "changed after fgd wrote it)"
        )
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise InputError(f"{what} lacks {', '.join(missing)}")
    return ckpt


def tensor_checksum(payload: dict[str, Any]) -> str:
    """CRC-32 (8 hex digits) of every tensor in ``payload`` (nested in dicts, lists and tuples)
    but its :data:`CHECKSUM_KEY`: each tensor's key path, dtype, shape and bytes, in the
    payload's order (which ``torch.load`` keeps)."""
    crc = 0
    for where, tensor in _tensors({k: v for k, v in payload.items() if k != CHECKSUM_KEY}):
        flat = tensor.detach().cpu().reshape(-1)  # contiguous (reshape copies when it must)
        crc = zlib.crc32(f"{where}\0{flat.dtype}\0{tuple(tensor.shape)}\0".encode(), crc)
        crc = zlib.crc32(flat.view(torch.uint8).numpy(), crc)
    return f"{crc:08x}"


def _tensors(value: Any, where: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """``(key path, tensor)`` of every tensor in ``value``, depth first in insertion order."""
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{where}/{key!r}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _tensors(item, f"{where}/{index}")


def _check_archive(path: Path, what: str) -> None:
    """Refuse ``path`` unless it is a whole torch zip archive, judged from its bytes alone
    (nothing is unpickled), and verify the CRC-32 of its members but the tensors' bytes (which
    :func:`load_checkpoint` checks once it knows how). ``what`` names it in the message."""
    try:
        with path.open("rb") as file:
            head = file.read(_SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"{what} cannot be read ({exc.strerror or error_summary(exc)})") from None
    if not head.startswith(_ZIP_MAGIC):
        raise InputError(f"{what} {_kind_of(head)}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if any(name.endswith("/constants.pkl") for name in names):
                raise InputError(
                    f"{what} is a TorchScript model (fgd export-model --format torchscript), not "
                    "a checkpoint: give the checkpoint it was exported from"
                )
            if not any(_PICKLE.fullmatch(name) for name in names):
                raise InputError(f"{what} is a zip archive but not a torch checkpoint")
            _verify_members(path, archive, what, tensors=False)
    except (zipfile.BadZipFile, UnicodeDecodeError):  # a member's name, damaged in the directory
        raise DamagedDataError(f"{what} is truncated or damaged: not a whole zip archive") from None


def _verify_members(path: Path, archive: zipfile.ZipFile, what: str, tensors: bool) -> None:
    """Check the bytes of the members of ``archive`` (opened from ``path``) that hold tensors
    (``*/data/N``) when ``tensors``, else of all the others, against the CRC-32 in its directory.

    Read from a memory map rather than with ``ZipFile.testzip``, whose opening of each of a
    checkpoint's hundreds of members as a stream costs several times the CRCs themselves.

    Raises:
        DamagedDataError: A member whose bytes differ, named.
    """
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for info in archive.infolist():
            holds_tensor = _STORAGE.fullmatch(info.filename) is not None
            if holds_tensor == tensors and not _intact(data, archive, info):
                raise DamagedDataError(
                    f"{what} is damaged: its member {info.filename} fails its CRC-32 check (the "
                    "file changed after fgd wrote it)"
                )


def _intact(data: mmap.mmap, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Whether member ``info`` of ``archive`` (whose file is mapped as ``data``) has the bytes
    its CRC-32 in the archive's directory says."""
    if info.compress_type != zipfile.ZIP_STORED:
        # Zipped again with compression (torch stores every member): zipfile checks the CRC of
        # what it inflates.
        try:
            archive.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError):
            return False
        return True
    if info.header_offset + _LOCAL_HEADER.size > len(data):
        return False
    signature, name, extra = _LOCAL_HEADER.unpack_from(data, info.header_offset)
    start = info.header_offset + _LOCAL_HEADER.size + name + extra
    end = start + info.compress_size
    if signature != _ZIP_MAGIC[0] or end > len(data):
        return False
    with memoryview(data)[start:end] as member:
        return zlib.crc32(member) == info.CRC


def _kind_of(head: bytes) -> str:
    """What a file that is no zip archive is, from its first bytes ``head``: the end of the
    sentence "checkpoint X ..."."""
    if not head:
        return "is empty, not a checkpoint"
    if any(head[at : at + len(_HDF5_MAGIC)] == _HDF5_MAGIC for at in _HDF5_OFFSETS):
        return "is an HDF5 file, not a checkpoint"
    if len(head) > 1 and head[:1] == pickle.PROTO and 2 <= head[1] <= pickle.HIGHEST_PROTOCOL:
        return "is a pickle, not an fgd checkpoint (fgd never unpickles it)"
    if len(head) > 2 and head[0] == 0x08 and 0 < head[1] < 0x80 and head[2] in _ONNX_SECOND_TAGS:
        return "is an ONNX model, not a checkpoint: fgd predict runs it (--checkpoint FILE.onnx)"
    if b"\0" not in head:
        try:
            # Not final: a multi-byte character cut at the end of head is still text.
            codecs.getincrementaldecoder("utf-8")().decode(head)
        except UnicodeDecodeError:
            pass
        else:
            return "is a text file, not a checkpoint"
    return "is not a checkpoint (not a torch zip archive)"


def _load_error(exc: Exception, what: str) -> InputError:
    """The error for what ``torch.load`` raised on a file that :func:`_check_archive` passed:
    the weights-only unpickler's refusal of a class (without torch's advice to load the file
    unsafely), else damage that the member CRCs checked so far do not cover (the zip directory,
    the tensors' bytes)."""
    if isinstance(exc, pickle.UnpicklingError):
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found:
            return InputError(
                f"{what} is a torch file, not an fgd checkpoint: it holds a {found[1]} object, "
                "which fgd never unpickles"
            )
        reason = "its pickled payload does not unpickle"
    else:
        reason = error_summary(exc, 100)
    return DamagedDataError(f"{what} is damaged: torch cannot read it ({reason})")


class CheckpointSaver:
    """``RUN_DIR/checkpoints/last.pt`` and ``best.pt`` (after timm's CheckpointSaver).

    Only the main rank writes; ``state`` callables build the payload only when it does.
    """

    def __init__(self, folder: Path, enabled: bool, best: float = -math.inf) -> None:
        self.folder, self.enabled, self.best = folder, enabled, best

    def save_last(self, state: Callable[[], dict[str, Any]]) -> None:
        if self.enabled:
            save_checkpoint(self.folder / "last.pt", state())

    def save_if_best(self, score: float, state: Callable[[], dict[str, Any]]) -> bool:
        """Write ``best.pt`` when ``score`` beats every earlier one; True if it did."""
        if score <= self.best:
            return False
        self.best = score
        if self.enabled:
            save_checkpoint(self.folder / "best.pt", state())
        return True


@dataclass(frozen=True)
class LoadedModel:
    """A model rebuilt from a checkpoint, with what its inputs and outputs need."""

    model: nn.Module
    train_config: TrainConfig
    normalization: Normalization
    depth_max: float


def model_from_checkpoint(
    ckpt: dict[str, Any], device: torch.device, path: str = "checkpoint"
) -> LoadedModel:
    """Rebuild the network of a checkpoint (from :func:`load_checkpoint`) in eval mode."""
    model_cfg = ckpt["model_config"]
    backbone = model_cfg.get("backbone") if isinstance(model_cfg, dict) else None
    if isinstance(backbone, str) and not timm.is_model(backbone):
        raise InputError(
            f"{path}: its model's backbone {backbone!r} is not a model of the installed timm "
            f"{timm.__version__}"
        )
    try:
        model = build_model(ModelConfig.from_dict(model_cfg))
        model.load_state_dict(ckpt["model"])
        cfg = TrainConfig.from_dict(ckpt["train_config"], f"{path}: train_config")
        norm = Normalization.from_dict(ckpt["normalization"])
    except (InputError, RuntimeError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(
            f"{path}: its model config and weights do not rebuild a network ({error_summary(exc)})"
        ) from None
    model.to(device).eval()
    return LoadedModel(model, cfg, norm, float(ckpt["depth_max"]))


def rng_state() -> dict[str, Any]:
    """Every global RNG as tensors/ints (loadable with ``weights_only=True``)."""
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global RNG is what we save)
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {
            "version": py_version,
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss": py_gauss,
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
