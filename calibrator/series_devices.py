"""A batch of series cut by columns over the local devices, for the neural calibrator's per-series stages.

Every series is fitted on its own, so a (T, N) batch is cut into equal column blocks, one per device, and
the same single-device program runs on each block, all dispatched before any is waited on, so they run
at the same time. The devices are a CPU's cores where ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
makes them so (the CLI and the benchmarks set one per core, pricer/benchmark.py), or the GPUs. With one
device nothing changes.

Why separate calls and not ``shard_map``: the program shard_map compiles for a device rounded some
operations differently (log1p and second derivatives of the parameter transforms, by 1 ulp; five float32
Newton steps grew that to 2e-5 relative on ill-conditioned series), while the plain program gave every
series the same numbers at every block width tried (551 to 10,000 series; the features' moments are
summed in time order for that, features.column_means). XLA does not promise it for every width (a dense
layer or an FFT may tile by width); tests/test_devices.py checks one and two devices, bit for bit, for
the mlp, the LSTM and the hybrid at 1,101 series. Two programs on two CPU devices at once must not call LAPACK's batched
routines, which deadlock in the shared thread pool: the Newton stage uses jacobi.py for that.

The host writes each block straight into a 64-byte-aligned buffer that its device adopts (_host.py), so
cutting the batch costs no copy beyond the float32 conversion the network needs anyway. N is padded to a
multiple of the device count with copies of the last series, whose results are dropped.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import numpy as np

from ._host import adopt, aligned_empty

__all__ = ["MIN_SERIES_PER_DEVICE", "Placed", "devices_for", "place", "place_rows", "run_on_blocks"]

MIN_SERIES_PER_DEVICE = 512   # below this a device's share is too small to pay for a second program


class Placed(NamedTuple):
    """A (T, N) batch on the devices: ``blocks``, one (T, width) array per device (block d holds columns
    d * width ..), the last padded with copies of column N - 1; ``n`` = N, the series asked; ``host``
    the same blocks as host arrays (on a CPU the very memory the devices adopted; on a GPU what was sent,
    so host-side statistics need no copy back)."""
    blocks: tuple
    n: int
    host: tuple

    @property
    def width(self) -> int:
        return self.blocks[0].shape[1]


def devices_for(n_series: int) -> int:
    """Devices a batch of ``n_series`` is cut over: all local ones, but each gets at least
    MIN_SERIES_PER_DEVICE series."""
    return max(1, min(jax.local_device_count(), n_series // MIN_SERIES_PER_DEVICE))


def place(columns: np.ndarray, dtype=np.float32, devices: int | None = None) -> Placed:
    """Host (T, N) -> Placed in ``dtype`` over ``devices`` devices (default ``devices_for(N)``)."""
    columns = np.asarray(columns)
    T, n = columns.shape
    devices = devices_for(n) if devices is None else devices
    if not 1 <= devices <= min(jax.local_device_count(), max(n, 1)):
        raise ValueError(f"devices={devices!r}: choose 1 to {min(jax.local_device_count(), max(n, 1))} "
                         f"(local devices: {jax.local_device_count()}, series: {n})")
    width = -(-n // devices)
    blocks, host = [], []
    for device, start in zip(jax.local_devices()[:devices], range(0, devices * width, width)):
        block = aligned_empty((T, width), dtype)
        part = columns[:, start:start + width]
        np.copyto(block[:, :part.shape[1]], part, casting="same_kind")
        block[:, part.shape[1]:] = columns[:, -1:]
        host.append(block)
        blocks.append(jax.device_put(block, device, may_alias=True) if devices > 1 else adopt(block))
    return Placed(tuple(blocks), n, tuple(host))


def place_rows(rows: np.ndarray, placed: Placed) -> tuple:
    """Per-series host values (N, ...) cut like ``placed``'s columns: one array per block (padded with the
    last row)."""
    rows = np.asarray(rows)
    width = placed.width
    padded = np.concatenate([rows, np.repeat(rows[-1:], len(placed.blocks) * width - rows.shape[0], axis=0)])
    return tuple(jax.device_put(padded[d * width:(d + 1) * width], block.devices().pop())
                 for d, block in enumerate(placed.blocks))


def run_on_blocks(program: Callable, shared, placed: Placed, *per_block) -> object:
    """``program(shared, block, *rows)`` on every block, each on its block's device, then the outputs
    (pytrees of arrays with a leading series axis) joined on the host and cut to the n series asked.
    shared: a pytree every block gets whole (the weights), copied to each device; per_block: tuples
    from place_rows."""
    outputs = []
    for d, block in enumerate(placed.blocks):
        device = block.devices().pop()
        on_device = jax.device_put(shared, device) if len(placed.blocks) > 1 else shared
        outputs.append(program(on_device, block, *(rows[d] for rows in per_block)))   # dispatched, not waited on
    return jax.tree.map(lambda *parts: np.concatenate([np.asarray(p) for p in parts])[:placed.n], *outputs)
