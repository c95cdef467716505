"""Bad input, per-column errors in a batch, and the typed warnings."""
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from calibrator import (ConvergenceWarning, DataScaleWarning, PersistenceWarning, ShortSeriesWarning,  # noqa: E402
                        fit_garch, simulate)

T = 600


@pytest.fixture(scope="module")
def paths():
    sim = simulate(1, T, omega=0.05, alpha=0.08, beta=0.88, n_paths=6)
    return np.asarray(sim.returns)  # percent-like scale (std ~ 0.8)


def fit(r, **kw):
    kw.setdefault("percent", True)
    return fit_garch(r, **kw)


@pytest.mark.parametrize("kw,word", [
    (dict(method="nn", vol="gjr"), "vol='gjr'"),
    (dict(refine=2), "method='nn'"),
    (dict(fallback="mle"), "method='nn'"),
    (dict(method="bfgs"), "method"),
    (dict(vol="egarch"), "vol"),
    (dict(dist="skewt"), "dist"),
    (dict(mean="ar1"), "mean"),
    (dict(backcast="median"), "backcast"),
    (dict(backcast=-1.0), "backcast"),
    (dict(percent="yes"), "percent"),
])
def test_bad_options_raise_value_error_naming_the_argument(paths, kw, word):
    with pytest.raises(ValueError, match=word):
        fit(paths[:, 0], **kw)


def test_nn_method_for_gjr_points_to_mle(paths):
    with pytest.raises(ValueError, match="method='mle'") as info:
        fit(paths[:, 0], method="nn", vol="gjr")
    assert not isinstance(info.value, NotImplementedError)


@pytest.mark.parametrize("data,word", [
    (np.zeros((600, 2, 2)), "shape"),
    (np.zeros(0), "empty"),
    (np.zeros((600, 0)), "empty"),
    (np.ones(50), "at least 100"),
    (np.array(["a"] * 200), "numeric"),
])
def test_bad_shapes_raise(data, word):
    with pytest.raises(ValueError, match=word):
        fit_garch(data)


def test_single_series_with_nan_names_index_and_column(paths):
    r = paths[:, 0].copy()
    r[17] = np.nan
    with pytest.raises(ValueError, match=r"column 0: non-finite value \(NaN\) at index 17"):
        fit(r)
    s = pd.Series(paths[:, 0], index=pd.date_range("2020-01-01", periods=T, freq="B"), name="SPX")
    s.iloc[40] = np.inf
    with pytest.raises(ValueError,
                       match=r"column 'SPX': non-finite value \(inf\) at index 40 \(Timestamp\('2020-02-26"):
        fit(s)


def test_constant_series_raises():
    with pytest.raises(ValueError, match="constant"):
        fit_garch(np.full(300, 0.01))


@pytest.mark.parametrize("method", ["mle", "nn"])
def test_series_whose_squares_underflow_are_refused_for_both_methods(method):
    """The checks read column moments; where the squares underflow they fall back to the exact test. Such a
    series is refused as underflowing (it used to be called "constant", which it is not)."""
    tiny = np.zeros(300)
    tiny[7] = 5e-324
    for r in (tiny, 1e-170 * np.random.default_rng(0).standard_normal(300)):
        with pytest.raises(ValueError, match="underflow float64 when squared"):
            fit_garch(r, method=method)


@pytest.mark.parametrize("method", ["mle", "nn"])
def test_values_whose_squares_overflow_are_refused_naming_the_column(paths, method):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)    # and no overflow noise on the way
        with pytest.raises(ValueError, match=r"column 0: values as large as .*e\+200 overflow"):
            fit_garch(1e200 * paths[:, 0], method=method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ShortSeriesWarning)
            batch = fit_garch(np.stack([paths[:, 0], 1e200 * paths[:, 1]], axis=1), method=method, percent=True)
    assert list(batch.status) == ["ok", "error"] and "overflow" in batch.error[1]
    with pytest.raises(ValueError, match=r"the series is constant \(1e\+180\)"):   # constant beats overflow
        fit_garch(np.full(300, 1e180), method=method)
    with pytest.warns(DataScaleWarning, match="poorly scaled"):   # large but computable: a warning
        fit_garch(1e5 * paths[:, 0], method=method)


def test_bad_columns_do_not_spoil_the_batch(paths):
    good = paths[:, :4]
    bad = good.copy()
    bad[123, 1] = np.nan
    bad[:, 3] = 0.5
    frame = pd.DataFrame(bad, columns=["a", "b", "c", "d"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortSeriesWarning)
        got = fit(frame, vol="gjr", mean="constant")
        ref = fit(pd.DataFrame(paths[:, [0, 4, 2, 5]], columns=["a", "x", "c", "y"]), vol="gjr", mean="constant")
    assert list(got.status) == ["ok", "error", "ok", "error"]
    assert "column 'b'" in got.error[1] and "index 123" in got.error[1]
    assert "column 'd'" in got.error[3] and "constant" in got.error[3]
    assert got.error[0] == "" and got.error[2] == ""
    for name in ("omega", "alpha", "gamma", "beta", "mu", "loglik"):
        values = getattr(got, name)
        assert np.isnan(values[1]) and np.isnan(values[3])
        # the good columns are exactly what they are next to other good columns
        np.testing.assert_allclose(values[[0, 2]], getattr(ref, name)[[0, 2]], rtol=1e-10)
    assert np.all(np.isnan(got.conditional_variance[:, [1, 3]]))
    assert np.all(np.isnan(got.std_errors.iloc[[1, 3]].to_numpy()))
    assert np.all(np.isfinite(got.std_errors.iloc[[0, 2]].to_numpy()))
    assert np.all(np.isnan(got.forecast(3)[[1, 3]])) and np.all(np.isfinite(got.forecast(3)[[0, 2]]))
    with pytest.raises(ValueError, match="no column can be fitted"):
        fit(np.full((T, 2), np.nan))


def test_short_series_warns():
    r = np.asarray(simulate(2, 300, omega=0.05, alpha=0.08, beta=0.88).returns)[:, 0]
    with pytest.warns(ShortSeriesWarning, match="300 observations"):
        fit(r)


def test_scale_warnings_suggest_the_right_units(paths):
    with pytest.warns(DataScaleWarning, match="look like percent returns"):
        fit_garch(paths[:, 0], percent=False)
    with pytest.warns(DataScaleWarning, match="look like decimal returns"):
        fit_garch(paths[:, 0] / 100, percent=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_garch(paths[:, 0] / 100, percent=False)


def test_convergence_warning_and_status(paths):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = fit(paths[:, 0], max_iter=1, dist="t")
    assert res.status == "not_converged" and not res.converged and "column 0" in res.error


def test_persistence_warning_on_an_integrated_looking_series():
    # variance trending up over the sample: the likelihood pushes persistence to its bound
    z = np.random.default_rng(0).standard_normal(T)
    r = z * np.exp(np.linspace(0.0, 3.0, T))
    with pytest.warns(PersistenceWarning, match="upper bound"):
        res = fit(r)
    assert res.persistence > 0.9999
