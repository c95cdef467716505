"""calibrator.stress: GARCH paths after the sample (stressed start, regime shifts, joint shocks) checked
against the analytic variance recursion in Monte Carlo standard errors."""
import numpy as np
import pandas as pd
import pytest
from arch.data import sp500

from calibrator import fit_garch, simulate
from calibrator.stress import RegimeShift, garch_scenarios, peak_variance, simulate_from_fit
from calibrator.value_at_risk import standardised_residuals
from pricer.scenarios import MarketScenarios


@pytest.fixture(scope="module")
def index_fit():
    closes = sp500.load()["Adj Close"]
    returns = (100 * np.log(closes).diff().dropna()).rename("sp500")
    return returns, fit_garch(returns, vol="gjr", dist="t", mean="constant", percent=True)


def _mean_and_stderr(x, axis=-1):
    return x.mean(axis=axis), x.std(axis=axis) / np.sqrt(x.shape[axis])


def test_peak_variance_is_the_2008_crisis(index_fit):
    returns, fit = index_fit
    peak, when = peak_variance(fit)
    assert peak[0] == pytest.approx(np.max(fit.conditional_variance))
    assert pd.Timestamp(when[0]).year == 2008 and pd.Timestamp(when[0]).month in (10, 11)
    calm, calm_day = peak_variance(fit, "2017-01-01", "2017-12-31")
    assert calm[0] < 0.05 * peak[0] and pd.Timestamp(calm_day[0]).year == 2017
    with pytest.raises(ValueError, match="no observation"):
        peak_variance(fit, "2030-01-01")


def test_stressed_start_decays_as_the_variance_recursion_says(index_fit):
    """From the 2008 peak, E[h_{t+1}] = omega + persistence E[h_t] (symmetric shocks): the simulated mean
    variance follows that path within Monte Carlo error, and the variance ratio at the horizon is
    E[h_{T+H+1}] / h_{T+1} of today's forecast."""
    returns, fit = index_fit
    paths = simulate_from_fit(fit, horizon=20, n_paths=50_000, method="mc", start_variance="peak", seed=4)
    peak = peak_variance(fit)[0][0]
    assert paths.start_variance[0] == pytest.approx(peak)
    np.testing.assert_allclose(paths.variance[0, 0], peak)
    expected = [peak]
    for _ in range(20):
        expected.append(fit.omega + fit.persistence * expected[-1])
    mean, stderr = _mean_and_stderr(paths.variance[1:, 0, :])    # row 0 is the start itself
    assert np.all(np.abs(mean - np.array(expected[1:])) < 4 * stderr)
    scenarios = garch_scenarios(fit, returns, horizon=20, n_scenarios=20_000, method="mc", start_variance="peak", seed=4)
    assert isinstance(scenarios, MarketScenarios) and scenarios.log_spot_path.shape == (20_000, 20, 1)
    ratio_mean, ratio_se = _mean_and_stderr(scenarios.variance_ratio[:, 0])
    assert abs(ratio_mean - expected[-1] / fit.forecast(1)[0]) < 4 * ratio_se
    assert ratio_mean > 5   # a stressed market: far above today's (2018) variance


def test_regime_shift_moves_the_long_run_variance_and_persistence():
    sim = simulate(3, 3000, omega=0.02, alpha=0.06, beta=0.9, n_paths=1)
    fit = fit_garch(np.asarray(sim.returns)[:, 0], percent=True)
    shift = RegimeShift(day=6, long_run_variance_ratio=4.0, persistence=0.985)
    paths = simulate_from_fit(fit, horizon=60, n_paths=40_000, method="mc", regime=shift, seed=9)
    long_run = fit.omega / (1 - fit.persistence)
    new_omega = 4.0 * long_run * (1 - 0.985)
    expected = [fit.forecast(1)[0]]
    for row in range(1, 61):   # row t of the variance is day t + 1's: day 6 (row 5) is the first new one
        omega, persistence = (new_omega, 0.985) if row >= 5 else (fit.omega, fit.persistence)
        expected.append(omega + persistence * expected[-1])
    np.testing.assert_allclose(paths.variance[0, 0], expected[0])
    mean, stderr = _mean_and_stderr(paths.variance[1:, 0, :])
    assert np.all(np.abs(mean - np.array(expected[1:])) < 4 * stderr)
    assert expected[-1] > 2 * long_run        # the shift is visible, not noise
    with pytest.raises(ValueError, match="persistence"):
        simulate_from_fit(fit, horizon=5, n_paths=10, regime=RegimeShift(day=2, persistence=1.2))
    for day in (1, 6):   # day 1's variance is the start variance; day 6 is past a 5-day horizon
        with pytest.raises(ValueError, match="regime.day"):
            simulate_from_fit(fit, horizon=5, n_paths=10, regime=RegimeShift(day=day, long_run_variance_ratio=2.0))
    for field, shift in (("regime.long_run_variance_ratio", RegimeShift(day=2, long_run_variance_ratio="2x")),
                         ("regime.persistence", RegimeShift(day=2, persistence="0.98")),
                         ("regime.persistence", RegimeShift(day=2, persistence=True))):
        with pytest.raises(ValueError, match=field.replace(".", r"\.") + " must be a number"):
            simulate_from_fit(fit, horizon=5, n_paths=10, regime=shift)


def test_joint_shocks_keep_the_assets_correlation():
    rng = np.random.default_rng(0)
    z = rng.multivariate_normal([0, 0], [[1.0, -0.5], [-0.5, 1.0]], size=2500)
    from calibrator.simulate import garch_paths
    sim = garch_paths(z, omega=0.03, alpha=0.05, beta=0.9, h0=0.6)
    frame = pd.DataFrame(np.asarray(sim.returns), columns=["a", "b"])
    fit = fit_garch(frame, percent=True)
    rho = np.corrcoef(standardised_residuals(fit, frame).T)[0, 1]
    for method in ("fhs", "mc"):
        paths = simulate_from_fit(fit, horizon=1, n_paths=40_000, method=method, returns=frame, seed=1)
        shocks = paths.returns[0] / np.sqrt(paths.variance[0])
        simulated = np.corrcoef(shocks)[0, 1]
        assert abs(simulated - rho) < 4 * (1 - rho ** 2) / np.sqrt(40_000), method
        alone = simulate_from_fit(fit, horizon=1, n_paths=40_000, method=method, returns=frame, correlated=False, seed=1)
        assert abs(np.corrcoef(alone.returns[0])[0, 1]) < 4 / np.sqrt(40_000)
    scenarios = garch_scenarios(fit, frame, horizon=5, n_scenarios=500, names=["SPX", "NDX"], seed=2)
    assert scenarios.names == ("SPX", "NDX")
    paths = simulate_from_fit(fit, horizon=5, n_paths=500, method="fhs", returns=frame, seed=2)
    np.testing.assert_allclose(scenarios.log_spot_path, paths.cumulative.transpose(2, 0, 1) / 100)   # percent -> decimal


def test_series_drawn_apart_have_independent_streams_even_when_their_names_collide_in_crc32():
    # "plumless" and "buckeroo" share a CRC-32: keyed by it, two series with the same fit drew the same
    # shocks, and a two-asset VaR assumed perfect correlation. The key is now a 256-bit digest.
    rng = np.random.default_rng(3)
    from calibrator.simulate import garch_paths
    sim = garch_paths(rng.standard_normal((1500, 1)), omega=0.03, alpha=0.05, beta=0.9, h0=0.6)
    one = np.asarray(sim.returns)[:, 0]
    frame = pd.DataFrame({"plumless": one, "buckeroo": one})   # the same data: the same fit
    fit = fit_garch(frame, percent=True)
    paths = simulate_from_fit(fit, horizon=1, n_paths=20_000, method="mc", correlated=False, seed=4)
    assert abs(np.corrcoef(paths.returns[0])[0, 1]) < 4 / np.sqrt(20_000)
    # and a series' shocks still depend on its name and the seed alone, not on the batch around it
    alone = simulate_from_fit(fit_garch(frame[["buckeroo"]], percent=True), horizon=1, n_paths=20_000, method="mc",
                              seed=4)
    np.testing.assert_allclose(alone.returns[0][0] / np.sqrt(alone.variance[0][0]),
                               paths.returns[0][1] / np.sqrt(paths.variance[0][1]), rtol=1e-6, atol=1e-9)


def test_bad_input_is_named():
    sim = simulate(2, 600, omega=0.02, alpha=0.06, beta=0.9, n_paths=2)
    frame = pd.DataFrame(np.asarray(sim.returns), columns=["ok", "broken"])
    frame.loc[10, "broken"] = np.inf
    fit = fit_garch(frame, percent=True)
    with pytest.raises(ValueError, match="'broken'"):
        simulate_from_fit(fit, horizon=5, n_paths=10, method="mc", returns=frame)
    alone = simulate_from_fit(fit, horizon=5, n_paths=10, method="mc", correlated=False)
    assert np.isnan(alone.returns[:, 1]).all() and np.isfinite(alone.returns[:, 0]).all()
    with pytest.raises(ValueError, match="method"):
        simulate_from_fit(fit, horizon=5, n_paths=10, method="bootstrap")
    with pytest.raises(ValueError, match="horizon"):
        simulate_from_fit(fit, horizon=0, n_paths=10, correlated=False)
    with pytest.raises(ValueError, match="start_variance"):
        simulate_from_fit(fit, horizon=5, n_paths=10, start_variance=-1.0, correlated=False)
    with pytest.raises(ValueError, match="returns="):
        simulate_from_fit(fit, horizon=5, n_paths=10, method="fhs", correlated=False)
