"""Inputs of calibrate_heston: the surface table checked column by column, per-surface spot / rates /
dividends and starting points, gathered into the padded arrays the vmapped fit runs on (``_Data``).

Every problem raises ValueError naming the column (and the surface or row): the fit never starts on
input it would misread."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .heston_map import FIELDS, as_heston_params

GENERIC_START = {"kappa": 1.0, "xi": 0.5, "rho": -0.5}  # v0 = theta = mean market implied variance


def _per_surface(name, value, ids, positive=False):
    """A number, a mapping / Series keyed by surface id, or a sequence in ``ids`` order -> float array (S,)."""
    if isinstance(value, (pd.Series, dict)):
        missing = [i for i in ids if i not in value]
        if missing:
            raise ValueError(f"{name}: no value for surface_id {missing[0]!r}")
        out = np.array([value[i] for i in ids], dtype=float)
    else:
        try:
            out = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number (or one per surface), got {value!r}") from None
        if out.ndim == 0:
            out = np.full(len(ids), float(out))
        elif out.shape != (len(ids),):
            raise ValueError(f"{name}: expected a number or {len(ids)} values (one per surface), got shape "
                             f"{out.shape}")
    bad = ~np.isfinite(out) | ((out <= 0) if positive else False)
    if bad.any():
        j = int(np.argmax(bad))
        need = "a positive finite number" if positive else "a finite number"
        where = "" if len(ids) == 1 else f" for surface_id {_label(ids[j])!r}"
        raise ValueError(f"{name} must be {need}{where}, got {float(out[j])!r}")
    return out


def _label(value):
    """A row label or value as plain Python (no np.float64(...) in messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_column(frame, col, what, *, positive=False, allow_zero=False):
    """The column as floats; ValueError naming the column and the first bad row's label."""
    try:
        values = pd.to_numeric(frame[col], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        bad = (pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna()).to_numpy()
        j = int(np.argmax(bad))
        raise ValueError(f"{what}: column {col!r} is not numeric in row {_label(frame.index[j])!r} "
                         f"(value {_label(frame[col].iloc[j])!r})") from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{what}: column {col!r} is NaN or infinite in row {_label(frame.index[np.argmax(bad)])!r}")
    if positive:
        bad = (values < 0) if allow_zero else (values <= 0)
        if bad.any():
            j = int(np.argmax(bad))
            need = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"{what}: column {col!r} must be {need}, got {float(values[j])!r} in row "
                             f"{_label(frame.index[j])!r}")
    return values


def _rate_function(rate, ids):
    """rate -> f(surface index, expiries) giving zero rates. rate: a number (or one per surface), or a
    DataFrame(expiry, zero_rate[, surface_id]) interpolated linearly in expiry, flat beyond its ends."""
    if isinstance(rate, pd.DataFrame):
        missing = [c for c in ("expiry", "zero_rate") if c not in rate.columns]
        if missing:
            raise ValueError(f"rate: missing column(s) {missing}; a rate curve needs columns expiry, zero_rate")
        if len(rate) == 0:
            raise ValueError("rate: the zero-rate curve is empty")
        t = _check_column(rate, "expiry", "rate", positive=True, allow_zero=True)
        z = _check_column(rate, "zero_rate", "rate")
        if "surface_id" in rate.columns:
            curves = {}
            for sid, pos in rate.groupby("surface_id", sort=False).indices.items():
                pos = pos[np.argsort(t[pos], kind="stable")]
                curves[sid] = (t[pos], z[pos])
            missing = [i for i in ids if i not in curves]
            if missing:
                raise ValueError(f"rate: no zero-rate curve for surface_id {missing[0]!r}")
            return lambda j, x: np.interp(x, *curves[ids[j]])
        order = np.argsort(t, kind="stable")
        t, z = t[order], z[order]
        return lambda j, x: np.interp(x, t, z)
    r = _per_surface("rate", rate, ids)
    return lambda j, x: np.full(np.shape(x), r[j])


@dataclasses.dataclass(frozen=True)
class _Data:
    """Padded per-surface arrays (leading axis S): options (M), expiries (E)."""

    log_moneyness: np.ndarray  # (S, M) x = ln(F/K)
    expiry_index: np.ndarray   # (S, M) int, into the surface's expiries
    market_vol: np.ndarray     # (S, M)
    mask: np.ndarray           # (S, M) 1 real option, 0 padding
    expiries: np.ndarray       # (S, E) years (padding: 1.0, unused)
    rows: list                 # per surface, the input row positions of its M options


def _prepare(surface, spot, rate, dividend):
    if not isinstance(surface, pd.DataFrame):
        raise ValueError(f"surface must be a pandas DataFrame with columns strike, expiry, implied_vol, got "
                         f"{type(surface).__name__}")
    missing = [c for c in ("strike", "expiry", "implied_vol") if c not in surface.columns]
    if missing:
        raise ValueError(f"surface: missing column(s) {missing}; need strike, expiry, implied_vol "
                         f"(and surface_id for a batch)")
    if len(surface) == 0:
        raise ValueError("surface: no rows")
    strike = _check_column(surface, "strike", "surface", positive=True)
    expiry = _check_column(surface, "expiry", "surface", positive=True)
    vol = _check_column(surface, "implied_vol", "surface", positive=True)
    batch = "surface_id" in surface.columns
    if batch:
        if surface["surface_id"].isna().any():
            row = surface.index[np.argmax(surface["surface_id"].isna().to_numpy())]
            raise ValueError(f"surface: column 'surface_id' is missing in row {row!r}")
        codes, ids = pd.factorize(surface["surface_id"], sort=False)
        ids = list(ids)
    else:
        codes, ids = np.zeros(len(surface), int), [None]
    spots = _per_surface("spot", spot, ids, positive=True)
    divs = _per_surface("dividend", dividend, ids)
    rate_of = _rate_function(rate, ids)

    groups = [np.flatnonzero(codes == j) for j in range(len(ids))]
    for j, g in enumerate(groups):
        if len(g) < len(FIELDS):
            where = "" if not batch else f" surface_id {ids[j]!r}"
            raise ValueError(f"surface{where}: {len(g)} options cannot determine the 5 Heston parameters "
                             f"(need at least 5)")
    uniq = [np.unique(expiry[g]) for g in groups]
    S, M, E = len(ids), max(len(g) for g in groups), max(len(u) for u in uniq)
    x = np.zeros((S, M))
    eidx = np.zeros((S, M), np.int32)
    mvol = np.full((S, M), 0.2)
    mask = np.zeros((S, M))
    exps = np.ones((S, E))
    for j, (g, u) in enumerate(zip(groups, uniq)):
        exps[j, : len(u)] = u
        k = np.searchsorted(u, expiry[g])
        zero = rate_of(j, u)
        fwd = spots[j] * np.exp((zero - divs[j]) * u)
        x[j, : len(g)] = np.log(fwd[k] / strike[g])
        eidx[j, : len(g)] = k
        mvol[j, : len(g)] = vol[g]
        mask[j, : len(g)] = 1.0
    return _Data(x, eidx, mvol, mask, exps, groups), ids, batch


def _initial(initial, ids, data: _Data):
    """Initial natural parameters (S, 5)."""
    S = len(ids)
    if initial is None:
        w = data.mask / data.mask.sum(axis=1, keepdims=True)
        var = np.sum(w * data.market_vol**2, axis=1)
        cols = [var, np.full(S, GENERIC_START["kappa"]), var, np.full(S, GENERIC_START["xi"]),
                np.full(S, GENERIC_START["rho"])]
        return np.stack(cols, axis=1)
    p = as_heston_params(initial)
    cols = []
    for name in FIELDS:
        value = getattr(p, name)
        if isinstance(value, pd.Series) and S > 1 and all(i in value.index for i in ids):
            value = value.loc[ids].to_numpy()
        cols.append(_per_surface(f"initial {name}", value, ids))
    return np.stack(cols, axis=1)
