"""The prefix-scan likelihood (calibrator.garch_parallel, the GPU path) equals the sequential scans to
rounding: the linear filter, the variance filter, the one-pass value/gradient/Hessian for every model,
and a whole fit_garch (forced with EXOTICS_GARCH_SCAN=parallel on the CPU)."""
import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from calibrator import fit_garch, simulate
from calibrator.garch import GarchParams, GarchSpec, variance_filter
from calibrator.garch_derivatives import negloglik_mean_vgh
from calibrator.garch_parallel import (linear_filter, negloglik_mean_vgh_parallel, parallel_scans,
                                       variance_filter_parallel)

DATA = os.path.join(os.path.dirname(__file__), "data", "dem2gbp.csv")


def test_linear_filter_is_the_recursion():
    rng = np.random.default_rng(0)
    for shape in [(1,), (2,), (7,), (300,), (300, 3)]:
        inputs = rng.standard_normal(shape)
        initial = rng.standard_normal(shape[1:])
        expected = np.empty(shape)
        expected[0] = initial
        for t in range(1, shape[0]):
            expected[t] = 0.93 * expected[t - 1] + inputs[t - 1]
        np.testing.assert_allclose(np.asarray(linear_filter(0.93, jnp.asarray(inputs), jnp.asarray(initial))), expected,
                                   rtol=1e-12, atol=1e-12)


def test_variance_filter_matches_the_scan():
    sim = simulate(1, 2500, omega=0.02, alpha=0.05, gamma=0.07, beta=0.9, n_paths=1)
    r = jnp.asarray(np.asarray(sim.returns)[:, 0])
    a = variance_filter_parallel(r, 0.02, 0.05, 0.07, 0.9, 0.7)
    b = variance_filter(r, 0.02, 0.05, 0.07, 0.9, 0.7) if not parallel_scans() else None
    if b is not None:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)


@pytest.mark.parametrize("vol, dist, mean", list(itertools.product(("garch", "gjr"), ("normal", "t"), ("zero", "constant"))))
def test_value_gradient_hessian_match_the_sequential_pass(vol, dist, mean):
    spec = GarchSpec(vol=vol, dist=dist, mean=mean)
    sim = simulate(2, 1500, omega=0.03, alpha=0.06, gamma=0.05, beta=0.88, mu=0.02, nu=7.0, n_paths=1)
    y = jnp.asarray(np.asarray(sim.returns)[:, 0])
    params = GarchParams(mu=jnp.asarray(0.015), omega=jnp.asarray(0.025), alpha=jnp.asarray(0.05),
                         gamma=jnp.asarray(0.04 if vol == "gjr" else 0.0), beta=jnp.asarray(0.9),
                         nu=jnp.asarray(6.5 if dist == "t" else jnp.inf))
    m1, m2 = float(jnp.mean(y)), float(jnp.mean(y * y))
    backcast = lambda mu: m2 - 2.0 * mu * m1 + mu * mu  # noqa: E731 - the sample backcast, following mu
    for opg in (False, True):
        sequential = negloglik_mean_vgh(spec, params, y, backcast, with_opg=opg)
        parallel = negloglik_mean_vgh_parallel(spec, params, y, backcast, with_opg=opg)
        for a, b in zip(parallel, sequential):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-13)


@pytest.fixture
def forced_parallel(monkeypatch):
    monkeypatch.setenv("EXOTICS_GARCH_SCAN", "parallel")
    jax.clear_caches()
    yield
    monkeypatch.delenv("EXOTICS_GARCH_SCAN")
    jax.clear_caches()


def test_fit_garch_with_prefix_scans_reproduces_the_published_benchmark(forced_parallel):
    assert parallel_scans()
    dem = pd.read_csv(DATA)["DEM2GBP"]
    fit = fit_garch(dem, vol="garch", dist="normal", mean="constant", percent=True)
    published = {"mu": -0.00619041, "omega": 0.0107613, "alpha": 0.153134, "beta": 0.805974}
    for name, value in published.items():
        assert getattr(fit, name) == pytest.approx(value, rel=3e-5), name
    assert fit.loglik == pytest.approx(-1106.607881, abs=1e-5)
    sim = simulate(5, 1000, omega=0.02, alpha=0.07, gamma=0.06, beta=0.88, nu=6.0, n_paths=6)
    batch = fit_garch(np.asarray(sim.returns), vol="gjr", dist="t", percent=True)
    os.environ["EXOTICS_GARCH_SCAN"] = "sequential"
    jax.clear_caches()
    reference = fit_garch(np.asarray(sim.returns), vol="gjr", dist="t", percent=True)
    for name in ("omega", "alpha", "gamma", "beta", "nu", "loglik"):
        np.testing.assert_allclose(getattr(batch, name), getattr(reference, name), rtol=1e-6)


def test_bad_mode_is_refused(monkeypatch):
    monkeypatch.setenv("EXOTICS_GARCH_SCAN", "fast")
    with pytest.raises(ValueError, match="EXOTICS_GARCH_SCAN"):
        parallel_scans()
