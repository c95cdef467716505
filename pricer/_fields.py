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
import warnings
from typing import Any, Callable

import jax
import numpy as np

from ._stacklevel import user_stacklevel


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
    if all(isinstance(leaf, np.ndarray) for leaf in jax.tree_util.tree_leaves(obj)):
        return obj   # the constructor checked (and warned of) every value: numeric fields are numpy arrays then
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
#: given for a decimal (a rate of 5 for 5% prices a call at 99% of spot). Loose enough for real extremes (the
#: peso's 2023 rates, 1.13 continuously compounded; hard-to-borrow stocks' borrow fees, carried as a yield).
#: One limit for every entry point: models, books, calibrate_heston and ``exotics calibrate``.
RATE_LIMIT = 2.0
#: beyond this (100% a year) and within RATE_LIMIT a rate is used but named in a PercentLikeWarning: a 1.5%
#: dividend yield typed as 1.5 is common, and refusing it would refuse the real extremes above
RATE_WARNING_LEVEL = 1.0
RATE_REQUIREMENT = f"a decimal within +-{RATE_LIMIT:g} ({100 * RATE_LIMIT:.0f}% a year; 0.05 for 5%: a percentage?)"


class PercentLikeWarning(UserWarning):
    """A rate or dividend yield above 100% a year (and within the refused +-200%): most likely a percentage
    given for a decimal (1.5 for 1.5%). The value is used as given; filter by class where it is meant."""


def decimal_rate(x):
    return np.abs(x) <= RATE_LIMIT


def decimal_hint(value: float) -> str:
    """What to pass instead of a percent-looking rate: '0.015 for 1.5%'."""
    return f"pass decimals ({value / 100:g} for {value:g}%)"


def warn_percent_like_rate(name: str, values) -> None:
    """PercentLikeWarning naming ``name`` where any of ``values`` (host numbers) lies beyond
    RATE_WARNING_LEVEL in size, pointing at the user's line; values beyond RATE_LIMIT are the caller's to
    refuse."""
    array = np.asarray(values, dtype=np.float64)
    high = np.isfinite(array) & (np.abs(array) > RATE_WARNING_LEVEL)
    if high.any():
        value = float(array[high].flat[0])
        warnings.warn(percent_like_rate_text(name, value), PercentLikeWarning, stacklevel=user_stacklevel())


def percent_like_rate_text(name: str, value: float) -> str:
    """The words of a PercentLikeWarning (also said by the command line)."""
    return f"{name} {value:g} is {100 * value:g}% a year: used as given; if it is a percentage, {decimal_hint(value)}"


def rate_field(name: str, value: Any) -> Any:
    """A rate or dividend yield field: ``numeric_field`` within +-RATE_LIMIT, and a PercentLikeWarning
    beyond +-RATE_WARNING_LEVEL (concrete values only)."""
    checked = numeric_field(name, value, check=decimal_rate, requirement=RATE_REQUIREMENT)
    if is_concrete(value):
        warn_percent_like_rate(name, checked)
    return checked


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
