"""The gated hybrid neural calibrator (``fit_garch(..., method="nn")``'s default, ``nn_arch="hybrid"``).

Three stages per series, all batched:

1. the summary-statistics network (``mlp``) gives a first estimate theta0, robust to outliers by training;
2. ``NEWTON_STEPS`` (5, or what the weights' metadata says) saddle-free Newton steps on the exact normal
   likelihood from theta0 (the MLE code's ``_Problem`` and ``minimize_newton``, its eigen-decompositions
   by jacobi.py so that blocks of series can run on several CPU devices at once) give theta_k, close to
   the MLE: efficient on clean data, but pulled by outliers like any likelihood estimate;
3. a small learned gate (networks.HybridGate) reads the network's features, both estimates, the
   likelihood gain and Newton decrement, and diagnostics of the standardised residuals at both points
   (kurtosis, share of |z| > 4 and > 6, the largest |z|), and mixes the two estimates: a convex
   combination of persistence, of alpha's share of it and of log long-run variance, so the result
   satisfies the GARCH constraints because both candidates do.

Why a gate rather than either estimate: on clean normal series the likelihood is efficient and the gate
leans on theta_k; with additive outliers it leans on the network; with fat tails (Student-t) a blend beats
both, their errors being only partly correlated. The gate was trained on simulated series from the same
priors as the network (training.py), data seed 1 (the network's was 2). Measured (benchmarks/
nn_calibrator.py): 3 Newton steps left the candidate short of the optimum on some series, 5 brought the
clean-data alpha RMSE to the MLE's; standard errors as extra gate inputs did not help.

Stage 2 and 3 run in float32 whatever the caller's dtype (the gate was trained on float32 inputs); the
final likelihood and variance filter (nn_fit._finish) use the caller's dtype. On a GPU the Newton passes
use the prefix-scan likelihood (garch_parallel.py): its float32 rounding differs from the sequential
scan's, and five unconverged Newton steps carry that on, so estimates there differ from a CPU's by up
to ~0.3% in alpha and ~1% in omega (measured on CPU with EXOTICS_GARCH_SCAN=parallel), far inside their
standard errors.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from pricer import compile_budget

from . import networks
from .features import N_FEATURES, column_means
from .garch import _LOG_2PI, GarchSpec
from .optimize import minimize_newton
from .transforms import at_open_bound

__all__ = ["NEWTON_STEPS", "N_GATE_INPUTS", "theta_of", "newton_candidates", "gate_inputs", "candidates", "mix",
           "stage_inputs", "apply_gate"]

NEWTON_STEPS = 5
N_DIAGNOSTICS = 5
N_GATE_INPUTS = N_FEATURES + 3 * 3 + 2 + 2 * N_DIAGNOSTICS + 1
_SPEC = GarchSpec()
_PERS_MAX = 1.0 - 1e-6


def theta_of(omega, alpha, persistence, persistence_max: float = _PERS_MAX):
    """Unconstrained (log omega, logit persistence, arcsin sqrt(alpha / persistence)), (N, 3): the MLE's
    coordinates (transforms.params_to_theta for zero-mean normal GARCH), points on a bound nudged inside
    (persistence at most ``persistence_max``; the gate was trained with the default)."""
    pers = jnp.clip(persistence, 1e-9, persistence_max)
    share = jnp.clip(alpha / pers, 1e-12, 1.0)
    return jnp.stack([jnp.log(jnp.maximum(omega, 1e-12)), jnp.log(pers) - jnp.log1p(-pers),
                      jnp.arcsin(jnp.sqrt(share))], axis=-1)


def _natural(theta):
    """(persistence, alpha share, log long-run variance) from theta (N, 3)."""
    pers = jax.nn.sigmoid(theta[:, 1])
    share = jnp.sin(theta[:, 2]) ** 2
    log_v = theta[:, 0] - jnp.log1p(-jnp.minimum(pers, _PERS_MAX))
    return pers, share, log_v


def residual_diagnostics(y, theta, backcast):
    """Standardised residuals z of one unit-RMS series y (T,) at theta (3,), the filter started from
    ``backcast`` (mean y^2, the sample backcast, as variance_filter with it): (diagnostics (5,): log
    kurtosis, log mean z^2, % of |z| > 4, % of |z| > 6, max |z| / sqrt(2 log T) (about 1 for normal
    shocks); the mean negative normal log-likelihood there). One scan that carries the sums instead of
    materialising h: 4x faster under vmap on a CPU than reductions over a (T, N) filter output."""
    omega = jnp.exp(theta[0])
    pers = jax.nn.sigmoid(theta[1])
    alpha = pers * jnp.sin(theta[2]) ** 2
    beta = pers - alpha
    h0 = omega + pers * backcast

    def step(carry, e):
        h, sum_z2, sum_z4, over4, over6, max_z2, sum_log_h = carry
        e2 = e * e
        z2 = e2 / h
        return (omega + alpha * e2 + beta * h, sum_z2 + z2, sum_z4 + z2 * z2, over4 + (z2 > 16.0),
                over6 + (z2 > 36.0), jnp.maximum(max_z2, z2), sum_log_h + jnp.log(h)), None

    zero = jnp.zeros((), y.dtype)
    (_, sum_z2, sum_z4, over4, over6, max_z2, sum_log_h), _ = lax.scan(step, (h0,) + (zero,) * 6, y)
    T = y.shape[0]
    m2 = sum_z2 / T
    diagnostics = jnp.stack([jnp.log(sum_z4 / T / m2 ** 2), jnp.log(m2), 100.0 * over4 / T, 100.0 * over6 / T,
                             jnp.sqrt(max_z2 / (2.0 * jnp.log(T)))])
    return diagnostics, 0.5 * (_LOG_2PI + sum_log_h / T + m2)


@partial(compile_budget.jit, static_argnames=("steps",))
def newton_candidates(y, theta0, steps: int = NEWTON_STEPS):
    """y (T, N) unit-RMS series, theta0 (N, 3) the network's estimate -> dict of (N, ...) arrays:
    theta_k after ``steps`` Newton steps (the gate's metadata says how many it was trained with), the
    likelihood gain T (f0 - f_k), the Newton decrement T g'|H|^-1 g
    and residual diagnostics at theta0 and theta_k. (Standard errors as inputs were tried: no gain.)"""
    from .garch_fit import _Problem
    T = y.shape[0]
    # in time order (features.column_means): the same numbers for a series in any batch or device split
    moments = jnp.stack([*column_means(y, lambda row: row, lambda row: row * row), jnp.ones(y.shape[1], y.dtype)],
                        axis=1)

    def one(yy, mm, th0):
        problem = _Problem(yy, mm, _SPEC, True)
        # Jacobi, not LAPACK: this stage runs cut over the CPU devices (series_devices.py, jacobi.py)
        res = minimize_newton(problem.value_grad_hess, th0, max_iter=steps, tol=0.0,
                              at_bound=partial(at_open_bound, _SPEC), eigensolver="jacobi")
        diagnostics0, f0 = residual_diagnostics(yy, th0, mm[1])
        return dict(theta_k=res.theta, gain=T * (f0 - res.f), decrement=T * res.decrement,
                    diagnostics0=diagnostics0, diagnostics_k=residual_diagnostics(yy, res.theta, mm[1])[0])

    return jax.vmap(one, in_axes=(1, 0, 0))(y, moments, theta0)


def gate_inputs(features_z, theta0, stage, T: int):
    """The gate's raw inputs (N, N_GATE_INPUTS), before its stored standardisation: the network's
    standardised features, both estimates and their difference, gain, decrement, diagnostics and log
    length. Non-finite entries (a failed Newton pass) become 0."""
    th_k = stage["theta_k"]
    n = theta0.shape[0]
    x = jnp.concatenate([features_z, theta0, th_k, th_k - theta0,
                         jnp.log1p(jnp.maximum(stage["gain"], 0.0))[:, None],
                         jnp.log1p(jnp.maximum(stage["decrement"], 0.0))[:, None],
                         stage["diagnostics0"], stage["diagnostics_k"],
                         jnp.full((n, 1), jnp.log(T / 1000.0), theta0.dtype)], axis=1)
    return jnp.where(jnp.isfinite(x), x, 0.0)


def candidates(theta0, theta_k):
    """(N, 6): persistence, alpha share, log long-run variance of the network's and of the Newton
    estimate. A Newton estimate that is not finite is replaced by the network's."""
    ok = jnp.all(jnp.isfinite(theta_k), axis=1, keepdims=True)
    theta_k = jnp.where(ok, theta_k, theta0)
    return jnp.stack([*_natural(theta0), *_natural(theta_k)], axis=1)


def mix(gate_logits, cands):
    """Convex combination of the two candidates by sigmoid gates (weight on the network's estimate):
    dict of (N,) alpha, beta, persistence, v (long-run variance / sample mean square) and gates (N, 3)."""
    g = jax.nn.sigmoid(gate_logits)
    pers = g[:, 0] * cands[:, 0] + (1.0 - g[:, 0]) * cands[:, 3]
    share = g[:, 1] * cands[:, 1] + (1.0 - g[:, 1]) * cands[:, 4]
    log_v = g[:, 2] * cands[:, 2] + (1.0 - g[:, 2]) * cands[:, 5]
    alpha = share * pers
    return dict(alpha=alpha, beta=pers - alpha, persistence=pers, v=jnp.exp(log_v), gates=g)


@partial(compile_budget.jit, static_argnames=("mlp_model", "steps"))
def stage_inputs(mlp_model, mlp_variables, u, robust, steps: int = NEWTON_STEPS):
    """Stages 1 and 2 for unit-RMS series u (T, N) float32 (``robust``: features.robust_scale(u), (N,)):
    (gate inputs (N, N_GATE_INPUTS) before standardisation, candidates (N, 6), zmax (N,), the largest
    standardised network feature, for the out-of-distribution flags). Shared by training and inference."""
    first, z = networks.summary_network(mlp_model, mlp_variables, u, robust)
    theta0 = theta_of((1.0 - first["persistence"]) * first["v"], first["alpha"], first["persistence"])
    stage = newton_candidates(u, theta0, steps)
    return (gate_inputs(z, theta0, stage, u.shape[0]), candidates(theta0, stage["theta_k"]),
            jnp.max(jnp.abs(z), axis=1))


@partial(compile_budget.jit, static_argnames=("gate_model",))
def apply_gate(gate_model, gate_variables, raw_inputs, cands):
    """Stage 3: standardise the gate inputs (stored mean / std, clipped at +-10) and mix (see ``mix``)."""
    z = (raw_inputs - gate_variables["feature_mean"]) / gate_variables["feature_std"]
    return mix(gate_model.apply({"params": gate_variables["params"]}, jnp.clip(z, -10.0, 10.0)), cands)
