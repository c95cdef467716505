"""calibrator.simulate: shapes, seeding, the recursion, moments, and that arch recovers the parameters."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from arch import arch_model  # noqa: E402

from calibrator import Simulation, simulate  # noqa: E402


def test_shapes_and_reproducibility():
    kw = dict(omega=0.02, alpha=0.05, gamma=0.04, beta=0.9, mu=0.01, nu=6.0, n_paths=7)
    a = simulate(jax.random.key(3), 250, **kw)
    b = simulate(jax.random.key(3), 250, **kw)
    c = simulate(jax.random.key(4), 250, **kw)
    assert isinstance(a, Simulation)
    assert a.returns.shape == (250, 7) and a.conditional_variance.shape == (250, 7)
    assert a.returns.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(a.returns), np.asarray(b.returns))
    np.testing.assert_array_equal(np.asarray(a.conditional_variance), np.asarray(b.conditional_variance))
    assert not np.allclose(np.asarray(a.returns), np.asarray(c.returns))
    # an int seed is the same as jax.random.key(seed)
    np.testing.assert_array_equal(np.asarray(simulate(3, 250, **kw).returns), np.asarray(a.returns))
    # one parameter set per path
    d = simulate(0, 100, omega=[0.01, 0.02, 0.03], alpha=0.05, beta=[0.9, 0.8, 0.7])
    assert d.returns.shape == (100, 3)


def test_paths_follow_the_recursion():
    omega, alpha, gamma, beta, mu = 0.02, 0.05, 0.08, 0.88, 0.03
    sim = simulate(1, 400, omega=omega, alpha=alpha, gamma=gamma, beta=beta, mu=mu, n_paths=3, burn=50)
    r, h = np.asarray(sim.returns), np.asarray(sim.conditional_variance)
    e = r - mu
    expected = omega + (alpha + gamma * (e[:-1] < 0)) * e[:-1] ** 2 + beta * h[:-1]
    np.testing.assert_allclose(h[1:], expected, rtol=1e-12)


@pytest.mark.parametrize("nu", [None, 5.0])
def test_moments(nu):
    omega, alpha, gamma, beta = 0.02, 0.04, 0.06, 0.9
    n_paths = 400
    sim = simulate(jax.random.key(9), 2000, omega=omega, alpha=alpha, gamma=gamma, beta=beta, nu=nu, n_paths=n_paths)
    r, h = np.asarray(sim.returns), np.asarray(sim.conditional_variance)
    z = r / np.sqrt(h)
    # standardised shocks: mean 0, variance 1 (tested in standard errors across independent paths)
    per_path_var = z.var(axis=0)
    assert abs(per_path_var.mean() - 1) < 4 * per_path_var.std() / np.sqrt(n_paths)
    per_path_mean = z.mean(axis=0)
    assert abs(per_path_mean.mean()) < 4 * per_path_mean.std() / np.sqrt(n_paths)
    # unconditional variance omega / (1 - persistence)
    uncond = omega / (1 - alpha - gamma / 2 - beta)
    v = r.var(axis=0)
    assert abs(v.mean() - uncond) < 4 * v.std() / np.sqrt(n_paths)
    kurt = (z**4).mean() / (z**2).mean() ** 2
    if nu is None:
        assert kurt == pytest.approx(3.0, abs=0.05)
    else:
        assert kurt > 4.0  # t(5): kurtosis 9 in theory, an estimate that converges slowly; clearly fat-tailed


def test_an_infinite_nu_gives_normal_shocks():
    # GarchParams stores a normal fit's nu as inf: the shocks were t * sqrt((inf - 2) / inf), all NaN
    params = dict(omega=0.02, alpha=0.05, beta=0.9, n_paths=2)
    normal = np.asarray(simulate(3, 500, **params).returns)
    np.testing.assert_array_equal(np.asarray(simulate(3, 500, nu=np.inf, **params).returns), normal)
    mixed = simulate(jax.random.key(4), 4000, omega=0.02, alpha=0.05, beta=0.9, nu=np.array([np.inf, 12.0] * 100))
    z = np.asarray(mixed.returns) / np.sqrt(np.asarray(mixed.conditional_variance))
    assert np.all(np.isfinite(z))
    kurtosis = (z ** 4).mean(axis=0)
    # per path: 3 for the normal paths, 3 (nu - 2) / (nu - 4) = 3.75 for t(12) (its 8th moment is finite, so
    # the spread over the 100 paths of each kind sizes the test)
    for paths, expected in ((kurtosis[0::2], 3.0), (kurtosis[1::2], 3.75)):
        assert abs(paths.mean() - expected) < 4 * paths.std() / np.sqrt(paths.size)


def test_arch_recovers_simulated_parameters():
    true = dict(omega=0.02, alpha=0.06, gamma=0.08, beta=0.87, nu=7.0)
    r = np.asarray(simulate(21, 20000, **true).returns)[:, 0]
    res = arch_model(r, mean="Zero", vol="GARCH", p=1, o=1, q=1, dist="t").fit(disp="off")
    for name, key in (("omega", "omega"), ("alpha", "alpha[1]"), ("gamma", "gamma[1]"), ("beta", "beta[1]"),
                      ("nu", "nu")):
        assert abs(res.params[key] - true[name]) < 4 * res.std_err[key], name


@pytest.mark.parametrize("kw,word", [
    (dict(omega=-0.1, alpha=0.05, beta=0.9), "omega"),
    (dict(omega=0.1, alpha=-0.05, beta=0.9), "alpha"),
    (dict(omega=0.1, alpha=0.2, beta=0.9), "alpha \\+ gamma/2 \\+ beta"),
    (dict(omega=0.1, alpha=0.05, beta=0.9, nu=2.0), "nu"),
    (dict(omega=[0.1, 0.2], alpha=[0.05, 0.05, 0.05], beta=0.9), "lengths"),
    (dict(omega=[0.1, 0.2], alpha=0.05, beta=0.9, n_paths=3), "n_paths"),
])
def test_bad_arguments(kw, word):
    with pytest.raises(ValueError, match=word):
        simulate(0, 100, **kw)


def test_garch_paths_on_given_shocks():
    """garch_paths runs simulate's recursion on the caller's shocks; a (T, N) parameter changes by day."""
    from calibrator.simulate import garch_paths
    rng = np.random.default_rng(5)
    z = rng.standard_normal((300, 4))
    omega, alpha, gamma, beta, mu = 0.02, 0.05, 0.08, 0.88, 0.03
    sim = garch_paths(z, omega=omega, alpha=alpha, gamma=gamma, beta=beta, mu=mu, h0=0.5)
    r, h = np.asarray(sim.returns), np.asarray(sim.conditional_variance)
    np.testing.assert_allclose(h[0], 0.5)
    np.testing.assert_allclose(r, mu + np.sqrt(h) * z, rtol=1e-12)
    e = r - mu
    np.testing.assert_allclose(h[1:], omega + (alpha + gamma * (e[:-1] < 0)) * e[:-1] ** 2 + beta * h[:-1], rtol=1e-12)
    # a regime shift: omega doubles from day 150 on; before it the paths are the same
    shifted = np.where(np.arange(300)[:, None] >= 150, 2 * omega, omega) * np.ones((1, 4))
    sim2 = garch_paths(z, omega=shifted, alpha=alpha, gamma=gamma, beta=beta, mu=mu, h0=0.5)
    h2 = np.asarray(sim2.conditional_variance)
    np.testing.assert_array_equal(h2[:151], h[:151])
    assert np.all(h2[151:] > h[151:])
    with pytest.raises(ValueError, match="omega"):
        garch_paths(z, omega=np.ones((10, 4)), alpha=alpha, beta=beta, h0=0.5)
    with pytest.raises(ValueError, match="h0"):
        garch_paths(z, omega=omega, alpha=alpha, beta=beta, h0=-1.0)
    with pytest.raises(ValueError, match="shocks"):
        garch_paths(z[:, 0], omega=omega, alpha=alpha, beta=beta, h0=0.5)
