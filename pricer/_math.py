"""Elementwise helpers whose derivatives stay finite where the textbook formula's do not."""
import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero


def safe_sqrt(x):
    """sqrt(max(x, 0)) with derivative 0 (not inf, hence not NaN in a product) at and below 0."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


# Numerical Recipes' erfc (Chebyshev fit, W. H. Press et al., 2nd ed., 6.2): fractional error < 1.2e-7
# for every x >= 0, from exp alone. Used inside the simulation instead of scipy's ndtr because erf has
# no Triton lowering: the scan and the fused kernel then run one and the same function.
_ERFC_COEFFICIENTS = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
                      0.09678418, 0.37409196, 1.00002368, -1.26551223)


def normal_upper_tail(z):
    """P(Z > z) for a standard normal Z, relative error < 1.2e-7 (accurate deep in both tails: the
    upper tail is computed directly, never as 1 - cdf)."""
    x = jnp.abs(z) * 0.7071067811865476
    t = 1.0 / (1.0 + 0.5 * x)
    poly = jnp.zeros_like(t)
    for coefficient in _ERFC_COEFFICIENTS[:-1]:
        poly = (poly + coefficient) * t
    erfc = t * jnp.exp(-x * x + _ERFC_COEFFICIENTS[-1] + poly)
    return jnp.where(z >= 0, 0.5 * erfc, 1.0 - 0.5 * erfc)


def computed_once(partial):
    """``partial`` itself (x / 1 is exact for every finite x; +-inf would become NaN), in a form XLA:CPU
    computes once per element and keeps in memory.

    XLA fuses cheap elementwise producers (multiplies, adds, selects) into each consumer, duplicating
    them. Under the Greeks' vmap a tangent's loop reads every per-path partial derivative once per
    tangent, so a partial's whole chain of arithmetic ran once per Greek (Heston's QE step, in the
    compiled program: 48 + 89 per-path operations in the two tangent loops, 7 + 13 with this). To XLA:CPU's
    fusion heuristics a division is an expensive producer, never duplicated into a consumer that reuses
    its elements: dividing by a 1 computed from the data (so not constant-folded) makes the partial a loop
    of its own, run once. XLA:GPU counts a division as cheap, so there it would only add work: a no-op."""
    if jax.default_backend() != "cpu":
        return partial
    return partial / (1.0 + 0.0 * partial)


def tangent_sum(terms, primal_out):
    """sum(partial * tangent) over the (partial, tangent) pairs whose tangent is not a symbolic zero,
    shaped like ``primal_out``: an output tangent of a hand-written JVP rule (``defjvp(...,
    symbolic_zeros=True)``), which then spends nothing on the inputs the direction does not move. With
    no moving input the result is a symbolic zero too, so a loop carrying the output carries no tangent."""
    moving = [partial * tangent for partial, tangent in terms if type(tangent) is not SymbolicZero]
    if not moving:
        return SymbolicZero(jax.typeof(primal_out).to_tangent_aval())
    return jnp.broadcast_to(sum(moving[1:], moving[0]), primal_out.shape)
