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
    # on the barrier a knock-out is its rebate (gamma 0, was -0.031), a knock-in the vanilla
    on = BarrierOption(strike=100.0, barrier=110.0, expiry=0.5, knock_in=np.array([False, True]), rebate=2.0)
    result = price(on, BlackScholes(110.0, 0.2, 0.03), MC, greeks=("delta", "gamma"))
    assert result.greeks["gamma"][0] == 0.0 and result.greeks["delta"][0] == 0.0
    vanilla = _black_scholes_gamma(110.0, 100.0, 0.5, 0.2, 0.03)
    assert result.greeks["gamma"][1] == pytest.approx(vanilla, rel=0.05)


@pytest.mark.parametrize("spot, up", [(110.0, True), (113.0, True), (110.0, False), (107.0, False)],
                         ids=["on-up", "beyond-up", "on-down", "beyond-down"])
@pytest.mark.parametrize("control_variate", [True, False], ids=["control", "plain"])
def test_a_barrier_knocked_at_inception_is_differenced_centrally(spot, up, control_variate):
    # the barrier no longer matters once touched, so it is moved beyond both differenced spots: the
    # difference is central, O(h^2). Before, one-sided on the knocked side, O(h): a knock-in 3% beyond its
    # barrier had gamma 0.01412 for 0.01452 with the control variate (error 0: a sure miss); exactly on
    # it the step was the dtype's smallest (1e-7 in float64), and without the control gamma was 0 +- 0
    product = BarrierOption(strike=100.0, barrier=110.0, expiry=0.5, up=up, knock_in=np.array([False, True]),
                            rebate=2.0)
    mc = MonteCarlo(paths=100_000, seed=3, dtype="float64", control_variate=control_variate)
    result = price(product, BlackScholes(spot, 0.2, 0.03), mc, greeks=("delta", "gamma"))
    assert result.price[0] == pytest.approx(2.0, rel=1e-12)     # the rebate, paid now: no Greeks
    assert result.greeks["gamma"][0] == 0.0 and result.greeks["delta"][0] == 0.0
    vanilla = _black_scholes_gamma(spot, 100.0, 0.5, 0.2, 0.03)
    gamma, error = float(result.greeks["gamma"][1]), float(result.greeks_stderr["gamma"][1])
    # the central difference's bias, h^2 / 6 of the gamma's second derivative: below 1e-3 here
    assert abs(gamma - vanilla) <= 3 * error + 1e-3 * vanilla
    alone = price(product, BlackScholes(spot, 0.2, 0.03), mc)     # the barrier's move leaves the price as it was
    np.testing.assert_array_equal(result.price, alone.price)


def test_a_trades_greeks_do_not_depend_on_the_trades_priced_with_it():
    # a batch shares its paths; the spot steps are per row (moved into the product by homogeneity), so a
    # trade next to a barrier does not shrink its neighbours' steps, nor a knocked one spoil them
    model, mc = BlackScholes(100.0, 0.25, 0.03), MonteCarlo(paths=1 << 14, seed=2)
    alone = price(BarrierOption(strike=100.0, barrier=140.0, expiry=1.0), model, mc, greeks=("delta", "gamma"))
    for neighbour in (100.05, 100.0, 100.0002):   # near, knocked at inception, nearer than float32 resolves
        batch = price(BarrierOption(strike=100.0, barrier=np.array([140.0, neighbour]), expiry=1.0), model, mc,
                      greeks=("delta", "gamma"))
        for name in ("delta", "gamma"):   # the same numbers, to float32 rounding (was 3.6 standard errors apart)
            np.testing.assert_allclose(batch.greeks[name][0], alone.greeks[name], rtol=1e-5)
            np.testing.assert_allclose(batch.greeks_stderr[name][0], alone.greeks_stderr[name], rtol=1e-5)
    knocked = price(BarrierOption(strike=100.0, barrier=np.array([140.0, 100.0]), expiry=1.0, rebate=2.0), model, mc,
                    greeks=("delta", "gamma"))
    assert knocked.greeks["gamma"][1] == 0.0 and knocked.greeks["delta"][1] == 0.0


def test_a_knocked_barrier_has_no_delta_under_central_differences():
    # Heston under Euler takes delta by central differences: they straddled the barrier (0.026 +- 0.002)
    from pricer import Heston
    model = Heston(spot=110.0, v0=0.04, kappa=1.5, theta=0.04, xi=0.5, rho=-0.7, rate=0.03)
    result = price(BarrierOption(strike=100.0, barrier=110.0, expiry=0.5, rebate=2.0), model,
                   MonteCarlo(paths=1 << 14, seed=1, dtype="float64", scheme="euler"), greeks=("delta", "gamma"))
    assert float(result.price) == pytest.approx(2.0, rel=1e-12)
    assert abs(float(result.greeks["delta"])) < 1e-9 and abs(float(result.greeks["gamma"])) < 1e-6


@pytest.mark.parametrize("up", [True, False], ids=["up", "down"])
def test_gamma_of_a_barrier_nearer_than_the_smallest_step_is_taken_away_from_it(up):
    # alive, 0.01% from the barrier: the smallest float32 step (1e-4) reaches it. Toward the barrier the
    # difference took the knock's jump (gamma -11.4 +- 0.5 for -0.0013); away from it, one-sided, it does not
    barrier = 100.01 if up else 99.99
    product = BarrierOption(strike=100.0 if up else 90.0, barrier=barrier, expiry=0.5, up=up, call=up, rebate=2.0)
    result = price(product, BlackScholes(100.0, 0.2, 0.03), MonteCarlo(paths=100_000, seed=3),
                   greeks=("delta", "gamma"))
    reference = jax.grad(jax.grad(lambda s: analytic.barrier_price(s, product.strike, barrier, 0.5, 0.2, 0.03, 0.0,
                                                                   2.0, up, up, False)))(100.0)
    # one-sided, O(h): here 2e-6 (over eight seeds the mean z is -0.1)
    assert abs(float(result.greeks["gamma"]) - float(reference)) < 3 * float(result.greeks_stderr["gamma"])
