"""Input checks for fit_garch: shapes, finiteness, constant series, scale. Pure numpy, no JAX.

Structural mistakes (wrong shape, empty, unknown option, too short) raise ``ValueError`` naming the
argument. Problems confined to one column of a batch are reported per column (``column_errors``) so
the other columns still fit; for a single series they raise.
"""
from __future__ import annotations

import datetime
import warnings

import numpy as np
import pandas as pd

from .warnings import DataScaleWarning, ShortSeriesWarning

#: |log return| beyond this (a price moving by a factor of 20 in one period) is a bad tick, not a market
#: move: refused where one return at a time comes in (GarchStream) and in ``exotics calibrate``'s prices
MAX_LOG_RETURN = 3.0
from pricer._stacklevel import user_stacklevel

MIN_OBS = 100        # refuse below this
WARN_OBS = 500       # warn below this
# Plausible per-period standard deviations (daily to monthly): decimals ~0.002-0.2, percent ~0.2-20.
PERCENT_STD_LOOKS_DECIMAL = 0.05   # percent=True but std below this: probably decimal returns
DECIMAL_STD_LOOKS_PERCENT = 0.5    # percent=False but std above this (50% a period): probably percent
TINY_STD, HUGE_STD = 1e-6, 1e4     # outside these, the numbers are badly scaled whatever the unit
LEVELS_MEAN_OVER_STD = 10.0         # all positive and mean / std above this: prices, not returns
LEVELS_AUTOCORRELATION = 0.97       # lag-one autocorrelation above this: a price path (returns: |rho| < 0.3;
                                    # appraisal-smoothed returns reach 0.9, a 1,000-day random walk 0.99)
PRICE_LEVEL, PRICE_MEAN_OVER_STD = 0.75, 3.0   # all positive, mean above both: prices (``column_errors``)
PERCENT_STD_TOO_BIG = 50.0          # percent=True and a std above 50% a period: not percent returns either


class Prepared:
    """returns as a float64 (T, N) array plus labels: ``single`` (1-D input), ``columns`` (names),
    ``index`` (row labels or None)."""

    def __init__(self, data: np.ndarray, single: bool, columns: list, index, conversion_errors=None):
        self.data = data
        self.single = single
        self.columns = columns
        self.index = index
        self.conversion_errors = conversion_errors or {}   # column -> text, for values that are not numbers

    @property
    def nobs(self) -> int:
        return self.data.shape[0]

    @property
    def nseries(self) -> int:
        return self.data.shape[1]

    def column_moments(self):
        """(mean, mean square) per column, (N,) each, computed once: two passes over the data without
        a (T, N) temporary (a batch of 10,000 x 2,500 is 200 MB). NaN/inf where a column has them."""
        if getattr(self, "_moments", None) is None:
            with np.errstate(invalid="ignore", over="ignore"):
                T = self.data.shape[0]
                self._moments = (self.data.sum(axis=0) / T, np.einsum("ij,ij->j", self.data, self.data) / T)
        return self._moments

    def column_std(self):
        """Standard deviation per column from ``column_moments`` (for scale checks, not estimation)."""
        mean, mean_square = self.column_moments()
        # NaN where the squares overflow: column_errors refuses those columns anyway
        with np.errstate(invalid="ignore", over="ignore"):
            return np.sqrt(np.maximum(mean_square - mean * mean, 0.0))


def is_number(value) -> bool:
    """A real number (Python or numpy), not a bool, finite."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and bool(np.isfinite(value)))


def is_whole(value) -> bool:
    """A finite real number with no fractional part (5 or 5.0), not a bool."""
    return is_number(value) and float(value).is_integer()


def refuse_tail_probabilities(levels, name: str, given) -> None:
    """VaR levels are confidence levels (0.99: the loss exceeded 1% of the time). One below 1/2 is the
    tail probability written the other way round (0.01 for 0.99), which would quietly give the quantile
    of a gain: refused, naming ``name`` and what was ``given``."""
    if np.any(np.asarray(levels, dtype=float) < 0.5):
        raise ValueError(f"{name} is a confidence level, 0.5 or more (0.99 for the loss exceeded 1% of the "
                         f"time), got {given!r}: for the 1% tail write 0.99, not 0.01")


def prepare_returns(returns) -> Prepared:
    """Shape checks and conversion to a (T, N) float64 array, one series per column."""
    index = None
    if isinstance(returns, pd.DataFrame):
        columns = list(returns.columns)
        index = returns.index
        single = False
        values = returns.to_numpy()
    elif isinstance(returns, pd.Series):
        columns = [returns.name if returns.name is not None else 0]
        index = returns.index
        single = True
        values = returns.to_numpy()
    else:
        values = np.asarray(returns)
        single = values.ndim == 1
        columns = None
    if index is not None:
        check_time_order(index, "returns")
    conversion_errors = {}
    try:
        if isinstance(returns, (pd.DataFrame, pd.Series)) and any(_not_returns(d) for d in _dtypes(returns)):
            raise TypeError("a column holds dates, durations or booleans")   # per column, below
        data = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        if not isinstance(returns, (pd.DataFrame, pd.Series)):
            raise ValueError(f"returns must be numeric; could not convert to float ({exc})") from None
        frame = returns.to_frame() if isinstance(returns, pd.Series) else returns
        data, conversion_errors = _columns_as_floats(frame)
    if data.ndim not in (1, 2):
        raise ValueError(
            f"returns must be 1-D (one series) or 2-D (one series per column); got an array of shape {data.shape}")
    if data.ndim == 1:
        data = data[:, None]
    if data.size == 0:
        raise ValueError(f"returns is empty (shape {data.shape if not single else data.shape[:1]})")
    if columns is None:
        columns = list(range(data.shape[1]))
    nobs = data.shape[0]
    if nobs < MIN_OBS:
        raise ValueError(
            f"returns has {nobs} observations per series; GARCH estimation needs at least {MIN_OBS} "
            f"(and 500+ for reliable estimates)")
    return Prepared(np.ascontiguousarray(data), single, columns, index, conversion_errors)


def check_time_order(index, name: str) -> None:
    """Refuse an index of dates (or periods) that is not strictly increasing, naming the first place it
    goes back or repeats: the variance filter runs in row order, so a series delivered newest first would
    be fitted backwards and its "last day" (where forecasts and VaR start) would be its oldest."""
    if len(index) < 2:
        return
    if ((pd.api.types.is_object_dtype(index.dtype) or pd.api.types.is_string_dtype(index.dtype))
            and all(isinstance(v, (str, datetime.date)) for v in index[:100])):
        # dates read without parse_dates (strings) or as datetime.date objects: checked where they all parse
        try:
            index = pd.DatetimeIndex(pd.to_datetime(index, format="mixed"))
        except (TypeError, ValueError, OverflowError):
            return
    if not isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex)):
        return
    if index.is_monotonic_increasing and index.is_unique:
        return
    if index.hasnans:
        row = int(np.argmax(np.asarray(index.isna())))
        raise ValueError(f"{name}: its index of dates has a missing date (NaT) at row {row}")
    values = index.asi8
    row = int(np.argmax(np.diff(values) <= 0)) + 1
    what = "repeats" if values[row] == values[row - 1] else "goes back to"
    newest_first = bool(np.all(np.diff(values) < 0))
    def date(label):
        stamp = pd.Timestamp(label.to_timestamp() if isinstance(label, pd.Period) else label)
        return str(stamp.date()) if stamp == stamp.normalize() else str(stamp)
    local_clock = (isinstance(index, pd.DatetimeIndex) and index.tz is None
                   and pd.Timedelta(0) <= index[row - 1] - index[row] <= pd.Timedelta(hours=1)
                   and not (index[row] == index[row].normalize() and index[row - 1] == index[row - 1].normalize()))
    if newest_first:
        fix = "; the series runs newest first: reverse it (returns.iloc[::-1] or .sort_index())"
    elif local_clock:   # intraday stamps going back an hour at most: a local clock's repeated hour
        fix = ("; a local clock's repeated hour at the end of daylight saving time? Give the index a time zone "
               "(.tz_localize(zone, ambiguous='infer')) or use UTC; otherwise sort it and drop duplicated stamps")
    else:
        fix = "; sort it (.sort_index()) and drop duplicated dates"
    raise ValueError(f"{name}: its index of dates must increase (oldest first, one row a date); at row {row} it "
                     f"{what} {date(index[row])} after {date(index[row - 1])}{fix}")


def _columns_as_floats(frame: pd.DataFrame):
    """(T, N) floats from a frame with some columns that are not all numbers: a missing value (None,
    pd.NA) becomes NaN; a column holding text is NaN throughout, with its error text (column, row,
    value), so that only that column fails."""
    data = np.full(frame.shape, np.nan)
    errors = {}
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        if _not_returns(column.dtype):
            # pandas would turn dates into nanoseconds since 1970 and booleans into 0/1: numbers, but not returns
            errors[j] = (f"column {frame.columns[j]!r} holds {_kind_name(column.dtype)} ({column.dtype}), not returns"
                         + (f"; make it the index (frame.set_index({frame.columns[j]!r}))"
                            if _kind_name(column.dtype) == "dates" and frame.shape[1] > 1 else ""))
            continue
        numbers = pd.to_numeric(column, errors="coerce")
        text = numbers.isna().to_numpy() & column.notna().to_numpy()
        if text.any():
            row = int(np.argmax(text))
            errors[j] = (f"column {frame.columns[j]!r}: value {column.iloc[row]!r} at index {row} "
                         f"({frame.index[row]!r}) is not a number")
            continue
        data[:, j] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return data, errors


def _dtypes(returns):
    return list(returns.dtypes) if isinstance(returns, pd.DataFrame) else [returns.dtype]


def _not_returns(dtype) -> bool:
    """Dates, durations, periods and booleans: pandas converts them to numbers that are not returns."""
    return _kind_name(dtype) is not None


def _kind_name(dtype):
    if isinstance(dtype, (pd.DatetimeTZDtype, pd.PeriodDtype)) or getattr(dtype, "kind", "") == "M":
        return "dates"
    if getattr(dtype, "kind", "") == "m":
        return "durations"
    if getattr(dtype, "kind", "") == "b" or isinstance(dtype, pd.BooleanDtype):
        return "booleans"
    return None


def _label(prep: Prepared, row: int) -> str:
    if prep.index is None:
        return f"index {row}"
    return f"index {row} ({prep.index[row]!r})"


def column_errors(prep: Prepared) -> list[str | None]:
    """Per column: None when it can be fitted, else an error text naming the column and first bad index.
    Vectorised over columns (a batch may have thousands): a column whose moments are finite has only
    finite values, so the per-row search runs on the others alone; likewise the exact constant test on
    the columns whose range is tiny."""
    data = prep.data
    mean, mean_square = prep.column_moments()
    suspect = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(mean_square)))
    has_bad = np.zeros(data.shape[1], bool)
    first_bad = np.zeros(data.shape[1], int)
    if suspect.size:
        nonfinite = ~np.isfinite(data[:, suspect])
        has_bad[suspect] = nonfinite.any(axis=0)
        first_bad[suspect] = np.argmax(nonfinite, axis=0)
    with np.errstate(invalid="ignore", over="ignore"):
        low, high = data.min(axis=0), data.max(axis=0)
        scale = np.maximum(np.abs(low), np.abs(high))
        # a range above 1e-6 of the scale implies std > 2e-10 of it (T <= 1e7): not constant; unless the
        # squares underflow (values ~1e-170), where the exact test decides too
        near = np.flatnonzero(~has_bad & ((high - low <= 1e-6 * scale) | ~(mean_square > 0.0)))
        constant = np.zeros(data.shape[1], bool)
        if near.size:
            std = np.std(data[:, near], axis=0)
            constant[near] = (high[near] == low[near]) | (std <= 1e-12 * np.maximum(scale[near], 1e-300))
    errors: list[str | None] = [None] * data.shape[1]
    for j in np.flatnonzero(has_bad):
        row = int(first_bad[j])
        value = data[row, j]
        what = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
        errors[j] = (f"column {prep.columns[j]!r}: non-finite value ({what}) at {_label(prep, row)}; "
                     f"drop or fill missing returns before fitting")
    # finite values whose squares overflow float64 (|r| ~ 1e155 and up): no likelihood can be computed
    overflow = ~has_bad & np.isinf(mean_square)
    for j in np.flatnonzero(overflow):
        errors[j] = (f"column {prep.columns[j]!r}: values as large as {scale[j]:.3g} overflow float64 when "
                     f"squared; returns are per-period changes, so check the units and rescale")
    for j in np.flatnonzero(constant):
        if high[j] != low[j]:   # varying, but too small to square in float64
            errors[j] = (f"column {prep.columns[j]!r}: values as small as {scale[j]:.3g} underflow float64 when "
                         f"squared; returns are per-period changes, so check the units and rescale")
            continue
        errors[j] = (f"column {prep.columns[j]!r}: the series is constant ({float(data[0, j])!r}); a GARCH model "
                     f"needs varying returns")
    # levels, not changes: every value positive and the mean many standard deviations above zero (a daily
    # return series has both signs; prices and gross returns 1 + r do not)
    with np.errstate(invalid="ignore", over="ignore"):
        std = np.sqrt(np.maximum(mean_square - mean * mean, 0.0))
        usable = ~has_bad & ~constant & ~overflow
        # gross returns 1 + r: all positive, near 1, far above their spread (a money-market return series is
        # all positive and far above its spread too, but near 0: it stays)
        offset = usable & (low > 0) & (mean > LEVELS_MEAN_OVER_STD * std) & (np.abs(mean - 1.0) < 0.25)
        # prices: all positive and at least 0.75 on average (75% a period in decimals, 0.75% every period in
        # percent, on every one of 100+ periods: no asset's returns) and a few spreads above zero. A short
        # price path (150-500 days) can wander less than the autocorrelation test below asks
        offset |= usable & (low > 0) & (mean >= PRICE_LEVEL) & (mean > PRICE_MEAN_OVER_STD * std)
        # a price path wanders: consecutive values almost equal (returns are close to uncorrelated)
        wander = np.zeros(data.shape[1], bool)
        check = np.flatnonzero(usable & ~offset)
        if check.size and data.shape[0] > 2:
            centred = data[:, check] - mean[check]
            lag_one = np.sum(centred[1:] * centred[:-1], axis=0) / np.sum(centred * centred, axis=0)
            wander[check] = lag_one > LEVELS_AUTOCORRELATION
    for j in np.flatnonzero(offset):
        errors[j] = (f"column {prep.columns[j]!r}: every value is positive and the mean ({float(mean[j]):.4g}) is "
                     f"{float(mean[j] / std[j]):.0f} standard deviations above zero: these look like prices or gross "
                     f"returns (1 + r), not returns; pass log returns, e.g. np.diff(np.log(prices))")
    for j in np.flatnonzero(wander):
        errors[j] = (f"column {prep.columns[j]!r}: consecutive values are more than {LEVELS_AUTOCORRELATION:g} "
                     f"correlated: these look like prices (levels), not returns; pass log returns, "
                     f"e.g. np.diff(np.log(prices))")
    for j, text in prep.conversion_errors.items():
        errors[j] = text
    return errors


def warn_short(prep: Prepared) -> None:
    if prep.nobs < WARN_OBS:
        warnings.warn(
            f"only {prep.nobs} observations per series: GARCH(1,1) parameters are poorly determined below "
            f"{WARN_OBS}; treat the estimates (especially alpha, beta and persistence) with care",
            ShortSeriesWarning, stacklevel=user_stacklevel())


def _names(prep: Prepared, cols) -> str:
    cols = list(cols)
    shown = ", ".join(repr(prep.columns[j]) for j in cols[:5])
    return shown + (f" and {len(cols) - 5} more" if len(cols) > 5 else "")


def warn_scale(prep: Prepared, good: np.ndarray, percent: bool) -> None:
    """DataScaleWarning when the returns' scale contradicts ``percent=`` or is numerically extreme."""
    std = prep.column_std()
    where = (lambda cols: "" if prep.single else f" (columns {_names(prep, cols)})")
    extreme = np.flatnonzero(good & ((std < TINY_STD) | (std > HUGE_STD)))
    if extreme.size:
        warnings.warn(
            f"returns are poorly scaled: standard deviation {std[extreme[0]]:.3g} per period{where(extreme)}. "
            f"Estimation standardises each series internally, but check the units: rescale to percent "
            f"(x100, with percent=True) or decimals", DataScaleWarning, stacklevel=user_stacklevel())
        good = good & ~((std < TINY_STD) | (std > HUGE_STD))
    if percent:
        big = np.flatnonzero(good & (std > PERCENT_STD_TOO_BIG))
        if big.size:
            warnings.warn(
                f"percent=True but the standard deviation is {std[big[0]]:.3g}% per period{where(big)}: far more "
                f"than any asset's returns; check the units (prices instead of returns? a bad tick?)",
                DataScaleWarning, stacklevel=user_stacklevel())
        odd = np.flatnonzero(good & (std < PERCENT_STD_LOOKS_DECIMAL))
        if odd.size:
            warnings.warn(
                f"percent=True but the standard deviation is only {std[odd[0]]:.3g} (percent) per period"
                f"{where(odd)}: these look like decimal returns. Multiply by 100 or pass percent=False, "
                f"otherwise annualised volatilities will be off by a factor of 100", DataScaleWarning,
                stacklevel=user_stacklevel())
    else:
        odd = np.flatnonzero(good & (std > DECIMAL_STD_LOOKS_PERCENT))
        if odd.size:
            warnings.warn(
                f"percent=False but the standard deviation is {std[odd[0]]:.3g} per period{where(odd)}, "
                f"i.e. {100 * std[odd[0]]:.3g}% as decimals: these look like percent returns. Pass "
                f"percent=True (or divide by 100) so that parameters and volatilities are read in the right "
                f"units", DataScaleWarning, stacklevel=user_stacklevel())
