"""Paths are spread over every local device; the result is the same, bit for bit, for any device count.
The neural calibrator cuts a batch of series over the devices: see the last test for what it reproduces.

XLA_FLAGS must be set before JAX starts, so each device count runs in its own process.
"""
import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, jax
from pricer import AsianOption, BarrierOption, BlackScholes, EuropeanOption, Heston, MonteCarlo, price
model = Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.04, xi=0.5, rho=-0.7, rate=0.03)
# 262,144 paths = 256 blocks: a long run's 16 lanes (4 a device on 4 devices)
wide = price(EuropeanOption(strike=[95.0, 105.0], expiry=0.25), BlackScholes(spot=100.0, vol=0.2, rate=0.03),
             MonteCarlo(paths=262_144, steps_per_year=12, seed=3))
asian = price(AsianOption(strike=[95.0, 100.0], expiry=1.0, fixings=52), model, MonteCarlo(paths=20_000, seed=3))
barrier = price(BarrierOption(strike=100.0, barrier=130.0, expiry=1.0), model, MonteCarlo(paths=10_000, seed=3),
                greeks=("delta",))
print(json.dumps({"devices": jax.local_device_count(), "asian": asian.price.tolist(), "stderr": asian.stderr.tolist(),
                  "barrier": float(barrier.price), "delta": float(barrier.greeks["delta"]),
                  "wide": wide.price.tolist(), "wide_stderr": wide.stderr.tolist()}))
"""


def run_with_devices(count, script=SCRIPT):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}", JAX_PLATFORMS="cpu")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_same_numbers_on_one_and_four_devices():
    one, four = run_with_devices(1), run_with_devices(4)
    assert one["devices"] == 1 and four["devices"] == 4
    for key in ("asian", "stderr", "barrier", "delta", "wide", "wide_stderr"):
        assert one[key] == four[key], key


KERNEL_SCRIPT = r"""
import json, jax
from pricer import Heston, BarrierOption, MonteCarlo, price
model = Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.04, xi=0.5, rho=-0.7, rate=0.03)
result = price(BarrierOption(strike=[95.0, 100.0], barrier=130.0, expiry=0.25), model,
               MonteCarlo(paths=4096, steps_per_year=52, seed=3, backend="kernel"))
print(json.dumps({"devices": jax.local_device_count(), "price": result.price.tolist(), "stderr": result.stderr.tolist()}))
"""


def test_kernel_same_numbers_on_one_and_four_devices():
    """The fused kernel's programs split over 4 devices: bit-for-bit the one-device result."""
    one, four = run_with_devices(1, KERNEL_SCRIPT), run_with_devices(4, KERNEL_SCRIPT)
    assert one["devices"] == 1 and four["devices"] == 4
    assert one["price"] == four["price"] and one["stderr"] == four["stderr"]


NN_SCRIPT = r"""
import json, warnings, jax
import numpy as np
from calibrator import fit_garch
from calibrator.training import simulate_set
returns, _ = simulate_set(4242, 1101, 1000, alpha=(0.02, 0.2), persistence=(0.8, 0.995))
warnings.simplefilter("ignore")
out = {"devices": jax.local_device_count()}
for arch in ("hybrid", "mlp", "lstm"):
    fit = fit_garch(np.asarray(returns), method="nn", nn_arch=arch)
    out[arch] = {k: np.asarray(getattr(fit, k)).tolist() for k in ("omega", "alpha", "beta", "loglik")}
    out[arch]["last_variance"] = np.asarray(fit.conditional_variance[-1]).tolist()
print(json.dumps(out))
"""


def test_neural_calibrator_cut_over_two_devices():
    """1,101 series: 551 a device, the last block padded with a copy of the last series. Each device runs
    the one-device program on its block: the same numbers, bit for bit, for the networks alone (mlp, LSTM)
    and for the hybrid (its float32 Newton steps included), the float64 likelihood and variances too."""
    one, two = run_with_devices(1, NN_SCRIPT), run_with_devices(2, NN_SCRIPT)
    assert one["devices"] == 1 and two["devices"] == 2
    for arch in ("mlp", "lstm", "hybrid"):
        for key in ("omega", "alpha", "beta", "loglik", "last_variance"):
            assert len(two[arch][key]) == 1101
            assert one[arch][key] == two[arch][key], (arch, key)
