"""QuantLib references built inside the tests (dates on Actual/365 Fixed so times are exact day counts)."""
from __future__ import annotations

import QuantLib as ql

TODAY = ql.Date(2, 1, 2024)
DAY_COUNT = ql.Actual365Fixed()


def setup_today():
    ql.Settings.instance().evaluationDate = TODAY


def date_after(days: int) -> ql.Date:
    return TODAY + int(days)


def flat(rate: float):
    return ql.YieldTermStructureHandle(ql.FlatForward(TODAY, rate, DAY_COUNT))


def bs_process(spot, vol, rate, dividend):
    setup_today()
    return ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)), flat(dividend), flat(rate),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, ql.NullCalendar(), vol, DAY_COUNT)))


def heston_process(spot, v0, kappa, theta, xi, rho, rate, dividend):
    setup_today()
    return ql.HestonProcess(flat(rate), flat(dividend), ql.QuoteHandle(ql.SimpleQuote(spot)), v0, kappa, theta, xi, rho)


def option_type(call: bool):
    return ql.Option.Call if call else ql.Option.Put


def barrier_type(up: bool, knock_in: bool):
    if up:
        return ql.Barrier.UpIn if knock_in else ql.Barrier.UpOut
    return ql.Barrier.DownIn if knock_in else ql.Barrier.DownOut


def barrier_option(strike, barrier, days, call, up, knock_in, rebate=0.0):
    payoff = ql.PlainVanillaPayoff(option_type(call), strike)
    return ql.BarrierOption(barrier_type(up, knock_in), barrier, rebate, payoff, ql.EuropeanExercise(date_after(days)))


def european_option(strike, days, call):
    return ql.VanillaOption(ql.PlainVanillaPayoff(option_type(call), strike), ql.EuropeanExercise(date_after(days)))


def asian_option(strike, days, fixing_days, call, geometric):
    average = ql.Average().Geometric if geometric else ql.Average().Arithmetic
    dates = [date_after(d) for d in fixing_days]
    payoff = ql.PlainVanillaPayoff(option_type(call), strike)
    return ql.DiscreteAveragingAsianOption(average, dates, payoff, ql.EuropeanExercise(date_after(days)))
