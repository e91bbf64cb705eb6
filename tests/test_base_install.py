"""A base install (no [train] extra: no torch, no onnxslim) serves and classifies an ONNX model, and the
ONNX path never imports torch or h5py even where they are installed (issue 22, item 4).

Each check runs in a fresh interpreter where a meta-path finder makes ``import torch`` fail as it does on
a machine without the package.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CODE = r'''
import json, sys
blocked = [m for m in sys.argv[1].split(",") if m]


class Absent:  # `import m` raises ModuleNotFoundError, as on an install without it
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, Absent())
import numpy as np
from typer.testing import CliRunner
from amc.cli import app
help_ok = CliRunner().invoke(app, ["--help"]).exit_code == 0
import amc.eval.engine_eval  # eval-engine and bench of an exported model need no torch either
import amc.serve.bench
import amc.serve.server
from amc.classify import ClassifySettings, classify
from amc.pretrained import model_path
from amc.runtime import Engine
eng = Engine.load(model_path())
p = eng.predict(np.random.default_rng(0).standard_normal((3, 2, eng.frame_length)).astype(np.float32))
amc.serve.server.create_app(eng)
rec = sys.argv[2]
np.random.default_rng(1).standard_normal(2 * 8192).astype(np.float32).tofile(rec)
r = classify(ClassifySettings(input=rec, model=str(model_path()), format="cf32",
                              sample_rate=eng.metadata["sample_rate"],
                              progress=False, annotate=False))
print(json.dumps({"help": help_ok, "labels": len(p.label), "windows": r["windows"],
                  "loaded": sorted(m for m in ("torch", "h5py", "onnxslim") if m in sys.modules and m not in blocked)}))
'''


def run(tmp_path, blocked: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CODE, blocked, str(tmp_path / "rec.cf32")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_onnx_serve_and_classify_import_neither_torch_nor_h5py(tmp_path):
    pytest.importorskip("fastapi")
    r = run(tmp_path, "")
    assert r["loaded"] == [], f"the ONNX path imported {r['loaded']}"
    assert r["help"] and r["labels"] == 3 and r["windows"] >= 8


def test_without_the_train_extra_help_serve_and_classify_work(tmp_path):
    pytest.importorskip("fastapi")
    r = run(tmp_path, "torch,onnxslim")
    assert r["help"] and r["labels"] == 3 and r["windows"] >= 8


def test_a_torch_model_without_torch_is_one_error_naming_the_extra(tmp_path):
    code = ("import sys\n"
            "class Absent:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ModuleNotFoundError(name, name=name)\n"
            "sys.meta_path.insert(0, Absent())\n"
            "from amc.runtime import Engine\n"
            "from amc.errors import AmcError\n"
            f"open({str(tmp_path / 'm.pt')!r}, 'wb').write(b'PK\\x03\\x04rest')\n"
            "try:\n"
            f"    Engine.load({str(tmp_path / 'm.pt')!r})\n"
            "except AmcError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "needs torch" in out.stdout and "amc[train]" in out.stdout, out.stdout
