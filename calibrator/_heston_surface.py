"""Inputs of calibrate_heston: the surface table checked column by column, per-surface spot / rates /
dividends and starting points, gathered into the padded arrays the vmapped fit runs on (``_Data``).

Every problem raises ValueError naming the column (and the surface or row): the fit never starts on
input it would misread."""
from __future__ import annotations

import dataclasses

import warnings

import numpy as np
import pandas as pd

from pricer._fields import RATE_LIMIT, RATE_WARNING_LEVEL, decimal_hint, warn_percent_like_rate

from ._heston_lm import BOUNDS, RHO_MAX
from .heston_map import FIELDS, as_heston_params
from pricer._stacklevel import user_stacklevel

GENERIC_START = {"kappa": 1.0, "xi": 0.5, "rho": -0.5}  # v0 = theta = mean market implied variance

# Plausibility limits: a value past one of these is (almost surely) in the wrong units, and the fit would
# "converge" to parameters pinned at their bounds instead of failing. They sit far outside any market data, so they
# never refuse a real quote: implied vols above 500% a year are not quoted even for short-dated crypto or
# meme-stock options (and a percent vol of 5% or more reads as >= 500%); the longest listed or OTC equity
# options run to ~30-50 years (an expiry of 100 or more reads as days: anything from ~3.5 months on); a
# continuously-compounded rate or dividend yield beyond +-200% (639% simple a year) reads as percent (5 meaning
# 5%): the pricer's limit, one for the whole library, as is the PercentLikeWarning for the values between 100%
# and 200% a year (a 1.5% yield typed 1.5; or the peso's 2023 rates, 1.13 continuously compounded).
MAX_IMPLIED_VOL = 5.0     # annualised decimal
MAX_EXPIRY = 100.0        # years
MAX_ABS_RATE = RATE_LIMIT  # continuously compounded, decimal (rates, zero rates, dividend yields)


def _per_surface(name, value, ids, positive=False, rate_like=False):
    """A number, a mapping / Series keyed by surface id, or a sequence in ``ids`` order -> float array (S,).
    rate_like: a rate or yield, refused beyond +-MAX_ABS_RATE (percent passed for decimals), named in a
    PercentLikeWarning beyond +-100%."""
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
    if rate_like:
        bad = np.abs(out) > MAX_ABS_RATE
        if bad.any():
            j = int(np.argmax(bad))
            where = "" if len(ids) == 1 else f" for surface_id {_label(ids[j])!r}"
            raise ValueError(f"{name}{where} is {float(out[j])!r}: {_RATE_LIMIT[1](float(out[j]))}")
        high = np.abs(out) > RATE_WARNING_LEVEL
        if high.any() and len(ids) > 1 and np.ptp(out) > 0:   # one value per surface, not one for all
            j = int(np.argmax(high))
            warn_percent_like_rate(f"{name} for surface_id {_label(ids[j])!r}", out[j])
        else:
            warn_percent_like_rate(name, out)
    return out


def _label(value):
    """A row label or value as plain Python (no np.float64(...) in messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _row(frame, j: int) -> str:
    """Row ``j`` (a position) of ``frame`` in words: its label, its position where labels repeat (frames
    concatenated without ignore_index), and its surface_id in a batch."""
    text = f"row {_label(frame.index[j])!r}"
    if not frame.index.is_unique:
        text += f" (position {j})"
    if "surface_id" in frame.columns:
        text += f" of surface_id {_label(frame['surface_id'].iloc[j])!r}"
    return text


def _check_column(frame, col, what, *, positive=False, allow_zero=False, limit=None):
    """The column as floats; ValueError naming the column and the first bad row (``_row``). limit: (largest
    plausible |value|, value -> what a larger one most likely is and the fix to suggest)."""
    try:
        values = pd.to_numeric(frame[col], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        bad = (pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna()).to_numpy()
        j = int(np.argmax(bad))
        raise ValueError(f"{what}: column {col!r} is not numeric in {_row(frame, j)} "
                         f"(value {_label(frame[col].iloc[j])!r})") from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{what}: column {col!r} is NaN or infinite in {_row(frame, int(np.argmax(bad)))}")
    if positive:
        bad = (values < 0) if allow_zero else (values <= 0)
        if bad.any():
            j = int(np.argmax(bad))
            need = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"{what}: column {col!r} must be {need}, got {float(values[j])!r} in {_row(frame, j)}")
    if limit is not None:
        largest, hint = limit
        bad = np.abs(values) > largest
        if bad.any():
            j = int(np.argmax(bad))
            raise ValueError(f"{what}: column {col!r} is {float(values[j])!r} in {_row(frame, j)}: "
                             f"{hint(float(values[j]))}")
    return values


_VOL_LIMIT = (MAX_IMPLIED_VOL, lambda v: f"above {MAX_IMPLIED_VOL:g} ({MAX_IMPLIED_VOL:.0%}) it looks like percent; "
                                         f"{decimal_hint(v)}")
_EXPIRY_LIMIT = (MAX_EXPIRY, lambda v: f"above {MAX_EXPIRY:g} years it looks like days; pass years (days / 365: "
                                       f"{v / 365:.4g} for {v:g} days)")
_RATE_LIMIT = (MAX_ABS_RATE, lambda v: f"beyond +-{MAX_ABS_RATE:g} ({MAX_ABS_RATE:.0%}) it looks like percent; "
                                       f"{decimal_hint(v)}")


def _rate_function(rate, ids):
    """rate -> f(surface index, expiries) giving zero rates. rate: a number (or one per surface), or a
    DataFrame(expiry, zero_rate[, surface_id]) interpolated linearly in expiry, flat beyond its ends."""
    if isinstance(rate, pd.DataFrame):
        missing = [c for c in ("expiry", "zero_rate") if c not in rate.columns]
        if missing:
            raise ValueError(f"rate: missing column(s) {missing}; a rate curve needs columns expiry, zero_rate")
        if len(rate) == 0:
            raise ValueError("rate: the zero-rate curve is empty")
        t = _check_column(rate, "expiry", "rate", positive=True, allow_zero=True, limit=_EXPIRY_LIMIT)
        z = _check_column(rate, "zero_rate", "rate", limit=_RATE_LIMIT)
        warn_percent_like_rate("rate: column 'zero_rate'", z)
        if "surface_id" in rate.columns:
            if ids == [None]:
                raise ValueError("rate: the zero-rate curve has a surface_id column but the surface has none (one "
                                 "surface): drop the curve's surface_id column, or give the surface a surface_id "
                                 "column")
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
    r = _per_surface("rate", rate, ids, rate_like=True)
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


def _prepare(surface, spot, rate, dividend, check_vols=True):
    """check_vols: the implied_vol column is market data to fit (False where it is not read)."""
    if not isinstance(surface, pd.DataFrame):
        raise ValueError(f"surface must be a pandas DataFrame with columns strike, expiry, implied_vol, got "
                         f"{type(surface).__name__}")
    needed = ("strike", "expiry", "implied_vol") if check_vols else ("strike", "expiry")
    missing = [c for c in needed if c not in surface.columns]
    if missing:
        raise ValueError(f"surface: missing column(s) {missing}; need {', '.join(needed)} "
                         f"(and surface_id for a batch)")
    if len(surface) == 0:
        raise ValueError("surface: no rows")
    strike = _check_column(surface, "strike", "surface", positive=True)
    expiry = _check_column(surface, "expiry", "surface", positive=True, limit=_EXPIRY_LIMIT)
    if check_vols:
        vol = _check_column(surface, "implied_vol", "surface", positive=True, limit=_VOL_LIMIT)
    else:
        vol = np.full(len(surface), 0.2)
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
    divs = _per_surface("dividend", dividend, ids, rate_like=True)
    rate_of = _rate_function(rate, ids)

    groups = [np.flatnonzero(codes == j) for j in range(len(ids))]
    for j, g in enumerate(groups):
        if check_vols and len(g) < len(FIELDS):   # a calibration's rule; pricing takes any number
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
        if check_vols:
            _check_reach(surface, g, x[j, : len(g)], vol[g], expiry[g], strike[g], fwd[k])
        eidx[j, : len(g)] = k
        mvol[j, : len(g)] = vol[g]
        mask[j, : len(g)] = 1.0
    return _Data(x, eidx, mvol, mask, exps, groups), ids, batch


#: an option's distance from the forward, |ln(F / K)| / (implied_vol sqrt(expiry)), beyond which it is refused:
#: quoted options lie within about 5 (a 10-delta wing is 1.3); at 10 the price is ~1e-23 of the forward, which
#: no pricer resolves (in float32 the model's vols are not finite there; in float64 a fit to moneyness given
#: as strikes "converged" at sse 749 vol points^2 with no warning)
MAX_STANDARD_DEVIATIONS = 10.0


def _check_reach(surface, rows, log_moneyness, vol, expiry, strike, forward):
    """Options of one surface (positions ``rows`` of ``surface``) more than ``MAX_STANDARD_DEVIATIONS``
    implied standard deviations from their forward: where most are (the median), the units are wrong and a
    ValueError names the first; where a few are (a vendor's fixed-moneyness grid: 130% at one week, 15% vol,
    is 13), a RuntimeWarning names them (beyond the pricer's resolution, they may not be fitted)."""
    distance = np.abs(log_moneyness) / (vol * np.sqrt(expiry))
    far = distance > MAX_STANDARD_DEVIATIONS
    if not far.any():
        return
    i = int(np.argmax(far))
    first = (f"the option in {_row(surface, int(rows[i]))} (strike {strike[i]:.6g}, expiry {expiry[i]:.4g}) lies "
             f"{distance[i]:.0f} implied standard deviations from its forward {forward[i]:.6g} (|ln(F / K)| / "
             f"(implied_vol sqrt(expiry)))")
    if np.median(distance) > MAX_STANDARD_DEVIATIONS:
        raise ValueError(f"surface: {first}, as do most of its options (quotes lie within about 5, the limit is "
                         f"{MAX_STANDARD_DEVIATIONS:g}): a strike in other units (moneyness?) or a spot off by a factor?")
    warnings.warn(f"calibrate_heston: {int(far.sum())} option(s) lie beyond {MAX_STANDARD_DEVIATIONS:g} implied "
                  f"standard deviations from the forward, where prices fall below the pricer's resolution and their "
                  f"vols may not be fitted: {first}; consider dropping them", RuntimeWarning, stacklevel=user_stacklevel())


def _initial(initial, ids, data: _Data, *, name="initial", feller=False):
    """Natural parameters (S, 5): the calibration's start (``name`` "initial"; None: the generic start) or the
    parameters to price at (``name`` "params"). Each value must be a Heston parameter (v0 >= 0, theta > 0,
    kappa > 0, xi > 0, |rho| <= 1; xi = 0 allowed for pricing: deterministic variance); a start outside the
    optimiser's BOUNDS (or |rho| > RHO_MAX) is moved onto them with a RuntimeWarning naming it. With ``feller`` xi is not held to BOUNDS["xi"] (the optimiser bounds the ratio
    xi / sqrt(2 kappa theta) instead, and a start beyond Feller starts at 0.99 of it). ValueError names
    ``name[field]`` (and the surface)."""
    S = len(ids)
    if initial is None:
        w = data.mask / data.mask.sum(axis=1, keepdims=True)
        var = np.sum(w * data.market_vol**2, axis=1)
        cols = [var, np.full(S, GENERIC_START["kappa"]), var, np.full(S, GENERIC_START["xi"]),
                np.full(S, GENERIC_START["rho"])]
        return np.stack(cols, axis=1)
    p = as_heston_params(initial)
    cols = []
    for field in FIELDS:
        value = getattr(p, field)
        if isinstance(value, pd.Series) and S > 1 and all(i in value.index for i in ids):
            value = value.loc[ids].to_numpy()
        cols.append(_per_surface(f"{name}[{field!r}]", value, ids))
    out = np.stack(cols, axis=1)
    start = name == "initial"

    def refuse(k, bad, text):
        if bad.any():
            j = int(np.argmax(bad))
            where = "" if S == 1 else f" for surface_id {_label(ids[j])!r}"
            raise ValueError(f"{name}[{FIELDS[k]!r}]{where} = {float(out[j, k])!r}: {text}")

    v0, kappa, theta, xi, rho = (out[:, k] for k in range(5))
    refuse(0, v0 < 0, "a variance must be >= 0")
    refuse(1, kappa <= 0, "the mean-reversion speed must be > 0")
    refuse(2, theta <= 0, "the long-run variance must be > 0")
    refuse(3, (xi <= 0) if start else (xi < 0), "the vol of variance must be > 0" if start else
           "the vol of variance must be >= 0")
    refuse(4, np.abs(rho) > 1, "a correlation must be within [-1, 1]")
    if start:
        # a valid start outside the optimiser's box (a GARCH-mapped kappa of 60 from persistence 0.76, a v0
        # of 0) is moved onto the box, with a warning: only the start moves, the optimum does not depend on it
        limits = {field: BOUNDS[field] for field in FIELDS[:4] if not (field == "xi" and feller)}
        limits["rho"] = (-RHO_MAX, RHO_MAX)
        for k, field in enumerate(FIELDS):
            if field not in limits:
                continue
            lo, hi = limits[field]
            outside = (out[:, k] < lo) | (out[:, k] > hi)
            if outside.any():
                j = int(np.argmax(outside))
                where = "" if S == 1 else f" for surface_id {_label(ids[j])!r}"
                warnings.warn(f"{name}[{field!r}]{where} = {float(out[j, k])!r} is outside the optimiser's bounds "
                              f"[{lo:g}, {hi:g}]: the calibration starts from the nearest bound", RuntimeWarning,
                              stacklevel=user_stacklevel())
                out[:, k] = np.clip(out[:, k], lo, hi)
    return out
