"""Greeks on the same paths as the price, in standard errors, against QuantLib and against our own bumps."""
import dataclasses

import numpy as np
import pytest
import QuantLib as ql

from pricer import AsianOption, BarrierOption, BlackScholes, EuropeanOption, Garch, Heston, MonteCarlo, price
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


# --------------------------------------------------------------------------------------------------
# Heston continuous barriers: delta and gamma against QuantLib's finite-difference engine

HESTON_BARRIER_PARAMS = dict(v0=0.04, kappa=1.5, theta=0.04, xi=0.5, rho=-0.7)
HESTON_RATE, HESTON_DIVIDEND = 0.03, 0.01


def test_heston_barrier_delta_gamma_match_fd_heston_barrier_engine():
    from ql_reference import heston_process
    # (strike, barrier, call, up, knock_in): down-and-out call, up-and-out put, down-and-in put; one year
    cases = [(100.0, 85.0, True, False, False), (100.0, 120.0, False, True, False), (100.0, 90.0, False, False, True)]
    strikes, barriers, calls, ups, knock_ins = (np.array(c) for c in zip(*cases))
    model = Heston(spot=SPOT, rate=HESTON_RATE, dividend=HESTON_DIVIDEND, **HESTON_BARRIER_PARAMS)
    product = BarrierOption(strike=strikes, barrier=barriers, expiry=1.0, call=calls, up=ups, knock_in=knock_ins)
    result = price(product, model, MonteCarlo(paths=204_800, steps_per_year=126, seed=21, dtype="float64"),
                   greeks=("delta", "gamma"))
    ql_model = ql.HestonModel(heston_process(SPOT, *HESTON_BARRIER_PARAMS.values(), HESTON_RATE, HESTON_DIVIDEND))
    for i, (strike, barrier, call, up, knock_in) in enumerate(cases):
        option = barrier_option(strike, barrier, 365, call, up, knock_in)
        # the engine's own delta/gamma (spot derivatives on its grid). Grid error, measured against a
        # 400 x 800 x 200 grid: < 4e-5 in delta, < 1e-5 in gamma, far below the MC standard errors.
        option.setPricingEngine(ql.FdHestonBarrierEngine(ql_model, 200, 400, 100))
        reference = dict(delta=option.delta(), gamma=option.gamma())
        # No discretisation allowance: with 409,600 paths at 63, 126, 252 and 504 steps a year (the two
        # knock-outs) and 409,600-819,200 at 32-252 (the knock-in), the bridge-corrected QE-M delta and
        # gamma show no time-step trend: no bias resolvable at ~1e-3 (knock-outs) or ~4e-4 (knock-in)
        # in delta, ~7e-4 in gamma.
        for name, value in reference.items():
            assert abs(result.greeks[name][i] - value) < 3 * result.greeks_stderr[name][i], (
                cases[i], name, result.greeks[name][i], result.greeks_stderr[name][i], value)


# --------------------------------------------------------------------------------------------------
# Pathwise (AD) Greeks against our own bump-and-revalue with common random numbers

def _bumped_models(model, relative):
    """A batch of four models, priced on the same paths (random numbers depend on seed, path and step
    only): spot down/up, and the API's vega direction down/up. Returns (models, spot step, vega step)."""
    spot_step = relative * model.spot
    spot = np.array([model.spot - spot_step, model.spot + spot_step, model.spot, model.spot])

    def moved(root, step):   # (root - step)^2, (root + step)^2 in the vega rows, unmoved in the delta rows
        return np.array([root ** 2, root ** 2, (root - step) ** 2, (root + step) ** 2])

    if isinstance(model, BlackScholes):
        step = relative * model.vol
        vol = np.array([model.vol, model.vol, model.vol - step, model.vol + step])
        return dataclasses.replace(model, spot=spot, vol=vol), spot_step, step
    if isinstance(model, Heston):   # vega: d/d sqrt(v0) with sqrt(theta) moved by the same amount
        step = relative * np.sqrt(model.v0)
        return (dataclasses.replace(model, spot=spot, v0=moved(np.sqrt(model.v0), step),
                                    theta=moved(np.sqrt(model.theta), step)), spot_step, step)
    # GARCH vega: d/d sqrt(h0) with the square root of the long-run variance omega / persistence likewise
    persistence = 1.0 - model.alpha - model.beta - 0.5 * model.gamma
    step = relative * np.sqrt(model.h0)
    omega = moved(np.sqrt(model.omega / persistence), step) * persistence
    return dataclasses.replace(model, spot=spot, h0=moved(np.sqrt(model.h0), step), omega=omega), spot_step, step


SEEDS = 16
BUMP = 1e-4   # relative; float64 prices, so rounding (~1e-15 / 1e-4) is negligible

# Expected ratio of AD's to the bump's spread over seeds. For a payoff that is Lipschitz along each path
# (all three here, the barrier through its smooth bridge survival), the CRN central difference of each
# path converges to that path's pathwise derivative as the bump shrinks, so the two estimators are
# equally noisy: "equal". AD is genuinely less noisy where the bumped simulation moves discontinuously
# or the estimator changes with the bump: the Heston vega (QE-M switches between its quadratic and
# exponential branches as v0/theta move, so bumped paths jump; the bump's noise grows as the bump
# shrinks) and the GARCH vega (a bumped price() re-estimates its control coefficient beta, whose change
# with the variance level multiplies the control's sampling error; AD holds the price's beta fixed;
# without the control variate the two agree to 1e-3): "smaller".
AD_VS_BUMP_CASES = {
    "bs_down_and_out_call": (BarrierOption(strike=100.0, barrier=90.0, expiry=1.0, call=True, up=False), MODEL, 52,
                             dict(delta="equal", vega="equal")),
    "heston_arithmetic_asian": (AsianOption(strike=100.0, expiry=1.0, fixings=12),
                                Heston(spot=SPOT, v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03,
                                       dividend=0.01), 52, dict(delta="equal", vega="smaller")),
    "gjr_garch_european_put": (EuropeanOption(strike=100.0, expiry=0.5, call=False),
                               Garch(spot=SPOT, omega=2e-6, alpha=0.05, beta=0.9, gamma=0.06, h0=1.5e-4, rate=0.03),
                               252, dict(delta="equal", vega="smaller")),
}


@pytest.mark.parametrize("case", list(AD_VS_BUMP_CASES))
def test_ad_greeks_agree_with_common_random_number_bumps(case):
    from scipy.stats import chi2
    product, model, steps_per_year, expected = AD_VS_BUMP_CASES[case]
    bumped, spot_step, vega_step = _bumped_models(model, BUMP)
    ad, ad_stderr, bump = [], [], []
    for seed in range(SEEDS):
        mc = MonteCarlo(paths=16_384, steps_per_year=steps_per_year, seed=seed, dtype="float64")
        result = price(product, model, mc, greeks=("delta", "vega"))
        ad.append([result.greeks["delta"], result.greeks["vega"]])
        ad_stderr.append([result.greeks_stderr["delta"], result.greeks_stderr["vega"]])
        p = price(product, bumped, mc).price
        bump.append([(p[1] - p[0]) / (2 * spot_step), (p[3] - p[2]) / (2 * vega_step)])
    ad, ad_stderr, bump = (np.array(a, dtype=float) for a in (ad, ad_stderr, bump))
    low, high = chi2.ppf([0.001, 0.999], SEEDS - 1) / (SEEDS - 1)
    for j, name in enumerate(("delta", "vega")):
        # agreement: the same-seed differences (CRN pairs) average to zero within 3 of their standard errors
        difference = ad[:, j] - bump[:, j]
        assert abs(difference.mean()) < 3 * difference.std(ddof=1) / np.sqrt(SEEDS), (case, name, difference)
        # AD's reported standard error is its real spread over seeds (chi-square, 99.8% two-sided)
        spread_ratio = ad[:, j].var(ddof=1) / np.mean(ad_stderr[:, j] ** 2)
        assert low < spread_ratio < high, (case, name, spread_ratio)
        # noise: AD's spread over seeds against the bump's
        ratio = ad[:, j].std(ddof=1) / bump[:, j].std(ddof=1)
        if expected[name] == "equal":
            assert 0.8 < ratio < 1.25, (case, name, ratio)
        else:
            assert ratio < 0.7, (case, name, ratio)


def test_heston_euler_greek_stderr_matches_the_spread_over_seeds():
    """Under Euler full truncation, pathwise variance Greeks are heavy-tailed (d sqrt(v+)/dv is unbounded
    near 0): their reported stderr was half the seed-to-seed spread for this barrier vega. The engine
    uses central differences on the same paths there; the stderr must now describe the spread.
    With 16 seeds the spread/stderr ratio has a sampling sd of about 0.18: bounds are ~3 sd."""
    model = Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03, dividend=0.01)
    product = BarrierOption(strike=100.0, barrier=80.0, expiry=1.0, up=False, rebate=1.0)
    vegas, errors = [], []
    for seed in range(16):
        result = price(product, model, MonteCarlo(paths=8192, steps_per_year=252, seed=seed, scheme="euler"),
                       greeks=("vega",))
        vegas.append(float(result.greeks["vega"]))
        errors.append(float(result.greeks_stderr["vega"]))
    ratio = np.std(vegas, ddof=1) / np.mean(errors)
    assert 0.5 < ratio < 1.6, ratio


@pytest.mark.parametrize("model, units", [
    (Heston(spot=100.0, v0=[0.04, 0.06], kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03), ("v0", "theta")),
    (Garch(spot=100.0, omega=4e-6, alpha=0.05, beta=0.9, gamma=0.06, rate=0.03), ("omega",)),
])
def test_vega_rebuilt_from_its_parameters_equals_vega_alone(model, units):
    """With v0 and theta (GARCH: omega) asked too, vega is their per-path combination, not a tangent of
    its own: the same number and standard error as vega computed alone."""
    product = BarrierOption(strike=100.0, barrier=80.0, expiry=1.0, up=False, rebate=1.0)
    mc = MonteCarlo(paths=4096, steps_per_year=52, seed=7, dtype="float64")
    alone = price(product, model, mc, greeks=("vega",))
    rebuilt = price(product, model, mc, greeks=("delta",) + units + ("vega",))
    np.testing.assert_allclose(rebuilt.greeks["vega"], alone.greeks["vega"], rtol=1e-12)
    np.testing.assert_allclose(rebuilt.greeks_stderr["vega"], alone.greeks_stderr["vega"], rtol=1e-10)


def _ql_barrier_rate_greeks(case, bump=1e-4):
    """QuantLib's AnalyticBarrierEngine, central differences in the rate and in the dividend yield."""
    def npv(rate, dividend):
        option = barrier_option(**case)
        option.setPricingEngine(ql.AnalyticBarrierEngine(bs_process(SPOT, VOL, rate, dividend)))
        return option.NPV()
    return dict(rho=(npv(RATE + bump, DIVIDEND) - npv(RATE - bump, DIVIDEND)) / (2 * bump),
                dividend=(npv(RATE, DIVIDEND + bump) - npv(RATE, DIVIDEND - bump)) / (2 * bump))


def test_rho_with_dividend_is_the_discount_shift_less_the_dividend():
    """With dividend asked too, rho is d/d(rate and dividend together) - d/d dividend: the first moves
    the discounting alone, so no path carries its tangent. The same numbers as rho alone, and QuantLib's."""
    from pricer._tangent_groups import DISCOUNT_SHIFT, group_of, split_rate
    case = dict(strike=100.0, barrier=85.0, days=365, call=True, up=False, knock_in=False, rebate=2.0)
    product = BarrierOption(strike=100.0, barrier=85.0, expiry=1.0, up=False, rebate=2.0)
    both = price(product, MODEL, MC, greeks=("delta", "rho", "dividend"))
    alone = price(product, MODEL, MC, greeks=("rho",))
    np.testing.assert_allclose(both.greeks["rho"], alone.greeks["rho"], rtol=1e-10)
    np.testing.assert_allclose(both.greeks_stderr["rho"], alone.greeks_stderr["rho"], rtol=1e-8)
    for name, value in _ql_barrier_rate_greeks(case).items():
        assert abs(both.greeks[name] - value) < 3 * both.greeks_stderr[name], (name, both.greeks[name], value)
    # the rate's path tangent is gone: the shift stands in its place, in a group of its own
    directions = [{"spot": 1.0}, {"rate": 1.0}, {"dividend": 1.0}]
    directions, layout, _ = split_rate(("delta", "rho", "dividend"), directions, (0, 1, 2), (), MODEL)
    assert set(directions[1]) == {DISCOUNT_SHIFT} and layout[1] == ((1, 0), (2, 1))
    assert [group_of(d, BlackScholes) for d in directions] == [1, 0, 1]
    # Heston and GARCH, with their variance tangents beside it
    mc = MonteCarlo(paths=4096, steps_per_year=52, seed=7, dtype="float64")
    for model in (Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03, dividend=0.01),
                  Garch(spot=100.0, omega=4e-6, alpha=0.05, beta=0.9, gamma=0.06, rate=0.03, dividend=0.01)):
        for item in (product, AsianOption(strike=100.0, expiry=1.0, fixings=12)):
            both = price(item, model, mc, greeks=("delta", "vega", "rho", "dividend", "alpha" if isinstance(model, Garch) else "kappa"))
            alone = price(item, model, mc, greeks=("rho",))
            np.testing.assert_allclose(both.greeks["rho"], alone.greeks["rho"], rtol=1e-10)
            np.testing.assert_allclose(both.greeks_stderr["rho"], alone.greeks_stderr["rho"], rtol=1e-8)


def test_greeks_do_not_depend_on_the_chunk_of_paths():
    """The Greeks run in smaller chunks than the price (each path carries its tangents); the numbers
    must not move with the chunk: the same as with the price's chunk and with one of a single block."""
    model = Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03, dividend=0.01)
    product = BarrierOption(strike=100.0, barrier=80.0, expiry=1.0, up=False, rebate=1.0)
    names = ("delta", "vega", "kappa", "correlation")
    results = [price(product, model, MonteCarlo(paths=12_288, steps_per_year=52, seed=3, chunk_paths=chunk), greeks=names)
               for chunk in (None, 12_288, 1024)]
    for other in results[1:]:
        np.testing.assert_allclose(other.price, results[0].price, rtol=1e-6)
        for name in names:
            np.testing.assert_allclose(other.greeks[name], results[0].greeks[name], rtol=1e-5)
            np.testing.assert_allclose(other.greeks_stderr[name], results[0].greeks_stderr[name], rtol=1e-4)
