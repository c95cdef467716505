"""calibrator.streaming: keep a GARCH(1,1) conditional variance and its parameters current, one return
at a time.

    stream = GarchStream(window=2500, refit_every=250)
    for r in returns:
        h_next = stream.update(r)      # the variance recursion only: microseconds, plain Python floats
    stream.params                      # dict(omega, alpha, beta), re-estimated every ``refit_every`` steps
                                       # by the neural calibrator on the last ``window`` returns

A re-estimation re-runs the variance filter over the window with the new parameters (the fit's own
conditional variances), so the variance stays consistent with the parameters; the update in between is
the recursion alone (~0.2 microseconds on this CPU, benchmarks/nn_calibrator.py). Units are the caller's (omega, h in returns^2).
"""
from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["GarchStream"]


class GarchStream:
    """Online GARCH(1,1): ``update(r)`` returns h_{t+1} = omega + alpha r_t^2 + beta h_t (zero mean).

    window: returns kept for re-estimation; refit_every: steps between re-estimations (0 = never);
    min_obs: returns needed before the first re-estimation (>= 250, the network's shortest training
    length); params: starting (omega, alpha, beta) as a dict, default RiskMetrics-like alpha 0.06,
    beta 0.93 with omega set from the first return's square; arch (None: the default, "hybrid"; "mlp"
    is the cheapest) / refine / fallback: passed to the neural calibrator (nn_fit.fit_nn);
    method="mle" re-estimates by exact MLE instead.
    """

    def __init__(self, window: int = 2500, refit_every: int = 250, *, min_obs: int = 250, params=None,
                 arch: str | None = None, refine: int = 0, method: str = "nn", fallback: str | None = None):
        if window < 250:
            raise ValueError(f"window must be >= 250 returns, got {window}")
        if refit_every < 0:
            raise ValueError(f"refit_every must be >= 0, got {refit_every}")
        if method not in ("nn", "mle"):
            raise ValueError(f"method={method!r}: choose 'nn' or 'mle'")
        self.window, self.refit_every, self.min_obs = int(window), int(refit_every), max(int(min_obs), 250)
        self.arch, self.refine, self.method, self.fallback = arch, int(refine), method, fallback
        self._buf: deque = deque(maxlen=self.window)
        self._params = dict(params) if params is not None else None
        self._h = None
        self.count = 0
        self.refits = 0
        self.last_fit = None

    # --------------------------------------------------------------- state
    @property
    def params(self) -> dict:
        return dict(self._params) if self._params is not None else {}

    @property
    def variance(self) -> float:
        """h for the next return (units of returns squared); NaN before the first return."""
        return float("nan") if self._h is None else self._h

    # --------------------------------------------------------------- updates
    def update(self, r: float) -> float:
        """Feed one return; returns the conditional variance of the next one."""
        r = float(r)
        self._buf.append(r)
        self.count += 1
        p = self._params
        if p is None:
            e2 = max(r * r, 1e-12)
            p = self._params = dict(omega=0.01 * e2, alpha=0.06, beta=0.93)
        if self._h is None:
            self._h = p["omega"] / max(1.0 - p["alpha"] - p["beta"], 1e-6)
        self._h = p["omega"] + p["alpha"] * r * r + p["beta"] * self._h
        if (self.refit_every and self.count >= self.min_obs
                and (self.count - self.min_obs) % self.refit_every == 0):
            self.refit()
        return self._h

    def refit(self) -> dict:
        """Re-estimate the parameters on the current window and re-filter the variance through it."""
        from .garch_fit import fit_garch
        data = np.asarray(self._buf, dtype=float)
        if self.method == "nn":
            fit = fit_garch(data, method="nn", refine=self.refine, fallback=self.fallback, nn_arch=self.arch)
        else:
            fit = fit_garch(data, method="mle")
        self.last_fit = fit
        self._params = dict(omega=float(fit.omega), alpha=float(fit.alpha), beta=float(fit.beta))
        self._h = float(fit.forecast(1)[0])
        self.refits += 1
        return self.params
