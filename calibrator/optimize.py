"""Small second-order optimisers for a handful of parameters, written to be ``jax.vmap``-ped.

One problem: minimise f(theta), theta of length k (3-6 here). Two passes over the data are available:
``vg(theta) -> (f, g)`` (cheap: forward-mode autodiff carries k tangents through the filter, costing
about one likelihood evaluation on CPU) and ``vgh(theta) -> (f, g, H)`` with the exact Hessian (about
5 evaluations). Hence:

* ``minimize_bfgs``: quasi-Newton from an EXACT initial Hessian, BFGS-updated with cheap gradient
  passes. From a decent start it reaches the Newton-decrement tolerance in a few more steps than
  Newton, at a fraction of the cost.
* ``minimize_newton``: saddle-free Newton with the exact Hessian each step: the verifier and polisher.

Both take steps -B^-1 g with B's eigenvalues replaced by their absolute values (floored at 1e-10 of
the largest), clipped to a trust radius in the infinity norm; a step is accepted when the decrease is
at least 1e-4 of the one the quadratic model predicted (or both are at rounding level), otherwise theta
stays put and the radius shrinks. Converged when the Newton decrement g' B^-1 g is below ``tol``.

Fixed shapes, ``lax.while_loop``: under ``vmap`` every lane runs until all lanes are done or
``max_iter``; finished lanes are frozen by ``jnp.where``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["OptimResult", "minimize_bfgs", "minimize_newton", "value_grad_hess", "value_and_grad_fwd",
           "newton_decrement"]


class OptimResult(NamedTuple):
    theta: jax.Array      # (k,) minimiser
    f: jax.Array          # objective there
    grad: jax.Array       # (k,)
    hess: jax.Array       # (k, k): exact (Newton) or the BFGS approximation
    decrement: jax.Array  # Newton decrement g' H^-1 g at theta (0 at an exact minimum)
    iterations: jax.Array
    converged: jax.Array  # bool: decrement < tol
    aux: object = None    # whatever vgh returned as a 4th output, at theta


class _State(NamedTuple):
    theta: jax.Array
    f: jax.Array
    g: jax.Array
    h: jax.Array
    radius: jax.Array
    it: jax.Array
    done: jax.Array
    decrement: jax.Array
    aux: object = None


def value_and_grad_fwd(fun: Callable) -> Callable:
    """theta -> (f, g) by forward-mode autodiff (k tangents carried through the scan in one pass)."""

    def with_value(theta):
        v = fun(theta)
        return v, v

    def vg(theta):
        g, v = jax.jacfwd(with_value, has_aux=True)(theta)
        return v, g

    return vg


def value_grad_hess(fun: Callable) -> Callable:
    """theta -> (f, g, H) by forward-over-forward autodiff (a slow but simple reference)."""

    def grad_with_value(theta):
        v, g = value_and_grad_fwd(fun)(theta)
        return g, (g, v)

    def vgh(theta):
        h, (g, v) = jax.jacfwd(grad_with_value, has_aux=True)(theta)
        return v, g, 0.5 * (h + h.T)

    return vgh


def _eig_abs(h):
    w, v = jnp.linalg.eigh(h)
    aw = jnp.abs(w)
    floor = jnp.maximum(1e-10 * jnp.max(aw), jnp.finfo(h.dtype).tiny ** 0.5)
    return v, jnp.maximum(aw, floor)


def newton_decrement(g, h):
    """g' |H|^-1 g with |H| the eigenvalue-modified Hessian; NaN-safe (inf when not finite)."""
    v, aw = _eig_abs(h)
    vg = v.T @ g
    dec = jnp.sum(vg * vg / aw)
    return jnp.where(jnp.isfinite(dec), dec, jnp.inf)


def _trial_step(s: _State, dtype):
    v, aw = _eig_abs(s.h)
    vg = v.T @ s.g
    step = -(v @ (vg / aw))
    size = jnp.max(jnp.abs(step))
    step = step * jnp.minimum(1.0, s.radius / jnp.maximum(size, jnp.finfo(dtype).tiny))
    vs = v.T @ step
    predicted = -(jnp.dot(s.g, step) + 0.5 * jnp.sum(aw * vs * vs))
    return step, size, predicted


def _accept(s: _State, f_new, finite, predicted, size, max_radius, dtype):
    eps = jnp.finfo(dtype).eps
    actual = s.f - f_new
    noise = 16 * eps * jnp.maximum(jnp.abs(s.f), 1.0)
    accept = finite & ((actual >= 1e-4 * predicted) | ((actual > -noise) & (predicted < noise)))
    ratio = actual / jnp.maximum(predicted, jnp.finfo(dtype).tiny)
    hit = size >= s.radius
    radius = jnp.where(accept,
                       jnp.where((ratio > 0.75) & hit, jnp.minimum(2.0 * s.radius, max_radius), s.radius),
                       0.25 * jnp.minimum(s.radius, size))
    return accept, radius


def _init_state(theta0, f0, g0, h0, max_radius, tol, aux=None):
    dtype = theta0.dtype
    ok0 = jnp.isfinite(f0) & jnp.all(jnp.isfinite(g0)) & jnp.all(jnp.isfinite(h0))
    dec0 = jnp.where(ok0, newton_decrement(g0, h0), jnp.inf)
    return _State(theta0, f0, g0, h0, jnp.asarray(max_radius, dtype), jnp.asarray(0), ~ok0 | (dec0 < tol), dec0,
                  aux)


def _run(body, state, max_iter, tol):
    def cond(s):
        return (~s.done) & (s.it < max_iter)

    def frozen_body(s):
        new = body(s)
        return jax.tree.map(lambda a, b: jnp.where(s.done, a, b), s, new)

    s = lax.while_loop(cond, frozen_body, state)
    return OptimResult(s.theta, s.f, s.g, s.h, s.decrement, s.it, s.decrement < tol, s.aux)


def minimize_newton(vgh: Callable, theta0, *, max_iter: int = 60, tol: float = 1e-12,
                    max_radius: float = 2.0, with_aux: bool = False) -> OptimResult:
    """Saddle-free Newton with ``vgh(theta) -> (f, g, H)`` from ``theta0`` (k,). With ``with_aux`` vgh
    returns (f, g, H, aux) and the result carries aux evaluated at the returned theta (e.g. what the
    standard errors need, saving a pass)."""
    theta0 = jnp.asarray(theta0)
    dtype = theta0.dtype
    call = vgh if with_aux else (lambda t: (*vgh(t), None))
    f0, g0, h0, aux0 = call(theta0)
    state = _init_state(theta0, f0, g0, h0, max_radius, tol, aux0)

    def body(s):
        step, size, predicted = _trial_step(s, dtype)
        theta_n = s.theta + step
        f_n, g_n, h_n, aux_n = call(theta_n)
        finite = jnp.isfinite(f_n) & jnp.all(jnp.isfinite(g_n)) & jnp.all(jnp.isfinite(h_n))
        accept, radius = _accept(s, f_n, finite, predicted, size, max_radius, dtype)
        theta = jnp.where(accept, theta_n, s.theta)
        f = jnp.where(accept, f_n, s.f)
        g = jnp.where(accept, g_n, s.g)
        h = jnp.where(accept, h_n, s.h)
        aux = jax.tree.map(lambda a, b: jnp.where(accept, a, b), aux_n, s.aux)
        dec = newton_decrement(g, h)
        done = (dec < tol) | (radius < 1e-12)
        return _State(theta, f, g, h, radius, s.it + 1, done, dec, aux)

    return _run(body, state, max_iter, tol)


def minimize_bfgs(vg: Callable, theta0, start, *, max_iter: int = 60, tol: float = 1e-12,
                  max_radius: float = 2.0) -> OptimResult:
    """BFGS with ``vg(theta) -> (f, g)`` from ``theta0``, where ``start`` = (f, g, H) at theta0 with H
    the exact Hessian (the initial approximation). Returns the BFGS Hessian approximation in ``hess``."""
    theta0 = jnp.asarray(theta0)
    dtype = theta0.dtype
    f0, g0, h0 = start
    v, aw = _eig_abs(h0)
    state = _init_state(theta0, f0, g0, (v * aw) @ v.T, max_radius, tol)

    def body(s):
        step, size, predicted = _trial_step(s, dtype)
        theta_n = s.theta + step
        f_n, g_n = vg(theta_n)
        finite = jnp.isfinite(f_n) & jnp.all(jnp.isfinite(g_n))
        accept, radius = _accept(s, f_n, finite, predicted, size, max_radius, dtype)
        # BFGS update of B with (s, y), skipped when the curvature condition fails
        sk = theta_n - s.theta
        yk = g_n - s.g
        sy = jnp.dot(sk, yk)
        bs = s.h @ sk
        sbs = jnp.dot(sk, bs)
        good = accept & (sy > 1e-10 * jnp.sqrt(jnp.dot(sk, sk) * jnp.dot(yk, yk))) & (sbs > 0)
        safe_sy = jnp.where(good, sy, 1.0)
        safe_sbs = jnp.where(good, sbs, 1.0)
        b_new = s.h - jnp.outer(bs, bs) / safe_sbs + jnp.outer(yk, yk) / safe_sy
        b_new = 0.5 * (b_new + b_new.T)
        h = jnp.where(good & jnp.all(jnp.isfinite(b_new)), b_new, s.h)
        theta = jnp.where(accept, theta_n, s.theta)
        f = jnp.where(accept, f_n, s.f)
        g = jnp.where(accept, g_n, s.g)
        dec = newton_decrement(g, h)
        done = (dec < tol) | (radius < 1e-12)
        return _State(theta, f, g, h, radius, s.it + 1, done, dec)

    return _run(body, state, max_iter, tol)
