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
The paths come from ``calibrator.stress.simulate_from_fit`` (also the stress-scenario generator).

``portfolio_var`` does the same for a portfolio of the fitted series (constant conditional
correlation; simulated shocks move together as the series' residuals did).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ._validation import check_time_order, is_whole, refuse_tail_probabilities
from .fit_result import GarchFit
from pricer._stacklevel import user_stacklevel

__all__ = ["normal_var_cvar", "t_var_cvar", "empirical_var_cvar", "garch_var", "portfolio_var",
           "standardised_residuals", "VAR_METHODS"]

VAR_METHODS = ("parametric", "fhs", "mc")


def _levels(level) -> np.ndarray:
    lv = np.asarray(level, dtype=float)
    if lv.size == 0 or not np.all((lv > 0) & (lv < 1)):
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.99), got {level!r}")
    refuse_tail_probabilities(lv, "level", level)
    return lv


def normal_var_cvar(sigma, level, mean=0.0):
    """(VaR, CVaR) of a normal return with standard deviation ``sigma`` and mean ``mean``, as losses.

    VaR = -mean + sigma z_level, CVaR = -mean + sigma phi(z_level) / (1 - level). Arrays broadcast."""
    lv = _levels(level)
    z = stats.norm.ppf(lv)
    sigma = np.asarray(sigma, dtype=float)
    return -np.asarray(mean) + sigma * z, -np.asarray(mean) + sigma * stats.norm.pdf(z) / (1.0 - lv)


def t_var_cvar(sigma, level, nu, mean=0.0):
    """(VaR, CVaR) of mean + sigma z with z a Student-t(nu) rescaled to unit variance (nu > 2; inf: normal), as losses.

    With t_p the t(nu) quantile: VaR = -mean + sigma s t_p and CVaR = -mean + sigma s f(t_p) (nu + t_p^2) /
    ((nu - 1)(1 - p)), s = sqrt((nu - 2) / nu). Arrays broadcast."""
    lv = _levels(level)
    nu = np.asarray(nu, dtype=float)
    if not np.all(nu > 2):
        raise ValueError(f"nu must be > 2 for a unit-variance Student-t, got {nu!r}")
    infinite = np.isposinf(nu)   # the normal limit (a normal fit's nu is stored as inf)
    finite_nu = np.where(infinite, 30.0, nu)
    scale = np.sqrt((finite_nu - 2.0) / finite_nu)
    tq = stats.t.ppf(lv, finite_nu)
    shortfall = stats.t.pdf(tq, finite_nu) * (finite_nu + tq * tq) / ((finite_nu - 1.0) * (1.0 - lv))
    zq = stats.norm.ppf(lv)
    quantile = np.where(infinite, zq, scale * tq)
    shortfall = np.where(infinite, stats.norm.pdf(zq) / (1.0 - lv), scale * shortfall)
    sigma = np.asarray(sigma, dtype=float)
    return -np.asarray(mean) + sigma * quantile, -np.asarray(mean) + sigma * shortfall


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


def check_same_columns(fit: GarchFit, returns) -> None:
    """A DataFrame of returns must have the fit's columns in the fit's order: reordered columns have the
    right shape and pair each series' residuals with another series' variances (a 99% VaR of 2.44 for 1.70)."""
    if isinstance(returns, pd.DataFrame) and list(returns.columns) != list(fit.names):
        raise ValueError(f"returns has columns {list(returns.columns)} but the fit was made on {list(fit.names)}")
    if isinstance(returns, (pd.DataFrame, pd.Series)):
        check_time_order(returns.index, "returns")


def standardised_residuals(fit: GarchFit, returns) -> np.ndarray:
    """(returns - mu) / sqrt(h_t) of a fit on ``returns`` (the same data): shape (T,) or (T, N)."""
    check_same_columns(fit, returns)
    r = np.asarray(returns, dtype=float)
    h = np.asarray(fit.conditional_variance, dtype=float)
    if r.shape != h.shape:
        raise ValueError(f"returns have shape {r.shape} but the fit's conditional variance has shape {h.shape}; "
                         f"pass the returns the fit was made on")
    z = (r - np.asarray(fit.mu, dtype=float)) / np.sqrt(h)
    _check_scale(z, fit)
    return z


#: the mean square of standardised residuals on the fit's own data is about 1 (the likelihood's score);
#: returns in other units (decimals for a percent fit: 1e-4) fall far outside this band
RESIDUAL_MEAN_SQUARE_BAND = (1 / 25, 25.0)


def _check_scale(z: np.ndarray, fit: GarchFit) -> None:
    squares = np.where(np.isfinite(z), z * z, np.nan)
    squares = squares[:, None] if squares.ndim == 1 else squares
    counts = np.sum(np.isfinite(squares), axis=0)
    with np.errstate(invalid="ignore"):
        mean_square = np.nansum(squares, axis=0) / np.maximum(counts, 1)
    low, high = RESIDUAL_MEAN_SQUARE_BAND
    off = (counts > 0) & ~((mean_square > low) & (mean_square < high))
    if np.any(off):
        k = int(np.argmax(off))
        name = list(fit.names)[k] if len(list(fit.names)) > k else k
        raise ValueError(f"returns: the standardised residuals of series {name!r} have mean square "
                         f"{mean_square[k]:.3g} (about 1 on the data the fit was made on): pass that data, in the "
                         f"fit's units ({'percent' if fit.percent else 'decimals'})")


def _check_horizons(horizons) -> np.ndarray:
    hs = np.atleast_1d(np.asarray(horizons)) if horizons is not None else np.asarray([], dtype=object)
    if hs.dtype.kind not in "iuf" or hs.ndim != 1 or hs.size == 0 or not np.all(hs == np.round(hs)) \
            or np.any(hs < 1):
        raise ValueError(f"horizons must be positive integers (periods), got {horizons!r}")
    return hs.astype(int)


def garch_var(fit: GarchFit, *, levels=(0.95, 0.99), horizons=(1, 10), method: str = "parametric",
              returns=None, n_paths: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """VaR and CVaR after the end of the fitted sample, for every series, level and horizon.

    fit: a ``GarchFit`` (one series or a batch, MLE or neural). method: "parametric", "fhs" (needs
    ``returns``: the data the fit was made on) or "mc". n_paths, seed: simulated paths per series and
    the seed, for "fhs" and "mc" (same seed, same numbers).

    Returns a DataFrame with columns series, horizon, level, method, var, cvar (losses in the units of
    the returns), status and error (the series' fit's: "ok" | "not_converged" | "error", and its text;
    a failed series' var and cvar are NaN), one row per (series, horizon, level).
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
        if fit.dist == "t":   # a failed column's nu is NaN: any valid stand-in, its rows are NaN below
            nu = np.where(status != "error", fit._vec("nu"), 10.0)[:, None, None]
            var, cvar = t_var_cvar(sigma, lv, nu, mean[..., None])
        else:
            var, cvar = normal_var_cvar(sigma, lv, mean[..., None])            # (N, H, L)
    else:
        from .stress import simulate_from_fit
        _check_paths(n_paths)
        paths = simulate_from_fit(fit, horizon=int(hs.max()), n_paths=n_paths, method=method, returns=returns,
                                  correlated=False, seed=seed)
        with np.errstate(invalid="ignore"):   # a failed column's paths are NaN; its rows are NaN below
            var, cvar = empirical_var_cvar(paths.cumulative[hs - 1], lv, axis=-1)    # (L, H, N)
        var, cvar = np.transpose(var, (2, 1, 0)), np.transpose(cvar, (2, 1, 0))
    errors = np.atleast_1d(np.asarray(fit.error, dtype=object))
    rows = []
    for i, name in enumerate(fit.names):
        for j, h in enumerate(hs):
            for k, level in enumerate(lv):
                bad = status[i] == "error"
                rows.append({"series": name, "horizon": int(h), "level": float(level), "method": method,
                             "var": np.nan if bad else float(var[i, j, k]),
                             "cvar": np.nan if bad else float(cvar[i, j, k]),
                             "status": str(status[i]), "error": str(errors[i] or "")})
    return pd.DataFrame(rows)


def _check_paths(n_paths) -> None:
    if not is_whole(n_paths) or int(n_paths) < 100:
        raise ValueError(f"n_paths must be an integer >= 100 for a simulated VaR, got {n_paths!r}")


def portfolio_var(fit: GarchFit, returns, weights, *, levels=(0.95, 0.99), horizons=(1, 10),
                  method: str = "parametric", n_paths: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """VaR and CVaR of a portfolio of the fitted series after the end of the sample.

    fit: a batch ``GarchFit`` (one column per asset, same dates); returns: the (T, N) data it was made on;
    weights: (N,) fractions of wealth; or a dict or Series keyed by the fit's names, where an asset left out
    is not held (weight 0) and a name the fit does not have is refused.
    method: "parametric": variance w' S_H w, S_H the constant-conditional-correlation covariance of the
        H-period return (``calibrator.portfolio.ccc_covariance``), mean H w' mu, loss -sum_j w_j R_j
        (first order in the returns); the law is normal, or for a Student-t fit a unit-variance t with
        the smallest nu of the held assets (exact for one asset, conservative for a mix); "fhs" / "mc": joint GARCH paths (whole days of
        residuals, or correlated draws from the fit's law), loss -sum_j w_j (exp(R_j) - 1) of the
        buy-and-hold portfolio over the horizon (exact), R_j the asset's H-period log return.
    Losses in the units of the returns (percent of wealth for a percent fit). Returns a DataFrame with
    columns horizon, level, method, var, cvar.
    """
    if not isinstance(fit, GarchFit) or fit.single:
        raise ValueError("fit must be a batch GarchFit (fit_garch on a 2-D array or DataFrame, one column per asset)")
    if method not in VAR_METHODS:
        raise ValueError(f"method={method!r} is not supported; choose one of {', '.join(map(repr, VAR_METHODS))}")
    if returns is None:
        raise ValueError("returns= (the (T, N) data the fit was made on) is needed: the portfolio's risk uses the "
                         "assets' correlation")
    w = _portfolio_weights(weights, list(fit.names))
    lv = np.atleast_1d(_levels(levels))
    hs = _check_horizons(horizons)
    if method == "parametric":
        from .portfolio import ccc_covariance
        mean = float(np.atleast_1d(np.asarray(fit.mu, dtype=float)) @ w)
        sigma = np.array([np.sqrt(w @ ccc_covariance(fit, returns, horizon=int(h)).covariance @ w) for h in hs])
        if fit.dist == "t":
            # the sum of Student-t returns is not Student-t: take the fattest tail among the held assets
            # (exact for a single asset, conservative for a mix); "mc" simulates the mix exactly
            nu = float(np.min(fit._vec("nu")[w != 0])) if np.any(w != 0) else 30.0
            var, cvar = t_var_cvar(sigma[:, None], lv, nu, (mean * hs)[:, None])       # (H, L)
        else:
            var, cvar = normal_var_cvar(sigma[:, None], lv, (mean * hs)[:, None])    # (H, L)
    else:
        from .stress import simulate_from_fit
        _check_paths(n_paths)
        paths = simulate_from_fit(fit, horizon=int(hs.max()), n_paths=n_paths, method=method, returns=returns,
                                  correlated=True, seed=seed)
        scale = 100.0 if fit.percent else 1.0
        growth = np.expm1(paths.cumulative[hs - 1] / scale) * scale                       # (H, N, P)
        var, cvar = empirical_var_cvar(np.einsum("n,hnp->hp", w, growth), lv, axis=-1)  # (L, H)
        var, cvar = var.T, cvar.T
    return pd.DataFrame([{"horizon": int(h), "level": float(level), "method": method, "var": float(var[j, k]),
                          "cvar": float(cvar[j, k])} for j, h in enumerate(hs) for k, level in enumerate(lv)])


def _portfolio_weights(weights, names: list) -> np.ndarray:
    if isinstance(weights, (dict, pd.Series)):
        # matched by their text: a fit on an array has names 0, 1, 2 and weights read from a file "0", "1",
        # "2" (looked up as given, every weight came out 0 and so did the VaR)
        by_text = {}
        for key, value in dict(weights).items():
            if str(key) in by_text:
                raise ValueError(f"weights name asset {str(key)!r} twice (as {key!r} and as another type)")
            by_text[str(key)] = value
        unknown = sorted(set(by_text) - set(map(str, names)))
        if unknown:
            raise ValueError(f"weights name assets the fit does not have: {unknown} (the fit has {names})")
        weights = [by_text.get(str(name), 0.0) for name in names]   # an asset left out is not held
    try:
        w = np.asarray(weights, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"weights must be numbers (fractions of wealth), got {weights!r}") from None
    if w.shape != (len(names),):
        raise ValueError(f"weights must have one entry per asset ({len(names)}: {names}), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be finite, got {w.tolist()}")
    gross = float(np.abs(w).sum())
    if gross > MAX_GROSS_LEVERAGE:
        # a long-short book may sum to anything, but 50/50 given for 0.5/0.5 is a 100-fold VaR
        warnings.warn(f"weights have gross exposure {gross:g} (sum of |w|): they are fractions of wealth, so this is "
                      f"{gross:g}x leverage; were they given in percent?", UserWarning, stacklevel=user_stacklevel())
    return w


#: gross exposure sum(|w|) beyond which portfolio_var warns that the weights may be percentages
MAX_GROSS_LEVERAGE = 10.0
