"""The simulation time grid and each product's events on it (expiry, fixings, monitoring dates).

Built in numpy before tracing. The arrays are padded with zero-length steps to a *capacity* (a power
of four, at least ``MIN_CAPACITY``, or more on request) and the engine's time loop runs only the real
steps, so every schedule up to the capacity shares one compiled program at no extra compute: with
daily steps everything up to four years shares one program per model and product kind.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .products import SAME_TIME, AsianOption, BarrierOption, schedule_times

MIN_CAPACITY = 1024   # four years of daily steps: event tables are small, and the loop skips padding
_TIME_TOLERANCE = SAME_TIME  # years (~0.03 s): closer event times are the same date


@dataclass(frozen=True)
class Grid:
    times: np.ndarray       # (K + 1,) step end times, times[0] = 0, padded
    steps: int              # K, number of real (non-padding) steps
    events: dict            # name -> (K_padded, P) float arrays, row k = event at times[k + 1]
    expiry_time: np.ndarray  # (P,) grid time of each product's expiry (GARCH: snapped to a trading day)
    fixing_times: np.ndarray | None  # (P, n) grid times of Asian fixings, else None

    @property
    def dt(self) -> np.ndarray:
        return np.diff(self.times)

    def taken(self, take: np.ndarray) -> "Grid":
        """The grid with its per-product columns taken at ``take`` (indices into the products; the times
        and steps are the batch's): a padded batch's grid (``batch_rows``)."""
        return replace(self, events={name: table[:, take] for name, table in self.events.items()},
                       expiry_time=self.expiry_time[take],
                       fixing_times=None if self.fixing_times is None else self.fixing_times[take])


def under_half_a_step(remaining, periods: int | None):
    """Whether a time to expiry (years) is under half of a model's own step (1 / periods a year; GARCH:
    a trading day), which the grid would round up to a whole step; False for models without their own."""
    return np.zeros(np.shape(remaining), bool) if periods is None else np.asarray(remaining) * periods < 0.5


def check_expiry_on_steps(model, expiry: np.ndarray, shape: tuple) -> None:
    """A model with its own step (GARCH: one trading day) moves each expiry to the nearest step, the
    first at the least: an expiry under half a step would be priced as a whole one (0.1 of a day as a
    full day's option, three times its value), so it is refused, naming the item (``expiry`` flat, the
    batch ``shape``)."""
    short = under_half_a_step(expiry, model.periods_per_year)
    if short.any():
        periods = model.periods_per_year
        flat = int(np.argmax(short))
        index = tuple(int(i) for i in np.unravel_index(flat, shape))
        item = "" if not shape else f" of item {index if len(shape) > 1 else flat}"
        raise ValueError(f"expiry{item} is {expiry[flat] * periods:.3g} of a step: {type(model).__name__} steps "
                         f"1/{periods} of a year (a trading day) and moves an expiry to the nearest step, so one under "
                         f"half a step would be priced as a whole one; price it under BlackScholes or Heston")


def capacity_for(steps: int, minimum: int = 0) -> int:
    """Padded length: the next power of four >= steps (and >= ``minimum``, ``MIN_CAPACITY``)."""
    capacity = MIN_CAPACITY
    while capacity < max(int(steps), int(minimum)):
        capacity *= 4
    return capacity


def build_grid(product, expiry: np.ndarray, steps_per_year: int, fixed_periods: int | None,
               min_capacity: int = 0) -> Grid:
    """Grid for a flattened product batch (``expiry``: (P,) years).

    ``fixed_periods``: a model with its own step (GARCH: 252 a year) gets the uniform grid k/fixed_periods
    with every event moved to the nearest step; otherwise the grid is the union of the uniform grid
    k/steps_per_year and all event times, so every expiry, fixing and monitoring date is exactly on it.
    """
    schedules = {"expiry": expiry[:, None]}
    if isinstance(product, AsianOption):
        schedules["fix"] = schedule_times(product.fixings, expiry)
    if isinstance(product, BarrierOption) and not product.continuous:
        schedules["monitor"] = schedule_times(product.monitoring, expiry)
    horizon = float(expiry.max())

    if fixed_periods is not None:
        to_index = {name: np.maximum(np.rint(t * fixed_periods).astype(np.int64), 1) for name, t in schedules.items()}
        steps = int(max(idx.max() for idx in to_index.values()))
        times = np.arange(steps + 1) / fixed_periods
    else:
        uniform = np.arange(int(np.ceil(horizon * steps_per_year - 1e-9)) + 1) / steps_per_year
        candidates = np.concatenate([uniform[uniform < horizon - _TIME_TOLERANCE]] + [t.ravel() for t in schedules.values()])
        candidates = np.sort(np.concatenate([[0.0], candidates]))
        keep = np.concatenate([[True], np.diff(candidates) > _TIME_TOLERANCE])
        times = candidates[keep]
        steps = times.size - 1
        to_index = {name: np.searchsorted(times, t - _TIME_TOLERANCE) for name, t in schedules.items()}

    padded = capacity_for(steps, min_capacity)
    times = np.concatenate([times, np.full(padded - steps, times[-1])])
    n_products = expiry.size
    expiry_index = to_index["expiry"][:, 0]
    step_index = np.arange(1, padded + 1)[:, None]
    events = {
        "alive": (step_index <= expiry_index[None, :]).astype(np.float64),
        "expiry": (step_index == expiry_index[None, :]).astype(np.float64),
    }
    for name in ("fix", "monitor"):
        if name in to_index:
            table = np.zeros((padded, n_products))
            for p in range(n_products):
                np.add.at(table[:, p], to_index[name][p] - 1, 1.0)
            events[name] = table
    fixing_times = times[to_index["fix"]] if "fix" in to_index else None
    return Grid(times=times, steps=steps, events=events, expiry_time=times[expiry_index], fixing_times=fixing_times)
