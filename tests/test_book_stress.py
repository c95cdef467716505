"""pricer.book_stress.revalue_book: scenario P&L against closed forms (Black-Scholes Europeans, barriers,
seasoned geometric Asians) in Monte Carlo standard errors; the grid's reading error against direct
pricing on the same random numbers; knock-outs, knock-ins and fixings inside the horizon; bad rows."""
import numpy as np
import pandas as pd
import pytest

from pricer import AsianOption, BarrierOption, BlackScholes, EuropeanOption, Garch, Heston, MonteCarlo, price
from pricer.analytic import barrier_price, black_scholes_price, geometric_asian_bs_price
from pricer.book_stress import revalue_book
from pricer.scenarios import TRADING_DAYS, MarketScenarios

SPOT, VOL, RATE, DIVIDEND = 100.0, 0.25, 0.03, 0.01
MARKET = pd.DataFrame([
    dict(underlying="STK", model="black_scholes", spot=SPOT, rate=RATE, dividend=DIVIDEND, vol=VOL),
    dict(underlying="IDX", model="heston", spot=4000.0, rate=0.02, dividend=0.0, v0=0.03, kappa=2.0, theta=0.04,
         xi=0.5, rho=-0.7),
    dict(underlying="GAR", model="garch", spot=50.0, rate=0.02, dividend=0.0, omega=2e-6, alpha=0.05, beta=0.93,
         gamma=0.02),
])


def _scenarios(names, horizon, count, seed, daily_vol=0.012, ratio_spread=0.25):
    rng = np.random.default_rng(seed)
    path = np.cumsum(rng.standard_normal((count, horizon, len(names))) * daily_vol, axis=1)
    ratio = np.exp(rng.standard_normal((count, len(names))) * ratio_spread)
    return MarketScenarios(tuple(names), path, ratio)


def _bs(spot, strike, expiry, vol, call):
    return float(black_scholes_price(spot, strike, expiry, vol, RATE, DIVIDEND, call))


def test_black_scholes_book_pnl_matches_closed_forms():
    """Europeans, continuous barriers (bridge: exact for Black-Scholes) and a geometric Asian whose
    fixings start inside the horizon: every scenario's P&L equals the closed-form revaluation within
    3 standard errors of today's and the horizon's Monte Carlo prices."""
    horizon = 5
    tau = horizon / TRADING_DAYS
    trades = pd.DataFrame([
        dict(trade_id="E1", underlying="STK", product="european", call_put="call", strike=100.0, expiry=0.5, quantity=10),
        dict(trade_id="E2", underlying="STK", product="european", call_put="put", strike=90.0, expiry=0.5, quantity=-4),
        dict(trade_id="B1", underlying="STK", product="barrier", call_put="call", strike=100.0, expiry=0.5,
             barrier=110.0, barrier_type="up-and-out", rebate=1.5),
        dict(trade_id="B2", underlying="STK", product="barrier", call_put="put", strike=100.0, expiry=0.5,
             barrier=92.0, barrier_type="down-and-in"),
        dict(trade_id="G1", underlying="STK", product="asian", call_put="call", strike=100.0, expiry=0.5,
             fixings=126, average="geometric", quantity=3),
    ])
    scenarios = _scenarios(["STK"], horizon, 40, seed=1, daily_vol=0.03, ratio_spread=0.15)
    mc = MonteCarlo(paths=1 << 15, seed=7)
    result = revalue_book(trades, MARKET, scenarios, mc=mc, spot_nodes=21, variance_nodes=4)
    assert (result.trades["status"] == "ok").all(), result.trades["error"].tolist()
    x, ratio = scenarios.log_return[:, 0], scenarios.variance_ratio[:, 0]
    path = scenarios.log_spot_path[:, :, 0]
    spot_h, vol_h, remaining = SPOT * np.exp(x), VOL * np.sqrt(ratio), 0.5 - tau
    fixings = 0.5 * np.arange(1, 127) / 126
    inside, later = fixings[fixings <= tau], fixings[fixings > tau] - tau

    def geometric_today():
        return float(geometric_asian_bs_price(SPOT, 100.0, fixings, VOL, RATE, DIVIDEND, True, 0.5))

    def geometric_at(k):
        past_log_sum = np.sum(np.log(SPOT) + path[k, :inside.size])   # fixings on days 1..5: the path's closes
        return float(geometric_asian_bs_price(spot_h[k], 100.0, later, vol_h[k], RATE, DIVIDEND, True, remaining,
                                              past_log_sum=past_log_sum, past_count=inside.size))

    def barrier_at(k, barrier, up, knock_in, call, rebate):
        level = np.log(barrier / SPOT)
        touched = np.max(path[k]) >= level if up else np.min(path[k]) <= level
        if touched:
            return _bs(spot_h[k], 100.0, remaining, vol_h[k], call) if knock_in else rebate
        return float(barrier_price(spot_h[k], 100.0, barrier, remaining, vol_h[k], RATE, DIVIDEND, rebate, call, up,
                                   knock_in))

    exact_today = {
        "E1": _bs(SPOT, 100.0, 0.5, VOL, True), "E2": _bs(SPOT, 90.0, 0.5, VOL, False),
        "B1": float(barrier_price(SPOT, 100.0, 110.0, 0.5, VOL, RATE, DIVIDEND, 1.5, True, True, False)),
        "B2": float(barrier_price(SPOT, 100.0, 92.0, 0.5, VOL, RATE, DIVIDEND, 0.0, False, False, True)),
        "G1": geometric_today(),
    }
    exact_horizon = {
        "E1": [_bs(spot_h[k], 100.0, remaining, vol_h[k], True) for k in range(40)],
        "E2": [_bs(spot_h[k], 90.0, remaining, vol_h[k], False) for k in range(40)],
        "B1": [barrier_at(k, 110.0, True, False, True, 1.5) for k in range(40)],
        "B2": [barrier_at(k, 92.0, False, True, False, 0.0) for k in range(40)],
        "G1": [geometric_at(k) for k in range(40)],
    }
    knocked_out = np.max(path, axis=1) >= np.log(1.1)
    knocked_in = np.min(path, axis=1) <= np.log(0.92)
    for knocked in (knocked_out, knocked_in):                # both branches of both barriers are exercised
        assert knocked.any() and not knocked.all()
    # Monte Carlo errors: today's price, and the horizon's at each scenario's state (the product it is then)
    today_stderr = dict(zip(trades.trade_id, result.trades["stderr_today"]))

    def horizon_product(name, k):
        if name == "E1":
            return EuropeanOption(100.0, remaining, True)
        if name == "E2":
            return EuropeanOption(90.0, remaining, False)
        if name == "B1":
            return None if knocked_out[k] else BarrierOption(100.0, 110.0, remaining, call=True, up=True, rebate=1.5)
        if name == "B2":
            return (EuropeanOption(100.0, remaining, False) if knocked_in[k]
                    else BarrierOption(100.0, 92.0, remaining, call=False, up=False, knock_in=True))
        return AsianOption(100.0, remaining, tuple(later), geometric=True, past_average=SPOT, past_count=inside.size)

    for row, trade in trades.iterrows():
        name, quantity = trade.trade_id, trade.get("quantity", 1.0)
        quantity = 1.0 if pd.isna(quantity) else quantity
        horizon_stderr = np.array([0.0 if horizon_product(name, k) is None else
                                   float(price(horizon_product(name, k), BlackScholes(spot_h[k], vol_h[k], RATE, DIVIDEND),
                                               mc).stderr) for k in range(40)])
        tolerance = 3 * abs(quantity) * np.hypot(today_stderr[name], horizon_stderr)
        exact_pnl = quantity * (np.array(exact_horizon[name]) - exact_today[name])
        error = np.abs(result.trade_pnl[row] - exact_pnl)
        assert np.all(error < tolerance), (name, error.max(), tolerance)


def test_grid_reading_error_is_below_the_monte_carlo_error():
    """Horizon values read off the default grid against the same trades priced directly at each
    scenario's exact state with the same random numbers: the difference is the grid's reading error
    (and, for the Asian, the first-order accrual correction's remainder), and it must stay below the
    price's own standard error (Heston barrier, GJR-GARCH Asian with two fixings inside the horizon,
    accrued from the scenario's own closes, Heston European)."""
    horizon = 10
    tau = horizon / TRADING_DAYS
    trades = pd.DataFrame([
        dict(trade_id="H1", underlying="IDX", product="barrier", call_put="call", strike=4000.0, expiry=1.0,
             barrier=4800.0, barrier_type="up-and-out", rebate=20.0),
        dict(trade_id="H2", underlying="IDX", product="european", call_put="put", strike=3800.0, expiry=1.0),
        dict(trade_id="A1", underlying="GAR", product="asian", call_put="call", strike=50.0, expiry=0.5, fixings=26,
             average="arithmetic"),
    ])
    scenarios = _scenarios(["IDX", "GAR"], horizon, 12, seed=3, daily_vol=0.015, ratio_spread=0.3)
    mc = MonteCarlo(paths=4096, seed=11)
    result = revalue_book(trades, MARKET, scenarios, mc=mc)
    assert (result.trades["status"] == "ok").all(), result.trades["error"].tolist()
    horizon_value = result.trade_pnl + result.trades["price_today"].to_numpy()[:, None]
    garch = Garch(50.0, 2e-6, 0.05, 0.93, gamma=0.02, rate=0.02)
    fixings = 0.5 * np.arange(1, 27) / 26
    inside, later = fixings[fixings <= tau], tuple(fixings[fixings > tau] - tau)
    assert inside.size == 2        # two fixings fall inside the horizon, on days 5 and 10
    closes_gar = scenarios.log_spot_path[:, np.rint(inside * TRADING_DAYS).astype(int) - 1, 1]
    checked = 0
    for k in range(scenarios.count):
        x_idx, x_gar = scenarios.log_return[k]
        r_idx, r_gar = scenarios.variance_ratio[k]
        state_idx = Heston(4000.0 * np.exp(x_idx), 0.03 * r_idx, 2.0, 0.04, 0.5, -0.7, rate=0.02)
        state_gar = Garch(50.0 * np.exp(x_gar), 2e-6, 0.05, 0.93, gamma=0.02, rate=0.02,
                          h0=garch.initial_variance * r_gar)
        cases = [(1, EuropeanOption(3800.0, 1.0 - tau, call=False), state_idx),
                 (2, AsianOption(50.0, 0.5 - tau, later, past_average=np.mean(50.0 * np.exp(closes_gar[k])),
                                 past_count=inside.size), state_gar)]
        touched = np.max(scenarios.log_spot_path[k, :, 0]) >= np.log(4800.0 / 4000.0)
        if touched:
            assert horizon_value[0, k] == pytest.approx(20.0)     # knocked out: the rebate, then nothing
        else:
            cases.append((0, BarrierOption(4000.0, 4800.0, 1.0 - tau, call=True, up=True, rebate=20.0), state_idx))
        for row, product, model in cases:
            direct = price(product, model, mc)
            assert abs(horizon_value[row, k] - float(direct.price)) < float(direct.stderr), (row, k)
            checked += 1
    assert checked >= 30


def test_knock_in_inside_the_horizon_becomes_the_vanilla():
    """A path that touches the barrier on day 2 and comes back: the knock-out pays its rebate and is
    worth nothing after, the knock-in is worth the European (closed form, within its Monte Carlo error)."""
    trades = pd.DataFrame([
        dict(trade_id="out", underlying="STK", product="barrier", call_put="call", strike=100.0, expiry=1.0,
             barrier=103.0, barrier_type="up-and-out", rebate=2.0),
        dict(trade_id="in", underlying="STK", product="barrier", call_put="call", strike=100.0, expiry=1.0,
             barrier=103.0, barrier_type="up-and-in"),
    ])
    path = np.array([[0.01, 0.035, 0.01, 0.0, -0.01],                 # touches log(1.03) = 0.0296 on day 2
                     [0.01, 0.02, 0.01, 0.0, -0.01]])[..., None]      # never does
    scenarios = MarketScenarios(("STK",), path, np.ones((2, 1)))
    mc = MonteCarlo(paths=1 << 15, seed=2)
    result = revalue_book(trades, MARKET, scenarios, mc=mc)
    today = result.trades["price_today"].to_numpy()
    value_h = result.trade_pnl[:, 0] + today
    assert value_h[0] == pytest.approx(2.0)
    remaining = 1.0 - 5 / TRADING_DAYS
    vanilla = _bs(SPOT * np.exp(-0.01), 100.0, remaining, VOL, True)
    stderr = price(EuropeanOption(100.0, remaining), BlackScholes(SPOT * np.exp(-0.01), VOL, RATE, DIVIDEND), mc).stderr
    assert abs(value_h[1] - vanilla) < 3 * float(stderr)
    alive = result.trade_pnl[:, 1] + today          # scenario 2 never touches: still barriers
    state = BlackScholes(SPOT * np.exp(-0.01), VOL, RATE, DIVIDEND)
    for row, knock_in in ((0, False), (1, True)):
        direct = price(BarrierOption(100.0, 103.0, remaining, call=True, up=True, knock_in=knock_in,
                                     rebate=0.0 if knock_in else 2.0), state, mc)
        assert abs(alive[row] - float(direct.price)) < float(direct.stderr)
    risk = result.risk(levels=(0.5,))
    assert risk.loc[0, "scenarios"] == 2 and risk.loc[0, "horizon_days"] == 5


def test_bad_rows_and_short_trades_are_reported_and_the_others_unchanged():
    good = [dict(trade_id="ok1", underlying="STK", product="european", call_put="call", strike=100.0, expiry=0.5),
            dict(trade_id="ok2", underlying="GAR", product="european", call_put="put", strike=48.0, expiry=0.25,
                 quantity=5)]
    bad = [dict(trade_id="short", underlying="STK", product="european", call_put="call", strike=100.0, expiry=0.01),
           dict(trade_id="neg", underlying="STK", product="european", call_put="call", strike=-1.0, expiry=0.5),
           dict(trade_id="nowhere", underlying="XYZ", product="european", call_put="call", strike=1.0, expiry=0.5)]
    scenarios = _scenarios(["STK"], 5, 30, seed=4)
    mc = MonteCarlo(paths=2048)
    with pytest.warns(UserWarning) as caught:
        mixed = revalue_book(pd.DataFrame([bad[0], good[0], bad[1], good[1], bad[2]]), MARKET, scenarios, mc=mc)
    messages = [str(w.message) for w in caught]
    assert any("no scenario moves ['GAR']" in m for m in messages)   # GAR is held, not stressed
    # the short trade was priced today but cannot be at the horizon: said, not only in its error cell
    assert any(m.startswith("1 trade(s) priced today are left out of the P&L, VaR and CVaR: row 1 (short): expiry")
               for m in messages), messages
    status = dict(zip(mixed.trades.trade_id, mixed.trades.status))
    errors = dict(zip(mixed.trades.trade_id, mixed.trades.error))
    assert status == {"short": "error", "ok1": "ok", "neg": "error", "ok2": "ok", "nowhere": "error"}
    assert "expiry" in errors["short"] and "horizon" in errors["short"]
    assert "strike" in errors["neg"] and "XYZ" in errors["nowhere"]
    assert np.isnan(mixed.trade_pnl[[0, 2, 4]]).all()
    with pytest.warns(UserWarning, match="no scenario moves"):
        clean = revalue_book(pd.DataFrame(good), MARKET, scenarios, mc=mc)
    np.testing.assert_allclose(mixed.trade_pnl[[1, 3]], clean.trade_pnl, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mixed.pnl, clean.pnl, rtol=1e-5, atol=1e-5)
    # GAR has no scenarios: only time passes, the same P&L in every scenario
    assert np.ptp(clean.trade_pnl[1]) == 0.0
    with pytest.raises(ValueError, match="no scenarios for underlying 'sp500'"):
        revalue_book(pd.DataFrame(good), MARKET, scenarios, mc=mc, underlyings={"sp500": "STK"})
    with pytest.raises(ValueError, match="MarketScenarios"):
        revalue_book(pd.DataFrame(good), MARKET, "crash", mc=mc)
    with pytest.warns(UserWarning, match="left out of the P&L"):
        nothing = revalue_book(pd.DataFrame(bad), MARKET, scenarios, mc=mc)
    assert np.isnan(nothing.pnl).all()
    with pytest.raises(ValueError, match="no trade was revalued"):
        nothing.risk()
    # today's prices use 4x the paths; their error, which moves every scenario alike, is reported
    table = clean.risk(levels=(0.95,))
    expected = np.sum(np.abs([1.0, 5.0]) * clean.trades["stderr_today"].to_numpy())
    assert table.loc[0, "today_error"] == pytest.approx(expected) and expected > 0


def test_scenarios_are_checked():
    with pytest.raises(ValueError, match="log_spot_path"):
        MarketScenarios(("A", "B"), np.zeros((3, 5, 1)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="variance_ratio must be > 0"):
        MarketScenarios(("A",), np.zeros((3, 5, 1)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="finite"):
        MarketScenarios(("A",), np.full((3, 5, 1), np.nan), np.ones((3, 1)))
    unchanged = MarketScenarios.unchanged(["A", "B"], 10)
    assert unchanged.count == 1 and unchanged.horizon_days == 10 and unchanged.log_return.shape == (1, 2)


def test_discrete_barrier_counts_only_its_monitoring_dates():
    """Monthly monitoring (12 dates a year): a scenario that ends beyond the barrier with no date inside the
    horizon leaves the trade alive (valued as the still-alive barrier), one that is beyond on a date inside
    the horizon knocks it (rebate)."""
    horizon = 10
    trades = pd.DataFrame([dict(trade_id="D1", underlying="STK", product="barrier", call_put="call", strike=100.0,
                                expiry=0.5, barrier=104.0, barrier_type="up-and-out", rebate=1.0, monitoring=6)])
    # dates every 1/12 year: 21 trading days; the first is after this 10-day horizon ...
    path = np.array([[0.0] * 9 + [np.log(104.6 / 100)], [0.0] * 9 + [0.0]])[..., None]
    scenarios = MarketScenarios(("STK",), path, np.ones((2, 1)))
    mc = MonteCarlo(paths=1 << 14, seed=4)
    result = revalue_book(trades, MARKET, scenarios, mc=mc)
    today = result.trades["price_today"].to_numpy()
    value = result.trade_pnl[0] + today[0]
    remaining = 0.5 - horizon / TRADING_DAYS
    later = tuple(0.5 * np.arange(1, 7) / 6 - horizon / TRADING_DAYS)
    direct = price(BarrierOption(100.0, 104.0, remaining, call=True, up=True, rebate=1.0, monitoring=later),
                   BlackScholes(104.6, VOL, RATE, DIVIDEND), mc)
    assert abs(value[0] - float(direct.price)) < float(direct.stderr) and abs(value[0] - 1.0) > 10 * float(direct.stderr)
    # ... a 25-day horizon holds the first date (day 21): beyond the barrier on it, the trade is knocked
    long_path = np.zeros((1, 25, 1))
    long_path[0, 20:, 0] = np.log(104.6 / 100)
    knocked = revalue_book(trades, MARKET, MarketScenarios(("STK",), long_path, np.ones((1, 1))), mc=mc)
    assert knocked.trade_pnl[0, 0] + today[0] == pytest.approx(1.0)


def test_grid_reading_on_a_wide_stressed_set():
    """A crisis-like set: most scenarios calm, a few huge moves and variance spikes (x from -60% to +40%,
    variance up to 50x). Nodes at the scenarios' quantiles keep the reading error below the Monte Carlo
    error for a short at-the-money European, where equally spaced nodes would not."""
    rng = np.random.default_rng(9)
    count, horizon = 60, 10
    x = np.concatenate([rng.normal(0.0, 0.03, count - 4), [-0.6, -0.35, 0.25, 0.4]])
    ratio = np.exp(np.concatenate([rng.normal(0.0, 0.2, count - 4), [np.log(50.0), np.log(20.0), 0.0, 1.0]]))
    path = x[:, None, None] * (np.arange(1, horizon + 1) / horizon)[None, :, None]
    scenarios = MarketScenarios(("STK",), path, ratio[:, None])
    trades = pd.DataFrame([dict(trade_id="S1", underlying="STK", product="european", call_put="call", strike=100.0,
                                expiry=0.25)])
    mc = MonteCarlo(paths=1 << 14, seed=6, steps_per_year=4)
    result = revalue_book(trades, MARKET, scenarios, mc=mc)
    value = result.trade_pnl[0] + result.trades["price_today"].to_numpy()[0]
    remaining = 0.25 - horizon / TRADING_DAYS
    for k in range(count):
        direct = price(EuropeanOption(100.0, remaining), BlackScholes(SPOT * np.exp(x[k]), VOL * np.sqrt(ratio[k]),
                                                                      RATE, DIVIDEND), mc)
        assert abs(value[k] - float(direct.price)) < float(direct.stderr), (k, value[k], float(direct.price))


def test_scenarios_that_move_no_trade_are_refused():
    # "stk" for "STK": every trade was revalued with its market unchanged, status ok, a VaR of about 0
    trades = pd.DataFrame([dict(trade_id="E1", underlying="STK", product="european", call_put="call", strike=100.0,
                                expiry=0.5)])
    with pytest.raises(ValueError, match=r"the scenarios move \['stk'\] but the book's priced trades are on \['STK'\]"):
        revalue_book(trades, MARKET, _scenarios(["stk"], 5, 4, seed=1), mc=MonteCarlo(paths=1024, seed=1))
    two = pd.concat([trades, trades.assign(trade_id="E2", underlying="GAR")], ignore_index=True)
    with pytest.warns(UserWarning, match=r"no scenario moves \['GAR'\]"):
        revalue_book(two, MARKET, _scenarios(["STK"], 5, 4, seed=1), mc=MonteCarlo(paths=1024, seed=1))
    with pytest.raises(ValueError, match="no trade would move"):
        revalue_book(trades, MARKET, _scenarios(["STK"], 5, 4, seed=1), mc=MonteCarlo(paths=1024, seed=1),
                     underlyings={"STK": "NOPE"})


def test_a_daily_asian_with_half_its_fixings_inside_the_horizon():
    """21 daily fixings, 10 inside a 10-day horizon, daily moves at the model's own vol: the horizon value
    depends on the scenario's own closes far beyond first order. A linear correction from the straight-line
    accrual was 0.46 off (a daily arithmetic Asian worth 0.79), hundreds of standard errors; here against the
    geometric closed form at each scenario's exact state, in standard errors."""
    horizon, count = 10, 30
    tau = horizon / TRADING_DAYS
    trades = pd.DataFrame([dict(trade_id="D1", underlying="STK", product="asian", call_put="call", strike=100.0,
                                expiry=21 / TRADING_DAYS, fixings=21, average="geometric")])
    scenarios = _scenarios(["STK"], horizon, count, seed=4, daily_vol=VOL / np.sqrt(TRADING_DAYS), ratio_spread=0.1)
    mc = MonteCarlo(paths=1 << 14, seed=5)
    result = revalue_book(trades, MARKET, scenarios, mc=mc)
    assert (result.trades["status"] == "ok").all(), result.trades["error"].tolist()
    path, ratio = scenarios.log_spot_path[:, :, 0], scenarios.variance_ratio[:, 0]
    expiry = 21 / TRADING_DAYS
    fixings = expiry * np.arange(1, 22) / 21
    inside, later = fixings[fixings <= tau * (1 + 1e-12)], fixings[fixings > tau * (1 + 1e-12)] - tau
    assert inside.size == 10
    today = float(geometric_asian_bs_price(SPOT, 100.0, fixings, VOL, RATE, DIVIDEND, True, expiry))
    for k in range(count):
        spot_h, vol_h = SPOT * np.exp(path[k, -1]), VOL * np.sqrt(ratio[k])
        past_log_sum = np.sum(np.log(SPOT) + path[k, :inside.size])     # the closes of days 1..10
        exact = float(geometric_asian_bs_price(spot_h, 100.0, later, vol_h, RATE, DIVIDEND, True, expiry - tau,
                                               past_log_sum=past_log_sum, past_count=inside.size))
        product = AsianOption(100.0, expiry - tau, tuple(later), geometric=True,
                              past_average=float(np.exp(past_log_sum / inside.size)), past_count=inside.size)
        horizon_stderr = float(price(product, BlackScholes(spot_h, vol_h, RATE, DIVIDEND), mc).stderr)
        tolerance = 3 * np.hypot(float(result.trades["stderr_today"][0]), horizon_stderr)
        assert abs(result.trade_pnl[0, k] - (exact - today)) < tolerance, (k, result.trade_pnl[0, k], exact - today)


def test_horizon_values_of_long_options_are_never_negative():
    """Near-worthless calls in crash scenarios: the grid's Monte Carlo and reading errors put values a
    little below 0 (down to -0.12 on a 4,000 index before the floor); every product pays >= 0, so every
    horizon value is >= 0, and the P&L is quantity x (horizon value - today's price)."""
    market = MARKET[MARKET["underlying"] == "IDX"]
    trades = pd.DataFrame([dict(trade_id=f"C{k}", underlying="IDX", product="european", call_put="call",
                                strike=float(k), expiry=4 / TRADING_DAYS, quantity=2.0) for k in (4000, 4050, 4100)])
    rng = np.random.default_rng(3)
    scenarios = MarketScenarios(("IDX",), np.cumsum(rng.standard_normal((40, 1, 1)) * 0.03, axis=1),
                                np.exp(rng.standard_normal((40, 1)) * 0.3))
    result = revalue_book(trades, market, scenarios, mc=MonteCarlo(paths=4096, seed=3))
    assert (result.trades["status"] == "ok").all(), result.trades["error"].tolist()
    value_today = result.trades["value_today"].to_numpy()[:, None]
    horizon_value = (result.trade_pnl + value_today) / 2.0
    assert np.all(np.isfinite(horizon_value))
    assert horizon_value.min() >= 0.0
    assert np.any(horizon_value == 0.0)           # the crash scenarios were below 0 before the floor
    assert np.max(horizon_value) > 50.0            # and the rallies are still worth something


def test_horizon_error_bounds_the_spread_of_horizon_values_over_seeds():
    """stderr_horizon bounds the Monte Carlo error of a trade's horizon values: over six seeds their spread
    in each scenario stays below it, and it is not a vacuous bound (the largest spread is within 4x of it).
    An Asian with fixings inside the horizon is read through the accrual interpolation (the largest of its
    tables' errors); a knock-out knocked in every scenario is its rebate, with no error."""
    trades = pd.DataFrame([
        dict(trade_id="E", underlying="STK", product="european", call_put="call", strike=100.0, expiry=0.5, quantity=3),
        dict(trade_id="A", underlying="STK", product="asian", call_put="put", strike=100.0, expiry=21 / TRADING_DAYS,
             fixings=21, quantity=-2),
    ])
    scenarios = _scenarios(["STK"], 10, 30, seed=5, daily_vol=0.02, ratio_spread=0.2)
    runs = [revalue_book(trades, MARKET, scenarios, mc=MonteCarlo(paths=4096, seed=seed)) for seed in range(6)]
    for run in runs:
        assert (run.trades["status"] == "ok").all(), run.trades["error"].tolist()
    values = np.stack([run.trade_pnl / run.trades["quantity"].to_numpy()[:, None]
                       + run.trades["price_today"].to_numpy()[:, None] for run in runs])      # (seeds, trades, K)
    spread = values.std(axis=0, ddof=1)                                                        # (trades, K)
    bound = np.mean([run.trades["stderr_horizon"].to_numpy() for run in runs], axis=0)[:, None]
    assert np.all(bound > 0)
    assert np.all(spread <= 2.0 * bound)          # a std over 6 draws exceeds its true value by 2x rarely
    assert np.all(np.max(spread, axis=1) >= bound[:, 0] / 4)   # the bound is the largest over the scenarios
    risk = runs[0].risk(levels=(0.99,))
    expected = np.sum(np.abs(runs[0].trades["quantity"]) * runs[0].trades["stderr_horizon"])
    assert risk.loc[0, "horizon_error"] == pytest.approx(expected)
    knocked = pd.DataFrame([dict(trade_id="K", underlying="STK", product="barrier", call_put="call", strike=100.0,
                                 expiry=0.5, barrier=101.0, barrier_type="up-and-out", rebate=1.5)])
    rally = MarketScenarios(("STK",), np.cumsum(np.full((8, 10, 1), 0.01), axis=1), np.ones((8, 1)))
    result = revalue_book(knocked, MARKET, rally, mc=MonteCarlo(paths=4096, seed=0))
    assert np.all(result.trade_pnl + result.trades["value_today"].to_numpy()[:, None] == pytest.approx(1.5))
    assert result.trades["stderr_horizon"].iloc[0] == 0.0


def test_a_garch_trade_ending_within_half_a_day_after_the_horizon_is_revalued_one_day_on():
    """An expiry in calendar days (15/365) ends 0.36 of a trading day after a 10-trading-day horizon: GARCH
    steps whole days and its engine refuses expiries under half a step, so the stress values it one step on,
    exactly as a trade expiring then (the review of 2026-12-07: the group had become a row error)."""
    trades = pd.DataFrame([
        dict(trade_id="calendar", underlying="GAR", product="european", call_put="call", strike=50.0, expiry=15 / 365),
        dict(trade_id="one day on", underlying="GAR", product="european", call_put="call", strike=50.0, expiry=11 / 252),
    ])
    result = revalue_book(trades, MARKET, _scenarios(["GAR"], 10, 20, seed=6), mc=MonteCarlo(paths=4096, seed=2))
    assert list(result.trades.status) == ["ok", "ok"]
    gap = result.trade_pnl[0] - result.trade_pnl[1]   # today's values differ, the horizon values are the same
    assert np.all(np.isfinite(gap)) and np.ptp(gap) < 1e-9
