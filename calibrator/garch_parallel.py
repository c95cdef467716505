"""The GARCH likelihood and its exact derivatives by parallel prefix scans (``lax.associative_scan``).

Given the data, every recursion of the likelihood is *linear* with the same coefficient beta:

    h_{t+1}      = beta h_t      + (omega + (alpha + gamma I_t) e_t^2)
    dh_{t+1}     = beta dh_t     + z_t              (z_t: 1, e_t^2, h_t, -2 a_t e_t, I_t e_t^2)
    d2h_{t+1}    = beta d2h_t    + u_t(dh_t)        (garch_derivatives.py writes every term)

so each is a first-order linear filter, x_{t+1} = beta x_t + b_t, which composes associatively:
(a1, b1) then (a2, b2) = (a2 a1, a2 b1 + b2). A prefix scan computes all T values in O(log T)
parallel steps instead of T dependent ones; everything else (densities, sums over t) is elementwise
or a reduction. On a GPU this replaces thousands of tiny sequential steps per likelihood pass
(latency-bound) with a few wide ones; on a CPU the plain ``lax.scan`` (garch.py,
garch_derivatives.py) is as fast and stays the default. ``parallel_scans()`` says which is used;
the two give the same numbers to rounding (tests/test_garch_parallel.py).
"""
from __future__ import annotations

import os
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from .garch import GarchParams, GarchSpec

__all__ = ["linear_filter", "variance_filter_parallel", "negloglik_mean_vgh_parallel", "parallel_scans"]

_LOG_2PI = 1.8378770664093453
_MODES = ("auto", "parallel", "sequential")


def parallel_scans() -> bool:
    """Whether the likelihood passes use prefix scans: on a GPU by default; ``EXOTICS_GARCH_SCAN``
    = "parallel" or "sequential" overrides (read when a fit's program is traced)."""
    mode = os.environ.get("EXOTICS_GARCH_SCAN", "auto").strip().lower()
    if mode not in _MODES:
        raise ValueError(f"EXOTICS_GARCH_SCAN must be one of {', '.join(_MODES)}, got {mode!r}")
    return jax.default_backend() == "gpu" if mode == "auto" else mode == "parallel"


def linear_filter(coefficient, inputs, initial):
    """x_0 = initial, x_{t+1} = coefficient x_t + inputs_t: returns x_0 .. x_{T-1}, shaped like ``inputs``
    (T, ...); ``initial`` broadcasts against inputs[0] (the last input is not needed)."""
    first = jnp.broadcast_to(initial, inputs.shape[1:]).astype(inputs.dtype)
    if inputs.shape[0] == 1:
        return first[None]
    steps = inputs[:-1]
    a = jnp.broadcast_to(jnp.asarray(coefficient, inputs.dtype), steps.shape)

    def compose(earlier, later):
        a1, b1 = earlier
        a2, b2 = later
        return a2 * a1, a2 * b1 + b2

    factor, offset = lax.associative_scan(compose, (a, steps))
    return jnp.concatenate([first[None], factor * first + offset], axis=0)


def variance_filter_parallel(resid, omega, alpha, gamma, beta, backcast):
    """The same h_t, shape (T,), as ``garch.variance_filter`` (h_0 = omega + (alpha + gamma/2 + beta)
    backcast), by a prefix scan."""
    h0 = omega + (alpha + 0.5 * gamma + beta) * backcast
    e2 = resid * resid
    inputs = omega + (alpha + gamma * (resid < 0)) * e2
    return linear_filter(beta, inputs, h0)


def negloglik_mean_vgh_parallel(spec: GarchSpec, params: GarchParams, y, backcast_fn: Callable, *,
                                with_opg: bool = False):
    """``garch_derivatives.negloglik_mean_vgh`` by prefix scans: the same f = -(1/T) loglik, gradient and
    Hessian in the natural parameters (and the outer product of scores with ``with_opg``)."""
    from .garch_derivatives import _density_terms, _pairs, _symmetric, _t_const, d2h_increment, hessian_term, pass_setup
    (names, vol_names, student, const_mean, gjr, zero, mu, omega, alpha, beta, gamma, nu, h0, dh0, d2h0, d2_pairs,
     idx) = pass_setup(spec, params, backcast_fn, y.dtype)
    dtype = y.dtype

    e = y - mu
    neg = (e < 0).astype(dtype)
    e2 = e * e
    a_eff = alpha + gamma * neg if gjr else alpha + zero * e
    h = linear_filter(beta, omega + a_eff * e2, h0)                                     # (T,)
    one = jnp.ones_like(e)
    z = {"omega": one, "alpha": e2, "beta": h, "mu": -2.0 * a_eff * e, "gamma": neg * e2}
    dh_matrix = linear_filter(beta, jnp.stack([z[n] for n in vol_names], axis=1), dh0)   # (T, nv)
    dh = {n: dh_matrix[:, idx[n]] for n in vol_names}
    if d2_pairs:
        inputs = [jnp.broadcast_to(d2h_increment(pair, dh, a_eff, e, neg), e.shape) for pair in d2_pairs]
        d2h_matrix = linear_filter(beta, jnp.stack(inputs, axis=1), jnp.stack([d2h0[idx[a], idx[b]]
                                                                               for (a, b) in d2_pairs]))
        d2h = {pair: d2h_matrix[:, i] for i, pair in enumerate(d2_pairs)}
    else:
        d2h = {}

    d = _density_terms(spec, e, h, nu)                                                  # each (T,)
    n_obs = y.shape[0]
    scores = {v: d["h"] * dh[v] for v in vol_names}
    if const_mean:
        scores["mu"] = scores["mu"] - d["e"]
    if student:
        scores["nu"] = d["nu"]
    g = {v: jnp.sum(scores[v]) for v in names}
    H = {pair: jnp.sum(hessian_term(pair, d, dh, d2h)) for pair in _pairs(names)}
    loglik_sum = jnp.sum(d["phi"])
    if student:
        loglik_sum = loglik_sum + n_obs * _t_const(nu)
        g["nu"] = g["nu"] + n_obs * jax.grad(_t_const)(nu)
        H[("nu", "nu")] = H[("nu", "nu")] + n_obs * jax.grad(jax.grad(_t_const))(nu)
    else:
        loglik_sum = loglik_sum - 0.5 * n_obs * _LOG_2PI
    grad = jnp.stack([g[a] for a in names])
    hess = _symmetric(names, H)
    if with_opg:
        if student:
            scores["nu"] = scores["nu"] + jax.grad(_t_const)(nu)
        s = jnp.stack([scores[a] for a in names], axis=1)                               # (T, k)
        return -loglik_sum / n_obs, -grad / n_obs, -hess / n_obs, s.T @ s
    return -loglik_sum / n_obs, -grad / n_obs, -hess / n_obs
