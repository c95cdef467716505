"""Rolling one-day-ahead value at risk: GARCH (MLE or neural) refitted on a trailing window, or
historical simulation, for every day after the first window. ``calibrator.var_backtest`` scores them.

Conventions (as in value_at_risk.py): returns are log returns, in percent when ``percent=True`` (the
scale the GARCH fits expect); VaR and CVaR are *losses*, positive numbers in the units of the returns.
At level 0.99 the VaR is the loss exceeded with probability 1%.

Rolling forecasts use only the ``window`` returns before the forecast day (no look-ahead):

* "mle" / "nn": a GARCH fit (``fit_garch``) on the trailing window every ``refit_every`` days, all the
  windows stacked as the columns of a few batched calls of one fixed shape (the last chunk padded, so
  nothing recompiles). The refit day's variance is the fit's one-step forecast ``forecast(1)[:, 0]``;
  on the days until the next refit the variance recursion runs forward with the same parameters,
  h_{t+1} = omega + (alpha + gamma 1{e_t < 0}) e_t^2 + beta h_t, e_t = r_t - mu. VaR and CVaR come
  from the fit's innovation law (``normal_var_cvar``, or ``t_var_cvar`` with the fit's nu).
* "historical": the empirical quantile of the trailing window's losses (``empirical_var_cvar``),
  recomputed every day.

A window whose fit fails (status "error", e.g. a stale stretch of constant returns) gives NaN VaR on
every day that depends on it, however many windows fail together; such days are counted
(``attrs["info"]``), named in a warning (the first of them, with the fit's error) and left out of the
tests, never filled in.
"""
from __future__ import annotations

import time
import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from . import _validation as val
from .garch import GarchSpec
from .garch_fit import fit_garch
from .value_at_risk import empirical_var_cvar, normal_var_cvar, t_var_cvar
from pricer._stacklevel import user_stacklevel

__all__ = ["rolling_var", "var_column", "cvar_column", "BACKTEST_METHODS"]

BACKTEST_METHODS = ("mle", "nn", "historical")
MIN_GARCH_WINDOW = 100      # fit_garch refuses shorter series
MIN_HISTORICAL_WINDOW = 2   # empirical_var_cvar needs two returns
MAX_CHUNK = 512             # windows per batched fit call (a fixed shape: one compile per spec)
MIN_CHUNK = 32
LEVEL_NAME_TOL = 1e-15      # a short column name stands for a level within this (a few ulps of 1)


# -------------------------------------------------------------------------------- rolling forecasts
def _check_levels(levels) -> np.ndarray:
    try:
        # text is refused, not converted: ("0.95", "0.99") passed as numbers
        lv = None if np.asarray(levels).dtype.kind in "USb" else np.atleast_1d(np.asarray(levels, dtype=float))
    except (TypeError, ValueError):
        lv = None
    if lv is None or lv.ndim != 1 or lv.size == 0 or not np.all((lv > 0) & (lv < 1)):
        raise ValueError(f"levels must be one or more numbers strictly between 0 and 1 (e.g. (0.95, 0.99)), "
                         f"got {levels!r}")
    val.refuse_tail_probabilities(lv, "levels", levels)
    if len(np.unique(lv)) != lv.size:
        raise ValueError(f"levels must not repeat, got {levels!r}")
    names = [_level_name(v) for v in lv]
    if len(set(names)) != lv.size:
        # one column would overwrite the other
        same = next(n for n in names if names.count(n) > 1)
        close = [float(v) for v, n in zip(lv, names) if n == same]
        raise ValueError(f"levels {close} differ by less than {LEVEL_NAME_TOL:g} and would share the column "
                         f"var_{same}; give each level once")
    return lv


def _level_name(level: float) -> str:
    """The level in percent as text that reads back as the level (``_level_from_name``): 6 significant
    digits ("99", "97.5", "99.9") when they stand for the level within LEVEL_NAME_TOL, else every digit of
    the level's shortest decimal form ("99.999991" for 0.99999991; rounded, it and 0.99999992 were both
    "100", one column overwriting the other, and backtest_table read the level back as 1)."""
    level = float(level)
    short = format(round(100.0 * level, 6), "g")
    if abs(_level_from_name(short) - level) <= LEVEL_NAME_TOL:
        return short
    return format(Decimal(repr(level)).scaleb(2), "f")     # exact: a decimal shift of the shortest repr


def _level_from_name(name: str) -> float:
    """Inverse of ``_level_name``: "97.5" -> 0.975 (the decimal shifted, then rounded once to a float)."""
    return float(Decimal(name).scaleb(-2))


def var_column(level) -> str:
    """Column name of the VaR at ``level`` in ``rolling_var``'s output, e.g. 0.99 -> "var_99",
    0.999 -> "var_99.9"; a level that 6 significant digits of its percentage do not pin down gets all its
    digits (0.99999991 -> "var_99.999991"), so the name always reads back as the level."""
    return f"var_{_level_name(level)}"


def cvar_column(level) -> str:
    """Column name of the CVaR at ``level`` in ``rolling_var``'s output, e.g. 0.975 -> "cvar_97.5"
    (named as ``var_column``)."""
    return f"cvar_{_level_name(level)}"


def _check_returns(returns) -> tuple[np.ndarray, pd.Index]:
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise ValueError(f"returns must be one series (a 1-D array or a pandas Series), got a DataFrame with "
                             f"{returns.shape[1]} columns")
        returns = returns.iloc[:, 0]
    if isinstance(returns, pd.Series):
        index = returns.index
        values = returns.to_numpy()
        val.check_time_order(index, "returns")
    else:
        values = np.asarray(returns)
        index = None
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("returns must be numeric (log returns, percent)") from None
    if x.ndim != 1:
        raise ValueError(f"returns must be 1-D (one series), got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.argmax(bad))
        where = f"position {i}" + ("" if index is None else f" ({index[i]!r})")
        raise ValueError(f"returns contains a non-finite value ({x[i]!r}) at {where}; drop or fill it first")
    if index is None:
        index = pd.RangeIndex(x.size)
    return x, index


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _chunk_size(n_fits: int, max_chunk: int) -> int:
    """A power of two between MIN_CHUNK and max_chunk: every batched call of a run has this shape."""
    size = MIN_CHUNK
    while size < n_fits and size < max_chunk:
        size *= 2
    return max(1, min(size, max_chunk))


def _day_text(label) -> str:
    """A day of the returns' index as the user would look it up: 2020-01-03, not 2020-01-03 00:00:00."""
    if isinstance(label, pd.Timestamp) and label == label.normalize():
        return str(label.date())
    return str(label)


def _batched_fits(x, starts, window, *, method, vol, dist, mean, percent, chunk, caught, days):
    """Fit the windows x[s : s + window] for s in ``starts`` in chunks of one fixed shape.

    days: the forecast days' index labels (n_days,); window s is named "window before day <days[s]>"
    (the first day its fit forecasts) in fit_garch's errors and warnings, not by its column in a chunk.
    Returns a dict of (n_fits,) arrays: omega, alpha, beta, gamma, mu, nu, h1 (next-day variance),
    status, error (fit_garch's text for a window with status "error", else ""), ood (nn only), and
    timings."""
    n = len(starts)
    size = _chunk_size(n, chunk)
    keys = ("omega", "alpha", "beta", "gamma", "mu", "nu", "h1")
    out = {k: np.full(n, np.nan) for k in keys}
    out["status"] = np.full(n, "error", dtype=object)
    out["error"] = np.full(n, "", dtype=object)
    out["ood"] = np.zeros(n, bool)
    windows = sliding_window_view(x, window)
    times = []
    for lo in range(0, n, size):
        idx = np.arange(lo, min(lo + size, n))
        cols = starts[idx]
        names = [f"window before day {_day_text(days[s])}" for s in cols]
        cols = np.concatenate([cols, np.full(size - idx.size, cols[0])])   # pad with a real window
        names += ["padding"] * (size - idx.size)      # named apart: fit_garch's warnings count padding too
        y = pd.DataFrame(np.ascontiguousarray(windows[cols].T), columns=names)   # (window, size)
        k = idx.size
        # fit_garch refuses a batch in which no column can be fitted (a stale, constant stretch longer than
        # the chunk): those windows are errors like any other, their days NaN
        errors = val.column_errors(val.prepare_returns(y))
        if all(e is not None for e in errors):
            out["error"][idx] = errors[:k]
            continue
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            if method == "nn":
                fit = fit_garch(y, method="nn", vol=vol, dist=dist, mean=mean, percent=percent, fallback=None)
            else:
                fit = fit_garch(y, method="mle", vol=vol, dist=dist, mean=mean, percent=percent)
        times.append(time.perf_counter() - t0)
        caught.extend(rec)
        for name in ("omega", "alpha", "beta", "gamma", "mu"):
            out[name][idx] = fit._vec(name)[:k]
        if fit.nu is not None:
            out["nu"][idx] = fit._vec("nu")[:k]
        out["h1"][idx] = np.atleast_2d(fit.forecast(1))[:k, 0]
        out["status"][idx] = np.atleast_1d(np.asarray(fit.status, dtype=object))[:k]
        out["error"][idx] = np.atleast_1d(np.asarray(fit.error, dtype=object))[:k]
        if method == "nn":
            out["ood"][idx] = np.atleast_1d(np.asarray(fit.ood, dtype=bool))[:k]
    out["seconds"] = float(sum(times))
    out["first_call_seconds"] = float(times[0]) if times else 0.0
    out["calls"] = len(times)
    return out


def _summarise_warnings(caught, method):
    """Re-emit each warning category seen in the batched fits once (not once per chunk)."""
    seen = {}
    for w in caught:
        seen.setdefault(w.category, [w.message, 0])
        seen[w.category][1] += 1
    for cat, (msg, count) in seen.items():
        if cat.__name__ == "OutOfDistributionWarning":   # reported through info["nn_ood"] instead
            continue
        # fit_garch counts the columns that fill the last batch to its compiled size (copies of a real
        # window, named 'padding'): say so, rather than let "32 of 32 series" stand for one window
        padded = " (its counts include the copies of a window, named 'padding', that fill the batch)" \
            if "'padding'" in str(msg) else ""
        warnings.warn(f"rolling_var(method={method!r}): {count} batched fit call(s) warned; first: {msg}{padded}",
                      cat, stacklevel=user_stacklevel())


def rolling_var(returns, *, window: int = 1000, levels=(0.95, 0.99), method: str = "mle", refit_every: int = 1,
                vol: str = "garch", dist: str = "normal", mean: str = "zero", percent: bool = True,
                nn_fallback: str | None = "mle", chunk: int = MAX_CHUNK) -> pd.DataFrame:
    """Rolling one-day-ahead VaR and CVaR forecasts for every day after the first ``window``.

    returns: one series of log returns (1-D array or pandas Series; percent with ``percent=True``), T of
        them, no NaN/inf. The forecast for day t (t = window, ..., T - 1) uses only r_{t-window..t-1}.
    window: trailing window length in days (>= 100 for "mle"/"nn", >= 2 for "historical"); T > window.
    levels: VaR levels in (0, 1), e.g. (0.95, 0.99); levels so close that their columns would share a
        name (within 1e-15) raise ValueError.
    method: "mle" (exact GARCH maximum likelihood), "nn" (the neural calibrator, GARCH(1,1) only) or
        "historical" (rolling historical simulation; recomputed every day, ``refit_every`` is ignored).
    refit_every: refit the GARCH model every this many days (1 = daily); in between, the variance
        recursion runs forward with the last parameters and the realised returns.
    vol, dist, mean, percent: the GARCH specification passed to ``fit_garch`` ("garch" | "gjr",
        "normal" | "t", "zero" | "constant").
    nn_fallback: for method="nn", "mle" (default) refits by MLE the windows the network flags as out of
        its training distribution; None keeps the network's estimates for them (counted either way).
    chunk: largest number of windows per batched fit call (a power of two keeps shapes few).

    Returns a DataFrame indexed by the forecast day (the returns' index), one row per day, columns:
        return (the realised r_t), mu (forecast mean; 0 for "historical"), sigma (forecast standard
        deviation, sqrt h_t; NaN for "historical"), omega, alpha, beta, gamma, nu (the GARCH parameters
        in use that day, units of returns squared for omega; nu NaN for dist="normal"; all NaN for
        "historical"), var_<L>, cvar_<L> for each level (L the level in percent, ``var_column``: var_99,
        cvar_97.5; every digit where 6 significant ones would not pin the level down, var_99.999991;
        losses, units of the returns), refit (True on the days a fit was made), status (the
        status of the fit in use: "ok" / "not_converged" / "error"; "ok" for "historical"), source
        ("mle", "nn", or "historical": what produced the parameters in use).
    ``attrs["info"]`` holds counts (fits, error / not-converged fits, NaN days and ``first_nan_day``, the
    index label of the first, when there are any; NN windows out of distribution and refitted by MLE)
    and the seconds spent fitting (``first_call_seconds`` includes the compile). A fit with status
    "error" gives NaN VaR/CVaR for every day it covers (a warning names the first such day and why its
    window failed, "window before day <day>"); a "not_converged" fit is used (its estimate is usually
    close) but counted.
    """
    x, index = _check_returns(returns)
    if not isinstance(method, str) or method.lower() not in BACKTEST_METHODS:
        raise ValueError(f"method={method!r} is not supported; choose one of {', '.join(map(repr, BACKTEST_METHODS))}")
    method = method.lower()
    lv = _check_levels(levels)
    garch = method != "historical"
    if garch:   # checked and lower-cased as fit_garch does: dist="T" fitted a t but took the normal quantile here
        spec = GarchSpec(vol, dist, mean)
        vol, dist, mean = spec.vol, spec.dist, spec.mean
    window = _check_int(window, "window", MIN_GARCH_WINDOW if garch else MIN_HISTORICAL_WINDOW)
    refit_every = _check_int(refit_every, "refit_every", 1)
    chunk = _check_int(chunk, "chunk", 1)
    if nn_fallback not in (None, "mle"):
        raise ValueError(f"nn_fallback={nn_fallback!r} is not supported; choose 'mle' or None")
    T = x.size
    if T <= window:
        raise ValueError(f"returns has {T} observations but window={window}: at least window + 1 are needed "
                         f"for one forecast")
    n_days = T - window
    realised = x[window:]
    var = np.full((n_days, lv.size), np.nan)
    cvar = np.full((n_days, lv.size), np.nan)
    mu_day = np.zeros(n_days)
    sigma_day = np.full(n_days, np.nan)
    refit = np.zeros(n_days, bool)
    status_day = np.full(n_days, "ok", dtype=object)
    source_day = np.full(n_days, method, dtype=object)
    params = {name: np.full(n_days, np.nan) for name in ("omega", "alpha", "beta", "gamma", "nu")}
    info = {"method": method, "window": window, "refit_every": refit_every if garch else 1,
            "levels": tuple(float(v) for v in lv), "days": n_days}

    if not garch:
        windows = sliding_window_view(x, window)[:n_days]      # row i = r_{i .. i+window-1}, before day window+i
        t0 = time.perf_counter()
        for lo in range(0, n_days, 1024):
            v, c = empirical_var_cvar(windows[lo:lo + 1024], lv, axis=1)   # (L, rows)
            var[lo:lo + 1024], cvar[lo:lo + 1024] = v.T, c.T
        refit[:] = True
        info.update(fits=n_days, fit_seconds=time.perf_counter() - t0, first_call_seconds=0.0)
    else:
        starts = np.arange(0, n_days, refit_every)             # fit day i uses r_{i .. i+window-1}
        caught = []
        fits = _batched_fits(x, starts, window, method=method, vol=vol, dist=dist, mean=mean, percent=percent,
                             chunk=chunk, caught=caught, days=index[window:])
        source = np.full(starts.size, method, dtype=object)
        n_ood = int(fits["ood"].sum())
        seconds, first = fits["seconds"], fits["first_call_seconds"]
        if method == "nn" and nn_fallback == "mle" and n_ood:
            which = np.flatnonzero(fits["ood"])
            redo = _batched_fits(x, starts[which], window, method="mle", vol=vol, dist=dist, mean=mean,
                                 percent=percent, chunk=chunk, caught=caught, days=index[window:])
            for name in ("omega", "alpha", "beta", "gamma", "mu", "nu", "h1", "status", "error"):
                fits[name][which] = redo[name]
            source[which] = "mle"
            seconds += redo["seconds"]
            info["fallback_seconds"] = redo["seconds"]
        _summarise_warnings(caught, method)
        if method == "nn" and nn_fallback is None and n_ood:
            warnings.warn(f"rolling_var(method='nn'): the network flagged {n_ood} of {starts.size} windows as "
                          f"out of its training distribution and their estimates were used (nn_fallback=None)",
                          stacklevel=user_stacklevel())

        # the parameters in use on each day, and the variance path between refits
        which_fit = np.arange(n_days) // refit_every
        omega, alpha, beta, gamma, mu, nu = (fits[k][which_fit] for k in ("omega", "alpha", "beta", "gamma", "mu",
                                                                           "nu"))
        h = np.full(n_days, np.nan)
        h[starts] = fits["h1"]
        for j in range(1, refit_every):
            days = starts + j
            days = days[days < n_days]
            e = x[window + days - 1] - mu[days]                 # r_{t-1} - mu, known on day t
            h[days] = (omega[days] + (alpha[days] + gamma[days] * (e < 0)) * e * e + beta[days] * h[days - 1])
        status_day = fits["status"][which_fit]
        source_day = source[which_fit]
        usable = (status_day != "error") & np.isfinite(h) & (h > 0) & np.isfinite(mu)
        if dist == "t":
            usable &= np.isfinite(nu) & (nu > 2)
        sig = np.sqrt(np.where(usable, h, 1.0))
        m = np.where(usable, mu, 0.0)
        if dist == "t":
            v, c = t_var_cvar(sig[:, None], lv[None, :], np.where(usable, nu, 10.0)[:, None], m[:, None])
        else:
            v, c = normal_var_cvar(sig[:, None], lv[None, :], m[:, None])
        var = np.where(usable[:, None], v, np.nan)
        cvar = np.where(usable[:, None], c, np.nan)
        sigma_day = np.where(usable, sig, np.nan)
        params = {"omega": omega, "alpha": alpha, "beta": beta, "gamma": gamma, "nu": nu}
        mu_day = np.where(usable, mu, np.nan)
        refit[starts] = True
        st = fits["status"]
        info.update(fits=int(starts.size), fit_errors=int(np.sum(st == "error")),
                    fits_not_converged=int(np.sum(st == "not_converged")), fit_seconds=seconds,
                    first_call_seconds=first, batched_calls=fits["calls"])
        if method == "nn":
            info.update(nn_ood=n_ood, nn_fallback_mle=int(np.sum(source == "mle")))
    nan_day = np.isnan(var).any(axis=1)
    info["nan_days"] = int(np.sum(nan_day))
    if info["nan_days"]:
        first = int(np.argmax(nan_day))
        info["first_nan_day"] = index[window + first]
        why = (fits["error"][which_fit[first]] if garch and status_day[first] == "error"
               else "the fit's variance forecast is not usable")
        warnings.warn(f"rolling_var(method={method!r}): {info['nan_days']} of {n_days} days have no forecast "
                      f"(failed fits); they are NaN, see attrs['info']. The first is day "
                      f"{_day_text(info['first_nan_day'])}: {why}", stacklevel=user_stacklevel())

    frame = pd.DataFrame({"return": realised, "mu": mu_day, "sigma": sigma_day}, index=index[window:])
    for name, values in params.items():
        frame[name] = values
    for k, level in enumerate(lv):
        frame[var_column(level)] = var[:, k]
        frame[cvar_column(level)] = cvar[:, k]
    frame["refit"] = refit
    frame["status"] = status_day
    frame["source"] = source_day
    frame.attrs["info"] = info
    return frame
