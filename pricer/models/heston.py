"""Heston stochastic volatility: Andersen's QE scheme with martingale correction, or Euler full truncation.

dS/S = (r - q) dt + sqrt(v) dW1,  dv = kappa (theta - v) dt + xi sqrt(v) dW2,  d<W1, W2> = rho dt.

QE-M (Andersen 2008, "Simple and efficient simulation of the Heston stochastic volatility model"):
variance by moment-matched quadratic (psi <= 1.5) or exponential-mass (psi > 1.5) draws, log price by
the central (gamma1 = gamma2 = 1/2) discretisation of the integrated variance, and the martingale
correction K0* so that E[S_{t+dt} | S_t, v_t] = S_t exp((r - q) dt) exactly in the discrete scheme.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._math import normal_upper_tail, safe_sqrt
from .._fields import non_negative, numeric_field, positive, pytree_dataclass, rate_field
from ._qe import qe_draw
from .base import Model


MAX_KAPPA_DT = 0.25     # the largest kappa * dt simulated (see Heston.minimum_steps_per_year)
MIN_FLOAT32_XI = 0.01   # the smallest vol of variance QE simulates in float32 (see Heston.check_precision)


@pytree_dataclass
class Heston(Model):
    """Heston model. v0, theta: annualised variances (0.04 = 20% vol); xi: vol of variance; |rho| <= 1."""

    spot: object
    v0: object
    kappa: object
    theta: object
    xi: object
    rho: object
    rate: object = 0.0
    dividend: object = 0.0

    n_normals = 2
    variance_free_fields = frozenset({"spot", "rate", "dividend", "rho"})   # QE's variance step has no rho

    def __post_init__(self):
        checks = {
            "spot": (positive, "> 0"), "v0": (non_negative, ">= 0"), "kappa": (positive, "> 0"),
            "theta": (positive, "> 0"), "xi": (positive, "> 0"),
            "rho": (lambda r: abs(r) <= 1, "in [-1, 1]"),
        }
        for name, (check, requirement) in checks.items():
            object.__setattr__(self, name, numeric_field(name, getattr(self, name), check=check, requirement=requirement))
        for name in ("rate", "dividend"):
            object.__setattr__(self, name, rate_field(name, getattr(self, name)))

    def domain(self):
        positive = tuple((0.0, {name: 1.0}) for name in ("spot", "v0", "kappa", "theta", "xi"))
        return positive + ((1.0, {"rho": -1.0}), (1.0, {"rho": 1.0}))

    def log_variance(self, expiry):
        return self.theta * expiry + (self.v0 - self.theta) * -np.expm1(-self.kappa * expiry) / self.kappa

    def minimum_steps_per_year(self) -> int:
        """At least kappa / ``MAX_KAPPA_DT`` steps a year: both schemes lose accuracy when the variance
        mean-reverts within a step (measured, QE-M, ATM call, 1 year, float64, 200k paths, against the
        closed form: kappa dt = 0.25 -1 SE, 0.5 -3 SE, 1 -7 SE; at kappa dt = 40 the price was 80% high)."""
        return int(np.ceil(float(np.max(self.kappa)) / MAX_KAPPA_DT))

    def minimum_steps_reason(self) -> str:
        return f"kappa = {float(np.max(self.kappa))!r}, at least kappa / {MAX_KAPPA_DT} steps a year"

    def check_precision(self, dtype, scheme) -> None:
        # QE's log-price step adds terms of size rho / xi * v that cancel: below xi = 0.01, float32 keeps too
        # few of their digits (measured: xi = 1e-3, 8.09 +- 0.02 against 8.00 in float64; xi = 1e-5, 4.15)
        if scheme == "qe" and jnp.dtype(dtype) == jnp.float32 and float(np.min(self.xi)) < MIN_FLOAT32_XI:
            raise ValueError(f"xi = {float(np.min(self.xi))!r} is below {MIN_FLOAT32_XI} where the QE scheme loses "
                             "the price in float32: price in float64 (dtype='float64') or use scheme='euler'")

    def variance_price_slope(self):
        # dv = ... + xi sqrt(v) dW_v, dx = ... + sqrt(v) dW_x, corr(dW_v, dW_x) = rho: E[dv | dx] = rho xi dx
        return self.rho * self.xi

    def init(self, n_paths, dtype):
        rows = jnp.shape(self.spot)[0]
        return {
            "x": jnp.broadcast_to(self.log_spot(dtype), (rows, n_paths)),
            "v": jnp.broadcast_to(jnp.asarray(self.v0, dtype), (rows, n_paths)),
        }

    def step(self, state, dt, normals, scheme="qe"):
        if scheme == "qe":
            return self._step_qe(state, dt, normals)
        if scheme == "euler":
            return self._step_euler(state, dt, normals)
        raise ValueError(f"scheme must be 'qe' or 'euler', got {scheme!r}")

    def _step_euler(self, state, dt, normals):
        x, v = state["x"], state["v"]
        v_pos = jnp.maximum(v, 0.0)
        z_v = normals[1]
        z_x = self.rho * z_v + jnp.sqrt(1.0 - self.rho * self.rho) * normals[0]
        root = safe_sqrt(v_pos * dt)
        v_next = v + self.kappa * (self.theta - v_pos) * dt + self.xi * root * z_v
        x_next = x + ((self.rate - self.dividend - 0.5 * v_pos) * dt + root * z_x)   # increment first: base.py
        return {"x": x_next, "v": v_next}, v_pos * dt

    def _step_qe(self, state, dt, normals):
        x, v = state["x"], state["v"]
        kappa, theta, xi, rho = self.kappa, self.theta, self.xi, self.rho
        decay = jnp.exp(-kappa * dt)
        one_minus = -jnp.expm1(-kappa * dt)
        mean = theta + (v - theta) * decay
        # Var[v_{t+dt} | v_t] = c1 v + c0: the coefficients per row, so a path pays one multiply-add
        c1 = xi * xi * decay * one_minus / kappa
        c0 = theta * xi * xi * one_minus * one_minus / (2.0 * kappa)
        var = v * c1 + c0

        z_v = normals[1]
        # the uniform u = Phi(z_v) enters through its upper tail 1 - u, computed directly (no cancellation)
        tail = normal_upper_tail(z_v)
        # log price, central discretisation gamma1 = gamma2 = 1/2:
        # x' = x + (r - q) dt + K0* + K1 v + K2 v' + sqrt(K3 v + K4 v') z, K3 = K4
        # (K1 = 0.5 dt (kappa rho / xi - 1/2) - rho / xi cancels below)
        k2 = 0.5 * dt * (kappa * rho / xi - 0.5) + rho / xi
        k3 = 0.5 * dt * (1.0 - rho * rho)
        # martingale correction: K0* = -log M - (K1 + K3/2) v with M = E[exp(A v')], A = K2 + K4/2
        v_next, log_m = qe_draw(mean, var, k2 + 0.5 * k3, z_v, tail)
        # K0* + K1 v = -log M - K3 v / 2: K1 cancels (fewer operations per path, and per Greek)
        both_ends = v + v_next
        increment = ((self.rate - self.dividend) * dt - log_m - 0.5 * k3 * v + k2 * v_next
                     + safe_sqrt(k3 * both_ends) * normals[0])
        x_next = x + increment   # the increment summed first (see models/base.py)
        return {"x": x_next, "v": v_next}, 0.5 * both_ends * dt
