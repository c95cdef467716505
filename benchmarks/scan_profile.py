"""Where the scan backend's time goes: the engine against minimal time loops, and its kernels per step.

The H200 run measured the scan at ~2.2e9 path-steps/s (engine_vs_quantlib, greeks_cost), against a goal of
1.2e11 on an H100 and linear in the path count (so throughput-bound, not launch-bound). This script puts
numbers on the candidate causes in one run, on any device:

* ``engine``: ``price()`` whole (input checks, grid, control mean, core), then the jitted core alone;
* ``minimal``: one jitted ``fori_loop`` over the same 252 steps with the same counter-based generator
  (``pricer.random``: Threefry-2x32 words -> Box–Muller) and a GBM step, state (n,) in the loop: the
  floor for this generator on this device;
* ``minimal_dynamic_steps``: the same loop with a traced step count (a while loop whose condition is on the
  device, as in the engine, whose grids are padded to a shared capacity);
* ``minimal_vmapped_lanes``: the same loop vmapped over 8 lanes of paths, as the engine runs them on a GPU;
* ``minimal_jax_random``: the same loop with ``jax.random.normal`` (XLA's own Threefry lowering);
* ``minimal_no_rng``: the same loop reading one fixed normal array: the memory/launch floor;
* the compiled core's loop bodies (the time loop and the loops around it): how many kernels (fusions,
  copies, custom calls ...) each runs per iteration.

The minimal loops run on one device (one core on a CPU); the engine on every local device (on a CPU,
one XLA device per core here): compare them per device there.

Each timing is the median of warm calls, results blocked on, compile apart (``pricer.benchmark.timed``).

    python benchmarks/scan_profile.py [--paths 1000000] [--repeats 5]

Writes benchmarks/results/scan_profile_<platform>.json.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pricer.benchmark import device_description, report_writer, timed, use_all_cpu_cores  # noqa: E402

STEPS = 252


def minimal_loops(paths: int):
    """{name: fn() -> price-like scalar} for the minimal GBM loops (module docstring) over STEPS daily steps."""
    import jax
    import jax.numpy as jnp
    from pricer.random import normals_from_words, random_words, seed_key

    dt, vol, rate = 1.0 / STEPS, 0.2, 0.03
    drift = (rate - 0.5 * vol * vol) * dt
    key = jnp.asarray(seed_key(1))
    half = paths // 2
    path_index = jnp.arange(half, dtype=jnp.uint32)

    def payoff(x):
        return jnp.exp(-rate) * jnp.mean(jnp.maximum(jnp.exp(x) - 100.0, 0.0))

    def gbm_step(index):
        """fori_loop body: one GBM step of the paths ``index`` (antithetic pairs: 2 paths an index)."""
        def body(k, x):
            z = normals_from_words(random_words(key, index, k.astype(jnp.uint32)), jnp.float32)
            return x + drift + vol * jnp.sqrt(dt) * z.reshape(-1)
        return body

    def start(count):
        return jnp.full((count,), jnp.log(100.0), jnp.float32)

    @jax.jit
    def ours():
        return payoff(jax.lax.fori_loop(0, STEPS, gbm_step(path_index), start(paths)))

    @jax.jit
    def dynamic_steps(steps):
        return payoff(jax.lax.fori_loop(0, steps, gbm_step(path_index), start(paths)))

    lanes = 8
    lane_index = path_index.reshape(lanes, -1)

    @jax.jit
    def vmapped_lanes():
        lane = lambda index: jax.lax.fori_loop(0, STEPS, gbm_step(index), start(2 * index.shape[0]))  # noqa: E731
        return payoff(jax.vmap(lane)(lane_index))

    @jax.jit
    def jax_random():
        base = jax.random.key(1)

        def body(k, x):
            z = jax.random.normal(jax.random.fold_in(base, k), (paths,), jnp.float32)
            return x + drift + vol * jnp.sqrt(dt) * z
        return payoff(jax.lax.fori_loop(0, STEPS, body, start(paths)))

    fixed = jax.random.normal(jax.random.key(2), (paths,), jnp.float32)

    @jax.jit
    def no_rng(z):
        def body(k, x):
            return x + drift + vol * jnp.sqrt(dt) * z * (1.0 + 1e-7 * k.astype(jnp.float32))
        return payoff(jax.lax.fori_loop(0, STEPS, body, start(paths)))

    steps = jnp.asarray(STEPS, jnp.int32)
    return {"minimal": ours, "minimal_dynamic_steps": lambda: dynamic_steps(steps), "minimal_vmapped_lanes": vmapped_lanes,
            "minimal_jax_random": jax_random, "minimal_no_rng": lambda: no_rng(fixed)}


def loop_kernels(hlo_text: str) -> list[dict]:
    """Per while-loop body of a compiled module: the count of each top-level instruction kind that runs
    a kernel (or a copy) on the device; bodies sorted by size, largest first."""
    computations = {}
    for block in re.split(r"\n(?=[%A-Z])", hlo_text):
        match = re.match(r"%?(\S+)\s", block)
        if match:
            computations[match.group(1)] = block
    bodies = set(re.findall(r"body=%?([\w.\-]+)", hlo_text))
    launched = ("fusion", "copy", "custom-call", "concatenate", "dynamic-slice", "dynamic-update-slice",
                "transpose", "reduce", "sort", "gather", "scatter", "convolution", "dot", "all-reduce")
    rows = []
    for name in bodies:
        block = computations.get(name, "")
        kinds = Counter(op for op in re.findall(r"=\s*[^=]*?\s([a-z\-]+)\(", block) if op in launched)
        rows.append({"body": name, "kernels": sum(kinds.values()), "by_kind": dict(kinds)})
    return sorted(rows, key=lambda r: -r["kernels"])


def engine_runs(paths: int, repeats: int, log):
    import jax
    from pricer import AsianOption, BlackScholes, EuropeanOption, Heston, MonteCarlo, price
    from pricer import engine

    cases = {
        "GBM European": (BlackScholes(spot=100.0, vol=0.2, rate=0.03), EuropeanOption(strike=100.0, expiry=1.0)),
        "Heston QE arithmetic Asian, 252 fixings": (
            Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.04, xi=0.5, rho=-0.7, rate=0.03),
            AsianOption(strike=100.0, expiry=1.0, fixings=STEPS)),
    }
    out = {}
    for name, (model, product) in cases.items():
        mc = MonteCarlo(paths=paths, steps_per_year=STEPS, seed=1)
        whole = timed(lambda: jax.block_until_ready(price(product, model, mc).price), repeats)
        setup = engine.prepare(product, model, mc)
        mean = engine._control_mean_jit(setup.model, setup.product, engine.control_arrays(setup.arrays), True)
        arrays = engine.simulation_arrays(setup.arrays)
        core = timed(lambda: jax.block_until_ready(
            engine._price_core(setup.model, setup.product, arrays, setup.key, mean, **setup.static)), repeats)
        hlo = engine._price_core.lower(setup.model, setup.product, arrays, setup.key, mean,
                                       **setup.static).compile().as_text()
        path_steps = mc.simulated_paths * setup.grid.steps
        out[name] = {"paths": mc.simulated_paths, "steps": setup.grid.steps,
                     "price_call": _summary(whole, path_steps), "core": _summary(core, path_steps),
                     "time_loops": loop_kernels(hlo)[:3], "static": {k: v for k, v in setup.static.items()}}
        log(f"{name:40s} price() {out[name]['price_call']['path_steps_per_s']:.3g} path-steps/s, core "
            f"{out[name]['core']['path_steps_per_s']:.3g}; kernels in the largest loop body: "
            f"{out[name]['time_loops'][0]['kernels'] if out[name]['time_loops'] else 'n/a'}")
    return out


def _summary(run: dict, path_steps: int) -> dict:
    return {"median_s": run["median_s"], "compile_s": run["compile_s"], "runs_s": run["runs_s"],
            "path_steps_per_s": path_steps / run["median_s"]}


def run(paths: int, repeats: int, log=print, save=lambda report: None) -> dict:
    import jax
    report = {"workload": f"{paths:,} paths x {STEPS} steps, float32; medians of {repeats} warm calls, compile apart",
              "device": device_description(), "minimal_loops": {}, "engine": {}}
    for name, fn in minimal_loops(paths).items():
        result = timed(lambda: jax.block_until_ready(fn()), repeats)
        report["minimal_loops"][name] = _summary(result, paths * STEPS)
        log(f"{name:40s} {report['minimal_loops'][name]['path_steps_per_s']:.3g} path-steps/s "
            f"(median {result['median_s'] * 1e3:.1f} ms, compile {result['compile_s']:.2f} s)")
        save(report)
    report["engine"] = engine_runs(paths, repeats, log)
    save(report)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    use_all_cpu_cores()
    save = report_writer("scan_profile", ROOT / "benchmarks" / "results", args.out)
    print(f"wrote {save(run(args.paths, args.repeats, save=save))}")


if __name__ == "__main__":
    main()
