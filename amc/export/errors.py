"""The export layer's error: one line naming what cannot be made, or did not verify, and the fix.

Defined in ``amc.errors`` (with every other error type); re-exported here under its old name.
"""

from __future__ import annotations

from amc.errors import ExportError

__all__ = ["ExportError"]
