"""The revaluation grid of ``pricer.book_stress``: where its nodes go, how one group of trades is priced
at every grid state in one ``price`` call, and how a scenario's value is read off it.

States are (x, v): spot x exp(x) and the model's variance state x exp(v) (Heston v0, GARCH h0,
Black-Scholes vol^2). The grid holds Monte Carlo values minus closed-form proxies
(``pricer._stress_proxy``); reading adds the proxy back at the scenario's exact state.
"""
from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ._stress_proxy import proxy_values
from .engine import evaluate
from .models import BlackScholes, Garch, Heston

__all__ = ["ROWS_PER_CALL", "StressError", "nodes", "distinct", "grid_values", "proxies", "model_at", "read_grid"]

#: trades per ``price`` call (a group's last call is padded): one compiled program per product kind,
#: model and grid size serves every group
ROWS_PER_CALL = 4


class StressError(ValueError):
    """A reason the trades of a group cannot be revalued at the horizon (names the field)."""


def distinct(values: np.ndarray) -> int:
    """1 when all values are equal (a single grid node does), else a large number."""
    return 1 if np.ptp(values) <= 1e-12 * max(1.0, float(np.max(np.abs(values)))) else np.iinfo(np.int32).max


def nodes(values: np.ndarray, count: int, limit=None) -> np.ndarray:
    """``count`` increasing grid nodes spanning the finite ``values`` (one node when they are all equal):
    from the minimum, median and maximum, the gap with the most reading error (scenarios in it, plus one,
    times its width cubed) is halved until there are ``count``. Dense where the scenarios are, and still spanning
    the outliers of a crisis set, which equally spaced nodes would spread thinly over.

    With ``limit`` = (log barrier level, up): always ``count`` nodes, on the barrier's safe side (where
    every finite value already lies): a span of 0.01 from a single value away from the barrier, or the
    0.2 below (up) / above (down) the level when no value is finite (all knocked; those nodes are not read).
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        level, up = limit
        return np.linspace(level - 0.2, level - 0.01, count) if up else np.linspace(level + 0.01, level + 0.2, count)
    low, high = float(np.min(finite)), float(np.max(finite))
    if high - low <= 1e-12 * max(1.0, abs(low)):
        if limit is None:
            return np.array([low])
        return np.linspace(low - 0.01, low, count) if limit[1] else np.linspace(low, low + 0.01, count)
    # refine where the reading error is largest: PCHIP's error in a gap of width h grows like h^3, and it
    # matters for every scenario inside the gap (plus one: a lone crisis scenario still counts), so split
    # the gap with the largest (count + 1) x h^3
    nodes = np.array([low, float(np.median(finite)), high]) if count > 2 else np.array([low, high])
    nodes = np.unique(nodes)
    while nodes.size < count:
        inside = np.histogram(finite, bins=nodes)[0]
        widest = int(np.argmax((inside + 1.0) * np.diff(nodes) ** 3))
        nodes = np.insert(nodes, widest + 1, 0.5 * (nodes[widest] + nodes[widest + 1]))
    return nodes


def grid_values(product, model, mc, x_nodes: np.ndarray, v_nodes: np.ndarray, x_end: np.ndarray,
                 log_ratio: np.ndarray, proxy) -> np.ndarray:
    """Price ``product`` (R rows, fields (R, 1) or (R, nodes)) at every grid state and read the values
    (R, K) at the scenarios (x_end, log_ratio) (K,). x_nodes (R, nx): log spot returns per row; v_nodes
    (nv,): log variance ratios. ``proxy`` = (closed-form values at the states (R, nx * nv), at the
    scenarios (R, K)): the grid of differences is read and the proxy added back (``_stress_proxy``).
    Returns (values (R, K), errors (R, K)): the standard errors at the grid states, read like the values
    (the states share random numbers, so their errors move together, and a reading is a local average of
    a few of them). Calls of exactly ``ROWS_PER_CALL`` rows (the last padded with copies of its first row), so groups
    share compiled programs; all states of a call share random numbers."""
    at_nodes, at_scenarios = proxy
    rows = x_nodes.shape[0]
    out, errors = np.empty((rows, x_end.size)), np.empty((rows, x_end.size))
    for start in range(0, rows, ROWS_PER_CALL):
        chunk = np.arange(start, min(start + ROWS_PER_CALL, rows))
        padded = np.concatenate([chunk, np.full(ROWS_PER_CALL - chunk.size, chunk[0])])
        take = lambda a: a[padded] if np.ndim(a) == 2 else a  # noqa: E731 - per-row fields; scalars as they are
        part = jax.tree_util.tree_map(take, product)
        # evaluate, not price: a non-finite value is reported on its own trade (book_stress checks each P&L);
        # no sampling check: one call holds many states' variances, and one extreme state must not fail the rest
        result = evaluate(part, model_at(model, x_nodes[padded], v_nodes), mc, check_sampling=False, pad_rows=False)
        values = np.asarray(result.price, dtype=np.float64)
        states = x_nodes.shape[1] * v_nodes.size
        stderr = np.broadcast_to(np.asarray(result.stderr, dtype=np.float64), (padded.size, states))[:chunk.size]
        stderr = stderr.reshape(chunk.size, x_nodes.shape[1], v_nodes.size)
        grid = np.broadcast_to(values, (padded.size, states))[:chunk.size] - at_nodes[chunk]
        grid = grid.reshape(chunk.size, x_nodes.shape[1], v_nodes.size)
        for i, row in enumerate(chunk):
            out[row] = read_grid(grid[i], x_nodes[row], v_nodes, x_end, log_ratio) + at_scenarios[row]
            errors[row] = read_grid(stderr[i], x_nodes[row], v_nodes, x_end, log_ratio)
    return out, errors


def proxies(task, kind: str, schedule, remaining: float, x_nodes: np.ndarray, v_nodes: np.ndarray,
             x_end: np.ndarray, log_ratio: np.ndarray, accrued=None, later=(), rows=None):
    """Closed-form proxy values at the grid states and at the scenarios, for ``rows`` of the task (all by
    default). ``accrued`` = ((past average, count) at the states, at the scenarios) for Asians."""
    columns = task.columns if rows is None else {k: v[rows] for k, v in task.columns.items()}
    continuous = schedule == "continuous"
    x_states = np.repeat(x_nodes, v_nodes.size, axis=1)
    v_states = np.tile(v_nodes, x_nodes.shape[1])
    at_nodes = proxy_values(kind, continuous, columns, task.model, remaining, x_states, v_states,
                            None if accrued is None else accrued[0], later)
    at_scenarios = proxy_values(kind, continuous, columns, task.model, remaining, x_end[None, :], log_ratio,
                                None if accrued is None else accrued[1], later)
    return np.broadcast_to(at_nodes, x_states.shape), np.broadcast_to(at_scenarios, (x_nodes.shape[0], x_end.size))


def model_at(model, x_nodes: np.ndarray, v_nodes: np.ndarray):
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
    raise StressError(f"model {type(model).__name__} has no stress revaluation")


def read_grid(grid: np.ndarray, x_nodes: np.ndarray, v_nodes: np.ndarray, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Values (K,) at states (x, v) (K,) from one trade's grid (nx, nv): monotone cubic (PCHIP) along v
    for every x node, then along x for each scenario. PCHIP because values can bend sharply (near a
    barrier, or a strike close to expiry) and nodes are unevenly spaced (``_nodes``): it never
    overshoots, unlike a spline or a polynomial through far nodes."""
    from scipy.interpolate import PchipInterpolator
    along_v = (PchipInterpolator(v_nodes, grid, axis=1)(np.clip(v, v_nodes[0], v_nodes[-1])) if v_nodes.size > 1
               else np.broadcast_to(grid[:, :1], (x_nodes.size, v.size)))            # (nx, K): column k at v[k]
    if x_nodes.size == 1:
        return along_v[0]
    # one PCHIP per scenario along x, evaluated only at that scenario's x (its piece's cubic coefficients)
    pieces = PchipInterpolator(x_nodes, along_v, axis=0)
    x = np.clip(x, x_nodes[0], x_nodes[-1])
    piece = np.clip(np.searchsorted(x_nodes, x, side="right") - 1, 0, x_nodes.size - 2)
    k = np.arange(x.size)
    c = pieces.c[:, piece, k]                                                           # (4, K)
    t = x - x_nodes[piece]
    return ((c[0] * t + c[1]) * t + c[2]) * t + c[3]
