"""Scale-free inputs for the neural GARCH calibrator.

Every series is divided by a scale of its own (root mean square about the mean or zero), so the network
never sees units; ``omega`` is mapped back with that scale (nn_fit.py). Two kinds of inputs:

* ``summary_features``: a fixed-length vector per series, whatever its length (250 .. 5,000 or more):
  autocorrelations of u^2, |u| and of a robustly clipped |u| at several lags, log kurtosis (plain and
  clipped), the share of large moves and log length. Cheap: O(T x lags).
* ``sequence_inputs``: the per-step input of the LSTM, log(u^2 + c), standardised.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["LAGS", "N_FEATURES", "summary_features", "sequence_inputs", "standardise"]

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


def _acf(x, lags):
    """Autocorrelations of each column of x (T, N) at the static ``lags``: (len(lags), N)."""
    xc = x - jnp.mean(x, axis=0)
    var = jnp.mean(xc * xc, axis=0) + 1e-12
    T = x.shape[0]
    return jnp.stack([jnp.sum(xc[k:] * xc[:T - k], axis=0) / (T * var) for k in lags])


@jax.jit
def summary_features(u):
    """u: (T, N) unit-RMS series -> (N, N_FEATURES) scale-free features (T >= 101)."""
    T = u.shape[0]
    a = jnp.abs(u)
    stride = max(1, T // 500)      # the median of every stride-th |u|: a scale, 5x cheaper to sort at T = 2,500
    robust = jnp.median(a[::stride], axis=0) / 0.6745 + 1e-12
    c = jnp.minimum(a / robust, CLIP)
    acf_sq = _acf(u * u, LAGS)
    acf_abs = _acf(a, LAGS)
    acf_clip = _acf(c, LAGS)
    kurt = jnp.mean(u ** 4, axis=0)
    cc = c - jnp.mean(c, axis=0)
    kurt_c = jnp.mean(cc ** 4, axis=0) / jnp.mean(cc ** 2, axis=0) ** 2
    big = jnp.mean(a / robust > 5.0, axis=0)
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
