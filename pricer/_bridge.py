"""Probability that a Brownian bridge stays on the safe side of a barrier over one step, and when within the
step it first crosses, each with a hand-written derivative.

Between grid points the log price is a Brownian bridge from x0 to x1 with total variance s2; it
stays below (above) a barrier b with probability 1 - exp(-2 (b - x0)(b - x1) / s2) when both ends are
on the safe side, and 0 otherwise. Every continuously monitored barrier evaluates this once per path
and step. Its pathwise Greeks need the derivative, and forward-mode autodiff would carry each Greek's
tangent through a division, an exponential and four selects. Here the partial derivatives with
respect to (x0, x1, s2, b) are computed once per path from the primal values, so each Greek costs
a few multiply-adds and no select. ``tests/test_hand_derivatives.py`` checks the rule against autodiff of the formula.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ._math import tangent_sum


def on_safe_side(x, log_barrier, up):
    """Whether log price x is strictly on the surviving side of the barrier (below an up barrier)."""
    return jnp.where(up > 0, x < log_barrier, x > log_barrier)


def _pieces(x_prev, x_next, variance, log_barrier, up, watched):
    both_safe = on_safe_side(x_prev, log_barrier, up) & on_safe_side(x_next, log_barrier, up)
    # a step with no variance cannot cross between its ends; an unwatched step (after expiry) survives
    crossing_possible = both_safe & (variance > 0) & watched
    inv_variance = 1.0 / jnp.where(variance > 0, variance, 1.0)
    gap_prev, gap_next = log_barrier - x_prev, log_barrier - x_next
    exponent = -2.0 * gap_prev * gap_next * inv_variance
    crossing = jnp.where(crossing_possible, jnp.exp(jnp.where(crossing_possible, exponent, 0.0)), 0.0)
    survival = jnp.where(watched, jnp.where(both_safe, 1.0 - crossing, 0.0), 1.0)
    return survival, crossing, exponent, inv_variance, gap_prev, gap_next


@jax.custom_jvp
def bridge_survival(x_prev, x_next, variance, log_barrier, up, watched):
    """P(no crossing of the barrier within the step), shaped like the broadcast of the inputs; 1 where
    the step is not ``watched``.

    x_prev, x_next: log price at the step's ends, (M, paths) (M = 1: paths shared by the batch, or P);
    variance: the step's variance of the log price, (M, paths) or (M, 1); log_barrier, up: (P, 1), one
    row per product (up > 0: an up barrier); watched: bool, (E, 1) (E = 1 when the products share their
    dates, else P): the step is before the product's expiry. No derivative with respect to ``up`` or
    ``watched`` (a select inside the rule, not one per Greek outside it)."""
    return _pieces(x_prev, x_next, variance, log_barrier, up, watched)[0]


def _bridge_survival_jvp(primals, tangents):
    survival = bridge_survival(*primals)   # through the custom rule again under an outer jvp
    _, crossing, exponent, inv_variance, gap_prev, gap_next = _pieces(*primals)
    d_x_prev, d_x_next, d_variance, d_log_barrier = tangents[:4]
    # survival = 1 - exp(e), e = -2 (b - x0)(b - x1) / s2 (crossing = 0 where the step cannot cross)
    scale = 2.0 * crossing * inv_variance
    d_survival = tangent_sum([(-scale * gap_next, d_x_prev),        # -c de/dx0 = -c * 2 (b - x1) / s2
                              (-scale * gap_prev, d_x_next),
                              (crossing * exponent * inv_variance, d_variance),
                              (scale * (gap_prev + gap_next), d_log_barrier)], survival)
    return survival, d_survival


bridge_survival.defjvp(_bridge_survival_jvp, symbolic_zeros=True)


_SQRT_HALF_PI = 1.2533141373155003   # sqrt(pi / 2)
_SQRT_HALF = 0.7071067811865476
#: erfcx(x) = exp(x^2) erfc(x) ~ t g(t), t = 1 / (1 + x / 2), g this polynomial in t (highest power first):
#: a weighted least-squares fit on 4,000 Chebyshev nodes of t in (0, 1], relative error < 1.5e-5 for every
#: x >= 0 (g(0) = 1 / (2 sqrt(pi)) is the large-x limit). No exponential: the crossing time costs a
#: division and six multiply-adds a path and step (an exp-based fit made the GJR barrier's price 40% slower)
_ERFCX_FIT = (0.0594119769, -0.2612466730, 0.2655608730, 0.1168815685, 0.2556663257, 0.2816177476, 0.2820988699)
_TINY_VARIANCE = 1e-30


def _erfcx_over_t(denominator):
    """erfcx(x) / t = g(t), t = 1 / denominator, denominator = 1 + x / 2 (``_ERFCX_FIT``)."""
    t = 1.0 / denominator
    g = jnp.zeros_like(t)
    for coefficient in _ERFCX_FIT:
        g = g * t + coefficient
    return g


def crossing_time_fraction(x_prev, x_next, variance, log_barrier, up):
    """E[first crossing time | the bridge crosses within the step] as a fraction of the step, in [0, 1].

    For a Brownian bridge of total variance v from a distance a on the safe side to b (on either side;
    beyond the barrier the crossing is certain), the first-passage density convolved with the rest of
    the path gives E[tau 1{cross}] = (a / 2) erfc((a + b) / sqrt(2 v)) in variance units (a Laplace-
    transform identity), and the crossing-and-landing density is exp(-(a + b)^2 / 2v) / sqrt(2 pi v): so
    the fraction is (a / sqrt v) sqrt(pi / 2) erfcx((a + b) / sqrt(2 v)): 0 at a = 0, a / (a + b) far from
    the barrier and as v -> 0 (a straight line; a zero variance is taken as 1e-30 to reach that limit).
    Shapes as ``bridge_survival``.

    No derivative flows through it (``stop_gradient``): it only moves a knock-out rebate's discount
    within its step, by a factor 1 + r dt (1 - fraction), so holding it fixed changes a Greek by at most
    r dt of the rebate's own share (1e-4 a day at a 2.5% rate) and spares every Greek its partials."""
    sign = jnp.where(up > 0, 1.0, -1.0)
    start = jnp.maximum(sign * (log_barrier - x_prev), 0.0)   # a: the start's distance from the barrier
    end = jnp.abs(log_barrier - x_next)                        # b: the end's, on either side
    inverse_root = jax.lax.rsqrt(jnp.maximum(variance, _TINY_VARIANCE))
    denominator = 1.0 + 0.5 * ((start + end) * _SQRT_HALF * inverse_root)     # 1 / t of the erfcx fit
    numerator = _SQRT_HALF_PI * start * inverse_root * _erfcx_over_t(denominator)
    # min(numerator t, 1) written as min(numerator, 1 / t) t, a division last: XLA computes a division
    # once and reads it, where it would recompute the polynomial inside every Greek's fused loop
    # (each rho-like tangent of a rebate reads the fraction)
    return jax.lax.stop_gradient(jnp.minimum(numerator, denominator) / denominator)
