"""Classify real signals: SigMF recordings, raw IQ files and streams -> windows -> Engine -> segments.

    from amc.classify import ClassifySettings, classify          # the whole command, returns a summary
    from amc.classify import open_source, RateMatch, Channeliser, iter_windows   # the streaming core

Modules: ``sources`` (readers), ``channel`` (mix, low-pass, resample), ``windows`` (framing and the
reader/inference pipeline), ``segments`` (labels, merged segments), ``outputs`` (rows, SigMF
annotations), ``plot`` (spectrogram + class timeline), ``run`` (``classify``).
"""

from amc.classify.channel import Channeliser, RateError, RateMatch
from amc.classify.run import ClassifySettings, classify
from amc.classify.sources import Recording, SourceError, open_source
from amc.classify.windows import PipelineStats, WindowBatch, iter_windows

__all__ = ["Channeliser", "ClassifySettings", "PipelineStats", "RateError", "RateMatch", "Recording", "SourceError",
           "WindowBatch", "classify", "iter_windows", "open_source"]
