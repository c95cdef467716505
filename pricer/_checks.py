"""Checks of a pricing call that no single field can make: the Greeks' names, whether the paths can sample
the batch's variance, and whether the results are finite."""
from __future__ import annotations

import math

import numpy as np

MIN_TAIL_PATHS = 20      # paths expected where the mean of S_T sits (see check_sampling)


def greek_names(greeks) -> tuple[str, ...]:
    """``greeks`` as a tuple of names: one name, or a sequence of names."""
    if isinstance(greeks, str):
        return (greeks,)
    if isinstance(greeks, (bytes, dict)) or not hasattr(greeks, "__iter__"):
        raise TypeError(f"greeks must be a name or a sequence of names, got {greeks!r}")
    names = tuple(greeks)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"greeks must be names (strings), got {name!r} in {greeks!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:   # a typo for another Greek more often than not: said, not merged
        raise ValueError(f"greeks has repeated names: {', '.join(map(repr, repeated))} in {names}")
    return names


def require_finite(result) -> None:
    """Raise, naming the batch items, where a ``PriceResult``'s price, standard error or Greek is not finite.

    Every input is checked finite and in range at construction, but a combination can still leave
    the floating-point range (a rate of 30 over a year in float32, a spot of 1e37): a NaN price is
    never returned."""
    checks = {"price": result.price, "stderr": result.stderr}
    for name in result.greeks:
        checks[name] = result.greeks[name]
        checks[f"{name} stderr"] = result.greeks_stderr[name]
    for name, values in checks.items():
        bad = ~np.isfinite(np.asarray(values, dtype=np.float64))
        if bad.any():
            at = ""
            if bad.ndim:
                where = np.argwhere(bad)
                items = ", ".join(str(tuple(int(i) for i in w)) if w.size > 1 else str(int(w[0])) for w in where[:5])
                at = f" at batch item(s) {items}{' ...' if len(where) > 5 else ''}"
            raise FloatingPointError(
                f"the {name} is not finite{at}: the inputs are beyond what the simulation can represent "
                "(check the magnitudes of spot, strike, rate, dividend and the volatility parameters, "
                "or price in float64)")


def check_sampling(spread: np.ndarray, paths: int) -> None:
    """Refuse batch items whose log price varies too much for ``paths`` paths to sample.

    With s the variance of log S_T (``Model.log_variance``), the mean of S_T = S_0 e^{X} is carried by the
    paths near X = s above its mean: a standard normal beyond sqrt(s). Fewer than ``MIN_TAIL_PATHS``
    expected paths there and the estimate and its standard error are both wrong (measured: vol 1 over
    50 years, s = 50, 2,048 paths: 56.69 +- 0.0015 against 99.96). ``spread``: s per batch item, flat."""
    tail = 0.5 * np.vectorize(math.erfc)(np.sqrt(np.maximum(spread, 0.0)) / math.sqrt(2.0))
    _refuse(~(paths * tail >= MIN_TAIL_PATHS), spread, lambda i: (
        f"more than {paths:,} paths can sample: the price would come from paths too rare to draw (fewer than "
        f"{MIN_TAIL_PATHS} expected beyond sqrt(variance) standard deviations); use more paths, shorten the "
        f"expiry or check the volatility parameters"))


def _refuse(bad: np.ndarray, spread: np.ndarray, reason) -> None:
    """ValueError for the first ``bad`` batch item: its log variance ``spread`` and ``reason(item)``."""
    if bad.any():
        i = int(np.argmax(bad))
        # a batch item only where it tells which (a book's call shares one model and expiry: all alike)
        at = f" (batch item {i})" if spread.size > 1 and not bad.all() else ""
        raise ValueError(f"the variance of the log price to expiry is {float(spread[i]):.3g}{at}, {reason(i)}")


#: the largest share of the log price's variance that float32 rounding may add (check_rounding): the
#: price's relative bias is about half of it at the money
MAX_ROUNDING_SHARE = 1e-3


def check_rounding(spread: np.ndarray, log_spot: np.ndarray, steps: np.ndarray, dtype) -> None:
    """Refuse batch items whose log price moves too little per step for ``dtype`` to carry.

    Each step adds its increment to log S, which is rounded to the type's spacing near |log S| (2.4e-7 at a
    spot of 100 in float32): a random error of variance spacing^2 / 12 a step, against the log price's own
    variance ``spread`` to expiry. Past ``MAX_ROUNDING_SHARE`` of it the price is biased (measured: vol 1e-5
    over a year in float32, an at-the-money call 3.2% high, a barrier option 4.8x its value). All arrays
    flat, one entry per batch item; ``steps``: time steps to each item's expiry."""
    if np.dtype(dtype).itemsize >= 8:
        return
    spacing = np.finfo(np.float32).eps * np.maximum(np.abs(log_spot) + 4.0 * np.sqrt(np.maximum(spread, 0.0)), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = steps * spacing ** 2 / 12.0 / spread
    _refuse(~(share <= MAX_ROUNDING_SHARE), spread, lambda i: (
        f"too small for float32: rounding log S at each of {int(steps[i]):,} steps would add {float(share[i]):.1%} "
        f"to it and bias the price; price in float64 (MonteCarlo(dtype='float64')) or check the volatility "
        f"parameters"))
