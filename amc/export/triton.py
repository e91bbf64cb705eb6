"""Triton Inference Server model repositories: ``REPO/NAME/1/model.onnx`` (or ``model.plan``),
``REPO/NAME/config.pbtxt`` and ``REPO/NAME/labels.txt``.

The config declares ``max_batch_size`` (Triton adds the batch axis itself), input ``iq`` TYPE_FP32
dims [2, L], outputs ``logits`` / ``probs`` dims [C] (probs carries ``labels.txt`` for Triton's
classification extension) and ``eta`` / ``snr_db``. Those two are (B,) in amc's graph, i.e. nothing
per frame beyond the batch axis, which Triton cannot express as empty dims; they are declared dims [1]
with ``reshape: { shape: [ ] }``, Triton's documented idiom for a batch-only tensor, so clients get
(B, 1) and the model keeps (B,). Dynamic batching prefers full batches with a short queue delay;
``instance_group`` leaves the device kind to Triton (GPU when present, else CPU).

fp16 and int8 ONNX repositories switch on ONNX Runtime's TensorRT accelerator (``trt_accelerator``)
with the profile over the batch axis and an engine cache, like ``amc.runtime.onnx_backend``. The fp16
graph is already float16 where it may be, so the accelerator is *not* asked for ``precision_mode FP16``
(that is ``trt_fp16_enable``, which lets a weakly typed TensorRT build run the graph's float32 regions in
fp16 as well); int8 asks for ``precision_mode INT8``, which a weakly typed TensorRT needs for Q/DQ layers.
fp32 repositories run on the CUDA provider as exported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from amc.export.onnx import build_onnx
from amc.export.tensorrt import build_tensorrt

if TYPE_CHECKING:
    from amc.export.job import ExportJob

MODEL_NAME = "amc"
PLATFORMS = {".onnx": "onnxruntime_onnx", ".plan": "tensorrt_plan"}
QUEUE_DELAY_US = 100
TRT_CACHE = "/tmp/amc-triton-trt-cache"  # writable inside Triton's container; the repository may be read-only


def trt_accelerator(meta: dict[str, Any], precision: str, max_batch: int) -> dict[str, str] | None:
    """Parameters of ORT's TensorRT accelerator for an ONNX repository of this precision (None: not used)."""
    if precision not in ("fp16", "int8"):
        return None
    length, opt = int(meta["frame_length"]), max(1, min(64, max_batch))
    params = {"max_workspace_size_bytes": str(1 << 30),
              "trt_profile_min_shapes": f"iq:1x2x{length}", "trt_profile_opt_shapes": f"iq:{opt}x2x{length}",
              "trt_profile_max_shapes": f"iq:{max_batch}x2x{length}",
              "trt_engine_cache_enable": "1", "trt_engine_cache_path": TRT_CACHE}
    if precision == "int8":
        params["precision_mode"] = "INT8"
    return params


def _tensor(name: str, dims: list[int], extra: str = "") -> str:
    return f'  {{\n    name: "{name}"\n    data_type: TYPE_FP32\n    dims: [ {", ".join(map(str, dims))} ]\n{extra}  }}'


def config_pbtxt(meta: dict[str, Any], platform: str, max_batch: int, name: str = MODEL_NAME,
                 preferred: list[int] | None = None, queue_delay_us: int = QUEUE_DELAY_US, instances: int = 1,
                 accelerator: dict[str, str] | None = None, parameters: dict[str, str] | None = None) -> str:
    """The text of config.pbtxt for an amc model (protobuf text format of Triton's ModelConfig)."""
    length, n_classes = int(meta["frame_length"]), len(meta["classes"])
    outputs = [_tensor("logits", [n_classes]),
               _tensor("probs", [n_classes], '    label_filename: "labels.txt"\n'),
               _tensor("eta", [1], "    reshape: { shape: [ ] }\n"),
               _tensor("snr_db", [1], "    reshape: { shape: [ ] }\n")]
    if "denoised" in meta.get("outputs", []):
        outputs.append(_tensor("denoised", [2, length]))
    preferred = preferred or sorted({min(64, max_batch), max_batch})
    lines = [
        f'name: "{name}"', f'platform: "{platform}"', f"max_batch_size: {max_batch}",
        "input [\n" + _tensor("iq", [2, length]) + "\n]",
        "output [\n" + ",\n".join(outputs) + "\n]",
        "dynamic_batching {\n  preferred_batch_size: [ " + ", ".join(map(str, preferred)) + " ]\n"
        f"  max_queue_delay_microseconds: {queue_delay_us}\n}}",
        f"instance_group [\n  {{\n    count: {instances}\n  }}\n]",
    ]
    if accelerator and platform == "onnxruntime_onnx":  # ORT's TensorRT accelerator: an ONNX option only
        params = "".join(f'      parameters {{ key: "{k}" value: "{v}" }}\n' for k, v in accelerator.items())
        lines.append("optimization {\n  execution_accelerators {\n    gpu_execution_accelerator : [ {\n"
                     '      name : "tensorrt"\n' + params + "    } ]\n  }\n}")
    for key, value in (parameters or {}).items():  # model parameters: what built the plan, for people and tools
        lines.append(f'parameters {{\n  key: "{key}"\n  value: {{ string_value: "{value}" }}\n}}')
    return "\n".join(lines) + "\n"


def write_config(model_dir: Path, meta: dict[str, Any], platform: str, name: str = MODEL_NAME,
                 **config: Any) -> None:
    max_batch = int(config.pop("max_batch", meta.get("max_batch", 256)))
    (model_dir / "config.pbtxt").write_text(config_pbtxt(meta, platform, max_batch, name=name, **config))
    (model_dir / "labels.txt").write_text("".join(f"{c}\n" for c in meta["classes"]))


def _build(job: ExportJob, suffix: str) -> None:
    model_dir = job.out / MODEL_NAME
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    repo, plain = job.out, job.plain
    job.out = model_dir / "1" / f"model{suffix}"
    try:
        if suffix == ".onnx":
            build_onnx(job)
        else:
            job.plain = True
            build_tensorrt(job)
    finally:
        job.out, job.plain = repo, plain
    accelerator = trt_accelerator(job.metadata, job.precision, job.max_batch) if suffix == ".onnx" else None
    facts = job.extra.get("tensorrt") or {}
    parameters = {"amc_tensorrt_flavour": f"{facts['flavour']} {facts['version']}",
                  "amc_compute_capabilities": ",".join(facts["compute_capabilities"])} if facts else None
    write_config(model_dir, job.metadata, PLATFORMS[suffix], max_batch=job.max_batch, accelerator=accelerator,
                 parameters=parameters)
    job.notes.append(f"Triton repository: {MODEL_NAME}/config.pbtxt ({PLATFORMS[suffix]}, max_batch_size "
                     f"{job.max_batch}); eta / snr_db are served as (B, 1) via reshape")


def build_triton_onnx(job: ExportJob) -> None:
    """Format 'triton': a repository serving the ONNX file with onnxruntime_onnx."""
    _build(job, ".onnx")


def build_triton_tensorrt(job: ExportJob) -> None:
    """Formats 'triton-tensorrt' / 'triton-tensorrt-rtx': a repository serving a bare TensorRT plan with
    tensorrt_plan; config.pbtxt's parameters name the flavour, its version and the plan's compute
    capabilities (a Triton whose TensorRT backend is the data-centre TensorRT loads only 'tensorrt' plans)."""
    _build(job, ".plan")
