"""Compiled programs against the process's limit on memory maps.

XLA's CPU backend maps each compiled program's machine code into memory as many small regions (about three
per kernel; one Heston barrier price: about 200), and JAX keeps the programs it compiled (thousands per
function) for as long as the jitted function lives, which for a library's functions is the process. Linux
allows a process ``vm.max_map_count`` maps (the kernel's default 65,530; some distributions ship 1,048,576);
past that, the next compile or cache load dies inside XLA with a segmentation fault. A desk process pricing
a few hundred differently shaped batches gets there (this project's test suite did, 570 tests in, at 7 GB).
So after each call of the library's jitted functions (``jit`` here; not while an outer function is being
traced), at most once per ``CHECK_INTERVAL``, the process's maps are counted, and past the budget
(``map_budget``: ``MAP_FRACTION`` of the limit, at most ``MAX_MAPS``) JAX's compiled programs are dropped
(``jax.clear_caches``, every function's, since the limit is the process's): the next calls compile again,
or load from the persistent compilation cache where the application turned it on. Compiles of the user's
own functions, or of JAX operations run eagerly, count the same but are only seen at the library's next
call. Where there is no /proc (macOS, Windows) nothing is checked.
"""
from __future__ import annotations

import functools
import logging
import time

import jax

__all__ = ["CHECK_INTERVAL", "MAP_FRACTION", "MAX_MAPS", "jit", "map_budget", "map_count", "map_limit",
           "release_if_near_limit"]

#: the share of ``vm.max_map_count`` past which compiled programs are dropped (half: one call's compiles,
#: a few thousand maps at most, never reach the limit from there)
MAP_FRACTION = 0.5
#: and at most this many maps, whatever the limit: where a distribution raises it to a million, the
#: programs' memory (the test suite: 7 GB at 65,000 maps) would run out long before
MAX_MAPS = 32_768
#: seconds between two looks at the process's maps (reading them costs about 1 ms per 10,000)
CHECK_INTERVAL = 1.0

_log = logging.getLogger(__name__)
_last_check = float("-inf")
_held_after_drop = 0   # maps the process still held after the last drop (not JAX's programs: never dropped)


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


def map_budget(fraction: float | None = None) -> float | None:
    """Maps past which programs are dropped: ``fraction`` (default ``MAP_FRACTION``) of ``map_limit()``, at
    most ``MAX_MAPS``; None where the limit is unknown."""
    limit = map_limit()
    fraction = MAP_FRACTION if fraction is None else fraction
    return None if limit is None else min(fraction * limit, MAX_MAPS)


def release_if_near_limit(fraction: float | None = None, force_check: bool = False) -> bool:
    """Drop JAX's compiled programs where the process holds more maps than ``map_budget(fraction)``; True
    where it did. Looks at most once per ``CHECK_INTERVAL`` seconds unless ``force_check``. Maps that a drop
    does not free (threads' stacks, mapped files, programs the caller still holds) do not make every look
    drop again: after a drop the process must gain another half budget first."""
    global _last_check, _held_after_drop
    now = time.monotonic()
    if not force_check and now - _last_check < CHECK_INTERVAL:
        return False
    _last_check = now
    budget, count = map_budget(fraction), map_count()
    if budget is None or count is None or count <= max(budget, _held_after_drop + budget / 2):
        return False
    jax.clear_caches()
    _held_after_drop = map_count() or 0
    freed = count - _held_after_drop
    log = _log.warning if freed < 0.1 * count else _log.info
    log("dropped JAX's compiled programs: the process held %d memory maps (budget %d of its limit %d), "
        "now %d", count, budget, map_limit(), _held_after_drop)
    return True


def _traced(tree) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


class _Checked:
    """A jitted function that looks at the map budget after each call; its other attributes (``lower``,
    ``clear_cache``, ...) are the jitted function's."""

    def __init__(self, jitted):
        self._jitted = jitted
        functools.update_wrapper(self, jitted)

    def __call__(self, *args, **kwargs):
        out = self._jitted(*args, **kwargs)
        # the cheap test first; no drop while an outer function is being traced
        if time.monotonic() - _last_check >= CHECK_INTERVAL and not _traced((args, kwargs, out)):
            release_if_near_limit()
        return out

    def __get__(self, obj, owner=None):   # as a method, like jax.jit's functions
        return self if obj is None else functools.partial(self, obj)

    def __getattr__(self, name):
        if name == "_jitted":   # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._jitted, name)

    def __repr__(self):
        return f"compile_budget.jit({self._jitted!r})"


def jit(fun=None, **jit_options):
    """``jax.jit`` whose calls keep the process's compiled programs within its map budget
    (``release_if_near_limit``). Use as ``@jit``, ``@partial(jit, static_argnames=...)`` or ``jit(f)``."""
    if fun is None:
        return functools.partial(jit, **jit_options)
    return _Checked(jax.jit(fun, **jit_options))
