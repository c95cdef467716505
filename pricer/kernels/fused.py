"""The fused Monte Carlo kernel behind ``MonteCarlo(backend="kernel")``, written with JAX Pallas.

One kernel program simulates ``SAMPLES_PER_PROGRAM`` samples (antithetic pairs, or single paths) of a
tile of ``ROW_TILE`` batch rows over every time step, with the path state, the accumulators and the
random numbers in registers: nothing per step goes to memory. Its output is, per program and row, the
moments of the samples (count, means of Y and C, centred co-moments), which the host folds in program
order with ``statistics.combine`` exactly as the scan backend folds its blocks.

Same numbers as the scan backend, not merely the same distribution: the normals are the same
Threefry-2x32 + Box–Muller function of (seed, path, step) (``pricer.random``), the model step and the
accumulators are the same functions (``engine.advance``, ``engine.path_samples``), so prices agree to
rounding (the sums are grouped differently). On GPU it lowers through Triton; on CPU it runs in Pallas
interpret mode, slowly, which is how the tests check it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pallas_triton

from .. import payoffs, statistics
from ..random import box_muller, threefry2x32

SAMPLES_PER_PROGRAM = 256    # samples per program (a divisor of a block's 512 pairs / 1,024 paths)
ROW_TILE = 8                 # batch rows per program: their accumulators live in registers together
NUM_WARPS = 4                # 128 threads per program: two samples of each row per thread
# mean_y, mean_c, m_yy, m_cc, m_yc, count, then the informative samples' counts and sums (statistics.Moments),
# padded to a power of two (Triton's block shapes), the spare slots zero
_MOMENT_FIELDS = len(statistics.Moments._fields)
_MOMENT_SLOTS = 1 << (_MOMENT_FIELDS - 1).bit_length()


def kernel_total(model, product, arrays, key, **settings):
    """statistics.Moments of (Y, C) over all samples, per row (P,): ``program_moments`` folded in order.

    The programs are split evenly over the local devices (``shard_map``; each device launches the kernel
    on its share, numbered from its first program), and since every program's output depends only on
    its number and the fold runs in program order, the result is the same, bit for bit, on any count."""
    programs = program_count(settings["blocks"], settings["block_samples"])
    available = jax.local_device_count()
    devices = max(d for d in range(1, min(available, programs) + 1) if programs % d == 0)
    if devices == 1:
        return fold_programs(program_moments(model, product, arrays, key, **settings))
    mesh = jax.sharding.Mesh(np.array(jax.local_devices()[:devices]), ("programs",))
    spec = jax.sharding.PartitionSpec("programs")
    share = programs // devices

    def on_device(first):
        return program_moments(model, product, arrays, key, first_program=first, programs=share, **settings)

    firsts = jnp.arange(devices, dtype=jnp.int32) * share
    out = jax.shard_map(on_device, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)(firsts)
    return fold_programs(out)


def program_count(blocks: int, block_samples: int) -> int:
    """Kernel programs for ``blocks`` blocks of ``block_samples`` samples."""
    return blocks * block_samples // min(SAMPLES_PER_PROGRAM, block_samples)


def program_moments(model, product, arrays, key, *, blocks, antithetic, scheme, use_control, block_samples,
                    interpret, first_program=None, programs=None, rebate_at_crossing=False):
    """The kernel's raw output: (programs, slots, P) moments of (Y, C) over each program's samples.

    ``model`` / ``product``: the engine's flattened pytrees, leaves (P, 1) or (1, 1); ``arrays``: the
    simulation arrays of ``engine.prepare`` (grid, event tables (S, E) with E = 1 when the products share
    their dates, else P; expiry times (P, 1)); ``blocks``
    blocks of ``block_samples`` samples. Slots: mean Y, mean C, sum dY^2, sum dC^2, sum dY dC, count, the
    samples paying and paying other than the control, and the sums of |d| and d^2 of their differences
    from the paying reference and from the control (``statistics.Moments``).
    ``first_program`` ((1,) int32) and ``programs``: run only that range of programs (a device's share).
    """
    from ..engine import advance, path_samples   # engine imports this module lazily; no cycle

    rows = arrays["expiry_time"].shape[0]
    dtype = arrays["dt"].dtype
    per_program = min(SAMPLES_PER_PROGRAM, block_samples)
    programs = program_count(blocks, block_samples) if programs is None else programs
    first_program = jnp.zeros((1,), jnp.int32) if first_program is None else jnp.reshape(first_program, (1,))
    tile = min(ROW_TILE, pl.next_power_of_2(rows))
    padded_rows = -(-rows // tile) * tile
    capacity = pl.next_power_of_2(arrays["dt"].shape[0])

    def pad_rows(leaf):
        """(P, ...) -> (padded P, ...), repeating row 0: padding rows hold valid numbers, never NaN."""
        if leaf.shape[0] == 1 or leaf.shape[0] == padded_rows:
            return leaf
        extra = jnp.broadcast_to(leaf[:1], (padded_rows - leaf.shape[0],) + leaf.shape[1:])
        return jnp.concatenate([leaf, extra])

    def pad_steps(leaf, axis):
        widths = [(0, 0)] * leaf.ndim
        widths[axis] = (0, capacity - leaf.shape[axis])
        return jnp.pad(leaf, widths)

    model_leaves, model_tree = jax.tree_util.tree_flatten(model)
    product_leaves, product_tree = jax.tree_util.tree_flatten(product)
    event_names = sorted(arrays["events"])
    context_names = [k for k in ("expiry_time", "fixing_count") if k in arrays]
    # event tables transposed to (E, S): the kernel reads a step's column as the (E, 1) rows it needs (a
    # single shared row is passed whole to every tile, see ``tiled``)
    tables = [pad_steps(pad_rows(arrays["events"][name].T), 1) for name in event_names]
    row_inputs = ([pad_rows(a) for a in model_leaves] + [pad_rows(a) for a in product_leaves]
                  + [pad_rows(arrays[k]) for k in context_names] + tables)
    steps = jnp.reshape(arrays["steps"], (1,)).astype(jnp.int32)
    grid_inputs = [steps, first_program.astype(jnp.int32), jnp.asarray(key, jnp.uint32), pad_steps(arrays["dt"], 0),
                   pad_steps(arrays["times"], 0)]
    n_model, n_product, n_context = len(model_leaves), len(product_leaves), len(context_names)
    accumulator = payoffs.accumulator(product, rebate_at_crossing)
    signs = (1.0, -1.0) if antithetic else (1.0,)

    def kernel(*refs):
        steps_ref, first_ref, key_ref, dt_ref, times_ref = refs[:5]
        row_refs, out_ref = refs[5:-1], refs[-1]
        values = [r[...] for r in row_refs[:n_model + n_product + n_context]]
        tile_model = model_tree.unflatten(values[:n_model])
        tile_product = product_tree.unflatten(values[n_model:n_model + n_product])
        context = dict(zip(context_names, values[n_model + n_product:]))
        table_refs = dict(zip(event_names, row_refs[n_model + n_product + n_context:]))
        first = (first_ref[0] + pl.program_id(0)) * per_program
        path_index = (first + lax.broadcasted_iota(jnp.int32, (per_program,), 0)).astype(jnp.uint32)
        key_words = (key_ref[0], key_ref[1])

        def body(k, carry):
            words = threefry2x32(key_words, path_index, jnp.full((per_program,), k, jnp.uint32))
            normals = box_muller(*words, dtype)[: tile_model.n_normals]
            events = {name: ref[:, pl.ds(k, 1)] for name, ref in table_refs.items()}
            dt, t_end = dt_ref[k], times_ref[k]
            return tuple(advance(tile_model, tile_product, accumulator, state, acc_state,
                                 tuple(sign * z for z in normals), dt, t_end, events, scheme)
                         for (state, acc_state), sign in zip(carry, signs))

        start = tuple((state, accumulator.init(state["x"], tile_product, next(iter(table_refs.values())).shape[0]))
                      for state in (tile_model.init(per_program, dtype) for _ in signs))
        final = lax.fori_loop(0, steps_ref[0], body, start)
        pairs = [path_samples(tile_model, tile_product, acc_state, context, use_control) for _, acc_state in final]
        y = sum(p[0] for p in pairs) / len(pairs)
        c = sum(p[1] for p in pairs) / len(pairs)
        # the scan backend's per-block statistics
        moments = statistics.block_moments(y, c, payoffs.knock_in_rebate(tile_product, tile_model, context))
        slots = (moments.mean_y, moments.mean_c, moments.m_yy, moments.m_cc, moments.m_yc,
                 jnp.full((tile,), per_program, dtype), *moments[6:])
        for slot, value in enumerate(slots):
            out_ref[0, slot, :] = value
        for slot in range(len(slots), _MOMENT_SLOTS):
            out_ref[0, slot, :] = jnp.zeros((tile,), dtype)

    def full(shape):
        return pl.BlockSpec(shape, lambda i, j: (0,) * len(shape))

    def tiled(leaf):
        if leaf.shape[0] == 1:   # shared by every row (a single model): the same block for every tile
            return full(leaf.shape)
        return pl.BlockSpec((tile,) + leaf.shape[1:], lambda i, j: (j,) + (0,) * (leaf.ndim - 1))

    out = pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((programs, _MOMENT_SLOTS, padded_rows), dtype),
        grid=(programs, padded_rows // tile),
        in_specs=[full(a.shape) for a in grid_inputs] + [tiled(a) for a in row_inputs],
        out_specs=pl.BlockSpec((1, _MOMENT_SLOTS, tile), lambda i, j: (i, 0, j)),
        interpret=interpret,
        # Triton explicitly (this JAX's default GPU lowering is Mosaic GPU): one program = one CTA of
        # NUM_WARPS warps, each thread holding a few paths' state in registers
        compiler_params=pallas_triton.CompilerParams(num_warps=NUM_WARPS, num_stages=1),
        name="fused_monte_carlo",
    )(*grid_inputs, *row_inputs)
    return out[:, :, :rows]


def fold_programs(out):
    """Fold per-program moments (programs, slots, P) in program order into one statistics.Moments."""
    rows = out.shape[2]
    per_program = statistics.Moments(out[:, 5, 0], out[:, 0], out[:, 1], out[:, 2], out[:, 3], out[:, 4],
                                     *(out[:, slot] for slot in range(6, _MOMENT_FIELDS)))
    return statistics.fold_in_order(statistics.zeros(rows, out.dtype), per_program)
