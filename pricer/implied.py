"""Black–Scholes implied volatility (vectorised numpy): the report's smile plot needs it."""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm


def _black_scholes(spot, strike, expiry, vol, rate, dividend, call):
    forward = spot * np.exp((rate - dividend) * expiry)
    stdev = vol * np.sqrt(expiry)
    d1 = np.log(forward / strike) / stdev + 0.5 * stdev
    d2 = d1 - stdev
    sign = 1.0 if call else -1.0
    return np.exp(-rate * expiry) * sign * (forward * norm.cdf(sign * d1) - strike * norm.cdf(sign * d2))


def implied_volatility(prices, spot, strikes, expiry, rate, dividend, call) -> np.ndarray:
    """Implied vols (decimal) for European prices; NaN where the price is outside the no-arbitrage bounds."""
    prices, strikes = np.broadcast_arrays(np.asarray(prices, float), np.asarray(strikes, float))
    calls = np.broadcast_to(np.asarray(call, bool), prices.shape)
    vols = np.full(prices.shape, np.nan)
    for i in np.ndindex(prices.shape):
        objective = lambda vol: _black_scholes(spot, strikes[i], expiry, vol, rate, dividend, calls[i]) - prices[i]  # noqa: E731
        try:
            vols[i] = brentq(objective, 1e-4, 5.0, xtol=1e-10)
        except ValueError:
            pass
    return vols
