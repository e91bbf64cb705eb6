"""benchmarks/gpu_check.sh --dry-run: the GPU check's steps on the CPU at toy sizes, so that the script is
known to work before device time is spent on it. Checks what it wrote, not what it printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1",
           # the budget fits the GPU machine; on a shared CPU the dry run's steps get all the time they need, so
           # the test checks what the steps did, never how fast this machine was
           "AMC_GPU_CHECK_BUDGET": "3600"}
    env.pop("AMC_COMPILE_BACKEND", None)
    p = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], capture_output=True,
                       text=True, env=env, timeout=7200)  # a hang guard, not a budget
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert sorted(f.name for f in out.iterdir()) == ["bench_classify.json", "gpu_check.json", "gpu_check.log",
                                                          "gpu_check.md"]
    r = json.loads((out / "gpu_check.json").read_text())
    assert r["dry_run"] is True and r["versions"]["torch"]
    status = {s["step"]: s for s in r["steps"]}
    assert [s["step"] for s in r["steps"]] == ["environment", "pytest -m gpu", "suite CUDA paths", "train a4 + resume",
                                               "export + eval-engine", "bench", "classify"]
    for name in ("environment", "pytest -m gpu", "train a4 + resume", "export + eval-engine", "bench", "classify"):
        assert status[name]["status"] == "ok", status[name]
    assert status["suite CUDA paths"]["status"] == "skipped" and status["suite CUDA paths"]["reason"]
    assert status["train a4 + resume"]["resume_equal"] is True
    exports = {(e["format"], e["precision"]): e for e in r["exports"]}
    assert set(exports) == {("onnx", "fp32"), ("onnx", "int8"), ("torch-compiled", "fp32"), ("tensorrt-rtx", "int8")}
    rtx = exports.pop(("tensorrt-rtx", "int8"))  # a real engine built on the CPU; nothing here can run it
    if r["versions"]["tensorrt_rtx"].startswith("not importable"):
        assert rtx["status"] == "skipped" and "tensorrt_rtx package is not installed" in rtx["reason"]
    else:
        assert rtx["status"] == "built, not run" and rtx["reason"] == "no CUDA device", rtx
        assert rtx["parity"].startswith("parity vs PyTorch: not checked at export (no GPU here")
        assert Path(rtx["path"]).name == "tensorrt-rtx-int8.engine"
    for e in exports.values():
        # an untrained toy model's int8 frames are all near ties: accuracy on 44 frames cannot show +-1 pp, so
        # the export's parity is honestly inconclusive (the gate then decides on enough frames); never FAIL
        honest = "-> pass" in e["parity"] or ("near ties" in e["parity"] and "-> inconclusive" in e["parity"])
        assert e["status"] == "ok" and e["eval_exit"] == 0 and honest, e
        assert e["torch_agreement"] is not None and e["torch_agreement"] >= 0.9
    benched = {b["engine"]: b for b in r["bench"]}
    assert set(benched) == {"torch-compiled fp32", "onnx fp32"}
    for b in benched.values():
        assert [row["batch"] for row in b["rows"]] == [1, 2, 4]
        for row in b["rows"]:
            assert 0 < row["p50_ms"] <= row["p99_ms"]
            assert abs(row["msps"] - row["frames_per_s"] * b["frame_length"] / 1e6) < 1e-9
    assert benched["torch-compiled fp32"]["speedup_vs_eager"]
    assert benched["onnx fp32"]["providers"][0] == "CPUExecutionProvider"
    cls = status["classify"]
    assert cls["provider"] == "cpu" and set(cls["realtime_x_at_1msps"]) >= {"cldnn fp32", "a4 fp32"}
    assert all(v > 0 for v in cls["realtime_x_at_1msps"].values())
    assert (out / "bench_classify.json").is_file()
    md = (out / "gpu_check.md").read_text()
    assert md.startswith("# amc GPU check (dry run, CPU)") and "| train a4 + resume | ok |" in md
    assert "## bench torch-compiled fp32" in md and "MS/s" in md
    assert not list(tmp_path.glob("amc-gpu-check-*")), "the scratch directory was left behind"
