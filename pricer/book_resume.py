"""Resumable book runs: one Parquet part file per finished task, keyed by the trades' hashes.

The command line's ``exotics price-book --resume`` runs through ``price_book_resumable``; a killed run
leaves whole part files or none, and a resumed one prices only what is missing, giving the same final
table as an uninterrupted run, bit for bit.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .book import SAMPLE_COUNTS, PreparedBook, TaskResult, price_book_groups
from ._stacklevel import user_stacklevel

__all__ = ["price_book_resumable", "PART_PATTERN"]

PART_PATTERN = "part-*.parquet"


def price_book_resumable(book: PreparedBook, folder, *, resume: bool = False, client=None, progress=None) -> pd.DataFrame:
    """``book.assemble`` of every task, writing each finished task to ``folder`` as it comes.

    Each part file (``part-<hash>.parquet``, written to a temporary name and renamed, so a kill leaves
    whole parts or none) holds ``trade_key`` (``PreparedBook.trade_keys``) and the per-unit numbers of
    the trades the task priced; the parts are the manifest. With ``resume`` the trades whose key is in a
    part are not priced again, and since a key hashes everything a trade's numbers depend on (its
    fields, its market row, the Monte Carlo settings, the greeks, the call size, the versions), a changed
    input is priced afresh, never read from a stale part. Without ``resume`` old parts are deleted first.
    Trades whose pricing failed are not written (a resumed run tries them again). The versions in the key
    are the installed package's, jax's and numpy's: after editing the library's code in place, run without
    ``resume``.

    ``progress(done, total)``: called with counts of valid trades, at the start and after every task.
    Returns the same DataFrame as ``price_book`` on the same input, bit for bit, however often the run
    was interrupted and resumed.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob(".part-*.tmp"), *([] if resume else folder.glob(PART_PATTERN))]:
        stale.unlink()   # a temporary file is a part a kill interrupted: never whole
    keys = book.trade_keys()
    names = [*book.value_names, *SAMPLE_COUNTS]   # counts missing from an older part read as NaN: not checked
    done = _read_parts(folder, names) if resume else {}
    results, todo = [], []
    for task in book.tasks:
        have = np.array([keys[row] in done for row in task.rows], dtype=bool)
        if have.any():
            rows = task.rows[have]
            results.append(TaskResult(rows, {name: np.array([done[keys[row]][name] for row in rows]) for name in names},
                                      [""] * rows.size))
        if not have.all():
            todo.append(task if not have.any() else task.subset(~have))
    total = sum(task.rows.size for task in book.tasks)
    finished = total - sum(task.rows.size for task in todo)
    if progress is not None:
        progress(finished, total)
    for result in price_book_groups(book, todo, client=client):
        _write_part(folder, result, keys, names)
        results.append(result)
        finished += result.rows.size
        if progress is not None:
            progress(finished, total)
    return book.assemble(results)


def _write_part(folder: Path, result: TaskResult, keys: list, names: list) -> None:
    priced = np.array([not message for message in result.failures], dtype=bool)
    if not priced.any():
        return
    rows = result.rows[priced]
    trade_keys = [keys[row] for row in rows]
    frame = pd.DataFrame({"trade_key": trade_keys})
    for name in names:
        values = result.values.get(name)
        frame[name] = np.full(rows.size, np.nan) if values is None else np.asarray(values, np.float64)[priced]
    digest = hashlib.sha256("".join(trade_keys).encode()).hexdigest()[:24]
    target = folder / f"part-{digest}.parquet"
    temporary = folder / f".part-{digest}.tmp"
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, target)


def _read_parts(folder: Path, names: list) -> dict:
    """trade_key -> {name: value} from every readable part (an unreadable one is skipped with a warning)."""
    done = {}
    for path in sorted(folder.glob(PART_PATTERN)):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - a damaged part is priced again, not trusted
            warnings.warn(f"{path}: unreadable part file skipped ({type(exc).__name__}: {exc})", stacklevel=user_stacklevel())
            continue
        if "trade_key" not in frame.columns:
            continue
        columns = {name: frame[name].to_numpy(np.float64) if name in frame.columns else np.full(len(frame), np.nan)
                   for name in names}
        for k, key in enumerate(frame["trade_key"].tolist()):
            done[key] = {name: columns[name][k] for name in names}
    return done
