"""Benchmark: the risk workloads of ``exotics risk`` against their plain baselines, in one run.

    python benchmarks/risk.py [--window 1000] [--arch-windows 100] [--scenarios 2000] [--paths 2048]

1. Rolling one-day-ahead VaR of the S&P 500 (arch's data, 1999-2018) with a GARCH(1,1) refitted every
   day on the trailing ``--window`` days: ours (``calibrator.rolling_var``: all windows in a few
   batched ``fit_garch`` calls, by MLE and by the network) against a loop over ``arch_model(...).fit``
   on the first ``--arch-windows`` windows, extrapolated per window to all of them (stated in the JSON),
   and the rolling historical simulation. First call (compile included) and the median of warm calls.
2. Revaluing the example book's SPX and ACME trades (Heston and Black-Scholes) under ``--scenarios``
   10-day joint GARCH scenarios (``pricer.book_stress.revalue_book``, grid of 9 x 6 states per group)
   against direct revaluation (one ``price`` call per trade and scenario at the scenario's state, on
   the first 8 scenarios, extrapolated; Asians accrued from each scenario's closes), with the largest
   difference between the two on those scenarios against the direct prices' standard errors (and, where
   a direct price has no Monte Carlo error, in basis points of the spot).

Writes benchmarks/results/risk_<platform>.json (float64 for the fits, as in the tests; float32 pricing).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pricer.benchmark import use_all_cpu_cores  # noqa: E402

use_all_cpu_cores()   # as the command line does: one XLA device per core, before JAX starts

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from pricer.benchmark import device_description, report_writer, timed  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _first_and_warm(fn, repeats: int):
    """(result, timing): pricer.benchmark.timed's first call and warm median, rounded for the JSON."""
    timing = timed(fn, repeats)
    return timing.pop("result"), {k: (round(v, 3) if isinstance(v, float) else [round(t, 3) for t in v])
                                  for k, v in timing.items()}


def rolling_var_case(window: int, arch_windows: int, repeats: int) -> dict:
    from arch import arch_model

    from calibrator.var_backtest import rolling_var
    from pricer.risk_report import index_returns
    returns = index_returns()["SP500"]
    report = {"series": "S&P 500 daily log returns, percent", "observations": len(returns), "window": window}
    for method in ("mle", "nn", "historical"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forecasts, timing = _first_and_warm(lambda: rolling_var(returns, window=window, method=method), repeats)
        report[method] = timing | {"forecast_days": len(forecasts)}
        print(f"rolling VaR, {method}: {len(forecasts):,} days, first {timing['first_call_s']:.1f} s, "
              f"warm {timing['median_s']:.2f} s", flush=True)
    days = report["mle"]["forecast_days"]
    values = returns.to_numpy()
    times, gaps = [], []
    ours = rolling_var(returns, window=window, method="mle", levels=(0.99,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(arch_windows):
            start = time.perf_counter()
            res = arch_model(values[k:k + window], mean="Zero", vol="GARCH", p=1, q=1).fit(disp="off")
            variance = res.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]
            times.append(time.perf_counter() - start)
            gaps.append(abs(np.sqrt(variance) - ours["sigma"].iloc[k]) / ours["sigma"].iloc[k])
    per_window = float(np.mean(times))
    report["arch_loop"] = {"windows_fitted": arch_windows, "per_window_ms": round(1e3 * per_window, 2),
                           "extrapolated_all_windows_s": round(per_window * days, 1),
                           "note": "arch_model(zero mean, GARCH(1,1), normal).fit + 1-day forecast per window, "
                                   "first windows only, extrapolated linearly",
                           "median_rel_sigma_diff_vs_ours": float(np.median(gaps)),
                           "note_diff": "arch starts its filter from its EWMA backcast, ours from the sample variance"}
    report["speedup_mle_vs_arch_warm"] = round(per_window * days / report["mle"]["median_s"], 1)
    report["speedup_mle_vs_arch_first_call"] = round(per_window * days / report["mle"]["first_call_s"], 1)
    print(f"arch loop {1e3 * per_window:.1f} ms/window -> {per_window * days:.0f} s for {days:,} days; "
          f"ours warm {report['mle']['median_s']:.2f} s ({report['speedup_mle_vs_arch_warm']}x)", flush=True)
    return report


def book_stress_case(scenarios: int, paths: int, repeats: int) -> dict:
    import dataclasses

    from calibrator import fit_garch
    from pricer import MonteCarlo, price
    from pricer.book import prepare_book
    from pricer.book_stress import _accrued, _past_fixings, _product_at_horizon, revalue_book
    from pricer.stress_grid import model_at as _model_at
    from pricer.example_book import example_book, example_market
    from pricer.risk_report import STRESS_UNDERLYINGS, RiskSettings, index_returns, scenario_sets
    returns = index_returns()
    fit = fit_garch(returns, vol="gjr", dist="t", mean="constant", percent=True)
    settings = dataclasses.replace(RiskSettings(), scenarios=scenarios)
    sets = scenario_sets(returns, fit, settings)
    scenario_set = sets["today"]
    trades = example_book()
    trades = trades[trades["underlying"].isin(STRESS_UNDERLYINGS.values())].reset_index(drop=True)
    market, mc = example_market(), MonteCarlo(paths=paths, seed=3)
    result, timing = _first_and_warm(lambda: revalue_book(trades, market, scenario_set, mc=mc,
                                                          underlyings=STRESS_UNDERLYINGS), repeats)
    print(f"book stress: {len(trades)} trades x {scenarios} scenarios, first {timing['first_call_s']:.1f} s, "
          f"warm {timing['median_s']:.1f} s", flush=True)
    # direct revaluation of the first scenarios, one price() per trade and scenario, same random numbers
    book = prepare_book(trades, market, mc)
    today = result.trades["price_today"].to_numpy()
    column = {u: scenario_set.column(s) for s, u in STRESS_UNDERLYINGS.items()}
    sample, calls, direct_s, first_calls_s = 8, 0, 0.0, 0.0
    direct_value = np.full((len(trades), sample), np.nan)
    direct_se = np.full((len(trades), sample), np.nan)
    for task in book.tasks:
        _, kind, schedule, expiry = task.key
        if kind == "barrier":     # knock logic needs the path; Europeans and Asians compare cleanly
            continue
        u = column[task.key[0]]
        # each group's first call compiles its program: made once, untimed (its time is reported apart), so
        # the extrapolation multiplies warm calls only (compiles in the sample had made the baseline 6x slower)
        for warm_up, k in [(True, 0)] + [(False, k) for k in range(sample)]:
            start = time.perf_counter()
            x = scenario_set.log_return[k, u]
            ratio = scenario_set.variance_ratio[k, u]
            state = _model_at(task.model, np.array([[x]]), np.array([np.log(ratio)]))   # the scenario's exact state
            product = _product_at_horizon(task, kind, schedule, expiry, scenario_set.horizon_years,
                                          np.full((task.rows.size, 1), x), 1)
            inside, _ = _past_fixings(schedule, expiry, scenario_set.horizon_years) if kind == "asian" else ((), ())
            if len(inside):   # fixings inside the horizon: accrued from this scenario's own closes
                days = np.clip(np.rint(np.asarray(inside) * 252).astype(int), 0, scenario_set.horizon_days)
                closes = np.concatenate([[0.0], scenario_set.log_spot_path[k, :, u]])[days]
                accrued = _accrued(task.columns, (np.log(float(task.model.spot)) + closes)[None, None, :])
                product = dataclasses.replace(product, past_average=accrued)
            direct = price(product, state, mc)
            direct_value[task.rows, k] = np.asarray(direct.price, np.float64).reshape(-1)
            direct_se[task.rows, k] = np.asarray(direct.stderr, np.float64).reshape(-1)
            if warm_up:
                first_calls_s += time.perf_counter() - start
            else:
                direct_s += time.perf_counter() - start
                calls += 1
    compared = np.isfinite(direct_value[:, 0])
    quantity = book.fields["quantity"]
    spot = np.array([float(market.set_index("underlying").loc[u, "spot"]) for u in trades["underlying"]])
    grid_value = result.trade_pnl[:, :sample] / quantity[:, None] + today[:, None]
    gap = np.abs(grid_value - direct_value)[compared]
    gap_bp = 1e4 * gap / spot[compared, None]
    noisy = direct_se[compared] > 0
    book_gap = np.abs(np.sum((quantity[:, None] * (grid_value - direct_value))[compared], axis=0))
    checked = int(compared.sum()) * sample
    per_trade_scenario = direct_s / max(checked, 1)
    return {"trades": len(trades), "scenarios": scenarios, "horizon_days": scenario_set.horizon_days, "paths": paths,
            "grid": "9 spot x 6 variance states per group", "revalue_book": timing,
            "direct": {"trade_scenarios_priced": checked, "price_calls": calls, "seconds": round(direct_s, 2),
                       "first_calls_s": round(first_calls_s, 2),
                       "per_trade_scenario_ms": round(1e3 * per_trade_scenario, 2),
                       "extrapolated_all_s": round(per_trade_scenario * len(trades) * scenarios, 1),
                       "note": "non-barrier trades on the first 8 scenarios, one batched price() per group "
                               "and scenario, warm (each group's first, compiling call made untimed before: "
                               "first_calls_s), extrapolated per trade-scenario at the non-barrier cost"},
            "speedup_vs_direct_warm": round(per_trade_scenario * len(trades) * scenarios / timing["median_s"], 1),
            "grid_minus_direct": {
                "per_trade_bp_of_spot_max": round(float(gap_bp.max()), 2),
                "per_trade_bp_of_spot_p95": round(float(np.quantile(gap_bp, 0.95)), 3),
                "per_trade_in_stderr_median": round(float(np.median(gap[noisy] / direct_se[compared][noisy])), 3),
                "book_pnl_max": round(float(book_gap.max()), 1),
                "book_pnl_std_over_scenarios": round(float(np.std(result.pnl)), 1),
                "note": "reading error plus the Monte Carlo noise that differs between a grid state and the exact "
                        "state (Heston QE switches branch per path as v0 moves); barriers not compared"}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--arch-windows", type=int, default=100)
    parser.add_argument("--scenarios", type=int, default=2000)
    parser.add_argument("--paths", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=None)
    parser.add_argument("--cases", default="rolling_var,book_stress",
                        help="comma-separated cases to run; the others are kept from the JSON there, with their time")
    args = parser.parse_args(argv)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report = {"benchmark": "risk", "timestamp": now, "device": device_description(), "method": __doc__}
    save = report_writer("risk", RESULTS, args.out)
    path = Path(args.out) if args.out else RESULTS / f"risk_{report['device']['platform']}.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    cases = {"rolling_var": lambda: rolling_var_case(args.window, args.arch_windows, args.repeats),
             "book_stress": lambda: book_stress_case(args.scenarios, args.paths, args.repeats)}
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(wanted) - set(cases))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {sorted(cases)}")
    for name, run in cases.items():
        if name in wanted:
            report[name] = {**run(), "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        elif name in earlier:   # not rerun: kept, with when it was measured
            report[name] = {**earlier[name], "measured": earlier[name].get("measured", earlier.get("timestamp"))}
        save(report)
    report["device"]["load_average_at_end"] = os.getloadavg()[0]
    print(f"wrote {save(report)}")


if __name__ == "__main__":
    main()
