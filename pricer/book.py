"""Price a book of trades (a pandas DataFrame) against a market table: ``price_book``.

The flow: (1) normalise the two tables and check their structure (the only errors that raise);
(2) build one model per market row with the library's own classes, keeping their messages;
(3) validate every trade row, column by column (pandas/numpy masks), collecting one message per problem;
(4) group the valid trades by everything that shapes the simulation's time grid and compiled program,
(underlying, product kind, monitoring/fixings schedule, expiry), and cut each group into tasks of at
most ``TASK_ROWS`` trades (``prepare_book``); (5) price each task (``price_task``) in batches of
``ROWS_PER_CALL`` rows with one ``pricer.price`` call per batch, the underlying's model scalar so the
batch shares its paths, locally or on Dask workers (``price_book_groups``); (6) assemble one output row
per trade, in input order (``PreparedBook.assemble``). The command line's resumable runs use the same
steps, writing each task's result to disk as it comes (``pricer.book_resume``, behind ``pricer.cli``);
cell parsing and per-row messages live in ``pricer._book_cells``.

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
import hashlib
import json

import jax
import numpy as np
import pandas as pd

from ._book_cells import _choice_field, _column, _Errors, _is_blank, _number_field, _row_labels, _show, _to_float
from .engine import MonteCarlo, price
from .models import BlackScholes, Garch, Heston
from .products import AsianOption, BarrierOption, EuropeanOption

__all__ = ["price_book", "prepare_book", "price_book_groups", "price_task", "PreparedBook", "BookTask",
           "TaskResult", "price_book_resumable", "ROWS_PER_CALL", "TASK_ROWS"]

#: rows in every ``price()`` call (groups are split / padded to it); see the module docstring
ROWS_PER_CALL = 16
#: most trades in one task (a piece of a group: the unit of work of a Dask worker and of a resumable
#: run's part files); any cut gives the same numbers, this one only sets the granularity
TASK_ROWS = 256
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


def price_book(trades: pd.DataFrame, market: pd.DataFrame, mc: MonteCarlo | None = None, greeks=(), *,
               client=None) -> pd.DataFrame:
    """Price every trade of ``trades`` under the models of ``market``; one output row per trade, in order.

    Returns a DataFrame indexed like ``trades`` with columns ``trade_id, price, stderr, value``
    (price and stderr per unit, value = quantity x price), for each requested greek ``<greek>`` and
    ``<greek>_stderr`` (per unit), then ``status`` ("ok" | "error") and ``error`` (the row number,
    trade_id, field and value of every problem found; "" when ok). A bad row never stops the others,
    and a trade's numbers do not depend on which other trades are in the book or on their order.

    ``client``: a ``dask.distributed.Client``; the book's tasks (pieces of groups, see ``prepare_book``)
    are then priced on its workers, with the same numbers as a local run. The workers need the same JAX
    flags as this process for ``dtype="float64"``
    (``client.run(lambda: jax.config.update("jax_enable_x64", True))``).

    Raises ``ValueError`` only when the input cannot be read as a book at all: ``trades`` or
    ``market`` not a DataFrame, no ``trade_id`` column, no ``underlying``/``model`` column in the
    market, duplicate column names, an unknown greek or ``mc`` not a ``MonteCarlo`` (or, with a
    ``client``, float64 asked of workers without ``jax_enable_x64``).
    """
    book = prepare_book(trades, market, mc, greeks)
    return book.assemble(price_book_groups(book, client=client))


@dataclasses.dataclass(frozen=True, eq=False)
class BookTask:
    """One piece of work: up to ``TASK_ROWS`` valid trades of one group, and everything needed to price them.

    Self-contained and picklable (numpy arrays, a model, settings), so a Dask worker can run
    ``price_task`` on it. ``rows`` are the trades' positions in the book (0-based).
    """

    key: tuple                 # (underlying, product, schedule, expiry)
    rows: np.ndarray
    model: object
    columns: dict              # field name -> values for ``rows``
    mc: MonteCarlo
    greeks: tuple              # the requested greeks the underlying's model has
    rows_per_call: int

    def subset(self, mask: np.ndarray) -> "BookTask":
        """The same task for some of its trades (a trade's result does not depend on the others)."""
        mask = np.asarray(mask, dtype=bool)
        return dataclasses.replace(self, rows=self.rows[mask], columns={k: v[mask] for k, v in self.columns.items()})


@dataclasses.dataclass(frozen=True, eq=False)
class TaskResult:
    """Numbers for the trades of a task: ``values`` name -> array aligned with ``rows`` ("price",
    "stderr", each greek and "<greek>_stderr"; NaN where pricing failed), ``failures`` the message per
    row ("" when priced)."""

    rows: np.ndarray
    values: dict
    failures: list

    @classmethod
    def failed(cls, rows, names, message: str) -> "TaskResult":
        rows = np.asarray(rows, dtype=np.int64)
        return cls(rows, {n: np.full(rows.size, np.nan) for n in names}, [message] * rows.size)


@dataclasses.dataclass(eq=False)
class PreparedBook:
    """A validated book split into tasks: what ``price_book`` does before and after the pricing.

    ``tasks`` lists the work (each a ``BookTask``), ``assemble(results)`` turns the ``TaskResult`` of
    every task (in any order, from anywhere) into ``price_book``'s DataFrame, and ``trade_keys()``
    gives each valid trade a hash of everything its numbers depend on (for resumable runs).
    """

    trades: pd.DataFrame
    mc: MonteCarlo
    greeks: tuple
    errors: "_Errors"
    fields: dict
    models: dict
    tasks: list

    @property
    def value_names(self) -> list[str]:
        return ["price", "stderr", *(name for g in self.greeks for name in (g, f"{g}_stderr"))]

    def trade_keys(self) -> list:
        """Per trade: a hex digest of what its price and greeks depend on (the parsed product fields, the
        underlying's model, the Monte Carlo settings, the greeks asked, the call size and the library
        versions), or None for a trade with errors. Quantity and trade_id are not in it: they do not
        change the per-unit numbers."""
        keys: list = [None] * len(self.trades)
        common = _canonical(("book-v1", _versions(), dataclasses.asdict(self.mc), bool(jax.config.jax_enable_x64)))
        for task in self.tasks:
            head = common + _canonical((task.key, task.greeks, task.rows_per_call, type(task.model).__name__,
                                        {f.name: getattr(task.model, f.name) for f in dataclasses.fields(task.model)}))
            names = sorted(task.columns)
            for k, row in enumerate(task.rows):
                text = head + _canonical([task.columns[n][k] for n in names])
                keys[row] = hashlib.sha256(text.encode()).hexdigest()
        return keys

    def assemble(self, results) -> pd.DataFrame:
        """``price_book``'s DataFrame from the results of the tasks (every valid trade must be in one)."""
        n = len(self.trades)
        errors = _Errors(n)
        errors.messages = [list(m) for m in self.errors.messages]
        values = {name: np.full(n, np.nan) for name in self.value_names}
        covered = ~self.errors.ok()
        for result in results:
            rows = np.asarray(result.rows, dtype=np.int64)
            covered[rows] = True
            for name in self.value_names:   # a greek the task's model does not have stays NaN
                if name in result.values:
                    values[name][rows] = np.asarray(result.values[name], dtype=np.float64)
            for row, message in zip(rows, result.failures):
                if message:
                    errors.messages[row].append(message)
        if not covered.all():
            missing = np.flatnonzero(~covered)
            raise ValueError(f"no result for {missing.size} valid trade(s) (rows {', '.join(str(i + 1) for i in missing[:5])}"
                             f"{' ...' if missing.size > 5 else ''})")
        price_, stderr = values["price"], values["stderr"]
        # a priced row whose numbers overflowed (e.g. a strike beyond float32) is reported, not passed on
        priced = errors.ok()
        bad_number = priced & ~(np.isfinite(price_) & np.isfinite(stderr))
        errors.add(bad_number, lambda i: f"the result is not finite (price {float(price_[i])!r}, stderr {float(stderr[i])!r}): "
                                         f"check the magnitudes of the trade's and the market's numbers for {self.mc.dtype}")
        ok = errors.ok()
        for array in values.values():
            array[~ok] = np.nan
        quantity = self.fields["quantity"]
        columns = {"trade_id": self.trades["trade_id"].array, "price": price_, "stderr": stderr,
                   "value": np.where(ok, quantity * price_, np.nan)}
        for g in self.greeks:
            columns[g] = values[g]
            columns[f"{g}_stderr"] = values[f"{g}_stderr"]
        columns["status"] = ["ok" if good else "error" for good in ok]
        columns["error"] = errors.texts(_row_labels(self.trades))
        out = pd.DataFrame(columns, index=self.trades.index)
        return out.astype({"status": str, "error": str}) if n == 0 else out


def prepare_book(trades: pd.DataFrame, market: pd.DataFrame, mc: MonteCarlo | None = None, greeks=(), *,
                 task_rows: int | None = None) -> PreparedBook:
    """Validate the book and split its valid trades into tasks; raises as ``price_book`` does.

    A task holds up to ``task_rows`` (default ``TASK_ROWS``) trades of one group, cut in the groups'
    sorted order; the cut never changes a number, since a trade's result does not depend on the others.
    """
    mc = MonteCarlo() if mc is None else mc
    if not isinstance(mc, MonteCarlo):
        raise ValueError(f"mc must be a pricer.MonteCarlo, got {type(mc).__name__}")
    if mc.dtype == "float64" and not jax.config.jax_enable_x64:   # a setting, not a trade, is wrong
        raise ValueError("dtype='float64' needs jax.config.update('jax_enable_x64', True) before pricing")
    task_rows = TASK_ROWS if task_rows is None else int(task_rows)
    if task_rows < 1:
        raise ValueError(f"task_rows must be >= 1, got {task_rows!r}")
    greeks = _greek_names(greeks)
    trades = _normalised(trades, "trades", required=("trade_id",))
    market = _normalised(market, "market", required=("underlying", "model"))

    errors = _Errors(len(trades))
    models, model_errors = _build_models(market)
    fields = _validate(trades, errors, models, model_errors)
    if greeks:
        from .greeks import available_greeks
    tasks = []
    for key, rows in _groups(fields, errors.ok()):
        model = models[key[0]]
        # a greek the underlying's model does not have (kappa of a Black-Scholes stock) stays NaN
        asked = tuple(g for g in greeks if g in available_greeks(model)) if greeks else ()
        for start in range(0, rows.size, task_rows):
            chunk = rows[start:start + task_rows]
            columns = {name: np.ascontiguousarray(fields[name][chunk], dtype=np.float64) for name in _PRODUCT_FIELDS[key[1]]}
            tasks.append(BookTask(key, chunk, model, columns, mc, asked, ROWS_PER_CALL))
    return PreparedBook(trades, mc, greeks, errors, fields, models, tasks)


def price_task(task: BookTask) -> TaskResult:
    """Price one task: calls of exactly ``task.rows_per_call`` rows (the last one padded with copies of
    its first row, whose results are dropped). A failing call marks its rows, the others go on."""
    n = task.rows.size
    names = ["price", "stderr", *(name for g in task.greeks for name in (g, f"{g}_stderr"))]
    values = {name: np.full(n, np.nan) for name in names}
    failures = [""] * n
    size = task.rows_per_call
    for start in range(0, n, size):
        batch = np.arange(start, min(start + size, n))
        padded = np.concatenate([batch, np.full(size - batch.size, batch[0])])
        try:
            product = _product(task.key, task.columns, padded)
            with np.errstate(over="ignore", invalid="ignore"):   # absurd magnitudes are reported later
                result = price(product, task.model, task.mc, greeks=task.greeks)
            rows_of = lambda a: np.asarray(a, np.float64).reshape(-1)[:batch.size]  # noqa: E731
            outputs = {"price": rows_of(result.price), "stderr": rows_of(result.stderr)}
            for g in task.greeks:
                outputs[g] = rows_of(result.greeks[g])
                outputs[f"{g}_stderr"] = rows_of(result.greeks_stderr[g])
        except Exception as exc:  # noqa: BLE001 - a book job reports a failed group, it does not stop
            for i in batch:
                failures[i] = f"pricing failed ({type(exc).__name__}): {exc}"
            continue
        for name, array in outputs.items():
            values[name][batch] = array
    return TaskResult(task.rows, values, failures)


def price_book_groups(book: PreparedBook, tasks=None, *, client=None):
    """Price ``tasks`` (default: all of ``book.tasks``) and yield one ``TaskResult`` per task as it finishes:
    in task order locally, in completion order on a Dask ``client``. ``book.assemble`` takes them in any
    order. The one code path behind ``price_book`` and the command line's incremental, resumable runs."""
    tasks = book.tasks if tasks is None else list(tasks)
    if client is None:
        for task in tasks:
            yield price_task(task)
        return
    from distributed import as_completed   # an optional dependency: pip install "exotics[distributed]"
    if book.mc.dtype == "float64":
        lacking = [w for w, on in client.run(_x64_enabled).items() if not on]
        if lacking:
            raise ValueError(f"dtype='float64' needs jax_enable_x64 on every Dask worker ({len(lacking)} without it); "
                             f"run client.run(lambda: jax.config.update('jax_enable_x64', True)) first")
    futures = {future: task for future, task in zip(client.map(price_task, tasks, pure=False), tasks)}
    for future in as_completed(list(futures)):
        task = futures.pop(future)
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker or a transport failure fails its task only
            result = TaskResult.failed(task.rows, book.value_names,
                                       f"pricing failed on the cluster ({type(exc).__name__}): {exc}")
        future.release()
        yield result


def _x64_enabled() -> bool:
    return bool(jax.config.jax_enable_x64)


def _versions() -> tuple:
    try:
        from importlib.metadata import version
        ours = version("exotics")
    except Exception:  # noqa: BLE001 - running from a source tree
        ours = "source"
    return (ours, jax.__version__, np.__version__)


def _canonical(value) -> str:
    """A stable text for hashing: floats exactly (hex), containers recursively, arrays as lists."""
    def norm(v):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            return float(v).hex()
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in sorted(v.items())}
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        array = np.asarray(v)
        if array.dtype.kind in "fiub":
            return [norm(x) for x in array.astype(np.float64).reshape(-1).tolist()] + [list(array.shape)]
        return repr(v)
    return json.dumps(norm(value), separators=(",", ":"))


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


_PRODUCT_FIELDS = {
    "european": ("strike", "call"),
    "barrier": ("strike", "barrier", "call", "up", "knock_in", "rebate"),
    "asian": ("strike", "call", "geometric", "past_average", "past_count"),
}


def _product(key, columns: dict, rows: np.ndarray):
    """The product batch for ``rows`` (positions in ``columns``) of a group."""
    _, kind, schedule, expiry = key
    take = lambda name: np.ascontiguousarray(columns[name][rows], dtype=np.float64)  # noqa: E731
    expiries = np.full(rows.size, expiry)
    if kind == "european":
        return EuropeanOption(strike=take("strike"), expiry=expiries, call=take("call"))
    if kind == "barrier":
        return BarrierOption(strike=take("strike"), barrier=take("barrier"), expiry=expiries, call=take("call"),
                             up=take("up"), knock_in=take("knock_in"), rebate=take("rebate"), monitoring=schedule)
    return AsianOption(strike=take("strike"), expiry=expiries, fixings=schedule, call=take("call"),
                       geometric=take("geometric"), past_average=take("past_average"), past_count=take("past_count"))


def __getattr__(name):
    # the resumable runner lives in book_resume.py (it builds on this module); still reachable from here
    if name in ("price_book_resumable", "PART_PATTERN"):
        from . import book_resume
        return getattr(book_resume, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
