"""Compiled programs are dropped before the process runs out of memory maps (pricer.compile_budget).

The suite itself once died at 65,000 maps, 570 tests in, inside XLA; these tests force the budget low."""
import logging
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pricer import BarrierOption, Heston, MonteCarlo, compile_budget, price

pytestmark = pytest.mark.skipif(compile_budget.map_limit() is None or compile_budget.map_count() is None,
                                reason="no /proc: the map budget is not checked here")

HESTON = Heston(spot=100.0, v0=0.05, kappa=2.0, theta=0.04, xi=0.5, rho=-0.6)
BARRIER = BarrierOption(strike=100.0, barrier=130.0, expiry=1.0)
MC = MonteCarlo(paths=1536, seed=11, dtype="float64")


def test_the_limit_and_the_count_are_read():
    assert compile_budget.map_limit() >= 1000
    assert 0 < compile_budget.map_count() < compile_budget.map_limit()


def test_dropping_compiled_programs_frees_their_maps_and_prices_stay_the_same():
    before = price(BARRIER, HESTON, MC)
    held = compile_budget.map_count()
    assert compile_budget.release_if_near_limit(fraction=0.0, force_check=True)
    assert compile_budget.map_count() < held - 50    # one Heston barrier program: about 200 maps
    again = price(BARRIER, HESTON, MC)                # compiled again
    assert again.price == before.price and again.stderr == before.stderr


def test_nothing_is_dropped_below_the_budget_or_between_looks(monkeypatch):
    monkeypatch.setattr(compile_budget, "MAX_MAPS", compile_budget.map_limit())
    monkeypatch.setattr(compile_budget, "CHECK_INTERVAL", 3600.0)   # a stalled machine still looks once
    assert not compile_budget.release_if_near_limit(fraction=1.0, force_check=True)
    assert not compile_budget.release_if_near_limit(fraction=0.0)   # looked less than a second ago


def test_the_budget_is_capped_and_maps_a_drop_cannot_free_do_not_make_it_drop_again(monkeypatch, caplog):
    """Counts simulated: a limit of 1,000 maps (budget 500), then one a distribution raised to a million."""
    drops, held = [], {"maps": 0}
    monkeypatch.setattr(compile_budget.jax, "clear_caches", lambda: drops.append(held["maps"]))
    monkeypatch.setattr(compile_budget, "map_count", lambda: held["maps"])
    monkeypatch.setattr(compile_budget, "map_limit", lambda: 1000)
    monkeypatch.setattr(compile_budget, "_held_after_drop", 0)

    def look(maps):
        held["maps"] = maps
        return compile_budget.release_if_near_limit(force_check=True)

    assert compile_budget.map_budget() == 500
    with caplog.at_level(logging.INFO, logger="pricer.compile_budget"):
        assert not look(400) and look(600)     # the drop frees nothing here: the count stays at 600
    assert "WARNING" in caplog.text            # a drop that freed under 10% says so
    assert not look(850)                       # no drop again past 600 + half the budget (250)
    assert look(851) and drops == [600, 851]
    monkeypatch.setattr(compile_budget, "map_limit", lambda: 1_048_576)
    assert compile_budget.map_budget() == compile_budget.MAX_MAPS


def test_a_library_call_past_the_budget_drops_the_programs(monkeypatch, caplog):
    monkeypatch.setattr(compile_budget, "MAP_FRACTION", 0.0)
    monkeypatch.setattr(compile_budget, "_last_check", float("-inf"))
    monkeypatch.setattr(compile_budget, "_held_after_drop", 0)
    with caplog.at_level(logging.INFO, logger="pricer.compile_budget"):
        result = price(BARRIER, HESTON, MC)
    assert np.isfinite(result.price) and "dropped JAX's compiled programs" in caplog.text


def test_no_look_while_an_outer_function_is_traced(monkeypatch):
    looks = []
    monkeypatch.setattr(compile_budget, "release_if_near_limit", lambda *a, **k: looks.append(1) or False)
    monkeypatch.setattr(compile_budget, "_last_check", float("-inf"))   # a look is due
    inner = compile_budget.jit(lambda x: 2.0 * x)
    assert float(jax.jit(lambda x: inner(x) + 1.0)(jnp.float32(1.0))) == 3.0
    assert looks == []
    assert float(inner(jnp.float32(1.0))) == 2.0 and looks == [1]
    assert inner.lower(jnp.float32(1.0)) is not None   # the jitted function's attributes pass through


def test_as_a_method_it_binds_its_instance():
    class Scaled:
        factor = 3.0

        @partial(compile_budget.jit, static_argnums=0)   # the instance passed as jax.jit's methods pass it
        def times(self, x):
            return self.factor * x

    assert float(Scaled().times(jnp.float32(2.0))) == 6.0
