"""Portfolio construction from GARCH covariances (calibrator/portfolio.py): closed forms, constraints,
Black-Litterman, the CCC covariance and the out-of-sample backtest (no look-ahead)."""
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibrator import fit_garch
from calibrator.portfolio import (BACKTEST_COLUMNS, black_litterman, ccc_covariance, embedded_asset_returns,
                                  mean_variance_weights, min_variance_closed_form, min_variance_weights,
                                  rebalanced_backtest)
from calibrator.portfolio_qp import _box, _polish, _slsqp
from calibrator.warnings import GarchWarning


def two_asset_cov(s1, s2, rho):
    return np.array([[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]])


def two_asset_w1(s1, s2, rho):
    return (s2**2 - rho * s1 * s2) / (s1**2 + s2**2 - 2 * rho * s1 * s2)


# ---------------------------------------------------------------- minimum variance
def test_two_asset_interior_matches_closed_form():
    s1, s2, rho = 1.0, 1.5, 0.3
    w1 = two_asset_w1(s1, s2, rho)
    assert 0 < w1 < 1
    w = min_variance_weights(two_asset_cov(s1, s2, rho), long_only=True)
    np.testing.assert_allclose(w, [w1, 1 - w1], atol=1e-12)


def test_two_asset_solver_path_matches_closed_form():
    """The SLSQP stage on its own (the public function short-cuts to the closed form when feasible)."""
    s1, s2, rho = 1.0, 1.5, 0.3
    w1 = two_asset_w1(s1, s2, rho)
    q = 2 * two_asset_cov(s1, s2, rho) / 4.5
    lo, hi = _box(2, True, None, 1.0)
    res = _slsqp(q, np.zeros(2), lo, hi, 1.0)
    assert res.success
    np.testing.assert_allclose(res.x, [w1, 1 - w1], atol=1e-7)
    np.testing.assert_allclose(_polish(q, np.zeros(2), res.x, lo, hi, 1.0), [w1, 1 - w1], atol=1e-12)


def test_two_asset_corner():
    s1, s2, rho = 2.0, 1.0, 0.9          # closed form w1 < 0: the long-only optimum is all in asset 2
    assert two_asset_w1(s1, s2, rho) < 0
    w = min_variance_weights(two_asset_cov(s1, s2, rho))
    np.testing.assert_allclose(w, [0.0, 1.0], atol=1e-12)
    w_short = min_variance_weights(two_asset_cov(s1, s2, rho), long_only=False)
    w1 = two_asset_w1(s1, s2, rho)
    np.testing.assert_allclose(w_short, [w1, 1 - w1], atol=1e-12)


def test_n_asset_unconstrained_equals_closed_form():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(6, 6))
    cov = a @ a.T + 0.2 * np.eye(6)
    inv1 = np.linalg.inv(cov) @ np.ones(6)
    expect = 1.5 * inv1 / inv1.sum()
    np.testing.assert_allclose(min_variance_weights(cov, long_only=False, budget=1.5), expect, atol=1e-12)
    np.testing.assert_allclose(min_variance_closed_form(cov, budget=1.5), expect, atol=1e-12)
    # the solver stage agrees with the closed form when it has to do the work (bounds that do not bind)
    lo, hi = _box(6, False, None, 1.5)
    res = _slsqp(2 * cov / np.max(2 * np.diag(cov)), np.zeros(6), lo, hi, 1.5)
    np.testing.assert_allclose(res.x, expect, atol=1e-6)


def test_long_only_n_asset_kkt():
    """A long-only optimum with binding bounds satisfies the KKT conditions of the QP."""
    rng = np.random.default_rng(7)
    a = rng.normal(size=(8, 8))
    cov = a @ a.T + 0.05 * np.eye(8)
    w = min_variance_weights(cov)
    assert np.any(w == 0)                           # some bounds bind in this example
    g = 2 * cov @ w
    free = w > 1e-12
    eta = g[free].mean()
    np.testing.assert_allclose(g[free], eta, rtol=1e-9, atol=1e-12)
    assert np.all(g[~free] >= eta - 1e-10)


@st.composite
def psd_problems(draw):
    n = draw(st.integers(2, 6))
    rank = draw(st.integers(1, n))
    seed = draw(st.integers(0, 2**32 - 1))
    budget = draw(st.floats(0.5, 2.0))
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, rank)) * rng.uniform(0.1, 3.0, size=(n, 1))
    return a @ a.T + draw(st.sampled_from([0.0, 1e-3])) * np.eye(n), budget, rng


@settings(max_examples=60, deadline=None)
@given(psd_problems())
def test_constraints_hold_and_optimal_on_random_psd(problem):
    cov, budget, rng = problem
    n = cov.shape[0]
    w = min_variance_weights(cov, budget=budget)
    assert abs(w.sum() - budget) < 1e-10 * budget
    assert np.all(w >= 0)
    # no feasible point does better: vertices, equal weight and random points of the simplex
    best = w @ cov @ w
    trials = np.vstack([budget * np.eye(n), np.full((1, n), budget / n), budget * rng.dirichlet(np.ones(n), 200)])
    assert np.all(np.einsum("ki,ij,kj->k", trials, cov, trials) >= best - 1e-9 * (1 + abs(best)))
    # an upper bound per asset
    cap = budget / n + 0.5 * budget / n
    wb = min_variance_weights(cov, budget=budget, bounds=(0.0, cap))
    assert abs(wb.sum() - budget) < 1e-10 * budget
    assert np.all(wb >= 0) and np.all(wb <= cap + 1e-12)
    assert wb @ cov @ wb >= best - 1e-9 * (1 + abs(best))


def test_stack_of_covariances():
    covs = np.stack([two_asset_cov(1.0, 1.5, 0.3), two_asset_cov(2.0, 1.0, 0.9)])
    w = min_variance_weights(covs)
    assert w.shape == (2, 2)
    np.testing.assert_allclose(w[1], [0.0, 1.0], atol=1e-12)


def test_dataframe_in_series_out():
    cov = pd.DataFrame(two_asset_cov(1.0, 1.5, 0.3), index=["a", "b"], columns=["a", "b"])
    w = min_variance_weights(cov)
    assert isinstance(w, pd.Series) and list(w.index) == ["a", "b"]


@pytest.mark.parametrize("cov, words", [
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "positive semi-definite"),
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN"),
    (np.ones((2, 3)), "square"),
    (np.array([[1.0, 0.5], [0.2, 1.0]]), "symmetric"),
])
def test_bad_covariance_names_argument(cov, words):
    with pytest.raises(ValueError, match="cov") as info:
        min_variance_weights(cov)
    assert words in str(info.value)


def test_infeasible_constraints():
    cov = two_asset_cov(1.0, 1.5, 0.3)
    with pytest.raises(ValueError, match="budget"):
        min_variance_weights(cov, budget=-1.0)
    with pytest.raises(ValueError, match="infeasible"):
        min_variance_weights(cov, bounds=(0.0, 0.4))
    with pytest.raises(ValueError, match=r"bounds\[1\]"):
        min_variance_weights(cov, bounds=[(0, 1), (0.6, 0.5)])


# ---------------------------------------------------------------- mean-variance
def test_mean_variance_large_risk_aversion_is_min_variance():
    rng = np.random.default_rng(11)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T + 0.1 * np.eye(5)
    mu = rng.normal(size=5) * 0.05
    np.testing.assert_allclose(mean_variance_weights(mu, cov, risk_aversion=1e9), min_variance_weights(cov),
                               atol=1e-7)
    np.testing.assert_allclose(mean_variance_weights(mu, cov, risk_aversion=1e9, long_only=False),
                               min_variance_weights(cov, long_only=False), atol=1e-7)


def test_mean_variance_closed_form_without_binding_constraints():
    rng = np.random.default_rng(12)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T + 0.1 * np.eye(4)
    mu = rng.normal(size=4) * 0.1
    lam, budget = 3.0, 1.2
    inv = np.linalg.inv(cov)
    one = np.ones(4)
    eta = (one @ inv @ mu - lam * budget) / (one @ inv @ one)
    expect = inv @ (mu - eta * one) / lam
    w = mean_variance_weights(mu, cov, risk_aversion=lam, long_only=False, budget=budget)
    np.testing.assert_allclose(w, expect, atol=1e-12)
    assert abs(w.sum() - budget) < 1e-12
    # long-only: the constrained optimum is no better than the unconstrained one, and feasible
    wl = mean_variance_weights(mu, cov, risk_aversion=lam, budget=budget)
    util = lambda v: v @ mu - 0.5 * lam * v @ cov @ v   # noqa: E731
    assert np.all(wl >= 0) and abs(wl.sum() - budget) < 1e-10
    assert util(wl) <= util(w) + 1e-12
    trials = budget * rng.dirichlet(np.ones(4), 500)
    assert util(wl) >= np.max([util(t) for t in trials]) - 1e-12


def test_mean_variance_checks_arguments():
    cov = two_asset_cov(1.0, 1.5, 0.3)
    with pytest.raises(ValueError, match="risk_aversion"):
        mean_variance_weights([0.1, 0.2], cov, risk_aversion=0.0)
    with pytest.raises(ValueError, match="expected_returns"):
        mean_variance_weights([0.1, 0.2, 0.3], cov, risk_aversion=1.0)


# ---------------------------------------------------------------- Black-Litterman
SIGMA = np.array([[0.04, 0.018], [0.018, 0.09]])
W_MKT = np.array([0.6, 0.4])


def test_black_litterman_without_views_returns_prior():
    res = black_litterman(SIGMA, W_MKT, risk_aversion=2.5)
    np.testing.assert_allclose(res.prior_returns, 2.5 * SIGMA @ W_MKT, rtol=1e-14)
    np.testing.assert_allclose(res.expected_returns, res.prior_returns, rtol=1e-14)
    np.testing.assert_allclose(res.covariance, 1.05 * SIGMA, rtol=1e-14)
    # an infinitely (or very) uncertain view changes nothing
    inf = black_litterman(SIGMA, W_MKT, risk_aversion=2.5, views=[1, 0], view_returns=[0.2],
                          view_uncertainty=[np.inf])
    np.testing.assert_allclose(inf.expected_returns, res.prior_returns, rtol=1e-14)
    vague = black_litterman(SIGMA, W_MKT, risk_aversion=2.5, views=[1, 0], view_returns=[0.2],
                            view_uncertainty=[1e12])
    np.testing.assert_allclose(vague.expected_returns, res.prior_returns, rtol=1e-10)


def test_black_litterman_certain_view_pins_the_asset():
    res = black_litterman(SIGMA, W_MKT, risk_aversion=2.5, views=[[0, 1]], view_returns=[0.01],
                          view_uncertainty=[1e-16])
    assert abs(res.expected_returns[1] - 0.01) < 1e-10
    exact = black_litterman(SIGMA, W_MKT, risk_aversion=2.5, views=[[0, 1]], view_returns=[0.01],
                            view_uncertainty=[0.0])
    assert abs(exact.expected_returns[1] - 0.01) < 1e-14
    assert abs(exact.posterior_mean_covariance[1, 1]) < 1e-14   # no uncertainty left on asset 2's mean


def test_black_litterman_hand_computed_two_assets():
    lam, tau, q = 2.5, 0.05, 0.10
    pi = lam * SIGMA @ W_MKT                          # (0.078, 0.117)
    np.testing.assert_allclose(pi, [2.5 * (0.024 + 0.0072), 2.5 * (0.0108 + 0.036)], rtol=1e-14)
    # one absolute view on asset 1, He-Litterman omega = tau * sigma_1^2: the view and the prior count
    # equally for asset 1 and asset 2 moves by the regression coefficient Sigma_21 / Sigma_11
    omega = tau * SIGMA[0, 0]
    mu1 = (pi[0] + q) / 2
    mu2 = pi[1] + tau * SIGMA[1, 0] / (tau * SIGMA[0, 0] + omega) * (q - pi[0])
    res = black_litterman(SIGMA, W_MKT, risk_aversion=lam, views=[1, 0], view_returns=[q], tau=tau)
    np.testing.assert_allclose(res.expected_returns, [mu1, mu2], rtol=1e-12)
    # the textbook inverse form gives the same posterior
    ts_inv = np.linalg.inv(tau * SIGMA)
    p = np.array([[1.0, 0.0]])
    m = ts_inv + p.T @ p / omega
    mu_textbook = np.linalg.solve(m, ts_inv @ pi + p.T[:, 0] * q / omega)
    np.testing.assert_allclose(res.expected_returns, mu_textbook, rtol=1e-12)
    np.testing.assert_allclose(res.covariance, SIGMA + np.linalg.inv(m), rtol=1e-12)


def test_black_litterman_relative_view_with_full_omega():
    sigma = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.0625]])
    w, lam, tau = np.array([0.5, 0.3, 0.2]), 3.0, 0.025
    p = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    q = np.array([0.02, 0.05])
    omega = np.array([[0.001, 0.0002], [0.0002, 0.002]])
    res = black_litterman(sigma, w, risk_aversion=lam, views=p, view_returns=q, view_uncertainty=omega, tau=tau)
    ts_inv = np.linalg.inv(tau * sigma)
    m = ts_inv + p.T @ np.linalg.inv(omega) @ p
    expect = np.linalg.solve(m, ts_inv @ (lam * sigma @ w) + p.T @ np.linalg.solve(omega, q))
    np.testing.assert_allclose(res.expected_returns, expect, rtol=1e-10)


def test_black_litterman_checks_arguments():
    with pytest.raises(ValueError, match="market_weights"):
        black_litterman(SIGMA, [0.5, 0.4], risk_aversion=2.5)
    with pytest.raises(ValueError, match="view_returns"):
        black_litterman(SIGMA, W_MKT, risk_aversion=2.5, views=[1, 0])
    with pytest.raises(ValueError, match="views"):
        black_litterman(SIGMA, W_MKT, risk_aversion=2.5, views=[1, 0, 0], view_returns=[0.1])
    with pytest.raises(ValueError, match="cov"):
        black_litterman(-SIGMA, W_MKT, risk_aversion=2.5)


# ---------------------------------------------------------------- data and CCC covariance
@pytest.fixture(scope="module")
def assets():
    return embedded_asset_returns()


def test_embedded_asset_returns(assets):
    assert list(assets.columns) == ["SP500", "NASDAQ", "WTI"]
    assert assets.index.is_monotonic_increasing and assets.index.is_unique
    assert np.isfinite(assets.to_numpy()).all()
    assert assets.index[0] >= pd.Timestamp("1999-01-04") and assets.index[-1] <= pd.Timestamp("2018-12-31")
    assert len(assets) > 4900
    sd = assets.std()
    assert ((sd > 0.8) & (sd < 3.0)).all()           # percent daily returns
    short = embedded_asset_returns("2010-01-01", "2010-12-31")
    assert short.index[0].year == 2010 and short.index[-1].year == 2010


@pytest.fixture(scope="module")
def ccc_case(assets):
    data = assets.loc["2014-01-01":"2016-12-31"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchWarning)
        fit = fit_garch(data, vol="gjr", mean="constant", percent=True)
    return data, fit


def test_ccc_covariance_batch(ccc_case):
    data, fit = ccc_case
    assert (np.asarray(fit.status) == "ok").all()
    res = ccc_covariance(fit, data)
    np.testing.assert_allclose(np.diag(res.covariance), fit.forecast(1)[:, 0], rtol=1e-13)
    r = res.correlation
    np.testing.assert_array_equal(r, r.T)
    np.testing.assert_array_equal(np.diag(r), 1.0)
    assert np.all(np.abs(r) <= 1) and np.linalg.eigvalsh(r).min() > 0
    z = (data.to_numpy() - fit.mu) / np.sqrt(fit.conditional_variance)
    zc = z - z.mean(axis=0)
    by_hand = (zc.T @ zc) / np.sqrt(np.outer((zc**2).sum(0), (zc**2).sum(0)))
    np.testing.assert_allclose(r, by_hand, rtol=1e-12)
    assert 0.8 < r[0, 1] < 1.0                         # S&P 500 and NASDAQ move together
    np.testing.assert_allclose(res.covariance, np.outer(res.volatilities, res.volatilities) * r, rtol=1e-14)
    assert list(res.frame().columns) == ["SP500", "NASDAQ", "WTI"]
    five = ccc_covariance(fit, data, horizon=5)
    np.testing.assert_allclose(np.diag(five.covariance), fit.forecast(5).sum(axis=1), rtol=1e-13)
    np.testing.assert_array_equal(five.correlation, r)


def test_ccc_covariance_refuses_bad_input(ccc_case):
    data, fit = ccc_case
    with pytest.raises(ValueError, match="shape"):
        ccc_covariance(fit, data.to_numpy()[1:])
    with pytest.raises(ValueError, match="horizon"):
        ccc_covariance(fit, data, horizon=0)
    broken = data.copy()
    broken.iloc[5, 2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchWarning)
        bad_fit = fit_garch(broken, vol="gjr", mean="constant", percent=True)
    with pytest.raises(ValueError, match="'WTI'.*error"):
        ccc_covariance(bad_fit, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchWarning)
        single = fit_garch(data["SP500"], percent=True)
    with pytest.raises(ValueError, match="batch"):
        ccc_covariance(single, data[["SP500"]])


@pytest.mark.parametrize("horizon", ["2", 2.5, float("nan"), None, True, -1, [2]])
def test_ccc_covariance_refuses_a_horizon_that_is_not_a_whole_number(ccc_case, horizon):
    # float(horizon) took the text "2" as two periods (and float(None) raised TypeError, not ValueError)
    data, fit = ccc_case
    with pytest.raises(ValueError, match=r"^horizon must be a positive integer \(periods\), got "):
        ccc_covariance(fit, data, horizon=horizon)


def test_ccc_covariance_takes_a_whole_float_horizon(ccc_case):
    data, fit = ccc_case
    five = ccc_covariance(fit, data, horizon=5.0)
    assert five.horizon == 5 and type(five.horizon) is int
    np.testing.assert_array_equal(five.covariance, ccc_covariance(fit, data, horizon=np.int64(5)).covariance)
    np.testing.assert_allclose(np.diag(five.covariance), fit.forecast(5).sum(axis=1), rtol=1e-13)


# ---------------------------------------------------------------- backtest
WINDOW, REFIT = 250, 63
PERIOD = ("2014-01-01", "2018-12-31")


def run_backtest(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchWarning)
        return rebalanced_backtest(data, window=WINDOW, refit_every=REFIT, **kw)


@pytest.fixture(scope="module")
def backtest(assets):
    data = assets.loc[PERIOD[0]:PERIOD[1]]
    return data, run_backtest(data)


def test_backtest_table_and_legs(backtest):
    data, res = backtest
    assert list(res.summary.columns) == list(BACKTEST_COLUMNS)
    assert list(res.summary.index) == ["garch_min_variance", "equal_weight", "sample_min_variance"]
    days = len(data) - WINDOW
    assert (res.summary["days"] == days).all() and len(res.returns) == days
    assert res.returns.index[0] == data.index[WINDOW]
    simple = 100 * np.expm1(data.to_numpy()[WINDOW:] / 100)
    np.testing.assert_allclose(res.returns["equal_weight"], simple.mean(axis=1), rtol=1e-13, atol=1e-15)
    for name, w in res.weights.items():
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-10)
        assert (w.to_numpy() >= 0).all(), name
    np.testing.assert_allclose(res.returns["garch_min_variance"],
                               (res.weights["garch_min_variance"].to_numpy() * simple).sum(axis=1), rtol=1e-12)
    vol = res.summary["ann_volatility_pct"]
    np.testing.assert_allclose(vol, res.returns.std() * np.sqrt(252), rtol=1e-12)
    assert (vol > 5).all() and (vol < 40).all()
    assert res.summary.loc["equal_weight", "avg_turnover"] < res.summary.loc["garch_min_variance", "avg_turnover"]
    assert set(res.volatility_ratio.index) == {"garch_min_variance", "sample_min_variance"}
    assert res.fits == 3 * int(np.ceil(days / REFIT))
    print("\n" + res.description + "\n" + res.summary.to_string() + "\n" + res.volatility_ratio.to_string())


def test_backtest_uses_ccc_model_at_refits_and_recursion_between(backtest, assets):
    """Day t_k's covariance is the CCC covariance of a fit on rows t_k - window .. t_k - 1; two days later
    it is the GARCH recursion run forward with the same parameters."""
    data, res = backtest
    k = 2
    t = WINDOW + k * REFIT
    window = data.iloc[t - WINDOW:t]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchWarning)
        fit = fit_garch(window, percent=True)
    ccc = ccc_covariance(fit, window)
    np.testing.assert_allclose(res.covariance[t - WINDOW], ccc.covariance, rtol=1e-6)
    np.testing.assert_allclose(res.weights["garch_min_variance"].iloc[t - WINDOW], min_variance_weights(ccc.covariance),
                               atol=1e-5)
    x = data.to_numpy()
    h = fit.forecast(1)[:, 0]
    for s in (t, t + 1):
        h = fit.omega + fit.alpha * x[s] ** 2 + fit.beta * h
    np.testing.assert_allclose(np.diag(res.covariance[t + 2 - WINDOW]), h, rtol=1e-6)


@pytest.mark.parametrize("change_from", [WINDOW + 2 * REFIT, WINDOW + REFIT + 17])
def test_backtest_has_no_look_ahead(backtest, change_from):
    """Replacing every return from row t on leaves the weights of days <= t unchanged (day t is traded
    with information up to t-1), and does change later ones (the test can fail)."""
    data, res = backtest
    other = data.copy()
    rng = np.random.default_rng(5)
    other.iloc[change_from:] = rng.standard_t(5, size=other.iloc[change_from:].shape)
    res2 = run_backtest(other, benchmarks=("equal_weight",))
    d = change_from - WINDOW
    for name in ("garch_min_variance", "equal_weight"):
        np.testing.assert_allclose(res2.weights[name].iloc[:d + 1], res.weights[name].iloc[:d + 1], rtol=0,
                                   atol=1e-9)
    assert np.max(np.abs(res2.weights["garch_min_variance"].iloc[d + 1:].to_numpy()
                         - res.weights["garch_min_variance"].iloc[d + 1:].to_numpy())) > 1e-3
    np.testing.assert_allclose(res2.covariance[:d + 1], res.covariance[:d + 1], rtol=1e-9)


def test_backtest_simple_returns_and_mean_variance(backtest):
    data, _ = backtest
    res = run_backtest(data, strategy="mean_variance", mean="constant", risk_aversion=0.5, log_returns=False,
                       benchmarks=("equal_weight",))
    np.testing.assert_allclose(res.returns["equal_weight"], data.to_numpy()[WINDOW:].mean(axis=1), rtol=1e-13,
                               atol=1e-15)
    assert list(res.summary.index) == ["garch_mean_variance", "equal_weight"]
    np.testing.assert_allclose(res.weights["garch_mean_variance"].sum(axis=1), 1.0, atol=1e-10)


def test_backtest_checks_arguments(backtest):
    data, _ = backtest
    with pytest.raises(ValueError, match="window"):
        rebalanced_backtest(data, window=50)
    with pytest.raises(ValueError, match="strategy"):
        rebalanced_backtest(data, strategy="max_sharpe")
    with pytest.raises(ValueError, match="mean='constant'"):
        rebalanced_backtest(data, strategy="mean_variance", risk_aversion=1.0)
    with pytest.raises(ValueError, match="returns"):
        rebalanced_backtest(data.iloc[:, :1])
    bad = data.copy()
    bad.iloc[3, 0] = np.inf
    with pytest.raises(ValueError, match="returns"):
        rebalanced_backtest(bad)
