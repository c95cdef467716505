"""The command line: results files, one-line errors with exit code 2."""
import pandas as pd
from typer.testing import CliRunner

from pricer.cli import app

runner = CliRunner()


def test_price_book_writes_results_and_reports_bad_rows(tmp_path):
    book = pd.DataFrame([
        dict(trade_id="A", underlying="X", product="european", call_put="call", strike=100.0, expiry=1.0),
        dict(trade_id="B", underlying="X", product="barrier", call_put="put", strike=100.0, expiry=1.0,
             barrier=80.0, barrier_type="down-and-out"),
        dict(trade_id="C", underlying="X", product="european", call_put="call", strike=-1.0, expiry=1.0),
    ])
    market = pd.DataFrame([dict(underlying="X", model="black_scholes", spot=100.0, rate=0.02, dividend=0.0, vol=0.2)])
    book.to_csv(tmp_path / "book.csv", index=False)
    market.to_csv(tmp_path / "market.csv", index=False)
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["price-book", str(tmp_path / "book.csv"), "--market", str(tmp_path / "market.csv"),
                                 "-o", str(out), "--paths", "2048"], env={"EXOTICS_CACHE_DIR": ""})
    assert result.exit_code == 2, result.output   # written, one row an error: partly done
    results = pd.read_parquet(out)
    assert list(results["status"]) == ["ok", "ok", "error"]
    assert "strike" in results.loc[2, "error"] and "row 3" in results.loc[2, "error"]
    assert "strike" in result.output


def test_missing_file_is_one_line_and_exit_code_2(tmp_path):
    result = runner.invoke(app, ["price-book", str(tmp_path / "nope.csv"), "--market", str(tmp_path / "m.csv"),
                                 "-o", str(tmp_path / "o.csv")], env={"EXOTICS_CACHE_DIR": ""})
    assert result.exit_code == 2
    assert "nope.csv" in result.output and len(result.output.strip().splitlines()) == 1


def test_every_command_has_help():
    for command in ("demo", "price-book", "risk", "bench", "calibrate", "train-calibrator"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def _one_line_error(result, *parts):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and all(p in lines[0] for p in parts), result.output


def test_demo_checks_its_options_before_any_work(tmp_path):
    # a typo used to run the GARCH fit first, then end in a traceback with exit code 1 and half a report
    for options, parts in ((["--greeks", "detla"], ("--greeks", "detla")), (["--paths", "1"], ("--paths", "got 1")),
                           (["--paths", "-5"], ("--paths", "got -5"))):
        out = tmp_path / "report"
        _one_line_error(runner.invoke(app, ["demo", "-o", str(out), *options], env={"EXOTICS_CACHE_DIR": ""}), *parts)
        assert not out.exists()


def test_bench_checks_its_counts_before_any_work():
    # --quantlib-paths -3 made QuantLib loop forever; 0 and 1 raised QuantLib's own RuntimeError; --paths 0
    # failed only after the QuantLib runs
    for options, parts in ((["--quantlib-paths", "-3"], ("quantlib_paths", "-3")),
                           (["--quantlib-paths", "1"], ("quantlib_paths", "got 1")),
                           (["--paths", "0"], ("paths", "got 0"))):
        _one_line_error(runner.invoke(app, ["bench", *options], env={"EXOTICS_CACHE_DIR": ""}), *parts)


def test_calibrate_names_a_mistyped_model_option_not_the_file(tmp_path):
    prices = tmp_path / "prices.csv"
    pd.DataFrame({"X": [100.0 + i for i in range(10)]}).to_csv(prices, index=False)
    for option, value in (("--vol", "gjrr"), ("--dist", "student"), ("--mean", "const")):
        result = runner.invoke(app, ["calibrate", str(prices), "-o", str(tmp_path / "m.csv"), option, value],
                               env={"EXOTICS_CACHE_DIR": ""})
        _one_line_error(result, option, value)
        assert "prices.csv" not in result.output
