"""Market dynamics: each model is a pytree of parameters with ``init`` and ``step``."""
from .base import Model
from .black_scholes import BlackScholes
from .garch import Garch
from .heston import Heston

__all__ = ["Model", "BlackScholes", "Heston", "Garch"]
