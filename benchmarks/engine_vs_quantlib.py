"""Our Monte Carlo engine vs QuantLib's on the same work (Heston QE, arithmetic Asian, 252 fixings, 1 year),
in one run on this machine. Writes benchmarks/results/engine_vs_quantlib_<platform>.json.

    python benchmarks/engine_vs_quantlib.py [--paths 1000000] [--quantlib-paths 20000]

The measurement itself lives in pricer.benchmark (also behind ``exotics bench``).
"""
import argparse
import json
from pathlib import Path

from pricer.benchmark import engine_vs_quantlib, use_all_cpu_cores

if __name__ == "__main__":
    use_all_cpu_cores()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--quantlib-paths", type=int, default=20_000)
    args = parser.parse_args()
    report = engine_vs_quantlib(paths=args.paths, quantlib_paths=args.quantlib_paths)
    out = Path(__file__).parent / "results" / f"engine_vs_quantlib_{report['device']['platform']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
