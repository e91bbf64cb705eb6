"""The artifact kinds amc makes and loads, declared once: suffixes, GPU need, backend.

``amc.export.formats`` builds its export table on these rows (adding builders and precisions), and
``Engine.load`` picks its backend from them (importing the backend's module then, so an ONNX model
never loads torch), so a suffix is never spelled in two places.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amc.errors import DataError


@dataclass(frozen=True)
class ArtifactKind:
    name: str  # torch, onnx, tensorrt, torch-compiled
    suffixes: tuple[str, ...]  # the first is the one export writes
    needs_gpu: bool  # running it needs an NVIDIA GPU
    backend: str  # Engine subclass that loads it (its `backend` name)
    what: str  # one line for messages and docs
    module: str  # the module defining that Engine subclass, imported when the first such model is loaded


ARTIFACTS: dict[str, ArtifactKind] = {a.name: a for a in [
    ArtifactKind("torch", (".pt",), False, "torch", "PyTorch checkpoint (or its run directory)",
                 "amc.runtime.torch_backend"),
    ArtifactKind("onnx", (".onnx",), False, "onnxruntime", "ONNX with amc metadata_props",
                 "amc.runtime.onnx_backend"),
    ArtifactKind("tensorrt", (".engine", ".plan"), True, "tensorrt",
                 "TensorRT plan (.engine: JSON header + plan; .plan: bare, sidecar .json)",
                 "amc.runtime.tensorrt_backend"),
    ArtifactKind("torch-compiled", (".compiled",), False, "torch-compiled",
                 "PyTorch checkpoint run through torch.compile (CUDA graphs on a GPU), with amc metadata",
                 "amc.runtime.compiled"),
]}
SUFFIXES: dict[str, ArtifactKind] = {s: a for a in ARTIFACTS.values() for s in a.suffixes}


def known_suffixes() -> str:
    """'.pt, .onnx, .engine, .plan' for messages."""
    return ", ".join(SUFFIXES)


def artifact_kind(path: Path) -> ArtifactKind:
    """The kind of a model file (a run directory is a torch artifact); DataError for unknown suffixes."""
    if path.is_dir():
        return ARTIFACTS["torch"]
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unknown model suffix '{path.suffix}'; amc loads run directories, "
                        f"Triton repositories and {known_suffixes()} files")
    return kind
