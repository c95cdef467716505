"""Coverage tests of value-at-risk exceptions: Kupiec's (1995) proportion-of-failures test and
Christoffersen's (1998) independence and conditional-coverage tests.

An *exception* is a day whose realised loss exceeds the VaR forecast, -r_t > VaR_t; the tests take the
0/1 exception indicators and the VaR level (0.99: exceptions should occur with probability 1%, and
independently from one day to the next).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats

from ._validation import refuse_tail_probabilities

__all__ = ["kupiec_test", "christoffersen_test", "conditional_coverage_test", "KupiecResult",
           "ChristoffersenResult", "CoverageResult"]


class KupiecResult(NamedTuple):
    """Kupiec (1995) proportion-of-failures test. statistic: LR_pof (chi2 with 1 dof under H0: the
    exception probability is 1 - level); p_value; exceptions x, days n, rate x/n, expected_rate."""
    statistic: float
    p_value: float
    exceptions: int
    days: int
    rate: float
    expected_rate: float


class ChristoffersenResult(NamedTuple):
    """Christoffersen (1998) independence test on the day-to-day transitions of the exception indicator
    (n - 1 of them, fewer across gaps). n_ij = number of days in state i followed by a day in state j
    (1 = exception); pi01 = n01 / (n00 + n01), pi11 = n11 / (n10 + n11) (NaN when its denominator is 0),
    pi = (n01 + n11) / (number of transitions). statistic: LR_ind (chi2 with 1 dof under H0: exceptions are
    independent); p_value."""
    statistic: float
    p_value: float
    n00: int
    n01: int
    n10: int
    n11: int
    pi01: float
    pi11: float
    pi: float


class CoverageResult(NamedTuple):
    """Christoffersen's conditional coverage test: statistic LR_cc = LR_pof + LR_ind (chi2 with 2 dof
    under H0: correct rate and independence), p_value, and the two component results."""
    statistic: float
    p_value: float
    kupiec: KupiecResult
    christoffersen: ChristoffersenResult


def _xlogy(k, p) -> float:
    """k log p with 0 log(anything) = 0 (a count of zero contributes nothing to a likelihood)."""
    return 0.0 if k == 0 else float(k) * math.log(p)


def _check_level(level, name: str = "level") -> float:
    # a number, not anything float() takes: float("0.99") read text as a level, float(True) as 1
    if np.ndim(level) != 0 or np.asarray(level).dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a number strictly between 0 and 1 (e.g. 0.99), got {level!r}")
    lv = float(level)
    if not 0.0 < lv < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1 (e.g. 0.99), got {level!r}")
    refuse_tail_probabilities(lv, name, level)
    return lv



def _check_exceptions(exceptions, min_days: int = 1) -> np.ndarray:
    """A 1-D sequence of 0/1 (or bools) -> bool array; ValueError naming ``exceptions`` otherwise."""
    if np.asarray(exceptions).dtype.kind in "US":      # float() would read the text "1" as an exception
        raise ValueError(f"exceptions must be a 1-D sequence of 0/1 or booleans, not text, got {exceptions!r}")
    try:
        x = np.asarray(exceptions, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"exceptions must be a 1-D sequence of 0/1 or booleans, got {type(exceptions).__name__}") \
            from None
    if x.ndim != 1:
        raise ValueError(f"exceptions must be 1-D (one indicator per day), got shape {x.shape}")
    if x.size < min_days:
        raise ValueError(f"exceptions needs at least {min_days} day(s), got {x.size}")
    if np.isnan(x).any():
        raise ValueError(f"exceptions contains NaN (first at position {int(np.argmax(np.isnan(x)))}); drop the "
                         f"days without a forecast first")
    bad = (x != 0) & (x != 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"exceptions must be binary (0/1 or booleans); position {i} holds {x[i]!r}")
    return x.astype(bool)


def kupiec_test(exceptions, level) -> KupiecResult:
    """Kupiec's proportion-of-failures likelihood-ratio test (Kupiec 1995).

    exceptions: 1-D sequence of n daily indicators (1/True = the loss exceeded the VaR).
    level: the VaR level (e.g. 0.99), so the exception probability under H0 is p = 1 - level.

    LR_pof = -2 ln[(1 - p)^(n - x) p^x] + 2 ln[(1 - x/n)^(n - x) (x/n)^x], with 0 ln 0 = 0 (so x = 0
    and x = n are fine), p-value from chi2(1).
    """
    e = _check_exceptions(exceptions)
    lv = _check_level(level)
    p = 1.0 - lv
    n, x = int(e.size), int(e.sum())
    rate = x / n
    null = _xlogy(n - x, 1.0 - p) + _xlogy(x, p)
    alt = _xlogy(n - x, 1.0 - rate) + _xlogy(x, rate)
    lr = max(-2.0 * null + 2.0 * alt, 0.0)   # >= 0 in exact arithmetic (x/n maximises the likelihood)
    return KupiecResult(lr, float(stats.chi2.sf(lr, 1)), x, n, rate, p)


def _transitions(e: np.ndarray, adjacent: np.ndarray | None = None):
    """(n00, n01, n10, n11) over consecutive pairs of days; ``adjacent`` (n - 1,) keeps only the pairs
    with no day missing between them."""
    prev, nxt = e[:-1], e[1:]
    keep = np.ones(prev.shape, bool) if adjacent is None else adjacent
    return tuple(int(np.sum(keep & a & b)) for a, b in ((~prev, ~nxt), (~prev, nxt), (prev, ~nxt), (prev, nxt)))


def _check_adjacent(adjacent, days: int):
    if adjacent is None:
        return None
    adjacent = np.asarray(adjacent)
    if adjacent.dtype.kind != "b" or adjacent.shape != (days - 1,):
        raise ValueError(f"adjacent must be {days - 1} booleans (one per pair of consecutive days), got "
                         f"{adjacent.dtype} of shape {adjacent.shape}")
    return adjacent


def christoffersen_test(exceptions, adjacent=None) -> ChristoffersenResult:
    """Christoffersen's independence likelihood-ratio test (Christoffersen 1998).

    exceptions: 1-D sequence of n >= 2 daily indicators. From the transition counts n00, n01, n10, n11
    (see ``ChristoffersenResult``):

    LR_ind = -2 ln[(1 - pi)^(n00 + n10) pi^(n01 + n11)]
             + 2 ln[(1 - pi01)^n00 pi01^n01 (1 - pi11)^n10 pi11^n11],

    with 0 ln 0 = 0: no exceptions, all exceptions, n11 = 0 and the like need no special case (a
    probability whose denominator is 0 only multiplies zero counts). p-value from chi2(1).
    adjacent: (n - 1,) booleans, False where days were left out between day t and day t + 1 (a gap in
    the forecasts): that pair is no transition. None: every pair is. No transition at all: NaN.
    """
    e = _check_exceptions(exceptions, min_days=2)
    n00, n01, n10, n11 = _transitions(e, _check_adjacent(adjacent, e.size))
    m = n00 + n01 + n10 + n11
    if m == 0:
        return ChristoffersenResult(math.nan, math.nan, 0, 0, 0, 0, math.nan, math.nan, math.nan)
    pi = (n01 + n11) / m
    pi01 = n01 / (n00 + n01) if n00 + n01 else math.nan
    pi11 = n11 / (n10 + n11) if n10 + n11 else math.nan
    null = _xlogy(n00 + n10, 1.0 - pi) + _xlogy(n01 + n11, pi)
    alt = _xlogy(n00, 1.0 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1.0 - pi11) + _xlogy(n11, pi11)
    lr = max(-2.0 * null + 2.0 * alt, 0.0)
    return ChristoffersenResult(lr, float(stats.chi2.sf(lr, 1)), n00, n01, n10, n11, pi01, pi11, pi)


def conditional_coverage_test(exceptions, level, adjacent=None) -> CoverageResult:
    """Christoffersen's conditional coverage test: LR_cc = LR_pof (``kupiec_test``) + LR_ind
    (``christoffersen_test``, with its ``adjacent``), p-value from chi2(2). exceptions: n >= 2 daily 0/1
    indicators; level: the VaR level."""
    k = kupiec_test(exceptions, level)
    c = christoffersen_test(exceptions, adjacent)
    lr = k.statistic + c.statistic
    return CoverageResult(lr, float(stats.chi2.sf(lr, 2)), k, c)
