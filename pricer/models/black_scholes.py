"""Black–Scholes (geometric Brownian motion), simulated exactly in log space."""
from __future__ import annotations

import jax.numpy as jnp

from .._fields import numeric_field, positive, pytree_dataclass, rate_field
from .base import Model


@pytree_dataclass
class BlackScholes(Model):
    """dS/S = (r - q) dt + vol dW.  spot > 0; vol annualised decimal > 0; rate, dividend continuous."""

    spot: object
    vol: object
    rate: object = 0.0
    dividend: object = 0.0

    n_normals = 1
    variance_free_fields = frozenset({"spot", "vol", "rate", "dividend"})   # no variance state at all

    def __post_init__(self):
        object.__setattr__(self, "spot", numeric_field("spot", self.spot, check=positive, requirement="> 0"))
        object.__setattr__(self, "vol", numeric_field("vol", self.vol, check=positive, requirement="> 0"))
        for name in ("rate", "dividend"):
            object.__setattr__(self, name, rate_field(name, getattr(self, name)))

    def log_variance(self, expiry):
        return self.vol * self.vol * expiry

    def domain(self):
        return ((0.0, {"spot": 1.0}), (0.0, {"vol": 1.0}))

    def init(self, n_paths, dtype):
        return {"x": jnp.broadcast_to(self.log_spot(dtype), (jnp.shape(self.spot)[0], n_paths))}

    def step(self, state, dt, normals, scheme=None):
        variance = self.vol * self.vol * dt
        # the day's increment is summed before it meets x: added term by term, the drift (the same for every
        # path) would round the same way on every path and bias x_T (see the note in models/base.py)
        increment = ((self.rate - self.dividend) * dt - 0.5 * variance) + jnp.sqrt(variance) * normals[0]
        return {"x": state["x"] + increment}, variance
