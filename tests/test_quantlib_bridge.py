"""from_quantlib: QuantLib instruments and processes priced on our engine agree with QuantLib's own engines
within 3 standard errors (of both, where QuantLib's engine is a Monte Carlo too)."""
import math

import numpy as np
import pytest
import QuantLib as ql

from pricer import (AsianOption, BarrierOption, BlackScholes, EuropeanOption, Heston, MonteCarlo, from_quantlib,
                    price)
from pricer import quantlib_bridge as qlb

TODAY = ql.Date(15, 3, 2024)
MC = MonteCarlo(paths=1 << 15, seed=21, dtype="float64")


@pytest.fixture(autouse=True)
def evaluation_date():
    before = ql.Settings.instance().evaluationDate
    ql.Settings.instance().evaluationDate = TODAY
    yield
    ql.Settings.instance().evaluationDate = before


def flat(rate, day_counter=ql.Actual365Fixed()):
    return ql.YieldTermStructureHandle(ql.FlatForward(TODAY, rate, day_counter))


def bs_process(spot=100.0, vol=0.25, rate=0.03, dividend=0.01, day_counter=ql.Actual365Fixed()):
    return ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)), flat(dividend, day_counter), flat(rate, day_counter),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, ql.NullCalendar(), vol, day_counter)))


def heston_process(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.5, rho=-0.6, rate=0.03, dividend=0.01):
    return ql.HestonProcess(flat(rate), flat(dividend), ql.QuoteHandle(ql.SimpleQuote(spot)), v0, kappa, theta, xi, rho)


def payoff(strike, call=True):
    return ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, strike)


def ours(instrument, process, mc=MC, **kwargs):
    product, model = from_quantlib(instrument, process, **kwargs)
    result = price(product, model, mc)
    return float(result.price), float(result.stderr), product, model


def test_european_under_a_curve_and_a_surface_matches_the_analytic_engine():
    # a term structure of rates on Actual/360 and a volatility surface: the map reads both at (expiry, strike)
    day_counter = ql.Actual360()
    dates = [TODAY + 90, TODAY + 365, TODAY + 730]
    curve = ql.YieldTermStructureHandle(ql.ZeroCurve([TODAY, *dates], [0.02, 0.025, 0.035, 0.04], day_counter))
    strikes = [80.0, 100.0, 120.0]
    vols = ql.Matrix(3, 3)
    for i, row in enumerate([[0.30, 0.28, 0.27], [0.24, 0.23, 0.22], [0.26, 0.25, 0.24]]):
        for j, v in enumerate(row):
            vols[i][j] = v
    surface = ql.BlackVarianceSurface(TODAY, ql.NullCalendar(), dates, strikes, vols, day_counter)
    process = ql.BlackScholesMertonProcess(ql.QuoteHandle(ql.SimpleQuote(100.0)), flat(0.01, day_counter), curve,
                                           ql.BlackVolTermStructureHandle(surface))
    for strike, call, days in [(95.0, True, 300), (110.0, False, 500)]:
        option = ql.VanillaOption(payoff(strike, call), ql.EuropeanExercise(TODAY + days))
        option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
        mc, se, product, model = ours(option, process)
        assert isinstance(product, EuropeanOption) and isinstance(model, BlackScholes)
        assert float(product.expiry) == pytest.approx(days / 360, rel=1e-14)
        assert float(model.vol) == pytest.approx(surface.blackVol(TODAY + days, strike), rel=1e-10)
        assert math.exp(-float(model.rate) * days / 360) == pytest.approx(curve.discount(TODAY + days), rel=1e-14)
        assert abs(mc - option.NPV()) < 3 * se, (strike, mc, se, option.NPV())


BARRIERS = [  # (barrier type, strike, barrier, rebate, call)
    (ql.Barrier.UpOut, 100.0, 130.0, 2.0, True),
    (ql.Barrier.UpIn, 105.0, 125.0, 1.5, True),
    (ql.Barrier.DownOut, 100.0, 80.0, 1.0, False),
    (ql.Barrier.DownIn, 95.0, 85.0, 3.0, False),
]


@pytest.mark.parametrize("kind, strike, barrier, rebate, call", BARRIERS)
def test_barriers_match_the_analytic_barrier_engine(kind, strike, barrier, rebate, call):
    process = bs_process()
    option = qlb.BarrierOption(kind, barrier, rebate, payoff(strike, call), ql.EuropeanExercise(TODAY + 365))
    assert isinstance(option, ql.BarrierOption)
    option.setPricingEngine(ql.AnalyticBarrierEngine(process))
    mc, se, product, _ = ours(option, process)
    assert isinstance(product, BarrierOption) and product.continuous and float(product.rebate) == rebate
    assert abs(mc - option.NPV()) < 3 * se, (mc, se, option.NPV())


def test_heston_european_matches_the_analytic_heston_engine():
    process = heston_process()
    option = ql.EuropeanOption(payoff(100.0), ql.EuropeanExercise(TODAY + 365))
    option.setPricingEngine(ql.AnalyticHestonEngine(ql.HestonModel(process)))
    mc, se, _, model = ours(option, process)
    assert isinstance(model, Heston)
    assert (float(model.v0), float(model.kappa), float(model.theta), float(model.xi), float(model.rho)) == \
        pytest.approx((0.04, 1.5, 0.05, 0.5, -0.6))
    assert abs(mc - option.NPV()) < 3 * se, (mc, se, option.NPV())


def test_seasoned_geometric_asian_matches_the_analytic_engine():
    process = bs_process(vol=0.3)
    past = [97.0, 102.0, 99.5]
    # earlier dates are dropped (their fixings are in the accumulator); today's is a known fixing at the spot
    dates = [TODAY - 60, TODAY - 30, TODAY] + [TODAY + 30 * k for k in range(1, 10)]
    option = qlb.DiscreteAveragingAsianOption(ql.Average.Geometric, float(np.prod(past)), len(past), dates,
                                              payoff(100.0), ql.EuropeanExercise(TODAY + 270))
    option.setPricingEngine(ql.AnalyticDiscreteGeometricAveragePriceAsianEngine(process))
    mc, se, product, _ = ours(option, process)
    assert isinstance(product, AsianOption) and len(product.fixings) == 9
    assert float(product.past_average) == pytest.approx((np.prod(past) * 100.0) ** (1 / 4), rel=1e-14)
    assert int(product.past_count) == 4
    assert abs(mc - option.NPV()) < 3 * se, (mc, se, option.NPV())


def test_seasoned_arithmetic_asian_matches_quantlib_monte_carlo():
    process = bs_process(vol=0.3)
    past = [103.0, 101.0]
    dates = [TODAY + 30 * k for k in range(1, 13)]
    option = qlb.DiscreteAveragingAsianOption(ql.Average.Arithmetic, sum(past), len(past), dates,
                                              payoff(100.0, call=False), ql.EuropeanExercise(TODAY + 360))
    option.setPricingEngine(ql.MCDiscreteArithmeticAPEngine(process, "pseudorandom", controlVariate=True,
                                                            requiredSamples=20_000, seed=7))
    mc, se, product, _ = ours(option, process)
    assert float(product.past_average) == pytest.approx(102.0, rel=1e-14) and int(product.past_count) == 2
    both = math.hypot(se, option.errorEstimate())
    assert abs(mc - option.NPV()) < 3 * both, (mc, se, option.NPV(), option.errorEstimate())


def test_plain_quantlib_objects_take_their_terms_as_an_argument():
    process = bs_process()
    exercise = ql.EuropeanExercise(TODAY + 365)
    plain = ql.BarrierOption(ql.Barrier.DownOut, 80.0, 1.0, payoff(100.0, False), exercise)
    with pytest.raises(ValueError, match="do not expose its terms.*pricer.quantlib_bridge.BarrierOption"):
        from_quantlib(plain, process)
    recorded = qlb.BarrierOption(ql.Barrier.DownOut, 80.0, 1.0, payoff(100.0, False), exercise)
    given = from_quantlib(plain, process, terms=dict(barrier_type=ql.Barrier.DownOut, barrier=80.0, rebate=1.0))
    assert given == from_quantlib(recorded, process)

    dates = [TODAY + 30 * k for k in range(1, 13)]
    plain = ql.DiscreteAveragingAsianOption(ql.Average.Arithmetic, dates, payoff(100.0), exercise)
    with pytest.raises(ValueError, match="DiscreteAveragingAsianOption"):
        from_quantlib(plain, process)
    # QuantLib's other constructor: every fixing date and the values of the past ones
    all_dates = [TODAY - 20, TODAY - 10, *dates]
    recorded = qlb.DiscreteAveragingAsianOption(ql.Average.Arithmetic, all_dates, payoff(100.0), exercise, [98.0, 104.0])
    product, _ = from_quantlib(recorded, process)
    assert float(product.past_average) == 101.0 and int(product.past_count) == 2 and len(product.fixings) == 12
    assert product.fixings[-1] == pytest.approx(360 / 365)


def test_what_cannot_be_mapped_is_refused_by_name():
    process = bs_process()
    one_year = ql.EuropeanExercise(TODAY + 365)
    american = ql.VanillaOption(payoff(100.0), ql.AmericanExercise(TODAY, TODAY + 365))
    with pytest.raises(ValueError, match="American exercise is not supported"):
        from_quantlib(american, process)
    double = ql.DoubleBarrierOption(ql.DoubleBarrier.KnockOut, 80.0, 120.0, 0.0, payoff(100.0), one_year)
    with pytest.raises(ValueError, match="DoubleBarrierOption is not supported: double barriers"):
        from_quantlib(double, process)
    digital = ql.VanillaOption(ql.CashOrNothingPayoff(ql.Option.Call, 100.0, 1.0), one_year)
    with pytest.raises(ValueError, match="plain vanilla payoff"):
        from_quantlib(digital, process)
    gbm = ql.GeometricBrownianMotionProcess(100.0, 0.03, 0.2)
    with pytest.raises(ValueError, match="GeometricBrownianMotionProcess is not supported"):
        from_quantlib(ql.VanillaOption(payoff(100.0), one_year), gbm)
    expired = ql.VanillaOption(payoff(100.0), ql.EuropeanExercise(TODAY))
    with pytest.raises(ValueError, match="expired"):
        from_quantlib(expired, process)
    with pytest.raises(ValueError, match="is not supported"):
        from_quantlib("not an option", process)


@pytest.mark.parametrize("terms, word", [
    (dict(barrier_type=ql.Barrier.UpOut, barrier="abc"), r"terms\['barrier'\]"),
    (dict(barrier_type=ql.Barrier.UpOut, barrier=None), r"terms\['barrier'\]"),
    (dict(barrier_type=ql.Barrier.UpOut, barrier=120.0, rebate=None), r"terms\['rebate'\]"),
    (dict(barrier_type="up", barrier=120.0), r"terms\['barrier_type'\]"),
    ([1, 2], "terms must be a dict"),
])
def test_bad_barrier_terms_name_the_term(terms, word):
    plain = ql.BarrierOption(ql.Barrier.UpOut, 120.0, 0.0, payoff(100.0), ql.EuropeanExercise(TODAY + 365))
    with pytest.raises(ValueError, match=word):
        from_quantlib(plain, bs_process(), terms=terms)


@pytest.mark.parametrize("changes, word", [
    (dict(fixing_dates=[0.1, 0.2]), r"terms\['fixing_dates'\]"),
    (dict(fixing_dates=None), r"terms\['fixing_dates'\]"),
    (dict(past_fixings=2.7, running_accumulator=200.0), r"terms\['past_fixings'\]"),   # was truncated to 2
    (dict(past_fixings=2, running_accumulator=None), r"terms\['running_accumulator'\]"),
])
def test_bad_asian_terms_name_the_term(changes, word):
    dates = [TODAY + 30 * k for k in range(1, 13)]
    plain = ql.DiscreteAveragingAsianOption(ql.Average.Arithmetic, dates, payoff(100.0), ql.EuropeanExercise(TODAY + 365))
    with pytest.raises(ValueError, match=word):
        from_quantlib(plain, bs_process(), terms={**dict(average=ql.Average.Arithmetic, fixing_dates=dates), **changes})


def test_curves_with_settlement_days_measure_time_from_their_reference_date():
    """ql.FlatForward(2, ql.TARGET(), ...) starts two business days after the evaluation date, and QuantLib's
    engines measure times from there: a 30-day Heston call and a 30-day geometric Asian agree with the analytic
    engines (measured from the evaluation date they were 7% and 13% high: 40 and 121 standard errors)."""
    def settled(rate):
        return ql.YieldTermStructureHandle(ql.FlatForward(2, ql.TARGET(), rate, ql.Actual365Fixed()))

    reference = settled(0.03).referenceDate()
    assert reference > TODAY
    heston = ql.HestonProcess(settled(0.03), settled(0.01), ql.QuoteHandle(ql.SimpleQuote(100.0)),
                              0.04, 3.0, 0.09, 0.8, -0.7)
    option = ql.EuropeanOption(payoff(100.0), ql.EuropeanExercise(TODAY + 30))
    option.setPricingEngine(ql.AnalyticHestonEngine(ql.HestonModel(heston)))
    mc, se, product, _ = ours(option, heston)
    assert float(product.expiry) == pytest.approx((TODAY + 30 - reference) / 365.0, rel=1e-14)
    assert abs(mc - option.NPV()) < 3 * se, (mc, se, option.NPV())

    black_scholes = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(100.0)), settled(0.01), settled(0.03),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(2, ql.TARGET(), 0.25, ql.Actual365Fixed())))
    asian = qlb.DiscreteAveragingAsianOption(ql.Average.Geometric, 1.0, 0, [TODAY + 5 * k for k in range(1, 7)],
                                             payoff(100.0), ql.EuropeanExercise(TODAY + 30))
    asian.setPricingEngine(ql.AnalyticDiscreteGeometricAveragePriceAsianEngine(black_scholes))
    mc, se, _, _ = ours(asian, black_scholes)
    assert abs(mc - asian.NPV()) < 3 * se, (mc, se, asian.NPV())
    # a fixing on the reference date is at time 0 (the spot), as in QuantLib's engine; one between the
    # evaluation date and the reference date (QuantLib's engine drops it) is refused
    at_reference = qlb.DiscreteAveragingAsianOption(ql.Average.Geometric, 1.0, 0,
                                                    [reference] + [TODAY + 5 * k for k in range(1, 7)],
                                                    payoff(100.0), ql.EuropeanExercise(TODAY + 30))
    at_reference.setPricingEngine(ql.AnalyticDiscreteGeometricAveragePriceAsianEngine(black_scholes))
    mc, se, product, _ = ours(at_reference, black_scholes)
    assert int(product.past_count) == 1 and float(product.past_average) == 100.0
    assert abs(mc - at_reference.NPV()) < 3 * se, (mc, se, at_reference.NPV())
    for early in (TODAY, TODAY + 1):
        option = qlb.DiscreteAveragingAsianOption(ql.Average.Geometric, 1.0, 0, [early, TODAY + 20], payoff(100.0),
                                                  ql.EuropeanExercise(TODAY + 30))
        with pytest.raises(ValueError, match="before the curves' reference date"):
            from_quantlib(option, black_scholes)


def test_all_past_fixings_are_read_for_the_dates_before_today_only():
    """QuantLib's allPastFixings constructor reads value i for each fixing date i before the evaluation date;
    today's fixing is the spot. A list that also holds today's value mapped 13 fixings for a 12-date trade
    (11% high); too few values are refused, as QuantLib refuses them."""
    process = bs_process()
    dates = [TODAY - 20, TODAY - 10, TODAY] + [TODAY + 30 * k for k in range(1, 10)]
    option = qlb.DiscreteAveragingAsianOption(ql.Average.Geometric, dates, payoff(100.0),
                                              ql.EuropeanExercise(TODAY + 270), [98.0, 104.0, 120.0])
    option.setPricingEngine(ql.AnalyticDiscreteGeometricAveragePriceAsianEngine(process))
    mc, se, product, _ = ours(option, process)
    assert int(product.past_count) == 3 and len(product.fixings) == 9
    assert float(product.past_average) == pytest.approx((98.0 * 104.0 * 100.0) ** (1 / 3), rel=1e-14)
    assert abs(mc - option.NPV()) < 3 * se, (mc, se, option.NPV())
    short = qlb.DiscreteAveragingAsianOption(ql.Average.Arithmetic, dates, payoff(100.0),
                                             ql.EuropeanExercise(TODAY + 270), [98.0])
    with pytest.raises(ValueError, match="allPastFixings has 1 value"):
        from_quantlib(short, process)
