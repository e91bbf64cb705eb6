#!/usr/bin/env bash
# CI: a base install (`pip install -e .`, no extras, no torch) starts: every command module imports,
# `amc --help` and each command's --help run, and the packaged ONNX model classifies a recording.
# It catches an import that only an extra (or the [dev] install CI otherwise uses) happens to provide.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-plain
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e .
if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "plain install: torch is installed by the base dependencies" >&2; exit 1
fi
"$VENV/bin/python" - <<'PY'
import importlib, pkgutil, sys
import amc.cli
names = [m.name for m in pkgutil.iter_modules(amc.cli.__path__, "amc.cli.")]
for name in names:
    importlib.import_module(name)
bad = [m for m in ("torch", "h5py", "onnxslim") if m in sys.modules]
assert not bad, f"importing the CLI loaded {bad}"
print(f"plain install: {len(names)} command modules import")
PY
"$VENV/bin/amc" --help > /dev/null
for cmd in data train export eval-engine serve bench classify compare quickstart; do
  "$VENV/bin/amc" "$cmd" --help > /dev/null
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$VENV/bin/python" -c "import numpy as np; np.random.default_rng(0).standard_normal(2 * 16384).astype(np.float32).tofile('$tmp/rec.cf32')"
"$VENV/bin/amc" classify "$tmp/rec.cf32" --format cf32 --sample-rate 200000 --no-annotate --rows "$tmp/rows.jsonl" > /dev/null
test -s "$tmp/rows.jsonl"
echo "plain install: amc --help, every command's --help and amc classify (packaged ONNX model) ran"
