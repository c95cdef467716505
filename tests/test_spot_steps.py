"""Gamma (and a discrete barrier's delta) by central differences in spot: the step follows the spread of
S_T and the distance to a barrier. A fixed 1% of spot was tens of standard errors off for short-dated or
low-vol options and next to a barrier (references: the closed form, autodiff of the analytic barrier price)."""
import jax
import numpy as np
import pytest
from scipy.stats import norm

from pricer import BarrierOption, BlackScholes, EuropeanOption, MonteCarlo, analytic, price

MC = MonteCarlo(paths=100_000, seed=3, dtype="float64")


def _black_scholes_gamma(spot, strike, expiry, vol, rate):
    d1 = (np.log(spot / strike) + (rate + 0.5 * vol * vol) * expiry) / (vol * np.sqrt(expiry))
    return norm.pdf(d1) / (spot * vol * np.sqrt(expiry))


@pytest.mark.parametrize("expiry, vol", [(1 / 365, 0.2), (1.0, 0.01), (1.0, 0.2)], ids=["one-day", "vol-1%", "plain"])
def test_gamma_of_short_dated_and_low_vol_options(expiry, vol):
    # before: one day 0.330 for 0.381 (-50 SE); a 1% vol 0.078 for 0.053 (+49 SE)
    result = price(EuropeanOption(100.0, expiry, True), BlackScholes(100.0, vol, 0.03), MC, greeks=("gamma",))
    reference = _black_scholes_gamma(100.0, 100.0, expiry, vol, 0.03)
    assert abs(float(result.greeks["gamma"]) - reference) < 3 * float(result.greeks_stderr["gamma"])


def test_gamma_next_to_a_barrier_and_on_it():
    # up-and-out call 1% below its barrier: the 1% bumps crossed it, -0.0466 against -0.00014 (-89 SE)
    product = BarrierOption(strike=100.0, barrier=101.0, expiry=182 / 365, up=True, rebate=2.0)
    result = price(product, BlackScholes(100.0, 0.25, 0.03, 0.01), MC, greeks=("delta", "gamma"))
    reference = jax.grad(jax.grad(lambda s: analytic.barrier_price(s, 100.0, 101.0, 182 / 365, 0.25, 0.03, 0.01, 2.0,
                                                                   True, True, False)))(100.0)
    assert abs(float(result.greeks["gamma"]) - float(reference)) < 3 * float(result.greeks_stderr["gamma"])
    # on the barrier a knock-out is its rebate (gamma 0, was -0.031), a knock-in the vanilla (one-sided
    # difference on the knocked side: the vanilla's gamma half a step away)
    on = BarrierOption(strike=100.0, barrier=110.0, expiry=0.5, knock_in=np.array([False, True]), rebate=2.0)
    result = price(on, BlackScholes(110.0, 0.2, 0.03), MC, greeks=("delta", "gamma"))
    assert result.greeks["gamma"][0] == 0.0 and result.greeks["delta"][0] == 0.0
    vanilla = _black_scholes_gamma(110.0, 100.0, 0.5, 0.2, 0.03)
    assert result.greeks["gamma"][1] == pytest.approx(vanilla, rel=0.05)


def test_the_knocked_out_row_of_a_shared_batch_has_gamma_zero():
    # one model for the batch would take one spot step for every row, across the knocked row's barrier:
    # the batch gets a path set per row instead
    product = BarrierOption(strike=100.0, barrier=np.array([110.0, 130.0]), expiry=0.5, rebate=2.0)
    result = price(product, BlackScholes(110.0, 0.2, 0.03), MC, greeks=("gamma",))
    assert result.greeks["gamma"][0] == 0.0 and result.greeks["gamma"][1] != 0.0
