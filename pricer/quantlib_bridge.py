"""QuantLib instruments and processes as our products and models: ``from_quantlib(instrument, process)``.

A desk that builds QuantLib objects prices them on our engine::

    product, model = from_quantlib(option, process)
    result = price(product, model, MonteCarlo(paths=200_000))

Instruments: ``ql.VanillaOption`` / ``ql.EuropeanOption`` (European exercise), ``ql.BarrierOption`` (single
barrier, continuously monitored as in QuantLib's analytic engine, the eight kinds, cash rebate) and
``ql.DiscreteAveragingAsianOption`` (average price, arithmetic or geometric, seasoned or not), all with a
``ql.PlainVanillaPayoff``. Processes: ``ql.BlackScholesMertonProcess`` (any
``ql.GeneralizedBlackScholesProcess``) and ``ql.HestonProcess``.

Conventions (what QuantLib's own engines use, so the numbers agree):

* times: year fractions with the process's day counter (its risk-free curve's) from that curve's reference
  date, as QuantLib's engines measure them (a curve built with settlement days, ``ql.FlatForward(2,
  ql.TARGET(), ...)``, starts after the evaluation date: measured from the evaluation date instead, a 30-day
  Heston call was 7% and a 30-day geometric Asian 13% off QuantLib's engines); an instrument whose exercise
  date is not after ``ql.Settings.instance().evaluationDate`` is refused;
* rate and dividend: flat, continuously compounded zero rates at the expiry, chosen so that
  ``exp(-rate * T)`` is exactly the curve's discount factor to the exercise date (likewise the dividend
  curve); a curve that is not flat is therefore matched at the expiry only (a barrier or an Asian sees
  no term structure in between);
* Black–Scholes volatility: from the process's ``BlackVolTermStructure`` at (exercise date, strike), as the
  variance: ``vol**2 * T`` is the surface's ``blackVariance``; Heston: v0, kappa, theta, sigma (our xi) and
  rho read through ``ql.HestonModel(process)``;
* Asian fixings: the dates after the evaluation date become fixing times; a date on the evaluation date is a
  known fixing at the spot, and earlier dates are ignored (as QuantLib's engines do); past fixings from
  ``runningAccumulator``/``pastFixings``: arithmetic past_average =
  runningAccumulator / pastFixings (a sum), geometric past_average = runningAccumulator ** (1 / pastFixings)
  (a product); or, with QuantLib's other constructor, ``allPastFixings[i]`` for each fixing date i before the
  evaluation date (in date order, as QuantLib reads them: extra values are not used, too few are refused).

Not mapped: curves that are not flat (see above), and a fixing date from the evaluation date up to (not
including) the curves' reference date when they differ (QuantLib's engines would drop it: refused); a
fixing on the reference date is a known fixing at the spot, as in QuantLib.

QuantLib's Python bindings do not expose a barrier option's barrier type, level and rebate, nor an Asian
option's fixing dates and past fixings. Build those instruments with this module's ``BarrierOption`` and
``DiscreteAveragingAsianOption``: the same constructors (they *are* QuantLib instruments, subclasses that
remember their terms, priced by QuantLib's engines as before); or pass the terms to ``from_quantlib``
(``terms=dict(barrier_type=ql.Barrier.UpOut, barrier=120.0, rebate=0.0)``, or ``dict(average=ql.Average.Geometric,
fixing_dates=[...], running_accumulator=1.0, past_fixings=0)``).

Refused with a ``ValueError`` that says why: American or Bermudan exercise, double, partial-time, quanto and
other barrier flavours, payoffs other than plain vanilla (digitals, ...), other processes, expired trades.
"""
from __future__ import annotations

import math

import numpy as np
import QuantLib as ql

from .models import BlackScholes, Heston
from .products import AsianOption, BarrierOption as _OurBarrier, EuropeanOption

__all__ = ["from_quantlib", "BarrierOption", "DiscreteAveragingAsianOption"]



class BarrierOption(ql.BarrierOption):
    """``ql.BarrierOption(barrierType, barrier, rebate, payoff, exercise)`` that remembers its terms."""

    def __init__(self, barrierType, barrier, rebate, payoff, exercise):  # noqa: N803 - QuantLib's names
        super().__init__(barrierType, barrier, rebate, payoff, exercise)
        self.exotics_terms = dict(barrier_type=int(barrierType), barrier=float(barrier), rebate=float(rebate))


class DiscreteAveragingAsianOption(ql.DiscreteAveragingAsianOption):
    """``ql.DiscreteAveragingAsianOption`` (either constructor) that remembers its terms."""

    def __init__(self, averageType, *args, **kwargs):  # noqa: N803 - QuantLib's names
        super().__init__(averageType, *args, **kwargs)
        if args and isinstance(args[0], (int, float, np.number)) and not isinstance(args[0], bool):
            running, past, dates = args[0], args[1], args[2]   # (type, accumulator, count, dates, payoff, exercise)
            self.exotics_terms = dict(average=int(averageType), running_accumulator=float(running),
                                      past_fixings=int(past), fixing_dates=list(dates))
        else:                                                  # (type, dates, payoff, exercise, allPastFixings=[])
            dates = args[0] if args else kwargs["fixingDates"]
            fixings = args[3] if len(args) > 3 else kwargs.get("allPastFixings", [])
            self.exotics_terms = dict(average=int(averageType), fixing_dates=list(dates),
                                      all_past_fixings=[float(x) for x in fixings])


_BARRIER_KINDS = {int(ql.Barrier.UpOut): (True, False), int(ql.Barrier.UpIn): (True, True),
                  int(ql.Barrier.DownOut): (False, False), int(ql.Barrier.DownIn): (False, True)}


def from_quantlib(instrument, process, *, terms: dict | None = None):
    """(product, model) for a QuantLib instrument and process; see the module docstring for the conventions.

    ``terms``: the barrier's or the Asian's terms when ``instrument`` is a plain QuantLib object (whose
    Python bindings hide them); not needed for this module's ``BarrierOption``/``DiscreteAveragingAsianOption``
    nor for vanilla options. Raises ``ValueError`` for what cannot be mapped, naming it.
    """
    today = ql.Settings.instance().evaluationDate
    kind = _instrument_kind(ql, instrument)
    payoff = ql.as_plain_vanilla_payoff(instrument.payoff())
    if payoff is None:
        raise ValueError(f"{type(instrument).__name__}: only a plain vanilla payoff (ql.PlainVanillaPayoff) can be "
                         f"mapped, not a digital or other payoff")
    exercise = instrument.exercise()
    if exercise.type() != ql.Exercise.European:
        names = {int(ql.Exercise.American): "American", int(ql.Exercise.Bermudan): "Bermudan"}
        name = names.get(int(exercise.type()), "non-European")
        raise ValueError(f"{type(instrument).__name__}: {name} exercise is not supported (our engine prices European "
                         f"exercise only)")
    expiry_date = exercise.lastDate()
    strike = float(payoff.strike())
    call = payoff.optionType() == ql.Option.Call

    model, to_time = _model(ql, process, today, expiry_date, strike)
    expiry = to_time(expiry_date)
    if not expiry_date > today:
        raise ValueError(f"{type(instrument).__name__}: expired: the exercise date {expiry_date} is not after the "
                         f"evaluation date {today}")
    if not expiry > 0:
        raise ValueError(f"{type(instrument).__name__}: the exercise date {expiry_date} is not after the curves' "
                         f"reference date {process.riskFreeRate().referenceDate()}, from which QuantLib measures times")

    if kind == "vanilla":
        return EuropeanOption(strike=strike, expiry=expiry, call=call), model
    if terms is not None and not isinstance(terms, dict):
        raise ValueError(f"terms must be a dict (e.g. terms=dict(barrier_type=ql.Barrier.UpOut, barrier=120.0)), "
                         f"got {type(terms).__name__}")
    found = dict(getattr(instrument, "exotics_terms", None) or {})
    found.update(terms or {})
    if kind == "barrier":
        missing = [k for k in ("barrier_type", "barrier") if k not in found]
        if missing:
            raise ValueError(_hidden_terms("BarrierOption", "barrier_type=ql.Barrier.UpOut, barrier=120.0, rebate=0.0"))
        barrier_type = _term(found, "barrier_type", "whole")
        if barrier_type not in _BARRIER_KINDS:
            raise ValueError(f"BarrierOption: unknown barrier type {barrier_type!r}")
        up, knock_in = _BARRIER_KINDS[barrier_type]
        product = _OurBarrier(strike=strike, barrier=_term(found, "barrier", "number"), expiry=expiry, call=call,
                              up=up, knock_in=knock_in, rebate=_term(found, "rebate", "number", 0.0))
        return product, model

    if "average" not in found or "fixing_dates" not in found:
        raise ValueError(_hidden_terms("DiscreteAveragingAsianOption", "average=ql.Average.Arithmetic, "
                                       "fixing_dates=[...], running_accumulator=0.0, past_fixings=0"))
    geometric = _term(found, "average", "whole") == int(ql.Average.Geometric)
    dates = found["fixing_dates"]
    if isinstance(dates, (str, bytes)) or not hasattr(dates, "__iter__") or \
            not all(isinstance(d, ql.Date) for d in dates):
        raise ValueError(f"terms['fixing_dates'] must be a list of ql.Date, got {dates!r}")
    # QuantLib's engines measure fixings from the curves' reference date: one on it is a known fixing at the
    # spot (time 0), later ones are random. The reference date is the evaluation date unless the curves have
    # settlement days; a fixing between the two has no time QuantLib would price it at: refused below
    reference = process.riskFreeRate().referenceDate()
    future = sorted(d for d in dates if d > max(today, reference))
    fixed_today = sum(1 for d in dates if d == max(today, reference))
    unpriced = sorted(d for d in dates if today <= d < reference)
    if unpriced:
        raise ValueError(f"DiscreteAveragingAsianOption: fixing date {unpriced[0]} is before the curves' reference "
                         f"date {reference}, from which QuantLib measures times (curves with settlement days)")
    if not future:
        raise ValueError("DiscreteAveragingAsianOption: no fixing date after the evaluation date (all fixings known: "
                         "the payoff is no longer random; value it directly)")
    if future[-1] > expiry_date:
        raise ValueError(f"DiscreteAveragingAsianOption: fixing date {future[-1]} is after the exercise date {expiry_date}")
    past_average, past_count = _past_fixings(found, geometric, sum(1 for d in dates if d < today))
    if fixed_today:   # QuantLib's engines take a fixing at time 0 as a known one, at the spot
        spot = float(process.x0()) if isinstance(process, ql.GeneralizedBlackScholesProcess) else float(process.s0().value())
        count = past_count + fixed_today
        past_average = (past_average ** (past_count / count) * spot ** (fixed_today / count) if geometric
                        else (past_average * past_count + spot * fixed_today) / count)
        past_count = count
    times = np.array([to_time(d) for d in future])
    product = AsianOption(strike=strike, expiry=expiry, fixings=times, call=call, geometric=geometric,
                          past_average=past_average, past_count=past_count)
    return product, model


def _instrument_kind(ql, instrument) -> str:
    if isinstance(instrument, ql.VanillaOption):
        return "vanilla"
    if isinstance(instrument, ql.BarrierOption):
        if isinstance(instrument, ql.QuantoBarrierOption):
            raise ValueError("QuantoBarrierOption is not supported (no quanto adjustment in our models)")
        return "barrier"
    if isinstance(instrument, ql.DiscreteAveragingAsianOption):
        return "asian"
    name = type(instrument).__name__
    hint = {"DoubleBarrierOption": "double barriers are not supported (single barriers only)",
            "ContinuousAveragingAsianOption": "continuous averaging is not supported (discrete fixings only)",
            "PartialTimeBarrierOption": "partial-time barriers are not supported"}.get(name, "")
    raise ValueError(f"{name} is not supported{': ' + hint if hint else ''}; from_quantlib maps ql.VanillaOption "
                     f"(European exercise), ql.BarrierOption and ql.DiscreteAveragingAsianOption")


def _term(found: dict, name: str, kind: str, default=None):
    """A term as a float ("number") or an int ("whole": integral, not a bool), else ValueError naming it."""
    value = found.get(name, default)
    wanted = "a whole number" if kind == "whole" else "a number"
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise ValueError(f"terms[{name!r}] must be {wanted}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"terms[{name!r}] must be {wanted}, got {value!r}") from None
    if not math.isfinite(number) or (kind == "whole" and not number.is_integer()):
        raise ValueError(f"terms[{name!r}] must be {wanted}, got {value!r}")
    return int(number) if kind == "whole" else number


def _hidden_terms(name: str, example: str) -> str:
    return (f"{name}: QuantLib's Python bindings do not expose its terms; build it with "
            f"pricer.quantlib_bridge.{name} (the same constructor, a ql.{name} that remembers them) or pass "
            f"terms=dict({example})")


def _past_fixings(found: dict, geometric: bool, dates_before_today: int) -> tuple[float, int]:
    """(past average, past count). ``dates_before_today``: fixing dates before the evaluation date, the ones
    ``allPastFixings`` is read for (its first values, in date order, as QuantLib does)."""
    if "all_past_fixings" in found and found["all_past_fixings"] is not None and np.size(found["all_past_fixings"]):
        try:
            values = np.asarray(found["all_past_fixings"], dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise ValueError(f"terms['all_past_fixings'] must be numbers, got {found['all_past_fixings']!r}") from None
        if values.size < dates_before_today:
            raise ValueError(f"DiscreteAveragingAsianOption: allPastFixings has {values.size} value(s) for "
                             f"{dates_before_today} fixing dates before the evaluation date")
        values = values[:dates_before_today]
        if values.size == 0:
            return 0.0, 0
        if not np.all(np.isfinite(values)):
            raise ValueError(f"terms['all_past_fixings'] must be finite numbers, got {values.tolist()!r}")
        if np.any(values <= 0) and geometric:
            raise ValueError("DiscreteAveragingAsianOption: past fixings must be > 0 for a geometric average")
        mean = float(np.exp(np.mean(np.log(values)))) if geometric else float(np.mean(values))
        return mean, int(values.size)
    count = _term(found, "past_fixings", "whole", 0)
    if count < 0:
        raise ValueError(f"DiscreteAveragingAsianOption: pastFixings must be >= 0, got {count}")
    if count == 0:
        return 0.0, 0
    running = _term(found, "running_accumulator", "number", 1.0 if geometric else 0.0)
    if not running > 0:
        raise ValueError(f"DiscreteAveragingAsianOption: runningAccumulator must be > 0 with {count} past fixings, "
                         f"got {running!r}")
    # QuantLib's accumulator: the sum of the past fixings (arithmetic) or their product (geometric)
    return (running ** (1.0 / count) if geometric else running / count), count


def _model(ql, process, today, expiry_date, strike):
    """Our model for ``process`` at ``expiry_date``, and the date -> year fraction map."""
    if isinstance(process, ql.GeneralizedBlackScholesProcess):
        curve, dividends = process.riskFreeRate(), process.dividendYield()
        spot = float(process.x0())
    elif isinstance(process, ql.HestonProcess):
        curve, dividends = process.riskFreeRate(), process.dividendYield()
        spot = float(process.s0().value())
    else:
        raise ValueError(f"{type(process).__name__} is not supported; from_quantlib maps ql.BlackScholesMertonProcess "
                         f"(any ql.GeneralizedBlackScholesProcess) and ql.HestonProcess")
    day_counter, reference = curve.dayCounter(), curve.referenceDate()

    def to_time(date) -> float:   # as QuantLib's engines: from the risk-free curve's reference date
        return float(day_counter.yearFraction(reference, date))

    expiry = to_time(expiry_date)
    if not expiry > 0:
        return None, to_time   # the caller reports the expired trade

    def zero_rate(handle, name) -> float:   # exp(-r T) is the curve's discount factor to the expiry date
        discount = float(handle.discount(expiry_date))
        if not (discount > 0 and math.isfinite(discount)):
            raise ValueError(f"the process's {name} curve gives a discount factor of {discount!r} to the expiry: "
                             f"its rates are beyond what can be priced")
        return -math.log(discount) / expiry

    rate, dividend = zero_rate(curve, "risk-free"), zero_rate(dividends, "dividend")
    if isinstance(process, ql.HestonProcess):
        params = ql.HestonModel(process)
        return Heston(spot=spot, v0=float(params.v0()), kappa=float(params.kappa()), theta=float(params.theta()),
                      xi=float(params.sigma()), rho=float(params.rho()), rate=rate, dividend=dividend), to_time
    variance = float(process.blackVolatility().blackVariance(expiry_date, strike))
    return BlackScholes(spot=spot, vol=math.sqrt(variance / expiry), rate=rate, dividend=dividend), to_time
