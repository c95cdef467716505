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

A smaller step costs variance (a difference of indicator-like pathwise deltas has variance ~ 1 / h), which
the standard error reports; a bias would not show in it.
"""
from __future__ import annotations

import jax
import numpy as np

from ._fields import batch_shape
from .products import BarrierOption

#: the spot step is at most this many standard deviations of log S_T (a 1-year option at 20% vol keeps 1%)
SPOT_STEP_PER_SD = 0.05
#: and at most this share of the log distance to a barrier
BARRIER_ROOM = 0.25


def spot_steps(model, product, largest: float):
    """(up, down): per row, the spot moves to S + up and S - down, and the difference divides by
    up + down (a zero entry: a one-sided difference). ``model``, ``product``: prepared rows (rows, 1);
    ``largest``: the largest relative step (``GAMMA_BUMP``). Host arrays shaped like ``model.spot``.

    A model shared by a batch of products (one row: the batch's paths are shared) takes one step for all,
    the smallest relative one (``with_own_paths_if_knocked`` gives a batch with a knocked row its own
    rows first)."""
    up, down = _per_product(model, product, largest)
    rows = np.shape(model.spot)[0]
    if rows == up.shape[0]:
        return up, down
    spot = np.asarray(model.spot, np.float64)
    relative = np.min(np.maximum(up, down) / np.broadcast_to(spot, up.shape))
    return relative * spot, relative * spot


def with_own_paths_if_knocked(model, product):
    """``model`` broadcast to the product's batch when a shared model would take one spot step across the
    barrier of a continuous barrier already knocked at inception, beside others that are not: each row
    then gets its own step (one-sided for the knocked). Rare (a knocked trade is usually rebooked), and
    it costs a path set per row; otherwise ``model`` unchanged."""
    if not isinstance(product, BarrierOption) or not product.continuous:
        return model
    shape = batch_shape(product)
    if batch_shape(model) == shape:
        return model
    spot = np.asarray(model.spot, np.float64)
    log_distance = np.log(np.asarray(product.barrier, np.float64) / spot)
    touched = np.broadcast_to(np.where(np.asarray(product.up) > 0, log_distance <= 0, log_distance >= 0),
                              np.broadcast_shapes(shape, batch_shape(model)))
    if not touched.any():
        return model
    full = np.broadcast_shapes(shape, batch_shape(model))
    return jax.tree_util.tree_map(lambda leaf: np.broadcast_to(np.asarray(leaf), full), model)


def _per_product(model, product, largest: float):
    spot = np.asarray(model.spot, np.float64)
    expiry = np.asarray(product.expiry, np.float64)
    spread = np.sqrt(np.maximum(np.asarray(model.log_variance(expiry), np.float64), 0.0))
    shape = np.broadcast_shapes(spot.shape, expiry.shape)
    spot = np.broadcast_to(spot, shape)
    relative = np.broadcast_to(np.minimum(largest, SPOT_STEP_PER_SD * spread), shape)
    if not isinstance(product, BarrierOption):
        step = relative * spot
        return step, step
    log_distance = np.broadcast_to(np.log(np.asarray(product.barrier, np.float64) / spot), shape)
    up_barrier = np.broadcast_to(np.asarray(product.up) > 0, shape)
    relative = np.where(log_distance != 0, np.minimum(relative, BARRIER_ROOM * np.abs(log_distance)), relative)
    step = relative * spot
    touched = np.where(up_barrier, log_distance <= 0, log_distance >= 0) & bool(product.continuous)
    # knocked at inception: the points S and S + h for an up barrier (S - h and S below a down one), both
    # knocked: the knocked product's gamma at S + h/2 (a knock-out's is 0; a knock-in's is the vanilla's,
    # off by h/2 in spot)
    up = np.where(touched & ~up_barrier, 0.0, step)
    down = np.where(touched & up_barrier, 0.0, step)
    return up, down
