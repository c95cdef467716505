"""Monte Carlo pricing of European, barrier and Asian options under Black–Scholes, Heston and GARCH."""
from .engine import MonteCarlo, PriceResult, price
from .models import BlackScholes, Garch, Heston
from .products import AsianOption, BarrierOption, EuropeanOption
from ._fields import PercentLikeWarning
from .resolution import UnresolvedPriceWarning

__all__ = [
    "BlackScholes", "Heston", "Garch",
    "EuropeanOption", "BarrierOption", "AsianOption",
    "MonteCarlo", "PriceResult", "price", "price_book", "from_quantlib", "revalue_book", "MarketScenarios",
    "UnresolvedPriceWarning", "PercentLikeWarning",
]


def __getattr__(name):
    # price_book pulls in pandas; import it on first use
    if name == "price_book":
        from .book import price_book
        return price_book
    if name in ("revalue_book", "MarketScenarios"):   # stress revaluation (pandas, scipy)
        from .book_stress import revalue_book
        from .scenarios import MarketScenarios
        return {"revalue_book": revalue_book, "MarketScenarios": MarketScenarios}[name]
    if name == "from_quantlib":   # QuantLib too, on first use
        from .quantlib_bridge import from_quantlib
        return from_quantlib
    raise AttributeError(f"module 'pricer' has no attribute {name!r}")
