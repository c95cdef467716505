"""The Monte Carlo engine: ``price()`` and the jitted core (the settings and the result: ``pricer.montecarlo``).

Structure of one call:
1. (numpy) validate, broadcast the product and model batches, flatten to P rows (padded to
   ``row_bucket(P)`` with copies of the first item, so batches of nearby sizes share one compiled
   program), build the time grid;
2. (jit) for each chunk of paths: ``lax.scan`` over time steps, the model's ``step`` and the product's
   accumulators updated online; discounted payoffs and control variates per path; block moments
   folded in block order;
3. price = mean - beta (control mean - known mean), standard error from the residual variance.

Random numbers are a pure function of (seed, path, time step) (``pricer.random``), so a price does
not depend on the chunk size, on the other items in the batch (as long as they add no dates to the time
grid before its expiry: the grid is the union of the batch's dates), or on the machine's device count.
"""
from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import compile_budget, payoffs, statistics
from .accumulators import StepData
from ._fields import batch_shape, checked_copy
from ._checks import check_rounding as _check_rounding, check_sampling as _check_sampling, greek_names, require_finite
from .batch_rows import padding_take, row_bucket
from .grid import build_grid, check_expiry_on_steps
from .lanes import accumulate_chunks, on_gpu
from .montecarlo import _MAX_STEPS, BLOCK_PATHS, MonteCarlo, PriceResult
from .random import normals_from_words, random_words, seed_key
from .resolution import asian_priced_out, known_by_structure, unresolved, warn_unresolved
from .models import Model
from .products import SAME_TIME, AsianOption, BarrierOption, EuropeanOption

# working floats per chunk (state + accumulators) and paths per chunk, by platform: a CPU wants chunks
# that stay in cache; a GPU wants millions of paths per step's kernels, or it idles on launch latency
_CHUNK_FLOATS = {"cpu": 1 << 22, "gpu": 1 << 26}
# with Greeks every path also carries one tangent per derivative, and a CPU chunk must be far smaller to
# stay in cache (measured, Heston barrier with 8 tangents, 204,800 paths on 2 cores: all first-order
# Greeks 7.5x the price with the price's 25,600-path chunks, 4.2x with 3,072-path chunks)
# (a GPU keeps the price's chunks until measured there)
_CPU_DERIVATIVE_CHUNK_FLOATS = 1 << 18
_MAX_CHUNK_PATHS = {"cpu": 1 << 16, "gpu": 1 << 22}
def price(product, model, mc: MonteCarlo | None = None, greeks=()) -> PriceResult:
    """Price a product (or a batch of products) under a model by Monte Carlo.

    Product and model fields broadcast together into one batch (shape B); the result's arrays have
    shape B. Products in a batch share paths when the model is a single set of parameters.
    """
    result = evaluate(product, model, mc, greeks)
    require_finite(result)
    _warn_if_unresolved(product, model, result, (MonteCarlo() if mc is None else mc).dtype)
    return result


def _warn_if_unresolved(product, model, result, dtype):
    """``UnresolvedPriceWarning`` for the items the paths do not resolve (``pricer.resolution``)."""
    exact = its_vanilla = False
    if isinstance(product, BarrierOption):
        schedule = product.monitoring
        watched_at_expiry = (True if product.continuous or isinstance(schedule, int)
                             else np.abs(np.asarray(product.expiry, np.float64) - schedule[-1]) < SAME_TIME)
        exact, its_vanilla = known_by_structure(model.spot, product.strike, product.barrier, product.call,
                                                product.up, product.knock_in, product.rebate, product.continuous,
                                                watched_at_expiry, dtype)
    elif isinstance(product, AsianOption):
        future = int(product.fixings) if np.ndim(product.fixings) == 0 else np.size(product.fixings)
        exact = asian_priced_out(product.strike, product.call, product.geometric, product.floating_strike,
                                 product.past_average, product.past_count, future)
    mask = np.broadcast_to(unresolved(result.price, result.stderr, exact, result.samples_paying,
                                      result.samples_off_control, its_vanilla, result.effective_paying,
                                      result.effective_off_control), np.shape(result.price))
    if mask.ndim == 0:
        labels = ["the price"] if mask else []
    else:
        labels = [f"item {int(index[0]) if mask.ndim == 1 else tuple(int(i) for i in index)}"
                  for index in zip(*np.nonzero(mask))]
    warn_unresolved(labels, result.paths)


def evaluate(product, model, mc: MonteCarlo | None = None, greeks=(), *, check_sampling: bool = True,
             pad_rows: bool = True) -> PriceResult:
    """``price`` without its final check: a non-finite number is returned, not raised (``price_book``
    reports it on the trade's own row, so that it does not fail the other trades of its call).
    ``check_sampling=False`` (prices only) skips the sampling and float32 rounding checks for callers that
    judge each item's result themselves (the stress grid's states, one call for many variances).
    ``pad_rows=False`` simulates exactly the batch's rows (``row_bucket``), for callers whose calls
    already have one fixed size."""
    mc = MonteCarlo() if mc is None else mc
    if not isinstance(product, (EuropeanOption, BarrierOption, AsianOption)):
        raise TypeError(f"product must be EuropeanOption, BarrierOption or AsianOption, got {type(product).__name__}")
    if not isinstance(model, Model):
        raise TypeError(f"model must be BlackScholes, Heston or Garch, got {type(model).__name__}")
    if not isinstance(mc, MonteCarlo):
        raise TypeError(f"mc must be a pricer.MonteCarlo, got {type(mc).__name__}")
    greeks = greek_names(greeks)
    if greeks:
        from .greeks import price_with_greeks
        return price_with_greeks(product, model, mc, greeks, pad_rows=pad_rows)
    setup = prepare(product, model, mc, check_sampling=check_sampling, pad_rows=pad_rows)
    cv_mean = _control_mean_jit(setup.model, setup.product, control_arrays(setup.arrays), mc.control_variate)
    core = _price_core if resolve_backend(mc.backend) == "scan" else _price_core_kernel
    outputs = core(setup.model, setup.product, simulation_arrays(setup.arrays), setup.key, cv_mean, **setup.static)
    price_flat, stderr_flat = (setup.unpadded(a) for a in outputs[:2])
    return PriceResult(price_flat, stderr_flat, {}, {}, paths=mc.simulated_paths, steps=setup.grid.steps,
                       **sample_counts(outputs[2:], setup))


def sample_counts(informative, setup) -> dict:
    """``PriceResult``'s sample count fields from ``statistics.informative_samples``, per item of the
    batch (``Setup.unpadded``)."""
    paying, off_control, effective_paying, effective_off_control = (setup.unpadded(a) for a in informative)
    return dict(samples_paying=paying.astype(np.int64), samples_off_control=off_control.astype(np.int64),
                effective_paying=effective_paying.astype(np.float64),
                effective_off_control=effective_off_control.astype(np.float64))


@dataclasses.dataclass(frozen=True)
class Setup:
    model: Any
    product: Any
    arrays: dict
    key: Any
    static: dict
    grid: Any
    batch_shape: tuple
    rows: int   # the batch's items; the arrays have ``row_bucket(rows)`` rows unless not padded

    def unpadded(self, values) -> np.ndarray:
        """Per-row results (one number per simulated row) cut to the batch's items, shaped ``batch_shape``."""
        flat = np.asarray(values).reshape(-1)
        return flat[:self.rows].reshape(self.batch_shape)


def prepare(product, model, mc: MonteCarlo, derivatives: int = 0, *, check_sampling: bool = True,
            pad_rows: bool = True) -> Setup:
    """Validate, broadcast and flatten the batch, and build the grid (numpy, before tracing).

    derivatives: how many tangents the simulation will carry besides the paths (the Greeks'); it only
    sizes the chunks of paths (``mc.chunk_paths`` unset), which never changes a number.
    pad_rows: pad the flattened batch to ``row_bucket`` rows with copies of its first item (results
    per row are cut back by ``Setup.unpadded``)."""
    if mc.dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype='float64' needs jax.config.update('jax_enable_x64', True) before pricing")
    dtype = jnp.dtype(mc.dtype)
    model, product = checked_copy(model), checked_copy(product)
    model_shape, product_shape = model.batch_shape, _product_shape(product)
    try:
        shape = tuple(np.broadcast_shapes(model_shape, product_shape))
    except ValueError:
        raise ValueError(f"model batch shape {model_shape} and product batch shape {product_shape} do not broadcast") from None
    rows = int(np.prod(shape, dtype=np.int64))
    if rows == 0:
        empty = [f.name for obj in (product, model) for f in dataclasses.fields(obj)
                 if np.size(getattr(obj, f.name)) == 0 and getattr(obj, f.name) is not None]
        raise ValueError(f"the batch is empty: {', '.join(empty) or 'a field'} has no elements")
    model_rows = 1 if model_shape == () else rows
    simulated_rows = row_bucket(rows, rows_share_paths=model_rows == 1) if pad_rows else rows
    # taken in numpy, so a new batch size compiles no gather
    take = padding_take(rows, simulated_rows)
    flat_model = jax.tree_util.tree_map(lambda a: _flatten(a, shape, take if model_rows > 1 else take[:1], dtype),
                                        model)
    flat_product = jax.tree_util.tree_map(lambda a: _flatten(a, shape, take, dtype), product)
    expiry = np.broadcast_to(np.asarray(product.expiry, np.float64), shape).reshape(-1)
    check_expiry_on_steps(model, expiry, shape)
    model.check_precision(dtype, mc.scheme)
    with np.errstate(all="ignore"):
        spread = np.asarray(model.log_variance(np.asarray(product.expiry, np.float64)), np.float64)
    if check_sampling:
        _check_sampling(np.broadcast_to(spread, shape).reshape(-1), mc.simulated_paths)
    grid = build_grid(product, expiry, mc.steps_per_year, model.periods_per_year, mc.grid_capacity or 0)
    # a model may need finer steps than asked for (Heston with a fast mean reversion): where the grid (with
    # its event dates) has a longer step than the model allows, it is rebuilt finer; never coarser
    needed = model.minimum_steps_per_year()
    if needed > mc.steps_per_year and np.max(grid.dt[:grid.steps]) * needed > 1.0 + 1e-9:
        if needed > _MAX_STEPS:
            raise ValueError(f"{model.minimum_steps_reason()}: the model needs {needed:,} time steps a year, "
                             f"more than {_MAX_STEPS:,}")
        grid = build_grid(product, expiry, needed, model.periods_per_year, mc.grid_capacity or 0)
    if check_sampling:
        # steps to each item's expiry on the grid (GARCH snaps it to a trading day)
        to_expiry = np.searchsorted(grid.times[1:grid.steps + 1], grid.expiry_time * (1.0 + 1e-12), side="right")
        log_spot = np.log(np.broadcast_to(np.asarray(model.spot, np.float64), shape).reshape(-1))
        _check_rounding(np.broadcast_to(spread, shape).reshape(-1), log_spot, np.maximum(to_expiry, 1), dtype)
    if simulated_rows > rows:
        grid = grid.taken(take)
    arrays = {
        "steps": jnp.asarray(grid.steps, jnp.int32),
        "dt": jnp.asarray(grid.dt, dtype),
        "times": jnp.asarray(grid.times[1:], dtype),
        "events": {name: jnp.asarray(table, dtype) for name, table in _shared_columns(grid.events).items()},
        "expiry_time": jnp.asarray(grid.expiry_time[:, None], dtype),
    }
    # the schedules now live in the grid's event tables: a canonical value keeps them out of the
    # compiled program's cache key, so products differing only in their dates share one program
    if isinstance(product, AsianOption):
        flat_product = dataclasses.replace(flat_product, fixings=1)
    if isinstance(product, BarrierOption) and not product.continuous:
        flat_product = dataclasses.replace(flat_product, monitoring=1)
    if isinstance(product, AsianOption):
        arrays["fixing_count"] = jnp.asarray(grid.events["fix"].sum(0)[:, None], dtype)
        times, weights = padded_schedule(grid.fixing_times)
        arrays["fixing_times"] = jnp.asarray(times, dtype)
        arrays["fixing_weights"] = jnp.asarray(weights, dtype)
    chunk_paths = mc.chunk_paths or _auto_chunk(model, simulated_rows, 1 if model_rows == 1 else simulated_rows,
                                                derivatives)
    blocks_per_chunk = max(1, min(chunk_paths // BLOCK_PATHS, mc.blocks))
    # knock-out rebates discounted at the bridge's crossing time: a static switch, so that barriers
    # without a rebate (most) do not pay for the crossing time on every path and step
    rebate_at_crossing = (isinstance(product, BarrierOption) and product.continuous
                          and bool(np.any(np.asarray(product.rebate, dtype=np.float64) != 0)))
    static = dict(blocks=mc.blocks, blocks_per_chunk=blocks_per_chunk, antithetic=mc.antithetic,
                  use_control=mc.control_variate, scheme=mc.scheme, rebate_at_crossing=rebate_at_crossing)
    key = jnp.asarray(seed_key(mc.seed))
    return Setup(flat_model, flat_product, arrays, key, static, grid, shape, rows)


def padded_schedule(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixing times (P, n) padded to (P, m), m the next power of two >= max(n, 8), by repeating the last
    time, and weights (1, m): 1 for a fixing, 0 for padding. The control variates' closed forms take them,
    so schedules of 9 to 16 fixings (and so on) share one compiled program (a book has many counts:
    every new one cost a compile of about 1 s, 2 s with Greeks, for a Heston Asian on a CPU)."""
    count = times.shape[1]
    length = max(8, 1 << (count - 1).bit_length())
    padded = np.concatenate([times, np.repeat(times[:, -1:], length - count, axis=1)], axis=1)
    return padded, (np.arange(length) < count).astype(np.float64)[None, :]


def _shared_columns(events: dict) -> dict:
    """The event tables, (K, P) each, cut to one column (K, 1) when every product has the same dates.

    A batch of strikes on one expiry and schedule (a book's group) then tracks the spot at expiry and
    the running average once per path, not once per product: the products differ only at the payoff.
    """
    if all(np.all(table == table[:, :1]) for table in events.values()):
        return {name: table[:, :1] for name, table in events.items()}
    return events


def _product_shape(product):
    return batch_shape(product)


def _flatten(leaf, shape, take, dtype):
    """Broadcast a field to the batch shape, flatten to (items, 1) and take the rows ``take`` (indices
    into the items; ``[0]`` for a shared model)."""
    return jnp.asarray(np.broadcast_to(np.asarray(leaf), shape).reshape(-1, 1)[take], dtype)


def _auto_chunk(model, rows, model_rows, derivatives=0):
    platform = "gpu" if on_gpu() else "cpu"
    per_path = 2 * model.n_normals * model_rows + 4 * rows
    budget = _CHUNK_FLOATS[platform]
    if derivatives and platform == "cpu":
        budget, per_path = _CPU_DERIVATIVE_CHUNK_FLOATS, per_path * (1 + derivatives)
    paths = budget // max(per_path, 1)
    return int(min(max(paths, BLOCK_PATHS), _MAX_CHUNK_PATHS[platform]))


# --------------------------------------------------------------------------------------------------
# jitted core


def simulate_samples(model, product, arrays, key, first_block, blocks, antithetic, scheme, use_control=True,
                     rebate_at_crossing=False, discounting=None):
    """Discounted payoffs and control variates for ``blocks`` blocks starting at ``first_block``.

    ``discounting``: the model whose rate discounts (``advance``, ``path_samples``); the paths' own by default.

    Returns (Y, C): (P, samples) with samples = blocks * block paths (antithetic pairs averaged).
    """
    base = BLOCK_PATHS // 2 if antithetic else BLOCK_PATHS
    path_index = (first_block * base + jnp.arange(blocks * base)).astype(jnp.uint32)
    dtype = arrays["dt"].dtype
    n_paths = blocks * BLOCK_PATHS
    accumulator = payoffs.accumulator(product, rebate_at_crossing)
    state = model.init(n_paths, dtype)
    acc_state = accumulator.init(state["x"], product, event_rows(arrays))

    def body(carry, xs):
        state, acc_state, words = carry
        dt, t_end, events, step_index = xs
        # next step's random words travel in the loop state (see pricer.random.normal_pair)
        next_words = random_words(key, path_index, step_index + 1)
        z = normals_from_words(words, dtype)[: model.n_normals]
        z = jnp.concatenate([z, -z], axis=1) if antithetic else z
        events = {k: v[:, None] for k, v in events.items()}
        new_state, acc_state = advance(model, product, accumulator, state, acc_state, z, dt, t_end, events, scheme,
                                       discounting)
        return (new_state, acc_state, next_words), None

    capacity = arrays["dt"].shape[0]
    xs = (arrays["dt"], arrays["times"], arrays["events"], jnp.arange(capacity, dtype=jnp.uint32))
    first_words = random_words(key, path_index, jnp.uint32(0))

    def loop_body(k, carry):
        return body(carry, jax.tree_util.tree_map(lambda a: lax.dynamic_index_in_dim(a, k, keepdims=False), xs))[0]

    # a loop over the real steps only (the arrays are padded to a shared capacity)
    state, acc_state, _ = lax.fori_loop(0, arrays["steps"], loop_body, (state, acc_state, first_words))
    y, c = path_samples(model if discounting is None else discounting, product, acc_state, arrays, use_control)
    if antithetic:
        half = blocks * base
        y = 0.5 * (y[:, :half] + y[:, half:])
        c = 0.5 * (c[:, :half] + c[:, half:])
    return y, c


def event_rows(arrays) -> int:
    """Rows of the event tables: 1 when the batch's products share their dates, else P."""
    return next(iter(arrays["events"].values())).shape[1]


def advance(model, product, accumulator, state, acc_state, normals, dt, t_end, events, scheme, discounting=None):
    """One time step of the paths and of the product's accumulators (the scan and the kernel share it).

    events: this step's rows of the grid's event tables, each (E, 1) (E = 1 or P); t_end: the step's end (years).
    discounting: the model whose rate discounts (the step's discount factor and interest r dt), ``model``
    by default. The Greeks pass ``model`` with its rate and dividend both shifted, a direction that moves
    the discounting alone: the paths, which see r - q, then carry no tangent for it (``pricer.greeks``)."""
    new_state, variance = model.step(state, dt, normals, scheme)
    discounting = model if discounting is None else discounting
    slope = model.variance_price_slope()
    step = StepData(state["x"], new_state["x"], variance, events, discounting.discount(t_end), discounting.rate * dt,
                    model.log_spot(state["x"].dtype), model.log_forward_factor(t_end),
                    None if slope is None else slope * dt)
    return new_state, accumulator.update(acc_state, step, product)


def path_samples(model, product, acc_state, context, use_control):
    """Discounted payoff Y and control variate C per path, both (P, n), from the final accumulators."""
    y = payoffs.discounted_payoff(product, acc_state, model, context)
    c = payoffs.control_samples(product, acc_state, model, context) if use_control else jnp.zeros_like(y)
    return y, jnp.broadcast_to(c, y.shape)


_CORE_STATIC = ("blocks", "blocks_per_chunk", "antithetic", "use_control", "scheme", "rebate_at_crossing")


@partial(compile_budget.jit, static_argnames=_CORE_STATIC)
def _price_core(model, product, arrays, key, cv_mean, *, blocks, blocks_per_chunk, antithetic, use_control, scheme,
                rebate_at_crossing):
    rows = arrays["expiry_time"].shape[0]
    dtype = arrays["dt"].dtype

    def samples(first_block, size):
        return simulate_samples(model, product, arrays, key, first_block, size, antithetic, scheme, use_control,
                                rebate_at_crossing)

    total = accumulate_chunks(samples, rows, dtype, blocks, blocks_per_chunk,
                              payoffs.knock_in_rebate(product, model, arrays))
    return statistics.estimate(total, cv_mean, use_control) + statistics.informative_samples(total)


@partial(compile_budget.jit, static_argnames=_CORE_STATIC)
def _price_core_kernel(model, product, arrays, key, cv_mean, *, blocks, blocks_per_chunk, antithetic, use_control,
                       scheme, rebate_at_crossing):
    """_price_core through the fused Pallas kernel (Triton on GPU, interpret mode elsewhere)."""
    from .kernels.fused import kernel_total
    del blocks_per_chunk   # the kernel's programs, not chunks, bound its memory
    block_samples = BLOCK_PATHS // 2 if antithetic else BLOCK_PATHS
    total = kernel_total(model, product, arrays, key, blocks=blocks, antithetic=antithetic, scheme=scheme,
                         rebate_at_crossing=rebate_at_crossing,
                         use_control=use_control, block_samples=block_samples,
                         interpret=not on_gpu())
    return statistics.estimate(total, cv_mean, use_control) + statistics.informative_samples(total)


def resolve_backend(backend: str) -> str:
    """"scan" or "kernel" for a MonteCarlo.backend. "auto" is the scan everywhere for now: the kernel's
    Triton lowering has not yet been measured on a GPU (see pricer/kernels/fused.py)."""
    return "kernel" if backend == "kernel" else "scan"


def control_arrays(arrays):
    """The part of the grid arrays the control means need: none depends on the grid's length, so the
    closed forms compile once per batch shape and fixing count, not once per schedule."""
    return {k: arrays[k] for k in ("expiry_time", "fixing_count", "fixing_times", "fixing_weights") if k in arrays}


def simulation_arrays(arrays):
    """The arrays the simulation needs (not the fixing dates, whose count would key another compile)."""
    return {k: v for k, v in arrays.items() if k not in ("fixing_times", "fixing_weights")}


def control_mean(model, product, arrays, use_control):
    """E[control] per row (P,); zeros without a control."""
    rows = arrays["expiry_time"].shape[0]
    if not use_control:
        return jnp.zeros((rows,), arrays["expiry_time"].dtype)
    return payoffs.control_mean(product, model, control_arrays(arrays))


_control_mean_jit = compile_budget.jit(control_mean, static_argnames=("use_control",))
