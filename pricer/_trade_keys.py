"""A book trade's key: a digest of everything its per-unit numbers depend on (resumable runs' part files)."""
from __future__ import annotations

import dataclasses
import hashlib
import json

import jax
import numpy as np


def trade_keys(book) -> list:
    """Per trade of a ``book.PreparedBook``: a hex digest of what its price and greeks depend on (the parsed
    product fields, the underlying's model, the Monte Carlo settings, the greeks asked, the call size and
    the library versions), or None for a trade with errors. Quantity and trade_id are not in it: they do
    not change the per-unit numbers."""
    keys: list = [None] * len(book.trades)
    # the format's version, raised whenever what a part file holds changes meaning within one package version
    # (v2: a knock-in with a rebate counts as paying the samples that knocked in; Heston's bridge variance)
    common = _canonical(("book-v2", _versions(), dataclasses.asdict(book.mc), bool(jax.config.jax_enable_x64)))
    for task in book.tasks:
        head = common + _canonical((task.key, task.greeks, task.rows_per_call, type(task.model).__name__,
                                    {f.name: getattr(task.model, f.name) for f in dataclasses.fields(task.model)}))
        names = sorted(task.columns)
        for k, row in enumerate(task.rows):
            text = head + _canonical([task.columns[n][k] for n in names])
            keys[row] = hashlib.sha256(text.encode()).hexdigest()
    return keys


def _versions() -> tuple:
    try:
        from importlib.metadata import version
        ours = version("exotics")
    except Exception:  # noqa: BLE001 - running from a source tree
        ours = "source"
    return (ours, jax.__version__, np.__version__)


def _canonical(value) -> str:
    """A stable text for hashing: floats exactly (hex), containers recursively, arrays as lists."""
    def norm(v):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            return float(v).hex()
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in sorted(v.items())}
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        array = np.asarray(v)
        if array.dtype.kind in "fiub":
            return [norm(x) for x in array.astype(np.float64).reshape(-1).tolist()] + [list(array.shape)]
        return repr(v)
    return json.dumps(norm(value), separators=(",", ":"))
