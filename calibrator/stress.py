"""Stress and risk scenarios from GARCH fits: paths after the end of the sample, from today's variance
or a stressed one (e.g. the 2008 peak), with optional regime shifts, for one asset or several jointly.

* ``simulate_from_fit``: GARCH/GJR paths of the H periods after the sample. Shocks are either the
  fit's own standardised residuals resampled by whole days ("fhs", filtered historical simulation:
  fat tails, skew and the assets' co-movement as observed) or draws from the fit's innovation law
  ("mc"), correlated across assets through the constant conditional correlation of the residuals
  (normal, or a Gaussian copula with unit-variance Student-t margins).
* ``RegimeShift``: from a given day on, the long-run variance is scaled and/or the persistence set
  (alpha, gamma and beta scaled together, keeping their proportions): a calm market turning volatile.
* ``peak_variance``: the highest conditional variance a fit saw inside a date range (the 2008 crisis
  peak for the S&P 500) -- a stressed starting point.
* ``garch_scenarios``: the same paths as ``pricer.scenarios.MarketScenarios`` (cumulative decimal log
  returns and the variance ratio at the horizon) for revaluing an option book with
  ``pricer.book_stress.revalue_book``.

Units: as the fit's (percent returns -> percent^2 variances); the MarketScenarios are unit-free.
"""
from __future__ import annotations

import hashlib
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special, stats

from .ccc import _correlation
from .fit_result import GarchFit
from .simulate import garch_paths
from ._validation import is_number, is_whole
from .warnings import DataScaleWarning
from pricer._stacklevel import user_stacklevel

__all__ = ["RegimeShift", "ScenarioPaths", "simulate_from_fit", "peak_variance", "garch_scenarios",
           "SCENARIO_METHODS"]

SCENARIO_METHODS = ("fhs", "mc")


class RegimeShift(NamedTuple):
    """From simulated day ``day`` (1 = the first day after the sample; 2 <= day <= horizon) on, the GARCH
    parameters change: the variance of that day is the first one they drive (day 1's variance is the
    start variance: move it with ``start_variance``). The long-run variance is multiplied by ``long_run_variance_ratio``, and the persistence
    alpha + gamma/2 + beta becomes ``persistence`` (None: unchanged; alpha, gamma, beta are scaled by
    one factor, so their proportions stay). omega follows: long-run variance x (1 - persistence)."""

    day: int
    long_run_variance_ratio: float = 1.0
    persistence: float | None = None


class ScenarioPaths(NamedTuple):
    """Simulated periods after the sample. returns: (H, N, P) per-period returns; variance: (H + 1, N, P),
    row t the conditional variance of period t + 1 (row H: the one after the horizon). Units of the fit."""

    names: list
    returns: np.ndarray
    variance: np.ndarray
    start_variance: np.ndarray    # (N,) h of the first simulated period
    current_variance: np.ndarray  # (N,) the fit's own forecast for it (today's market)

    @property
    def cumulative(self) -> np.ndarray:
        """(H, N, P) summed returns from the first period to each one."""
        return np.cumsum(self.returns, axis=0)


def peak_variance(fit: GarchFit, start=None, end=None):
    """The highest conditional variance of each series between ``start`` and ``end`` (dates when the fit
    was made on a dated Series/DataFrame, else positions), and when it happened.

    Returns (variance (N,) in the fit's units, dates (N,)). Use it as ``start_variance`` to restart
    GARCH paths from a past crisis, e.g. ``peak_variance(fit, "2008-09-01", "2009-06-30")``."""
    _check_fit(fit)
    h = np.asarray(fit.conditional_variance, dtype=float)
    h = h[:, None] if h.ndim == 1 else h
    index = pd.Index(fit.index) if fit.index is not None else pd.RangeIndex(h.shape[0])
    mask = np.ones(h.shape[0], dtype=bool)
    try:
        if start is not None:
            mask &= np.asarray(index >= (pd.Timestamp(start) if isinstance(index, pd.DatetimeIndex) else start))
        if end is not None:
            mask &= np.asarray(index <= (pd.Timestamp(end) if isinstance(index, pd.DatetimeIndex) else end))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"start/end must be comparable with the fit's index ({type(index).__name__}): {exc}") from None
    if not mask.any():
        raise ValueError(f"no observation between start={start!r} and end={end!r} (the fit covers {index[0]} to {index[-1]})")
    window = np.where(mask[:, None], h, -np.inf)
    at = np.argmax(window, axis=0)
    peak = window[at, np.arange(h.shape[1])]
    failed = ~np.isfinite(peak)   # a series whose fit failed has NaN variances: no peak, and no date either
    dated = isinstance(index, pd.DatetimeIndex)
    dates = np.asarray(index[at], dtype=object if failed.any() and not dated else None)
    if failed.any():
        dates[failed] = np.datetime64("NaT") if dated else None
        peak = np.where(failed, np.nan, peak)
    return peak, dates


def simulate_from_fit(fit: GarchFit, *, horizon: int, n_paths: int, method: str = "mc", returns=None,
                      correlated: bool = True, start_variance=None, regime: RegimeShift | None = None,
                      seed: int = 0) -> ScenarioPaths:
    """GARCH/GJR paths of the ``horizon`` periods after the fitted sample, ``n_paths`` per series.

    fit: a ``GarchFit`` (one series or a batch of series on the same dates). method: "mc" (shocks from
        the fit's law) or "fhs" (the fit's standardised residuals resampled by whole days; needs
        ``returns``, the data of the fit). correlated: for a batch, shocks move together as the
        residuals did (fhs: same days; mc: their correlation, which needs ``returns``); False draws
        each series on its own (enough for per-series VaR).
    start_variance: the variance of the first simulated period: None = the fit's forecast (today),
        "peak" = the highest in the sample (``peak_variance``), or numbers (scalar or (N,), fit units).
    regime: a ``RegimeShift``. seed: an integer >= 0; same seed, same paths. Drawn apart
        (``correlated=False`` or one series), a series' paths depend on the seed and its name alone, not
        on the other series of the batch; drawn jointly they come from one stream.
    """
    _check_fit(fit)
    if method not in SCENARIO_METHODS:
        raise ValueError(f"method={method!r} is not supported; choose 'fhs' or 'mc'")
    horizon = _positive_int(horizon, "horizon")
    n_paths = _positive_int(n_paths, "n_paths")
    n = len(fit.names)
    usable = np.atleast_1d(np.asarray(fit.status, dtype=object)) != "error"
    if correlated and n > 1 and not usable.all():
        raise ValueError(f"fit: column {fit.names[int(np.argmin(usable))]!r} has status 'error'; drop it before "
                         f"simulating the series jointly")
    current = np.atleast_2d(fit.forecast(1))[:, 0]
    start = np.where(usable, _start_variance(fit, start_variance, current), 1.0)
    seed = _seed(seed)
    joint = correlated and n > 1
    # drawn jointly, the series share one stream; drawn apart, each series has its own stream, keyed by
    # its name: its paths then do not depend on which other series (a failed one too) are in the batch
    rng = np.random.default_rng(seed) if joint else None
    streams = None if joint else _series_streams(seed, fit.names)
    if method == "fhs" or joint:
        if returns is None:
            raise ValueError(f"returns= (the data the fit was made on) is needed for method={method!r}"
                             + (" with correlated shocks" if method == "mc" else ""))
        residuals = _standardised(fit, returns, usable)                          # (T, N)
    if method == "fhs":
        if joint:    # whole days: the series keep the co-movement they had
            shocks = residuals[rng.integers(0, residuals.shape[0], size=(horizon + 1, n_paths)), :].transpose(0, 2, 1)
        else:
            days = np.stack([stream.integers(0, residuals.shape[0], size=(horizon + 1, n_paths)) for stream in streams],
                            axis=1)
            shocks = residuals[days, np.arange(n)[None, :, None]]
    else:
        if joint:
            shocks = rng.standard_normal((horizon + 1, n, n_paths))
        else:
            shocks = np.stack([stream.standard_normal((horizon + 1, n_paths)) for stream in streams], axis=1)
        if joint:
            shocks = np.einsum("ij,tjp->tip", np.linalg.cholesky(_correlation(residuals)), shocks)
        if fit.dist == "t":   # unit-variance Student-t margins (a Gaussian copula when correlated)
            nu = np.where(usable, fit._vec("nu"), 5.0)[None, :, None]
            shocks = stats.t.ppf(special.ndtr(shocks), nu) * np.sqrt((nu - 2.0) / nu)
    params = _parameters(fit, horizon + 1, regime, usable)                       # name -> (H + 1, N)
    flat = lambda a: np.repeat(a, n_paths, axis=-1)  # noqa: E731 - series-major: path p of series j at j*P+p
    sim = garch_paths(shocks.reshape(horizon + 1, n * n_paths), h0=np.repeat(start, n_paths),
                      **{name: flat(value) for name, value in params.items()})
    r = np.array(sim.returns, dtype=float).reshape(horizon + 1, n, n_paths)
    h = np.array(sim.conditional_variance, dtype=float).reshape(horizon + 1, n, n_paths)
    r[:, ~usable], h[:, ~usable] = np.nan, np.nan    # a series whose fit failed has no paths
    return ScenarioPaths(list(fit.names), r[:horizon], h, np.where(usable, start, np.nan), current)


def garch_scenarios(fit: GarchFit, returns=None, *, horizon: int = 10, n_scenarios: int = 2000,
                    method: str = "fhs", start_variance=None, regime: RegimeShift | None = None, seed: int = 0,
                    names=None, label: str = ""):
    """Joint scenarios of the fitted series at ``horizon`` trading days, as ``MarketScenarios`` for
    ``pricer.book_stress.revalue_book``: daily cumulative log returns in decimals (the fit's percent
    divided by 100) and the variance ratio h_{T+H+1} / h_{T+1} (the variance after the horizon over
    today's forecast, so a stressed start shows as a higher variance state).

    names: the book underlyings, one per series (default the fit's column names). Other arguments as
    ``simulate_from_fit``; shocks are correlated across series.
    """
    from pricer.scenarios import MarketScenarios
    paths = simulate_from_fit(fit, horizon=horizon, n_paths=n_scenarios, method=method, returns=returns,
                              correlated=True, start_variance=start_variance, regime=regime, seed=seed)
    names = list(fit.names) if names is None else [str(x) for x in np.atleast_1d(np.asarray(names, dtype=object))]
    if len(names) != len(fit.names):
        raise ValueError(f"names has {len(names)} entries for {len(fit.names)} series")
    scale = 0.01 if fit.percent else 1.0
    log_path = paths.cumulative.transpose(2, 0, 1) * scale                           # (K, H, N)
    ratio = (paths.variance[-1] / paths.current_variance[:, None]).T                 # (K, N)
    return MarketScenarios(tuple(names), log_path, ratio, label or _describe(method, horizon, start_variance, regime))


# --------------------------------------------------------------------------------------------------


def _check_fit(fit):
    if not isinstance(fit, GarchFit):
        raise ValueError(f"fit must be a GarchFit (from calibrator.fit_garch), got {type(fit).__name__}")


def _seed(seed) -> int:
    if not is_whole(seed) or seed < 0 or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _series_streams(seed: int, names) -> list:
    """One random generator per series, from (seed, the series' name, its occurrence among equal names)."""
    seen: dict[str, int] = {}
    streams = []
    for name in names:
        label = str(name)
        occurrence = seen.get(label, 0)
        seen[label] = occurrence + 1
        streams.append(np.random.default_rng(_stream_key(seed, label, occurrence)))
    return streams


def _stream_key(seed: int, label: str, occurrence: int) -> np.ndarray:
    """A 256-bit key for (seed, name, occurrence): eight uint32 words of a BLAKE2b digest. Distinct series
    never share a stream (a 32-bit checksum of the name would: "plumless" and "buckeroo" have the same
    CRC-32), and the key's length is fixed, so no two inputs run into one another."""
    digest = hashlib.blake2b(f"{seed}\x00{occurrence}\x00{label}".encode(), digest_size=32).digest()
    return np.frombuffer(digest, dtype="<u4").copy()


def _positive_int(value, name: str) -> int:
    if not is_whole(value) or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _real(value, name: str) -> float:
    """A finite real number (not text, not a bool: "1.5" in a config file is a mistake to name, not to guess)."""
    if not is_number(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _standardised(fit: GarchFit, returns, usable: np.ndarray) -> np.ndarray:
    """(T, N) standardised residuals of the usable series (zeros for the others, never read)."""
    from .value_at_risk import standardised_residuals
    z = np.asarray(standardised_residuals(fit, returns), dtype=float)
    z = z[:, None] if z.ndim == 1 else z
    if not np.all(np.isfinite(z[:, usable])):
        raise ValueError("returns: the standardised residuals are not all finite; pass the data the fit was made on")
    return np.where(usable[None, :], z, 0.0)


#: a start variance more than this many times today's (or less than its inverse) draws a DataScaleWarning:
#: the vol x14, beyond the 2008 jump from 10% to 80% (x64 in variance), short of an annual variance given
#: for a daily fit (x252) or a percent one for decimal returns (x10,000)
START_RATIO_LIMIT = 200.0


def _start_variance(fit: GarchFit, value, current: np.ndarray) -> np.ndarray:
    if value is None:
        return current
    if isinstance(value, str):
        if value != "peak":
            raise ValueError(f"start_variance must be None, 'peak' or numbers, got {value!r}")
        return peak_variance(fit)[0]
    try:
        given = np.asarray(value, dtype=float)
        if given.ndim > 1 or (given.ndim == 1 and given.size != current.shape[0]):
            raise ValueError   # one number for every series, or one per series: never a shorter list stretched
        start = np.broadcast_to(given, current.shape).copy()
    except (TypeError, ValueError):
        raise ValueError(f"start_variance must be None, 'peak', a number or one number per series "
                         f"({current.shape[0]}), got {value!r}") from None
    if not np.all(np.isfinite(start) & (start > 0)):
        raise ValueError(f"start_variance must be positive and finite, got {value!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = start / current
    odd = np.flatnonzero(np.isfinite(ratio) & ((ratio > START_RATIO_LIMIT) | (ratio < 1.0 / START_RATIO_LIMIT)))
    if odd.size:
        j = int(odd[0])
        warnings.warn(f"start_variance {start[j]:.4g} for series {fit.names[j]!r} is {ratio[j]:.3g} times today's "
                      f"variance {current[j]:.4g} (per period, units of the fit's returns squared): a percent "
                      f"variance for decimal returns (x10,000), or an annual one for daily returns (x252)? A real "
                      f"stress moves the vol a few times, the variance up to ~{START_RATIO_LIMIT:g}x",
                      DataScaleWarning, stacklevel=user_stacklevel())
    return start


def _parameters(fit: GarchFit, days: int, regime: RegimeShift | None, usable: np.ndarray) -> dict:
    """GARCH parameters per simulated day and series: name -> (days, N) (a harmless stand-in for the
    series whose fit failed: their paths are dropped)."""
    stand_in = {"omega": 1.0, "alpha": 0.0, "gamma": 0.0, "beta": 0.0}
    p = {name: np.broadcast_to(np.where(usable, fit._vec(name), value), (days, len(fit.names))).copy()
         for name, value in stand_in.items()}
    p["mu"] = np.broadcast_to(np.where(usable, np.atleast_1d(np.asarray(fit.mu, dtype=float)), 0.0),
                              (days, len(fit.names))).copy()
    if regime is None:
        return p
    if not isinstance(regime, RegimeShift):
        raise ValueError(f"regime must be a RegimeShift, got {type(regime).__name__}")
    day = _positive_int(regime.day, "regime.day")
    if not 2 <= day <= days - 1:
        raise ValueError(f"regime.day must be between 2 and the horizon ({days - 1}): day 1's variance is the start "
                         f"variance (set start_variance to move it), got {regime.day!r}")
    ratio = _real(regime.long_run_variance_ratio, "regime.long_run_variance_ratio")
    if not (np.isfinite(ratio) and ratio > 0):
        raise ValueError(f"regime.long_run_variance_ratio must be > 0, got {regime.long_run_variance_ratio!r}")
    persistence = np.where(usable, p["alpha"][0] + 0.5 * p["gamma"][0] + p["beta"][0], 0.5)
    if np.any(~((persistence > 0) & (persistence < 1))):
        raise ValueError("a regime shift needs a stationary fit with 0 < alpha + gamma/2 + beta < 1 (it scales "
                         "the persistence and defines the long-run variance)")
    target = (persistence if regime.persistence is None
              else np.full_like(persistence, _real(regime.persistence, "regime.persistence")))
    if not np.all((target > 0) & (target < 1)):
        raise ValueError(f"regime.persistence must lie in (0, 1), got {regime.persistence!r}")
    long_run = p["omega"][0] / (1.0 - persistence) * ratio
    after = np.arange(days) >= max(day - 2, 0)   # row t steps h_t -> h_{t+1}: day `day` (row day - 1) is the first new
    scale = target / persistence
    for name in ("alpha", "gamma", "beta"):
        p[name][after] = p[name][after] * scale
    p["omega"][after] = np.broadcast_to(long_run * (1.0 - target), p["omega"][after].shape)
    return p


def _describe(method, horizon, start_variance, regime) -> str:
    start = "today's variance" if start_variance is None else ("the sample's peak variance" if isinstance(start_variance, str)
                                                              else "a given variance")
    text = f"GARCH {method.upper()}, {horizon} days from {start}"
    if regime is not None:
        text += (f", regime shift on day {regime.day} (long-run variance x{regime.long_run_variance_ratio:g}"
                 + (f", persistence {regime.persistence:g})" if regime.persistence is not None else ")"))
    return text
