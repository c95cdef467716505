"""Benchmark: Heston calibration (calibrator.calibrate_heston) vs QuantLib, a vmapped batch, and the GARCH round trip.

    python benchmarks/heston_calibration.py [--surfaces 1000] [--repeats 7] [--batch-repeats 2] [--paths 16]

1. DAX 2002-07-05 (tests/data; spot 4468.17; QuantLib's maturities: (days + 3) // 7 weeks on TARGET, Act/365),
   from v0 = 0.1, kappa = 1, theta = 0.1, xi = 0.5, rho = -0.5:
   * QuantLib: its own test-suite set-up (HestonModelHelper with ImpliedVolError, AnalyticHestonEngine(model, 64),
     LevenbergMarquardt(1e-8, 1e-8, 1e-8), EndCriteria(400, 40, 1e-8, 1e-8, 1e-8)); the timed part is
     ``model.calibrate`` only (a fresh model and helpers each repeat, built outside the timer);
   * ours: the whole ``calibrate_heston`` call (input checks, quadrature set-up, LM, quadrature check, result
     frame), float64. First call (compile + run) reported apart; the warm time is the median of ``--repeats``
     calls. Both sse's: implied vol of the model price vs the market vol, in vol points^2.
2. ``--surfaces`` synthetic surfaces (random parameters; a 5 x 7 grid of expiries 0.1..2y and strikes 75%..130%
   less the options worth < 1e-6 spot, market vols from the calibrator's own pricing path) calibrated in ONE
   ``calibrate_heston`` call from the generic start. Inside it the surfaces run vmapped, grouped by the quadrature
   size each needs (one vmapped LM per group; the few surfaces failing the 2N-node check re-run). First call
   (compiles) apart, then the median of ``--batch-repeats`` calls. CPU only: no GPU in this session.
3. Round trip: Heston paths at daily steps -> GJR-GARCH MLE (fit_garch) -> garch_to_heston, medians over
   ``--paths`` paths of 5000 days per parameter set.

Writes benchmarks/results/heston_calibration_<platform>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import QuantLib as ql  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from calibrator import (HestonParams, calibrate_heston, fit_garch, garch_to_heston,  # noqa: E402
                        heston_daily_returns, heston_implied_vols)
from calibrator.market_data import DAX_SPOT, dax_2002_07_05  # noqa: E402
from pricer.benchmark import device_description  # noqa: E402

START = dict(v0=0.1, kappa=1.0, theta=0.1, xi=0.5, rho=-0.5)
FIELDS = ("v0", "kappa", "theta", "xi", "rho")


# ---------------------------------------------------------------------------------------------- DAX
def dax_inputs():
    return dax_2002_07_05()


def quantlib_dax(vols, zeros, order=64):
    """(seconds in model.calibrate, params, sse of QuantLib's own pricing, iterations n/a)."""
    today = ql.Date(5, 7, 2002)
    ql.Settings.instance().evaluationDate = today
    dc, calendar = ql.Actual365Fixed(), ql.TARGET()
    curve = ql.YieldTermStructureHandle(ql.ZeroCurve([today + int(d) for d in zeros.days], list(zeros.zero_rate), dc))
    dividend = ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc))
    process = ql.HestonProcess(curve, dividend, ql.QuoteHandle(ql.SimpleQuote(DAX_SPOT)), 0.1, 1.0, 0.1, 0.5, -0.5)
    model = ql.HestonModel(process)
    engine = ql.AnalyticHestonEngine(model, order) if order else ql.AnalyticHestonEngine(model)
    helpers = []
    for strike, days, vol in zip(vols.strike, vols.days, vols.implied_vol):
        helper = ql.HestonModelHelper(ql.Period(int((days + 3) // 7), ql.Weeks), calendar, DAX_SPOT, float(strike),
                                      ql.QuoteHandle(ql.SimpleQuote(float(vol))), curve, dividend,
                                      ql.BlackCalibrationHelper.ImpliedVolError)
        helper.setPricingEngine(engine)
        helpers.append(helper)
    t0 = time.perf_counter()
    model.calibrate(helpers, ql.LevenbergMarquardt(1e-8, 1e-8, 1e-8), ql.EndCriteria(400, 40, 1e-8, 1e-8, 1e-8))
    seconds = time.perf_counter() - t0
    theta, kappa, xi, rho, v0 = model.params()
    sse = sum((100.0 * h.calibrationError()) ** 2 for h in helpers)
    return seconds, dict(v0=v0, kappa=kappa, theta=theta, xi=xi, rho=rho), sse


def bench_dax(repeats):
    vols, zeros, surface, rate = dax_inputs()
    t0 = time.perf_counter()
    first = calibrate_heston(surface, DAX_SPOT, rate, initial=START)
    first_s = time.perf_counter() - t0
    ours = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cal = calibrate_heston(surface, DAX_SPOT, rate, initial=START)
        ours.append(time.perf_counter() - t0)
    ql_runs = [quantlib_dax(vols, zeros) for _ in range(repeats)]
    ql_seconds = [r[0] for r in ql_runs]
    _, ql_params, ql_sse_own = ql_runs[0]
    at_ql = heston_implied_vols(ql_params, surface, DAX_SPOT, rate)
    ql_sse = float(np.sum((100.0 * (at_ql.model_vol - surface.implied_vol)) ** 2))
    ql_default = [quantlib_dax(vols, zeros, order=0)[0] for _ in range(max(1, repeats // 2))]
    warm, ql_med = float(np.median(ours)), float(np.median(ql_seconds))
    return {
        "options": len(surface), "expiries": int(surface.expiry.nunique()),
        "ours": {"params": {n: getattr(cal.params, n) for n in FIELDS}, "sse_vol_points2": cal.sse,
                 "iterations": cal.iterations, "converged": cal.converged, "nodes_per_expiry": cal.nodes,
                 "quadrature_passes": cal.passes, "first_call_seconds": first_s,
                 "compile_seconds_approx": first_s - warm, "warm_seconds_median": warm,
                 "warm_seconds_all": ours},
        "quantlib": {"params": ql_params, "sse_vol_points2_own_pricing": ql_sse_own,
                     "sse_vol_points2_priced_like_ours": ql_sse, "calibrate_seconds_median": ql_med,
                     "calibrate_seconds_all": ql_seconds,
                     "calibrate_seconds_median_default_engine": float(np.median(ql_default)),
                     "setup": "HestonModelHelper(ImpliedVolError), AnalyticHestonEngine(model, 64), "
                              "LevenbergMarquardt(1e-8, 1e-8, 1e-8), EndCriteria(400, 40, 1e-8, 1e-8, 1e-8)"},
        "speedup_vs_quantlib": ql_med / warm,
        "first_call_params_equal_warm": bool(first.sse == cal.sse),
    }


# ---------------------------------------------------------------------------------------------- batch
def synthetic_batch(n, seed=0):
    rng = np.random.default_rng(seed)
    true = dict(v0=rng.uniform(0.01, 0.15, n), kappa=rng.uniform(0.5, 5.0, n), theta=rng.uniform(0.01, 0.15, n),
                xi=rng.uniform(0.2, 1.0, n), rho=rng.uniform(-0.9, 0.3, n))
    t, m = (a.ravel() for a in np.meshgrid([0.1, 0.25, 0.5, 1.0, 2.0], [0.75, 0.85, 0.95, 1.0, 1.05, 1.15, 1.3],
                                           indexing="ij"))
    grid = pd.DataFrame(dict(strike=100.0 * m, expiry=t))
    surface = pd.concat([grid.assign(surface_id=j) for j in range(n)], ignore_index=True)
    priced = heston_implied_vols(true, surface, 100.0, 0.02, 0.01)
    surface["implied_vol"] = priced.model_vol
    surface = surface[priced.model_price > 1e-4].reset_index(drop=True)  # no quotes below 1e-6 spot
    return true, surface


def bench_batch(n, repeats):
    true, surface = synthetic_batch(n)
    t0 = time.perf_counter()
    cal = calibrate_heston(surface, 100.0, 0.02, 0.01)
    first_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cal = calibrate_heston(surface, 100.0, 0.02, 0.01)
        times.append(time.perf_counter() - t0)
    errors = {n_: float(np.max(np.abs(getattr(cal.params, n_) - true[n_]) / (1.0 if n_ == "rho" else true[n_])))
              for n_ in FIELDS}
    warm = float(np.median(times))
    return {"surfaces": n, "options": len(surface), "first_call_seconds": first_s,
            "compile_seconds_approx": first_s - warm, "warm_seconds_median": warm, "warm_seconds_all": times,
            "milliseconds_per_surface": 1e3 * warm / n, "converged_share": float(np.mean(cal.converged)),
            "iterations_median": float(np.median(cal.iterations)), "iterations_max": int(np.max(cal.iterations)),
            "nodes_per_expiry_counts": {int(k): int(v) for k, v in zip(*np.unique(cal.nodes, return_counts=True))},
            "quadrature_passes": cal.passes,
            "max_relative_param_error (rho absolute)": errors, "median_sse_vol_points2": float(np.median(cal.sse))}


# ---------------------------------------------------------------------------------------------- round trip
ROUND_TRIP = [
    dict(v0=0.04, kappa=5.0, theta=0.04, xi=0.3, rho=-0.7),
    dict(v0=0.04, kappa=8.0, theta=0.04, xi=0.5, rho=-0.5),
    dict(v0=0.04, kappa=2.0, theta=0.04, xi=0.2, rho=-0.5),
    dict(v0=0.04, kappa=3.0, theta=0.03, xi=0.25, rho=-0.3),
    dict(v0=0.09, kappa=4.0, theta=0.06, xi=0.5, rho=-0.5),
    dict(v0=0.04, kappa=10.0, theta=0.04, xi=0.8, rho=-0.7),
    dict(v0=0.04, kappa=1.5, theta=0.04, xi=0.3, rho=0.0),
]


def bench_round_trip(paths, days=5000):
    true = HestonParams(**{n: np.array([s[n] for s in ROUND_TRIP]) for n in FIELDS})
    returns, _ = heston_daily_returns(jax.random.key(1), true, days, paths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_garch(returns * 100, vol="gjr", mean="constant", percent=True)
        mapped = garch_to_heston(fit)
    rows = []
    for i, s in enumerate(ROUND_TRIP):
        sl = slice(i * paths, (i + 1) * paths)
        row = {"true": s, "feller_ratio": 2 * s["kappa"] * s["theta"] / s["xi"] ** 2}
        for n in ("theta", "kappa", "xi", "rho"):
            v = np.asarray(getattr(mapped, n))[sl]
            row[n] = {"median": float(np.nanmedian(v)), "q25": float(np.nanpercentile(v, 25)),
                      "q75": float(np.nanpercentile(v, 75)), "nan_share": float(np.mean(np.isnan(v)))}
        rows.append(row)
    return {"paths_per_set": paths, "days": days, "garch": "GJR(1,1,1), normal, constant mean, MLE", "rows": rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--surfaces", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-repeats", type=int, default=2)
    parser.add_argument("--paths", type=int, default=16)
    parser.add_argument("--skip-round-trip", action="store_true",
                        help="leave out the GARCH round-trip table (host work; for short GPU leases)")
    args = parser.parse_args()
    load0 = os.getloadavg()
    dev = jax.devices()[0]
    path = ROOT / "benchmarks" / "results" / f"heston_calibration_{dev.platform}.json"

    def save():   # after every part: a run cut short (a GPU lease ending) keeps what it measured
        path.write_text(json.dumps(out, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)) + "\n")

    out = {"benchmark": "heston_calibration", "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "device": {"platform": dev.platform, "device_kind": dev.device_kind, "jax_devices": len(jax.devices()),
                      "cpu": device_description()["cpu"],
                      "note": "CPU only: no GPU in that session" if dev.platform == "cpu" else dev.device_kind},
           "host": {"cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
                    "python": platform.python_version(), "load_average_at_start": load0},
           "versions": {"jax": jax.__version__, "QuantLib": ql.__version__, "numpy": np.__version__},
           "method": __doc__}
    print("DAX ...", flush=True)
    out["dax"] = dax = bench_dax(args.repeats)
    print(f"  ours {dax['ours']['warm_seconds_median'] * 1e3:.1f} ms warm (first call "
          f"{dax['ours']['first_call_seconds']:.1f} s), sse {dax['ours']['sse_vol_points2']:.6f}, "
          f"{dax['ours']['iterations']} iterations; QuantLib "
          f"{dax['quantlib']['calibrate_seconds_median'] * 1e3:.1f} ms, sse "
          f"{dax['quantlib']['sse_vol_points2_own_pricing']:.6f} (own pricing) / "
          f"{dax['quantlib']['sse_vol_points2_priced_like_ours']:.6f} (priced like ours); speed-up "
          f"{dax['speedup_vs_quantlib']:.1f}x", flush=True)
    save()
    print(f"{args.surfaces} synthetic surfaces ...", flush=True)
    out["batch"] = batch = bench_batch(args.surfaces, args.batch_repeats)
    print(f"  {batch['warm_seconds_median']:.2f} s warm ({batch['milliseconds_per_surface']:.1f} ms/surface), "
          f"compile ~{batch['compile_seconds_approx']:.1f} s, converged {batch['converged_share']:.1%}, "
          f"max errors {batch['max_relative_param_error (rho absolute)']}", flush=True)
    rt = {"rows": []}
    if not args.skip_round_trip:
        print("round trip ...", flush=True)
        out["round_trip"] = rt = bench_round_trip(args.paths)
    for row in rt["rows"]:
        print("  true " + " ".join(f"{k}={row['true'][k]}" for k in ("kappa", "theta", "xi", "rho"))
              + f" (Feller {row['feller_ratio']:.2f}) -> median "
              + " ".join(f"{k}={row[k]['median']:.4g}" for k in ("kappa", "theta", "xi", "rho")), flush=True)
    out["host"]["load_average_at_end"] = os.getloadavg()
    save()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
