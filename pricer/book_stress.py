"""Revalue a book under market scenarios at a horizon: the book's P&L distribution, VaR and CVaR.

``revalue_book(trades, market, scenarios)`` prices every trade today (``price_book``) and at the
horizon, H trading days later, in each of K scenarios (``pricer.scenarios.MarketScenarios``), and
returns the P&L per trade and scenario: quantity x (value at the horizon + cash paid inside the
horizon - value today), undiscounted over the horizon.

How the horizon values are computed (full revaluation on a grid, the classic risk-system method):

* for each group of trades of one underlying and one structure (the book's own groups), the engine
  prices every trade at a grid of market states: spot x exp(x) for ``spot_nodes`` log returns x
  spanning the scenarios' range, and the variance state (Heston v0, GARCH h0, Black-Scholes vol^2)
  times ``variance_nodes`` ratios spanning theirs; time to expiry shortened by the horizon. One
  ``price`` call per group covers the whole grid (products x states broadcast into one batch), and
  all states share their random numbers (common random numbers), so the grid is smooth in the state;
* each scenario's value is read off the grid: monotone cubic (PCHIP) in x, a local cubic in log
  variance (``_read_grid`` says why).
  ``tests/test_book_stress.py`` measures that this reading error is below the Monte Carlo error of a
  price;
* path dependence inside the horizon uses the scenario's daily path: a barrier breached at a daily
  close inside the horizon (continuous monitoring), or on a monitoring date inside it (discrete), is
  knocked: a knock-out pays its rebate (cash) and is worth nothing after, a knock-in becomes the
  European option with the same strike (also priced on the grid). A continuous barrier crossed and
  re-crossed between two daily closes is not seen (a small understatement of breaches, shrinking
  with the horizon's number of days);
* Asian fixings that fall inside the horizon become past fixings. Their values follow the log-linear
  path from today's spot to the grid's horizon spot (the conditional mean of a Brownian path given
  its ends), so the accrued average is a function of the grid state. This is exact for fixings at
  the horizon itself and an approximation for the others (small: the horizon is days, the averages
  months);
* a trade that expires inside the horizon, or one the book rejects, gets status "error" and a text
  that names why; the others are revalued as usual (a bad row never stops the good ones).
Underlyings without scenarios keep their spot and variance (only time passes).
"""
from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pandas as pd

from .book import PreparedBook, prepare_book, price_book_groups
from .engine import MonteCarlo, price
from .models import BlackScholes, Garch, Heston
from .products import MIN_TIME, AsianOption, BarrierOption, EuropeanOption, schedule_times
from .scenarios import TRADING_DAYS, MarketScenarios

__all__ = ["revalue_book", "BookStress", "STRESS_PATHS"]

#: default Monte Carlo paths for the grid: the grid shares random numbers across states, so P&L
#: differences are far more accurate than each price; raise it for tight levels
STRESS_PATHS = 4096
#: trades per ``price`` call (a group's last call is padded): one compiled program per product kind,
#: model and grid size serves every group
ROWS_PER_CALL = 4


@dataclasses.dataclass(frozen=True, eq=False)
class BookStress:
    """What ``revalue_book`` returns.

    scenarios: the ``MarketScenarios`` used. trades: one row per trade (input order): trade_id,
    underlying, value_today (quantity x price today), mean_pnl, status ("ok" | "error"), error.
    trade_pnl: (n_trades, K) P&L per trade and scenario, NaN for rows with errors. pnl: (K,) the book's
    P&L per scenario (sum over the rows that are ok).
    """

    scenarios: MarketScenarios
    trades: pd.DataFrame
    trade_pnl: np.ndarray
    pnl: np.ndarray

    def risk(self, levels=(0.95, 0.99)) -> pd.DataFrame:
        """VaR and CVaR of the book's P&L (losses, positive numbers, in the book's currency) at ``levels``,
        with the mean P&L and the worst scenario."""
        from calibrator.value_at_risk import empirical_var_cvar
        levels = np.atleast_1d(np.asarray(levels, dtype=float))
        var, cvar = empirical_var_cvar(self.pnl, levels)
        return pd.DataFrame({"level": levels, "var": np.atleast_1d(var), "cvar": np.atleast_1d(cvar),
                             "mean_pnl": float(np.mean(self.pnl)), "worst_pnl": float(np.min(self.pnl)),
                             "scenarios": self.pnl.size, "horizon_days": self.scenarios.horizon_days})


def revalue_book(trades: pd.DataFrame, market: pd.DataFrame, scenarios: MarketScenarios, *,
                 mc: MonteCarlo | None = None, underlyings: dict | None = None, spot_nodes: int = 9,
                 variance_nodes: int = 6) -> BookStress:
    """Revalue ``trades`` (``price_book``'s columns) under ``market`` today and in every scenario at the
    horizon (see the module docstring).

    scenarios: ``MarketScenarios`` whose names are book underlyings, or mapped to them by
        ``underlyings`` ({scenario name: book underlying}, e.g. {"sp500": "SPX"}).
    mc: Monte Carlo settings for today's prices and the horizon grid (default ``STRESS_PATHS`` paths).
    spot_nodes (>= 2), variance_nodes (>= 2): grid size per group; the group's cost is
        trades x spot_nodes x variance_nodes prices (variance nodes collapse to one where every
        scenario leaves the variance unchanged).
    """
    mc = MonteCarlo(paths=STRESS_PATHS) if mc is None else mc
    if not isinstance(scenarios, MarketScenarios):
        raise ValueError(f"scenarios must be pricer.scenarios.MarketScenarios, got {type(scenarios).__name__}")
    if int(spot_nodes) < 2 or int(variance_nodes) < 2:
        raise ValueError(f"spot_nodes and variance_nodes must be >= 2, got {spot_nodes!r} and {variance_nodes!r}")
    scenario_of = _scenario_columns(scenarios, underlyings)
    book = prepare_book(trades, market, mc)
    today = book.assemble(price_book_groups(book))
    n, count = len(book.trades), scenarios.count
    horizon_value = np.full((n, count), np.nan)
    failures = [""] * n
    for task in book.tasks:
        column = scenario_of.get(task.key[0])
        path = scenarios.log_spot_path[:, :, column] if column is not None else np.zeros((count, scenarios.horizon_days))
        ratio = scenarios.variance_ratio[:, column] if column is not None else np.ones(count)
        try:
            horizon_value[task.rows] = _task_values(task, path, ratio, scenarios.horizon_years, int(spot_nodes),
                                                    int(variance_nodes))
        except _TradeError as exc:
            for row in task.rows:
                failures[row] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a failing group is reported on its rows, the others go on
            for row in task.rows:
                failures[row] = f"revaluation failed ({type(exc).__name__}): {exc}"
    return _assemble(book, today, horizon_value, failures, scenarios)


class _TradeError(ValueError):
    """A reason the trades of a group cannot be revalued at the horizon (names the field)."""


def _scenario_columns(scenarios: MarketScenarios, underlyings: dict | None) -> dict:
    """book underlying -> column of the scenarios."""
    if underlyings is None:
        return {name: j for j, name in enumerate(scenarios.names)}
    if not isinstance(underlyings, dict):
        raise ValueError(f"underlyings must be a dict {{scenario name: book underlying}}, got {type(underlyings).__name__}")
    out = {}
    for name, underlying in underlyings.items():
        column = scenarios.column(str(name))
        if str(underlying) in out:
            raise ValueError(f"underlyings maps two scenario columns to {underlying!r}")
        out[str(underlying)] = column
    return out


# --------------------------------------------------------------------------------------------------
# one group


def _task_values(task, path: np.ndarray, ratio: np.ndarray, horizon: float, spot_nodes: int,
                 variance_nodes: int) -> np.ndarray:
    """Values (rows, K) of a task's trades at the horizon in each scenario (path (K, H), ratio (K,))."""
    _, kind, schedule, expiry = task.key
    remaining = expiry - horizon
    if remaining < MIN_TIME:
        raise _TradeError(f"expiry {expiry!r} years is inside the stress horizon ({path.shape[1]} trading days): "
                          f"not revalued")
    rows = task.rows.size
    x_end = path[:, -1]
    log_ratio = np.log(ratio)
    v_nodes = _nodes(log_ratio, variance_nodes)
    x_common = _nodes(x_end, spot_nodes)
    if kind != "barrier":
        x_nodes = np.broadcast_to(x_common, (rows, x_common.size))
        product = _product_at_horizon(task, kind, schedule, expiry, horizon, x_nodes, v_nodes.size)
        return _grid_values(product, task.model, task.mc, x_nodes, v_nodes, x_end, log_ratio)
    # barriers: the scenarios that touch the barrier are knocked (exactly); the grid covers the rest,
    # the side of the barrier where the trade is still alive, so no node straddles its discontinuity
    columns = task.columns
    knocked = _barrier_breached(task, schedule, expiry, path)                        # (rows, K)
    level = np.log(columns["barrier"] / float(np.asarray(task.model.spot)))
    x_nodes = np.stack([_nodes(np.where(k, np.nan, x_end), spot_nodes, limit=(lv, up == 1))
                        for k, lv, up in zip(knocked, level, columns["up"])])
    product = _product_at_horizon(task, kind, schedule, expiry, horizon, x_nodes, v_nodes.size)
    alive = _grid_values(product, task.model, task.mc, x_nodes, v_nodes, x_end, log_ratio)
    knock_in = columns["knock_in"][:, None] == 1
    out = np.where(knocked & ~knock_in, columns["rebate"][:, None], alive)   # a knock-out pays its rebate, then nothing
    wanted = np.flatnonzero(np.any(knocked & knock_in, axis=1))              # knock-ins become Europeans
    if wanted.size:
        vanilla = EuropeanOption(strike=columns["strike"][wanted, None], expiry=remaining, call=columns["call"][wanted, None])
        x_full = np.broadcast_to(x_common, (wanted.size, x_common.size))
        values = _grid_values(vanilla, task.model, task.mc, x_full, v_nodes, x_end, log_ratio)
        out[wanted] = np.where(knocked[wanted] & knock_in[wanted], values, out[wanted])
    return out


def _nodes(values: np.ndarray, count: int, limit=None) -> np.ndarray:
    """Increasing grid nodes spanning the finite ``values``.

    Without ``limit``: ``count`` equally spaced nodes, or one node when the values are all equal. With
    ``limit`` = (log barrier level, up): always ``count`` nodes, on the barrier's safe side (where every
    finite value already lies): a span of 0.01 from a single value away from the barrier, or the 0.2
    below (up) / above (down) the level when no value is finite (all knocked; those nodes are not read).
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        level, up = limit
        return np.linspace(level - 0.2, level - 0.01, count) if up else np.linspace(level + 0.01, level + 0.2, count)
    low, high = float(np.min(finite)), float(np.max(finite))
    if high - low > 1e-12 * max(1.0, abs(low)):
        return np.linspace(low, high, count)
    if limit is None:
        return np.array([low])
    return np.linspace(low - 0.01, low, count) if limit[1] else np.linspace(low, low + 0.01, count)


def _grid_values(product, model, mc, x_nodes: np.ndarray, v_nodes: np.ndarray, x_end: np.ndarray,
                 log_ratio: np.ndarray) -> np.ndarray:
    """Price ``product`` (R rows, fields (R, 1) or (R, nodes)) at every grid state and read the values
    (R, K) at the scenarios (x_end, log_ratio) (K,). x_nodes (R, nx): log spot returns per row; v_nodes
    (nv,): log variance ratios. Calls of exactly ``ROWS_PER_CALL`` rows (the last padded with copies
    of its first row), so groups share compiled programs; all states of a call share random numbers."""
    rows = x_nodes.shape[0]
    out = np.empty((rows, x_end.size))
    for start in range(0, rows, ROWS_PER_CALL):
        chunk = np.arange(start, min(start + ROWS_PER_CALL, rows))
        padded = np.concatenate([chunk, np.full(ROWS_PER_CALL - chunk.size, chunk[0])])
        take = lambda a: a[padded] if np.ndim(a) == 2 else a  # noqa: E731 - per-row fields; scalars as they are
        part = jax.tree_util.tree_map(take, product)
        values = np.asarray(price(part, _model_at(model, x_nodes[padded], v_nodes), mc).price, dtype=np.float64)
        grid = np.broadcast_to(values, (padded.size, x_nodes.shape[1] * v_nodes.size)).reshape(
            padded.size, x_nodes.shape[1], v_nodes.size)
        for i, row in enumerate(chunk):
            out[row] = _read_grid(grid[i], x_nodes[row], v_nodes, x_end, log_ratio)
    return out


def _model_at(model, x_nodes: np.ndarray, v_nodes: np.ndarray):
    """The model at every grid state, fields (R, nx * nv), x-major: spot e^x (x per row), variance e^v."""
    x = np.repeat(x_nodes, v_nodes.size, axis=1)
    variance = np.exp(np.tile(v_nodes, x_nodes.shape[1]))[None, :]
    spot = np.asarray(model.spot, dtype=np.float64) * np.exp(x)
    if isinstance(model, BlackScholes):
        return dataclasses.replace(model, spot=spot, vol=np.asarray(model.vol) * np.sqrt(variance))
    if isinstance(model, Heston):
        return dataclasses.replace(model, spot=spot, v0=np.asarray(model.v0) * variance)
    if isinstance(model, Garch):
        return dataclasses.replace(model, spot=spot, h0=np.asarray(model.initial_variance) * variance)
    raise _TradeError(f"model {type(model).__name__} has no stress revaluation")


def _read_grid(grid: np.ndarray, x_nodes: np.ndarray, v_nodes: np.ndarray, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Values (K,) at states (x, v) (K,) from one trade's grid (nx, nv): monotone cubic (PCHIP) in x,
    where a value can bend sharply (near a barrier, or a strike close to expiry) and must not
    overshoot; a cubic through the nearest four variance nodes in v, where prices are smooth (and
    convex in log variance, which a linear reading would overstate)."""
    from scipy.interpolate import PchipInterpolator
    along_x = (PchipInterpolator(x_nodes, grid, axis=0)(np.clip(x, x_nodes[0], x_nodes[-1])) if x_nodes.size > 1
               else np.broadcast_to(grid[:1], (x.size, v_nodes.size)))              # (K, nv)
    if v_nodes.size == 1:
        return along_x[:, 0]
    window, weights = _local_polynomial_weights(v_nodes, np.clip(v, v_nodes[0], v_nodes[-1]))
    return np.sum(np.take_along_axis(along_x, window, axis=1) * weights, axis=1)


def _local_polynomial_weights(nodes: np.ndarray, points: np.ndarray, order: int = 4):
    """Lagrange interpolation through the ``order`` nodes nearest each point (all of them when fewer):
    (window (K, m) node indices, weights (K, m)), value = sum_j weights_j f(nodes[window_j])."""
    m = min(order, nodes.size)
    first = np.clip(np.searchsorted(nodes, points) - m // 2, 0, nodes.size - m)
    window = first[:, None] + np.arange(m)[None, :]
    at = nodes[window]                                                                  # (K, m)
    weights = np.ones_like(at)
    for j in range(m):
        for i in range(m):
            if i != j:
                weights[:, j] *= (points - at[:, i]) / (at[:, j] - at[:, i])
    return window, weights


def _past_fixings(schedule, expiry: float, horizon: float):
    """(times inside the horizon, remaining times shifted to the horizon) of a schedule."""
    times = schedule_times(schedule, np.array([expiry]))[0]
    inside = times <= horizon * (1 + 1e-12)
    return times[inside], tuple(float(t) for t in times[~inside] - horizon)


def _product_at_horizon(task, kind: str, schedule, expiry: float, horizon: float, x_nodes: np.ndarray,
                        variance_count: int):
    """The task's products seen from the horizon. Asian accruals depend on the grid's spot: (rows, nx * nv)."""
    columns = task.columns
    remaining = expiry - horizon
    field = lambda name: columns[name][:, None]  # noqa: E731 - (rows, 1), broadcast against the states
    if kind == "european":
        return EuropeanOption(strike=field("strike"), expiry=remaining, call=field("call"))
    if kind == "barrier":
        monitoring = schedule if schedule == "continuous" else _past_fixings(schedule, expiry, horizon)[1]
        return BarrierOption(strike=field("strike"), barrier=field("barrier"), expiry=remaining, call=field("call"),
                             up=field("up"), knock_in=field("knock_in"), rebate=field("rebate"), monitoring=monitoring)
    inside, later = _past_fixings(schedule, expiry, horizon)
    count, average = field("past_count"), field("past_average")
    if inside.size:
        # log S at each fixing inside the horizon, on the straight log path to the node's spot: (rows, nodes, m)
        x = np.repeat(x_nodes, variance_count, axis=1)
        log_fixings = np.log(float(np.asarray(task.model.spot))) + x[..., None] * (inside / horizon)
        seasoned = count > 0
        log_past = np.where(seasoned, np.log(np.where(seasoned, average, 1.0)), 0.0)
        total = count + inside.size
        geometric_average = np.exp((count * log_past + log_fixings.sum(axis=-1)) / total)
        arithmetic_average = (count * average + np.exp(log_fixings).sum(axis=-1)) / total
        average = np.where(field("geometric") == 1, geometric_average, arithmetic_average)
        count = np.broadcast_to(total, average.shape)
    return AsianOption(strike=field("strike"), expiry=remaining, fixings=later, call=field("call"),
                       geometric=field("geometric"), past_average=average, past_count=count)


def _barrier_breached(task, schedule, expiry: float, path: np.ndarray) -> np.ndarray:
    """(rows, K): in each scenario, the barrier is on or beyond the spot today, at the horizon or at a
    close inside the horizon (continuous monitoring), or on a monitoring date inside it (discrete).

    Today and the horizon count for every monitoring because the engine prices a barrier that the
    spot is on or beyond as already touched (``BarrierOption``), so the grid could not value them."""
    columns = task.columns
    level = np.log(columns["barrier"] / float(np.asarray(task.model.spot)))[:, None]   # (rows, 1)
    up = columns["up"][:, None] == 1
    horizon_days = path.shape[1]
    if schedule == "continuous":
        days = np.arange(1, horizon_days + 1)
    else:
        inside, _ = _past_fixings(schedule, expiry, horizon_days / TRADING_DAYS)
        days = np.unique(np.concatenate([np.clip(np.rint(inside * TRADING_DAYS).astype(int), 1, horizon_days),
                                         [horizon_days]]))
    seen = np.concatenate([np.zeros((path.shape[0], 1)), path[:, days - 1]], axis=1)    # (K, today + days)
    highest, lowest = seen.max(axis=1)[None, :], seen.min(axis=1)[None, :]
    return np.where(up, highest >= level, lowest <= level)


# --------------------------------------------------------------------------------------------------
# output


def _assemble(book: PreparedBook, today: pd.DataFrame, horizon_value: np.ndarray, failures: list,
              scenarios: MarketScenarios) -> BookStress:
    quantity = book.fields["quantity"]
    status = today["status"].to_numpy(dtype=object).copy()
    error = today["error"].to_numpy(dtype=object).copy()
    trade_ids = book.trades["trade_id"].astype(str).to_numpy()
    for row, message in enumerate(failures):
        if message and status[row] == "ok":
            status[row], error[row] = "error", f"row {row + 1} ({trade_ids[row]}): {message}"
    ok = status == "ok"
    price_today = today["price"].to_numpy(dtype=np.float64)
    cash_and_value = horizon_value
    trade_pnl = np.where(ok[:, None], quantity[:, None] * (cash_and_value - price_today[:, None]), np.nan)
    bad_number = ok & ~np.all(np.isfinite(trade_pnl), axis=1)
    for row in np.flatnonzero(bad_number):
        status[row], error[row] = "error", f"row {row + 1} ({trade_ids[row]}): a horizon value is not finite"
        trade_pnl[row] = np.nan
    ok = status == "ok"
    frame = pd.DataFrame({
        "trade_id": book.trades["trade_id"].array,
        "underlying": book.fields["underlying"],
        "value_today": np.where(ok, quantity * price_today, np.nan),
        "mean_pnl": np.where(ok, np.nanmean(np.where(ok[:, None], trade_pnl, 0.0), axis=1), np.nan),
        "status": status.astype(str), "error": error.astype(str),
    }, index=book.trades.index)
    return BookStress(scenarios, frame, trade_pnl, np.sum(trade_pnl[ok], axis=0))
