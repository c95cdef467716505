"""Standardised batch results -> the ``GarchFit`` a caller gets: parameters, covariances, log-likelihood
and variances back in the input's units, failed columns marked, and the fit's soft problems as warnings.
Shared by the maximum-likelihood fit (garch_fit.py) and the neural calibrator (nn_fit.py).
"""
from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np

from . import _validation as val
from .fit_result import GarchFit
from .warnings import ConvergenceWarning, PersistenceWarning
from pricer._stacklevel import user_stacklevel

__all__ = ["PERSISTENCE_BOUNDARY", "assemble_fit", "variance_scale_on_device"]

PERSISTENCE_BOUNDARY = 1.0 - 1e-4


def variance_scale_on_device(dtype, scale):
    """scale^2 (N,) for the device to put the variances in the caller's units in the pass that makes them
    (float64), or None: in float32 a scale beyond ~1e19 would overflow, so assemble_fit scales in float64."""
    return jnp.asarray(scale**2, dtype) if jnp.dtype(dtype) == jnp.float64 else None


def assemble_fit(spec, prep, percent, backcast_mode, errors, bad, loc, scale, out, dtype) -> GarchFit:
    """Map standardised results back to the input's units and build the GarchFit (with warnings).
    ``out["sigma2"]`` (T, N) is in the input's units already where ``variance_scale_on_device`` gave the
    device a scale (``dtype`` the computation's dtype), standardised otherwise."""
    T, N = prep.data.shape
    names = spec.param_names
    x = out["x"].copy()                                   # (N, k)
    jac = np.ones((N, len(names)))                         # d x_orig / d x_std (diagonal)
    for j, name in enumerate(names):
        if name == "mu":
            x[:, j] = loc + scale * x[:, j]
            jac[:, j] = scale
        elif name == "omega":
            x[:, j] = scale**2 * x[:, j]
            jac[:, j] = scale**2
    cov = out["cov"] * jac[:, :, None] * jac[:, None, :]
    cov_h = out["cov_hessian"] * jac[:, :, None] * jac[:, None, :]
    loglik = -T * out["f"] - T * np.log(scale)
    if variance_scale_on_device(dtype, scale) is None:
        sigma2 = out["sigma2"] * scale**2
    else:
        sigma2 = out["sigma2"].copy() if bad.any() else out["sigma2"]    # a copy only to write NaN columns
    backcast_value = out["backcast"] * scale**2
    last_resid = out["last_resid"] * scale
    converged = out["converged"].astype(bool)
    finite = np.all(np.isfinite(x), axis=1) & np.isfinite(loglik)
    converged &= finite

    status = np.where(converged, "ok", "not_converged").astype(object)
    error = np.array([""] * N, dtype=object)
    for j in np.flatnonzero(~converged & ~bad):
        error[j] = (f"column {prep.columns[j]!r}: the optimiser stopped after {int(out['iterations'][j])} "
                    f"iterations without meeting its tolerance (Newton decrement {out['decrement'][j]:.2g})")
    for j in np.flatnonzero(bad):
        status[j] = "error"
        error[j] = errors[j]
        x[j] = np.nan
        cov[j] = np.nan
        cov_h[j] = np.nan
        loglik[j] = np.nan
        sigma2[:, j] = np.nan
        backcast_value[j] = np.nan
        last_resid[j] = np.nan
        converged[j] = False
    values = {n: x[:, j] for j, n in enumerate(names)}
    pers = values["alpha"] + 0.5 * values.get("gamma", 0.0) + values["beta"]

    def pick(a):
        if not prep.single:
            return a
        v = a[0]
        return v.item() if isinstance(v, np.generic) else v

    not_conv = np.flatnonzero((status == "not_converged"))
    if not_conv.size:
        where = "" if prep.single else f" for {not_conv.size} of {N} series ({val._names(prep, not_conv)})"
        warnings.warn(f"the maximum-likelihood optimiser did not converge{where}; the estimates may be "
                      f"inaccurate. Check the data, or raise max_iter", ConvergenceWarning, stacklevel=user_stacklevel())
    at_boundary = np.flatnonzero(~bad & (pers > PERSISTENCE_BOUNDARY))
    if at_boundary.size:
        where = "" if prep.single else f" for {at_boundary.size} of {N} series ({val._names(prep, at_boundary)})"
        warnings.warn(f"persistence alpha + gamma/2 + beta = {pers[at_boundary[0]]:.6f} is at its upper bound "
                      f"1{where}: the process is (nearly) integrated, so its unconditional variance and long "
                      f"horizon forecasts are not identified", PersistenceWarning, stacklevel=user_stacklevel())

    sigma2.flags.writeable = False    # read-only whichever way it was made (often the device's own buffer)
    zeros = np.zeros(N)
    return GarchFit(
        vol=spec.vol, dist=spec.dist, mean=spec.mean, percent=percent, backcast=backcast_mode,
        param_names=names, names=list(prep.columns), single=prep.single, nobs=T,
        omega=pick(values["omega"]), alpha=pick(values["alpha"]), beta=pick(values["beta"]),
        gamma=pick(values.get("gamma", np.where(bad, np.nan, zeros))),
        mu=pick(values.get("mu", np.where(bad, np.nan, zeros))),
        nu=pick(values["nu"]) if "nu" in values else None,
        loglik=pick(loglik), converged=pick(converged), iterations=pick(out["iterations"].astype(int)),
        status=pick(status), error=pick(error), backcast_value=pick(backcast_value),
        conditional_variance=sigma2[:, 0] if prep.single else sigma2,
        cov=cov[0] if prep.single else cov, cov_hessian=cov_h[0] if prep.single else cov_h,
        index=prep.index, _last_resid=last_resid, _last_sigma2=sigma2[-1],
    )
