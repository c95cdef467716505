"""Greeks on the same paths as the price, in standard errors, against QuantLib."""
import numpy as np
import pytest
import QuantLib as ql

from pricer import BarrierOption, BlackScholes, EuropeanOption, Heston, MonteCarlo, price
from ql_reference import barrier_option, bs_process, european_option

SPOT, VOL, RATE, DIVIDEND = 100.0, 0.25, 0.05, 0.02
MODEL = BlackScholes(spot=SPOT, vol=VOL, rate=RATE, dividend=DIVIDEND)
MC = MonteCarlo(paths=100_000, steps_per_year=52, seed=12, dtype="float64")


def test_black_scholes_european_greeks_match_quantlib():
    strikes, calls = np.array([90.0, 110.0]), np.array([True, False])
    result = price(EuropeanOption(strike=strikes, expiry=1.0, call=calls), MODEL, MC,
                   greeks=("delta", "gamma", "vega", "rho"))
    engine = ql.AnalyticEuropeanEngine(bs_process(SPOT, VOL, RATE, DIVIDEND))
    for i in range(2):
        option = european_option(strikes[i], 365, calls[i])
        option.setPricingEngine(engine)
        reference = dict(delta=option.delta(), gamma=option.gamma(), vega=option.vega(), rho=option.rho())
        for name, value in reference.items():
            assert abs(result.greeks[name][i] - value) < 3 * result.greeks_stderr[name][i], (name, i)


def ql_barrier_price(spot=SPOT, vol=VOL, rate=RATE, **case):
    option = barrier_option(**case)
    option.setPricingEngine(ql.AnalyticBarrierEngine(bs_process(spot, vol, rate, DIVIDEND)))
    return option.NPV()


@pytest.mark.parametrize("case", [
    dict(strike=100.0, barrier=125.0, days=365, call=True, up=True, knock_in=False, rebate=2.0),
    dict(strike=100.0, barrier=85.0, days=365, call=False, up=False, knock_in=False, rebate=0.0),
    dict(strike=100.0, barrier=90.0, days=365, call=True, up=False, knock_in=True, rebate=1.0),
])
def test_continuous_barrier_greeks_match_bumped_quantlib(case):
    product = BarrierOption(strike=case["strike"], barrier=case["barrier"], expiry=1.0, call=case["call"],
                            up=case["up"], knock_in=case["knock_in"], rebate=case["rebate"])
    result = price(product, MODEL, MC, greeks=("delta", "gamma", "vega"))
    h = 0.01 * SPOT
    up, mid, down = (ql_barrier_price(spot=SPOT + s, **case) for s in (h, 0.0, -h))
    reference = dict(delta=(up - down) / (2 * h), gamma=(up - 2 * mid + down) / h ** 2,
                     vega=(ql_barrier_price(vol=VOL + 1e-4, **case) - ql_barrier_price(vol=VOL - 1e-4, **case)) / 2e-4)
    for name, value in reference.items():
        assert abs(result.greeks[name] - value) < 3 * result.greeks_stderr[name], (name, result.greeks[name], value)


def test_heston_parameter_sensitivities_match_autodiff_of_the_closed_form():
    import jax
    from pricer.analytic import heston_price
    params = dict(v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7)
    model = Heston(spot=SPOT, rate=RATE, dividend=DIVIDEND, **params)
    names = ("delta", "v0", "kappa", "theta", "xi", "correlation")
    result = price(EuropeanOption(strike=100.0, expiry=1.0), model, MC, greeks=names)
    grad = jax.grad(lambda s, v0, k, th, xi, r: heston_price(
        spot=s, strike=100.0, expiry=1.0, v0=v0, kappa=k, theta=th, xi=xi, rho=r, rate=RATE, dividend=DIVIDEND,
        call=True), argnums=tuple(range(6)))(SPOT, *params.values())
    for name, reference in zip(names, grad):
        # allowance: QE-M at 52 steps a year has a small discretisation bias in the sensitivities
        assert abs(result.greeks[name] - float(reference)) < 3 * result.greeks_stderr[name] + 0.01 * abs(float(reference)), name


def test_unknown_greek_names_the_choices():
    with pytest.raises(ValueError, match="vega"):
        price(EuropeanOption(strike=100.0, expiry=1.0), MODEL, MC, greeks=("speed",))
