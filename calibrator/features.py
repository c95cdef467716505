"""Scale-free inputs for the neural GARCH calibrator.

Every series is divided by a scale of its own (root mean square about the mean or zero), so the network
never sees units; ``omega`` is mapped back with that scale (nn_fit.py). Two kinds of inputs:

* ``summary_features``: a fixed-length vector per series, whatever its length (250 .. 5,000 or more):
  autocorrelations of u^2, |u| and of a robustly clipped |u| at several lags, log kurtosis (plain and
  clipped), the share of large moves and log length. The autocorrelations come from one FFT per
  signal (O(T log T), a tenth of the time of a product per lag on a CPU).
* ``sequence_inputs``: the per-step input of the LSTM, log(u^2 + c), standardised.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from pricer import compile_budget

__all__ = ["LAGS", "N_FEATURES", "column_means", "summary_features", "sequence_inputs", "standardise", "robust_scale"]

LAGS = (1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 75, 100)
CLIP = 3.0   # robust clip, in robust-scale units (median |u| / 0.6745)
N_FEATURES = 3 * len(LAGS) + 5


def standardise(returns, demean: bool):
    """(T, N) returns -> (u, scale): u = (r - m) / scale with scale the RMS about m (m = 0 or the mean)."""
    r = jnp.asarray(returns)
    loc = jnp.mean(r, axis=0) if demean else jnp.zeros(r.shape[1], r.dtype)
    x = r - loc
    scale = jnp.sqrt(jnp.mean(x * x, axis=0))
    return x / scale, scale, loc


def column_means(u, *functions):
    """Per-column means of f(u_t) for each f in ``functions`` (row (N,) -> (N,)), u (T, N): a tuple of (N,)
    arrays, accumulated row by row in time order. Each series then gets the same sum whatever else is in
    the batch: XLA's CPU reduction over the first axis tiles by the batch width and rounds differently for
    another N (measured), so a batch cut over devices would not reproduce the uncut one. A running sum's
    rounding error is at most T u (u = 2^-24 in float32: 3e-4 at T = 5,000), typically sqrt(T) u (3e-6
    measured); ample for features and a backcast. (Kahan's compensated sum was tried: its result then
    depended on how XLA fused the compensation, and the device split no longer reproduced one device.)"""
    def step(sums, row):
        return tuple(total + f(row) for total, f in zip(sums, functions)), None

    zeros = tuple(jnp.zeros(u.shape[1], u.dtype) for _ in functions)
    sums, _ = lax.scan(step, zeros, u)
    return tuple(total / u.shape[0] for total in sums)


def _acf(x, lags):
    """Autocorrelations of each ROW of x (N, T) at the static ``lags``: (len(lags), N).

    sum_t xc_t xc_{t+k} / sum_t xc_t^2 for every lag from one zero-padded FFT (no wrap-around:
    the padded length is at least T + max lag). Rows, because XLA's CPU FFT along the last axis is
    ~3x faster than along the first (summary_features transposes its (T, N) input once)."""
    xc = x - jnp.mean(x, axis=1, keepdims=True)
    T = x.shape[1]
    size = _fft_size(T + max(lags))
    spectrum = jnp.fft.rfft(xc, n=size, axis=1)
    products = jnp.fft.irfft(spectrum * jnp.conj(spectrum), n=size, axis=1)   # lag products, (N, size)
    return (products[:, np.asarray(lags)] / (products[:, :1] + 1e-12 * T)).T


def _fft_size(n: int) -> int:
    """The smallest 5-smooth integer >= n (2^a 3^b 5^c): FFTs of such sizes are fast, and it pads far
    less than the next power of two (2,700 rather than 4,096 for 2,600: 1.5x faster)."""
    size = n
    while True:
        m = size
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return size
        size += 1


def robust_scale(u, xp=jnp):
    """Median |u| / 0.6745 over every stride-th step, (N,); ``xp`` = jnp or numpy (numpy's selection is
    far cheaper than XLA's sort on a CPU, so callers outside jit may pass it precomputed)."""
    T = u.shape[0]
    stride = max(1, T // 500)      # every stride-th |u|: a scale, 5x cheaper to select at T = 2,500
    return xp.median(xp.abs(u[::stride]), axis=0) / 0.6745 + 1e-12


@compile_budget.jit
def summary_features(u, robust=None):
    """u: (T, N) unit-RMS series -> (N, N_FEATURES) scale-free features (T >= 101).
    robust: ``robust_scale(u)`` if already computed (N,), else computed here."""
    T = u.shape[0]
    robust = robust_scale(u) if robust is None else robust.astype(u.dtype)

    def clipped(row):
        return jnp.minimum(jnp.abs(row) / robust, CLIP)

    # autocorrelations along the rows of the transposed copy (N, T), see _acf; the moments by
    # column_means, in time order (a column reduction by XLA would round differently for another N)
    ut = u.T
    at = jnp.abs(ut)
    acf_sq = _acf(ut * ut, LAGS)
    acf_abs = _acf(at, LAGS)
    acf_clip = _acf(jnp.minimum(at / robust[:, None], CLIP), LAGS)
    kurt, mean_c, big = column_means(u, lambda row: row ** 4, clipped,
                                     lambda row: (jnp.abs(row) / robust > 5.0).astype(row.dtype))
    var_c, m4_c = column_means(u, lambda row: (clipped(row) - mean_c) ** 2, lambda row: (clipped(row) - mean_c) ** 4)
    kurt_c = m4_c / var_c ** 2
    logT = jnp.full_like(kurt, jnp.log(T / 1000.0))
    scal = jnp.stack([jnp.log(kurt), jnp.log(kurt_c), jnp.sqrt(big), logT, jnp.log(robust)])
    # lag-scaled acfs: the network sees sqrt(T)-scaled noise less when we give it raw values; raw is fine
    return jnp.concatenate([acf_sq, acf_abs, acf_clip, scal], axis=0).T


def sequence_inputs(u, stride: int = 1):
    """LSTM input: (T', N, 1) of log(u^2 + 0.01) centred, every ``stride``-th step (T' = T // stride)."""
    z = jnp.log(u * u + 0.01)
    z = (z + 1.0) / 2.0
    if stride > 1:
        T = (z.shape[0] // stride) * stride
        z = z[:T].reshape(T // stride, stride, -1).mean(axis=1)
    return z[..., None]
