"""Revalue a book from CSV files: one jitted call per group of trades, errors per row.

    python examples/revalue_book.py [--book examples/book.csv] [--market examples/market.csv] [--paths 10000]
"""
import argparse
from pathlib import Path

import pandas as pd

from pricer import MonteCarlo, price_book

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--book", type=Path, default=HERE / "book.csv")
    parser.add_argument("--market", type=Path, default=HERE / "market.csv")
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=None, help="price only the first N trades")
    args = parser.parse_args()

    trades = pd.read_csv(args.book)
    if args.limit:
        trades = trades.head(args.limit)
    results = price_book(trades, pd.read_csv(args.market), MonteCarlo(paths=args.paths))
    summary = results.merge(trades[["trade_id", "underlying", "product"]], on="trade_id")
    print(summary.groupby(["underlying", "product"])["value"].agg(["count", "sum"]).round(2))
    print(f"{(results.status == 'ok').sum()}/{len(results)} trades priced; book value {results['value'].sum():,.2f}")


if __name__ == "__main__":
    main()
