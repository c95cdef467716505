"""GARCH(1,1) / GJR-GARCH under Duan's (1995) locally risk-neutral valuation relationship.

Daily log return  log(S_{t+1}/S_t) = (r - q)/252 - h_t/2 + sqrt(h_t) e_t,  e_t ~ N(0, 1) under Q,
h_{t+1} = omega + (alpha + gamma 1{e_t - lam < 0}) h_t (e_t - lam)^2 + beta h_t,
with ``lam`` = ``price_of_risk`` (Duan's lambda; 0 when the fit had a zero mean). omega and h0 are in
daily return units (decimal returns squared); one step per trading day, 252 a year.
"""
from __future__ import annotations

import math
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from .._fields import is_concrete, non_negative, numeric_field, positive, pytree_dataclass, rate_field
from .base import Model

TRADING_DAYS = 252


@pytree_dataclass
class Garch(Model):
    """GARCH(1,1)/GJR; h0=None starts at the stationary variance omega / (1 - alpha - beta - gamma/2)."""

    spot: object
    omega: object
    alpha: object
    beta: object
    gamma: object = 0.0
    h0: object = None
    rate: object = 0.0
    dividend: object = 0.0
    price_of_risk: object = 0.0

    n_normals = 1
    periods_per_year: ClassVar[int] = TRADING_DAYS
    optional_fields: ClassVar[tuple[str, ...]] = ("h0",)

    def __post_init__(self):
        checks = {
            "spot": (positive, "> 0"), "omega": (positive, "> 0"), "alpha": (non_negative, ">= 0"),
            "beta": (non_negative, ">= 0"), "gamma": (None, ""),
            "price_of_risk": (None, ""),
        }
        for name, (check, requirement) in checks.items():
            object.__setattr__(self, name, numeric_field(name, getattr(self, name), check=check, requirement=requirement))
        for name in ("rate", "dividend"):
            object.__setattr__(self, name, rate_field(name, getattr(self, name)))
        if all(is_concrete(v) for v in (self.alpha, self.beta, self.gamma)):
            if np.any(self.alpha + self.gamma < 0):   # arch's constraint: negative shocks never lower variance
                raise ValueError(f"alpha + gamma must be >= 0, got {np.min(self.alpha + self.gamma)!r}")
            persistence = self.alpha + self.beta + 0.5 * self.gamma
            if np.any(persistence >= 1):
                raise ValueError(f"alpha + beta + gamma/2 must be < 1 (a stationary GARCH), got {float(np.max(persistence))!r}")
        if self.h0 is not None:
            object.__setattr__(self, "h0", numeric_field("h0", self.h0, check=positive, requirement="> 0"))

    def domain(self):
        bounds = tuple((0.0, {name: 1.0}) for name in ("spot", "omega", "alpha", "beta"))
        bounds += ((0.0, {"alpha": 1.0, "gamma": 1.0}), (1.0, {"alpha": -1.0, "beta": -1.0, "gamma": -0.5}))
        return bounds + (((0.0, {"h0": 1.0}),) if self.h0 is not None else ())

    def log_variance(self, expiry):
        # the sum of E_Q[h_t] over the days to expiry. Under Q the shock is e - lam, so the variance's
        # persistence is p = beta + alpha E[(e-lam)^2] + gamma E[(e-lam)^2 1{e<lam}] (alpha + beta + gamma/2
        # at lam = 0, larger otherwise, possibly >= 1: Duan's risk-neutral variance need not be stationary)
        # and E_Q[h_t] = L + p^t (h0 - L), L = omega / (1 - p)
        lam = np.asarray(self.price_of_risk, np.float64)
        second = 1.0 + lam * lam
        normal_cdf = 0.5 * np.vectorize(math.erfc)(-lam / math.sqrt(2.0))
        normal_pdf = np.exp(-0.5 * lam * lam) / math.sqrt(2.0 * math.pi)
        persistence = self.beta + self.alpha * second + self.gamma * (second * normal_cdf + lam * normal_pdf)
        days = np.maximum(np.round(np.asarray(expiry) * self.periods_per_year), 1.0)
        h0 = np.asarray(self.initial_variance, np.float64)
        # sum_{t<days} p^t, written to stay exact near p = 1 (where it tends to days)
        unit = np.abs(persistence - 1.0) < 1e-12
        safe = np.where(unit, 0.5, persistence)
        geometric = np.where(unit, days, -np.expm1(days * np.log(safe)) / (1.0 - safe))
        # sum_t E[h_t] = h0 sum p^t + omega sum_t sum_{s<t} p^s = h0 G + omega (days - G) / (1 - p)
        accrued = np.where(unit, days * (days - 1.0) / 2.0, (days - geometric) / np.where(unit, 1.0, 1.0 - safe))
        return h0 * geometric + self.omega * accrued

    @property
    def initial_variance(self):
        """h0, or the stationary daily variance when h0 is None."""
        if self.h0 is not None:
            return self.h0
        return self.omega / (1.0 - self.alpha - self.beta - 0.5 * self.gamma)

    def init(self, n_paths, dtype):
        rows = jnp.shape(self.spot)[0]
        return {
            "x": jnp.broadcast_to(self.log_spot(dtype), (rows, n_paths)),
            "h": jnp.broadcast_to(jnp.asarray(self.initial_variance, dtype), (rows, n_paths)),
        }

    def step(self, state, dt, normals, scheme=None):
        x, h = state["x"], state["h"]
        z = normals[0]
        # h >= omega > 0 on every path (omega and h0 are checked positive): a plain square root, whose
        # derivative is one multiply per Greek
        x_next = x + (((self.rate - self.dividend) * dt - 0.5 * h) + jnp.sqrt(h) * z)   # increment first: base.py
        shock = z - self.price_of_risk
        # h times one per-path factor: each Greek's tangent then costs a few multiply-adds per step
        h_next = self.omega + h * (self.beta + (self.alpha + self.gamma * (shock < 0)) * (shock * shock))
        return {"x": x_next, "h": h_next}, h
