"""Central-difference Greeks (discrete barriers, Heston under Euler): parameters at zero, directions that
move two fields, parameters next to the model's domain boundary, and float32 rounding of the drift.

Each is compared with an independent reference: autodiff of a closed form, or the pathwise Greek of the
same model on a European (a discrete barrier that cannot be reached is that European)."""
import jax
import numpy as np
import pytest

from pricer import BarrierOption, BlackScholes, EuropeanOption, Garch, Heston, MonteCarlo, analytic, price
from pricer.greeks import difference_steps

UNREACHABLE = dict(strike=100.0, barrier=1e4, expiry=1.0, monitoring=12)   # up-and-out: a European


def heston_closed_form(**moved):
    base = dict(spot=100.0, strike=100.0, expiry=1.0, v0=0.02, kappa=1.5, theta=0.09, xi=0.5, rho=-0.7,
                rate=0.0, dividend=0.0, call=1.0)
    return lambda **p: analytic.heston_price(**{**base, **moved, **p})


def test_rate_and_dividend_at_zero_move_the_price():
    # the step used to be 1% of the value with a floor of 1e-8: a zero rate moved by nothing, rho = 0
    model = BlackScholes(spot=100.0, vol=0.2)
    result = price(BarrierOption(**UNREACHABLE), model, MonteCarlo(paths=60_000, seed=4, control_variate=False),
                   greeks=("rho", "dividend"))
    closed = lambda r, q: analytic.black_scholes_price(spot=100.0, strike=100.0, expiry=1.0, vol=0.2,  # noqa: E731
                                                       rate=r, dividend=q, call=1.0)
    rho, dividend = jax.grad(closed, argnums=(0, 1))(0.0, 0.0)
    assert abs(result.greeks["rho"] - rho) < 3 * result.greeks_stderr["rho"]
    assert abs(result.greeks["dividend"] - dividend) < 3 * result.greeks_stderr["dividend"]
    assert rho > 40 and dividend < -40


def test_heston_euler_vega_moves_v0_and_theta_in_proportion():
    # vega is the derivative along (2 sqrt(v0), 2 sqrt(theta)); with v0 != theta the old per-field steps
    # went along another direction (measured 44.99 +- 0.15 against 35.80)
    model = Heston(spot=100.0, v0=0.02, kappa=1.5, theta=0.09, xi=0.5, rho=-0.7)
    result = price(EuropeanOption(100.0, 1.0), model, MonteCarlo(paths=100_000, scheme="euler", seed=5),
                   greeks=("vega", "rho"))
    closed = heston_closed_form()
    vega = jax.jvp(lambda v0, theta: closed(v0=v0, theta=theta), (0.02, 0.09), (2 * 0.02 ** 0.5, 2 * 0.09 ** 0.5))[1]
    rho = jax.grad(lambda r: closed(rate=r))(0.0)
    assert abs(result.greeks["vega"] - vega) < 3 * result.greeks_stderr["vega"]
    assert abs(result.greeks["rho"] - rho) < 3 * result.greeks_stderr["rho"]


@pytest.mark.parametrize("correlation", [1.0, 0.999, -1.0])
def test_heston_euler_correlation_greek_on_and_next_to_the_boundary(correlation):
    # a bump past |rho| = 1 priced an invalid model: NaN
    model = Heston(spot=100.0, v0=0.02, kappa=1.5, theta=0.09, xi=0.5, rho=correlation)
    result = price(EuropeanOption(100.0, 1.0), model, MonteCarlo(paths=60_000, scheme="euler", seed=6),
                   greeks=("correlation",))
    exact = jax.grad(lambda c: heston_closed_form()(rho=c))(correlation)
    assert np.isfinite(result.greeks["correlation"]) and np.isfinite(result.greeks_stderr["correlation"])
    assert abs(result.greeks["correlation"] - exact) < 3 * result.greeks_stderr["correlation"]


@pytest.mark.parametrize("correlation", [1.0, -1.0, -0.99999999])   # the last is -1 in float32
def test_heston_qe_correlation_greek_on_the_boundary(correlation):
    """At |rho| = 1 the pathwise correlation Greek dropped the independent part's infinite derivative (audit:
    -7.66 +- 0.01 for +0.62 at rho = -1); it is differenced there, one-sided, like the other Greeks of the call."""
    model = Heston(spot=100.0, v0=0.02, kappa=1.5, theta=0.09, xi=0.5, rho=correlation)
    result = price(EuropeanOption(100.0, 1.0), model, MonteCarlo(paths=60_000, seed=6), greeks=("correlation", "delta"))
    closed = heston_closed_form()
    exact = jax.grad(lambda c: closed(rho=c))(correlation)
    assert abs(result.greeks["correlation"] - exact) < 3 * result.greeks_stderr["correlation"]
    delta = jax.grad(lambda s: closed(spot=s, rho=correlation))(100.0)
    assert abs(result.greeks["delta"] - delta) < 3 * result.greeks_stderr["delta"]


@pytest.mark.parametrize("model", [
    Garch(spot=100.0, omega=2e-8, alpha=0.08, beta=0.9195),                              # persistence 0.9995
    Garch(spot=100.0, omega=2e-6, alpha=0.0, beta=0.9, gamma=0.0, price_of_risk=0.0),   # parameters at 0
], ids=["near-unit-persistence", "zeros"])
def test_garch_difference_greeks_match_pathwise_greeks_of_the_european(model):
    # (annual vols near 10%: the barrier at 100x the spot is never reached, the two products are one)
    names = ("alpha", "beta", "gamma_garch", "price_of_risk", "rho", "dividend", "vega")
    mc = MonteCarlo(paths=60_000, seed=7)
    by_difference = price(BarrierOption(**UNREACHABLE), model, mc, greeks=names)
    pathwise = price(EuropeanOption(100.0, 1.0), model, mc, greeks=names)
    for name in names:
        difference, reference = by_difference.greeks[name], pathwise.greeks[name]
        error = np.hypot(by_difference.greeks_stderr[name], pathwise.greeks_stderr[name])
        # (both are exactly 0 where the Greek is: price_of_risk with alpha = gamma = 0)
        assert np.isfinite(difference) and abs(difference - reference) <= 3 * error + 1e-3 * abs(reference), name


def test_steps_stay_inside_the_domain_and_are_one_sided_only_on_its_boundary():
    model = Garch(spot=100.0, omega=2e-6, alpha=0.08, beta=0.9195)
    rows = lambda m: jax.tree_util.tree_map(lambda a: np.reshape(np.asarray(a, np.float64), (1, 1)), m)  # noqa: E731
    up, down = difference_steps(rows(model), {"alpha": np.ones((1, 1))}, 0.01)
    assert up == down and float(up[0, 0]) == pytest.approx(0.0005 / 16)   # 1/16 of the room left to persistence 1
    on_edge = Heston(spot=100.0, v0=0.0, kappa=1.5, theta=0.09, xi=0.5, rho=1.0)
    up, down = difference_steps(rows(on_edge), {"rho": np.ones((1, 1))}, 0.01)
    assert float(up[0, 0]) == 0.0 and float(down[0, 0]) == pytest.approx(0.01)   # one-sided on the boundary
    up, down = difference_steps(rows(on_edge), {"v0": np.ones((1, 1))}, 0.01)
    assert float(down[0, 0]) == 0.0 and float(up[0, 0]) == pytest.approx(0.01 * 0.04)


def test_float32_bump_and_revalue_of_the_rate_is_smooth():
    # x + (r - q) dt rounded the same way on every path: two prices 2e-4 apart in the rate differed by a
    # systematic error (a GARCH rho of 137.8 from them, against 53.3)
    mc = MonteCarlo(paths=50_000, seed=1)
    product = BarrierOption(**UNREACHABLE)
    prices = [float(price(product, Garch(spot=100.0, omega=2e-6, alpha=0.08, beta=0.9, rate=0.03 + h), mc).price)
              for h in (1e-4, -1e-4)]
    pathwise = price(EuropeanOption(100.0, 1.0), Garch(spot=100.0, omega=2e-6, alpha=0.08, beta=0.9, rate=0.03),
                     mc, greeks=("rho",)).greeks["rho"]
    assert abs((prices[0] - prices[1]) / 2e-4 - pathwise) < 0.01 * abs(pathwise)


def test_gamma_of_a_batch_with_different_spots():
    # the spot step's width was row 0's for every row: the second row's gamma came out half its value
    spots = np.array([100.0, 50.0])
    result = price(EuropeanOption(strike=spots, expiry=1.0), BlackScholes(spot=spots, vol=0.2),
                   MonteCarlo(paths=50_000, seed=3), greeks=("gamma",))
    for i, spot in enumerate(spots):
        exact = jax.grad(jax.grad(lambda s: analytic.black_scholes_price(spot=s, strike=spot, expiry=1.0, vol=0.2,  # noqa: B023
                                                                          rate=0.0, dividend=0.0, call=1.0)))(spot)
        assert abs(result.greeks["gamma"][i] - exact) < 3 * result.greeks_stderr["gamma"][i]
