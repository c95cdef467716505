"""Host arrays that JAX on a CPU takes over without copying them.

A batch of 10,000 series x 2,500 observations is 200 MB in float64. Copying it into a fresh device buffer
costs more than most of the work done on it: XLA's buffers are not backed by huge pages, so on a
virtual machine the first touch of each 4 KB page is a fault (0.1-0.2 s per 200 MB on the 2-core CI
machine). jax.device_put adopts a numpy array instead (zero copy) when it is C-contiguous, of the
device's dtype and 64-byte aligned. numpy only guarantees 16 bytes, hence ``aligned_empty``.

Large buffers come from an anonymous mmap with MAP_POPULATE (page-aligned, every page faulted in by the
kernel in one call): 0.045 s per 200 MB on that machine, every time. numpy's own allocation asks for
transparent huge pages, which took 0.025 s or, for the first large allocation after a fit had freed its
memory, 0.3-0.5 s (measured; the fit's run time swung by that much).

The adopted array must not be written to afterwards: the device array is a view of the same memory.
"""
from __future__ import annotations

import mmap

import jax
import numpy as np

__all__ = ["ALIGNMENT", "aligned_empty", "adopt"]

ALIGNMENT = 64
MMAP_MIN_BYTES = 1 << 24       # 16 MB: smaller buffers come from numpy


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous numpy array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes >= MMAP_MIN_BYTES and hasattr(mmap, "MAP_ANONYMOUS"):
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
        # the array keeps the mapping alive (its base); it is unmapped when the last view goes
        return np.frombuffer(mmap.mmap(-1, nbytes, flags=flags), dtype, count=nbytes // dtype.itemsize).reshape(shape)
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def adopt(array: np.ndarray) -> jax.Array:
    """The device array for a host array nobody writes to again: zero copy on a CPU where the layout
    allows it (see the module docstring), a copy otherwise (a GPU, another dtype, unaligned data)."""
    return jax.device_put(array, may_alias=True)
