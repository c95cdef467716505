"""Andersen's QE draw of the next Heston variance and its martingale correction, with a hand-written
derivative.

The draw is a nonlinear function of four per-path numbers (the conditional mean and variance of
v_{t+dt}, the normal z_v and its upper tail) and one per-row number (A = K2 + K4/2 of the log-price
scheme). Forward-mode autodiff would push every Greek's tangent through each of its ~40 intermediate
steps (two branches, square roots, logarithms and divisions). Here the partial derivatives with respect
to the three inputs that move (mean, variance, A) are computed once per path from the primal values, and
each tangent costs five multiply-adds: with the four variance-path Greeks of Heston (v0, kappa, theta,
xi) that is most of the cost of the Greeks. ``tests/test_hand_derivatives.py`` checks the rule against
autodiff of the same formulas.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from .._math import computed_once, tangent_sum

PSI_CRITICAL = 1.5
_FLOOR = 1e-12


def _branches(mean, variance, big_a, z_v, tail):
    """The draw's intermediate values. Written with few divisions (reciprocals computed once and shared
    with ``_partials``): each division is an expensive operation that XLA keeps out of its fusions."""
    inv_mean = 1.0 / mean
    psi = variance * inv_mean * inv_mean
    quadratic = psi <= PSI_CRITICAL
    # quadratic branch (psi <= psi_c); inputs clamped so the unused branch never produces NaN
    psi_q = jnp.minimum(psi, PSI_CRITICAL)
    two_over = 2.0 / psi_q
    # sqrt(u (u - 1)) = u sqrt(1 - psi / 2): no overflow of u^2 when psi is tiny (a vanishing vol of variance)
    root = two_over * jnp.sqrt(1.0 - 0.5 * psi_q)
    b2 = two_over - 1.0 + root
    inv_one_b2 = 1.0 / (1.0 + b2)
    a = mean * inv_one_b2
    sqrt_b2 = jnp.sqrt(b2)
    v_quadratic = a * (sqrt_b2 + z_v) ** 2
    # exponential branch (psi > psi_c): mass p at zero, exponential tail with rate beta = (1 - p) / mean
    psi_e = jnp.maximum(psi, PSI_CRITICAL)
    one_p = 2.0 / (psi_e + 1.0)          # 1 - p, p = (psi - 1) / (psi + 1)
    p = 1.0 - one_p
    beta = one_p * inv_mean
    absorbed = tail >= one_p
    log_ratio = jnp.log(one_p / jnp.maximum(tail, 1e-30))
    v_exponential = jnp.where(absorbed, 0.0, log_ratio * mean * (0.5 * (psi_e + 1.0)))   # log_ratio / beta
    v_next = jnp.where(quadratic, v_quadratic, v_exponential)
    # martingale correction: log M with M = E[exp(A v_next) | v_t]
    w_raw = 1.0 - 2.0 * big_a * a
    w = jnp.maximum(w_raw, _FLOOR)
    inv_w = 1.0 / w
    log_m_quadratic = big_a * b2 * a * inv_w - 0.5 * jnp.log(w)
    d_raw = beta - big_a
    d = jnp.maximum(d_raw, _FLOOR)
    inv_d = 1.0 / d
    m_exponential = p + beta * one_p * inv_d
    log_m = jnp.where(quadratic, log_m_quadratic, jnp.log(m_exponential))
    return locals()


@jax.custom_jvp
def qe_draw(mean, variance, big_a, z_v, tail):
    """(v_next, log M) per path.

    mean, variance: the conditional mean and variance of v_{t+dt} given v_t, (rows, paths);
    big_a: A = K2 + K4/2 of the central log-price scheme, (rows, 1); z_v: the variance's standard
    normal and tail = P(Z > z_v), (paths,) or (rows, paths). Constant: z_v and tail (no derivative)."""
    values = _branches(mean, variance, big_a, z_v, tail)
    return values["v_next"], values["log_m"]


def _partials(mean, variance, big_a, z_v, tail):
    """d(v_next, log M) / d(mean, variance, A), each shaped like the draw; the derivative autodiff
    would give, clamps included (a clamped input's derivative is 0)."""
    g = _branches(mean, variance, big_a, z_v, tail)
    psi, b2, a, beta, one_p = g["psi"], g["b2"], g["a"], g["beta"], g["one_p"]
    inv_mean, inv_one_b2, inv_w, inv_d = g["inv_mean"], g["inv_one_b2"], g["inv_w"], g["inv_d"]
    # psi = variance / mean^2: its derivatives, used by both branches
    psi_by_variance = inv_mean * inv_mean
    psi_by_mean = -2.0 * psi * inv_mean

    # quadratic branch: v = mean (sqrt(b2) + z)^2 / (1 + b2), b2 = u - 1 + sqrt(u (u - 1)), u = 2 / psi
    u = g["two_over"]
    b2_by_psi = (1.0 + (u - 0.5) / g["root"]) * (-0.5 * u * u)   # du/dpsi = -u^2 / 2
    shifted = g["sqrt_b2"] + z_v
    v_q_by_mean = shifted * shifted * inv_one_b2                       # at fixed psi, v is linear in mean
    v_q_by_b2 = a * (shifted / g["sqrt_b2"] - shifted * shifted * inv_one_b2)
    # log M = A b2 a / w - log(w) / 2 with a = mean / (1 + b2), w = 1 - 2 A a (floored)
    w_moves = (g["w_raw"] > _FLOOR).astype(a.dtype)
    l_by_w = -(big_a * b2 * a * inv_w + 0.5) * inv_w
    l_by_a = big_a * b2 * inv_w + l_by_w * (-2.0 * big_a) * w_moves
    l_q_by_mean = l_by_a * inv_one_b2
    l_q_by_b2 = big_a * a * inv_w + l_by_a * (-a * inv_one_b2)
    l_q_by_big_a = b2 * a * inv_w + l_by_w * (-2.0 * a) * w_moves

    # exponential branch: v = mean log((1 - p) / tail) / (1 - p), 0 where absorbed; 1 - p = 2 / (psi + 1)
    inv_one_p = 0.5 * (psi + 1.0)
    p_by_psi = 0.5 * one_p * one_p
    kept = jnp.where(g["absorbed"], 0.0, 1.0)
    v_e_by_mean = kept * g["log_ratio"] * inv_one_p
    v_e_by_p = kept * mean * (g["log_ratio"] - 1.0) * inv_one_p * inv_one_p
    # log M = log(p + beta (1 - p) / d), beta = (1 - p) / mean, d = beta - A (floored)
    d_moves = (g["d_raw"] > _FLOOR).astype(a.dtype)
    inv_m = 1.0 / g["m_exponential"]
    m_by_beta = one_p * inv_d - beta * one_p * inv_d * inv_d * d_moves
    l_e_by_mean = inv_m * m_by_beta * (-beta * inv_mean)
    l_e_by_p = inv_m * ((1.0 - beta * inv_d) - m_by_beta * inv_mean)
    l_e_by_big_a = inv_m * beta * one_p * inv_d * inv_d * d_moves

    def total(by_mean_at_psi, by_psi):
        return by_mean_at_psi + by_psi * psi_by_mean, by_psi * psi_by_variance

    v_q = total(v_q_by_mean, v_q_by_b2 * b2_by_psi)
    v_e = total(v_e_by_mean, v_e_by_p * p_by_psi)
    l_q = total(l_q_by_mean, l_q_by_b2 * b2_by_psi)
    l_e = total(l_e_by_mean, l_e_by_p * p_by_psi)
    quadratic = g["quadratic"]
    pick = lambda q, e: jnp.where(quadratic, q, e)  # noqa: E731
    return {"v": (pick(v_q[0], v_e[0]), pick(v_q[1], v_e[1])),
            "log_m": (pick(l_q[0], l_e[0]), pick(l_q[1], l_e[1]), pick(l_q_by_big_a, l_e_by_big_a))}


def _qe_draw_jvp(primals, tangents):
    # the primal goes through qe_draw itself, so an outer jvp (nested Greeks) uses this rule again
    v_next, log_m = qe_draw(*primals)
    d_mean, d_variance, d_big_a = tangents[:3]
    # each partial is a long chain of arithmetic: computed once per path, not once per Greek
    partials = jax.tree_util.tree_map(computed_once, _partials(*primals))
    v_by_mean, v_by_variance = partials["v"]
    l_by_mean, l_by_variance, l_by_big_a = partials["log_m"]
    d_v = tangent_sum([(v_by_mean, d_mean), (v_by_variance, d_variance)], v_next)
    d_log_m = tangent_sum([(l_by_mean, d_mean), (l_by_variance, d_variance), (l_by_big_a, d_big_a)], log_m)
    return (v_next, log_m), (d_v, d_log_m)


qe_draw.defjvp(_qe_draw_jvp, symbolic_zeros=True)
