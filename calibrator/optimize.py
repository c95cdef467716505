"""A small Newton optimiser for a handful of parameters, written to be ``jax.vmap``-ped.

One problem: minimise f(theta), theta of length k (3-6 here), given ``vgh(theta) -> (f, g, H)`` with
the exact Hessian (one pass over the data gives all three, see garch_derivatives.py).

Saddle-free Newton: steps -|H|^-1 g with H's eigenvalues replaced by their absolute values (floored at
1e-10 of the largest), clipped to a trust radius in the infinity norm; a step is accepted when the
decrease is at least 1e-4 of the one the quadratic model predicted (or both are at rounding level),
otherwise theta stays put and the radius shrinks. Converged when the Newton decrement g' |H|^-1 g is
below ``tol``. (Tried and dropped: BFGS from an exact initial Hessian with cheaper gradient passes; on
CPU a gradient pass costs about half a Hessian pass, and BFGS needed about twice the iterations, with a
longer tail, which under vmap is what the whole batch waits for.)

Fixed shapes, ``lax.while_loop``: under ``vmap`` every lane runs until all lanes are done or
``max_iter``; finished lanes are frozen by ``jnp.where``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .jacobi import symmetric_eigh

__all__ = ["OptimResult", "minimize_newton", "value_grad_hess", "value_and_grad_fwd", "newton_decrement"]


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


EIGENSOLVERS = {"lapack": jnp.linalg.eigh, "jacobi": symmetric_eigh}


def _eig_abs(h, eigensolver: str = "lapack"):
    w, v = EIGENSOLVERS[eigensolver](h)
    aw = jnp.abs(w)
    floor = jnp.maximum(1e-10 * jnp.max(aw), jnp.finfo(h.dtype).tiny ** 0.5)
    return v, jnp.maximum(aw, floor)


def newton_decrement(g, h, eigensolver: str = "lapack"):
    """g' |H|^-1 g with |H| the eigenvalue-modified Hessian; NaN-safe (inf when not finite)."""
    v, aw = _eig_abs(h, eigensolver)
    vg = v.T @ g
    dec = jnp.sum(vg * vg / aw)
    return jnp.where(jnp.isfinite(dec), dec, jnp.inf)


def _restrict(g, h, frozen):
    """Drop frozen coordinates from the Newton system: zero gradient, unit diagonal, no coupling."""
    if frozen is None:
        return g, h
    keep = ~frozen
    g = jnp.where(keep, g, 0.0)
    h = jnp.where(keep[:, None] & keep[None, :], h, 0.0) + jnp.diag(jnp.where(keep, 0.0, 1.0))
    return g, h


def _trial_step(s: _State, dtype, frozen=None, eigensolver: str = "lapack"):
    g, h = _restrict(s.g, s.h, frozen)
    v, aw = _eig_abs(h, eigensolver)
    vg = v.T @ g
    step = -(v @ (vg / aw))
    size = jnp.max(jnp.abs(step))
    step = step * jnp.minimum(1.0, s.radius / jnp.maximum(size, jnp.finfo(dtype).tiny))
    vs = v.T @ step
    predicted = -(jnp.dot(g, step) + 0.5 * jnp.sum(aw * vs * vs))
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
    # a full (unclipped) step whose predicted gain is below the rounding noise of f: nothing more can
    # be gained in this precision (decides when the float32 stage hands over to float64)
    at_noise_floor = accept & ~hit & (predicted < noise)
    return accept, radius, at_noise_floor


def _init_state(theta0, f0, g0, h0, max_radius, tol, aux=None, at_bound=None, eigensolver: str = "lapack"):
    dtype = theta0.dtype
    ok0 = jnp.isfinite(f0) & jnp.all(jnp.isfinite(g0)) & jnp.all(jnp.isfinite(h0))
    frozen = None if at_bound is None else at_bound(theta0, g0)
    dec0 = jnp.where(ok0, newton_decrement(*_restrict(g0, h0, frozen), eigensolver), jnp.inf)
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
                    max_radius: float = 2.0, with_aux: bool = False, at_bound: Callable | None = None,
                    eigensolver: str = "lapack") -> OptimResult:
    """Saddle-free Newton with ``vgh(theta) -> (f, g, H)`` from ``theta0`` (k,). With ``with_aux`` vgh
    returns (f, g, H, aux) and the result carries aux evaluated at the returned theta (e.g. what the
    standard errors need, saving a pass).

    at_bound(theta, g) -> bool (k,): coordinates that have run out to where the parameter they map to is
    numerically at an open bound (e.g. persistence 1 - 1e-7) and still want to go further. They are held
    fixed and left out of the decrement, so a supremum on the boundary converges (KKT) instead of
    creeping towards infinity one unit per iteration, which under vmap would hold up the whole batch.

    eigensolver: "lapack" (jnp.linalg.eigh) or "jacobi" (jacobi.symmetric_eigh: plain arithmetic, for a
    batch that runs cut over several CPU devices, where LAPACK's batched eigh deadlocks; it costs about a
    second more compile time per program, so the single-device fits keep LAPACK)."""
    if eigensolver not in EIGENSOLVERS:
        raise ValueError(f"eigensolver={eigensolver!r} is unknown; choose one of {sorted(EIGENSOLVERS)}")
    theta0 = jnp.asarray(theta0)
    dtype = theta0.dtype
    call = vgh if with_aux else (lambda t: (*vgh(t), None))
    f0, g0, h0, aux0 = call(theta0)
    state = _init_state(theta0, f0, g0, h0, max_radius, tol, aux0, at_bound, eigensolver)

    def frozen_at(theta, g):
        return None if at_bound is None else at_bound(theta, g)

    def body(s):
        step, size, predicted = _trial_step(s, dtype, frozen_at(s.theta, s.g), eigensolver)
        theta_n = s.theta + step
        f_n, g_n, h_n, aux_n = call(theta_n)
        finite = jnp.isfinite(f_n) & jnp.all(jnp.isfinite(g_n)) & jnp.all(jnp.isfinite(h_n))
        accept, radius, at_noise_floor = _accept(s, f_n, finite, predicted, size, max_radius, dtype)
        theta = jnp.where(accept, theta_n, s.theta)
        f = jnp.where(accept, f_n, s.f)
        g = jnp.where(accept, g_n, s.g)
        h = jnp.where(accept, h_n, s.h)
        aux = jax.tree.map(lambda a, b: jnp.where(accept, a, b), aux_n, s.aux)
        dec = newton_decrement(*_restrict(g, h, frozen_at(theta, g)), eigensolver)
        done = (dec < tol) | (radius < 1e-12) | at_noise_floor
        return _State(theta, f, g, h, radius, s.it + 1, done, dec, aux)

    return _run(body, state, max_iter, tol)
