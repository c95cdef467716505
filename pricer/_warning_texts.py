"""Warnings of one kind collected as texts, for a command line or a report to say in its own words."""
from __future__ import annotations

import contextlib
import warnings


@contextlib.contextmanager
def collected(category):
    """Collects the texts of the ``category`` warnings raised inside (into the list it yields, once the
    block ends), every one of them, not only the first per place; every other warning is passed on as
    raised, also when the block raises."""
    texts: list[str] = []
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", category)
            yield texts
    finally:
        for warning in caught:
            if issubclass(warning.category, category):
                texts.append(str(warning.message))
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
