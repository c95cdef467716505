"""What every model provides to the Monte Carlo engine.

A model is a pytree of parameter arrays shaped ``(batch, 1)`` inside the engine (one row per
priced item, or a single row shared by the whole batch) and a pair of pure functions:

* ``init(n_paths, dtype) -> state``: the state at time 0, every array shaped ``(batch, n_paths)``
  or ``(1, n_paths)``; ``state["x"]`` is always the log spot.
* ``step(state, dt, normals, scheme) -> (state, step_variance)``: one step of length ``dt`` years
  driven by ``normals`` (``n_normals`` arrays shaped ``(n_paths,)``); ``step_variance`` is the
  variance of the log price accumulated over the step, used by the Brownian-bridge barrier.
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

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return batch_shape(self)

    def forward_factor(self, time):
        """E[S_t] / S_0 = exp((r - q) t) under the risk-neutral measure."""
        return jnp.exp((self.rate - self.dividend) * time)

    def discount(self, time):
        return jnp.exp(-self.rate * time)
