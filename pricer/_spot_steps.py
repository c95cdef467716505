"""How far the spot is moved for the Greeks taken by central differences in spot: gamma (of the pathwise
delta) and, where the payoff jumps (discrete barriers, Heston under Euler), delta itself.

A fixed 1% of spot was wrong by tens of standard errors in two places (independent audit against closed
forms, QuantLib and autodiff of the analytic barrier price):

* where 1% of spot is a large part of the spread of S_T (a 1-day option: 1% is about one standard
  deviation at 20% vol; a 1% vol for a year), the difference's O(h^2) bias is no longer small: a 1-day ATM
  gamma came out 0.330 for 0.381. The step is at most ``SPOT_STEP_PER_SD`` standard deviations of log S_T.
* next to a barrier the bumped spots crossed it, so gamma took the jump of the knock-out: -0.047 for
  -0.00014 at 1% from the barrier. The step is at most ``BARRIER_ROOM`` of the distance to the barrier.
  A spot already on or beyond a continuous barrier (knocked at inception) is differenced on the knocked
  side only (one-sided: the knocked product's gamma, 0 for a knock-out; it took -0.031 for 0).

Each row has its own step, though a batch shares its paths: the spot is not moved, the product is
(``products.in_units_of``: the value is homogeneous of degree 1 in the spot and the price fields), so a
trade's Greeks never depend on the trades priced with it.

A smaller step costs variance (a difference of indicator-like pathwise deltas has variance ~ 1 / h), which
the standard error reports; a bias would not show in it.
"""
from __future__ import annotations

import numpy as np

from .products import BarrierOption

#: the spot step is at most this many standard deviations of log S_T (a 1-year option at 20% vol keeps 1%)
SPOT_STEP_PER_SD = 0.05
#: and at most this share of the log distance to a barrier
BARRIER_ROOM = 0.25
#: the smallest relative step, by dtype: below it the move is lost to the rounding of log S (float32's
#: ulp of log 100 is 5e-7; a 1e-7 step gave a European's gamma -36% with a standard error of 0)
SMALLEST_STEP = {"float32": 1e-4, "float64": 1e-7}


def spot_steps(model, product, largest: float, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(up, down): per product row (rows, 1), the spot moves to S + up and S - down, and the difference
    divides by up + down (a zero entry: a one-sided difference). ``model``, ``product``: prepared rows;
    ``largest``: the largest relative step (``GAMMA_BUMP``). Each row's step is its own: the moves go into
    the product (``products.in_units_of``), so a batch keeps its shared paths and a trade's Greeks do not
    depend on the trades priced with it."""
    smallest = SMALLEST_STEP[np.dtype(dtype).name]
    spot = np.asarray(model.spot, np.float64)
    expiry = np.asarray(product.expiry, np.float64)
    spread = np.sqrt(np.maximum(np.asarray(model.log_variance(expiry), np.float64), 0.0))
    shape = np.broadcast_shapes(spot.shape, expiry.shape)
    spot = np.broadcast_to(spot, shape)
    relative = np.broadcast_to(np.clip(SPOT_STEP_PER_SD * spread, smallest, largest), shape)
    if not isinstance(product, BarrierOption):
        step = relative * spot
        return step, step
    log_distance = np.broadcast_to(np.log(np.asarray(product.barrier, np.float64) / spot), shape)
    up_barrier = np.broadcast_to(np.asarray(product.up) > 0, shape)
    close = np.abs(log_distance) * BARRIER_ROOM < smallest    # nearer than the dtype resolves: as if on it
    relative = np.where(close, smallest, np.minimum(relative, BARRIER_ROOM * np.abs(log_distance)))
    step = relative * spot
    touched = (np.where(up_barrier, log_distance <= 0, log_distance >= 0) | close) & bool(product.continuous)
    # knocked at inception: the points S and S + h for an up barrier (S - h and S below a down one), both
    # knocked: the knocked product's gamma at S + h/2 (a knock-out's is 0; a knock-in's is the vanilla's,
    # off by h/2 in spot)
    up = np.where(touched & ~up_barrier, 0.0, step)
    down = np.where(touched & up_barrier, 0.0, step)
    return up, down
