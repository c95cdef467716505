"""pricer.implied.implied_volatility (the report's smile): Black–Scholes prices round-trip to their vols,
from 1% to 800% and a day to ten years, calls and puts on either side of the forward; NaN where no vol
gives the price; every argument broadcasts."""
import itertools

import numpy as np
import pytest

from pricer.implied import _black_scholes, implied_volatility

SPOT, RATE, DIVIDEND = 100.0, 0.03, 0.01


def test_prices_round_trip_to_their_vols():
    cases = list(itertools.product([0.01, 0.2, 1.0, 6.0, 8.0], [1 / 365, 0.25, 1.0, 10.0], [60.0, 95.0, 100.0, 130.0],
                                   [True, False]))
    vol, expiry, strike, call = (np.array(c) for c in zip(*cases))
    prices = np.array([_black_scholes(SPOT, k, t, v, RATE, DIVIDEND, c) for v, t, k, c in cases])
    implied = implied_volatility(prices, SPOT, strike, expiry, RATE, DIVIDEND, call)
    forward = SPOT * np.exp((RATE - DIVIDEND) * expiry)
    otm = np.where(strike >= forward, call, ~call)
    # the out-of-the-money side's value: where it is below 1e-12 of the price given, it is that price's rounding
    otm_value = np.array([_black_scholes(SPOT, k, t, v, RATE, DIVIDEND, k >= f) for v, t, k, f in
                          zip(vol, expiry, strike, forward)])
    resolvable = (otm & (otm_value > 1e-300)) | (~otm & (otm_value > 1e-10 * prices))
    # and likewise below the bound it tends to as the vol grows (total vol 19: within 1e-20 of it)
    bound = np.exp(-RATE * expiry) * np.where(strike >= forward, forward, strike)
    resolvable &= bound - otm_value > 1e-10 * bound
    assert resolvable.sum() > 0.7 * len(cases)   # 122 of 160: the others sit at a bound's rounding
    np.testing.assert_allclose(implied[resolvable], vol[resolvable], rtol=1e-7)
    assert np.all(np.isnan(implied[~resolvable]) | np.isclose(implied[~resolvable], vol[~resolvable], rtol=1e-4))


def test_no_vol_gives_nan():
    # below intrinsic, above the bound, negative, NaN; a deep in-the-money call whose time value is rounding
    # (the old bracket answered 1e-4 for it); and vols above 5 are found (they were NaN)
    intrinsic = SPOT * np.exp(-DIVIDEND) - 80.0 * np.exp(-RATE)
    prices = [intrinsic - 0.01, SPOT, -1.0, np.nan, _black_scholes(SPOT, 80.0, 1.0, 0.02, RATE, DIVIDEND, True)]
    assert np.isnan(implied_volatility(prices, SPOT, 80.0, 1.0, RATE, DIVIDEND, True)).all()
    assert implied_volatility(_black_scholes(SPOT, 100.0, 1.0, 6.0, RATE, DIVIDEND, True), SPOT, 100.0, 1.0, RATE,
                              DIVIDEND, True) == pytest.approx(6.0, rel=1e-9)


def test_every_argument_broadcasts_and_bad_fields_are_named():
    expiry = np.array([0.5, 2.0])
    prices = [_black_scholes(SPOT, 100.0, t, 0.3, RATE, DIVIDEND, True) for t in expiry]
    np.testing.assert_allclose(implied_volatility(prices, SPOT, 100.0, expiry, RATE, DIVIDEND, True), 0.3, rtol=1e-9)
    for field, arguments in [("strikes", (5.0, SPOT, 0.0, 1.0)), ("expiry", (5.0, SPOT, 100.0, 0.0)),
                             ("spot", (5.0, np.nan, 100.0, 1.0))]:
        with pytest.raises(ValueError, match=field):
            implied_volatility(*arguments, RATE, DIVIDEND, True)
