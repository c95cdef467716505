"""Throughput of our engine against QuantLib's on the same work, measured in one run.

Workload: Heston (QE with martingale correction), arithmetic-average Asian call, 252 fixings over one
year (QuantLib's whole-day dates; our grid is exactly those dates, 252 steps as in QuantLib's time grid).
QuantLib's ``MCDiscreteArithmeticAPHestonEngine`` is single-threaded and in double precision; ours is
float32. Throughput = paths x steps / second; our time is the median of warm calls, compile time apart.
"""
from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np

SPOT, STRIKE, RATE, DIVIDEND = 100.0, 100.0, 0.03, 0.01
HESTON = dict(v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7)
STEPS = 252


def use_all_cpu_cores() -> None:
    """Make one XLA CPU device per core (XLA runs one program per device on one thread, so the engine's
    lanes then run on every core). For applications, before JAX first touches a device; the library
    itself never changes flags. A value already in XLA_FLAGS wins."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={os.cpu_count() or 1}".strip()


def device_description() -> dict:
    import jax
    device = jax.devices()[0]
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": device.platform, "device_kind": device.device_kind, "device_count": jax.device_count(),
            "cpu": cpu, "cpu_cores": os.cpu_count(), "jax": jax.__version__,
            "load_average_1min": os.getloadavg()[0]}   # other work on the machine skews the figures


def report_writer(name: str, folder, out=None):
    """``save(report) -> path``: writes the report as JSON to ``out``, or by default to
    ``folder/<name>_<platform>.json``. Call it as often as there is news: a run cut short keeps its figures."""
    import json
    from pathlib import Path

    def save(report: dict) -> Path:
        path = Path(out) if out else Path(folder) / f"{name}_{report['device']['platform']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        return path
    return save


def blocked(result):
    """``result`` once every JAX array in it is computed (dispatch is asynchronous: the clock must not stop
    before the work does). Objects that are not pytrees are searched through their attributes."""
    import jax
    leaves = jax.tree_util.tree_leaves(result)
    if len(leaves) == 1 and leaves[0] is result and hasattr(result, "__dict__"):
        leaves = jax.tree_util.tree_leaves(vars(result))
    jax.block_until_ready([leaf for leaf in leaves if isinstance(leaf, jax.Array)])
    return result


def timed(fn, repeats: int = 5) -> dict:
    """First call (compile + run) timed apart, then the median of ``repeats`` warm calls, each blocked on
    until its JAX arrays are computed."""
    start = time.perf_counter()
    result = blocked(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        blocked(fn())
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"result": result, "first_call_s": first, "median_s": median, "compile_s": max(first - median, 0.0),
            "runs_s": times}


def _quantlib_asian(paths: int):
    import QuantLib as ql
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    day_count = ql.Actual365Fixed()
    flat = lambda r: ql.YieldTermStructureHandle(ql.FlatForward(today, r, day_count))  # noqa: E731
    process = ql.HestonProcess(flat(RATE), flat(DIVIDEND), ql.QuoteHandle(ql.SimpleQuote(SPOT)), *HESTON.values())
    fixing_days = np.unique(np.rint(np.arange(1, STEPS + 1) * 365 / STEPS).astype(int))
    option = ql.DiscreteAveragingAsianOption(ql.Average.Arithmetic, [today + int(d) for d in fixing_days],
                                             ql.PlainVanillaPayoff(ql.Option.Call, STRIKE),
                                             ql.EuropeanExercise(today + 365))
    option.setPricingEngine(ql.MCDiscreteArithmeticAPHestonEngine(process, "pseudorandom", requiredSamples=paths,
                                                                  seed=42, timeSteps=STEPS, controlVariate=False))
    start = time.perf_counter()
    npv = option.NPV()
    return npv, option.errorEstimate(), time.perf_counter() - start, fixing_days / 365


def engine_vs_quantlib(paths: int = 1_000_000, quantlib_paths: int = 20_000, log=print, quantlib_runs: int = 3) -> dict:
    """Path-steps per second, ours against QuantLib's ``MCDiscreteArithmeticAPHestonEngine``, like for like:
    plain Monte Carlo on both sides (no antithetic pairs, no control variate: antithetic pairs draw half
    the random numbers, 1.25x the throughput). Each side's median (QuantLib over ``quantlib_runs`` fresh
    runs, single-threaded; ours over warm calls on every local device, ``devices`` in the report, so the
    per-core ratio is ``speedup / devices``). Our defaults (antithetic + control variate) are timed too."""
    import jax

    from .engine import MonteCarlo, price
    from .models import Heston
    from .products import AsianOption

    # before any work: QuantLib's engine loops forever on a negative sample count and raises without a name
    # on 0 or 1; ours is checked by MonteCarlo
    for name, value in (("quantlib_paths", quantlib_paths), ("quantlib_runs", quantlib_runs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (2 if name == "quantlib_paths" else 1):
            raise ValueError(f"{name} must be an integer >= {2 if name == 'quantlib_paths' else 1}, got {value!r}")
    MonteCarlo(paths=paths)
    quantlib_paths, quantlib_runs = int(quantlib_paths), int(quantlib_runs)   # QuantLib takes Python ints only
    runs = [_quantlib_asian(quantlib_paths) for _ in range(quantlib_runs)]
    ql_price, ql_error, _, fixing_times = runs[0]
    ql_seconds = statistics.median(r[2] for r in runs)
    ql_throughput = quantlib_paths * STEPS / ql_seconds
    log(f"QuantLib: {ql_price:.4f} +- {ql_error:.4f}, median {ql_seconds:.2f} s of {quantlib_runs}, "
        f"{ql_throughput / 1e6:.2f} M path-steps/s")

    model = Heston(spot=SPOT, rate=RATE, dividend=DIVIDEND, **HESTON)
    product = AsianOption(strike=STRIKE, expiry=1.0, fixings=fixing_times)
    plain = MonteCarlo(paths=paths, steps_per_year=1, seed=1, antithetic=False, control_variate=False)  # grid = fixings
    run = timed(lambda: price(product, model, plain))
    result = run["result"]
    ours = result.paths * result.steps / run["median_s"]
    devices = jax.local_device_count()
    log(f"ours:     {float(result.price):.4f} +- {float(result.stderr):.4f} ({result.paths:,} paths x {result.steps} "
        f"steps, plain), median {run['median_s']:.3f} s, compile {run['compile_s']:.2f} s, "
        f"{ours / 1e6:.1f} M path-steps/s on {devices} device(s)")
    defaults = timed(lambda: price(product, model, MonteCarlo(paths=paths, steps_per_year=1, seed=1)))
    with_defaults = defaults["result"].paths * defaults["result"].steps / defaults["median_s"]
    combined = float(np.hypot(result.stderr, ql_error))
    agree = abs(float(result.price) - ql_price) < 3 * combined
    log(f"speed-up {ours / ql_throughput:.1f}x ({ours / ql_throughput / devices:.1f}x per device); with our defaults "
        f"(antithetic + control variate) {with_defaults / 1e6:.1f} M path-steps/s; prices agree within 3 combined "
        f"standard errors: {agree}")
    return {
        "workload": "Heston QE-M, arithmetic Asian call, 252 fixings, 1 year; ours float32, QuantLib double; "
                    "both plain Monte Carlo (no antithetic, no control variate)",
        "device": device_description(),
        "quantlib": {"paths": quantlib_paths, "steps": STEPS, "seconds": ql_seconds, "runs_s": [r[2] for r in runs],
                     "threads": 1, "path_steps_per_s": ql_throughput, "price": ql_price, "stderr": ql_error},
        "ours": {"paths": result.paths, "steps": result.steps, "median_s": run["median_s"], "runs_s": run["runs_s"],
                 "compile_s": run["compile_s"], "first_call_s": run["first_call_s"], "path_steps_per_s": ours,
                 "devices": devices, "price": float(result.price), "stderr": float(result.stderr),
                 "with_defaults": {"median_s": defaults["median_s"], "path_steps_per_s": with_defaults,
                                   "price": float(defaults["result"].price),
                                   "stderr": float(defaults["result"].stderr)}},
        "speedup": ours / ql_throughput,
        "speedup_per_device": ours / ql_throughput / devices,
        "prices_agree_3_stderr": bool(agree),
    }
