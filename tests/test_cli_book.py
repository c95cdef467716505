"""Resumable book runs: ``exotics price-book`` killed mid-run and resumed writes the same file as an
uninterrupted run; a changed input is priced again, never read from a stale part."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pricer import MonteCarlo, price_book
from pricer.book import prepare_book
from pricer.book_resume import price_book_resumable
from pricer.cli import app

EXPIRIES = np.round(np.linspace(0.1, 2.4, 24), 4)   # one group (so one task, one part file) per expiry
MARKET = pd.DataFrame([dict(underlying="X", model="black_scholes", spot=100.0, rate=0.02, dividend=0.01, vol=0.25)])


def _book():
    rows = []
    for k, expiry in enumerate(EXPIRIES):
        rows.append(dict(trade_id=f"C{k}", underlying="X", product="european", call_put="call", strike=100.0 + k,
                         expiry=expiry, quantity=2))
        rows.append(dict(trade_id=f"P{k}", underlying="X", product="european", call_put="put", strike=95.0 - k / 2,
                         expiry=expiry))
    rows.insert(7, dict(trade_id="BAD", underlying="X", product="european", call_put="call", strike=-1.0, expiry=1.0))
    return pd.DataFrame(rows)


# the killed run is slowed down (each task waits before pricing) so the kill lands mid-run on any machine;
# the numbers do not depend on timing
SLOW_CLI = """
import sys, time
import pricer.book as book
original = book.price_task
def slow(task):
    time.sleep(0.3)
    return original(task)
book.price_task = slow
from pricer.cli import app
app(sys.argv[1:], prog_name="exotics")
"""


def _cli(args, env, slow=False):
    command = [sys.executable, "-c", SLOW_CLI, *args] if slow else [sys.executable, "-m", "pricer.cli", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_killed_run_resumes_to_the_same_file(tmp_path):
    book, market = tmp_path / "book.csv", tmp_path / "market.csv"
    _book().to_csv(book, index=False)
    MARKET.to_csv(market, index=False)
    env = dict(os.environ, EXOTICS_CACHE_DIR=str(tmp_path / "jax-cache"))
    args = lambda out: ["price-book", str(book), "--market", str(market), "-o", str(out), "--paths", "2048"]  # noqa: E731

    out = tmp_path / "resumed.parquet"
    parts = tmp_path / "resumed.parquet.parts"
    killed = _cli(args(out), env, slow=True)
    deadline = time.monotonic() + 240
    while killed.poll() is None and not list(parts.glob("part-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert killed.poll() is None, f"the run ended before it could be killed: {killed.communicate()}"
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    written = len(list(parts.glob("part-*.parquet")))
    assert 1 <= written < len(EXPIRIES) and not out.exists()

    resumed = _cli([*args(out), "--resume"], env)
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 2, stderr    # written, with the BAD trade an error: a partial run
    stdout = " ".join(stdout.split())             # the console may wrap long lines
    reused = int(stdout.split("trades priced (")[1].split(" reused")[0])
    assert reused >= 2 * written, stdout          # two trades per part were not priced again
    assert not parts.exists()                     # a finished run cleans up its parts

    plain_out = tmp_path / "plain.parquet"
    plain = _cli(args(plain_out), env)
    _, stderr = plain.communicate(timeout=300)
    assert plain.returncode == 2, stderr

    resumed_frame, plain_frame = pd.read_parquet(out), pd.read_parquet(plain_out)
    pd.testing.assert_frame_equal(resumed_frame, plain_frame)
    assert np.array_equal(resumed_frame["price"].to_numpy(), plain_frame["price"].to_numpy(), equal_nan=True)
    assert list(resumed_frame["status"]).count("error") == 1 and "strike" in resumed_frame.loc[7, "error"]
    assert list(resumed_frame["trade_id"]) == list(_book()["trade_id"])


MC = MonteCarlo(paths=2048, steps_per_year=12, seed=5, dtype="float64")


def test_a_changed_input_is_priced_again_and_the_rest_reused(tmp_path):
    book = _book().iloc[:12]
    parts = tmp_path / "parts"
    counts = []
    progress = lambda done, total: counts.append((done, total))  # noqa: E731
    first = price_book_resumable(prepare_book(book, MARKET, MC), parts, progress=progress)
    pd.testing.assert_frame_equal(first, price_book(book, MARKET, MC))
    assert counts[0] == (0, 11) and counts[-1] == (11, 11)

    counts.clear()
    again = price_book_resumable(prepare_book(book, MARKET, MC), parts, resume=True, progress=progress)
    pd.testing.assert_frame_equal(again, first)
    assert counts == [(11, 11)]                   # everything reused

    changed = book.copy()
    changed.loc[0, "strike"] = 111.0              # one trade edited, one quantity changed (per-unit numbers keep)
    changed.loc[1, "quantity"] = 7
    counts.clear()
    result = price_book_resumable(prepare_book(changed, MARKET, MC), parts, resume=True, progress=progress)
    pd.testing.assert_frame_equal(result, price_book(changed, MARKET, MC))
    assert counts[0] == (10, 11)

    counts.clear()
    moved = MARKET.assign(vol=0.3)                # a market change reprices the underlying's trades
    result = price_book_resumable(prepare_book(changed, moved, MC), parts, resume=True, progress=progress)
    pd.testing.assert_frame_equal(result, price_book(changed, moved, MC))
    assert counts[0] == (0, 11)
    counts.clear()
    other_seed = MonteCarlo(paths=2048, steps_per_year=12, seed=6, dtype="float64")
    price_book_resumable(prepare_book(changed, moved, other_seed), parts, resume=True, progress=progress)
    assert counts[0] == (0, 11)                   # and so do other Monte Carlo settings

    (parts / ".part-0.tmp").write_bytes(b"half a file")   # what a kill mid-write leaves
    (parts / "part-damaged.parquet").write_bytes(b"not parquet")
    with pytest.warns(UserWarning, match="unreadable part file"):
        result = price_book_resumable(prepare_book(changed, moved, MC), parts, resume=True)
    pd.testing.assert_frame_equal(result, price_book(changed, moved, MC))
    assert not (parts / ".part-0.tmp").exists()


runner = CliRunner()


def test_price_book_command_errors_are_one_line(tmp_path):
    book, market = tmp_path / "book.csv", tmp_path / "market.csv"
    _book().iloc[:3].to_csv(book, index=False)
    MARKET.drop(columns="model").to_csv(market, index=False)
    env = {"EXOTICS_CACHE_DIR": ""}
    result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(tmp_path / "o.parquet")], env=env)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "market.csv" in result.output and "'model'" in result.output
    MARKET.to_csv(market, index=False)
    result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(tmp_path / "o.parquet"),
                                 "--paths", "1"], env=env)
    assert result.exit_code == 2 and "--paths" in result.output
    result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(tmp_path / "o.parquet"),
                                 "--scheduler", "nonsense://nowhere"], env=env)
    assert result.exit_code == 2 and "--scheduler" in result.output   # cannot connect, or dask not installed
    assert len(result.output.strip().splitlines()) == 1


def test_price_book_command_reads_cells_as_text(tmp_path):
    # pandas' CSV guesses made "#N/A" a blank (quantity 1 and a continuous barrier, status ok), "0012" the
    # same trade as "12" and a ticker column with one blank floats ("7203.0" not in the market)
    book, market, out = tmp_path / "book.csv", tmp_path / "market.csv", tmp_path / "o.csv"
    book.write_text("trade_id,underlying,product,call_put,strike,expiry,quantity,barrier,barrier_type,monitoring\n"
                    "Q1,7203,european,call,100,1,#N/A,,,\n"
                    "Q2,7203,barrier,call,100,1,1,130,up-and-out,N/A\n"
                    "0012,7203,european,call,100,1,2,,,\n"
                    "12,7203,european,put,100,1,2,,,\n"
                    "NA,7203,european,call,90,1,1,,,\n"
                    "Q6,,european,call,100,1,1,,,\n")
    market.write_text("underlying,model,spot,rate,dividend,vol\n7203,black_scholes,100,0.02,0,0.25\n")
    result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(out), "--paths", "2048"],
                           env={"EXOTICS_CACHE_DIR": ""})
    assert result.exit_code == 2, result.output   # the good rows written, the bad ones named
    rows = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("trade_id")
    assert list(rows.index) == ["Q1", "Q2", "0012", "12", "NA", "Q6"]
    assert "quantity must be a number, got '#N/A'" in rows.loc["Q1", "error"]
    assert "monitoring" in rows.loc["Q2", "error"]
    assert (rows.loc[["0012", "12", "NA"], "status"] == "ok").all()
    assert "underlying is missing" in rows.loc["Q6", "error"]


def test_price_book_command_prints_user_text_verbatim_and_checks_the_output_first(tmp_path):
    book, market = tmp_path / "book.csv", tmp_path / "market.csv"
    book.write_text("trade_id,underlying,product,call_put,strike,expiry\n[red]T1,X,european,call,[/],1\n")
    MARKET.to_csv(market, index=False)
    env = {"EXOTICS_CACHE_DIR": ""}
    # rich read "[/]" as a closing tag (MarkupError, a traceback) and "[red]T1" as a colour
    result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(tmp_path / "o.csv")], env=env)
    assert result.exit_code == 2   # nothing priced: an error
    assert "[red]T1" in result.output and "got '[/]'" in result.output
    (tmp_path / "afile").write_text("")
    for output, words in [(tmp_path / "afile" / "o.csv", "is a file"), (tmp_path, "is a directory"),
                          (tmp_path / "o.xlsx", ".csv or .parquet")]:
        result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(output)], env=env)
        assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(tmp_path / "o.csv"),
                                 "--greeks", "delta,foo"], env=env)
    assert result.exit_code == 2 and "--greeks: unknown greek 'foo'" in result.output


# --------------------------------------------------------------------------------------------------
# exotics calibrate: prices -> GARCH per column -> market file


def _garch_prices(rows=700, seed=0):
    """Prices of three simulated GJR-GARCH underlyings (decimal daily units); CCC starts 100 rows later."""
    rng = np.random.default_rng(seed)
    columns = {}
    for name, (omega, alpha, beta, gamma) in {"AAA": (2e-6, 0.05, 0.90, 0.06), "BBB": (4e-6, 0.08, 0.88, 0.0),
                                              "CCC": (1e-6, 0.04, 0.93, 0.03)}.items():
        h, returns = omega / (1 - alpha - beta - gamma / 2), []
        for e in rng.standard_normal(rows):
            returns.append(np.sqrt(h) * e)
            h = omega + (alpha + gamma * (e < 0)) * h * e * e + beta * h
        columns[name] = 100.0 * np.exp(np.cumsum(returns))
    frame = pd.DataFrame(columns)
    frame.loc[:99, "CCC"] = np.nan
    frame.insert(0, "Date", pd.bdate_range("2021-01-04", periods=rows).strftime("%Y-%m-%d"))
    return frame


def test_calibrate_writes_a_market_file_that_price_book_uses(tmp_path):
    prices = _garch_prices()
    prices.iloc[::-1].to_csv(tmp_path / "prices.csv", index=False)     # newest first: sorted by date
    env = {"EXOTICS_CACHE_DIR": ""}
    result = runner.invoke(app, ["calibrate", str(tmp_path / "prices.csv"), "-o", str(tmp_path / "market.csv"),
                                 "--rate", "0.02"], env=env)
    assert result.exit_code == 0, result.output
    market = pd.read_csv(tmp_path / "market.csv")
    assert list(market.columns) == ["underlying", "model", "spot", "rate", "dividend", "omega", "alpha", "beta",
                                    "gamma", "h0"]
    assert list(market["underlying"]) == ["AAA", "BBB", "CCC"] and (market["model"] == "garch").all()
    np.testing.assert_array_equal(market["spot"], prices[["AAA", "BBB", "CCC"]].iloc[-1].to_numpy())
    assert (market["rate"] == 0.02).all() and (market["dividend"] == 0.0).all()
    # decimal daily units: omega ~ 1e-6, h0 ~ 1e-4 (the simulated long-run variances are 4e-5 .. 2e-4)
    assert market["omega"].between(1e-8, 1e-4).all() and market["h0"].between(1e-6, 1e-2).all()
    assert (market["alpha"] + market["beta"] + market["gamma"] / 2 < 1).all()

    book = pd.DataFrame([dict(trade_id=f"T{k}", underlying=u, product="european", call_put="call",
                              strike=float(s), expiry=0.5) for k, (u, s) in enumerate(zip(market["underlying"], market["spot"]))])
    book.to_csv(tmp_path / "book.csv", index=False)
    result = runner.invoke(app, ["price-book", str(tmp_path / "book.csv"), "-m", str(tmp_path / "market.csv"),
                                 "-o", str(tmp_path / "out.csv"), "--paths", "2048"], env=env)
    assert result.exit_code == 0, result.output
    assert (pd.read_csv(tmp_path / "out.csv")["status"] == "ok").all()


def test_calibrate_rate_and_dividend_share_the_library_limits(tmp_path, capsys):
    """--rate / --dividend were refused beyond +-100% while the models and books took up to +-200%: one limit
    now (RATE_LIMIT), checked before any fitting, with a warning line between 100% and 200%."""
    from pricer._cli_calibrate import check_rate_dividend
    (tmp_path / "prices.csv").write_text("never read\n")
    result = runner.invoke(app, ["calibrate", str(tmp_path / "prices.csv"), "-o", str(tmp_path / "m.csv"),
                                 "--rate", "2.5"], env={"EXOTICS_CACHE_DIR": ""})
    assert result.exit_code != 0 and "--rate 2.5: beyond +-2 (200%) it looks like percent; pass decimals " \
                                     "(0.025 for 2.5%)" in " ".join(result.output.split())
    check_rate_dividend(0.02, 1.5)
    said = " ".join(capsys.readouterr().err.split())
    assert "warning: --dividend 1.5 is 150% a year: used as given; if it is a percentage, pass decimals " \
           "(0.015 for 1.5%)" in said and "--rate" not in said
    check_rate_dividend(0.02, -1.0)
    assert capsys.readouterr().err == ""


def test_calibrate_heston(tmp_path):
    try:
        from calibrator import garch_to_heston  # noqa: F401
    except ImportError:
        _garch_prices().to_csv(tmp_path / "prices.csv", index=False)
        result = runner.invoke(app, ["calibrate", str(tmp_path / "prices.csv"), "-o", str(tmp_path / "m.csv"),
                                     "--model", "heston"])
        assert result.exit_code == 2 and "garch_to_heston" in result.output
        return
    _garch_prices()[["Date", "AAA"]].to_csv(tmp_path / "prices.csv", index=False)
    result = runner.invoke(app, ["calibrate", str(tmp_path / "prices.csv"), "-o", str(tmp_path / "m.csv"),
                                 "--model", "heston", "--vol", "garch"])
    assert result.exit_code == 0, result.output
    market = pd.read_csv(tmp_path / "m.csv")
    assert list(market.columns) == ["underlying", "model", "spot", "rate", "dividend", "v0", "kappa", "theta", "xi", "rho"]
    assert market["model"].tolist() == ["heston"] and market[["v0", "kappa", "theta", "xi"]].gt(0).all(axis=None)


def _calibrate_error(tmp_path, frame, *extra):
    """The one-line error of ``exotics calibrate`` on ``frame``; a problem in the file names the file."""
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["calibrate", str(path), "-o", str(tmp_path / "m.csv"), *extra])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "prices.csv" in result.output or extra
    return result.output


def _calibrate_skips(tmp_path, frame):
    """``exotics calibrate`` on ``frame`` with bad columns: (output, underlyings written). A bad column is
    named with its row on its own line and left out; the good ones are still calibrated and written (exit 2)."""
    path, out = tmp_path / "prices.csv", tmp_path / "m.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["calibrate", str(path), "-o", str(out)])
    assert result.exit_code == 2, result.output    # an error, though the good columns are written
    return result.output, list(pd.read_csv(out)["underlying"])


def test_calibrate_names_a_bad_column_and_row_and_writes_the_others(tmp_path):
    prices = _garch_prices(rows=150)
    text = prices.astype(object)
    text.loc[41, "BBB"] = "12,5"
    output, written = _calibrate_skips(tmp_path, text)
    assert "skipped: " in output and "column 'BBB', row 42 (line 43): '12,5' is not a number" in output
    assert "column 'CCC' has 50 prices; a GARCH fit needs at least 101" in output
    assert written == ["AAA"]
    gap = prices.copy()
    gap.loc[60, "AAA"] = np.nan
    output, written = _calibrate_skips(tmp_path, gap)
    assert "column 'AAA', row 61 (line 62): missing price inside the series" in output and written == ["BBB"]
    negative = prices.copy()
    negative.loc[5, "AAA"] = -1.0
    output, written = _calibrate_skips(tmp_path, negative)
    assert "column 'AAA', row 6 (line 7): a price must be > 0" in output and written == ["BBB"]
    # nothing left to write, or a problem of the whole file: one line, exit 2
    assert "column 'CCC' has 50 prices" in _calibrate_error(tmp_path, prices[["Date", "CCC"]])
    dates = prices.drop(columns="CCC").astype(object)
    dates.loc[3, "Date"] = "someday"
    assert "column 'Date', row 4 (line 5): 'someday' is not a date" in _calibrate_error(tmp_path, dates)
    assert "--model must be garch or heston" in _calibrate_error(tmp_path, prices.drop(columns="CCC"), "--model", "sabr")
    result = runner.invoke(app, ["calibrate", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "m.csv")])
    assert result.exit_code == 2 and "nope.csv: no such prices file" in result.output
    # an output that is a directory: refused before fitting (it fitted, then died with IsADirectoryError)
    (tmp_path / "prices.csv").write_text(prices.drop(columns="CCC").to_csv(index=False))
    result = runner.invoke(app, ["calibrate", str(tmp_path / "prices.csv"), "-o", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.output and "Traceback" not in result.output


def test_calibrate_refuses_a_bad_tick(tmp_path):
    # one price of 1e-320 among ~100s used to be fitted: omega 1841 (decimal daily variance), exit 0
    prices = _garch_prices(rows=150).drop(columns="CCC")
    prices.loc[70, "AAA"] = 1e-300
    output, written = _calibrate_skips(tmp_path, prices)
    assert "column 'AAA', row 71 (line 72): the price moves from" in output and "bad tick" in output
    assert written == ["BBB"]
    message = _calibrate_error(tmp_path, prices[["Date", "AAA"]])
    assert "column 'AAA', row 71 (line 72): the price moves from" in message


def test_calibrate_refuses_repeated_or_blank_column_names(tmp_path):
    # pandas renamed them "AAA.1" and "Unnamed: 1": a second underlying nobody asked for
    prices = _garch_prices(rows=150).drop(columns="CCC")
    path = tmp_path / "prices.csv"
    text = prices.to_csv(index=False).splitlines()
    for header, word in (("Date,AAA,AAA", "'AAA' appears twice"), ("Date,AAA,", "column 3 of the prices file has no name")):
        path.write_text("\n".join([header, *text[1:]]) + "\n")
        result = runner.invoke(app, ["calibrate", str(path), "-o", str(tmp_path / "m.csv")])
        assert result.exit_code == 2 and word in result.output, result.output


def test_calibrate_flags_a_near_integrated_heston_row(tmp_path):
    rng = np.random.default_rng(1)
    h, returns = 1e-4, []
    for e in rng.standard_normal(1500):    # alpha + beta = 1: an integrated GARCH
        returns.append(np.sqrt(h) * e)
        h = 1e-9 + 0.1 * h * e * e + 0.9 * h
    pd.DataFrame({"III": 100 * np.exp(np.cumsum(returns))}).to_csv(tmp_path / "prices.csv", index=False)
    result = runner.invoke(app, ["calibrate", str(tmp_path / "prices.csv"), "-o", str(tmp_path / "m.csv"),
                                 "--model", "heston", "--vol", "garch"])
    assert result.exit_code == 0, result.output
    assert "column 'III': the GARCH fit is near-integrated" in result.output and "not identified" in result.output


def test_report_folders_are_checked_before_any_work(tmp_path):
    # exotics risk -o <a file> ran, then died with FileExistsError
    (tmp_path / "afile").write_text("")
    for command in (["risk", "--quick"], ["demo"]):
        for out, words in [(tmp_path / "afile", "is not a folder"), (tmp_path / "afile" / "r", "is a file")]:
            result = runner.invoke(app, [*command, "-o", str(out)])
            assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output


def test_errors_give_each_rows_line_in_the_csv_and_the_exit_code_tells_a_partial_run(tmp_path):
    # pandas skips blank lines and joins a quoted cell's lines, so "row N" alone sent the user to the
    # wrong line; a run with failed trades exited 0, like a clean one
    book, market, out = tmp_path / "book.csv", tmp_path / "market.csv", tmp_path / "o.csv"
    book.write_text('trade_id,underlying,product,call_put,strike,expiry,quantity\n'
                    '\n'
                    'A,X,european,call,100,1,"1"\n'
                    'B,X,european,call,-5,1,"2\n'
                    '"\n'
                    '\n'
                    'C,Y,european,put,100,1,1\n')
    market.write_text("underlying,model,spot,rate,dividend,vol\nX,black_scholes,100,0.02,0,0.2\n\n"
                      "Y,black_scholes,100,0.02,0,25\n")
    env = {"EXOTICS_CACHE_DIR": ""}
    base = ["price-book", str(book), "-m", str(market), "-o", str(out)]
    result = runner.invoke(app, [*base, "--paths", "2_048"], env=env)
    assert result.exit_code == 2, result.output
    rows = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("trade_id")
    assert rows.loc["A", "status"] == "ok"
    assert rows.loc["B", "error"].startswith("row 2 (line 4, trade_id B): strike must be > 0")
    assert rows.loc["C", "error"].startswith("row 3 (line 7, trade_id C): market row 2 (line 4, Y)")
    assert "row 2 (line 4, trade_id B)" in result.output
    # the same book with the bad rows left out: a clean run, exit 0; --paths written as 2e3 is 2000 paths
    book.write_text("trade_id,underlying,product,call_put,strike,expiry\nA,X,european,call,100,1\n")
    result = runner.invoke(app, [*base, "--paths", "2e3"], env=env)
    assert result.exit_code == 0, result.output
    for paths in ("2.5", "lots"):
        result = runner.invoke(app, [*base, "--paths", paths], env=env)
        assert result.exit_code == 2 and "is not a whole number" in result.output


def test_a_bad_market_row_is_named_once_under_the_market_file(tmp_path):
    # it was printed once per trade on that underlying, each time under the book's name
    book, market, out = tmp_path / "book.csv", tmp_path / "market.csv", tmp_path / "o.csv"
    rows = [f"T{k},Y,european,call,{100 + k},1" for k in range(12)] + ["G,X,european,call,100,1", "B,X,european,call,-1,1"]
    book.write_text("trade_id,underlying,product,call_put,strike,expiry\n" + "\n".join(rows) + "\n")
    market.write_text("underlying,model,spot,rate,dividend,vol\nX,black_scholes,100,0.02,0,0.2\nY,black_scholes,,0.02,0,0.2\n")
    result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(out), "--paths", "2048"],
                           env={"EXOTICS_CACHE_DIR": ""})
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    problem = "market row 2 (line 3, Y), black_scholes: spot is missing"
    assert [line for line in lines if problem in line] == [f"{market}: {problem}"]
    assert f"{book}: row 14 (line 15, trade_id B): strike must be > 0, got -1.0" in lines
    assert any("12 trade(s) not priced because their market row is an error" in line for line in lines)
    results = pd.read_csv(out, keep_default_na=False)
    assert (results["error"].str.contains(problem, regex=False).sum(), list(results["status"][12:])) == (12, ["ok", "error"])


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where nothing can be created")
def test_an_output_nobody_can_create_is_one_line_before_any_work(tmp_path):
    # permission bits let root "write" there: the run priced the book, then died in a 60-line traceback
    _book().to_csv(tmp_path / "book.csv", index=False)
    MARKET.to_csv(tmp_path / "market.csv", index=False)
    for args in (["price-book", str(tmp_path / "book.csv"), "-m", str(tmp_path / "market.csv"), "-o", "/proc/x.csv"],
                 ["demo", "-o", "/proc/report"]):
        result = runner.invoke(app, args, env={"EXOTICS_CACHE_DIR": ""})
        assert result.exit_code == 2 and "cannot write in /proc" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1


def test_a_line_of_spaces_is_skipped_like_a_blank_one(tmp_path):
    # pandas skips a line holding only spaces or a tab; counted as a record, it cost the file its line numbers
    book, market, out = tmp_path / "book.csv", tmp_path / "market.csv", tmp_path / "o.csv"
    book.write_text("trade_id,underlying,product,call_put,strike,expiry\n   \nA,X,european,call,100,1\n\t\n"
                    "B,X,european,call,-2,1\n")
    MARKET.to_csv(market, index=False)
    result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(out), "--paths", "2048"],
                           env={"EXOTICS_CACHE_DIR": ""})
    assert result.exit_code == 2 and f"{book}: row 2 (line 5, trade_id B): strike must be > 0" in result.output


def test_a_repeated_market_row_gives_both_lines():
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as folder:
        book, market, out = Path(folder) / "b.csv", Path(folder) / "m.csv", Path(folder) / "o.csv"
        book.write_text("trade_id,underlying,product,call_put,strike,expiry\nA,X,european,call,100,1\n")
        market.write_text("underlying,model,spot,rate,dividend,vol\nX,black_scholes,100,0.02,0,0.2\n\n"
                          "X,black_scholes,101,0.02,0,0.2\n")
        result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(out)],
                               env={"EXOTICS_CACHE_DIR": ""})
        assert result.exit_code == 2
        assert f"{market}: underlying 'X' has 2 market rows (1 (line 2), 2 (line 4))" in result.output


def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path):
    """-o naming the book (or the market file) replaced the trades with the results and exited 0."""
    book, market = tmp_path / "book.csv", tmp_path / "market.csv"
    _book().iloc[:3].to_csv(book, index=False)
    MARKET.to_csv(market, index=False)
    before = book.read_bytes(), market.read_bytes()
    env = {"EXOTICS_CACHE_DIR": ""}
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(book)
    # the same file by another spelling (resolved) and by a link (resolved, or the same inode)
    for output, what in ((book, "book"), (market, "market"), (tmp_path / "sub" / ".." / "book.csv", "book"),
                         (tmp_path / "link.csv", "book")):
        result = runner.invoke(app, ["price-book", str(book), "-m", str(market), "-o", str(output), "--paths", "2048"],
                               env=env)
        assert result.exit_code == 2 and f"the output is the {what} file itself" in result.output
    assert (book.read_bytes(), market.read_bytes()) == before
    prices = tmp_path / "prices.csv"
    pd.DataFrame({"X": 100.0 * np.exp(np.cumsum(np.full(300, 0.01) * np.resize([1, -1, 2, -2], 300)))}).to_csv(
        prices, index=False)
    result = runner.invoke(app, ["calibrate", str(prices), "-o", str(prices)], env=env)
    assert result.exit_code == 2 and "the output is the prices file itself" in result.output


def test_a_percent_like_market_rate_is_named_with_its_row_by_the_book_and_the_cli(tmp_path):
    """A dividend of 1.5 (150% a year, or a 1.5% yield typed as percent) in a market file: priced as given, and
    named with its market row, by price_book (a PercentLikeWarning at the caller's line) and by the CLI (a
    warning line naming the file; it had printed a raw Python warning pointing into typer)."""
    import warnings

    from pricer import PercentLikeWarning, price_book
    market = pd.DataFrame([dict(underlying="X", model="black_scholes", spot=100.0, rate=0.02, dividend=1.5, vol=0.2)])
    book = pd.DataFrame([dict(trade_id="T1", underlying="X", product="european", call_put="put", strike=100.0,
                              expiry=0.5)])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = price_book(book, market, mc=MonteCarlo(paths=2048))
    said = [(str(w.message), w.filename) for w in record if w.category is PercentLikeWarning]
    assert said == [("market row 1 (X): dividend 1.5 is 150% a year: used as given; if it is a percentage, pass "
                     "decimals (0.015 for 1.5%)", __file__)]
    assert (result["status"] == "ok").all()
    market.to_csv(tmp_path / "market.csv", index=False)
    book.to_csv(tmp_path / "book.csv", index=False)
    run = runner.invoke(app, ["price-book", str(tmp_path / "book.csv"), "-m", str(tmp_path / "market.csv"),
                              "-o", str(tmp_path / "out.csv"), "--paths", "2048"], env={"EXOTICS_CACHE_DIR": ""})
    assert run.exit_code == 0, run.output
    assert (f"warning: {tmp_path / 'market.csv'}: market row 1 (line 2, X): dividend 1.5 is 150% a year"
            in " ".join(run.output.split()))
