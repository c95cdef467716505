"""Typed warnings for GARCH estimation, in the spirit of arch's.

Soft problems (the fit ran and returned numbers, but you should look at them) are warnings; hard
problems (the input cannot be fitted at all) are ``ValueError``. Filter them by class, e.g.
``warnings.simplefilter("ignore", calibrator.DataScaleWarning)``.
"""
from __future__ import annotations

__all__ = [
    "GarchWarning",
    "DataScaleWarning",
    "ConvergenceWarning",
    "PersistenceWarning",
    "ShortSeriesWarning",
]


class GarchWarning(UserWarning):
    """Base class of every warning raised by ``calibrator``'s GARCH code."""


class DataScaleWarning(GarchWarning):
    """The returns look badly scaled or in other units than ``percent=`` says.

    Estimation itself is scale-free (each series is standardised internally), but the parameters come
    back in the units of the input, so a wrong ``percent=`` flag silently mis-annualises volatility.
    """


class ConvergenceWarning(GarchWarning):
    """The optimiser stopped before its convergence test passed for one or more series."""


class PersistenceWarning(GarchWarning):
    """alpha + beta + gamma/2 is at (or numerically at) its upper bound 1: a near-integrated process.

    The unconditional variance and long-horizon forecasts are then barely identified.
    """


class ShortSeriesWarning(GarchWarning):
    """Fewer than 500 observations: GARCH parameters are poorly determined."""
