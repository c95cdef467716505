"""Online path functionals, optax-style: each is a pair of pure functions (init, update) over an
explicit state, so paths are never stored and memory is bounded by a chunk of paths.

Shapes: path values ``x`` (log spot) are (M, n) with M = 1 (paths shared by the batch) or P;
product fields are (P, 1). ``StepData.events`` holds this step's (E, 1) rows of the grid's event
tables, E = 1 when every product of the batch has the same dates (``engine.prepare`` then keeps one
column) or P; ``discount`` is exp(-r t) at the step's end, (M, 1), ``rate_step`` r dt, ``log_spot`` the start's log
spot and ``drift_time`` (r - q) t at the step's end, each (M, 1). A state that depends on the path
and the dates alone (the spot at expiry, the running average) is (max(M, E), n): one row for a batch
of strikes on shared paths and dates, so its cost per step does not grow with the batch; a state that
depends on product fields too (barrier survival) is (P, n).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from ._bridge import (bridge_survival, bridge_survival_moving_variance, crossing_time_fraction, crossing_variance,
                      on_safe_side)


class StepData(NamedTuple):
    x_prev: jnp.ndarray
    x_next: jnp.ndarray
    variance: jnp.ndarray  # variance of the log price over the step (Brownian bridge)
    events: dict
    discount: jnp.ndarray
    rate_step: jnp.ndarray  # r dt: the discount at a fraction f of the step is discount * exp(rate_step (1 - f))
    log_spot: jnp.ndarray   # x_0, the log spot the paths started from (Model.log_spot), (M, 1)
    drift_time: jnp.ndarray  # (r - q) t at the step's end, (M, 1): log(F_t / S_0)
    # how the step's variance moves with the log price, d(v dt) / dx (M, 1), or None where it does not
    # (Model.variance_price_slope times dt; the bridge's ``crossing_variance``)
    variance_slope: jnp.ndarray | None = None


class Accumulator(NamedTuple):
    init: Callable    # (x0 (M, n), product, event_rows E) -> state
    update: Callable  # (state, StepData, product) -> state


def chain(**accumulators: Accumulator) -> Accumulator:
    """Run several accumulators side by side; the state is a dict keyed by their names."""

    def init(x0, product, event_rows):
        return {name: acc.init(x0, product, event_rows) for name, acc in accumulators.items()}

    def update(state, step, product):
        return {name: acc.update(state[name], step, product) for name, acc in accumulators.items()}

    return Accumulator(init, update)


def _rows(x0, product_field):
    return jnp.zeros(jnp.broadcast_shapes(x0.shape, jnp.shape(product_field)), x0.dtype)


def _path_rows(x0, event_rows):
    """Zeros (max(M, E), n): a state that depends only on the paths and the event dates."""
    return jnp.zeros(jnp.broadcast_shapes(x0.shape, (event_rows, 1)), x0.dtype)


def terminal_value() -> Accumulator:
    """log S at the product's expiry (``spot_at_expiry`` takes the exponential once, after the time loop:
    an exponential per step would cost as much as the rest of a Black–Scholes step)."""

    def init(x0, product, event_rows):
        return _path_rows(x0, event_rows) + x0

    def update(state, step, product):
        return jnp.where(step.events["expiry"] > 0, step.x_next, state)

    return Accumulator(init, update)


def spot_at_expiry(state):
    """S at expiry from a ``chain`` state holding a ``terminal_value`` accumulator."""
    return jnp.exp(state["terminal"])


def running_average() -> Accumulator:
    """The sums over the product's fixing dates behind the arithmetic and geometric averages, each split
    into a mean (one per row) and a deviation from it (per path). Of S / S_0: sum F_t / S_0 = n + sum
    expm1((r - q) t) ("forward_excess": the count n stays exact) and sum (S_t - F_t) / S_0 = sum (F_t / S_0)
    expm1((x_t - x_0) - (r - q) t) ("deviation"). Of log(S / S_0): sum (r - q) t ("log_forward") and
    sum (x_t - x_0) - (r - q) t ("log_deviation").

    Deviations, not levels: in float32 a sum of S near 93 and its separately computed mean round a few
    last-place units apart, which a control with a large coefficient lifts into the price (measured: a 1-week
    GJR Asian 3 to 8 standard errors off its float64 price); and a sum of log S carries the rounding of
    log S_0 (~2e-7 at spot 100, shared by every path), which the geometric control's closed form does not
    (with the closed form's own cancellation, ``analytic._black``, a 5%-vol 1-month Asian sat 14.5 standard
    errors off at 200,000 paths). The split costs nothing: expm1 replaces the exp of S."""

    def init(x0, product, event_rows):
        zeros = _path_rows(x0, event_rows)
        row = _path_rows(x0[:, :1], event_rows)
        return {"forward_excess": row, "deviation": zeros, "log_forward": row, "log_deviation": zeros}

    def update(state, step, product):
        weight = step.events["fix"]
        excess = jnp.expm1(step.drift_time)                   # F_t / S_0 - 1, one per row
        log_deviation = (step.x_next - step.log_spot) - step.drift_time
        return {"forward_excess": state["forward_excess"] + weight * excess,
                "deviation": state["deviation"] + weight * (1.0 + excess) * jnp.expm1(log_deviation),
                "log_forward": state["log_forward"] + weight * step.drift_time,
                "log_deviation": state["log_deviation"] + weight * log_deviation}

    return Accumulator(init, update)


def barrier_survival(continuous: bool, rebate_at_crossing: bool = False) -> Accumulator:
    """Probability that the barrier has not been hit, and the discounted knock-out rebate paid so far.

    Continuous monitoring: between grid points the log price is a Brownian bridge, which crosses the
    barrier b with probability exp(-2 (b - x0)(b - x1) / variance) when both ends are on the safe side
    (a variance that moves with the log price, Heston's, taken along the crossing path: ``crossing_variance``);
    a knock-out rebate is discounted at the bridge's expected first-crossing time within the step
    (``crossing_time_fraction``), not at the step's end. Discrete monitoring: the barrier is checked at
    the monitoring dates only (today is not one, so a spot beyond the barrier today is not a knock), and
    a hit there is rebated at that date. The survival probability and the crossing time are smooth
    functions of the path, so pathwise Greeks exist.
    """

    def safe(x, product):
        return on_safe_side(x, jnp.log(product.barrier), product.up)

    def init(x0, product, event_rows):
        # continuous monitoring watches today too: a spot on or beyond the barrier has touched it. Discrete
        # monitoring watches its dates only, all after today, so such a spot is not (yet) a knock.
        alive = safe(x0, product).astype(x0.dtype) if continuous else jnp.ones_like(x0)
        survival = alive + _rows(_path_rows(x0, event_rows), product.barrier)
        return {"survival": survival, "rebate": product.rebate * (1.0 - survival)}

    def update(state, step, product):
        early_interest = None
        if continuous:
            log_barrier = jnp.log(product.barrier)
            watched = step.events["alive"] > 0
            variance = step.variance
            if step.variance_slope is None:
                step_survival = bridge_survival(step.x_prev, step.x_next, variance, log_barrier, product.up, watched)
            else:
                step_survival = bridge_survival_moving_variance(step.x_prev, step.x_next, variance, log_barrier,
                                                                product.up, watched, step.variance_slope)
                if rebate_at_crossing:
                    variance = crossing_variance(step.x_prev, step.x_next, variance, log_barrier, product.up,
                                                 step.variance_slope)
            if rebate_at_crossing:
                fraction = crossing_time_fraction(step.x_prev, step.x_next, variance, log_barrier, product.up)
                # exp(r dt (1 - f)) - 1 to second order: r dt is a step's interest (below 1e-3 a day at 25%)
                early = step.rate_step * (1.0 - fraction)
                early_interest = early * (1.0 + 0.5 * early)
        else:
            safe_next = safe(step.x_next, product).astype(step.x_next.dtype)
            step_survival = jnp.where(step.events["monitor"] > 0, safe_next, 1.0)
        survival = state["survival"] * step_survival
        hit = state["survival"] - survival
        if early_interest is not None:
            # paid at the step's end plus the interest from the crossing to it; that interest's derivative is
            # taken through the rate (rho's discounting, the part that matters) but not through the hit
            # probability, which would change a Greek by r dt of the rebate's own share (as holding the
            # crossing time fixed does) and cost every Greek the crossing time's arithmetic (XLA recomputes
            # it per tangent)
            hit = hit + jax.lax.stop_gradient(hit) * early_interest
        return {"survival": survival, "rebate": state["rebate"] + product.rebate * hit * step.discount}

    return Accumulator(init, update)
