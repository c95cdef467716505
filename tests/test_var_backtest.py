"""calibrator.var_backtest: Kupiec / Christoffersen statistics against hand computations, rolling VaR
forecasts (historical quantiles, no look-ahead, refits and the recursion between them, agreement with a
single-window fit), and coverage on simulated data where the model is right or the VaR is wrong."""

import jax

jax.config.update("jax_enable_x64", True)

import math  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from calibrator import fit_garch, simulate  # noqa: E402
from calibrator.value_at_risk import normal_var_cvar, t_var_cvar  # noqa: E402
from calibrator.var_backtest import (backtest_table, christoffersen_test, conditional_coverage_test,  # noqa: E402
                                     kupiec_test, plot_var_backtest, rolling_var, var_backtest)

W = 500          # every GARCH test uses this window and <= 32 fits: one compiled shape per method/spec
LEVELS = (0.95, 0.99)

# a 20-day exception sequence, counted by hand:
#   x = 4 exceptions (days 2, 6, 7, 13) in n = 20 days;
#   19 transitions: 01 at 1->2, 5->6, 12->13; 10 at 2->3, 7->8, 13->14; 11 at 6->7; the other 12 are 00
SEQ = [0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]


def test_kupiec_by_hand():
    res = kupiec_test(SEQ, 0.95)
    lr = -2 * (16 * math.log(0.95) + 4 * math.log(0.05)) + 2 * (16 * math.log(0.8) + 4 * math.log(0.2))
    assert res.statistic == pytest.approx(lr, rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-12)
    assert (res.exceptions, res.days, res.rate, res.expected_rate) == (4, 20, 0.2, pytest.approx(0.05))
    # booleans and a pandas Series give the same
    assert kupiec_test(pd.Series(np.array(SEQ, bool)), 0.95).statistic == pytest.approx(lr, rel=1e-12)
    # at the 99% level
    lr99 = -2 * (16 * math.log(0.99) + 4 * math.log(0.01)) + 2 * (16 * math.log(0.8) + 4 * math.log(0.2))
    assert kupiec_test(SEQ, 0.99).statistic == pytest.approx(lr99, rel=1e-12)
    # exactly the expected rate: LR = 0, p = 1
    exact = kupiec_test([1] + [0] * 19, 0.95)
    assert exact.statistic == pytest.approx(0.0, abs=1e-12) and exact.p_value == pytest.approx(1.0)


def test_christoffersen_by_hand():
    res = christoffersen_test(SEQ)
    assert (res.n00, res.n01, res.n10, res.n11) == (12, 3, 3, 1)
    assert res.pi01 == pytest.approx(3 / 15) and res.pi11 == pytest.approx(1 / 4) and res.pi == pytest.approx(4 / 19)
    null = 15 * math.log(15 / 19) + 4 * math.log(4 / 19)
    alt = 12 * math.log(0.8) + 3 * math.log(0.2) + 3 * math.log(0.75) + 1 * math.log(0.25)
    lr = -2 * null + 2 * alt
    assert res.statistic == pytest.approx(lr, rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-12)
    cc = conditional_coverage_test(SEQ, 0.95)
    lr_pof = -2 * (16 * math.log(0.95) + 4 * math.log(0.05)) + 2 * (16 * math.log(0.8) + 4 * math.log(0.2))
    assert cc.statistic == pytest.approx(lr_pof + lr, rel=1e-12)
    assert cc.p_value == pytest.approx(stats.chi2.sf(lr_pof + lr, 2), rel=1e-12)
    assert cc.kupiec.statistic == pytest.approx(lr_pof) and cc.christoffersen.statistic == pytest.approx(lr)


def test_degenerate_counts():
    # no exceptions: LR_pof = -2 n ln(1 - p); independence has nothing to test
    k = kupiec_test([0] * 20, 0.99)
    assert k.statistic == pytest.approx(-40 * math.log(0.99), rel=1e-12)
    assert k.p_value == pytest.approx(stats.chi2.sf(-40 * math.log(0.99), 1), rel=1e-12)
    c = christoffersen_test([0] * 20)
    assert (c.n00, c.n01, c.n10, c.n11) == (19, 0, 0, 0)
    assert c.statistic == 0.0 and c.p_value == 1.0 and c.pi01 == 0.0 and math.isnan(c.pi11)
    # all exceptions: LR_pof = -2 n ln p
    k = kupiec_test([1] * 20, 0.99)
    assert k.statistic == pytest.approx(-40 * math.log(0.01), rel=1e-12)
    c = christoffersen_test([True] * 20)
    assert (c.n00, c.n01, c.n10, c.n11) == (0, 0, 0, 19) and c.statistic == 0.0 and math.isnan(c.pi01)
    # n11 = 0 with exceptions: the (1 - pi11)^n10 pi11^n11 factor is 1
    seq = [1, 0, 0, 0, 1, 0, 0, 1, 0, 0]
    c = christoffersen_test(seq)
    assert (c.n00, c.n01, c.n10, c.n11) == (4, 2, 3, 0) and c.pi11 == 0.0
    lr = -2 * (7 * math.log(7 / 9) + 2 * math.log(2 / 9)) + 2 * (4 * math.log(4 / 6) + 2 * math.log(2 / 6))
    assert c.statistic == pytest.approx(lr, rel=1e-12)
    assert c.p_value == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-12)
    # a single exception on the last day: n10 = n11 = 0 (pi11 undefined), pi01 = pi, LR = 0
    c = christoffersen_test([0] * 9 + [1])
    assert (c.n00, c.n01, c.n10, c.n11) == (8, 1, 0, 0) and math.isnan(c.pi11)
    assert c.statistic == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("bad, match", [([0, 2, 1], "binary"), ([0, np.nan, 1], "NaN"), ([[0, 1], [1, 0]], "1-D"),
                                        ("abc", "exceptions")])
def test_exception_input_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        kupiec_test(bad, 0.99)
    with pytest.raises(ValueError, match=match):
        christoffersen_test(bad)


def test_argument_errors():
    for level in (0.0, 1.0, 1.5, -0.1, "x"):
        with pytest.raises(ValueError, match="level"):
            kupiec_test(SEQ, level)
    with pytest.raises(ValueError, match="at least 2"):
        christoffersen_test([1])
    x = np.random.default_rng(0).standard_normal(300)
    with pytest.raises(ValueError, match="window"):
        rolling_var(x, window=50, method="mle")
    with pytest.raises(ValueError, match="window"):
        rolling_var(x, window=300, method="historical")
    with pytest.raises(ValueError, match="window"):
        rolling_var(x, window=1, method="historical")
    with pytest.raises(ValueError, match="levels"):
        rolling_var(x, window=100, method="historical", levels=(0.95, 1.0))
    with pytest.raises(ValueError, match="method"):
        rolling_var(x, window=100, method="garch")
    with pytest.raises(ValueError, match="refit_every"):
        rolling_var(x, window=100, refit_every=0)
    y = x.copy()
    y[10] = np.nan
    with pytest.raises(ValueError, match="non-finite.*position 10"):
        rolling_var(y, window=100, method="historical")
    with pytest.raises(ValueError, match="1-D"):
        rolling_var(x.reshape(100, 3), window=50, method="historical")
    with pytest.raises(ValueError, match="methods"):
        var_backtest(x, methods=("mle", "ewma"), window=100)


def test_historical_is_the_trailing_quantile():
    rng = np.random.default_rng(1)
    dates = pd.bdate_range("2020-01-01", periods=60)
    r = pd.Series(rng.standard_t(4, 60), index=dates)
    out = rolling_var(r, window=20, method="historical", levels=LEVELS)
    assert list(out.index) == list(dates[20:]) and len(out) == 40
    np.testing.assert_array_equal(out["return"], r.to_numpy()[20:])
    for i in range(40):
        losses = -r.to_numpy()[i:i + 20]              # the 20 returns before day 20 + i
        for level in LEVELS:
            q = np.quantile(losses, level)
            tag = f"{100 * level:g}"
            assert out[f"var_{tag}"].iloc[i] == pytest.approx(q, rel=1e-12)
            assert out[f"cvar_{tag}"].iloc[i] == pytest.approx(losses[losses >= q].mean(), rel=1e-12)


def _garch_series(n, seed, **kw):
    params = dict(omega=0.02, alpha=0.08, beta=0.9) | kw
    return np.asarray(simulate(seed, n, **params).returns)[:, 0]


@pytest.mark.parametrize("method", ["historical", "mle", "nn"])
def test_no_look_ahead(method):
    x = _garch_series(W + 30, 3)
    t = W + 12                                       # change every return after day t
    y = x.copy()
    y[t + 1:] = 3.0 * y[t + 1:] + 0.5
    a = rolling_var(x, window=W, method=method, levels=LEVELS)
    b = rolling_var(y, window=W, method=method, levels=LEVELS)
    cols = [c for c in a.columns if c.startswith(("var_", "cvar_"))] + ["sigma", "mu"]
    days = a.index.to_numpy()
    # the forecast for day s uses r_{s-W..s-1}: days <= t + 1 cannot see the change
    same = days <= t + 1
    np.testing.assert_allclose(a.loc[same, cols].to_numpy(float), b.loc[same, cols].to_numpy(float), rtol=1e-10,
                               equal_nan=True)
    # ... and later forecasts do (a forecast that ignored its data would fail here): every GARCH forecast
    # (the variance moves with each return); a historical quantile only when a changed return enters its tail
    changed = np.abs(a.loc[~same, "var_95"].to_numpy() - b.loc[~same, "var_95"].to_numpy()) > 1e-6
    assert changed.all() if method != "historical" else changed.any()


@pytest.fixture(scope="module")
def sim_530():
    return _garch_series(W + 30, 5, gamma=0.0)


@pytest.fixture(scope="module")
def daily_mle(sim_530):
    return rolling_var(sim_530, window=W, method="mle", levels=LEVELS, refit_every=1)


def test_mle_day_equals_single_window_fit(sim_530, daily_mle):
    i = 7                                            # forecast day W + 7 uses x[7 : W + 7]
    fit = fit_garch(sim_530[i:i + W], method="mle", percent=True)
    var, cvar = normal_var_cvar(np.sqrt(fit.forecast(1)[0]), np.array(LEVELS), fit.mu)
    row = daily_mle.iloc[i]
    assert row.name == W + i and row["return"] == sim_530[W + i]
    for k, level in enumerate(LEVELS):
        assert row[f"var_{100 * level:g}"] == pytest.approx(var[k], rel=1e-7)
        assert row[f"cvar_{100 * level:g}"] == pytest.approx(cvar[k], rel=1e-7)
    assert row["alpha"] == pytest.approx(fit.alpha, rel=1e-6) and row["beta"] == pytest.approx(fit.beta, rel=1e-6)
    assert daily_mle["refit"].all() and (daily_mle["status"] == "ok").all()
    info = daily_mle.attrs["info"]
    assert info["fits"] == 30 and info["fit_errors"] == 0 and info["nan_days"] == 0


def test_refit_every_matches_daily_and_follows_recursion(sim_530, daily_mle):
    k = 5
    sparse = rolling_var(sim_530, window=W, method="mle", levels=LEVELS, refit_every=k)
    refit_days = np.arange(30) % k == 0
    np.testing.assert_array_equal(sparse["refit"].to_numpy(), refit_days)
    assert sparse.attrs["info"]["fits"] == 6
    cols = ["var_95", "cvar_95", "var_99", "cvar_99", "sigma", "omega", "alpha", "beta"]
    np.testing.assert_allclose(sparse.loc[refit_days, cols], daily_mle.loc[refit_days, cols], rtol=1e-8)
    # between refits: the parameters of the last refit, and h_t = omega + alpha e_{t-1}^2 + beta h_{t-1}
    assert not np.allclose(sparse.loc[~refit_days, "var_99"], daily_mle.loc[~refit_days, "var_99"], rtol=1e-6)
    s = sparse.reset_index(drop=True)
    for i in np.flatnonzero(~refit_days):
        last = i - i % k
        for p in ("omega", "alpha", "beta", "mu"):
            assert s.loc[i, p] == s.loc[last, p]
        e = sim_530[W + i - 1] - s.loc[i, "mu"]
        h = s.loc[i, "omega"] + s.loc[i, "alpha"] * e * e + s.loc[i, "beta"] * s.loc[i - 1, "sigma"] ** 2
        assert s.loc[i, "sigma"] ** 2 == pytest.approx(h, rel=1e-12)
        var, cvar = normal_var_cvar(np.sqrt(h), 0.99, s.loc[i, "mu"])
        assert s.loc[i, "var_99"] == pytest.approx(var, rel=1e-12)
        assert s.loc[i, "cvar_99"] == pytest.approx(cvar, rel=1e-12)


def test_student_t_uses_the_fitted_nu():
    x = _garch_series(W + 16, 11, nu=5.0)
    out = rolling_var(x, window=W, method="mle", dist="t", mean="constant", levels=LEVELS, refit_every=8)
    assert out.attrs["info"]["fits"] == 2
    fit = fit_garch(x[8:8 + W], dist="t", mean="constant", percent=True)
    var, cvar = t_var_cvar(np.sqrt(fit.forecast(1)[0]), np.array(LEVELS), fit.nu, fit.mu)
    row = out.iloc[8]
    assert row["nu"] == pytest.approx(fit.nu, rel=1e-6) and np.isfinite(row["nu"])
    np.testing.assert_allclose(row[["var_95", "var_99"]].to_numpy(float), var, rtol=1e-7)
    np.testing.assert_allclose(row[["cvar_95", "cvar_99"]].to_numpy(float), cvar, rtol=1e-7)


def test_dist_is_read_as_fit_garch_reads_it():
    # dist="T" fitted a Student-t (fit_garch lower-cases) but took the normal quantile: VaR 1.88 for 2.08
    x = _garch_series(W + 8, 12, nu=4.0)
    upper = rolling_var(x, window=W, method="mle", dist="T", mean="constant", levels=LEVELS, refit_every=8)
    lower = rolling_var(x, window=W, method="mle", dist="t", mean="constant", levels=LEVELS, refit_every=8)
    np.testing.assert_array_equal(upper[["var_95", "var_99"]].to_numpy(float), lower[["var_95", "var_99"]].to_numpy(float))


def test_a_relayed_fit_warning_says_its_counts_include_the_padding():
    """One window fitted in a batch filled to 32 columns with its copies: fit_garch's "32 of 32 series"
    is relayed with a word that 31 of them are those copies (it read as 32 windows)."""
    x = _garch_series(W + 8, 12, nu=4.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rolling_var(x, window=W, method="mle", dist="t", mean="constant", levels=LEVELS, refit_every=8)
    relayed = [str(w.message) for w in caught if "batched fit call" in str(w.message)]
    assert relayed and all("'padding'" not in text or "fill the batch" in text for text in relayed)
    assert any("fill the batch" in text for text in relayed)


def test_a_missing_return_is_not_a_day_without_an_exception():
    out = rolling_var(_garch_series(W + 60, 13), window=W, method="historical", levels=LEVELS)
    clean = backtest_table(out, levels=(0.99,)).iloc[0]
    holed = out.copy()
    holed.iloc[[3, 10, 20, 30, 40], holed.columns.get_loc("return")] = np.nan
    table = backtest_table(holed, levels=(0.99,)).iloc[0]
    assert table["days"] == clean["days"] - 5 and table["missing"] == clean["missing"] + 5


def test_correct_garch_model_passes_kupiec():
    # long simulated GARCH(1,1): 3,000 forecast days, refit every 100 days (30 fits)
    x = _garch_series(W + 3000, 0)
    out = rolling_var(x, window=W, method="mle", levels=LEVELS, refit_every=100)
    table = backtest_table(out)
    assert list(table["level"]) == list(LEVELS) and (table["days"] == 3000).all()
    for _, row in table.iterrows():
        assert row["kupiec_p"] > 0.01, row.to_dict()
        assert abs(row["rate"] - row["expected_rate"]) < 4 * math.sqrt(row["expected_rate"] / 3000)
    # the counts agree with the forecasts
    exc = (-out["return"] > out["var_99"]).to_numpy()
    row = table.set_index("level").loc[0.99]
    assert row["exceptions"] == exc.sum()
    assert row["ind_p"] == pytest.approx(christoffersen_test(exc).p_value)
    # a constant VaR on the same GARCH data gives clustered exceptions: Christoffersen rejects
    const = -np.quantile(x[:W], 0.05)            # an unconditional 95% VaR, fixed for all days
    clustered = -x[W:] > const
    assert christoffersen_test(clustered).p_value < 0.01


def test_too_small_var_is_rejected():
    rng = np.random.default_rng(7)
    r = rng.standard_normal(2000)                     # i.i.d. N(0, 1)
    right, _ = normal_var_cvar(1.0, 0.99)
    wrong, _ = normal_var_cvar(0.75, 0.99)            # deliberately too small
    assert kupiec_test(-r > right, 0.99).p_value > 0.01
    k = kupiec_test(-r > wrong, 0.99)
    assert k.rate > 0.02 and k.p_value < 1e-6
    assert conditional_coverage_test(-r > wrong, 0.99).p_value < 1e-5


def test_var_backtest_table_and_plot(tmp_path):
    x = pd.Series(_garch_series(W + 30, 21), index=pd.bdate_range("2001-01-01", periods=W + 30))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = var_backtest(x, window=W, levels=LEVELS)
    assert list(bt.table["method"]) == ["mle", "mle", "nn", "nn", "historical", "historical"]
    assert set(bt.forecasts) == {"mle", "nn", "historical"}
    for _, row in bt.table.iterrows():
        f = bt.forecasts[row["method"]]
        exc = -f["return"] > f[f"var_{100 * row['level']:g}"]
        assert row["days"] == 30 and row["missing"] == 0 and row["exceptions"] == exc.sum()
        assert row["kupiec_p"] == pytest.approx(kupiec_test(exc, row["level"]).p_value)
    assert bt.info["nn"]["fits"] == 30 and bt.info["nn"]["nn_ood"] >= 0
    path = plot_var_backtest(bt, tmp_path / "var.png", title="simulated")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_a_stale_stretch_gives_nan_days_not_an_error():
    # 16,000 live returns, then zeros (a suspended stock); window W, a refit every W days: 40 fits in two
    # batched calls of 32 windows, the second all constant. fit_garch refuses a batch with no column it can
    # fit, and rolling_var raised "no column can be fitted: column 0: ..." instead of the documented NaN days
    live = 32 * W
    dates = pd.bdate_range("1950-01-02", periods=W + 40 * W)
    x = pd.Series(np.r_[_garch_series(live, 31), np.zeros(9 * W)], index=dates)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = rolling_var(x, window=W, method="mle", levels=LEVELS, refit_every=W, chunk=32)
    info = out.attrs["info"]
    assert info["fits"] == 40 and info["batched_calls"] == 1 and info["fit_errors"] == 8
    stale = np.arange(len(out)) >= live                # the days forecast from a window of zeros only
    assert np.isfinite(out.loc[~stale, ["var_95", "var_99", "cvar_99"]].to_numpy()).all()
    assert out.loc[stale, ["var_95", "var_99", "cvar_99", "sigma"]].isna().all().all()
    assert (out.loc[stale, "status"] == "error").all() and (out.loc[~stale, "status"] != "error").all()
    assert info["nan_days"] == 8 * W and info["first_nan_day"] == dates[W + live]
    # the warning names the first failed day as a date the user can look up, and why: not a chunk column
    day = str(dates[W + live].date())
    text = [str(w.message) for w in rec if "have no forecast" in str(w.message)]
    assert len(text) == 1 and f"{8 * W} of {40 * W} days" in text[0]
    assert f"The first is day {day}: column 'window before day {day}': the series is constant" in text[0]
    assert backtest_table(out, levels=(0.99,)).iloc[0][["days", "missing"]].tolist() == [live, 8 * W]


def test_failed_windows_are_named_by_their_day_in_a_partly_failing_batch():
    # one batched call holding both fitted and constant windows: the status and the warning name the day
    x = np.r_[_garch_series(W + 8, 32), np.zeros(W + 8)]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = rolling_var(x, window=W, method="mle", levels=LEVELS, refit_every=(W + 8) // 2)
    bad = out.index[out["status"] == "error"]
    assert list(bad) == list(range(2 * W + 8, 2 * W + 16))
    assert out.attrs["info"]["first_nan_day"] == 2 * W + 8
    assert any(f"day {2 * W + 8}: column 'window before day {2 * W + 8}'" in str(w.message) for w in rec)


def test_level_columns_round_trip():
    # ordinary levels keep their names (other code reads var_95, var_99, var_97.5), computed ones too
    from calibrator.var_backtest import cvar_column, var_column
    assert [var_column(v) for v in (0.95, 0.99, 0.975, 0.999, 0.9999, 0.5, 1 - 0.05, 0.9500000000000001)] == [
        "var_95", "var_99", "var_97.5", "var_99.9", "var_99.99", "var_50", "var_95", "var_95"]
    assert cvar_column(0.975) == "cvar_97.5"
    # levels that 6 significant digits of the percentage do not pin down: rounded, both were var_100 (one
    # column overwrote the other) and backtest_table read the level back as 1 and failed
    y = np.random.default_rng(2).standard_normal(300)
    for levels in ((0.99999991, 0.99999992), (0.99, 0.9999999)):
        out = rolling_var(y, window=100, method="historical", levels=levels)
        names = [var_column(v) for v in levels]
        assert [c for c in out.columns if c.startswith("var_")] == names
        for level, name in zip(levels, names):
            expected = [np.quantile(-y[i:i + 100], level) for i in range(200)]
            np.testing.assert_allclose(out[name].to_numpy(), expected, rtol=1e-12)
        assert backtest_table(out)["level"].tolist() == list(levels)
    assert var_column(0.99999991) == "var_99.999991"
    assert out.filter(like="var_").shape[1] == 4


def test_levels_that_would_share_a_column_or_are_text_are_refused():
    y = np.random.default_rng(3).standard_normal(150)
    with pytest.raises(ValueError, match=r"levels \[0\.95, 0\.9500000000000001\] .*share the column var_95"):
        rolling_var(y, window=100, method="historical", levels=(0.95, np.nextafter(0.95, 1.0)))
    for levels in (("0.95", "0.99"), (0.95, "0.99"), (True,)):
        with pytest.raises(ValueError, match="levels must be"):
            rolling_var(y, window=100, method="historical", levels=levels)
    out = rolling_var(y, window=100, method="historical", levels=(0.99,))
    out["var_total"] = 1.0
    with pytest.raises(ValueError, match="column 'var_total' does not name a VaR level"):
        backtest_table(out)
    with pytest.raises(ValueError, match="level must be a number"):
        kupiec_test([0, 1, 0], "0.99")               # float() read the text as a level
    with pytest.raises(ValueError, match="not text"):
        kupiec_test(["0", "1", "0"], 0.99)
    assert kupiec_test([0, 1, 0], np.float32(0.99)).expected_rate == pytest.approx(0.01, rel=1e-5)


def test_a_day_left_out_is_no_transition_for_christoffersen():
    """Days either side of a gap (a day without a forecast or return) are not consecutive: exceptions on
    days 3 and 5 with day 4 missing make no 1 -> 1 transition, and no 0 -> 0 pair spans the gap."""
    exc = np.zeros(200, bool)
    exc[[3, 5, 50, 120]] = True
    ok = np.ones(200, bool)
    ok[4] = False
    joined = christoffersen_test(exc[ok])                                  # the gap closed up: 3 and 5 adjacent
    gapped = christoffersen_test(exc[ok], adjacent=np.diff(np.flatnonzero(ok)) == 1)
    assert joined.n11 == 1 and gapped.n11 == 0
    assert gapped.n00 + gapped.n01 + gapped.n10 + gapped.n11 == ok.sum() - 2     # one pair fewer
    # by hand: 4 exceptions in 197 transitions, none followed by another
    n00, n01, n10 = gapped.n00, gapped.n01, gapped.n10
    pi, pi01 = n01 / (n00 + n01 + n10), n01 / (n00 + n01)
    lr = -2 * ((n00 + n10) * math.log(1 - pi) + n01 * math.log(pi)) + 2 * (n00 * math.log(1 - pi01)
                                                                          + n01 * math.log(pi01))
    assert gapped.statistic == pytest.approx(lr, rel=1e-12)
    # backtest_table counts the same way from a frame with the hole
    frame = pd.DataFrame({"return": np.where(exc, -3.0, 0.0), "var_99": np.where(ok, 1.0, np.nan)})
    row = backtest_table(frame, levels=(0.99,)).iloc[0]
    assert row["ind_lr"] == pytest.approx(gapped.statistic, rel=1e-12)
    with pytest.raises(ValueError, match="adjacent"):
        christoffersen_test(exc, adjacent=np.ones(5, bool))
    assert np.isnan(christoffersen_test([True, False], adjacent=np.array([False])).statistic)
