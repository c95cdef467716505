"""Each product's accumulators, discounted payoff per path, and control variate.

``discounted_payoff`` returns Y (P, n). ``control_samples`` returns C (P, n), a path quantity with a
known expectation ``control_mean`` (P,), strongly correlated with Y:

* European: the discounted terminal spot less its mean S0 exp(-q T) (exact for every model and scheme),
  so E = 0.
* Barrier: the discounted European payoff, E = closed form (Black–Scholes; Heston characteristic
  function); for GARCH the discounted terminal spot less its mean, E = 0.
* Arithmetic fixed-strike Asian: the discrete geometric Asian, E = closed form (Black–Scholes, Heston);
  otherwise (geometric, floating strike, GARCH) the discounted arithmetic average of S less its mean
  (exact forward expectations), E = 0.

The linear controls are accumulated as deviations from their means, never as a level (~S0) against a
separately computed mean: in float32 those round a few last-place units apart, and with antithetic
pairs a linear control's coefficient is large (63 for a 3-day put), which lifted the mismatch into the
price by several standard errors.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from .accumulators import barrier_survival, chain, running_average, spot_at_expiry, terminal_value
from .models import BlackScholes, Heston
from .products import AsianOption, BarrierOption, EuropeanOption


def accumulator(product, rebate_at_crossing: bool = False):
    """The product's accumulators; ``rebate_at_crossing`` (static): discount continuous knock-out rebates at
    the bridge's expected crossing time (``accumulators.barrier_survival``)."""
    if isinstance(product, EuropeanOption):
        return chain(terminal=terminal_value())
    if isinstance(product, BarrierOption):
        return chain(terminal=terminal_value(), barrier=barrier_survival(product.continuous, rebate_at_crossing))
    if isinstance(product, AsianOption):
        return chain(terminal=terminal_value(), average=running_average())
    raise TypeError(f"unsupported product {type(product).__name__}")


def _vanilla(spot, strike, call):
    return jnp.maximum(jnp.where(call > 0, spot - strike, strike - spot), 0.0)


def _asian_averages(product, average, fixing_count, spot):
    """The arithmetic average A and the log of the geometric average over the spot, log(G / S0), over past
    and future fixings, (P, n)."""
    total = product.past_count + fixing_count
    # the sum of S over the future fixings, S0 (n + sum expm1((r - q) t) + deviation): the level S0 n exact
    future_sum = spot * (fixing_count + (average["forward_excess"] + average["deviation"]))
    arithmetic = (product.past_average * product.past_count + future_sum) / total
    # from ratios to S0 and deviations: no log S0 rounded into it (``running_average``)
    log_geometric = (_past_log_ratio(product, spot) + average["log_forward"] + average["log_deviation"]) / total
    return arithmetic, log_geometric


def _fixed_strike_geometric(log_geometric, spot, product):
    """max(+-(G - K), 0) as K max(+-expm1(log(G / K)), 0): exact near the money, where G - K would carry
    exp's float32 error at the level of G (systematic, not averaged away by the paths: it moved the geometric
    control's mean ~1e-6 of a 1-week at-the-money price). Rows without a strike (floating) give 0."""
    has_strike = product.strike > 0
    strike = jnp.where(has_strike, product.strike, spot)
    log_moneyness = jnp.log(spot / strike) + log_geometric
    payoff = strike * jnp.maximum(jnp.where(product.call > 0, 1.0, -1.0) * jnp.expm1(log_moneyness), 0.0)
    return jnp.where(has_strike, payoff, 0.0)


def _past_log_ratio(product, reference):
    """Sum over the past fixings of log(fixing / reference), 0 for an unseasoned trade."""
    seasoned = product.past_count > 0
    return jnp.where(seasoned, product.past_count * jnp.log(jnp.where(seasoned, product.past_average, 1.0)
                                                            / reference), 0.0)


def discounted_payoff(product, state, model, context):
    discount = model.discount(context["expiry_time"])
    terminal = spot_at_expiry(state)
    if isinstance(product, EuropeanOption):
        return discount * _vanilla(terminal, product.strike, product.call)
    if isinstance(product, BarrierOption):
        vanilla = discount * _vanilla(terminal, product.strike, product.call)
        survival = state["barrier"]["survival"]
        knock_out = vanilla * survival + state["barrier"]["rebate"]
        knock_in = vanilla * (1.0 - survival) + product.rebate * discount * survival
        return jnp.where(product.knock_in > 0, knock_in, knock_out)
    arithmetic, log_geometric = _asian_averages(product, state["average"], context["fixing_count"], model.spot)
    geometric = product.geometric > 0
    fixed = jnp.where(geometric, _fixed_strike_geometric(log_geometric, model.spot, product),
                      _vanilla(arithmetic, product.strike, product.call))
    average = jnp.where(geometric, model.spot * jnp.exp(log_geometric), arithmetic)
    floating = _vanilla(terminal, average, product.call)
    return discount * jnp.where(product.floating_strike > 0, floating, fixed)


def knock_in_rebate(product, model, context):
    """The discounted rebate a knock-in pays where it never knocks in, per row (P, 1) (a scalar 0 for products
    other than barriers and for knock-outs). The samples paying other than this are the ones that tell
    anything about the knock-in (``statistics.Moments.paying``): those that knocked in, whether their vanilla
    then paid or not. A knock-in whose barrier one path of 2,048 reached pays its rebate on all the others,
    and its standard error rests on that one. A knock-out's rebate is not taken out: it is paid where the
    path hit the barrier, which is information (the vanilla control lacks it)."""
    if not isinstance(product, BarrierOption):
        return jnp.zeros(())
    return jnp.where(product.knock_in > 0, product.rebate * model.discount(context["expiry_time"]), 0.0)


def control_samples(product, state, model, context):
    """Control variate per path, C (P, n); its expectation is ``control_mean``."""
    discount = model.discount(context["expiry_time"])
    if _terminal_spot_control(product, model):
        return _discounted_spot_deviation(state, model, context["expiry_time"])
    if isinstance(product, BarrierOption):
        return discount * _vanilla(spot_at_expiry(state), product.strike, product.call)
    # the discounted arithmetic average less its mean, as a deviation (accumulators.running_average)
    linear = discount * model.spot * state["average"]["deviation"] / (product.past_count + context["fixing_count"])
    if not _analytic(model):
        return linear
    log_geometric = _asian_averages(product, state["average"], context["fixing_count"], model.spot)[1]
    return jnp.where(_geometric_twin(product), discount * _fixed_strike_geometric(log_geometric, model.spot, product),
                     linear)


def control_mean(product, model, context):
    """E[C] per row, (P,): closed forms where they exist, exact forward expectations otherwise."""
    expiry = context["expiry_time"]
    if _terminal_spot_control(product, model):
        return jnp.zeros(jnp.shape(_rows(expiry)), expiry.dtype)   # the control is centred: see below
    if isinstance(product, BarrierOption):
        return _rows(european_price(model, product.strike, expiry, product.call))
    # the discounted arithmetic average's deviation from its mean (past sum + sum_k S0 F(t_k)) / N: mean 0
    linear = jnp.zeros(jnp.shape(_rows(expiry)), expiry.dtype)
    if not _analytic(model):
        return linear
    return jnp.where(_rows(_geometric_twin(product)), geometric_asian_price(model, product, context), linear)


def _terminal_spot_control(product, model):
    return isinstance(product, EuropeanOption) or (isinstance(product, BarrierOption) and not _analytic(model))


def _discounted_spot_deviation(state, model, expiry):
    """The discounted terminal spot less its mean, D S_T - S0 e^{-qT} = S0 e^{-qT} expm1(W), with
    W = (x_T - x_0) - (r - q) T (E[e^W] = 1 for every model and scheme: the discounted spot is a martingale).

    Written as a deviation, not as D S_T against a separately computed S0 e^{-qT}: in float32 the two
    round differently by a few units in the last place of ~S0, and with antithetic pairs the control's
    variance is small, so its coefficient is large (63 for a 3-day put) and lifts that mismatch into the
    price (measured: 2.6 standard errors off the float64 price on average over 12 seeds at 400,000 paths,
    up to 9). x_T - x_0 is exact in floating point (the two are close), and x_0 is the log spot the paths
    started from (``Model.log_spot``)."""
    log_spot = model.log_spot(state["terminal"].dtype)
    mean = model.spot * model.discount(expiry) * model.forward_factor(expiry)
    return mean * jnp.expm1((state["terminal"] - log_spot) - model.log_forward_factor(expiry))


def _analytic(model):
    return isinstance(model, (BlackScholes, Heston))


def _geometric_twin(product):
    """Rows whose control is the closed-form geometric Asian: arithmetic, fixed strike."""
    return (product.geometric == 0) & (product.floating_strike == 0)


def _rows(mean):
    return jnp.reshape(mean, (-1,))


def european_price(model, strike, expiry, call):
    """Closed-form European price, broadcast over (P, 1) rows."""
    from . import analytic

    if isinstance(model, BlackScholes):
        fn = lambda s, k, t, c, vol, r, q: analytic.black_scholes_price(
            spot=s, strike=k, expiry=t, vol=vol, rate=r, dividend=q, call=c)
        args = (model.spot, strike, expiry, call, model.vol, model.rate, model.dividend)
    else:
        fn = lambda s, k, t, c, v0, ka, th, xi, rho, r, q: analytic.heston_price(
            spot=s, strike=k, expiry=t, v0=v0, kappa=ka, theta=th, xi=xi, rho=rho, rate=r, dividend=q, call=c)
        args = (model.spot, strike, expiry, call, model.v0, model.kappa, model.theta, model.xi, model.rho,
                model.rate, model.dividend)
    return _vmap_rows(fn, *args)


def geometric_asian_price(model, product, context):
    """Closed-form discrete geometric Asian (fixed strike), rows (P,); fixing times (P, n) from the grid,
    padded to a shared length with weights (n,) shared by the rows (``engine.prepare``)."""
    from . import analytic

    fixing_times = context["fixing_times"]  # (P, n)
    weights = context["fixing_weights"].reshape(-1)
    expiry = context["expiry_time"]
    past_log_ratio = _past_log_ratio(product, product.strike)
    if isinstance(model, BlackScholes):
        fn = lambda w, s, k, t, c, plr, pc, ft, vol, r, q: analytic.geometric_asian_bs_price(
            spot=s, strike=k, fixing_times=ft, vol=vol, rate=r, dividend=q, call=c, expiry=t,
            past_log_ratio=plr, past_count=pc, fixing_weights=w)
        extra = (model.vol, model.rate, model.dividend)
    else:
        fn = lambda w, s, k, t, c, plr, pc, ft, v0, ka, th, xi, rho, r, q: analytic.geometric_asian_heston_price(
            spot=s, strike=k, fixing_times=ft, v0=v0, kappa=ka, theta=th, xi=xi, rho=rho, rate=r, dividend=q,
            call=c, expiry=t, past_log_ratio=plr, past_count=pc, fixing_weights=w)
        extra = (model.v0, model.kappa, model.theta, model.xi, model.rho, model.rate, model.dividend)
    rows = fixing_times.shape[0]
    scalar_args = [jnp.broadcast_to(a, (rows, 1))[:, 0] for a in
                   (model.spot, product.strike, expiry, product.call, past_log_ratio, product.past_count)]
    extra = [jnp.broadcast_to(a, (rows, 1))[:, 0] for a in extra]
    # the weights stay unbatched: the Heston recursion then skips the padding with a real branch
    in_axes = (None,) + (0,) * (len(scalar_args) + 1 + len(extra))
    return jax.vmap(fn, in_axes=in_axes)(weights, *scalar_args, fixing_times, *extra)


def _vmap_rows(fn, *args):
    rows = max(jnp.shape(a)[0] for a in args)
    flat = [jnp.broadcast_to(a, (rows, 1))[:, 0] for a in args]
    return jax.vmap(fn)(*flat)
