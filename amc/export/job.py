"""What a format builder is given (ExportJob) and what an export returns (ExportResult)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amc.export import parity
from amc.export.parity import Frames, frames_for
from amc.runtime.artifact import normalise

if TYPE_CHECKING:
    from amc.export.formats import Format


@dataclass
class ExportResult:
    path: Path  # the artifact (file, or Triton repository directory)
    format: str
    precision: str
    parity: dict[str, Any]  # see amc.export.parity.compare
    metadata: dict[str, Any]  # exactly what read_metadata(path) returns
    notes: list[str]


@dataclass
class ExportJob:
    """Everything a format builder needs; builders write ``out`` and may add notes / extra metadata."""

    checkpoint: Path
    ckpt: dict[str, Any]
    model: Any  # eval-mode CLDNN
    fmt: Format
    precision: str
    out: Path
    metadata: dict[str, Any]
    opset: int = 17
    max_batch: int = 256
    plain: bool = False
    with_denoised: bool = False
    simplify: bool = True
    data: str | Path | None = None
    calib_frames: int = 512
    compute_capability: str | None = None  # TensorRT-RTX targets (None: all it supports)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    _frames: Frames | None = None

    @property
    def frame_length(self) -> int:
        return int(self.metadata["frame_length"])

    def frames(self) -> Any:
        """Parity frames (validation split, else synthetic), loaded once."""
        return self.parity_frames().x

    def parity_frames(self) -> Frames:
        """Parity frames with their labels and SNRs (the accuracy fallback of the parity gate needs them)."""
        if self._frames is None:
            self._frames = frames_for(self.ckpt, self.data, "val", parity.PARITY_FRAMES)
            self.notes.extend(self._frames.notes)
        return self._frames

    def calibration(self) -> tuple[Any, str]:
        """int8 calibration frames from the training split, spread over SNRs."""
        f = frames_for(self.ckpt, self.data, "train", self.calib_frames)
        self.notes.extend(f.notes)
        return f.x, f.source

    def full_metadata(self) -> dict[str, Any]:
        return normalise({**self.metadata, **self.extra, "notes": list(self.notes)})
