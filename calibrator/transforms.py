"""Unconstrained coordinates for the optimiser, and the grid of starting values.

theta (a 1-D vector, one series) maps onto natural parameters that always satisfy arch's constraints:

    omega > 0                       omega = exp(theta_omega)
    0 < persistence < 1             persistence = alpha + gamma/2 + beta = sigmoid(theta_p)
    alpha >= 0, alpha + gamma >= 0, beta >= 0, shares of the persistence on the unit sphere:
        GARCH: alpha = p sin^2(s),  beta = p cos^2(s)
        GJR:   alpha/2 = p sin^2(s1) cos^2(s2),  (alpha+gamma)/2 = p sin^2(s1) sin^2(s2),  beta = p cos^2(s1)
    2.05 <= nu <= 500 (arch's bounds)   1/nu = 1/500 + (1/2.05 - 1/500) sin^2(theta_nu)

Layout: [mu] theta_omega theta_p s (1 or 2) [theta_nu]. mu is left free.

Why squared sines rather than logits for the shares: a boundary optimum (alpha = 0 is common for GJR on
equity returns; nu = 500 for near-normal data) then sits at a finite theta where f is locally
quadratic, so Newton converges in a few steps instead of creeping towards -infinity one unit of logit
per iteration. The GJR map treats positive-news (alpha) and negative-news (alpha + gamma) responses
symmetrically, so gamma may be negative down to -alpha: exactly arch's feasible set. Persistence keeps
a logit: it stays strictly below 1.
"""
from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from .garch import GarchParams, GarchSpec

NU_MIN, NU_MAX = 2.05, 500.0
_ETA_LO, _ETA_HI = 1.0 / NU_MAX, 1.0 / NU_MIN
_TINY = 1e-12


def n_theta(spec: GarchSpec) -> int:
    return spec.n_params


def theta_to_params(spec: GarchSpec, theta) -> GarchParams:
    """Natural parameters from unconstrained ``theta`` (1-D, length ``spec.n_params``)."""
    i = 0
    zero = jnp.zeros_like(theta[0])
    mu = zero
    if spec.mean == "constant":
        mu = theta[0]
        i = 1
    omega = jnp.exp(theta[i])
    pers = jax.nn.sigmoid(theta[i + 1])
    i += 2
    if spec.vol == "gjr":
        news = pers * jnp.sin(theta[i]) ** 2
        alpha = 2.0 * news * jnp.cos(theta[i + 1]) ** 2
        gamma = -2.0 * news * jnp.cos(2.0 * theta[i + 1])
        beta = pers * jnp.cos(theta[i]) ** 2
        i += 2
    else:
        alpha = pers * jnp.sin(theta[i]) ** 2
        beta = pers * jnp.cos(theta[i]) ** 2
        gamma = zero
        i += 1
    nu = zero + jnp.inf
    if spec.dist == "t":
        eta = _ETA_LO + (_ETA_HI - _ETA_LO) * jnp.sin(theta[i]) ** 2
        nu = 1.0 / eta
    return GarchParams(mu=mu, omega=omega, alpha=alpha, gamma=gamma, beta=beta, nu=nu)


# open bounds that theta can only approach at infinity: there the optimiser holds the coordinate fixed
PERSISTENCE_FREEZE = 1.0 - 1e-7     # persistence this close to 1 counts as "at the bound"
OMEGA_FREEZE = 1e-9                 # omega / variance of the (standardised) series this small likewise


def at_open_bound(spec: GarchSpec, theta, grad):
    """bool mask (k,): coordinates at an open bound (persistence -> 1, omega -> 0) whose gradient still
    points outwards. minimize_newton holds them fixed, so a supremum on the boundary converges."""
    i = 1 if spec.mean == "constant" else 0
    k = theta.shape[0]
    idx = jnp.arange(k)
    omega_out = (theta[i] < np.log(OMEGA_FREEZE)) & (grad[i] > 0)
    pers_out = (theta[i + 1] > _logit(PERSISTENCE_FREEZE)) & (grad[i + 1] < 0)
    return ((idx == i) & omega_out) | ((idx == i + 1) & pers_out)


def _logit(p):
    p = np.clip(p, _TINY, 1.0 - 1e-15)
    return np.log(p) - np.log1p(-p)


def params_to_theta(spec: GarchSpec, mu, omega, alpha, gamma, beta, nu) -> np.ndarray:
    """Inverse map (numpy, for starting values). Points on the boundary are nudged inside."""
    alpha = max(float(alpha), _TINY)
    beta = max(float(beta), _TINY)
    gamma = float(gamma) if spec.vol == "gjr" else 0.0
    gamma = max(gamma, -alpha + _TINY)
    pers = alpha + 0.5 * gamma + beta
    pers = min(pers, 1.0 - 1e-9)
    theta = [float(mu)] if spec.mean == "constant" else []
    theta += [np.log(max(float(omega), _TINY)), _logit(pers)]
    if spec.vol == "gjr":
        up, down = alpha / 2.0, max((alpha + gamma) / 2.0, 0.0)
        theta += [np.arccos(np.sqrt(min(beta / pers, 1.0))), np.arctan2(np.sqrt(down), np.sqrt(up))]
    else:
        theta += [np.arcsin(np.sqrt(min(alpha / pers, 1.0)))]
    if spec.dist == "t":
        nu = min(max(float(nu), NU_MIN), NU_MAX)
        share = (1.0 / nu - _ETA_LO) / (_ETA_HI - _ETA_LO)
        theta += [np.arcsin(np.sqrt(min(max(share, 0.0), 1.0)))]
    return np.asarray(theta, dtype=float)


def starting_grid(spec: GarchSpec) -> np.ndarray:
    """Starting values in theta coordinates, shape (G, n_params), for STANDARDISED data (unit variance,
    sample mean removed): mu = 0, unconditional variance 1, a small grid over persistence and the news
    coefficients (like arch's grid), nu in {6, 12} for t. The optimiser starts from the best of them."""
    persistences = (0.90, 0.97, 0.995)
    if spec.vol == "gjr":
        news = ((0.05, 0.0), (0.10, 0.0), (0.02, 0.10), (0.01, 0.15))  # (alpha, gamma)
    else:
        news = ((0.03, 0.0), (0.07, 0.0), (0.15, 0.0))
    nus = (6.0, 12.0) if spec.dist == "t" else (np.inf,)
    rows = []
    for pers, (alpha, gamma), nu in itertools.product(persistences, news, nus):
        beta = pers - alpha - 0.5 * gamma
        omega = 1.0 - pers
        rows.append(params_to_theta(spec, 0.0, omega, alpha, gamma, beta, nu))
    return np.stack(rows)
