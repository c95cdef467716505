"""Prices a simulation could not resolve: the paths carried (next to) no information about them.

When no simulated path pays (a call struck far above anything the paths reach), every payoff sample is 0,
so the estimate is 0 and its standard error is 0. That is not an exact value but a bound: with N paths of
which none paid, the chance of any payoff is below about 3 / N (95%). The same holds, less visibly, when
only a few samples pay, or when no sample's payoff differs from its control variate's: a knock-out whose
barrier no path came near pays its vanilla control on every path, so the controlled estimate is the
vanilla's closed form with an error of 1e-9, where the barrier is worth 8e-4 (QuantLib; 2 seeds in 10 at
200,000 paths, 250% barrier, 20% vol, 1 year). A standard error estimated from fewer than
``MIN_INFORMATIVE_SAMPLES`` informative samples is not reliable (a deep out-of-the-money Heston call with
one paying path sat 255 of its standard errors from the closed form; a knock-in with a rebate counts only
the samples that knocked in: one path of 2,048 reached a 48% barrier, the others paid the rebate, and the
price was 1.0 +- 5e-7 for 1.0178), and from samples that all paid the same (a knock-in whose barrier no path
reached pays its rebate on every path: 1.0 +- 0 for 1.00043). Nor is it from ten or more samples of which
two or three carry nearly all the price: a bridged knock-in counts a path that came near its barrier as
paying its vanilla times a knock-in probability, perhaps 1e-9. A down-and-in put at a 49% barrier (20% vol,
1 year, 4,096 paths, float64) had ten paying samples, two of them all but the whole price, and said
0.0015 +- 0.00095 for 0.0262 (closed form), 26 standard errors off. So the samples are also counted by weight: Kish's
effective sample size of the payoffs' differences from 0 (or the rebate) and from the control,
(sum |d|)^2 / sum d^2 (``statistics.effective_samples``; that case: 2.0), and fewer than
``MIN_EFFECTIVE_SAMPLES`` is flagged too (ordinary prices at 4,096 paths: hundreds to thousands).
``price`` and ``price_book`` warn with ``UnresolvedPriceWarning`` and leave the numbers as they are. Not
flagged (``known_by_structure``): a knock-out whose value is known (without rebate, touched today or
barred at expiry; with one, touched today) and a knock-in that is its vanilla (touched today, or without
rebate and watched at expiry on the payoff's side), "touched" as the run's dtype sees it, and an
arithmetic Asian put its past fixings already price out (``asian_priced_out``).
"""
from __future__ import annotations

import warnings

import numpy as np
from ._stacklevel import user_stacklevel

__all__ = ["MIN_EFFECTIVE_SAMPLES", "MIN_INFORMATIVE_SAMPLES", "UnresolvedPriceWarning", "asian_priced_out",
           "known_by_structure", "unresolved", "warn_unresolved"]

#: fewer samples than this paying, or telling the payoff from its control, and the standard error (estimated
#: from them) is not reliable: ``price`` and ``price_book`` warn
MIN_INFORMATIVE_SAMPLES = 10
#: fewer effective samples than this (``statistics.effective_samples``: a few samples carry the price), and
#: ``price`` and ``price_book`` warn too
MIN_EFFECTIVE_SAMPLES = 5


class UnresolvedPriceWarning(UserWarning):
    """Prices the paths hardly inform: 0 +- 0 because no path paid (a bound, not a value), or a standard
    error estimated from fewer than ``MIN_INFORMATIVE_SAMPLES`` samples that paid or differed from the
    control variate (a barrier the paths hardly reach), or from fewer than ``MIN_EFFECTIVE_SAMPLES`` by
    weight (a few of them carry the price)."""


def _barrier_sides(spot, strike, barrier, call, up, continuous, watched_at_expiry, dtype="float64"):
    """(touched, barred): a continuous barrier the spot is on or beyond today; a barrier watched at expiry
    on the side the payoff needs (up with a call struck at or above it, down with a put at or below it).
    Touched as the simulation sees it: log spot against log barrier in the run's ``dtype`` (a spot of
    99.999999 is on a barrier of 100 in float32)."""
    spot, strike, barrier, call, up = (np.asarray(a, np.float64) for a in (spot, strike, barrier, call, up))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_spot, log_barrier = (np.log(np.asarray(a, dtype)) for a in (spot, barrier))
    touched = np.asarray(continuous, bool) & np.where(up > 0, log_spot >= log_barrier, log_spot <= log_barrier)
    barred = np.asarray(watched_at_expiry, bool) & np.where(up > 0, (call > 0) & (strike >= barrier),
                                                            (call == 0) & (strike <= barrier))
    return touched, barred


def known_by_structure(spot, strike, barrier, call, up, knock_in, rebate, continuous, watched_at_expiry,
                       dtype="float64"):
    """(exact, its_vanilla) per barrier trade, arrays broadcast together (``continuous`` and
    ``watched_at_expiry`` bools or arrays of them; ``dtype`` the run's).

    exact: a knock-out whose value is known: without rebate, 0, touched today or barred at expiry (an
    up-and-out call struck at or above its barrier: S_T past the strike is knocked); with one, touched
    today, the rebate paid now. its_vanilla: a knock-in that pays its vanilla on every path, so that no
    sample differs from the vanilla control: touched today, or without rebate and barred at expiry."""
    touched, barred = _barrier_sides(spot, strike, barrier, call, up, continuous, watched_at_expiry, dtype)
    knock_in, rebate = np.asarray(knock_in, np.float64), np.asarray(rebate, np.float64)
    knock_out_exact = (knock_in == 0) & (touched | ((rebate == 0) & barred))
    return knock_out_exact, (knock_in != 0) & (touched | (barred & (rebate == 0)))


def asian_priced_out(strike, call, geometric, floating_strike, past_average, past_count, future_fixings):
    """Per Asian trade, arrays broadcast together: a fixed-strike arithmetic put whose past fixings alone
    put the average at or above its strike. The average is (past sum + future sum) / (past + future count)
    and future fixings are positive, so it exceeds past sum / count: the put pays 0 on every path, exactly.
    (A geometric average has no such floor: one fixing near 0 takes it near 0.)"""
    strike, call, geometric, floating_strike, past_average, past_count, future_fixings = (
        np.asarray(a, np.float64) for a in (strike, call, geometric, floating_strike, past_average, past_count,
                                            future_fixings))
    with np.errstate(invalid="ignore", divide="ignore"):
        floor = past_average * past_count / (past_count + future_fixings)
    return (call == 0) & (geometric == 0) & (floating_strike == 0) & (past_count > 0) & (floor >= strike)


def unresolved(price, stderr, exact=False, paying=None, off_control=None, its_vanilla=False,
               effective_paying=None, effective_off_control=None):
    """Where the paths do not resolve the price: a standard error of exactly 0 (no path paid, or every path
    paid the same: a knock-in's rebate where no path reached the barrier), or fewer than
    ``MIN_INFORMATIVE_SAMPLES`` samples ``paying`` (other than 0, or than a knock-in's rebate:
    ``statistics.Moments``) or differing from the control (``off_control``; not asked
    of a trade that is ``its_vanilla``), or fewer than ``MIN_EFFECTIVE_SAMPLES`` of either by weight
    (``effective_paying``, ``effective_off_control``: ``statistics.effective_samples``), for a trade whose
    value is not known ``exact``ly (``known_by_structure``). A count of None or NaN (not known: a part
    written by an older version) is not checked."""
    flagged = np.broadcast_to(np.asarray(stderr) == 0, np.shape(price))
    off_control_checked = ~np.asarray(its_vanilla, bool)
    for count, floor, checked in ((paying, MIN_INFORMATIVE_SAMPLES, True),
                                  (off_control, MIN_INFORMATIVE_SAMPLES, off_control_checked),
                                  (effective_paying, MIN_EFFECTIVE_SAMPLES, True),
                                  (effective_off_control, MIN_EFFECTIVE_SAMPLES, off_control_checked)):
        if count is not None:   # NaN < floor is False: not checked
            flagged = flagged | ((np.asarray(count, np.float64) < floor) & checked)
    return flagged & ~np.asarray(exact, bool)


def warn_unresolved(labels, paths: int) -> None:
    """One ``UnresolvedPriceWarning`` naming the first few of ``labels`` (rows or trade ids)."""
    labels = [str(label) for label in labels]
    if not labels:
        return
    shown = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    warnings.warn(f"{len(labels)} price(s) the {paths:,} paths do not resolve ({shown}): fewer than "
                  f"{MIN_INFORMATIVE_SAMPLES} samples paid (for a knock-in with a rebate: knocked in) or paid other "
                  f"than the control variate (a barrier the paths hardly reach), or a few of them carry nearly all "
                  f"the price (fewer than {MIN_EFFECTIVE_SAMPLES} by weight), or every sample paid the same. "
                  f"Their standard errors are not reliable, and a price of 0 +- 0 is a bound, not a value: the "
                  f"chance of any payoff is below about {3.0 / paths:.1g}. Price with more paths, or check the "
                  f"strike and barrier.", UnresolvedPriceWarning, stacklevel=user_stacklevel())

