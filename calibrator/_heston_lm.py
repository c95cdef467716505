"""Levenberg-Marquardt for one Heston surface (calibrate_heston's solver) and the bounded parameterisation it
works in: v0, kappa, theta, xi = exp(lo + (hi - lo) sigmoid(y)) within BOUNDS, rho = RHO_MAX tanh(y); with
``feller`` xi is the ratio xi / sqrt(2 kappa theta) in (0, 1). Residuals in vol points (VOL_POINTS per unit).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._heston_pricing import _model_vols

BOUNDS = {"v0": (1e-5, 4.0), "kappa": (1e-3, 50.0), "theta": (1e-5, 4.0), "xi": (1e-3, 10.0)}
RHO_MAX = 0.999
VOL_POINTS = 100.0


def _logit(p):
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p) - np.log1p(-p)


def _to_natural(y, feller):
    """Unconstrained y (..., 5) -> (v0, kappa, theta, xi, rho) within BOUNDS (and Feller where ``feller``, a bool
    that may be traced: both parameterisations share one compiled program)."""
    def pos(name, z):
        lo, hi = (math.log(b) for b in BOUNDS[name])
        return jnp.exp(lo + (hi - lo) * jax.nn.sigmoid(z))

    v0, kappa, theta = pos("v0", y[..., 0]), pos("kappa", y[..., 1]), pos("theta", y[..., 2])
    xi = jnp.where(feller, jnp.sqrt(2.0 * kappa * theta) * jax.nn.sigmoid(y[..., 3]), pos("xi", y[..., 3]))
    rho = RHO_MAX * jnp.tanh(y[..., 4])
    return v0, kappa, theta, xi, rho


def _to_unconstrained(p: np.ndarray, feller: bool) -> np.ndarray:
    """Inverse of _to_natural (numpy, (S, 5)); values outside the bounds are moved just inside."""
    y = np.empty_like(p)
    for j, name in enumerate(("v0", "kappa", "theta", "xi")):
        lo, hi = (math.log(b) for b in BOUNDS[name])
        y[:, j] = _logit((np.log(np.maximum(p[:, j], 1e-300)) - lo) / (hi - lo))
    if feller:
        v0, kappa, theta = (np.exp(np.log(BOUNDS[n][0]) + np.log(BOUNDS[n][1] / BOUNDS[n][0])
                                   / (1 + np.exp(-y[:, j]))) for j, n in enumerate(("v0", "kappa", "theta")))
        y[:, 3] = _logit(np.minimum(p[:, 3] / np.sqrt(2 * kappa * theta), 0.99))
    y[:, 4] = np.arctanh(np.clip(p[:, 4] / RHO_MAX, -0.999, 0.999))
    return y


def _lm_one(y0, x, eidx, mvol, mask, expiries, quad, *, feller, max_iter, ftol, xtol, gtol):
    """Levenberg-Marquardt for one surface from unconstrained y0 (5,). Returns (y, sse, iterations, converged).

    The loop body evaluates residuals and Jacobian once, at the trial point, then accepts or rejects it and proposes
    the next step; the first pass evaluates y0 (always accepted). So the (large) residual-and-Jacobian graph appears
    once in the program -- half the compile time of evaluating y0 before the loop. iterations counts LM steps
    (trial points after y0).
    """
    def residuals(y):
        vols = _model_vols(_to_natural(y, feller), x, eidx, expiries, quad)
        # where, not * mask: a left-out option's vol may be NaN (float32), and NaN * 0 is NaN
        return jnp.where(mask > 0, VOL_POINTS * (vols - mvol), 0.0)

    def value_and_jac(y):
        r, push = jax.linearize(residuals, y)
        jac = jax.vmap(push, out_axes=1)(jnp.eye(y.shape[0], dtype=y.dtype))
        r = jnp.where(jnp.isfinite(r), r, 1e10)
        return r, jnp.where(jnp.isfinite(jac), jac, 0.0)

    def propose(r, jac, lam):
        a = jac.T @ jac
        g = jac.T @ r
        d = jnp.maximum(jnp.diag(a), 1e-12 * jnp.max(jnp.diag(a)) + 1e-30)   # Marquardt's scaling
        step = jnp.linalg.solve(a + lam * jnp.diag(d), -g)
        predicted = step @ (lam * d * step - g)                            # decrease of |r|^2 the model predicts
        return step, predicted, g

    dtype = y0.dtype
    zero = jnp.zeros((), dtype)
    init = dict(y=y0, r=jnp.zeros_like(mvol), jac=jnp.zeros(mvol.shape + y0.shape, dtype), f=zero + jnp.inf,
                trial=y0, step=jnp.zeros_like(y0), predicted=zero, lam=zero + 1e-3, nu=zero + 2.0,
                it=jnp.asarray(0, jnp.int32), done=jnp.asarray(False), conv=jnp.asarray(False))

    def body(s):
        r_new, j_new = value_and_jac(s["trial"])
        f_new = r_new @ r_new
        first = s["it"] == 0
        actual = s["f"] - f_new
        accept = first | ((actual > 0) & jnp.isfinite(f_new))
        gain = actual / jnp.where(s["predicted"] > 0, s["predicted"], 1.0)
        lam = jnp.where(accept, s["lam"] * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3), s["lam"] * s["nu"])
        lam = jnp.where(first, s["lam"], lam)                               # Nielsen's damping update
        nu = jnp.where(accept, 2.0, 2.0 * s["nu"])
        y = jnp.where(accept, s["trial"], s["y"])
        r = jnp.where(accept, r_new, s["r"])
        jac = jnp.where(accept, j_new, s["jac"])
        f = jnp.where(accept, f_new, s["f"])
        step, predicted, g = propose(r, jac, lam)
        f_old = s["f"]
        small_f = ~first & accept & (actual <= ftol * f_old) & (s["predicted"] <= ftol * f_old)
        small_x = ~first & (jnp.sqrt(s["step"] @ s["step"]) <= xtol * (jnp.sqrt(y @ y) + xtol))
        small_g = jnp.max(jnp.abs(g)) <= gtol
        conv = small_f | small_x | small_g | (f <= 1e-24)
        it = s["it"] + 1
        done = conv | (it > max_iter) | ~jnp.isfinite(lam) | (lam > 1e30)
        return dict(y=y, r=r, jac=jac, f=f, trial=y + step, step=step, predicted=predicted, lam=lam, nu=nu, it=it,
                    done=done, conv=conv)

    state = lax.while_loop(lambda s: ~s["done"], body, init)
    return state["y"], state["f"], state["it"] - 1, state["conv"]
