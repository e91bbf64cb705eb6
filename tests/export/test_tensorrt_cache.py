"""The TensorRT builder's timing cache, without TensorRT: ``IBuilderConfig.set_timing_cache`` returns False
for a cache from another GPU or TensorRT version, and the build must then go on with a fresh cache (and
say so) instead of ignoring the result. The stand-in follows the documented Python API:
``create_timing_cache(bytes) -> ITimingCache`` and ``set_timing_cache(cache, ignore_mismatch) -> bool``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from amc.export import ExportError
from amc.export.tensorrt import use_timing_cache


class Config:
    """An IBuilderConfig that accepts caches made 'here' and refuses others, like TensorRT's header check."""

    def __init__(self, refuse_fresh: bool = False) -> None:
        self.set: list[tuple[bytes, bool]] = []
        self.refuse_fresh = refuse_fresh

    def create_timing_cache(self, blob: bytes) -> Any:
        if blob == b"garbage":
            raise RuntimeError("deserialization failed")
        return {"blob": bytes(blob)}

    def set_timing_cache(self, cache: Any, ignore_mismatch: bool) -> bool:
        self.set.append((cache["blob"], ignore_mismatch))
        if cache["blob"] == b"":
            return not self.refuse_fresh
        return cache["blob"].startswith(b"here")


def test_own_cache_is_used(tmp_path: Path) -> None:
    (tmp_path / "c").write_bytes(b"here:tactics")
    notes: list[str] = []
    config = Config()
    assert use_timing_cache(config, tmp_path / "c", notes) == {"blob": b"here:tactics"}
    assert config.set == [(b"here:tactics", False)] and notes == []  # never ignore a mismatch


@pytest.mark.parametrize("content", [b"other-gpu:tactics", b"garbage"])
def test_foreign_or_damaged_cache_is_replaced_with_a_note(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "c").write_bytes(content)
    notes: list[str] = []
    config = Config()
    assert use_timing_cache(config, tmp_path / "c", notes) == {"blob": b""}
    assert config.set[-1] == (b"", False)
    (note,) = notes
    assert f"timing cache {tmp_path / 'c'} is from another GPU or TensorRT version" in note and "replaced" in note


def test_no_cache_file_starts_fresh(tmp_path: Path) -> None:
    notes: list[str] = []
    assert use_timing_cache(Config(), tmp_path / "missing", notes) == {"blob": b""} and notes == []
    assert use_timing_cache(Config(), None, notes) == {"blob": b""} and notes == []
    with pytest.raises(ExportError, match="TensorRT refused a fresh timing cache"):
        use_timing_cache(Config(refuse_fresh=True), None, notes)


def test_timing_cache_is_replaced_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that dies half way (disk full, killed) leaves the previous cache, not a truncated one."""
    from amc.export.tensorrt import save_timing_cache

    class Full:
        def get_timing_cache(self) -> Any:
            return type("Cache", (), {"serialize": lambda self: b"new tactics " * 100})()

    cache = tmp_path / "trt_timing.cache"
    cache.write_bytes(b"old tactics")

    def dies_half_way(self: Path, data: bytes) -> int:
        with open(self, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", dies_half_way)
    with pytest.raises(OSError, match="No space left"):
        save_timing_cache(Full(), cache)
    monkeypatch.undo()
    assert cache.read_bytes() == b"old tactics" and sorted(p.name for p in tmp_path.iterdir()) == ["trt_timing.cache"]
    save_timing_cache(Full(), cache)
    assert cache.read_bytes() == b"new tactics " * 100
