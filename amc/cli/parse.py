"""Text on the command line -> typed values, with one-line errors that name the flag and the fix."""

from __future__ import annotations

import math
from typing import Any

from amc.config import ConfigError

MAX_GRID_POINTS = 1000  # an SNR grid longer than this is a typo (e.g. a step of 0.0001)


def grid(text: str, flag: str = "--snrs") -> list[float]:
    """'-20:18:2' (start:stop:step, stop included when it lands on the grid, as MATLAB's colon) or a list.

    '0:10:3' -> 0, 3, 6, 9; '-20:20:2' -> -20 .. 20 (21 points). Duplicates in a list are refused.
    """
    fix = f"use start:stop:step (e.g. {flag}=-20:18:2, stop included) or a list (e.g. {flag}=-10,0,10)"
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        try:
            start, stop, step = (float(t) for t in parts)
        except ValueError:
            raise ConfigError(f"cannot parse {flag} '{text}': {fix}") from None
        if not all(math.isfinite(v) for v in (start, stop, step)):
            raise ConfigError(f"{flag} '{text}': start, stop and step must be finite numbers")
        if step <= 0:
            raise ConfigError(f"{flag} '{text}': step must be > 0, got {step:g}")
        if stop < start:
            raise ConfigError(f"{flag} '{text}': stop ({stop:g}) must be at or above start ({start:g}); "
                              f"e.g. {flag}={stop:g}:{start:g}:{step:g}")
        n = int(math.floor((stop - start) / step + 1e-9)) + 1
        if n > MAX_GRID_POINTS:
            raise ConfigError(f"{flag} '{text}' has {n} points (more than {MAX_GRID_POINTS}); use a larger step")
        return [round(start + i * step, 9) for i in range(n)]
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"cannot parse {flag} '{text}': {fix}") from None
    if not values:
        raise ConfigError(f"{flag} is empty: {fix}")
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{flag} '{text}': values must be finite numbers")
    dup = sorted({v for v in values if values.count(v) > 1})
    if dup:
        raise ConfigError(f"{flag} '{text}' repeats {', '.join(f'{v:g}' for v in dup)}; give each value once")
    if len(values) > MAX_GRID_POINTS:
        raise ConfigError(f"{flag} has {len(values)} values (more than {MAX_GRID_POINTS})")
    return values


def names(text: str, flag: str) -> list[str]:
    """'BPSK,QPSK' -> ['BPSK', 'QPSK']; duplicates refused."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"{flag} is empty: give a comma-separated list, e.g. {flag} BPSK,QPSK")
    dup = sorted({t for t in items if items.count(t) > 1})
    if dup:
        raise ConfigError(f"{flag} '{text}' names {', '.join(dup)} more than once; give each once")
    return items


def span(text: str, flag: str) -> tuple[float, float]:
    """'lo:hi' -> (lo, hi) with lo <= hi ('inf' allowed)."""
    try:
        lo, hi = (float(t) for t in text.split(":"))
    except ValueError:
        raise ConfigError(f"cannot parse {flag} '{text}': use lo:hi, e.g. {flag} 3:10") from None
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ConfigError(f"{flag} '{text}': need lo <= hi")
    return lo, hi


def bands(text: str, flag: str = "--bands") -> dict[str, tuple[float, float]]:
    """'low=-14:-6,mid=-4:6,high=10:inf' -> {'low': (-14, -6), ...}; any names, any number."""
    out: dict[str, tuple[float, float]] = {}
    for part in [p for p in text.split(",") if p.strip()]:
        name, eq, edges = part.partition("=")
        name = name.strip()
        if not eq or not name:
            raise ConfigError(f"cannot parse {flag} '{text}': use name=lo:hi,... e.g. "
                              f"{flag} weak=-20:-10,strong=10:inf")
        if name in out:
            raise ConfigError(f"{flag}: band '{name}' is given twice")
        out[name] = span(edges, f"{flag} {name}")
    if not out:
        raise ConfigError(f"{flag} is empty: use name=lo:hi,... e.g. {flag} low=-14:-6,high=10:inf")
    return out


def optional(text: str, convert: Any, flag: str) -> Any:
    """'none' -> None, else convert(text) (a ConfigError naming the flag if it cannot)."""
    if text.strip().lower() in ("none", "null", ""):
        return None
    try:
        return convert(text)
    except ValueError:
        raise ConfigError(f"cannot parse {flag} '{text}': expected a {convert.__name__} or 'none'") from None
