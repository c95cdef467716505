"""Reading a book for ``pricer.book``: the tables' structure, one model per market row, and every trade
field parsed and checked, column by column (pandas/numpy masks), one message per problem and row.

Only a structurally unusable table raises (``_normalised``, ``_greek_names``); everything else becomes
the row's message (cell parsing and the messages' wording live in ``pricer._book_cells``).
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

from ._fields import RATE_LIMIT, PercentLikeWarning
from ._warning_texts import collected
from ._book_cells import _choice_field, _column, _Errors, _is_blank, _name, _number_field, _show, _to_float, _where
from .engine import greek_names
from .models import BlackScholes, Garch, Heston
from .products import MAX_DATES
from ._stacklevel import user_stacklevel

#: sanity limits on schedules and maturities (a grid of 252 steps a year up to this many years)
MAX_EXPIRY = 100.0
MIN_EXPIRY = 1e-6
MAX_PAST_COUNT = 1_000_000

#: market fields beyond these magnitudes are refused as percentages given for decimals (a vol of 20 is 2,000%;
#: a rate of 5 is 500%). Loose enough for real extremes: vols to 500%, rates and yields to 200%
PERCENT_LIKE = {"vol": 5.0, "rate": RATE_LIMIT, "dividend": RATE_LIMIT}   # the models refuse such rates too

PRODUCTS = ("european", "barrier", "asian")
CALL_PUT = ("call", "put")
BARRIER_TYPES = ("up-and-out", "up-and-in", "down-and-out", "down-and-in")
AVERAGES = ("arithmetic", "geometric")
MODELS = {
    # name: (class, required numeric fields, optional fields with defaults)
    "black_scholes": (BlackScholes, ("spot", "rate", "vol"), {"dividend": 0.0}),
    "heston": (Heston, ("spot", "rate", "v0", "kappa", "theta", "xi", "rho"), {"dividend": 0.0}),
    "garch": (Garch, ("spot", "rate", "omega", "alpha", "beta"),
              {"dividend": 0.0, "gamma": 0.0, "h0": None, "price_of_risk": 0.0}),
}
#: greeks every model answers; other names (a model parameter, "correlation" for Heston's rho,
#: "gamma_garch" for GJR's gamma: see pricer.greeks) apply to the underlyings whose model has them
GENERIC_GREEKS = ("delta", "gamma", "vega", "rho")
_GREEK_NAMES = {"rho": "correlation", "gamma": "gamma_garch"}   # the parameter names the Greek names shadow
ALL_GREEKS = frozenset(GENERIC_GREEKS).union(
    _GREEK_NAMES.get(f.name, f.name) for cls, _, _ in MODELS.values() for f in dataclasses.fields(cls))
_BARRIER_FLAGS = {"up-and-out": (1.0, 0.0), "up-and-in": (1.0, 1.0), "down-and-out": (0.0, 0.0), "down-and-in": (0.0, 1.0)}
_CONTINUOUS = "continuous"


# --------------------------------------------------------------------------------------------------
# structure


def _normalised(frame, name: str, required: tuple[str, ...]) -> pd.DataFrame:
    """Column names stripped and lower-cased; raises ValueError when the table is unusable, and when a
    column looks like a misspelling of one the table lacks ("qty" without "quantity": every trade would
    silently take the default). Other columns the library does not read are named in a warning."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    names = [str(c).strip().lower() for c in frame.columns]
    duplicates = sorted({c for c in names if names.count(c) > 1})
    if duplicates:
        raise ValueError(f"{name} has duplicate columns: {', '.join(duplicates)}")
    known = KNOWN_COLUMNS[name]
    unused = [c for c in names if c not in known]
    meant = {c: _meant(c, known) for c in unused}
    missing = [c for c in required if c not in names]
    if missing:
        hints = [f"{c!r} may be {m!r}" for c, m in meant.items() if m in missing]
        raise ValueError(f"{name} has no {' or '.join(repr(c) for c in missing)} column "
                         f"(columns: {', '.join(names) if names else 'none'}){'; ' + ', '.join(hints) if hints else ''}")
    frame = frame.copy()
    frame.columns = names
    # refused: a column standing for a missing one that some row would silently default (quantity 1,
    # rebate 0, continuous monitoring, ...). A column that only looks like one no row reads, or like one
    # whose absence already fails its rows ("barrier_type is missing"), is named in the warning only.
    defaulted = _silently_defaulted(frame, name)
    misspelled = {c: m for c, m in meant.items() if m is not None and m not in names and m in defaulted}
    if misspelled:
        raise ValueError(f"{name} has " + ", ".join(f"a column {c!r} and no {m!r}" for c, m in misspelled.items())
                         + ": its rows would take the default; rename the column (the library reads only its own "
                           "names; see pricer.book) or drop it")
    if unused:
        hints = "".join(f", {c!r} (is it {m!r}?)" if m and m not in names else f", {c!r}" for c, m in meant.items())
        warnings.warn(f"{name}: columns not read: {hints[2:]} (known: {', '.join(sorted(known))})",
                      UnusedColumnsWarning, stacklevel=user_stacklevel())
    return frame


def _silently_defaulted(frame: pd.DataFrame, name: str) -> set[str]:
    """Columns with a default that some row of this table would read (trades by product, market by model)."""
    def kinds(column, normalise):
        if column not in frame.columns:
            return set()
        return {normalise(v) for v in frame[column].tolist() if isinstance(v, str)}
    if name == "trades":
        products = kinds("product", lambda v: v.strip().lower())
        return ({"quantity"} | ({"rebate", "monitoring"} if "barrier" in products else set())
                | ({"average", "past_average", "past_count"} if "asian" in products else set()))
    models = kinds("model", _model_alias)
    return {field for kind in models if kind in MODELS for field in MODELS[kind][2]}


class UnusedColumnsWarning(UserWarning):
    """A book or market table has columns the library does not read."""


#: every column the two tables may have
KNOWN_COLUMNS = {
    "trades": frozenset({"trade_id", "underlying", "product", "call_put", "strike", "expiry", "quantity", "barrier",
                         "barrier_type", "rebate", "monitoring", "fixings", "average", "past_average", "past_count"}),
    "market": frozenset({"underlying", "model"}).union(*({f.name for f in dataclasses.fields(cls)} for cls, _, _ in MODELS.values())),
}
#: names desks use for our columns: such a column next to a missing one of ours is refused, not ignored
_SYNONYMS = {
    "quantity": ("qty", "quantities", "position", "units", "contracts", "amount"),
    "dividend": ("div", "divs", "div_yield", "dividend_yield", "yield", "q", "dividends"),
    "rate": ("r", "interest_rate", "risk_free", "risk_free_rate", "riskfree", "zero_rate", "rates"),
    "expiry": ("maturity", "tenor", "t", "ttm", "time_to_expiry", "expiry_years", "expiration", "expiries"),
    "strike": ("k", "strike_price", "strikes"),
    "vol": ("sigma", "volatility", "vola", "iv", "implied_vol", "implied_volatility"),
    "spot": ("s", "s0", "spot_price", "underlying_price"),
    "call_put": ("cp", "callput", "put_call", "option_type", "right", "call_or_put"),
    "monitoring": ("monitor", "monitoring_dates", "monitoring_frequency", "monitored"),
    "barrier_type": ("knock_type", "barrier_kind"),
    "product": ("product_type", "instrument", "option", "kind"),
    "trade_id": ("id", "trade", "tradeid", "deal_id", "dealid", "ticket"),
    "underlying": ("ticker", "symbol", "underlier", "asset"),
    "fixings": ("n_fixings", "fixing_count", "num_fixings", "averaging_dates"),
    "average": ("averaging", "average_type"),
    "past_average": ("running_average", "average_so_far", "past_avg"),
    "past_count": ("fixings_done", "past_fixings", "fixed_count"),
    "rebate": ("rebates", "rebate_amount"),
}


def _meant(column: str, known) -> str | None:
    """The known column an unknown name most likely stands for (a desk synonym or a near spelling), or None."""
    import difflib
    for target, synonyms in _SYNONYMS.items():
        if column in synonyms and target in known:
            return target
    close = difflib.get_close_matches(column, sorted(known), n=1, cutoff=0.85)   # a letter or two ("quantty")
    return close[0] if close else None


def _greek_names(greeks) -> tuple[str, ...]:
    try:
        names = greek_names(greeks)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    for g in names:
        if g not in ALL_GREEKS:
            raise ValueError(f"unknown greek {g!r}; known: {', '.join(GENERIC_GREEKS)} or a model parameter "
                             f"({', '.join(sorted(ALL_GREEKS - set(GENERIC_GREEKS)))})")
    return names


# --------------------------------------------------------------------------------------------------
# market


def _build_models(market: pd.DataFrame):
    """underlying -> model for usable rows; underlying -> message for unusable ones."""
    models, problems, seen = {}, {}, {}
    names = market["underlying"].tolist()
    for position, value in enumerate(names):
        if _is_blank(value):
            continue
        seen.setdefault(_name(value), []).append(position)
    for underlying, positions in seen.items():
        if len(positions) > 1:
            rows = ", ".join(f"{p + 1} ({_where(market.index, p)})" if _where(market.index, p) else f"{p + 1}"
                             for p in positions)
            problems[underlying] = f"underlying {underlying!r} has {len(positions)} market rows ({rows})"
            continue
        position = positions[0]
        label = f"market row {position + 1} ({', '.join(filter(None, [_where(market.index, position), underlying]))})"
        row_errors = _Errors(1)
        row = market.iloc[[position]]
        kind = _choice_field(row_errors, row["model"].map(_model_alias), "model", np.ones(1, bool), tuple(MODELS))[0]
        if row_errors.messages[0]:
            problems[underlying] = f"{label}: {'; '.join(row_errors.messages[0])}"
            continue
        cls, required, optional = MODELS[kind]
        params = {}
        for field in required:
            params[field] = _number_field(row_errors, _column(row, field), field, np.ones(1, bool))[0]
        for field, default in optional.items():
            if field == "h0":
                h0 = _number_field(row_errors, _column(row, field), field, np.ones(1, bool), default=np.nan)[0]
                params[field] = None if np.isnan(h0) else h0
            else:
                params[field] = _number_field(row_errors, _column(row, field), field, np.ones(1, bool), default=default)[0]
        for field, limit in PERCENT_LIKE.items():
            value = params.get(field)
            if value is not None and np.isfinite(value) and abs(value) > limit:
                row_errors.messages[0].append(f"{field} {value:g} looks like a percentage ({100 * value:g}%): give "
                                              f"decimals, e.g. {value / 100:g} for {value:g}%")
        if not row_errors.messages[0]:
            try:
                with collected(PercentLikeWarning) as percent_like:   # said again naming the market row
                    models[underlying] = cls(**{k: (v if v is None else float(v)) for k, v in params.items()})
            except ValueError as exc:  # the model's own message names the field
                row_errors.messages[0].append(str(exc))
            else:
                for text in percent_like:
                    warnings.warn(f"{label}: {text}", PercentLikeWarning, stacklevel=user_stacklevel())
        if row_errors.messages[0]:
            problems[underlying] = f"{label}, {kind}: {'; '.join(row_errors.messages[0])}"
    return models, problems


def _model_alias(value):
    return value.strip().lower().replace("-", "_").replace(" ", "_") if isinstance(value, str) else value


# --------------------------------------------------------------------------------------------------
# trades


def _validate(trades: pd.DataFrame, errors: _Errors, models: dict, model_errors: dict) -> dict:
    """Parse and check every trade field; returns numpy columns (garbage where a row has errors)."""
    n = len(trades)
    every = np.ones(n, dtype=bool)
    col = lambda name: _column(trades, name)  # noqa: E731

    # trade_id: present and unique (every row of a repeated id is an error)
    ids = trades["trade_id"].tolist()
    blank_id = np.array([_is_blank(t) for t in ids], dtype=bool)
    errors.add(blank_id, "trade_id is missing")
    keys = pd.Series([None if b else _show(t, limit=10_000) for t, b in zip(ids, blank_id)], dtype=object)
    repeated = keys.notna().to_numpy() & keys.duplicated(keep=False).to_numpy()
    if repeated.any():
        first = {}
        for i in np.flatnonzero(repeated):
            first.setdefault(keys[i], []).append(i + 1)
        errors.add(repeated, lambda i: f"trade_id {keys[i]!r} is repeated (rows {', '.join(map(str, first[keys[i]]))})")

    # underlying: known and with a usable market row
    raw_underlying = col("underlying").tolist()
    underlying = np.array([None if _is_blank(u) else _name(u) for u in raw_underlying], dtype=object)
    for i, name in enumerate(underlying):
        if name is None:
            errors.messages[i].append("underlying is missing")
        elif name in model_errors:
            errors.messages[i].append(model_errors[name])
        elif name not in models:
            errors.messages[i].append(f"underlying {name!r} is not in market")

    product = _choice_field(errors, col("product"), "product", every, PRODUCTS)
    is_barrier = product == "barrier"
    is_asian = product == "asian"
    call_put = _choice_field(errors, col("call_put"), "call_put", every, CALL_PUT)
    strike = _number_field(errors, col("strike"), "strike", every, check=lambda x: x > 0, requirement="> 0")
    expiry = _number_field(errors, col("expiry"), "expiry", every, check=lambda x: x > 0, requirement="> 0 (years)",
                           minimum=MIN_EXPIRY, maximum=MAX_EXPIRY)
    quantity = _number_field(errors, col("quantity"), "quantity", every, default=1.0)   # API.md: blank is 1

    barrier = _number_field(errors, col("barrier"), "barrier", is_barrier, check=lambda x: x > 0, requirement="> 0")
    barrier_type = _choice_field(errors, col("barrier_type"), "barrier_type", is_barrier, BARRIER_TYPES)
    rebate = _number_field(errors, col("rebate"), "rebate", is_barrier, default=0.0, check=lambda x: x >= 0, requirement=">= 0")
    monitoring = _monitoring(errors, col("monitoring"), is_barrier)

    fixings = _number_field(errors, col("fixings"), "fixings", is_asian, check=lambda x: x >= 1,
                            requirement="a number of fixings >= 1", integer=True, maximum=MAX_DATES)
    average = _choice_field(errors, col("average"), "average", is_asian, AVERAGES, default="arithmetic")
    past_average = _number_field(errors, col("past_average"), "past_average", is_asian, default=0.0,
                                 check=lambda x: x >= 0, requirement=">= 0")
    past_count = _number_field(errors, col("past_count"), "past_count", is_asian, default=0.0,
                               check=lambda x: x >= 0, requirement=">= 0", integer=True, maximum=MAX_PAST_COUNT)
    with np.errstate(invalid="ignore"):
        seasoned_without_average = is_asian & (past_count > 0) & (past_average == 0)
    errors.add(seasoned_without_average, "past_average must be > 0 when past_count > 0, got 0.0")
    errors.add(is_asian & (past_average > 0) & (past_count == 0),
               "past_average is given but past_count is 0 or blank: how many fixings has it averaged?")

    up = np.array([_BARRIER_FLAGS.get(t, (0.0, 0.0))[0] for t in barrier_type], dtype=np.float64)
    knock_in = np.array([_BARRIER_FLAGS.get(t, (0.0, 0.0))[1] for t in barrier_type], dtype=np.float64)
    return {
        "underlying": underlying, "product": product, "call": (call_put == "call").astype(np.float64),
        "strike": strike, "expiry": expiry, "quantity": quantity, "barrier": barrier, "up": up,
        "knock_in": knock_in, "rebate": rebate, "monitoring": monitoring, "fixings": fixings,
        "geometric": (average == "geometric").astype(np.float64), "past_average": past_average,
        "past_count": past_count,
    }


def _monitoring(errors: _Errors, series: pd.Series, applies: np.ndarray) -> np.ndarray:
    """"continuous" (also when blank) or a whole number of equally spaced monitoring dates."""
    raw = series.tolist()
    out = np.empty(len(raw), dtype=object)
    for i, value in enumerate(raw):
        if not applies[i]:
            continue
        if _is_blank(value) or (isinstance(value, str) and value.strip().lower() == _CONTINUOUS):
            out[i] = _CONTINUOUS
            continue
        number, state = _to_float(value)
        if state != 0 or not (1 <= number <= MAX_DATES) or number != round(number):
            errors.messages[i].append(f"monitoring must be 'continuous' or a whole number of dates in "
                                      f"[1, {MAX_DATES}], got {_show(value)!r}")
        else:
            out[i] = int(number)
    return out
