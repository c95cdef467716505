"""Compiled programs against the process's limit on memory maps.

XLA's CPU backend maps each compiled program's machine code into memory as many small regions (about three
per kernel; one Heston barrier price: about 200), and JAX keeps every program it compiled for as long as its
jitted function lives, which for a library's functions is the process. Linux allows a process
``vm.max_map_count`` maps (65,530 by default); past that, the next compile or cache load dies inside XLA with
a segmentation fault. A desk process pricing a few hundred differently shaped batches gets there (this
project's test suite did, 570 tests in, at 7 GB). So the library's jitted functions (``jit`` here) look, at
most once a second, at how many maps the process holds, and past ``MAP_FRACTION`` of the limit drop JAX's
compiled programs (``jax.clear_caches``, every function's, since the limit is the process's): the next calls
compile again, or load from the persistent compilation cache where the application turned it on. Where there
is no /proc (macOS, Windows) nothing is checked.
"""
from __future__ import annotations

import functools
import logging
import time

import jax

__all__ = ["MAP_FRACTION", "jit", "map_count", "map_limit", "release_if_near_limit"]

#: the share of ``vm.max_map_count`` past which compiled programs are dropped (half: one call's compiles,
#: a few thousand maps at most, never reach the limit from there)
MAP_FRACTION = 0.5
#: seconds between two looks at the process's maps (reading them costs about 1 ms per 10,000)
CHECK_INTERVAL = 1.0

_log = logging.getLogger(__name__)
_last_check = float("-inf")


@functools.cache
def map_limit() -> int | None:
    """The most memory maps this process may hold (``/proc/sys/vm/max_map_count``), None where unknown."""
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def map_count() -> int | None:
    """How many memory maps this process holds now (lines of ``/proc/self/maps``), None where unknown."""
    try:
        with open("/proc/self/maps", "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return None


def release_if_near_limit(fraction: float | None = None, force_check: bool = False) -> bool:
    """Drop JAX's compiled programs where the process holds more than ``fraction`` (default
    ``MAP_FRACTION``) of its map limit; True where it did. Looks at most once per ``CHECK_INTERVAL`` seconds
    unless ``force_check``."""
    global _last_check
    fraction = MAP_FRACTION if fraction is None else fraction
    now = time.monotonic()
    if not force_check and now - _last_check < CHECK_INTERVAL:
        return False
    _last_check = now
    limit, count = map_limit(), map_count()
    if limit is None or count is None or count <= fraction * limit:
        return False
    jax.clear_caches()
    _log.info("dropped JAX's compiled programs: the process held %d of its %d memory maps (now %s)",
              count, limit, map_count())
    return True


class _Checked:
    """A jitted function that looks at the map budget after each call; its other attributes (``lower``,
    ``clear_cache``, ...) are the jitted function's."""

    def __init__(self, jitted):
        self._jitted = jitted
        functools.update_wrapper(self, jitted)

    def __call__(self, *args, **kwargs):
        out = self._jitted(*args, **kwargs)
        if not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(out)[:1]):
            release_if_near_limit()   # not while an outer function is being traced
        return out

    def __getattr__(self, name):
        if name == "_jitted":   # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._jitted, name)


def jit(fun=None, **jit_options):
    """``jax.jit`` whose calls keep the process's compiled programs within its map budget
    (``release_if_near_limit``). Use as ``@jit``, ``@partial(jit, static_argnames=...)`` or ``jit(f)``."""
    if fun is None:
        return functools.partial(jit, **jit_options)
    return _Checked(jax.jit(fun, **jit_options))
