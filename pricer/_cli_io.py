"""The command line's files and messages: tables read and written (CSV or Parquet), outputs checked
before any work, and one-line messages that print user text verbatim."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

errors = Console(stderr=True, soft_wrap=True)   # an error is one line, never wrapped


#: the exit code of any error (the contract's): a run that could not start, and a run that wrote its output
#: with some trades or columns left out as errors, so a batch job never reads those as a clean run (0)
ERROR_EXIT = 2


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def count(value) -> int:
    """A whole number written as people write counts: 20000, 20_000, 2e4 (not 2.5 or 1e-3). The parser of
    the command line's count options (paths, scenarios, window, ...); their ranges are checked by the work."""
    import typer
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().replace("_", "")
    try:
        return int(text, 10)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is None or not number.is_integer() or abs(number) > 2 ** 62:
        raise typer.BadParameter(f"{value!r} is not a whole number (e.g. 20000 or 2e4)")
    return int(number)


def say(label: str, style: str, message: str, console_: Console | None = None) -> None:
    """One line "label: message" with the label styled. The message is printed as plain text: it carries
    user data (paths, trade ids, cells) whose square brackets rich would otherwise read as markup."""
    from rich.text import Text
    (console_ or errors).print(Text.assemble((label, style), " ", str(message)), highlight=False)


def _read_table(path: Path, what: str, *, as_text: bool = False):
    """A CSV or Parquet table; a CSV's rows are indexed by their line in the file (index name "line"), for
    messages. ``as_text``: CSV cells stay text, parsed by the reader of the book: pandas'
    guesses would turn "#N/A", "NA" or "null" into blanks (a default taken without a word, a ticker "NA"
    lost), trade id "0012" into 12 and a ticker column with one blank into floats ("7203.0")."""
    import pandas as pd
    if not path.exists():
        raise CliError(f"{path}: no such {what} file")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False) if as_text else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is reported as one line
        # one line: pandas' parser messages end with a newline
        raise CliError(f"{path}: cannot read {what} ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    _check_header(path, what)
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        lines = _record_lines(path)
        if lines is not None and len(lines) == len(frame):   # else pandas and csv disagree: no guess
            from ._book_cells import LINE_INDEX
            frame.index = pd.Index(lines, name=LINE_INDEX)
    return frame


def _record_lines(path: Path) -> list[int] | None:
    """The line in the file where each data record starts (the header is line 1 when first), counting the
    blank lines pandas skips and the extra lines of quoted multi-line cells; None when unreadable."""
    import csv
    lines, header_seen, end = [], False, 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for record in reader:
                start, end = end + 1, reader.line_num
                if not record or (len(record) == 1 and not record[0].strip()):   # blank or only spaces:
                    continue                                                     # pandas skips it
                if header_seen:
                    lines.append(start)
                header_seen = True
    except (OSError, UnicodeError, csv.Error):
        return None
    return lines


def _check_header(path: Path, what: str) -> None:
    """A CSV header whose names repeat or are blank is refused: pandas would rename them ("AAA.1",
    "Unnamed: 2") and the column would be read as something else or ignored."""
    import csv
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    names = [name.strip() for name in header]
    for k, name in enumerate(names):
        if not name:
            raise CliError(f"{path}: column {k + 1} of the {what} file has no name in the header")
        if name in names[:k]:
            raise CliError(f"{path}: column name {name!r} appears twice in the {what} file's header "
                           f"(columns {names.index(name) + 1} and {k + 1})")


PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv",) + PARQUET_SUFFIXES


def _check_output(path: Path, inputs: dict | None = None) -> None:
    """Refuse an output table the run could not write, before any work: a directory, an unknown suffix, a
    place that cannot be created or written, or one of the run's ``inputs`` ({what: path}, e.g. the book):
    the results would replace the data they came from."""
    for what, source in (inputs or {}).items():
        if path.resolve() == Path(source).resolve() or (path.exists() and Path(source).exists()
                                                        and path.samefile(source)):
            raise CliError(f"{path}: the output is the {what} file itself, which the results would overwrite; "
                           f"name another file")
    if path.is_dir():
        raise CliError(f"{path}: the output is a directory; name a file in it, e.g. {path / 'results.csv'}")
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise CliError(f"{path}: the output must end in .csv or .parquet")
    _check_writable(path, path.parent)


def _check_folder(path: Path) -> None:
    """Refuse a report folder the run could not create or write, before any work."""
    if path.exists() and not path.is_dir():
        raise CliError(f"{path}: exists and is not a folder; give a folder for the report")
    _check_writable(path, path)


def _check_writable(path: Path, folder: Path) -> None:
    """``folder`` (to be created where missing) can hold ``path``: its nearest existing ancestor is a
    writable directory."""
    import tempfile
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise CliError(f"{path}: {existing} is a file, not a folder")
    # a file made and removed there: permission bits say nothing for root, a read-only mount or /proc
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".exotics-probe-"):
            pass
    except OSError as exc:
        raise CliError(f"{path}: cannot write in {existing} ({exc.strerror or type(exc).__name__})") from None


def _write_table(frame, path: Path):
    """Write CSV or Parquet (by the suffix) to a temporary name and rename: a kill never leaves half a file."""
    import os
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame.to_parquet(temporary, index=False)
    else:
        frame.to_csv(temporary, index=False)
    os.replace(temporary, path)


def split_greeks(greeks: str | None):
    """--greeks as names; case is ignored, as in the book's columns and cells ("Delta" is delta)."""
    return tuple(g.strip().lower() for g in greeks.split(",") if g.strip()) if greeks else ()


def run_settings(paths: int, seed: int, greeks: str | None):
    """(MonteCarlo, Greek names) from --paths, --seed and --greeks, checked before any work (CliError
    naming the option): a typo must not cost a fit or leave half a report behind."""
    from ._book_fields import _greek_names
    from .engine import MonteCarlo
    try:
        mc = MonteCarlo(paths=paths, seed=seed)
    except ValueError as exc:
        raise CliError(f"--paths/--seed: {exc}") from None
    names = split_greeks(greeks)
    try:
        _greek_names(names)
    except ValueError as exc:
        raise CliError(f"--greeks: {exc}") from None
    return mc, names
