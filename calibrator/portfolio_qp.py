"""The long-only / box-constrained quadratic programme behind the portfolio weights, and the checks on
its inputs (finite arrays, PSD covariances, scalars, box bounds).

The programme is: minimise 1/2 w'Qw - c'w subject to sum(w) = budget and lo <= w <= hi (Q positive
semi-definite). Solved by: the closed form of the equality-constrained problem when it is feasible
(then it is the optimum); otherwise scipy's SLSQP with the analytic gradient, followed by a polishing
step that re-solves the KKT system on SLSQP's active set and keeps the polished point only if it
satisfies the KKT conditions (so the answer is exact to rounding, not to SLSQP's tolerance).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

PSD_RTOL = 1e-10          # smallest eigenvalue >= -PSD_RTOL * largest one
SYMMETRY_RTOL = 1e-10     # |S - S'| <= SYMMETRY_RTOL * max|S|
SLSQP_FTOL = 1e-15        # on the objective scaled to O(1)
SLSQP_MAX_ITER = 1000


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
