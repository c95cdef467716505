"""heston_implied_vols: Heston prices and implied vols of given parameters on a surface's options, through the
calibrator's own pricing path (the per-expiry Fourier quadrature, verified against 2N nodes; heston_fit.py's
docstring describes it). What a calibration is checked against, and what a desk uses to price a surface from
parameters it already has.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._heston_lanes import MAX_PASSES, NODE_BUCKETS, _beta_vols_batch, _groups, _Lanes, _padded
from ._heston_surface import _initial, _label, _prepare, _rate_function
from .heston_map import FIELDS

__all__ = ["heston_implied_vols"]


def heston_implied_vols(params, surface: pd.DataFrame, spot, rate, dividend=0.0, *, n_nodes: int | None = None,
                        dtype=None) -> pd.DataFrame:
    """Heston prices and implied vols on a surface's options, through the calibrator's pricing path.

    params: anything with v0, kappa, theta, xi, rho (scalars; or one per surface for a batch with surface_id):
        v0 >= 0, theta > 0, kappa > 0, xi >= 0, |rho| <= 1, else ValueError naming ``params['<field>']``. xi = 0
        is the deterministic-variance limit: the price is Black-Scholes with the integrated variance
        theta T + (v0 - theta)(1 - e^{-kappa T}) / kappa, so model_vol = sqrt(that / T).
    surface: DataFrame with strike, expiry (and surface_id); implied_vol is not needed (nor read). spot, rate,
    dividend as in ``calibrate_heston``. n_nodes: Gauss-Legendre nodes per expiry (default: chosen per surface,
    then widened until the vols agree with twice as many nodes to QUAD_TOL, as in ``calibrate_heston``).

    Returns a copy of ``surface`` with columns forward, discount, call (the OTM side priced: call for K >= F, put
    otherwise), model_price (that option's price, currency) and model_vol (decimal). Where the quadrature yields
    no finite price (extreme parameters, e.g. variances ~1e-12), FloatingPointError names the row.
    """
    frame = surface.copy()
    data, ids, batch = _prepare(frame, spot, rate, dividend, check_vols=False)
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    p_host = _initial(params, ids, data, name="params")
    p = jnp.asarray(p_host, dtype)
    lanes = _Lanes(data, dtype)
    lanes.start(p)
    if n_nodes:
        lanes.nodes[:] = int(n_nodes)
    beta, vols = np.full(data.mask.shape, np.nan), np.full(data.mask.shape, np.nan)
    pending = np.arange(len(ids))
    for _ in range(2 * MAX_PASSES):
        for n, idx in list(_groups(pending, lanes.nodes)):
            sub, k = _padded(idx, len(ids)), len(idx)
            if n_nodes:
                x, eidx, _, _, expiries = lanes.take(sub)
                b, v = (np.asarray(a) for a in _beta_vols_batch(p[sub], x, eidx, expiries, lanes.quad(sub, n)))
                good = np.ones(len(sub), bool)
            else:
                v, b, good, fresh = lanes.check(p[sub], sub, n)  # on success U and N stay as they were
            beta[idx], vols[idx] = b[:k], v[:k]
            failed = ~good[:k] & (n < NODE_BUCKETS[-1])
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
    result["model_price"] = discount * np.sqrt(fwd * strike) * beta
    result["model_vol"] = vol
    bad = ~(np.isfinite(result["model_price"].to_numpy()) & np.isfinite(vol))
    if bad.any():
        i = int(np.argmax(bad))
        j = int(codes[i])
        where = f" (surface_id {_label(ids[j])!r})" if batch else ""
        raise FloatingPointError(
            f"heston_implied_vols: no finite price for {int(bad.sum())} option(s), first in row "
            f"{_label(frame.index[i])!r}{where} (strike {strike[i]:g}, expiry {expiry[i]:g}) at params "
            f"{dict(zip(FIELDS, p_host[j].tolist()))}: the parameters are too extreme for the Fourier quadrature")
    return result
