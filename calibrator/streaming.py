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

import math
import warnings
from collections import deque
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._validation import MAX_LOG_RETURN, is_number, is_whole
from pricer._stacklevel import user_stacklevel

__all__ = ["GarchStream"]

MIN_WINDOW = 250            # the network's shortest training length
PARAM_NAMES = ("omega", "alpha", "beta")
MIN_MEAN_REVERSION = 1e-6   # 1 - alpha - beta below this: no usable unconditional variance to start from
EXPLOSIVE_SLACK = 1e-9      # alpha + beta above 1 + this is explosive, not an integrated GARCH off by rounding


def _whole(value, name: str, minimum: int) -> int:
    if not is_whole(value) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _check_params(params) -> dict:
    """(omega, alpha, beta) as floats: omega > 0, alpha >= 0, beta >= 0, alpha + beta <= 1 (up to rounding).
    params: a dict (or any mapping, or a pandas Series such as a zero-mean GARCH fit's ``fit.params``)."""
    if isinstance(params, pd.Series):
        params = params.to_dict()
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a dict with keys {', '.join(PARAM_NAMES)}, got {type(params).__name__}")
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"params is missing {', '.join(map(repr, missing))} (it needs {', '.join(PARAM_NAMES)})")
    extra = sorted(map(str, set(params) - set(PARAM_NAMES)))
    if extra:
        # the stream is a zero-mean GARCH(1,1): a gamma, mu or nu given here would be silently ignored
        raise ValueError(f"params has keys the stream does not use: {extra} (GarchStream is a zero-mean "
                         f"GARCH(1,1) with {', '.join(PARAM_NAMES)})")
    for k in PARAM_NAMES:
        if not is_number(params[k]):
            raise ValueError(f"params[{k!r}] must be a finite number, got {params[k]!r}")
    p = {k: float(params[k]) for k in PARAM_NAMES}
    if p["omega"] <= 0:
        raise ValueError(f"params['omega'] must be > 0 (units of returns squared), got {params['omega']!r}")
    for k in ("alpha", "beta"):
        if p[k] < 0:
            raise ValueError(f"params[{k!r}] must be >= 0, got {params[k]!r}")
    if p["alpha"] + p["beta"] > 1.0 + EXPLOSIVE_SLACK:
        raise ValueError(f"params: alpha + beta = {p['alpha'] + p['beta']:.10g} > 1 (alpha={params['alpha']!r}, "
                         f"beta={params['beta']!r}) is an explosive GARCH: the variance forecast grows without "
                         f"bound; persistence must be below 1 (or exactly 1 with start_variance=)")
    return p


class GarchStream:
    """Online GARCH(1,1): ``update(r)`` returns h_{t+1} = omega + alpha r_t^2 + beta h_t (zero mean).

    window: returns kept for re-estimation (whole number >= 250); refit_every: steps between
    re-estimations (whole number, 0 = never); min_obs: returns needed before the first re-estimation
    (whole number >= 250, the network's shortest training length); params: starting (omega, alpha,
    beta) as a dict (or a Series: a zero-mean GARCH fit's ``params``) with exactly those keys, omega > 0
    (units of returns squared), alpha, beta >= 0, alpha + beta <= 1; default RiskMetrics-like alpha
    0.06, beta 0.93 with omega set from the first return's square. start_variance: h for the first
    return (units of returns squared, > 0); default the unconditional variance omega / (1 - alpha -
    beta), so it is required when alpha + beta is 1 or within 1e-6 of it (an integrated GARCH, e.g.
    RiskMetrics alpha 0.06, beta 0.94); alpha + beta > 1 (explosive) is refused. arch (None: the
    default, "hybrid"; "mlp" is the cheapest) / refine (whole number of Newton steps, 0 to 20) /
    fallback (None or "mle"): passed to the neural calibrator (nn_fit.fit_nn); method="mle"
    re-estimates by exact MLE instead (arch, refine and fallback are then refused). percent: the
    returns are in percent (as ``fit_garch``'s ``percent``): the re-estimations are told so, and
    ``last_fit`` remembers it, so that ``garch_to_heston(stream.last_fit)`` annualises in decimals (without
    it a percent stream's Heston variances came out 100^2 too large). Bad settings raise ValueError naming
    them, at construction.
    """

    def __init__(self, window: int = 2500, refit_every: int = 250, *, min_obs: int = 250, params=None,
                 start_variance: float | None = None, arch: str | None = None, refine: int = 0,
                 method: str = "nn", fallback: str | None = None, percent: bool = False):
        # checked here, not at the first update or refit: a bad setting found 250 returns into a stream
        # would stop it mid-way (and int() truncated refit_every=2.5 to 2 without a word)
        self.window = _whole(window, "window", MIN_WINDOW)
        self.refit_every = _whole(refit_every, "refit_every", 0)
        self.min_obs = _whole(min_obs, "min_obs", MIN_WINDOW)
        if method not in ("nn", "mle"):
            raise ValueError(f"method={method!r}: choose 'nn' or 'mle'")
        from .nn_fit import DEFAULT_ARCH, check_options   # the neural calibrator's own checks, now not 250 returns in
        self.refine = check_options(arch or DEFAULT_ARCH, refine, fallback)
        if method == "mle" and (arch is not None or self.refine or fallback is not None):
            # fit_garch refuses them with method="mle" too: ignoring them would hide a mistaken setting
            raise ValueError("arch, refine and fallback apply to method='nn' only")
        self.arch, self.method, self.fallback = arch, method, fallback
        if not isinstance(percent, (bool, np.bool_)):
            raise ValueError(f"percent must be True or False, got {percent!r}")
        self.percent = bool(percent)
        self._params = _check_params(params) if params is not None else None
        if start_variance is not None and (not is_number(start_variance) or start_variance <= 0):
            raise ValueError(f"start_variance must be a positive number (units of returns squared), "
                             f"got {start_variance!r}")
        self._start = None if start_variance is None else float(start_variance)
        if self._params is not None and self._start is None:
            persistence = self._params["alpha"] + self._params["beta"]
            if persistence > 1.0 - MIN_MEAN_REVERSION:
                # omega / (1 - alpha - beta), the default start, is infinite or negative at or above 1 and
                # beyond 1e6 omega just below it: not a starting variance anyone means
                raise ValueError(
                    f"params: alpha + beta = {persistence:.10g} (alpha={self._params['alpha']!r}, "
                    f"beta={self._params['beta']!r}) leaves no unconditional variance to start from; pass "
                    f"start_variance= (the variance of the first return, units of returns squared) for an "
                    f"integrated GARCH")
        self._buf: deque = deque(maxlen=self.window)
        self._h = None
        self.count = 0
        self.refits = 0
        self.failed_refits = 0   # scheduled re-estimations that failed (each warned; the parameters stayed)
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
        """Feed one return r_t (units of the returns, e.g. decimals); returns h_{t+1}, the conditional
        variance of the next one (units of returns squared). A return that is not a finite number, or a
        return beyond +-3 in one period (+-300 in percent; ``MAX_LOG_RETURN``, a log move of a price x20: a bad tick), raises ValueError naming ``r`` and
        leaves the stream as it was (a NaN or a bad tick would stay in the variance and the refit window for
        good): skip it, or correct it and feed it again."""
        if type(r) is not float and not is_number(r):     # the check only off the plain-float fast path
            raise ValueError(f"r must be a finite number (one return), got {r!r}; the stream is unchanged")
        r = float(r)
        largest = MAX_LOG_RETURN * (100.0 if self.percent else 1.0)
        if abs(r) > largest:   # a bad tick would sit in the variance for weeks and in the window for good
            unit = "%" if self.percent else ""
            raise ValueError(f"r = {r!r} is beyond +-{largest:g}{unit} in one period, a move no market makes (a "
                             f"log return of {MAX_LOG_RETURN:g} is a price x{math.exp(MAX_LOG_RETURN):.0f}): a bad "
                             f"tick, or {'a return x100 twice' if self.percent else 'a percent return (pass percent=True)'}"
                             f"? The stream is unchanged")
        p = self._params
        if p is None:
            e2 = max(r * r, 1e-12)
            p = dict(omega=0.01 * e2, alpha=0.06, beta=0.93)
        h = self._h
        if h is None:
            h = self._start if self._start is not None else p["omega"] / (1.0 - p["alpha"] - p["beta"])
        h = p["omega"] + p["alpha"] * r * r + p["beta"] * h
        if not math.isfinite(h):       # NaN/inf r (Python floats), or |r| so large that r * r overflows
            what = "a finite number (one return)" if not math.isfinite(r) else "a return whose square is finite"
            raise ValueError(f"r must be {what}, got {r!r}; the stream is unchanged")
        # commit only now: an error above leaves the stream as it was
        self._params, self._h = p, h
        self._buf.append(r)
        self.count += 1
        if (self.refit_every and self.count >= self.min_obs
                and (self.count - self.min_obs) % self.refit_every == 0):
            try:
                self.refit()
            except ValueError as exc:
                # the return is already in: raising here would make a retry count it twice, and a stream must
                # go on (a window that cannot be fitted, e.g. 250 equal returns, keeps the parameters it had)
                self.failed_refits += 1
                warnings.warn(f"GarchStream: the scheduled re-estimation after return {self.count} failed, the "
                              f"parameters stay as they were: {exc}", RuntimeWarning, stacklevel=user_stacklevel())
        return self._h

    def refit(self) -> dict:
        """Re-estimate the parameters on the current window and re-filter the variance through it."""
        from .garch_fit import fit_garch
        data = np.asarray(self._buf, dtype=float)
        if self.method == "nn":
            fit = fit_garch(data, method="nn", refine=self.refine, fallback=self.fallback, nn_arch=self.arch,
                            percent=self.percent)
        else:
            fit = fit_garch(data, method="mle", percent=self.percent)
        self.last_fit = fit
        self._params = dict(omega=float(fit.omega), alpha=float(fit.alpha), beta=float(fit.beta))
        self._h = float(fit.forecast(1)[0])
        self.refits += 1
        return self.params
