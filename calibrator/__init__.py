"""GARCH estimation (batched exact maximum likelihood in JAX), simulation and forecasts.

Public names: ``fit_garch``, ``GarchFit``, ``simulate``, ``Simulation`` and the warning classes; Heston
mapping and calibration; risk: VaR/CVaR (``garch_var``, ``portfolio_var``), VaR backtests
(``rolling_var``, ``var_backtest``, Kupiec/Christoffersen), stress paths (``simulate_from_fit``,
``garch_scenarios``), portfolios (``ccc_covariance``, minimum-variance, mean-variance, Black-Litterman,
``rebalanced_backtest``).
The package never changes JAX's global flags; enable float64 yourself
(``jax.config.update("jax_enable_x64", True)``) for benchmark-grade accuracy.
"""
from .coverage_tests import christoffersen_test, conditional_coverage_test, kupiec_test
from .fit_result import GarchFit
from .garch_fit import fit_garch
from .heston_fit import HestonCalibration, calibrate_heston, heston_implied_vols
from .heston_map import HestonParams, garch_to_heston, heston_daily_returns
from .portfolio import (black_litterman, ccc_covariance, mean_variance_weights, min_variance_weights,
                        rebalanced_backtest)
from .simulate import Simulation, simulate
from .stress import RegimeShift, garch_scenarios, peak_variance, simulate_from_fit
from .streaming import GarchStream
from .value_at_risk import garch_var, portfolio_var
from .var_backtest import plot_var_backtest, rolling_var, var_backtest
from .warnings import (ConvergenceWarning, DataScaleWarning, GarchWarning, PersistenceWarning,
                       ShortSeriesWarning)

__all__ = [
    "fit_garch", "GarchFit", "simulate", "Simulation", "GarchStream",
    "GarchWarning", "DataScaleWarning", "ConvergenceWarning", "PersistenceWarning", "ShortSeriesWarning",
]
__all__ += ["garch_var", "portfolio_var", "rolling_var", "var_backtest", "plot_var_backtest", "kupiec_test",
            "christoffersen_test", "conditional_coverage_test", "simulate_from_fit", "garch_scenarios", "peak_variance",
            "RegimeShift", "ccc_covariance", "min_variance_weights", "mean_variance_weights", "black_litterman",
            "rebalanced_backtest"]
__all__ += ["garch_to_heston", "HestonParams", "heston_daily_returns",
            "calibrate_heston", "HestonCalibration", "heston_implied_vols"]
