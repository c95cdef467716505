"""How the first-order Greeks' tangent directions are grouped and nested in forward-mode autodiff.

A direction is {field: array}: the model fields it moves (the others stay constants, so JAX carries no
tangent through what depends on them alone). Directions are batched by ``vmap`` in nested groups
(``GROUPS``): under one vmap every tangent pays for the costliest one's arithmetic, so a cheap direction
(the discounting alone; the log price alone) is kept apart from those that move the variance path.
``DISCOUNT_SHIFT`` is a pseudo-field: the rate and the dividend raised together, which moves only the
discounting (``discounted_at``); with it rho costs no path tangent when the dividend Greek is asked too
(``split_rate``).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

#: a pseudo-field of the tangents: the rate and the dividend moved together, which moves the discounting
#: and leaves r - q, the paths' drift, alone (``discounted_at``)
DISCOUNT_SHIFT = "discount_shift"

#: the nested groups of first-order Greeks, outermost first: those that move the discounting alone
#: (``DISCOUNT_SHIFT``: no path tangent), those that move only variance-free fields
#: (``Model.variance_free_fields``: the log price's tangent, not the variance's), and the rest
GROUPS = ("discount", "light", "heavy")


def group_of(direction, model_type) -> int:
    """The index in ``GROUPS`` of a direction ({field: array})."""
    if set(direction) == {DISCOUNT_SHIFT}:
        return 0
    return 1 if set(direction) <= model_type.variance_free_fields else 2


def discounted_at(model, shift):
    """``model`` with its rate and dividend both raised by ``shift`` (None: the model itself). The engine
    discounts with it and simulates with the model (``engine.advance``): in a jvp along the shift the paths
    carry no tangent, where one along the rate differentiates every path and step."""
    if shift is None:
        return model
    return dataclasses.replace(model, rate=model.rate + shift, dividend=model.dividend + shift)


def split_rate(first_order, directions, layout, coefficients, model):
    """Rho as the discount shift's derivative less the dividend's, when both are asked for (pathwise).

    d/dr = d/d(shift) - d/dq: a shift of r and q together moves only the discounting, so its tangent
    skips the paths (the rate's carried a path tangent through every step, as the dividend's does): with
    rho and dividend both asked for, one path tangent fewer (the same numbers to rounding).
    ``directions``: the computed tangents as {field: array}; ``layout``, ``coefficients`` as
    ``greeks._combination_layout``. Returns (directions, layout, coefficients), unchanged where it does
    not apply."""
    if not ("rho" in first_order and "dividend" in first_order):
        return directions, layout, coefficients
    rho, dividend = first_order.index("rho"), first_order.index("dividend")
    if not (isinstance(layout[rho], int) and isinstance(layout[dividend], int)):
        return directions, layout, coefficients
    position = layout[rho]
    if set(directions[position]) != {"rate"} or any(isinstance(e, tuple) and any(k == position for k, _ in e)
                                                     for e in layout):
        return directions, layout, coefficients   # another Greek is rebuilt from rho's tangent
    ones = jnp.ones_like(model.rate)
    directions = [{DISCOUNT_SHIFT: ones} if k == position else d for k, d in enumerate(directions)]
    slot = len(coefficients)
    layout = tuple(((position, slot), (layout[dividend], slot + 1)) if j == rho else entry
                   for j, entry in enumerate(layout))
    return directions, layout, tuple(coefficients) + (ones, -ones)


def stack(directions):
    """{field: (len(directions), ...) array} over the fields some direction ({field: array}) moves (zeros
    where another does not), or None for no directions."""
    if not directions:
        return None
    fields = list(dict.fromkeys(f for d in directions for f in d))
    like = {f: next(d[f] for d in directions if f in d) for f in fields}
    return {f: jnp.stack([d.get(f, jnp.zeros_like(like[f])) for d in directions]) for f in fields}


def unstack(group):
    """[{field: one Greek's direction}] from {field: (count, ...) array}; [] for None."""
    if group is None:
        return []
    count = next(iter(group.values())).shape[0]
    return [{f: t[i] for f, t in group.items()} for i in range(count)]


def in_greek_order(groups, items):
    """The groups' items (one list per group) merged back into the Greeks' order (``groups[g]`` says which
    group the g-th Greek is in)."""
    iterators = [iter(group_items) for group_items in items]
    return [next(iterators[g]) for g in groups]


def pathwise(fn, model, tangents, groups):
    """[fn(model), its jvp along each first-order direction] with one primal pass.

    ``fn(model, shift=None)``; ``tangents``: one {field: (count, ...) array} or None per ``GROUPS``;
    ``groups[g]``: the g-th Greek's group. The primal does not depend on the tangents, so under vmap it
    stays unbatched (out_axes None) and the paths are simulated once. Each group is a jvp vmapped over its
    tangents, nested in ``GROUPS``' order (the last innermost); an outer group's derivative of an inner
    group's tangents (mixed second order) is cut by stop_gradient and dead code.
    """
    def nested(base, shift, level):
        # (primal, [each group's derivatives from ``level`` on, (count, ...) leaves, or None]); shift: an
        # outer group's discount shift (None: none), passed to every call of fn
        if level == len(tangents):
            return fn(base, shift=shift), []
        group = tangents[level]
        if group is None:
            primal, deeper = nested(base, shift, level + 1)
            return primal, [None] + deeper
        at = {f: jnp.zeros_like(base.rate) if f == DISCOUNT_SHIFT else getattr(base, f) for f in group}

        def inner(fields):
            fields = dict(fields)
            moved_shift = fields.pop(DISCOUNT_SHIFT, shift)
            primal, deeper = nested(dataclasses.replace(base, **fields), moved_shift, level + 1)
            return primal, jax.lax.stop_gradient(deeper)

        (primal, deeper), (derivative, _) = jax.vmap(lambda t: jax.jvp(inner, (at,), (t,)),
                                                     out_axes=(None, 0))(group)
        return primal, [derivative] + deeper

    primal, derivatives = nested(model, None, 0)

    def split(derivative, count):   # (count, ...) leaves -> count pytrees
        return [jax.tree_util.tree_map(lambda d, i=i: d[i], derivative) for i in range(count)]
    items = [split(d, groups.count(k)) if d is not None else [] for k, d in enumerate(derivatives)]
    return [primal] + in_greek_order(groups, items)
