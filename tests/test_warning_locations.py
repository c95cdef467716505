"""Every warning points at the caller's line, however deep in the library it is raised: hard-coded
stacklevels had pointed into the library wherever a function was reached by another path
(simulate_from_fit's start-variance warning named stress.py when called directly)."""
import warnings

import numpy as np
import pytest

from calibrator import DataScaleWarning, ShortSeriesWarning, fit_garch, garch_scenarios, simulate_from_fit
from pricer import BlackScholes, EuropeanOption, MonteCarlo, UnresolvedPriceWarning, price


RETURNS = np.random.default_rng(3).standard_normal(600) * 0.01


@pytest.fixture(scope="module")
def fit():
    return fit_garch(RETURNS)


def _only_here(record, category):
    hits = [w for w in record if issubclass(w.category, category)]
    assert hits, f"no {category.__name__}"
    assert {w.filename for w in hits} == {__file__}, [(w.filename, w.lineno) for w in hits]


def _simulate_directly(fit):
    return simulate_from_fit(fit, horizon=5, n_paths=64, start_variance=1.0)


def _through_scenarios(fit):
    return garch_scenarios(fit, RETURNS, horizon=5, n_scenarios=64, start_variance=1.0)


@pytest.mark.parametrize("call", [_simulate_directly, _through_scenarios])
def test_start_variance_warning_points_at_the_caller_by_either_path(fit, call):
    """The line that called the library (in the helper above), not one frame short or past it."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        call(fit)
    hits = [w for w in record if issubclass(w.category, DataScaleWarning)]
    assert [(w.filename, w.lineno) for w in hits] == [(__file__, call.__code__.co_firstlineno + 1)]


def test_fit_and_price_warnings_point_at_the_caller():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit_garch(np.random.default_rng(0).standard_normal(150) * 0.01)
        price(EuropeanOption(strike=1000.0, expiry=0.1), BlackScholes(spot=100.0, vol=0.2), MonteCarlo(paths=1024))
    _only_here(record, ShortSeriesWarning)
    _only_here(record, UnresolvedPriceWarning)


def test_a_model_rebuilt_by_replace_warns_at_the_callers_line_and_price_does_not_warn_again():
    """dataclasses.replace (the stress grid rebuilds markets with it) is a frame of the library's too; and
    price() takes a checked model as it is (it had entered catch_warnings on every call, which resets every
    module's once-only warning registry and is not thread-safe)."""
    import dataclasses

    from pricer import PercentLikeWarning
    from pricer._fields import checked_copy
    model = BlackScholes(spot=100.0, vol=0.2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        moved = dataclasses.replace(model, dividend=1.5)
        assert checked_copy(moved) is moved
        price(EuropeanOption(strike=100.0, expiry=0.5, call=False), moved, MonteCarlo(paths=1024))
    assert [(w.filename, w.category) for w in record if w.category is PercentLikeWarning] == [
        (__file__, PercentLikeWarning)]
