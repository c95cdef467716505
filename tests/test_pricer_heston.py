"""Heston Monte Carlo (QE-M and Euler) vs QuantLib's analytic, finite-difference and MC engines."""
import numpy as np
import pytest
import QuantLib as ql

from pricer import AsianOption, BarrierOption, EuropeanOption, Heston, MonteCarlo, price
from ql_reference import asian_option, barrier_option, european_option, heston_process

SPOT, RATE, DIVIDEND = 100.0, 0.03, 0.01
PARAMS = dict(v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7)
MODEL = Heston(spot=SPOT, rate=RATE, dividend=DIVIDEND, **PARAMS)
DAYS = 365


def ql_model(params=PARAMS, spot=SPOT, rate=RATE, dividend=DIVIDEND):
    process = heston_process(spot, params["v0"], params["kappa"], params["theta"], params["xi"], params["rho"],
                             rate, dividend)
    return process, ql.HestonModel(process)


def analytic(strike, days, call, params=PARAMS):
    _, model = ql_model(params)
    option = european_option(strike, days, call)
    option.setPricingEngine(ql.AnalyticHestonEngine(model, 1e-12, 100_000))
    return option.NPV()


def test_europeans_match_analytic_heston():
    strikes = np.array([80.0, 100.0, 120.0, 100.0])
    calls = np.array([True, True, True, False])
    result = price(EuropeanOption(strike=strikes, expiry=DAYS / 365, call=calls), MODEL,
                   MonteCarlo(paths=200_000, steps_per_year=52, seed=3, dtype="float64"))
    for i in range(strikes.size):
        reference = analytic(strikes[i], DAYS, calls[i])
        assert abs(result.price[i] - reference) < 3 * result.stderr[i], (strikes[i], result.price[i], reference)


def test_qe_beats_euler_on_a_hard_case_at_coarse_steps():
    # Andersen's hard case: slow mean reversion, high vol of variance, strong negative correlation, 10 years
    params = dict(v0=0.04, kappa=0.5, theta=0.04, xi=1.0, rho=-0.9)
    model = Heston(spot=100.0, rate=0.0, **params)
    product = EuropeanOption(strike=np.array([70.0, 100.0, 140.0]), expiry=10.0)
    _, ql_heston = ql_model(params, rate=0.0, dividend=0.0)
    references = []
    for strike in (70.0, 100.0, 140.0):
        option = european_option(strike, 3650, True)
        option.setPricingEngine(ql.AnalyticHestonEngine(ql_heston, 1e-12, 100_000))
        references.append(option.NPV())
    references = np.array(references)
    settings = dict(paths=100_000, steps_per_year=4, seed=1, dtype="float64")
    qe = price(product, model, MonteCarlo(scheme="qe", **settings))
    euler = price(product, model, MonteCarlo(scheme="euler", **settings))
    qe_error, euler_error = np.abs(qe.price - references), np.abs(euler.price - references)
    # QE-M is within its (discretisation + MC) error band; Euler is far off at four steps a year
    assert np.all(qe_error < 0.05 * references + 3 * qe.stderr), (qe.price, references)
    assert np.all(euler_error > 3 * qe_error), (euler.price, qe.price, references)
    assert np.max(euler_error / euler.stderr) > 10


def test_heston_barriers_match_finite_differences():
    cases = [(100.0, 130.0, True, True), (100.0, 80.0, False, False)]   # up-and-out call, down-and-out put
    strikes, barriers, calls, ups = (np.array(c) for c in zip(*cases))
    result = price(BarrierOption(strike=strikes, barrier=barriers, expiry=DAYS / 365, call=calls, up=ups),
                   MODEL, MonteCarlo(paths=200_000, steps_per_year=252, seed=5, dtype="float64"))
    _, model = ql_model()
    for i, (strike, barrier, call, up) in enumerate(cases):
        option = barrier_option(strike, barrier, DAYS, call, up, False)
        option.setPricingEngine(ql.FdHestonBarrierEngine(model, 200, 400, 100))
        reference = option.NPV()
        # allowance: the bridge uses the step-average variance, a discretisation of O(dt); FD grid error ~1e-3
        assert abs(result.price[i] - reference) < 3 * result.stderr[i] + 0.01, (cases[i], result.price[i], reference)


def test_geometric_asian_matches_analytic_heston_engine():
    fixing_days = np.arange(1, 13) * 30 + 5
    product = AsianOption(strike=np.array([95.0, 105.0]), expiry=DAYS / 365, fixings=fixing_days / 365,
                          call=np.array([True, False]), geometric=True)
    result = price(product, MODEL, MonteCarlo(paths=200_000, steps_per_year=52, seed=9, dtype="float64"))
    process, _ = ql_model()
    for i, (strike, call) in enumerate([(95.0, True), (105.0, False)]):
        option = asian_option(strike, DAYS, fixing_days, call, geometric=True)
        option.setPricingEngine(ql.AnalyticDiscreteGeometricAveragePriceAsianHestonEngine(process))
        reference = option.NPV()
        assert abs(result.price[i] - reference) < 3 * result.stderr[i], (strike, result.price[i], reference)


def test_arithmetic_asian_matches_quantlib_mc_with_control_variate():
    fixing_days = np.arange(1, 13) * 30 + 5
    result = price(AsianOption(strike=100.0, expiry=DAYS / 365, fixings=fixing_days / 365), MODEL,
                   MonteCarlo(paths=100_000, steps_per_year=52, seed=4, dtype="float64"))
    process, _ = ql_model()
    option = asian_option(100.0, DAYS, fixing_days, True, geometric=False)
    option.setPricingEngine(ql.MCDiscreteArithmeticAPHestonEngine(process, "pseudorandom", requiredSamples=50_000,
                                                                  seed=17, timeStepsPerYear=52, controlVariate=True))
    reference, error = option.NPV(), option.errorEstimate()
    combined = np.hypot(result.stderr, error)
    assert abs(result.price - reference) < 3 * combined, (result.price, result.stderr, reference, error)


@pytest.mark.parametrize("kappa", [1e3, 1e4])
def test_a_fast_mean_reversion_gets_the_steps_it_needs(kappa):
    # kappa dt = 4 (1e3) priced 8.23 against 7.96, and kappa dt = 40 (1e4) 14.2: the engine now takes at
    # least kappa / 0.25 steps a year
    from pricer import analytic
    model = Heston(spot=100.0, v0=0.04, kappa=kappa, theta=0.04, xi=0.5, rho=-0.7)
    result = price(EuropeanOption(strike=100.0, expiry=1.0), model, MonteCarlo(paths=20_000, seed=2))
    exact = float(analytic.heston_price(spot=100.0, strike=100.0, expiry=1.0, v0=0.04, kappa=kappa, theta=0.04,
                                        xi=0.5, rho=-0.7, rate=0.0, dividend=0.0, call=1.0))
    assert result.steps >= 4 * kappa
    assert abs(result.price - exact) < 3 * result.stderr
