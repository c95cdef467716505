"""GPU throughput: our fused Pallas kernel and our scan backend against a hand-written CUDA kernel, in one run.

Workload (issue #8): Heston QE-M, 1 year, 252 steps, float32; an arithmetic Asian call (252 fixings) and
a continuously monitored up-and-out call (strike 100, barrier 130, Brownian-bridge survival), each
priced on its own; plain Monte Carlo (no antithetics, no control variate) so that all three do the same
work per path. The CUDA reference (benchmarks/cuda_reference/heston_mc.cu, built with CuPy's RawModule)
runs one thread per path with the same Threefry normals, so its prices must agree with ours within
standard errors (in fact to float32 rounding). Also a sweep over path counts and a Black–Scholes (GBM) case.

Each figure: first call (compile + run) apart, then the median of warm calls, results blocked on.
Path-steps/s = paths x steps / median seconds.

    python benchmarks/gpu_throughput.py [--paths 16777216] [--sweep 1M,4M,16M,64M] [--repeats 3]

Writes benchmarks/results/gpu_throughput_<platform>.json (after every case: a run cut short keeps what it
measured). On a machine without a GPU it refuses to run (interpret mode would measure nothing useful).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pricer.benchmark import device_description, report_writer, timed  # noqa: E402

SEED = 2024
HESTON = dict(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03, dividend=0.01)
GBM = dict(spot=100.0, vol=0.25, rate=0.03, dividend=0.01)
STRIKE, BARRIER, EXPIRY, STEPS = 100.0, 130.0, 1.0, 252


def products():
    from pricer import AsianOption, BarrierOption
    return {"arithmetic Asian, 252 fixings": AsianOption(strike=STRIKE, expiry=EXPIRY, fixings=STEPS),
            "up-and-out call, continuous": BarrierOption(strike=STRIKE, barrier=BARRIER, expiry=EXPIRY, up=True)}


def models():
    from pricer import BlackScholes, Heston
    return {"Heston QE-M": Heston(**HESTON), "Black-Scholes (GBM)": BlackScholes(**GBM)}


def ours(product, model, paths, backend, repeats):
    from pricer import MonteCarlo, price
    mc = MonteCarlo(paths=paths, steps_per_year=STEPS, seed=SEED, antithetic=False, control_variate=False,
                    backend=backend)
    run = timed(lambda: price(product, model, mc), repeats)   # timed blocks on it
    result = run.pop("result")
    return {"paths": result.paths, "steps": result.steps, "price": float(result.price),
            "stderr": float(result.stderr), "median_s": run["median_s"], "compile_s": run["compile_s"],
            "first_call_s": run["first_call_s"], "runs_s": run["runs_s"],
            "path_steps_per_s": result.paths * result.steps / run["median_s"]}


class CudaReference:
    """The hand-written kernel through CuPy; built once (its compile time is reported by the first call)."""

    def __init__(self):
        import cupy
        self.cupy = cupy
        source = (Path(__file__).parent / "cuda_reference" / "heston_mc.cu").read_text()
        self.kernel = cupy.RawModule(code=source, options=("-std=c++17",)).get_function("mc_paths")

    def run(self, product, model, paths, repeats):
        from pricer import AsianOption, Heston, MonteCarlo
        from pricer.engine import prepare
        from pricer.random import seed_key
        cupy = self.cupy
        setup = prepare(product, model, MonteCarlo(paths=paths, steps_per_year=STEPS, seed=SEED))
        dt = cupy.asarray(np.asarray(setup.grid.dt[: setup.grid.steps], np.float32))
        key = seed_key(SEED)
        sums = cupy.zeros(2, cupy.float64)
        heston = isinstance(model, Heston)
        f32 = lambda name: np.float32(getattr(model, name, 0.0))  # noqa: E731
        args = (np.uint32(paths), np.int32(setup.grid.steps), dt, np.uint32(key[0]), np.uint32(key[1]),
                np.int32(heston), f32("spot"), f32("vol"), f32("v0"), f32("kappa"), f32("theta"), f32("xi"),
                f32("rho"), f32("rate"), f32("dividend"), np.int32(isinstance(product, AsianOption)),
                np.float32(STRIKE), np.float32(BARRIER), np.float32(EXPIRY), sums)
        threads = 256
        blocks = (paths + threads - 1) // threads

        def once():
            sums.fill(0.0)
            self.kernel((blocks,), (threads,), args)
            cupy.cuda.runtime.deviceSynchronize()
            return sums.get()

        run = timed(once, repeats)
        total, median = run["result"], run["median_s"]
        mean = total[0] / paths
        stderr = float(np.sqrt(max(total[1] / paths - mean * mean, 0.0) / (paths - 1)))
        return {"paths": paths, "steps": int(setup.grid.steps), "price": float(mean), "stderr": stderr,
                "median_s": median, "first_call_s": run["first_call_s"], "compile_s": run["compile_s"],
                "runs_s": run["runs_s"],
                "path_steps_per_s": paths * setup.grid.steps / median}


def compare(entry):
    """Ratios against the CUDA reference and price agreement in combined standard errors."""
    reference = entry.get("cuda reference")
    for name in ("kernel", "scan"):
        if name in entry and reference and "price" in reference:
            ours_ = entry[name]
            ours_["fraction_of_cuda"] = ours_["path_steps_per_s"] / reference["path_steps_per_s"]
            combined = float(np.hypot(ours_["stderr"], reference["stderr"]))
            ours_["agrees_with_cuda_3_stderr"] = bool(abs(ours_["price"] - reference["price"]) < 3 * combined)
    return entry


def measure(label, product, model, paths, repeats, cuda, log):
    entry = {"case": label, "paths_requested": paths}
    for backend in ("kernel", "scan"):
        try:
            entry[backend] = ours(product, model, paths, backend, repeats)
        except Exception as exc:   # a failed backend is reported, not fatal: the others still measure
            entry[backend] = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    if cuda is not None:
        try:
            entry["cuda reference"] = cuda.run(product, model, paths, repeats)
        except Exception as exc:
            entry["cuda reference"] = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    compare(entry)
    log(f"{label:60s} " + " | ".join(
        f"{k} {v['path_steps_per_s'] / 1e9:7.1f} G/s (compile {v['compile_s']:.1f} s, {v['price']:.4f} +- {v['stderr']:.4f})"
        if "path_steps_per_s" in v else f"{k} {v.get('error', '?')[:80]}"
        for k, v in entry.items() if isinstance(v, dict)))
    return entry


def parse_count(text):
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * scale)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=parse_count, default=16 << 20)
    parser.add_argument("--sweep", default="1M,4M,16M,64M", help="path counts for the Heston barrier sweep ('' for none)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-cuda", action="store_true", help="skip the CuPy reference")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="run without a GPU (kernel interpreted) to check the script end to end: measures nothing, "
                             "so give --out outside benchmarks/results")
    args = parser.parse_args()
    import jax
    if args.cpu_smoke and args.out is None:
        sys.exit("--cpu-smoke needs --out (its figures are not measurements and must not replace the GPU's)")
    if jax.default_backend() != "gpu" and not args.cpu_smoke:
        sys.exit("gpu_throughput.py measures GPUs; this machine has none (the kernel would run interpreted)")
    cuda = None
    if not args.no_cuda:
        try:
            cuda = CudaReference()
        except Exception as exc:
            print(f"CUDA reference unavailable ({type(exc).__name__}: {exc}); measuring ours only")
    save = report_writer("gpu_throughput", ROOT / "benchmarks" / "results", args.out)
    report = {"workload": "1 year, 252 steps, float32, plain Monte Carlo (no antithetics or control variate), "
                          "median of warm calls, compile apart", "device": device_description(),
              "cases": [], "sweep": []}
    heston, gbm = models()["Heston QE-M"], models()["Black-Scholes (GBM)"]
    for product_name, product in products().items():
        report["cases"].append(measure(f"Heston QE-M, {product_name}, {args.paths:,} paths", product, heston,
                                       args.paths, args.repeats, cuda, print))
        save(report)
    barrier = products()["up-and-out call, continuous"]
    report["cases"].append(measure(f"GBM, up-and-out call, {args.paths:,} paths", barrier, gbm, args.paths,
                                   args.repeats, cuda, print))
    save(report)
    for paths in [parse_count(p) for p in args.sweep.split(",") if p.strip()]:
        report["sweep"].append(measure(f"sweep: Heston up-and-out, {paths:,} paths", barrier, heston, paths,
                                       args.repeats, cuda, print))
        save(report)
    print(f"wrote {save(report)}")


if __name__ == "__main__":
    main()
