"""The risk run behind ``exotics risk``: GARCH volatility into VaR backtests, today's VaR/CVaR, stress
scenarios on the example option book, and GARCH minimum-variance portfolios -- on the data shipped
with ``arch`` (S&P 500 and NASDAQ 1999-2018, WTI crude).

1. Rolling one-day-ahead VaR (95%, 99%) of the S&P 500 and the NASDAQ: GARCH(1,1) by MLE and by the
   neural calibrator, GJR-GARCH-t by MLE, and rolling historical simulation; Kupiec and
   Christoffersen tests (``calibrator.var_backtest``). Table and plots.
2. VaR and CVaR after the sample (1 and 10 days; parametric, filtered historical simulation, Monte
   Carlo) for each index and an equal-weight and a minimum-variance portfolio of the two.
3. Stress: 10-day joint GARCH scenarios of the two indices -- from today's variance, from the 2008
   peak and with a regime shift -- revalue the example book's SPX (S&P 500) and ACME (NASDAQ) trades
   (``pricer.book_stress``): the book's P&L distribution, VaR and CVaR per scenario set.
4. A daily-rebalanced GARCH-CCC minimum-variance portfolio of S&P 500, NASDAQ and WTI against equal
   weight (``calibrator.portfolio.rebalanced_backtest``): realised volatility and return.
Everything is written to a report folder (CSV tables and PNG plots).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["run", "RiskSettings", "index_returns", "display_tables"]

#: scenario columns -> example-book underlyings they drive in the stress test
STRESS_UNDERLYINGS = {"SP500": "SPX", "NASDAQ": "ACME"}


@dataclass(frozen=True)
class RiskSettings:
    """Sizes of the run. ``quick()`` is a small version for tests (a shorter history, fewer refits)."""

    start: str | None = None          # first date of the index returns used (None: 1999)
    window: int = 1000                # rolling estimation window, days
    refit_every: int = 1              # VaR backtest: days between GARCH refits
    portfolio_refit_every: int = 21   # portfolio backtest: days between GARCH refits
    horizon: int = 10                 # stress horizon, trading days
    scenarios: int = 2000             # per scenario set
    paths: int = 2048                 # Monte Carlo paths of the book revaluation grid
    var_paths: int = 20_000           # simulated paths of the FHS / MC VaR
    spot_nodes: int = 9               # revaluation grid per scenario set and group of trades
    variance_nodes: int = 6
    max_trades: int | None = None     # stress only the first trades of the book (None: all on SPX, ACME)

    @classmethod
    def quick(cls) -> "RiskSettings":
        return cls(start="2013-01-01", window=500, refit_every=20, portfolio_refit_every=63, horizon=5,
                   scenarios=200, paths=1024, var_paths=2000, max_trades=16)


def index_returns(start=None) -> pd.DataFrame:
    """Daily log returns in percent of the S&P 500 and the NASDAQ (adjusted closes, same trading days)."""
    from arch.data import nasdaq, sp500
    prices = pd.concat([sp500.load()["Adj Close"].rename("SP500"), nasdaq.load()["Adj Close"].rename("NASDAQ")],
                       axis=1, join="inner").dropna()
    out = (100.0 * np.log(prices).diff()).iloc[1:]
    return out.loc[pd.Timestamp(start):] if start is not None else out


def run(out: Path, settings: RiskSettings | None = None, log=print) -> dict:
    """The whole risk run; writes the report folder ``out`` and returns its tables (and timings)."""
    settings = RiskSettings() if settings is None else settings
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    returns = index_returns(settings.start)
    log(f"{len(returns):,} daily returns of {', '.join(returns.columns)} "
        f"({returns.index[0]:%Y-%m-%d} to {returns.index[-1]:%Y-%m-%d})")

    start = time.perf_counter()
    backtest = var_backtests(returns, settings, out, log)
    timings["var_backtest_s"] = time.perf_counter() - start

    start = time.perf_counter()
    fit, current = current_risk(returns, settings, log)
    current.to_csv(out / "var_today.csv", index=False)
    timings["var_today_s"] = time.perf_counter() - start

    start = time.perf_counter()
    stress = book_stress(returns, fit, settings, out, log)
    timings["stress_s"] = time.perf_counter() - start

    start = time.perf_counter()
    portfolio = portfolio_backtest(settings, out, log)
    timings["portfolio_s"] = time.perf_counter() - start
    pd.Series(timings).to_csv(out / "timings.csv", header=["seconds"])
    return {"var_backtest": backtest, "var_today": current, "stress": stress, "portfolio": portfolio,
            "timings": timings}


# --------------------------------------------------------------------------------------------------
# 1. VaR backtests


def var_backtests(returns: pd.DataFrame, settings: RiskSettings, out: Path, log) -> pd.DataFrame:
    """Rolling one-day VaR of each index: GARCH by MLE and by the network, GJR-t by MLE, historical."""
    import warnings

    from calibrator.var_backtest import plot_var_backtest, var_backtest
    tables = []
    for name in returns.columns:
        series = returns[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # per-window fit warnings are counted in the forecasts' info
            garch = var_backtest(series, methods=("mle", "nn", "historical"), window=settings.window,
                                 refit_every=settings.refit_every)
            gjr = var_backtest(series, methods=("mle",), window=settings.window, refit_every=settings.refit_every,
                               vol="gjr", dist="t")
        forecasts = {"GARCH MLE": garch.forecasts["mle"], "GARCH NN": garch.forecasts["nn"],
                     "GJR-t MLE": gjr.forecasts["mle"], "historical": garch.forecasts["historical"]}
        labels = {"mle": "GARCH MLE", "nn": "GARCH NN", "historical": "historical"}
        table = pd.concat([garch.table.assign(method=garch.table["method"].map(labels)),
                           gjr.table.assign(method="GJR-t MLE")], ignore_index=True)
        tables.append(table.assign(asset=name))
        plot_var_backtest(forecasts, out / f"var_backtest_{name.lower()}.png",
                          title=f"{name}, window {settings.window} days")
        log(f"VaR backtest of {name}: {len(garch.forecasts['mle']):,} days, "
            f"{sum(garch.table['seconds'].unique()) + gjr.table['seconds'].iloc[0]:.1f} s")
    table = pd.concat(tables, ignore_index=True)
    columns = ["asset", "method", "level", "days", "exceptions", "rate", "expected_rate", "kupiec_p", "ind_p", "cc_p",
               "mean_var", "es_ratio"]
    table = table[columns + [c for c in table.columns if c not in columns]]
    table.to_csv(out / "var_backtest.csv", index=False)
    return table


# --------------------------------------------------------------------------------------------------
# 2. VaR today


def current_risk(returns: pd.DataFrame, settings: RiskSettings, log):
    """GJR-GARCH-t fit of both indices (one batch) and their VaR/CVaR after the sample, alone and in
    portfolios (equal weight, GARCH-CCC minimum variance)."""
    from calibrator import fit_garch
    from calibrator.portfolio import ccc_covariance, min_variance_weights
    from calibrator.value_at_risk import garch_var, portfolio_var
    fit = fit_garch(returns, vol="gjr", dist="t", mean="constant", percent=True)
    rows = []
    for method in ("parametric", "fhs", "mc"):
        table = garch_var(fit, levels=(0.95, 0.99), horizons=(1, settings.horizon), method=method, returns=returns,
                          n_paths=settings.var_paths)
        rows.append(table.rename(columns={"series": "position"}))
    weights = {"equal weight": np.full(returns.shape[1], 1.0 / returns.shape[1]),
               "min variance": np.asarray(min_variance_weights(ccc_covariance(fit, returns).covariance))}
    for label, w in weights.items():
        for method in ("parametric", "fhs", "mc"):
            table = portfolio_var(fit, returns, w, levels=(0.95, 0.99), horizons=(1, settings.horizon), method=method,
                                  n_paths=settings.var_paths)
            rows.append(table.assign(position=f"{label} ({', '.join(f'{x:.0%}' for x in w)})"))
    current = pd.concat(rows, ignore_index=True)[["position", "method", "horizon", "level", "var", "cvar"]]
    log(f"VaR today (percent of value, after {returns.index[-1]:%Y-%m-%d}): "
        + ", ".join(f"{r.position} {r.horizon}d 99% {r['var']:.2f}" for _, r in
                    current[(current.method == "parametric") & (current.level == 0.99)].iterrows()))
    return fit, current


# --------------------------------------------------------------------------------------------------
# 3. stress


def scenario_sets(returns: pd.DataFrame, fit, settings: RiskSettings) -> dict:
    """Three joint 10-day scenario sets of the indices (filtered historical simulation)."""
    from calibrator.stress import RegimeShift, garch_scenarios, peak_variance
    common = dict(horizon=settings.horizon, n_scenarios=settings.scenarios, method="fhs", seed=1)
    crisis = returns.index[(returns.index >= "2008-09-01") & (returns.index <= "2009-06-30")]
    peak = peak_variance(fit, "2008-09-01", "2009-06-30")[0] if len(crisis) else "peak"
    return {
        "today": garch_scenarios(fit, returns, **common),
        "2008 peak variance": garch_scenarios(fit, returns, start_variance=peak, **common),
        "regime shift": garch_scenarios(fit, returns, regime=RegimeShift(day=2, long_run_variance_ratio=3.0,
                                                                         persistence=0.99), **common),
    }


def book_stress(returns: pd.DataFrame, fit, settings: RiskSettings, out: Path, log) -> pd.DataFrame:
    """The example book's trades on the two indices' proxies, revalued under every scenario set (each
    set on its own grid: a grid spanning calm and crisis sets together would be too coarse for both)."""
    from calibrator.value_at_risk import empirical_var_cvar

    from .book_stress import revalue_book
    from .engine import MonteCarlo
    from .example_book import example_book, example_market
    from ._warning_texts import collected
    from .resolution import UnresolvedPriceWarning
    trades = example_book()
    trades = trades[trades["underlying"].isin(STRESS_UNDERLYINGS.values())].reset_index(drop=True)
    if settings.max_trades is not None:
        trades = trades.iloc[:settings.max_trades]
    rows, pnl_by_set, per_trade = [], {}, []
    for label, scenarios in scenario_sets(returns, fit, settings).items():
        start = time.perf_counter()
        with collected(UnresolvedPriceWarning) as unresolved:
            result = revalue_book(trades, example_market(), scenarios, mc=MonteCarlo(paths=settings.paths, seed=3),
                                  underlyings=STRESS_UNDERLYINGS, spot_nodes=settings.spot_nodes,
                                  variance_nodes=settings.variance_nodes)
        for text in unresolved:
            log(f"stress '{label}', today's prices: {text}")
        failed = result.trades[result.trades["status"] != "ok"]
        if len(failed):
            log(f"stress '{label}': {len(failed)} trade(s) not revalued, e.g. {failed['error'].iloc[0]}")
        pnl_by_set[label] = result.pnl
        per_trade.append(result.trades.assign(scenarios=label))
        var, cvar = empirical_var_cvar(result.pnl, np.array([0.95, 0.99]))
        rows.append(dict(scenarios=label, description=scenarios.label, trades=int((result.trades.status == "ok").sum()),
                         book_value=float(result.trades["value_today"].sum()), mean_pnl=float(result.pnl.mean()),
                         var_95=float(var[0]), cvar_95=float(cvar[0]), var_99=float(var[1]), cvar_99=float(cvar[1]),
                         worst_pnl=float(result.pnl.min()), seconds=time.perf_counter() - start))
        log(f"stress '{label}': {settings.horizon}-day P&L of {rows[-1]['trades']} trades, 99% VaR "
            f"{rows[-1]['var_99']:,.0f}, CVaR {rows[-1]['cvar_99']:,.0f} ({rows[-1]['seconds']:.0f} s)")
    table = pd.DataFrame(rows)
    table.to_csv(out / "stress.csv", index=False)
    pd.concat(per_trade, ignore_index=True).to_csv(out / "stress_trades.csv", index=False)
    _plot_pnl(pnl_by_set, out / "stress_pnl.png", settings.horizon)
    return table


def _plot_pnl(pnl_by_set: dict, path: Path, horizon: int) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8, 4), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    values = np.concatenate(list(pnl_by_set.values()))
    bins = np.linspace(np.quantile(values, 0.001), np.quantile(values, 0.999), 60)
    for label, pnl in pnl_by_set.items():
        ax.hist(np.clip(pnl, bins[0], bins[-1]), bins=bins, histtype="step", lw=1.3, density=True, label=label)
    ax.set_xlabel(f"{horizon}-day P&L of the book's SPX and ACME trades")
    ax.set_ylabel("density")
    ax.set_title("Option book under GARCH stress scenarios")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


# --------------------------------------------------------------------------------------------------
# 4. portfolio


def portfolio_backtest(settings: RiskSettings, out: Path, log) -> pd.DataFrame:
    import warnings

    from calibrator.asset_data import embedded_asset_returns
    from calibrator.portfolio import rebalanced_backtest
    assets = embedded_asset_returns(start=settings.start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # counted in the result (fits_not_ok)
        result = rebalanced_backtest(assets, window=settings.window, refit_every=settings.portfolio_refit_every)
    summary = result.summary.join(result.volatility_ratio, how="left")
    summary.to_csv(out / "portfolio_backtest.csv")
    _plot_wealth(result.returns, out / "portfolio_wealth.png")
    ratio = result.volatility_ratio.iloc[0]
    log(f"portfolio ({', '.join(assets.columns)}, {len(result.returns):,} days): GARCH min-variance volatility "
        f"{summary.iloc[0]['ann_volatility_pct']:.2f}% vs equal weight {summary.loc['equal_weight', 'ann_volatility_pct']:.2f}% "
        f"(ratio {ratio.iloc[0]:.3f})")
    return summary


def _plot_wealth(returns: pd.DataFrame, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(9, 4), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    wealth = (1.0 + returns / 100.0).cumprod()
    for column in wealth.columns:
        ax.plot(wealth.index, wealth[column], lw=1.0, label=column)
    ax.set_yscale("log")
    ax.set_ylabel("wealth (log scale)")
    ax.set_title("Daily-rebalanced portfolios, out of sample")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


# --------------------------------------------------------------------------------------------------
# printing


def display_tables(summary: dict) -> dict:
    """The run's tables as short, formatted text columns for a terminal: title -> DataFrame of strings."""
    backtest = summary["var_backtest"]
    percent = lambda x: f"{100 * x:.2f}%"  # noqa: E731
    level = lambda x: f"{100 * x:g}%"  # noqa: E731
    p_value = lambda x: f"{x:.3f}" if x >= 0.001 else f"{x:.0e}"  # noqa: E731
    tables = {"One-day VaR backtest (exception rate; p-values of Kupiec, Christoffersen independence, "
              "conditional coverage)": pd.DataFrame({
                  "asset": backtest["asset"], "method": backtest["method"], "level": backtest["level"].map(level),
                  "days": backtest["days"], "exceptions": backtest["exceptions"], "rate": backtest["rate"].map(percent),
                  "Kupiec p": backtest["kupiec_p"].map(p_value), "indep. p": backtest["ind_p"].map(p_value),
                  "cond. cov. p": backtest["cc_p"].map(p_value)})}
    today = summary["var_today"]
    today = today[today["level"] == 0.99].pivot_table(index=["position", "method"], columns="horizon",
                                                       values=["var", "cvar"], sort=False)
    tables["VaR and CVaR today at 99% (percent of value)"] = pd.DataFrame(
        {f"{name.upper()} {h}d": today[(name, h)].map(lambda x: f"{x:.2f}")
         for name in ("var", "cvar") for h in today.columns.levels[1]}).reset_index()
    stress = summary["stress"]
    money = lambda x: f"{x:,.0f}"  # noqa: E731
    tables["Option book under stress scenarios (P&L over the horizon, book currency)"] = pd.DataFrame({
        "scenarios": stress["scenarios"], "trades": stress["trades"], "mean P&L": stress["mean_pnl"].map(money),
        "VaR 95%": stress["var_95"].map(money), "VaR 99%": stress["var_99"].map(money),
        "CVaR 99%": stress["cvar_99"].map(money), "worst": stress["worst_pnl"].map(money)})
    portfolio = summary["portfolio"]
    interval = [f"{r:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(r) else "" for r, lo, hi in
                zip(portfolio["vol_ratio"], portfolio["ci_low"], portfolio["ci_high"])]
    tables["Daily-rebalanced portfolios, out of sample (percent a year)"] = pd.DataFrame({
        "strategy": portfolio.index, "return": portfolio["ann_return_pct"].map(lambda x: f"{x:.2f}"),
        "volatility": portfolio["ann_volatility_pct"].map(lambda x: f"{x:.2f}"),
        "max drawdown": portfolio["max_drawdown_pct"].map(lambda x: f"{x:.1f}"),
        "turnover/day": portfolio["avg_turnover"].map(lambda x: f"{x:.3f}"), "vol / equal weight [95%]": interval})
    return tables
