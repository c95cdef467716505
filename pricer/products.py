"""Products: European, barrier and Asian options as pytrees of arrays (struct of arrays: a batch is a book).

Numeric fields may be scalars or arrays; arrays of one shape (or broadcastable shapes) form a batch
priced in one call. Flags (``call``, ``up``, ``knock_in``, ``geometric``, ``floating_strike``) are
numeric too, so calls and puts, ups and downs, ins and outs price together. Schedules (``fixings``,
``monitoring``) are static: they shape the simulation's time grid. Times are in years.
"""
from __future__ import annotations

import decimal
import numbers

import numpy as np

from ._fields import flag_field, is_concrete, non_negative, numeric_field, positive, pytree_dataclass

CONTINUOUS = "continuous"
MIN_TIME = 1e-8   # years (0.3 s): shorter times would merge with today on the simulation grid
SAME_TIME = 1e-9  # years (0.03 s): event times closer than this are one date of the simulation grid
MAX_DATES = 10_000  # fixing or monitoring dates of one product: 40 years of daily dates (more would fill memory)


def _after_today(t):
    return t >= MIN_TIME


def _schedule(name: str, value, expiry) -> int | tuple[float, ...]:
    """A schedule is a count n (n equally spaced dates ending at expiry) or increasing times in (0, expiry],
    no two closer than ``SAME_TIME`` (the grid would merge them into one date)."""
    wanted = f"{name} must be a whole number of dates (>= 1) or a 1-D array of increasing times"
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ValueError(f"{wanted}, got {value!r}")
    if np.ndim(value) == 0 and isinstance(value, (int, float, np.integer, np.floating)):
        count = float(value)
        if not np.isfinite(count) or count < 1 or count != round(count):
            raise ValueError(f"{wanted}, got {value!r}")
        count = int(count)
        if count > MAX_DATES:
            raise ValueError(f"{name}: {count} dates are more than the {MAX_DATES} one product may have")
        if is_concrete(expiry) and np.min(expiry) / count < SAME_TIME:
            raise ValueError(f"{name}: {count} dates over an expiry of {float(np.min(expiry))!r} years are closer "
                             f"than {SAME_TIME} years apart")
        return count
    try:
        raw = np.asarray(value) if not isinstance(value, (set, dict)) else np.asarray(None)
    except (TypeError, ValueError):   # a ragged list, a tracer
        raise ValueError(f"{wanted}, got {value!r}") from None
    if raw.dtype.kind == "O" and raw.size and all(isinstance(v, (numbers.Real, decimal.Decimal))
                                                   and not isinstance(v, (bool, np.bool_)) for v in raw.flat):
        raw = np.asarray([float(v) for v in raw.flat]).reshape(raw.shape)   # Decimal('0.5'), mixed objects
    if raw.dtype.kind not in "iuf":
        # numpy would read the texts "0.5" or dates as numbers or fail obscurely: times are numbers of years
        raise ValueError(f"{wanted} (numbers: years from today, not texts or dates), got {value!r}")
    times = raw.astype(np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"{wanted}, got shape {times.shape}")
    if times.size > MAX_DATES:
        raise ValueError(f"{name}: {times.size} dates are more than the {MAX_DATES} one product may have")
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{name} must be finite, got {times.tolist()}")
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {times.tolist()}")
    if np.any(np.diff(times) < SAME_TIME):
        i = int(np.argmax(np.diff(times) < SAME_TIME))
        raise ValueError(f"{name} times {times[i]!r} and {times[i + 1]!r} are closer than {SAME_TIME} years apart")
    if times[0] < MIN_TIME:
        raise ValueError(f"{name} times must be in the future (>= {MIN_TIME} years), got {float(times[0])!r}")
    if is_concrete(expiry) and np.any(times[-1] > np.asarray(expiry) * (1 + 1e-12)):
        raise ValueError(f"{name} times must be <= expiry, got {float(times[-1])!r} > {float(np.min(expiry))!r}")
    return tuple(float(t) for t in times)


def schedule_times(schedule, expiry: np.ndarray) -> np.ndarray:
    """Dates of a schedule for each product: array (P, n) from expiry (P,)."""
    expiry = np.asarray(expiry, dtype=np.float64).reshape(-1)
    if isinstance(schedule, int):
        return expiry[:, None] * np.arange(1, schedule + 1)[None, :] / schedule
    return np.broadcast_to(np.asarray(schedule)[None, :], (expiry.size, len(schedule)))


def _common(obj, names_checks):
    for name, (check, requirement) in names_checks.items():
        object.__setattr__(obj, name, numeric_field(name, getattr(obj, name), check=check, requirement=requirement))


@pytree_dataclass
class EuropeanOption:
    """Pays max(+-(S_T - strike), 0) at expiry. strike > 0; expiry > 0 in years."""

    strike: object
    expiry: object
    call: object = True

    def __post_init__(self):
        _common(self, {"strike": (positive, "> 0"), "expiry": (_after_today, f">= {MIN_TIME} years")})
        object.__setattr__(self, "call", flag_field("call", self.call))


@pytree_dataclass(static=("monitoring",))
class BarrierOption:
    """Single-barrier option, all eight kinds (up/down x in/out x call/put) with a cash rebate.

    A knock-out pays ``rebate`` when the barrier is hit; a knock-in that never knocks in pays it at
    expiry. ``monitoring``: "continuous" (Brownian-bridge correction between time steps), a count n of
    equally spaced monitoring dates ending at expiry, or a 1-D increasing array of times in (0, expiry].
    A barrier already touched at inception (spot on or beyond it) is knocked out (rebate now) or in;
    with discrete monitoring only the monitoring dates count (all after today), so such a trade is
    alive until its next date.
    """

    strike: object
    barrier: object
    expiry: object
    call: object = True
    up: object = True
    knock_in: object = False
    rebate: object = 0.0
    monitoring: object = CONTINUOUS

    def __post_init__(self):
        _common(self, {"strike": (positive, "> 0"), "barrier": (positive, "> 0"),
                       "expiry": (_after_today, f">= {MIN_TIME} years"), "rebate": (non_negative, ">= 0")})
        for name in ("call", "up", "knock_in"):
            object.__setattr__(self, name, flag_field(name, getattr(self, name)))
        if isinstance(self.monitoring, str):
            if self.monitoring != CONTINUOUS:
                raise ValueError(f"monitoring must be 'continuous', a number of dates or an array of times, got {self.monitoring!r}")
        else:
            object.__setattr__(self, "monitoring", _schedule("monitoring", self.monitoring, self.expiry))

    @property
    def continuous(self) -> bool:
        return self.monitoring == CONTINUOUS


@pytree_dataclass(static=("fixings",))
class AsianOption:
    """Average-price (fixed strike) or average-strike (floating strike) Asian option.

    fixed strike pays max(+-(A - strike), 0); floating strike pays max(+-(S_T - A), 0) (strike unused).
    A: arithmetic or geometric average over past and future fixings. ``fixings``: a count n (n equally
    spaced dates ending at expiry) or a 1-D increasing array of times in (0, expiry]. A seasoned trade
    gives ``past_count`` fixings already observed with average ``past_average`` (same kind of average).
    """

    strike: object
    expiry: object
    fixings: object
    call: object = True
    geometric: object = False
    floating_strike: object = False
    past_average: object = 0.0
    past_count: object = 0

    def __post_init__(self):
        object.__setattr__(self, "floating_strike", flag_field("floating_strike", self.floating_strike))
        floating_only = is_concrete(self.floating_strike) and np.all(self.floating_strike == 1)
        strike_check = (non_negative, ">= 0") if floating_only else (positive, "> 0")
        _common(self, {"strike": strike_check, "expiry": (_after_today, f">= {MIN_TIME} years"),
                       "past_average": (non_negative, ">= 0"),
                       "past_count": (lambda n: (n >= 0) & (n == np.round(n)), "a whole number >= 0")})
        for name in ("call", "geometric"):
            object.__setattr__(self, name, flag_field(name, getattr(self, name)))
        if is_concrete(self.past_count) and is_concrete(self.past_average):
            seasoned = np.broadcast_to(self.past_count > 0, np.broadcast_shapes(np.shape(self.past_count), np.shape(self.past_average)))
            if np.any(seasoned & (np.broadcast_to(self.past_average, seasoned.shape) <= 0)):
                raise ValueError("past_average must be > 0 when past_count > 0")
        object.__setattr__(self, "fixings", _schedule("fixings", self.fixings, self.expiry))


Product = EuropeanOption | BarrierOption | AsianOption


#: the fields in units of the spot: a product's value is homogeneous of degree 1 in (spot, these fields)
#: under every model here (their variance does not depend on the price level)
PRICE_FIELDS = ("strike", "barrier", "rebate", "past_average")


def in_units_of(product, factor):
    """``product`` with its price fields divided by ``factor`` (per row, (rows, 1)). By homogeneity its value
    at spot S is the original's at S x factor divided by factor, and its delta is the original's there: so
    the Greeks can move each row's spot by its own amount on paths a batch shares."""
    import dataclasses
    changes = {name: getattr(product, name) / factor for name in PRICE_FIELDS if hasattr(product, name)}
    return dataclasses.replace(product, **changes)
