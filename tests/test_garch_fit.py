"""fit_garch against the published DEM/GBP benchmark and against arch, batched and single."""
import os
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from arch import arch_model  # noqa: E402
from arch.data import sp500  # noqa: E402

import calibrator  # noqa: E402
from calibrator import GarchFit, fit_garch, simulate  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data", "dem2gbp.csv")

# Fiorentini, Calzolari & Panattoni (1996), J. Applied Econometrics 11, 399-417; McCullough & Renfro
# (1998): GARCH(1,1), constant mean, normal, h_0 = sample variance of the residuals. The standard errors
# are the Hessian-based ones (as rugarch's and fGarch's benchmark checks use them).
FCP = {"mu": -0.00619041, "omega": 0.0107613, "alpha": 0.153134, "beta": 0.805974}
FCP_SE_HESSIAN = {"mu": 0.00846212, "omega": 0.00285271, "alpha": 0.0265228, "beta": 0.0335527}


def lre(estimate, reference):
    """Log relative error: the number of correct significant digits."""
    return -np.log10(abs(estimate - reference) / abs(reference)) if estimate != reference else 15.0


@pytest.fixture(scope="module")
def dem():
    return pd.read_csv(DATA)["DEM2GBP"]


@pytest.fixture(scope="module")
def dem_fit(dem):
    return fit_garch(dem, vol="garch", dist="normal", mean="constant", percent=True)


def test_dem2gbp_published_benchmark(dem_fit):
    fit = dem_fit
    assert isinstance(fit, GarchFit) and fit.converged and fit.status == "ok"
    for name, ref in FCP.items():
        assert lre(getattr(fit, name), ref) >= 4.5, (name, getattr(fit, name), ref)
    se = fit.std_errors_hessian
    for name, ref in FCP_SE_HESSIAN.items():
        assert lre(se[name], ref) >= 4.5, (name, se[name], ref)
    assert fit.loglik == pytest.approx(-1106.607881, abs=1e-5)  # fGarch/rugarch report -1106.608
    assert fit.nu is None and fit.gamma == 0.0
    assert fit.conditional_variance.shape == (1974,)
    assert fit.percent is True


def test_percent_flag_is_remembered_and_units_follow_input(dem, dem_fit):
    """Decimal returns give the same model in other units: mu/100, omega/1e4, loglik + T log 100."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # correctly labelled data: no DataScaleWarning
        dec = fit_garch(dem / 100, vol="garch", dist="normal", mean="constant", percent=False)
    assert dec.percent is False
    assert dec.mu == pytest.approx(dem_fit.mu / 100, rel=1e-6)
    assert dec.omega == pytest.approx(dem_fit.omega / 1e4, rel=1e-6)
    assert dec.alpha == pytest.approx(dem_fit.alpha, rel=1e-6)
    assert dec.loglik == pytest.approx(dem_fit.loglik + len(dem) * np.log(100), rel=1e-10)
    # annualised volatility is in decimals either way
    np.testing.assert_allclose(dec.volatility_term_structure([1, 21, 252]),
                               dem_fit.volatility_term_structure([1, 21, 252]), rtol=1e-6)


@pytest.fixture(scope="module")
def sp():
    prices = sp500.load()["Adj Close"]
    return 100 * np.log(prices).diff().dropna()


@pytest.mark.parametrize("vol,dist,mean", [("garch", "normal", "constant"), ("garch", "t", "zero"),
                                           ("gjr", "normal", "zero"), ("gjr", "t", "constant")])
def test_sp500_matches_arch(sp, vol, dist, mean):
    am = arch_model(sp, mean=mean.capitalize(), vol="GARCH", p=1, o=int(vol == "gjr"), q=1, dist=dist)
    res = am.fit(disp="off")
    fit = fit_garch(sp, vol=vol, dist=dist, mean=mean, percent=True, backcast="ewma")
    assert fit.converged
    # same likelihood definition and initial variance: the optimum agrees to 1e-6 relative, and ours is
    # never worse than arch's by more than that (arch's SLSQP stops a little short)
    assert fit.loglik == pytest.approx(res.loglikelihood, rel=1e-6)
    assert fit.loglik >= res.loglikelihood - 1e-6 * abs(res.loglikelihood)
    ours, theirs = fit.params.to_numpy(), res.params.to_numpy()
    # 1% relative where identified; parameters at a bound (alpha = 0 for GJR on equities) absolutely
    np.testing.assert_allclose(ours, theirs, rtol=1e-2, atol=1e-4)
    np.testing.assert_allclose(fit.std_errors.to_numpy(), res.std_err.to_numpy(), rtol=2e-2, atol=1e-4)
    # conditional variances from the same recursion
    np.testing.assert_allclose(fit.conditional_variance, res.conditional_volatility.to_numpy() ** 2, rtol=2e-3)


def test_user_backcast_reproduces_archs_likelihood(sp):
    am = arch_model(sp, mean="Constant", vol="GARCH", p=1, q=1)
    res = am.fit(disp="off")
    fit = fit_garch(sp.to_numpy(), vol="garch", mean="constant", percent=True, backcast=am._backcast)
    assert fit.loglik == pytest.approx(res.loglikelihood, rel=1e-6)
    assert fit.backcast_value == pytest.approx(am._backcast, rel=1e-12)


def test_forecast_matches_arch_analytic(sp):
    am = arch_model(sp, mean="Zero", vol="GARCH", p=1, o=1, q=1, dist="t")
    am.fit(disp="off")  # sets arch's backcast
    fit = fit_garch(sp, vol="gjr", dist="t", mean="zero", percent=True, backcast="ewma")
    theirs = am.forecast(params=fit.params.to_numpy(), horizon=30, method="analytic", reindex=False)
    np.testing.assert_allclose(fit.forecast(30), theirs.variance.to_numpy()[-1], rtol=1e-8)
    # long-run level and the annualised term structure
    assert fit.forecast(5000)[-1] == pytest.approx(fit.unconditional_variance, rel=1e-6)
    ts = fit.volatility_term_structure([1, 30])
    assert ts[0] == pytest.approx(np.sqrt(252 * fit.forecast(1)[0]) / 100)
    assert ts[1] == pytest.approx(np.sqrt(252 * fit.forecast(30).mean()) / 100)


N_SIM = 12
T_SIM = 2000


@pytest.fixture(scope="module")
def sim_garch():
    sim = simulate(jax.random.key(11), T_SIM, omega=0.02, alpha=0.06, beta=0.91, mu=0.04, n_paths=N_SIM)
    return np.asarray(sim.returns)


@pytest.fixture(scope="module")
def batch_fit(sim_garch):
    frame = pd.DataFrame(sim_garch, columns=[f"s{j}" for j in range(N_SIM)])
    return fit_garch(frame, vol="garch", dist="normal", mean="constant", percent=True, backcast="ewma")


def test_simulated_batch_matches_arch_per_column(sim_garch, batch_fit):
    assert batch_fit.params.shape == (N_SIM, 4) and list(batch_fit.params.index) == [f"s{j}" for j in range(N_SIM)]
    assert batch_fit.omega.shape == (N_SIM,) and np.all(batch_fit.converged)
    assert list(batch_fit.status) == ["ok"] * N_SIM
    for j in range(N_SIM):
        res = arch_model(sim_garch[:, j], mean="Constant", vol="GARCH", p=1, q=1).fit(disp="off")
        assert batch_fit.loglik[j] == pytest.approx(res.loglikelihood, rel=1e-6)
        assert batch_fit.loglik[j] >= res.loglikelihood - 1e-7 * abs(res.loglikelihood)
        np.testing.assert_allclose(batch_fit.params.iloc[j].to_numpy(), res.params.to_numpy(), rtol=1e-2, atol=1e-4)


def test_batch_column_equals_single_fit(sim_garch, batch_fit):
    for j in (0, 7):
        single = fit_garch(sim_garch[:, j], vol="garch", dist="normal", mean="constant", percent=True,
                           backcast="ewma")
        for name in ("mu", "omega", "alpha", "beta", "loglik"):
            assert getattr(single, name) == pytest.approx(getattr(batch_fit, name)[j], rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(single.conditional_variance, batch_fit.conditional_variance[:, j], rtol=1e-8)
        np.testing.assert_allclose(single.std_errors.to_numpy(), batch_fit.std_errors.iloc[j].to_numpy(), rtol=1e-6)
        np.testing.assert_allclose(single.forecast(10), batch_fit.forecast(10)[j], rtol=1e-8)


def test_gjr_t_simulated_batch_matches_arch():
    n = 6
    sim = simulate(jax.random.key(5), T_SIM, omega=0.03, alpha=0.03, gamma=0.09, beta=0.89, nu=6.0, n_paths=n)
    r = np.asarray(sim.returns)
    fit = fit_garch(r, vol="gjr", dist="t", mean="zero", percent=True, backcast="ewma")
    assert np.all(fit.converged) and fit.nu.shape == (n,)
    for j in range(n):
        res = arch_model(r[:, j], mean="Zero", vol="GARCH", p=1, o=1, q=1, dist="t").fit(disp="off")
        assert fit.loglik[j] == pytest.approx(res.loglikelihood, rel=1e-6)
        assert fit.loglik[j] >= res.loglikelihood - 1e-7 * abs(res.loglikelihood)
        np.testing.assert_allclose(fit.params.iloc[j].to_numpy(), res.params.to_numpy(), rtol=1e-2, atol=1e-3)


def test_public_names():
    for name in ("fit_garch", "simulate", "GarchFit", "Simulation", "DataScaleWarning", "ConvergenceWarning",
                 "PersistenceWarning", "ShortSeriesWarning"):
        assert hasattr(calibrator, name)


def test_float32_fit_is_close_to_float64(dem, dem_fit):
    """Without x64 JAX computes in float32; the fit still converges, to a tiny fraction of a standard
    error (float32 resolves the mean log-likelihood to ~1e-7)."""
    fit32 = fit_garch(dem, vol="garch", dist="normal", mean="constant", percent=True, dtype="float32")
    assert fit32.converged
    se = dem_fit.std_errors
    for name in ("mu", "omega", "alpha", "beta"):
        assert abs(getattr(fit32, name) - getattr(dem_fit, name)) < 0.02 * se[name], name
    # a float32 sum of 1974 terms: the log-likelihood itself is good to ~1e-6 relative
    assert fit32.loglik == pytest.approx(dem_fit.loglik, rel=5e-6)


def test_staged_batch_equals_plain_float64_fits():
    """Batches of >= 64 series run float32 Newton first, then a few float64 iterations, then re-run
    stragglers in small groups; the optima must be the plain float64 ones."""
    from calibrator.garch_fit import STAGED_MIN_SERIES

    n, t = STAGED_MIN_SERIES, 800
    r = np.array(simulate(jax.random.key(8), t, omega=0.05, alpha=0.08, beta=0.88, n_paths=n).returns)
    z = np.random.default_rng(1).standard_normal((t, 4))
    r[:, -4:] = z * np.exp(np.linspace(0.0, 2.5, t))[:, None]   # persistence pushed to its bound
    r[:, 5] = r[:, 5] * np.where(np.arange(t) < t // 2, 0.3, 3.0)  # a variance break
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", calibrator.PersistenceWarning)
        staged = fit_garch(r, mean="constant", percent=True)
        plain = [fit_garch(r[:, j:j + n // 2], mean="constant", percent=True) for j in (0, n // 2)]
    assert np.all(staged.converged)
    for name in ("mu", "omega", "alpha", "beta", "loglik"):
        ref = np.concatenate([getattr(p, name) for p in plain])
        np.testing.assert_allclose(getattr(staged, name), ref, rtol=1e-6, atol=1e-9, err_msg=name)
