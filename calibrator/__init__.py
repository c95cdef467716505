"""GARCH estimation (batched exact maximum likelihood in JAX), simulation and forecasts.

Public names: ``fit_garch``, ``GarchFit``, ``simulate``, ``Simulation`` and the warning classes.
The package never changes JAX's global flags; enable float64 yourself
(``jax.config.update("jax_enable_x64", True)``) for benchmark-grade accuracy.
"""
from .fit_result import GarchFit
from .garch_fit import fit_garch
from .heston_fit import HestonCalibration, calibrate_heston, heston_implied_vols
from .heston_map import HestonParams, garch_to_heston, heston_daily_returns
from .simulate import Simulation, simulate
from .streaming import GarchStream
from .warnings import (ConvergenceWarning, DataScaleWarning, GarchWarning, PersistenceWarning,
                       ShortSeriesWarning)

__all__ = [
    "fit_garch", "GarchFit", "simulate", "Simulation", "GarchStream",
    "GarchWarning", "DataScaleWarning", "ConvergenceWarning", "PersistenceWarning", "ShortSeriesWarning",
]
__all__ += ["garch_to_heston", "HestonParams", "heston_daily_returns",
            "calibrate_heston", "HestonCalibration", "heston_implied_vols"]
