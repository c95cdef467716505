"""Bad input raises ValueError naming the field, at construction, before any simulation."""
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
