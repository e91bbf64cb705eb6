"""Export a trained run to ONNX, TensorRT or a Triton repository, verified against PyTorch.

``export()`` (``amc.export.pipeline``) is the entry point; ``amc.export.formats`` is the table.
"""

from amc.export.errors import ExportError
from amc.export.formats import FORMATS
from amc.export.job import ExportJob, ExportResult
from amc.export.pipeline import export

__all__ = ["FORMATS", "ExportError", "ExportJob", "ExportResult", "export"]
