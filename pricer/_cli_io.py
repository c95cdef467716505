"""The command line's files and messages: tables read and written (CSV or Parquet), outputs checked
before any work, and one-line messages that print user text verbatim."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

errors = Console(stderr=True, soft_wrap=True)   # an error is one line, never wrapped


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def say(label: str, style: str, message: str, console_: Console | None = None) -> None:
    """One line "label: message" with the label styled. The message is printed as plain text: it carries
    user data (paths, trade ids, cells) whose square brackets rich would otherwise read as markup."""
    from rich.text import Text
    (console_ or errors).print(Text.assemble((label, style), " ", str(message)), highlight=False)


def _read_table(path: Path, what: str, *, as_text: bool = False):
    """A CSV or Parquet table. ``as_text``: CSV cells stay text, parsed by the reader of the book: pandas'
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
    return frame


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


def _check_output(path: Path) -> None:
    """Refuse an output table the run could not write, before any work: a directory, an unknown suffix, a
    place that cannot be created or written."""
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
    import os
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise CliError(f"{path}: {existing} is a file, not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise CliError(f"{path}: {existing} is not writable")


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
