"""A desk pricing call: one barrier and one Asian under Heston, with Greeks and standard errors,
cross-checked against QuantLib's engines.

    python examples/desk_pricing_call.py [--paths 200000]
"""
import argparse

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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=int, default=200_000)
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

    asian = AsianOption(strike=[95.0, 100.0, 105.0], expiry=1.0, fixings=12)
    result = price(asian, model, mc)
    for strike, value, error in zip([95, 100, 105], result.price, result.stderr):
        print(f"monthly arithmetic Asian call K={strike}: {value:.4f} +- {error:.4f}")


if __name__ == "__main__":
    main()
