"""The simulation's settings (``MonteCarlo``) and a pricing call's result (``PriceResult``)."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .lanes import lane_multiple

__all__ = ["BLOCK_PATHS", "MonteCarlo", "PriceResult"]

BLOCK_PATHS = 1024          # paths per random-number block (antithetic: 512 pairs)
_SCHEMES = ("qe", "euler")
_BACKENDS = ("auto", "scan", "kernel")


_MAX_STEPS = 1_000_000   # time steps of a grid: more would not fit a run's memory (a step every 30 s for a year)


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@dataclasses.dataclass(frozen=True)
class MonteCarlo:
    """Simulation settings.

    paths: number of paths, rounded up to whole 1,024-path blocks and then to a multiple of the lanes
    they are split into (``lanes.lane_multiple``: at most a quarter more blocks, and never more than 15);
    ``PriceResult.paths`` says how many ran. steps_per_year: time steps per year (event dates are added
    to the grid; GARCH always steps daily). scheme: Heston discretisation, "qe" (Andersen QE-M) or "euler" (full
    truncation). antithetic / control_variate: variance reduction. dtype: "float32" or "float64"
    (float64 needs ``jax.config.update("jax_enable_x64", True)``). backend: "auto" | "scan" | "kernel".
    chunk_paths: paths simulated at once (None: chosen from the batch size to bound memory).
    grid_capacity: pad the time grid to at least this many steps, so that calls with different schedules
    share one compiled program (results do not change; only real steps are simulated).
    """

    paths: int = 100_000
    steps_per_year: int = 252
    seed: int = 0
    scheme: str = "qe"
    antithetic: bool = True
    control_variate: bool = True
    dtype: str = "float32"
    backend: str = "auto"
    chunk_paths: int | None = None
    grid_capacity: int | None = None

    def __post_init__(self):
        if not _is_integer(self.paths) or self.paths < 2:
            raise ValueError(f"paths must be an integer >= 2, got {self.paths!r}")
        if not _is_integer(self.steps_per_year) or not 1 <= self.steps_per_year <= _MAX_STEPS:
            raise ValueError(f"steps_per_year must be an integer from 1 to {_MAX_STEPS:,}, got {self.steps_per_year!r}")
        if not _is_integer(self.seed) or not -(1 << 63) <= self.seed < (1 << 64):
            raise ValueError(f"seed must be an integer in [-2**63, 2**64) (64 bits), got {self.seed!r}")
        for name in ("antithetic", "control_variate"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.scheme not in _SCHEMES:
            raise ValueError(f"scheme must be one of {_SCHEMES}, got {self.scheme!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {self.backend!r}")
        if self.chunk_paths is not None and (not _is_integer(self.chunk_paths) or self.chunk_paths < BLOCK_PATHS):
            raise ValueError(f"chunk_paths must be an integer >= {BLOCK_PATHS}, got {self.chunk_paths!r}")
        if self.grid_capacity is not None and (not _is_integer(self.grid_capacity)
                                               or not 1 <= self.grid_capacity <= _MAX_STEPS):
            raise ValueError(f"grid_capacity must be an integer from 1 to {_MAX_STEPS:,}, got {self.grid_capacity!r}")

    @property
    def blocks(self) -> int:
        """Blocks of BLOCK_PATHS paths: at least paths / BLOCK_PATHS, rounded up to a multiple of
        ``lane_multiple``: the lanes then hold equal numbers of blocks."""
        blocks = math.ceil(self.paths / BLOCK_PATHS)
        multiple = lane_multiple(blocks)
        return math.ceil(blocks / multiple) * multiple

    @property
    def simulated_paths(self) -> int:
        """The paths a run simulates: ``blocks`` whole blocks, at least ``paths``."""
        return self.blocks * BLOCK_PATHS


@dataclasses.dataclass(frozen=True)
class PriceResult:
    """Prices and standard errors shaped like the product/model batch; greeks keyed by name.

    samples_paying, samples_off_control (shaped like price, or None): how many of the run's samples (an
    antithetic pair is one sample) had a payoff other than 0 (a knock-in with a rebate: other than the
    rebate it pays where it never knocked in), and a payoff other than its control variate's (the same
    count without a control). Few of either and the standard error, estimated from
    those few, is not reliable (``pricer.resolution``: ``price`` warns below ``MIN_INFORMATIVE_SAMPLES``).
    The counts are summed in the run's dtype: exact up to 2^24 samples in float32, approximate beyond.
    effective_paying, effective_off_control (floats shaped like price, or None): the same counts weighted by
    how much each sample carries (``statistics.effective_samples``: (sum |d|)^2 / sum d^2 of the payoffs'
    differences from 0 or the rebate, and from the control): at most the counts, and far fewer where a few
    samples carry the price (ten paying, two of them nearly all of it: about 2); ``price`` warns below
    ``MIN_EFFECTIVE_SAMPLES``. NaN where not known.
    """

    price: Any
    stderr: Any
    greeks: dict
    greeks_stderr: dict
    paths: int
    steps: int
    samples_paying: Any = None
    samples_off_control: Any = None
    effective_paying: Any = None
    effective_off_control: Any = None

    def __repr__(self):
        return f"PriceResult(price={self.price!r}, stderr={self.stderr!r}, paths={self.paths}, steps={self.steps})"
