"""Book revaluation: a 10,000-trade book on 20 underlyings through ``pricer.price_book``.

The book is generated deterministically (``generate_book``): 12 Black–Scholes, 5 Heston and 3 GJR-GARCH
underlyings; 50% Europeans, 30% barriers (the eight kinds, 3 in 4 continuously monitored, the others
monthly), 20% Asians (arithmetic or geometric, monthly or weekly fixings, some seasoned); expiries on a
listed cycle (1, 2, 3, 6, 9, 12, 18, 24 months), strikes around the spot. Trades of one underlying,
product, schedule and expiry form a group priced in calls of ``ROWS_PER_CALL`` rows.

Timed: prices and standard errors, then with delta and vega; the first call of each (compile + run; the
greeks compile their own programs) apart from the warm runs (median). No persistent compilation cache.
``--rows-per-call`` measures the trade-off of another fixed call size (the constant is global: every
trade's numbers depend on it, so it is one number for all books).

    python benchmarks/book_revaluation.py [--paths 10000] [--trades 10000] [--repeats 1] [--rows-per-call 16 64]

Measured (results/book_revaluation_cpu.json; 2-core Xeon, 2 XLA CPU devices, float32, 10,000 paths requested =
12,288 simulated (12 blocks in 4 lanes); the same script at the previous commit ran on the same machine minutes
later as a baseline ("baseline_same_machine": 16,384 paths, the old rounding to 8 lanes):

| rows per call | greeks      | calls | first call | compile (first - warm) | warm (median of 2) | baseline: first, warm |
| ------------- | ----------- | ----- | ---------- | ---------------------- | ------------------ | --------------------- |
| 16            | none        | 1,073 | 36.5 s     | 17.8 s                 | 18.7 s             | 55.7 s, 23.8 s        |
| 16            | delta, vega | 1,073 | 66.0 s     | 30.6 s                 | 35.4 s             | 100.8 s, 49.0 s       |

The compile time fell with the Asian control variates' fixing schedules padded to shared lengths (15 fixing
counts here, 5 padded lengths): 30.6 s and 53.3 s before that change ("before_schedule_padding"). The warm
gain is the paths: per simulated path the whole book costs the same (1.48 vs 1.45 ms) for prices, and 6%
less with delta and vega (chunks sized for their tangents); standard errors are sqrt(16,384 / 12,288)
= 1.15x the baseline's, as for any run of the paths asked. Earlier figures (38.7 s, 117.5 s; 64 rows a
call: 45.2 s) were taken with the machine under load 2-4 and are not comparable.

The book has 794 groups with a median of 8 trades, so a call of 16 rows simulates 17,168 rows for 10,000
trades (64 rows: 50,816, slower on a compute-bound CPU despite fewer calls; 16 stays). H200 at 100k
paths (results/book_revaluation_gpu.json): 54.5 s warm for prices (compile 46.6 s apart), against a goal
of <= 2 s on an H100: not met; with delta and vega not measured (the short lease ran out). Every group
re-simulates its paths, and 794 groups mean at least 794 calls: at ~3 ms of host work per call (input
checks, grid, control mean, dispatch) that alone exceeds 2 s, so the GPU goal needs calls that price many
groups at once (vmapped over groups of one structure) as well as a faster scan on the GPU (scan_profile.py).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pricer.benchmark import device_description, report_writer, use_all_cpu_cores  # noqa: E402

TENORS = np.array([1, 2, 3, 6, 9, 12, 18, 24]) / 12          # years
TENOR_WEIGHTS = np.array([10, 8, 14, 16, 10, 18, 12, 12], dtype=float)
BARRIER_TYPES = ["up-and-out", "up-and-in", "down-and-out", "down-and-in"]


def generate_market(n_underlyings: int = 20, seed: int = 0):
    import pandas as pd
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_underlyings):
        name = f"U{k + 1:02d}"
        spot = float(np.round(rng.uniform(20, 500), 2))
        rate, dividend = float(np.round(rng.uniform(0.0, 0.05), 4)), float(np.round(rng.uniform(0.0, 0.03), 4))
        if k % 20 < 12:
            rows.append(dict(underlying=name, model="black_scholes", spot=spot, rate=rate, dividend=dividend,
                             vol=float(np.round(rng.uniform(0.12, 0.45), 3))))
        elif k % 20 < 17:
            rows.append(dict(underlying=name, model="heston", spot=spot, rate=rate, dividend=dividend,
                             v0=float(np.round(rng.uniform(0.02, 0.09), 4)), kappa=float(np.round(rng.uniform(0.8, 3.0), 3)),
                             theta=float(np.round(rng.uniform(0.02, 0.08), 4)), xi=float(np.round(rng.uniform(0.3, 0.8), 3)),
                             rho=float(np.round(rng.uniform(-0.8, -0.3), 3))))
        else:
            rows.append(dict(underlying=name, model="garch", spot=spot, rate=rate, dividend=dividend,
                             omega=2e-6, alpha=0.04, beta=0.9, gamma=0.08, h0=1.5e-4))
    return pd.DataFrame(rows)


def generate_book(market, n_trades: int = 10_000, seed: int = 1):
    import pandas as pd
    rng = np.random.default_rng(seed)
    spots = dict(zip(market["underlying"], market["spot"]))
    names = list(spots)
    rows = []
    for i in range(n_trades):
        underlying = names[rng.integers(len(names))]
        spot = spots[underlying]
        expiry = float(TENORS[rng.choice(len(TENORS), p=TENOR_WEIGHTS / TENOR_WEIGHTS.sum())])
        call = rng.random() < 0.55
        strike = float(np.round(spot * rng.uniform(0.8, 1.2), 2))
        row = dict(trade_id=f"B{i + 1:05d}", underlying=underlying, call_put="call" if call else "put", strike=strike,
                   expiry=expiry, quantity=float(rng.choice([-10, -5, -1, 1, 2, 5, 10, 25])))
        kind = rng.random()
        if kind < 0.5:
            row["product"] = "european"
        elif kind < 0.8:
            barrier_type = BARRIER_TYPES[rng.integers(4)]
            up = barrier_type.startswith("up")
            row.update(product="barrier", barrier_type=barrier_type,
                       barrier=float(np.round(spot * (rng.uniform(1.1, 1.4) if up else rng.uniform(0.6, 0.9)), 2)),
                       rebate=float(np.round(spot * 0.01, 2)) if rng.random() < 0.3 else 0.0,
                       monitoring="continuous" if rng.random() < 0.75 else str(max(1, round(12 * expiry))))
        else:
            per_year = 12 if rng.random() < 0.7 else 52
            seasoned = rng.random() < 0.25
            row.update(product="asian", fixings=max(1, round(per_year * expiry)),
                       average="geometric" if rng.random() < 0.3 else "arithmetic",
                       past_average=float(np.round(spot * rng.uniform(0.9, 1.1), 2)) if seasoned else 0.0,
                       past_count=int(rng.integers(1, 12)) if seasoned else 0)
        rows.append(row)
    columns = ["trade_id", "underlying", "product", "call_put", "strike", "expiry", "barrier", "barrier_type",
               "rebate", "monitoring", "fixings", "average", "past_average", "past_count", "quantity"]
    return pd.DataFrame(rows, columns=columns)


def run(paths: int, n_trades: int, repeats: int, rows_per_call: list[int], log=print, save=lambda report: None) -> dict:
    import pricer.book as book_module
    from pricer import MonteCarlo, price_book
    from pricer.engine import row_bucket
    market = generate_market()
    trades = generate_book(market, n_trades)
    mc = MonteCarlo(paths=paths)
    report = {"workload": f"{n_trades:,} trades on {len(market)} underlyings (12 Black-Scholes, 5 Heston, 3 GJR-GARCH); "
                          f"50% European, 30% barrier, 20% Asian; 8 listed expiries up to 2 years; float32",
              "device": device_description(), "paths_requested": paths, "paths_simulated": mc.simulated_paths,
              "steps_per_year": mc.steps_per_year, "book": {}, "runs": [],
              "gpu_goal": "H100 at 100k paths: <= 2 s prices and standard errors, <= 6 s with delta and vega"}
    start = time.perf_counter()
    prepared = book_module.prepare_book(trades, market, mc)
    prepare_s = time.perf_counter() - start
    start = time.perf_counter()
    prepared.trade_keys()
    keys_s = time.perf_counter() - start
    groups = {task.key for task in prepared.tasks}
    sizes = np.array([sum(t.rows.size for t in prepared.tasks if t.key == key) for key in groups])
    report["book"] = {"trades": len(trades), "groups": len(groups), "median_group": float(np.median(sizes)),
                      "products": trades["product"].value_counts().to_dict(),
                      "validate_and_group_s": prepare_s, "trade_keys_s (resumable runs only)": keys_s}
    log(f"{len(trades):,} trades, {len(groups)} groups (median {np.median(sizes):g} trades); validation and grouping "
        f"{prepare_s:.2f} s, trade keys {keys_s:.2f} s")
    for size in rows_per_call:   # greeks at the first call size only (the others: prices, for the trade-off)
        book_module.ROWS_PER_CALL = size
        calls = int(sum(np.ceil(s / size) for s in sizes))
        for greeks in [(), ("delta", "vega")] if size == rows_per_call[0] else [()]:
            label = f"rows_per_call={size}, greeks={','.join(greeks) or 'none'}"
            start = time.perf_counter()
            result = price_book(trades, market, mc, greeks=greeks)
            first = time.perf_counter() - start
            warm = []
            for _ in range(repeats):
                start = time.perf_counter()
                again = price_book(trades, market, mc, greeks=greeks)
                warm.append(time.perf_counter() - start)
            assert again["price"].equals(result["price"])
            median = statistics.median(warm)
            ok = int((result["status"] == "ok").sum())
            entry = {"rows_per_call": size, "greeks": list(greeks), "calls": calls, "rows_simulated": calls * row_bucket(size),
                     "first_call_s": first,
                     "warm_median_s": median, "warm_runs_s": warm, "compile_s": max(first - median, 0.0),
                     "trades_per_s": len(trades) / median, "priced": ok, "book_value": float(result["value"].sum()),
                     "median_relative_stderr": float((result["stderr"] / result["price"].abs()).median()),
                     "load_average_1min_after": os.getloadavg()[0]}   # other work on the machine skews the figures
            report["runs"].append(entry)
            save(report)   # after every run: a job cut short keeps what it measured
            log(f"{label}: {calls} calls, first {first:.1f} s, warm median {median:.1f} s "
                f"({len(trades) / median:,.0f} trades/s), {ok}/{len(trades)} priced")
    book_module.ROWS_PER_CALL = 16
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1, help="warm runs (the median is reported)")
    parser.add_argument("--rows-per-call", type=int, nargs="+", default=[16])
    parser.add_argument("--out", type=Path, default=None, help="default results/book_revaluation_<platform>.json")
    args = parser.parse_args()
    use_all_cpu_cores()
    save = report_writer("book_revaluation", ROOT / "benchmarks" / "results", args.out)
    print(f"wrote {save(run(args.paths, args.trades, args.repeats, args.rows_per_call, save=save))}")


if __name__ == "__main__":
    main()
