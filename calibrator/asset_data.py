"""Daily log returns (percent) of the S&P 500, NASDAQ and WTI crude shipped with ``arch``: a ready
three-asset data set for the portfolio examples and backtests."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["embedded_asset_returns"]


def embedded_asset_returns(start=None, end=None) -> pd.DataFrame:
    """Daily log returns in percent of the S&P 500 and NASDAQ composite (adjusted closes) and WTI crude
    (spot, FRED DCOILWTICO), as shipped with ``arch`` (1999-01-04 .. 2018-12-31 for the three together).

    Prices are aligned by date with an inner join and days with a missing price dropped BEFORE taking
    log differences, so each row is the return between consecutive common trading days for all three.
    start, end: optional date bounds (inclusive) on the returns. Columns: SP500, NASDAQ, WTI.
    """
    from arch.data import nasdaq, sp500, wti
    prices = pd.concat([sp500.load()["Adj Close"].rename("SP500"), nasdaq.load()["Adj Close"].rename("NASDAQ"),
                        wti.load()["DCOILWTICO"].rename("WTI")], axis=1, join="inner").dropna()
    prices = prices[(prices > 0).all(axis=1)]
    out = (100.0 * np.log(prices).diff()).iloc[1:]
    if start is not None:
        out = out.loc[pd.Timestamp(start):]
    if end is not None:
        out = out.loc[:pd.Timestamp(end)]
    out.index.name = "date"
    return out
