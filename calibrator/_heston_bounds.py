"""Which Heston parameters a calibration left on the optimiser's bounds, and the warning that says so.

A fit that ends on a bound has "converged" (the bounding transform flattens, so the stopping test is met)
but it is the best fit inside the box, not a free minimum: often inputs in the wrong units or a surface
Heston does not fit."""
from __future__ import annotations

import warnings

import numpy as np

from ._heston_lm import BOUNDS, RHO_MAX
from .heston_map import FIELDS
from pricer._stacklevel import user_stacklevel

BOUND_TOL = 1e-6   # on a bound: within this fraction of the log range of BOUNDS (rho: of RHO_MAX)


def _at_bound(p: np.ndarray, feller: bool) -> list:
    """Per surface, {name: ("lower" | "upper", the bound it sits on)} for the natural parameters p (S, 5)."""
    out = []
    for row in p:
        pinned = {}
        for k, name in enumerate(FIELDS[:4]):
            if name == "xi" and feller:
                continue
            lo, hi = BOUNDS[name]
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = (np.log(row[k]) - np.log(lo)) / (np.log(hi) - np.log(lo))
            if frac <= BOUND_TOL:
                pinned[name] = ("lower", lo)
            elif frac >= 1.0 - BOUND_TOL:
                pinned[name] = ("upper", hi)
        if row[4] <= -RHO_MAX * (1.0 - BOUND_TOL):
            pinned["rho"] = ("lower", -RHO_MAX)
        elif row[4] >= RHO_MAX * (1.0 - BOUND_TOL):
            pinned["rho"] = ("upper", RHO_MAX)
        out.append(pinned)
    return out


def warn_at_bound(pinned: list, sse, labels: list) -> None:
    """RuntimeWarning naming the surfaces (``labels``, a prefix each) whose parameters sit on a bound."""
    hit = [j for j in range(len(pinned)) if pinned[j]]
    if not hit:
        return
    sse = np.atleast_1d(sse)

    def describe(j):
        names = ", ".join(f"{n} at its {side} bound {b:g}" for n, (side, b) in pinned[j].items())
        return f"{labels[j]}{names}, sse {float(sse[j]):.6g} vol pts^2"
    listed = "; ".join(describe(j) for j in hit[:5]) + ("; ..." if len(hit) > 5 else "")
    warnings.warn(f"calibrate_heston: {len(hit)} of {len(pinned)} surface(s) ended with parameters on the optimiser's "
                  f"bounds ({listed}): that is the best fit within the bounds, not a free minimum (converged "
                  f"only says the optimiser stopped); check the inputs' units and the start. The result's "
                  f"at_bound names them", RuntimeWarning, stacklevel=user_stacklevel())
