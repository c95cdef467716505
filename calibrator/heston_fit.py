"""calibrate_heston: fit Heston to implied-volatility surfaces by Levenberg-Marquardt in JAX (vmapped over surfaces).

Objective: the sum of squared implied-volatility errors, in vol points (1 vol point = 0.01):
sse = sum_i (100 (sigma_model,i - sigma_market,i))^2 over the options of a surface.

Pipeline (one surface; a batch of surfaces is ``jax.vmap`` of it, padded to common shapes). Step 1 lives in
_heston_pricing.py, step 3 and the bounds in _heston_lm.py, the inputs' checks in _heston_surface.py; this file
the batches of surfaces and the quadrature's check in _heston_lanes.py; this file assembles the result
(``heston_implied_vols``, pricing given parameters through the same path, is in heston_implied.py):

1. Prices. Heston European prices by Fourier inversion of the little-trap characteristic function
   (``pricer.analytic.heston_characteristic_function``), Lewis' form with a Black-Scholes control variate, as in
   ``pricer.analytic.heston_price`` -- but with the characteristic function evaluated once per *expiry* and shared
   by all strikes of that expiry: per expiry e the integral runs over [0, U_e] with an N-node Gauss-Legendre rule,
   U_e where a coarse scan finds the integrand below 1e-15 (as heston_price does), and the strike-dependent
   weights w_j cos(u_j ln(F/K)), w_j sin(...) are precomputed once per pass. A Jacobian then costs E x N
   characteristic-function evaluations (E expiries) plus two (M x N) contractions, instead of M x 2112.
   N (a power of two, static) is picked per surface from U_e |ln(F/K)| (the oscillation to resolve) and *verified*
   at the solution against 2N nodes and a fresh U: where the implied vols differ by more than ``QUAD_TOL`` (1e-9
   in float64) that surface's calibration goes on from there with a longer range or 2N (``_Lanes``), so the
   reported optimum is priced to ~1e-9 in vol whatever the parameters. Surfaces needing the same N run as one
   vmapped batch (padded to a few batch sizes), so one surface with a slowly decaying integrand (small v0, short
   expiry) does not make a thousand others pay for its nodes.
2. Implied vols: the normalised OTM price (no discounting needed) inverted by ``implied_vol.implied_total_vol_otm``,
   whose derivative is implicit (price tangent / vega).
3. Levenberg-Marquardt (Marquardt's diagonal scaling, Nielsen's damping update) on unconstrained coordinates,
   Jacobian by forward-mode autodiff (``jax.linearize`` + 5 tangents), all in one ``lax.while_loop``.
   Bounds by transforms (``BOUNDS``): v0, theta, kappa, xi = exp(lo + (hi - lo) sigmoid(y)) in log space, rho =
   0.999 tanh(y). With ``feller=True`` xi is replaced by the ratio xi / sqrt(2 kappa theta) in (0, 1), so every
   iterate satisfies 2 kappa theta >= xi^2.

Units: strikes and spot in currency, expiries in years, vols annualised decimals, rates continuously compounded
zero rates (linear interpolation in expiry, flat beyond the ends), dividend a continuous yield.

Accuracy (float64, tests/test_heston_fit.py): prices through this path (``heston_implied_vols``) within 7e-11 of
QuantLib's AnalyticHestonEngine (Gauss-Lobatto, 1e-12) at spot 100 over 1 week..10 years, strikes 50%..200%,
xi up to 2, |rho| up to 0.95; on the DAX surface within 2e-12 of QuantLib's default engine at spot 4468 (its
64-point Laguerre engine, used in QuantLib's own DAX test, is off by up to 6e-8). Implied vols to ~1e-13 relative.
Speed (2-core CPU, benchmarks/heston_calibration.py): the DAX surface (104 options, 8 expiries, 15 LM steps)
in ~16 ms warm against ~116 ms for QuantLib's LM; 1,000 synthetic 35-option surfaces in ~13 s warm. Compiling
is extra (seconds per batch shape and node count; the first call pays it).
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._heston_lanes import MAX_PASSES, NODE_BUCKETS, _groups, _Lanes, _lm_batch, _natural_batch, _padded
from ._heston_lm import BOUNDS, VOL_POINTS, _to_unconstrained
from ._heston_resolution import leave_out_unresolved
from ._heston_isolation import checked_start, good_surfaces_input, split_bad_surfaces, warn_not_calibrated
from ._heston_surface import GENERIC_START, _label, _prepare, _row
from .heston_map import FIELDS, HestonParams
from ._validation import is_number, is_whole
from ._heston_bounds import _at_bound, warn_at_bound
from .heston_implied import heston_implied_vols
from pricer._stacklevel import user_stacklevel

__all__ = ["calibrate_heston", "HestonCalibration", "heston_implied_vols", "BOUNDS", "GENERIC_START"]



# ------------------------------------------------------------------------------------------------ result (inputs: _heston_surface.py)
@dataclasses.dataclass(frozen=True, eq=False)
class HestonCalibration:
    """What ``calibrate_heston`` returns. One surface -> scalars; a batch -> arrays of shape (S,), in the order of
    ``surface_ids`` (order of first appearance in the input).

    params: HestonParams (v0, kappa, theta, xi, rho), annualised decimals.
    sse: sum of squared implied-vol errors in vol points^2 (errors x 100, squared).
    iterations: Levenberg-Marquardt steps (trial points, each one residual-and-Jacobian evaluation), all passes
        together.
    converged: the LM stopping test was met (not the iteration cap) and the quadrature check passed. It does not
        say the optimum is interior: a parameter the fit drives onto a bound of ``BOUNDS`` (or rho onto
        +-RHO_MAX) stops the optimiser there as well (the bounding transform flattens), so read ``at_bound`` too.
    fitted: the input surface (same row order) with columns model_vol (decimal) and error (vol points, model -
        market).
    nodes: Gauss-Legendre nodes per expiry used for the final pricing (per surface); passes: quadrature passes run
        (a pass calibrates the surfaces still pending, grouped by node count, then checks each against 2N nodes).
    at_bound: the parameters that ended on a bound (within BOUND_TOL of the log range of ``BOUNDS``; rho within
        BOUND_TOL RHO_MAX of +-RHO_MAX, ``_heston_bounds``; with ``feller`` xi is not checked: the Feller bound is the one asked for):
        a tuple of names, empty when none (one surface), or a list of such tuples (a batch). Such a result is the
        best fit within the bounds, not a free minimum -- often a sign of inputs in the wrong units or of a surface
        Heston does not fit -- and ``calibrate_heston`` warns (RuntimeWarning) naming them, the bound and the sse.
    errors: surface_id -> message for the surfaces of a batch left out for bad input (their params and sse
        NaN, iterations and nodes 0, converged False, fitted model_vol NaN); empty when none was.
    """

    params: HestonParams
    sse: Any
    iterations: Any
    converged: Any
    surface_ids: list | None
    fitted: pd.DataFrame
    nodes: Any
    passes: int
    at_bound: Any = ()
    errors: dict = dataclasses.field(default_factory=dict)

    def __repr__(self):
        if self.surface_ids is None:
            p = ", ".join(f"{n}={float(getattr(self.params, n)):.6g}" for n in FIELDS)
            pinned = f", at_bound={', '.join(self.at_bound)}" if self.at_bound else ""
            return (f"HestonCalibration({p}; sse={float(self.sse):.6g} vol pts^2, iterations={int(self.iterations)}, "
                    f"converged={bool(self.converged)}{pinned})")
        pinned = sum(1 for names in self.at_bound if names)
        pinned = f", {pinned} with parameters at a bound" if pinned else ""
        failed = f", {len(self.errors)} not calibrated (bad input: see errors)" if self.errors else ""
        return (f"HestonCalibration({len(self.surface_ids)} surfaces, {int(np.sum(self.converged))} converged"
                f"{pinned}{failed}, median sse={_median(self.sse):.6g} vol pts^2)")






def _median(values) -> float:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else float("nan")


# ------------------------------------------------------------------------------------------------ public
def _warn_unpriced(fitted: pd.DataFrame, sse, ids, rows, batch: bool) -> None:
    """A RuntimeWarning naming the surfaces whose sse is not finite, with their first options the model
    could not price to an implied vol (the fit is then marked not converged): options far from the
    forward, whose prices fall below the pricer's resolution, or a spot or strikes in other units."""
    lost = np.flatnonzero(~np.isfinite(sse))
    if not lost.size:
        return
    strike, expiry = (pd.to_numeric(fitted[c]).to_numpy(dtype=float) for c in ("strike", "expiry"))
    parts = []
    for j in lost[:3]:
        unpriced = [r for r in rows[j] if not np.isfinite(fitted["model_vol"].iloc[r])]
        where = ", ".join(f"{_row(fitted, int(r))} (strike {strike[r]:.6g}, expiry {expiry[r]:.4g})"
                          for r in unpriced[:3])
        # each row's words (``_row``) name its surface_id in a batch; a surface with none named says it here
        parts.append((f"surface_id {_label(ids[j])!r}: " if batch and not unpriced else "")
                     + f"{len(unpriced)} of {len(rows[j])} options ({where}{', ...' if len(unpriced) > 3 else ''})")
    warnings.warn(f"calibrate_heston: the model's implied vol could not be computed for some options, so the sse is "
                  f"not finite and the fit is marked not converged: {'; '.join(parts)}"
                  f"{' and more surfaces' if lost.size > 3 else ''}. Their prices are beyond the pricer's resolution: "
                  f"strikes far from the forward, or a spot or strikes in other units (moneyness for strikes?); drop "
                  f"those options or check the inputs", RuntimeWarning, stacklevel=user_stacklevel())


def _without_bad_surfaces(surface, keep, errors, *, arguments, options) -> HestonCalibration:
    """The batch's result with the surfaces at positions ``keep`` calibrated together and the others (``errors``:
    surface_id -> message) NaN, not converged, named in a RuntimeWarning."""
    (good_input, rows, ids) = good_surfaces_input(surface, *arguments, keep)
    good = calibrate_heston(*good_input, **options)
    warn_not_calibrated(errors, len(ids))

    def widen(values, fill):
        out = np.full(len(ids), fill, dtype=np.result_type(np.asarray(values).dtype, type(fill)))
        out[keep] = values
        return out
    params = HestonParams(*(widen(getattr(good.params, field), np.nan) for field in FIELDS))
    at_bound = [()] * len(ids)
    for j, names in zip(keep, good.at_bound):
        at_bound[j] = names
    fitted = surface.copy()
    for column in ("model_vol", "error"):
        values = np.full(len(surface), np.nan)
        values[rows] = good.fitted[column].to_numpy(dtype=float)
        fitted[column] = values
    return HestonCalibration(params, widen(good.sse, np.nan), widen(good.iterations, 0), widen(good.converged, False),
                             ids, fitted, widen(good.nodes, 0), good.passes, at_bound, errors)


def calibrate_heston(surface: pd.DataFrame, spot, rate, dividend=0.0, initial=None, *, feller: bool = False,
                     max_iter: int = 200, ftol: float | None = None, xtol: float | None = None,
                     gtol: float | None = None, dtype=None) -> HestonCalibration:
    """Calibrate Heston to implied-volatility surface(s): minimise the sum of squared implied-vol errors.

    surface: DataFrame, one row an option, columns ``strike`` (currency, > 0), ``expiry`` (years, > 0),
        ``implied_vol`` (annualised decimal, > 0); with a ``surface_id`` column it is a batch of surfaces,
        calibrated together (vmapped; surfaces needing the same quadrature size share one call). Each surface needs
        at least 5 options.
    spot: the underlying price (> 0): a number, or one per surface (a dict/Series keyed by surface_id, or a
        sequence in the order of first appearance).
    rate: continuously-compounded zero rate: a number (or one per surface), or a DataFrame with columns
        ``expiry`` (years) and ``zero_rate`` (and optionally ``surface_id``), interpolated linearly in expiry and
        flat beyond its ends.
    dividend: continuous dividend yield, a number or one per surface.
    initial: the starting point, anything with v0, kappa, theta, xi, rho as attributes or keys (e.g. what
        ``garch_to_heston`` returns; scalars or one per surface). Default: v0 = theta = the surface's mean
        implied variance, kappa = 1, xi = 0.5, rho = -0.5. A given start must be a Heston parameter set (v0 >= 0,
        theta, kappa, xi > 0, |rho| <= 1), else ValueError naming ``initial['<field>']``. A valid start outside
        the optimiser's bounds (``BOUNDS``, |rho| <= 0.999) begins on the nearest bound, with a RuntimeWarning
        naming it (with ``feller`` xi is bounded by Feller instead, and a start beyond it begins at
        xi = 0.99 sqrt(2 kappa theta)).
    feller: keep 2 kappa theta >= xi^2 (by parameterisation, so every iterate satisfies it).
    max_iter: Levenberg-Marquardt iteration cap per pass. ftol, xtol, gtol: stop when the actual and predicted
        relative decreases of the sse are both <= ftol, the step is <= xtol (relative, unconstrained
        coordinates), or the largest gradient entry (vol points^2 per unit) is <= gtol. Defaults: 1e-10, 1e-10,
        1e-12 in float64; 1e-5, 1e-5, 1e-5 in float32.
    dtype: computation dtype (default: JAX's default float; enable x64 for float64, which this is tested in).

    Returns a ``HestonCalibration`` (params, sse in vol points^2, iterations, converged, at_bound, fitted); where a
    parameter ends on a bound a RuntimeWarning says so (see ``HestonCalibration.at_bound``). Bad input raises
    ValueError naming the column and row (or the surface), including values in the wrong units: an implied_vol
    above 5 (500%: percent?), an expiry above 100 years (days?), a rate, zero_rate or dividend beyond +-2
    (200%: percent?; beyond +-1 a pricer.PercentLikeWarning). In a batch, a surface whose input is bad does not
    stop the others: it is left out, named in a RuntimeWarning and in ``errors``, its results NaN; ValueError
    only where no surface can be calibrated or the whole input is wrong (a missing column, a spot list of the
    wrong length).
    """
    if not isinstance(feller, (bool, np.bool_)):
        raise ValueError(f"feller must be True or False, got {feller!r}")
    if not is_whole(max_iter) or max_iter < 1:
        raise ValueError(f"max_iter must be a whole number >= 1, got {max_iter!r}")
    for name, value in (("ftol", ftol), ("xtol", xtol), ("gtol", gtol)):
        if value is not None and (not is_number(value) or value < 0):
            raise ValueError(f"{name} must be a number >= 0 (or None for the default), got {value!r}")
    from .garch_fit import check_dtype
    dtype = check_dtype(dtype)
    # a batch that fails is checked again surface by surface, and its good surfaces calibrated by a call of their
    # own: what the failed try warned of before failing is said again by that call, at the same caller's line
    # (the default filter shows it once; no catch_warnings here, on every call: it is not thread-safe)
    try:
        data, ids, batch = _prepare(surface, spot, rate, dividend)
        p0 = checked_start(initial, ids, data, feller=bool(feller), batch=batch)
    except ValueError:
        split = split_bad_surfaces(surface, spot, rate, dividend, initial, feller=bool(feller))
        if split is None:   # one surface, or a problem of the whole input
            raise
        return _without_bad_surfaces(surface, *split, arguments=(spot, rate, dividend, initial),
                                     options=dict(feller=bool(feller), max_iter=max_iter, ftol=ftol, xtol=xtol,
                                                  gtol=gtol, dtype=dtype))
    defaults = (1e-10, 1e-10, 1e-12) if dtype.itemsize == 8 else (1e-5, 1e-5, 1e-5)
    tol = {name: jnp.asarray(default if value is None else value, dtype)
           for name, value, default in zip(("ftol", "xtol", "gtol"), (ftol, xtol, gtol), defaults)}
    feller = jnp.asarray(bool(feller))

    given = data.mask
    data = leave_out_unresolved(data, dtype, surface, ids, batch)
    S = len(ids)
    lanes = _Lanes(data, dtype)
    y = np.asarray(_to_unconstrained(p0, bool(feller)), dtype)
    lanes.start(_natural_batch(jnp.asarray(y), feller))
    iterations = np.zeros(S, int)
    conv, ok = np.zeros(S, bool), np.zeros(S, bool)
    vols = np.full(data.market_vol.shape, np.nan)
    used = lanes.nodes.copy()
    pending, passes = np.arange(S), 0
    while pending.size and passes < MAX_PASSES:
        passes += 1
        for n, idx in list(_groups(pending, lanes.nodes)):
            sub, k = _padded(idx, len(ids)), len(idx)
            x, eidx, mvol, mask, expiries = lanes.take(sub)
            y_sub, _, its, cv = _lm_batch(jnp.asarray(y[sub]), x, eidx, mvol, mask, expiries, lanes.quad(sub, n),
                                          feller=feller, max_iter=int(max_iter), **tol)
            y[idx] = np.asarray(y_sub)[:k]
            iterations[idx] += np.asarray(its)[:k]
            conv[idx] = np.asarray(cv)[:k]
            used[idx] = n
            v, _, good, fresh = lanes.check(_natural_batch(y_sub, feller), sub, n)
            vols[idx], ok[idx] = v[:k], good[:k]
            failed = ~good[:k] & (n < NODE_BUCKETS[-1])
            if failed.any():
                lanes.widen(idx[failed], fresh[:k][failed])
        pending = np.flatnonzero(~ok & (used < NODE_BUCKETS[-1]))
    if not ok.all():
        which = ", ".join(repr(_label(ids[j])) for j in np.flatnonzero(~ok)[:5]) if batch else "the surface"
        warnings.warn(f"calibrate_heston: the Fourier quadrature could not be verified at the solution for "
                      f"{int((~ok).sum())} surface(s) ({which}); their implied vols change by more than "
                      f"{lanes.vol_tol:g} with twice the nodes. The parameters are likely extreme; those results are "
                      f"marked not converged", RuntimeWarning, stacklevel=user_stacklevel())

    with np.errstate(invalid="ignore"):
        err = np.where(data.mask > 0, VOL_POINTS * (vols - data.market_vol), 0.0)
    sse = np.sum(err * err, axis=1)
    converged = conv & ok & np.isfinite(sse)
    p = np.asarray(_natural_batch(jnp.asarray(y), feller), dtype=float)
    pinned = _at_bound(p, bool(feller))
    warn_at_bound(pinned, sse, [f"surface_id {_label(i)!r}: " if batch else "" for i in ids])
    at_bound = [tuple(d) for d in pinned]

    fitted = surface.copy()
    model_vol = np.full(len(surface), np.nan)
    # an option left out for float32's resolution has no vol worth reporting (a rounded price's vol is noise)
    vols = np.where((given > 0) & (data.mask == 0), np.nan, vols)
    for j, rows in enumerate(data.rows):
        model_vol[rows] = vols[j, : len(rows)]
    fitted["model_vol"] = model_vol
    fitted["error"] = VOL_POINTS * (model_vol - fitted["implied_vol"].to_numpy(dtype=float))
    _warn_unpriced(fitted, sse, ids, data.rows, batch)

    if batch:
        hp = HestonParams(*(p[:, k] for k in range(5)))
        return HestonCalibration(hp, sse, iterations, converged, ids, fitted, used, passes, at_bound)
    hp = HestonParams(*(float(p[0, k]) for k in range(5)))
    return HestonCalibration(hp, float(sse[0]), int(iterations[0]), bool(converged[0]), None, fitted, int(used[0]),
                             passes, at_bound[0])
