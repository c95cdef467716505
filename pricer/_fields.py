"""Field handling shared by models and products: pytree dataclasses whose numeric fields are
checked once, at construction, with errors that name the field.

A model or product is a frozen dataclass registered as a JAX pytree (numeric fields are leaves,
structural fields are static metadata), so ``jit``, ``vmap`` and ``grad`` pass straight through.
Checks run only on concrete values: when JAX rebuilds the pytree from tracers (inside ``jit`` or
``grad``) the values are not inspected again.
"""
from __future__ import annotations

import dataclasses
import decimal
import numbers
from typing import Any, Callable

import jax
import numpy as np


def pytree_dataclass(cls=None, *, static: tuple[str, ...] = ()):
    """Frozen dataclass + JAX pytree; fields named in ``static`` are metadata (hashable, not traced)."""

    def wrap(klass):
        klass = dataclasses.dataclass(frozen=True)(klass)
        names = [f.name for f in dataclasses.fields(klass)]
        data = [n for n in names if n not in static]
        meta = [n for n in names if n in static]
        return jax.tree_util.register_dataclass(klass, data_fields=data, meta_fields=meta)

    return wrap if cls is None else wrap(cls)


def is_concrete(value: Any) -> bool:
    """True for user values we check: numbers, strings, numpy arrays, lists.

    JAX arrays are not checked here: inside the engine they are tracers, tangents or already-checked
    copies (a tangent's zero spot is not a bad input). ``price()`` checks user-supplied JAX arrays by
    rebuilding the model and product from numpy copies (``checked_copy``).
    """
    return isinstance(value, (bool, int, float, complex, str, decimal.Decimal, np.ndarray, np.generic, list, tuple))


def checked_copy(obj):
    """Rebuild a model or product from numpy copies of its fields, so every value is checked.

    A field left as None (other than an optional one, ``optional_fields``, such as GARCH's h0) or set
    to a container that is not an array (a dict) is refused here, naming the field: pytrees skip None
    and walk into dicts, so the constructor's checks would never see them."""
    optional = getattr(obj, "optional_fields", ())
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if value is None and field.name in optional:
            continue
        if value is None or isinstance(value, (dict, set)):
            raise ValueError(f"{field.name} must be a number or an array of numbers, got {value!r}")
    return jax.tree_util.tree_map(np.asarray, obj)


def numeric_field(name: str, value: Any, *, check: Callable[[np.ndarray], np.ndarray] | None = None,
                  requirement: str = "") -> Any:
    """Return ``value`` as a float numpy array after checking it is finite (and ``check`` holds).

    Non-concrete values (tracers, placeholders JAX uses when rebuilding pytrees) pass unchanged.
    Raises ``ValueError`` naming ``name`` and the first offending element.
    """
    if not is_concrete(value):
        return value
    raw = np.asarray(value) if not isinstance(value, str) else None
    if raw is not None and raw.dtype.kind == "O" and raw.size and all(
            isinstance(v, (numbers.Real, decimal.Decimal)) and not isinstance(v, (bool, np.bool_)) for v in raw.flat):
        raw = np.asarray([float(v) for v in raw.flat]).reshape(raw.shape)   # Decimal('100'), object arrays
    # True, "100", 1+2j and [1.0, None] convert to floats (or fail obscurely): none is a number here
    if raw is None or raw.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}")
    array = raw.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(f"{name} must be finite, got {_first(array, bad)}")
    if check is not None:
        bad = ~np.asarray(check(array))
        if bad.any():
            raise ValueError(f"{name} must be {requirement}, got {_first(array, bad)}")
    return array


def flag_field(name: str, value: Any) -> Any:
    """A boolean field (call/put, up/down, ...) stored as a float 0/1 array so mixed batches price together."""
    if not is_concrete(value):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" or not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be True/False, got {value!r}")
    return array.astype(np.float64)


def _first(array: np.ndarray, bad: np.ndarray) -> str:
    if array.ndim == 0:
        return repr(float(array))
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{float(array[index])!r} at index {index if len(index) > 1 else index[0]}"


#: a continuously compounded rate or dividend yield beyond this (200% a year) is refused: a percentage
#: given for a decimal (a rate of 5 for 5% prices a call at 99% of spot). Loose enough for real extremes
RATE_LIMIT = 2.0
RATE_REQUIREMENT = f"a decimal within +-{RATE_LIMIT:g} ({100 * RATE_LIMIT:.0f}% a year; 0.05 for 5%: a percentage?)"


def decimal_rate(x):
    return np.abs(x) <= RATE_LIMIT


def positive(x):
    return x > 0


def non_negative(x):
    return x >= 0


def batch_shape(obj) -> tuple[int, ...]:
    """Broadcast shape of all numeric fields of a model or product (``()`` for scalars)."""
    shapes = [np.shape(leaf) for leaf in jax.tree_util.tree_leaves(obj)]
    try:
        return tuple(np.broadcast_shapes(*shapes)) if shapes else ()
    except ValueError:
        raise ValueError(f"{type(obj).__name__}: fields have shapes {shapes} that do not broadcast together") from None
