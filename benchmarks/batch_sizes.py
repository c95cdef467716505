"""What a desk tool pays for batches of varying size: price() pads a batch to ``engine.row_bucket`` rows
so that nearby sizes share one compiled program; against the same calls unpadded (``pad_rows=False``).

Each mode runs in its own fresh process (a program compiled for one mode would otherwise serve the
other). A pass prices one batch of each size in ``--sizes`` in turn (Black-Scholes up-and-out calls,
strikes spread over 90-110): the first pass compiles (``cold_pass_s``, and how many programs it compiled);
the warm passes reuse them (median of ``--repeats``, each call blocked on). Writes
benchmarks/results/batch_sizes_<platform>.json with the device.

    python benchmarks/batch_sizes.py [--paths 100000] [--sizes 1-16] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pricer.benchmark import device_description, report_writer  # noqa: E402


def one_mode(pad: bool, paths: int, sizes: list[int], repeats: int) -> dict:
    """Both passes in this process; returns the figures."""
    import numpy as np

    from pricer import BarrierOption, BlackScholes, MonteCarlo
    from pricer.benchmark import blocked
    from pricer.engine import _price_core, evaluate, row_bucket

    model = BlackScholes(spot=100.0, vol=0.2, rate=0.03)
    mc = MonteCarlo(paths=paths)

    def one_pass():
        start = time.perf_counter()
        for size in sizes:
            product = BarrierOption(strike=np.linspace(90.0, 110.0, size), barrier=130.0, expiry=1.0)
            blocked(evaluate(product, model, mc, pad_rows=pad))
        return time.perf_counter() - start

    cold = one_pass()
    compiled = _price_core._cache_size()
    warm = [one_pass() for _ in range(repeats)]
    simulated = sum(row_bucket(n) if pad else n for n in sizes)
    return {"padded": pad, "cold_pass_s": cold, "programs_compiled": compiled, "warm_pass_median_s": statistics.median(warm),
            "warm_passes_s": warm, "rows_asked": sum(sizes), "rows_simulated": simulated}


def parse_sizes(text: str) -> list[int]:
    if "-" in text:
        low, high = (int(v) for v in text.split("-"))
        return list(range(low, high + 1))
    return [int(v) for v in text.split(",")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--sizes", default="1-16", help="a range low-high or a comma list of batch sizes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", choices=("padded", "exact"), help=argparse.SUPPRESS)   # the child processes
    parser.add_argument("--out", help="JSON path (default benchmarks/results/batch_sizes_<platform>.json)")
    args = parser.parse_args(argv)
    sizes = parse_sizes(args.sizes)
    if args.mode:
        print(json.dumps(one_mode(args.mode == "padded", args.paths, sizes, args.repeats)))
        return
    modes = {}
    for mode in ("padded", "exact"):
        child = subprocess.run([sys.executable, __file__, "--mode", mode, "--paths", str(args.paths),
                                "--sizes", args.sizes, "--repeats", str(args.repeats)],
                               check=True, capture_output=True, text=True)
        modes[mode] = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{mode:>6}: first pass {modes[mode]['cold_pass_s']:.1f} s ({modes[mode]['programs_compiled']} "
              f"programs), warm pass {modes[mode]['warm_pass_median_s']:.2f} s")
    report = {"benchmark": "batch_sizes", "device": device_description(), "paths": args.paths, "sizes": sizes,
              "product": "Black-Scholes up-and-out calls, barrier 130, strikes 90-110, 1 year", **modes,
              "cold_speedup": modes["exact"]["cold_pass_s"] / modes["padded"]["cold_pass_s"],
              "warm_cost_of_padding": modes["padded"]["warm_pass_median_s"] / modes["exact"]["warm_pass_median_s"]}
    path = report_writer("batch_sizes", ROOT / "benchmarks" / "results", args.out)(report)
    print(f"written {path}")


if __name__ == "__main__":
    main()
