"""Backtests of one-day-ahead value at risk: the rolling forecasts of ``calibrator.rolling_var`` scored
by exception counts and coverage tests, in one table, and a plot. The tests themselves (Kupiec,
Christoffersen) live in ``calibrator.coverage_tests``; both are re-exported here.

Day t is an *exception* when the realised loss exceeds the forecast, -r_t > VaR_t (VaR as a positive
loss, in the units of the returns).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .coverage_tests import (ChristoffersenResult, CoverageResult, KupiecResult, christoffersen_test,
                             conditional_coverage_test, kupiec_test)
from .rolling_var import BACKTEST_METHODS, _check_levels, _level_from_name, cvar_column, rolling_var, var_column

__all__ = ["kupiec_test", "christoffersen_test", "conditional_coverage_test", "KupiecResult",
           "ChristoffersenResult", "CoverageResult", "rolling_var", "var_backtest", "backtest_table",
           "VarBacktest", "plot_var_backtest", "var_column", "cvar_column", "BACKTEST_METHODS"]


# --------------------------------------------------------------------------------------- backtests
class VarBacktest(NamedTuple):
    """What ``var_backtest`` returns: the summary ``table`` (one row per method and level, see
    ``backtest_table``), the rolling ``forecasts`` (method -> ``rolling_var`` DataFrame) and ``info``
    (method -> the run's counts and timings)."""
    table: pd.DataFrame
    forecasts: dict
    info: dict


def _frame_levels(frame: pd.DataFrame) -> list[float]:
    """The levels of the var_<L> columns (L in percent, as ``var_column`` writes it)."""
    levels = []
    for c in frame.columns:
        if not (isinstance(c, str) and c.startswith("var_")):
            continue
        try:
            level = _level_from_name(c[4:])
        except (ArithmeticError, ValueError):     # decimal.InvalidOperation is an ArithmeticError
            level = float("nan")
        if not 0.0 < level < 1.0:
            raise ValueError(f"column {c!r} does not name a VaR level (var_<level in percent>, e.g. var_99); "
                             f"rename it or pass levels=")
        levels.append(level)
    return levels


def backtest_table(forecasts, levels=None) -> pd.DataFrame:
    """Exception counts and coverage tests of rolling VaR forecasts.

    forecasts: method name -> DataFrame with a ``return`` column and ``var_<L>`` / ``cvar_<L>`` columns
        (``rolling_var``'s output), or one such DataFrame.
    levels: the levels to test (default: every var_<L> column found).

    Returns one row per (method, level) with: days (with a forecast), missing (NaN forecasts or returns, left out),
    exceptions (loss -r_t > VaR_t), rate, expected_rate (1 - level), kupiec_lr, kupiec_p, ind_lr, ind_p
    (Christoffersen independence), cc_lr, cc_p (conditional coverage), mean_var, mean_cvar (losses, units
    of the returns), and an expected-shortfall check on the exception days: es_loss (mean realised loss),
    es_forecast (mean forecast CVaR), es_ratio = es_loss / es_forecast (about 1 if the CVaR is right).
    """
    if isinstance(forecasts, pd.DataFrame):
        forecasts = {forecasts.attrs.get("info", {}).get("method", "forecast"): forecasts}
    if not isinstance(forecasts, dict) or not forecasts:
        raise ValueError("forecasts must be a DataFrame from rolling_var or a non-empty dict of them")
    rows = []
    for name, frame in forecasts.items():
        if "return" not in frame.columns:
            raise ValueError(f"forecasts[{name!r}] has no 'return' column")
        lvls = _frame_levels(frame) if levels is None else list(_check_levels(levels))
        for level in lvls:
            vc, cc = var_column(level), cvar_column(level)
            if vc not in frame.columns:
                raise ValueError(f"forecasts[{name!r}] has no {vc!r} column (levels={levels!r})")
            # a day counts only with both a forecast and a return: a NaN return is no exception, not a day without one
            ok = frame[vc].notna().to_numpy() & frame["return"].notna().to_numpy()
            loss = -frame["return"].to_numpy()[ok]
            v = frame[vc].to_numpy()[ok]
            c = frame[cc].to_numpy()[ok] if cc in frame.columns else np.full(v.size, np.nan)
            exc = loss > v
            row = {"method": name, "level": float(level), "days": int(ok.sum()), "missing": int((~ok).sum()),
                   "exceptions": int(exc.sum())}
            if exc.size >= 2:
                # a day left out breaks the chain: the days either side of it are no transition
                cov = conditional_coverage_test(exc, level, adjacent=np.diff(np.flatnonzero(ok)) == 1)
                k, ind = cov.kupiec, cov.christoffersen
                row.update(rate=k.rate, expected_rate=k.expected_rate, kupiec_lr=k.statistic, kupiec_p=k.p_value,
                           ind_lr=ind.statistic, ind_p=ind.p_value, cc_lr=cov.statistic, cc_p=cov.p_value)
            else:
                row.update(rate=np.nan, expected_rate=1.0 - level, kupiec_lr=np.nan, kupiec_p=np.nan,
                           ind_lr=np.nan, ind_p=np.nan, cc_lr=np.nan, cc_p=np.nan)
            row.update(mean_var=float(np.mean(v)) if v.size else np.nan,
                       mean_cvar=float(np.mean(c)) if c.size else np.nan)
            if exc.any():
                es_loss, es_fc = float(np.mean(loss[exc])), float(np.mean(c[exc]))
                row.update(es_loss=es_loss, es_forecast=es_fc, es_ratio=es_loss / es_fc)
            else:
                row.update(es_loss=np.nan, es_forecast=np.nan, es_ratio=np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def var_backtest(returns, *, methods=BACKTEST_METHODS, levels=(0.95, 0.99), window: int = 1000,
                 refit_every: int = 1, vol: str = "garch", dist: str = "normal", mean: str = "zero",
                 percent: bool = True, nn_fallback: str | None = "mle") -> VarBacktest:
    """Rolling one-day-ahead VaR backtest of several methods on one return series.

    returns: log returns (percent with percent=True), 1-D array or pandas Series (a DatetimeIndex is
        kept). methods: any of "mle", "nn", "historical". levels, window, refit_every, vol, dist, mean,
        percent, nn_fallback: as in ``rolling_var`` (the same for every method; "historical" ignores the
        GARCH options).

    Returns ``VarBacktest(table, forecasts, info)``: ``table`` from ``backtest_table`` (one row per method
    and level, plus a ``seconds`` column: wall time of that method's rolling forecasts, compile
    included), ``forecasts`` (method -> ``rolling_var`` DataFrame, e.g. for ``plot_var_backtest``) and
    ``info`` (method -> ``attrs["info"]`` of its forecasts).
    """
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    if not methods or any(not isinstance(m, str) or m.lower() not in BACKTEST_METHODS for m in methods):
        raise ValueError(f"methods must be a non-empty subset of {BACKTEST_METHODS}, got {methods!r}")
    if len(set(m.lower() for m in methods)) != len(methods):
        raise ValueError(f"methods must not repeat, got {methods!r}")
    lv = _check_levels(levels)
    forecasts, info, seconds = {}, {}, {}
    for m in methods:
        t0 = time.perf_counter()
        forecasts[m] = rolling_var(returns, window=window, levels=lv, method=m, refit_every=refit_every, vol=vol,
                                   dist=dist, mean=mean, percent=percent, nn_fallback=nn_fallback)
        seconds[m] = time.perf_counter() - t0
        info[m] = dict(forecasts[m].attrs["info"], seconds=seconds[m])
    table = backtest_table(forecasts, lv)
    table["seconds"] = table["method"].map(seconds)
    return VarBacktest(table, forecasts, info)


# -------------------------------------------------------------------------------------------- plot
def plot_var_backtest(forecasts, path, *, levels=None, methods=None, title: str | None = None,
                      figsize=(12.0, 4.0), dpi: int = 120) -> Path:
    """Plot rolling VaR forecasts against the realised returns and write a PNG.

    forecasts: a ``VarBacktest``, a dict method -> ``rolling_var`` DataFrame, or one such DataFrame.
    path: the PNG file to write (its folder must exist). levels: which levels to draw (default: all
    found), one panel per level. methods: which methods (default: all). Each panel shows the returns
    (grey), each method's VaR as a return threshold (-VaR) and its exceptions (markers at the return).
    Uses matplotlib's Agg canvas directly (no pyplot, no global backend change). Returns the path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(forecasts, VarBacktest):
        forecasts = forecasts.forecasts
    if isinstance(forecasts, pd.DataFrame):
        forecasts = {forecasts.attrs.get("info", {}).get("method", "forecast"): forecasts}
    if not isinstance(forecasts, dict) or not forecasts:
        raise ValueError("forecasts must be a VarBacktest, a DataFrame from rolling_var or a dict of them")
    names = list(forecasts) if methods is None else list(methods)
    missing = [m for m in names if m not in forecasts]
    if missing:
        raise ValueError(f"methods {missing} are not in forecasts (have {list(forecasts)})")
    first = forecasts[names[0]]
    lvls = _frame_levels(first) if levels is None else list(_check_levels(levels))
    path = Path(path)
    fig = Figure(figsize=(figsize[0], figsize[1] * len(lvls)), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(lvls), 1, squeeze=False, sharex=True)[:, 0]
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    markers = ["o", "s", "^"]
    for ax, level in zip(axes, lvls):
        vc = var_column(level)
        ax.plot(first.index, first["return"], color="0.65", lw=0.5, label="return")
        for k, name in enumerate(names):
            frame = forecasts[name]
            if vc not in frame.columns:
                raise ValueError(f"forecasts[{name!r}] has no {vc!r} column")
            colour = colours[k % len(colours)]
            exc = (-frame["return"] > frame[vc]).to_numpy()
            ax.plot(frame.index, -frame[vc], color=colour, lw=0.8, label=f"{name}: -VaR ({int(exc.sum())} exc.)")
            # hollow markers of decreasing size, so that methods sharing an exception day stay visible
            ax.scatter(frame.index[exc], frame["return"].to_numpy()[exc], s=max(36 - 10 * k, 8), marker=markers[k % 3],
                       facecolors="none", edgecolors=colour, linewidths=0.8, zorder=3 + k)
        ax.set_title(f"one-day VaR {vc[4:]}%" + (f" - {title}" if title else ""))
        ax.set_ylabel("return")
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path
