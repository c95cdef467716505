"""The example book and market: 300 trades on four underlyings, deterministic (seeded numpy).

An S&P-like index under Heston, a single stock and a EUR/USD-like rate under Black-Scholes, a Euro
Stoxx-like index under GJR-GARCH. Europeans, barriers (all four types, some rebates, some discretely
monitored) and Asians (arithmetic and geometric, some seasoned), tenors from 3 months to 3 years.
Used by ``exotics demo``; ``examples/make_example_book.py`` writes it to CSV.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SEED = 20240601
N_TRADES = 300

MARKET = pd.DataFrame([
    # an equity index with a skew: Heston with strongly negative spot/vol correlation
    dict(underlying="SPX", model="heston", spot=5200.0, rate=0.045, dividend=0.014,
         v0=0.028, kappa=1.8, theta=0.042, xi=0.55, rho=-0.72),
    # a single stock
    dict(underlying="ACME", model="black_scholes", spot=182.5, rate=0.045, dividend=0.006, vol=0.31),
    # EUR/USD: rate = USD (domestic) rate, dividend = EUR (foreign) rate
    dict(underlying="EURUSD", model="black_scholes", spot=1.085, rate=0.045, dividend=0.032, vol=0.075),
    # a European index under GJR-GARCH, daily units; blank h0 = stationary variance (about 16% a year)
    dict(underlying="SX5E", model="garch", spot=4950.0, rate=0.032, dividend=0.028,
         omega=2.0e-6, alpha=0.03, beta=0.92, gamma=0.06, h0=None),
], columns=["underlying", "model", "spot", "rate", "dividend", "vol", "v0", "kappa", "theta", "xi", "rho",
            "omega", "alpha", "beta", "gamma", "h0"])

TENORS = np.array([0.25, 0.5, 1.0, 2.0, 3.0])
TENOR_WEIGHTS = np.array([0.2, 0.25, 0.3, 0.15, 0.1])
# (strike rounding, quantity scale) per underlying
STYLE = {"SPX": (25.0, 10), "ACME": (2.5, 500), "EURUSD": (0.005, 1_000_000), "SX5E": (25.0, 10)}
UNDERLYING_WEIGHTS = {"SPX": 0.35, "ACME": 0.25, "EURUSD": 0.2, "SX5E": 0.2}


def _round(x, step):
    return float(np.round(np.round(x / step) * step, 10))


def example_book(seed: int = SEED, n: int = N_TRADES) -> pd.DataFrame:
    """The example trades, one row a trade, in the book columns of ``price_book``."""
    rng = np.random.default_rng(seed)
    spots = dict(zip(MARKET.underlying, MARKET.spot))
    names = list(UNDERLYING_WEIGHTS)
    rows = []
    for k in range(n):
        underlying = names[rng.choice(len(names), p=list(UNDERLYING_WEIGHTS.values()))]
        spot = spots[underlying]
        step, size = STYLE[underlying]
        product = rng.choice(["european", "barrier", "asian"], p=[0.35, 0.4, 0.25])
        call_put = "call" if rng.random() < 0.55 else "put"
        expiry = float(rng.choice(TENORS, p=TENOR_WEIGHTS))
        moneyness = rng.choice([0.8, 0.85, 0.9, 0.95, 1.0, 1.0, 1.05, 1.1, 1.15, 1.2])
        row = dict(trade_id=f"T{k + 1:04d}", underlying=underlying, product=str(product), call_put=call_put,
                   strike=_round(spot * moneyness, step), expiry=expiry)
        if product == "barrier":
            barrier_type = ["up-and-out", "up-and-in", "down-and-out", "down-and-in"][rng.integers(4)]
            # barriers beyond both spot and strike, 10% to 30% of spot away
            distance = rng.choice([0.1, 0.15, 0.2, 0.25, 0.3])
            level = max(moneyness, 1.0) + distance if barrier_type.startswith("up") else min(moneyness, 1.0) - distance
            row.update(barrier=_round(spot * level, step), barrier_type=barrier_type)
            if rng.random() < 0.2:
                row["rebate"] = _round(spot * rng.choice([0.01, 0.02, 0.05]), step / 5)
            draw = rng.random()
            if draw < 0.15:
                row["monitoring"] = str(int(round(252 * expiry)))   # daily closes
            elif draw < 0.3:
                row["monitoring"] = str(int(round(12 * expiry)))    # monthly
            else:
                row["monitoring"] = "continuous"
        elif product == "asian":
            row["fixings"] = int(round((52 if rng.random() < 0.25 else 12) * expiry))
            row["average"] = "geometric" if rng.random() < 0.3 else "arithmetic"
            if rng.random() < 0.25:     # seasoned: some fixings already observed
                row["past_count"] = int(rng.integers(1, 7))
                row["past_average"] = _round(spot * rng.uniform(0.92, 1.08), step / 5)
        row["quantity"] = int(rng.choice([-1, 1, 1, 1]) * size * rng.integers(1, 21))
        rows.append(row)
    columns = ["trade_id", "underlying", "product", "call_put", "strike", "expiry", "barrier", "barrier_type",
               "rebate", "monitoring", "fixings", "average", "past_average", "past_count", "quantity"]
    book = pd.DataFrame(rows, columns=columns)
    return book.astype({"fixings": "Int64", "past_count": "Int64"})


def example_market() -> pd.DataFrame:
    """One row per underlying: model and parameters, in the market columns of ``price_book``."""
    return MARKET.copy()

