"""Flax (linen) networks of the neural GARCH calibrator and the constrained output head.

Each network maps scale-free inputs to three raw numbers (z_p, z_a, z_v); ``head`` turns them into
parameters that satisfy the GARCH constraints by construction:

    persistence = sigmoid(z_p + 2.5)        in (0, 1)
    alpha       = sigmoid(z_a - 2) * persistence   >= 0
    beta        = persistence - alpha          >= 0, alpha + beta < 1
    v           = exp(z_v)                  long-run variance / sample variance of the scaled series
    omega       = (1 - persistence) * v * scale^2   > 0, in the caller's units
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from .features import N_FEATURES, summary_features

__all__ = ["SummaryMLP", "LSTMEncoder", "HybridGate", "ARCHITECTURES", "head", "build", "summary_network"]


class SummaryMLP(nn.Module):
    """MLP over the summary features (features.summary_features), standardised by stored mean/std."""
    hidden: tuple = (128, 128, 64)

    @nn.compact
    def __call__(self, x):                      # x: (N, N_FEATURES), already standardised
        for width in self.hidden:
            x = nn.gelu(nn.Dense(width)(x))
        return nn.Dense(3)(x)


class LSTMEncoder(nn.Module):
    """The seed's LSTM: reads log(u^2) step by step (features.sequence_inputs), mean-pools the hidden
    states (length-agnostic), then a small MLP head. x: (N, T, 1)."""
    hidden: int = 32

    @nn.compact
    def __call__(self, x):
        rnn = nn.RNN(nn.OptimizedLSTMCell(self.hidden))
        h = rnn(x)                              # (N, T, H)
        pooled = jnp.concatenate([jnp.mean(h, axis=1), h[:, -1]], axis=-1)
        pooled = nn.gelu(nn.Dense(64)(pooled))
        return nn.Dense(3)(pooled)


class HybridGate(nn.Module):
    """The gate of the hybrid calibrator (hybrid.py): standardised gate inputs (N, N_GATE_INPUTS) -> three
    logits, the weights on the network's estimate of persistence, alpha's share and long-run variance."""
    hidden: tuple = (64, 64)

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = nn.gelu(nn.Dense(width)(x))
        return nn.Dense(3)(x)


ARCHITECTURES = {"mlp": SummaryMLP, "lstm": LSTMEncoder, "hybrid": HybridGate}


def build(arch: str, **kwargs) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise ValueError(f"architecture {arch!r} is unknown; choose one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**kwargs)


def input_features(arch: str) -> int:
    """Width of the stored input standardisation (feature_mean / feature_std) of ``arch``."""
    from .hybrid import N_GATE_INPUTS
    return {"mlp": N_FEATURES, "hybrid": N_GATE_INPUTS}.get(arch, 1)


def input_shape(arch: str, T: int = 500):
    return (2, T, 1) if arch == "lstm" else (2, input_features(arch))


def head(z):
    """(N, 3) raw outputs -> dict(alpha, beta, persistence, v), constrained by construction."""
    pers = jax.nn.sigmoid(z[:, 0] + 2.5)           # offsets: an untrained net starts near 0.92 / 0.1
    alpha = jax.nn.sigmoid(z[:, 1] - 2.0) * pers
    return dict(alpha=alpha, beta=pers - alpha, persistence=pers, v=jnp.exp(z[:, 2]))


def summary_network(model, variables, u, robust):
    """The summary-statistics network on unit-RMS series u (T, N) (``robust``: features.robust_scale(u)):
    (``head``'s dict of (N,) outputs, the standardised features z (N, N_FEATURES) it read)."""
    x = summary_features(u, robust).astype(jnp.float32)
    z = (x - variables["feature_mean"]) / variables["feature_std"]
    return head(model.apply({"params": variables["params"]}, z)), z
