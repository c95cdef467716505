"""``exotics calibrate``'s work: a prices file read into clean series (errors name the column and row),
GARCH fitted per column (batched where the columns span the same rows), and the market rows written
from the fits (GARCH in decimal daily units, or Heston mapped from GARCH)."""
from __future__ import annotations

import warnings
from pathlib import Path

from ._cli_io import CliError, say
from ._fields import RATE_LIMIT, RATE_WARNING_LEVEL, decimal_hint, percent_like_rate_text

_DATE_COLUMNS = ("date", "day", "time", "datetime", "timestamp")
MIN_PRICES = 101   # 100 returns: what calibrator.fit_garch accepts (500+ for reliable estimates)
TRADING_DAYS = 252


def _plain(value):
    """A cell as plain Python for a message: -3.0, not np.float64(-3.0)."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", None) == 0 else value


def check_rate_dividend(rate, dividend, *, say_warnings: bool = True) -> None:
    """--rate and --dividend: finite decimals within the library's +-RATE_LIMIT, else CliError naming the
    option (nan, inf and percent refused); beyond +-100% a year a "warning:" line (a percentage?)."""
    import math
    for option, value in (("--rate", rate), ("--dividend", dividend)):
        if not math.isfinite(value):
            raise CliError(f"{option} must be a finite number (a decimal, 0.02 for 2%), got {value!r}")
        if abs(value) > RATE_LIMIT:   # the library's limit (models, books, calibrate_heston)
            raise CliError(f"{option} {value!r}: beyond +-{RATE_LIMIT:g} ({100 * RATE_LIMIT:.0f}%) it looks like "
                           f"percent; {decimal_hint(value)}")
        if say_warnings and abs(value) > RATE_WARNING_LEVEL:
            say("warning:", "yellow", percent_like_rate_text(option, value))


def price_series(frame, path: Path):
    """(series, skipped): name -> positive float prices (NaN-free), in date order; name -> the message of a
    column that cannot be used (naming its row). CliError for what spoils the whole file (dates, no columns)."""
    import numpy as np
    import pandas as pd
    from ._book_cells import _where
    index = frame.index   # a CSV's: each row's line in the file

    def line(i: int) -> str:
        return f"row {i + 1} ({_where(index, i)})" if _where(index, i) else f"row {i + 1}"
    names = [str(c).strip() for c in frame.columns]
    dates = [c for c, n in zip(frame.columns, names) if n.lower() in _DATE_COLUMNS]
    if len(dates) > 1:
        raise CliError(f"{path}: more than one date column ({', '.join(map(repr, dates))})")
    if dates:
        raw = frame[dates[0]]
        parsed = pd.to_datetime(raw, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise CliError(f"{path}: column {dates[0]!r}, {line(i)}: {_plain(raw.iloc[i])!r} is not a date")
        if parsed.duplicated().any():
            i = int(np.argmax(parsed.duplicated().to_numpy()))
            raise CliError(f"{path}: column {dates[0]!r}, {line(i)}: the date {_plain(raw.iloc[i])!r} is repeated")
        order = np.argsort(parsed.to_numpy(), kind="stable")     # oldest first, whatever the file's order
        frame = frame.drop(columns=dates[0]).iloc[order]
        positions = order
    else:
        positions = np.arange(len(frame))
    if frame.shape[1] == 0:
        raise CliError(f"{path}: no price columns (one column per underlying, a date column optional)")
    series, skipped = {}, {}
    for column in frame.columns:
        try:
            series[str(column).strip()] = _column_series(frame[column], positions, line)
        except _ColumnError as exc:   # this column alone: the others are still calibrated
            skipped[str(column).strip()] = f"{path}: column {column!r}{exc}"
    return series, skipped


class _ColumnError(Exception):
    """A problem of one price column (its message follows the column's name)."""


def _column_series(raw, positions, line):
    """(prices, first row, last row) of one column; _ColumnError naming the row otherwise."""
    import numpy as np
    import pandas as pd
    values = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
    blank = raw.isna().to_numpy() | raw.astype(str).str.strip().eq("").to_numpy()
    text = ~blank & np.isnan(values)
    if text.any():
        k = int(np.argmax(text))
        raise _ColumnError(f", {line(int(positions[k]))}: {_plain(raw.iloc[k])!r} is not a "
                           f"number")
    bad = ~blank & ~(np.isfinite(values) & (values > 0))
    if bad.any():
        k = int(np.argmax(bad))
        raise _ColumnError(f", {line(int(positions[k]))}: a price must be > 0 and finite, "
                           f"got {float(values[k])!r}")
    present = np.flatnonzero(~blank)
    if present.size:
        gaps = blank[present[0]:present[-1] + 1]
        if gaps.any():
            k = present[0] + int(np.argmax(gaps))
            raise _ColumnError(f", {line(int(positions[k]))}: missing price inside the series "
                           f"(fill or remove the row)")
    # a bad tick (1e-320, 1e308, a price in the wrong units for one row) is a jump no market makes
    from calibrator._validation import MAX_LOG_RETURN
    steps = np.abs(np.diff(np.log(values[present])))
    if steps.size and np.max(steps) > MAX_LOG_RETURN:
        first = int(np.argmax(steps > MAX_LOG_RETURN))   # the first jump: the bad row itself
        k = present[first + 1]
        raise _ColumnError(f", {line(int(positions[k]))}: the price moves from "
                           f"{float(values[present[first]]):g} to {float(values[k]):g}, a factor of "
                           f"{float(np.exp(steps[first])):.3g} in one row: a bad tick? (limit: a factor of "
                           f"{float(np.exp(MAX_LOG_RETURN)):.0f})")
    if present.size < MIN_PRICES:
        raise _ColumnError(f" has {present.size} prices; a GARCH fit needs at least "
                           f"{MIN_PRICES} ({MIN_PRICES - 1} returns), and 500+ for reliable estimates")
    return values[present[0]:present[-1] + 1], int(present[0]), int(present[-1])


def fit_garch_columns(series: dict, path: Path, **options):
    """(fits, skipped): name -> (fit, index in the fit's batch), columns spanning the same rows fitted in one
    batch; name -> message for a column whose fit failed."""
    import warnings

    import numpy as np
    import pandas as pd
    from calibrator import fit_garch
    spans: dict = {}
    for name, (values, first, last) in series.items():
        spans.setdefault((first, last), []).append(name)
    fits, skipped = {}, {}
    for names in spans.values():
        returns = pd.DataFrame({n: 100.0 * np.diff(np.log(series[n][0])) for n in names})   # percent, for scale
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = fit_garch(returns, percent=True, **options)
            except ValueError as exc:
                raise CliError(f"{path}: {exc}") from None
        for warning in caught:
            say("warning:", "yellow", f"{path}: {warning.message}")
        status = np.atleast_1d(np.asarray(fit.status, dtype=object))
        messages = np.atleast_1d(np.asarray(fit.error, dtype=object))
        for j, name in enumerate(names):
            if status[j] == "error":   # this column alone: the others are still written
                message = str(messages[j]).strip()
                prefix = f"column {name!r}: "
                if message.startswith(prefix):            # fit_garch names the column already
                    message = message[len(prefix):]
                skipped[name] = f"{path}: {prefix}{message}"
                continue
            if status[j] != "ok":
                say("warning:", "yellow", f"{path}: column {name!r}: the fit did not converge ({status[j]}); "
                             f"check the parameters")
            fits[name] = (fit, j)
    return fits, skipped


def market_rows(series: dict, fits: dict, path: Path, *, rate: float, dividend: float, to_heston=None):
    """The market file: one row per column, model garch (decimal daily units) or heston (annualised). --rate and
    --dividend must be finite decimals (CliError otherwise: nothing is written)."""
    import numpy as np
    import pandas as pd
    check_rate_dividend(rate, dividend, say_warnings=False)   # said before the fit
    rows = []
    for name, (values, _, _) in series.items():
        fit, j = fits[name]
        pick = lambda value: float(np.atleast_1d(np.asarray(value, dtype=np.float64))[j])  # noqa: E731
        row = dict(underlying=name, spot=float(values[-1]), rate=rate, dividend=dividend)
        scale = 1e-4 if fit.percent else 1.0                    # percent^2 -> decimal^2 daily variance
        alpha, beta, gamma = pick(fit.alpha), pick(fit.beta), pick(fit.gamma)
        if to_heston is None:
            row.update(model="garch", omega=pick(fit.omega) * scale, alpha=alpha, beta=beta,
                       gamma=max(gamma, -alpha), h0=pick(np.atleast_2d(fit.forecast(1))[:, 0]) * scale)
            if alpha + beta + 0.5 * gamma >= 1:
                say("warning:", "yellow", f"{path}: column {name!r}: alpha + beta + gamma/2 = "
                             f"{alpha + beta + 0.5 * gamma:.4f} >= 1 (not stationary): price-book will refuse it")
        else:
            from calibrator.heston_map import NEAR_INTEGRATED
            with warnings.catch_warnings(record=True) as caught:   # said once below, on the column's own line
                warnings.simplefilter("always")
                heston = to_heston(fit, periods_per_year=TRADING_DAYS)
            row.update(model="heston", **{k: pick(getattr(heston, k)) for k in ("v0", "kappa", "theta", "xi", "rho")})
            missing = [k for k in ("v0", "kappa", "theta", "xi", "rho") if not np.isfinite(row[k])]
            persistence = alpha + beta + 0.5 * gamma
            if missing:
                say("warning:", "yellow", f"{path}: column {name!r}: no Heston {', '.join(missing)} from this "
                             f"fit (persistence {persistence:.6f}): price-book will refuse it")
            elif 1.0 - persistence < NEAR_INTEGRATED:
                # theta = omega / (1 - persistence) and kappa are not identified there: the row is written (the
                # user asked for it) but flagged, with the numbers that make it doubtful
                say("warning:", "yellow", f"{path}: column {name!r}: the GARCH fit is near-integrated "
                             f"(persistence {persistence:.6f}): its Heston theta {row['theta']:.4g} and kappa "
                             f"{row['kappa']:.4g} are not identified; prefer --model garch or a longer history")
            elif caught:
                say("warning:", "yellow", f"{path}: column {name!r}: {str(caught[0].message).splitlines()[0]}")
        rows.append(row)
    columns = ["underlying", "model", "spot", "rate", "dividend"]
    frame = pd.DataFrame(rows)
    return frame[columns + [c for c in frame.columns if c not in columns]]
