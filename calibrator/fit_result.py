"""GarchFit: what ``fit_garch`` returns. A plain dataclass of numpy values plus forecasts.

One series in -> scalars (floats, bools, strings) and 1-D paths; a batch in -> one entry per column
(arrays of shape (N,), paths of shape (T, N) / (N, horizon)). Units are those of the input returns:
mu in return units, omega and variances in return units squared (percent^2 when ``percent=True``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._validation import is_number, is_whole

MAX_HORIZON = 100_000   # periods a forecast may run (400 years of days): the recursion runs per period

__all__ = ["GarchFit"]


@dataclass(frozen=True, eq=False)
class GarchFit:
    """Maximum-likelihood GARCH(1,1)/GJR(1,1,1) fit of one series or a batch (one per column).

    Attributes (scalar for one series, array (N,) for a batch):
        omega, alpha, beta, gamma (0 for vol="garch"), mu (0 for mean="zero"),
        nu (Student-t degrees of freedom; None for dist="normal"),
        loglik (log-likelihood with all constants, as arch reports it), converged, iterations,
        status ("ok" | "not_converged" | "error"), error (text naming the column and index; "" if ok),
        backcast_value (the h_{-1} proxy used, units of returns squared).
    conditional_variance: h_t, shape (T,) or (T, N), units of returns squared; read-only (for a batch it
        is the device's buffer itself, not a copy: copy it to change it).
    std_errors: robust (sandwich, Bollerslev-Wooldridge) standard errors of the free parameters: a
        pandas Series (one series) or DataFrame (rows = series, columns = parameters).
    std_errors_hessian: non-robust ones (inverse Hessian), same layout.
    cov: robust covariance, (k, k) or (N, k, k), parameters in ``param_names`` order.
    """

    vol: str
    dist: str
    mean: str
    percent: bool
    backcast: str
    param_names: tuple
    names: list
    single: bool
    nobs: int
    omega: Any
    alpha: Any
    beta: Any
    gamma: Any
    mu: Any
    nu: Any
    loglik: Any
    converged: Any
    iterations: Any
    status: Any
    error: Any
    backcast_value: Any
    conditional_variance: np.ndarray
    cov: np.ndarray
    cov_hessian: np.ndarray
    index: Any = None
    _last_resid: np.ndarray = field(default=None, repr=False)
    _last_sigma2: np.ndarray = field(default=None, repr=False)

    # ------------------------------------------------------------------ helpers
    def _out(self, values):
        values = np.asarray(values)
        return values[0].item() if self.single else values

    def _vec(self, name) -> np.ndarray:
        """A parameter as a (N,) float array, whatever the batch shape."""
        v = getattr(self, name)
        if v is None:
            return np.full(len(self.names), np.nan)
        return np.atleast_1d(np.asarray(v, dtype=float))

    def _frame(self, values: np.ndarray):
        frame = pd.DataFrame(values, index=pd.Index(self.names, name="series"), columns=list(self.param_names))
        return frame.iloc[0].rename(self.names[0]) if self.single else frame

    # ------------------------------------------------------------------ parameters
    @property
    def params(self):
        """Free parameters: a pandas Series (one series) or DataFrame (rows = series)."""
        return self._frame(np.stack([self._vec(n) for n in self.param_names], axis=-1))

    @property
    def std_errors(self):
        """Robust (sandwich) standard errors, laid out like ``params``."""
        return self._frame(np.sqrt(np.diagonal(self._cov3(self.cov), axis1=-2, axis2=-1)))

    @property
    def std_errors_hessian(self):
        """Non-robust standard errors from the inverse Hessian (what the FCP benchmark tabulates)."""
        return self._frame(np.sqrt(np.diagonal(self._cov3(self.cov_hessian), axis1=-2, axis2=-1)))

    def _cov3(self, c):
        c = np.asarray(c)
        return c[None] if c.ndim == 2 else c

    @property
    def persistence(self):
        """alpha + gamma/2 + beta."""
        return self._out(self._vec("alpha") + 0.5 * self._vec("gamma") + self._vec("beta"))

    @property
    def unconditional_variance(self):
        """omega / (1 - persistence), units of returns squared (inf when persistence >= 1; NaN for a
        series whose fit failed, whose parameters are NaN)."""
        pers = np.atleast_1d(self.persistence)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(np.isnan(pers), np.nan, np.where(pers < 1, self._vec("omega") / (1.0 - pers), np.inf))
        return self._out(value)

    # ------------------------------------------------------------------ forecasts
    def forecast(self, horizon: int) -> np.ndarray:
        """Analytic conditional-variance forecasts for the ``horizon`` periods after the sample.

        With observations t = 0..T-1, entry k-1 is E[h_{T-1+k} | data up to T-1] (k = 1 is known exactly
        at the end of the sample; later ones use E h = omega + persistence * previous). Shape (horizon,)
        for one series, (N, horizon) for a batch, one row per series. Units of returns squared. Matches
        arch's ``forecast(horizon=..., method="analytic")``.
        """
        if not is_whole(horizon) or not 1 <= horizon <= MAX_HORIZON:
            raise ValueError(f"horizon must be a whole number of periods from 1 to {MAX_HORIZON:,}, got {horizon!r}")
        horizon = int(horizon)
        omega, alpha, gamma, beta = (self._vec(n) for n in ("omega", "alpha", "gamma", "beta"))
        e = np.atleast_1d(self._last_resid)
        h = np.atleast_1d(self._last_sigma2)
        h1 = omega + (alpha + gamma * (e < 0)) * e * e + beta * h
        pers = alpha + 0.5 * gamma + beta
        out = np.empty((h1.shape[0], horizon))
        out[:, 0] = h1
        for k in range(1, horizon):
            out[:, k] = omega + pers * out[:, k - 1]
        return out[0] if self.single else out

    def volatility_term_structure(self, horizons, periods_per_year: int = 252) -> np.ndarray:
        """Annualised volatility, in decimals (0.2 = 20%), of the return over each horizon (in periods):
        sqrt(periods_per_year / H * sum_{k=1..H} E h_{T+k}), divided by 100 when the fit is in percent.

        horizons: an int or a 1-D sequence of ints. Shape (len(horizons),) for one series, (N, len) for a
        batch (a scalar horizon drops that axis).
        """
        hs = np.atleast_1d(np.asarray(horizons)) if horizons is not None else np.asarray([], dtype=object)
        if hs.dtype.kind not in "iuf" or hs.ndim != 1 or hs.size == 0 or np.any(hs < 1) \
                or np.any(hs != np.round(hs)):
            raise ValueError(f"horizons must be positive integers, got {horizons!r}")
        if not is_number(periods_per_year) or periods_per_year <= 0:
            raise ValueError(f"periods_per_year must be a positive number (252 for daily data), got {periods_per_year!r}")
        hs = hs.astype(int)
        path = np.atleast_2d(self.forecast(int(hs.max())))
        cum = np.cumsum(path, axis=1)[:, hs - 1]
        vol = np.sqrt(periods_per_year * cum / hs)
        if self.percent:
            vol = vol / 100.0
        if np.ndim(horizons) == 0:
            vol = vol[:, 0]
        return vol[0] if self.single else vol

    def summary(self) -> pd.DataFrame:
        """Parameters, robust standard errors, t-stats and the fit status in one table per series."""
        p, se = np.atleast_2d(self.params), np.atleast_2d(self.std_errors)
        rows = []
        for i, name in enumerate(self.names):
            for j, par in enumerate(self.param_names):
                rows.append({"series": name, "param": par, "estimate": p[i, j], "std_error": se[i, j],
                             "t_stat": p[i, j] / se[i, j] if se[i, j] > 0 else np.nan})
        return pd.DataFrame(rows).set_index(["series", "param"])

    def __repr__(self) -> str:
        model = f"{'GJR-GARCH(1,1,1)' if self.vol == 'gjr' else 'GARCH(1,1)'}, {self.dist}, {self.mean} mean"
        units = "percent" if self.percent else "decimal"
        if self.single:
            pars = ", ".join(f"{n}={float(self._vec(n)[0]):.6g}" for n in self.param_names)
            return (f"GarchFit({model}, {units} returns, nobs={self.nobs}: {pars}, loglik={float(self.loglik):.6f}, "
                    f"status={self.status!r})")
        ok = int(np.sum(np.asarray(self.status) == "ok"))
        return f"GarchFit({model}, {units} returns, {len(self.names)} series x {self.nobs} obs, {ok} ok)"
