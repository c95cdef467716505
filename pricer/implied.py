"""Black–Scholes implied volatility (vectorised numpy): the report's smile plot needs it."""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

#: the largest total volatility vol * sqrt(expiry) searched: the price is then within 1e-45 of its bound
MAX_TOTAL_VOL = 30.0
#: an out-of-the-money value this small against the price given is its rounding: no vol can be read off it
RESOLUTION = 1e-12


def _black_scholes(spot, strike, expiry, vol, rate, dividend, call):
    forward = spot * np.exp((rate - dividend) * expiry)
    stdev = vol * np.sqrt(expiry)
    d1 = np.log(forward / strike) / stdev + 0.5 * stdev
    d2 = d1 - stdev
    sign = 1.0 if call else -1.0
    return np.exp(-rate * expiry) * sign * (forward * norm.cdf(sign * d1) - strike * norm.cdf(sign * d2))


def implied_volatility(prices, spot, strikes, expiry, rate, dividend, call) -> np.ndarray:
    """Implied vols (annualised, decimal) of European prices (currency); every argument broadcasts.

    Each price is inverted through its out-of-the-money side (put-call parity), where the price carries
    the volatility without an intrinsic part to cancel. NaN where no volatility gives the price: outside
    the no-arbitrage bounds, or where its out-of-the-money part is below ``RESOLUTION`` of the price (an
    in-the-money option so deep that its time value is the price's rounding). ValueError names a spot,
    strike or expiry that is not a positive finite number.
    """
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (prices, spot, strikes, expiry, rate,
                                                                        dividend)), np.asarray(call, dtype=bool))
    prices, spot, strikes, expiry, rate, dividend, calls = arrays
    for name, values in (("spot", spot), ("strikes", strikes), ("expiry", expiry)):
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"{name} must be positive finite numbers, got {values[~(np.isfinite(values) & (values > 0))][0]!r}")
    discount = np.exp(-rate * expiry)
    forward = spot * np.exp((rate - dividend) * expiry)
    # the out-of-the-money side: a call above the forward, a put below it
    otm_call = strikes >= forward
    parity = discount * (forward - strikes)            # call - put
    otm = np.where(otm_call, np.where(calls, prices, prices + parity), np.where(calls, prices - parity, prices))
    bound = np.where(otm_call, discount * forward, discount * strikes)
    vols = np.full(prices.shape, np.nan)
    for i in np.ndindex(prices.shape):
        if not (otm[i] > RESOLUTION * abs(prices[i]) and otm[i] < bound[i]):
            continue

        def gap(total_vol):
            vol = total_vol / np.sqrt(expiry[i])
            return _black_scholes(spot[i], strikes[i], expiry[i], vol, rate[i], dividend[i], otm_call[i]) - otm[i]

        low = 1e-8
        if gap(low) >= 0 or gap(MAX_TOTAL_VOL) <= 0:
            continue   # the price is beyond what a total vol in (1e-8, 30) reaches: at a bound's rounding
        vols[i] = brentq(gap, low, MAX_TOTAL_VOL, xtol=1e-14, rtol=1e-12) / np.sqrt(expiry[i])
    return vols
