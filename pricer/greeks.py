"""Greeks on the same paths as the price (common random numbers), each with its own standard error.

Method, by what is differentiated:
* first order (delta, vega, rho, any model parameter): pathwise derivatives by forward-mode autodiff
  (``jax.jvp``) of each path's discounted payoff. Unbiased where the payoff is Lipschitz in the
  parameter along each path: Europeans, Asians, and continuously monitored barriers, whose Brownian-
  bridge survival probability is smooth. The control variate is differentiated too (its known mean by
  autodiff of the closed form) with the price's coefficient beta: each Greek is the derivative of the
  controlled price estimator, which stays well defined where a control's derivative vanishes
  (d/d rate of the discounted forward, the gamma of a linear control). Two pieces that every path runs
  at every step carry hand-written JVP rules, checked against autodiff of their formulas
  (``tests/test_hand_derivatives.py``): Heston's QE variance draw (``models/_qe.py``) and the Brownian-
  bridge survival (``_bridge.py``). Their partial derivatives are computed once per path and each Greek
  pays a few multiply-adds, where autodiff would push every Greek through every intermediate step.
* cost: the paths are simulated once, each first-order Greek adds its tangent's arithmetic. The tangents
  are vmapped in nested groups (``_tangent_groups``) so that a cheap direction is not batched with costly
  ones: moving the discounting alone, the log price only (spot, rate, dividend), the variance too. With
  rho and dividend both asked for, rho is d/d(rate and dividend together) - d/d dividend: the first moves
  the discounting alone and carries no path tangent (measured: a Black–Scholes barrier's price + all
  first-order Greeks 248 -> 186 ms, GJR-GARCH 406 -> 372 ms, on a 2-core CPU). On a CPU the hand-written
  rules' long partials (the QE draw's, the moving-variance bridge's) are ``_math.computed_once``: XLA
  would otherwise fuse each partial's arithmetic into every tangent's loop and recompute it once per Greek
  (measured, Heston, 204,800 paths, 2-core CPU, old and new interleaved in one process: an Asian's price
  + all first-order Greeks 1,095 -> 732 ms, a European's 816 -> 520 ms; a barrier's 933 -> 924 ms, of
  which the moving-variance bridge's share, measured apart, is 4-6%: 938-947 ms without it, 895-900
  with). The plain bridge's partials are short and left to XLA: kept in memory, they measured 4-11% slower.
* a continuously monitored knock-out rebate is discounted at the bridge's expected crossing time within its
  step (``_bridge.crossing_time_fraction``): paid at the step's end plus the interest from the crossing to
  it. That time is held fixed in the derivative, and the interest is differentiated through the rate only
  (rho) and not through the hit probability: each changes a Greek by at most r dt of the rebate's own share
  (1e-4 a day at a 2.5% rate), and together they spare every Greek the crossing time's arithmetic.
* gamma, every Greek of a discretely monitored barrier (whose payoff jumps at the barrier), every
  Greek of Heston under the Euler scheme (full truncation's sqrt(max(v, 0)) has an unbounded derivative
  near v = 0, so pathwise estimates there have heavy tails and understated standard errors), and every
  Greek of a Heston pricing call that asks for the correlation Greek where a correlation is -1 or +1 (the
  independent Brownian part's sqrt(1 - rho^2) has an infinite derivative there):
  central differences with common random numbers, of the pathwise delta (gamma) or of the price,
  with a relative bump of ``GAMMA_BUMP``; bias O(bump^2). The spot's step is smaller where 1% is a large
  part of the spread of S_T or of the distance to a barrier (``_spot_steps.py``). The price's differences
  step along the Greek's direction by one scalar per row (``difference_steps``): fields that may be zero are moved
  by ``GAMMA_BUMP`` of a floor, and a step never leaves the model's domain (one-sided on its boundary).

Names: "delta", "gamma" (spot); "vega" (Black–Scholes: d/d vol; Heston: d/d sqrt(v0) with sqrt(theta)
moved by the same amount; GARCH: d/d sqrt(h0), daily units, with the long-run variance's square root
moved likewise); "rho" (rate); "dividend"; and model parameters by name ("vol", "v0", "kappa", "theta",
"xi", "correlation" (Heston's rho), "omega", "alpha", "beta", "gamma_garch" (GJR's gamma), "h0").
"""
from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import compile_budget, payoffs, statistics
from .engine import (_CORE_STATIC, PriceResult, control_arrays, control_mean, prepare, sample_counts, simulate_samples,
                     simulation_arrays)
from .lanes import accumulate_chunks
from .models import BlackScholes, Garch, Heston
from ._spot_steps import clear_knocked_barriers, spot_steps
from ._tangent_groups import GROUPS, discounted_at, group_of, in_greek_order, pathwise, split_rate, stack, unstack
from .products import BarrierOption, in_units_of

GAMMA_BUMP = 0.01

_ALIASES = {"delta": "spot", "rho": "rate", "correlation": "rho", "gamma_garch": "gamma"}


def available_greeks(model) -> set[str]:
    """Names ``price(..., greeks=...)`` accepts for this model."""
    # dataclasses.fields, not __dataclass_fields__: the latter lists ClassVars too (n_normals, periods_per_year)
    fields = {f.name for f in dataclasses.fields(model) if getattr(model, f.name) is not None}
    renamed = {"rho": "correlation", "gamma": "gamma_garch"}   # the Greek names rho/gamma mean rate/spot
    return {"delta", "gamma", "vega", "rho"} | {renamed.get(f, f) for f in fields}


def _check_names(names, model):
    unknown = [n for n in names if n not in available_greeks(model)]
    if isinstance(model, Garch) and "h0" in unknown:   # a field of Garch's, left None
        raise ValueError("greek 'h0' needs the model's h0 set: with h0=None the paths start at the stationary "
                         "variance, which moves with omega, alpha, beta and gamma (their Greeks include it); set "
                         "h0=model.initial_variance to differentiate the start alone")
    if unknown:
        raise ValueError(f"greek {unknown[0]!r} is not known for {type(model).__name__}; "
                         f"choose from {sorted(available_greeks(model))}")


def tangent(model, name: str):
    """The model-shaped direction d model / d greek for a first-order Greek."""
    zero = jax.tree_util.tree_map(jnp.zeros_like, model)
    if name == "vega":
        return _vega_tangent(model, zero)
    field = _ALIASES.get(name, name)
    return _replace(zero, **{field: jnp.ones_like(getattr(model, field))})


def _vega_tangent(model, zero):
    if isinstance(model, BlackScholes):
        return _replace(zero, vol=jnp.ones_like(model.vol))
    if isinstance(model, Heston):
        return _replace(zero, v0=2.0 * jnp.sqrt(model.v0), theta=2.0 * jnp.sqrt(model.theta))
    persistence = 1.0 - model.alpha - model.beta - 0.5 * model.gamma
    long_run = model.omega / persistence
    changes = {"omega": 2.0 * jnp.sqrt(long_run) * persistence}
    if model.h0 is not None:
        changes["h0"] = 2.0 * jnp.sqrt(model.h0)
    return _replace(zero, **changes)


def _replace(model, **changes):
    return dataclasses.replace(model, **changes)


def moved_fields(tangents) -> tuple[str, ...]:
    """Model fields that some tangent moves (nonzero somewhere), in field order."""
    names = [f.name for f in dataclasses.fields(tangents[0])]
    return tuple(n for n in names if any(getattr(t, n) is not None and np.any(np.asarray(getattr(t, n)) != 0)
                                         for t in tangents))


def price_with_greeks(product, model, mc, names, *, pad_rows: bool = True):
    _check_names(names, model)
    discrete = isinstance(product, BarrierOption) and not product.continuous
    # Heston under Euler full truncation: the pathwise derivative of sqrt(v+) is unbounded as v -> 0+, so
    # pathwise Greeks have heavy tails (measured: spread over seeds 2x the reported stderr for a barrier
    # vega at 252 steps). Central differences on the same paths have a finite variance.
    truncated_euler = isinstance(model, Heston) and mc.scheme == "euler"
    first_order = tuple(n for n in names if n != "gamma")
    # Heston's correlation at |rho| = 1: the step's independent part sqrt((1 - rho^2) v dt) z has an
    # infinite derivative in rho there, which safe_sqrt takes as 0, so the pathwise correlation Greek drops
    # a whole term (audit: -7.66 +- 0.01 at rho = -1 where the closed form's derivative is +0.62).
    # Differences, one-sided on the boundary (``difference_steps``), are right
    # (in the run's dtype: -0.99999999 is -1 in float32)
    correlation_at_bound = (isinstance(model, Heston) and "correlation" in first_order
                            and bool(np.any(np.abs(np.asarray(model.rho, mc.dtype)) >= 1.0)))
    by_differences = discrete or truncated_euler or correlation_at_bound
    # the paths carry a tangent per pathwise first-order Greek (at most; gamma and central differences none)
    setup = prepare(product, model, mc, derivatives=0 if by_differences else len(first_order), pad_rows=pad_rows)
    all_tangents = [tangent(setup.model, n) for n in first_order]
    # a directional derivative is linear in its direction: a Greek whose tangent is a combination of
    # single-field tangents also asked for (vega with v0 and theta, GARCH vega with omega) is that
    # combination of their per-path derivatives, with no tangent of its own (same numbers to rounding)
    layout, coefficients, computed = _combination_layout(all_tangents, pathwise=not by_differences)
    tangents = [all_tangents[j] for j in computed]
    # only the moved fields carry tangents: the others stay constants, so JAX propagates no tangent
    # through what depends on them alone (delta and rho do not differentiate Heston's variance path)
    directions = [{f: getattr(t, f) for f in moved_fields([t])} for t in tangents]
    if not by_differences:
        directions, layout, coefficients = split_rate(first_order, directions, layout, coefficients, setup.model)
    # Greeks are batched in nested groups (``_tangent_groups.GROUPS``), so that a cheap direction is not
    # vmapped with costly ones: under one vmap every tangent would pay for the variance path's derivative
    groups = tuple(group_of(d, type(setup.model)) for d in directions)
    stacked = tuple(stack([d for d, g in zip(directions, groups) if g == k]) for k in range(len(GROUPS)))
    want_gamma = "gamma" in names
    # which computed first-order Greek is delta: a central difference moves the spot per row (in_units_of)
    spot_only = tuple(first_order[j] == "delta" for j in computed)
    how = dict(groups=groups, want_gamma=want_gamma, finite_difference=by_differences, bump=GAMMA_BUMP,
               spot_only=spot_only,
               layout=layout)
    dtype = setup.arrays["dt"].dtype
    steps = spot_steps(setup.model, setup.product, GAMMA_BUMP, dtype)
    # a barrier knocked at inception is moved beyond the differenced spots (the same price), so that a
    # difference in spot stays central on the knocked product
    product = clear_knocked_barriers(setup.model, setup.product, steps)
    spot_moves = tuple(jnp.asarray(a, dtype) for a in steps)
    means = _control_means(setup.model, product, control_arrays(setup.arrays), stacked, coefficients,
                           spot_moves, use_control=mc.control_variate, **how)
    outputs = _greeks_core(setup.model, product, simulation_arrays(setup.arrays), setup.key, stacked, coefficients,
                           means, spot_moves, **how, **setup.static)
    values, errors = (np.asarray(a) for a in outputs[:2])
    greeks, greeks_stderr = {}, {}
    order = first_order + (("gamma",) if want_gamma else ())
    for i, name in enumerate(order, start=1):
        greeks[name] = setup.unpadded(values[i])
        greeks_stderr[name] = setup.unpadded(errors[i])
    return PriceResult(setup.unpadded(values[0]), setup.unpadded(errors[0]), greeks, greeks_stderr,
                       paths=mc.simulated_paths, steps=setup.grid.steps, **sample_counts(outputs[2:], setup))


def _combination_layout(tangents, *, pathwise):
    """Which first-order Greeks get a tangent of their own, and how the others are rebuilt.

    Returns (layout, coefficients, computed): ``computed`` the indices of the tangents to differentiate
    along; ``layout[j]`` an int (position among the computed) or a tuple of (position of a single-field
    unit tangent, slot in ``coefficients``) pairs whose weighted sum is Greek j; ``coefficients`` the
    weights, each a model-field-shaped array. Only for pathwise derivatives (a central difference along
    a combined direction is not the combination of the units' differences beyond first order)."""
    units = {}
    for j, t in enumerate(tangents):
        moved = moved_fields([t])
        if len(moved) == 1 and np.all(np.asarray(getattr(t, moved[0])) == 1.0):
            units.setdefault(moved[0], j)
    combined = {}
    if pathwise:
        for j, t in enumerate(tangents):
            moved = moved_fields([t])
            if j not in units.values() and moved and all(f in units for f in moved):
                combined[j] = moved
    computed = [j for j in range(len(tangents)) if j not in combined]
    position = {j: k for k, j in enumerate(computed)}
    layout, coefficients = [], []
    for j, t in enumerate(tangents):
        if j not in combined:
            layout.append(position[j])
            continue
        pairs = []
        for field in combined[j]:
            pairs.append((position[units[field]], len(coefficients)))
            coefficients.append(jnp.asarray(getattr(t, field)))
        layout.append(tuple(pairs))
    return tuple(layout), tuple(coefficients), computed


def _recombine(parts, layout, coefficients, n_computed):
    """[primal, computed first order..., rest] -> [primal, every first-order Greek in order..., rest]."""
    primal, computed, rest = parts[0], parts[1:1 + n_computed], parts[1 + n_computed:]

    def weighted(pairs):
        def combine(*derivatives):
            return sum(_rows_like(coefficients[slot], d) * d for (_, slot), d in zip(pairs, derivatives))
        return jax.tree_util.tree_map(combine, *[computed[k] for k, _ in pairs])

    first = [computed[entry] if isinstance(entry, int) else weighted(entry) for entry in layout]
    return [primal] + first + rest


def _rows_like(coefficient, derivative):
    """A (model rows, 1) weight shaped to broadcast against a (rows,) or (rows, samples) derivative."""
    return coefficient.reshape((coefficient.shape[0],) + (1,) * (derivative.ndim - 1))


def derivative_quantities(fn, model, tangents, spot_moves, *, groups, want_gamma, finite_difference, bump, spot_only):
    """[fn(model), d fn along each tangent..., d2 fn / d spot2] for a pytree-valued ``fn`` of the model.

    ``fn(model, factor=None, shift=None)``: with ``factor`` (rows, 1), the same quantity for the product in
    units of the spot times factor (``products.in_units_of``); with ``shift``, discounted at the rate and
    dividend raised by it (``_tangent_groups.discounted_at``). ``tangents``: one per ``GROUPS``, each
    {moved field: (count, ...) array} or None; ``groups[g]`` says which group the g-th first-order Greek is
    in; ``spot_only`` which one is delta. Pathwise (``jax.jvp``) unless ``finite_difference``; gamma by central differences of
    the delta. ``spot_moves``: (up, down) per product row (rows, 1), the spot's difference points S + up and
    S - down (``_spot_steps.spot_steps``). The spot itself is never moved: by
    homogeneity the value at S x f is f times the value at S of the product in units of S x f, and the
    delta there is that product's delta at S, so each row moves by its own step on the batch's shared paths.
    """
    n_first = len(groups)
    spot_up, spot_down = spot_moves
    spot_width = spot_up + spot_down   # per row (rows, 1)
    factor_up, factor_down = 1.0 + spot_up / model.spot, 1.0 - spot_down / model.spot

    def scaled(tree, factor):
        return jax.tree_util.tree_map(lambda a: a * _rows_like(factor, a), tree)

    def value_at(m, factor):   # the value at spot S x factor, per row
        return scaled(fn(m, factor), factor)

    def delta_at(m, factor):   # the delta at spot S x factor, per row
        if finite_difference:
            up, down = factor * factor_up, factor * factor_down
            return jax.tree_util.tree_map(lambda a, b: (a - b) / _rows_like(factor * spot_width, a),
                                          value_at(m, up), value_at(m, down))
        at = lambda spot: fn(_replace(m, spot=spot), factor)  # noqa: E731
        return jax.jvp(at, (m.spot,), (jnp.ones_like(m.spot),))[1]

    if n_first and not finite_difference:
        out = pathwise(fn, model, tangents, groups)
    else:
        out = [fn(model)]
    if n_first and finite_difference:
        directions = in_greek_order(groups, [unstack(group) for group in tangents])
        for direction, is_delta in zip(directions, spot_only):
            if is_delta:
                out.append(jax.tree_util.tree_map(lambda a, b: (a - b) / _rows_like(spot_width, a),
                                                  value_at(model, factor_up), value_at(model, factor_down)))
                continue
            up_step, down_step = difference_steps(model, direction, bump)
            up = _replace(model, **{f: getattr(model, f) + up_step * d for f, d in direction.items()})
            down = _replace(model, **{f: getattr(model, f) - down_step * d for f, d in direction.items()})
            width = up_step + down_step
            out.append(jax.tree_util.tree_map(lambda a, b: (a - b) / _rows_like(width, a), fn(up), fn(down)))
    if want_gamma:
        up, down = delta_at(model, factor_up), delta_at(model, factor_down)
        out.append(jax.tree_util.tree_map(lambda a, b: (a - b) / _rows_like(spot_width, a), up, down))
    return out


#: a field's size for its finite-difference step where the field may be zero: the step along a field
#: is ``bump`` times max(|value|, floor) (a zero rate is moved by 0.001, not by nothing)
DIFFERENCE_FLOORS = {"rate": 0.1, "dividend": 0.1, "rho": 1.0, "v0": 0.04, "alpha": 0.1, "beta": 0.1,
                     "gamma": 0.1, "price_of_risk": 1.0}


#: the largest step, as a fraction of the distance to the domain's boundary. The price may be singular
#: there (GARCH's stationary variance omega / (1 - persistence) at persistence 1): a central difference's
#: relative bias is then about (step / distance)^2, 0.4% at 1/16 (measured at persistence 0.9995: half
#: the distance gave an alpha Greek 14% low, 4.5 standard errors)
ROOM_FRACTION = 1.0 / 16.0


def difference_steps(model, direction, bump):
    """Steps (up, down) along ``direction`` ({field: (rows, 1) array}) for a central difference, per row.

    One scalar step per row moves every field along the direction (a directional derivative: vega
    moves v0 and theta in proportion), chosen so that no field moves by more than ``bump`` of its size
    (``DIFFERENCE_FLOORS`` for fields that may be zero). Each side is then cut to ``ROOM_FRACTION`` of
    the distance to the model's domain (``Model.domain``) next to a boundary (a correlation of 0.999 or 1, a GARCH
    persistence of 0.9995, a parameter at 0), rather than pricing an invalid model: the two steps are then equal (the smaller of the two), and one-sided only where the
    model sits on the boundary. The derivative is (f(x + up d) - f(x - down d)) / (up + down).
    """
    step = None
    for field, d in direction.items():
        size = jnp.maximum(jnp.abs(getattr(model, field)), DIFFERENCE_FLOORS.get(field, 0.0))
        along = jnp.where(d != 0, bump * size / jnp.where(d != 0, jnp.abs(d), 1.0), jnp.inf)
        step = along if step is None else jnp.minimum(step, along)
    up_room = down_room = jnp.inf
    for constant, coefficients in model.domain():
        if any(getattr(model, f) is None for f in coefficients):
            continue
        slack = constant + sum(c * getattr(model, f) for f, c in coefficients.items())
        slope = sum(c * direction[f] for f, c in coefficients.items() if f in direction)
        if isinstance(slope, int):   # the direction moves none of the constraint's fields
            continue
        slack = jnp.maximum(slack, 0.0)
        up_room = jnp.minimum(up_room, jnp.where(slope < 0, slack / jnp.where(slope < 0, -slope, 1.0), jnp.inf))
        down_room = jnp.minimum(down_room, jnp.where(slope > 0, slack / jnp.where(slope > 0, slope, 1.0), jnp.inf))
    up, down = jnp.minimum(step, ROOM_FRACTION * up_room), jnp.minimum(step, ROOM_FRACTION * down_room)
    # symmetric (second-order) wherever both sides have room; one-sided only on a boundary itself
    both = jnp.minimum(up, down)
    on_boundary = both == 0
    return jnp.where(on_boundary, up, both), jnp.where(on_boundary, down, both)


_STATIC = ("groups", "want_gamma", "finite_difference", "bump", "layout", "spot_only")


@partial(compile_budget.jit, static_argnames=_STATIC + ("use_control",))
def _control_means(model, product, cv_arrays, tangents, coefficients, spot_moves, *, use_control, layout, **how):
    def fn(m, factor=None, shift=None):
        return control_mean(discounted_at(m, shift), product if factor is None else in_units_of(product, factor),
                            cv_arrays, use_control)
    parts = derivative_quantities(fn, model, tangents, spot_moves, **how)
    return jnp.concatenate(_recombine(parts, layout, coefficients, len(how["groups"])))


@partial(compile_budget.jit, static_argnames=_STATIC + _CORE_STATIC)
def _greeks_core(model, product, arrays, key, tangents, coefficients, means, spot_moves, *, groups, want_gamma,
                 finite_difference, bump, layout, spot_only, blocks, blocks_per_chunk, antithetic, use_control, scheme,
                 rebate_at_crossing):
    n_first = len(layout)
    rows = arrays["expiry_time"].shape[0]
    dtype = arrays["dt"].dtype
    how = dict(groups=groups, want_gamma=want_gamma, finite_difference=finite_difference, bump=bump, spot_only=spot_only)

    def samples(first_block, size):
        def fn(m, factor=None, shift=None):
            return simulate_samples(m, product if factor is None else in_units_of(product, factor), arrays, key,
                                    first_block, size, antithetic, scheme, use_control, rebate_at_crossing,
                                    None if shift is None else discounted_at(m, shift))
        parts = _recombine(derivative_quantities(fn, model, tangents, spot_moves, **how), layout, coefficients,
                           len(groups))
        return jnp.concatenate([p[0] for p in parts]), jnp.concatenate([p[1] for p in parts])

    count = 1 + n_first + int(want_gamma)
    # the price rows count their paying samples against a knock-in's rebate; the Greeks' rows' counts are not read
    reference = payoffs.knock_in_rebate(product, model, arrays)
    if reference.ndim:
        reference = jnp.concatenate([jnp.broadcast_to(reference, (rows, 1)),
                                     jnp.zeros(((count - 1) * rows, 1), reference.dtype)])
    total = accumulate_chunks(samples, count * rows, dtype, blocks, blocks_per_chunk, reference)
    # every quantity uses the price's control coefficient: the Greeks are derivatives of the controlled price
    price_total = jax.tree_util.tree_map(lambda a: a[:rows] if a.ndim else a, total)
    price_beta = statistics.optimal_beta(price_total)
    value, error = statistics.estimate(total, means, use_control, beta=jnp.tile(price_beta, count))
    return (value.reshape(count, rows), error.reshape(count, rows)) + statistics.informative_samples(price_total)
