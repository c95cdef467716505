"""heston_implied_vols: Heston prices and implied vols of given parameters on a surface's options, through the
calibrator's own pricing path (the per-expiry Fourier quadrature, verified against 2N nodes; heston_fit.py's
docstring describes it). What a calibration is checked against, and what a desk uses to price a surface from
parameters it already has.
"""
from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._heston_lanes import MAX_PASSES, NODE_BUCKETS, _groups, _Lanes, _padded
from ._heston_surface import _initial, _label, _prepare, _rate_function
from ._validation import is_whole
from .heston_map import FIELDS
from pricer._stacklevel import user_stacklevel

__all__ = ["heston_implied_vols"]

#: the most Gauss-Legendre nodes the pricing widens to (calibration stops at NODE_BUCKETS[-1]): a far wing
#: at a 1-day expiry with v0 = 1e-4 needed 16,384, |rho| = 1 at 7 days 65,536 (both came back garbage with
#: 8,192 before: a 50 put priced at -2.5e-4, a 300 call at 548% vol)
PRICING_MAX_NODES = 1 << 16


def _fixed_nodes(n_nodes):
    """n_nodes as an int (None: the default, widened until verified), else ValueError naming it."""
    if n_nodes is None:
        return None
    if not is_whole(n_nodes) or not 8 <= n_nodes <= PRICING_MAX_NODES:
        raise ValueError(f"n_nodes must be a whole number from 8 to {PRICING_MAX_NODES:,} (or None: chosen and "
                         f"verified per surface), got {n_nodes!r}")
    return int(n_nodes)


def heston_implied_vols(params, surface: pd.DataFrame, spot, rate, dividend=0.0, *, n_nodes: int | None = None,
                        dtype=None) -> pd.DataFrame:
    """Heston prices and implied vols on a surface's options, through the calibrator's pricing path.

    params: anything with v0, kappa, theta, xi, rho (scalars; or one per surface for a batch with surface_id):
        v0 >= 0, theta > 0, kappa > 0, xi >= 0, |rho| <= 1, else ValueError naming ``params['<field>']``. xi = 0
        is the deterministic-variance limit: the price is Black-Scholes with the integrated variance
        theta T + (v0 - theta)(1 - e^{-kappa T}) / kappa, so model_vol = sqrt(that / T).
    surface: DataFrame with strike, expiry (and surface_id); implied_vol is not needed (nor read). spot, rate,
    dividend as in ``calibrate_heston``. n_nodes: Gauss-Legendre nodes per expiry (default: chosen per surface,
    then widened until the vols agree with twice as many nodes to QUAD_TOL, as in ``calibrate_heston``, up to
    ``PRICING_MAX_NODES``; FloatingPointError, naming the first option, if they still do not). A fixed n_nodes
    (8 to 65,536) is checked against twice as many nodes too, and a RuntimeWarning says where they differ;
    above 8,192 the rule is made of 8,192-node panels (n_nodes rounded up to whole panels).

    Returns a copy of ``surface`` with columns forward, discount, call (the OTM side priced: call for K >= F, put
    otherwise), model_price (that option's price, currency) and model_vol (decimal; NaN where the price is at
    rounding level, ~1e-15 of the strike in float64: the vol of such a price is noise). Where the quadrature
    yields no finite price (extreme parameters, e.g. variances ~1e-12), FloatingPointError names the row.
    """
    frame = surface.copy()
    fixed = _fixed_nodes(n_nodes)
    data, ids, batch = _prepare(frame, spot, rate, dividend, check_vols=False)
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    p_host = _initial(params, ids, data, name="params")
    p = jnp.asarray(p_host, dtype)
    lanes = _Lanes(data, dtype)
    lanes.start(p)
    lanes.max_nodes = PRICING_MAX_NODES
    if fixed:
        lanes.nodes[:] = fixed
    beta, vols = np.full(data.mask.shape, np.nan), np.full(data.mask.shape, np.nan)
    unverified, no_vol = np.zeros(data.mask.shape, bool), np.zeros(data.mask.shape, bool)
    gap = np.zeros(len(ids))
    pending = np.arange(len(ids))
    # each pass verifies a lane or widens it (a longer range, or twice the nodes up to max_nodes): bounded
    for _ in range(2 * MAX_PASSES + int(np.log2(PRICING_MAX_NODES // NODE_BUCKETS[0]))):
        for n, idx in list(_groups(pending, lanes.nodes)):
            # beyond the calibrator's largest bucket (rare: a far wing, rho near +-1) a group is padded only to
            # its own size's power of two: one such surface in a batch of 64 was priced 64 times (42 s, 7.7 GB)
            sub = _padded(idx, len(ids) if n <= NODE_BUCKETS[-1] else len(idx))
            k = len(idx)
            v, b, good, fresh = lanes.check(p[sub], sub, n)  # on success U and N stay as they were
            beta[idx], vols[idx] = b[:k], v[:k]
            unverified[idx], no_vol[idx], gap[idx] = lanes.disagree[:k], lanes.vol_unresolved[:k], lanes.gap[:k]
            failed = ~good[:k] & (n < lanes.max_nodes) & (not fixed)
            if failed.any():
                lanes.widen(idx[failed], fresh[:k][failed])
            pending = pending[~np.isin(pending, idx[~failed])]
        if not pending.size:
            break

    def unpad(a):
        out = np.full(len(frame), np.nan)
        for j, rows in enumerate(data.rows):
            out[rows] = a[j, : len(rows)]
        return out

    vol, beta, log_m = unpad(vols), unpad(beta), unpad(data.log_moneyness)
    strike = frame["strike"].to_numpy(dtype=float)
    expiry = frame["expiry"].to_numpy(dtype=float)
    fwd = strike * np.exp(log_m)
    codes = (pd.factorize(frame["surface_id"], sort=False)[0] if "surface_id" in frame.columns
             else np.zeros(len(frame), int))
    rate_of = _rate_function(rate, ids)
    zero = np.empty(len(frame))
    for j in range(len(ids)):
        sel = codes == j
        zero[sel] = rate_of(j, expiry[sel])
    discount = np.exp(-zero * expiry)
    result = surface.copy()
    result["forward"], result["discount"], result["call"] = fwd, discount, strike >= fwd
    price = discount * np.sqrt(fwd * strike) * beta
    bad = ~(np.isfinite(price) & np.isfinite(vol))
    # a price at rounding level (it agrees with twice the nodes, its vol does not) has no implied vol to read
    # off: NaN, not the vol of rounding noise (a 1-day 300 call came back at 548%); the price itself is >= 0
    rounding_level = ((unpad(no_vol.astype(float)) > 0) | (price <= 0)) & ~bad   # <= 0: the inversion's clip
    vol = np.where(rounding_level, np.nan, vol)
    bad = bad & ~rounding_level
    result["model_price"] = np.maximum(price, 0.0)
    result["model_vol"] = vol
    unchecked = unpad(unverified.astype(float)) > 0
    if unchecked.any() and not bad.any():
        i = int(np.argmax(unchecked))
        j = int(codes[i])
        where = f" (surface_id {_label(ids[j])!r})" if batch else ""
        message = (f"heston_implied_vols: {int(unchecked.sum())} price(s) differ from the same quadrature with twice "
                   f"the nodes (implied vols by up to {float(np.max(gap)):.2g}), first in row {_label(frame.index[i])!r}"
                   f"{where} (strike {strike[i]:g}, expiry {expiry[i]:g}) at params "
                   f"{dict(zip(FIELDS, p_host[j].tolist()))}")
        if fixed:   # the caller chose the quadrature: its prices, with the warning
            warnings.warn(f"{message}, with n_nodes={fixed}: raise n_nodes, or leave it to the default, which "
                          f"widens the quadrature until the prices agree", RuntimeWarning, stacklevel=user_stacklevel())
        else:
            raise FloatingPointError(
                f"{message}, even with {PRICING_MAX_NODES:,} nodes: these parameters (e.g. |rho| = 1, or a variance "
                f"near 0 at a short expiry) put prices below what the Fourier quadrature resolves"
                + (" in float32: price in float64 (dtype='float64')" if dtype.itemsize < 8 else ""))
    if bad.any():
        i = int(np.argmax(bad))
        j = int(codes[i])
        where = f" (surface_id {_label(ids[j])!r})" if batch else ""
        raise FloatingPointError(
            f"heston_implied_vols: no finite price for {int(bad.sum())} option(s), first in row "
            f"{_label(frame.index[i])!r}{where} (strike {strike[i]:g}, expiry {expiry[i]:g}) at params "
            f"{dict(zip(FIELDS, p_host[j].tolist()))}: "
            + ("in float32, prices below about 1e-7 of the strike are beyond its resolution: price in float64 "
               "(dtype='float64'), or the parameters are too extreme for the Fourier quadrature"
               if dtype.itemsize < 8 else "the parameters are too extreme for the Fourier quadrature"))
    return result
