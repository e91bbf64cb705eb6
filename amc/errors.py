"""amc's error types, below every layer so that any module can raise them without importing another layer.

Every ``AmcError`` is bad input from the user (a value, a file, a frame): one line naming the problem and
the fix; the CLI prints it as ``error: ...`` with exit code 2. Anything else is a bug and keeps its
traceback. The modules that used to define them (``amc.config``, ``amc.data.io``, ``amc.train.checkpoint``,
``amc.export.errors``) re-export them under the old names.
"""

from __future__ import annotations


class AmcError(ValueError):
    """Bad input from the user (a value, a file, a frame): one line naming the problem and the fix.

    The CLI prints these as `error: ...` with exit code 2; anything else is a bug and keeps its traceback.
    """


class ConfigError(AmcError):
    """A configuration value or key is invalid; the message names it and the fix."""


class DataError(AmcError):
    """A dataset or model file is missing, corrupted or malformed; the message names the file and the fix."""


class CheckpointError(AmcError):
    """A checkpoint is missing, corrupted, untrusted or from another model."""


class ExportError(ConfigError):
    """An export cannot be made or did not verify; the message is one line naming the fix."""
