"""TensorRT-RTX builds without a GPU: every preset x precision, and the packaged default model.

Self-contained: untrained checkpoints at each preset's default widths (L = 128, the 11 RML2016 classes;
build time and size do not depend on the weights), each exported through ``amc.export.export`` with
``--format tensorrt-rtx`` (so each engine passed the layer-precision check), plus the packaged
``default.onnx`` built by ``amc.export.tensorrt.build_engine``. Reported per engine: the builder's own
seconds (``build_serialized_network``), the whole export's seconds (ONNX, simplify, quantization,
check, build), the plan's bytes, the network's layers, and what the precision check counted. The
1-minute load average is recorded: other work on the machine stretches every time.

    python benchmarks/bench_trt_rtx.py [--out results/bench_trt_rtx.json] [--presets cldnn,a3,a4,a5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRECISIONS = ["fp32", "fp16", "int8"]


def make_checkpoint(path: Path, preset_name: str, length: int = 128) -> Path:
    """An untrained checkpoint of the preset (default widths) with amc's full self-description."""
    import torch

    from amc.config import DEFAULT_BANDS, RML2016_CLASSES, preset, to_dict
    from amc.models import build_model
    from amc.train.checkpoint import NORMALISATION, save_checkpoint

    cfg, tcfg = preset(preset_name, frame_length=length, num_classes=len(RML2016_CLASSES))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    snrs = [-10.0, 0.0, 10.0, 20.0]
    return save_checkpoint(path, {
        "model_state": model.state_dict(), "model_config": to_dict(cfg), "train_config": to_dict(tcfg),
        "classes": RML2016_CLASSES, "frame_length": length, "snr_grid": snrs,
        "bands": {k: list(v) for k, v in DEFAULT_BANDS.items()}, "normalisation": NORMALISATION,
        "split": {}, "dataset": "", "epoch": 0, "metrics": {}})


def _row(name: str, precision: str, facts: dict[str, Any], export_s: float | None) -> dict[str, Any]:
    check = facts["precision_check"]
    return {"model": name, "precision": precision, "build_s": facts["build_s"],
            "export_s": None if export_s is None else round(export_s, 2), "plan_bytes": facts["plan_bytes"],
            "layers": check["layers"], "check_passed": check["passed"], "summary": check["summary"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench_trt_rtx.json")
    ap.add_argument("--presets", default="cldnn,a3,a4,a5")
    args = ap.parse_args(argv)
    import tensorrt_rtx

    from amc.export import export
    from amc.export.tensorrt import build_engine
    from amc.pretrained import model_path
    from amc.runtime.artifact import read_metadata

    rows = []
    with tempfile.TemporaryDirectory(prefix="amc-bench-rtx-") as tmp:
        for preset_name in args.presets.split(","):
            ckpt = make_checkpoint(Path(tmp) / preset_name / "best.pt", preset_name)
            for precision in PRECISIONS:
                t = time.perf_counter()
                extra = {"calib_frames": 256} if precision == "int8" else {}
                r = export(ckpt, fmt="tensorrt-rtx", precision=precision, **extra)
                rows.append(_row(preset_name, precision, r.metadata["tensorrt"], time.perf_counter() - t))
                print(json.dumps(rows[-1]), flush=True)
        onnx_path = model_path("default")
        meta = read_metadata(onnx_path)
        facts = build_engine(onnx_path, Path(tmp) / "default.engine", metadata=meta, precision=meta["precision"],
                             flavour="tensorrt-rtx")
        rows.append(_row("default.onnx", meta["precision"], facts, None))
        print(json.dumps(rows[-1]), flush=True)
    result = {"tensorrt_rtx": tensorrt_rtx.__version__, "compute_capabilities": facts["compute_capabilities"],
              "cpu_count": os.cpu_count(), "load_average_1m": os.getloadavg()[0], "frame_length": 128,
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nTensorRT-RTX {result['tensorrt_rtx']}, targets {', '.join(result['compute_capabilities'])}, "
          f"load {result['load_average_1m']:.1f}")
    print(f"{'model':<13} {'prec':<5} {'layers':>6} {'build s':>8} {'export s':>9} {'MB':>6}  check")
    for r in rows:
        exp = "-" if r["export_s"] is None else f"{r['export_s']:.1f}"
        print(f"{r['model']:<13} {r['precision']:<5} {r['layers']:>6} {r['build_s']:>8.1f} {exp:>9} "
              f"{r['plan_bytes'] / 1e6:>6.2f}  {'pass' if r['check_passed'] else 'FAIL'}")
    return result


if __name__ == "__main__":
    main()
