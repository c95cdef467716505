"""garch_to_heston: the formulas, units (percent vs decimal), batches, the leverage/sample correlation, and the
round trip Heston paths -> GJR-GARCH MLE -> Heston."""
import math
import warnings
from types import SimpleNamespace

import jax
import numpy as np
import pytest
from scipy import integrate, stats

from calibrator import HestonParams, fit_garch, garch_to_heston, simulate
from calibrator.heston_map import _abs_third_moment, _kurtosis, heston_daily_returns
from pricer import Heston

P = 252


def _fake(omega, alpha, beta, gamma=0.0, nu=None, percent=False, h_next=None):
    """A fit-like object: the map only needs these attributes (and forecast for v0)."""
    fit = SimpleNamespace(omega=omega, alpha=alpha, beta=beta, gamma=gamma, nu=nu, percent=percent, mu=0.0)
    if h_next is not None:
        fit.forecast = lambda horizon: np.atleast_1d(h_next)
    return fit


def test_formulas_garch_normal():
    omega, alpha, beta = 2e-6, 0.08, 0.9
    h = garch_to_heston(_fake(omega, alpha, beta, h_next=3e-4), periods_per_year=P)
    gap = 1 - alpha - beta
    theta = P * omega / gap
    assert h.kappa == pytest.approx(P * gap, rel=1e-14)
    assert h.theta == pytest.approx(theta, rel=1e-14)
    assert h.v0 == pytest.approx(P * 3e-4, rel=1e-14)
    # Nelson: xi_G = alpha sqrt(kurtosis - 1) sqrt(P); Heston xi matched at theta: xi_G sqrt(theta)
    assert h.xi == pytest.approx(alpha * math.sqrt(2.0) * math.sqrt(P) * math.sqrt(theta), rel=1e-14)
    assert h.rho == 0.0
    assert isinstance(h, HestonParams) and isinstance(h.kappa, float)


def test_formulas_gjr_and_percent_units():
    omega_pct, alpha, gamma, beta = 0.02, 0.01, 0.12, 0.92
    dec = garch_to_heston(_fake(omega_pct * 1e-4, alpha, beta, gamma, h_next=1.5e-4))
    pct = garch_to_heston(_fake(omega_pct, alpha, beta, gamma, percent=True, h_next=1.5))
    for name in ("v0", "kappa", "theta", "xi", "rho"):
        assert getattr(pct, name) == pytest.approx(getattr(dec, name), rel=1e-13), name
    gap = 1 - alpha - beta - gamma / 2
    assert pct.theta == pytest.approx(P * omega_pct / 1e4 / gap, rel=1e-14)
    c = 3 * (alpha**2 + alpha * gamma + gamma**2 / 2) - (alpha + gamma / 2) ** 2
    assert pct.xi == pytest.approx(math.sqrt(c * P * pct.theta), rel=1e-14)
    assert pct.rho == pytest.approx(-gamma * 2 * math.sqrt(2 / math.pi) / (2 * math.sqrt(c)), rel=1e-14)
    # pure leverage (alpha = 0) gives -E|z|^3 / sqrt(2 K - 1) = -0.714 for normal z
    lev = garch_to_heston(_fake(1e-6, 0.0, 0.9, 0.1))
    assert lev.rho == pytest.approx(-2 * math.sqrt(2 / math.pi) / math.sqrt(5), rel=1e-14)


def test_leverage_rho_is_the_correlation_of_shock_and_variance_innovation():
    """The closed form equals a Monte Carlo correlation of z and (alpha + gamma 1{z<0}) z^2 for normal and t."""
    alpha, gamma = 0.03, 0.1
    rng = np.random.default_rng(0)
    for nu in (None, 8.0):
        z = rng.standard_normal(2_000_000) if nu is None else rng.standard_t(nu, 2_000_000) * math.sqrt((nu - 2) / nu)
        innovation = (alpha + gamma * (z < 0)) * z * z
        rho = garch_to_heston(_fake(1e-6, alpha, 0.9, gamma, nu=nu)).rho
        assert rho == pytest.approx(np.corrcoef(z, innovation)[0, 1], abs=0.01 if nu else 0.003)


def test_student_t_moments():
    for nu in (4.5, 6.0, 12.0):
        scale = math.sqrt((nu - 2) / nu)
        k4 = integrate.quad(lambda t: (t * scale) ** 4 * stats.t.pdf(t, nu), -np.inf, np.inf)[0]
        k3 = integrate.quad(lambda t: abs(t * scale) ** 3 * stats.t.pdf(t, nu), -np.inf, np.inf)[0]
        assert _kurtosis(np.array([nu]), 1)[0] == pytest.approx(k4, rel=1e-7)
        assert _abs_third_moment(np.array([nu]), 1)[0] == pytest.approx(k3, rel=1e-7)
    assert _abs_third_moment(None, 1)[0] == pytest.approx(2 * math.sqrt(2 / math.pi))
    # nu = inf (how GarchParams stores a normal fit) is the normal law: it gave NaN xi and rho
    np.testing.assert_allclose(_kurtosis(np.array([np.inf, 6.0]), 2), [3.0, _kurtosis(np.array([6.0]), 1)[0]])
    np.testing.assert_allclose(_abs_third_moment(np.array([np.inf]), 1), _abs_third_moment(None, 1))


def test_integrated_or_fat_tailed_fits_give_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="persistence"):
        h = garch_to_heston(_fake(np.array([1e-6, 1e-6]), np.array([0.1, 0.05]), np.array([0.9, 0.9])))
    assert np.isnan(h.theta[0]) and np.isnan(h.kappa[0]) and np.isnan(h.xi[0])
    assert np.isfinite(h.theta[1]) and np.isfinite(h.xi[1])
    with pytest.warns(RuntimeWarning, match="not identified"):
        h = garch_to_heston(_fake(1e-8, 0.05, 0.94995))
    assert np.isfinite(h.theta)
    with pytest.warns(RuntimeWarning, match="nu <= 4"):
        h = garch_to_heston(_fake(1e-6, 0.05, 0.9, nu=3.5))
    assert np.isnan(h.xi) and np.isfinite(h.theta)


@pytest.fixture(scope="module")
def gjr_batch():
    sim = simulate(jax.random.key(11), 2500, omega=0.02, alpha=0.02, gamma=0.12, beta=0.9, mu=0.03, n_paths=4)
    returns = np.asarray(sim.returns)  # percent
    fit = fit_garch(returns, vol="gjr", mean="constant", percent=True)
    return returns, fit


def test_batch_of_real_fits_matches_single_fits_and_units(gjr_batch):
    returns, fit = gjr_batch
    batch = garch_to_heston(fit)
    assert all(np.shape(getattr(batch, n)) == (4,) for n in ("v0", "kappa", "theta", "xi", "rho"))
    single = garch_to_heston(fit_garch(returns[:, 1], vol="gjr", mean="constant", percent=True))
    for name in ("v0", "kappa", "theta", "xi", "rho"):
        assert getattr(single, name) == pytest.approx(getattr(batch, name)[1], rel=1e-6), name
    # the same data in decimals maps to the same Heston parameters
    decimal = garch_to_heston(fit_garch(returns / 100, vol="gjr", mean="constant"))
    for name in ("v0", "kappa", "theta", "xi", "rho"):
        np.testing.assert_allclose(getattr(decimal, name), getattr(batch, name), rtol=1e-5, err_msg=name)
    # v0 is the annualised one-step-ahead forecast; theta near the simulated 252 * omega / (1 - p) / 1e4
    np.testing.assert_allclose(batch.v0, P * fit.forecast(1)[:, 0] / 1e4, rtol=1e-14)
    assert np.median(batch.theta) == pytest.approx(P * 0.02 / (1 - 0.98) / 1e4, rel=0.25)
    # a list of fits stacks
    stacked = garch_to_heston([fit, fit])
    assert stacked.theta.shape == (8,)


def test_sample_rho_from_returns(gjr_batch):
    returns, fit = gjr_batch
    h = garch_to_heston(fit, returns=returns)
    model = garch_to_heston(fit)
    # by hand for column 0
    hh, r = fit.conditional_variance[:, 0], returns[:, 0]
    z = (r[:-1] - fit.mu[0]) / np.sqrt(hh[:-1])
    pers = fit.alpha[0] + fit.beta[0] + fit.gamma[0] / 2
    innov = (hh[1:] - fit.omega[0] - pers * hh[:-1]) / hh[:-1]
    assert h.rho[0] == pytest.approx(np.corrcoef(z, innov)[0, 1], rel=1e-12)
    # on GJR-normal data the sample version estimates the model-implied one
    np.testing.assert_allclose(h.rho, model.rho, atol=0.08)
    with pytest.raises(ValueError, match="returns has shape"):
        garch_to_heston(fit, returns=returns[:-1])


def test_heston_params_is_a_pytree_and_builds_the_pricer_model():
    p = HestonParams(v0=0.04, kappa=2.0, theta=0.05, xi=0.4, rho=-0.6)
    doubled = jax.tree.map(lambda a: 2 * a, p)
    assert isinstance(doubled, HestonParams) and doubled.kappa == 4.0
    model = p.to_model(100.0, rate=0.02, dividend=0.01)
    assert isinstance(model, Heston) and float(model.xi) == 0.4 and float(model.rate) == 0.02
    assert p.feller_ratio == pytest.approx(2 * 2.0 * 0.05 / 0.16)


# Round trip: Heston paths (daily returns, QE-M with 4 substeps a day) -> GJR-normal MLE -> garch_to_heston.
# Medians over paths. The map recovers what it should where the two models are close, i.e. where the Heston variance
# is concentrated around theta (Feller ratio 2 kappa theta / xi^2 >= 2.5): theta within 10%, rho within 0.1,
# xi within 25% (biased low), kappa within 40% (a mean-reversion speed from 16 years of data is noisy).
# With a skewed variance law (Feller ratio ~2 or below) the GARCH persistence is biased towards 1, so kappa is
# too small and theta too large: reported, not tested (the last set).
ROUND_TRIP = [
    dict(v0=0.04, kappa=5.0, theta=0.04, xi=0.3, rho=-0.7),
    dict(v0=0.04, kappa=8.0, theta=0.04, xi=0.5, rho=-0.5),
    dict(v0=0.04, kappa=2.0, theta=0.04, xi=0.2, rho=-0.5),
    dict(v0=0.09, kappa=4.0, theta=0.06, xi=0.5, rho=-0.5),
]
TESTED = 3
PATHS, DAYS = 8, 4000


@pytest.fixture(scope="module")
def round_trip():
    true = HestonParams(**{n: np.array([s[n] for s in ROUND_TRIP]) for n in ROUND_TRIP[0]})
    returns, v_end = heston_daily_returns(jax.random.key(5), true, DAYS, PATHS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few paths of the last set may hit the persistence bound
        fit = fit_garch(returns * 100, vol="gjr", mean="constant", percent=True)
        mapped = garch_to_heston(fit)
    return true, mapped, v_end


def test_round_trip_heston_garch_heston(round_trip):
    true, mapped, _ = round_trip
    rows = []
    for i, s in enumerate(ROUND_TRIP):
        sl = slice(i * PATHS, (i + 1) * PATHS)
        med = {n: float(np.median(getattr(mapped, n)[sl])) for n in ("theta", "kappa", "xi", "rho")}
        rows.append((s, med))
        print(f"true {s}  mapped median " + " ".join(f"{n}={v:.4g}" for n, v in med.items()))
        if i >= TESTED:
            continue
        assert med["theta"] == pytest.approx(s["theta"], rel=0.10)
        assert med["rho"] == pytest.approx(s["rho"], abs=0.10)
        assert med["xi"] == pytest.approx(s["xi"], rel=0.25)
        assert med["kappa"] == pytest.approx(s["kappa"], rel=0.40)
    assert rows[TESTED][1]["theta"] > ROUND_TRIP[TESTED]["theta"]  # the documented bias of the skewed case


def test_round_trip_v0_tracks_the_final_variance(round_trip):
    _, mapped, v_end = round_trip
    n = TESTED * PATHS
    assert np.median(np.abs(mapped.v0[:n] - v_end[:n]) / v_end[:n]) < 0.3
