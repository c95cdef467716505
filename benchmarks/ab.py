"""Same-process A/B timing: this working tree's pricer against another git revision's, calls interleaved.

On a shared or throttled machine two runs of the same code differ by 10-15% (measured on the 2-core CPUs
this project's sessions run on), more than most of the changes worth measuring. Here the revision's
``pricer/`` is extracted (``git archive``) as a package named ``pricer_base`` and imported beside the
working tree's ``pricer``; both build the same cases (``greeks_cost.catalogue``) and their calls alternate,
the order reversed every round, so that both see the same machine. Each call is blocked on; the first
(compile) is timed apart. Reported per case: the minimum and the median of each side, new / base, and the
largest relative difference between their prices and Greeks (a like-for-like check: a change meant to be
exact should show rounding only).

    python benchmarks/ab.py --base HEAD~1 [--cases garch:plain_barrier:all,heston:asian:price]
                            [--paths 204800] [--repeats 8]

A case is model:product:greeks, with model one of black_scholes, heston, garch; product one of european,
barrier (down-and-out call with a rebate), plain_barrier (without), asian; greeks one of price (none),
desk (delta, vega, rho), all (every first-order Greek, ``greeks_cost.first_order_greeks``), or a list
joined by "+" (delta+vega). Writes benchmarks/results/ab_<platform>.json.
"""
from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pricer.benchmark import blocked, device_description, report_writer, use_all_cpu_cores  # noqa: E402

DEFAULT_CASES = "garch:plain_barrier:price,garch:plain_barrier:all,heston:asian:all"


def load_base(revision: str, folder: Path):
    """``pricer`` as of ``revision``, imported as the package ``pricer_base`` from ``folder``. The package
    imports itself only relatively, so a renamed copy is a separate package with its own compiled cache."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{revision}^{{commit}}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        raise SystemExit(f"--base {revision!r} is not a revision of {ROOT}: {commit.stderr.strip()}")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit.stdout.strip(), "pricer"],
                             capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    (folder / "pricer").rename(folder / "pricer_base")
    sys.path.insert(0, str(folder))
    return importlib.import_module("pricer_base"), commit.stdout.strip()


def greek_set(label: str, model, package) -> tuple:
    from greeks_cost import first_order_greeks
    if label == "price":
        return ()
    if label == "desk":
        return ("delta", "vega", "rho")
    if label == "all":
        return first_order_greeks(model, package)
    return tuple(label.split("+"))


def largest_difference(base, new) -> float:
    """The largest relative difference between two results' prices and Greeks."""
    pairs = [(base.price, new.price)] + [(base.greeks[k], new.greeks[k]) for k in base.greeks]
    return max(abs(float(b) - float(n)) / max(abs(float(b)), 1e-12) for b, n in pairs)


def compare(case: str, packages: dict, paths: int, repeats: int) -> dict:
    model_name, product_name, greeks_label = case.split(":")
    from greeks_cost import catalogue
    calls, first, greeks_asked = {}, {}, {}
    for side, package in packages.items():
        models, products = catalogue(package)
        if model_name not in models or product_name not in products:
            raise SystemExit(f"unknown case {case!r}: models {sorted(models)}, products {sorted(products)}")
        model, product = models[model_name], products[product_name]
        mc = package.MonteCarlo(paths=paths, steps_per_year=252, seed=7)
        greeks = greeks_asked[side] = greek_set(greeks_label, model, package)
        calls[side] = (lambda package=package, product=product, model=model, mc=mc, greeks=greeks:
                       package.price(product, model, mc, greeks=greeks))
        start = time.perf_counter()
        first[side] = (blocked(calls[side]()), time.perf_counter() - start)
    times = {side: [] for side in calls}
    order = list(calls)
    for round_ in range(repeats):
        for side in (order if round_ % 2 == 0 else order[::-1]):
            start = time.perf_counter()
            blocked(calls[side]())
            times[side].append(time.perf_counter() - start)
    summary = {side: {"min_s": min(t), "median_s": sorted(t)[len(t) // 2], "first_call_s": first[side][1],
                      "runs_s": t} for side, t in times.items()}
    return {"case": case, "greeks": list(greeks_asked["new"]),
            **summary, "new_over_base_min": summary["new"]["min_s"] / summary["base"]["min_s"],
            "new_over_base_median": summary["new"]["median_s"] / summary["base"]["median_s"],
            "largest_relative_difference": largest_difference(first["base"][0], first["new"][0])}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the git revision to compare against (HEAD~1, a hash)")
    parser.add_argument("--cases", default=DEFAULT_CASES)
    parser.add_argument("--paths", type=int, default=204_800)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    use_all_cpu_cores()   # before JAX first touches a device
    import pricer
    save = report_writer("ab", ROOT / "benchmarks" / "results", args.out)
    with tempfile.TemporaryDirectory() as folder:
        base, commit = load_base(args.base, Path(folder))
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "pricer"],
                                    capture_output=True, text=True).stdout.strip())
        report = {"workload": f"{args.paths:,} paths asked, 252 steps a year, float32; calls interleaved, the "
                              "order reversed every round",
                  "device": device_description(), "base": commit, "new": head.strip() + (" + changes" if dirty else ""),
                  "repeats": args.repeats, "cases": []}
        for case in args.cases.split(","):
            entry = compare(case, {"base": base, "new": pricer}, args.paths, args.repeats)
            report["cases"].append(entry)
            save(report)
            print(f"{case:32s} base {entry['base']['min_s'] * 1e3:8.1f} ms  new {entry['new']['min_s'] * 1e3:8.1f} ms "
                  f"(min of {args.repeats})  new/base {entry['new_over_base_min']:.3f} (medians "
                  f"{entry['new_over_base_median']:.3f})  largest difference {entry['largest_relative_difference']:.1e}",
                  flush=True)
    print(f"wrote {save(report)}")


if __name__ == "__main__":
    main()
