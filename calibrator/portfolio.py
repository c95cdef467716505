"""Portfolios from GARCH volatilities: minimum-variance and mean-variance weights and Black-Litterman.
This module is the public entry point of the portfolio tools and re-exports the others: the CCC
covariance (``calibrator.ccc``), the daily-rebalanced backtest (``calibrator.portfolio_backtest``) and
the embedded asset returns (``calibrator.asset_data``); the quadratic-programme solver lives in
``calibrator.portfolio_qp``.

Units. Everything follows the units of the returns the GARCH fit was made on: with returns in percent
(``percent=True``, the recommended scaling) variances and covariances are in percent^2 per period and
expected returns in percent per period. Weights are fractions of wealth (they sum to ``budget``).
A risk aversion lambda multiplies a variance and is compared with a return, so it has units 1/return:
lambda in percent units = lambda in decimal units / 100.

* ``min_variance_weights`` / ``mean_variance_weights``: the quadratic programmes
  min w' S w and max w' mu - (lambda/2) w' S w subject to sum(w) = budget and box bounds (w >= 0 when
  ``long_only``), solved exactly to rounding by ``portfolio_qp``.
* ``black_litterman``: He & Litterman (1999) posterior with the (GARCH) covariance as the prior.
* ``ccc_covariance``: Bollerslev's (1990) constant conditional correlation model (``calibrator.ccc``).
* ``rebalanced_backtest``: daily rebalancing, out of sample, against equal weight
  (``calibrator.portfolio_backtest``).
* ``embedded_asset_returns``: daily log returns (percent) of the S&P 500, NASDAQ and WTI crude shipped
  with ``arch`` (``calibrator.asset_data``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .asset_data import embedded_asset_returns
from .ccc import CCCCovariance, ccc_covariance
from .portfolio_backtest import BACKTEST_COLUMNS, BacktestResult, rebalanced_backtest
from .portfolio_qp import _box, _check_cov, _check_scalar, _finite_array, _solve_box_budget_qp

__all__ = [
    "CCCCovariance", "ccc_covariance",
    "min_variance_closed_form", "min_variance_weights", "mean_variance_weights",
    "BlackLittermanResult", "black_litterman",
    "BacktestResult", "rebalanced_backtest", "BACKTEST_COLUMNS",
    "embedded_asset_returns",
]

BUDGET_RTOL = 1e-6        # market weights must sum to 1 within this


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
