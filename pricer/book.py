"""Price a book of trades (a pandas DataFrame) against a market table: ``price_book``.

The flow: (1) normalise the two tables and check their structure (the only errors that raise);
(2) build one model per market row with the library's own classes, keeping their messages;
(3) validate every trade row, column by column (pandas/numpy masks), collecting one message per problem;
(4) group the valid trades by everything that shapes the simulation's time grid and compiled program,
(underlying, product kind, monitoring/fixings schedule, expiry), and price each group in batches
of ``ROWS_PER_CALL`` rows with one ``pricer.price`` call per batch, the underlying's model scalar so
the batch shares its paths; (5) assemble one output row per trade, in input order.

Why a trade's result does not depend on the rest of the book, bit for bit:

* the engine's grid is the union of the batch's event dates; grouping by expiry and schedule makes a
  group's grid a function of the trade alone, and random numbers are a pure function of
  (seed, path, step), so the trade sees the same numbers whatever else is in the book;
* XLA may round differently for different batch *sizes* (a batch of 1 and a batch of 2 can differ in
  the last float32 bit, which the control variate's cancellation can lift to ~1e-6), so every call has exactly ``ROWS_PER_CALL`` rows (the last batch of a
  group is padded with copies of its first row, whose results are dropped); within a fixed size a
  row's result does not depend on its position or its neighbours. The fixed size also means one
  compiled program serves every group with the same grid length and structure.

Rows are numbered from 1 in the order of ``trades`` (``row 1`` is the first trade), and market rows
likewise. Duplicate ``trade_id`` values make *every* row that shares the id an error (the output is
keyed by trade_id, and which of two bookings is the real one is not ours to guess; erroring all of
them also keeps the rule independent of row order).
"""
from __future__ import annotations

import dataclasses
import math
import numbers

import jax
import numpy as np
import pandas as pd

from .engine import MonteCarlo, price
from .models import BlackScholes, Garch, Heston
from .products import AsianOption, BarrierOption, EuropeanOption

__all__ = ["price_book", "ROWS_PER_CALL"]

#: rows in every ``price()`` call (groups are split / padded to it); see the module docstring
ROWS_PER_CALL = 16
#: sanity limits on schedules and maturities (a grid of 252 steps a year up to this many years)
MAX_EXPIRY = 100.0
MIN_EXPIRY = 1e-6
MAX_DATES = 10_000
MAX_PAST_COUNT = 1_000_000

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


def price_book(trades: pd.DataFrame, market: pd.DataFrame, mc: MonteCarlo | None = None, greeks=()) -> pd.DataFrame:
    """Price every trade of ``trades`` under the models of ``market``; one output row per trade, in order.

    Returns a DataFrame indexed like ``trades`` with columns ``trade_id, price, stderr, value``
    (price and stderr per unit, value = quantity x price), for each requested greek ``<greek>`` and
    ``<greek>_stderr`` (per unit), then ``status`` ("ok" | "error") and ``error`` (the row number,
    trade_id, field and value of every problem found; "" when ok). A bad row never stops the others,
    and a trade's numbers do not depend on which other trades are in the book or on their order.

    Raises ``ValueError`` only when the input cannot be read as a book at all: ``trades`` or
    ``market`` not a DataFrame, no ``trade_id`` column, no ``underlying``/``model`` column in the
    market, duplicate column names, an unknown greek or ``mc`` not a ``MonteCarlo``.
    """
    mc = MonteCarlo() if mc is None else mc
    if not isinstance(mc, MonteCarlo):
        raise ValueError(f"mc must be a pricer.MonteCarlo, got {type(mc).__name__}")
    if mc.dtype == "float64" and not jax.config.jax_enable_x64:   # a setting, not a trade, is wrong
        raise ValueError("dtype='float64' needs jax.config.update('jax_enable_x64', True) before pricing")
    greeks = _greek_names(greeks)
    trades = _normalised(trades, "trades", required=("trade_id",))
    market = _normalised(market, "market", required=("underlying", "model"))

    n = len(trades)
    errors = _Errors(n)
    models, model_errors = _build_models(market)
    fields = _validate(trades, errors, models, model_errors)

    price_ = np.full(n, np.nan)
    stderr = np.full(n, np.nan)
    greek_values = {g: np.full(n, np.nan) for g in greeks}
    greek_stderrs = {g: np.full(n, np.nan) for g in greeks}

    if greeks:
        from .greeks import available_greeks
    valid = errors.ok()
    for key, rows in _groups(fields, valid):
        model = models[key[0]]
        # a greek the underlying's model does not have (kappa of a Black-Scholes stock) stays NaN
        asked = tuple(g for g in greeks if g in available_greeks(model)) if greeks else ()
        for start in range(0, rows.size, ROWS_PER_CALL):
            batch = rows[start:start + ROWS_PER_CALL]
            padded = np.concatenate([batch, np.full(ROWS_PER_CALL - batch.size, batch[0])])
            try:
                product = _product(key, fields, padded)
                with np.errstate(over="ignore", invalid="ignore"):   # absurd magnitudes are reported below
                    result = price(product, model, mc, greeks=asked)
                rows_of = lambda a: np.asarray(a, np.float64).reshape(-1)[:batch.size]  # noqa: E731
                outputs = [(price_, rows_of(result.price)), (stderr, rows_of(result.stderr))]
                for g in asked:
                    outputs += [(greek_values[g], rows_of(result.greeks[g])),
                                (greek_stderrs[g], rows_of(result.greeks_stderr[g]))]
            except Exception as exc:  # noqa: BLE001 - a book job reports a failed group, it does not stop
                errors.add_all(batch, f"pricing failed ({type(exc).__name__}): {exc}")
                continue
            for target, values in outputs:
                target[batch] = values

    # a priced row whose numbers overflowed (e.g. a strike beyond float32) is reported, not passed on
    priced = errors.ok()
    bad_number = priced & ~(np.isfinite(price_) & np.isfinite(stderr))
    errors.add(bad_number, lambda i: f"the result is not finite (price {float(price_[i])!r}, stderr {float(stderr[i])!r}): "
                                     f"check the magnitudes of the trade's and the market's numbers for {mc.dtype}")

    ok = errors.ok()
    for array in [price_, stderr, *greek_values.values(), *greek_stderrs.values()]:
        array[~ok] = np.nan
    quantity = fields["quantity"]
    columns = {"trade_id": trades["trade_id"].array, "price": price_, "stderr": stderr,
               "value": np.where(ok, quantity * price_, np.nan)}
    for g in greeks:
        columns[g] = greek_values[g]
        columns[f"{g}_stderr"] = greek_stderrs[g]
    columns["status"] = ["ok" if good else "error" for good in ok]
    columns["error"] = errors.texts(_row_labels(trades))
    out = pd.DataFrame(columns, index=trades.index)
    return out.astype({"status": str, "error": str}) if n == 0 else out


# --------------------------------------------------------------------------------------------------
# structure


def _normalised(frame, name: str, required: tuple[str, ...]) -> pd.DataFrame:
    """Column names stripped and lower-cased; raises ValueError when the table is unusable."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    names = [str(c).strip().lower() for c in frame.columns]
    duplicates = sorted({c for c in names if names.count(c) > 1})
    if duplicates:
        raise ValueError(f"{name} has duplicate columns: {', '.join(duplicates)}")
    missing = [c for c in required if c not in names]
    if missing:
        raise ValueError(f"{name} has no {' or '.join(repr(c) for c in missing)} column "
                         f"(columns: {', '.join(names) if names else 'none'})")
    frame = frame.copy()
    frame.columns = names
    return frame


def _greek_names(greeks) -> tuple[str, ...]:
    if isinstance(greeks, str):
        greeks = (greeks,)
    try:
        names = tuple(greeks)
    except TypeError:
        raise ValueError(f"greeks must be a name or a sequence of names, got {greeks!r}") from None
    for g in names:
        if not isinstance(g, str) or g not in ALL_GREEKS:
            raise ValueError(f"unknown greek {g!r}; known: {', '.join(GENERIC_GREEKS)} or a model parameter "
                             f"({', '.join(sorted(ALL_GREEKS - set(GENERIC_GREEKS)))})")
    if len(set(names)) != len(names):
        raise ValueError(f"greeks has repeated names: {names}")
    return names


class _Errors:
    """Problems found per row; a row is ok when it has none."""

    def __init__(self, n: int):
        self.messages: list[list[str]] = [[] for _ in range(n)]

    def add(self, mask, message) -> None:
        for i in np.flatnonzero(mask):
            self.messages[i].append(message(i) if callable(message) else message)

    def add_all(self, rows, message: str) -> None:
        for i in rows:
            self.messages[i].append(message)

    def ok(self) -> np.ndarray:
        return np.array([not m for m in self.messages], dtype=bool)

    def texts(self, labels: list[str]) -> list[str]:
        return [f"{label}: {'; '.join(m)}" if m else "" for label, m in zip(labels, self.messages)]


def _row_labels(trades: pd.DataFrame) -> list[str]:
    labels = []
    for i, tid in enumerate(trades["trade_id"].tolist()):
        labels.append(f"row {i + 1} (trade_id {_show(tid)})" if not _is_blank(tid) else f"row {i + 1} (no trade_id)")
    return labels


# --------------------------------------------------------------------------------------------------
# cell parsing: every cell may hold anything (numbers, text, None, NaN, garbage objects)


def _is_blank(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _show(value, limit: int = 40) -> str:
    """A cell as text for a message: one line, at most ``limit`` characters, never raising."""
    try:
        text = value.strip() if isinstance(value, str) else (
            repr(float(value)) if isinstance(value, (float, np.floating)) else str(value))
    except Exception:  # noqa: BLE001 - a garbage object whose str() fails
        text = f"<{type(value).__name__}>"
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _to_float(value) -> tuple[float, int]:
    """(value, state): state 0 a number, 1 blank, 2 not a number."""
    if _is_blank(value):
        return math.nan, 1
    if isinstance(value, (bool, np.bool_)):
        return math.nan, 2
    try:
        if isinstance(value, str):
            number = float(value.strip())
        elif isinstance(value, numbers.Real):
            number = float(value)
        else:
            return math.nan, 2
    except (TypeError, ValueError, OverflowError):
        return math.nan, 2
    return (math.nan, 1) if math.isnan(number) else (number, 0)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float values, blank mask, not-a-number mask."""
    dtype = series.dtype
    if dtype.kind in "iuf" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        values = series.to_numpy(np.float64)
        blank = np.isnan(values)
        return values, blank, np.zeros(len(values), bool)
    parsed = [_to_float(v) for v in series.tolist()]
    values = np.array([p[0] for p in parsed], dtype=np.float64)
    state = np.array([p[1] for p in parsed], dtype=np.int8)
    return values, state == 1, state == 2


def _number_field(errors: _Errors, series: pd.Series, name: str, applies: np.ndarray, *, default=None,
                  check=None, requirement: str = "", integer: bool = False, minimum=None, maximum=None) -> np.ndarray:
    """Parse a numeric column for the rows where it ``applies``; problems go to ``errors``."""
    values, blank, wrong = _numbers(series)
    raw = series.tolist()
    blank &= applies
    wrong &= applies
    if default is None:
        errors.add(blank, f"{name} is missing")
    else:
        values = np.where(blank, default, values)
    errors.add(wrong, lambda i: f"{name} must be a number, got {_show(raw[i])!r}")
    usable = applies & ~blank & ~wrong
    infinite = usable & ~np.isfinite(values)
    errors.add(infinite, lambda i: f"{name} must be finite, got {float(values[i])!r}")
    usable &= ~infinite
    with np.errstate(invalid="ignore"):
        if check is not None:
            failed = usable & ~check(values)
            errors.add(failed, lambda i: f"{name} must be {requirement}, got {float(values[i])!r}")
            usable &= ~failed
        if integer:
            failed = usable & (values != np.round(values))
            errors.add(failed, lambda i: f"{name} must be a whole number, got {float(values[i])!r}")
            usable &= ~failed
        if minimum is not None:
            failed = usable & (values < minimum)
            errors.add(failed, lambda i: f"{name} must be >= {minimum:g}, got {float(values[i])!r}")
            usable &= ~failed
        if maximum is not None:
            failed = usable & (values > maximum)
            errors.add(failed, lambda i: f"{name} must be <= {maximum:g}, got {float(values[i])!r}")
    return values


def _choice_field(errors: _Errors, series: pd.Series, name: str, applies: np.ndarray, choices, *,
                  default: str | None = None) -> np.ndarray:
    """Parse a categorical column (case and surrounding spaces ignored); returns an object array."""
    raw = series.tolist()
    out = np.empty(len(raw), dtype=object)
    allowed = ", ".join(repr(c) for c in choices)
    for i, value in enumerate(raw):
        if not applies[i]:
            continue
        if _is_blank(value):
            if default is None:
                errors.messages[i].append(f"{name} is missing")
            out[i] = default
            continue
        text = value.strip().lower() if isinstance(value, str) else None
        if text in choices:
            out[i] = text
        else:
            errors.messages[i].append(f"{name} must be one of {allowed}, got {_show(value)!r}")
    return out


# --------------------------------------------------------------------------------------------------
# market


def _build_models(market: pd.DataFrame):
    """underlying -> model for usable rows; underlying -> message for unusable ones."""
    models, problems, seen = {}, {}, {}
    names = market["underlying"].tolist()
    for position, value in enumerate(names):
        if _is_blank(value):
            continue
        seen.setdefault(_show(value, limit=10_000), []).append(position)
    for underlying, positions in seen.items():
        if len(positions) > 1:
            rows = ", ".join(str(p + 1) for p in positions)
            problems[underlying] = f"underlying {underlying!r} has {len(positions)} market rows ({rows})"
            continue
        position = positions[0]
        label = f"market row {position + 1} ({underlying})"
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
        if not row_errors.messages[0]:
            try:
                models[underlying] = cls(**{k: (v if v is None else float(v)) for k, v in params.items()})
            except ValueError as exc:  # the model's own message names the field
                row_errors.messages[0].append(str(exc))
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
    underlying = np.array([None if _is_blank(u) else _show(u, limit=10_000) for u in raw_underlying], dtype=object)
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
    quantity = _number_field(errors, col("quantity"), "quantity", every, default=1.0)

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


# --------------------------------------------------------------------------------------------------
# grouping and batching


def _groups(fields: dict, valid: np.ndarray):
    """(key, rows) for the valid trades; key = (underlying, product, schedule, expiry).

    The schedule (monitoring "continuous" or a count; fixings count) is static in the engine and, with
    the expiry, fixes the time grid: trades of one group see exactly the grid they would see alone.
    """
    rows = np.flatnonzero(valid)
    buckets: dict[tuple, list[int]] = {}
    for i in rows:
        kind = fields["product"][i]
        schedule = (fields["monitoring"][i] if kind == "barrier" else int(fields["fixings"][i]) if kind == "asian" else None)
        key = (fields["underlying"][i], kind, schedule, float(fields["expiry"][i]))
        buckets.setdefault(key, []).append(i)
    for key in sorted(buckets, key=repr):
        yield key, np.asarray(buckets[key], dtype=np.int64)


def _product(key, fields: dict, rows: np.ndarray):
    _, kind, schedule, expiry = key
    take = lambda name: np.ascontiguousarray(fields[name][rows], dtype=np.float64)  # noqa: E731
    expiries = np.full(rows.size, expiry)
    if kind == "european":
        return EuropeanOption(strike=take("strike"), expiry=expiries, call=take("call"))
    if kind == "barrier":
        return BarrierOption(strike=take("strike"), barrier=take("barrier"), expiry=expiries, call=take("call"),
                             up=take("up"), knock_in=take("knock_in"), rebate=take("rebate"), monitoring=schedule)
    return AsianOption(strike=take("strike"), expiry=expiries, fixings=schedule, call=take("call"),
                       geometric=take("geometric"), past_average=take("past_average"), past_count=take("past_count"))
