"""Batches are padded to a few sizes (``engine.row_bucket``) so that a desk tool asking for 5, then 6,
then 7 items compiles once, not three times; the padding rows must never enter a real item's numbers
(float64: the same to 1e-12; float32: to its rounding, as any change of batch size)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricer import AsianOption, BarrierOption, BlackScholes, Garch, Heston, MonteCarlo, price
from pricer import compile_budget
from pricer.engine import _price_core, evaluate, row_bucket

HESTON = Heston(spot=100.0, v0=0.05, kappa=2.0, theta=0.04, xi=0.5, rho=-0.6, rate=0.04, dividend=0.01)


@given(st.integers(min_value=1, max_value=10**7))
@settings(max_examples=300, deadline=None)
def test_a_bucket_holds_the_batch_wastes_little_and_is_its_own_bucket(rows):
    bucket = row_bucket(rows)
    assert bucket >= rows and row_bucket(bucket) == bucket
    assert bucket - rows <= (7 if rows <= 16 else rows // 8)
    assert row_bucket(rows + 1) >= bucket   # monotone: a larger batch never gets a smaller program
    # a batched model (a padded row is a whole simulation): exact up to 16, under 1/8 wasted above
    own = row_bucket(rows, rows_share_paths=False)
    assert own >= rows and own - rows <= rows // 8 and row_bucket(own, rows_share_paths=False) == own
    assert own == rows if rows <= 16 else own == bucket


def test_few_programs_cover_all_sizes():
    assert len({row_bucket(n) for n in range(1, 1 << 20)}) < 140
    with pytest.raises(ValueError, match="rows"):
        row_bucket(0)


def test_batches_of_three_and_four_share_one_program_and_unpadded_ones_do_not(monkeypatch):
    # no drop of the compiled programs between the calls (compile_budget, late in a long suite)
    monkeypatch.setattr(compile_budget, "release_if_near_limit", lambda *args, **kwargs: False)
    # a configuration no other test compiles (float64 Heston barrier with a rebate, 36 steps a year)
    mc = MonteCarlo(paths=2048, steps_per_year=36, seed=11, dtype="float64")

    def product(strikes):
        return BarrierOption(strike=np.asarray(strikes), barrier=125.0, expiry=0.5, rebate=0.5)

    price(product([95.0, 100.0, 105.0]), HESTON, mc)
    compiled = _price_core._cache_size()
    price(product([90.0, 95.0, 100.0, 105.0]), HESTON, mc)
    assert _price_core._cache_size() == compiled
    evaluate(product([95.0, 100.0, 105.0]), HESTON, mc, pad_rows=False)
    assert _price_core._cache_size() == compiled + 1


def _assert_same(padded, exact):
    np.testing.assert_allclose(padded.price, exact.price, rtol=1e-12)
    np.testing.assert_allclose(padded.stderr, exact.stderr, rtol=1e-10)
    assert padded.price.shape == exact.price.shape
    np.testing.assert_array_equal(padded.samples_paying, exact.samples_paying)
    np.testing.assert_array_equal(padded.samples_off_control, exact.samples_off_control)
    assert set(padded.greeks) == set(exact.greeks)
    for name in exact.greeks:
        assert padded.greeks[name].shape == exact.price.shape
        np.testing.assert_allclose(padded.greeks[name], exact.greeks[name], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(padded.greeks_stderr[name], exact.greeks_stderr[name], rtol=1e-8, atol=1e-13)


CASES = {
    # a 2-D batch (2, 3) -> 6 rows, padded to 8; products with different dates (per-row event tables)
    "asian-own-dates": (AsianOption(strike=np.array([[90.0, 100.0, 110.0], [95.0, 105.0, 115.0]]),
                                    expiry=np.array([[0.5], [1.0]]), fixings=6), HESTON, ()),
    # a batched model (each row its own paths' parameters) with pathwise Greeks: 17 rows -> 18
    "garch-barrier-greeks": (BarrierOption(strike=100.0, barrier=np.linspace(120.0, 140.0, 17), expiry=0.5),
                             Garch(spot=100.0, omega=np.linspace(4e-6, 8e-6, 17), alpha=0.08, beta=0.85, gamma=0.05,
                                   rate=0.03),
                             ("delta", "vega", "omega")),
    # discrete monitoring: Greeks by differences on the same paths; 3 rows -> 4
    "bs-discrete-gamma": (BarrierOption(strike=np.array([90.0, 100.0, 110.0]), barrier=80.0, expiry=1.0, up=False,
                                        call=False, monitoring=12),
                          BlackScholes(spot=100.0, vol=0.25, rate=0.02), ("delta", "gamma")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_padding_never_moves_a_real_item(case):
    product, model, greeks = CASES[case]
    mc = MonteCarlo(paths=4096, steps_per_year=52, seed=5, dtype="float64")
    padded = evaluate(product, model, mc, greeks)
    exact = evaluate(product, model, mc, greeks, pad_rows=False)
    _assert_same(padded, exact)


def test_float32_padding_moves_a_price_only_by_rounding():
    product, model, _ = CASES["asian-own-dates"]
    mc = MonteCarlo(paths=4096, steps_per_year=52, seed=5, dtype="float32")
    padded, exact = evaluate(product, model, mc), evaluate(product, model, mc, pad_rows=False)
    assert padded.price.dtype == np.float32
    np.testing.assert_allclose(padded.price, exact.price, rtol=1e-5)
    np.testing.assert_allclose(padded.stderr, exact.stderr, rtol=1e-3)
