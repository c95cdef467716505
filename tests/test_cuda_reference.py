"""The hand-written CUDA yardstick of benchmarks/gpu_throughput.py, checked on CPU.

Its per-path function is compiled with g++ (benchmarks/cuda_reference/cpu_shim.cpp) and run on the
same Threefry counters as our engine: with antithetics and control variates off, the two simulate the
same paths, so the means must agree to float32 rounding (the CUDA side uses sincospif/normcdff where we
use polynomials), far inside a standard error. A GPU throughput ratio against a reference that prices
something else would be meaningless; this makes sure it does not.
"""
import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pricer import AsianOption, BarrierOption, BlackScholes, Heston, MonteCarlo, price
from pricer.engine import prepare
from pricer.random import seed_key

SOURCE = Path(__file__).resolve().parents[1] / "benchmarks" / "cuda_reference"
SEED, PATHS = 5, 4096


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("needs g++ to build the CUDA reference's path function for the CPU")
    library = tmp_path_factory.mktemp("cuda_reference") / "reference.so"
    subprocess.run(["g++", "-O2", "-shared", "-fPIC", "-std=c++17", "-o", str(library), str(SOURCE / "cpu_shim.cpp")],
                   check=True, capture_output=True)
    return ctypes.CDLL(str(library))


def reference_payoffs(library, product, model):
    setup = prepare(product, model, MonteCarlo(paths=PATHS, steps_per_year=52, seed=SEED))
    dt = np.ascontiguousarray(setup.grid.dt[: setup.grid.steps], np.float32)
    key = seed_key(SEED)
    field = lambda name: float(np.asarray(getattr(model, name, 0.0)))  # noqa: E731
    barrier = float(getattr(product, "barrier", 1e30))
    params = np.array([field(n) for n in ("spot", "vol", "v0", "kappa", "theta", "xi", "rho", "rate", "dividend")]
                      + [float(product.strike), barrier, float(product.expiry)], np.float32)
    out = np.empty(PATHS, np.float32)
    pointer = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    library.path_payoffs(ctypes.c_uint(PATHS), ctypes.c_int(setup.grid.steps), pointer(dt), ctypes.c_uint(int(key[0])),
                         ctypes.c_uint(int(key[1])), ctypes.c_int(int(isinstance(model, Heston))), pointer(params),
                         ctypes.c_int(int(isinstance(product, AsianOption))), pointer(out))
    return out


CASES = {
    "heston asian": (AsianOption(strike=100.0, expiry=0.5, fixings=26),
                     Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03, dividend=0.01)),
    "heston up-and-out": (BarrierOption(strike=100.0, barrier=125.0, expiry=0.5, up=True),
                          Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03)),
    "gbm up-and-out": (BarrierOption(strike=100.0, barrier=125.0, expiry=0.5, up=True),
                       BlackScholes(spot=100.0, vol=0.25, rate=0.03, dividend=0.01)),
}


@pytest.mark.parametrize("case", CASES)
def test_cuda_reference_prices_the_same_paths(reference, case):
    product, model = CASES[case]
    ours = price(product, model, MonteCarlo(paths=PATHS, steps_per_year=52, seed=SEED, antithetic=False,
                                            control_variate=False, dtype="float64"))
    payoffs = reference_payoffs(reference, product, model).astype(np.float64)
    stderr = payoffs.std(ddof=1) / np.sqrt(PATHS)
    assert np.all(np.isfinite(payoffs))
    assert abs(payoffs.mean() - float(ours.price)) < 0.01 * stderr
    assert stderr == pytest.approx(float(ours.stderr), rel=1e-3)
