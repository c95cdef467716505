"""calibrator.value_at_risk: closed forms against numerical integration, parametric VaR against arch's
forecast-based VaR on the same data, and the simulated methods against the parametric ones in
Monte Carlo standard errors."""
import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from arch.data import sp500
from scipy import integrate, stats

from calibrator import fit_garch, simulate
from calibrator.value_at_risk import (empirical_var_cvar, garch_var, normal_var_cvar, portfolio_var,
                                      standardised_residuals, t_var_cvar)


@pytest.fixture(scope="module")
def sp():
    closes = sp500.load()["Adj Close"]
    return (100 * np.log(closes).diff().dropna()).rename("sp500")


def _tail_mean_by_quantiles(ppf, level):
    """CVaR as the mean of the loss quantiles beyond the level: (1/(1-p)) int_p^1 q_L(u) du."""
    value, _ = integrate.quad(lambda u: -ppf(1.0 - u), level, 1.0, limit=200)
    return value / (1.0 - level)


@pytest.mark.parametrize("level", [0.95, 0.99, 0.999])
def test_normal_and_t_closed_forms_against_integration(level):
    sigma, mean = 1.7, 0.05
    var, cvar = normal_var_cvar(sigma, level, mean)
    assert var == pytest.approx(-(mean + sigma * stats.norm.ppf(1 - level)), rel=1e-12)
    assert cvar == pytest.approx(_tail_mean_by_quantiles(lambda u: mean + sigma * stats.norm.ppf(u), level), rel=1e-7)
    for nu in (3.5, 5.0, 30.0):
        scale = np.sqrt((nu - 2) / nu)   # unit variance
        var, cvar = t_var_cvar(sigma, level, nu, mean)
        ppf = lambda u: mean + sigma * scale * stats.t.ppf(u, nu)  # noqa: E731
        assert var == pytest.approx(-ppf(1 - level), rel=1e-10)
        assert cvar == pytest.approx(_tail_mean_by_quantiles(ppf, level), rel=1e-6)


def test_bad_levels_and_nu_are_refused():
    with pytest.raises(ValueError, match="level"):
        normal_var_cvar(1.0, 1.0)
    with pytest.raises(ValueError, match="nu"):
        t_var_cvar(1.0, 0.99, 2.0)
    with pytest.raises(ValueError, match="at least two"):
        empirical_var_cvar([0.1], 0.99)


def test_empirical_var_cvar_by_hand():
    losses = np.arange(1.0, 101.0)            # returns -1 .. -100
    var, cvar = empirical_var_cvar(-losses, 0.95)
    assert var == pytest.approx(np.quantile(losses, 0.95))
    assert cvar == pytest.approx(losses[losses >= var].mean())


@pytest.mark.parametrize("dist", ["normal", "t"])
def test_parametric_one_day_var_matches_arch(sp, dist):
    """The same model fitted by arch and by us (arch's backcast): arch's forecast-based VaR, as in its
    documentation (-mean - sqrt(variance) * distribution.ppf(1 - level)), equals ours to the
    agreement of the two optimisers' parameters."""
    data = sp.iloc[-2500:]
    am = arch_model(data, mean="Constant", vol="GARCH", p=1, q=1, dist=dist)
    res = am.fit(disp="off")
    forecast = res.forecast(horizon=1, reindex=False)
    mean, variance = forecast.mean.values[-1, 0], forecast.variance.values[-1, 0]
    shape = res.params[["nu"]].to_numpy() if dist == "t" else None
    fit = fit_garch(data, vol="garch", dist=dist, mean="constant", percent=True, backcast=am._backcast)
    ours = garch_var(fit, levels=(0.95, 0.99), horizons=(1,)).set_index("level")
    for level in (0.95, 0.99):
        q = am.distribution.ppf(1 - level, shape)
        arch_var = -mean - np.sqrt(variance) * q
        assert ours.loc[level, "var"] == pytest.approx(arch_var, rel=2e-4)


@pytest.fixture(scope="module")
def simulated():
    """Two years of daily GJR returns (percent) and the fit (t innovations)."""
    sim = simulate(11, 2000, omega=0.03, alpha=0.05, gamma=0.08, beta=0.88, mu=0.03, nu=6.0, n_paths=1)
    returns = pd.Series(np.asarray(sim.returns)[:, 0], name="asset")
    return returns, fit_garch(returns, vol="gjr", dist="t", mean="constant", percent=True)


def _quantile_stderr(samples, level):
    """Standard error of an empirical loss quantile: sqrt(p(1-p)/n) / density at the quantile (kernel)."""
    losses = -np.asarray(samples)
    q = np.quantile(losses, level)
    density = stats.gaussian_kde(losses)(q)[0]
    return np.sqrt(level * (1 - level) / losses.size) / density


def test_mc_one_day_var_matches_parametric(simulated):
    """Over one day the GARCH variance is known, so Monte Carlo VaR converges to the parametric one."""
    returns, fit = simulated
    exact = garch_var(fit, levels=(0.99,), horizons=(1,)).iloc[0]
    n = 200_000
    mc = garch_var(fit, levels=(0.99,), horizons=(1,), method="mc", n_paths=n, seed=3).iloc[0]
    sigma = np.sqrt(fit.forecast(1)[0])
    nu = fit.nu
    draws = fit.mu + sigma * stats.t.rvs(nu, size=n, random_state=0) * np.sqrt((nu - 2) / nu)
    assert abs(mc["var"] - exact["var"]) < 4 * _quantile_stderr(draws, 0.99)
    assert mc["cvar"] == pytest.approx(exact["cvar"], rel=0.02)   # the tail mean of 2,000 draws


def test_fhs_one_day_var_is_the_residual_quantile(simulated):
    """One-day filtered historical simulation: mu + sqrt(h_{T+1}) z with z resampled from the
    standardised residuals, so its VaR converges to that pool's quantile, scaled."""
    returns, fit = simulated
    z = standardised_residuals(fit, returns)
    sigma = np.sqrt(fit.forecast(1)[0])
    pool = fit.mu + sigma * z
    expected_var, _ = empirical_var_cvar(pool, 0.99)
    n = 200_000
    fhs = garch_var(fit, levels=(0.99,), horizons=(1,), method="fhs", returns=returns, n_paths=n, seed=5).iloc[0]
    resampled = np.random.default_rng(0).choice(pool, size=n)
    assert abs(fhs["var"] - expected_var) < 4 * _quantile_stderr(resampled, 0.99)
    with pytest.raises(ValueError, match="returns="):
        garch_var(fit, method="fhs")


def test_multi_day_simulated_variance_matches_the_forecast(simulated):
    """The simulated 10-day return has the variance the analytic forecast gives (sum of E h_{T+k})."""
    from calibrator.stress import simulate_from_fit
    _, fit = simulated
    paths = simulate_from_fit(fit, horizon=10, n_paths=100_000, method="mc", seed=1)
    sums = paths.cumulative[-1, 0]
    expected = fit.forecast(10).sum()
    # stderr of a sample variance: sqrt((m4 - s^4) / n)
    centred = sums - sums.mean()
    stderr = np.sqrt((np.mean(centred ** 4) - np.var(sums) ** 2) / sums.size)
    assert abs(np.var(sums) - expected) < 4 * stderr
    assert abs(sums.mean() - 10 * fit.mu) < 4 * sums.std() / np.sqrt(sums.size)


@pytest.mark.parametrize("dist", ["normal", "t"])
def test_batch_var_has_one_row_per_series_horizon_level_and_error_columns_stay_nan(dist):
    sim = simulate(2, 1200, omega=0.02, alpha=0.06, beta=0.9, n_paths=3, nu=8.0 if dist == "t" else None)
    frame = pd.DataFrame(np.asarray(sim.returns), columns=["a", "b", "c"])
    frame.loc[100, "b"] = np.nan
    fit = fit_garch(frame, percent=True, dist=dist)
    assert list(fit.status) == ["ok", "error", "ok"]
    for method in ("parametric", "mc", "fhs"):
        table = garch_var(fit, levels=(0.95, 0.99), horizons=(1, 5), method=method, returns=frame.fillna(0.0),
                          n_paths=2000)
        assert len(table) == 3 * 2 * 2
        bad = table["series"] == "b"
        assert table.loc[bad, ["var", "cvar"]].isna().all().all()
        good = table.loc[~bad]
        assert np.all(np.isfinite(good[["var", "cvar"]])) and np.all(good["cvar"] >= good["var"])
        # the 5-day VaR is larger than the 1-day one
        pivot = good.pivot_table(index=["series", "level"], columns="horizon", values="var")
        assert np.all(pivot[5] > pivot[1])


@pytest.fixture(scope="module")
def two_assets():
    rng = np.random.default_rng(8)
    z = rng.multivariate_normal([0, 0], [[1.0, 0.6], [0.6, 1.0]], size=2500)
    from calibrator.simulate import garch_paths
    sim = garch_paths(z, omega=np.array([0.02, 0.05]), alpha=np.array([0.05, 0.08]), beta=np.array([0.92, 0.88]),
                      h0=np.array([0.6, 1.2]))
    frame = pd.DataFrame(np.asarray(sim.returns), columns=["x", "y"])
    return frame, fit_garch(frame, percent=True)


def test_portfolio_parametric_var_by_hand(two_assets):
    frame, fit = two_assets
    w = np.array([0.7, 0.3])
    z = standardised_residuals(fit, frame)
    rho = np.corrcoef(z.T)[0, 1]
    h = fit.forecast(1)[:, 0]
    sigma = np.sqrt(w[0] ** 2 * h[0] + w[1] ** 2 * h[1] + 2 * w[0] * w[1] * rho * np.sqrt(h[0] * h[1]))
    table = portfolio_var(fit, frame, {"x": 0.7, "y": 0.3}, levels=(0.99,), horizons=(1,)).iloc[0]
    assert table["var"] == pytest.approx(sigma * stats.norm.ppf(0.99), rel=1e-9)
    with pytest.raises(ValueError, match="weights"):
        portfolio_var(fit, frame, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="weights name"):
        portfolio_var(fit, frame, {"x": 1.0, "zz": 0.0})
    # an asset left out of a dict is not held
    only_x = portfolio_var(fit, frame, {"x": 0.7}, levels=(0.99,), horizons=(1,)).iloc[0]
    assert only_x["var"] == pytest.approx(0.7 * np.sqrt(h[0]) * stats.norm.ppf(0.99), rel=1e-9)


def test_portfolio_mc_var_matches_parametric_over_one_day(two_assets):
    """One day, normal law: the simulated (buy-and-hold, simple-return) portfolio loss has the
    parametric VaR up to sampling error and the tiny log/simple-return difference."""
    frame, fit = two_assets
    w = np.array([0.5, 0.5])
    exact = portfolio_var(fit, frame, w, levels=(0.99,), horizons=(1,)).iloc[0]
    n = 200_000
    mc = portfolio_var(fit, frame, w, levels=(0.99,), horizons=(1,), method="mc", n_paths=n, seed=2).iloc[0]
    sigma = exact["var"] / stats.norm.ppf(0.99)
    draws = np.random.default_rng(1).standard_normal(n) * sigma
    simple_vs_log = 0.5 * (exact["var"] ** 2) / 100   # |e^x - 1 - x| ~ x^2 / 2, percent units
    assert abs(mc["var"] - exact["var"]) < 4 * _quantile_stderr(draws, 0.99) + simple_vs_log
    # diversification: the portfolio's VaR is below the weighted sum of the assets' VaRs
    single = garch_var(fit, levels=(0.99,), horizons=(1,)).set_index("series")["var"]
    assert exact["var"] < w @ single[["x", "y"]].to_numpy()


def test_portfolio_of_one_asset_is_that_asset_for_a_t_fit():
    """A Student-t fit: the parametric portfolio VaR of a 100% position equals the asset's own VaR (the
    portfolio's law is the held asset's t), and the Monte Carlo portfolio agrees within sampling error."""
    rng = np.random.default_rng(4)
    from calibrator.simulate import garch_paths
    z = rng.standard_t(6, size=(2500, 2)) * np.sqrt(4 / 6)
    sim = garch_paths(z, omega=0.03, alpha=0.06, beta=0.9, h0=0.8)
    frame = pd.DataFrame(np.asarray(sim.returns), columns=["x", "y"])
    fit = fit_garch(frame, percent=True, dist="t")
    alone = garch_var(fit, levels=(0.99,), horizons=(1,)).set_index("series").loc["y"]
    held = portfolio_var(fit, frame, [0.0, 1.0], levels=(0.99,), horizons=(1,)).iloc[0]
    assert held["var"] == pytest.approx(alone["var"], rel=1e-9) and held["cvar"] == pytest.approx(alone["cvar"], rel=1e-9)
    n = 200_000
    mc = portfolio_var(fit, frame, [0.0, 1.0], levels=(0.99,), horizons=(1,), method="mc", n_paths=n, seed=3).iloc[0]
    nu = fit.nu[1]
    draws = np.sqrt(fit.forecast(1)[1, 0]) * stats.t.rvs(nu, size=n, random_state=0) * np.sqrt((nu - 2) / nu)
    simple_vs_log = 0.5 * held["var"] ** 2 / 100
    assert abs(mc["var"] - held["var"]) < 4 * _quantile_stderr(draws, 0.99) + simple_vs_log


def test_reordered_return_columns_are_refused_on_every_path(two_assets):
    # FHS and joint Monte Carlo paired one series' residuals with the other's variances (right shape)
    frame, fit = two_assets
    swapped = frame[["y", "x"]]
    with pytest.raises(ValueError, match=r"returns has columns \['y', 'x'\] but the fit was made on \['x', 'y'\]"):
        garch_var(fit, method="fhs", returns=swapped, n_paths=100)
    for method in ("fhs", "mc", "parametric"):
        with pytest.raises(ValueError, match="but the fit was made on"):
            portfolio_var(fit, swapped, [0.5, 0.5], method=method, n_paths=100)


def test_portfolio_weights_that_look_like_percentages_warn_and_text_is_named(two_assets):
    frame, fit = two_assets
    with pytest.warns(UserWarning, match="gross exposure 100"):
        portfolio_var(fit, frame, [50.0, 50.0], levels=(0.99,), horizons=(1,))
    with pytest.raises(ValueError, match="weights must be numbers"):
        portfolio_var(fit, frame, ["a", "b"])


def test_weights_keyed_by_text_match_a_fit_on_an_array(two_assets):
    # a fit on an array has names 0, 1; weights read from a file are keyed "0", "1": they passed the name
    # check and were then looked up as given, so every weight was 0 and so were VaR and CVaR
    frame, _ = two_assets
    fit = fit_garch(frame.to_numpy(), percent=True)
    as_list = portfolio_var(fit, frame.to_numpy(), [0.7, 0.3], levels=(0.99,), horizons=(1,)).iloc[0]
    for weights in ({"0": 0.7, "1": 0.3}, pd.Series([0.7, 0.3], index=["0", "1"])):
        table = portfolio_var(fit, frame.to_numpy(), weights, levels=(0.99,), horizons=(1,)).iloc[0]
        assert table["var"] == as_list["var"] > 0.5 and table["cvar"] == as_list["cvar"]
    with pytest.raises(ValueError, match="weights name asset '0' twice"):
        portfolio_var(fit, frame.to_numpy(), {0: 0.7, "0": 0.3})


def test_returns_in_other_units_than_the_fit_are_refused(two_assets):
    # decimal returns given to a percent fit made the residuals 100 times too small, and the FHS VaR too
    frame, fit = two_assets
    for scale, words in ((0.01, r"mean square (0\.0001|[0-9.]+e-05) "), (100.0, r"mean square [0-9.]+e\+0[34] ")):
        with pytest.raises(ValueError, match=f"returns: the standardised residuals of series 'x' have {words}"):
            garch_var(fit, method="fhs", returns=frame * scale, n_paths=100)
        with pytest.raises(ValueError, match="in the fit's units \\(percent\\)"):
            portfolio_var(fit, frame * scale, [0.5, 0.5], method="fhs", n_paths=100)


def test_an_infinite_nu_is_the_normal_law():
    # GarchParams stores a normal fit's nu as inf; t_var_cvar gave NaN for it
    for level in (0.95, 0.99):
        np.testing.assert_allclose(t_var_cvar(1.3, level, np.inf, 0.1), normal_var_cvar(1.3, level, 0.1), rtol=1e-12)
    var, cvar = t_var_cvar(1.0, 0.99, [6.0, np.inf])
    assert var[1] == pytest.approx(normal_var_cvar(1.0, 0.99)[0]) and var[0] == pytest.approx(t_var_cvar(1.0, 0.99, 6.0)[0])


def test_a_tail_probability_given_for_a_confidence_level_is_refused():
    """0.01 for 0.99 would quietly give the VaR of a gain (a negative number): refused, naming the argument."""
    from calibrator.coverage_tests import kupiec_test
    from calibrator.rolling_var import rolling_var
    with pytest.raises(ValueError, match="level is a confidence level.*0.01"):
        normal_var_cvar(1.0, 0.01)
    with pytest.raises(ValueError, match="level is a confidence level"):
        t_var_cvar(1.0, [0.99, 0.05], 5.0)
    with pytest.raises(ValueError, match="level is a confidence level"):
        empirical_var_cvar(np.linspace(-1.0, 1.0, 50), 0.01)
    with pytest.raises(ValueError, match="level is a confidence level"):
        kupiec_test([0, 1, 0, 0], 0.05)
    with pytest.raises(ValueError, match="levels is a confidence level"):
        rolling_var(np.linspace(-1.0, 1.0, 300), window=100, method="historical", levels=(0.01,))
    # a median loss is still a level
    var, _ = normal_var_cvar(1.0, 0.5)
    assert var == pytest.approx(0.0)
