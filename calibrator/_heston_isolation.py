"""A bad surface never stops the good ones: where a batch of surfaces fails its input checks, each surface
is checked alone, the ones that pass are calibrated together and the others come back as NaN with their
messages (``HestonCalibration.errors``) and a RuntimeWarning naming them.

Only a batch is split (a single surface has no good ones to protect), and only where some surface passes
alone: a problem of the whole input (a missing column, a spot list of the wrong length) fails every surface
alike and is raised as it was."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ._heston_surface import _initial, _label, _prepare
from .heston_map import FIELDS, as_heston_params


def checked_start(initial, ids, data, *, feller: bool, batch: bool) -> np.ndarray:
    """The natural starting parameters (S, 5) (``_initial``), refused where not finite (ValueError naming the
    surface)."""
    p0 = _initial(initial, ids, data, name="initial", feller=feller)
    bad = ~np.all(np.isfinite(p0), axis=1)
    if bad.any():
        j = int(np.argmax(bad))
        where = "" if not batch else f" for surface_id {_label(ids[j])!r}"
        raise ValueError(f"initial parameters{where} are not finite: {dict(zip(FIELDS, p0[j].tolist()))}")
    return p0


def _sequence_length(value) -> int | None:
    """The length of a per-surface argument given in surface order (a list, an array); None for a number, a
    mapping or Series keyed by surface_id, a rate curve, or anything without a length."""
    if isinstance(value, (pd.DataFrame, pd.Series, dict, str)) or np.ndim(value) == 0:
        return None
    try:
        return len(value)
    except TypeError:
        return None


def _subset(value, ids: list, keep: np.ndarray):
    """A per-surface argument (a number, a mapping keyed by surface_id, a sequence in ``ids`` order, or a rate
    curve with a surface_id column) for the surfaces at positions ``keep``. Anything else is passed on as it
    is, to fail as it did."""
    if isinstance(value, pd.DataFrame) and "surface_id" in value.columns:
        return value[value["surface_id"].isin([ids[j] for j in keep])]
    if _sequence_length(value) == len(ids):
        return [value[j] for j in keep]
    return value


def _subset_initial(initial, ids: list, keep: np.ndarray):
    if initial is None:
        return None
    try:
        params = as_heston_params(initial)
    except ValueError:
        return initial
    return {field: _subset(getattr(params, field), ids, keep) for field in FIELDS}


def split_bad_surfaces(surface, spot, rate, dividend, initial, *, feller: bool):
    """(keep, errors): the positions (into the surface ids, in order of first appearance) of the surfaces that
    pass the input checks alone, and surface_id -> message for the others. ``None`` where the input is not a
    batch that can be split: the caller raises its error as it was."""
    if not isinstance(surface, pd.DataFrame) or "surface_id" not in surface.columns or len(surface) == 0:
        return None
    if surface["surface_id"].isna().any():
        return None
    codes, ids = pd.factorize(surface["surface_id"], sort=False)
    ids = list(ids)
    if len(ids) < 2:
        return None
    fields = ()
    if initial is not None:
        try:
            fields = tuple(getattr(as_heston_params(initial), field) for field in FIELDS)
        except ValueError:
            return None
    # a sequence of another length is the whole input's problem: each surface alone would take a length-1
    # list as its own
    if any(_sequence_length(value) not in (None, len(ids)) for value in (spot, rate, dividend) + fields):
        return None
    keep, errors = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # what a surface alone warns of, the calibration of the good ones says again
        for j, sid in enumerate(ids):
            one = np.array([j])
            try:
                data, one_id, _ = _prepare(surface[codes == j], _subset(spot, ids, one), _subset(rate, ids, one),
                                           _subset(dividend, ids, one))
                checked_start(_subset_initial(initial, ids, one), one_id, data, feller=feller, batch=True)
            except ValueError as exc:
                errors[sid] = str(exc)
            else:
                keep.append(j)
    if not keep or not errors:   # none passes alone, or every one does (the batch's problem is not one surface's)
        return None
    return np.array(keep), errors


def good_surfaces_input(surface, spot, rate, dividend, initial, keep: np.ndarray):
    """The arguments of calibrate_heston for the surfaces at positions ``keep`` only, and their rows' positions
    in ``surface``."""
    codes, ids = pd.factorize(surface["surface_id"], sort=False)
    ids = list(ids)
    rows = np.flatnonzero(np.isin(codes, keep))
    return (surface.iloc[rows], _subset(spot, ids, keep), _subset(rate, ids, keep), _subset(dividend, ids, keep),
            _subset_initial(initial, ids, keep)), rows, ids


def warn_not_calibrated(errors: dict, total: int) -> None:
    from pricer._stacklevel import user_stacklevel
    named = "; ".join(f"surface_id {_label(sid)!r}: {message}" for sid, message in list(errors.items())[:3])
    more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
    warnings.warn(f"calibrate_heston: {len(errors)} of {total} surfaces not calibrated for bad input (their "
                  f"parameters and sse are NaN, converged False; HestonCalibration.errors has each message), the "
                  f"others are calibrated. Not calibrated: {named}{more}", RuntimeWarning,
                  stacklevel=user_stacklevel())
