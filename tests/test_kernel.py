"""The fused Pallas kernel (backend="kernel") against the scan backend, in Pallas interpret mode on CPU.

Both backends draw the same normals (seed, path, step) and run the same model step and accumulators,
so a kernel price must equal the scan price up to float rounding: asserted at a thousandth of a
standard error, far inside the "within standard errors" a mere distributional match would give.
Sizes are small: interpret mode runs the kernel body op by op.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pricer import (AsianOption, BarrierOption, BlackScholes, EuropeanOption, Garch, Heston, MonteCarlo, analytic,
                    price, statistics)
from pricer.engine import BLOCK_PATHS, prepare, row_bucket, simulation_arrays
from pricer.kernels import program_moments
from pricer.kernels.fused import SAMPLES_PER_PROGRAM, fold_programs

MODELS = {
    "black-scholes": BlackScholes(spot=100.0, vol=0.25, rate=0.03, dividend=0.01),
    "heston": Heston(spot=100.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.6, rho=-0.7, rate=0.03, dividend=0.01),
    "gjr-garch": Garch(spot=100.0, omega=4e-6, alpha=0.05, beta=0.9, gamma=0.06, rate=0.03),
}
PRODUCTS = {
    "european": EuropeanOption(strike=[90.0, 100.0, 110.0], expiry=0.25, call=[True, False, True]),
    "continuous barriers": BarrierOption(strike=100.0, barrier=[80.0, 120.0], up=[False, True], knock_in=[True, False],
                                         expiry=0.25, rebate=1.0),
    "monthly barrier": BarrierOption(strike=100.0, barrier=85.0, up=False, expiry=0.25, monitoring=3),
    "asians": AsianOption(strike=100.0, expiry=0.25, fixings=12, geometric=[False, True]),
}


def both(product, model, **settings):
    """(scan, kernel) results; float64 unless told otherwise, so float rounding is far below a stderr."""
    mc = dict(paths=2048, steps_per_year=52, seed=11, dtype="float64") | settings
    return (price(product, model, MonteCarlo(backend="scan", **mc)),
            price(product, model, MonteCarlo(backend="kernel", **mc)))


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("product_name", PRODUCTS)
def test_kernel_equals_scan(model_name, product_name):
    scan, kernel = both(PRODUCTS[product_name], MODELS[model_name])
    assert kernel.paths == scan.paths and kernel.steps == scan.steps
    np.testing.assert_array_less(np.abs(kernel.price - scan.price), 1e-3 * scan.stderr + 1e-12)
    np.testing.assert_allclose(kernel.stderr, scan.stderr, rtol=1e-6)


@pytest.mark.parametrize("antithetic, control_variate, scheme", [(False, True, "qe"), (True, False, "euler"),
                                                                  (False, False, "euler")])
def test_kernel_equals_scan_across_settings(antithetic, control_variate, scheme):
    scan, kernel = both(PRODUCTS["continuous barriers"], MODELS["heston"], antithetic=antithetic,
                        control_variate=control_variate, scheme=scheme)
    np.testing.assert_array_less(np.abs(kernel.price - scan.price), 1e-3 * scan.stderr + 1e-12)
    np.testing.assert_allclose(kernel.stderr, scan.stderr, rtol=1e-6)


def test_kernel_batch_of_models_over_several_row_tiles():
    """6 strikes x 3 Heston parameter sets: 18 rows (``row_bucket(18)`` is 18: price pads nothing), three
    tiles of eight, the last padded by the kernel itself."""
    model = Heston(spot=100.0, v0=[0.04, 0.09, 0.02], kappa=1.5, theta=0.05, xi=[0.6, 0.3, 0.9], rho=-0.7, rate=0.03)
    product = BarrierOption(strike=np.linspace(80, 120, 6)[:, None], barrier=70.0, up=False, expiry=0.25, rebate=0.5)
    assert row_bucket(18) == 18
    scan, kernel = both(product, model)
    assert kernel.price.shape == (6, 3)
    np.testing.assert_array_less(np.abs(kernel.price - scan.price), 1e-3 * scan.stderr)


def test_kernel_float32_matches_scan():
    """float32 (the GPU default): the sums are grouped differently, so equal to float32 rounding."""
    scan, kernel = both(PRODUCTS["asians"], MODELS["heston"], dtype="float32")
    assert kernel.price.dtype == np.float32
    np.testing.assert_allclose(kernel.price, scan.price, rtol=1e-5)
    # the controlled stderr is a small difference of large co-moments (the geometric control removes all but
    # ~1e-3 of the variance), so float32 rounding of the co-moments moves it by ~1e-7 / 1e-3 relative
    np.testing.assert_allclose(kernel.stderr, scan.stderr, rtol=2e-3)


def test_kernel_black_scholes_barrier_against_closed_form():
    """An independent reference too: down-and-out call vs the analytic price, within 3 stderr
    (continuous monitoring through the Brownian bridge: no discretisation bias)."""
    model = MODELS["black-scholes"]
    product = BarrierOption(strike=100.0, barrier=90.0, up=False, expiry=0.25)
    result = price(product, model, MonteCarlo(paths=8192, steps_per_year=52, seed=2, backend="kernel"))
    exact = analytic.barrier_price(spot=100.0, strike=100.0, barrier=90.0, expiry=0.25, vol=0.25, rate=0.03,
                                   dividend=0.01, rebate=0.0, call=True, up=False, knock_in=False)
    assert abs(float(result.price) - float(exact)) < 3 * float(result.stderr)


def test_every_output_element_is_written():
    """Each program writes every slot of every row: counts equal the samples per program, all finite."""
    model, product = MODELS["heston"], PRODUCTS["asians"]
    mc = MonteCarlo(paths=4096, steps_per_year=52, seed=1, backend="kernel")
    setup = prepare(product, model, mc)
    out = np.asarray(program_moments(setup.model, setup.product, simulation_arrays(setup.arrays), setup.key,
                                     blocks=mc.blocks, antithetic=True, scheme="qe", use_control=True,
                                     block_samples=BLOCK_PATHS // 2, interpret=True))
    programs = mc.blocks * (BLOCK_PATHS // 2) // SAMPLES_PER_PROGRAM
    assert out.shape == (programs, 16, 2)   # 12 moments, padded to a power of two
    np.testing.assert_array_equal(out[:, 12:], 0)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, 5], SAMPLES_PER_PROGRAM)
    # the informative sample counts (paying, off the control): whole numbers of this program's samples
    counts = out[:, 6:8]
    assert np.all((counts >= 0) & (counts <= SAMPLES_PER_PROGRAM)) and np.all(counts == np.round(counts))
    assert np.all(out[:, 2] > 0)   # every program saw payoffs that vary
    # and the same as the scan's, sample for sample (an Asian pays other than its geometric control)
    scan = price(product, model, dataclasses.replace(mc, backend="scan"))
    np.testing.assert_array_equal(counts[:, 0].sum(0), scan.samples_paying)
    np.testing.assert_array_equal(counts[:, 1].sum(0), scan.samples_off_control)
    # and so are their weights (statistics.effective_samples), to the rounding of sums grouped differently
    _, _, effective_paying, effective_off_control = statistics.informative_samples(fold_programs(out))
    np.testing.assert_allclose(effective_paying, scan.effective_paying, rtol=1e-5)
    np.testing.assert_allclose(effective_off_control, scan.effective_off_control, rtol=1e-5)


def test_greeks_with_the_kernel_backend_come_from_the_scan():
    """Greeks differentiate the scan backend (Pallas kernels are not differentiated): same numbers."""
    model, product = MODELS["black-scholes"], EuropeanOption(strike=100.0, expiry=0.25)
    scan, kernel = (price(product, model, MonteCarlo(paths=2048, seed=4, backend=backend), greeks=("delta", "vega"))
                    for backend in ("scan", "kernel"))
    for name in ("delta", "vega"):
        assert kernel.greeks[name] == scan.greeks[name]


def test_kernel_runs_under_jit_of_the_caller():
    """The kernel is an ordinary JAX op: an enclosing jit traces and runs it."""
    model, product = MODELS["black-scholes"], EuropeanOption(strike=100.0, expiry=0.25)
    mc = MonteCarlo(paths=1024, steps_per_year=12, seed=0, backend="kernel")
    setup = prepare(product, model, mc)
    run = jax.jit(lambda spot: program_moments(
        dataclasses.replace(setup.model, spot=spot), setup.product, simulation_arrays(setup.arrays),
        setup.key, blocks=1, antithetic=True, scheme="qe", use_control=True, block_samples=512, interpret=True))
    out = run(jnp.full((1, 1), 100.0))
    assert out.shape == (2, 16, 1) and bool(jnp.all(jnp.isfinite(out)))


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("product_name", PRODUCTS)
def test_kernel_lowers_to_triton_for_a_gpu(model_name, product_name):
    """Without a GPU, lower the kernel for CUDA (jax.export cross-lowering): every op in the kernel body
    must have a Pallas Triton lowering (erf, say, has none; concatenation is not allowed), so a change
    that would break the GPU build fails here, on CPU. PTX compilation itself happens only on a GPU."""
    from jax import export

    mc = MonteCarlo(paths=2048, steps_per_year=52, backend="kernel")
    setup = prepare(PRODUCTS[product_name], MODELS[model_name], mc)

    def moments(model, product, arrays, key):
        return program_moments(model, product, arrays, key, blocks=mc.blocks, antithetic=True, scheme="qe",
                               use_control=True, block_samples=BLOCK_PATHS // 2, interpret=False)

    exported = export.export(jax.jit(moments), platforms=["cuda"],
                             disabled_checks=[export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")])(
        setup.model, setup.product, simulation_arrays(setup.arrays), setup.key)
    assert "__gpu$xla.gpu.triton" in exported.mlir_module()
