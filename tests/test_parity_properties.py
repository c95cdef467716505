"""Parities that hold path by path, over random models and contracts (hypothesis): knock-in + knock-out =
the European on the same paths (any barrier side, either monitoring, all three models), and put-call
parity with the discounted-spot control. Exact identities, so any gap beyond rounding is a bug, not noise."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricer import BarrierOption, BlackScholes, EuropeanOption, Garch, Heston, MonteCarlo, price

# few distinct expiries and step counts: each new time grid compiles once
EXPIRIES = (0.25, 1.0)
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.too_slow])


@st.composite
def models(draw):
    spot = 100.0
    rate = draw(st.floats(-0.01, 0.08))
    dividend = draw(st.floats(0.0, 0.05))
    kind = draw(st.sampled_from(["black_scholes", "heston", "garch"]))
    if kind == "black_scholes":
        return BlackScholes(spot=spot, vol=draw(st.floats(0.05, 0.8)), rate=rate, dividend=dividend)
    if kind == "heston":
        return Heston(spot=spot, v0=draw(st.floats(0.01, 0.2)), kappa=draw(st.floats(0.3, 5.0)),
                      theta=draw(st.floats(0.01, 0.2)), xi=draw(st.floats(0.1, 1.0)),
                      rho=draw(st.floats(-0.95, 0.5)), rate=rate, dividend=dividend)
    alpha = draw(st.floats(0.01, 0.15))
    gamma = draw(st.floats(0.0, 0.1))
    beta = draw(st.floats(0.5, 0.985 - alpha - gamma / 2))
    daily_variance = draw(st.floats(0.005, 0.04)) ** 2
    return Garch(spot=spot, omega=daily_variance * (1 - alpha - beta - gamma / 2), alpha=alpha, beta=beta,
                 gamma=gamma, rate=rate, dividend=dividend, price_of_risk=draw(st.floats(-0.1, 0.1)))


@st.composite
def barrier_contracts(draw):
    up = draw(st.booleans())
    barrier = draw(st.floats(101.0, 160.0)) if up else draw(st.floats(50.0, 99.0))
    return dict(strike=draw(st.floats(60.0, 140.0)), barrier=barrier, up=up, call=draw(st.booleans()),
                expiry=draw(st.sampled_from(EXPIRIES)), monitoring=draw(st.sampled_from(["continuous", 13])))


@PROPERTY_SETTINGS
@given(model=models(), contract=barrier_contracts(), seed=st.integers(0, 2**31 - 1))
def test_knock_in_plus_knock_out_is_the_european(model, contract, seed):
    mc = MonteCarlo(paths=2048, steps_per_year=52, seed=seed, dtype="float64", control_variate=False)
    monitoring = contract.pop("monitoring")
    knock = BarrierOption(**contract, knock_in=np.array([True, False]), monitoring=monitoring)
    vanilla = EuropeanOption(strike=contract["strike"], expiry=contract["expiry"], call=contract["call"])
    in_and_out = price(knock, model, mc)
    european = price(vanilla, model, mc)
    # the same paths only on the same time grid: 13 dates fall on the weekly grid of both expiries (dates
    # off the grid add steps, and with them other random numbers)
    assert in_and_out.steps == european.steps
    total = float(in_and_out.price[0] + in_and_out.price[1])
    assert np.isfinite(total)
    assert abs(total - float(european.price)) <= 1e-10 * (1.0 + abs(float(european.price))), (total, european.price)


@PROPERTY_SETTINGS
@given(model=models(), strike=st.floats(50.0, 150.0), expiry=st.sampled_from(EXPIRIES),
       seed=st.integers(0, 2**31 - 1))
def test_put_call_parity_with_the_control(model, strike, expiry, seed):
    mc = MonteCarlo(paths=2048, steps_per_year=52, seed=seed, dtype="float64")
    result = price(EuropeanOption(strike=strike, expiry=expiry, call=np.array([True, False])), model, mc)
    forward_spot = 100.0 * np.exp(-float(model.dividend) * expiry)
    parity = forward_spot - strike * np.exp(-float(model.rate) * expiry)
    assert abs(float(result.price[0] - result.price[1]) - parity) <= 1e-9 * 100.0
