import numpy as np
import pytest

from amc.metrics import Accumulator, band_means, noise_fraction, wilson_interval


def test_per_snr_and_bands_on_hand_made_predictions():
    snr = np.array([-10, -10, -10, -10, 0, 0, 10, 10, 20, 20])
    labels = np.array([0, 1, 2, 0, 1, 1, 2, 2, 0, 1])
    pred = np.array([0, 0, 0, 1, 1, 1, 2, 0, 0, 1])  # -10: 1/4, 0: 2/2, 10: 1/2, 20: 2/2
    acc = Accumulator(3)
    acc.update(pred[:5], labels[:5], snr[:5])
    acc.update(pred[5:], labels[5:], snr[5:])
    s = acc.summary()
    assert s["per_snr"] == {"-10": 0.25, "0": 1.0, "10": 0.5, "20": 1.0}
    assert s["acc"] == pytest.approx(0.6)
    assert s["bands"]["low"] == 0.25 and s["bands"]["mid"] == 1.0 and s["bands"]["high"] == 0.75
    assert s["counts"]["-10"] == [1, 4]
    assert acc.confusion[0].tolist() == [2, 1, 0] and acc.confusion.sum() == 10


def test_band_means_custom_and_empty():
    per = {"-2": 0.5, "2": 0.7, "30": 0.9}
    assert band_means(per, {"x": (-4.0, 4.0)})["x"] == pytest.approx(0.6)
    assert np.isnan(band_means(per, {"none": (100.0, 200.0)})["none"])


def test_noise_fraction_and_estimator_errors():
    assert noise_fraction(0.0) == pytest.approx(0.5)
    assert noise_fraction(10.0) == pytest.approx(1 / 11)
    acc = Accumulator(2)
    acc.update([0, 1], [0, 1], [0.0, 10.0], eta_hat=[0.6, 1 / 11], snr_hat=[3.0, 6.0])
    s = acc.summary()
    assert s["eta_mae"] == pytest.approx(0.05)
    assert s["snr_rmse_db"] == pytest.approx(np.sqrt((9 + 16) / 2))


def test_wilson_interval():
    lo, hi = wilson_interval(50, 100)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.25, abs=0.01)
    lo, hi = wilson_interval(100, 100)
    assert hi == pytest.approx(1.0) and lo > 0.9


def test_unknown_predictions_are_wrong_and_stay_out_of_the_confusion_matrix():
    acc = Accumulator(2)
    acc.update(np.array([-1, 0]), np.array([0, 0]), np.array([0.0, 0.0]))
    assert acc.summary()["acc"] == 0.5
    assert acc.confusion.tolist() == [[1, 0], [0, 0]]
