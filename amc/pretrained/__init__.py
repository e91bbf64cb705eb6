"""The pretrained default model shipped inside the package, and its card.

`default_model()` is the ONNX fp32 file other commands fall back to when no model is named; `card()`
is what it was trained on and how accurate it is (rebuilt, with the file, by
`python -m amc.pretrained.build`). It was trained on amc's synthetic frames only, never on real
recordings.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from amc.config import AmcError

MODEL_FILE = "default.onnx"
CARD_FILE = "card.json"


def _path(name: str) -> Path:
    path = Path(str(resources.files(__name__) / name))
    if not path.is_file():
        raise AmcError(f"the packaged default model is missing ({path}); rebuild it with "
                       "`python -m amc.pretrained.build` or pass a model file")
    return path


def default_model() -> Path:
    """Path of the packaged default model (ONNX fp32, rml2016 classes, L=128)."""
    return _path(MODEL_FILE)


def card() -> dict[str, Any]:
    """The default model's card: data, recipe, date and machine, per-band / per-SNR / per-class accuracy."""
    return json.loads(_path(CARD_FILE).read_text())
