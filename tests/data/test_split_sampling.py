import numpy as np
import pytest
import torch

from amc.data.sampling import degrade, snr_balanced_order, time_shift
from amc.data.split import split_from_identity, stratified_split


def test_split_is_stratified_disjoint_and_deterministic():
    labels = np.repeat(np.arange(4), 100)
    snr = np.tile(np.repeat([-10.0, 0.0, 10.0, 20.0], 25), 4)
    s = stratified_split(labels, snr, 0.2, 0.2, seed=3)
    allidx = np.concatenate([s.train, s.val, s.test])
    assert len(allidx) == 400 and len(np.unique(allidx)) == 400
    for part, frac in ((s.val, 0.2), (s.test, 0.2)):
        for c in range(4):
            for v in (-10.0, 0.0, 10.0, 20.0):
                assert ((labels[part] == c) & (snr[part] == v)).sum() == int(25 * frac)
    again = stratified_split(labels, snr, 0.2, 0.2, seed=3)
    np.testing.assert_array_equal(again.val, s.val)
    other = stratified_split(labels, snr, 0.2, 0.2, seed=4)
    assert not np.array_equal(other.val, s.val)
    np.testing.assert_array_equal(split_from_identity(labels, snr, s.identity).val, s.val)
    with pytest.raises(ValueError, match="frames"):
        split_from_identity(labels[:-1], snr[:-1], s.identity)


def test_snr_balanced_order_equalises_snrs():
    snr = np.array([0.0] * 900 + [10.0] * 100)
    order = snr_balanced_order(snr, np.random.default_rng(0))
    assert len(order) == 1000
    frac10 = (snr[order] == 10.0).mean()
    assert frac10 == pytest.approx(0.5, abs=0.01)


def test_degrade_hits_the_new_snr():
    g = torch.Generator().manual_seed(0)
    b, length, snr0 = 512, 1024, 10.0
    s = torch.randn(b, 2, length, generator=g)
    s = s / s.pow(2).sum(1).mean(-1).sqrt().view(-1, 1, 1) * (1 / (1 + 10 ** (-snr0 / 10))) ** 0.5
    n = torch.randn(b, 2, length, generator=g)
    n = n / n.pow(2).sum(1).mean(-1).sqrt().view(-1, 1, 1) * (1 - 1 / (1 + 10 ** (-snr0 / 10))) ** 0.5
    x = s + n
    xd, new = degrade(x, torch.full((b,), snr0), (4.0, 4.0), g)
    assert torch.allclose(new, torch.full((b,), 6.0))
    noise_total = (xd - s).pow(2).sum(1).mean(-1)
    measured = 10 * torch.log10(s.pow(2).sum(1).mean(-1) / noise_total)
    assert measured.mean().item() == pytest.approx(6.0, abs=0.1)
    _, focused = degrade(x, torch.full((b,), snr0), (0.0, 30.0), g, focus=(-14.0, -6.0))
    assert focused.min() >= -14.0 - 1e-5 and focused.max() <= -6.0 + 1e-5


def test_time_shift_is_circular_and_shared():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 2 * 8, dtype=torch.float32).view(2, 2, 8)
    y = x * 10
    xs, ys = time_shift([x, y], g)
    assert torch.equal(ys, xs * 10)
    for i in range(2):
        k = int(((xs[i, 0] - x[i, 0, 0]) == 0).nonzero()[0])
        assert torch.equal(xs[i], torch.roll(x[i], k, dims=-1))
