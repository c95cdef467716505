"""Bad input raises ValueError naming the field, at construction, before any simulation."""
import warnings

import numpy as np
import pytest

from pricer import (AsianOption, BarrierOption, BlackScholes, EuropeanOption, Garch, Heston, MonteCarlo, price)

HESTON = dict(spot=100.0, v0=0.04, kappa=1.0, theta=0.04, xi=0.5, rho=-0.5)


@pytest.mark.parametrize("make, field", [
    (lambda: BlackScholes(spot=-1.0, vol=0.2), "spot"),
    (lambda: BlackScholes(spot=0.0, vol=0.2), "spot"),
    (lambda: BlackScholes(spot=100.0, vol=0.0), "vol"),
    (lambda: BlackScholes(spot=100.0, vol=np.array([0.2, -0.1])), "vol"),
    (lambda: BlackScholes(spot=np.nan, vol=0.2), "spot"),
    (lambda: BlackScholes(spot=100.0, vol=0.2, rate=np.inf), "rate"),
    (lambda: BlackScholes(spot=100.0, vol="high"), "vol"),
    (lambda: Heston(**{**HESTON, "rho": -1.2}), "rho"),
    (lambda: Heston(**{**HESTON, "xi": 0.0}), "xi"),
    (lambda: Heston(**{**HESTON, "v0": -0.01}), "v0"),
    (lambda: Heston(**{**HESTON, "kappa": np.nan}), "kappa"),
    (lambda: Garch(spot=100.0, omega=1e-6, alpha=0.1, beta=0.9), "alpha + beta"),
    (lambda: Garch(spot=100.0, omega=1e-6, alpha=0.1, beta=0.85, gamma=0.2), "alpha + beta"),
    (lambda: Garch(spot=100.0, omega=-1e-6, alpha=0.1, beta=0.8), "omega"),
    (lambda: Garch(spot=100.0, omega=1e-6, alpha=0.05, beta=0.8, gamma=-0.1), "alpha + gamma"),
    (lambda: Garch(spot=100.0, omega=1e-6, alpha=0.1, beta=0.8, h0=0.0), "h0"),
    (lambda: EuropeanOption(strike=-5.0, expiry=1.0), "strike"),
    (lambda: EuropeanOption(strike=100.0, expiry=0.0), "expiry"),
    (lambda: EuropeanOption(strike=100.0, expiry=np.array([1.0, np.nan])), "expiry"),
    (lambda: BarrierOption(strike=100.0, barrier=0.0, expiry=1.0), "barrier"),
    (lambda: BarrierOption(strike=100.0, barrier=120.0, expiry=1.0, rebate=-1.0), "rebate"),
    (lambda: BarrierOption(strike=100.0, barrier=120.0, expiry=1.0, monitoring="daily"), "monitoring"),
    (lambda: BarrierOption(strike=100.0, barrier=120.0, expiry=1.0, monitoring=[0.5, 0.25]), "monitoring"),
    (lambda: BarrierOption(strike=100.0, barrier=120.0, expiry=1.0, monitoring=[0.5, 1.5]), "monitoring"),
    (lambda: BarrierOption(strike=100.0, barrier=120.0, expiry=1.0, monitoring=[0.0, 0.5]), "monitoring"),
    (lambda: AsianOption(strike=100.0, expiry=1.0, fixings=0), "fixings"),
    (lambda: AsianOption(strike=100.0, expiry=1.0, fixings=[0.2, 0.1, 1.0]), "fixings"),
    (lambda: AsianOption(strike=100.0, expiry=1.0, fixings=[0.5, 1.2]), "fixings"),
    (lambda: AsianOption(strike=100.0, expiry=1.0, fixings=[0.5, np.nan]), "fixings"),
    (lambda: AsianOption(strike=100.0, expiry=1.0, fixings=12, past_count=2.5, past_average=100.0), "past_count"),
    (lambda: AsianOption(strike=100.0, expiry=1.0, fixings=12, past_count=3, past_average=0.0), "past_average"),
    (lambda: AsianOption(strike=100.0, expiry=1.0, fixings=12, call="maybe"), "call"),
    (lambda: MonteCarlo(paths=0), "paths"),
    (lambda: MonteCarlo(scheme="milstein"), "scheme"),
    (lambda: MonteCarlo(dtype="float16"), "dtype"),
    (lambda: MonteCarlo(backend="cuda"), "backend"),
])
def test_bad_input_names_the_field(make, field):
    with pytest.raises(ValueError, match=field.replace("+", r"\+")):
        make()


def test_shapes_that_do_not_broadcast_are_refused():
    model = BlackScholes(spot=np.array([100.0, 101.0]), vol=0.2)
    with pytest.raises(ValueError, match="broadcast"):
        price(EuropeanOption(strike=np.array([90.0, 100.0, 110.0]), expiry=1.0), model)


def test_wrong_types_are_refused():
    with pytest.raises(TypeError, match="product"):
        price("call", BlackScholes(spot=100.0, vol=0.2))
    with pytest.raises(TypeError, match="model"):
        price(EuropeanOption(strike=100.0, expiry=1.0), {"spot": 100.0})


MODEL = BlackScholes(spot=100.0, vol=0.2)
EUROPEAN = EuropeanOption(strike=100.0, expiry=1.0)
SMALL = MonteCarlo(paths=2048, seed=3)


@pytest.mark.parametrize("make, field", [
    (lambda: price(EuropeanOption(strike=None, expiry=1.0), MODEL, SMALL), "strike"),   # pytrees skip None
    (lambda: price(EUROPEAN, BlackScholes(spot=100.0, vol=None), SMALL), "vol"),
    (lambda: price(EUROPEAN, Heston(**{**HESTON, "xi": None}), SMALL), "xi"),
    (lambda: price(BarrierOption(strike=100.0, barrier=120.0, expiry=1.0, rebate=None), MODEL, SMALL), "rebate"),
    (lambda: price(EuropeanOption(strike={"a": 1.0}, expiry=1.0), MODEL, SMALL), "strike"),
    (lambda: EuropeanOption(strike=True, expiry=1.0), "strike"),           # a bool is not a number
    (lambda: BlackScholes(spot="100", vol=0.2), "spot"),                  # nor is a numeric string
    (lambda: EuropeanOption(strike=1 + 2j, expiry=1.0), "strike"),         # nor a complex number
    (lambda: EuropeanOption(strike=[100.0, None], expiry=1.0), "strike"),
    (lambda: price(EuropeanOption(strike=np.array([]), expiry=1.0), MODEL, SMALL), "strike has no elements"),
    (lambda: AsianOption(strike=90.0, expiry=1e-6, fixings=10_000), "closer than"),   # the grid merges them
    (lambda: BarrierOption(strike=90.0, barrier=99.0, expiry=1.0, up=False, monitoring=[0.5, 0.5 + 1e-10]),
     "closer than"),
    (lambda: AsianOption(strike=90.0, expiry=1.0, fixings=12.5), "whole number of dates"),
    (lambda: BarrierOption(strike=90.0, barrier=120.0, expiry=1.0, monitoring=True), "whole number of dates"),
    (lambda: MonteCarlo(antithetic="False"), "antithetic"),
    (lambda: MonteCarlo(control_variate=np.array([True])), "control_variate"),
    (lambda: MonteCarlo(steps_per_year=True), "steps_per_year"),
    (lambda: MonteCarlo(seed=2 ** 80), "seed"),               # would collide with seed 0 after masking
    (lambda: MonteCarlo(grid_capacity=2 ** 40), "grid_capacity"),
])
def test_more_bad_input_names_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_a_whole_float_is_a_count_of_dates():
    assert AsianOption(strike=90.0, expiry=1.0, fixings=12.0).fixings == 12


@pytest.mark.parametrize("greeks", [123, [["delta"]], b"delta"])
def test_greeks_must_be_names(greeks):
    with pytest.raises(TypeError, match="greeks must be"):
        price(EUROPEAN, MODEL, SMALL, greeks=greeks)


def test_mc_must_be_a_monte_carlo():
    with pytest.raises(TypeError, match="mc must be"):
        price(EUROPEAN, MODEL, {"paths": 100})


@pytest.mark.parametrize("product, model, what", [
    (EuropeanOption(strike=1e37, expiry=1.0, call=False), MODEL, "price"),   # beyond float32
    # a discount factor of e^100, beyond float32 (a rate of 100 is refused as a percentage now)
    (EuropeanOption(strike=100.0, expiry=50.0, call=False), BlackScholes(spot=100.0, vol=0.2, rate=-2.0), "price"),
    (EUROPEAN, BlackScholes(spot=1e30, vol=0.2), "stderr"),
])
def test_a_non_finite_result_is_an_error_not_a_nan(product, model, what):
    with pytest.raises(FloatingPointError, match=f"the {what} is not finite"):
        price(product, model, SMALL)


def test_a_non_finite_result_names_its_batch_item():
    with pytest.raises(FloatingPointError, match=r"at batch item\(s\) 1"):
        price(EuropeanOption(strike=np.array([100.0, 1e37]), expiry=1.0, call=False), MODEL, SMALL)


@pytest.mark.parametrize("product, model, paths", [
    (EuropeanOption(strike=100.0, expiry=50.0), BlackScholes(spot=100.0, vol=1.0), 2048),   # was 56.69 +- 0.0015
    (EuropeanOption(strike=100.0, expiry=np.array([1.0, 50.0])), BlackScholes(spot=100.0, vol=1.0), 2048),
    (EuropeanOption(strike=100.0, expiry=1.0), Garch(spot=100.0, omega=2e-6, alpha=0.08, beta=0.92 - 1e-7), 2048),
])
def test_a_variance_too_large_to_sample_is_refused(product, model, paths):
    with pytest.raises(ValueError, match="variance of the log price"):
        price(product, model, MonteCarlo(paths=paths))


def test_float32_refuses_a_log_price_that_moves_less_than_its_rounding():
    """vol 1e-5 over a year in float32: each step's rounding of log S (2.4e-7 at 100) adds 5% to the variance
    of log S_T; the at-the-money call came out 3.2% high (z = 9.6) and an up-and-out barrier 4.8x its value.
    Refused, naming float64, which prices it right; vol 1e-4 is still priced in float32, correctly."""
    from pricer.analytic import black_scholes_price
    call = EuropeanOption(strike=100.0, expiry=1.0)
    with pytest.raises(ValueError, match="too small for float32.*float64"):
        price(call, BlackScholes(spot=100.0, vol=1e-5), MonteCarlo(paths=4096))
    with pytest.raises(ValueError, match=r"batch item 1"):
        price(call, BlackScholes(spot=100.0, vol=np.array([0.2, 1e-5])), MonteCarlo(paths=4096))
    for vol, dtype in [(1e-5, "float64"), (1e-4, "float32")]:
        result = price(call, BlackScholes(spot=100.0, vol=vol), MonteCarlo(paths=1 << 16, dtype=dtype))
        exact = float(black_scholes_price(100.0, 100.0, 1.0, vol, 0.0, 0.0, True))
        assert abs(float(result.price) - exact) < 4 * float(result.stderr), (vol, dtype, float(result.price), exact)


def test_float32_qe_refuses_a_vanishing_vol_of_variance():
    # rho / xi terms cancel in the log-price step: xi = 1e-5 priced 4.15 against 8.00
    model = Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.04, xi=1e-5, rho=-0.7)
    with pytest.raises(ValueError, match="xi"):
        price(EUROPEAN, model, SMALL)
    price(EUROPEAN, model, MonteCarlo(paths=2048, scheme="euler"))   # Euler has no such terms


def test_decimal_fields_are_numbers():
    from decimal import Decimal
    assert price(EUROPEAN, BlackScholes(spot=Decimal("100"), vol=0.2), SMALL).price == price(EUROPEAN, MODEL, SMALL).price


def test_a_mean_reversion_too_fast_to_simulate_is_refused_naming_kappa():
    """kappa = 1e6 would need 4,000,000 steps a year: refused naming kappa (it said 'the model needs ...')."""
    model = Heston(**{**HESTON, "kappa": 1e6})
    with pytest.raises(ValueError, match=r"kappa = 1000000\.0.*4,000,000 time steps a year"):
        price(EuropeanOption(strike=100.0, expiry=1.0), model, MonteCarlo(paths=4096))


# ------------------------------------------------ found by the adversarial review of 2026-12-07 (helper-47)
@pytest.mark.parametrize("make", [
    lambda: BlackScholes(spot=100.0, vol=0.2, rate=5.0),
    lambda: Heston(spot=100.0, v0=0.04, kappa=1.0, theta=0.04, xi=0.5, rho=-0.5, dividend=[0.01, 3.0]),
    lambda: Garch(spot=100.0, omega=2e-6, alpha=0.05, beta=0.9, rate=-2.5),
], ids=["bs-rate", "heston-dividend", "garch-rate"])
def test_a_rate_in_percent_is_refused_by_every_model(make):
    """BlackScholes(rate=5.0) priced an at-the-money call at 99.3% of spot with no word (the book refused
    the same number; the models now share its limit)."""
    with pytest.raises(ValueError, match=r"(rate|dividend) must be a decimal within \+-2 .*a percentage\?"):
        make()


@pytest.mark.parametrize("make, field", [
    (lambda: BlackScholes(spot=100.0, vol=0.2, rate=0.03, dividend=1.5), "dividend 1.5"),
    (lambda: Heston(spot=100.0, v0=0.04, kappa=1.0, theta=0.04, xi=0.5, rho=-0.5, rate=[0.01, -1.2]), "rate -1.2"),
    (lambda: Garch(spot=100.0, omega=2e-6, alpha=0.05, beta=0.9, rate=np.float64(1.9)), "rate 1.9"),
], ids=["bs-dividend", "heston-rate", "garch-rate"])
def test_a_rate_between_100_and_200_percent_is_used_but_named(make, field):
    """Between +-100% and the refused +-200% a rate is real somewhere (the peso's 2023 rates, a hard-to-borrow
    stock's borrow fee as a yield) but more often a percentage (a 1.5% yield typed 1.5): every model names
    it in a PercentLikeWarning pointing at the caller's line, and prices with it."""
    from pricer import PercentLikeWarning, UnresolvedPriceWarning
    with pytest.warns(PercentLikeWarning, match=rf"{field} is -?1[0-9]0% a year: used as given; if it is a "
                                                r"percentage, pass decimals") as record:
        model = make()
    assert [w.filename for w in record] == [__file__]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PercentLikeWarning)   # within 100% is quiet
        warnings.simplefilter("ignore", UnresolvedPriceWarning)   # a call under a 150% yield is worth ~0
        BlackScholes(spot=100.0, vol=0.2, rate=1.0, dividend=-0.99)
        # price() rebuilds the model from numpy copies (its checks): no second warning for the same values
        result = price(EuropeanOption(strike=100.0, expiry=0.5), model, MonteCarlo(paths=1024))
    assert np.all(np.isfinite(result.price))


def test_a_garch_expiry_under_half_a_day_is_refused_not_priced_as_a_day():
    """0.1 of a trading day was priced as a whole day's option (0.25 against about 0.08)."""
    model = Garch(spot=100.0, omega=2e-6, alpha=0.05, beta=0.9)
    mc = MonteCarlo(paths=2048)
    with pytest.raises(ValueError, match=r"expiry of item 1 is 0\.3 of a step: Garch steps 1/252"):
        price(EuropeanOption(strike=100.0, expiry=np.array([1.0, 0.3]) / 252), model, mc)
    one_day = price(EuropeanOption(strike=100.0, expiry=1.0 / 252), model, mc)
    assert price(EuropeanOption(strike=100.0, expiry=0.6 / 252), model, mc).price == one_day.price  # nearest day


def test_an_h0_greek_without_h0_says_how_to_get_it():
    model = Garch(spot=100.0, omega=2e-6, alpha=0.05, beta=0.9)
    with pytest.raises(ValueError, match="greek 'h0' needs the model's h0 set.*h0=model.initial_variance"):
        price(EuropeanOption(strike=100.0, expiry=0.1), model, MonteCarlo(paths=2048), greeks=("delta", "h0"))
    with pytest.raises(ValueError, match="greek 'h0' is not known for BlackScholes"):
        price(EuropeanOption(strike=100.0, expiry=0.1), BlackScholes(spot=100.0, vol=0.2), MonteCarlo(paths=2048),
              greeks=("h0",))


@pytest.mark.parametrize("times", [["0.5", "1.0"], ["2027-06-01"], [True, False], [None, 1.0]])
def test_monitoring_and_fixing_times_must_be_numbers(times):
    """BarrierOption(monitoring=["0.5", "1.0"]) was read as the numbers 0.5 and 1.0 (numpy converts texts):
    a CSV's text or a date string is refused, naming the field, as a list of None or booleans is."""
    with pytest.raises(ValueError, match=r"monitoring must be .*numbers: years from today, not texts or dates"):
        BarrierOption(strike=100.0, expiry=1.0, barrier=120.0, monitoring=times)
    with pytest.raises(ValueError, match=r"fixings must be .*numbers: years from today, not texts or dates"):
        AsianOption(strike=100.0, expiry=1.0, fixings=times)


def test_monitoring_times_of_mixed_number_types_are_read():
    from decimal import Decimal
    option = BarrierOption(strike=100.0, expiry=1.0, barrier=120.0, monitoring=[Decimal("0.5"), 1])
    assert option.monitoring == (0.5, 1.0)


def test_a_greek_named_twice_is_refused_by_price_as_by_the_book():
    """price(greeks=("delta", "delta")) merged the two silently where price_book refused them: a repeated name
    is more often a typo for another Greek (vega for volga, say) than a wish for it twice."""
    import pandas as pd
    from pricer import price_book
    with pytest.raises(ValueError, match=r"greeks has repeated names: 'delta' in \('delta', 'vega', 'delta'\)"):
        price(EuropeanOption(strike=100.0, expiry=1.0), BlackScholes(spot=100.0, vol=0.2), MonteCarlo(paths=1024),
              greeks=("delta", "vega", "delta"))
    book = pd.DataFrame([dict(trade_id="T1", underlying="X", product="european", call_put="call", strike=100.0,
                              expiry=1.0)])
    market = pd.DataFrame([dict(underlying="X", model="black_scholes", spot=100.0, rate=0.0, vol=0.2)])
    with pytest.raises(ValueError, match=r"greeks has repeated names: 'delta'"):
        price_book(book, market, greeks=["delta", "delta"])


def test_a_schedule_of_more_than_ten_thousand_dates_is_refused():
    """AsianOption(fixings=10**7) ran out of memory in XLA (price_book capped dates at 10,000; price did not)."""
    with pytest.raises(ValueError, match=r"fixings: 10000000 dates are more than the 10000 one product may have"):
        AsianOption(strike=100.0, expiry=1.0, fixings=10**7)
    with pytest.raises(ValueError, match=r"monitoring: 10001 dates are more than the 10000"):
        BarrierOption(strike=100.0, expiry=50.0, barrier=120.0, monitoring=np.linspace(0.004, 50.0, 10_001))
    assert AsianOption(strike=100.0, expiry=40.0, fixings=10_000).fixings == 10_000
