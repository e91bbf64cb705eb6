"""Export a trained run to ONNX, TensorRT or a Triton repository, verified against PyTorch.

``export()`` (``amc.export.pipeline``) is the entry point; ``amc.export.formats`` is the table.
``export`` is imported on first use (PEP 562): the table and the CLI's help cost no torch import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from amc.export.errors import ExportError
from amc.export.formats import FORMATS
from amc.export.job import ExportJob, ExportResult

if TYPE_CHECKING:
    from amc.export.pipeline import export

__all__ = ["FORMATS", "ExportError", "ExportJob", "ExportResult", "export"]
_LAZY = {"export": "amc.export.pipeline"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
