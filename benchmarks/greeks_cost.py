"""Cost of Greeks: price + all first-order Greeks against the price alone, on the same paths.

For each (model, product) the price is timed alone, then with the desk's first-order set (delta, vega,
rho), then with every first-order Greek the model has (each of its parameters by name too), then with
gamma added. Each is the median of warm calls (results blocked on), the first call's compile apart. The
ratio "all first order / price" is the figure the goal is stated in (<= 3x).

Why it can be cheap: the first-order Greeks are forward-mode derivatives vmapped over the tangent
directions, so the paths (the random numbers and the primal simulation) are computed once and only the
tangent arithmetic grows with the number of Greeks. Gamma (central differences of the pathwise delta)
and discrete barriers (central differences of the price) re-simulate, so they cost more.

    python benchmarks/greeks_cost.py [--paths 200000] [--repeats 5]

Writes benchmarks/results/greeks_cost_<platform>.json.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pricer.benchmark import device_description, report_writer, timed, use_all_cpu_cores  # noqa: E402


def catalogue(package=None):
    """(models, products): the benchmark's models and products by short name, built from ``package`` (the
    ``pricer`` module by default; ``benchmarks/ab.py`` passes an older revision's copy)."""
    if package is None:
        import pricer as package
    models = {"black_scholes": package.BlackScholes(spot=100.0, vol=0.25, rate=0.03, dividend=0.01),
              "heston": package.Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03,
                                       dividend=0.01),
              "garch": package.Garch(spot=100.0, omega=4e-6, alpha=0.05, beta=0.9, gamma=0.06, rate=0.03)}
    products = {"european": package.EuropeanOption(strike=100.0, expiry=1.0),
                # down-and-out calls, continuous: with a rebate of 1, and without
                "barrier": package.BarrierOption(strike=100.0, barrier=80.0, expiry=1.0, up=False, rebate=1.0),
                "plain_barrier": package.BarrierOption(strike=100.0, barrier=80.0, expiry=1.0, up=False),
                "asian": package.AsianOption(strike=100.0, expiry=1.0, fixings=52)}
    return models, products


def first_order_greeks(model, package=None) -> tuple:
    """Every first-order Greek ``model`` has: the desk's three, then each parameter by name."""
    if package is None:
        import pricer as package
    available = importlib.import_module(f"{package.__name__}.greeks").available_greeks(model)
    return tuple(["delta", "vega", "rho"] + sorted(available - {"delta", "vega", "rho", "gamma", "spot", "rate"}))


def cases():
    models, products = catalogue()
    black_scholes, heston, garch = models["black_scholes"], models["heston"], models["garch"]
    european, barrier, plain_barrier, asian = (products[k] for k in ("european", "barrier", "plain_barrier", "asian"))
    return [("Black-Scholes", "European", black_scholes, european),
            ("Black-Scholes", "down-and-out call, continuous, rebate 1", black_scholes, barrier),
            ("Black-Scholes", "arithmetic Asian, 52 fixings", black_scholes, asian),
            ("Heston", "down-and-out call, continuous, rebate 1", heston, barrier),
            ("Heston", "arithmetic Asian, 52 fixings", heston, asian),
            ("GJR-GARCH", "down-and-out call, continuous, rebate 1", garch, barrier),
            # without a rebate the price is cheaper (no discounting of hits per step) and the Greeks are not,
            # so the ratio is larger: the case a desk books most
            ("GJR-GARCH", "down-and-out call, continuous, no rebate", garch, plain_barrier),
            ("GJR-GARCH", "European", garch, european),
            ("GJR-GARCH", "arithmetic Asian, 52 fixings", garch, asian)]


def run(paths: int, repeats: int, log=print, save=lambda report: None) -> dict:
    from pricer import MonteCarlo, price
    mc = MonteCarlo(paths=paths, steps_per_year=252, seed=7)
    report = {"workload": f"{mc.simulated_paths:,} paths, 252 steps a year, 1-year expiry, float32, antithetic + "
                          "control variate; median of warm calls, compile apart",
              "device": device_description(), "repeats": repeats, "cases": []}
    for model_name, product_name, model, product in cases():
        all_first = first_order_greeks(model)
        sets = {"price": (), "delta, vega, rho": ("delta", "vega", "rho"),
                "all first order": all_first, "all first order + gamma": all_first + ("gamma",)}
        entry = {"model": model_name, "product": product_name, "all_first_order": list(all_first), "runs": {}}
        base = None
        for label, greeks in sets.items():
            run = timed(lambda: price(product, model, mc, greeks=greeks), repeats)   # timed blocks on it
            result = run.pop("result")
            base = base or run["median_s"]
            entry["runs"][label] = {"median_s": run["median_s"], "compile_s": run["compile_s"],
                                    "runs_s": run["runs_s"], "relative_to_price": run["median_s"] / base,
                                    "price": float(result.price), "stderr": float(result.stderr),
                                    "greeks": {k: float(v) for k, v in result.greeks.items()},
                                    "greeks_stderr": {k: float(v) for k, v in result.greeks_stderr.items()}}
        ratio = entry["runs"]["all first order"]["relative_to_price"]
        entry["all_first_order_over_price"] = ratio
        report["cases"].append(entry)
        save(report)   # after every case: a run cut short keeps what it measured
        log(f"{model_name:13s} {product_name:42s} price {entry['runs']['price']['median_s'] * 1e3:8.1f} ms | "
            + " | ".join(f"{k} {v['relative_to_price']:.2f}x" for k, v in entry["runs"].items() if k != "price"))
    ratios = [c["all_first_order_over_price"] for c in report["cases"]]
    report["worst_all_first_order_over_price"] = max(ratios)
    report["goal"] = "price + all first-order Greeks <= 3x the price alone"
    report["goal_met"] = bool(max(ratios) <= 3.0)
    log(f"worst ratio, all first-order Greeks / price: {max(ratios):.2f}x (goal <= 3x): "
        f"{'met' if report['goal_met'] else 'NOT met'}")
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    use_all_cpu_cores()
    save = report_writer("greeks_cost", ROOT / "benchmarks" / "results", args.out)
    print(f"wrote {save(run(args.paths, args.repeats, save=save))}")


if __name__ == "__main__":
    main()
