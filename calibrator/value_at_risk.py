"""Value at risk and expected shortfall (CVaR) from GARCH fits: parametric, filtered historical
simulation and Monte Carlo, for one series or a batch.

Conventions: returns are log returns; VaR and CVaR are *losses*, positive numbers in the units of the
returns (percent when the fit was made with ``percent=True``). At level 0.99, VaR is the loss exceeded
with probability 1%, and CVaR the mean loss given that it is exceeded (expected shortfall).

Horizons are in periods (days for daily data). The H-day return is the sum of H daily log returns:

* ``parametric``: mean H mu and variance sum_{k=1..H} E h_{T+k} (``GarchFit.forecast``), with the fit's
  innovation law (normal, or unit-variance Student-t(nu)). Exact for H = 1; for H > 1 it keeps the
  variance but not the fatter tails GARCH builds over several days (the Monte Carlo methods do);
* ``fhs`` (filtered historical simulation, Barone-Adesi et al. 1999): GARCH paths from the end of the
  sample whose shocks are resampled from the fit's own standardised residuals;
* ``mc``: the same paths with shocks drawn from the fit's innovation law.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import stats

from .fit_result import GarchFit
from .simulate import _innovations, garch_paths

__all__ = ["normal_var_cvar", "t_var_cvar", "empirical_var_cvar", "garch_var", "standardised_residuals",
           "VAR_METHODS"]

VAR_METHODS = ("parametric", "fhs", "mc")


def _levels(level) -> np.ndarray:
    lv = np.asarray(level, dtype=float)
    if lv.size == 0 or not np.all((lv > 0) & (lv < 1)):
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.99), got {level!r}")
    return lv


def normal_var_cvar(sigma, level, mean=0.0):
    """(VaR, CVaR) of a normal return with standard deviation ``sigma`` and mean ``mean``, as losses.

    VaR = -mean + sigma z_level, CVaR = -mean + sigma phi(z_level) / (1 - level). Arrays broadcast."""
    lv = _levels(level)
    z = stats.norm.ppf(lv)
    sigma = np.asarray(sigma, dtype=float)
    return -np.asarray(mean) + sigma * z, -np.asarray(mean) + sigma * stats.norm.pdf(z) / (1.0 - lv)


def t_var_cvar(sigma, level, nu, mean=0.0):
    """(VaR, CVaR) of mean + sigma z with z a Student-t(nu) rescaled to unit variance (nu > 2), as losses.

    With t_p the t(nu) quantile: VaR = -mean + sigma s t_p and CVaR = -mean + sigma s f(t_p) (nu + t_p^2) /
    ((nu - 1)(1 - p)), s = sqrt((nu - 2) / nu). Arrays broadcast."""
    lv = _levels(level)
    nu = np.asarray(nu, dtype=float)
    if not np.all(nu > 2):
        raise ValueError(f"nu must be > 2 for a unit-variance Student-t, got {nu!r}")
    scale = np.sqrt((nu - 2.0) / nu)
    tq = stats.t.ppf(lv, nu)
    shortfall = stats.t.pdf(tq, nu) * (nu + tq * tq) / ((nu - 1.0) * (1.0 - lv))
    sigma = np.asarray(sigma, dtype=float)
    return -np.asarray(mean) + sigma * scale * tq, -np.asarray(mean) + sigma * scale * shortfall


def empirical_var_cvar(returns, level, axis=0):
    """(VaR, CVaR) of a sample of returns along ``axis``: the ``level`` quantile of the losses, and the
    mean of the losses at or beyond it. One value per level (levels first) and per other index."""
    lv = np.atleast_1d(_levels(level))
    losses = -np.moveaxis(np.asarray(returns, dtype=float), axis, 0)
    if losses.shape[0] < 2:
        raise ValueError("an empirical VaR needs at least two returns")
    var = np.quantile(losses, lv, axis=0)   # (levels, ...)
    tail = losses[None] >= var[:, None]
    cvar = np.sum(np.where(tail, losses[None], 0.0), axis=1) / np.sum(tail, axis=1)
    if np.ndim(level) == 0:
        return var[0], cvar[0]
    return var, cvar


def standardised_residuals(fit: GarchFit, returns) -> np.ndarray:
    """(returns - mu) / sqrt(h_t) of a fit on ``returns`` (the same data): shape (T,) or (T, N)."""
    r = np.asarray(returns, dtype=float)
    h = np.asarray(fit.conditional_variance, dtype=float)
    if r.shape != h.shape:
        raise ValueError(f"returns have shape {r.shape} but the fit's conditional variance has shape {h.shape}; "
                         f"pass the returns the fit was made on")
    return (r - np.asarray(fit.mu, dtype=float)) / np.sqrt(h)


def _check_horizons(horizons) -> np.ndarray:
    hs = np.atleast_1d(np.asarray(horizons))
    if hs.ndim != 1 or hs.size == 0 or not np.all(hs == np.round(hs)) or np.any(hs < 1):
        raise ValueError(f"horizons must be positive integers (periods), got {horizons!r}")
    return hs.astype(int)


def _simulated_sums(fit: GarchFit, horizon: int, n_paths: int, key, shocks_of) -> np.ndarray:
    """Cumulative returns (horizon, N, n_paths) of GARCH paths from the end of the sample."""
    n = len(fit.names)
    h_next = np.atleast_2d(fit.forecast(1))[:, 0]   # h_T, known at the end of the sample
    rep = lambda name: np.repeat(fit._vec(name), n_paths)   # noqa: E731 - series-major paths
    z = shocks_of(key, (horizon, n * n_paths))
    sim = garch_paths(z, omega=rep("omega"), alpha=rep("alpha"), beta=rep("beta"), gamma=rep("gamma"),
                      mu=np.repeat(np.atleast_1d(np.asarray(fit.mu, dtype=float)), n_paths),
                      h0=np.repeat(h_next, n_paths))
    return np.cumsum(np.asarray(sim.returns, dtype=float), axis=0).reshape(horizon, n, n_paths)


def garch_var(fit: GarchFit, *, levels=(0.95, 0.99), horizons=(1, 10), method: str = "parametric",
              returns=None, n_paths: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """VaR and CVaR after the end of the fitted sample, for every series, level and horizon.

    fit: a ``GarchFit`` (one series or a batch, MLE or neural). method: "parametric", "fhs" (needs
    ``returns``: the data the fit was made on) or "mc". n_paths, seed: simulated paths per series and
    the seed, for "fhs" and "mc" (same seed, same numbers).

    Returns a DataFrame with columns series, horizon, level, method, var, cvar (losses in the units of
    the returns), one row per (series, horizon, level).
    """
    if not isinstance(fit, GarchFit):
        raise ValueError(f"fit must be a GarchFit (from calibrator.fit_garch), got {type(fit).__name__}")
    if method not in VAR_METHODS:
        raise ValueError(f"method={method!r} is not supported; choose one of {', '.join(map(repr, VAR_METHODS))}")
    lv = np.atleast_1d(_levels(levels))
    hs = _check_horizons(horizons)
    status = np.atleast_1d(np.asarray(fit.status))
    if method == "parametric":
        path = np.atleast_2d(fit.forecast(int(hs.max())))
        variance = np.cumsum(path, axis=1)[:, hs - 1]                       # (N, H)
        mean = np.atleast_1d(np.asarray(fit.mu, dtype=float))[:, None] * hs  # (N, H)
        sigma = np.sqrt(variance)[..., None]
        if fit.dist == "t":
            nu = fit._vec("nu")[:, None, None]
            var, cvar = t_var_cvar(sigma, lv, nu, mean[..., None])
        else:
            var, cvar = normal_var_cvar(sigma, lv, mean[..., None])            # (N, H, L)
    else:
        n_paths = int(n_paths)
        if n_paths < 100:
            raise ValueError(f"n_paths must be at least 100 for a simulated VaR, got {n_paths}")
        key = jax.random.key(int(seed))
        dtype = jnp.zeros(()).dtype
        if method == "fhs":
            if returns is None:
                raise ValueError("method='fhs' needs returns=: the data the fit was made on")
            z = np.atleast_2d(standardised_residuals(fit, returns).T).T      # (T, N)
            z = np.where(np.isfinite(z), z, np.nan)
            pool = jnp.asarray(z, dtype)
            n = pool.shape[1]

            def shocks_of(k, shape):
                picks = jax.random.randint(k, (shape[0], n, n_paths), 0, pool.shape[0])
                return pool[picks, jnp.arange(n)[None, :, None]].reshape(shape)
        else:
            nu = np.repeat(fit._vec("nu"), n_paths) if fit.dist == "t" else None

            def shocks_of(k, shape):
                return _innovations(k, shape, None if nu is None else jnp.asarray(nu, dtype), dtype)
        sums = _simulated_sums(fit, int(hs.max()), n_paths, key, shocks_of)   # (Hmax, N, P)
        var, cvar = empirical_var_cvar(sums[hs - 1], lv, axis=-1)             # (L, H, N)
        var, cvar = np.transpose(var, (2, 1, 0)), np.transpose(cvar, (2, 1, 0))
    rows = []
    for i, name in enumerate(fit.names):
        for j, h in enumerate(hs):
            for k, level in enumerate(lv):
                bad = status[i] == "error"
                rows.append({"series": name, "horizon": int(h), "level": float(level), "method": method,
                             "var": np.nan if bad else float(var[i, j, k]),
                             "cvar": np.nan if bad else float(cvar[i, j, k])})
    return pd.DataFrame(rows)
