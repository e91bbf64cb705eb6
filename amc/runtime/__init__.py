"""The one inference layer (being moved here from amc.serve.runtime; import from amc.runtime)."""

from amc.serve.runtime import Engine, InputError, Prediction, check_classes, validate_iq

__all__ = ["Engine", "InputError", "Prediction", "check_classes", "validate_iq"]
