"""Hand-written JVP rules (the QE variance draw, the Brownian-bridge survival, the whole Heston QE step)
against forward-mode autodiff of the textbook formulas, written out here independently, in float64.

The rules exist for speed (partial derivatives computed once per path, a few multiply-adds per Greek);
these tests pin them to the derivative autodiff would give, on both QE branches, absorbed draws,
steps that cannot cross, unwatched steps, up and down barriers."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pricer import Heston
from pricer._bridge import bridge_survival, bridge_survival_moving_variance, crossing_time_fraction
from pricer._math import computed_once, normal_upper_tail, safe_sqrt
from pricer.models._qe import qe_draw

PSI_CRITICAL = 1.5


def reference_qe(mean, variance, big_a, z_v, tail):
    """Andersen's QE draw and log E[exp(A v_next)], as the textbook writes them."""
    psi = variance / (mean * mean)
    psi_q = jnp.minimum(psi, PSI_CRITICAL)
    two_over = 2.0 / psi_q
    b2 = two_over - 1.0 + jnp.sqrt(two_over) * jnp.sqrt(two_over - 1.0)
    a = mean / (1.0 + b2)
    v_quadratic = a * (jnp.sqrt(b2) + z_v) ** 2
    psi_e = jnp.maximum(psi, PSI_CRITICAL)
    p = (psi_e - 1.0) / (psi_e + 1.0)
    beta = (1.0 - p) / mean
    v_exponential = jnp.where(tail >= 1.0 - p, 0.0, jnp.log((1.0 - p) / jnp.maximum(tail, 1e-30)) / beta)
    quadratic = psi <= PSI_CRITICAL
    one_minus_2aa = jnp.maximum(1.0 - 2.0 * big_a * a, 1e-12)
    log_m_quadratic = big_a * b2 * a / one_minus_2aa - 0.5 * jnp.log(one_minus_2aa)
    log_m_exponential = jnp.log(p + beta * (1.0 - p) / jnp.maximum(beta - big_a, 1e-12))
    return jnp.where(quadratic, v_quadratic, v_exponential), jnp.where(quadratic, log_m_quadratic, log_m_exponential)


def reference_heston_qe_step(model, state, dt, normals):
    """Heston QE-M step with K0* = -log M - (K1 + K3/2) v, K1 kept (it cancels in the library's form)."""
    x, v = state["x"], state["v"]
    kappa, theta, xi, rho = model.kappa, model.theta, model.xi, model.rho
    decay = jnp.exp(-kappa * dt)
    one_minus = -jnp.expm1(-kappa * dt)
    mean = theta + (v - theta) * decay
    var = v * xi * xi * decay * one_minus / kappa + theta * xi * xi * one_minus * one_minus / (2.0 * kappa)
    z_v = normals[1]
    k1 = 0.5 * dt * (kappa * rho / xi - 0.5) - rho / xi
    k2 = 0.5 * dt * (kappa * rho / xi - 0.5) + rho / xi
    k3 = 0.5 * dt * (1.0 - rho * rho)
    k4 = k3
    v_next, log_m = reference_qe(mean, var, k2 + 0.5 * k4, z_v, normal_upper_tail(z_v))
    k0 = -log_m - (k1 + 0.5 * k3) * v
    x_next = (x + (model.rate - model.dividend) * dt + k0 + k1 * v + k2 * v_next
              + safe_sqrt(k3 * v + k4 * v_next) * normals[0])
    return {"x": x_next, "v": v_next}, 0.5 * (v + v_next) * dt


def reference_bridge(x_prev, x_next, variance, log_barrier, up, watched):
    safe = lambda x: jnp.where(up > 0, x < log_barrier, x > log_barrier)  # noqa: E731
    both_safe = safe(x_prev) & safe(x_next)
    positive = variance > 0
    exponent = jnp.where(positive, -2.0 * (log_barrier - x_prev) * (log_barrier - x_next)
                         / jnp.where(positive, variance, 1.0), 0.0)
    crossing = jnp.where(both_safe & positive, jnp.exp(jnp.where(both_safe, exponent, 0.0)), 0.0)
    return jnp.where(watched, jnp.where(both_safe, 1.0 - crossing, 0.0), 1.0)


def directional_derivatives(fn, args, which):
    """[(primal out, tangent out) along the unit direction of argument i] for i in ``which``."""
    out = []
    for i in which:
        tangents = tuple(jnp.ones_like(a) if j == i else jnp.zeros_like(a) for j, a in enumerate(args))
        out.append(jax.jvp(fn, args, tangents))
    return out


def assert_trees_close(actual, expected, rtol, atol):
    for a, e in zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol, atol=atol)


def qe_inputs(seed=0, n=4000, dtype=np.float64):
    rng = np.random.default_rng(seed)
    mean = rng.uniform(0.002, 0.2, n)
    psi = np.exp(rng.uniform(np.log(0.05), np.log(8.0), n))    # both branches, about half each
    variance = psi * mean * mean
    # A = K2 + K4/2 is about rho / xi: up to +-20 for a small vol of variance, which takes both of the
    # martingale correction's floors (1 - 2 A a and beta - A) into play on some draws
    big_a = np.where(rng.uniform(size=n) < 0.7, rng.uniform(-2.0, 2.0, n), rng.uniform(-20.0, 60.0, n))
    z_v = rng.standard_normal(n) * 1.5
    args = tuple(jnp.asarray(a, dtype) for a in (mean, variance, big_a, z_v))
    return args + (normal_upper_tail(args[3]),)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_computed_once_returns_its_input_bit_for_bit(dtype):
    # the rules keep their partials in memory by dividing them by a 1 computed from the data: that must
    # change no value, the smallest normal, the largest and negative zero included, jitted (XLA's
    # simplifier) or not. (Not subnormals: XLA on a CPU flushes them to zero in every operation.)
    info = np.finfo(dtype)
    values = np.array([0.0, -0.0, 1.0, -2.5, np.pi, info.tiny, -info.tiny, info.max, -info.max,
                       info.eps, 1e-30, 12345.678], dtype)
    for result in (np.asarray(computed_once(jnp.asarray(values))), np.asarray(jax.jit(computed_once)(values))):
        assert result.dtype == dtype
        assert np.array_equal(result.view(np.uint8), values.view(np.uint8))


def test_qe_draw_rule_equals_autodiff_of_the_formulas():
    args = qe_inputs()
    mean, variance = np.asarray(args[0]), np.asarray(args[1])
    psi = variance / mean ** 2
    assert (psi <= PSI_CRITICAL).mean() > 0.3 and (psi > PSI_CRITICAL).mean() > 0.3
    v_next, _ = reference_qe(*args)
    assert np.mean(np.asarray(v_next) == 0.0) > 0.05   # absorbed draws of the exponential branch are covered
    big_a, u = np.asarray(args[2]), 2.0 / np.minimum(psi, PSI_CRITICAL)
    a = mean / (u + np.sqrt(u * (u - 1.0)))                           # mean / (1 + b2)
    floored_w = (psi <= PSI_CRITICAL) & (1.0 - 2.0 * big_a * a <= 1e-12)
    floored_d = (psi > PSI_CRITICAL) & (2.0 / (psi + 1.0) / mean - big_a <= 1e-12)
    assert floored_w.sum() > 20 and floored_d.sum() > 20   # both floors of the martingale correction are reached
    for (ours, ours_dot), (theirs, theirs_dot) in zip(directional_derivatives(qe_draw, args, range(3)),
                                                      directional_derivatives(reference_qe, args, range(3))):
        assert_trees_close(ours, theirs, rtol=1e-12, atol=1e-15)
        assert_trees_close(ours_dot, theirs_dot, rtol=1e-8, atol=1e-10)


def test_qe_draw_rule_in_float32_matches_float64_autodiff_as_closely_as_the_formulas_do():
    # the simulation runs in float32: the rule's rounding error is no worse than autodiff's of the formulas
    args32, args64 = qe_inputs(seed=6, n=3000, dtype=np.float32), qe_inputs(seed=6, n=3000)
    exact = directional_derivatives(reference_qe, args64, range(3))
    for ours, theirs, truth in zip(directional_derivatives(qe_draw, args32, range(3)),
                                   directional_derivatives(reference_qe, args32, range(3)), exact):
        for o, t, x in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs),
                           jax.tree_util.tree_leaves(truth)):
            o, t, x = (np.asarray(v, np.float64) for v in (o, t, x))
            same_branch = np.isfinite(t)
            assert np.all(np.isfinite(o[same_branch]))
            error_ours = np.median(np.abs(o - x)[same_branch] / (np.abs(x)[same_branch] + 1e-6))
            error_theirs = np.median(np.abs(t - x)[same_branch] / (np.abs(x)[same_branch] + 1e-6))
            assert error_ours <= 2.0 * error_theirs + 1e-6


def test_qe_draw_stays_finite_for_a_vanishing_vol_of_variance():
    # psi ~ 1e-19 (xi ~ 1e-9): u = 2 / psi squared would overflow float32; the draw is then the mean
    mean = jnp.asarray([0.04, 0.004], jnp.float32)
    variance = jnp.asarray([1.6e-22, 1.6e-24], jnp.float32)
    z_v = jnp.asarray([0.3, -1.2], jnp.float32)
    v_next, log_m = qe_draw(mean, variance, jnp.float32(-0.5), z_v, normal_upper_tail(z_v))
    np.testing.assert_allclose(np.asarray(v_next), np.asarray(mean), rtol=1e-5)
    assert np.all(np.isfinite(np.asarray(log_m)))


def test_qe_draw_rule_under_vmapped_and_nested_jvp():
    # the Greeks engine vmaps jvp over directions, nested in an outer jvp: the rule must compose with both
    args = qe_inputs(seed=1, n=500)

    def both(fn):
        def inner(mean, variance, big_a):
            one, zero = jnp.ones_like(mean), jnp.zeros_like(mean)
            directions = jnp.stack([one, zero]), jnp.stack([zero, one])
            draw = lambda m, v: fn(m, v, big_a, *args[3:])  # noqa: E731
            return jax.vmap(lambda dm, dv: jax.jvp(draw, (mean, variance), (dm, dv))[1])(*directions)
        along_a = (jnp.zeros_like(args[0]), jnp.zeros_like(args[1]), jnp.ones_like(args[2]))
        return jax.jvp(inner, tuple(args[:3]), along_a)

    assert_trees_close(both(qe_draw), both(reference_qe), rtol=1e-7, atol=1e-9)


def bridge_inputs(up, seed, n=3000):
    """Steps around a barrier (down at 80 or up at 120 from 100): ends on both sides, 50 steps with no
    variance (they cannot cross), 10% after expiry (not watched)."""
    rng = np.random.default_rng(seed)
    log_barrier = np.log(80.0) if up == 0.0 else np.log(120.0)
    x_prev = np.log(100.0) + rng.normal(0.0, 0.12, n)
    x_next = x_prev + rng.normal(0.0, 0.05, n)
    variance = rng.uniform(0.0, 0.01, n)
    variance[:50] = 0.0
    watched = rng.uniform(size=n) < 0.9
    return rng, n, log_barrier, x_prev, x_next, variance, watched


@pytest.mark.parametrize("up", [0.0, 1.0])
def test_bridge_survival_rule_equals_autodiff_of_the_formula(up):
    rng, n, log_barrier, x_prev, x_next, variance, watched = bridge_inputs(up, seed=2)
    args = (jnp.asarray(x_prev), jnp.asarray(x_next), jnp.asarray(variance), jnp.full(n, log_barrier))
    fixed = (jnp.full(n, up), jnp.asarray(watched))
    ours = directional_derivatives(lambda *a: bridge_survival(*a, *fixed), args, range(4))
    theirs = directional_derivatives(lambda *a: reference_bridge(*a, *fixed), args, range(4))
    survival = np.asarray(ours[0][0])
    assert 0.05 < np.mean((survival > 0) & (survival < 1)) and np.mean(survival == 0) > 0.01
    for (value, derivative), (value_ref, derivative_ref) in zip(ours, theirs):
        np.testing.assert_allclose(value, value_ref, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(derivative, derivative_ref, rtol=1e-9, atol=1e-9)


def reference_moving_bridge(x_prev, x_next, variance, log_barrier, up, watched, slope):
    """The bridge with the variance along the crossing path: var / max(1 - s k A B / ((A + B) var), 1/4),
    A and B the ends' distances from the barrier, s = +1 up; left as it is below a variance of 1e-12."""
    sign = jnp.where(up > 0, 1.0, -1.0)
    a, b = sign * (log_barrier - x_prev), sign * (log_barrier - x_next)
    inside = (a > 0) & (b > 0)
    harmonic = jnp.where(inside, a * b / jnp.where(inside, a + b, 1.0), 0.0)
    large = variance > 1e-12
    safe = jnp.where(large, variance, 1.0)
    moved = jnp.where(large, safe / jnp.maximum(1.0 - sign * slope * harmonic / safe, 0.25), variance)
    return reference_bridge(x_prev, x_next, moved, log_barrier, up, watched)


@pytest.mark.parametrize("up", [0.0, 1.0])
def test_moving_variance_bridge_rule_equals_autodiff_of_the_formula(up):
    """Heston's bridge (``crossing_variance``): values and all five partials, with the floor taking some
    steps (a large slope of the right sign) and variances at, near and above 0."""
    rng, n, log_barrier, x_prev, x_next, variance, watched = bridge_inputs(up, seed=7)
    variance[50:80] = 1e-13                         # below the correction's threshold
    slope = rng.uniform(-0.05, 0.05, n)            # rho xi dt, scaled up so that the floor binds on some steps
    slope[80:400] = 0.0                            # rho = 0: the slope's own derivative is still there
    args = (jnp.asarray(x_prev), jnp.asarray(x_next), jnp.asarray(variance), jnp.full(n, log_barrier),
            jnp.asarray(slope))
    fixed = (jnp.full(n, up), jnp.asarray(watched))

    def ours_fn(x0, x1, v, b, k):
        return bridge_survival_moving_variance(x0, x1, v, b, *fixed, k)

    def theirs_fn(x0, x1, v, b, k):
        return reference_moving_bridge(x0, x1, v, b, *fixed, k)

    ours = directional_derivatives(ours_fn, args, range(5))
    theirs = directional_derivatives(theirs_fn, args, range(5))
    survival = np.asarray(ours[0][0])
    assert 0.05 < np.mean((survival > 0) & (survival < 1))
    sign = 1.0 if up else -1.0
    a, b = sign * (log_barrier - x_prev), sign * (log_barrier - x_next)
    inside = (a > 0) & (b > 0)
    factor = 1.0 - sign * slope * np.where(inside, a * b / np.where(inside, a + b, 1.0), 0.0) / np.maximum(variance, 1e-300)
    assert np.any(inside & (variance > 1e-12) & (factor < 0.25)) and np.any(inside & (factor > 1.0))
    for (value, derivative), (value_ref, derivative_ref) in zip(ours, theirs):
        np.testing.assert_allclose(value, value_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(derivative, derivative_ref, rtol=1e-8, atol=1e-8)
    # and with the slope still: the same as the plain bridge
    still = bridge_survival_moving_variance(*args[:4], *fixed, jnp.zeros(n))
    np.testing.assert_allclose(still, bridge_survival(*args[:4], *fixed), rtol=0, atol=1e-15)


def test_crossing_time_fraction_is_the_mean_first_passage_time_of_the_bridge():
    """Against a direct quadrature of the first-passage density times the rest of the bridge (variance
    units, barrier at 0, start a above it, end b above or beyond)."""
    from scipy import integrate
    for start, end, variance in [(0.01, 0.02, 4e-4), (0.05, 0.001, 4e-4), (0.02, -0.02, 1e-2), (0.3, 0.1, 1e-2)]:
        def density(s):
            first = start / np.sqrt(2 * np.pi * s ** 3) * np.exp(-start ** 2 / (2 * s))
            return first * np.exp(-end ** 2 / (2 * (variance - s))) / np.sqrt(2 * np.pi * (variance - s))
        mean = integrate.quad(lambda s: s * density(s), 0, variance, limit=200)[0] / integrate.quad(density, 0, variance, limit=200)[0]
        for up in (0.0, 1.0):   # a down barrier at 0 with the path above, and its mirror image
            side = 1.0 if up == 0.0 else -1.0
            ours = float(crossing_time_fraction(jnp.array(side * start), jnp.array(side * end), jnp.array(variance),
                                                jnp.array(0.0), jnp.array(up)))
            assert ours == pytest.approx(mean / variance, rel=2e-5), (start, end, up)   # the erfcx fit: 1.5e-5


def test_the_erfcx_fit_is_as_accurate_as_documented():
    from scipy import special
    from pricer._bridge import _erfcx_over_t
    x = np.concatenate([np.linspace(0.0, 20.0, 20001), np.geomspace(20.0, 1e12, 1000)])
    denominator = 1.0 + 0.5 * jnp.asarray(x)       # erfcx(x) = g(t) t, t = 1 / (1 + x / 2)
    ours = _erfcx_over_t(denominator) / denominator
    np.testing.assert_allclose(np.asarray(ours), special.erfcx(x), rtol=1.5e-5)


FIELDS = ("spot", "v0", "kappa", "theta", "xi", "rho", "rate", "dividend")


def test_heston_qe_step_and_its_derivatives_equal_the_textbook_step():
    rng = np.random.default_rng(3)
    n = 2000
    model = Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.9, rho=-0.7, rate=0.03, dividend=0.01)
    model = jax.tree_util.tree_map(lambda a: jnp.reshape(jnp.asarray(a, jnp.float64), (1, 1)), model)
    state = {"x": jnp.asarray(np.log(100.0) + rng.normal(0, 0.1, (1, n))),
             "v": jnp.asarray(rng.uniform(0.0, 0.12, (1, n)))}
    normals = jnp.asarray(rng.standard_normal((2, n)))
    dt = 1.0 / 52

    def along(step, field):
        def fn(value, v):
            return step(dataclasses.replace(model, **{field: value}), dict(state, v=v), dt, normals)
        return jax.jvp(fn, (getattr(model, field), state["v"]), (jnp.ones((1, 1)), jnp.zeros((1, n))))

    ours_step = lambda m, s, dt_, z: m.step(s, dt_, z, "qe")  # noqa: E731
    for field in FIELDS:
        assert_trees_close(along(ours_step, field), along(reference_heston_qe_step, field), rtol=1e-8, atol=1e-11)
    # along the variance state itself
    ours = jax.jvp(lambda v: model.step(dict(state, v=v), dt, normals, "qe"), (state["v"],), (jnp.ones((1, n)),))
    theirs = jax.jvp(lambda v: reference_heston_qe_step(model, dict(state, v=v), dt, normals), (state["v"],),
                     (jnp.ones((1, n)),))
    assert_trees_close(ours, theirs, rtol=1e-8, atol=1e-11)


def test_rules_transpose_for_reverse_mode():
    # the rules' tangents are linear in the input tangents, so jax.grad works through them too
    args = qe_inputs(seed=4, n=400)

    def total(draw):
        return lambda m, v, a: jnp.sum(sum(draw(m, v, a, *args[3:])))

    ours = jax.grad(total(qe_draw), argnums=(0, 1, 2))(*args[:3])
    theirs = jax.grad(total(reference_qe), argnums=(0, 1, 2))(*args[:3])
    assert_trees_close(ours, theirs, rtol=1e-8, atol=1e-10)

    rng = np.random.default_rng(5)
    x_prev = jnp.asarray(np.log(100.0) + rng.normal(0.0, 0.1, 300))
    x_next = x_prev + jnp.asarray(rng.normal(0.0, 0.05, 300))
    fixed = (jnp.zeros(300), jnp.ones(300, bool))
    bridge_args = (x_prev, x_next, jnp.full(300, 0.004), jnp.full(300, np.log(85.0)))
    ours = jax.grad(lambda *a: jnp.sum(bridge_survival(*a, *fixed)), argnums=(0, 1, 2, 3))(*bridge_args)
    theirs = jax.grad(lambda *a: jnp.sum(reference_bridge(*a, *fixed)), argnums=(0, 1, 2, 3))(*bridge_args)
    assert_trees_close(ours, theirs, rtol=1e-9, atol=1e-12)

    # the moving-variance bridge, with a slope of either sign (rho xi dt, scaled up so that it matters)
    moving_args = bridge_args + (jnp.asarray(rng.uniform(-0.02, 0.02, 300)),)
    ours = jax.grad(lambda x0, x1, v, b, k: jnp.sum(bridge_survival_moving_variance(x0, x1, v, b, *fixed, k)),
                    argnums=(0, 1, 2, 3, 4))(*moving_args)
    theirs = jax.grad(lambda x0, x1, v, b, k: jnp.sum(reference_moving_bridge(x0, x1, v, b, *fixed, k)),
                      argnums=(0, 1, 2, 3, 4))(*moving_args)
    assert_trees_close(ours, theirs, rtol=1e-9, atol=1e-12)
