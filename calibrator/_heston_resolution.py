"""Options float32 cannot fit: where an option's price is so small against the forward that float32's
rounding moves its implied vol by more than the fit's own accuracy, it is left out of the fit (its model vol
NaN: the vol of a rounded price is noise) and named in a RuntimeWarning.

Measured (a Heston surface of 1 week .. 1 year, strikes 70 .. 130, fitted in float32 against the float64
fit): options whose Black vega per unit forward, phi(d1) sqrt(T), is about 1e-8 came back 3 to 4 vol points
off (a 1-week 80 put, a 2-week 120 call), and pulled kappa 7% off; from 5e-6 up every error stayed within the
fit's 0.1 vol point. The floor sits between, with room for other parameters: 1e-6."""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from ._heston_surface import _label, _row
from .heston_map import FIELDS

#: Black vega per unit forward (d(price / F) / d vol) below which a float32 fit leaves an option out
FLOAT32_MIN_VEGA = 1e-6


def black_vega_per_forward(data) -> np.ndarray:
    """phi(d1) sqrt(T) of every option at its market vol (S, M); d1 = (ln(F/K) + s^2/2) / s, s = vol sqrt(T)."""
    expiry = np.take_along_axis(data.expiries, data.expiry_index, axis=1)
    total = data.market_vol * np.sqrt(expiry)
    d1 = (data.log_moneyness + 0.5 * total * total) / total
    return np.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi) * np.sqrt(expiry)


def leave_out_unresolved(data, dtype, surface, ids, batch: bool):
    """``data`` with the options float32 cannot resolve masked out (float64: unchanged), keeping at least
    5 options a surface (where fewer would stay, none is left out and the warning says so)."""
    if np.dtype(dtype).itemsize >= 8:
        return data
    small = (black_vega_per_forward(data) < FLOAT32_MIN_VEGA) & (data.mask > 0)
    if not small.any():
        return data
    mask = data.mask.copy()
    left_out, kept = [], []
    for j in np.flatnonzero(small.any(axis=1)):
        rows = [data.rows[j][i] for i in np.flatnonzero(small[j])]
        if mask[j].sum() - len(rows) >= len(FIELDS):
            mask[j, small[j]] = 0.0
            left_out += rows
        else:
            kept.append(j)
    named = ", ".join(f"{_row(surface, int(r))} (strike {float(surface['strike'].iloc[r]):.6g}, expiry "
                      f"{float(surface['expiry'].iloc[r]):.4g})" for r in left_out[:3])
    text = (f"calibrate_heston in float32: {len(left_out)} option(s) priced below float32's resolution (Black vega "
            f"under {FLOAT32_MIN_VEGA:g} of the forward, where rounding moves the implied vol by vol points) are "
            f"left out of the fit (their model_vol and error NaN): {named}"
            f"{', ...' if len(left_out) > 3 else ''}") if left_out else ""
    if kept:
        which = ", ".join(repr(_label(ids[j])) for j in kept[:3]) if batch else "the surface"
        text += ("; " if text else "calibrate_heston in float32: ") + (
            f"{which} would keep fewer than 5 options without its unresolved ones, so they stay in its fit")
    from pricer._stacklevel import user_stacklevel
    warnings.warn(text + "; calibrate in float64 (jax_enable_x64) to fit them", RuntimeWarning,
                  stacklevel=user_stacklevel())
    return dataclasses.replace(data, mask=mask)
