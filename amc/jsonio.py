"""The one JSON encoding of amc's results, for the CLI's --json files, reports and the HTTP service.

Output is strict JSON (RFC 8259): no ``NaN`` / ``Infinity`` literals, which Python's json writes by
default but JavaScript's JSON.parse, jq and most other readers refuse. A non-finite number becomes
``null``: "no value" (an accuracy over zero frames, a latency not measured). Not the strings "NaN" /
"Infinity": a number field that sometimes holds a string breaks every reader that does arithmetic on
it, while null is what pandas' to_json and JSON Schema's ``["number", "null"]`` already mean by a
missing number. The sign of an infinity is lost; no amc result needs it.

numpy scalars and arrays become Python numbers and lists, tuples lists, paths and other objects
their str(), dict keys str.
"""

from __future__ import annotations

import json
import math
from typing import Any


def plain(obj: Any) -> Any:
    """obj as JSON-ready Python: non-finite floats None, numpy values Python, tuples lists, others str()."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, int):
        return obj
    if hasattr(obj, "tolist"):  # numpy arrays and scalars (np.float32(nan) included)
        return plain(obj.tolist())
    return str(obj)


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of plain(obj); kwargs as json.dumps (indent, sort_keys)."""
    return json.dumps(plain(obj), allow_nan=False, **kwargs)


def _refuse(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def loads_strict(text: str | bytes) -> Any:
    """json.loads that refuses NaN / Infinity / -Infinity literals (what a strict reader does)."""
    return json.loads(text, parse_constant=_refuse)
