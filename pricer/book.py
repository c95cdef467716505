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
steps (1)-(3) live in ``pricer._book_fields``, cell parsing and per-row messages in ``pricer._book_cells``.

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

import jax
import numpy as np
import pandas as pd

from ._book_cells import _Errors, _row_labels
from ._book_fields import _CONTINUOUS, _build_models, _greek_names, _normalised, _validate
from ._trade_keys import trade_keys
from .engine import MonteCarlo, evaluate
from .products import AsianOption, BarrierOption, EuropeanOption
from .resolution import asian_priced_out, known_by_structure, unresolved, warn_unresolved

__all__ = ["price_book", "prepare_book", "price_book_groups", "price_task", "PreparedBook", "BookTask",
           "TaskResult", "price_book_resumable", "ROWS_PER_CALL", "TASK_ROWS"]

#: rows in every ``price()`` call (groups are split / padded to it); see the module docstring
ROWS_PER_CALL = 16
#: most trades in one task (a piece of a group: the unit of work of a Dask worker and of a resumable
#: run's part files); any cut gives the same numbers, this one only sets the granularity
TASK_ROWS = 256
#: per trade, beside its values: how many samples paid and differed from the control, and how many by
#: weight (``resolution``)
SAMPLE_COUNTS = ("samples_paying", "samples_off_control", "effective_paying", "effective_off_control")


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
    #: underlying -> why its market row is unusable (each of its trades carries the message as its error)
    market_errors: dict = dataclasses.field(default_factory=dict)

    @property
    def value_names(self) -> list[str]:
        return ["price", "stderr", *(name for g in self.greeks for name in (g, f"{g}_stderr"))]

    def trade_keys(self) -> list:
        """Per trade: a hex digest of what its numbers depend on, or None for a trade with errors
        (``_trade_keys.trade_keys``; the part files of resumable runs are keyed by it)."""
        return trade_keys(self)

    def _exact_by_structure(self) -> tuple[np.ndarray, np.ndarray]:
        """Per trade: (a value known exactly: a knock-out as ``resolution.known_by_structure`` in the book's
        dtype, an Asian put as ``resolution.asian_priced_out``; a knock-in that is its vanilla); a book's
        discrete barriers are equally spaced dates ending at expiry."""
        fields = self.fields
        model = [self.models.get(name) for name in fields["underlying"]]
        spot = np.array([np.nan if m is None else float(m.spot) for m in model])
        barrier = fields["product"] == "barrier"
        with np.errstate(invalid="ignore"):
            exact, its_vanilla = known_by_structure(
                spot, fields["strike"], fields["barrier"], fields["call"], fields["up"], fields["knock_in"],
                fields["rebate"], fields["monitoring"] == _CONTINUOUS, True, self.mc.dtype)
            priced_out = asian_priced_out(fields["strike"], fields["call"], fields["geometric"], 0.0,
                                          fields["past_average"], fields["past_count"], fields["fixings"])
        return (barrier & exact) | ((fields["product"] == "asian") & priced_out), barrier & its_vanilla

    def _warn_unresolved(self, mask: np.ndarray, mc: MonteCarlo) -> None:
        ids = self.trades["trade_id"].to_numpy()[mask]
        warn_unresolved([f"trade {trade_id}" for trade_id in ids], mc.simulated_paths)

    def assemble(self, results, mc: MonteCarlo | None = None) -> pd.DataFrame:
        """``price_book``'s DataFrame from the results of the tasks (every valid trade must be in one);
        ``mc``: the settings they were priced with, where not the book's own."""
        n = len(self.trades)
        errors = _Errors(n)
        errors.messages = [list(m) for m in self.errors.messages]
        values = {name: np.full(n, np.nan) for name in self.value_names}
        present = {name: np.zeros(n, dtype=bool) for name in self.value_names}
        covered = ~self.errors.ok()
        # the informative sample counts (``resolution``), NaN where a result does not carry them (a part
        # written by an older version, resumed): those rows are checked for 0 +- 0 only
        counts = {name: np.full(n, np.nan) for name in SAMPLE_COUNTS}
        for result in results:
            rows = np.asarray(result.rows, dtype=np.int64)
            covered[rows] = True
            for name in SAMPLE_COUNTS:
                if name in result.values:
                    counts[name][rows] = result.values[name]
            for name in self.value_names:   # a greek the task's model does not have stays NaN
                if name in result.values:
                    values[name][rows] = np.asarray(result.values[name], dtype=np.float64)
                    present[name][rows] = True
            for row, message in zip(rows, result.failures):
                if message:
                    errors.messages[row].append(message)
        if not covered.all():
            missing = np.flatnonzero(~covered)
            raise ValueError(f"no result for {missing.size} valid trade(s) (rows {', '.join(str(i + 1) for i in missing[:5])}"
                             f"{' ...' if missing.size > 5 else ''})")
        price_, stderr = values["price"], values["stderr"]
        quantity = self.fields["quantity"]
        with np.errstate(over="ignore", invalid="ignore"):
            value = quantity * price_
        # a priced row whose numbers overflowed (a strike beyond float32, a quantity of 1e308) is reported,
        # not passed on; a greek the row's model does not have is NaN on purpose and is not checked
        priced = errors.ok()
        checked = {"price": (price_, present["price"]), "stderr": (stderr, present["stderr"]),
                   "value": (value, present["price"])}
        checked.update((name, (values[name], present[name])) for name in self.value_names if name not in checked)
        for name, (column, has_it) in checked.items():
            bad = priced & has_it & ~np.isfinite(column)
            errors.add(bad, lambda i, name=name, column=column: (
                f"the result's {name} is not finite ({float(column[i])!r}): check the magnitudes of the trade's "
                f"and the market's numbers (and the quantity) for {self.mc.dtype}"))
            priced = priced & ~bad
        ok = errors.ok()
        exact, its_vanilla = self._exact_by_structure()
        flagged = unresolved(price_, stderr, exact, counts["samples_paying"], counts["samples_off_control"],
                             its_vanilla, counts["effective_paying"], counts["effective_off_control"])
        self._warn_unresolved(ok & flagged, self.mc if mc is None else mc)
        for array in values.values():
            array[~ok] = np.nan
        columns = {"trade_id": self.trades["trade_id"].array, "price": price_, "stderr": stderr,
                   "value": np.where(ok, value, np.nan)}
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
    return PreparedBook(trades, mc, greeks, errors, fields, models, tasks, model_errors)


def price_task(task: BookTask) -> TaskResult:
    """Price one task: calls of exactly ``task.rows_per_call`` rows (the last one padded with copies of
    its first row, whose results are dropped). A failing call marks its rows, the others go on."""
    n = task.rows.size
    names = ["price", "stderr", *(name for g in task.greeks for name in (g, f"{g}_stderr")), *SAMPLE_COUNTS]
    values = {name: np.full(n, np.nan) for name in names}
    failures = [""] * n
    size = task.rows_per_call
    for start in range(0, n, size):
        batch = np.arange(start, min(start + size, n))
        padded = np.concatenate([batch, np.full(size - batch.size, batch[0])])
        try:
            product = _product(task.key, task.columns, padded)
            with np.errstate(over="ignore", invalid="ignore"):   # absurd magnitudes are reported later
                result = evaluate(product, task.model, task.mc, greeks=task.greeks)
            rows_of = lambda a: np.asarray(a, np.float64).reshape(-1)[:batch.size]  # noqa: E731
            outputs = {"price": rows_of(result.price), "stderr": rows_of(result.stderr),
                       **{name: rows_of(getattr(result, name)) for name in SAMPLE_COUNTS}}
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


def _x64_enabled() -> bool:   # run on each Dask worker (``price_book_groups``)
    return bool(jax.config.jax_enable_x64)


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
