"""pricer.analytic against QuantLib (instruments built here), plus parity, limits, jit/vmap/float32 and gradients.

QuantLib dates: evaluation date 2024-01-01, Actual365Fixed, flat continuously-compounded curves, so a maturity
``d`` whole days ahead is exactly ``d / 365`` years, which is what the JAX functions receive.
"""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import QuantLib as ql

from pricer import analytic

# jitted once for the whole module (eager calls of the Fourier pricers are slow: op-by-op dispatch of a scan)
black_scholes_price = jax.jit(analytic.black_scholes_price)
barrier_price = jax.jit(analytic.barrier_price)
geometric_asian_bs_price = jax.jit(analytic.geometric_asian_bs_price)
geometric_asian_heston_price = jax.jit(analytic.geometric_asian_heston_price)
heston_characteristic_function = jax.jit(analytic.heston_characteristic_function)
heston_price = jax.jit(analytic.heston_price)


@pytest.fixture(autouse=True, scope="module")
def _x64():
    """float64 for this module (float32 cases pass float32 inputs explicitly); restored afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


SPOT, RATE, DIV = 100.0, 0.03, 0.01
TODAY = ql.Date(1, 1, 2024)
DC = ql.Actual365Fixed()
HESTON_SETS = [  # v0, kappa, theta, xi, rho
    (0.04, 1.5, 0.04, 0.5, -0.7),
    (0.01, 0.1, 0.5, 2.0, -0.95),
    (0.5, 10.0, 0.01, 2.0, 0.5),
    (0.01, 10.0, 0.01, 0.1, -0.3),
    (0.2, 0.5, 0.3, 1.0, 0.0),
    (0.01, 0.1, 0.01, 2.0, -0.95),
    (0.5, 0.1, 0.5, 2.0, -0.95),
    (0.01, 10.0, 0.5, 2.0, 0.5),
]


def _today():
    ql.Settings.instance().evaluationDate = TODAY


def _curve(rate):
    return ql.YieldTermStructureHandle(ql.FlatForward(TODAY, rate, DC, ql.Continuous, ql.NoFrequency))


def _bsm(spot, vol, rate, div):
    _today()
    return ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)), _curve(div), _curve(rate),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, ql.NullCalendar(), vol, DC)))


def _heston_process(params, spot=SPOT, rate=RATE, div=DIV):
    _today()
    return ql.HestonProcess(_curve(rate), _curve(div), ql.QuoteHandle(ql.SimpleQuote(spot)), *params)


def _payoff(call, strike):
    return ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, strike)


def _ql_european(spot, strike, days, vol, rate, div, call):
    option = ql.VanillaOption(_payoff(call, strike), ql.EuropeanExercise(TODAY + days))
    option.setPricingEngine(ql.AnalyticEuropeanEngine(_bsm(spot, vol, rate, div)))
    return option.NPV()


def _vmap_jit(fn, *args):
    """Price a list of cases in one jitted, vmapped call (flags travel as 0/1 floats)."""
    return np.asarray(jax.jit(jax.vmap(fn))(*[jnp.asarray(np.asarray(a, dtype=np.float64)) for a in args]))


# ---------------------------------------------------------------------------------------------- Black-Scholes
def test_black_scholes_vs_quantlib():
    cases = list(itertools.product([60.0, 90.0, 100.0, 110.0, 150.0], [7, 91, 365, 1825], [0.1, 0.35],
                                   [(0.03, 0.01), (0.0, 0.04)], [True, False]))
    ref = np.array([_ql_european(SPOT, k, d, v, r, q, c) for k, d, v, (r, q), c in cases])
    cols = list(zip(*[(SPOT, k, d / 365, v, r, q, c) for k, d, v, (r, q), c in cases]))
    mine = _vmap_jit(analytic.black_scholes_price, *cols)
    np.testing.assert_allclose(mine, ref, rtol=1e-10, atol=1e-13)


# ---------------------------------------------------------------------------------------------- barriers
_KINDS = {(True, True): ql.Barrier.UpIn, (True, False): ql.Barrier.UpOut,
          (False, True): ql.Barrier.DownIn, (False, False): ql.Barrier.DownOut}


def _ql_barrier(spot, strike, barrier, days, vol, rate, div, rebate, call, up, knock_in):
    option = ql.BarrierOption(_KINDS[(up, knock_in)], barrier, rebate, _payoff(call, strike),
                              ql.EuropeanExercise(TODAY + days))
    option.setPricingEngine(ql.AnalyticBarrierEngine(_bsm(spot, vol, rate, div)))
    return option.NPV()


def test_barrier_all_kinds_vs_quantlib():
    cases = []
    for up, knock_in, call in itertools.product([True, False], repeat=3):
        for strike, barrier, days, vol, (r, q), rebate in itertools.product(
                [80.0, 100.0, 120.0], [110.0, 130.0] if up else [70.0, 90.0], [30, 365], [0.1, 0.3],
                [(0.03, 0.01), (0.0, 0.05)], [0.0, 3.0]):
            cases.append((SPOT, strike, barrier, days, vol, r, q, rebate, call, up, knock_in))
    ref = np.array([_ql_barrier(*c) for c in cases])
    cols = list(zip(*[(s, k, h, d / 365, v, r, q, rb, c, u, i) for s, k, h, d, v, r, q, rb, c, u, i in cases]))
    mine = _vmap_jit(analytic.barrier_price, *cols)
    assert np.max(np.abs(mine - ref)) < 1e-8, np.max(np.abs(mine - ref))
    # without rebate, knock-in + knock-out = vanilla
    by_case = {c[:10]: {} for c in cases}  # everything but knock_in
    for c, value in zip(cases, mine):
        by_case[c[:10]][c[10]] = value
    for (s, k, h, d, v, r, q, rebate, call, up), value in by_case.items():
        if rebate == 0.0:
            assert abs(value[True] + value[False] - float(black_scholes_price(s, k, d / 365, v, r, q, call))) < 1e-10


@pytest.mark.parametrize("up", [True, False])
@pytest.mark.parametrize("call", [True, False])
@pytest.mark.parametrize("spot_offset", [0.0, 5.0])  # at the barrier, and beyond it
def test_barrier_breached_at_inception(up, call, spot_offset):
    barrier, strike, days, vol, rebate = 105.0 if up else 95.0, 100.0, 180, 0.25, 2.5
    spot = barrier + spot_offset if up else barrier - spot_offset
    args = (spot, strike, barrier, days / 365, vol, RATE, DIV, rebate, call, up)
    vanilla = _ql_european(spot, strike, days, vol, RATE, DIV, call)
    assert abs(float(barrier_price(*args, True)) - vanilla) < 1e-10  # knock-in: already knocked in
    assert abs(float(barrier_price(*args, False)) - rebate) < 1e-10  # knock-out: rebate now
    # continuity: just inside the barrier the formulas tend to the same values
    inside = (barrier * (1 - 1e-9) if up else barrier * (1 + 1e-9),) + args[1:]
    vanilla_at_barrier = _ql_european(barrier, strike, days, vol, RATE, DIV, call)
    assert abs(float(barrier_price(*inside, True)) - vanilla_at_barrier) < 1e-6
    assert abs(float(barrier_price(*inside, False)) - rebate) < 1e-6


# ---------------------------------------------------------------------------------------------- Heston
def _ql_heston(params, strike, days, call):
    engine = ql.AnalyticHestonEngine(ql.HestonModel(_heston_process(params)), 1e-12, 1_000_000)  # Gauss-Lobatto
    option = ql.VanillaOption(_payoff(call, strike), ql.EuropeanExercise(TODAY + days))
    option.setPricingEngine(engine)
    return option.NPV()


def test_heston_vs_quantlib_grid():
    cases = list(itertools.product(HESTON_SETS, [7, 30, 365, 3650], [50.0, 80.0, 100.0, 125.0, 200.0],
                                   [True, False]))
    ref = np.array([_ql_heston(p, k, d, c) for p, d, k, c in cases])
    cols = list(zip(*[(SPOT, k, d / 365, *p, RATE, DIV, c) for p, d, k, c in cases]))
    mine = _vmap_jit(analytic.heston_price, *cols)
    err = np.abs(mine - ref)
    # ~1e-8 relative, with an absolute floor of 1e-9 (on spot 100) for the near-zero deep OTM prices
    assert np.all(err <= 1e-8 * np.abs(ref) + 1e-9), (np.max(err), cases[int(np.argmax(err))])


def test_heston_characteristic_function_vs_quantlib():
    for params, t in itertools.product(HESTON_SETS[:4], [7 / 365, 1.0, 10.0]):
        engine = ql.AnalyticHestonEngine(ql.HestonModel(_heston_process(params)))
        log_fwd = np.log(SPOT) + (RATE - DIV) * t
        for u in [0.3, 2.0, 15.0]:
            ref = engine.chF(complex(u, 0.0), t) * np.exp(1j * u * log_fwd)  # QuantLib's is for log(S_T / F_T)
            mine = complex(heston_characteristic_function(u, np.log(SPOT), t, *params, RATE, DIV))
            assert abs(mine - ref) < 1e-12
        assert abs(complex(heston_characteristic_function(0.0, np.log(SPOT), t, *params, RATE, DIV)) - 1) < 1e-14
        # martingale: E[S_T] = F
        fwd = complex(heston_characteristic_function(-1j, np.log(SPOT), t, *params, RATE, DIV))
        assert abs(fwd - np.exp(log_fwd)) < 1e-10 * np.exp(log_fwd)


def test_heston_put_call_parity():
    for params, t, k in itertools.product(HESTON_SETS, [7 / 365, 1.0, 10.0], [50.0, 100.0, 200.0]):
        call = float(heston_price(SPOT, k, t, *params, RATE, DIV, True))
        put = float(heston_price(SPOT, k, t, *params, RATE, DIV, False))
        parity = SPOT * np.exp(-DIV * t) - k * np.exp(-RATE * t)
        assert abs(call - put - parity) < 1e-11 * SPOT


# ---------------------------------------------------------------------------------------------- geometric Asians
def _ql_asian(engine, strike, fixing_days, expiry_days, call, past_fixings=()):
    _today()
    option = ql.DiscreteAveragingAsianOption(
        ql.Average.Geometric, float(np.prod(past_fixings)) if past_fixings else 1.0, len(past_fixings),
        [TODAY + d for d in fixing_days], _payoff(call, strike), ql.EuropeanExercise(TODAY + expiry_days))
    option.setPricingEngine(engine)
    return option.NPV()


MONTHLY = [31 * i for i in range(1, 12)] + [365]
SEASONED = ((98.0, 103.5, 95.0), [30, 61, 91, 122, 152, 182])  # 3 past fixings, 6 future ones


@pytest.mark.parametrize("call", [True, False])
def test_geometric_asian_bs_vs_quantlib(call):
    engine = ql.AnalyticDiscreteGeometricAveragePriceAsianEngine(_bsm(SPOT, 0.25, RATE, DIV))
    for strike, (past, future, expiry) in itertools.product(
            [80.0, 100.0, 125.0], [((), MONTHLY, 365), ((), MONTHLY, 400), (*SEASONED, 182)]):
        ref = _ql_asian(engine, strike, future, expiry, call, past)
        mine = geometric_asian_bs_price(SPOT, strike, np.array(future) / 365, 0.25, RATE, DIV, call, expiry / 365,
                                        past_log_sum=float(np.sum(np.log(past))), past_count=len(past))
        assert abs(float(mine) - ref) < 1e-10 * max(ref, 1e-2), (strike, past, expiry, float(mine), ref)


def _ql_asian_heston(params, strike, fixing_days, expiry_days, call, past_fixings=()):
    # QuantLib's engine integrates with 128-point Gauss-Legendre on [1e-8 L, (1 + 1e-8) L], L = xiRightLimit: the
    # skipped [0, 1e-8 L] biases the price by a term linear in L. Two limits, L and 2L, and Richardson remove it,
    # which makes QuantLib's reference good to ~1e-10 (either limit alone is off by 1e-6 .. 1e-3).
    def price(limit):
        engine = ql.AnalyticDiscreteGeometricAveragePriceAsianHestonEngine(_heston_process(params), limit)
        return _ql_asian(engine, strike, fixing_days, expiry_days, call, past_fixings)
    return 2.0 * price(600.0) - price(1200.0)


@pytest.mark.parametrize("params", [HESTON_SETS[0], (0.09, 0.5, 0.16, 1.0, -0.9)])
def test_geometric_asian_heston_vs_quantlib(params):
    for strike, call, (past, future) in [(80.0, True, ((), SEASONED[1])), (100.0, False, ((), SEASONED[1])),
                                         (120.0, True, ((), SEASONED[1])), (100.0, True, SEASONED),
                                         (90.0, False, SEASONED)]:
        ref = _ql_asian_heston(params, strike, future, 182, call, past)
        mine = geometric_asian_heston_price(SPOT, strike, np.array(future) / 365, *params, RATE, DIV, call,
                                            182 / 365, past_log_sum=float(np.sum(np.log(past))),
                                            past_count=len(past))
        assert abs(float(mine) - ref) < 1e-8, (strike, call, past, float(mine), ref)


@pytest.mark.parametrize("seasoned", [False, True])
def test_geometric_asians_ignore_padding_entries(seasoned):
    """The engine pads fixing schedules to a shared length (repeating the last time, weight 0), so that many
    fixing counts share one compiled program: the prices must be those of the unpadded schedule."""
    from pricer.engine import padded_schedule

    times = np.array(MONTHLY[:5]) / 365
    padded, weights = padded_schedule(times[None, :])
    assert padded.shape == (1, 8) and weights.sum() == 5
    past = dict(past_log_sum=3 * np.log(97.0), past_count=3) if seasoned else {}
    for k, call in itertools.product([80.0, 100.0, 125.0], [True, False]):
        expiry = float(times[-1])
        plain = geometric_asian_bs_price(SPOT, k, times, 0.25, RATE, DIV, call, expiry, **past)
        padded_price = geometric_asian_bs_price(SPOT, k, padded[0], 0.25, RATE, DIV, call, expiry, **past,
                                                fixing_weights=weights[0])
        np.testing.assert_allclose(float(padded_price), float(plain), rtol=1e-13, atol=1e-13)
        plain = geometric_asian_heston_price(SPOT, k, times, *HESTON_SETS[1], RATE, DIV, call, expiry, **past)
        padded_price = geometric_asian_heston_price(SPOT, k, padded[0], *HESTON_SETS[1], RATE, DIV, call, expiry,
                                                    **past, fixing_weights=weights[0])
        np.testing.assert_allclose(float(padded_price), float(plain), rtol=1e-12, atol=1e-12)


def test_geometric_asian_heston_limits():
    # a single fixing at expiry is the European option
    for params, k, call in itertools.product(HESTON_SETS[:3], [80.0, 100.0, 125.0], [True, False]):
        t = 0.75
        asian = geometric_asian_heston_price(SPOT, k, np.array([t]), *params, RATE, DIV, call, t)
        assert abs(float(asian) - float(heston_price(SPOT, k, t, *params, RATE, DIV, call))) < 1e-10
    # vol of variance -> 0 with v0 = theta: Black-Scholes geometric Asian (the gap is O(xi))
    times = np.array(MONTHLY) / 365
    for k, call in itertools.product([80.0, 100.0, 125.0], [True, False]):
        bs = geometric_asian_bs_price(SPOT, k, times, 0.2, RATE, DIV, call, 1.0, 3 * np.log(97.0), 3)
        hes = geometric_asian_heston_price(SPOT, k, times, 0.04, 1.0, 0.04, 1e-7, -0.5, RATE, DIV, call, 1.0,
                                           3 * np.log(97.0), 3)
        assert abs(float(hes) - float(bs)) < 1e-7


# ---------------------------------------------------------------------------------------------- JAX behaviour
HES = (0.04, 1.5, 0.06, 0.6, -0.7)
FIX = np.array([0.25, 0.5, 0.75, 1.0])
FUNCTIONS = {  # name: (function, batch of argument columns; flags as 0/1 floats)
    "black_scholes": (black_scholes_price,
                      [[100.0] * 4, [90.0, 100.0, 110.0, 100.0], [0.5, 1.0, 2.0, 0.1], [0.2, 0.3, 0.25, 0.4],
                       [0.03] * 4, [0.01] * 4, [1.0, 0.0, 1.0, 0.0]]),
    "barrier": (barrier_price,
                [[100.0] * 4, [100.0, 95.0, 105.0, 100.0], [120.0, 85.0, 130.0, 80.0], [1.0, 0.5, 1.0, 0.5],
                 [0.2, 0.3, 0.25, 0.2], [0.03] * 4, [0.01] * 4, [0.0, 2.0, 1.0, 0.0], [1.0, 0.0, 1.0, 1.0],
                 [1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0]]),
    "heston": (heston_price,
               [[100.0] * 4, [90.0, 100.0, 110.0, 100.0], [0.5, 1.0, 2.0, 0.1]]
               + [[x] * 4 for x in HES] + [[0.03] * 4, [0.01] * 4, [1.0, 0.0, 1.0, 0.0]]),
    "asian_bs": (lambda s, k, v, r, q, c, pl, pc: geometric_asian_bs_price(s, k, FIX, v, r, q, c, 1.0, pl, pc),
                 [[100.0] * 4, [90.0, 100.0, 110.0, 100.0], [0.2, 0.3, 0.25, 0.2], [0.03] * 4, [0.01] * 4,
                  [1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 2 * np.log(99.0), 2 * np.log(101.0)], [0.0, 0.0, 2.0, 2.0]]),
    "asian_heston": (lambda s, k, c, pl, pc: geometric_asian_heston_price(s, k, FIX, *HES, 0.03, 0.01, c, 1.0,
                                                                          pl, pc),
                     [[100.0] * 4, [90.0, 100.0, 110.0, 100.0], [1.0, 0.0, 1.0, 0.0],
                      [0.0, 0.0, 2 * np.log(99.0), 2 * np.log(101.0)], [0.0, 0.0, 2.0, 2.0]]),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_jit_vmap_float32_matches_float64(name):
    fn, cols = FUNCTIONS[name]
    batched = jax.jit(jax.vmap(fn))
    out64 = batched(*[jnp.asarray(c, jnp.float64) for c in cols])
    out32 = batched(*[jnp.asarray(c, jnp.float32) for c in cols])
    assert out64.dtype == jnp.float64 and out32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out32), np.asarray(out64), rtol=1e-3, atol=1e-4)
    # the batch agrees with one-by-one (jitted) calls
    one = jax.jit(fn)
    for i in range(len(cols[0])):
        single = float(one(*[jnp.asarray(c[i], jnp.float64) for c in cols]))
        assert abs(single - float(out64[i])) < 1e-12 * max(1.0, abs(single))


AT_THE_MONEY = {  # spot = strike = 100, no rates: every input exact in float32, ln(F / K) = 0
    "black_scholes": (lambda t, v, c: black_scholes_price(100.0, 100.0, t, v, 0.0, 0.0, c), 4),
    "asian_bs": (lambda t, v, c: geometric_asian_bs_price(100.0, 100.0, jnp.linspace(t / 5, t, 5), v, 0.0, 0.0,
                                                          c, t), 4),
    "heston": (lambda t, v, c: heston_price(100.0, 100.0, t, v * v, 1.5, v * v, 0.5, -0.7, 0.0, 0.0, c), 16),
    "asian_heston": (lambda t, v, c: geometric_asian_heston_price(100.0, 100.0, jnp.linspace(t / 5, t, 5), v * v,
                                                                  1.5, v * v, 0.5, -0.7, 0.0, 0.0, c, t), 16),
}


@pytest.mark.parametrize("name", list(AT_THE_MONEY))
def test_float32_at_the_money_is_as_precise_as_its_dtype(name):
    """No cancellation of two terms near S/2 in Black's formula (F N(d1) - K N(d2), N(d1) - N(d2) near 1/2) nor
    of log S0 and log K near 4.6: with exact inputs a float32 price is within a few eps of float64 (the Fourier
    forms' quadrature a little more). The textbook forms lost 66 eps of a 1-day call and 1000 eps of a 1-day
    geometric Asian, which the Monte Carlo passed on through the closed-form controls."""
    fn, eps_allowed = AT_THE_MONEY[name]
    expiries, vols, calls = (np.array(a).ravel() for a in np.meshgrid(
        [1 / 252, 5 / 252, 1 / 12, 0.25, 1.0], [0.1, 0.2, 0.5], [1.0, 0.0], indexing="ij"))
    batched = jax.jit(jax.vmap(fn))
    double = np.asarray(batched(*(jnp.asarray(a, jnp.float64) for a in (expiries, vols, calls))))
    single = np.asarray(batched(*(jnp.asarray(a, jnp.float32) for a in (expiries, vols, calls))), np.float64)
    relative = np.abs(single - double) / double / np.finfo(np.float32).eps
    assert relative.max() < eps_allowed, (relative.max(), expiries[relative.argmax()], vols[relative.argmax()])


GRAD_CASES = [
    ("black_scholes", black_scholes_price, (100.0, 95.0, 0.5, 0.2, 0.03, 0.01), (True,)),
    ("barrier_up_out_rebate", barrier_price, (100.0, 100.0, 120.0, 1.0, 0.25, 0.03, 0.01, 2.0), (True, True, False)),
    ("barrier_down_in_r0", barrier_price, (100.0, 90.0, 95.0, 1.0, 0.25, 0.0, 0.01, 0.0), (False, False, True)),
    ("barrier_breached_out", barrier_price, (130.0, 100.0, 120.0, 1.0, 0.25, 0.03, 0.01, 2.0), (True, True, False)),
    ("barrier_breached_in", barrier_price, (80.0, 100.0, 90.0, 1.0, 0.05, 0.03, 0.01, 1.0), (False, False, True)),
    ("heston", heston_price, (100.0, 110.0, 1.0, *HES, 0.03, 0.01), (False,)),
    ("heston_extreme", heston_price, (100.0, 150.0, 7 / 365, 0.01, 0.1, 0.5, 2.0, -0.95, 0.03, 0.01), (True,)),
    ("asian_bs", lambda s, k, v, r, q, pl: geometric_asian_bs_price(s, k, FIX, v, r, q, True, 1.0, pl, 2),
     (100.0, 100.0, 0.2, 0.03, 0.01, 2 * np.log(98.0)), ()),
    ("asian_heston", lambda s, k, v0, ka, th, xi, rho, r, q, pl: geometric_asian_heston_price(
        s, k, FIX, v0, ka, th, xi, rho, r, q, False, 1.0, pl, 2), (100.0, 100.0, *HES, 0.03, 0.01, 2 * np.log(98.0)),
     ()),
]


@pytest.mark.parametrize("name,fn,floats,flags", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_finite(name, fn, floats, flags):
    value_and_grad = jax.jit(jax.value_and_grad(lambda *x: fn(*x, *flags), argnums=tuple(range(len(floats)))))
    floats = tuple(jnp.asarray(x, jnp.float64) for x in floats)
    _, grads = value_and_grad(*floats)
    assert all(np.isfinite(float(g)) for g in grads), grads
    # spot delta against a central difference
    h = 1e-4 * floats[0]
    up, _ = value_and_grad(floats[0] + h, *floats[1:])
    down, _ = value_and_grad(floats[0] - h, *floats[1:])
    fd = float(up - down) / (2 * h)
    assert abs(float(grads[0]) - fd) < 1e-5 * max(1.0, abs(fd)), (float(grads[0]), fd)


def test_heston_grad_matches_finite_differences():
    args = (100.0, 105.0, 0.75, *HES, 0.03, 0.01)
    grads = jax.grad(lambda *x: heston_price(*x, True), argnums=tuple(range(len(args))))(*args)
    for i, g in enumerate(grads):
        h = 1e-5 * max(1.0, abs(args[i]))
        up = args[:i] + (args[i] + h,) + args[i + 1:]
        down = args[:i] + (args[i] - h,) + args[i + 1:]
        fd = (float(heston_price(*up, True)) - float(heston_price(*down, True))) / (2 * h)
        assert abs(float(g) - fd) < 1e-5 * max(1.0, abs(fd)), (i, float(g), fd)


def test_knock_out_rebate_at_negative_rates_integrates_the_hitting_time():
    """Where a negative rate makes the rebate's closed form complex ((r-q-vol^2/2)^2 + 2 r vol^2 < 0: QuantLib
    returns NaN, we clamped and were 1-1.5% low), the rebate is E[exp(-r tau); tau <= T], checked against
    scipy's adaptive integral of the first-passage density; and the integral agrees with the closed form
    where that exists."""
    from scipy.integrate import quad

    def reference(spot, barrier, expiry, vol, rate, dividend):
        h, drift = np.log(barrier / spot), rate - dividend - 0.5 * vol * vol
        density = lambda t: abs(h) / (vol * np.sqrt(2 * np.pi * t ** 3)) * np.exp(-(h - drift * t) ** 2 / (2 * vol * vol * t))  # noqa: E731
        return quad(lambda t: np.exp(-rate * t) * density(t), 0.0, expiry, limit=500, points=[1e-4, 1e-2, 0.1])[0]

    for barrier, rate, dividend in [(120.0, -0.02, -0.03), (80.0, -0.02, -0.03), (120.0, -0.03, -0.05), (101.0, -0.03, -0.05)]:
        up = barrier > 100.0
        mu = (rate - dividend - 0.02) / 0.04
        assert mu * mu + 2 * rate / 0.04 < 0   # the closed form does not apply
        rebate = (float(barrier_price(100.0, 100.0, barrier, 1.0, 0.2, rate, dividend, 3.0, True, up, False))
                  - float(barrier_price(100.0, 100.0, barrier, 1.0, 0.2, rate, dividend, 0.0, True, up, False)))
        assert rebate == pytest.approx(3.0 * reference(100.0, barrier, 1.0, 0.2, rate, dividend), rel=1e-7)
    log_hs, expiry, vol = jnp.log(jnp.array([1.2, 0.8, 1.001, 0.5])), jnp.array([1.0, 0.25, 2.0, 5.0]), 0.3
    for rate, dividend in [(0.05, 0.02), (0.0, 0.03), (0.01, -0.02)]:
        mu = (rate - dividend - 0.5 * vol * vol) / (vol * vol)
        lam = np.sqrt(mu * mu + 2 * rate / (vol * vol))
        eta, sd = -jnp.sign(log_hs), vol * jnp.sqrt(expiry)
        z = log_hs / sd + lam * sd
        closed = (jnp.exp((mu + lam) * log_hs + jax.scipy.special.log_ndtr(eta * z))
                  + jnp.exp((mu - lam) * log_hs + jax.scipy.special.log_ndtr(eta * (z - 2 * lam * sd))))
        integrated = analytic._rebate_at_hit(log_hs, expiry, vol, rate, mu)
        np.testing.assert_allclose(integrated, closed, rtol=1e-10)
