"""Cell parsing for book tables: every cell may hold anything (numbers, text, None, NaN, garbage objects),
and every problem becomes a message on its row (``Errors``), never an exception."""
from __future__ import annotations

import decimal
import math
import numbers

import numpy as np
import pandas as pd

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
    """"row N (trade_id X)", N from 1 in the table's order; with the frame's index label too when the index
    is not the default 0, 1, 2, ... (a slice of a larger book: its row 51 is the user's index 150)."""
    labels = []
    for i, tid in enumerate(trades["trade_id"].tolist()):
        about = [_where(trades.index, i), "no trade_id" if _is_blank(tid) else f"trade_id {_show(tid)}"]
        labels.append(f"row {i + 1} ({', '.join(filter(None, about))})")
    return labels


LINE_INDEX = "line"   # the index the command line gives a CSV's rows: their line in the file


def _where(index: pd.Index, position: int) -> str:
    """Where row ``position`` is, for a message: "" for the default index 0, 1, 2, ...; "line L" for a
    CSV read by the command line (its index is named "line": the row's line in the file, which differs
    from the row number after blank lines or multi-line cells); else "index X"."""
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return ""
    if index.name == LINE_INDEX:
        return f"line {_show(index[position])}"
    return f"index {_show(index[position])}"


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


def _name(value) -> str:
    """A name cell (an underlying) as the text it is matched by: a whole float as the integer it holds, so
    that ticker 7203 matches in a column pandas turned to floats (one blank cell does: 7203.0)."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer() \
            and abs(value) < 2.0 ** 53:
        return str(int(value))
    return _show(value, limit=10_000)


def _to_float(value) -> tuple[float, int]:
    """(value, state): state 0 a number, 1 blank, 2 not a number."""
    if _is_blank(value):
        return math.nan, 1
    if isinstance(value, (bool, np.bool_)):
        return math.nan, 2
    try:
        if isinstance(value, str):
            number = float(value.strip())
        elif isinstance(value, (numbers.Real, decimal.Decimal)):   # Decimal is not a numbers.Real
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
