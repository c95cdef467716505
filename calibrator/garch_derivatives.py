"""Value, gradient and exact Hessian of the GARCH log-likelihood in ONE forward pass (``lax.scan``).

Why not plain autodiff: ``jax.jacfwd(jax.jacfwd(f))`` through the variance filter carries k*k
second-order tangents of every intermediate; on CPU that pass costs ~10 likelihood evaluations.
Here the scan carries only what the chain rule needs:

    h_{t+1}    = G(x, e_t, h_t) = omega + (alpha + gamma I_t) e_t^2 + beta h_t,  e_t = y_t - mu
    dh_{t+1}   = G_x + beta dh_t
    d2h_{t+1}  = G_xx + e_beta dh_t' + dh_t e_beta' + beta d2h_t       (only 4 + k entries are non-zero)

and each observation's log density phi(e_t, h_t, nu) contributes

    d2 l_t = phi_hh dh dh' + phi_h d2h + phi_ee de de' + phi_eh (de dh' + dh de')
             + phi_hnu (dh e_nu' + e_nu dh') + phi_enu (de e_nu' + e_nu de') + phi_nunu e_nu e_nu',

with de = -e_mu. Every quantity is a scalar per series (a dict keyed by parameter name), so under
``vmap`` each is one contiguous vector and the loop body is a single fused elementwise kernel.

Parameters x are the natural ones, in ``spec.param_names`` order; ``negloglik_mean`` in garch.py is
the same objective written plainly, and the tests check these derivatives against ``jax.hessian`` of it.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import gammaln

from .garch import GarchParams, GarchSpec

__all__ = ["negloglik_mean_vgh"]

_LOG_2PI = 1.8378770664093453
_VOL = ("mu", "omega", "alpha", "gamma", "beta")


def _pairs(names):
    return [(a, b) for i, a in enumerate(names) for b in names[i:]]


def _t_const(nu):
    return gammaln(0.5 * (nu + 1.0)) - gammaln(0.5 * nu) - 0.5 * jnp.log(jnp.pi * (nu - 2.0))


def _density_terms(spec: GarchSpec, e, h, nu):
    """phi (without constants) and its derivatives w.r.t. e, h and nu, for one observation."""
    r = 1.0 / h
    e2 = e * e
    if spec.dist == "normal":
        q = e2 * r
        return dict(
            phi=-0.5 * (jnp.log(h) + q),
            h=0.5 * (q - 1.0) * r,
            hh=0.5 * (1.0 - 2.0 * q) * r * r,
            e=-e * r,
            ee=-r,
            eh=e * r * r,
        )
    c = 1.0 / (nu - 2.0)
    u = e2 * c * r
    w = u / (1.0 + u)
    omw = 1.0 - w
    n1 = nu + 1.0
    return dict(
        phi=-0.5 * jnp.log(h) - 0.5 * n1 * jnp.log1p(u),
        h=0.5 * r * (n1 * w - 1.0),
        hh=-0.5 * r * r * (n1 * w * (2.0 - w) - 1.0),
        e=-n1 * e * c * r * omw,
        ee=-n1 * c * r * omw * (1.0 - 2.0 * w),
        eh=n1 * c * e * r * r * omw * omw,
        nu=-0.5 * jnp.log1p(u) + 0.5 * n1 * c * w,
        nunu=c * w - 0.5 * n1 * c * c * w * (2.0 - w),
        hnu=0.5 * r * (w - n1 * c * w * omw),
        enu=-e * r * c * omw * (1.0 - n1 * c * omw),
    )


class PassSetup(NamedTuple):
    """What both derivative passes (this sequential one and garch_parallel's prefix scans) start from."""
    names: tuple
    vol_names: tuple
    student: bool
    const_mean: bool
    gjr: bool
    zero: jax.Array
    mu: jax.Array
    omega: jax.Array
    alpha: jax.Array
    beta: jax.Array
    gamma: jax.Array
    nu: object
    h0: jax.Array
    dh0: jax.Array
    d2h0: jax.Array
    d2_pairs: list
    idx: dict


def pass_setup(spec: GarchSpec, params: GarchParams, backcast_fn: Callable, dtype) -> PassSetup:
    """The parameters by role (zero where the spec lacks them) and the filter's starting derivatives."""
    names = spec.param_names
    vol_names = tuple(n for n in names if n != "nu")
    student, const_mean, gjr = spec.dist == "t", spec.mean == "constant", spec.vol == "gjr"
    zero = jnp.zeros((), dtype)
    h0, dh0, d2h0 = start_derivatives(vol_names, params, backcast_fn, zero)
    return PassSetup(names, vol_names, student, const_mean, gjr, zero, params.mu if const_mean else zero,
                     params.omega, params.alpha, params.beta, params.gamma if gjr else zero,
                     params.nu if student else None, h0, dh0, d2h0, second_derivative_pairs(vol_names),
                     {n: i for i, n in enumerate(vol_names)})


def start_derivatives(vol_names, params: GarchParams, backcast_fn: Callable, zero):
    """h_0 = omega + (alpha + gamma/2 + beta) backcast(mu) and its gradient (nv,) and Hessian (nv, nv) in
    ``vol_names`` order: a tiny closed form, differentiated by autodiff outside any loop."""
    def h0_fn(v):
        d = dict(zip(vol_names, v))
        return d["omega"] + (d["alpha"] + 0.5 * d.get("gamma", zero) + d["beta"]) * backcast_fn(d.get("mu", zero))

    v0 = jnp.stack([getattr(params, n) for n in vol_names])
    return h0_fn(v0), jax.grad(h0_fn)(v0), jax.hessian(h0_fn)(v0)


def second_derivative_pairs(vol_names):
    """The (a, b) entries of d2h_t that can be non-zero."""
    return [(a, b) for (a, b) in _pairs(vol_names)
            if (a == "mu" and b in ("mu", "alpha", "gamma", "beta")) or b == "beta" or a == "beta"]


def d2h_increment(pair, dh, a_eff, e, neg):
    """d2h_{t+1}[pair] - beta d2h_t[pair]: the second derivatives of G(x, e_t, h_t) and the beta cross terms."""
    a, b = pair
    term = 0.0
    if a == "beta":
        term = term + dh[b]
    if b == "beta":
        term = term + dh[a]
    if a == "mu":
        term = term + {"mu": 2.0 * a_eff, "alpha": -2.0 * e, "gamma": -2.0 * e * neg}.get(b, 0.0)
    return term


def hessian_term(pair, d, dh, d2h):
    """Observation t's contribution to the log-likelihood's second derivative for the parameter ``pair``
    (a, b), from the density terms ``d`` and the variance derivatives dh (by name), d2h (by pair, the
    non-zero ones). Scalars per observation, or arrays over t (the prefix-scan pass)."""
    a, b = pair
    if a == "nu" and b == "nu":
        return d["nunu"]
    if b == "nu":   # names put nu last
        return d["hnu"] * dh[a] - (d["enu"] if a == "mu" else 0.0)
    term = d["hh"] * dh[a] * dh[b]
    if pair in d2h:
        term = term + d["h"] * d2h[pair]
    if a == "mu":
        term = term - d["eh"] * dh[b]
    if b == "mu":
        term = term - d["eh"] * dh[a]
    if a == "mu" and b == "mu":
        term = term + d["ee"]
    return term


def negloglik_mean_vgh(spec: GarchSpec, params: GarchParams, y, backcast_fn: Callable, *, with_opg: bool = False):
    """f = -(1/T) loglik of one series y (T,), its gradient (k,) and Hessian (k, k) w.r.t. the natural
    parameters ``spec.param_names``. ``backcast_fn(mu)`` gives the backcast (units of y^2) as a
    differentiable function of mu (constant when the backcast does not depend on mu).

    with_opg=True also returns the outer product of the per-observation scores, sum_t s_t s_t' (k, k),
    the "meat" of the robust sandwich covariance (not divided by T)."""
    from .garch_parallel import negloglik_mean_vgh_parallel, parallel_scans
    if parallel_scans():   # the same derivatives by prefix scans on GPUs (garch_parallel.py)
        return negloglik_mean_vgh_parallel(spec, params, y, backcast_fn, with_opg=with_opg)
    (names, vol_names, student, const_mean, gjr, zero, mu, omega, alpha, beta, gamma, nu, h0, dh0, d2h0, d2_pairs,
     idx) = pass_setup(spec, params, backcast_fn, y.dtype)
    hess_pairs = _pairs(names)

    carry0 = dict(
        h=h0,
        dh={n: dh0[idx[n]] for n in vol_names},
        d2h={(a, b): d2h0[idx[a], idx[b]] for (a, b) in d2_pairs},
        f=zero,
        g={n: zero for n in names},
        H={p: zero for p in hess_pairs},
    )
    if with_opg:
        carry0["opg"] = {p: zero for p in hess_pairs}
        nu_const_grad = jax.grad(_t_const)(nu) if student else None

    def step(c, y_t):
        h, dh, d2h = c["h"], c["dh"], c["d2h"]
        e = y_t - mu
        d = _density_terms(spec, e, h, nu)
        f = c["f"] + d["phi"]
        g = dict(c["g"])
        for n in vol_names:
            g[n] = g[n] + d["h"] * dh[n]
        if const_mean:
            g["mu"] = g["mu"] - d["e"]
        if student:
            g["nu"] = g["nu"] + d["nu"]
        H = {pair: c["H"][pair] + hessian_term(pair, d, dh, d2h) for pair in hess_pairs}
        new = dict(f=f, g=g, H=H)
        if with_opg:
            score = {n: d["h"] * dh[n] for n in vol_names}
            if const_mean:
                score["mu"] = score["mu"] - d["e"]
            if student:
                score["nu"] = d["nu"] + nu_const_grad
            new["opg"] = {(a, b): c["opg"][(a, b)] + score[a] * score[b] for (a, b) in hess_pairs}
        # advance the variance and its derivatives
        neg = (e < 0).astype(y.dtype)
        e2 = e * e
        a_eff = alpha + gamma * neg if gjr else alpha
        z = {"omega": 1.0, "alpha": e2, "beta": h}
        if const_mean:
            z["mu"] = -2.0 * a_eff * e
        if gjr:
            z["gamma"] = neg * e2
        h_new = omega + a_eff * e2 + beta * h
        dh_new = {n: z[n] + beta * dh[n] for n in vol_names}
        d2h_new = {pair: beta * d2h[pair] + d2h_increment(pair, dh, a_eff, e, neg) for pair in d2_pairs}
        return dict(h=h_new, dh=dh_new, d2h=d2h_new, **new), None

    c, _ = lax.scan(step, carry0, y)
    n = y.shape[0]
    loglik_sum = c["f"]
    g = dict(c["g"])
    H = dict(c["H"])
    if student:
        const = _t_const(nu)
        d1 = jax.grad(_t_const)(nu)
        d2 = jax.grad(jax.grad(_t_const))(nu)
        loglik_sum = loglik_sum + n * const
        g["nu"] = g["nu"] + n * d1
        H[("nu", "nu")] = H[("nu", "nu")] + n * d2
    else:
        loglik_sum = loglik_sum - 0.5 * n * _LOG_2PI
    grad = jnp.stack([g[a] for a in names])
    hess = _symmetric(names, H)
    if with_opg:
        return -loglik_sum / n, -grad / n, -hess / n, _symmetric(names, c["opg"])
    return -loglik_sum / n, -grad / n, -hess / n


def _symmetric(names, entries):
    """(k, k) matrix from its upper-triangle entries keyed by name pairs."""
    pos = {a: i for i, a in enumerate(names)}
    rows = [[None] * len(names) for _ in names]
    for (a, b), v in entries.items():
        rows[pos[a]][pos[b]] = v
        rows[pos[b]][pos[a]] = v
    return jnp.stack([jnp.stack(r) for r in rows])
