"""amc: automatic modulation classification from RadioML data to a verified inference engine."""

__version__ = "0.1.0"
