"""Bollerslev's (1990) constant-conditional-correlation (CCC) covariance from a batch GARCH fit.

R is the sample correlation of the standardised residuals of a batch fit (one column per asset); the
covariance of the next period is D R D with D = diag(sqrt(h_{T+1})), the GARCH one-step variance
forecasts. Units: those of the returns the fit was made on (percent^2 per period for percent returns).
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from ._validation import is_whole
from .fit_result import GarchFit
from .portfolio_qp import _finite_array
from .value_at_risk import check_same_columns, standardised_residuals
from .warnings import ConvergenceWarning
from pricer._stacklevel import user_stacklevel

__all__ = ["CCCCovariance", "ccc_covariance"]


class CCCCovariance(NamedTuple):
    """Constant-conditional-correlation covariance of the period(s) after a fitted sample.

    names: the assets (the fit's columns). correlation: R, (N, N), the sample correlation of the
    standardised residuals. volatilities: (N,), sqrt of the summed variance forecasts over ``horizon``
    periods (the next period's conditional standard deviation for horizon 1), units of the returns.
    covariance: D R D, (N, N), units of the returns squared. horizon: periods covered. percent: the
    fit's flag (True: percent and percent^2).
    """

    names: list
    correlation: np.ndarray
    volatilities: np.ndarray
    covariance: np.ndarray
    horizon: int
    percent: bool

    def frame(self) -> pd.DataFrame:
        """The covariance as a DataFrame labelled by asset."""
        return pd.DataFrame(self.covariance, index=self.names, columns=self.names)


def _correlation(z: np.ndarray) -> np.ndarray:
    """Pearson sample correlation of the columns of z (T, N), exactly symmetric with a unit diagonal."""
    zc = z - z.mean(axis=0)
    c = zc.T @ zc
    d = np.sqrt(np.diag(c))
    r = c / np.outer(d, d)
    r = 0.5 * (r + r.T)
    np.fill_diagonal(r, 1.0)
    return r


def _check_fit_columns(fit: GarchFit, what: str = "fit"):
    status = np.atleast_1d(np.asarray(fit.status, dtype=object))
    error = np.atleast_1d(np.asarray(fit.error, dtype=object))
    for j, st in enumerate(status):
        if st == "error":
            raise ValueError(f"{what}: column {fit.names[j]!r} has status 'error' ({error[j]}); "
                             f"drop it or fix its data before building a covariance")
    bad = [fit.names[j] for j, st in enumerate(status) if st != "ok"]
    if bad:
        warnings.warn(f"{what}: the GARCH fit did not converge for {bad}; the covariance uses those "
                      f"estimates anyway", ConvergenceWarning, stacklevel=user_stacklevel())


def ccc_covariance(fit: GarchFit, returns, *, horizon: int = 1) -> CCCCovariance:
    """Bollerslev's constant-conditional-correlation covariance from a batch GARCH fit.

    fit: a batch ``GarchFit`` (``fit_garch`` on a 2-D array / DataFrame, one column per asset). A column
        with status "error" raises ValueError naming it; "not_converged" columns warn.
    returns: the (T, N) returns the fit was made on (same units, same order of columns).
    horizon: a whole number of periods >= 1 (an int, or a float such as 2.0; text, bools and NaN raise
        ValueError). 1 (default) gives the covariance of the next period's returns, D R D with
        D = diag(sqrt(h_{T+1})) and R = corr of the standardised residuals (r_t - mu) / sqrt(h_t).
        horizon H > 1 gives the covariance of the H-period summed return with D = diag(sqrt(sum of the
        H variance forecasts)): exact on the diagonal; off the diagonal it takes rho_ij sqrt(H_i H_j)
        for sum_k rho_ij E sqrt(h_ik h_jk), an upper bound for positive rho (Cauchy-Schwarz) that is close
        when the volatilities move together.
    """
    if not isinstance(fit, GarchFit):
        raise ValueError(f"fit must be a GarchFit from fit_garch, got {type(fit).__name__}")
    if fit.single:
        raise ValueError("fit is a single-series fit; a CCC covariance needs a batch fit, one column per asset "
                         "(fit_garch on a 2-D array or DataFrame)")
    # is_whole, not float(): float("2") read the text "2" as 2 periods, and float(None) raised TypeError
    if not is_whole(horizon) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer (periods), got {horizon!r}")
    horizon = int(horizon)
    check_same_columns(fit, returns)
    _check_fit_columns(fit)
    z = standardised_residuals(fit, _finite_array(returns, "returns"))   # ValueError on a shape mismatch
    corr = _correlation(z)
    var = np.atleast_2d(fit.forecast(horizon)).sum(axis=1)
    vol = np.sqrt(var)
    return CCCCovariance(names=list(fit.names), correlation=corr, volatilities=vol,
                         covariance=corr * np.outer(vol, vol), horizon=horizon, percent=bool(fit.percent))
