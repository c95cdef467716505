"""Streaming mean and co-moments (Chan et al.'s pairwise update), combined in a fixed order.

Price and control variate samples arrive block by block; each block's (count, means, centred
co-moments) is folded into the running total in block order, so the result does not depend on how
blocks are grouped into chunks (or, later, devices), and float32 sums over 10^8 paths stay accurate.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class Moments(NamedTuple):
    count: jnp.ndarray    # scalar
    mean_y: jnp.ndarray   # (P,)
    mean_c: jnp.ndarray
    m_yy: jnp.ndarray     # sums of centred products
    m_cc: jnp.ndarray
    m_yc: jnp.ndarray
    # how many samples carry information (``resolution``): a payoff other than 0 (or than a knock-in's
    # rebate, paid where it never knocked in: ``payoffs.knock_in_rebate``), and a payoff not equal to its
    # control's (a knock-out the paths never came near pays exactly its vanilla control on every path)
    paying: jnp.ndarray       # (P,)
    off_control: jnp.ndarray  # (P,)
    # and how many of those carry its weight (``effective_samples``): sums of |d| and d^2 over the samples, for
    # d = Y - the paying reference, and for d = Y - C
    paying_abs: jnp.ndarray       # (P,)
    paying_square: jnp.ndarray    # (P,)
    off_control_abs: jnp.ndarray  # (P,)
    off_control_square: jnp.ndarray  # (P,)


def zeros(rows: int, dtype) -> Moments:
    z = jnp.zeros((rows,), dtype)
    return Moments(jnp.zeros((), dtype), *([z] * (len(Moments._fields) - 1)))


def block_moments(y, c, paying_reference=0.0) -> Moments:
    """Moments of one block: y, c shaped (P, n). A sample pays where y differs from ``paying_reference``,
    (P, 1) or a scalar: 0, or a knock-in's discounted rebate (``payoffs.knock_in_rebate``)."""
    n = y.shape[-1]
    mean_y, mean_c = y.mean(-1), c.mean(-1)
    dy, dc = y - mean_y[:, None], c - mean_c[:, None]
    from_reference, from_control = y - jnp.asarray(paying_reference, y.dtype), y - c
    paying, off_control = (y != paying_reference).sum(-1).astype(y.dtype), (y != c).sum(-1).astype(y.dtype)
    return Moments(jnp.asarray(n, y.dtype), mean_y, mean_c, (dy * dy).sum(-1), (dc * dc).sum(-1), (dy * dc).sum(-1),
                   paying, off_control,
                   jnp.abs(from_reference).sum(-1), (from_reference * from_reference).sum(-1),
                   jnp.abs(from_control).sum(-1), (from_control * from_control).sum(-1))


def combine(a: Moments, b: Moments) -> Moments:
    n = a.count + b.count
    weight = b.count / jnp.maximum(n, 1.0)   # two empty totals combine to an empty total
    delta_y, delta_c = b.mean_y - a.mean_y, b.mean_c - a.mean_c
    cross = a.count * weight
    # the sample counts are exact in float32 up to 2^24; beyond, they only ever need to tell "a few" apart
    return Moments(
        n, a.mean_y + delta_y * weight, a.mean_c + delta_c * weight,
        a.m_yy + b.m_yy + delta_y * delta_y * cross,
        a.m_cc + b.m_cc + delta_c * delta_c * cross,
        a.m_yc + b.m_yc + delta_y * delta_c * cross,
        a.paying + b.paying, a.off_control + b.off_control,
        a.paying_abs + b.paying_abs, a.paying_square + b.paying_square,
        a.off_control_abs + b.off_control_abs, a.off_control_square + b.off_control_square,
    )


def fold_blocks(total: Moments, y, c, paying_reference=0.0, *, blocks: int) -> Moments:
    """Fold samples y, c (P, blocks * block_size) into ``total`` block by block, in order;
    ``paying_reference`` as ``block_moments``."""
    rows = y.shape[0]

    def by_block(a):
        return jnp.moveaxis(a.reshape(rows, blocks, -1), 1, 0)

    return fold_in_order(total, jax.vmap(block_moments, (0, 0, None))(by_block(y), by_block(c), paying_reference))


def fold_in_order(total: Moments, stacked: Moments) -> Moments:
    """``total`` combined with each of ``stacked``'s entries (leading axis), first to last."""
    return lax.scan(lambda acc, m: (combine(acc, m), None), total, stacked)[0]


def effective_samples(sum_abs, sum_square):
    """Kish's effective sample size of the nonzero terms d_i of two sums, (sum |d|)^2 / sum d^2: the count
    where they are all the same size, fewer where a few carry the sum (two samples of 2 and eight of 1e-6
    count about 2), never more than the count of nonzero d (Cauchy-Schwarz; but for squares that underflow:
    |d| below about 1e-19 in float32, which a payoff's differences never are), and 0 when all are 0. NaN
    (not known) where every square underflowed to 0 and the sizes did not. Arrays of one shape; the ratio
    is squared last, so that it does not overflow where its terms do not (sum d^2 itself does in float32
    once |d| passes about 1e19 / sqrt(n): the result is then 0, and the price flagged)."""
    positive = sum_square > 0
    ratio = sum_abs / jnp.sqrt(jnp.where(positive, sum_square, 1.0))
    return jnp.where(positive, ratio * ratio, jnp.where(sum_abs > 0, jnp.nan, 0.0))


def informative_samples(m: Moments):
    """(paying, off_control, effective_paying, effective_off_control), each (P,): how many samples paid and
    paid other than the control, and their effective sizes (``effective_samples``): ``pricer.resolution``."""
    return (m.paying, m.off_control, effective_samples(m.paying_abs, m.paying_square),
            effective_samples(m.off_control_abs, m.off_control_square))


def optimal_beta(m: Moments):
    """Variance-minimising control coefficient cov(Y, C) / var(C) (0 where C does not vary)."""
    return jnp.where(m.m_cc > 0, m.m_yc / jnp.where(m.m_cc > 0, m.m_cc, 1.0), 0.0)


#: the residual's floor in units of eps times the size of its terms (``estimate``): a few roundings of
#: each sum, accumulated over the blocks
ROUNDING_MULTIPLE = 4.0


def estimate(m: Moments, cv_mean, use_control: bool, beta=None):
    """Mean and its standard error, controlled by Y - beta (C - E[C]).

    ``beta`` defaults to the optimal coefficient; Greeks pass the price's coefficient (the derivative of
    the controlled price estimator), which stays well defined when a control's derivative is zero.
    """
    if not use_control:
        beta = jnp.zeros_like(m.mean_y)
    elif beta is None:
        beta = optimal_beta(m)
    price = m.mean_y - beta * (m.mean_c - cv_mean)
    # the residual is a difference of sums, each rounded to about eps of its size: where the control explains
    # nearly all of Y (float32, a barrier far out of reach) it cancels to rounding noise, or to 0 or below:
    # a float32 run said 0 (kernel) or 2.4e-6 (scan, by how XLA happened to fuse it) where float64 says
    # 1.2e-6. The standard error never claims less than that rounding resolves (here 2.8e-5, about 1e-3 of
    # the uncontrolled error; in float64 1e-7 of it). Exactly 0 where Y does not vary.
    eps = jnp.finfo(m.m_yy.dtype).eps
    rounding = eps * (m.m_yy + 2.0 * jnp.abs(beta * m.m_yc) + beta * beta * m.m_cc)
    residual = jnp.maximum(m.m_yy - 2.0 * beta * m.m_yc + beta * beta * m.m_cc, ROUNDING_MULTIPLE * rounding)
    stderr = jnp.sqrt(residual / (m.count - 1.0) / m.count)
    # nor less than the rounding of the price's own terms, where the payoff varies (a 1-week call 30 in the
    # money, antithetic pairs and the spot control: float32 was 6.5 of its standard errors from float64, all
    # of it the rounding of a price of 30); a payoff that does not vary keeps its exact 0
    level = eps * (jnp.abs(m.mean_y) + jnp.abs(beta * m.mean_c) + jnp.abs(beta * cv_mean))
    stderr = jnp.where(m.m_yy > 0, jnp.maximum(stderr, ROUNDING_MULTIPLE * level), stderr)
    return price, stderr
