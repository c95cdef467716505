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

from ._math import computed_once, tangent_sum


def on_safe_side(x, log_barrier, up):
    """Whether log price x is strictly on the surviving side of the barrier (below an up barrier)."""
    return jnp.where(up > 0, x < log_barrier, x > log_barrier)


#: the crossing variance's floor as a fraction of the step's (``crossing_variance``): first order in
#: the distance to the barrier, the correction is only meant near it; far from it (where the floor binds,
#: a crossing is out of reach anyway) it must not blow the variance up
CROSSING_VARIANCE_FLOOR = 0.25
#: below this step variance (v ~ 1e-10 a day) a crossing is out of reach and the variance is left as it is:
#: the correction's derivative carries 1 / variance^2, which a float32 variance near 0 overflows (the first
#: version gave a vega of NaN at 16k paths where QE's variance had been absorbed near 0)
_CORRECTABLE_VARIANCE = 1e-12


def crossing_variance(x_prev, x_next, variance, log_barrier, up, variance_slope):
    """The bridge variance of a step whose variance moves with the log price: the variance along a path
    that reaches the barrier, not the step's average. Shapes as ``bridge_survival``; ``variance_slope``
    (M, 1): how the step's variance moves with the log price, d(v dt) / dx (Heston: rho xi dt).

    Conditional on both ends, the log price is a Brownian bridge of variance v dt to leading order (the
    part carried by the variance and the independent part add up to it), but a path that reaches an up
    barrier runs above the straight line between its ends, and with rho < 0 its variance runs below its
    own: the crossing is less likely than the average variance says. Averaged along the crossing path the
    variance is, to first order, var + s slope A B / (A + B), A and B the ends' distances from the barrier
    (s = +1 up, -1 down); written as var / (1 - s slope A B / ((A + B) var)), floored at
    ``CROSSING_VARIANCE_FLOOR`` (and not capped above: a variance that vanishes near the barrier makes
    the crossing impossible, which is what it means). Exact where the slope is 0. Its error is of order sqrt(dt) per step, on
    the bridge-only crossings (themselves a sqrt(dt) share), so O(dt) in the price: an up-and-out call
    10% from spot (6 months, rho -0.7, xi 0.6) was 1.3253 at 252 steps a year against 1.3365-1.3377
    (QuantLib's finite differences extrapolated in time), 1.3346 with it (helper's study, 2026-12-07; the
    table is in ``tests/test_heston_barrier_bias.py``). The barrier accumulator's survival uses the same
    formula through ``bridge_survival_moving_variance`` (with a hand-written derivative); this function
    gives the variance itself, for a knock-out rebate's crossing time."""
    factor = _moving_pieces(x_prev, x_next, variance, log_barrier, up, True, variance_slope)[4]
    return variance / factor   # factor 1 where there is nothing to correct


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


def _moving_pieces(x_prev, x_next, variance, log_barrier, up, watched, variance_slope):
    """``bridge_survival``'s pieces with the variance along the crossing path (``crossing_variance``): the
    exponent is -2 A B F / var, F = max(1 - s k h / var, floor), h = A B / (A + B)."""
    sign = jnp.where(up > 0, 1.0, -1.0)
    start, end = sign * (log_barrier - x_prev), sign * (log_barrier - x_next)   # A, B: > 0 on the safe side
    both_safe = (start > 0) & (end > 0)
    crossing_possible = both_safe & (variance > 0) & watched
    inv_variance = 1.0 / jnp.where(variance > 0, variance, 1.0)
    inv_sum = 1.0 / jnp.where(both_safe, start + end, 1.0)
    # s k h / var: the correction's relative size. 0 below the threshold variance, and on a step that ends
    # on or beyond the barrier (it has crossed: no crossing path to average over; a rebate's crossing time
    # then reads the step's own variance)
    correctable = (variance > _CORRECTABLE_VARIANCE) & both_safe
    relative = jnp.where(correctable, sign * variance_slope * start * end * inv_sum * inv_variance, 0.0)
    unclamped = relative < 1.0 - CROSSING_VARIANCE_FLOOR
    live = unclamped & correctable   # where F moves with its inputs (the slope's derivative lives at k = 0 too)
    factor = jnp.where(unclamped, 1.0 - relative, CROSSING_VARIANCE_FLOOR)
    exponent = -2.0 * start * end * factor * inv_variance
    crossing = jnp.where(crossing_possible, jnp.exp(jnp.where(crossing_possible, exponent, 0.0)), 0.0)
    survival = jnp.where(watched, jnp.where(both_safe, 1.0 - crossing, 0.0), 1.0)
    moving = jnp.where(unclamped, relative, 0.0)   # G = 1 - F where F moves
    return survival, crossing, inv_variance, inv_sum, factor, moving, live, sign, start, end


@jax.custom_jvp
def bridge_survival_moving_variance(x_prev, x_next, variance, log_barrier, up, watched, variance_slope):
    """``bridge_survival`` with the bridge's variance taken along the crossing path, for a variance that
    moves with the log price (``crossing_variance``; ``variance_slope`` (M, 1), d(v dt) / dx). The same
    value as ``bridge_survival(x_prev, x_next, crossing_variance(...), ...)``, with a hand-written
    derivative: its partials in (x_prev, x_next, variance, log_barrier, variance_slope) once per path, a
    few multiply-adds per Greek."""
    return _moving_pieces(x_prev, x_next, variance, log_barrier, up, watched, variance_slope)[0]


def _bridge_survival_moving_variance_jvp(primals, tangents):
    survival = bridge_survival_moving_variance(*primals)
    crossing, inv_variance, inv_sum, factor, moving, live, sign, start, end = _moving_pieces(*primals)[1:]
    d_x_prev, d_x_next, d_variance, d_log_barrier = tangents[:4]
    # survival = 1 - exp(e), e = -2 A B F / var, F = 1 - G, G = s k A B / ((A + B) var) where F moves:
    #   de/dA = -2 B (F - G B / (A + B)) / var, de/dB likewise, de/dvar = 2 A B (F - G) / var^2,
    #   de/dk = 2 s A^2 B^2 / ((A + B) var^2); dA = s (db - dx0), dB = s (db - dx1); d survival = -crossing de
    scale = 2.0 * crossing * inv_variance
    to_start = scale * end * (factor - moving * end * inv_sum)
    to_end = scale * start * (factor - moving * start * inv_sum)
    product_scaled = scale * start * end * inv_variance
    # each partial computed once per path, not once per Greek (``computed_once``: measured 4-6% faster here)
    d_survival = tangent_sum([(computed_once(-sign * to_start), d_x_prev),
                              (computed_once(-sign * to_end), d_x_next),
                              (computed_once(-product_scaled * (factor - moving)), d_variance),
                              (computed_once(sign * (to_start + to_end)), d_log_barrier),
                              (computed_once(-product_scaled * jnp.where(live, sign * start * end * inv_sum, 0.0)),
                               tangents[6])], survival)
    return survival, d_survival


bridge_survival_moving_variance.defjvp(_bridge_survival_moving_variance_jvp, symbolic_zeros=True)


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
