"""How many rows a batch is simulated with: ``price`` pads a batch to one of a few sizes with copies of
its first item (``engine.prepare``), so that batches of nearby sizes share one compiled program."""
from __future__ import annotations

import numpy as np

#: batches of at most this many items are padded to the next power of two; larger ones keep four
#: significant bits (``row_bucket``)
_EXACT_POWER_ROWS = 16


def row_bucket(rows: int, *, rows_share_paths: bool = True) -> int:
    """The number of rows a batch of ``rows`` items is simulated with (``prepare`` pads with copies of
    the first item and drops their results).

    The compiled program is keyed by the batch's length, and a compile costs seconds (1.2 s for a
    Black-Scholes barrier on a 2-core CPU, several with Greeks) where pricing a few items costs
    milliseconds: a desk tool asking for 3, then 5, then 7 items would compile three times. Up to 16
    rows the next power of two (1, 2, 4, 8, 16: at most 7 wasted rows); above, the next number with four
    significant bits (17 -> 18, 100 -> 104, 1000 -> 1024: under 1/8 wasted), so that every size up to
    a million shares one of under 140 programs. ``rows_share_paths=False`` (a batched model: every row
    simulates its own paths, so a padded row costs a whole simulation) keeps four significant bits at every
    size (1 to 16 exact, under 1/8 wasted). The padded rows share the real rows' random numbers and
    add no dates to the grid, and nothing reduces over rows, so they never enter a real row's arithmetic:
    in float64 a real row's numbers are those of an unpadded call to 1e-12; in float32 they may differ in
    the last bits, as with any change of batch size (XLA vectorises a different length; ``pricer.book``)."""
    rows = int(rows)
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if rows <= _EXACT_POWER_ROWS:
        return 1 << (rows - 1).bit_length() if rows_share_paths else rows
    shift = rows.bit_length() - 4
    return -(-rows >> shift) << shift


def padding_take(rows: int, simulated_rows: int) -> np.ndarray:
    """Indices (simulated_rows,) into a batch's items: the items in order, then the first item again for
    every padded row (valid, on dates already in the grid, so nothing a real row computes moves)."""
    return np.concatenate([np.arange(rows), np.zeros(simulated_rows - rows, np.int64)])
