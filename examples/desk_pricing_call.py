"""A desk pricing call: one barrier and one Asian under Heston, with Greeks and standard errors,
cross-checked against QuantLib's engines (finite differences for the barrier, Monte Carlo for the Asian).

    python examples/desk_pricing_call.py [--paths 200000] [--quantlib-paths 20000]
"""
import argparse

import numpy as np
import QuantLib as ql

from pricer import AsianOption, BarrierOption, Heston, MonteCarlo, price


def quantlib_barrier(spot, v0, kappa, theta, xi, rho, rate, dividend):
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    curve = lambda r: ql.YieldTermStructureHandle(ql.FlatForward(today, r, ql.Actual365Fixed()))  # noqa: E731
    process = ql.HestonProcess(curve(rate), curve(dividend), ql.QuoteHandle(ql.SimpleQuote(spot)), v0, kappa, theta, xi, rho)
    option = ql.BarrierOption(ql.Barrier.UpOut, 130.0, 2.0, ql.PlainVanillaPayoff(ql.Option.Call, 100.0),
                              ql.EuropeanExercise(today + 365))
    option.setPricingEngine(ql.FdHestonBarrierEngine(ql.HestonModel(process), 200, 200, 50))
    return option.NPV()


def quantlib_asian(strike, fixing_days, paths, spot, v0, kappa, theta, xi, rho, rate, dividend):
    """QuantLib's Heston Monte Carlo for a discrete arithmetic Asian call (geometric control variate):
    (price, standard error). Daily steps, as ours is on the same fixing days."""
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    curve = lambda r: ql.YieldTermStructureHandle(ql.FlatForward(today, r, ql.Actual365Fixed()))  # noqa: E731
    process = ql.HestonProcess(curve(rate), curve(dividend), ql.QuoteHandle(ql.SimpleQuote(spot)), v0, kappa, theta, xi, rho)
    option = ql.DiscreteAveragingAsianOption(ql.Average.Arithmetic, [today + int(d) for d in fixing_days],
                                             ql.PlainVanillaPayoff(ql.Option.Call, strike),
                                             ql.EuropeanExercise(today + int(fixing_days[-1])))
    option.setPricingEngine(ql.MCDiscreteArithmeticAPHestonEngine(process, "pseudorandom", requiredSamples=paths,
                                                                  seed=42, timeSteps=int(fixing_days[-1]),
                                                                  controlVariate=True))
    return option.NPV(), option.errorEstimate()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=int, default=200_000)
    parser.add_argument("--quantlib-paths", type=int, default=20_000, help="QuantLib's Asian Monte Carlo paths")
    args = parser.parse_args()

    params = dict(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03, dividend=0.01)
    model = Heston(**params)
    mc = MonteCarlo(paths=args.paths, seed=7)

    barrier = BarrierOption(strike=100.0, barrier=130.0, expiry=1.0, call=True, up=True, rebate=2.0)
    result = price(barrier, model, mc, greeks=("delta", "vega"))
    print(f"up-and-out call, rebate 2: {float(result.price):.4f} +- {float(result.stderr):.4f}   "
          f"delta {float(result.greeks['delta']):.4f} +- {float(result.greeks_stderr['delta']):.4f}   "
          f"vega {float(result.greeks['vega']):.3f} +- {float(result.greeks_stderr['vega']):.3f}")
    print(f"QuantLib FdHestonBarrierEngine:  {quantlib_barrier(**params):.4f}")

    # monthly fixings on whole days, as QuantLib's dates are
    fixing_days = np.rint(np.arange(1, 13) * 365 / 12).astype(int)
    strikes = [95.0, 100.0, 105.0]
    asian = AsianOption(strike=strikes, expiry=1.0, fixings=fixing_days / 365)
    result = price(asian, model, mc, greeks=("delta", "vega"))
    for i, strike in enumerate(strikes):
        reference, reference_error = quantlib_asian(strike, fixing_days, args.quantlib_paths, **params)
        print(f"monthly arithmetic Asian call K={strike:g}: {result.price[i]:.4f} +- {result.stderr[i]:.4f}   "
              f"delta {result.greeks['delta'][i]:.4f} +- {result.greeks_stderr['delta'][i]:.4f}   "
              f"vega {result.greeks['vega'][i]:.3f} +- {result.greeks_stderr['vega'][i]:.3f}   "
              f"QuantLib MC {reference:.4f} +- {reference_error:.4f}")


if __name__ == "__main__":
    main()
