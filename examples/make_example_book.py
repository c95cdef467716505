"""Write the example book (examples/book.csv) and its market (examples/market.csv).

The trades come from ``pricer.example_book`` (the same book ``exotics demo`` prices).

    python examples/make_example_book.py            # rewrites the two CSV files next to this script
"""
from pathlib import Path

from pricer.example_book import example_book, example_market

HERE = Path(__file__).resolve().parent


def main() -> None:
    book, market = example_book(), example_market()
    book.to_csv(HERE / "book.csv", index=False)
    market.to_csv(HERE / "market.csv", index=False)
    print(f"wrote {len(book)} trades to {HERE / 'book.csv'} and {len(market)} underlyings to {HERE / 'market.csv'}")


if __name__ == "__main__":
    main()
