#!/usr/bin/env bash
# amc GPU check: one prepared run for whenever a session is lent a GPU (one H100 / H200).
#
# Steps (each recorded ok / failed / skipped-with-reason, with its seconds; a step whose library or
# device is missing is skipped, never failed), with the time each is planned to take on one H100:
#   0. install     the carried wheels (.whl/: onnxslim) and amc itself, --no-index --no-deps   ~10 s
#   1. environment nvidia-smi, python / torch (CUDA, cuDNN) / onnx / onnxruntime (providers) /
#                  tensorrt / tensorrt_rtx / amc versions                                     ~5 s
#   2. pytest -m gpu                 the suite's GPU tests (TensorRT ones skip without it)       ~40 s
#   3. suite CUDA paths              tests that run on CUDA when present: resume equality,
#                                    tests/runtime, export parity, the shipped-graph checks     <=160 s
#   4. train a4 + resume             synthetic RML2016-style data (22k frames), a4 for 3 epochs on
#                                    the GPU; the same run killed in epoch 3 and resumed: weights
#                                    must be equal (torch.equal)                                ~60 s
#   5. export + eval-engine          every format this machine can build: onnx fp32/fp16/int8/
#                                    int8-dynamic, torch-compiled fp32/bf16/fp16, triton; with
#                                    tensorrt importable also tensorrt fp32/fp16/int8 and
#                                    triton-tensorrt fp16; with tensorrt_rtx importable also
#                                    tensorrt-rtx fp32/fp16/int8 (built for this GPU when it is
#                                    a TensorRT-RTX target, else built and not run); each
#                                    verified at export and scored by
#                                    eval-engine against the run (exit 0 pass, 1 drift, 4 inconclusive) ~150 s
#   6. bench                         batch 1..8192: torch-compiled fp32 (vs torch eager on the
#                                    GPU) and bf16, ONNX Runtime on the CPU, TensorRT fp16/int8
#                                    when built: p50 / p99 ms, frames/s, IQ MS/s = frames/s x L / 1e6 ~90 s
#   7. classify                      benchmarks/bench_classify.py: `amc classify` at 1 MS/s (real-time
#                                    factor, pipeline overhead, batch sweep); ORT's CUDA provider
#                                    with onnxruntime-gpu, else the machine's CPUs                ~60 s
# Total budget 450 s for steps 1-7 (the driver skips what no longer fits and says so), plus install
# and the machine's start: within 8 minutes on one H100.
#
# Output: everything under one folder, $OUT when set (the device tool's), else results/gpu/<UTC date>/:
#   gpu_check.json (all figures and every step), gpu_check.md (the summary), gpu_check.log (every
#   command's output). Scratch files (dataset, runs, artifacts) go to a temp dir, not there.
#
# Usage:
#   bash benchmarks/gpu_check.sh            on a GPU machine
#   bash benchmarks/gpu_check.sh --dry-run  the same steps on the CPU at toy sizes, with the current
#                                           Python environment (AMC_GPU_CHECK_CPU=1 does the same);
#                                           tests/test_gpu_check.py runs it in CI
#
# Through the device tool (its README: /work/.library/device/README.md). The lent machines have no
# network and lack onnxslim (and tensorrt, onnxruntime-gpu, fastapi, uvicorn); wheels travel in the
# gitignored .whl/ folder, named in `carry`. Once, here, in the repository root:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl onnxslim==0.1.98
# (onnxslim's own needs - colorama, ml-dtypes, onnx, packaging, sympy - are on the machines; tensorrt-rtx's
# wheels, ~230 MB, exceed the carry limit: where a machine lacks it, the tensorrt-rtx rows are skipped.) Then:
#   run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=570)
# The files come back under the reply's files_at; copy them to results/gpu/<date>/ and commit them.
# PYTHON picks the interpreter (default python3, the one holding torch on the lent machines).

set -uo pipefail
cd "$(dirname "$0")/.."

DRY=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,51p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$arg'; use --dry-run or nothing" >&2; exit 2 ;;
  esac
done
[ "${AMC_GPU_CHECK_CPU:-0}" = "1" ] && DRY=1
PY="${PYTHON:-python3}"
OUTDIR="${OUT:-results/gpu/$(date -u +%Y-%m-%d)}"
mkdir -p "$OUTDIR" || { echo "error: cannot create $OUTDIR" >&2; exit 2; }

if [ "$DRY" = 1 ]; then
  echo "dry run: CPU, toy sizes, this Python environment ($PY)"
else
  SITE="${TMPDIR:-/tmp}/amc-gpu-site"
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
      || echo "note: the carried wheels did not install"
  else
    echo "note: no .whl/ folder was carried: onnxslim must already be installed"
  fi
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --upgrade --target "$SITE" . \
    >/dev/null 2>&1 || echo "note: amc did not install as a package; it runs from this checkout"
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout first: the code under test
export PYTHONUNBUFFERED=1

ARGS=(--out "$OUTDIR")
[ "$DRY" = 1 ] && ARGS+=(--dry-run)
"$PY" benchmarks/gpu_check.py "${ARGS[@]}"
