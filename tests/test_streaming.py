"""calibrator.streaming.GarchStream: the online variance recursion and rolling re-estimation."""
import warnings

import numpy as np
import pytest

from calibrator import fit_garch
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


def _state(s):
    return (s.variance, s.count, s.refits, s.params, list(s._buf))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), np.float64("nan"), None, "0.01", True,
                                 np.array([0.01, 0.02]), 1e200])   # 1e200: finite, but r * r overflows h
def test_update_refuses_a_bad_return_and_leaves_the_stream_unchanged(bad):
    p = dict(omega=1e-6, alpha=0.05, beta=0.9)
    s, twin = GarchStream(refit_every=0, params=p), GarchStream(refit_every=0, params=p)
    for x in (0.01, -0.02):
        s.update(x)
        twin.update(x)
    before = _state(s)
    with pytest.raises(ValueError, match=r"^r (must be|= ).*[Tt]he stream is unchanged"):
        s.update(bad)
    assert _state(s) == before
    # the recursion goes on as if the bad value had never come (it stayed NaN/inf for good before)
    assert s.update(0.015) == twin.update(0.015) and np.isfinite(s.variance)


@pytest.mark.parametrize("percent, tick, fine", [(False, 5.0, -2.9), (True, -500.0, 290.0)])
def test_a_bad_tick_is_refused_and_the_stream_goes_on(percent, tick, fine):
    """A return of 5 (500%) in a decimal stream went into the variance (h ~ 1.25, a 1,775% daily vol for weeks)
    and the refit window for good: a move beyond 300% in one period is refused like a NaN, the stream unchanged.
    Extreme but possible moves (290%) still go in."""
    p = dict(omega=1e-6, alpha=0.05, beta=0.9) if not percent else dict(omega=1e-2, alpha=0.05, beta=0.9)
    s = GarchStream(refit_every=0, params=p, percent=percent)
    s.update(0.01 if not percent else 1.0)
    before = _state(s)
    hint = "a percent return \\(pass percent=True\\)" if not percent else "a return x100 twice"
    limit = "300%" if percent else "3"
    with pytest.raises(ValueError, match=rf"^r = {tick!r} is beyond \+-{limit} in one period, a move no market makes "
                                         rf"\(a log return of 3 is a price x20\): a bad tick, or {hint}\? The stream is "
                                         rf"unchanged"):
        s.update(tick)
    assert _state(s) == before
    assert np.isfinite(s.update(fine))


def test_a_bad_first_return_leaves_the_default_parameters_unset():
    s = GarchStream(refit_every=0)
    with pytest.raises(ValueError, match="^r must"):
        s.update(float("nan"))
    assert s.params == {} and np.isnan(s.variance) and s.count == 0
    assert s.update(0.01) == pytest.approx(1e-6 + 0.06 * 1e-4 + 0.93 * 1e-6 / 0.01, rel=1e-12)


@pytest.mark.parametrize("params, match", [
    (dict(omega=1e-6, alpha=0.05), r"missing 'beta'"),
    (dict(alpha=0.05, beta=0.9), r"missing 'omega'"),
    (dict(omega=-1e-6, alpha=0.05, beta=0.9), r"params\['omega'\] must be > 0"),
    (dict(omega=0.0, alpha=0.05, beta=0.9), r"params\['omega'\] must be > 0"),
    (dict(omega=1e-6, alpha=-0.01, beta=0.9), r"params\['alpha'\] must be >= 0"),
    (dict(omega=1e-6, alpha=0.05, beta=float("nan")), r"params\['beta'\] must be a finite number"),
    (dict(omega="1e-6", alpha=0.05, beta=0.9), r"params\['omega'\] must be a finite number"),
    (dict(omega=1e-6, alpha=0.05, beta=0.9, gamma=0.1), r"keys the stream does not use: \['gamma'\]"),
    (dict(omega=1e-6, alpha=0.3, beta=0.9), r"alpha \+ beta = 1\.2 > 1 \(alpha=0\.3, beta=0\.9\).*explosive"),
    ([1e-6, 0.05, 0.9], r"params must be a dict"),
])
def test_params_are_checked_at_construction(params, match):
    with pytest.raises(ValueError, match=match):
        GarchStream(refit_every=0, params=params)


def test_params_of_a_fit_are_taken():
    r, _ = simulate_set(4243, 1, 600, alpha=(0.08, 0.08001), persistence=(0.95, 0.95001))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_garch(r[:, 0], method="mle")
    s = GarchStream(refit_every=0, params=fit.params)          # a pandas Series
    assert s.params == {k: float(fit.params[k]) for k in ("omega", "alpha", "beta")}
    p = s.params
    assert s.update(0.01) == pytest.approx(p["omega"] * (1 + p["beta"] / (1 - p["alpha"] - p["beta"]))
                                           + p["alpha"] * 1e-4, rel=1e-12)


def test_integrated_params_need_a_start_variance():
    # omega / (1 - alpha - beta) started h at 1e-6 / 1e-6 = 1.0 (100% daily vol) for RiskMetrics alpha + beta = 1
    p = dict(omega=1e-6, alpha=0.06, beta=0.94)
    for q in (p, dict(p, beta=0.9399999)):          # at 1, and within 1e-6 of it
        with pytest.raises(ValueError, match=r"alpha \+ beta = .*alpha=0\.06.*start_variance="):
            GarchStream(refit_every=0, params=q)
    s = GarchStream(refit_every=0, params=p, start_variance=2e-4)
    assert s.update(0.01) == pytest.approx(1e-6 + 0.06 * 1e-4 + 0.94 * 2e-4, rel=1e-12)
    # a stationary stream starts from start_variance too when it is given
    s = GarchStream(refit_every=0, params=dict(omega=2e-6, alpha=0.07, beta=0.9), start_variance=1e-4)
    assert s.update(0.0) == pytest.approx(2e-6 + 0.9 * 1e-4, rel=1e-12)
    for bad in (0.0, -1e-4, float("nan"), "1e-4", True):
        with pytest.raises(ValueError, match="start_variance"):
            GarchStream(refit_every=0, params=p, start_variance=bad)


@pytest.mark.parametrize("kwargs, match", [
    (dict(refit_every=2.5), "refit_every must be a whole number"),     # was truncated to 2
    (dict(refit_every=-1), "refit_every"),
    (dict(refit_every=True), "refit_every"),
    (dict(window=float("nan")), "window must be a whole number"),
    (dict(window=300.5), "window"),
    (dict(window="2500"), "window"),
    (dict(min_obs=100), "min_obs must be a whole number >= 250"),      # was raised to 250 silently
    (dict(min_obs=260.5), "min_obs"),
    (dict(refine=1.5), "refine"),
    (dict(refine=21), "refine"),
    (dict(fallback="nn"), "fallback"),
    (dict(arch="transformer"), "arch"),
    (dict(method="mle", refine=2), "method='nn' only"),
    (dict(method="mle", arch="mlp"), "method='nn' only"),
])
def test_settings_are_checked_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GarchStream(**kwargs)


def test_whole_number_floats_are_accepted():
    s = GarchStream(window=300.0, refit_every=25.0, min_obs=260.0)
    assert (s.window, s.refit_every, s.min_obs) == (300, 25, 260)
    assert all(type(v) is int for v in (s.window, s.refit_every, s.min_obs))


def test_a_failed_scheduled_refit_warns_and_the_stream_goes_on():
    """250 zero returns cannot be fitted: the update that schedules the refit used to raise after taking the
    return in (a retry counted it twice). It warns, keeps the parameters, and the next update is the recursion."""
    p = dict(omega=2e-6, alpha=0.07, beta=0.9)
    s = GarchStream(window=250, refit_every=250, params=p, method="mle")
    for _ in range(249):
        s.update(0.0)
    with pytest.warns(RuntimeWarning, match="re-estimation after return 250 failed"):
        h = s.update(0.0)
    assert s.count == 250 and s.refits == 0 and s.failed_refits == 1 and s.params == p
    with pytest.raises(ValueError):
        s.refit()   # asked for explicitly, the failure is the caller's to see
    assert s.update(0.02) == pytest.approx(p["omega"] + p["alpha"] * 0.02 ** 2 + p["beta"] * h, rel=1e-12)


@pytest.mark.parametrize("method", ["mle", "nn"])
def test_a_percent_stream_fits_and_maps_like_the_same_data_in_decimals(method):
    """percent=True is passed to the re-estimations: no DataScaleWarning the stream could not act on, and
    garch_to_heston of its fit annualises in decimals (it came out 100^2 too large: theta 197 for 0.0197)."""
    from calibrator import garch_to_heston
    from calibrator.warnings import DataScaleWarning
    r, _ = simulate_set(4242, 1, 600, alpha=(0.08, 0.08001), persistence=(0.95, 0.95001))
    decimal, percent = GarchStream(window=500, refit_every=250, method=method), GarchStream(
        window=500, refit_every=250, method=method, percent=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for x in r[:, 0]:
            decimal.update(float(x))
            percent.update(float(100.0 * x))
    assert percent.refits == decimal.refits == 2
    assert not [w for w in caught if issubclass(w.category, DataScaleWarning)]
    assert percent.last_fit.percent
    assert percent.variance == pytest.approx(1e4 * decimal.variance, rel=1e-4)
    in_percent, in_decimals = garch_to_heston(percent.last_fit), garch_to_heston(decimal.last_fit)
    for name in ("v0", "theta", "kappa"):
        assert float(getattr(in_percent, name)) == pytest.approx(float(getattr(in_decimals, name)), rel=1e-4)
    with pytest.raises(ValueError, match="percent"):
        GarchStream(percent="yes")
