"""The calibrator's batches of surfaces ("lanes"): each surface's quadrature range U and node count N, grouped
by N into vmapped calls, and the check that widens a lane whose implied vols move with 2N nodes or a fresh U.
``calibrate_heston`` (heston_fit.py) and ``heston_implied_vols`` (heston_implied.py) both run through it; the
method is described in heston_fit.py's docstring (step 1).
"""
from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from pricer import compile_budget

from ._heston_lm import _lm_one, _to_natural
from ._heston_pricing import _model_beta, _quadrature, _upper_limits, _vols_from_beta
from ._heston_surface import _Data

# ------------------------------------------------------------------------------------------------ settings
NODE_BUCKETS = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)  # powers of two: few compiled programs
U_SAFETY = 2.5                          # U from the scan at the start of a pass, times this
BETA_TOL = {8: 1e-15, 4: 1e-7}          # ... or normalised prices this close (by dtype size: float64, float32)
QUAD_TOL = {8: 1e-9, 4: 2e-5}           # max |implied vol(N, U) - implied vol(2N, fresh U)| accepted
MAX_PASSES = 4
#: a verified price whose vol still moves this much with twice the nodes has no vol to report (heston_implied_vols
#: gives NaN): measured gaps of 0.04-0.5 for prices ~1e-15 of the strike, below 2e-5 for prices ~1e-10
VOL_NOISE = 1e-3


@compile_budget.jit
def _upper_batch(params, expiries):
    """U (S, E) at natural params (S, 5): where each expiry's integrand falls below SCAN_TOL."""
    return jax.vmap(lambda p, t: _upper_limits(tuple(p), t))(params, expiries)


@partial(compile_budget.jit, static_argnames=("n_nodes",))
def _quadrature_batch(upper, x, eidx, *, n_nodes):
    """Quadrature dict (leading axis S) on [0, U_e] with n_nodes Gauss-Legendre nodes per expiry."""
    return jax.vmap(lambda uu, xx, ee: _quadrature(uu, xx, ee, n_nodes))(upper, x, eidx)


@partial(compile_budget.jit, static_argnames=("max_iter",))
def _lm_batch(y0, x, eidx, mvol, mask, expiries, quad, *, feller, max_iter, ftol, xtol, gtol):
    fn = partial(_lm_one, feller=feller, max_iter=max_iter, ftol=ftol, xtol=xtol, gtol=gtol)
    return jax.vmap(fn)(y0, x, eidx, mvol, mask, expiries, quad)


@compile_budget.jit
def _beta_vols_batch(params, x, eidx, expiries, quad):
    """Normalised OTM prices and implied vols, both (S, M)."""
    def one(p, xx, ee, tt, qq):
        beta = _model_beta(tuple(p), xx, ee, tt, qq)
        return beta, _vols_from_beta(beta, xx, ee, tt)

    return jax.vmap(one)(params, x, eidx, expiries, quad)


@compile_budget.jit
def _natural_batch(y, feller):
    """Natural parameters (S, 5) from unconstrained y (S, 5)."""
    return jnp.stack(_to_natural(y, feller), axis=-1)


def _lane_nodes(upper: np.ndarray, data: _Data) -> np.ndarray:
    """Per surface, the smallest bucket N >= 16 + 0.4 max_e U_e max|x_e| (S,). The strike oscillation e^{i u x}
    over [0, U_e] is what usually needs the nodes (Gauss-Legendre resolves ~2.5 radians per node at this accuracy);
    large xi at long expiries can need more, which the 2N check after each pass catches."""
    xmax = np.zeros_like(upper)
    for j in range(upper.shape[0]):
        np.maximum.at(xmax[j], data.expiry_index[j], np.abs(data.log_moneyness[j]) * data.mask[j])
    need = 16 + 0.4 * np.max(upper * xmax, axis=1)
    buckets = np.asarray(NODE_BUCKETS)
    return buckets[np.minimum(np.searchsorted(buckets, need), len(buckets) - 1)]


SMALL_GROUP = 64  # groups of a batch are padded to at least min(this, batch size rounded up to a power of two)


def _padded(idx: np.ndarray, total: int) -> np.ndarray:
    """idx padded (repeating its first lane) to a few batch sizes, so few compiled programs: at least
    min(SMALL_GROUP, total rounded up to a power of two) -- below that, compiling another shape costs more than
    the padded lanes -- then 96, 128, 192, 256, 384, ... (at most a third of a large group wasted)."""
    k = len(idx)
    size = min(SMALL_GROUP, 1 << max(total - 1, 0).bit_length())
    while size < k:
        size = size * 3 // 2 if (size & (size - 1)) == 0 else size * 4 // 3
    return np.concatenate([idx, np.full(size - k, idx[0])])


def _groups(lanes: np.ndarray, nodes: np.ndarray):
    """(N, lanes with that N) for the given lanes."""
    for n in np.unique(nodes[lanes]):
        yield int(n), lanes[nodes[lanes] == n]


class _Lanes:
    """The surfaces' arrays (leading axis S) and each surface's quadrature (U (S, E), N (S,)). Surfaces are priced
    and calibrated in groups of equal N, so one surface needing many nodes does not make the others pay for them."""

    def __init__(self, data: _Data, dtype):
        self.data = data
        self.x = jnp.asarray(data.log_moneyness, dtype)
        self.eidx = jnp.asarray(data.expiry_index)
        self.mvol = jnp.asarray(data.market_vol, dtype)
        self.mask = jnp.asarray(data.mask, dtype)
        self.expiries = jnp.asarray(data.expiries, dtype)
        size = jnp.dtype(dtype).itemsize
        self.vol_tol, self.beta_tol = QUAD_TOL[size], BETA_TOL[size]
        self.upper = self.nodes = self.disagree = self.vol_unresolved = None
        self.max_nodes = NODE_BUCKETS[-1]   # pricing alone (heston_implied_vols) may go further

    def start(self, params):
        """U from the scan at params (S, 5), widened by U_SAFETY (the optimum often needs a longer range than the
        start), and N per surface by the rule."""
        self.upper = U_SAFETY * np.asarray(_upper_batch(params, self.expiries))
        self.nodes = _lane_nodes(self.upper, self.data)

    def _all(self, sub):
        return len(sub) == self.x.shape[0] and np.array_equal(sub, np.arange(len(sub)))

    def take(self, sub):
        """x, eidx, mvol, mask, expiries of lanes ``sub`` (no device gather when that is every lane in order)."""
        arrays = (self.x, self.eidx, self.mvol, self.mask, self.expiries)
        return arrays if self._all(sub) else tuple(a[sub] for a in arrays)

    def quad(self, sub, n, upper=None):
        upper = self.upper[sub] if upper is None else upper
        x, eidx = (self.x, self.eidx) if self._all(sub) else (self.x[sub], self.eidx[sub])
        return _quadrature_batch(jnp.asarray(upper, self.x.dtype), x, eidx, n_nodes=n)

    def check(self, params, sub, n):
        """For lanes ``sub`` (padded group, all with N = n) at natural params (len(sub), 5): vols and normalised
        prices at (U, N), and whether each lane agrees with (max(U, fresh U), 2N): vols to QUAD_TOL or normalised
        prices to BETA_TOL (a price at rounding level has no well-defined vol, but that is no quadrature
        problem). Returns (vols, betas, ok (len(sub),), fresh U)."""
        x, eidx, _, mask, expiries = self.take(sub)
        fresh = np.asarray(_upper_batch(params, expiries))
        wider = np.maximum(self.upper[sub], fresh)
        beta, vols = (np.asarray(a) for a in _beta_vols_batch(params, x, eidx, expiries, self.quad(sub, n)))
        beta2, vols2 = (np.asarray(a) for a in _beta_vols_batch(params, x, eidx, expiries,
                                                                 self.quad(sub, 2 * n, wider)))
        with np.errstate(invalid="ignore"):
            agree = (np.abs(vols2 - vols) <= self.vol_tol) | (np.abs(beta2 - beta) <= self.beta_tol)
        bad = (np.asarray(mask) > 0) & ~agree
        self.disagree = bad   # per option (len(sub), options): the last check's unverified prices
        with np.errstate(invalid="ignore"):
            # prices verified, vols far apart (VOL_NOISE): a price at rounding level, whose vol is noise
            self.vol_unresolved = (np.asarray(mask) > 0) & agree & ~(np.abs(vols2 - vols) <= VOL_NOISE)
        self.gap = np.where(bad, np.abs(vols2 - vols), 0.0).max(axis=1, initial=0.0)
        return vols, beta, ~bad.any(axis=1), fresh

    def widen(self, lanes, fresh):
        """Next quadrature for lanes that failed the check: a longer range where the fresh scan asks for one (N by
        the rule), else twice the nodes."""
        longer = np.any(fresh > self.upper[lanes], axis=1)
        self.upper[lanes] = np.where(longer[:, None], U_SAFETY * np.maximum(self.upper[lanes], fresh),
                                     self.upper[lanes])
        rule = _lane_nodes(self.upper[lanes], dataclasses.replace(
            self.data, log_moneyness=self.data.log_moneyness[lanes], expiry_index=self.data.expiry_index[lanes],
            mask=self.data.mask[lanes]))
        doubled = np.minimum(2 * self.nodes[lanes], self.max_nodes)
        self.nodes[lanes] = np.where(longer, np.maximum(self.nodes[lanes], rule), doubled)
