"""GARCH -> Heston: map a fitted GARCH(1,1) / GJR-GARCH(1,1,1) to Heston parameters (annualised, decimal).

The GARCH fit (calibrator.fit_garch, one series or a batch) describes the daily conditional variance h_t
of returns r_t = mu + sqrt(h_t) z_t,

    h_{t+1} = omega + (alpha + gamma 1{z_t < 0}) h_t z_t^2 + beta h_t,        z_t iid, mean 0, variance 1,

and Heston the annualised spot variance v,

    dv = kappa (theta - v) dt + xi sqrt(v) dW_v,      d<W_S, W_v> = rho dt.

Write P for ``periods_per_year`` (dt = 1/P per GARCH step), p = alpha + beta + gamma/2 for the persistence
and s = 1e-4 when the fit is in percent returns (omega, h in percent^2), else s = 1.

Derivation (Nelson's (1990) diffusion limit of GARCH, with the GJR leverage term)
------------------------------------------------------------------------------------
Conditional mean: E_t h_{t+1} = omega + p h_t, i.e. per step E[dh] = omega - (1 - p) h. In annualised units
v = P s h over dt = 1/P this is dv = P (1 - p) (P s omega / (1 - p) - v) dt, hence

    kappa = P (1 - p),            theta = P s omega / (1 - p)                       (1/years, variance/year)

Conditional variance: h_{t+1} - E_t h_{t+1} = h_t [(alpha + gamma 1{z<0}) z^2 - (alpha + gamma/2)], whose variance
is c h_t^2 with (z symmetric, kurtosis K = E z^4: 3 for normal, 3 (nu - 2) / (nu - 4) for Student-t)

    c = K (alpha^2 + alpha gamma + gamma^2 / 2) - (alpha + gamma / 2)^2          (= alpha^2 (K - 1) for GARCH)

so in annualised units Var(dv | v) = c v^2 per step = (c P) v^2 dt: the GARCH diffusion limit is
dv = kappa (theta - v) dt + xi_G v dW with xi_G = sqrt(c P) (= alpha sqrt(K - 1) sqrt(P) for GARCH).

Vol of variance. The GARCH diffusion is proportional to v, Heston's to sqrt(v), so they cannot agree at every v.
We match the instantaneous variance of dv at the long-run level v = theta:

    xi^2 theta = xi_G^2 theta^2    =>    xi = xi_G sqrt(theta) = sqrt(c P theta).

Why this matching: the variance spends its time around theta (the mean of both stationary laws, which this map
keeps equal), so matching there gives both models the same short-horizon vol-of-vol at typical variance levels
and leaves kappa and theta untouched. The alternative -- matching the stationary variance of v (Heston:
theta xi^2 / (2 kappa); GARCH diffusion, inverse gamma: theta^2 xi_G^2 / (2 kappa - xi_G^2)) -- diverges as
xi_G^2 -> 2 kappa, which daily equity fits often approach, so it is unstable. Note the implied Feller ratio
2 kappa theta / xi^2 = 2 (1 - p) / c does not depend on omega.

Spot variance: v0 = P s h_{T+1|T}, the one-step-ahead conditional variance after the last observation
(``fit.forecast(1)``).

Correlation. In GJR the return shock z_t and the variance innovation h_t [(alpha + gamma 1{z<0}) z^2 - ...] are
correlated through the leverage term only: Cov = -gamma E|z|^3 / 2 (times h_t), so

    rho = -gamma E|z|^3 / (2 sqrt(c)),     E|z|^3 = 2 sqrt(2/pi) (normal),
                                            (nu - 2)^{3/2} Gamma((nu - 3)/2) / (sqrt(pi) Gamma(nu/2)) (Student-t),

which is 0 for a symmetric GARCH(1,1) and about -0.71 for a pure-leverage GJR (alpha = 0, normal). When the
returns are passed (``returns=``), rho is instead the sample correlation of the standardised residuals
z_t = (r_t - mu) / sqrt(h_t) and the standardised variance innovations (h_{t+1} - omega - p h_t) / h_t, which is
the same quantity with the empirical distribution of z in place of the assumed one (so it also picks up skewness
in a symmetric GARCH fit).

Round trip (benchmarks/heston_calibration.py; tests/test_heston_map.py checks the first three rows' kind on fewer
paths): Heston paths at daily steps (QE-M, 4 substeps a day), GJR-normal MLE, this map; medians (and quartiles of
theta) over 16 paths of 5000 days, v0 = 0.04 except where noted:

    true                            Feller    mapped median
    kappa  theta  xi    rho         ratio     kappa   theta (q25..q75)      xi      rho
    5.0    0.04   0.3   -0.7        4.4       4.60    0.0388 (0.038..0.042)  0.252   -0.678
    8.0    0.04   0.5   -0.5        2.6       6.32    0.0399 (0.038..0.041)  0.401   -0.551
    2.0    0.04   0.2   -0.5        4.0       1.63    0.0415 (0.038..0.045)  0.192   -0.496
    3.0    0.03   0.25  -0.3        2.9       2.02    0.0334 (0.029..0.038)  0.256   -0.303
    4.0    0.06   0.5   -0.5 (v0 .09) 1.9     2.31    0.0704 (0.066..0.082)  0.566   -0.481
    10.0   0.04   0.8   -0.7        1.25      6.32    0.0482 (0.045..0.055)  0.911   -0.611
    1.5    0.04   0.3    0.0        1.33      0.00    (persistence at its bound: theta meaningless)

Where the Heston variance is concentrated around theta (Feller ratio 2 kappa theta / xi^2 >= ~2.5) the map
recovers theta (within about 10%), rho (within ~0.05: the GJR leverage term carries the spot/variance correlation
well), xi (0-20% low) and kappa (biased low and noisy, as any mean-reversion estimate from years of daily data).
With a skewed variance law (Feller ratio ~2 or below: long spells near zero, sudden bursts) the GARCH fit reads
the bursts as persistence: alpha + beta + gamma/2 is biased towards 1, so kappa comes out too small and theta too
large; near a Feller ratio of 1 the fit can sit on the persistence bound, where theta is meaningless (a warning
says so). The mapped parameters are a starting point for calibration to option prices (``calibrate_heston``: on
synthetic surfaces it needs fewer iterations from them than from the generic start) and a quote-free fallback, not
a substitute for either.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import jax
import numpy as np

from pricer import compile_budget

from ._validation import is_number
from .warnings import DataScaleWarning
from pricer._stacklevel import user_stacklevel

__all__ = ["HestonParams", "garch_to_heston", "as_heston_params", "heston_daily_returns"]

FIELDS = ("v0", "kappa", "theta", "xi", "rho")
NEAR_INTEGRATED = 1e-4  # 1 - persistence below this (fit_garch's bound): theta and kappa not identified


@dataclasses.dataclass(frozen=True)
class HestonParams:
    """Heston parameters, annualised and decimal: v0, theta variances (0.04 = 20% vol), kappa mean reversion
    (1/years), xi vol of variance, rho spot/variance correlation. Each field is a float (one parameter set) or an
    array of shape (N,) (a batch, one per GARCH series or per surface). A JAX pytree (all five fields are leaves),
    so it passes through ``jit``/``vmap``.
    """

    v0: Any
    kappa: Any
    theta: Any
    xi: Any
    rho: Any

    def to_model(self, spot, rate=0.0, dividend=0.0):
        """``pricer.Heston`` with these parameters; spot, rate (continuous), dividend (yield) as pricer takes them."""
        from pricer import Heston

        return Heston(spot=spot, v0=self.v0, kappa=self.kappa, theta=self.theta, xi=self.xi, rho=self.rho,
                      rate=rate, dividend=dividend)

    @property
    def feller_ratio(self):
        """2 kappa theta / xi^2 (>= 1: the variance never reaches zero)."""
        return 2.0 * np.asarray(self.kappa) * np.asarray(self.theta) / np.asarray(self.xi) ** 2

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS}


jax.tree_util.register_dataclass(HestonParams, data_fields=list(FIELDS), meta_fields=[])


def as_heston_params(value) -> HestonParams:
    """HestonParams from anything with v0, kappa, theta, xi, rho as attributes or keys (dict, Series, ...)."""
    if isinstance(value, HestonParams):
        return value
    out = {}
    for name in FIELDS:
        if hasattr(value, name) and not isinstance(value, dict):
            out[name] = getattr(value, name)
        else:
            try:
                out[name] = value[name]
            except (KeyError, TypeError, IndexError):
                raise ValueError(f"Heston parameters: no {name!r} (need v0, kappa, theta, xi, rho as attributes "
                                 f"or keys), got {type(value).__name__}") from None
    return HestonParams(**out)


# ---------------------------------------------------------------------------------------------- moments of z
def _kurtosis(nu: np.ndarray | None, n: int) -> np.ndarray:
    """E z^4 of the unit-variance innovation: 3 (normal), 3 (nu - 2) / (nu - 4) (Student-t, inf for nu <= 4)."""
    if nu is None:
        return np.full(n, 3.0)
    nu = np.broadcast_to(np.asarray(nu, dtype=float), (n,))
    with np.errstate(divide="ignore", invalid="ignore"):
        student = np.where(nu > 4.0, 3.0 * (nu - 2.0) / (nu - 4.0), np.inf)
    return np.where(np.isposinf(nu), 3.0, student)   # nu = inf: the normal limit


def _abs_third_moment(nu: np.ndarray | None, n: int) -> np.ndarray:
    """E|z|^3 of the unit-variance innovation (inf for Student-t with nu <= 3)."""
    if nu is None:
        return np.full(n, 2.0 * math.sqrt(2.0 / math.pi))
    from scipy.special import gammaln

    nu = np.broadcast_to(np.asarray(nu, dtype=float), (n,))
    safe = np.where(nu > 3.0, nu, 4.0)
    safe = np.where(np.isposinf(safe), 4.0, safe)
    value = np.exp(1.5 * np.log(safe - 2.0) + gammaln((safe - 3.0) / 2.0) - gammaln(safe / 2.0)) / math.sqrt(math.pi)
    return np.where(np.isposinf(nu), 2.0 * math.sqrt(2.0 / math.pi), np.where(nu > 3.0, value, np.inf))


# ---------------------------------------------------------------------------------------------- the map
def _vector(fit, name):
    value = getattr(fit, name, None)
    if value is None:
        return None
    try:
        return np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"fit.{name} must be a number or one number per series, got {value!r}") from None


def _sample_rho(fit, returns, omega, pers) -> np.ndarray:
    """corr(z_t, (h_{t+1} - omega - p h_t) / h_t) per series, from the returns and the fit's h_t."""
    h = np.asarray(fit.conditional_variance, dtype=float)
    r = np.asarray(returns, dtype=float)
    if h.ndim == 1:
        h = h[:, None]
    if r.ndim == 1:
        r = r[:, None]
    if r.shape != h.shape:
        raise ValueError(f"returns has shape {np.shape(returns)} but the fit's conditional_variance has shape "
                         f"{np.shape(fit.conditional_variance)}: pass the returns the fit was estimated on")
    used = np.isfinite(h).all(axis=0)   # columns of the series whose fit did not fail
    if not np.isfinite(r[:, used]).all():
        row, col = np.argwhere(~np.isfinite(r[:, used]))[0]
        raise ValueError(f"returns contains NaN or inf (row {int(row)}, series {int(np.flatnonzero(used)[col])}): "
                         "pass the returns the fit was estimated on")
    mu = _vector(fit, "mu")
    mu = np.zeros(h.shape[1]) if mu is None else np.where(np.isfinite(mu), mu, 0.0)
    z = (r[:-1] - mu) / np.sqrt(h[:-1])
    innovation = (h[1:] - omega - pers * h[:-1]) / h[:-1]
    z = z - z.mean(axis=0)
    innovation = innovation - innovation.mean(axis=0)
    denom = np.sqrt((z * z).sum(axis=0) * (innovation * innovation).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, (z * innovation).sum(axis=0) / denom, 0.0)


#: an annualised variance above this (a 500% vol; ``calibrate_heston`` refuses implied vols above 5 alike) draws a
#: DataScaleWarning from ``garch_to_heston``
IMPLAUSIBLE_VARIANCE = 25.0


def garch_to_heston(fit, periods_per_year: float = 252, *, returns=None) -> HestonParams:
    """Heston parameters (annualised, decimal) implied by a GARCH(1,1)/GJR fit; formulas in the module docstring.

    fit: what ``calibrator.fit_garch`` returns (one series or a batch), a sequence of such fits (stacked), or any
        object with ``omega, alpha, beta`` (and optionally ``gamma``, ``nu``, ``percent``, ``forecast``) whose
        values are scalars or arrays of shape (N,). Units are the fit's: ``percent=True`` fits have omega and
        variances in percent^2 and are divided by 100^2 here.
    periods_per_year: GARCH steps per year P (252 for daily data).
    returns: optional, the returns the fit was estimated on ((T,) or (T, N), the fit's units). When given, rho is the
        sample correlation of standardised residuals and variance innovations instead of the model-implied
        leverage correlation.

    Returns HestonParams: floats for one series, arrays of shape (N,) for a batch. v0 = P s h_{T+1|T} (v0 = theta if
    the fit has no ``forecast``). Series whose fit failed, with persistence >= 1 (no long-run variance), or with
    Student-t nu <= 4 (infinite kurtosis, so no vol of variance) get NaN in the affected fields, with a warning.
    """
    if isinstance(fit, (list, tuple)):
        if not fit:
            raise ValueError("fit: the sequence of fits is empty")
        if returns is not None:   # whose returns would they be? (they used to be dropped without a word)
            raise ValueError("returns= is not supported with a sequence of fits: map each fit with its own returns")
        parts = [garch_to_heston(f, periods_per_year) for f in fit]
        return HestonParams(*(np.concatenate([np.atleast_1d(getattr(p, n)) for p in parts]) for n in FIELDS))
    if not is_number(periods_per_year) or not periods_per_year > 0:
        raise ValueError(f"periods_per_year must be a positive number (252 for daily data), got {periods_per_year!r}")
    periods = float(periods_per_year)
    for name in ("omega", "alpha", "beta"):
        if getattr(fit, name, None) is None:
            raise ValueError(f"fit has no {name!r}: pass what calibrator.fit_garch returns")
    omega, alpha, beta = (_vector(fit, n) for n in ("omega", "alpha", "beta"))
    # NaN marks a series whose fit failed; anything else must be a GARCH parameter
    for name, value, ok in (("omega", omega, omega > 0), ("alpha", alpha, alpha >= 0), ("beta", beta, beta >= 0)):
        bad = ~np.isnan(value) & ~(ok & np.isfinite(value))
        if bad.any():
            raise ValueError(f"fit.{name} must be {'> 0' if name == 'omega' else '>= 0'} and finite, "
                             f"got {float(value[bad][0])!r}")
    if omega.shape != alpha.shape or omega.shape != beta.shape:
        raise ValueError(f"fit: omega, alpha and beta have shapes {omega.shape}, {alpha.shape}, {beta.shape}; "
                         "they must be one value per series")
    n = omega.shape[0]
    gamma = _vector(fit, "gamma")
    try:
        gamma = np.zeros(n) if gamma is None else np.broadcast_to(gamma, (n,))
        nu = getattr(fit, "nu", None)
        nu = None if nu is None else np.broadcast_to(np.atleast_1d(np.asarray(nu, dtype=float)), (n,))
    except ValueError:
        raise ValueError(f"fit: gamma and nu must have one value per series ({n})") from None
    if nu is not None and np.any(np.isnan(nu) & ~np.isnan(omega)):
        raise ValueError("fit.nu is NaN for a series whose fit did not fail: nu must be a number > 2")
    scale = 1e-4 if bool(getattr(fit, "percent", False)) else 1.0

    pers = alpha + beta + 0.5 * gamma
    gap = 1.0 - pers
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = periods * gap
        theta = np.where(gap > 0, periods * scale * omega / gap, np.nan)
        kurt = _kurtosis(nu, n)
        c = kurt * (alpha * alpha + alpha * gamma + 0.5 * gamma * gamma) - (alpha + 0.5 * gamma) ** 2
        c = np.where(np.isfinite(c), c, np.nan)
        xi = np.sqrt(periods * c * theta)
        if returns is not None:
            rho = _sample_rho(fit, returns, omega, pers)
        else:
            rho = np.where(c > 0, -gamma * _abs_third_moment(nu, n) / (2.0 * np.sqrt(np.where(c > 0, c, 1.0))), 0.0)
        rho = np.where(np.isnan(alpha) | np.isnan(c), np.nan, np.clip(rho, -1.0, 1.0)) + 0.0  # no -0.0
    if hasattr(fit, "forecast") and getattr(fit, "_last_sigma2", 0) is not None:
        h1 = np.atleast_2d(np.asarray(fit.forecast(1), dtype=float)).reshape(n, -1)[:, 0]
        v0 = periods * scale * h1
    else:
        v0 = theta.copy()
    kappa = np.where(gap > 0, kappa, np.nan)

    names = list(getattr(fit, "names", range(n)))
    failed = np.isnan(omega) | np.isnan(alpha) | np.isnan(beta)
    integrated = ~failed & ~(gap > 0)
    fat = ~failed & ~integrated & ~np.isfinite(kurt)
    near = ~failed & (gap > 0) & (gap < NEAR_INTEGRATED)
    for mask, why in ((integrated, "persistence alpha + beta + gamma/2 >= 1: no long-run variance, so theta, kappa "
                                   "and xi are undefined (NaN)"),
                      (near, f"persistence alpha + beta + gamma/2 > 1 - {NEAR_INTEGRATED:g} (at the fit's bound): "
                             f"theta = P omega / (1 - persistence) and kappa are not identified, treat them as "
                             f"meaningless"),
                      (fat, "Student-t nu <= 4: infinite kurtosis, so the vol of variance xi is undefined (NaN)")):
        if mask.any():
            which = ", ".join(repr(names[i]) for i in np.flatnonzero(mask)[:5])
            warnings.warn(f"garch_to_heston: {why} for {int(mask.sum())} series ({which})", RuntimeWarning,
                          stacklevel=user_stacklevel())
    # an annualised vol above 500% is no asset's: a series in percent fitted with percent=False (fit_garch
    # warned at the fit, but the fit stands; here it would start a Heston calibration or price at 2,000% vol)
    with np.errstate(invalid="ignore"):   # theta of a near-integrated fit is not identified (warned above)
        absurd = ~failed & ((v0 > IMPLAUSIBLE_VARIANCE) | (~near & (theta > IMPLAUSIBLE_VARIANCE)))
    if absurd.any():
        i = int(np.argmax(absurd))
        warnings.warn(f"garch_to_heston: {int(absurd.sum())} series ({', '.join(repr(names[j]) for j in np.flatnonzero(absurd)[:5])}) "
                      f"map to variances no asset has: {names[i]!r} v0 {v0[i]:.4g}, theta {theta[i]:.4g} "
                      f"(vols of {np.sqrt(v0[i]):.0%} and {np.sqrt(theta[i]):.0%}); were its returns in percent "
                      f"and fitted with percent=False?", DataScaleWarning, stacklevel=user_stacklevel())

    single = bool(getattr(fit, "single", np.ndim(getattr(fit, "omega")) == 0))
    out = dict(v0=v0, kappa=kappa, theta=theta, xi=xi, rho=rho)
    if single:
        return HestonParams(**{k: float(v[0]) for k, v in out.items()})
    return HestonParams(**out)


# ---------------------------------------------------------------------------------------------- round trip
def heston_daily_returns(key, params: HestonParams, n_days: int, n_paths: int = 1, *, periods_per_year: int = 252,
                         substeps: int = 4, dtype=None):
    """Simulate Heston log returns at daily steps (the input of the GARCH -> Heston round trip).

    key: a ``jax.random`` key or an int seed. params: HestonParams with scalars or arrays of shape (P,) (P parameter
    sets); each set gets ``n_paths`` independent paths, columns ordered set-major (set 0's paths first).
    Zero drift (r = q = 0); ``substeps`` steps of ``pricer.Heston``'s QE-M scheme per day.
    Returns (returns, v_end): daily log returns (n_days, P * n_paths) in decimals, and the spot variance after the
    last day (P * n_paths,) (annualised), i.e. the v0 of an option surface "today".
    """
    from pricer import Heston

    key = jax.random.key(key) if isinstance(key, int) else key
    dtype = jax.numpy.zeros(()).dtype if dtype is None else dtype
    fields = {n: np.repeat(np.atleast_1d(np.asarray(getattr(params, n), dtype=float)), n_paths)[:, None]
              for n in FIELDS}
    rows = fields["v0"].shape[0]
    model = Heston(spot=np.ones((rows, 1)), **fields)
    dt = 1.0 / (periods_per_year * substeps)

    @compile_budget.jit
    def run(key):
        def day(state, k):
            def sub(s, kk):
                s, _ = model.step(s, dt, jax.random.normal(kk, (2, rows, 1), dtype))
                return s, None

            x0 = state["x"]
            state, _ = jax.lax.scan(sub, state, jax.random.split(k, substeps))
            return state, (state["x"] - x0)[:, 0]

        state = {"x": jax.numpy.zeros((rows, 1), dtype), "v": jax.numpy.asarray(fields["v0"], dtype)}
        state, r = jax.lax.scan(day, state, jax.random.split(key, n_days))
        return r, state["v"][:, 0]

    returns, v_end = run(key)
    return np.asarray(returns), np.asarray(v_end)
