"""Closed-form proxies that make the stress grid accurate over crisis-wide ranges (a control variate for
interpolation).

Over a stress set the spot can move by half and the variance by ten times: option values bend too much
between grid nodes for any interpolation of the prices themselves. Black-Scholes closed forms bend the
same way, so ``book_stress`` interpolates the *difference* between the Monte Carlo grid and a proxy,
and adds the proxy back exactly at each scenario. The difference is smooth (what is left is the model's
departure from Black-Scholes and Monte Carlo error common to all states), so a coarse grid reads it well.

The proxy's volatility at a state is the model's expected average volatility over the remaining life:
Black-Scholes: vol x sqrt(ratio); Heston: the mean of E[v_t] over [0, T] from v0 x ratio; GARCH: the
mean of the daily variance forecasts over the remaining trading days from h0 x ratio, annualised.
Products: Europeans and discretely monitored barriers -> the European; continuous barriers -> the
Reiner-Rubinstein barrier; Asians -> the discrete geometric Asian with the same fixings and accrual.
Any proxy would keep the method exact at the nodes; a good one only makes the reading better.
"""
from __future__ import annotations

import numpy as np

from .analytic import barrier_price, black_scholes_price, geometric_asian_bs_price
from .models import BlackScholes, Garch, Heston
from .scenarios import TRADING_DAYS

__all__ = ["proxy_volatility", "proxy_values"]


def proxy_volatility(model, log_variance_ratio: np.ndarray, remaining: float) -> np.ndarray:
    """Annualised Black-Scholes volatility standing in for ``model`` with its variance state scaled by
    exp(log_variance_ratio), over ``remaining`` years. Any array shape."""
    ratio = np.exp(np.asarray(log_variance_ratio, dtype=np.float64))
    if isinstance(model, BlackScholes):
        return float(model.vol) * np.sqrt(ratio)
    if isinstance(model, Heston):
        kappa, theta = float(model.kappa), float(model.theta)
        weight = -np.expm1(-kappa * remaining) / (kappa * remaining) if kappa * remaining > 1e-12 else 1.0
        return np.sqrt(np.maximum(theta + (float(model.v0) * ratio - theta) * weight, 1e-12))
    if isinstance(model, Garch):
        persistence = float(model.alpha + model.beta + 0.5 * model.gamma)
        long_run = float(model.omega) / (1.0 - persistence)
        days = max(remaining * TRADING_DAYS, 1.0)
        weight = -np.expm1(days * np.log(persistence)) / ((1.0 - persistence) * days)
        daily = long_run + (float(np.asarray(model.initial_variance)) * ratio - long_run) * weight
        return np.sqrt(np.maximum(daily, 1e-16) * TRADING_DAYS)
    raise ValueError(f"no proxy volatility for {type(model).__name__}")


def proxy_values(kind: str, continuous: bool, columns: dict, model, remaining: float, x: np.ndarray,
                 log_variance_ratio: np.ndarray, accrued=None, later_fixings=()) -> np.ndarray:
    """Proxy values (rows, M) of a task's trades at states (x (rows, M) or (M,), log variance ratio (M,)):
    spot e^x. ``accrued`` = (past average (rows, M), past count (rows, 1 or M)) for Asians; ``later_fixings``
    their remaining fixing times."""
    spot = float(np.asarray(model.spot)) * np.exp(np.asarray(x, dtype=np.float64))
    vol = proxy_volatility(model, log_variance_ratio, remaining)
    rate, dividend = float(model.rate), float(model.dividend)
    field = lambda name: columns[name][:, None]  # noqa: E731 - (rows, 1)
    if kind == "european" or (kind == "barrier" and not continuous):
        value = black_scholes_price(spot, field("strike"), remaining, vol, rate, dividend, field("call"))
    elif kind == "barrier":
        value = barrier_price(spot, field("strike"), field("barrier"), remaining, vol, rate, dividend, field("rebate"),
                              field("call"), field("up"), field("knock_in"))
    else:
        average, count = accrued
        seasoned = np.asarray(count) > 0
        past_log_sum = np.where(seasoned, np.asarray(count) * np.log(np.where(seasoned, average, 1.0)), 0.0)
        value = geometric_asian_bs_price(spot, field("strike"), np.asarray(later_fixings), vol, rate, dividend,
                                         field("call"), remaining, past_log_sum=past_log_sum, past_count=count)
    return np.asarray(value, dtype=np.float64)
