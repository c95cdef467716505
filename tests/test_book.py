"""price_book: a book of trades in a DataFrame, priced per group, one result row per trade.

Every pricing call has a fixed batch size (pricer.book.ROWS_PER_CALL), so these tests compile a
handful of programs once (module fixtures) and reuse them.
"""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricer import (AsianOption, BarrierOption, BlackScholes, EuropeanOption, Heston, MonteCarlo, price,
                    price_book)

# float64 (conftest enables it): a batch of one and a batch of sixteen round differently in float32, and
# the control variate's cancellation can lift that to ~3e-6 relative, beyond the "same as alone" check
MC = MonteCarlo(paths=4096, steps_per_year=24, seed=11, dtype="float64")

MARKET = pd.DataFrame([
    dict(underlying="STOCK", model="black_scholes", spot=100.0, rate=0.03, dividend=0.01, vol=0.25),
    dict(underlying="INDEX", model="heston", spot=50.0, rate=0.03, dividend=0.0,
         v0=0.04, kappa=1.5, theta=0.05, xi=0.5, rho=-0.6),
])
MODELS = {"STOCK": BlackScholes(spot=100.0, vol=0.25, rate=0.03, dividend=0.01),
          "INDEX": Heston(spot=50.0, v0=0.04, kappa=1.5, theta=0.05, xi=0.5, rho=-0.6, rate=0.03)}

# each trade with the product it stands for, written out independently of the book's parsing
TRADES = [
    (dict(trade_id="T01", underlying="STOCK", product="european", call_put="call", strike=100.0, expiry=1.0, quantity=10),
     EuropeanOption(strike=100.0, expiry=1.0, call=True)),
    (dict(trade_id="T02", underlying="STOCK", product="european", call_put="put", strike=95.0, expiry=1.0, quantity=-5),
     EuropeanOption(strike=95.0, expiry=1.0, call=False)),
    (dict(trade_id="T03", underlying="STOCK", product="barrier", call_put="call", strike=100.0, expiry=1.0,
          barrier=130.0, barrier_type="up-and-out", rebate=2.0),
     BarrierOption(strike=100.0, barrier=130.0, expiry=1.0, call=True, up=True, knock_in=False, rebate=2.0)),
    (dict(trade_id="T04", underlying="STOCK", product="barrier", call_put="put", strike=100.0, expiry=1.0,
          barrier=80.0, barrier_type="Down-and-In ", monitoring="continuous", quantity=3),
     BarrierOption(strike=100.0, barrier=80.0, expiry=1.0, call=False, up=False, knock_in=True)),
    (dict(trade_id="T05", underlying="STOCK", product="barrier", call_put="call", strike=105.0, expiry=1.0,
          barrier=125.0, barrier_type="up-and-in", monitoring="12"),
     BarrierOption(strike=105.0, barrier=125.0, expiry=1.0, call=True, up=True, knock_in=True, monitoring=12)),
    (dict(trade_id="T06", underlying="STOCK", product="asian", call_put="call", strike=100.0, expiry=1.0, fixings=12),
     AsianOption(strike=100.0, expiry=1.0, fixings=12, call=True)),
    (dict(trade_id="T07", underlying="STOCK", product="asian", call_put="put", strike=100.0, expiry=1.0, fixings=12,
          average="geometric", past_average=98.0, past_count=3, quantity=2.5),
     AsianOption(strike=100.0, expiry=1.0, fixings=12, call=False, geometric=True, past_average=98.0, past_count=3)),
    (dict(trade_id="T08", underlying="INDEX", product="european", call_put="call", strike=50.0, expiry=1.0),
     EuropeanOption(strike=50.0, expiry=1.0, call=True)),
    (dict(trade_id="T09", underlying="INDEX", product="european", call_put="put", strike=45.0, expiry=0.5, quantity=-1),
     EuropeanOption(strike=45.0, expiry=0.5, call=False)),
    (dict(trade_id="T10", underlying="INDEX", product="barrier", call_put="call", strike=50.0, expiry=1.0,
          barrier=65.0, barrier_type="up-and-out"),
     BarrierOption(strike=50.0, barrier=65.0, expiry=1.0, call=True, up=True, knock_in=False)),
    (dict(trade_id="T11", underlying="INDEX", product="barrier", call_put="put", strike=50.0, expiry=1.0,
          barrier=40.0, barrier_type="down-and-out", rebate=1.0),
     BarrierOption(strike=50.0, barrier=40.0, expiry=1.0, call=False, up=False, knock_in=False, rebate=1.0)),
    (dict(trade_id="T12", underlying="INDEX", product="asian", call_put="call", strike=52.0, expiry=1.0, fixings=12,
          average="arithmetic"),
     AsianOption(strike=52.0, expiry=1.0, fixings=12, call=True)),
]
BOOK = pd.DataFrame([row for row, _ in TRADES])
COLUMNS = ["trade_id", "price", "stderr", "value", "status", "error"]


@pytest.fixture(scope="module")
def clean():
    return price_book(BOOK, MARKET, MC)


def _by_id(result):
    return result.set_index("trade_id")


def test_clean_book_prices_every_trade_like_price_alone(clean):
    assert list(clean.columns) == COLUMNS
    assert list(clean["trade_id"]) == list(BOOK["trade_id"])
    assert (clean["status"] == "ok").all() and (clean["error"] == "").all()
    for (row, product), (_, out) in zip(TRADES, clean.iterrows()):
        alone = price(product, MODELS[row["underlying"]], MC)
        assert out["price"] == pytest.approx(float(alone.price), rel=1e-9), row["trade_id"]
        assert out["stderr"] == pytest.approx(float(alone.stderr), rel=1e-9), row["trade_id"]
        assert out["value"] == out["price"] * row.get("quantity", 1.0)
    assert (clean["price"] > 0).all()


def test_output_dtypes(clean):
    for name in ("price", "stderr", "value"):
        assert clean[name].dtype == np.float64
    for name in ("status", "error"):
        assert pd.api.types.is_string_dtype(clean[name])


def test_same_numbers_whatever_the_order_and_the_rest_of_the_book(clean):
    expected = _by_id(clean)
    rng = np.random.default_rng(0)
    for _ in range(2):
        shuffled = BOOK.iloc[rng.permutation(len(BOOK))]
        result = price_book(shuffled, MARKET, MC)
        assert list(result["trade_id"]) == list(shuffled["trade_id"])
        assert list(result.index) == list(shuffled.index)
        pd.testing.assert_frame_equal(_by_id(result).loc[expected.index], expected)
    for subset in (BOOK.iloc[::2], BOOK.iloc[[4]], BOOK.iloc[[10, 0, 7]]):
        result = _by_id(price_book(subset, MARKET, MC))
        pd.testing.assert_frame_equal(result, expected.loc[result.index])


BAD_ROWS = [  # (row, the field its error names)
    (dict(trade_id="B1", underlying="STOCK", product="european", call_put="call", strike=-5.0, expiry=1.0),
     "strike must be > 0, got -5.0"),
    (dict(trade_id="B2", underlying="STOCK", product="binary", call_put="call", strike=100.0, expiry=1.0), "product"),
    (dict(trade_id="B3", underlying="NOPE", product="european", call_put="call", strike=100.0, expiry=1.0),
     "underlying 'NOPE' is not in market"),
    (dict(trade_id="B4", underlying="STOCK", product="european", call_put="put", strike=100.0, expiry=None),
     "expiry is missing"),
    (dict(trade_id="B5", underlying="INDEX", product="barrier", call_put="call", strike=50.0, expiry=1.0,
          barrier=60.0, barrier_type="up-and-outt"), "barrier_type"),
    (dict(trade_id="B6", underlying="BADVOL", product="european", call_put="call", strike=100.0, expiry=1.0), "vol"),
    (dict(trade_id="B7", underlying="STOCK", product="asian", call_put="call", strike=100.0, expiry=1.0, fixings=2.5),
     "fixings must be a whole number"),
    (dict(trade_id="B8", underlying="STOCK", product="european", call_put="call", strike="abc", expiry=0.0),
     "strike must be a number, got 'abc'; expiry must be > 0"),
    (dict(trade_id="B9", underlying="STOCK", product="barrier", call_put="call", strike=100.0, expiry=1.0,
          barrier=120.0, barrier_type="up-and-in", monitoring="weekly"), "monitoring"),
]
BAD_MARKET = pd.concat([MARKET, pd.DataFrame([dict(underlying="BADVOL", model="black_scholes", spot=100.0,
                                                   rate=0.0, vol=-0.2)])], ignore_index=True)


def test_bad_rows_are_reported_and_leave_the_good_rows_alone(clean):
    rows = list(BOOK.to_dict("records"))
    for k, (bad, _) in enumerate(BAD_ROWS):   # interleave: bad rows land at positions 2, 4, 6, ...
        rows.insert(2 * k + 1, bad)
    book = pd.DataFrame(rows)
    result = price_book(book, BAD_MARKET, MC)
    assert list(result["trade_id"]) == list(book["trade_id"])
    for bad, field in BAD_ROWS:
        position = int(np.flatnonzero(book["trade_id"] == bad["trade_id"])[0])
        out = result.iloc[position]
        assert out["status"] == "error"
        assert out["error"].startswith(f"row {position + 1} (trade_id {bad['trade_id']}): "), out["error"]
        assert field in out["error"], out["error"]
        assert np.isnan(out["price"]) and np.isnan(out["stderr"]) and np.isnan(out["value"])
    badvol = result.loc[result["trade_id"] == "B6", "error"].iloc[0]
    assert "market row 3 (BADVOL), black_scholes: vol must be > 0, got -0.2" in badvol
    good = _by_id(result[result["status"] == "ok"])
    pd.testing.assert_frame_equal(good, _by_id(clean).loc[good.index])
    assert len(good) == len(BOOK)
    # a slice of a larger book keeps the user's index labels in its messages
    sliced = book.set_axis(np.arange(100, 100 + len(book)))
    position = int(np.flatnonzero(book["trade_id"] == BAD_ROWS[0][0]["trade_id"])[0])
    error = price_book(sliced.iloc[[position]], BAD_MARKET, MC)["error"].iloc[0]
    assert error.startswith(f"row 1 (index {100 + position}, trade_id {BAD_ROWS[0][0]['trade_id']}): "), error


def test_repeated_trade_ids_are_all_errors(clean):
    book = pd.concat([BOOK, BOOK.iloc[[2]]], ignore_index=True)
    result = price_book(book, MARKET, MC)
    assert list(result.loc[result["trade_id"] == "T03", "status"]) == ["error", "error"]
    assert "trade_id 'T03' is repeated (rows 3, 13)" in result.iloc[2]["error"]
    others = _by_id(result[result["trade_id"] != "T03"])
    pd.testing.assert_frame_equal(others, _by_id(clean).loc[others.index])


def test_duplicate_and_invalid_market_rows():
    market = pd.concat([MARKET, MARKET.iloc[[0]]], ignore_index=True)
    result = price_book(BOOK, market, MC)
    stock = BOOK["underlying"] == "STOCK"
    assert (result.loc[stock, "status"] == "error").all()
    assert "underlying 'STOCK' has 2 market rows (1, 3)" in result.loc[stock, "error"].iloc[0]
    assert (result.loc[~stock, "status"] == "ok").all()

    heston = MARKET.copy()
    heston.loc[1, "rho"] = -1.5
    result = price_book(BOOK.iloc[[7]], heston, MC)
    assert "rho must be in [-1, 1], got -1.5" in result["error"].iloc[0]
    garch = pd.DataFrame([dict(underlying="STOCK", model="garch", spot=100.0, rate=0.0, omega=1e-6, alpha=0.2, beta=0.85)])
    result = price_book(BOOK.iloc[[0]], garch, MC)
    assert "alpha + beta" in result["error"].iloc[0]
    unknown = pd.DataFrame([dict(underlying="STOCK", model="sabr", spot=100.0, rate=0.0)])
    assert "model must be one of" in price_book(BOOK.iloc[[0]], unknown, MC)["error"].iloc[0]


def test_optional_columns_take_their_defaults(clean):
    minimal = BOOK.loc[[0, 5], ["trade_id", "underlying", "product", "call_put", "strike", "expiry", "fixings"]]
    result = _by_id(price_book(minimal, MARKET, MC))
    expected = _by_id(clean).loc[result.index]
    np.testing.assert_array_equal(result["price"], expected["price"])
    np.testing.assert_array_equal(result["value"], result["price"])   # quantity 1


def test_structural_errors_raise():
    with pytest.raises(ValueError, match="trades must be a pandas DataFrame"):
        price_book(BOOK.to_dict("records"), MARKET, MC)
    with pytest.raises(ValueError, match="market must be a pandas DataFrame"):
        price_book(BOOK, None, MC)
    with pytest.raises(ValueError, match="trade_id"):
        price_book(BOOK.drop(columns="trade_id"), MARKET, MC)
    with pytest.raises(ValueError, match="underlying"):
        price_book(BOOK, MARKET.drop(columns="underlying"), MC)
    with pytest.raises(ValueError, match="model"):
        price_book(BOOK, MARKET.drop(columns="model"), MC)
    with pytest.raises(ValueError, match="unknown greek"):
        price_book(BOOK, MARKET, MC, greeks=("charm",))


def test_a_misspelled_column_is_refused_and_an_unknown_one_named():
    # "qty" was ignored: every trade took quantity 1 (a short of -1 became a long); "div_yield" in the
    # market gave dividend 0; "monitor=12" priced a continuous barrier
    for table, renamed in [("trades", {"quantity": "qty"}), ("trades", {"monitoring": "monitor"}),
                           ("market", {"dividend": "div_yield"}), ("trades", {"past_count": "past_fixings"})]:
        trades = BOOK.rename(columns=renamed) if table == "trades" else BOOK
        market = MARKET.rename(columns=renamed) if table == "market" else MARKET
        (old, new), = renamed.items()
        with pytest.raises(ValueError, match=f"{table} has a column '{new}' and no '{old}'"):
            price_book(trades, market, MC)
    with pytest.warns(UserWarning, match="trades: columns not read: 'trader'"):
        price_book(BOOK.iloc[[0]].assign(trader="ann"), MARKET, MC)
    # a look-alike of a column no row of this book reads, or of one whose absence already fails its rows,
    # is only named: a European-only book may carry "type", "averaging" or "rebates"
    europeans = BOOK[BOOK["product"] == "european"].drop(columns=["barrier", "barrier_type", "monitoring", "rebate",
                                                                    "fixings", "average", "past_average", "past_count"],
                                                           errors="ignore")
    with pytest.warns(UserWarning, match=r"'averaging' \(is it 'average'\?\)"):
        result = price_book(europeans.assign(type="vanilla", averaging="none", rebates=0), MARKET, MC)
    assert (result["status"] == "ok").all()
    with pytest.raises(ValueError, match="'ticker' may be 'underlying'"):
        price_book(BOOK, MARKET.rename(columns={"underlying": "ticker"}), MC)


def test_percentages_and_inconsistent_averages_are_row_errors(clean):
    market = MARKET.copy()
    market.loc[0, "vol"] = 25.0          # meant 25%
    market.loc[1, "rate"] = 3.0          # meant 3%
    result = _by_id(price_book(BOOK, market, MC))
    stock, index = BOOK.set_index("trade_id")["underlying"] == "STOCK", BOOK.set_index("trade_id")["underlying"] == "INDEX"
    assert result.loc[stock[stock].index, "error"].str.contains("vol 25 looks like a percentage").all()
    assert result.loc[index[index].index, "error"].str.contains("rate 3 looks like a percentage").all()
    seasoned = BOOK[BOOK["product"] == "asian"].iloc[[0]].assign(past_average=98.0, past_count=np.nan)
    error = price_book(seasoned, MARKET, MC)["error"].iloc[0]
    assert "past_average is given but past_count is 0 or blank" in error


def test_a_failing_group_is_reported_and_the_others_are_priced(clean, monkeypatch):
    import pricer.book

    def flaky(product, model, mc=None, greeks=()):
        if isinstance(product, AsianOption):
            raise FloatingPointError("simulated engine failure")
        return price(product, model, mc, greeks)

    monkeypatch.setattr(pricer.book, "evaluate", flaky)
    result = price_book(BOOK, MARKET, MC)
    asian = (BOOK["product"] == "asian").to_numpy()
    assert (result["status"][asian] == "error").all()
    assert result["error"][asian].str.contains("pricing failed (FloatingPointError): simulated engine failure", regex=False).all()
    np.testing.assert_array_equal(result["price"][~asian], clean["price"][~asian])


def test_empty_book():
    result = price_book(BOOK.iloc[:0], MARKET, MC)
    assert list(result.columns) == COLUMNS and len(result) == 0


def test_greeks_columns_match_price_alone():
    pytest.importorskip("pricer.greeks")
    rows = [0, 6, 9]  # a BS European, a seasoned geometric Asian, a Heston barrier
    result = price_book(BOOK.iloc[rows], MARKET, MC, greeks=("delta", "kappa"))
    assert list(result.columns) == ["trade_id", "price", "stderr", "value", "delta", "delta_stderr",
                                    "kappa", "kappa_stderr", "status", "error"]
    for k, i in enumerate(rows):
        row, product = TRADES[i]
        alone = price(product, MODELS[row["underlying"]], MC,
                      greeks=("delta", "kappa") if row["underlying"] == "INDEX" else ("delta",))
        assert result["delta"].iloc[k] == pytest.approx(float(alone.greeks["delta"]), rel=1e-5, abs=1e-8)
        assert result["delta_stderr"].iloc[k] == pytest.approx(float(alone.greeks_stderr["delta"]), rel=1e-4, abs=1e-8)
        if row["underlying"] == "INDEX":
            assert result["kappa"].iloc[k] == pytest.approx(float(alone.greeks["kappa"]), rel=1e-5, abs=1e-8)
        else:   # Black-Scholes has no kappa: NaN, and the trade is still priced
            assert np.isnan(result["kappa"].iloc[k]) and result["status"].iloc[k] == "ok"


GARBAGE = st.one_of(
    st.sampled_from([None, "", "  ", "abc", -1, 0, -0.5, float("nan"), float("inf"), -float("inf"), 1e300,
                     "1e400", True, False, [1, 2], {"a": 1}, "call", "put", "european", "barrier", "asian",
                     "continuous", "up-and-in", "geometric", "STOCK", "INDEX", "NOPE", 1.0, 2, 10**30, "12",
                     pd.NA, np.int64(3), np.float32(-2.0), b"bytes", object()]),
    st.text(max_size=6),
)
COLUMNS_TO_SPOIL = ["trade_id", "underlying", "product", "call_put", "strike", "expiry", "barrier", "barrier_type",
                    "rebate", "monitoring", "fixings", "average", "past_average", "past_count", "quantity"]


@st.composite
def spoiled_rows(draw):
    rows = []
    for k in range(draw(st.integers(1, 3))):
        row = dict(TRADES[draw(st.integers(0, len(TRADES) - 1))][0], trade_id=f"G{k}")
        for column in draw(st.lists(st.sampled_from(COLUMNS_TO_SPOIL), min_size=1, max_size=3, unique=True)):
            row[column] = draw(GARBAGE)
        rows.append(row)
    return rows


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(spoiled=spoiled_rows(), at_front=st.booleans())
def test_garbage_rows_never_raise_and_never_change_the_good_rows(clean, spoiled, at_front):
    garbage = pd.DataFrame(spoiled, columns=COLUMNS_TO_SPOIL).astype(object)
    parts = [garbage, BOOK.astype(object)] if at_front else [BOOK.astype(object), garbage]
    book = pd.concat(parts, ignore_index=True)
    result = price_book(book, MARKET, MC)
    assert len(result) == len(book)
    assert set(result["status"]) <= {"ok", "error"}
    errors = result[result["status"] == "error"]
    assert all(text.startswith("row ") for text in errors["error"])
    assert result.loc[result["status"] == "ok", "error"].eq("").all()
    good = result.iloc[len(garbage):] if at_front else result.iloc[:len(BOOK)]
    assert list(good["trade_id"]) == list(BOOK["trade_id"])
    for name in ("price", "stderr", "value", "status", "error"):
        np.testing.assert_array_equal(good[name].to_numpy(), clean[name].to_numpy())


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(len(BOOK))), keep=st.integers(1, len(BOOK)), task_rows=st.sampled_from([1, 2, 5, 256]),
       reverse=st.booleans())
def test_any_subset_in_any_order_cut_into_any_tasks_gives_the_same_numbers(clean, order, keep, task_rows, reverse):
    """The property behind resumable and distributed runs: a trade's numbers do not depend on the other
    trades, on their order, on how the groups are cut into tasks, nor on the order the tasks finish."""
    from pricer.book import prepare_book, price_book_groups
    subset = BOOK.iloc[list(order[:keep])]
    book = prepare_book(subset, MARKET, MC, task_rows=task_rows)
    results = list(price_book_groups(book))
    result = book.assemble(results[::-1] if reverse else results)
    assert list(result["trade_id"]) == list(subset["trade_id"])
    numbers = ["price", "stderr", "value", "status"]
    pd.testing.assert_frame_equal(_by_id(result)[numbers], _by_id(clean).loc[list(subset["trade_id"]), numbers])


def test_a_non_finite_value_or_greek_is_the_row_error(clean):
    # price and stderr were checked; an overflowing value (quantity) or a NaN greek passed as "ok"
    book = BOOK.copy()
    book["quantity"] = book["quantity"].astype(float)
    book.loc[0, "quantity"] = 1e308
    result = price_book(book, MARKET, MC)
    assert result["status"][0] == "error" and "value is not finite" in result["error"][0]
    np.testing.assert_array_equal(result["price"][1:], clean["price"][1:])


def test_decimal_numbers_are_numbers(clean):
    from decimal import Decimal
    book = BOOK.copy()
    book["strike"] = [Decimal(str(v)) for v in book["strike"]]
    result = price_book(book, MARKET, MC)
    np.testing.assert_array_equal(result["price"], clean["price"])


def test_numeric_tickers_still_match_when_a_blank_cell_turns_their_column_to_floats():
    """Ticker 7203 in a column with one blank cell is 7203.0 to pandas: it matched nothing ("underlying
    '7203.0' is not in market"), so one bad row stopped every good one; a blank market row did the same."""
    mc = MonteCarlo(paths=2048, seed=1)
    market = pd.DataFrame({"underlying": [7203], "model": ["black_scholes"], "spot": [100.0], "rate": [0.0],
                           "vol": [0.2]})
    good = pd.DataFrame({"trade_id": ["A"], "underlying": [7203], "product": ["european"], "call_put": ["call"],
                         "strike": [100.0], "expiry": [1.0]})
    alone = price_book(good, market, mc)
    with_blank = price_book(pd.concat([good, good.assign(trade_id="B", underlying=np.nan)], ignore_index=True),
                            market, mc)
    assert list(with_blank["status"]) == ["ok", "error"] and "underlying is missing" in with_blank["error"][1]
    assert with_blank["price"][0] == alone["price"][0]
    blank_market_row = pd.concat([market, pd.DataFrame({"underlying": [np.nan], "model": [None]})], ignore_index=True)
    assert price_book(good, blank_market_row, mc)["price"][0] == alone["price"][0]
