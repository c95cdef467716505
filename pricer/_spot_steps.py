"""How far the spot is moved for the Greeks taken by central differences in spot: gamma (of the pathwise
delta) and, where the payoff jumps (discrete barriers, Heston under Euler), delta itself.

A fixed 1% of spot was wrong by tens of standard errors in two places (independent audit against closed
forms, QuantLib and autodiff of the analytic barrier price):

* where 1% of spot is a large part of the spread of S_T (a 1-day option: 1% is about one standard
  deviation at 20% vol; a 1% vol for a year), the difference's O(h^2) bias is no longer small: a 1-day ATM
  gamma came out 0.330 for 0.381. The step is at most ``SPOT_STEP_PER_SD`` standard deviations of log S_T.
* next to a barrier the bumped spots crossed it, so gamma took the jump of the knock-out: -0.047 for
  -0.00014 at 1% from the barrier. The step is at most ``BARRIER_ROOM`` of the distance to the barrier.
  A spot already on or beyond a continuous barrier (knocked at inception) took the jump too (a knock-out's
  gamma -0.031 for 0). Such a barrier's level no longer matters (a knock-out has paid its rebate, a knock-in
  is the vanilla), so ``clear_knocked_barriers`` moves it beyond both differenced spots: the difference
  stays central, on the knocked product. One-sided on the knocked side it was O(h) (a knock-in 3% beyond
  its barrier: gamma 2.8% low, with the control variate's error 0), and on the barrier itself its step was
  the dtype's smallest (float64: a gamma of 0 +- 0 without the control).

Each row has its own step, though a batch shares its paths: the spot is not moved, the product is
(``products.in_units_of``: the value is homogeneous of degree 1 in the spot and the price fields), so a
trade's Greeks never depend on the trades priced with it.

A smaller step costs variance (a difference of indicator-like pathwise deltas has variance ~ 1 / h), which
the standard error reports; a bias would not show in it.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
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
    log_distance, up_barrier, close, knocked = _barrier_position(model, product, smallest, shape)
    # a knocked barrier is moved out of the way (clear_knocked_barriers): only the spread limits its step
    relative = np.where(knocked, relative, np.where(close, smallest,
                                                    np.minimum(relative, BARRIER_ROOM * np.abs(log_distance))))
    step = relative * spot
    # alive but nearer the barrier than the smallest step the dtype resolves: one-sided, away from it (the
    # points S - h and S below an up barrier). Toward it, the difference took the knock's jump: an
    # up-and-out 0.01% below its barrier had gamma -11.4 +- 0.5 for -0.0013 (float32)
    one_sided = close & ~knocked & bool(product.continuous)
    up = np.where(one_sided & up_barrier, 0.0, step)
    down = np.where(one_sided & ~up_barrier, 0.0, step)
    return up, down


def clear_knocked_barriers(model, product, spot_moves):
    """``product`` with each continuous barrier knocked at inception moved beyond the differenced spots
    S - down and S + up (``spot_moves``, (rows, 1) each), so that every point of a central difference is
    knocked too. Its price does not change: the barrier's level no longer matters once it is touched (a
    knock-out has paid its rebate, a knock-in is the vanilla), and no control variate reads it."""
    if not isinstance(product, BarrierOption) or not product.continuous:
        return product
    smallest = SMALLEST_STEP[np.dtype(product.barrier.dtype).name]
    barrier = np.asarray(product.barrier, np.float64)
    spot = np.asarray(model.spot, np.float64)
    shape = np.broadcast_shapes(spot.shape, barrier.shape)
    _, up_barrier, _, knocked = _barrier_position(model, product, smallest, shape)
    if not np.any(knocked):
        return product
    up, down = (np.broadcast_to(np.asarray(move, np.float64), shape) for move in spot_moves)
    spot = np.broadcast_to(spot, shape)
    # twice the step beyond: an up barrier at or below S - 2 down, a down barrier at or above S + 2 up
    beyond = np.where(up_barrier, np.minimum(barrier, spot - 2.0 * down), np.maximum(barrier, spot + 2.0 * up))
    moved = dataclasses.replace(product, barrier=np.where(knocked, beyond, barrier))
    # replace validates, in float64: every field back to the prepared rows' arrays and dtype
    return jax.tree_util.tree_map(lambda new, old: jnp.asarray(new, old.dtype), moved, product)


def _barrier_position(model, product, smallest, shape):
    """(log distance to the barrier, up barrier, nearer than the smallest step the dtype resolves, knocked
    at inception), each shaped ``shape``. Knocked: a continuous barrier the spot is on or beyond (the
    engine's log prices, rounded, keep that order; one within their rounding of it is worth its knocked
    value to that rounding)."""
    spot = np.broadcast_to(np.asarray(model.spot, np.float64), shape)
    log_distance = np.broadcast_to(np.log(np.asarray(product.barrier, np.float64) / spot), shape)
    up_barrier = np.broadcast_to(np.asarray(product.up) > 0, shape)
    close = np.abs(log_distance) * BARRIER_ROOM < smallest
    beyond = np.where(up_barrier, log_distance <= 0, log_distance >= 0)
    return log_distance, up_barrier, close, beyond & bool(product.continuous)
