"""Black (forward) implied volatility in JAX: elementwise, jit/vmap-able, differentiable by the implicit function.

Everything is done on the normalised price of the out-of-the-money option (Jaeckel's normalisation):

    x = ln(F / K),  s = sigma sqrt(T),  beta = price / (discount sqrt(F K)),
    b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2)      (the call, for x <= 0: out of the money)

An in-the-money option is turned into the out-of-the-money one by put-call parity, and the OTM put at x equals the
OTM call at -x, so the solver only ever sees x <= 0 and 0 < beta < e^{x/2}.

Solver (after Jaeckel, "By implication", 2006). b(x, .) has its inflection at s_c = sqrt(2|x|), where the
normalised vega is largest. Start at s_c, then Newton
  * on b itself when beta >= b(x, s_c): b is concave for s >= s_c, so Newton from s_c increases monotonically
    to the root;
  * on 1/ln b when beta < b(x, s_c) (the low-price side): in that variable the iteration converges from s_c
    without overshooting into s <= 0 in practice (tested down to beta = 1e-14 for |x| <= 3, s in [0.005, 6]).
ln b is evaluated as x/2 + log N(d1) + log1p(-exp(log N(d2) - log N(d1) - x)), which keeps tiny prices' relative
accuracy. Typically 4-9 iterations; a while loop (at most ``MAX_ITER``) stops when the relative step is below
``TOL`` (~1e-13 in float64 on the test grid; float32 reaches ~1e-6).

The derivative is implicit (custom JVP): ds = (d ln beta - d_x ln b dx) / d_s ln b, so Jacobians of implied vols
(calibration) cost one solve plus forward-mode tangents of the price, never differentiate through the loop.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

from pricer import compile_budget

__all__ = ["implied_vol", "normalised_black_log", "implied_total_vol_otm"]

MAX_ITER = 40
TOL = 1e-13
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)  # a Python float: weakly typed, keeps float32 float32


def normalised_black_log(x, s):
    """ln b(x, s) for x <= 0 (the OTM call), s > 0; shapes broadcast."""
    d1 = x / s + 0.5 * s
    d2 = d1 - s
    l1 = log_ndtr(d1)
    return 0.5 * x + l1 + jnp.log1p(-jnp.exp(-x + log_ndtr(d2) - l1))


def _log_vega(x, s):
    """ln of d b / d s = e^{x/2} phi(d1) = phi(x / s) e^{-s^2/8}-ish: -(x^2/s^2 + s^2/4)/2 - ln sqrt(2 pi)."""
    return -0.5 * (x * x / (s * s) + 0.25 * s * s) - _LOG_SQRT_2PI


def _solve(x, log_beta):
    """s > 0 with ln b(x, s) = log_beta, for x <= 0 and log_beta < x/2 (caller guarantees); any shapes."""
    x, log_beta = jnp.broadcast_arrays(x, log_beta)
    dtype = x.dtype
    tiny = jnp.asarray(1e-8 if dtype == jnp.float64 else 1e-4, dtype)
    s0 = jnp.maximum(jnp.sqrt(2.0 * jnp.abs(x)), tiny)
    upper = log_beta >= normalised_black_log(x, s0)  # root at or right of the inflection point
    beta = jnp.exp(log_beta)
    tol = jnp.asarray(TOL if dtype == jnp.float64 else 1e-6, dtype)

    def body(state):
        s, _, it = state
        lb = normalised_black_log(x, s)
        lv = _log_vega(x, s)
        step_upper = (beta - jnp.exp(lb)) * jnp.exp(-lv)          # Newton on b
        dlb = jnp.exp(lv - lb)                                     # d ln b / ds
        step_lower = (lb / dlb) * (1.0 - lb / log_beta)            # Newton on 1 / ln b
        step = jnp.where(upper, step_upper, step_lower)
        s_new = jnp.maximum(s + step, 0.1 * s)
        done = jnp.abs(s_new - s) <= tol * s_new
        return s_new, done, it + 1

    def cond(state):
        _, done, it = state
        return jnp.any(~done) & (it < MAX_ITER)

    s, _, _ = jax.lax.while_loop(cond, body, (s0, jnp.zeros(x.shape, bool), 0))
    return s


@jax.custom_jvp
def implied_total_vol_otm(x, log_beta):
    """Total implied vol s = sigma sqrt(T) of the OTM normalised price: x <= 0, ln beta in (-inf, x/2).

    Outside that range (no arbitrage-free vol) the result is NaN. Differentiable in both arguments (implicitly).
    """
    dtype = jnp.result_type(x, log_beta, 0.0)
    x, log_beta = jnp.asarray(x, dtype), jnp.asarray(log_beta, dtype)
    ok = jnp.isfinite(log_beta) & (log_beta < 0.5 * x) & (x <= 0)
    s = _solve(jnp.where(ok, x, -1.0), jnp.where(ok, log_beta, -2.0))
    return jnp.where(ok, s, jnp.nan)


@implied_total_vol_otm.defjvp
def _implied_total_vol_otm_jvp(primals, tangents):
    x, log_beta = primals
    dx, dlog_beta = tangents
    s = implied_total_vol_otm(x, log_beta)
    dtype = s.dtype
    x = jnp.asarray(x, dtype)
    d_s = jnp.exp(_log_vega(x, s) - normalised_black_log(x, s))            # d ln b / d s
    d_x = jax.jvp(lambda xx: normalised_black_log(xx, s), (x,), (jnp.ones_like(x),))[1]  # d ln b / d x
    ds = (jnp.asarray(dlog_beta, dtype) - d_x * jnp.asarray(dx, dtype)) / d_s
    return s, ds


@compile_budget.jit
def implied_vol(price, forward, strike, expiry, discount=1.0, call=True):
    """Black implied volatility (annualised, decimal) of European option prices; elementwise, shapes broadcast.

    price: option price(s) in currency; forward F and strike K (currency, > 0); expiry T in years (> 0);
    discount: the discount factor to expiry (price = discount * undiscounted Black price); call: bool(s) (or 0/1).
    Prices at or outside the no-arbitrage bounds (below intrinsic, at or above the forward/strike bound) and
    expiries <= 0 give NaN.
    Jitted (one compile per input shape); vmap-able; derivatives w.r.t. every argument by the implicit function
    theorem.
    """
    dtype = jnp.result_type(price, forward, strike, expiry, discount, 0.0)
    price, forward, strike, expiry, discount = (jnp.asarray(a, dtype) for a in (price, forward, strike, expiry,
                                                                                  discount))
    is_call = jnp.asarray(call).astype(bool)
    x = jnp.log(forward / strike)
    beta = price / (discount * jnp.sqrt(forward * strike))
    half = 0.5 * x
    # in the money -> the OTM option by parity: call(x) - put(x) = e^{x/2} - e^{-x/2}
    intrinsic = jnp.where(is_call, 1.0, -1.0) * (jnp.exp(half) - jnp.exp(-half))
    beta_otm = beta - jnp.maximum(intrinsic, 0.0)
    x_otm = -jnp.abs(x)
    # strictly inside the bounds (0, e^{x/2}), by more than the parity's rounding (a few eps of beta): at the
    # upper bound no finite vol gives the price (a call priced at D F came back at 1,699%)
    upper = jnp.exp(0.5 * x_otm)
    inside = (beta_otm > 0) & (beta_otm < upper - 8.0 * jnp.finfo(dtype).eps * jnp.maximum(jnp.abs(beta), upper))
    log_beta = jnp.log(jnp.where(inside, beta_otm, jnp.nan))
    return implied_total_vol_otm(x_otm, log_beta) / jnp.sqrt(jnp.where(expiry > 0, expiry, jnp.nan))
