"""calibrator.streaming.GarchStream: the online variance recursion and rolling re-estimation."""
import warnings

import numpy as np
import pytest

from calibrator.streaming import GarchStream
from calibrator.training import simulate_set


def test_update_is_the_garch_recursion():
    p = dict(omega=2e-6, alpha=0.07, beta=0.9)
    s = GarchStream(refit_every=0, params=p)
    r = np.random.default_rng(0).normal(0, 0.01, 50)
    h = p["omega"] / (1 - p["alpha"] - p["beta"])
    for x in r:
        h = p["omega"] + p["alpha"] * x * x + p["beta"] * h
        assert s.update(x) == pytest.approx(h, rel=1e-12)
    assert s.count == 50 and s.refits == 0


def test_rolling_refits_track_the_parameters():
    r, p = simulate_set(4242, 1, 1500, alpha=(0.08, 0.08001), persistence=(0.95, 0.95001))
    s = GarchStream(window=1000, refit_every=250)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x in r[:, 0]:
            h = s.update(x)
    assert s.refits == (1500 - 250) // 250 + 1
    q = s.params
    assert q["omega"] > 0 and q["alpha"] >= 0 and q["beta"] >= 0 and q["alpha"] + q["beta"] < 1
    assert abs(q["alpha"] + q["beta"] - 0.95) < 0.05
    assert h == pytest.approx(s.last_fit.forecast(1)[0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="window"):
        GarchStream(window=10)
    with pytest.raises(ValueError, match="method"):
        GarchStream(method="bfgs")
