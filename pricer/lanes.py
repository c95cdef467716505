"""How a run's blocks of paths are split into lanes and spread over the local devices, and folded.

The lane count is a function of the block count alone, never of the device count, and every sum runs
in a fixed order (blocks within a lane, then lanes), so a price is the same, bit for bit, on one device
or eight. ``MonteCarlo.blocks`` rounds the paths asked to a multiple of ``lane_multiple``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import statistics

LANES = 8                   # independent lanes of blocks, spread over devices (16 in long runs)


def _lane_counts(blocks: int) -> tuple[int, ...]:
    """Lane counts a run of ``blocks`` blocks may use, most first: 16 only for long runs (16 blocks a lane)."""
    return ((2 * LANES,) if blocks >= 16 * 2 * LANES else ()) + (LANES, 4, 2, 1)


def lane_multiple(blocks: int) -> int:
    """What a run's block count is rounded up to a multiple of: the most lanes whose rounding adds at most
    a quarter of the blocks (10,000 paths: 12 blocks in 4 lanes; the old rule, 8 lanes from 9 blocks
    on, ran 16,384)."""
    return next(lanes for lanes in _lane_counts(blocks) if -blocks % lanes <= blocks // 4)


def lanes_for(blocks: int) -> int:
    """Lanes a run's blocks are split into, equal in size: the most of 16 (long runs), 8, 4, 2, 1 that
    divides the block count. Fixed by the path count alone (never by the device count), like the order
    of every sum."""
    return next(lanes for lanes in _lane_counts(blocks) if blocks % lanes == 0)


def devices_for(lanes: int) -> int:
    """Local devices used: the largest count <= available that divides the lanes into at least two per
    device. Two, not one: XLA compiles a device's loop over a single lane away and may then fuse (and
    round) differently from the loop that one device runs over several, and the numbers must not depend on
    the device count (measured: a 4-lane Asian on 4 devices differed in the 7th digit from 1 device)."""
    available = jax.local_device_count()
    return max((d for d in range(1, lanes // 2 + 1) if lanes % d == 0 and d <= available), default=1)


def on_gpu() -> bool:
    """Whether JAX computes on a GPU: chunk sizes, lane vectorisation and the kernel's Triton lowering
    (interpret mode otherwise) follow from it."""
    return jax.default_backend() == "gpu"


def lanes_in_parallel() -> bool:
    """Whether a single device runs the lanes vectorised (GPUs) rather than in sequence (CPUs)."""
    return on_gpu()


def accumulate_chunks(samples, rows, dtype, blocks, blocks_per_chunk, paying_reference=0.0):
    """Fold ``samples(first_block, size) -> (Y, C)`` (rows, size * block samples) over all blocks; a sample
    counts as paying where Y differs from ``paying_reference`` ((rows, 1) or a scalar: ``statistics.block_moments``).

    The blocks are split into ``lanes_for(blocks)`` contiguous lanes; each lane is folded block by
    block in chunks, and the lanes are combined in order at the end. Lanes run on all local devices
    (``shard_map``; on a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` makes N devices
    of its cores), and since neither the lanes nor the order of any sum depend on the device count or
    the chunk size, the result is the same, bit for bit, on one device or eight.
    """
    lanes = lanes_for(blocks)
    per_lane = blocks // lanes
    chunk = min(blocks_per_chunk, per_lane)
    full_chunks, remainder = divmod(per_lane, chunk)

    def run_chunk(total, first_block, size):
        return statistics.fold_blocks(total, *samples(first_block, size), paying_reference, blocks=size)

    def lane_total(lane):
        first = lane * per_lane
        total = statistics.zeros(rows, dtype)
        if full_chunks:
            def chunk_body(total, index):
                return run_chunk(total, first + index * chunk, chunk), None
            total, _ = lax.scan(chunk_body, total, jnp.arange(full_chunks))
        if remainder:
            total = run_chunk(total, first + full_chunks * chunk, remainder)
        return total

    lane_ids = jnp.arange(lanes)
    devices = devices_for(lanes)
    if devices == 1:
        # one device: a GPU runs the lanes side by side (vmap: one launch per step for all of them, not
        # eight in a row, each too small to fill it); a CPU core runs them one after the other (map)
        per_lane_totals = jax.vmap(lane_total)(lane_ids) if lanes_in_parallel() else lax.map(lane_total, lane_ids)
    else:
        mesh = jax.sharding.Mesh(np.array(jax.local_devices()[:devices]), ("lanes",))
        spec = jax.sharding.PartitionSpec("lanes")
        per_lane_totals = jax.shard_map(lambda ids: lax.map(lane_total, ids), mesh=mesh, in_specs=spec,
                                        out_specs=spec, check_vma=False)(lane_ids)
    return statistics.fold_in_order(statistics.zeros(rows, dtype), per_lane_totals)
