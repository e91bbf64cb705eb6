"""Resuming a run: what a resume must match, and the run-wide state that travels in last.pt.

A resumed run equals an uninterrupted one: besides model, optimiser and scheduler, last.pt carries the
run-wide mixup statistics, the AMP GradScaler and the early-stopping state. A resume may change only
how long the run goes (epochs, patience), where the data lives (its fingerprint is checked through the
split identity) and DataLoader workers; any other difference is refused by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amc.config import ConfigError, ModelConfig, TrainConfig, to_dict
from amc.train.checkpoint import load_checkpoint
from amc.train.mixup import MixupStats

MAY_CHANGE = {"epochs", "patience", "num_workers", "threads", "data", "out_dir"}  # train settings a resume may change


@dataclass
class RunState:
    """Where a run stands after its last complete epoch."""

    epoch: int = 0  # epochs done
    best: float = -1.0  # best value of the selection metric
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs since the last improvement
    history: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl rows
    mixup: MixupStats = field(default_factory=MixupStats)  # run-wide mixup statistics

    def stopped(self, patience: int) -> bool:
        """Early stopping has ended the run (with this patience)."""
        return bool(patience and self.bad_epochs >= patience)

    def to_checkpoint(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "mixup_state": self.mixup.state()}


def _differs(stored: dict[str, Any], wanted: dict[str, Any], skip: set[str]) -> tuple[str, Any, Any] | None:
    for key, value in wanted.items():
        if key in skip or key not in stored:
            continue
        old = stored[key]
        if isinstance(value, tuple | list) or isinstance(old, tuple | list):
            same = json.dumps(old, default=list) == json.dumps(value, default=list)
        elif isinstance(value, dict):
            same = json.dumps(old, default=list, sort_keys=True) == json.dumps(value, default=list, sort_keys=True)
        else:
            same = old == value
        if not same:
            return key, old, value
    return None


def restore(path: Path, model_cfg: ModelConfig, cfg: TrainConfig, split_identity: dict[str, Any]
            ) -> tuple[dict[str, Any], RunState]:
    """(checkpoint, state) of a run's last.pt, refusing a resume with other settings or other data."""
    ck = load_checkpoint(path)
    fix = "resume with the run's own settings (they are in its config.json) or start a new --out"
    if ck["split"].get("fingerprint") != split_identity.get("fingerprint"):
        raise ConfigError(f"{path} was trained on other data (dataset fingerprint {ck['split'].get('fingerprint')}, "
                          f"this file has {split_identity.get('fingerprint')}); pass the run's dataset to resume")
    diff = _differs(ck["model_config"], to_dict(model_cfg), set())
    if diff is None:
        diff = _differs(ck.get("train_config", {}), to_dict(cfg), MAY_CHANGE)
    if diff is not None:
        key, old, new = diff
        raise ConfigError(f"{path} was trained with {key}={old!r}, not {new!r}; {fix}")
    if ck["split"] != split_identity:
        raise ConfigError(f"{path} was trained on another split of the data; {fix}")
    history = [json.loads(line) for line in (path.parent / "metrics.jsonl").read_text().splitlines()]
    state = RunState(epoch=int(ck["epoch"]), best=float(ck["best"]), best_epoch=int(ck["best_epoch"]),
                     bad_epochs=int(ck["bad_epochs"]), history=history[: int(ck["epoch"])],
                     mixup=MixupStats.from_state(ck.get("mixup_state")))
    return ck, state
