"""Bad input to the calibrator's public functions, found by an audit: each gets a ValueError (or a typed
warning) naming the argument, and a bad series never changes the good ones."""
import types
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from calibrator import DataScaleWarning, fit_garch, garch_to_heston, garch_var, rolling_var, simulate  # noqa: E402

T = 800


@pytest.fixture(scope="module")
def returns():
    sim = simulate(3, T, omega=2e-6, alpha=0.08, beta=0.9, n_paths=2)
    r = np.asarray(sim.returns)
    return r[:, 0], r[:, 1]   # decimal daily returns, std about 1.4%


@pytest.fixture(scope="module")
def single(returns):
    return fit_garch(returns[0])


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def test_a_column_of_text_fails_alone(returns):
    a, b = returns
    clean = quiet(fit_garch, pd.DataFrame({"a": a, "b": b}))
    mixed = quiet(fit_garch, pd.DataFrame({"a": a, "b": b, "c": ["n/a"] + [0.01] * (T - 1)}))
    assert list(mixed.status) == ["ok", "ok", "error"]
    assert "column 'c'" in mixed.error[2] and "'n/a'" in mixed.error[2] and "not a number" in mixed.error[2]
    np.testing.assert_array_equal(np.asarray(mixed.params)[:2], np.asarray(clean.params))


def test_a_nullable_column_with_a_missing_value_fails_alone(returns):
    a, b = returns
    frame = pd.DataFrame({"a": a, "b": pd.array([None, *b[1:]], dtype="Float64")})
    assert list(quiet(fit_garch, frame).status) == ["ok", "error"]


@pytest.mark.parametrize("levels", ["gross", "prices", "log prices"])
def test_prices_or_gross_returns_are_not_returns(returns, levels):
    r = returns[0]
    data = {"gross": 1.0 + r, "prices": 1.1 * np.exp(np.cumsum(r)), "log prices": np.cumsum(r)}[levels]
    with pytest.raises(ValueError, match="look like prices"):
        quiet(fit_garch, data)


def test_percent_returns_that_no_asset_has_warn(returns):
    with pytest.warns(DataScaleWarning, match="percent=True but the standard deviation"):
        fit_garch(returns[0] * 100 * 300, percent=True)


@pytest.mark.parametrize("kw, word", [
    (dict(dtype="float16"), "dtype"),
    (dict(dtype="int32"), "dtype"),
    (dict(method="nn", backcast="ewma"), "backcast"),      # used to be accepted and ignored
    (dict(method="nn", max_iter=5), "max_iter"),
    (dict(method="nn", tol=1e-3), "tol"),
    (dict(tol=-1.0), "tol"),
    (dict(tol=float("nan")), "tol"),
    (dict(max_iter=1.5), "max_iter"),
    (dict(max_iter="abc"), "max_iter"),
    (dict(method="nn", refine=2.7), "refine"),
    (dict(method="nn", refine="x"), "refine"),
    (dict(backcast=[1e-4, 2e-4]), "backcast"),
])
def test_bad_options_name_the_argument(returns, kw, word):
    with pytest.raises(ValueError, match=word):
        quiet(fit_garch, returns[0], **kw)


@pytest.mark.parametrize("call, word", [
    (lambda f: f.forecast(2.5), "horizon"),
    (lambda f: f.forecast(None), "horizon"),
    (lambda f: f.forecast(float("nan")), "horizon"),
    (lambda f: f.forecast(10 ** 9), "horizon"),
    (lambda f: f.volatility_term_structure(10, periods_per_year=0), "periods_per_year"),
    (lambda f: f.volatility_term_structure(10, periods_per_year=float("nan")), "periods_per_year"),
    (lambda f: f.volatility_term_structure("5"), "horizons"),
    (lambda f: garch_var(f, horizons="10"), "horizons"),
    (lambda f: garch_var(f, horizons=None), "horizons"),
    (lambda f: garch_var(f, method="mc", seed=-1, n_paths=200), "seed"),
    (lambda f: garch_to_heston(f, periods_per_year=float("inf")), "periods_per_year"),
    (lambda f: garch_to_heston(f, "daily"), "periods_per_year"),
    (lambda f: garch_to_heston([f, f], returns=np.zeros(T)), "returns"),     # used to be dropped silently
    (lambda f: garch_to_heston([]), "empty"),
])
def test_bad_arguments_of_forecasts_and_maps_name_the_argument(single, call, word):
    with pytest.raises(ValueError, match=word):
        call(single)


def test_garch_to_heston_refuses_nan_returns(single, returns):
    with pytest.raises(ValueError, match="returns contains NaN"):
        garch_to_heston(single, returns=np.r_[returns[0][:10], np.nan, returns[0][11:]])


@pytest.mark.parametrize("fields, word", [
    (dict(omega=-1e-6, alpha=0.1, beta=0.8), "omega"),
    (dict(omega=np.inf, alpha=0.1, beta=0.8), "omega"),
    (dict(omega=1e-6, alpha=-0.1, beta=0.8), "alpha"),
    (dict(omega=[1e-6, 2e-6], alpha=[0.1, 0.1, 0.1], beta=0.8), "one value per series"),
    (dict(omega=1e-6, alpha=0.1, beta=0.8, nu=np.nan), "nu"),
])
def test_garch_to_heston_refuses_impossible_parameters(fields, word):
    with pytest.raises(ValueError, match=word):
        garch_to_heston(types.SimpleNamespace(**fields))


def test_a_failed_series_has_no_unconditional_variance(returns):
    fit = quiet(fit_garch, pd.DataFrame({"a": returns[0], "b": returns[1], "c": np.nan}))
    variance = fit.unconditional_variance
    assert np.isnan(variance[2]) and np.all(np.isfinite(variance[:2]))   # was inf: "integrated"


@pytest.mark.parametrize("method", ["mc", "fhs"])
def test_a_series_var_does_not_depend_on_the_other_series(returns, method):
    a, b = returns
    frames = [pd.DataFrame({"a": a}), pd.DataFrame({"a": a, "b": b}), pd.DataFrame({"a": a, "b": b, "c": np.nan}),
              pd.DataFrame({"b": b, "a": a})]
    values = []
    for frame in frames:
        fit = quiet(fit_garch, frame)
        table = garch_var(fit, method=method, returns=frame if method == "fhs" else None, n_paths=2000,
                          horizons=(10,), seed=5)
        values.append(table.loc["a", "var"].to_numpy() if "a" in table.index else
                      table[table["series"] == "a"]["var"].to_numpy())
    # the same draws: equal up to the rounding of batched arithmetic (the old shared stream moved them 5%)
    for other in values[1:]:
        np.testing.assert_allclose(other, values[0], rtol=1e-12)


def test_start_variance_of_the_wrong_length_names_it(returns):
    from calibrator import simulate_from_fit
    fit = quiet(fit_garch, pd.DataFrame({"a": returns[0], "b": returns[1]}))
    with pytest.raises(ValueError, match="start_variance"):
        simulate_from_fit(fit, horizon=5, n_paths=100, correlated=False, start_variance=[1e-4] * 3)
    with pytest.raises(ValueError, match="start_variance"):   # one number in a list was stretched to both
        simulate_from_fit(fit, horizon=5, n_paths=100, correlated=False, start_variance=[1e-4])
    today = np.asarray(fit.forecast(1))[:, 0]
    for scale, words in ((1e4, "percent variance"), (252.0, "annual one")):
        with pytest.warns(DataScaleWarning, match=f"for series 'a' is .* times today's variance.*{words}"):
            simulate_from_fit(fit, horizon=5, n_paths=100, correlated=False, start_variance=today * scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a real stress (the vol x8) is not in doubt
        simulate_from_fit(fit, horizon=5, n_paths=100, correlated=False, start_variance=today * 64.0)


def test_a_failed_series_has_no_peak_and_no_date(returns):
    from calibrator import peak_variance
    index = pd.date_range("2020-01-01", periods=T, freq="B")
    fit = quiet(fit_garch, pd.DataFrame({"a": returns[0], "c": np.nan}, index=index))
    variance, dates = peak_variance(fit)
    assert np.isfinite(variance[0]) and np.isnan(variance[1])
    assert not pd.isna(dates[0]) and pd.isna(dates[1])   # was the first date of the sample


def test_portfolio_var_without_returns_says_so(returns):
    from calibrator import portfolio_var
    fit = quiet(fit_garch, pd.DataFrame({"a": returns[0], "b": returns[1]}))
    with pytest.raises(ValueError, match="returns= .* is needed"):
        portfolio_var(fit, None, [0.5, 0.5])


def test_one_series_with_filtered_historical_shocks(returns):
    # the default (correlated=True) with a single series reached a stream that was never made
    from calibrator import garch_scenarios, simulate_from_fit
    fit = quiet(fit_garch, pd.Series(returns[0], name="AAA"))
    paths = simulate_from_fit(fit, horizon=5, n_paths=50, method="fhs", returns=returns[0])
    assert np.all(np.isfinite(paths.returns))
    garch_scenarios(fit, returns[0], horizon=5, n_scenarios=20)


def test_a_money_market_series_is_returns_not_prices():
    # all positive and far above its spread, but near 0: a return series (gross returns sit near 1)
    rng = np.random.default_rng(4)
    rates = 2e-4 + 1e-5 * rng.standard_normal(800)
    assert quiet(fit_garch, rates).status in ("ok", "not_converged")


@pytest.mark.parametrize("column, kind", [
    (pd.date_range("2020-01-01", periods=600), "dates"),
    (pd.date_range("2020-01-01", periods=600, tz="UTC"), "dates"),
    (pd.to_timedelta(np.arange(600), "D"), "durations"),
    (np.arange(600) % 2 == 0, "booleans"),
])
def test_a_column_of_dates_or_flags_fails_alone_and_says_what_it_holds(column, kind):
    # pandas turns dates into nanoseconds since 1970 (reported before as "these look like prices") and
    # flags into 0/1; neither is a return series
    from calibrator.simulate import garch_paths
    shocks = np.random.default_rng(5).standard_normal((600, 1))
    returns = np.asarray(garch_paths(shocks, omega=0.05, alpha=0.1, beta=0.85, h0=1.0).returns)[:, 0]
    frame = pd.DataFrame({"date": column, "r": returns})
    fit = fit_garch(frame, percent=True)
    assert list(fit.status) == ["error", "ok"]
    assert f"column 'date' holds {kind}" in fit.error[0]
    alone = fit_garch(pd.Series(returns, name="r"), percent=True)
    np.testing.assert_allclose(fit.params.loc["r"], alone.params, rtol=1e-5)


# ------------------------------------------------ found by the adversarial review of 2026-12-07 (helper-48)
def _dated(values):
    return pd.Series(values, index=pd.date_range("2015-01-01", periods=len(values), freq="B"))


@pytest.mark.parametrize("reorder, words", [
    (lambda s: s.iloc[::-1], "runs newest first: reverse it"),
    (lambda s: s.sample(frac=1.0, random_state=1), "sort it"),
    (lambda s: pd.concat([s.iloc[:10], s.iloc[9:]]), "repeats 2015-01-14"),
])
def test_dates_out_of_order_are_refused_not_fitted_backwards(returns, reorder, words):
    """A vendor's newest-first series fitted in row order starts every forecast at its oldest day (a 99%
    VaR 2.8x too low after a spike, with no warning)."""
    series = reorder(_dated(returns[0]))
    for call in (lambda: fit_garch(series), lambda: fit_garch(series, method="nn"),
                 lambda: rolling_var(series, window=500, refit_every=100, percent=False)):
        with pytest.raises(ValueError, match=f"returns: its index of dates must increase.*{words}"):
            call()
    fit = fit_garch(_dated(returns[0]))
    with pytest.raises(ValueError, match="index of dates must increase"):
        garch_var(fit, returns=series.sort_index().iloc[::-1], method="fhs")


def test_a_local_clocks_repeated_hour_is_named_with_the_fix(returns):
    """Hourly returns stamped by a naive local clock repeat 02:00 at the end of daylight saving time: refused
    (the variance filter runs in row order), with the time-zone fix named rather than 'sort it'."""
    stamps = pd.date_range("2020-10-20", periods=600, freq="h", tz="Europe/Berlin").tz_localize(None)
    series = pd.Series(returns[0][:600] / 5.0, index=stamps)
    with pytest.raises(ValueError, match=r"at row 123 it repeats 2020-10-25 02:00:00 after 2020-10-25 02:00:00; a "
                                         r"local clock's repeated hour at the end of daylight saving time\? Give "
                                         r"the index a time zone \(\.tz_localize\(zone, ambiguous='infer'\)\)"):
        fit_garch(series)
    fit_garch(series.tz_localize("Europe/Berlin", ambiguous="infer"))   # the fix runs


@pytest.mark.parametrize("days", [150, 300, 500])
def test_short_price_paths_are_refused_as_prices(days):
    """Price paths of 150-500 days can wander less than the autocorrelation test asks (10 of 40 slipped
    through at 300 days, fitted with status ok): all positive, at least 0.75 and 3 spreads above zero."""
    rng = np.random.default_rng(7)
    prices = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal((days, 40)), axis=0))
    with pytest.raises(ValueError, match="look like prices"):
        quiet(fit_garch, pd.DataFrame(prices))
    mixed = pd.DataFrame(np.column_stack([prices[:, :3], 0.01 * rng.standard_normal((days, 2))]))
    fit = quiet(fit_garch, mixed)
    assert list(fit.status[:3]) == ["error"] * 3 and all(s != "error" for s in fit.status[3:])


def test_var_rows_carry_the_fits_status_and_error(returns):
    """A failed series' VaR was NaN with nothing on its rows to say why (no status column)."""
    frame = pd.DataFrame({"a": returns[0], "b": returns[1]})
    frame.loc[10, "b"] = np.nan
    fit = quiet(fit_garch, frame)
    table = garch_var(fit, levels=(0.99,), horizons=(1,))
    assert list(table.columns) == ["series", "horizon", "level", "method", "var", "cvar", "status", "error"]
    row = table.set_index("series")
    assert row.loc["a", "status"] == fit.status[0] and row.loc["a", "error"] == ""
    assert row.loc["b", "status"] == "error" and "'b'" in row.loc["b", "error"] and np.isnan(row.loc["b", "var"])
    for bad in ("abc", None, 99, 1000.5):
        with pytest.raises(ValueError, match="n_paths must be an integer >= 100"):
            garch_var(fit, method="mc", n_paths=bad)


def test_a_percent_series_fitted_as_decimals_maps_to_heston_with_a_warning(returns):
    """One column of a batch in percent: v0 398 (a 2,000% vol) came back without a word."""
    frame = pd.DataFrame({"a": returns[0], "b": 100.0 * returns[1]})
    fit = quiet(fit_garch, frame)
    with pytest.warns(DataScaleWarning, match=r"1 series \('b'\) map to variances no asset has.*percent=False"):
        params = garch_to_heston(fit)
    assert params.v0[1] > 25.0 and params.v0[0] < 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataScaleWarning)
        garch_to_heston(quiet(fit_garch, frame.assign(b=returns[1])))   # both in decimals: no warning
