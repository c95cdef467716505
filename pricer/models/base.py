"""What every model provides to the Monte Carlo engine.

A model is a pytree of parameter arrays shaped ``(batch, 1)`` inside the engine (one row per
priced item, or a single row shared by the whole batch) and three pure functions (the methods below add defaults others may override):

* ``init(n_paths, dtype) -> state``: the state at time 0, every array shaped ``(batch, n_paths)``
  or ``(1, n_paths)``; ``state["x"]`` is always the log spot.
* ``log_variance(expiry)``: the expected variance of log S_T at ``expiry`` (years, broadcast against
  the fields), the expected integrated variance, for the engine's sampling check (``pricer._checks``);
* ``step(state, dt, normals, scheme) -> (state, step_variance)``: one step of length ``dt`` years
  driven by ``normals`` (``n_normals`` arrays shaped ``(n_paths,)``); ``step_variance`` is the
  variance of the log price accumulated over the step, used by the Brownian-bridge barrier.

The log price is advanced as ``x + increment``, the step's increment summed on its own first. Added
term by term, x + (r - q) dt would round the same way on every path (in float32, x near log 100 has
a spacing of 5e-7 and the drift of a day is not a multiple of it): up to half a spacing per step,
1e-4 over 252 steps, a bias in the price and, between two nearby rates, a systematic error that
made a central-difference rho 10% wrong (measured, GARCH, float32). The increment carries a random
part, so its one rounding against x is no longer the same on every path.
"""
from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from .._fields import batch_shape


class Model:
    n_normals: ClassVar[int] = 1
    #: None: the engine's time grid (``steps_per_year``); an int: the model's own fixed step (GARCH: 252 a year)
    periods_per_year: ClassVar[int | None] = None
    #: fields that do not enter the variance state's dynamics: their pathwise tangents flow through the
    #: log price and the payoff alone, so the Greeks engine batches them apart from the costly ones
    variance_free_fields: ClassVar[frozenset[str]] = frozenset({"spot", "rate", "dividend"})

    def domain(self) -> tuple[tuple[float, dict[str, float]], ...]:
        """The parameters' domain as linear inequalities ``constant + sum(coefficient * field) >= 0``,
        one (constant, {field: coefficient}) pair each. Finite-difference Greeks keep their bumps
        inside it (``pricer.greeks``): a bump past a boundary would price an invalid model."""
        return ((0.0, {"spot": 1.0}),)

    def minimum_steps_per_year(self) -> int:
        """The fewest time steps a year this model's discretisation is accurate with (the engine uses
        at least this many, whatever ``MonteCarlo.steps_per_year`` asks)."""
        return 1

    def minimum_steps_reason(self) -> str:
        """The field behind ``minimum_steps_per_year`` and its value, for a message that names it."""
        return "its discretisation"

    def check_precision(self, dtype, scheme) -> None:
        """Raise ValueError, naming the field, where the simulation in ``dtype`` would lose the price."""

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return batch_shape(self)

    def variance_price_slope(self):
        """How the instantaneous variance moves with the log price, E[dv | dx] / dx, per row ((batch, 1)), or
        None where it does not (a constant or a per-step deterministic variance). The Brownian bridge of a
        continuous barrier then uses the variance along a path that reaches the barrier, not the step's
        average (``_bridge.crossing_variance``)."""
        return None

    def log_spot(self, dtype):
        """x_0, the log spot every path starts from, in the simulation's dtype. The one expression for it:
        the centred control variates subtract it from x_T (``payoffs``), which is exact only against the
        very value the paths started from."""
        return jnp.log(self.spot).astype(dtype)

    def log_forward_factor(self, time):
        """log(E[S_t] / S_0) = (r - q) t under the risk-neutral measure."""
        return (self.rate - self.dividend) * time

    def forward_factor(self, time):
        """E[S_t] / S_0 = exp((r - q) t) under the risk-neutral measure."""
        return jnp.exp(self.log_forward_factor(time))

    def discount(self, time):
        return jnp.exp(-self.rate * time)
