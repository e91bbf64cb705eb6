"""The pretrained models shipped inside the package, and their cards.

Each packaged model is a name in `PACKAGED` (its ONNX fp32 file and card, both in this folder).
`default` (alias `rml2016`) is the one other commands fall back to when no model is named;
`model_path(name)` and `card(name)` find a packaged model's files, and `resolve_model(value)` turns what a
user typed after `--model` / MODEL into a path: an existing file or run directory wins, else a packaged
name. Each model is rebuilt, with its card, by its own build module (the card names it). They were
trained on synthetic frames only, never on real recordings, unless their card says otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from amc.config import AmcError


@dataclass(frozen=True)
class Packaged:
    model: str  # ONNX file in this package folder
    card: str  # its card (JSON; a card.md beside it for people)
    build: str  # the command that rebuilds both
    summary: str  # one line for help texts and error messages


DEFAULT = "default"
PACKAGED: dict[str, Packaged] = {
    "default": Packaged("default.onnx", "card.json", "python -m amc.pretrained.build",
                        "rml2016 classes at 128 samples, trained on amc's numpy generator"),
    "gr2016": Packaged("gr2016.onnx", "gr2016_card.json", "python -m amc.pretrained.build_gr",
                       "rml2016 classes at 128 samples, trained on RML2016.10a's GNU Radio chain"),
    "sdr": Packaged("sdr.onnx", "sdr_card.json", "python -m amc.pretrained.build_sdr",
                    "16 short-range-device classes (OOK, ASK, FSK, ...) at 512 samples / 125 kHz, for real captures "
                    "with amc classify --scan"),
}
ALIASES = {"rml2016": "default"}  # other names users may type for a packaged model

# kept for callers that predate the registry
MODEL_FILE = PACKAGED[DEFAULT].model
CARD_FILE = PACKAGED[DEFAULT].card


def names() -> list[str]:
    """Every name `resolve_model` accepts for a packaged model (aliases included)."""
    return [*PACKAGED, *ALIASES]


def _entry(name: str) -> tuple[str, Packaged]:
    key = ALIASES.get(name, name)
    if key not in PACKAGED:
        raise AmcError(f"no packaged model named '{name}'; packaged models: {', '.join(names())}")
    return key, PACKAGED[key]


def _path(key: str, file: str, build: str) -> Path:
    path = Path(str(resources.files(__name__) / file))
    if not path.is_file():
        raise AmcError(f"the packaged model '{key}' is missing ({path.name}); rebuild it with `{build}` "
                       "or pass a model file")
    return path


def model_path(name: str = DEFAULT) -> Path:
    """Path of a packaged model's ONNX fp32 file."""
    key, p = _entry(name)
    return _path(key, p.model, p.build)


def default_model() -> Path:
    """Path of the packaged default model (ONNX fp32, rml2016 classes, L=128)."""
    return model_path(DEFAULT)


def card(name: str = DEFAULT) -> dict[str, Any]:
    """A packaged model's card: data, recipe, date and machine, per-band / per-SNR / per-class accuracy."""
    key, p = _entry(name)
    return json.loads(_path(key, p.card, p.build).read_text())


def packaged_card(path: str | Path) -> dict[str, Any] | None:
    """The card of the packaged model at `path` (the file itself, wherever it was named from), else None."""
    try:
        target = Path(path).resolve()
    except OSError:
        return None
    for key in PACKAGED:
        try:
            if model_path(key).resolve() == target:
                return card(key)
        except AmcError:
            continue
    return None


def resolve_model(value: str | Path | None) -> Path:
    """What a user typed as a model: None -> the default model; an existing path -> itself; a packaged name
    -> its file. Anything else is one error naming both kinds of answer."""
    if value is None:
        return default_model()
    path = Path(value)
    if path.exists():
        return path
    if str(value) in names():
        return model_path(str(value))
    if path.suffix or len(path.parts) > 1:  # meant as a file
        raise AmcError(f"{value}: no such file or directory; pass a model file (.onnx, .engine, .pt, a run "
                       f"directory) or a packaged model's name ({', '.join(names())})")
    raise AmcError(f"model '{value}' is neither a file nor a packaged model; pass a model file (.onnx, "
                   f".engine, .pt, a run directory) or one of: {', '.join(names())}")
