"""The GARCH likelihood building blocks: variance filter, log-likelihood definition (vs arch), the
one-pass exact derivatives (vs jax autodiff) and the constrained parameterisation."""

import jax

jax.config.update("jax_enable_x64", True)


import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from arch import arch_model  # noqa: E402

from calibrator.garch import (GarchParams, GarchSpec, ewma_backcast, loglik, negloglik_mean,  # noqa: E402
                              variance_filter)
from calibrator.garch_derivatives import negloglik_mean_vgh  # noqa: E402
from calibrator.transforms import params_to_theta, starting_grid, theta_to_params  # noqa: E402

SPECS = [GarchSpec(v, d, m) for v in ("garch", "gjr") for d in ("normal", "t") for m in ("zero", "constant")]
VALUES = dict(mu=0.03, omega=0.05, alpha=0.07, gamma=0.06, beta=0.85, nu=7.0)


@pytest.fixture(scope="module")
def returns():
    rng = np.random.default_rng(7)
    return rng.standard_t(6, size=400) * 0.9 + 0.05


def test_variance_filter_matches_a_python_loop(returns):
    omega, alpha, gamma, beta, bc = 0.05, 0.07, 0.06, 0.85, 0.8
    e = returns - 0.03
    expected = np.empty_like(e)
    h = omega + (alpha + gamma / 2 + beta) * bc
    for t in range(len(e)):
        expected[t] = h
        h = omega + (alpha + gamma * (e[t] < 0)) * e[t] ** 2 + beta * h
    got = variance_filter(jnp.asarray(e), omega, alpha, gamma, beta, bc)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-13)


def test_ewma_backcast_is_archs(returns):
    resid = returns - returns.mean()
    am = arch_model(returns, mean="Constant", vol="GARCH", p=1, q=1)
    assert float(ewma_backcast(jnp.asarray(resid))) == pytest.approx(am.volatility.backcast(resid), rel=1e-13)


@pytest.mark.parametrize("spec", [GarchSpec("garch", "normal", "constant"), GarchSpec("gjr", "t", "zero"),
                                  GarchSpec("gjr", "normal", "constant"), GarchSpec("garch", "t", "constant")],
                         ids=str)
def test_loglik_definition_matches_arch(returns, spec):
    """Same parameters, same (EWMA) backcast: arch's log-likelihood, constants included."""
    am = arch_model(returns, mean=spec.mean.capitalize(), vol="GARCH", p=1, o=int(spec.vol == "gjr"), q=1,
                    dist=spec.dist)
    x = np.array([VALUES[n] for n in spec.param_names])
    arch_ll = am.fix(x).loglikelihood
    params = GarchParams.from_vector(spec, jnp.asarray(x))
    resid = returns - VALUES["mu"] * (spec.mean == "constant")
    bc = am.volatility.backcast(returns - returns.mean() if spec.mean == "constant" else returns)
    ours = float(loglik(params, jnp.asarray(returns), spec, backcast=bc))
    assert ours == pytest.approx(arch_ll, rel=1e-12)
    # the accumulate-in-the-scan objective is the same number
    mean_nll = float(negloglik_mean(params, jnp.asarray(returns), bc, spec))
    assert -mean_nll * len(resid) == pytest.approx(arch_ll, rel=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_one_pass_derivatives_equal_autodiff(returns, spec):
    y = jnp.asarray(returns)
    m1, m2 = float(np.mean(returns)), float(np.mean(returns**2))

    def backcast_fn(mu):
        return m2 - 2 * mu * m1 + mu * mu

    def f(x):
        p = GarchParams.from_vector(spec, x)
        return negloglik_mean(p, y, backcast_fn(p.mu), spec)

    x = jnp.asarray([VALUES[n] for n in spec.param_names])
    v, g, h, opg = jax.jit(
        lambda x: negloglik_mean_vgh(spec, GarchParams.from_vector(spec, x), y, backcast_fn, with_opg=True))(x)
    f_ref, g_ref, h_ref = jax.jit(lambda x: (f(x), jax.grad(f)(x), jax.hessian(f)(x)))(x)
    np.testing.assert_allclose(float(v), float(f_ref), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(np.asarray(h), np.asarray(h_ref), rtol=1e-10, atol=1e-12)

    # outer product of per-observation scores, against autodiff of the per-observation log-likelihood
    def per_obs(x):
        p = GarchParams.from_vector(spec, x)
        return loglik(p, y, spec, backcast=backcast_fn(p.mu), per_observation=True)

    scores = jax.jit(jax.jacfwd(per_obs))(x)
    np.testing.assert_allclose(np.asarray(opg), np.asarray(scores.T @ scores), rtol=1e-10)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_parameterisation_is_feasible_and_invertible(spec):
    rng = np.random.default_rng(3)
    for theta in rng.normal(scale=3.0, size=(200, spec.n_params)):
        p = theta_to_params(spec, jnp.asarray(theta))
        assert p.omega > 0 and p.alpha >= 0 and p.beta >= 0 and p.alpha + p.gamma >= 0
        assert 0 < p.persistence < 1
        if spec.dist == "t":
            assert 2.05 <= p.nu <= 500
    for theta in starting_grid(spec):
        p = theta_to_params(spec, jnp.asarray(theta))
        back = params_to_theta(spec, p.mu, p.omega, p.alpha, p.gamma, p.beta, p.nu)
        np.testing.assert_allclose(np.asarray(theta_to_params(spec, jnp.asarray(back)).to_vector(spec)),
                                   np.asarray(p.to_vector(spec)), rtol=1e-10, atol=1e-12)
