"""Market scenarios at a risk horizon: what ``pricer.book_stress.revalue_book`` revalues a book under.

A scenario set is K joint outcomes, over a horizon of H trading days, for some underlyings:

* ``log_spot_path`` (K, H, U): the cumulative log return of each underlying's spot at the close of days
  1..H (day H is the horizon), so spot_t = spot_0 exp(log_spot_path[:, t-1, u]);
* ``variance_ratio`` (K, U): the underlying's instantaneous variance at the horizon over today's
  (GARCH: next day's conditional variance at the horizon over tomorrow's). The revaluation moves the
  model's variance state by it: Heston v0, GARCH h0, Black-Scholes vol (by its square root).

The daily path (not only its end) is kept because path-dependent trades need it: a barrier crossed
inside the horizon, a discrete monitoring date or an Asian fixing that falls inside it.
``calibrator.stress`` builds scenario sets from GARCH fits (filtered historical simulation, Monte
Carlo, stressed starting variance, regime shifts); any other source works as long as it fills these
arrays.
"""
from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["MarketScenarios", "TRADING_DAYS"]

TRADING_DAYS = 252   # the horizon in years is horizon_days / TRADING_DAYS


@dataclasses.dataclass(frozen=True, eq=False)
class MarketScenarios:
    """K joint scenarios of U underlyings over ``horizon_days`` trading days (see the module docstring).

    names: the U underlying names (as in a book's ``underlying`` column); log_spot_path: (K, H, U);
    variance_ratio: (K, U), > 0 (all ones: variance unchanged); label: a free description.
    """

    names: tuple
    log_spot_path: np.ndarray
    variance_ratio: np.ndarray
    label: str = ""

    def __post_init__(self):
        names = tuple(str(n) for n in np.atleast_1d(np.asarray(self.names, dtype=object)))
        if len(set(names)) != len(names):
            raise ValueError(f"names must be distinct, got {names}")
        path = np.asarray(self.log_spot_path, dtype=np.float64)
        if path.ndim == 2 and len(names) == 1:
            path = path[..., None]
        if path.ndim != 3 or path.shape[2] != len(names) or path.shape[0] < 1 or path.shape[1] < 1:
            raise ValueError(f"log_spot_path must have shape (scenarios, horizon days, {len(names)} underlyings), "
                             f"got {path.shape}")
        ratio = np.asarray(self.variance_ratio, dtype=np.float64)
        if ratio.ndim == 1 and len(names) == 1:
            ratio = ratio[:, None]
        if ratio.shape != (path.shape[0], len(names)):
            raise ValueError(f"variance_ratio must have shape {(path.shape[0], len(names))} (scenarios, underlyings), "
                             f"got {ratio.shape}")
        for field, values in (("log_spot_path", path), ("variance_ratio", ratio)):
            bad = ~np.isfinite(values)
            if bad.any():
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(f"{field} must be finite; scenario {index[0]} of {names[index[-1]]!r} is {values[index]!r}")
        if np.any(ratio <= 0):
            k, u = (int(i) for i in np.argwhere(ratio <= 0)[0])
            raise ValueError(f"variance_ratio must be > 0; scenario {k} of {names[u]!r} is {ratio[k, u]!r}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "log_spot_path", path)
        object.__setattr__(self, "variance_ratio", ratio)

    @property
    def count(self) -> int:
        """K, the number of scenarios."""
        return self.log_spot_path.shape[0]

    @property
    def horizon_days(self) -> int:
        """H, trading days to the horizon."""
        return self.log_spot_path.shape[1]

    @property
    def horizon_years(self) -> float:
        return self.horizon_days / TRADING_DAYS

    @property
    def log_return(self) -> np.ndarray:
        """(K, U) log return of each spot over the whole horizon."""
        return self.log_spot_path[:, -1, :]

    def column(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"no scenarios for underlying {name!r} (scenarios cover {', '.join(self.names)})") from None

    @classmethod
    def unchanged(cls, names, horizon_days: int, count: int = 1) -> "MarketScenarios":
        """Spots and variances unchanged over the horizon (only time passes): the carry scenario."""
        names = tuple(names)
        return cls(names, np.zeros((count, int(horizon_days), len(names))), np.ones((count, len(names))), "unchanged")
