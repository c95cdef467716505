"""The ``exotics`` command line: demo, calibrate, price-book, risk, bench, train-calibrator.

Errors are one line naming the file (and row and field where there is one), with exit code 2; so is a run
that wrote its output with some trades (price-book) or columns (calibrate) left out as errors.
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ._cli_io import ERROR_EXIT, CliError, _check_folder, _check_output, _read_table, _write_table, count, run_settings, say

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Exotic option pricing and GARCH/Heston calibration, in JAX.")
console = Console()


def _enable_compilation_cache():
    """Keep compiled programs between runs of the command line (a library import changes no JAX flags;
    the command line is an application). EXOTICS_CACHE_DIR overrides the folder; an empty value disables."""
    import os
    folder = os.environ.get("EXOTICS_CACHE_DIR", str(Path.home() / ".cache" / "exotics" / "jax"))
    if not folder:
        return
    import jax
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@app.callback()
def _setup():
    from .benchmark import use_all_cpu_cores
    use_all_cpu_cores()
    _enable_compilation_cache()


def _message(exc: Exception) -> str:
    """The one line of a CliError, or of an OSError (the file and the system's reason)."""
    if not isinstance(exc, OSError):
        return str(exc)
    return f"{exc.filename}: {exc.strerror or type(exc).__name__}" if exc.filename else f"{type(exc).__name__}: {exc}"


def _fail(message: str):
    say("error:", "bold red", message)
    raise typer.Exit(code=ERROR_EXIT)


def _show(frame, title: str, limit: int = 20):
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        table.add_column(str(column), justify="right" if frame[column].dtype.kind in "fiu" else "left")
    for _, row in frame.head(limit).iterrows():
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    if len(frame) > limit:
        console.print(f"... {len(frame) - limit} more rows")


@app.command()
def demo(out: Path = typer.Option(Path("exotics-report"), "--out", "-o", help="report folder"),
         paths: int = typer.Option(20_000, parser=count, help="Monte Carlo paths per trade group"),
         greeks: Optional[str] = typer.Option(None, help="comma-separated Greeks to add, e.g. delta,vega")):
    """The whole pipeline on embedded data: S&P 500 returns -> GJR-GARCH-t (MLE) -> Heston initial values ->
    the example book (barriers, Asians, Europeans on four underlyings) by Monte Carlo -> a report folder."""
    try:
        from .demo import run
        _, names = run_settings(paths, 0, greeks)
        _check_folder(out)
        start = time.perf_counter()
        with console.status("working") as status:
            summary = run(out, paths=paths, greeks=names,
                          log=lambda message: (console.print(message), status.update(message)))
        results, trades = summary["results"], summary["trades"]
        columns = ["trade_id", "price", "stderr", "value", *names, "status"]
        _show(results[columns].merge(trades[["trade_id", "underlying", "product"]], on="trade_id"),
              "Example book (per-unit price and standard error; value = quantity x price)")
        ok = (results["status"] == "ok").sum()
        console.print(f"{ok}/{len(results)} trades priced; book value {results['value'].sum():,.2f}; "
                      f"{time.perf_counter() - start:.1f} s in all; report written to {out}/")
    except (CliError, OSError) as exc:   # OSError: a disk that fills, a folder that goes away: one line too
        _fail(_message(exc))




@app.command()
def calibrate(prices: Path = typer.Argument(..., help="daily prices, CSV or Parquet: one column per underlying, "
                                            "a date column optional"),
              output: Path = typer.Option(..., "--output", "-o", help="market file to write, .csv or .parquet"),
              model: str = typer.Option("garch", "--model", help="garch, or heston (mapped from the GARCH fit)"),
              method: str = typer.Option("mle", "--method", help="mle: exact maximum likelihood"),
              vol: str = typer.Option("gjr", "--vol", help="garch or gjr (asymmetric)"),
              dist: str = typer.Option("normal", "--dist", help="innovations: normal or t"),
              mean: str = typer.Option("zero", "--mean", help="zero or constant"),
              rate: float = typer.Option(0.0, "--rate", help="risk-free rate written to the market file"),
              dividend: float = typer.Option(0.0, "--dividend", help="dividend yield written to the market file")):
    """Fit GARCH to each price column and write a market file for price-book.

    Log returns in percent (for scale) are fitted per column by calibrator.fit_garch in float64; the market
    row converts back to decimal daily units: omega, alpha, beta, gamma, h0 (the one-step-ahead conditional
    variance after the last price), spot = the last price. --model heston maps the fit to Heston parameters
    (calibrator.garch_to_heston). A column may start later or end earlier than the others (blank cells at its
    ends); a blank inside it, text, or a price <= 0 is an error naming the column and row. Such a column is
    left out and the others written, with exit code 2 (as when no column can be written)."""
    try:
        model, method = model.strip().lower(), method.strip().lower()
        if model not in ("garch", "heston"):
            raise CliError(f"--model must be garch or heston, got {model!r}")
        if method != "mle":
            raise CliError(f"--method must be mle (exact maximum likelihood), got {method!r}")
        from calibrator.garch import DISTS, MEANS, VOLS
        for option, value, allowed in (("--vol", vol, VOLS), ("--dist", dist, DISTS), ("--mean", mean, MEANS)):
            if value.strip().lower() not in allowed:   # the option's mistake, not the prices file's
                raise CliError(f"{option} must be {' or '.join(allowed)}, got {value!r}")
        vol, dist, mean = vol.strip().lower(), dist.strip().lower(), mean.strip().lower()
        to_heston = None
        if model == "heston":
            try:
                from calibrator import garch_to_heston as to_heston
            except ImportError:
                raise CliError("--model heston needs calibrator.garch_to_heston, which this version does not have; "
                               "use --model garch") from None
        import jax
        jax.config.update("jax_enable_x64", True)   # an application's choice: fit in float64
        from ._cli_calibrate import check_rate_dividend, fit_garch_columns, market_rows, price_series
        check_rate_dividend(rate, dividend)   # before the fit: a typo costs no fitting time
        _check_output(output, {"prices": prices})
        # a bad column never stops the good ones: it is named, left out of the market file, and the rest written
        series, skipped = price_series(_read_table(prices, "prices"), prices)
        fits = {}
        if series:
            with console.status(f"fitting {vol.upper()}-{dist} by MLE to {len(series)} series"):
                fits, failed = fit_garch_columns(series, prices, method=method, vol=vol, dist=dist, mean=mean)
            skipped.update(failed)
        series = {name: values for name, values in series.items() if name in fits}
        if not series:
            reasons = list(skipped.values())
            raise CliError(reasons[0] if len(reasons) == 1 else
                           f"{prices}: no column could be calibrated ({len(reasons)} columns; first: {reasons[0]})")
        for message in skipped.values():
            say("skipped:", "yellow", message)
        market = market_rows(series, fits, prices, rate=rate, dividend=dividend, to_heston=to_heston)
        _write_table(market, output)
        table = Table(title=f"Market from {prices.name} ({model})")
        for column in market.columns:
            table.add_column(str(column), justify="left" if column in ("underlying", "model") else "right")
        for _, row in market.iterrows():
            table.add_row(*[f"{v:.6g}" if isinstance(v, float) else str(v) for v in row])
        console.print(table)
        say(f"{len(market)}", "", f"underlyings{f' ({len(skipped)} column(s) skipped)' if skipped else ''}; "
                                  f"wrote {output}", console)
        if skipped:
            raise typer.Exit(code=ERROR_EXIT)
    except (CliError, OSError) as exc:   # OSError: a disk that fills, a folder that goes away: one line too
        _fail(_message(exc))


@app.command("price-book")
def price_book_command(book: Path = typer.Argument(..., help="trades, CSV or Parquet"),
                       market: Path = typer.Option(..., "--market", "-m", help="market file, CSV or Parquet"),
                       output: Path = typer.Option(..., "--output", "-o", help="results, .csv or .parquet"),
                       paths: int = typer.Option(10_000, parser=count, help="Monte Carlo paths"),
                       seed: int = typer.Option(0, help="random seed"),
                       greeks: Optional[str] = typer.Option(None, help="comma-separated, e.g. delta,vega"),
                       resume: bool = typer.Option(False, "--resume", help="reuse the finished parts of an interrupted run "
                                                   "(in OUTPUT.parts/); a changed trade, market row or setting is priced again"),
                       scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask.distributed scheduler address, "
                                                               "e.g. tcp://10.0.0.5:8786: spread the work over its workers"),
                       keep_parts: bool = typer.Option(False, "--keep-parts", help="keep OUTPUT.parts/ after a finished run "
                                                       "(a later --resume then reprices only what changed)")):
    """Revalue a book of trades: one result row per trade, errors per row.

    Results are written as they come, one part file per finished piece of work in OUTPUT.parts/; after a
    kill, the same command with --resume prices only what is missing and writes the same OUTPUT.

    Exit code 0 when every trade is priced; 2 when some are errors (OUTPUT still written, the errors named
    there and here, with each row's line in a CSV book) or the run could not start."""
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from .book import prepare_book
        from .book_resume import price_book_resumable
        from ._warning_texts import collected
        from .resolution import UnresolvedPriceWarning
        mc, names = run_settings(paths, seed, greeks)
        _check_output(output, {"book": book, "market": market})
        trades, market_data = _read_table(book, "book", as_text=True), _read_table(market, "market", as_text=True)
        try:
            from ._book_fields import UnusedColumnsWarning
            from ._fields import PercentLikeWarning
            with collected(UnusedColumnsWarning) as unused, collected(PercentLikeWarning) as percent_like:
                prepared = prepare_book(trades, market_data, mc, greeks=names)
            for text in unused + percent_like:
                say("warning:", "yellow", f"{market if text.startswith('market') else book}: {text}")
        except ValueError as exc:
            raise CliError(f"{market if str(exc).startswith('market') else book}: {exc}") from None
        client = _dask_client(scheduler) if scheduler else None
        parts = output.with_name(output.name + ".parts")
        progress = Progress(TextColumn("pricing"), BarColumn(), MofNCompleteColumn(), TextColumn("trades"),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
        counts = []

        def report(done, total):
            counts.append(done)
            progress.update(bar, completed=done, total=total)

        try:
            with progress, collected(UnresolvedPriceWarning) as unresolved:
                bar = progress.add_task("pricing", total=None)
                results = price_book_resumable(prepared, parts, resume=resume, client=client, progress=report)
        except ValueError as exc:
            raise CliError(f"{book}: {exc}") from None
        finally:
            if client is not None:
                client.close()
        _write_table(results, output)
        if not keep_parts:
            shutil.rmtree(parts, ignore_errors=True)
        bad = results[results["status"] != "ok"]
        _say_errors(results, prepared, book, market, output)
        for text in unresolved:
            say("warning:", "yellow", f"{book}: {text}")
        reused = f" ({counts[0]} reused from {parts})" if resume else ""
        say(f"{len(results) - len(bad)}/{len(results)}", "", f"trades priced{reused}; wrote {output}", console)
        if len(bad):   # a batch job must not read a book with failed trades as a clean run
            raise typer.Exit(code=ERROR_EXIT)
    except (CliError, OSError) as exc:   # OSError: a disk that fills, a folder that goes away: one line too
        _fail(_message(exc))


def _say_errors(results, prepared, book: Path, market: Path, output: Path, limit: int = 10) -> None:
    """The errors of a priced book on the screen: an unusable market row once, under the market file's
    name (each of its trades carries it in the output; here it would repeat once a trade), then the
    trades' own errors, the first ``limit`` of them. ``results``: one row per trade, in the book's order."""
    import numpy as np
    market_messages = set(prepared.market_errors.values())
    used = {m for row in prepared.errors.messages for m in row} & market_messages
    for message in sorted(used):
        say(f"{market}:", "yellow", message)
    market_only = {i for i, m in enumerate(prepared.errors.messages) if m and set(m) <= market_messages}
    failed = np.flatnonzero((results["status"] != "ok").to_numpy())
    own = results.iloc[[i for i in failed if i not in market_only]]
    for error in own["error"].head(limit):
        say(f"{book}:", "yellow", error)
    if len(own) > limit:
        say(f"{book}:", "yellow", f"... {len(own) - limit} more rows with errors (see the error column of {output})")
    if market_only:
        say(f"{book}:", "yellow", f"{len(market_only)} trade(s) not priced because their market row is an error "
                                  f"(above; each named in the error column of {output})")


def _dask_client(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise CliError("--scheduler needs dask.distributed: pip install 'exotics[distributed]'") from None
    try:
        return Client(address, timeout=30)
    except Exception as exc:  # noqa: BLE001 - a wrong or unreachable address is one line
        raise CliError(f"--scheduler {address}: cannot connect ({type(exc).__name__}: {exc})") from None


@app.command()
def risk(out: Path = typer.Option(Path("risk-report"), "--out", "-o", help="report folder"),
         quick: bool = typer.Option(False, "--quick", help="a small run: 2013-2018, refits every 20 days, 200 "
                                    "5-day scenarios (10-day without), 16 stressed trades"),
         window: Optional[int] = typer.Option(None, parser=count, help="rolling GARCH window in days (default 1000; 500 with --quick)"),
         refit_every: Optional[int] = typer.Option(None, "--refit-every", parser=count, help="VaR backtest: days between GARCH refits "
                                                   "(default 1: daily)"),
         scenarios: Optional[int] = typer.Option(None, parser=count, help="stress scenarios per set (default 2000)"),
         paths: Optional[int] = typer.Option(None, parser=count, help="Monte Carlo paths of the stress revaluation (default 2048)")):
    """Risk on the embedded data: rolling VaR backtests (GARCH by MLE and by the network, GJR-t, historical
    simulation; Kupiec and Christoffersen tests), today's VaR/CVaR, the example book under GARCH stress
    scenarios, and GARCH minimum-variance portfolios against equal weight. Tables are printed; CSVs and
    plots go to the report folder."""
    import dataclasses

    from .risk_report import RiskSettings, display_tables, run
    settings = RiskSettings.quick() if quick else RiskSettings()
    changes = {name: value for name, value in (("window", window), ("refit_every", refit_every),
                                                ("scenarios", scenarios), ("paths", paths)) if value is not None}
    minimum = {"window": 100, "refit_every": 1, "scenarios": 100, "paths": 1024}
    for name, value in changes.items():
        if value < minimum[name]:
            _fail(f"--{name.replace('_', '-')} must be >= {minimum[name]}, got {value}")
    settings = dataclasses.replace(settings, **changes)
    start = time.perf_counter()
    try:
        _check_folder(out)
    except CliError as exc:
        _fail(str(exc))
    try:
        with console.status("working") as status:
            summary = run(out, settings, log=lambda message: (console.print(message), status.update(message)))
    except ValueError as exc:   # e.g. a window longer than the data
        _fail(f"risk: {exc}")
    except OSError as exc:
        _fail(_message(exc))
    for title, table in display_tables(summary).items():
        _show(table, title, limit=len(table))
    console.print(f"{time.perf_counter() - start:.0f} s in all; report written to {out}/")


@app.command()
def bench(paths: int = typer.Option(1_000_000, parser=count, help="our engine's paths"),
          quantlib_paths: int = typer.Option(20_000, parser=count, help="QuantLib's paths")):
    """Quick throughput check: Heston QE arithmetic Asian (252 fixings) vs QuantLib on this machine."""
    from .benchmark import engine_vs_quantlib
    try:
        report = engine_vs_quantlib(paths=paths, quantlib_paths=quantlib_paths, log=console.print)
    except ValueError as exc:   # the counts are checked before any work
        _fail(f"--paths/--quantlib-paths: {exc}")
    console.print(f"speed-up vs QuantLib: {report['speedup']:.1f}x ({report['speedup_per_device']:.1f}x per device; "
                  f"plain Monte Carlo on both sides). The compile time comes from the persistent cache when it holds "
                  f"the program: EXOTICS_CACHE_DIR= exotics bench measures it.")


@app.command("train-calibrator")
def train_calibrator(arch: str = typer.Option("mlp", help="network: mlp (summary statistics), lstm, or hybrid "
                                                             "(the gate over mlp + Newton; needs mlp weights)"),
                     out: Path = typer.Option(Path("calibrator-weights"), "--out", "-o",
                                              help="folder for ARCH.msgpack + ARCH.json (and checkpoints/)"),
                     seed: int = typer.Option(0, help="data and initialisation seed"),
                     series: int = typer.Option(6000, parser=count, help="simulated series per training length"),
                     steps: int = typer.Option(4000, parser=count, help="optimiser steps (Adam, cosine decay)"),
                     batch: int = typer.Option(512, parser=count, help="series per step"),
                     lr: float = typer.Option(2e-3, help="peak learning rate"),
                     lengths: str = typer.Option("", help="series lengths to simulate, comma separated "
                                                          "(default 250,500,1000,2000,3000,5000; lstm 250,500,1000)"),
                     mlp_weights: Path = typer.Option(None, "--mlp-weights",
                                                      help="hybrid only: folder with the mlp weights to build on "
                                                           "(default: those in --out, else the shipped ones)")):
    """Train the neural GARCH calibrator on simulated series; copy the output into calibrator/weights/ to ship it.

    The hybrid (the default calibrator) is a gate trained on one mlp: after retraining the mlp, train the
    hybrid into the same folder (it then builds on that mlp) and ship both. The shipped ones: --arch mlp
    --seed 2 --series 30000 --steps 16000 --batch 1024, then --arch hybrid --seed 1 --series 20000
    --steps 12000 --batch 1024."""
    try:
        if arch not in ("mlp", "lstm", "hybrid"):
            raise CliError(f"--arch must be mlp, lstm or hybrid, got {arch!r}")
        if mlp_weights is not None and arch != "hybrid":
            raise CliError("--mlp-weights applies to --arch hybrid only")
        if mlp_weights is not None and not (Path(mlp_weights) / "mlp.msgpack").is_file():
            raise CliError(f"--mlp-weights {mlp_weights}: no mlp.msgpack there")
        if series < 1 or steps < 1 or batch < 1 or not lr > 0:
            raise CliError("--series, --steps, --batch and --lr must be positive")
        from calibrator.training import train
        kwargs = dict(lengths=(250, 500, 1000), lstm_stride=4) if arch == "lstm" else {}
        if arch == "hybrid":
            kwargs = dict(weights_dir=mlp_weights)
        if lengths:
            try:
                kwargs["lengths"] = tuple(int(part) for part in lengths.split(","))
            except ValueError:
                raise CliError(f"--lengths must be whole numbers separated by commas, got {lengths!r}") from None
            if min(kwargs["lengths"]) < 250:
                raise CliError(f"--lengths must be >= 250 (the summary features need it), got {lengths!r}")
        _, _, meta = train(arch, seed=seed, n_per_length=series, steps=steps, batch=batch, lr=lr, out_dir=out,
                           **kwargs)
        console.print(f"wrote {out / (arch + '.msgpack')} and {out / (arch + '.json')} "
                      f"(final loss {meta['final_loss']:.4f}, {meta['train_seconds']:.0f} s on {meta['device']})")
    except (CliError, OSError) as exc:   # OSError: a disk that fills, a folder that goes away: one line too
        _fail(_message(exc))
    except ValueError as exc:   # e.g. an output folder holding other mlp weights than the hybrid's source
        _fail(f"train-calibrator: {exc}")


def main():  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
