"""price_book on a dask.distributed cluster (two worker processes on loopback): the same numbers as a
local run, whatever the order of the book and whichever other trades are in it."""
import jax
import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from pricer import MonteCarlo, price_book  # noqa: E402
from pricer.book import prepare_book  # noqa: E402

MC = MonteCarlo(paths=2048, steps_per_year=12, seed=3, dtype="float64")
MARKET = pd.DataFrame([
    dict(underlying="STOCK", model="black_scholes", spot=100.0, rate=0.03, dividend=0.01, vol=0.25),
    dict(underlying="INDEX", model="heston", spot=50.0, rate=0.03, dividend=0.0,
         v0=0.04, kappa=1.5, theta=0.05, xi=0.5, rho=-0.6),
])
BOOK = pd.DataFrame(
    [dict(trade_id=f"S{k}", underlying="STOCK", product="european", call_put="call" if k % 2 else "put",
          strike=90.0 + 5 * k, expiry=0.5 + 0.25 * (k % 3), quantity=k + 1) for k in range(6)]
    + [dict(trade_id=f"B{k}", underlying="STOCK", product="barrier", call_put="call", strike=100.0, expiry=1.0,
            barrier=120.0 + 5 * k, barrier_type="up-and-out") for k in range(3)]
    + [dict(trade_id=f"H{k}", underlying="INDEX", product="european", call_put="call", strike=45.0 + 5 * k,
            expiry=1.0) for k in range(3)]
    + [dict(trade_id="BAD", underlying="NOPE", product="european", call_put="call", strike=1.0, expiry=1.0)])


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: jax.config.update("jax_enable_x64", True))   # as conftest does for this process
        yield client


@pytest.fixture(scope="module")
def local():
    return price_book(BOOK, MARKET, MC)


def test_same_results_on_dask_as_locally(client, local):
    assert len(prepare_book(BOOK, MARKET, MC, task_rows=2).tasks) > 2
    on_dask = price_book(BOOK, MARKET, MC, client=client)
    pd.testing.assert_frame_equal(on_dask, local)
    assert (local["status"] == "ok").sum() == len(BOOK) - 1
    # shuffled and with other trades removed, on the cluster: the same numbers per trade
    shuffled = BOOK.iloc[np.random.default_rng(1).permutation(len(BOOK))]
    result = price_book(shuffled, MARKET, MC, client=client)
    assert list(result["trade_id"]) == list(shuffled["trade_id"])
    numbers = ["price", "stderr", "value", "status"]   # the error text names the row, which moved
    pd.testing.assert_frame_equal(result.set_index("trade_id").loc[BOOK["trade_id"], numbers],
                                  local.set_index("trade_id")[numbers])
    subset = BOOK.iloc[[10, 2, 7]]
    result = price_book(subset, MARKET, MC, client=client).set_index("trade_id")
    pd.testing.assert_frame_equal(result, local.set_index("trade_id").loc[result.index])


def test_float64_needs_x64_on_the_workers(client):
    client.run(lambda: jax.config.update("jax_enable_x64", False))
    try:
        with pytest.raises(ValueError, match="jax_enable_x64 on every Dask worker"):
            price_book(BOOK, MARKET, MC, client=client)
    finally:
        client.run(lambda: jax.config.update("jax_enable_x64", True))


def test_price_book_command_with_a_scheduler(client, tmp_path):
    from typer.testing import CliRunner

    from pricer.cli import app
    BOOK.to_csv(tmp_path / "book.csv", index=False)
    MARKET.to_csv(tmp_path / "market.csv", index=False)
    base = ["price-book", str(tmp_path / "book.csv"), "-m", str(tmp_path / "market.csv"), "--paths", "2048"]
    runner = CliRunner()
    env = {"EXOTICS_CACHE_DIR": ""}
    local = runner.invoke(app, [*base, "-o", str(tmp_path / "local.parquet")], env=env)
    assert local.exit_code == 2, local.output    # the BAD trade is an error: partly done
    remote = runner.invoke(app, [*base, "-o", str(tmp_path / "dask.parquet"), "--scheduler", client.scheduler.address],
                           env=env)
    assert remote.exit_code == 2, remote.output
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask.parquet"), pd.read_parquet(tmp_path / "local.parquet"))
