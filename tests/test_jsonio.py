"""One JSON encoding of non-finite numbers (amc.jsonio): strict JSON from the CLI's --json and the service."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from amc import jsonio
from amc.cli import app


def test_non_finite_numbers_become_null_and_the_text_is_strict_json():
    obj = {"acc": float("nan"), "hi": float("inf"), "lo": -math.inf, "f32": np.float32("nan"),
           "arr": np.array([1.5, np.nan, np.inf]), "tup": (1, 2.5), 3: np.int64(7), "ok": True, "none": None}
    text = jsonio.dumps(obj)
    back = jsonio.loads_strict(text)  # raises on a NaN / Infinity literal
    assert back == {"acc": None, "hi": None, "lo": None, "f32": None, "arr": [1.5, None, None], "tup": [1, 2.5],
                    "3": 7, "ok": True, "none": None}
    assert "NaN" not in text and "Infinity" not in text
    assert json.dumps(float("nan")) == "NaN"  # what the standard library writes without jsonio
    with pytest.raises(ValueError, match="NaN"):
        jsonio.loads_strict('{"a": NaN}')


def test_cli_json_output_with_a_nan_is_strict(monkeypatch, tmp_path):
    import amc.data.build as build

    desc = {"path": "x.h5", "frames": 2, "frame_length": 128, "classes": ["BPSK"], "snrs": [float("nan"), 10.0],
            "counts": [[1, 1]], "has_clean": False, "fingerprint": "0", "power": np.float32("inf")}
    monkeypatch.setattr(build, "describe", lambda path: desc)
    (tmp_path / "x.h5").write_bytes(b"")
    r = CliRunner().invoke(app, ["data", "info", str(tmp_path / "x.h5"), "--json", "-"])
    assert r.exit_code == 0, r.output
    doc = jsonio.loads_strict(r.stdout)
    assert doc["snrs"] == [None, 10.0] and doc["power"] is None



def test_service_answers_a_nan_in_model_metadata_as_null():
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    import asyncio

    from amc.serve.server import create_app

    class Engine:  # the interface create_app uses; run() is never called here
        classes, frame_length, backend, precision, max_batch = ["A", "B"], 8, "onnxruntime", "fp32", 4
        metadata = {"train_metrics": {"val_acc": float("nan"), "per_snr": {"0": float("inf")}}, "seed": np.int64(3)}

        def warmup(self, sizes):
            pass

        def run(self, x):
            raise AssertionError("not called")

    async def go():
        app = create_app(Engine())
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://amc") as c:
            return await c.get("/v1/model")

    r = asyncio.run(go())
    assert r.status_code == 200
    info = jsonio.loads_strict(r.text)
    assert info["train_metrics"]["val_acc"] is None and info["train_metrics"]["per_snr"] == {"0": None}
    assert info["metadata"]["seed"] == 3
