"""A small Newton optimiser for a handful of parameters, written to be ``jax.vmap``-ped.

One problem: minimise f(theta), theta of length k (3-6 here), given a function returning the value,
gradient and exact Hessian (forward-mode autodiff: one pass over the data gives all three).

Each iteration takes a saddle-free Newton step (Hessian eigenvalues replaced by their absolute values,
floored relative to the largest), clipped to a trust radius in the infinity norm, and evaluates f, g, H
there in one pass. The step is accepted when the decrease is at least 1e-4 of the one the quadratic
model predicted (or both are at rounding level); otherwise theta stays put and the radius shrinks.
Converged when the Newton decrement g' H^-1 g falls below ``tol``.

Fixed shapes, ``lax.while_loop``: under ``vmap`` every lane runs until all lanes are done or
``max_iter``; finished lanes are frozen by ``jnp.where``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["NewtonResult", "minimize_newton", "value_grad_hess"]


class NewtonResult(NamedTuple):
    theta: jax.Array      # (k,) minimiser
    f: jax.Array          # objective there
    grad: jax.Array       # (k,)
    hess: jax.Array       # (k, k)
    decrement: jax.Array  # Newton decrement g' H^-1 g at theta (0 at an exact minimum)
    iterations: jax.Array
    converged: jax.Array  # bool


class _State(NamedTuple):
    theta: jax.Array
    f: jax.Array
    g: jax.Array
    h: jax.Array
    radius: jax.Array
    it: jax.Array
    done: jax.Array
    decrement: jax.Array


def value_grad_hess(fun: Callable) -> Callable:
    """theta -> (f, g, H) by forward-over-forward autodiff: one pass of ``fun``'s scan carries the
    value, k tangents and k*k second-order tangents, which on CPU beats reverse mode through a scan."""

    def with_value(theta):
        v = fun(theta)
        return v, v

    def grad_with_value(theta):
        g, v = jax.jacfwd(with_value, has_aux=True)(theta)
        return g, (g, v)

    def vgh(theta):
        h, (g, v) = jax.jacfwd(grad_with_value, has_aux=True)(theta)
        return v, g, 0.5 * (h + h.T)

    return vgh


def _modified_inverse(g, h):
    """Step and decrement from |eigenvalues| of H, floored at 1e-10 of the largest."""
    w, v = jnp.linalg.eigh(h)
    aw = jnp.abs(w)
    floor = jnp.maximum(1e-10 * jnp.max(aw), jnp.finfo(h.dtype).tiny ** 0.5)
    aw = jnp.maximum(aw, floor)
    vg = v.T @ g
    step = -(v @ (vg / aw))
    decrement = jnp.sum(vg * vg / aw)
    return step, decrement, (v, aw)


def minimize_newton(vgh: Callable, theta0, *, max_iter: int = 60, tol: float = 1e-12,
                    max_radius: float = 2.0) -> NewtonResult:
    """Minimise with ``vgh(theta) -> (f, g, H)`` from ``theta0`` (k,). See the module docstring."""
    theta0 = jnp.asarray(theta0)
    dtype = theta0.dtype
    eps = jnp.finfo(dtype).eps
    f0, g0, h0 = vgh(theta0)
    _, dec0, _ = _modified_inverse(g0, h0)
    ok0 = jnp.isfinite(f0) & jnp.all(jnp.isfinite(g0)) & jnp.all(jnp.isfinite(h0))
    state = _State(theta0, f0, g0, h0, jnp.asarray(max_radius, dtype), jnp.asarray(0), ~ok0 | (dec0 < tol),
                   jnp.where(ok0, dec0, jnp.inf))

    def cond(s):
        return (~s.done) & (s.it < max_iter)

    def body(s):
        step, _, (v, aw) = _modified_inverse(s.g, s.h)
        size = jnp.max(jnp.abs(step))
        step = step * jnp.minimum(1.0, s.radius / jnp.maximum(size, jnp.finfo(dtype).tiny))
        vs = v.T @ step
        predicted = -(jnp.dot(s.g, step) + 0.5 * jnp.sum(aw * vs * vs))
        theta_n = s.theta + step
        f_n, g_n, h_n = vgh(theta_n)
        finite = jnp.isfinite(f_n) & jnp.all(jnp.isfinite(g_n)) & jnp.all(jnp.isfinite(h_n))
        actual = s.f - f_n
        noise = 16 * eps * jnp.maximum(jnp.abs(s.f), 1.0)
        accept = finite & ((actual >= 1e-4 * predicted) | ((actual > -noise) & (predicted < noise)))
        ratio = actual / jnp.maximum(predicted, jnp.finfo(dtype).tiny)
        hit = size >= s.radius
        radius = jnp.where(accept,
                           jnp.where((ratio > 0.75) & hit, jnp.minimum(2.0 * s.radius, max_radius), s.radius),
                           0.25 * jnp.minimum(s.radius, size))
        theta = jnp.where(accept, theta_n, s.theta)
        f = jnp.where(accept, f_n, s.f)
        g = jnp.where(accept, g_n, s.g)
        h = jnp.where(accept, h_n, s.h)
        _, dec, _ = _modified_inverse(g, h)
        stalled = radius < 1e-12
        done = (dec < tol) | stalled
        new = _State(theta, f, g, h, radius, s.it + 1, done, dec)
        # lanes already finished stay frozen (relevant under vmap)
        return jax.tree.map(lambda a, b: jnp.where(s.done, a, b), s, new)

    s = lax.while_loop(cond, body, state)
    return NewtonResult(s.theta, s.f, s.g, s.h, s.decrement, s.it, s.decrement < tol)
