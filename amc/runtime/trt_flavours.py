"""The two TensorRT flavours amc builds and runs engines with, declared once.

=============  ===============  ==========================================================================
flavour        module           for
=============  ===============  ==========================================================================
tensorrt       ``tensorrt``     data-centre and Jetson GPUs; builds on the GPU it targets (NVIDIA's index)
tensorrt-rtx   ``tensorrt_rtx`` RTX GPUs (Turing .. Blackwell); builds ahead of time on a machine with no
                                GPU for a list of compute capabilities (plain PyPI: ``pip install
                                tensorrt-rtx``)
=============  ===============  ==========================================================================

Both share one Python API (Builder, OnnxParser, Runtime, ``execute_async_v3``), so export and the
runtime backend are one code path; where the flavours (or versions) differ the code asks the module
(``hasattr`` on its flags and config), never a version string. What cannot be asked is in the table:
TensorRT-RTX keeps the timing-cache calls but they do nothing (deprecated in 1.2).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Flavour:
    name: str  # amc's name: the --format and the engine header's "flavour"
    module: str  # the Python module
    title: str  # for messages
    extra: str  # pip install 'amc[EXTRA]'
    gpus: str  # which GPUs run its engines, for messages
    builds_without_gpu: bool  # ahead-of-time build on a machine with no GPU
    timing_cache: bool  # the builder's timing cache does something
    index: str = ""  # the package index its wheels come from, where PyPI does not have them

    def install_hint(self) -> str:
        where = f"--extra-index-url {self.index} " if self.index else ""
        return f"pip install {where}'amc[{self.extra}]'"


FLAVOURS: dict[str, Flavour] = {f.name: f for f in [
    Flavour("tensorrt", "tensorrt", "TensorRT", "trt", "an NVIDIA data-centre / Jetson GPU", False, True,
             "https://pypi.nvidia.com"),
    Flavour("tensorrt-rtx", "tensorrt_rtx", "TensorRT-RTX", "trt-rtx", "an NVIDIA RTX GPU", True, False),
]}


def flavour_of(meta: dict[str, Any]) -> Flavour:
    """The flavour an engine's description names (engines from before flavours: data-centre TensorRT)."""
    name = (meta.get("tensorrt") or {}).get("flavour", "tensorrt")
    return FLAVOURS.get(name, FLAVOURS["tensorrt"])


def import_flavour(flavour: Flavour) -> Any | None:
    """The flavour's module, or None when it is not installed (or its libraries do not load)."""
    try:
        return importlib.import_module(flavour.module)
    except (ImportError, OSError):
        return None


def strongly_typed_flags(trt: Any) -> int:
    """Network creation flags for a strongly typed network: the STRONGLY_TYPED bit where the module has
    one, else 0 (a TensorRT whose networks are always strongly typed has dropped the flag)."""
    flags = getattr(trt, "NetworkDefinitionCreationFlag", None)
    if flags is not None and hasattr(flags, "STRONGLY_TYPED"):
        return 1 << int(flags.STRONGLY_TYPED)
    return 0


def compute_capabilities(trt: Any) -> list[str]:
    """The compute capabilities the module can build for (``SM75`` .. ``SM121`` in TensorRT-RTX 1.7);
    [] when it builds for the GPU it runs on only (data-centre TensorRT)."""
    cc = getattr(trt, "ComputeCapability", None)
    if cc is None:
        return []
    return sorted((n for n in cc.__members__ if n.startswith("SM") and n[2:].isdigit()), key=lambda n: int(n[2:]))


def version(trt: Any) -> str:
    return str(getattr(trt, "__version__", "unknown"))
