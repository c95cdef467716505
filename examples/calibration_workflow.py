"""The calibration workflow: returns -> GARCH (MLE and the network) -> Heston initial values -> Heston
calibrated to an implied-vol surface -> an exotic priced under the calibrated model.

Data: S&P 500 daily returns embedded in ``arch`` (percent log returns), and the DAX implied-vol
surface of 2002-07-05 (spot 4468.17) with its zero curve, shipped in calibrator/data. The DAX maturities are
rounded to whole weeks on the TARGET calendar, as QuantLib does, so the figures match QuantLib's.

    python examples/calibration_workflow.py [--paths 100000] [--window 2500]
"""
import argparse
import numpy as np

from calibrator import calibrate_heston, fit_garch, garch_to_heston
from calibrator.market_data import DAX_SPOT, dax_2002_07_05
from pricer import BarrierOption, Heston, MonteCarlo, price
from pricer.demo import load_sp500_returns



def dax_surface():
    """(surface DataFrame strike/expiry/implied_vol, zero curve DataFrame expiry/zero_rate); years, decimals."""
    _, _, surface, zero_curve = dax_2002_07_05()
    return surface, zero_curve


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=int, default=100_000, help="Monte Carlo paths for the barrier")
    parser.add_argument("--window", type=int, default=2500, help="last N daily returns used for GARCH")
    args = parser.parse_args()

    returns = load_sp500_returns().iloc[-args.window:]
    print(f"S&P 500: {len(returns)} daily returns to {returns.index[-1]:%Y-%m-%d}")
    fits = {"mle": fit_garch(returns, method="mle", vol="garch", percent=True),
            "nn": fit_garch(returns, method="nn", vol="garch", percent=True)}
    for name, fit in fits.items():
        print(f"  GARCH(1,1) by {name}: omega {float(fit.omega):.4f} alpha {float(fit.alpha):.4f} "
              f"beta {float(fit.beta):.4f} (persistence {float(fit.alpha + fit.beta):.4f})")

    start = garch_to_heston(fits["mle"], periods_per_year=252)
    print("Heston initial values from the MLE fit: "
          + " ".join(f"{k} {float(getattr(start, k)):.4f}" for k in ("v0", "kappa", "theta", "xi", "rho")))

    surface, zero_curve = dax_surface()
    for label, initial in [("generic start", None), ("GARCH-mapped start", start)]:
        cal = calibrate_heston(surface, DAX_SPOT, zero_curve, initial=initial)
        rmse = np.sqrt(float(cal.sse) / len(surface))
        print(f"DAX 2002-07-05 from the {label}: SSE {float(cal.sse):.2f} vol pts^2 (RMSE {rmse:.2f} vol pts), "
              f"{int(cal.iterations)} iterations, converged {bool(cal.converged)}")
    params = {k: float(getattr(cal.params, k)) for k in ("v0", "kappa", "theta", "xi", "rho")}
    print("  calibrated: " + " ".join(f"{k} {v:.4f}" for k, v in params.items()))

    one_year_rate = float(np.interp(1.0, zero_curve.expiry, zero_curve.zero_rate))
    model = Heston(spot=DAX_SPOT, rate=one_year_rate, **params)
    barrier = BarrierOption(strike=DAX_SPOT, barrier=0.8 * DAX_SPOT, expiry=1.0, call=True, up=False)
    result = price(barrier, model, MonteCarlo(paths=args.paths, seed=11), greeks=("delta", "vega"))
    print(f"1-year at-the-money down-and-out call, barrier 80%: {float(result.price):.2f} +- {float(result.stderr):.2f}"
          f"  delta {float(result.greeks['delta']):.4f}  vega {float(result.greeks['vega']):.1f}")


if __name__ == "__main__":
    main()
