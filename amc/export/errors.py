"""The export layer's error: one line naming what cannot be made, or did not verify, and the fix."""

from __future__ import annotations

from amc.config import ConfigError


class ExportError(ConfigError):
    """An export cannot be made or did not verify; the message is one line naming the fix."""
