#!/usr/bin/env bash
# The classify step of the GPU check: `amc classify`'s pipeline with the engine on CUDA (ONNX Runtime's
# CUDA provider; needs `pip install 'amc[gpu]'`). Writes results/bench_classify_gpu.json. Call it from the
# GPU check script as `bash benchmarks/gpu_classify_step.sh`; one run takes about 2-3 minutes.
# On a GPU the reader thread (decode, mix, resample_poly on the CPU) bounds the resampled figures: the
# JSON's engine_wait_s says how long the engine waited for it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
"$PY" -c "import onnxruntime as o, sys; p = o.get_available_providers(); print('onnxruntime providers:', p); \
sys.exit(0 if 'CUDAExecutionProvider' in p else 3)" || { echo "classify step: no CUDAExecutionProvider; skipped"; exit 3; }
"$PY" benchmarks/bench_classify.py --provider cuda --seconds 20 --overhead-seconds 8 --rounds 6 --big-gib 1 \
    --out results/bench_classify_gpu.json "$@"
