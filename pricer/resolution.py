"""Prices a simulation could not resolve: exactly 0, standard error 0, for a trade that could pay.

When no simulated path pays (a call struck far above anything the paths reach), every payoff sample is 0,
so the estimate is 0 and its standard error is 0. That is not an exact value but a bound: with N paths of
which none paid, the chance of any payoff is below about 3 / N (95%). ``price`` and ``price_book`` warn
with ``UnresolvedPriceWarning`` and leave the numbers as they are (0 is the right estimate, only its claim
of no error is wrong). A trade that cannot pay (``cannot_pay``: a knock-out without rebate touched today, or
one whose barrier knocks out every payoff at expiry) is exactly 0 and is not flagged.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["UnresolvedPriceWarning", "cannot_pay", "unresolved", "warn_unresolved"]


class UnresolvedPriceWarning(UserWarning):
    """Prices of 0 +- 0 because no simulated path paid: a bound below the run's resolution, not a value."""


def cannot_pay(spot, strike, barrier, call, up, knock_in, rebate, continuous, watched_at_expiry):
    """Knock-outs without rebate worth exactly 0: a continuous barrier the spot is on or beyond today, or a
    barrier watched at expiry on the side the payoff needs (an up-and-out call struck at or above it, a
    down-and-out put struck at or below it: S_T past the strike is knocked). Arrays broadcast together;
    ``continuous`` and ``watched_at_expiry`` bools or arrays of them."""
    spot, strike, barrier, call, up, knock_in, rebate = (np.asarray(a, np.float64) for a in (
        spot, strike, barrier, call, up, knock_in, rebate))
    touched = np.asarray(continuous, bool) & np.where(up > 0, spot >= barrier, spot <= barrier)
    blocked = np.asarray(watched_at_expiry, bool) & np.where(up > 0, (call > 0) & (strike >= barrier),
                                                             (call == 0) & (strike <= barrier))
    return (knock_in == 0) & (rebate == 0) & (touched | blocked)


def unresolved(price, stderr, worthless=False):
    """Where ``price`` and ``stderr`` are both exactly 0 and the trade is not ``worthless``."""
    price, stderr = np.asarray(price), np.asarray(stderr)
    return (price == 0) & (stderr == 0) & ~np.asarray(worthless, bool)


def warn_unresolved(labels, paths: int, stacklevel: int = 2) -> None:
    """One ``UnresolvedPriceWarning`` naming the first few of ``labels`` (rows or trade ids)."""
    labels = [str(label) for label in labels]
    if not labels:
        return
    shown = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    warnings.warn(f"{len(labels)} price(s) of 0 +- 0 ({shown}): none of the {paths:,} paths paid, so 0 is a "
                  f"bound, not a value (the chance of any payoff is below about {3.0 / paths:.1g}); price with "
                  f"more paths, or check the strike and barrier", UnresolvedPriceWarning, stacklevel=stacklevel + 1)

