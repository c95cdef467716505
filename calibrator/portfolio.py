"""Portfolios from GARCH volatilities: constant-conditional-correlation covariance, minimum-variance and
mean-variance weights, Black-Litterman, and a daily-rebalanced out-of-sample backtest.

Units. Everything follows the units of the returns the GARCH fit was made on: with returns in percent
(``percent=True``, the recommended scaling) variances and covariances are in percent^2 per period and
expected returns in percent per period. Weights are fractions of wealth (they sum to ``budget``).
A risk aversion lambda multiplies a variance and is compared with a return, so it has units 1/return:
lambda in percent units = lambda in decimal units / 100.

* ``ccc_covariance``: Bollerslev's (1990) constant conditional correlation model. R is the sample
  correlation of the standardised residuals of a batch fit (one column per asset); the covariance of
  the next period is D R D with D = diag(sqrt(h_{T+1})), the GARCH one-step variance forecasts.
* ``min_variance_weights`` / ``mean_variance_weights``: the quadratic programmes
  min w' S w and max w' mu - (lambda/2) w' S w subject to sum(w) = budget and box bounds (w >= 0 when
  ``long_only``). Solved by: the closed form of the equality-constrained problem when it is feasible
  (then it is the optimum); otherwise scipy's SLSQP with the analytic gradient, followed by a
  polishing step that re-solves the KKT system on SLSQP's active set and keeps the polished point only
  if it satisfies the KKT conditions (so the answer is exact to rounding, not to SLSQP's tolerance).
* ``black_litterman``: He & Litterman (1999) posterior with the (GARCH) covariance as the prior.
* ``rebalanced_backtest``: daily rebalancing, out of sample, against equal weight.
* ``embedded_asset_returns``: daily log returns (percent) of the S&P 500, NASDAQ and WTI crude shipped
  with ``arch``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from .fit_result import GarchFit
from .warnings import ConvergenceWarning, PersistenceWarning

__all__ = [
    "CCCCovariance", "ccc_covariance",
    "min_variance_closed_form", "min_variance_weights", "mean_variance_weights",
    "BlackLittermanResult", "black_litterman",
    "BacktestResult", "rebalanced_backtest", "BACKTEST_COLUMNS",
    "embedded_asset_returns",
]

PSD_RTOL = 1e-10          # smallest eigenvalue >= -PSD_RTOL * largest one
SYMMETRY_RTOL = 1e-10     # |S - S'| <= SYMMETRY_RTOL * max|S|
BUDGET_RTOL = 1e-6        # market weights must sum to 1 within this
SLSQP_FTOL = 1e-15        # on the objective scaled to O(1)
SLSQP_MAX_ITER = 1000
BACKTEST_COLUMNS = ("ann_return_pct", "ann_volatility_pct", "sharpe", "max_drawdown_pct", "avg_turnover",
                    "days")
STRATEGIES = ("min_variance", "mean_variance")
BENCHMARKS = ("equal_weight", "sample_min_variance")


# ====================================================================== input checks
def _finite_array(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(x).__name__}") from exc
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf values")
    return a


def _check_cov(cov, name: str = "cov", allow_stack: bool = False) -> np.ndarray:
    """A symmetric positive semi-definite matrix (N, N), or a stack (K, N, N) when allowed; symmetrised."""
    s = _finite_array(cov, name)
    ok_ndim = (2, 3) if allow_stack else (2,)
    if s.ndim not in ok_ndim or s.shape[-1] != s.shape[-2] or s.shape[-1] == 0:
        want = "(N, N) or (K, N, N)" if allow_stack else "(N, N)"
        raise ValueError(f"{name} must be a square matrix of shape {want}, got shape {s.shape}")
    size = np.max(np.abs(s)) if s.size else 0.0
    if np.max(np.abs(s - np.swapaxes(s, -1, -2))) > SYMMETRY_RTOL * max(size, 1e-300):
        raise ValueError(f"{name} is not symmetric")
    s = 0.5 * (s + np.swapaxes(s, -1, -2))
    eig = np.linalg.eigvalsh(s)
    bad = eig[..., 0] < -PSD_RTOL * np.maximum(eig[..., -1], 1e-300)
    if np.any(bad):
        where = "" if s.ndim == 2 else f" (matrix {int(np.flatnonzero(bad)[0])} of the stack)"
        raise ValueError(f"{name} is not positive semi-definite{where}: smallest eigenvalue "
                         f"{float(np.min(eig[..., 0])):.3g}")
    return s


def _check_scalar(x, name: str, positive: bool = False) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {x!r}") from exc
    if not np.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"{name} must be a finite{' positive' if positive else ''} number, got {x!r}")
    return v


def _box(n: int, long_only: bool, bounds, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (n,) (+-inf where unbounded); ValueError if sum(w) = budget is infeasible.

    bounds: None, one (low, high) pair for every asset, or a sequence of n pairs; None in a pair means
    unbounded. ``long_only`` raises every lower bound to at least 0."""
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    if bounds is not None:
        b = np.array(bounds, dtype=object)
        if b.shape == (2,):
            b = np.tile(b, (n, 1))
        if b.shape != (n, 2):
            raise ValueError(f"bounds must be one (low, high) pair or {n} pairs, got shape {b.shape}")
        for i, (low, high) in enumerate(b):
            if low is not None:
                lo[i] = _check_scalar(low, f"bounds[{i}][0]")
            if high is not None:
                hi[i] = _check_scalar(high, f"bounds[{i}][1]")
        if np.any(lo > hi):
            i = int(np.flatnonzero(lo > hi)[0])
            raise ValueError(f"bounds[{i}] has low {lo[i]} > high {hi[i]}")
    if long_only:
        lo = np.maximum(lo, 0.0)
        if np.any(lo > hi):
            i = int(np.flatnonzero(lo > hi)[0])
            raise ValueError(f"bounds[{i}] has an upper bound {hi[i]} < 0, infeasible with long_only=True")
    slack = 1e-12 * max(1.0, abs(budget))
    if lo.sum() > budget + slack or hi.sum() < budget - slack:
        raise ValueError(f"the constraints are infeasible: the weights must sum to budget={budget} but the "
                         f"bounds allow sums in [{lo.sum()}, {hi.sum()}]"
                         + (" (long_only=True forbids a negative budget)" if long_only and budget < 0 else ""))
    return lo, hi


# ====================================================================== the quadratic programme
# minimise 1/2 w'Qw - c'w  subject to  sum(w) = budget,  lo <= w <= hi   (Q positive semi-definite)

def _kkt_on_free_set(Q, c, budget, free, w_fixed):
    """Solve the equality-constrained problem over the free coordinates, the others held at w_fixed.

    Returns (w, eta) with eta the budget multiplier (Qw - c = eta 1 on the free set), or None when the
    KKT system has no solution (a singular Q whose range misses the constraint). For a singular but
    consistent system the minimum-norm solution is returned (any solution is optimal)."""
    f = np.flatnonzero(free)
    a = np.flatnonzero(~free)
    nf = f.size
    if nf == 0:
        return None
    m = np.zeros((nf + 1, nf + 1))
    m[:nf, :nf] = Q[np.ix_(f, f)]
    m[:nf, nf] = -1.0
    m[nf, :nf] = 1.0
    rhs = np.empty(nf + 1)
    rhs[:nf] = c[f] - Q[np.ix_(f, a)] @ w_fixed[a]
    rhs[nf] = budget - w_fixed[a].sum()
    sol, *_ = np.linalg.lstsq(m, rhs, rcond=None)
    if not np.all(np.isfinite(sol)):
        return None
    resid = np.max(np.abs(m @ sol - rhs))
    if resid > 1e-9 * max(1.0, np.max(np.abs(rhs)), np.max(np.abs(sol))):
        return None
    w = w_fixed.copy()
    w[f] = sol[:nf]
    return w, sol[nf]


def _satisfies_kkt(Q, c, w, eta, lo, hi, at_lo, at_hi) -> bool:
    """Feasibility of the free coordinates and the sign of the bound multipliers on the active ones."""
    scale_w = 1e-10 * max(1.0, np.max(np.abs(w)))
    free = ~(at_lo | at_hi)
    if np.any(w[free] < lo[free] - scale_w) or np.any(w[free] > hi[free] + scale_w):
        return False
    g = Q @ w - c - eta                        # the bound multipliers: >= 0 at a lower, <= 0 at an upper bound
    tol_g = 1e-9 * (1.0 + np.max(np.abs(Q @ w)) + np.max(np.abs(c)) + abs(eta))
    return bool(np.all(g[at_lo] >= -tol_g) and np.all(g[at_hi] <= tol_g))


def _feasible_start(lo, hi, budget):
    """w_i = clip(t, lo_i, hi_i) with t such that sum(w) = budget: sum_i clip(t, lo_i, hi_i) is piecewise
    linear and nondecreasing in t, so t is found exactly between two of its breakpoints."""
    t0 = budget / lo.size
    w = np.clip(t0, lo, hi)
    if w.sum() == budget:
        return w
    knots = np.unique(np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)], [t0]]))
    totals = np.clip(knots[:, None], lo, hi).sum(axis=1)
    j = int(np.searchsorted(totals, budget))          # totals[j-1] < budget <= totals[j]
    if j == 0:                                        # below every knot: the slope there is #(lo = -inf)
        t = knots[0] - (totals[0] - budget) / max(np.sum(~np.isfinite(lo)), 1)
    elif j == knots.size:                             # above every knot: the slope is #(hi = inf)
        t = knots[-1] + (budget - totals[-1]) / max(np.sum(~np.isfinite(hi)), 1)
    else:
        frac = (budget - totals[j - 1]) / (totals[j] - totals[j - 1])
        t = knots[j - 1] + frac * (knots[j] - knots[j - 1])
    return np.clip(t, lo, hi)


def _slsqp(Q, c, lo, hi, budget):
    """scipy's SLSQP on the problem (objective already scaled to O(1)). Returns the scipy result."""
    n = c.size
    bnds = [(None if not np.isfinite(a) else a, None if not np.isfinite(b) else b) for a, b in zip(lo, hi)]
    ones = np.ones(n)
    return minimize(lambda w: 0.5 * w @ Q @ w - c @ w, _feasible_start(lo, hi, budget),
                    jac=lambda w: Q @ w - c, method="SLSQP", bounds=bnds,
                    constraints=[dict(type="eq", fun=lambda w: w.sum() - budget, jac=lambda w: ones)],
                    options=dict(ftol=SLSQP_FTOL, maxiter=SLSQP_MAX_ITER))


def _polish(Q, c, x, lo, hi, budget):
    """Re-solve the KKT system on the active set of an approximate solution x; the exact optimum if the
    KKT conditions hold there (sufficient for a convex problem), else None."""
    tol = 1e-8 * max(1.0, abs(budget), np.max(np.abs(x)))
    at_lo = x <= lo + tol
    at_hi = (x >= hi - tol) & ~at_lo
    w_fixed = np.where(at_lo, lo, np.where(at_hi, hi, 0.0))
    free = ~(at_lo | at_hi)
    if not free.any():
        if abs(w_fixed.sum() - budget) > 1e-12 * max(1.0, abs(budget)):
            return None
        # every weight at a bound: eta is any value with the right multiplier signs; take the best one
        g = Q @ w_fixed - c
        eta_hi = np.min(g[at_lo]) if at_lo.any() else np.inf
        eta_lo = np.max(g[at_hi]) if at_hi.any() else -np.inf
        return w_fixed if eta_lo <= eta_hi + 1e-9 * (1 + np.max(np.abs(g))) else None
    sol = _kkt_on_free_set(Q, c, budget, free, w_fixed)
    if sol is None:
        return None
    w, eta = sol
    if not _satisfies_kkt(Q, c, w, eta, lo, hi, at_lo, at_hi):
        return None
    return np.clip(w, lo, hi)


def _solve_box_budget_qp(Q, c, lo, hi, budget) -> np.ndarray:
    """The minimiser of 1/2 w'Qw - c'w subject to sum(w) = budget and lo <= w <= hi (Q PSD).

    1. the closed form of the equality-constrained problem (KKT system): if it lies within the bounds it
       is the optimum (a convex problem whose unconstrained-in-sign optimum is feasible);
    2. otherwise scipy SLSQP (analytic gradient, ftol 1e-15 on the objective scaled to O(1));
    3. polished on SLSQP's active set (exact when the KKT conditions hold there), else SLSQP's point.
    """
    n = c.size
    scale = max(np.max(np.abs(np.diag(Q))), np.max(np.abs(c)), 1e-300)
    Qs, cs = Q / scale, c / scale
    sol = _kkt_on_free_set(Qs, cs, budget, np.ones(n, bool), np.zeros(n))
    if sol is not None:
        w = sol[0]
        tol = 1e-12 * max(1.0, np.max(np.abs(w)))
        if np.all(w >= lo - tol) and np.all(w <= hi + tol):
            return np.clip(w, lo, hi)
    res = _slsqp(Qs, cs, lo, hi, budget)
    w = _polish(Qs, cs, res.x, lo, hi, budget)
    if w is not None:
        return w
    x = np.clip(res.x, lo, hi)
    if not res.success or abs(x.sum() - budget) > 1e-8 * max(1.0, abs(budget)):
        raise RuntimeError(f"SLSQP did not solve the portfolio problem: {res.message}")
    return x


def _weights_out(w, names):
    return pd.Series(w, index=names, name="weight") if names is not None else w


def _names_of(x):
    return list(x.columns) if isinstance(x, pd.DataFrame) else None


# ====================================================================== weights
def min_variance_closed_form(cov, budget: float = 1.0) -> np.ndarray:
    """budget * S^{-1} 1 / (1' S^{-1} 1): the minimum-variance weights when only sum(w) = budget is
    imposed (short sales allowed). cov: (N, N) positive definite. Returns (N,) (a Series for a DataFrame)."""
    names = _names_of(cov)
    s = _check_cov(cov)
    budget = _check_scalar(budget, "budget")
    try:
        x = np.linalg.solve(s, np.ones(s.shape[0]))
    except np.linalg.LinAlgError as exc:
        raise ValueError("cov is singular: the unconstrained minimum-variance portfolio is not unique") from exc
    return _weights_out(budget * x / x.sum(), names)


def min_variance_weights(cov, *, long_only: bool = True, budget: float = 1.0, bounds=None):
    """Minimum-variance weights: minimise w' S w subject to sum(w) = budget and w >= 0 if ``long_only``
    (and ``bounds``, see below).

    cov: the covariance S of the asset returns over the holding period, (N, N), or a stack (K, N, N)
        solved one matrix at a time; any units (weights are scale-free). Symmetric PSD, else ValueError.
    budget: the sum of the weights (1 = fully invested).
    bounds: None, one (low, high) pair for every asset, or N pairs; None = unbounded on that side.
    Returns (N,) weights ((K, N) for a stack; a pandas Series for a DataFrame ``cov``). ValueError names
    the argument for non-finite, non-square, non-symmetric or non-PSD input and infeasible constraints.
    """
    names = _names_of(cov)
    s = _check_cov(cov, allow_stack=True)
    budget = _check_scalar(budget, "budget")
    lo, hi = _box(s.shape[-1], bool(long_only), bounds, budget)
    c = np.zeros(s.shape[-1])
    if s.ndim == 3:
        return np.stack([_solve_box_budget_qp(2.0 * m, c, lo, hi, budget) for m in s])
    return _weights_out(_solve_box_budget_qp(2.0 * s, c, lo, hi, budget), names)


def mean_variance_weights(expected_returns, cov, *, risk_aversion: float, long_only: bool = True,
                          budget: float = 1.0, bounds=None):
    """Mean-variance weights: maximise w' mu - (lambda/2) w' S w subject to sum(w) = budget and w >= 0 if
    ``long_only`` (and ``bounds`` as in ``min_variance_weights``).

    expected_returns: mu, (N,) (or (K, N) with a (K, N, N) stack), in the units of the returns, per period.
    cov: S, (N, N) or (K, N, N), the same units squared and the same period.
    risk_aversion: lambda > 0, units 1/return (lambda for percent returns = lambda for decimals / 100).
    Without binding bounds the answer is (1/lambda) S^{-1}(mu - eta 1), eta fixing the budget; as
    lambda grows it tends to the minimum-variance weights. Returns (N,) or (K, N) (a Series for a
    DataFrame ``cov``).
    """
    names = _names_of(cov)
    s = _check_cov(cov, allow_stack=True)
    if isinstance(expected_returns, pd.Series) and names is not None and list(expected_returns.index) != names:
        raise ValueError(f"expected_returns is labelled {list(expected_returns.index)} but cov {names}")
    mu = _finite_array(expected_returns, "expected_returns")
    if mu.shape != s.shape[:-1]:
        raise ValueError(f"expected_returns must have shape {s.shape[:-1]} to match cov {s.shape}, got {mu.shape}")
    lam = _check_scalar(risk_aversion, "risk_aversion", positive=True)
    budget = _check_scalar(budget, "budget")
    lo, hi = _box(s.shape[-1], bool(long_only), bounds, budget)
    if s.ndim == 3:
        return np.stack([_solve_box_budget_qp(lam * m, v, lo, hi, budget) for m, v in zip(s, mu)])
    return _weights_out(_solve_box_budget_qp(lam * s, mu, lo, hi, budget), names)


# ====================================================================== CCC covariance
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


def _standardised(fit: GarchFit, r: np.ndarray) -> np.ndarray:
    return (r - np.atleast_1d(np.asarray(fit.mu, dtype=float))) / np.sqrt(np.asarray(fit.conditional_variance,
                                                                                    dtype=float))


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
                      f"estimates anyway", ConvergenceWarning, stacklevel=3)


def ccc_covariance(fit: GarchFit, returns, *, horizon: int = 1) -> CCCCovariance:
    """Bollerslev's constant-conditional-correlation covariance from a batch GARCH fit.

    fit: a batch ``GarchFit`` (``fit_garch`` on a 2-D array / DataFrame, one column per asset). A column
        with status "error" raises ValueError naming it; "not_converged" columns warn.
    returns: the (T, N) returns the fit was made on (same units, same order of columns).
    horizon: 1 (default) gives the covariance of the next period's returns, D R D with
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
    if isinstance(horizon, bool) or not float(horizon).is_integer() or int(horizon) < 1:
        raise ValueError(f"horizon must be a positive integer (periods), got {horizon!r}")
    horizon = int(horizon)
    if isinstance(returns, pd.DataFrame) and list(returns.columns) != list(fit.names):
        raise ValueError(f"returns has columns {list(returns.columns)} but the fit was made on {list(fit.names)}")
    _check_fit_columns(fit)
    r = _finite_array(returns, "returns")
    h = np.asarray(fit.conditional_variance, dtype=float)
    if r.shape != h.shape:
        raise ValueError(f"returns has shape {r.shape} but the fit's conditional variance has shape {h.shape}; "
                         f"pass the returns the fit was made on")
    corr = _correlation(_standardised(fit, r))
    var = np.atleast_2d(fit.forecast(horizon)).sum(axis=1)
    vol = np.sqrt(var)
    return CCCCovariance(names=list(fit.names), correlation=corr, volatilities=vol,
                         covariance=corr * np.outer(vol, vol), horizon=horizon, percent=bool(fit.percent))


# ====================================================================== Black-Litterman
class BlackLittermanResult(NamedTuple):
    """prior_returns: pi = lambda S w_mkt, the equilibrium (implied) excess returns, (N,).
    expected_returns: the posterior mean mu_BL, (N,). covariance: S_BL = S + M^{-1}, (N, N), the
    covariance to optimise with. posterior_mean_covariance: M^{-1}, the uncertainty of mu_BL, (N, N).
    Units: those of ``cov`` (returns per period, and squared)."""

    prior_returns: np.ndarray
    expected_returns: np.ndarray
    covariance: np.ndarray
    posterior_mean_covariance: np.ndarray
    names: list | None = None


def black_litterman(cov, market_weights, *, risk_aversion: float, views=None, view_returns=None,
                    view_uncertainty=None, tau: float = 0.05) -> BlackLittermanResult:
    """He & Litterman (1999) posterior returns with ``cov`` (e.g. the GARCH CCC covariance) as the prior.

    cov: S, (N, N) PSD, returns squared per period (percent^2 for percent returns).
    market_weights: w_mkt, (N,), summing to 1 (ValueError otherwise).
    risk_aversion: lambda > 0 (units 1/return): the prior is pi = lambda S w_mkt.
    views: P, (K, N) (a 1-D (N,) array is one view); an absolute view on asset i is the unit row e_i, a
        relative view a row like (1, -1, 0). None: no views, the posterior mean is pi.
    view_returns: Q, (K,), what the views say P mu is, in return units per period.
    view_uncertainty: Omega, (K, K) PSD or (K,) view variances; a 1-D entry may be inf (that view is
        ignored) or 0 (a certain view). Default He-Litterman: Omega = diag(P tau S P').
    tau: scale of the uncertainty of the prior mean (tau S).

    mu_BL = [(tau S)^-1 + P' Omega^-1 P]^-1 [(tau S)^-1 pi + P' Omega^-1 Q] and S_BL = S + M^{-1},
    M^{-1} = [(tau S)^-1 + P' Omega^-1 P]^-1, computed in the equivalent form that inverts neither S nor
    Omega: mu_BL = pi + tau S P' (P tau S P' + Omega)^-1 (Q - P pi), M^{-1} = tau S - tau S P' (...)^-1 P tau S.
    """
    names = _names_of(cov)
    s = _check_cov(cov)
    n = s.shape[0]
    w = _finite_array(market_weights, "market_weights")
    if w.shape != (n,):
        raise ValueError(f"market_weights must have shape ({n},) to match cov, got {w.shape}")
    if abs(w.sum() - 1.0) > BUDGET_RTOL:
        raise ValueError(f"market_weights must sum to 1, they sum to {w.sum():.10g}")
    lam = _check_scalar(risk_aversion, "risk_aversion", positive=True)
    tau = _check_scalar(tau, "tau", positive=True)
    pi = lam * s @ w
    ts = tau * s
    if views is None:
        if view_returns is not None or view_uncertainty is not None:
            raise ValueError("view_returns / view_uncertainty given without views")
        return BlackLittermanResult(pi, pi.copy(), s + ts, ts, names)
    p = _finite_array(views, "views")
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != n or p.shape[0] == 0:
        raise ValueError(f"views must have shape (K, {n}), got {np.shape(views)}")
    k = p.shape[0]
    if view_returns is None:
        raise ValueError("view_returns (Q, one expected return per view) is required with views")
    q = np.atleast_1d(_finite_array(view_returns, "view_returns"))
    if q.shape != (k,):
        raise ValueError(f"view_returns must have shape ({k},) (one per view), got {q.shape}")
    if view_uncertainty is None:
        omega = np.diag(np.diag(p @ ts @ p.T))
    else:
        om = np.asarray(view_uncertainty, dtype=float)
        if om.ndim == 1:
            if om.shape != (k,) or np.any(np.isnan(om)) or np.any(om < 0) or np.any(om == -np.inf):
                raise ValueError(f"view_uncertainty as a vector must hold {k} variances >= 0 (inf allowed), got {om}")
            keep = np.isfinite(om)
            if not keep.all():      # infinitely uncertain views carry no information
                p, q, om = p[keep], q[keep], om[keep]
                if p.shape[0] == 0:
                    return BlackLittermanResult(pi, pi.copy(), s + ts, ts, names)
            omega = np.diag(om)
        else:
            if om.shape != (k, k):
                raise ValueError(f"view_uncertainty must have shape ({k}, {k}) or ({k},), got {om.shape}")
            omega = _check_cov(om, "view_uncertainty")
    a = p @ ts @ p.T + omega
    try:
        gain = np.linalg.solve(a, p @ ts).T          # tau S P' (P tau S P' + Omega)^-1, (N, K)
    except np.linalg.LinAlgError as exc:
        raise ValueError("views: P tau S P' + Omega is singular (certain views that are linearly dependent, "
                         "or a view on assets with zero variance)") from exc
    mu = pi + gain @ (q - p @ pi)
    post = ts - gain @ p @ ts
    post = 0.5 * (post + post.T)
    return BlackLittermanResult(pi, mu, s + post, post, names)


# ====================================================================== data
def embedded_asset_returns(start=None, end=None) -> pd.DataFrame:
    """Daily log returns in percent of the S&P 500 and NASDAQ composite (adjusted closes) and WTI crude
    (spot, FRED DCOILWTICO), as shipped with ``arch`` (1999-01-04 .. 2018-12-31 for the three together).

    Prices are aligned by date with an inner join and days with a missing price dropped BEFORE taking
    log differences, so each row is the return between consecutive common trading days for all three.
    start, end: optional date bounds (inclusive) on the returns. Columns: SP500, NASDAQ, WTI.
    """
    from arch.data import nasdaq, sp500, wti
    prices = pd.concat([sp500.load()["Adj Close"].rename("SP500"), nasdaq.load()["Adj Close"].rename("NASDAQ"),
                        wti.load()["DCOILWTICO"].rename("WTI")], axis=1, join="inner").dropna()
    prices = prices[(prices > 0).all(axis=1)]
    out = (100.0 * np.log(prices).diff()).iloc[1:]
    if start is not None:
        out = out.loc[pd.Timestamp(start):]
    if end is not None:
        out = out.loc[:pd.Timestamp(end)]
    out.index.name = "date"
    return out


# ====================================================================== backtest
@dataclass(frozen=True, eq=False)
class BacktestResult:
    """An out-of-sample daily-rebalanced backtest (see ``rebalanced_backtest``).

    summary: one row per strategy, columns ``BACKTEST_COLUMNS``: annualised mean of the daily simple
        returns (periods_per_year x mean, percent), annualised realised volatility (sqrt(periods_per_year)
        x std, ddof 1, percent), their ratio (no risk-free rate), maximum drawdown of the compounded
        wealth (percent), average daily turnover (sum |w_t - w_{t-1} drifted|, buys plus sells as a
        fraction of wealth; the first day excluded), number of days.
    returns: daily portfolio simple returns in percent, days x strategies.
    weights: strategy -> DataFrame (days x assets) of the weights held over each day.
    covariance: (days, N, N) the GARCH-CCC covariance used for each day (units of the returns squared).
    yearly_volatility: annualised realised volatility per calendar year (or per block of
        periods_per_year days without dates), years x strategies.
    volatility_ratio: per strategy, realised vol / equal-weight vol with a 95% moving-block bootstrap
        interval (block of 21 days, 2000 resamples, fixed seed): an honest measure of whether vol fell.
    fits: number of GARCH fits (windows x assets); fits_not_ok: how many did not converge (used anyway).
    settings: the arguments used. description: what was measured, in words.
    """

    summary: pd.DataFrame
    returns: pd.DataFrame
    weights: dict
    covariance: np.ndarray
    yearly_volatility: pd.DataFrame
    volatility_ratio: pd.DataFrame
    fits: int
    fits_not_ok: int
    settings: dict = field(default_factory=dict)
    description: str = ""

    def __repr__(self) -> str:
        return f"BacktestResult({self.description}\n{self.summary.to_string()})"


def _stack_windows(x: np.ndarray, refit_days: np.ndarray, window: int) -> np.ndarray:
    """(window, K*N): for refit day t_k, rows t_k - window .. t_k - 1 of x (T, N); column k*N + i."""
    idx = refit_days[:, None] - window + np.arange(window)[None, :]      # (K, W)
    blocks = x[idx]                                                     # (K, W, N)
    return blocks.transpose(1, 0, 2).reshape(window, -1)


def _rolling_corr_from_cumsums(c1, c2, start, window):
    """Correlations of rows start .. start+window-1 from prefix sums c1 (R+1, ..., N), c2 (R+1, ..., N, N)."""
    s1 = c1[start + window] - c1[start]
    s2 = c2[start + window] - c2[start]
    cov = s2 - s1[..., :, None] * s1[..., None, :] / window
    d = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    r = cov / (d[..., :, None] * d[..., None, :])
    r = 0.5 * (r + np.swapaxes(r, -1, -2))
    n = r.shape[-1]
    r[..., np.arange(n), np.arange(n)] = 1.0
    return r


def _garch_ccc_forecasts(x, window, refit_every, vol, dist, mean, percent, names, index):
    """One-day-ahead CCC covariances for days window .. T-1 using data up to the previous day only.

    Every ``refit_every`` days (t_k = window + k refit_every) GARCH is refitted on rows t_k - window ..
    t_k - 1, all refit dates and assets in ONE fit_garch call. Between refits the variance recursion
    runs forward with those parameters: h_{t+1} = omega + (alpha + gamma 1{e_t < 0}) e_t^2 + beta h_t,
    e_t = r_t - mu. R on day t is the correlation of the standardised residuals of rows t - window ..
    t - 1 (in-sample for the fitted window, filtered forward after it, with refit k's parameters).
    Returns (cov (D, N, N), mu (D, N) the fitted means, fits, fits_not_ok). fit_garch's convergence and
    persistence warnings (which number the stacked columns) are re-issued naming asset and window.
    """
    from .garch_fit import PERSISTENCE_BOUNDARY, fit_garch
    T, N = x.shape
    L = refit_every
    refit_days = np.arange(window, T, L)
    K = refit_days.size
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_garch(_stack_windows(x, refit_days, window), vol=vol, dist=dist, mean=mean, percent=percent)
    for w in caught:
        if not issubclass(w.category, (ConvergenceWarning, PersistenceWarning)):
            warnings.warn(w.message, w.category, stacklevel=3)

    def where(cols):
        def end(k):
            row = refit_days[k] - 1
            return str(index[row].date()) if isinstance(index, pd.DatetimeIndex) else f"row {row}"
        shown = ", ".join(f"{names[j % N]} (window ending {end(j // N)})" for j in cols[:3])
        return shown + (", ..." if len(cols) > 3 else "")

    status = np.asarray(fit.status, dtype=object)
    if np.any(status == "error"):
        j = int(np.flatnonzero(status == "error")[0])
        raise ValueError(f"returns: the GARCH fit of {where([j])} failed: {fit.error[j]}")
    bad = np.flatnonzero(status != "ok")
    not_ok = int(bad.size)
    if not_ok:
        warnings.warn(f"{not_ok} of {K * N} GARCH window fits did not converge and were used as they are: "
                      f"{where(bad)}", ConvergenceWarning, stacklevel=3)
    near = np.flatnonzero(np.asarray(fit.persistence) > PERSISTENCE_BOUNDARY)
    if near.size:
        warnings.warn(f"{near.size} of {K * N} GARCH window fits have persistence alpha + gamma/2 + beta at its "
                      f"bound 1 (near-integrated variance): {where(near)}", PersistenceWarning, stacklevel=3)
    par = {n: fit._vec(n).reshape(K, N) for n in ("omega", "alpha", "beta", "gamma", "mu")}
    h_win = np.asarray(fit.conditional_variance, dtype=float).reshape(window, K, N)
    x_win = _stack_windows(x, refit_days, window).reshape(window, K, N)
    z_win = (x_win - par["mu"]) / np.sqrt(h_win)
    xpad = np.concatenate([x, np.zeros((L, N))])          # days past the end are never used for weights
    days = refit_days[:, None] + np.arange(L)[None, :]    # (K, L)
    h_fwd = np.empty((L, K, N))
    h_fwd[0] = np.atleast_2d(fit.forecast(1))[:, 0].reshape(K, N)
    for j in range(1, L):
        e = xpad[days[:, j - 1]] - par["mu"]
        h_fwd[j] = par["omega"] + (par["alpha"] + par["gamma"] * (e < 0)) * e * e + par["beta"] * h_fwd[j - 1]
    z_fwd = (xpad[days.T] - par["mu"]) / np.sqrt(h_fwd)   # (L, K, N); row j is day t_k + j
    z = np.concatenate([z_win, z_fwd], axis=0)            # rows t_k - window .. t_k + L - 1
    zeros = np.zeros((1, K, N))
    c1 = np.concatenate([zeros, np.cumsum(z, axis=0)])
    c2 = np.concatenate([zeros[..., None] * zeros[..., None, :],
                         np.cumsum(z[..., :, None] * z[..., None, :], axis=0)])
    corr = np.stack([_rolling_corr_from_cumsums(c1, c2, j, window) for j in range(L)])   # (L, K, N, N)
    sd = np.sqrt(h_fwd)
    cov = sd[..., :, None] * corr * sd[..., None, :]
    cov = cov.transpose(1, 0, 2, 3).reshape(K * L, N, N)[: T - window]
    mu = np.broadcast_to(par["mu"][:, None, :], (K, L, N)).reshape(K * L, N)[: T - window]
    return cov, mu, K * N, not_ok


def _sample_covariances(x, window):
    """Sample covariance (ddof 1) of rows t - window .. t - 1 for t = window .. T-1: (D, N, N)."""
    T, N = x.shape
    c1 = np.concatenate([np.zeros((1, N)), np.cumsum(x, axis=0)])
    c2 = np.concatenate([np.zeros((1, N, N)), np.cumsum(x[:, :, None] * x[:, None, :], axis=0)])
    t = np.arange(window, T)
    s1 = c1[t] - c1[t - window]
    s2 = c2[t] - c2[t - window]
    cov = (s2 - s1[:, :, None] * s1[:, None, :] / window) / (window - 1)
    return 0.5 * (cov + cov.transpose(0, 2, 1))


def _max_drawdown_pct(r_pct: np.ndarray) -> float:
    wealth = np.cumprod(1.0 + r_pct / 100.0)
    peak = np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:]
    return float(100.0 * np.max(1.0 - wealth / peak))


def _turnover(w: np.ndarray, r_simple: np.ndarray) -> np.ndarray:
    """sum_i |w_t,i - drifted w_{t-1},i| for t >= 1; drift: w (1 + R_i) / (1 + R_p), cash earning 0."""
    grown = w[:-1] * (1.0 + r_simple[:-1])
    wealth = 1.0 + np.sum(w[:-1] * r_simple[:-1], axis=1, keepdims=True)
    return np.abs(w[1:] - grown / wealth).sum(axis=1)


def _block_bootstrap_ratio(a, b, block=21, reps=2000, seed=0):
    """Moving-block bootstrap 95% interval of std(a) / std(b) for paired daily series."""
    n = a.size
    rng = np.random.default_rng(seed)
    nb = int(np.ceil(n / block))
    starts = rng.integers(0, n - block + 1, size=(reps, nb))
    idx = (starts[:, :, None] + np.arange(block)).reshape(reps, -1)[:, :n]
    ratios = a[idx].std(axis=1, ddof=1) / b[idx].std(axis=1, ddof=1)
    return np.quantile(ratios, [0.025, 0.975])


def rebalanced_backtest(returns, *, strategy: str = "min_variance", window: int = 1000, refit_every: int = 21,
                        long_only: bool = True, budget: float = 1.0, bounds=None, vol: str = "garch",
                        dist: str = "normal", mean: str = "zero", percent: bool = True, log_returns: bool = True,
                        risk_aversion: float | None = None, benchmarks=BENCHMARKS,
                        periods_per_year: int = 252) -> BacktestResult:
    """Out-of-sample, daily-rebalanced backtest of GARCH-CCC portfolios against equal weight.

    returns: (T, N) DataFrame (or array) of daily returns, N >= 2, in percent when ``percent`` (the GARCH
        scaling), log returns when ``log_returns`` (as ``embedded_asset_returns`` gives them).
    strategy: "min_variance" (minimise w' S_t w) or "mean_variance" (maximise w' mu - (lambda/2) w' S_t w
        with mu the GARCH constant mean of the trailing window: needs ``mean="constant"`` and
        ``risk_aversion`` in 1/percent for percent returns).
    window: days of the trailing estimation window (>= 100, fit_garch's minimum; < 500 warns).
    refit_every: GARCH parameters are re-estimated every this many days on the trailing window; in
        between, the variance recursion runs forward with the last parameters.
    long_only, budget, bounds: constraints, as in ``min_variance_weights``.
    vol, dist, mean: the GARCH model, as in ``fit_garch``.
    benchmarks: any of "equal_weight" (budget/N each day; always included) and "sample_min_variance"
        (minimum variance with the sample covariance of the same trailing window).

    Timing, with day t = window, ..., T-1 (0-based rows) the days traded: the weights held over day t
    use ONLY rows up to t-1 (the GARCH fit on rows t_k - window .. t_k - 1 for the last refit t_k <= t,
    the variance filtered forward to day t with rows up to t-1, the correlation of the standardised
    residuals of rows t - window .. t - 1), and earn row t's return. Portfolio returns are simple
    returns, sum_i w_i R_i with R_i = exp(r_i) - 1 for log returns (in percent), the remainder of the
    budget in cash at 0%; no transaction costs. All assets' windows for all refit dates are estimated
    in a single batched ``fit_garch`` call; non-converged fits are used as they are and counted.

    Returns a ``BacktestResult`` (summary table, daily returns, weights, covariances, per-year
    volatility and the ratio of realised volatilities to equal weight with a bootstrap interval).
    """
    names = list(returns.columns) if isinstance(returns, pd.DataFrame) else None
    index = returns.index if isinstance(returns, (pd.DataFrame, pd.Series)) else None
    x = _finite_array(returns, "returns")
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"returns must be a 2-D (T, N) table with N >= 2 assets, got shape {x.shape}")
    T, N = x.shape
    names = names if names is not None else [f"asset{i}" for i in range(N)]
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r} is not supported; choose one of {STRATEGIES}")
    if isinstance(window, bool) or int(window) != window or window < 100:
        raise ValueError(f"window must be an integer >= 100 (fit_garch's minimum), got {window!r}")
    if isinstance(refit_every, bool) or int(refit_every) != refit_every or refit_every < 1:
        raise ValueError(f"refit_every must be a positive integer, got {refit_every!r}")
    window, refit_every = int(window), int(refit_every)
    if T < window + 2:
        raise ValueError(f"returns has {T} rows; window={window} leaves fewer than 2 days to trade")
    bench = tuple(benchmarks) if benchmarks is not None else ()
    unknown = [b for b in bench if b not in BENCHMARKS]
    if unknown:
        raise ValueError(f"benchmarks {unknown} are not supported; choose from {BENCHMARKS}")
    if isinstance(periods_per_year, bool) or int(periods_per_year) != periods_per_year or periods_per_year < 1:
        raise ValueError(f"periods_per_year must be a positive integer, got {periods_per_year!r}")
    budget = _check_scalar(budget, "budget")
    lo, hi = _box(N, bool(long_only), bounds, budget)
    if strategy == "mean_variance":
        if mean != "constant":
            raise ValueError("strategy='mean_variance' takes its expected returns from the GARCH constant mean: "
                             "pass mean='constant'")
        lam = _check_scalar(risk_aversion, "risk_aversion", positive=True)
    scale = 1.0 if percent else 100.0                   # to percent
    r_simple = np.expm1(x / (100.0 if percent else 1.0)) if log_returns else x / (100.0 if percent else 1.0)

    cov, mu, n_fits, not_ok = _garch_ccc_forecasts(x, window, refit_every, vol, dist, mean, percent, names,
                                                   index)
    D = T - window
    label = f"garch_{strategy}"
    weights = {}
    if strategy == "min_variance":
        weights[label] = np.stack([_solve_box_budget_qp(2.0 * s, np.zeros(N), lo, hi, budget) for s in cov])
    else:
        weights[label] = np.stack([_solve_box_budget_qp(lam * s, m, lo, hi, budget) for s, m in zip(cov, mu)])
    weights["equal_weight"] = np.full((D, N), budget / N)
    if "sample_min_variance" in bench:
        weights["sample_min_variance"] = np.stack([_solve_box_budget_qp(2.0 * s, np.zeros(N), lo, hi, budget)
                                                   for s in _sample_covariances(x, window)])
    traded = r_simple[window:]
    days = index[window:] if index is not None else pd.RangeIndex(window, T, name="day")
    port = pd.DataFrame({k: 100.0 * np.sum(w * traded, axis=1) for k, w in weights.items()}, index=days)

    rows = {}
    for k, w in weights.items():
        rp = port[k].to_numpy()
        ann_ret = periods_per_year * rp.mean()
        ann_vol = np.sqrt(periods_per_year) * rp.std(ddof=1)
        rows[k] = dict(ann_return_pct=ann_ret, ann_volatility_pct=ann_vol,
                       sharpe=ann_ret / ann_vol if ann_vol > 0 else np.nan,
                       max_drawdown_pct=_max_drawdown_pct(rp), avg_turnover=float(_turnover(w, traded).mean()),
                       days=D)
    summary = pd.DataFrame.from_dict(rows, orient="index")[list(BACKTEST_COLUMNS)]
    summary.index.name = "strategy"

    if isinstance(days, pd.DatetimeIndex):
        groups = days.year
    else:
        groups = np.arange(D) // periods_per_year
    yearly = port.groupby(np.asarray(groups)).std(ddof=1) * np.sqrt(periods_per_year)
    yearly.index.name = "year" if isinstance(days, pd.DatetimeIndex) else "block"
    ew = port["equal_weight"].to_numpy()
    ratio_rows = {}
    for k in weights:
        if k == "equal_weight":
            continue
        a = port[k].to_numpy()
        lo_ci, hi_ci = _block_bootstrap_ratio(a, ew) if D > 42 else (np.nan, np.nan)
        ratio_rows[k] = dict(vol_ratio=a.std(ddof=1) / ew.std(ddof=1), ci_low=lo_ci, ci_high=hi_ci,
                             years_lower_vol=int(np.sum(yearly[k] < yearly["equal_weight"])),
                             years=int(yearly.shape[0]))
    ratio = pd.DataFrame.from_dict(ratio_rows, orient="index")
    ratio.index.name = "strategy"

    first, last = (str(d.date()) if isinstance(d, pd.Timestamp) else str(d) for d in (days[0], days[-1]))
    description = (f"{D} days traded ({first} .. {last}), {N} assets {names}; weights for each day from data up "
                   f"to the day before; GARCH({vol}, {dist}, {mean} mean) refitted every {refit_every} days on "
                   f"the trailing {window} days; {'long-only, ' if long_only else ''}budget {budget}; daily "
                   f"rebalancing, no transaction costs; simple returns in percent"
                   + ("" if scale == 1.0 else " (inputs were decimals)"))
    settings = dict(strategy=strategy, window=window, refit_every=refit_every, long_only=bool(long_only),
                    budget=budget, bounds=bounds, vol=vol, dist=dist, mean=mean, percent=percent,
                    log_returns=log_returns, risk_aversion=risk_aversion, benchmarks=bench,
                    periods_per_year=periods_per_year)
    return BacktestResult(summary=summary, returns=port,
                          weights={k: pd.DataFrame(w, index=days, columns=names) for k, w in weights.items()},
                          covariance=cov, yearly_volatility=yearly, volatility_ratio=ratio, fits=n_fits,
                          fits_not_ok=not_ok, settings=settings, description=description)
