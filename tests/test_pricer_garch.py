"""GARCH(1,1)/GJR under Duan's risk-neutral measure: reduction to Black–Scholes, martingale property,
and an independent numpy simulation of the variance recursion."""
import pytest
import numpy as np
import QuantLib as ql

from pricer import AsianOption, BarrierOption, EuropeanOption, Garch, MonteCarlo, price
from ql_reference import barrier_option, bs_process, european_option

MC = MonteCarlo(paths=200_000, seed=21, dtype="float64")


def test_garch_without_arch_effects_is_black_scholes():
    vol, rate, dividend = 0.2, 0.04, 0.01
    model = Garch(spot=100.0, omega=vol ** 2 / 252, alpha=0.0, beta=0.0, rate=rate, dividend=dividend)
    result = price(EuropeanOption(strike=np.array([90.0, 110.0]), expiry=1.0), model, MC)
    barrier = price(BarrierOption(strike=100.0, barrier=125.0, expiry=1.0), model, MC)
    process = bs_process(100.0, vol, rate, dividend)
    for i, strike in enumerate((90.0, 110.0)):
        option = european_option(strike, 365, True)
        option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
        assert abs(result.price[i] - option.NPV()) < 3 * result.stderr[i]
    option = barrier_option(100.0, 125.0, 365, True, True, False)
    option.setPricingEngine(ql.AnalyticBarrierEngine(process))
    assert abs(barrier.price - option.NPV()) < 3 * barrier.stderr


def test_discounted_spot_is_a_martingale_under_gjr():
    model = Garch(spot=100.0, omega=2e-6, alpha=0.05, beta=0.9, gamma=0.08, h0=4e-4, rate=0.05, dividend=0.02,
                  price_of_risk=0.1)
    tiny_strike = 1e-6
    result = price(EuropeanOption(strike=tiny_strike, expiry=2.0), model,
                   MonteCarlo(paths=200_000, seed=2, dtype="float64", control_variate=False))
    expected = 100.0 * np.exp(-0.02 * 2.0) - tiny_strike * np.exp(-0.05 * 2.0)
    assert abs(result.price - expected) < 3 * result.stderr


def independent_gjr_price(spot, omega, alpha, beta, gamma, h0, rate, days, strike, paths, seed):
    """Plain numpy GJR-GARCH simulation with its own random numbers: the reference for the engine."""
    rng = np.random.default_rng(seed)
    log_spot = np.full(paths, np.log(spot))
    variance = np.full(paths, h0)
    for _ in range(days):
        shock = rng.standard_normal(paths)
        log_spot += rate / 252 - 0.5 * variance + np.sqrt(variance) * shock
        variance = omega + (alpha + gamma * (shock < 0)) * variance * shock ** 2 + beta * variance
    payoff = np.exp(-rate * days / 252) * np.maximum(np.exp(log_spot) - strike, 0.0)
    return payoff.mean(), payoff.std(ddof=1) / np.sqrt(paths)


def test_gjr_european_matches_independent_simulation():
    params = dict(omega=4e-6, alpha=0.04, beta=0.88, gamma=0.12, h0=2.5e-4)
    model = Garch(spot=100.0, rate=0.03, **params)
    result = price(EuropeanOption(strike=105.0, expiry=0.5), model, MC)
    reference, reference_error = independent_gjr_price(100.0, rate=0.03, days=126, strike=105.0, paths=200_000,
                                                       seed=8, **params)
    assert abs(result.price - reference) < 3 * np.hypot(result.stderr, reference_error)
    # leverage matters: the symmetric model with the same persistence gives a visibly different price
    symmetric = Garch(spot=100.0, rate=0.03, omega=4e-6, alpha=0.1, beta=0.88, gamma=0.0, h0=2.5e-4)
    assert abs(price(EuropeanOption(strike=105.0, expiry=0.5), symmetric, MC).price - result.price) > 5 * result.stderr


def test_risk_neutral_variance_sum_uses_the_price_of_risk():
    """log_variance (the sampling check's variance) is the sum of E_Q[h_t]: with Duan's shift the shock is
    e - lam, which raises the persistence. Reference: the recursion E[h_{t+1}] = omega + p E[h_t] with p
    from a quadrature of the variance update over the normal density (independent of the closed form)."""
    grid = np.linspace(-12.0, 12.0, 400_001)
    density = np.exp(-0.5 * grid ** 2) / np.sqrt(2 * np.pi)
    for lam in (0.0, 0.1, 0.5):
        omega, alpha, beta, gamma, h0 = 4e-6, 0.05, 0.9, 0.06, 2e-4
        shock = grid - lam
        persistence = np.trapezoid((beta + (alpha + gamma * (shock < 0)) * shock ** 2) * density, grid)
        expected, total = h0, 0.0
        for _ in range(252):
            total += expected
            expected = omega + persistence * expected
        model = Garch(spot=100.0, omega=omega, alpha=alpha, beta=beta, gamma=gamma, h0=h0, price_of_risk=lam)
        assert float(model.log_variance(1.0)) == pytest.approx(total, rel=1e-6)


def test_an_explosive_risk_neutral_variance_is_refused_with_few_paths():
    # alpha + beta + gamma/2 = 0.98 < 1, but with lam = 0.5 the risk-neutral persistence is about 1.02:
    # over ten years the variance of log S_T is about 4e3, beyond what 4,096 paths can sample
    model = Garch(spot=100.0, omega=4e-6, alpha=0.05, beta=0.9, gamma=0.06, price_of_risk=0.5)
    with pytest.raises(ValueError, match="variance of the log price"):
        price(EuropeanOption(strike=100.0, expiry=10.0), model, MonteCarlo(paths=4096, seed=1))


def test_float32_prices_a_one_week_asian_like_float64():
    """The linear (arithmetic-average) control against its separately computed mean: in float32 the sum of
    S near 93 and the closed form rounded a few last-place units apart, which the antithetic control's
    large coefficient lifted into the price: 3 to 8 standard errors off float64. Now a deviation sum."""
    model = Garch(spot=92.8573, omega=1e-6, alpha=0.05, beta=0.9, rate=0.05)
    product = AsianOption(strike=92.9, expiry=5 / 252, fixings=5)
    for seed in (1, 2, 3):
        single, double = (price(product, model, MonteCarlo(paths=400_000, seed=seed, dtype=dtype))
                          for dtype in ("float32", "float64"))
        assert abs(float(single.price) - float(double.price)) < 0.5 * float(double.stderr), seed
