"""Per-window labels and their merge into segments: runs of consecutive windows of one label.

A window is labelled ``noise`` when its power is below the runtime's floor (``SILENCE_DB``, digital
silence) or the model's SNR estimate is below ``min_snr`` (only for models with a noise-fraction
head), ``unknown`` when its top probability is below ``min_prob``, else its top class.
Closed segments are kept as typed columns (``array``: 48 bytes a segment), so even a recording that
flips label at every window stays small next to its row output. ``absorb_short`` then merges runs
shorter than ``min_windows`` into a neighbour (the longer one; both, when they share a label): a
classifier's isolated slips do not split a transmission, while every window's own answer stays in the
per-window rows.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from amc.classify.windows import WindowBatch

NOISE, UNKNOWN = "noise", "unknown"


@dataclass
class Segment:
    label: str
    start: int  # first input sample
    count: int  # input samples
    windows: int  # windows it spans (absorbed short runs included)
    prob: float  # mean top probability of the windows labelled like it
    snr_db: float | None  # mean SNR estimate of those windows (None without a noise head)
    own: int = 0  # windows labelled like it (the rest were absorbed from short runs)

    def as_dict(self, sample_rate: float) -> dict:
        return {"label": self.label, "sample_start": self.start, "sample_count": self.count,
                "time_s": self.start / sample_rate, "duration_s": self.count / sample_rate, "windows": self.windows,
                "prob": round(self.prob, 4), "snr_db": None if self.snr_db is None else round(self.snr_db, 2)}


class Labeller:
    """Window label indices: 0..C-1 the classes, C noise, C+1 unknown."""

    def __init__(self, classes: list[str], min_prob: float, min_snr: float | None, has_noise_head: bool):
        self.classes = list(classes)
        self.names = [*self.classes, NOISE, UNKNOWN]
        self.min_prob = min_prob
        self.min_snr = min_snr if has_noise_head else None
        self.has_noise_head = has_noise_head

    def __call__(self, wb: WindowBatch) -> tuple[np.ndarray, np.ndarray]:
        top = wb.probs.argmax(1)
        prob = wb.probs[np.arange(len(top)), top]
        label = top.copy()
        label[prob < self.min_prob] = len(self.classes) + 1
        if self.min_snr is not None:
            label[wb.snr_db < self.min_snr] = len(self.classes)
        if wb.silent is not None:
            label[wb.silent] = len(self.classes)  # below the runtime's power floor: no signal, whatever the model says
        return label, prob


class SegmentMerger:
    """Feed labelled batches in order; closed runs accumulate as columns, the last run stays open."""

    def __init__(self, names: list[str], has_snr: bool):
        self.names = names
        self.has_snr = has_snr
        self.cols = {k: array(t) for k, t in (("label", "q"), ("start", "q"), ("end", "q"), ("windows", "q"),
                                              ("prob", "d"), ("snr", "d"))}
        self.open: list | None = None  # label, start, end, windows, prob sum, snr sum

    def add(self, label: np.ndarray, prob: np.ndarray, wb: WindowBatch) -> None:
        """Runs of this batch: the first may continue the open run, the last stays open, the rest close."""
        if not len(label):
            return
        cut = np.flatnonzero(np.diff(label)) + 1
        lo = np.concatenate([[0], cut])
        hi = np.concatenate([cut, [len(label)]])
        psum = np.add.reduceat(prob.astype(np.float64), lo)
        ssum = np.add.reduceat(wb.snr_db.astype(np.float64), lo)
        runs = [label[lo], wb.own_start[lo], wb.own_end[hi - 1], hi - lo, psum, ssum]
        first = 0
        if self.open is not None and self.open[0] == int(label[0]):
            o = self.open
            o[2] = int(runs[2][0])
            o[3] += int(runs[3][0])
            o[4] += float(psum[0])
            o[5] += float(ssum[0])
            first = 1
            if len(lo) == 1:
                return
        self._close()
        for col, values in zip(self.cols.values(), runs):  # closed runs: in bulk, without a Python loop
            col.extend(values[first:-1].astype(np.int64 if col.typecode == "q" else np.float64).tolist())
        self.open = [int(runs[0][-1]), int(runs[1][-1]), int(runs[2][-1]), int(runs[3][-1]), float(psum[-1]),
                     float(ssum[-1])]

    def _close(self) -> None:
        if self.open is None:
            return
        for col, v in zip(self.cols.values(), self.open):
            col.append(v)
        self.open = None

    def finish(self) -> list[Segment]:
        self._close()
        c = self.cols
        return [Segment(label=self.names[int(lab)], start=int(s), count=int(e - s), windows=int(w), prob=p / w,
                        snr_db=(sn / w) if self.has_snr else None, own=int(w))
                for lab, s, e, w, p, sn in zip(c["label"], c["start"], c["end"], c["windows"], c["prob"], c["snr"])]


def absorb_short(segments: list[Segment], min_windows: int) -> list[Segment]:
    """Merge runs of fewer than ``min_windows`` windows into a neighbour, the shortest first.

    Pass k (k = 1, 2, ...) sweeps left to right over runs of at most k windows: a run between two runs
    of one label joins them, otherwise it joins the neighbour with more windows. Probabilities and SNR
    stay the means over the windows labelled like the segment.
    """
    segs = list(segments)
    level = 1
    while level < min_windows and len(segs) > 1:
        if not any(sg.windows <= level for sg in segs):
            level += 1
            continue
        out: list[Segment] = []
        i = 0
        while i < len(segs):
            sg = segs[i]
            prev = out[-1] if out else None
            nxt = segs[i + 1] if i + 1 < len(segs) else None
            if sg.windows <= level and (prev is not None or nxt is not None):
                if prev is not None and nxt is not None and prev.label == nxt.label:
                    out[-1] = _join(_join(prev, sg, absorb=True), nxt)
                    i += 2
                    continue
                if nxt is None or (prev is not None and prev.windows >= nxt.windows):
                    out[-1] = _join(prev, sg, absorb=True)  # type: ignore[arg-type]
                else:
                    segs[i + 1] = _join(nxt, sg, absorb=True, before=True)
            elif prev is not None and prev.label == sg.label:
                out[-1] = _join(prev, sg)
            else:
                out.append(sg)
            i += 1
        segs = out
    return segs


def _join(a: Segment, b: Segment, absorb: bool = False, before: bool = False) -> Segment:
    """a extended by b (b before a when ``before``); b's windows count as a's own unless absorbed."""
    first, last = (b, a) if before else (a, b)
    own_b = 0 if absorb else b.own
    n = a.own + own_b
    w_b = 0 if absorb else b.own

    def mean(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None else (x * a.own + y * w_b) / max(n, 1)

    return Segment(label=a.label, start=first.start, count=last.start + last.count - first.start,
                   windows=a.windows + b.windows, prob=mean(a.prob, b.prob) or 0.0, snr_db=mean(a.snr_db, b.snr_db),
                   own=n)


def shares(segments: list[Segment]) -> dict[str, float]:
    """Share of the classified time per label, from the final segments."""
    time: dict[str, int] = {}
    for sg in segments:
        time[sg.label] = time.get(sg.label, 0) + sg.count
    total = sum(time.values())
    return {k: v / total for k, v in sorted(time.items(), key=lambda kv: -kv[1])} if total else {}
