"""Labels and segments: thresholds, runs across batch boundaries, short runs absorbed."""

from __future__ import annotations

import numpy as np

from amc.classify.segments import Labeller, Segment, SegmentMerger, absorb_short, shares
from amc.classify.windows import WindowBatch


def batch(first: int, probs: list[list[float]], snr: list[float], span: int = 10) -> WindowBatch:
    n = len(probs)
    start = first + span * np.arange(n)
    return WindowBatch(start=start, own_start=start, own_end=start + span, probs=np.asarray(probs, np.float32),
                       eta=np.zeros(n, np.float32), snr_db=np.asarray(snr, np.float32), tail=np.zeros(n, bool))


def test_labels_noise_unknown_and_runs_across_batches():
    lab = Labeller(["A", "B"], min_prob=0.6, min_snr=0.0, has_noise_head=True)
    merger = SegmentMerger(lab.names, has_snr=True)
    b1 = batch(0, [[0.9, 0.1], [0.8, 0.2], [0.55, 0.45]], [10, 12, 10])  # A A unknown
    b2 = batch(30, [[0.5, 0.5], [0.1, 0.9], [0.2, 0.8], [0.9, 0.1]], [10, 10, 10, -3])  # unknown B B noise
    for b in (b1, b2):
        label, prob = lab(b)
        merger.add(label, prob, b)
    segs = merger.finish()
    assert [(s.label, s.start, s.count, s.windows) for s in segs] == [
        ("A", 0, 20, 2), ("unknown", 20, 20, 2), ("B", 40, 20, 2), ("noise", 60, 10, 1)]
    assert abs(segs[0].prob - 0.85) < 1e-6 and abs(segs[0].snr_db - 11) < 1e-6
    assert shares(segs) == {"A": 20 / 70, "unknown": 20 / 70, "B": 20 / 70, "noise": 10 / 70}


def test_without_a_noise_head_min_snr_is_not_applied():
    lab = Labeller(["A", "B"], min_prob=0.0, min_snr=5.0, has_noise_head=False)
    label, _ = lab(batch(0, [[0.9, 0.1]], [0.0]))
    assert lab.names[label[0]] == "A"


def seg(label: str, windows: int, start: int) -> Segment:
    return Segment(label, start * 10, windows * 10, windows, 0.9, 10.0, own=windows)


def chain(*runs: tuple[str, int]) -> list[Segment]:
    out, pos = [], 0
    for label, w in runs:
        out.append(seg(label, w, pos))
        pos += w
    return out


def test_absorb_short_joins_slips_and_keeps_boundaries():
    segs = chain(("A", 40), ("B", 1), ("A", 5), ("noise", 30), ("W", 2), ("unknown", 1), ("W", 8), ("Q", 1),
                 ("W", 20), ("Q", 40))
    out = absorb_short(segs, 3)
    assert [(s.label, s.start // 10, s.windows) for s in out] == [
        ("A", 0, 46), ("noise", 46, 30), ("W", 76, 32), ("Q", 108, 40)]
    assert out[0].own == 45 and out[2].own == 30  # absorbed windows are not counted as the segment's own
    assert sum(s.count for s in out) == sum(s.count for s in segs)
    assert absorb_short(segs, 1) == segs


def test_absorb_short_many_flips_terminates_and_covers_everything():
    rng = np.random.default_rng(0)
    segs = chain(*[(str(rng.integers(0, 3)), int(rng.integers(1, 4))) for _ in range(3000)])
    out = absorb_short(segs, 5)
    assert all(s.windows >= 5 for s in out) or len(out) == 1
    assert sum(s.count for s in out) == sum(s.count for s in segs)
    assert all(a.start + a.count == b.start for a, b in zip(out, out[1:]))
