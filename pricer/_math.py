"""Elementwise helpers whose derivatives stay finite where the textbook formula's do not."""
import jax.numpy as jnp


def safe_sqrt(x):
    """sqrt(max(x, 0)) with derivative 0 (not inf, hence not NaN in a product) at and below 0."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def safe_divide(numerator, denominator):
    """numerator / denominator where denominator > 0, else 0 (and a zero derivative there)."""
    positive = denominator > 0
    return jnp.where(positive, numerator / jnp.where(positive, denominator, 1.0), 0.0)
