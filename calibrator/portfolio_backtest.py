"""Out-of-sample, daily-rebalanced backtest of GARCH-CCC portfolios (minimum variance or mean-variance)
against equal weight and the sample-covariance minimum-variance portfolio.

The weights held over each day use only data up to the day before: GARCH refitted every
``refit_every`` days on a trailing window (all windows and assets in one batched ``fit_garch`` call),
the variance recursion filtered forward between refits, and the rolling correlation of the
standardised residuals. Returns, volatilities and drawdowns are simple returns in percent.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validation import check_time_order
from .portfolio_qp import _box, _check_scalar, _finite_array, _solve_box_budget_qp
from .warnings import ConvergenceWarning, PersistenceWarning
from pricer._stacklevel import user_stacklevel

__all__ = ["BacktestResult", "rebalanced_backtest", "BACKTEST_COLUMNS"]

BACKTEST_COLUMNS = ("ann_return_pct", "ann_volatility_pct", "sharpe", "max_drawdown_pct", "avg_turnover",
                    "days")
STRATEGIES = ("min_variance", "mean_variance")
BENCHMARKS = ("equal_weight", "sample_min_variance")


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """An out-of-sample daily-rebalanced backtest (see ``rebalanced_backtest``).

    summary: one row per strategy, columns ``BACKTEST_COLUMNS``: annualised mean of the daily simple
        returns (periods_per_year x mean, percent), annualised realised volatility (sqrt(periods_per_year)
        x std, ddof 1, percent), their ratio (no risk-free rate), maximum drawdown of the compounded
        wealth (percent), average daily turnover (sum |w_t - w_{t-1} drifted|, buys plus sells as a
        fraction of wealth; the first day excluded), number of days.
    returns: daily portfolio simple returns in percent, days x strategies.
    weights: strategy -> DataFrame (days x assets) of the weights held over each day.
    covariance: (days, N, N) the GARCH-CCC covariance used for each day (units of the returns squared).
    yearly_volatility: annualised realised volatility per calendar year (or per block of
        periods_per_year days without dates), years x strategies.
    volatility_ratio: per strategy, realised vol / equal-weight vol with a 95% moving-block bootstrap
        interval (block of 21 days, 2000 resamples, fixed seed): an honest measure of whether vol fell.
    fits: number of GARCH fits (windows x assets); fits_not_ok: how many did not converge (used anyway).
    settings: the arguments used. description: what was measured, in words.
    """

    summary: pd.DataFrame
    returns: pd.DataFrame
    weights: dict
    covariance: np.ndarray
    yearly_volatility: pd.DataFrame
    volatility_ratio: pd.DataFrame
    fits: int
    fits_not_ok: int
    settings: dict = field(default_factory=dict)
    description: str = ""

    def __repr__(self) -> str:
        return f"BacktestResult({self.description}\n{self.summary.to_string()})"


def _stack_windows(x: np.ndarray, refit_days: np.ndarray, window: int) -> np.ndarray:
    """(window, K*N): for refit day t_k, rows t_k - window .. t_k - 1 of x (T, N); column k*N + i."""
    idx = refit_days[:, None] - window + np.arange(window)[None, :]      # (K, W)
    blocks = x[idx]                                                     # (K, W, N)
    return blocks.transpose(1, 0, 2).reshape(window, -1)


def _rolling_corr_from_cumsums(c1, c2, start, window):
    """Correlations of rows start .. start+window-1 from prefix sums c1 (R+1, ..., N), c2 (R+1, ..., N, N)."""
    s1 = c1[start + window] - c1[start]
    s2 = c2[start + window] - c2[start]
    cov = s2 - s1[..., :, None] * s1[..., None, :] / window
    d = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    r = cov / (d[..., :, None] * d[..., None, :])
    r = 0.5 * (r + np.swapaxes(r, -1, -2))
    n = r.shape[-1]
    r[..., np.arange(n), np.arange(n)] = 1.0
    return r


def _garch_ccc_forecasts(x, window, refit_every, vol, dist, mean, percent, names, index):
    """One-day-ahead CCC covariances for days window .. T-1 using data up to the previous day only.

    Every ``refit_every`` days (t_k = window + k refit_every) GARCH is refitted on rows t_k - window ..
    t_k - 1, all refit dates and assets in ONE fit_garch call. Between refits the variance recursion
    runs forward with those parameters: h_{t+1} = omega + (alpha + gamma 1{e_t < 0}) e_t^2 + beta h_t,
    e_t = r_t - mu. R on day t is the correlation of the standardised residuals of rows t - window ..
    t - 1 (in-sample for the fitted window, filtered forward after it, with refit k's parameters).
    Returns (cov (D, N, N), mu (D, N) the fitted means, fits, fits_not_ok). fit_garch's convergence and
    persistence warnings (which number the stacked columns) are re-issued naming asset and window.
    """
    from .fit_assembly import PERSISTENCE_BOUNDARY
    from .garch_fit import fit_garch
    T, N = x.shape
    L = refit_every
    refit_days = np.arange(window, T, L)
    K = refit_days.size
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_garch(_stack_windows(x, refit_days, window), vol=vol, dist=dist, mean=mean, percent=percent)
    for w in caught:
        if not issubclass(w.category, (ConvergenceWarning, PersistenceWarning)):
            warnings.warn(w.message, w.category, stacklevel=user_stacklevel())

    def where(cols):
        def end(k):
            row = refit_days[k] - 1
            return str(index[row].date()) if isinstance(index, pd.DatetimeIndex) else f"row {row}"
        shown = ", ".join(f"{names[j % N]} (window ending {end(j // N)})" for j in cols[:3])
        return shown + (", ..." if len(cols) > 3 else "")

    status = np.asarray(fit.status, dtype=object)
    if np.any(status == "error"):
        j = int(np.flatnonzero(status == "error")[0])
        raise ValueError(f"returns: the GARCH fit of {where([j])} failed: {fit.error[j]}")
    bad = np.flatnonzero(status != "ok")
    not_ok = int(bad.size)
    if not_ok:
        warnings.warn(f"{not_ok} of {K * N} GARCH window fits did not converge and were used as they are: "
                      f"{where(bad)}", ConvergenceWarning, stacklevel=user_stacklevel())
    near = np.flatnonzero(np.asarray(fit.persistence) > PERSISTENCE_BOUNDARY)
    if near.size:
        warnings.warn(f"{near.size} of {K * N} GARCH window fits have persistence alpha + gamma/2 + beta at its "
                      f"bound 1 (near-integrated variance): {where(near)}", PersistenceWarning, stacklevel=user_stacklevel())
    par = {n: fit._vec(n).reshape(K, N) for n in ("omega", "alpha", "beta", "gamma", "mu")}
    h_win = np.asarray(fit.conditional_variance, dtype=float).reshape(window, K, N)
    x_win = _stack_windows(x, refit_days, window).reshape(window, K, N)
    z_win = (x_win - par["mu"]) / np.sqrt(h_win)
    xpad = np.concatenate([x, np.zeros((L, N))])          # days past the end are never used for weights
    days = refit_days[:, None] + np.arange(L)[None, :]    # (K, L)
    h_fwd = np.empty((L, K, N))
    h_fwd[0] = np.atleast_2d(fit.forecast(1))[:, 0].reshape(K, N)
    for j in range(1, L):
        e = xpad[days[:, j - 1]] - par["mu"]
        h_fwd[j] = par["omega"] + (par["alpha"] + par["gamma"] * (e < 0)) * e * e + par["beta"] * h_fwd[j - 1]
    z_fwd = (xpad[days.T] - par["mu"]) / np.sqrt(h_fwd)   # (L, K, N); row j is day t_k + j
    z = np.concatenate([z_win, z_fwd], axis=0)            # rows t_k - window .. t_k + L - 1
    zeros = np.zeros((1, K, N))
    c1 = np.concatenate([zeros, np.cumsum(z, axis=0)])
    c2 = np.concatenate([zeros[..., None] * zeros[..., None, :],
                         np.cumsum(z[..., :, None] * z[..., None, :], axis=0)])
    corr = np.stack([_rolling_corr_from_cumsums(c1, c2, j, window) for j in range(L)])   # (L, K, N, N)
    sd = np.sqrt(h_fwd)
    cov = sd[..., :, None] * corr * sd[..., None, :]
    cov = cov.transpose(1, 0, 2, 3).reshape(K * L, N, N)[: T - window]
    mu = np.broadcast_to(par["mu"][:, None, :], (K, L, N)).reshape(K * L, N)[: T - window]
    return cov, mu, K * N, not_ok


def _sample_covariances(x, window):
    """Sample covariance (ddof 1) of rows t - window .. t - 1 for t = window .. T-1: (D, N, N)."""
    T, N = x.shape
    c1 = np.concatenate([np.zeros((1, N)), np.cumsum(x, axis=0)])
    c2 = np.concatenate([np.zeros((1, N, N)), np.cumsum(x[:, :, None] * x[:, None, :], axis=0)])
    t = np.arange(window, T)
    s1 = c1[t] - c1[t - window]
    s2 = c2[t] - c2[t - window]
    cov = (s2 - s1[:, :, None] * s1[:, None, :] / window) / (window - 1)
    return 0.5 * (cov + cov.transpose(0, 2, 1))


def _max_drawdown_pct(r_pct: np.ndarray) -> float:
    wealth = np.cumprod(1.0 + r_pct / 100.0)
    peak = np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:]
    return float(100.0 * np.max(1.0 - wealth / peak))


def _turnover(w: np.ndarray, r_simple: np.ndarray) -> np.ndarray:
    """sum_i |w_t,i - drifted w_{t-1},i| for t >= 1; drift: w (1 + R_i) / (1 + R_p), cash earning 0."""
    grown = w[:-1] * (1.0 + r_simple[:-1])
    wealth = 1.0 + np.sum(w[:-1] * r_simple[:-1], axis=1, keepdims=True)
    return np.abs(w[1:] - grown / wealth).sum(axis=1)


def _block_bootstrap_ratio(a, b, block=21, reps=2000, seed=0):
    """Moving-block bootstrap 95% interval of std(a) / std(b) for paired daily series."""
    n = a.size
    rng = np.random.default_rng(seed)
    nb = int(np.ceil(n / block))
    starts = rng.integers(0, n - block + 1, size=(reps, nb))
    idx = (starts[:, :, None] + np.arange(block)).reshape(reps, -1)[:, :n]
    ratios = a[idx].std(axis=1, ddof=1) / b[idx].std(axis=1, ddof=1)
    return np.quantile(ratios, [0.025, 0.975])


def rebalanced_backtest(returns, *, strategy: str = "min_variance", window: int = 1000, refit_every: int = 21,
                        long_only: bool = True, budget: float = 1.0, bounds=None, vol: str = "garch",
                        dist: str = "normal", mean: str = "zero", percent: bool = True, log_returns: bool = True,
                        risk_aversion: float | None = None, benchmarks=BENCHMARKS,
                        periods_per_year: int = 252) -> BacktestResult:
    """Out-of-sample, daily-rebalanced backtest of GARCH-CCC portfolios against equal weight.

    returns: (T, N) DataFrame (or array) of daily returns, N >= 2, in percent when ``percent`` (the GARCH
        scaling), log returns when ``log_returns`` (as ``embedded_asset_returns`` gives them).
    strategy: "min_variance" (minimise w' S_t w) or "mean_variance" (maximise w' mu - (lambda/2) w' S_t w
        with mu the GARCH constant mean of the trailing window: needs ``mean="constant"`` and
        ``risk_aversion`` in 1/percent for percent returns).
    window: days of the trailing estimation window (>= 100, fit_garch's minimum; < 500 warns).
    refit_every: GARCH parameters are re-estimated every this many days on the trailing window; in
        between, the variance recursion runs forward with the last parameters.
    long_only, budget, bounds: constraints, as in ``min_variance_weights``.
    vol, dist, mean: the GARCH model, as in ``fit_garch``.
    benchmarks: any of "equal_weight" (budget/N each day; always included) and "sample_min_variance"
        (minimum variance with the sample covariance of the same trailing window).

    Timing, with day t = window, ..., T-1 (0-based rows) the days traded: the weights held over day t
    use ONLY rows up to t-1 (the GARCH fit on rows t_k - window .. t_k - 1 for the last refit t_k <= t,
    the variance filtered forward to day t with rows up to t-1, the correlation of the standardised
    residuals of rows t - window .. t - 1), and earn row t's return. Portfolio returns are simple
    returns, sum_i w_i R_i with R_i = exp(r_i) - 1 for log returns (in percent), the remainder of the
    budget in cash at 0%; no transaction costs. All assets' windows for all refit dates are estimated
    in a single batched ``fit_garch`` call; non-converged fits are used as they are and counted.

    Returns a ``BacktestResult`` (summary table, daily returns, weights, covariances, per-year
    volatility and the ratio of realised volatilities to equal weight with a bootstrap interval).
    """
    names = list(returns.columns) if isinstance(returns, pd.DataFrame) else None
    index = returns.index if isinstance(returns, (pd.DataFrame, pd.Series)) else None
    if index is not None:
        check_time_order(index, "returns")
    x = _finite_array(returns, "returns")
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"returns must be a 2-D (T, N) table with N >= 2 assets, got shape {x.shape}")
    T, N = x.shape
    names = names if names is not None else [f"asset{i}" for i in range(N)]
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r} is not supported; choose one of {STRATEGIES}")
    if isinstance(window, bool) or int(window) != window or window < 100:
        raise ValueError(f"window must be an integer >= 100 (fit_garch's minimum), got {window!r}")
    if isinstance(refit_every, bool) or int(refit_every) != refit_every or refit_every < 1:
        raise ValueError(f"refit_every must be a positive integer, got {refit_every!r}")
    window, refit_every = int(window), int(refit_every)
    if T < window + 2:
        raise ValueError(f"returns has {T} rows; window={window} leaves fewer than 2 days to trade")
    bench = tuple(benchmarks) if benchmarks is not None else ()
    unknown = [b for b in bench if b not in BENCHMARKS]
    if unknown:
        raise ValueError(f"benchmarks {unknown} are not supported; choose from {BENCHMARKS}")
    if isinstance(periods_per_year, bool) or int(periods_per_year) != periods_per_year or periods_per_year < 1:
        raise ValueError(f"periods_per_year must be a positive integer, got {periods_per_year!r}")
    budget = _check_scalar(budget, "budget")
    lo, hi = _box(N, bool(long_only), bounds, budget)
    if strategy == "mean_variance":
        if mean != "constant":
            raise ValueError("strategy='mean_variance' takes its expected returns from the GARCH constant mean: "
                             "pass mean='constant'")
        lam = _check_scalar(risk_aversion, "risk_aversion", positive=True)
    scale = 1.0 if percent else 100.0                   # to percent
    r_simple = np.expm1(x / (100.0 if percent else 1.0)) if log_returns else x / (100.0 if percent else 1.0)

    cov, mu, n_fits, not_ok = _garch_ccc_forecasts(x, window, refit_every, vol, dist, mean, percent, names,
                                                   index)
    D = T - window
    label = f"garch_{strategy}"
    weights = {}
    if strategy == "min_variance":
        weights[label] = np.stack([_solve_box_budget_qp(2.0 * s, np.zeros(N), lo, hi, budget) for s in cov])
    else:
        weights[label] = np.stack([_solve_box_budget_qp(lam * s, m, lo, hi, budget) for s, m in zip(cov, mu)])
    weights["equal_weight"] = np.full((D, N), budget / N)
    if "sample_min_variance" in bench:
        weights["sample_min_variance"] = np.stack([_solve_box_budget_qp(2.0 * s, np.zeros(N), lo, hi, budget)
                                                   for s in _sample_covariances(x, window)])
    traded = r_simple[window:]
    days = index[window:] if index is not None else pd.RangeIndex(window, T, name="day")
    port = pd.DataFrame({k: 100.0 * np.sum(w * traded, axis=1) for k, w in weights.items()}, index=days)

    rows = {}
    for k, w in weights.items():
        rp = port[k].to_numpy()
        ann_ret = periods_per_year * rp.mean()
        ann_vol = np.sqrt(periods_per_year) * rp.std(ddof=1)
        rows[k] = dict(ann_return_pct=ann_ret, ann_volatility_pct=ann_vol,
                       sharpe=ann_ret / ann_vol if ann_vol > 0 else np.nan,
                       max_drawdown_pct=_max_drawdown_pct(rp), avg_turnover=float(_turnover(w, traded).mean()),
                       days=D)
    summary = pd.DataFrame.from_dict(rows, orient="index")[list(BACKTEST_COLUMNS)]
    summary.index.name = "strategy"

    if isinstance(days, pd.DatetimeIndex):
        groups = days.year
    else:
        groups = np.arange(D) // periods_per_year
    yearly = port.groupby(np.asarray(groups)).std(ddof=1) * np.sqrt(periods_per_year)
    yearly.index.name = "year" if isinstance(days, pd.DatetimeIndex) else "block"
    ew = port["equal_weight"].to_numpy()
    ratio_rows = {}
    for k in weights:
        if k == "equal_weight":
            continue
        a = port[k].to_numpy()
        lo_ci, hi_ci = _block_bootstrap_ratio(a, ew) if D > 42 else (np.nan, np.nan)
        ratio_rows[k] = dict(vol_ratio=a.std(ddof=1) / ew.std(ddof=1), ci_low=lo_ci, ci_high=hi_ci,
                             years_lower_vol=int(np.sum(yearly[k] < yearly["equal_weight"])),
                             years=int(yearly.shape[0]))
    ratio = pd.DataFrame.from_dict(ratio_rows, orient="index")
    ratio.index.name = "strategy"

    first, last = (str(d.date()) if isinstance(d, pd.Timestamp) else str(d) for d in (days[0], days[-1]))
    description = (f"{D} days traded ({first} .. {last}), {N} assets {names}; weights for each day from data up "
                   f"to the day before; GARCH({vol}, {dist}, {mean} mean) refitted every {refit_every} days on "
                   f"the trailing {window} days; {'long-only, ' if long_only else ''}budget {budget}; daily "
                   f"rebalancing, no transaction costs; simple returns in percent"
                   + ("" if scale == 1.0 else " (inputs were decimals)"))
    settings = dict(strategy=strategy, window=window, refit_every=refit_every, long_only=bool(long_only),
                    budget=budget, bounds=bounds, vol=vol, dist=dist, mean=mean, percent=percent,
                    log_returns=log_returns, risk_aversion=risk_aversion, benchmarks=bench,
                    periods_per_year=periods_per_year)
    return BacktestResult(summary=summary, returns=port,
                          weights={k: pd.DataFrame(w, index=days, columns=names) for k, w in weights.items()},
                          covariance=cov, yearly_volatility=yearly, volatility_ratio=ratio, fits=n_fits,
                          fits_not_ok=not_ok, settings=settings, description=description)
