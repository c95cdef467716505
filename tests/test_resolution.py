"""A price of 0 +- 0 because no path paid is flagged as a bound (``UnresolvedPriceWarning``), not
passed off as exact, and so is a price whose standard error rests on fewer than ten samples that paid or
paid other than the control (a barrier the paths hardly reach), or on a few that carry nearly all of it
(fewer than five by weight: a knock-in barrier the paths only graze); a trade that truly cannot pay, and a
knock-in that is its vanilla, are not flagged."""
import warnings

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from pricer import BarrierOption, BlackScholes, EuropeanOption, MonteCarlo, UnresolvedPriceWarning, price, price_book


MC = MonteCarlo(paths=4096, seed=3)


def _unresolved_messages(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught if issubclass(w.category, UnresolvedPriceWarning)]


def test_a_strike_no_path_reaches_is_flagged_and_only_that_item():
    result, messages = _unresolved_messages(lambda: price(
        EuropeanOption(strike=[100.0, 400.0], expiry=0.25), BlackScholes(spot=100.0, vol=0.2), MC))
    assert result.price[1] == 0 and result.stderr[1] == 0 and result.price[0] > 0
    assert len(messages) == 1 and "item 1" in messages[0] and "item 0" not in messages[0]
    assert "4,096 paths" in messages[0]


@pytest.mark.parametrize("greeks", [(), ("delta", "vega")])
def test_a_single_unresolved_price_is_flagged_with_or_without_greeks(greeks):
    _, messages = _unresolved_messages(lambda: price(
        EuropeanOption(strike=400.0, expiry=0.25), BlackScholes(spot=100.0, vol=0.2), MC, greeks=greeks))
    assert len(messages) == 1 and "the price" in messages[0]


def test_a_knock_out_touched_today_without_rebate_is_exactly_zero_and_not_flagged():
    knocked = BarrierOption(strike=100.0, barrier=90.0, expiry=0.25, up=False)
    result, messages = _unresolved_messages(lambda: price(knocked, BlackScholes(spot=85.0, vol=0.2), MC))
    assert result.price == 0 and result.stderr == 0 and not messages
    # with a rebate it is worth the rebate; alive, it is a priced option: neither is flagged either
    for product, spot in ((BarrierOption(strike=100.0, barrier=90.0, expiry=0.25, up=False, rebate=1.0), 85.0),
                          (knocked, 100.0)):
        result, messages = _unresolved_messages(lambda: price(product, BlackScholes(spot=spot, vol=0.2), MC))
        assert result.price > 0 and not messages


@pytest.mark.parametrize("monitoring", ["continuous", 12, (0.1, 0.25)])
def test_a_knock_out_whose_barrier_blocks_every_payoff_at_expiry_is_not_flagged(monitoring):
    """An up-and-out call struck at or above its barrier (a down-and-out put at or below) is worth exactly 0
    when the barrier is watched at expiry; with the last date before expiry it can pay, and is flagged when
    no path did."""
    model = BlackScholes(spot=100.0, vol=0.2, rate=0.03)
    products = BarrierOption(strike=[120.0, 110.0, 80.0], barrier=[110.0, 110.0, 90.0], expiry=0.25,
                             call=[True, True, False], up=[True, True, False], monitoring=monitoring)
    result, messages = _unresolved_messages(lambda: price(products, model, MC))
    assert np.all(result.price == 0) and np.all(result.stderr == 0)
    assert not messages


def test_a_barrier_watched_before_expiry_can_still_pay_and_is_flagged_when_no_path_did():
    product = BarrierOption(strike=400.0, barrier=110.0, expiry=0.25, monitoring=(0.1, 0.2))
    result, messages = _unresolved_messages(lambda: price(product, BlackScholes(spot=100.0, vol=0.2), MC))
    assert result.price == 0 and len(messages) == 1


def test_a_barrier_the_paths_hardly_reach_is_flagged_with_or_without_greeks():
    """A 250% up-and-out barrier at 20% vol: the control (the vanilla) is paid on almost every path, so the
    estimate is the vanilla's closed form and its error a rounding, whatever the barrier is worth (the
    audit: 1.4e-9 against a barrier worth 8.3e-4, on 2 seeds in 10 at 200,000 paths)."""
    model = BlackScholes(spot=100.0, vol=0.2)
    products = BarrierOption(strike=100.0, barrier=[250.0, 120.0], expiry=1.0)
    for greeks in ((), ("delta",)):
        result, messages = _unresolved_messages(lambda: price(products, model, MC, greeks=greeks))
        assert result.samples_off_control[0] < 10 <= result.samples_off_control[1]
        assert result.samples_paying[0] > 1000       # the vanilla pays: it is the barrier nobody saw
        assert len(messages) == 1 and "item 0" in messages[0] and "item 1" not in messages[0]
        assert "not reliable" in messages[0]


def test_a_price_resting_on_a_few_paying_samples_is_flagged():
    result, messages = _unresolved_messages(lambda: price(
        EuropeanOption(strike=[100.0, 134.0], expiry=0.25), BlackScholes(spot=100.0, vol=0.2), MC))
    assert 0 < result.samples_paying[1] < 10 and result.price[1] > 0 and result.stderr[1] > 0
    assert len(messages) == 1 and "item 1" in messages[0] and "item 0" not in messages[0]


@pytest.mark.parametrize("monitoring", ["continuous", 12])
def test_a_knock_in_that_is_its_vanilla_is_not_flagged(monitoring):
    """An up-and-in call struck at or above its barrier pays its vanilla on every path (watched at expiry,
    no rebate), and so does a knock-in touched today: no sample differs from the control, exactly."""
    model = BlackScholes(spot=100.0, vol=0.2)
    products = BarrierOption(strike=[110.0, 105.0], barrier=105.0, expiry=1.0, knock_in=True, monitoring=monitoring)
    result, messages = _unresolved_messages(lambda: price(products, model, MC))
    np.testing.assert_array_equal(result.samples_off_control, 0)
    assert not messages
    touched = BarrierOption(strike=100.0, barrier=95.0, expiry=1.0, up=False, knock_in=True, rebate=1.0)
    result, messages = _unresolved_messages(lambda: price(touched, BlackScholes(spot=90.0, vol=0.2), MC))
    assert result.samples_off_control == 0 and not messages
    # with a rebate, paid where it never knocks in, it is no longer its vanilla, and is priced as one
    rebated = BarrierOption(strike=110.0, barrier=105.0, expiry=1.0, knock_in=True, rebate=1.0, monitoring=monitoring)
    result, messages = _unresolved_messages(lambda: price(rebated, model, MC))
    assert result.samples_off_control > 100 and not messages


def test_a_knock_in_rebate_no_path_reached_is_flagged():
    """No path reaches a 40% down-and-in barrier: every sample pays the rebate at expiry, so the price is
    1.0 +- 0, exactly, where the knock-in is worth 1.00043 (review). A knock-out touched today pays its
    rebate now and is exact: not flagged."""
    model = BlackScholes(spot=100.0, vol=0.2)
    unreached = BarrierOption(strike=100.0, barrier=40.0, expiry=1.0, call=False, up=False, knock_in=True, rebate=1.0)
    result, messages = _unresolved_messages(lambda: price(unreached, model, MC))
    assert result.stderr == 0 and result.price == pytest.approx(1.0)
    assert len(messages) == 1 and "the price" in messages[0]
    touched = BarrierOption(strike=100.0, barrier=95.0, expiry=1.0, knock_in=False, rebate=1.0)   # up, below spot
    result, messages = _unresolved_messages(lambda: price(touched, model, MC))
    assert result.stderr == 0 and result.price == 1.0 and not messages


def test_a_knock_in_rebate_barrier_a_single_path_reached_is_flagged():
    """A 48% down-and-in put with rebate 1 at expiry: on this seed one sample of 2,048 reached the barrier,
    the other 2,047 paid the rebate, so the price is 1.0 +- 5e-7 where the closed form says 1.0178: some
    37,000 of its standard errors off, and the standard error (0 on all but one sample) was not flagged,
    because every sample paid and none paid its vanilla control. A sample now pays when it pays other than
    a knock-in's rebate: the one path that knocked in (review). A knock-out's rebate is paid where the
    path hit the barrier, so it still counts: an out-of-the-money knock-out with a rebate the paths often
    hit is not flagged."""
    from pricer import analytic
    model = BlackScholes(spot=100.0, vol=0.2)
    product = BarrierOption(strike=100.0, barrier=48.0, expiry=1.0, call=False, up=False, knock_in=True, rebate=1.0)
    exact = float(analytic.barrier_price(spot=100.0, strike=100.0, barrier=48.0, expiry=1.0, vol=0.2, rate=0.0,
                                         dividend=0.0, rebate=1.0, call=False, up=False, knock_in=True))
    for greeks in ((), ("delta",)):
        result, messages = _unresolved_messages(lambda: price(product, model, MonteCarlo(paths=4096, seed=2),
                                                              greeks=greeks))
        assert abs(float(result.price) - exact) > 1000 * float(result.stderr) > 0   # the case: wrong, and sure of it
        assert result.samples_paying < 10 and result.samples_off_control > 2000
        assert len(messages) == 1 and "the price" in messages[0]
    knock_out = BarrierOption(strike=130.0, barrier=90.0, expiry=0.5, up=False, rebate=1.0)
    result, messages = _unresolved_messages(lambda: price(knock_out, model, MC))
    assert result.samples_paying > 100 and not messages
    # a knock-in that often knocks in but seldom pays its vanilla is resolved: which paths knock in (0, not
    # the rebate) is the information (review: a first version counted only knocked-in samples paying their
    # vanilla, 0 here, and flagged a price 1.0 SE from its closed form)
    often_in = BarrierOption(strike=190.0, barrier=90.0, expiry=1.0, up=False, knock_in=True, rebate=1.0)
    result, messages = _unresolved_messages(lambda: price(often_in, model, MonteCarlo(paths=4096, seed=2)))
    exact = float(analytic.barrier_price(spot=100.0, strike=190.0, barrier=90.0, expiry=1.0, vol=0.2, rate=0.0,
                                         dividend=0.0, rebate=1.0, call=True, up=False, knock_in=True))
    assert abs(float(result.price) - exact) < 3 * float(result.stderr)
    assert result.samples_paying > 100 and not messages


def test_a_seasoned_asian_put_its_past_fixings_already_price_out_is_exactly_zero_and_not_flagged():
    """Six fixings at 210 and six to come: the arithmetic average is above 105 whatever the paths do, so a
    put struck at 100 is worth exactly 0 (it was flagged as a bound). Its geometric twin has no such bound
    (a future fixing can be near 0): no path pays it, and it is flagged; the put struck at 160 pays."""
    from pricer import AsianOption
    model = BlackScholes(spot=100.0, vol=0.2)
    seasoned = dict(expiry=0.5, fixings=6, past_average=210.0, past_count=6)
    worthless = AsianOption(strike=100.0, call=False, **seasoned)
    result, messages = _unresolved_messages(lambda: price(worthless, model, MC))
    assert result.price == 0 and result.stderr == 0 and not messages
    out_of_reach = AsianOption(strike=[100.0, 160.0], call=False, geometric=[True, False], **seasoned)
    result, messages = _unresolved_messages(lambda: price(out_of_reach, model, MC))
    assert result.price[1] > 0 and len(messages) == 1 and "item 0" in messages[0]
    trades = pd.DataFrame({"trade_id": ["dead", "alive"], "underlying": ["X"] * 2, "product": ["asian"] * 2,
                           "call_put": ["put", "put"], "strike": [100.0, 160.0], "expiry": [0.5] * 2,
                           "fixings": [6, 6], "past_average": [210.0] * 2, "past_count": [6, 6]})
    market = pd.DataFrame({"underlying": ["X"], "model": ["black_scholes"], "spot": [100.0], "rate": [0.0],
                           "dividend": [0.0], "vol": [0.2]})
    out, messages = _unresolved_messages(lambda: price_book(trades, market, MC))
    assert list(out["status"]) == ["ok", "ok"] and out["price"].iloc[0] == 0 and not messages


def test_a_spot_on_the_barrier_in_float32_is_touched_as_the_paths_see_it():
    """99.999999 is 100 in float32: the paths start on the barrier, so the up-and-in put is its vanilla
    and is not flagged (the check had compared in float64: not touched)."""
    product = BarrierOption(strike=[100.0, 90.0], barrier=100.0, expiry=1.0, call=False, knock_in=True)
    result, messages = _unresolved_messages(lambda: price(product, BlackScholes(spot=99.999999, vol=0.2), MC))
    np.testing.assert_array_equal(result.samples_off_control, 0)
    assert not messages


def test_items_of_a_two_dimensional_batch_are_named_by_their_index():
    _, messages = _unresolved_messages(lambda: price(EuropeanOption(strike=[[100.0], [1000.0]], expiry=0.25),
                                                     BlackScholes(spot=[100.0, 90.0], vol=0.2), MC))
    assert len(messages) == 1 and "item (1, 0), item (1, 1)" in messages[0]


def test_the_book_names_the_trades_no_path_paid():
    trades = pd.DataFrame({
        "trade_id": ["A", "B", "C", "D"], "underlying": ["X"] * 4,
        "product": ["european", "european", "barrier", "barrier"], "call_put": ["call"] * 4,
        "strike": [100.0, 500.0, 100.0, 100.0], "expiry": [0.5] * 4, "barrier": [np.nan, np.nan, 90.0, 120.0],
        "barrier_type": [None, None, "down-and-out", "up-and-out"]})
    market = pd.DataFrame({"underlying": ["X"], "model": ["black_scholes"], "spot": [85.0], "rate": [0.02],
                           "dividend": [0.0], "vol": [0.2]})
    out, messages = _unresolved_messages(lambda: price_book(trades, market, MC))
    assert list(out["status"]) == ["ok"] * 4
    assert out["price"].iloc[1] == 0 and out["price"].iloc[2] == 0      # B: unreached strike; C: knocked out
    assert len(messages) == 1 and "trade B" in messages[0]
    assert "trade C" not in messages[0] and "trade A" not in messages[0]


def test_the_book_names_a_barrier_its_paths_hardly_reach_and_not_a_knock_in_that_is_its_vanilla(tmp_path):
    from pricer.book import prepare_book
    from pricer.book_resume import price_book_resumable
    trades = pd.DataFrame({
        "trade_id": ["far", "near", "vanilla"], "underlying": ["X"] * 3, "product": ["barrier"] * 3,
        "call_put": ["call"] * 3, "strike": [100.0, 100.0, 110.0], "expiry": [1.0] * 3,
        "barrier": [250.0, 120.0, 105.0], "barrier_type": ["up-and-out", "up-and-out", "up-and-in"]})
    market = pd.DataFrame({"underlying": ["X"], "model": ["black_scholes"], "spot": [100.0], "rate": [0.0],
                           "dividend": [0.0], "vol": [0.2]})
    out, messages = _unresolved_messages(lambda: price_book(trades, market, MC))
    assert list(out["status"]) == ["ok"] * 3
    assert len(messages) == 1 and "trade far" in messages[0]
    assert "trade near" not in messages[0] and "trade vanilla" not in messages[0]
    # a resumed run reads the counts back from its part files and says the same
    price_book_resumable(prepare_book(trades, market, MC), tmp_path)
    _, messages = _unresolved_messages(lambda: price_book_resumable(prepare_book(trades, market, MC), tmp_path,
                                                                    resume=True))
    assert len(messages) == 1 and "trade far" in messages[0]


def test_a_stress_run_quotes_the_paths_of_todays_prices():
    from pricer.book_stress import TODAY_PATHS, revalue_book
    from pricer.scenarios import MarketScenarios
    trades = pd.DataFrame({"trade_id": ["A", "B"], "underlying": ["X", "X"], "product": ["european"] * 2,
                           "call_put": ["call"] * 2, "strike": [100.0, 500.0], "expiry": [0.5, 0.5]})
    market = pd.DataFrame({"underlying": ["X"], "model": ["black_scholes"], "spot": [85.0], "rate": [0.02],
                           "dividend": [0.0], "vol": [0.2]})
    path = np.cumsum(np.full((3, 5, 1), 0.01) * np.array([-1.0, 0.0, 1.0])[:, None, None], axis=1)
    scenarios = MarketScenarios(names=("X",), log_spot_path=path, variance_ratio=np.ones((3, 1)))
    _, messages = _unresolved_messages(lambda: revalue_book(trades, market, scenarios, mc=MC))
    assert messages and f"{MC.blocks * 1024 * TODAY_PATHS:,} paths" in messages[0]


def test_the_command_line_says_which_trades_no_path_paid(tmp_path):
    from typer.testing import CliRunner

    from pricer.cli import app
    book, market, output = tmp_path / "book.csv", tmp_path / "market.csv", tmp_path / "out.csv"
    pd.DataFrame({"trade_id": ["A", "B"], "underlying": ["X", "X"], "product": ["european"] * 2,
                  "call_put": ["call"] * 2, "strike": [100.0, 500.0], "expiry": [0.5, 0.5]}).to_csv(book, index=False)
    pd.DataFrame({"underlying": ["X"], "model": ["black_scholes"], "spot": [85.0], "rate": [0.02],
                  "dividend": [0.0], "vol": [0.2]}).to_csv(market, index=False)
    run = CliRunner().invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(output), "--paths", "4096"])
    assert run.exit_code == 0, run.output
    assert "warning:" in run.output and "(trade B)" in run.output and "trade A" not in run.output


GRAZED = BarrierOption(strike=100.0, barrier=49.0, expiry=1.0, call=False, up=False, knock_in=True, rebate=[0.0, 1.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_price_a_few_samples_carry_is_flagged_however_many_paid(dtype):
    """A down-and-in put at a 49% barrier, 20% vol, 1 year, 4,096 paths, seed 2: the bridge counts a path that
    came near the barrier as paying its vanilla times a knock-in probability, so ten samples paid in float64
    (six in float32), but two of them carry nearly all the price, and the estimate sat 26 of its standard
    errors below the closed form, unflagged (ten samples passed the count). By weight they are two."""
    from pricer import analytic
    model = BlackScholes(spot=100.0, vol=0.2)
    exact = np.asarray(analytic.barrier_price(spot=100.0, strike=100.0, barrier=49.0, expiry=1.0, vol=0.2, rate=0.0,
                                              dividend=0.0, rebate=np.array([0.0, 1.0]), call=False, up=False,
                                              knock_in=True), np.float64)
    for greeks in ((), ("delta",)):
        result, messages = _unresolved_messages(lambda: price(GRAZED, model, MonteCarlo(paths=4096, seed=2, dtype=dtype),
                                                              greeks=greeks))
        assert np.all(np.abs(result.price - exact) > 10 * result.stderr)   # the case: wrong, and sure of it
        assert np.all(result.effective_paying < 3) and np.all(result.effective_off_control > 1000)
        if dtype == "float64":
            np.testing.assert_array_equal(result.samples_paying, 10)   # the count alone would pass it
        assert len(messages) == 1 and "item 0, item 1" in messages[0] and "by weight" in messages[0]


def test_ordinary_prices_weigh_hundreds_of_samples_never_more_than_they_count():
    """At 4,096 paths (2,048 antithetic samples), prices the paths resolve count hundreds to thousands of
    samples by weight, and are not flagged; by weight is never more than by count (Cauchy-Schwarz)."""
    from pricer import AsianOption
    model = BlackScholes(spot=100.0, vol=0.2)
    products = [EuropeanOption(strike=[100.0, 150.0], expiry=1.0, call=[True, False]),
                AsianOption(strike=100.0, expiry=1.0, fixings=12),
                BarrierOption(strike=100.0, barrier=90.0, expiry=1.0, up=False, rebate=1.0),
                BarrierOption(strike=190.0, barrier=90.0, expiry=1.0, up=False, knock_in=True, rebate=1.0)]
    for product in products:
        result, messages = _unresolved_messages(lambda: price(product, model, MonteCarlo(paths=4096, seed=2)))
        assert not messages
        for weighed, counted in ((result.effective_paying, result.samples_paying),
                                 (result.effective_off_control, result.samples_off_control)):
            assert np.all(weighed > 300) and np.all(weighed <= counted * (1 + 1e-5))
    # a call 26% out of the money, 3 months: a few dozen samples pay, spread like an exponential, so by
    # weight about half as many (seeds 0-3: 40, 34, 43, 38 paid; 24, 18, 24, 23 by weight): not flagged
    result, messages = _unresolved_messages(lambda: price(EuropeanOption(strike=126.0, expiry=0.25), model,
                                                          MonteCarlo(paths=4096, seed=1)))
    assert 25 < result.samples_paying < 50 and 10 < result.effective_paying < result.samples_paying and not messages


def test_effective_samples_count_equal_samples_whole_and_a_few_large_ones_as_few():
    from pricer import statistics
    from pricer.resolution import unresolved
    y = np.zeros((2, 16))
    y[0, :7] = 3.5                                # seven equal payoffs: seven
    y[1, :2], y[1, 2:10] = 2.0, 1e-6               # two of 2 and eight of 1e-6: about two
    moments = statistics.block_moments(jnp.asarray(y), jnp.zeros_like(jnp.asarray(y)))
    paying, off_control, effective_paying, effective_off_control = (np.asarray(a)
                                                                   for a in statistics.informative_samples(moments))
    np.testing.assert_array_equal(paying, [7, 10])
    np.testing.assert_allclose(effective_paying, [7.0, 2.0], rtol=1e-5)
    np.testing.assert_allclose(effective_off_control, effective_paying)
    # none paying: 0; squares underflowing (|d| of 1e-30 in float32): not known, NaN, and then not checked
    tiny = statistics.effective_samples(jnp.float32([0.0, 1e-30]), jnp.float32([0.0, 0.0]))
    assert tiny[0] == 0 and np.isnan(tiny[1])
    assert not unresolved(1.0, 0.1, paying=20, off_control=20, effective_paying=np.nan, effective_off_control=np.nan)
    assert unresolved(1.0, 0.1, paying=20, off_control=20, effective_paying=4.9, effective_off_control=np.nan)
    # nor is a knock-in that is its vanilla asked to differ from its control, by weight either
    assert not unresolved(1.0, 0.1, paying=20, off_control=0, its_vanilla=True, effective_off_control=0.0)


def test_the_book_flags_a_trade_a_few_samples_carry_and_a_part_without_the_weights_is_not_checked_by_them(tmp_path):
    from pricer.book import prepare_book
    from pricer.book_resume import price_book_resumable
    trades = pd.DataFrame({"trade_id": ["grazed", "reached"], "underlying": ["X"] * 2, "product": ["barrier"] * 2,
                           "call_put": ["put"] * 2, "strike": [100.0] * 2, "expiry": [1.0] * 2,
                           "barrier": [49.0, 90.0], "barrier_type": ["down-and-in"] * 2})
    market = pd.DataFrame({"underlying": ["X"], "model": ["black_scholes"], "spot": [100.0], "rate": [0.0],
                           "dividend": [0.0], "vol": [0.2]})
    mc = MonteCarlo(paths=4096, seed=2, dtype="float64")
    out, messages = _unresolved_messages(lambda: price_book(trades, market, mc))
    assert list(out["status"]) == ["ok"] * 2
    assert len(messages) == 1 and "trade grazed" in messages[0] and "trade reached" not in messages[0]
    # a part written before the weights were kept (their columns dropped): resumed, the trade is checked by
    # its counts only (ten paid: passed), and its numbers are the same
    price_book_resumable(prepare_book(trades, market, mc), tmp_path)
    for part in tmp_path.glob("part-*.parquet"):
        pd.read_parquet(part).drop(columns=["effective_paying", "effective_off_control"]).to_parquet(part, index=False)
    resumed, messages = _unresolved_messages(lambda: price_book_resumable(prepare_book(trades, market, mc), tmp_path,
                                                                          resume=True))
    assert not messages
    pd.testing.assert_frame_equal(resumed, out)
