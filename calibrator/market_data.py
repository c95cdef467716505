"""Market data shipped with the package: the DAX implied-vol surface of 2002-07-05 (QuantLib's Heston
calibration test case, spot 4468.17; 13 strikes x 8 maturities) and its zero curve."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parent / "data"
DAX_SPOT = 4468.17


def dax_2002_07_05(data_dir=None):
    """(vols, zeros, surface, rate) for the DAX surface of 2002-07-05.

    vols: the quotes as given (strike, days, implied_vol); zeros: (days, zero_rate). surface: strike,
    expiry (years), implied_vol with QuantLib's maturities, (days + 3) // 7 whole weeks on the TARGET
    calendar as Act/365 year fractions; rate: (expiry = days / 365, zero_rate), the curve QuantLib's
    ZeroCurve interpolates linearly. ``data_dir``: read the two CSVs from there instead (tests use
    their own copy).
    """
    import QuantLib as ql
    folder = Path(data_dir) if data_dir is not None else DATA
    vols = pd.read_csv(folder / "dax_2002-07-05_vols.csv")
    zeros = pd.read_csv(folder / "dax_2002-07-05_zero_rates.csv")
    today, calendar, day_count = ql.Date(5, 7, 2002), ql.TARGET(), ql.Actual365Fixed()
    weeks = (vols.days + 3) // 7
    expiry = [day_count.yearFraction(today, calendar.advance(today, ql.Period(int(w), ql.Weeks))) for w in weeks]
    surface = pd.DataFrame(dict(strike=vols.strike.astype(float), expiry=expiry, implied_vol=vols.implied_vol))
    rate = pd.DataFrame(dict(expiry=zeros.days / 365.0, zero_rate=zeros.zero_rate))
    return vols, zeros, surface, rate
