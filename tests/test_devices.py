"""Paths are spread over every local device; the result is the same, bit for bit, for any device count.

XLA_FLAGS must be set before JAX starts, so each device count runs in its own process.
"""
import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, jax
from pricer import Heston, AsianOption, BarrierOption, MonteCarlo, price
model = Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.04, xi=0.5, rho=-0.7, rate=0.03)
asian = price(AsianOption(strike=[95.0, 100.0], expiry=1.0, fixings=52), model, MonteCarlo(paths=20_000, seed=3))
barrier = price(BarrierOption(strike=100.0, barrier=130.0, expiry=1.0), model, MonteCarlo(paths=10_000, seed=3),
                greeks=("delta",))
print(json.dumps({"devices": jax.local_device_count(), "asian": asian.price.tolist(), "stderr": asian.stderr.tolist(),
                  "barrier": float(barrier.price), "delta": float(barrier.greeks["delta"])}))
"""


def run_with_devices(count):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}", JAX_PLATFORMS="cpu")
    completed = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_same_numbers_on_one_and_four_devices():
    one, four = run_with_devices(1), run_with_devices(4)
    assert one["devices"] == 1 and four["devices"] == 4
    for key in ("asian", "stderr", "barrier", "delta"):
        assert one[key] == four[key], key
