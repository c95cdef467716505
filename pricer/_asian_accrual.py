"""An Asian's accrued average at the stress horizon and its interpolation over accrual factors
(``book_stress``: the horizon value of an Asian with fixings inside the horizon)."""
from __future__ import annotations

import numpy as np

#: accrual factors an Asian's horizon value is interpolated over (a quartic in the log factor: a daily
#: Asian with 10 of its 21 fixings inside the horizon was 7.5 SE off with 4, 1.0 with 5)
ACCRUAL_NODES = 5


def _lagrange(points: np.ndarray, table: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The polynomial through (points[r, j], table[j, r, k]) evaluated at at[r, k]: (rows, K)."""
    total = np.zeros_like(at)
    for j in range(points.shape[1]):
        basis = np.ones_like(at)
        for m in range(points.shape[1]):
            if m != j:
                basis = basis * (at - points[:, m:m + 1]) / (points[:, j:j + 1] - points[:, m:m + 1])
        total = total + basis * table[j]
    return total


def _accrued(columns: dict, log_fixings: np.ndarray) -> np.ndarray:
    """Each trade's past average after adding fixings: ``log_fixings`` (rows or 1, n, m) log values,
    averaged arithmetically or geometrically as the trade does. Shape (rows, n)."""
    count, average = columns["past_count"][:, None], columns["past_average"][:, None]
    if log_fixings.shape[-1] == 0:   # nothing added: the accrual as it was
        return np.broadcast_to(average, np.broadcast_shapes(average.shape, log_fixings.shape[:-1]))
    seasoned = count > 0
    log_past = np.where(seasoned, np.log(np.where(seasoned, average, 1.0)), 0.0)
    total = count + log_fixings.shape[-1]
    geometric_average = np.exp((count * log_past + log_fixings.sum(axis=-1)) / total)
    arithmetic_average = (count * average + np.exp(log_fixings).sum(axis=-1)) / total
    return np.where(columns["geometric"][:, None] == 1, geometric_average, arithmetic_average)
