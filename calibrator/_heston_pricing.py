"""Heston implied vols of one surface by Fourier quadrature shared per expiry (calibrate_heston's pricing).

Lewis' form with a Black-Scholes control variate; the characteristic function is evaluated once per expiry
and node and shared by that expiry's strikes; see heston_fit.py's docstring (step 1) for the node counts and
the accuracy check. Shapes: M options, E expiries, N nodes; x = ln(F / K) per option, eidx its expiry index.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from pricer.analytic import _gauss_legendre, heston_characteristic_function

from .implied_vol import implied_total_vol_otm, normalised_black_log

SCAN_U = np.geomspace(0.25, 2.0e5, 64)  # where the integrand's size is probed to place U_e
SCAN_TOL = 1e-15                        # integrand level treated as zero


def _mean_variance(t, v0, kappa, theta):
    """E[int_0^t v ds] (the Black-Scholes control variate's total variance)."""
    return theta * t - (v0 - theta) * jnp.expm1(-kappa * t) / kappa


def _integrand(params, expiries, u):
    """Lewis integrand (psi_BS - psi)(1/2 + i u) / (u^2 + 1/4), complex, shape of u; expiries broadcast against u.

    xi = 0 is the deterministic-variance limit: log S_T is normal with the integrated variance, so psi is the
    control variate's psi_BS and the integrand is exactly 0 (the price is Black-Scholes with that variance). The
    characteristic function divides by xi^2 there, so it is evaluated at xi = 1 and discarded (no NaN in either
    branch, so no NaN in a derivative either)."""
    v0, kappa, theta, xi, rho = params
    var = _mean_variance(expiries, v0, kappa, theta)
    deterministic = xi == 0
    psi = heston_characteristic_function(u - 0.5j, 0.0, expiries, v0, kappa, theta, jnp.where(deterministic, 1.0, xi),
                                         rho, 0.0, 0.0)
    q = u * u + 0.25
    return jnp.where(deterministic, 0.0, (jnp.exp(-0.5 * var * q) - psi) / q)


def _upper_limits(params, expiries):
    """U_e (E,): the first scan point past the last one where |integrand| > SCAN_TOL, for one surface."""
    scan = jnp.asarray(SCAN_U, expiries.dtype)
    g = jnp.abs(_integrand(params, expiries[:, None], scan[None, :]))
    big = g > SCAN_TOL
    last = jnp.max(jnp.where(big, jnp.arange(scan.shape[0]), -1), axis=1)
    return scan[jnp.minimum(last + 1, scan.shape[0] - 1)]


#: above this many nodes the rule is composite: panels of this many Gauss-Legendre nodes (computing one rule of
#: 131,072 nodes by Newton on the recurrence costs O(N^2): minutes; the panels resolve the oscillation as well)
PANEL_NODES = 8192


@functools.lru_cache(maxsize=None)
def _rule(n_nodes: int):
    """Gauss-Legendre nodes and weights on [0, 1]: one rule up to PANEL_NODES, else equal panels of it."""
    if n_nodes <= PANEL_NODES:
        return _gauss_legendre(n_nodes)
    panels = -(-n_nodes // PANEL_NODES)
    nodes, weights = _gauss_legendre(PANEL_NODES)
    start = np.arange(panels)[:, None] / panels
    return (start + nodes[None, :] / panels).ravel(), np.tile(weights / panels, panels)


def _quadrature(upper, data_x, data_eidx, n_nodes: int):
    """Nodes u (E, N) and strike weights w cos(u x), w sin(u x) (M, N) for one surface."""
    nodes, weights = _rule(n_nodes)
    dtype = upper.dtype
    u = upper[:, None] * jnp.asarray(nodes, dtype)[None, :]
    w = upper[:, None] * jnp.asarray(weights, dtype)[None, :]
    ue, we = u[data_eidx], w[data_eidx]
    phase = ue * data_x[:, None]
    return {"u": u, "wcos": we * jnp.cos(phase), "wsin": we * jnp.sin(phase)}


def _model_beta(params, x, eidx, expiries, quad):
    """Normalised OTM Heston prices beta = price / (discount sqrt(F K)) (M,) of one surface: the call for K >= F,
    the put otherwise (their Fourier correction is the same; only the Black part differs)."""
    v0, kappa, theta, xi, rho = params
    g = _integrand(params, expiries[:, None], quad["u"])          # (E, N): one CF evaluation per expiry and node
    # rows of g for each option by a one-hot product, not g[eidx]: XLA fuses a gather with its producer and would
    # re-evaluate the characteristic function once per *option* (8x slower on the DAX surface)
    pick = jax.nn.one_hot(eidx, expiries.shape[0], dtype=quad["wcos"].dtype)   # (M, E)
    integral = jnp.sum(quad["wcos"] * (pick @ g.real) - quad["wsin"] * (pick @ g.imag), axis=1)
    var = _mean_variance(expiries[eidx], v0, kappa, theta)
    return jnp.exp(normalised_black_log(-jnp.abs(x), jnp.sqrt(var))) + integral / jnp.pi


def _model_vols(params, x, eidx, expiries, quad):
    """Model implied vols (M,) of one surface: normalised OTM Heston prices -> implied vol."""
    return _vols_from_beta(_model_beta(params, x, eidx, expiries, quad), x, eidx, expiries)


def _vols_from_beta(beta, x, eidx, expiries):
    x_otm = -jnp.abs(x)
    upper = jnp.exp(0.5 * x_otm)
    beta = jnp.clip(beta, upper * 1e-300, upper * (1.0 - 1e-15))   # outside: no vol exists; keep it finite
    return implied_total_vol_otm(x_otm, jnp.log(beta)) / jnp.sqrt(expiries[eidx])
