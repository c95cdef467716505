"""Benchmark: batched exact-MLE GARCH in JAX (calibrator.fit_garch) vs a Python loop over arch.

    python benchmarks/garch_mle.py [--series 1000] [--nobs 2500] [--arch-series 50] [--repeats 5]

For each model (GARCH(1,1)-normal and GJR(1,1,1)-t, constant mean, percent returns), simulates
``--series`` paths of ``--nobs`` returns with calibrator.simulate (fixed seed), then

* ours: one jitted, vmapped call for the whole batch, float64 (x64 enabled here, as the accuracy tests
  use it). Compile time is the first call less the warm median (the compile of the very programs the fit
  runs); the steady-state time is the median
  of ``--repeats`` calls after a warm-up, each call ending with the results on the host (fit_garch
  returns numpy arrays, which implies block_until_ready). Standard errors are included, as in arch.
* arch: ``arch_model(...).fit(disp="off")`` in a loop over the first ``--arch-series`` series only;
  the per-series time (the median over those fits) is extrapolated to the whole batch (stated in the JSON).

Also records how close the two are on the series both fitted. Writes benchmarks/results/garch_mle_cpu.json
(or garch_mle_<platform>.json on another backend).
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

import jax

jax.config.update("jax_enable_x64", True)

import arch  # noqa: E402
import numpy as np  # noqa: E402
from arch import arch_model  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from calibrator import fit_garch, simulate  # noqa: E402
from pricer.benchmark import device_description  # noqa: E402

MODELS = {
    "garch11_normal": dict(vol="garch", dist="normal", sim=dict(omega=0.02, alpha=0.07, beta=0.9)),
    "gjr111_t": dict(vol="gjr", dist="t", sim=dict(omega=0.02, alpha=0.03, gamma=0.09, beta=0.89, nu=7.0)),
}


def _scan_mode(mode: str) -> str:
    """Set the likelihood passes' scan (calibrator.garch_parallel) for the next traces; returns the one used."""
    from calibrator.garch_parallel import parallel_scans
    os.environ["EXOTICS_GARCH_SCAN"] = mode
    jax.clear_caches()
    return "parallel (prefix scans)" if parallel_scans() else "sequential (lax.scan)"


def _time_ours(r, kw, cfg, repeats):
    """(fit, compile_s, first_call_s, warm times): compile_s is the first call less the warm median, the
    compile of the very programs fit_garch runs (lowering fit_standardised apart compiled a sibling: fit_garch
    passes variance_scale, so its first call compiled again)."""
    t0 = time.perf_counter()
    fit = fit_garch(r, **kw)
    first_call_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit = fit_garch(r, **kw)
        times.append(time.perf_counter() - t0)
    return fit, max(first_call_s - float(np.median(times)), 0.0), first_call_s, times


def bench_model(name: str, cfg: dict, n_series: int, n_obs: int, n_arch: int, repeats: int,
                other_scans=()) -> dict:
    sim = simulate(jax.random.key(2024), n_obs, mu=0.03, n_paths=n_series, **cfg["sim"])
    r = np.asarray(sim.returns)
    kw = dict(vol=cfg["vol"], dist=cfg["dist"], mean="constant", percent=True)
    others = {}
    for mode in other_scans:   # the same batch with the other scan, same run (timed first, then the default)
        used = _scan_mode(mode)
        fit_other, c_s, f_s, t_s = _time_ours(r, kw, cfg, repeats)
        others[mode] = {"scan": used, "compile_s": round(c_s, 3), "first_call_s": round(f_s, 3),
                        "batch_median_s": round(float(np.median(t_s)), 4), "batch_times_s": [round(t, 4) for t in t_s],
                        "per_series_ms": round(1e3 * float(np.median(t_s)) / n_series, 4)}
        print(f"  {mode} scans: batch {others[mode]['batch_median_s']:.3f} s (compile {c_s:.1f} s)", flush=True)
    scan_used = _scan_mode("auto")
    fit, compile_s, first_call_s, times = _time_ours(r, kw, cfg, repeats)   # the first call warms up
    ours_s = float(np.median(times))

    arch_times, arch_ll, arch_params = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(n_arch):
            t0 = time.perf_counter()
            res = arch_model(r[:, j], mean="Constant", vol="GARCH", p=1, o=int(cfg["vol"] == "gjr"), q=1,
                             dist=cfg["dist"]).fit(disp="off")
            arch_times.append(time.perf_counter() - t0)
            arch_ll.append(res.loglikelihood)
            arch_params.append(res.params.to_numpy())
    arch_per_series = float(np.median(arch_times))   # a median, as ours (the mean counted arch's first call)
    ours_per_series = ours_s / n_series

    # agreement on the series both fitted (ours uses the sample-variance start, arch its EWMA backcast,
    # so compare the optimum parameters, and the log-likelihood with arch's backcast via a second fit)
    fit_ewma = fit_garch(r[:, :n_arch], backcast="ewma", **kw)
    arch_params = np.asarray(arch_params)
    rel_param = np.abs(fit_ewma.params.to_numpy() - arch_params) / np.maximum(np.abs(arch_params), 1e-3)
    rel_ll = np.abs(fit_ewma.loglik - np.asarray(arch_ll)) / np.abs(np.asarray(arch_ll))

    return {
        "model": f"{'GJR(1,1,1)' if cfg['vol'] == 'gjr' else 'GARCH(1,1)'}, {cfg['dist']}, constant mean",
        "simulated_params": cfg["sim"] | {"mu": 0.03},
        "n_series": n_series,
        "n_obs": n_obs,
        "ours": {
            "dtype": "float64 (float32 Newton stage, float64 finish)",
            "scan": scan_used,
            "compile_s": round(compile_s, 3),
            "first_call_s": round(first_call_s, 3),
            "batch_median_s": round(ours_s, 4),
            "batch_times_s": [round(t, 4) for t in times],
            "per_series_ms": round(1e3 * ours_per_series, 4),
            "converged_fraction": float(np.mean(fit.converged)),
            "iterations_median_max": [float(np.median(fit.iterations)), int(np.max(fit.iterations))],
        },
        "arch": {
            "series_fitted": n_arch,
            "per_series_ms": round(1e3 * arch_per_series, 3),
            "per_series_ms_min_max": [round(1e3 * min(arch_times), 3), round(1e3 * max(arch_times), 3)],
            "extrapolated_batch_s": round(arch_per_series * n_series, 3),
            "note": f"loop over the first {n_arch} series only; batch time extrapolated linearly per series",
        },
        "ours_other_scans": others,
        "speedup_per_series": round(arch_per_series / ours_per_series, 2),
        "speedup_including_compile": round(arch_per_series * n_series / (ours_s + compile_s), 2),
        "agreement_with_arch_same_backcast": {
            "max_rel_loglik_diff": float(rel_ll.max()),
            "median_rel_param_diff": float(np.median(rel_param)),
            "max_rel_param_diff": float(rel_param.max()),
            "ours_loglik_minus_arch_min": float(np.min(fit_ewma.loglik - np.asarray(arch_ll))),
        },
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--nobs", type=int, default=2500)
    parser.add_argument("--arch-series", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default=None)
    parser.add_argument("--other-scans", default="", help="also time the batch with these likelihood scans "
                        "(comma-separated: sequential, parallel), in the same run")
    args = parser.parse_args(argv)

    dev = jax.devices()[0]
    results = {
        "benchmark": "garch_mle",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": {"platform": dev.platform, "device_kind": dev.device_kind, "jax_devices": len(jax.devices()),
                   "cpu": device_description()["cpu"]},
        "host": {"cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
                 "load_average_at_start": list(os.getloadavg())},
        "versions": {"jax": jax.__version__, "arch": arch.__version__, "numpy": np.__version__},
        "method": __doc__,
        "models": {},
    }
    for name in args.models.split(","):
        print(f"{name}: {args.series} series x {args.nobs} obs ...", flush=True)
        results["models"][name] = res = bench_model(name, MODELS[name], args.series, args.nobs, args.arch_series,
                                                    args.repeats, [m for m in args.other_scans.split(",") if m])
        print(f"  ours {res['ours']['per_series_ms']:.3f} ms/series (batch {res['ours']['batch_median_s']:.3f} s, "
              f"compile {res['ours']['compile_s']:.1f} s); arch {res['arch']['per_series_ms']:.2f} ms/series; "
              f"speed-up {res['speedup_per_series']:.1f}x; max rel loglik diff "
              f"{res['agreement_with_arch_same_backcast']['max_rel_loglik_diff']:.1e}", flush=True)
    results["host"]["load_average_at_end"] = list(os.getloadavg())
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   f"garch_mle_{'cpu' if dev.platform == 'cpu' else dev.platform}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump(results, fh, indent=2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
