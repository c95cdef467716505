"""calibrator._host: aligned host buffers the CPU device adopts without a copy, and what they hold."""
import jax
import numpy as np
import pytest

from calibrator._host import ALIGNMENT, MMAP_MIN_BYTES, adopt, aligned_empty


@pytest.mark.parametrize("shape,dtype", [((3, 5), np.float32), ((100, 7), np.float64),
                                         ((MMAP_MIN_BYTES // 8 // 64 + 1, 64), np.float64)])
def test_aligned_writable_and_adopted_without_copy(shape, dtype):
    a = aligned_empty(shape, dtype)
    assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % ALIGNMENT == 0
    a[...] = np.arange(a.size, dtype=dtype).reshape(shape)
    device = adopt(a)
    np.testing.assert_array_equal(np.asarray(device), a)
    if jax.default_backend() == "cpu" and (dtype == np.float32 or jax.config.jax_enable_x64):
        assert device.unsafe_buffer_pointer() == a.ctypes.data      # the same memory: no copy


def test_large_buffer_outlives_its_creator():
    """The mmap behind a large buffer lives as long as any view of it (here: a slice kept alone)."""
    part = aligned_empty((MMAP_MIN_BYTES // 4 + 16,), np.float32)[-16:]
    part[:] = 7.0
    import gc
    gc.collect()
    assert np.all(part == 7.0)
