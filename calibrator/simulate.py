"""Simulate GARCH(1,1) / GJR(1,1,1) return paths in JAX: batched, seeded, normal or Student-t.

Used as the training-data generator for a neural calibrator (one parameter set per path) and for
stress paths and Monte Carlo VaR in risk (``garch_paths`` runs the same recursion on shocks you give:
bootstrapped residuals for filtered historical simulation, parameters that change over time for regime
shifts). Same model and units as garch.py:

    r_t = mu + e_t,   e_t = sqrt(h_t) z_t,   h_{t+1} = omega + (alpha + gamma 1{e_t < 0}) e_t^2 + beta h_t
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from pricer import compile_budget

from .garch import _step_variance

__all__ = ["simulate", "Simulation", "garch_paths"]


class Simulation(NamedTuple):
    """returns: (n_obs, n_paths) simulated returns, one path per column (feed straight to fit_garch).
    conditional_variance: (n_obs, n_paths), h_t = Var(r_t | past), units of returns squared."""

    returns: jax.Array
    conditional_variance: jax.Array


def _innovations(key, shape, nu, dtype, some_infinite: bool = False):
    """Unit-variance shocks: standard normal, or Student-t(nu) * sqrt((nu - 2) / nu) where nu is finite.
    ``some_infinite`` (static): nu = inf on some paths, which get the normal shocks (its limit)."""
    z = jax.random.normal(key, shape, dtype)
    if nu is None:
        return z
    infinite = jnp.isinf(nu)
    finite_nu = jnp.where(infinite, 30.0, nu) if some_infinite else nu
    t = jax.random.t(key, finite_nu, shape, dtype) * jnp.sqrt((finite_nu - 2.0) / finite_nu)
    return jnp.where(infinite, z, t) if some_infinite else t


def _recursion(z, mu, omega, alpha, gamma, beta, h0):
    """Returns and variances (T, N) from unit shocks z (T, N) and h0 (N,). A parameter of shape (N,)
    holds for every step; one of shape (T, N) is read step by step (scanned with the shocks)."""
    params = (mu, omega, alpha, gamma, beta)
    varying = tuple(jnp.ndim(x) == 2 for x in params)

    def step(h, inputs):
        z_t, stepwise = inputs
        it = iter(stepwise)
        m, w, a, g, b = (next(it) if v else x for x, v in zip(params, varying))
        e = jnp.sqrt(h) * z_t
        return _step_variance(h, e, w, a, g, b), (m + e, h)

    _, (r, h) = lax.scan(step, h0, (z, tuple(x for x, v in zip(params, varying) if v)))
    return r, h


@partial(compile_budget.jit, static_argnames=("n_obs", "n_paths", "burn", "student", "some_infinite"))
def _simulate(key, mu, omega, alpha, gamma, beta, nu, h0, *, n_obs, n_paths, burn, student, some_infinite=False):
    dtype = omega.dtype
    z = _innovations(key, (n_obs + burn, n_paths), nu if student else None, dtype, some_infinite)
    r, h = _recursion(z, mu, omega, alpha, gamma, beta, h0)
    return Simulation(r[burn:], h[burn:])


_recursion_jit = compile_budget.jit(_recursion)


def _check_parameters(p: dict) -> None:
    """omega > 0, alpha >= 0, beta >= 0, alpha + gamma >= 0 (and nu > 2 when given), element by element;
    ValueError naming the parameter and its first bad value."""
    checks = [("omega", p["omega"] > 0, "> 0"), ("alpha", p["alpha"] >= 0, ">= 0"), ("beta", p["beta"] >= 0, ">= 0"),
              ("gamma", p["alpha"] + p["gamma"] >= 0, ">= -alpha")]
    if "nu" in p:
        checks.append(("nu", p["nu"] > 2, "> 2"))
    for name, ok, req in checks:
        if not np.all(ok):
            bad = np.broadcast_to(p[name], np.shape(ok))[~np.asarray(ok)]
            raise ValueError(f"{name} must be {req}; got {bad[0]!r}")


def garch_paths(shocks, *, omega, alpha, beta, gamma=0.0, mu=0.0, h0) -> Simulation:
    """Run the GARCH/GJR recursion on given unit-variance shocks: r_t = mu + sqrt(h_t) z_t.

    shocks: (n_obs, n_paths) standardised innovations z_t (drawn, or resampled from a fit's standardised
        residuals for filtered historical simulation).
    omega, alpha, beta, gamma, mu: scalars, (n_paths,) arrays (one set per path), or (n_obs, n_paths)
        arrays read day by day: row t of mu is day t's mean; row t of omega, alpha, gamma, beta is the
        step from day t to day t + 1 (h_{t+1} = omega_t + (alpha_t + gamma_t 1{e_t < 0}) e_t^2 + beta_t h_t),
        so a regime that should drive day d's variance changes these rows from d - 1 on; omega in units
        of returns squared, mu in return units.
    h0: (scalar or (n_paths,)) the variance of the first return, h_0 = Var(r_0), units of returns squared.

    Returns ``Simulation(returns, conditional_variance)``, both (n_obs, n_paths), in the shocks' dtype.
    """
    z = jnp.asarray(shocks)
    if z.ndim != 2 or not jnp.issubdtype(z.dtype, jnp.floating):
        raise ValueError(f"shocks must be a float array of shape (n_obs, n_paths), got {z.dtype}{tuple(z.shape)}")
    n_obs, n_paths = z.shape
    named = {"mu": mu, "omega": omega, "alpha": alpha, "gamma": gamma, "beta": beta}
    arrays = {}
    for name, value in named.items():
        a = np.asarray(value, dtype=float)
        if a.ndim == 2 and a.shape != (n_obs, n_paths):
            raise ValueError(f"{name} has shape {a.shape}; a time-varying parameter must be (n_obs, n_paths) = "
                             f"{(n_obs, n_paths)}")
        if a.ndim > 2 or (a.ndim == 1 and a.shape != (n_paths,)):
            raise ValueError(f"{name} must be a scalar, ({n_paths},) or ({n_obs}, {n_paths}); got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite")
        arrays[name] = a if a.ndim == 2 else np.broadcast_to(a, (n_paths,))
    _check_parameters(arrays)
    start = np.asarray(h0, dtype=float)
    start = np.broadcast_to(start, (n_paths,)) if start.ndim == 0 else start
    if start.shape != (n_paths,) or not np.all(start > 0) or not np.all(np.isfinite(start)):
        raise ValueError(f"h0 must be a positive finite scalar or ({n_paths},) array")
    j = {k: jnp.asarray(v, z.dtype) for k, v in arrays.items()}
    r, h = _recursion_jit(z, j["mu"], j["omega"], j["alpha"], j["gamma"], j["beta"], jnp.asarray(start, z.dtype))
    return Simulation(r, h)


def simulate(key, n_obs: int, *, omega, alpha, beta, gamma=0.0, mu=0.0, nu=None, n_paths: int | None = None,
             burn: int = 500, h0=None, dtype=None) -> Simulation:
    """Simulate ``n_paths`` independent GARCH/GJR paths of ``n_obs`` returns.

    key: a ``jax.random`` key (or an int seed). Same key and arguments -> the same paths.
    omega, alpha, beta, gamma, mu: scalars, or arrays of shape (n_paths,) for one parameter set per path
        (e.g. neural-calibrator training data). omega, h0 in units of returns squared; mu in return units.
    nu: None for normal shocks, else Student-t degrees of freedom (> 2, inf for normal; scalar or (n_paths,)), shocks
        rescaled to unit variance.
    n_paths: number of paths; default: the length of the parameter arrays (1 if all are scalars).
    burn: periods simulated and dropped first so the start value is forgotten; h0: the variance at the
        start of the burn-in (default the unconditional variance omega / (1 - persistence)).
    dtype: default jnp's default float.

    Returns ``Simulation(returns, conditional_variance)``, both (n_obs, n_paths), one path per column.
    Persistence alpha + gamma/2 + beta must be < 1 unless h0 is given.
    """
    if not isinstance(key, jax.Array) or not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if isinstance(key, (int, np.integer)):
            key = jax.random.key(int(key))
        elif isinstance(key, jax.Array) and key.dtype == jnp.uint32:
            key = jax.random.wrap_key_data(key)
        else:
            raise ValueError(f"key must be a jax.random key or an int seed, got {type(key).__name__}")
    n_obs = int(n_obs)
    if n_obs < 1:
        raise ValueError(f"n_obs must be >= 1, got {n_obs}")
    burn = int(burn)
    if burn < 0:
        raise ValueError(f"burn must be >= 0, got {burn}")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    named = {"omega": omega, "alpha": alpha, "beta": beta, "gamma": gamma, "mu": mu}
    if nu is not None:
        named["nu"] = nu
    arrays = {k: np.asarray(v, dtype=float) for k, v in named.items()}
    sizes = {a.shape[0] for a in arrays.values() if a.ndim == 1}
    for k, a in arrays.items():
        if a.ndim > 1:
            raise ValueError(f"{k} must be a scalar or a 1-D array (one value per path), got shape {a.shape}")
    if len(sizes) > 1:
        raise ValueError(f"parameter arrays have different lengths {sorted(sizes)}; use one value per path")
    if n_paths is None:
        n_paths = sizes.pop() if sizes else 1
    n_paths = int(n_paths)
    if sizes and sizes != {n_paths}:
        raise ValueError(f"parameter arrays have length {sizes.pop()} but n_paths={n_paths}")
    p = {k: np.broadcast_to(a, (n_paths,)) for k, a in arrays.items()}
    _check_parameters(p)
    pers = p["alpha"] + 0.5 * p["gamma"] + p["beta"]
    if h0 is None:
        if np.any(pers >= 1):
            raise ValueError(f"alpha + gamma/2 + beta must be < 1 for the unconditional variance start; got "
                             f"{pers.max()!r} (pass h0 to simulate a non-stationary process)")
        h0 = p["omega"] / (1.0 - pers)
    h0 = np.broadcast_to(np.asarray(h0, dtype=float), (n_paths,))
    if np.any(~(h0 > 0)):
        raise ValueError("h0 must be > 0")
    j = {k: jnp.asarray(v, dtype) for k, v in p.items()}
    nu_j = j.get("nu", jnp.zeros(n_paths, dtype))
    # nu = inf is the normal limit (GarchParams stores a normal fit's nu so): all inf, normal shocks; some
    # inf, normal shocks on those paths (sqrt((nu - 2) / nu) is NaN there)
    infinite = np.isinf(p["nu"]) if "nu" in p else np.zeros(n_paths, bool)
    return _simulate(key, j["mu"], j["omega"], j["alpha"], j["gamma"], j["beta"], nu_j, jnp.asarray(h0, dtype),
                     n_obs=n_obs, n_paths=n_paths, burn=burn, student=nu is not None and not infinite.all(),
                     some_infinite=bool(infinite.any() and not infinite.all()))
