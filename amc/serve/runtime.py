"""One inference interface over every artifact amc makes: ``Engine.load(path)`` picks the backend.

==============================  ==================  ============================================
path                            backend             runs on
==============================  ==================  ============================================
run directory, ``*.pt``         ``TorchEngine``     PyTorch, CUDA when available
``*.onnx``                      ``OnnxEngine``      ONNX Runtime: TensorRT -> CUDA -> CPU providers
``*.engine``, ``*.plan``        ``TensorRTEngine``  TensorRT 10+ (``execute_async_v3``), CUDA only
Triton repository               by its model file   (the model inside ``NAME/1/``)
==============================  ==================  ============================================

Every backend returns the same raw outputs (``logits``, ``probs``, ``eta``, ``snr_db`` and, for
exports made ``with_denoised``, ``denoised``) with eta / snr_db as (B,), and reads classes, frame
length and batch limit from the artifact itself. Batches larger than ``max_batch`` are split.
``predict`` validates its input first (``validate_iq``); ``run`` trusts it. Heavy libraries
(onnxruntime, tensorrt) are imported only by the backend that needs them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from amc.config import AmcError, ConfigError, choice
from amc.data.io import DataError

DEFAULT_MAX_BATCH = 256
PROVIDERS = ["auto", "cpu", "cuda", "tensorrt"]
ORT_PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
                 "cpu": "CPUExecutionProvider"}
TRT_MISSING = "TensorRT needs an NVIDIA GPU and the tensorrt package (pip install 'amc[trt]')"


class InputError(AmcError):
    """IQ input the engine cannot take; the message names the problem and the expected shape."""


@dataclass
class Prediction:
    index: np.ndarray  # (B,) int64 predicted class index
    label: list[str]  # (B,) predicted class names
    probs: np.ndarray  # (B, C) float32 softmax
    logits: np.ndarray  # (B, C) float32
    eta: np.ndarray  # (B,) float32 noise fraction N / (S + N) (zeros without a noise head)
    snr_db: np.ndarray  # (B,) float32 estimated SNR (zeros without a noise head)


def validate_iq(iq: Any, frame_length: int) -> np.ndarray:
    """(2, L) -> (1, 2, L); (B, 2, L) as is; float32, C-contiguous. Raises InputError otherwise.

    Complex, integer and boolean arrays are refused: integer SDR samples often carry an offset
    (RTL-SDR uint8 is centred at 127.5) that a silent cast would keep. Floats of any width are
    converted to float32.
    """
    want = f"expected float32 (B, 2, {frame_length}) or (2, {frame_length})"
    if hasattr(iq, "detach"):  # a torch tensor; bfloat16 has no numpy dtype, so it is widened first
        try:
            t = iq.detach().cpu()
            iq = (t.float() if str(t.dtype) == "torch.bfloat16" else t).numpy()
        except (TypeError, RuntimeError) as e:  # sparse or other layouts numpy cannot hold
            raise InputError(f"IQ tensor cannot become an array ({str(e).splitlines()[0][:80]}); {want}") from None
    try:
        a = np.asarray(iq)
    except (ValueError, TypeError) as e:
        raise InputError(f"IQ input is not an array ({str(e).splitlines()[0][:80]}); {want}") from None
    if np.iscomplexobj(a):
        raise InputError(f"complex IQ ({a.dtype}) is refused: split it into I and Q rows with "
                         f"np.stack([z.real, z.imag], axis=-2); {want}")
    if a.dtype.kind in "biu":
        raise InputError(f"integer IQ samples ({a.dtype}) are refused: convert to float yourself (and remove "
                         f"any offset, e.g. RTL-SDR uint8 is centred at 127.5); {want}")
    if a.dtype.kind != "f":
        raise InputError(f"IQ input has dtype {a.dtype}; {want}")
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise InputError(f"IQ input has shape {a.shape} (rank {a.ndim}); {want}")
    if a.shape[0] == 0:
        raise InputError(f"IQ input holds no frames (batch 0, shape {a.shape}); {want} with B >= 1")
    if a.shape[1] != 2:
        hint = (" (it looks like (B, L, 2): transpose with iq.transpose(0, 2, 1))"
                if a.shape[2] == 2 and a.shape[1] == frame_length else "")
        raise InputError(f"IQ input has shape {a.shape}: axis 1 must hold the I and Q rows (2){hint}; {want}")
    if a.shape[2] != frame_length:
        raise InputError(f"frames have {a.shape[2]} samples but this engine takes {frame_length}; {want}")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, refused next
        a = np.ascontiguousarray(a, dtype=np.float32)
    finite = np.isfinite(a).reshape(len(a), -1).all(1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(f"frame {int(bad[0])} (of {len(a)}; {len(bad)} bad) contains NaN or Inf "
                         f"(after conversion to float32); {want} with finite values")
    return a


def check_classes(engine: Any, dataset_classes: list[str]) -> np.ndarray:
    """Map engine class index -> dataset class index (-1 where the dataset lacks that class), so that
    ``mapping[prediction.index]`` compares with dataset labels. Raises InputError naming every dataset
    class the engine does not know. ``engine`` may be an Engine or a list of class names."""
    known = list(getattr(engine, "classes", engine))
    unknown = [c for c in dataset_classes if c not in known]
    if unknown:
        raise InputError(f"the engine does not know class(es) {', '.join(map(repr, unknown))} of the dataset; "
                         f"it was trained on: {', '.join(known)}")
    where = {c: i for i, c in enumerate(dataset_classes)}
    return np.array([where.get(c, -1) for c in known], dtype=np.int64)


class Engine:
    """A loaded model: ``run`` (raw outputs), ``predict`` (validated, labelled), ``warmup``."""

    backend: ClassVar[str] = ""

    def __init__(self, metadata: dict[str, Any], path: str | os.PathLike[str]) -> None:
        self.metadata = metadata
        self.path = Path(path)
        self.classes: list[str] = list(metadata["classes"])
        self.frame_length: int = int(metadata["frame_length"])
        self.max_batch: int = int(metadata.get("max_batch") or DEFAULT_MAX_BATCH)
        self.precision: str = str(metadata.get("precision", "fp32"))

    @classmethod
    def load(cls, path: str | os.PathLike[str], provider: str = "auto", threads: int | None = None) -> Engine:
        """Open any amc artifact; the suffix (or directory content) picks the backend."""
        choice("provider", provider, PROVIDERS)
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        p = Path(path)
        if not p.exists():
            raise DataError(f"{p}: no such file or directory; give a run directory, .pt, .onnx, .engine or .plan")
        if p.is_dir() and not any((p / n).is_file() for n in ("best.pt", "last.pt")):
            from amc.export.metadata import model_file

            p = model_file(p)
        backend = BACKENDS.get(".pt" if p.is_dir() else p.suffix.lower())
        if backend is None:
            raise DataError(f"{p}: unknown model suffix '{p.suffix}'; amc loads run directories, .pt, .onnx, "
                            f".engine and .plan files")
        return backend.open(p, provider, threads)

    @classmethod
    def open(cls, path: Path, provider: str, threads: int | None) -> Engine:
        raise NotImplementedError

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def run(self, iq: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs for (B, 2, L) float32 frames, split into chunks of at most max_batch."""
        x = np.ascontiguousarray(iq, dtype=np.float32)
        if len(x) <= self.max_batch:
            return self._forward(x)
        parts = [self._forward(x[i:i + self.max_batch]) for i in range(0, len(x), self.max_batch)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def predict(self, iq: Any) -> Prediction:
        """Validate, run, label."""
        out = self.run(validate_iq(iq, self.frame_length))
        index = out["logits"].argmax(1).astype(np.int64)
        return Prediction(index=index, label=[self.classes[i] for i in index], probs=out["probs"],
                          logits=out["logits"], eta=out["eta"], snr_db=out["snr_db"])

    def warmup(self, batch_sizes: tuple[int, ...] | list[int] = (1,)) -> None:
        rng = np.random.default_rng(0)
        for b in batch_sizes:
            self.run(rng.standard_normal((b, 2, self.frame_length)).astype(np.float32))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.path}, {self.precision}, {len(self.classes)} classes, "
                f"L={self.frame_length}, max_batch={self.max_batch})")


def _outputs(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float32 everywhere, eta / snr_db as (B,)."""
    res = {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
    for k in ("eta", "snr_db"):
        if k in res:
            res[k] = res[k].reshape(len(res[k]))
    return res


class TorchEngine(Engine):
    """A checkpoint (or an in-memory CLDNN) through PyTorch."""

    backend = "torch"

    def __init__(self, model: Any, metadata: dict[str, Any], path: str | os.PathLike[str] = "",
                 device: str = "cpu") -> None:
        import torch

        from amc.models import DENOISED_NAME, InferenceModel

        super().__init__(metadata, path)
        self.device = torch.device(device)
        with_denoised = DENOISED_NAME in metadata.get("outputs", [])
        self.module = InferenceModel(model, with_denoised=with_denoised).to(self.device)
        self.output_names = self.module.output_names

    @classmethod
    def open(cls, path: Path, provider: str, threads: int | None) -> TorchEngine:
        import torch

        from amc.models import OUTPUT_NAMES
        from amc.train import checkpoint as ck

        if provider == "tensorrt":
            raise ConfigError("provider 'tensorrt' does not apply to a PyTorch checkpoint; export it first "
                              "(amc export RUN --format tensorrt)")
        if provider == "cuda" and not torch.cuda.is_available():
            raise ConfigError("provider 'cuda': PyTorch sees no CUDA device here; use provider 'cpu'")
        device = "cuda" if provider in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        if threads:
            torch.set_num_threads(threads)
        try:
            ckpt_path = ck.resolve_checkpoint(path)
            ckpt = ck.load_checkpoint(ckpt_path)
            model = ck.model_from_checkpoint(ckpt)
        except ck.CheckpointError as e:
            raise DataError(str(e)) from None
        meta = {**ck.describe(ckpt), "format": "torch", "precision": "fp32", "max_batch": DEFAULT_MAX_BATCH,
                "outputs": list(OUTPUT_NAMES), "checkpoint_sha256": ck.sha256_file(ckpt_path),
                "dataset": str(ckpt.get("dataset", ""))}
        return cls(model, meta, ckpt_path, device)

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            outs = self.module(torch.from_numpy(x).to(self.device))
        return _outputs({n: o.float().cpu().numpy() for n, o in zip(self.output_names, outs)})


def ort_providers(provider: str, available: list[str]) -> list[str]:
    """Provider list for onnxruntime: 'auto' = TensorRT -> CUDA -> CPU among those installed."""
    order = ["tensorrt", "cuda", "cpu"]
    start = 0 if provider == "auto" else order.index(provider)
    wanted = [ORT_PROVIDERS[p] for p in order[start:]]
    if provider != "auto" and wanted[0] not in available:
        raise ConfigError(f"provider '{provider}' is not available in this onnxruntime (it has "
                          f"{', '.join(available)}); install onnxruntime-gpu (pip install 'amc[gpu]') "
                          "or use provider 'cpu'")
    return [p for p in wanted if p in available]


class OnnxEngine(Engine):
    """An .onnx file through ONNX Runtime."""

    backend = "onnxruntime"

    @classmethod
    def open(cls, path: Path, provider: str, threads: int | None) -> OnnxEngine:
        import onnxruntime as ort

        from amc.export.metadata import load_onnx, onnx_metadata

        meta = onnx_metadata(load_onnx(path), path)  # load_onnx refuses external data outside path's folder
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        providers = ort_providers(provider, ort.get_available_providers())
        try:
            session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as e:  # noqa: BLE001 - ORT raises its own exception types
            raise DataError(f"{path}: ONNX Runtime cannot load it ({str(e).splitlines()[0][:160]}); "
                            "re-export it") from None
        return cls(meta, path, session)

    def __init__(self, metadata: dict[str, Any], path: str | os.PathLike[str], session: Any) -> None:
        super().__init__(metadata, path)
        self.session = session
        self.providers: list[str] = session.get_providers()
        self.input_name: str = session.get_inputs()[0].name
        self.output_names: list[str] = [o.name for o in session.get_outputs()]

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(None, {self.input_name: x})
        return _outputs(dict(zip(self.output_names, outs)))


class TensorRTEngine(Engine):
    """An amc .engine (or a .plan with its sidecar .json) through TensorRT, buffers as torch CUDA tensors."""

    backend = "tensorrt"

    @classmethod
    def open(cls, path: Path, provider: str, threads: int | None) -> TensorRTEngine:
        from amc.export.metadata import read_engine, read_metadata

        if provider == "cpu":
            raise ConfigError(f"{path}: a TensorRT engine runs on an NVIDIA GPU only; load the .onnx "
                              "for provider 'cpu'")
        if path.suffix.lower() == ".engine":
            meta, plan = read_engine(path)
        else:
            meta, plan = read_metadata(path), path.read_bytes()
        try:
            import tensorrt as trt
            import torch
        except ImportError:
            raise ConfigError(f"{path}: {TRT_MISSING}; the tensorrt package is not installed") from None
        if not torch.cuda.is_available():
            raise ConfigError(f"{path}: {TRT_MISSING}; PyTorch sees no CUDA device")
        engine = cls(meta, path)
        engine._setup(trt, torch, plan)
        return engine

    def _setup(self, trt: Any, torch: Any, plan: bytes) -> None:
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise DataError(f"{self.path}: TensorRT cannot deserialize this plan (built by another TensorRT "
                            "version or for another GPU?); rebuild it here with `amc export --format tensorrt`")
        self.context = self.engine.create_execution_context()
        self.device = torch.device("cuda", torch.cuda.current_device())
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_name = next(n for n in names if is_input[n])
        self.output_names = [n for n in names if not is_input[n]]
        self.dtypes = {n: torch.from_numpy(np.empty(0, dtype=trt.nptype(self.engine.get_tensor_dtype(n)))).dtype
                       for n in names}
        profile_max = self.engine.get_tensor_profile_shape(self.input_name, 0)[2]
        self.max_batch = min(self.max_batch, int(profile_max[0]))
        self.torch = torch

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        torch = self.torch
        with torch.cuda.device(self.device):
            stream = torch.cuda.current_stream(self.device)
            xin = torch.from_numpy(x).to(self.device, dtype=self.dtypes[self.input_name]).contiguous()
            self.context.set_input_shape(self.input_name, tuple(xin.shape))
            self.context.set_tensor_address(self.input_name, xin.data_ptr())
            outs = {}
            for name in self.output_names:
                shape = tuple(self.context.get_tensor_shape(name))
                outs[name] = torch.empty(shape, dtype=self.dtypes[name], device=self.device)
                self.context.set_tensor_address(name, outs[name].data_ptr())
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError(f"{self.path}: TensorRT execution failed")
            stream.synchronize()
        return _outputs({n: t.float().cpu().numpy() for n, t in outs.items()})


BACKENDS: dict[str, type[Engine]] = {".pt": TorchEngine, ".onnx": OnnxEngine, ".engine": TensorRTEngine,
                                     ".plan": TensorRTEngine}
