"""Closed-form and semi-analytic option prices in pure JAX (control variates and test references).

Conventions, for every function here:

* ``expiry`` and fixing times in years (year fractions from today); ``rate`` the continuously-compounded
  risk-free rate; ``dividend`` the continuous dividend yield q; ``vol`` an annualised decimal volatility
  (0.2 = 20%). Heston: ``v0`` and ``theta`` annualised variances (0.04 = 20% vol), ``kappa`` the mean-reversion
  speed (1/years), ``xi`` the vol of variance, ``rho`` the spot/variance correlation.
* Arguments are scalars (batch with ``jax.vmap``); ``fixing_times`` is a 1-D array. Flags (``call``, ``up``,
  ``knock_in``) may be Python bools, traced booleans or 0/1 floats: they are selected with ``jnp.where``.
* Everything is jit-able, vmap-able and differentiable, and computes in the floating dtype of the inputs
  (float32 or float64); nothing here changes ``jax_enable_x64``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf, log_ndtr, ndtr

__all__ = [
    "black_scholes_price",
    "barrier_price",
    "geometric_asian_bs_price",
    "heston_characteristic_function",
    "heston_price",
    "geometric_asian_heston_price",
]


def _gauss_legendre(n):
    """Gauss-Legendre nodes and weights on [0, 1], by Newton on the three-term recurrence (numpy's leggauss loses
    ~1e-13 relative accuracy at n ~ 2000, which shows up in the Fourier prices)."""
    x = np.cos(np.pi * (np.arange(n, 0, -1) - 0.25) / (n + 0.5))  # Tricomi's initial guess, ascending
    for _ in range(100):
        p0, p1 = np.ones_like(x), x
        for j in range(2, n + 1):
            p0, p1 = p1, ((2 * j - 1) * x * p1 - (j - 1) * p0) / j
        dp = n * (x * p1 - p0) / (x * x - 1.0)
        step = p1 / dp
        x = x - step
        if np.max(np.abs(step)) < 1e-15:
            break
    return 0.5 * (x + 1.0), 1.0 / ((1.0 - x * x) * dp * dp)


# Fourier quadrature (see _lewis_price): Gauss-Legendre with _GL_N nodes on [0, U], U per call from a coarse scan.
_GL_N = 2048
_GL_X, _GL_W = _gauss_legendre(_GL_N)
_SCAN_U = np.geomspace(0.25, 2.0e5, 64)
_TOL = 2e-15  # integrand level treated as zero (also in float32: the tail it drops is ~ _TOL / decay rate)
_RESOLVE = 3.0  # keep U |ln(F/K)| <= _RESOLVE * _GL_N so that e^{iu ln(F/K)} stays resolved


def _floats(*xs):
    """Cast to one floating dtype: float64 if any input is float64, else float32 (or the default float)."""
    dtype = jnp.result_type(*xs, 0.0)
    return dtype, [jnp.asarray(x, dtype) for x in xs]


def _sign(flag, dtype):
    """+1 where ``flag`` is true (bool or nonzero number), -1 otherwise."""
    return jnp.where(jnp.asarray(flag).astype(bool), 1.0, -1.0).astype(dtype)


_SQRT_HALF = 0.7071067811865476


def _normal_interval(d1, d2):
    """N(d1) - N(d2) for d1 >= d2, to the precision of the result. Three forms of it: half the difference of
    erf(d / sqrt 2), the difference of two upper tails N(-d2) - N(-d1), of two lower tails N(d1) - N(d2); the
    one whose larger term is smallest loses least to cancellation (the erf form straddling 0 adds two
    positives). The textbook N(d1) - N(d2) of values near 1/2 cost float32 ~1e-6 of the result."""
    erf1, erf2 = erf(d1 * _SQRT_HALF), erf(d2 * _SQRT_HALF)
    upper_tail, lower_tail = ndtr(-d2), ndtr(d1)
    by_upper = (d2 >= 0.0) & (upper_tail < 0.5 * erf1)
    by_lower = (d1 <= 0.0) & (lower_tail < -0.5 * erf2)
    return jnp.where(by_upper, upper_tail - ndtr(-d1),
                     jnp.where(by_lower, lower_tail - ndtr(d2), 0.5 * (erf1 - erf2)))


def _black(log_moneyness, strike, stdev, df, phi):
    """Black's formula times ``df`` in the log-moneyness k = ln(F / K), phi = +1 call, -1 put:
    df K ([N(d1) - N(d2)] + phi expm1(k) N(phi d1)), which is F N(d1) - K N(d2) (call) rearranged so that
    no two large terms cancel: at the money the first term carries the price, in the money both add, and
    out of the money both are small. (The textbook form lost ~5e-6 of a 1-week at-the-money call on 100 in
    float32, a bias the closed-form control variates passed on to the Monte Carlo prices.)"""
    d1 = log_moneyness / stdev + 0.5 * stdev
    d2 = d1 - stdev
    return df * strike * (_normal_interval(d1, d2) + phi * jnp.expm1(log_moneyness) * ndtr(phi * d1))


def black_scholes_price(spot, strike, expiry, vol, rate, dividend, call):
    """Black-Scholes European price. expiry in years, rate and dividend (yield q) continuously compounded,
    vol annualised decimal; ``call`` true for a call, false for a put."""
    dtype, (spot, strike, expiry, vol, rate, dividend) = _floats(spot, strike, expiry, vol, rate, dividend)
    log_moneyness = jnp.log(spot / strike) + (rate - dividend) * expiry
    return _black(log_moneyness, strike, vol * jnp.sqrt(expiry), jnp.exp(-rate * expiry), _sign(call, dtype))


def barrier_price(spot, strike, barrier, expiry, vol, rate, dividend, rebate, call, up, knock_in):
    """Continuously-monitored single-barrier option under Black-Scholes (Reiner-Rubinstein / Haug), all 8 kinds.

    Units as in :func:`black_scholes_price`; ``rebate`` is a cash amount. A knock-out pays the rebate when the
    barrier is hit; a knock-in that never knocks in pays the rebate at expiry (Haug's and QuantLib's
    AnalyticBarrierEngine convention). A barrier already breached today (spot >= barrier for ``up``,
    spot <= barrier for down) gives: knock-out -> ``rebate`` (paid now), knock-in -> the vanilla price.
    Valid for any ordering of strike and barrier. The knock-out rebate's closed form needs
    (r-q-vol^2/2)^2 + 2 r vol^2 >= 0 (true for r >= 0); where a negative rate breaks it (QuantLib's engine
    then returns NaN) the rebate is integrated over the hitting time's distribution (``_rebate_at_hit``).
    """
    dtype, (spot, strike, barrier, expiry, vol, rate, dividend, rebate) = _floats(
        spot, strike, barrier, expiry, vol, rate, dividend, rebate)
    phi, eta = _sign(call, dtype), -_sign(up, dtype)  # eta = +1 down, -1 up
    is_in = jnp.asarray(knock_in).astype(bool)
    breached = eta * (spot - barrier) <= 0.0
    s = jnp.where(breached, barrier, spot)  # "double where": breached branch never sees an extreme H/S power
    sd = vol * jnp.sqrt(expiry)
    var = vol * vol
    mu = (rate - dividend - 0.5 * var) / var
    closed_form = mu * mu + 2.0 * rate / var >= 0.0
    lam = jnp.sqrt(jnp.where(closed_form, mu * mu + 2.0 * rate / var, 0.0))
    log_hs = jnp.log(barrier / s)
    log_fs = jnp.log(s) - dividend * expiry  # log of spot discounted at q
    log_fk = jnp.log(strike) - rate * expiry  # log of strike discounted at r
    shift = (1.0 + mu) * sd

    def ab(x):  # A (x = x1) and B (x = x2)
        return phi * (jnp.exp(log_fs + log_ndtr(phi * x)) - jnp.exp(log_fk + log_ndtr(phi * (x - sd))))

    def cd(y):  # C (y = y1) and D (y = y2)
        return phi * (jnp.exp(log_fs + 2.0 * (mu + 1.0) * log_hs + log_ndtr(eta * y))
                      - jnp.exp(log_fk + 2.0 * mu * log_hs + log_ndtr(eta * (y - sd))))

    x2 = -log_hs / sd + shift
    y2 = log_hs / sd + shift
    a = ab(jnp.log(s / strike) / sd + shift)
    b = ab(x2)
    c = cd((2.0 * log_hs + jnp.log(s / strike)) / sd + shift)
    d = cd(y2)
    e = rebate * jnp.exp(-rate * expiry) * (
        ndtr(eta * (x2 - sd)) - jnp.exp(2.0 * mu * log_hs + log_ndtr(eta * (y2 - sd))))
    z = log_hs / sd + lam * sd
    f = rebate * (jnp.exp((mu + lam) * log_hs + log_ndtr(eta * z))
                  + jnp.exp((mu - lam) * log_hs + log_ndtr(eta * (z - 2.0 * lam * sd))))
    # the integral only where some item needs it (a negative rate): it costs 64 evaluations an item, which
    # jnp.where alone would pay everywhere (16x the whole price, measured). Traced (under jit, grad, vmap):
    # lax.cond; called on numbers (the stress proxy): a plain test, as an eager lax.cond compiles both
    # branches on every call (6 s of a book stress)
    def with_integral():
        return jnp.where(closed_form, f, rebate * _rebate_at_hit(log_hs, expiry, vol, rate, mu))
    if isinstance(closed_form, jax.core.Tracer):
        f = jax.lax.cond(jnp.all(closed_form), lambda: f, with_integral)
    elif not bool(jnp.all(closed_form)):
        f = with_integral()
    # knock-in value without rebate (Haug's table); knock-out = vanilla - knock-in
    strike_above = strike >= barrier
    down, is_call = eta > 0, phi > 0
    kin = jnp.where(
        is_call == down,
        jnp.where(strike_above == down, c, a - b + d),
        jnp.where(strike_above == down, b - c + d, a))
    unbreached = jnp.where(is_in, kin + e, a - kin + f)
    vanilla = black_scholes_price(spot, strike, expiry, vol, rate, dividend, call)
    return jnp.where(breached, jnp.where(is_in, vanilla, rebate), unbreached)


#: Gauss-Legendre rule for the knock-out rebate's integral over the hitting time (``_rebate_at_hit``)
_HIT_X, _HIT_W = _gauss_legendre(64)


def _hit_probability(log_hs, t, vol, mu):
    """P(tau <= t): the chance that log S, a Brownian motion with drift mu vol^2 and volatility vol, has moved
    by log_hs (either sign) by time t (the reflection principle with drift)."""
    sd = vol * jnp.sqrt(t)
    toward = mu * vol * vol * jnp.sign(log_hs)   # the drift toward the barrier
    distance = jnp.abs(log_hs)
    return (jnp.exp(log_ndtr((toward * t - distance) / sd))
            + jnp.exp(2.0 * mu * log_hs + log_ndtr(-(toward * t + distance) / sd)))


def _rebate_at_hit(log_hs, expiry, vol, rate, mu):
    """E[exp(-r tau) 1{tau <= T}] for the hitting time tau of ``_hit_probability``, for any rate: by parts,
    exp(-r T) G(T) + r int_0^T exp(-r t) G(t) dt with G = ``_hit_probability``, a smooth bounded integrand
    (Gauss-Legendre, 64 nodes; agrees with the closed form to 1e-10 where that exists, 0.1% from the barrier
    included). Shapes broadcast."""
    log_hs, expiry, vol, rate, mu = jnp.broadcast_arrays(log_hs, expiry, vol, rate, mu)
    # t = T u^4: nodes crowd toward t = 0, where G rises steeply (over log_hs^2 / vol^2) near the barrier
    u = jnp.asarray(_HIT_X, expiry.dtype)
    times = expiry[..., None] * u ** 4                                     # (..., nodes)
    weights = expiry[..., None] * jnp.asarray(_HIT_W, expiry.dtype) * 4.0 * u ** 3
    along = lambda a: a[..., None]  # noqa: E731 - broadcast against the nodes
    integral = jnp.sum(weights * jnp.exp(-along(rate) * times)
                       * _hit_probability(along(log_hs), times, along(vol), along(mu)), axis=-1)
    return jnp.exp(-rate * expiry) * _hit_probability(log_hs, expiry, vol, mu) + rate * integral


def _fixing_setup(fixing_times, past_count, dtype, fixing_weights=None):
    """Fixing times cast to the dtype of the scalar inputs, their weights (1 a fixing, 0 an entry that only
    pads the array to a shared length), the count n of future fixings and the total N = past_count + n."""
    times = jnp.atleast_1d(jnp.asarray(fixing_times, dtype))
    weights = jnp.ones_like(times) if fixing_weights is None else jnp.broadcast_to(jnp.asarray(fixing_weights, dtype), times.shape)
    n = jnp.sum(weights)
    return times, weights, n, jnp.asarray(past_count, dtype) + n


def _weighted_min_sum(values, weights):
    """sum_ij w_i w_j min(v_i, v_j): the covariance sum of a Brownian-like process sampled at ``values``."""
    return jnp.sum(weights[:, None] * weights[None, :] * jnp.minimum(values[:, None], values[None, :]))


def _geometric_level(spot, strike, past_log_sum, past_log_ratio, past_count, times, weights, n, n_tot, drift):
    """log(L / K), L the geometric average if every future fixing sat on the forward S0 exp((r - q) t):
    (sum over past fixings of log(fixing / K) + n log(S0 / K) + drift sum_k t_k) / N. Built from ratios to the
    strike, never from log S0 and log K apart (each ~4.6 at spot 100, whose float32 rounding moved the
    closed-form price by ~1e-5); ``past_log_ratio``, where given, is the past fixings' sum of log(fixing / K)."""
    past_log_ratio = (past_log_sum - past_count * jnp.log(strike) if past_log_ratio is None
                      else jnp.asarray(past_log_ratio, spot.dtype))
    return (past_log_ratio + n * jnp.log(spot / strike) + drift * jnp.sum(weights * times)) / n_tot


def geometric_asian_bs_price(spot, strike, fixing_times, vol, rate, dividend, call, expiry,
                             past_log_sum=0.0, past_count=0, fixing_weights=None, past_log_ratio=None):
    """Discrete geometric-average-price (fixed strike) Asian under Black-Scholes.

    ``fixing_times``: (n,) future fixing times in (0, expiry], years. Payoff at ``expiry``: max(+-(G - K), 0) with
    G = exp((past_log_sum + sum_k log S(t_k)) / (past_count + n)); ``past_log_sum`` is the sum of the logs of the
    ``past_count`` fixings already observed. Rates/dividend yield continuous, vol annualised; discount exp(-rate*expiry).
    ``fixing_weights``: (n,) 1 for a fixing, 0 for an entry that only pads ``fixing_times`` (at its end, repeating
    the last time) to a length shared by other schedules, the times then increasing; None: every entry is a
    fixing, in any order. ``past_log_ratio``: the past fixings' sum of log(fixing / strike), in place of
    ``past_log_sum`` (the same information, free of the rounding of log K).
    """
    dtype, (spot, strike, vol, rate, dividend, expiry, past_log_sum) = _floats(
        spot, strike, vol, rate, dividend, expiry, past_log_sum)
    times, weights, n, n_tot = _fixing_setup(fixing_times, past_count, dtype, fixing_weights)
    level = _geometric_level(spot, strike, past_log_sum, past_log_ratio, n_tot - n, times, weights, n, n_tot,
                             rate - dividend)
    convexity = -0.5 * vol * vol * jnp.sum(weights * times) / n_tot        # E[log G] - log L
    variance = vol * vol * _weighted_min_sum(times, weights) / (n_tot * n_tot)
    return _black(level + convexity + 0.5 * variance, strike, jnp.sqrt(variance), jnp.exp(-rate * expiry),
                  _sign(call, dtype))


def _riccati(b, c0, tau, kappa, theta, xi, rho):
    """One interval of the Heston affine recursion, closed form with a general (complex) terminal condition.

    For X = log S and constant complex b over the interval: E[exp(b X_T + c0 v_T) | X_t, v_t]
    = exp(a + b (r - q) tau + b X_t + c v_t), tau = T - t. Returns (a, c). With c0 = 0 this is the "little trap"
    form of Albrecher et al. (2007): the root c_minus and exp(-d tau) with Re d >= 0 keep the log continuous.
    """
    xi2 = xi * xi
    beta = kappa - rho * xi * b
    q = b * b - b
    d = jnp.sqrt(beta * beta - xi2 * q)
    plus = jnp.abs(beta + d) >= jnp.abs(beta - d)  # c_minus = (beta - d) / xi^2 without cancellation
    c_minus = jnp.where(plus, q / jnp.where(plus, beta + d, 1.0), (beta - d) / xi2)
    dt = d * tau
    small = jnp.abs(dt) < 1e-8
    ratio = jnp.where(small, tau * (1.0 - 0.5 * dt),  # (1 - exp(-d tau)) / d
                      -jnp.expm1(-jnp.where(small, 1.0, dt)) / jnp.where(small, 1.0, d))
    h0 = c0 - c_minus
    k = h0 * (0.5 * xi2) * ratio
    c = c_minus + h0 * jnp.exp(-dt) / (1.0 - k)
    a = kappa * theta * (c_minus * tau - 2.0 * jnp.log1p(-k) / xi2)
    return a, c


def _complex(dtype):
    return jnp.result_type(dtype, jnp.complex64)


def heston_characteristic_function(u, log_spot, expiry, v0, kappa, theta, xi, rho, rate, dividend):
    """Heston characteristic function E[exp(i u log S_T)] (complex; u real or complex), little-trap form.

    log_spot = log S_0; expiry in years; v0, theta variances; kappa mean reversion; xi vol of variance;
    rate and dividend (yield q) continuously compounded.
    """
    dtype, (log_spot, expiry, v0, kappa, theta, xi, rho, rate, dividend) = _floats(
        log_spot, expiry, v0, kappa, theta, xi, rho, rate, dividend)
    b = 1j * jnp.asarray(u).astype(_complex(dtype))
    a, c = _riccati(b, 0.0, expiry, kappa, theta, xi, rho)
    return jnp.exp(b * (log_spot + (rate - dividend) * expiry) + a + c * v0)


def _lewis_b(u, dtype):
    return (0.5 + 1j * u).astype(_complex(dtype))


def _lewis_price(log_psi, log_moneyness, strike, variance, df, phi, dtype, scan_log_psi=None):
    """df * E[max(phi (F e^Y - K), 0)] from the centred log-MGF log_psi(b) = log E[exp(b Y)], E[e^Y] = 1, and
    the log-moneyness ln(F / K).

    Lewis (2001) form along b = 1/2 + i u, with the lognormal of the same forward and log-variance ``variance``
    as control variate (its Black price is exact; only the difference of the two MGFs is integrated):
    price = Black + df sqrt(F K) / pi * int_0^inf Re[e^{i u ln(F/K)} (psi_BS - psi)(1/2 + i u)] / (u^2 + 1/4) du.
    The integral is truncated where a coarse scan (at _SCAN_U; ``scan_log_psi`` if the caller has it) shows the
    integrand below _TOL, then Gauss-Legendre.
    """
    def integrand(u, lp):
        q = u * u + 0.25
        return (jnp.exp(-0.5 * variance * q) - jnp.exp(lp)) / q

    scan_u = jnp.asarray(_SCAN_U, dtype)
    if scan_log_psi is None:
        scan_log_psi = log_psi(_lewis_b(scan_u, dtype))
    big = jnp.abs(integrand(scan_u, scan_log_psi)) > _TOL
    last = jnp.max(jnp.where(big, jnp.arange(scan_u.shape[0]), -1))
    k = log_moneyness
    # Gauss-Legendre with N nodes integrates e^{iuk} on [0, U] exactly enough while U |k| < ~4N; past that cap the
    # dropped tail is oscillatory (error ~ amplitude / |k|), which only matters for extreme short-dated wings
    upper = jnp.minimum(scan_u[jnp.minimum(last + 1, scan_u.shape[0] - 1)], _RESOLVE * _GL_N / jnp.abs(k))
    upper = jax.lax.stop_gradient(upper)
    u = upper * jnp.asarray(_GL_X, dtype)
    g = integrand(u, log_psi(_lewis_b(u, dtype)))
    integral = upper * jnp.sum(jnp.asarray(_GL_W, dtype) * (jnp.cos(u * k) * g.real - jnp.sin(u * k) * g.imag))
    return _black(k, strike, jnp.sqrt(variance), df, phi) + df * strike * jnp.exp(0.5 * k) / jnp.pi * integral



def _mean_integrated_variance(t, v0, kappa, theta):
    """E[int_0^t v_s ds] under Heston."""
    return theta * t - (v0 - theta) * jnp.expm1(-kappa * t) / kappa


def heston_price(spot, strike, expiry, v0, kappa, theta, xi, rho, rate, dividend, call):
    """Heston European price by Fourier inversion of the little-trap characteristic function (fixed quadrature).

    expiry in years; v0, theta annualised variances; kappa mean reversion (1/years); xi vol of variance;
    rho correlation; rate and dividend (yield q) continuously compounded; ``call`` true for a call.
    Lewis form with a Black-Scholes control variate (variance = E[integrated variance]) and 2048-node
    Gauss-Legendre on a per-call truncation (:func:`_lewis_price`); calls and puts share the Fourier correction,
    so put-call parity holds to rounding. float64: within ~1e-11 (spot 100) of QuantLib's AnalyticHestonEngine
    over 1 week..10 years, strikes 50%..200%, xi up to 2, |rho| up to 0.95.
    """
    dtype, (spot, strike, expiry, v0, kappa, theta, xi, rho, rate, dividend) = _floats(
        spot, strike, expiry, v0, kappa, theta, xi, rho, rate, dividend)

    def log_psi(b):  # log E[exp(b log(S_T / F))]
        a, c = _riccati(b, 0.0, expiry, kappa, theta, xi, rho)
        return a + c * v0

    log_moneyness = jnp.log(spot / strike) + (rate - dividend) * expiry
    variance = _mean_integrated_variance(expiry, v0, kappa, theta)
    return _lewis_price(log_psi, log_moneyness, strike, variance, jnp.exp(-rate * expiry), _sign(call, dtype), dtype)


def geometric_asian_heston_price(spot, strike, fixing_times, v0, kappa, theta, xi, rho, rate, dividend, call,
                                 expiry, past_log_sum=0.0, past_count=0, fixing_weights=None, past_log_ratio=None):
    """Discrete geometric-average-price (fixed strike) Asian under Heston; payoff, seasoning and padding
    (``fixing_weights``) as in :func:`geometric_asian_bs_price`, Heston parameters as in :func:`heston_price`.

    The MGF of sum_k log S(t_k) is exponential-affine (Kim & Wee 2014): going backwards over the fixing intervals the
    log-price coefficient is constant on each interval (it grows by b / N at each fixing) and the variance coefficient
    solves the Heston Riccati equation in closed form from the previous interval's value (:func:`_riccati`);
    the price follows by Fourier inversion with fixed quadrature.
    """
    dtype, (spot, strike, v0, kappa, theta, xi, rho, rate, dividend, expiry, past_log_sum) = _floats(
        spot, strike, v0, kappa, theta, xi, rho, rate, dividend, expiry, past_log_sum)
    times, weights, n, n_tot = _fixing_setup(fixing_times, past_count, dtype, fixing_weights)
    if fixing_weights is None:
        times = jnp.sort(times)
    # else the times come padded from the engine, increasing: left unsorted, the weights stay unbatched
    # in a vmap over rows, and the cond below stays a real branch
    taus = jnp.diff(times, prepend=jnp.zeros((1,), dtype))[::-1]  # latest interval first
    counts = jnp.cumsum(weights[::-1])  # number of fixings at or after the end of each interval

    def log_mgf(b):  # log E[exp((b / N) sum_k (X(t_k) - X(0) - (r - q) t_k))]: the drift is in the level
        s = b / n_tot

        def step(carry, interval):
            a, c = carry
            tau, count = interval
            coef = count * s

            def advance():
                da, c_next = _riccati(coef, c, tau, kappa, theta, xi, rho)
                return a + da, c_next
            # padding entries (after the last fixing: count 0, zero length) change nothing; a cond skips
            # them (a real branch where the weights are shared by a vmapped batch, as in the engine)
            return jax.lax.cond(count > 0, advance, lambda: (a, c)), None

        zero = jnp.zeros_like(b)
        (a, c), _ = jax.lax.scan(step, (zero, zero), (taus, counts))
        return a + c * v0

    scan_b = _lewis_b(jnp.asarray(_SCAN_U, dtype), dtype)
    first = log_mgf(jnp.concatenate([jnp.ones((1,), scan_b.dtype), scan_b]))  # b = 1 (forward) with the scan
    log_fwd = jnp.real(first[0])  # log(E[G] / L), L the level below
    level = _geometric_level(spot, strike, past_log_sum, past_log_ratio, n_tot - n, times, weights, n, n_tot,
                             rate - dividend)
    ev = _mean_integrated_variance(times, v0, kappa, theta)  # increasing in t
    variance = _weighted_min_sum(ev, weights) / (n_tot * n_tot)
    return _lewis_price(lambda b: log_mgf(b) - b * log_fwd, level + log_fwd, strike, variance,
                        jnp.exp(-rate * expiry), _sign(call, dtype), dtype, scan_log_psi=first[1:] - scan_b * log_fwd)
