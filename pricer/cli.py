"""The ``exotics`` command line: demo, price-book, bench.

Errors are one line naming the file (and row and field where there is one), with exit code 2.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Exotic option pricing and GARCH/Heston calibration, in JAX.")
console = Console()
errors = Console(stderr=True, soft_wrap=True)   # an error is one line, never wrapped


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


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _fail(message: str):
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=2)


def _read_table(path: Path, what: str):
    import pandas as pd
    if not path.exists():
        raise CliError(f"{path}: no such {what} file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is reported as one line
        raise CliError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from None


def _write_table(frame, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def _show(frame, title: str, limit: int = 20):
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        table.add_column(str(column), justify="right" if frame[column].dtype.kind in "fiu" else "left")
    for _, row in frame.head(limit).iterrows():
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    if len(frame) > limit:
        console.print(f"... {len(frame) - limit} more rows")


def _greek_names(greeks: Optional[str]):
    return tuple(g.strip() for g in greeks.split(",") if g.strip()) if greeks else ()


@app.command()
def demo(out: Path = typer.Option(Path("exotics-report"), "--out", "-o", help="report folder"),
         paths: int = typer.Option(20_000, help="Monte Carlo paths per trade group"),
         greeks: Optional[str] = typer.Option(None, help="comma-separated Greeks to add, e.g. delta,vega")):
    """The whole pipeline on embedded data: S&P 500 returns -> GJR-GARCH-t (MLE) -> Heston initial values ->
    the example book (barriers, Asians, Europeans on four underlyings) by Monte Carlo -> a report folder."""
    try:
        from .demo import run
        start = time.perf_counter()
        with console.status("working") as status:
            summary = run(out, paths=paths, greeks=_greek_names(greeks),
                          log=lambda message: (console.print(message), status.update(message)))
        results, trades = summary["results"], summary["trades"]
        columns = ["trade_id", "price", "stderr", "value", *_greek_names(greeks), "status"]
        _show(results[columns].merge(trades[["trade_id", "underlying", "product"]], on="trade_id"),
              "Example book (per-unit price and standard error; value = quantity x price)")
        ok = (results["status"] == "ok").sum()
        console.print(f"{ok}/{len(results)} trades priced; book value {results['value'].sum():,.2f}; "
                      f"{time.perf_counter() - start:.1f} s in all; report written to {out}/")
    except CliError as exc:
        _fail(str(exc))


@app.command("price-book")
def price_book_command(book: Path = typer.Argument(..., help="trades, CSV or Parquet"),
                       market: Path = typer.Option(..., "--market", "-m", help="market file, CSV or Parquet"),
                       output: Path = typer.Option(..., "--output", "-o", help="results, .csv or .parquet"),
                       paths: int = typer.Option(10_000, help="Monte Carlo paths"),
                       seed: int = typer.Option(0, help="random seed"),
                       greeks: Optional[str] = typer.Option(None, help="comma-separated, e.g. delta,vega")):
    """Revalue a book of trades: one result row per trade, errors per row."""
    try:
        from .book import price_book
        from .engine import MonteCarlo
        trades, market_data = _read_table(book, "book"), _read_table(market, "market")
        try:
            with console.status(f"pricing {len(trades)} trades"):
                results = price_book(trades, market_data, MonteCarlo(paths=paths, seed=seed), greeks=_greek_names(greeks))
        except ValueError as exc:
            raise CliError(f"{book}: {exc}") from None
        _write_table(results, output)
        bad = results[results["status"] != "ok"]
        for _, row in bad.head(10).iterrows():
            errors.print(f"[yellow]{book}:[/] {row['error']}", highlight=False)
        console.print(f"{len(results) - len(bad)}/{len(results)} trades priced; wrote {output}")
    except CliError as exc:
        _fail(str(exc))


@app.command()
def bench(paths: int = typer.Option(1_000_000, help="our engine's paths"),
          quantlib_paths: int = typer.Option(20_000, help="QuantLib's paths")):
    """Quick throughput check: Heston QE arithmetic Asian (252 fixings) vs QuantLib on this machine."""
    from .benchmark import engine_vs_quantlib
    report = engine_vs_quantlib(paths=paths, quantlib_paths=quantlib_paths, log=console.print)
    console.print(f"speed-up vs QuantLib: {report['speedup']:.1f}x")


@app.command("train-calibrator")
def train_calibrator(arch: str = typer.Option("mlp", help="network: mlp (summary statistics) or lstm"),
                     out: Path = typer.Option(Path("calibrator-weights"), "--out", "-o",
                                              help="folder for ARCH.msgpack + ARCH.json (and checkpoints/)"),
                     seed: int = typer.Option(0, help="data and initialisation seed"),
                     series: int = typer.Option(6000, help="simulated series per training length"),
                     steps: int = typer.Option(4000, help="optimiser steps (Adam, cosine decay)"),
                     batch: int = typer.Option(512, help="series per step"),
                     lr: float = typer.Option(2e-3, help="peak learning rate")):
    """Train the neural GARCH calibrator on simulated series; copy the output into calibrator/weights/ to ship it."""
    try:
        if arch not in ("mlp", "lstm"):
            raise CliError(f"--arch must be mlp or lstm, got {arch!r}")
        if series < 1 or steps < 1 or batch < 1 or not lr > 0:
            raise CliError("--series, --steps, --batch and --lr must be positive")
        from calibrator.training import train
        kwargs = dict(lengths=(250, 500, 1000), lstm_stride=4) if arch == "lstm" else {}
        _, _, meta = train(arch, seed=seed, n_per_length=series, steps=steps, batch=batch, lr=lr, out_dir=out,
                           **kwargs)
        console.print(f"wrote {out / (arch + '.msgpack')} and {out / (arch + '.json')} "
                      f"(final loss {meta['final_loss']:.4f}, {meta['train_seconds']:.0f} s on {meta['device']})")
    except CliError as exc:
        _fail(str(exc))


def main():  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
