"""Artifact containers and the self-description they carry: how it is stored and read back.

* ONNX: ``metadata_props`` key ``amc`` holds the whole description as JSON; the plain keys
  ``classes`` (JSON list) and ``frame_length`` are there too for tools that know nothing of amc.
* TensorRT ``.engine``: a 4-byte little-endian length, that many bytes of JSON, then the plan.
* A header-free ``.plan`` (for Triton / trtexec) carries its description in a sidecar ``.json`` file
  of the same stem (``model.plan`` -> ``model.json``).
* A ``.compiled`` file (the torch.compile path) is an amc checkpoint (weights and plain data only,
  read with ``weights_only=True``) whose key ``amc_artifact`` holds the description as JSON.

``read_metadata(path)`` reads any of them (and a Triton repository or its model directory). Damaged
or foreign files raise ``DataError`` naming the file, never a protobuf traceback.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import onnx
from google.protobuf.message import DecodeError

from amc.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from amc.errors import DataError
from amc.files import atomic_path
from amc.runtime.safety import check_external_data

HEADER = struct.Struct("<I")  # length of the JSON header of an .engine file
MAX_HEADER = 16 << 20  # a JSON header larger than this is not ours


def normalise(meta: dict[str, Any]) -> dict[str, Any]:
    """JSON round trip: tuples become lists, keys strings (inf stays inf, as Python's json writes it)."""
    return json.loads(json.dumps(meta))


# -- ONNX --------------------------------------------------------------------------------------
def load_onnx(path: str | os.PathLike[str]) -> Any:
    """onnx.load with a one-line DataError naming the file for missing, truncated or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such ONNX file; export one with `amc export RUN_DIR`")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        raise DataError(f"{path}: not a readable ONNX file (truncated or corrupted: "
                        f"{str(e).splitlines()[0][:120] if str(e) else type(e).__name__}); re-export it") from None
    if not proto.graph.node:
        raise DataError(f"{path}: not a readable ONNX file (no graph: truncated or not ONNX); re-export it")
    check_external_data(path, proto)  # before anything (ONNX Runtime, onnx.save) follows its external data
    return proto


def attach_onnx(proto: Any, meta: dict[str, Any]) -> None:
    """Replace amc's keys in proto.metadata_props (other keys are kept)."""
    plain = {"amc": json.dumps(meta), "classes": json.dumps(meta["classes"]),
             "frame_length": str(meta["frame_length"])}
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key not in plain]
    del proto.metadata_props[:]
    for key, value in [*keep, *plain.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def onnx_metadata(proto: Any, path: Path) -> dict[str, Any]:
    props = {p.key: p.value for p in proto.metadata_props}
    if "amc" not in props:
        raise DataError(f"{path}: an ONNX file without amc metadata (not exported by `amc export`); "
                        "export it with amc so that classes and frame length travel with it")
    return _parse(props["amc"], path)


def _parse(text: str | bytes, path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{path}: the amc metadata is not valid JSON (corrupted file); re-export it") from None
    if not isinstance(meta, dict) or "classes" not in meta or "frame_length" not in meta:
        raise DataError(f"{path}: the amc metadata lacks classes / frame_length; re-export it")
    return meta


# -- TensorRT ----------------------------------------------------------------------------------
def write_engine(path: str | os.PathLike[str], meta: dict[str, Any], plan: bytes) -> Path:
    """Atomically write an .engine: 4-byte LE length + JSON + serialized plan."""
    header = json.dumps(meta).encode()
    with atomic_path(path, suffix=".tmp.engine") as tmp, open(tmp, "wb") as fh:
        fh.write(HEADER.pack(len(header)))
        fh.write(header)
        fh.write(plan)
    return Path(path)


def read_engine(path: str | os.PathLike[str]) -> tuple[dict[str, Any], bytes]:
    """(metadata, plan) of an amc .engine file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such engine file; build one with `amc export RUN_DIR --format tensorrt`")
    data = path.read_bytes()
    if len(data) < HEADER.size:
        raise DataError(f"{path}: truncated engine file ({len(data)} bytes); rebuild it")
    (n,) = HEADER.unpack_from(data)
    if n > min(MAX_HEADER, len(data) - HEADER.size):
        raise DataError(f"{path}: no amc header (a bare TensorRT plan? give it a .plan suffix and a sidecar "
                        ".json) or a truncated file; rebuild it with `amc export --format tensorrt`")
    meta = _parse(data[HEADER.size:HEADER.size + n], path)
    plan = data[HEADER.size + n:]
    if not plan:
        raise DataError(f"{path}: the engine file holds a header but no plan (truncated); rebuild it")
    return meta, plan


def sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def write_sidecar(path: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    target = sidecar(Path(path))
    with atomic_path(target, suffix=".tmp.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return target


# -- torch.compile ------------------------------------------------------------------------------
COMPILED_KEY = "amc_artifact"
TRAINING_ONLY = ("optimizer_state", "scheduler_state", "scaler_state", "mixup_state")


def write_compiled(path: str | os.PathLike[str], ckpt: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Atomically write a .compiled artifact: the checkpoint's model part plus the JSON description."""
    state = {k: v for k, v in ckpt.items() if k not in TRAINING_ONLY and k not in ("format", COMPILED_KEY)}
    return save_checkpoint(path, {**state, COMPILED_KEY: json.dumps(meta)})


def read_compiled(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, checkpoint) of a .compiled artifact."""
    path = Path(path)
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as e:
        raise DataError(str(e)) from None
    if COMPILED_KEY not in ckpt:
        raise DataError(f"{path}: a checkpoint without an amc description (not written by `amc export --format "
                        "torch-compiled`); export it again")
    return _parse(ckpt[COMPILED_KEY], path), ckpt


# -- any artifact ------------------------------------------------------------------------------
def model_file(path: Path) -> Path:
    """The model file inside a Triton repository (REPO or REPO/NAME); other paths unchanged."""
    if not path.is_dir():
        return path
    dirs = [path] if (path / "config.pbtxt").is_file() else sorted(p for p in path.iterdir()
                                                                   if (p / "config.pbtxt").is_file())
    for d in dirs:
        versions = sorted((v for v in d.iterdir() if v.is_dir() and v.name.isdigit()), key=lambda v: int(v.name))
        for v in reversed(versions):
            for name in ("model.onnx", "model.plan"):
                if (v / name).is_file():
                    return v / name
    raise DataError(f"{path}: a directory with no Triton model (NAME/config.pbtxt and NAME/1/model.onnx|plan)")


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The amc description of an .onnx, .engine or .plan file, or of a Triton repository."""
    path = model_file(Path(path))
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return onnx_metadata(load_onnx(path), path)
    if suffix == ".engine":
        return read_engine(path)[0]
    if suffix == ".compiled":
        return read_compiled(path)[0]
    if suffix == ".plan":
        side = sidecar(path)
        if not side.is_file():
            raise DataError(f"{path}: a bare TensorRT plan carries no metadata and {side.name} is missing; "
                            "export with amc (the sidecar is written beside the plan)")
        return _parse(side.read_text(), side)
    raise DataError(f"{path}: unknown artifact suffix '{suffix}'; amc reads .onnx, .engine, .plan, .compiled "
                    "and Triton repositories")


def update_metadata(path: Path, meta: dict[str, Any]) -> None:
    """Rewrite an artifact's description in place (atomically), leaving the model untouched."""
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        proto = load_onnx(path)
        attach_onnx(proto, meta)
        with atomic_path(path, suffix=".tmp.onnx") as tmp:
            onnx.save(proto, str(tmp))
    elif suffix == ".engine":
        write_engine(path, meta, read_engine(path)[1])
    elif suffix == ".plan":
        write_sidecar(path, meta)
    elif suffix == ".compiled":
        write_compiled(path, read_compiled(path)[1], meta)
    else:
        raise DataError(f"{path}: cannot store metadata in a '{suffix}' file")
