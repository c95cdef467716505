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
* each scenario's value is read off the grid by monotone cubic (PCHIP) interpolation in log variance
  and in x (``stress_grid.read_grid`` says why). Nodes go where the reading error is largest
  (``stress_grid.nodes``: scenarios in a gap times its width cubed); ``tests/test_book_stress.py``
  measures that this reading error is below the Monte Carlo error of a price. A set with far outliers
  (crisis scenarios 20-35% away) still takes nodes from the bulk: a Heston barrier among 36 calm and 4
  crisis scenarios was up to 3.1 standard errors off in the bulk with the default 9 spot nodes, 0.6 with
  17: raise ``spot_nodes`` for such sets;
* path dependence inside the horizon uses the scenario's daily path: a barrier breached at a daily
  close inside the horizon (continuous monitoring), or on a monitoring date inside it (discrete), is
  knocked: a knock-out pays its rebate (cash) and is worth nothing after, a knock-in becomes the
  European option with the same strike (also priced on the grid). A continuous barrier crossed and
  re-crossed between two daily closes is not seen (a small understatement of breaches, shrinking
  with the horizon's number of days);
* Asian fixings that fall inside the horizon become past fixings. The grid accrues them along the
  straight log path from today's spot to each node's spot, scaled by a few factors that span the
  scenarios' own accruals, and each scenario's value is interpolated at its own daily path's accrual
  (``_asian_values``);
* a trade that expires inside the horizon, or one the book rejects, gets status "error" and a text
  that names why; the others are revalued as usual (a bad row never stops the good ones).
Underlyings without scenarios keep their spot and variance (only time passes).
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

from .book import PreparedBook, prepare_book, price_book_groups
from ._asian_accrual import ACCRUAL_NODES, _accrued, _lagrange
from .engine import MonteCarlo
from .grid import under_half_a_step
from .products import MIN_TIME, AsianOption, BarrierOption, EuropeanOption, schedule_times
from .stress_grid import StressError as _TradeError, distinct, grid_values, nodes, proxies
from .scenarios import TRADING_DAYS, MarketScenarios
from ._stacklevel import user_stacklevel

__all__ = ["revalue_book", "BookStress", "STRESS_PATHS"]

#: default Monte Carlo paths for the grid: the grid shares random numbers across states, so P&L
#: differences are far more accurate than each price; raise it for tight levels
STRESS_PATHS = 4096
#: today's prices use this many times the grid's paths
TODAY_PATHS = 4


@dataclasses.dataclass(frozen=True, eq=False)
class BookStress:
    """What ``revalue_book`` returns.

    scenarios: the ``MarketScenarios`` used. trades: one row per trade (input order): trade_id,
    underlying, quantity, price_today and stderr_today (per unit), stderr_horizon (per unit: the Monte
    Carlo standard error of the trade's horizon values, read off its grid like the values, the largest
    over the scenarios), value_today (quantity x price today), mean_pnl, status ("ok" | "error"), error.
    trade_pnl: (n_trades, K) P&L per trade and scenario, NaN for rows with errors. pnl: (K,) the book's
    P&L per scenario (sum over the rows that are ok; NaN if none is).
    """

    scenarios: MarketScenarios
    trades: pd.DataFrame
    trade_pnl: np.ndarray
    pnl: np.ndarray

    @property
    def today_error(self) -> float:
        """A bound on the Monte Carlo error that today's prices put on every scenario's P&L alike (one
        standard error, the trades' errors added as if perfectly correlated): sum |quantity| x stderr
        today. It moves the whole P&L distribution, so VaR and CVaR, by the same amount."""
        ok = self.trades["status"] == "ok"
        return float(np.nansum(np.abs(self.trades.loc[ok, "quantity"]) * self.trades.loc[ok, "stderr_today"]))

    @property
    def horizon_error(self) -> float:
        """The same bound for the horizon values (their grids' Monte Carlo error, which shifts nearby
        scenarios alike): sum |quantity| x stderr_horizon. Add it to ``today_error`` for the whole P&L's."""
        ok = self.trades["status"] == "ok"
        return float(np.nansum(np.abs(self.trades.loc[ok, "quantity"]) * self.trades.loc[ok, "stderr_horizon"]))

    def risk(self, levels=(0.95, 0.99)) -> pd.DataFrame:
        """VaR and CVaR of the book's P&L (losses, positive numbers, in the book's currency) at ``levels``,
        with the mean P&L, the worst scenario, ``today_error`` and ``horizon_error``. Raises when no trade
        was revalued."""
        from calibrator.value_at_risk import empirical_var_cvar
        if not (self.trades["status"] == "ok").any():
            raise ValueError("no trade was revalued (every row has an error): there is no P&L to measure")
        levels = np.atleast_1d(np.asarray(levels, dtype=float))
        var, cvar = empirical_var_cvar(self.pnl, levels)
        return pd.DataFrame({"level": levels, "var": np.atleast_1d(var), "cvar": np.atleast_1d(cvar),
                             "mean_pnl": float(np.mean(self.pnl)), "worst_pnl": float(np.min(self.pnl)),
                             "today_error": self.today_error, "horizon_error": self.horizon_error,
                             "scenarios": self.pnl.size,
                             "horizon_days": self.scenarios.horizon_days})


def revalue_book(trades: pd.DataFrame, market: pd.DataFrame, scenarios: MarketScenarios, *,
                 mc: MonteCarlo | None = None, underlyings: dict | None = None, spot_nodes: int = 9,
                 variance_nodes: int = 6, today_mc: MonteCarlo | None = None) -> BookStress:
    """Revalue ``trades`` (``price_book``'s columns) under ``market`` today and in every scenario at the
    horizon (see the module docstring).

    scenarios: ``MarketScenarios`` whose names are book underlyings, or mapped to them by
        ``underlyings`` ({scenario name: book underlying}, e.g. {"sp500": "SPX"}).
    mc: Monte Carlo settings of the horizon grid (default ``STRESS_PATHS`` paths). today_mc: those of
        today's prices (default ``mc`` with ``TODAY_PATHS`` times the paths: today's error shifts every
        scenario's P&L alike, see ``BookStress.today_error``, and one price per trade is cheap).
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
    _check_scenarios_are_used(scenario_of, book)
    today_mc = dataclasses.replace(mc, paths=mc.paths * TODAY_PATHS) if today_mc is None else today_mc
    if not isinstance(today_mc, MonteCarlo) or today_mc.dtype != mc.dtype:
        raise ValueError(f"today_mc must be a pricer.MonteCarlo with mc's dtype ({mc.dtype}), got {today_mc!r}")
    today = book.assemble(price_book_groups(book, [dataclasses.replace(task, mc=today_mc) for task in book.tasks]),
                          mc=today_mc)
    n, count = len(book.trades), scenarios.count
    horizon_value, horizon_error = np.full((n, count), np.nan), np.full(n, np.nan)
    failures = [""] * n
    for task in book.tasks:
        column = scenario_of.get(task.key[0])
        path = scenarios.log_spot_path[:, :, column] if column is not None else np.zeros((count, scenarios.horizon_days))
        ratio = scenarios.variance_ratio[:, column] if column is not None else np.ones(count)
        try:
            values, errors = _task_values(task, path, ratio, scenarios.horizon_years, int(spot_nodes),
                                          int(variance_nodes))
            horizon_error[task.rows] = np.max(errors, axis=1)   # per trade: its largest over the scenarios
            # every product here pays >= 0 (rebates are >= 0), so a value below 0 is the grid's Monte Carlo or
            # reading error (measured: -0.12 for a 4-day index call on 4,096 paths, deep out of the money in a
            # crash scenario); the nearest value >= 0 is never further from the true one. NaN stays NaN.
            horizon_value[task.rows] = np.maximum(values, 0.0)
        except _TradeError as exc:
            for row in task.rows:
                failures[row] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a failing group is reported on its rows, the others go on
            for row in task.rows:
                failures[row] = f"revaluation failed ({type(exc).__name__}): {exc}"
    return _assemble(book, today, horizon_value, horizon_error, failures, scenarios)


def _check_scenarios_are_used(scenario_of: dict, book) -> None:
    """Refuse scenarios that move none of the book's underlyings: the book would be revalued with every
    market unchanged (a P&L of time decay alone, a VaR of about 0) and nothing would say why ("stk" for
    "STK", a mapping to a name the book does not have)."""
    booked = {task.key[0] for task in book.tasks}
    if booked and not booked & set(scenario_of):
        raise ValueError(f"the scenarios move {sorted(scenario_of)} but the book's priced trades are on "
                         f"{sorted(booked)}: no trade would move; name the scenario columns after the book's "
                         f"underlyings or map them with underlyings={{scenario name: book underlying}}")
    still = sorted(booked - set(scenario_of))
    if still:   # some move, some do not: allowed (a book may hedge with an unstressed name), but said
        warnings.warn(f"no scenario moves {still}: their trades are revalued with today's market at the horizon "
                      f"(scenarios move {sorted(scenario_of)})", UserWarning, stacklevel=user_stacklevel())


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
                 variance_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Values (rows, K) of a task's trades at the horizon in each scenario (path (K, H), ratio (K,)),
    cash paid inside the horizon included (a knock-out's rebate), and their Monte Carlo standard errors
    (rows, K) (``stress_grid.grid_values``; 0 for a knocked-out trade's rebate)."""
    _, kind, schedule, expiry = task.key
    remaining = expiry - horizon
    if remaining < MIN_TIME:
        raise _TradeError(f"expiry {expiry!r} years is inside the stress horizon ({path.shape[1]} trading days): "
                          f"not revalued")
    if under_half_a_step(remaining, task.model.periods_per_year):
        # a model stepping whole trading days refuses an expiry under half a step (grid.check_expiry_on_steps);
        # an expiry in calendar days often ends that close after a horizon in trading days (15/365 - 10/252
        # is 0.36 of a day): valued one step on, as the nearest step had rounded it before that check
        expiry = horizon + 1.0 / task.model.periods_per_year
        remaining = expiry - horizon
    rows = task.rows.size
    x_end, log_ratio = path[:, -1], np.log(ratio)
    v_nodes = nodes(log_ratio, variance_nodes)
    x_common = np.broadcast_to(nodes(x_end, spot_nodes), (rows, min(spot_nodes, distinct(x_end))))
    grid = lambda product, x_nodes, proxy: grid_values(product, task.model, task.mc, x_nodes, v_nodes,  # noqa: E731
                                                        x_end, log_ratio, proxy)
    if kind == "european":
        product = _product_at_horizon(task, kind, schedule, expiry, horizon, x_common, v_nodes.size)
        return grid(product, x_common, proxies(task, kind, schedule, remaining, x_common, v_nodes, x_end, log_ratio))
    if kind == "asian":
        return _asian_values(task, schedule, expiry, horizon, path, log_ratio, x_common, v_nodes, grid)
    columns = task.columns
    knocked = _barrier_breached(task, schedule, expiry, path)                        # (rows, K)
    if schedule == "continuous":
        # the scenarios that touch the barrier are knocked (exactly); the grid covers the others, on the
        # side of the barrier where the trade is alive, so no node straddles the jump to the rebate
        level = np.log(columns["barrier"] / float(np.asarray(task.model.spot)))
        x_nodes = np.stack([nodes(np.where(k, np.nan, x_end), spot_nodes, limit=(lv, up == 1))
                            for k, lv, up in zip(knocked, level, columns["up"])])
    else:   # between monitoring dates the value is continuous across the barrier
        x_nodes = x_common
    product = _product_at_horizon(task, kind, schedule, expiry, horizon, x_nodes, v_nodes.size)
    alive, alive_errors = grid(product, x_nodes, proxies(task, kind, schedule, remaining, x_nodes, v_nodes, x_end,
                                                         log_ratio))
    knock_in = columns["knock_in"][:, None] == 1
    out = np.where(knocked & ~knock_in, columns["rebate"][:, None], alive)   # a knock-out pays its rebate, then nothing
    errors = np.where(knocked & ~knock_in, 0.0, alive_errors)                 # a known amount: no error
    wanted = np.flatnonzero(np.any(knocked & knock_in, axis=1))              # knock-ins become Europeans
    if wanted.size:
        vanilla = EuropeanOption(strike=columns["strike"][wanted, None], expiry=remaining, call=columns["call"][wanted, None])
        proxy = proxies(task, "european", None, remaining, x_common[wanted], v_nodes, x_end, log_ratio, rows=wanted)
        values, vanilla_errors = grid(vanilla, x_common[wanted], proxy)
        out[wanted] = np.where(knocked[wanted] & knock_in[wanted], values, out[wanted])
        errors[wanted] = np.where(knocked[wanted] & knock_in[wanted], vanilla_errors, errors[wanted])
    return out, errors


def _asian_values(task, schedule, expiry: float, horizon: float, path: np.ndarray, log_ratio: np.ndarray,
                  x_nodes: np.ndarray, v_nodes: np.ndarray, grid) -> tuple[np.ndarray, np.ndarray]:
    """Asian values (rows, K) and their standard errors (rows, K). The grid prices the accrual of the fixings
    inside the horizon along the straight log path to each node's spot, times a factor f; ``ACCRUAL_NODES`` such
    grids (factors at Chebyshev points spanning the scenarios' own accruals over the straight-line ones, same
    random numbers) are read at each scenario and interpolated (a polynomial in log f) at its own daily path's
    accrual. A first-order correction from one bumped grid missed the option's curvature in the average: 93
    standard errors for a daily Asian with 10 of its 21 fixings inside the horizon, some values < 0."""
    x_end, remaining = path[:, -1], expiry - horizon
    inside, later = _past_fixings(schedule, expiry, horizon)
    spot = float(np.asarray(task.model.spot))
    columns = task.columns
    # the accrual along the straight log path to each scenario's end (the grid's own rule)
    line = _accrued(columns, (np.log(spot) + x_end[:, None] * (inside / horizon)[None, :])[None])    # (rows, K)
    count = columns["past_count"][:, None] + inside.size

    def values_of(asian, factor=1.0):
        accrued = ((asian.past_average, asian.past_count), (line * factor, count))
        return grid(asian, x_nodes, proxies(task, "asian", schedule, remaining, x_nodes, v_nodes, x_end, log_ratio,
                                             accrued=accrued, later=later))

    product = _product_at_horizon(task, "asian", schedule, expiry, horizon, x_nodes, v_nodes.size)
    if inside.size == 0:
        return values_of(product)
    days = np.clip(np.rint(inside * TRADING_DAYS).astype(int), 0, path.shape[1])
    closes = np.concatenate([np.zeros((path.shape[0], 1)), path], axis=1)[:, days]                  # (K, m)
    log_gap = np.log(_accrued(columns, (np.log(spot) + closes)[None]) / line)                        # (rows, K)
    centre = 0.5 * (log_gap.min(axis=1, keepdims=True) + log_gap.max(axis=1, keepdims=True))
    half = np.maximum(0.5 * (log_gap.max(axis=1, keepdims=True) - log_gap.min(axis=1, keepdims=True)), 1e-4)
    points = centre + half * -np.cos(np.pi * np.arange(ACCRUAL_NODES) / (ACCRUAL_NODES - 1))[None, :]  # (rows, n)
    table, errors = zip(*[values_of(dataclasses.replace(product, past_average=np.asarray(product.past_average)
                                                         * np.exp(points[:, j:j + 1])), np.exp(points[:, j:j + 1]))
                          for j in range(ACCRUAL_NODES)])
    # the tables share their random numbers, so their errors move together, and the interpolation's weights
    # sum to 1: a common error passes through unchanged (measured: the spread over seeds stays below the
    # largest table's error; the sum of |weights|, 2 to 3 here, overstated it 5-fold)
    return _lagrange(points, np.stack(table), log_gap), np.max(np.stack(errors), axis=0)


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
        average = _accrued(columns, np.log(float(np.asarray(task.model.spot))) + x[..., None] * (inside / horizon))
        count = np.broadcast_to(count + inside.size, average.shape)
    return AsianOption(strike=field("strike"), expiry=remaining, fixings=later, call=field("call"),
                       geometric=field("geometric"), past_average=average, past_count=count)


def _barrier_breached(task, schedule, expiry: float, path: np.ndarray) -> np.ndarray:
    """(rows, K): in each scenario, is the barrier knocked by the horizon? Continuous monitoring: the
    spot is on or beyond it today or at any daily close up to the horizon. Discrete monitoring: at a
    monitoring date inside the horizon (the close of its nearest day); other days do not count."""
    columns = task.columns
    level = np.log(columns["barrier"] / float(np.asarray(task.model.spot)))[:, None]   # (rows, 1)
    up = columns["up"][:, None] == 1
    horizon_days = path.shape[1]
    closes = np.concatenate([np.zeros((path.shape[0], 1)), path], axis=1)            # (K, today + H days)
    if schedule == "continuous":
        seen = closes
    else:
        inside, _ = _past_fixings(schedule, expiry, horizon_days / TRADING_DAYS)
        if inside.size == 0:
            return np.zeros((level.shape[0], path.shape[0]), dtype=bool)
        seen = closes[:, np.clip(np.rint(inside * TRADING_DAYS).astype(int), 1, horizon_days)]
    highest, lowest = seen.max(axis=1)[None, :], seen.min(axis=1)[None, :]
    return np.where(up, highest >= level, lowest <= level)


# --------------------------------------------------------------------------------------------------
# output


def _assemble(book: PreparedBook, today: pd.DataFrame, horizon_value: np.ndarray, horizon_error: np.ndarray,
              failures: list, scenarios: MarketScenarios) -> BookStress:
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
    left_out = np.flatnonzero(~ok & (today["status"].to_numpy(dtype=object) == "ok"))
    if left_out.size:   # priced today, not at the horizon: the P&L, VaR and CVaR are of the others only
        warnings.warn(f"{left_out.size} trade(s) priced today are left out of the P&L, VaR and CVaR: "
                      f"{error[left_out[0]]}" + (" (and others: see the trades' error column)" if left_out.size > 1 else ""),
                      UserWarning, stacklevel=user_stacklevel())
    frame = pd.DataFrame({
        "trade_id": book.trades["trade_id"].array,
        "underlying": book.fields["underlying"],
        "quantity": quantity,
        "price_today": np.where(ok, price_today, np.nan),
        "stderr_today": np.where(ok, today["stderr"].to_numpy(dtype=np.float64), np.nan),
        "stderr_horizon": np.where(ok, horizon_error, np.nan),
        "value_today": np.where(ok, quantity * price_today, np.nan),
        "mean_pnl": np.where(ok, np.nanmean(np.where(ok[:, None], trade_pnl, 0.0), axis=1), np.nan),
        "status": status.astype(str), "error": error.astype(str),
    }, index=book.trades.index)
    pnl = np.sum(trade_pnl[ok], axis=0) if ok.any() else np.full(scenarios.count, np.nan)
    return BookStress(scenarios, frame, trade_pnl, pnl)
