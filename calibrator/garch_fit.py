"""fit_garch: batched exact maximum likelihood for GARCH(1,1) / GJR(1,1,1), normal or Student-t.

Pipeline (one jitted call for the whole batch, ``jax.vmap`` over columns):

1. each column is standardised in numpy (constant mean: minus its mean, over its std; zero mean: over
   its root mean square), so one starting grid and one set of tolerances fit every scale; parameters
   are mapped back exactly afterwards (mu = m + s mu', omega = s^2 omega', loglik -= T log s);
2. the mean negative log-likelihood is evaluated on a small grid of starting values (transforms.py),
   all series and grid points in one pass, and each series starts from its best point;
3. saddle-free Newton with the exact Hessian (optimize.py), whose value, gradient and Hessian come
   from one forward pass of the filter (garch_derivatives.py), chained through the unconstrained
   parameterisation; for large batches staged as float32 -> float64 -> stragglers (see
   ``fit_standardised``);
4. the last accepted pass also carries the natural-parameter Hessian and the outer product of scores:
   robust (sandwich) and non-robust covariances at no extra pass; a last ``lax.scan`` gives h_t.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from pricer import compile_budget

from . import _validation as val
from .fit_assembly import assemble_fit, variance_scale_on_device
from .fit_result import GarchFit
from .garch import BACKCASTS, EWMA_LAMBDA, EWMA_TAU, GarchSpec, negloglik_mean, variance_filter
from .garch_derivatives import negloglik_mean_vgh
from .optimize import minimize_newton
from .transforms import at_open_bound, starting_grid, theta_to_params

__all__ = ["fit_garch"]

METHODS = ("mle", "nn")
TOL_FLOAT32 = 1e-6   # float32's noise floor in the decrement is ~1e-7 for T ~ 2500 ...
LOW_TOL = TOL_FLOAT32  # ... so a float32 fit, and the float32 stage of a float64 fit, stop here ...
LOW_MAX_ITER = 4     # ... or here; float64 Newton carries on from wherever it got
MAIN_MAX_ITER = 2    # float64 iterations for the whole batch; the rest go to the straggler stage
STAGED_MIN_SERIES = 64  # fewer series: one float64 Newton run (less to compile, nothing to gain)


def _default_tol(dtype) -> float:
    """Newton-decrement tolerance on the mean negative log-likelihood (per observation)."""
    return 1e-14 if jnp.dtype(dtype) == jnp.float64 else TOL_FLOAT32


class _Problem:
    """The per-series functions the optimiser needs, for ONE standardised series y (T,)."""

    def __init__(self, y, moments, spec: GarchSpec, sample_backcast: bool):
        # moments = (mean y, mean y^2, fixed backcast), precomputed: a reduction over a vmapped series
        # inside the kernel would transpose the whole batch on every call
        self.y, self.spec = y, spec
        m1, m2, bc_fixed = moments[0], moments[1], moments[2]
        if sample_backcast:
            def backcast_fn(mu):  # mean((y - mu)^2), the benchmark convention, follows mu
                return m2 - 2.0 * mu * m1 + mu * mu
        else:
            def backcast_fn(mu):
                return bc_fixed + 0.0 * mu
        self.backcast_fn = backcast_fn

    def x_of(self, theta):
        return theta_to_params(self.spec, theta).to_vector(self.spec)

    def objective(self, theta):
        """Mean negative log-likelihood at unconstrained theta (one likelihood pass)."""
        p = theta_to_params(self.spec, theta)
        return negloglik_mean(p, self.y, self.backcast_fn(p.mu), self.spec)

    def _natural(self, theta, with_opg):
        p = theta_to_params(self.spec, theta)
        return negloglik_mean_vgh(self.spec, p, self.y, self.backcast_fn, with_opg=with_opg)

    def _to_theta(self, theta, gx, hx):
        jac = jax.jacfwd(self.x_of)(theta)
        gx_fixed = lax.stop_gradient(gx)
        curvature = jax.hessian(lambda t: jnp.dot(gx_fixed, self.x_of(t)))(theta)
        return jac.T @ gx, jac.T @ hx @ jac + curvature

    def value_grad_hess(self, theta):
        """(f, g, H) in theta coordinates from one exact-derivative pass in natural parameters."""
        f, gx, hx = self._natural(theta, False)
        g, h = self._to_theta(theta, gx, hx)
        return f, g, h

    def value_grad_hess_aux(self, theta):
        """value_grad_hess plus, as aux, the natural-parameter Hessian and outer product of scores that
        the covariances need (the last Newton pass doubles as the standard-error pass)."""
        f, gx, hx, opg = self._natural(theta, True)
        g, h = self._to_theta(theta, gx, hx)
        return f, g, h, dict(hx=hx, opg=opg)


def _start(y, moments, spec, sample_backcast):
    """The best point of the starting grid for every series: (N, k). The grid axis is vmapped OUTSIDE
    the series axis so that the series stay the innermost (vectorised) dimension."""
    grid = jnp.asarray(starting_grid(spec), y.dtype)
    objective = jax.vmap(lambda yy, mm, th: _Problem(yy, mm, spec, sample_backcast).objective(th),
                         in_axes=(1, 0, None))
    f_grid = jax.vmap(lambda th: objective(y, moments, th))(grid)          # (G, N)
    f_grid = jnp.where(jnp.isfinite(f_grid), f_grid, jnp.inf)
    return grid[jnp.argmin(f_grid, axis=0)]


def _newton(y, moments, theta0, spec, sample_backcast, max_iter, tol):
    """Saddle-free Newton with exact Hessians from theta0 (the low-precision stage). One series."""
    prob = _Problem(y, moments, spec, sample_backcast)
    res = minimize_newton(prob.value_grad_hess, theta0, max_iter=max_iter, tol=tol,
                          at_bound=partial(at_open_bound, spec))
    return res.theta, res.iterations


def _newton_finish(y, moments, theta0, spec, sample_backcast, max_iter, tol):
    """Newton to ``tol`` in the working precision, then everything reported at the optimum: the
    covariances (from the last pass), conditional variances, backcast. One series; standardised units."""
    prob = _Problem(y, moments, spec, sample_backcast)
    res = minimize_newton(prob.value_grad_hess_aux, theta0, max_iter=max_iter, tol=tol, with_aux=True,
                          at_bound=partial(at_open_bound, spec))
    params = theta_to_params(spec, res.theta)
    n = y.shape[0]
    hess_inv = jnp.linalg.inv(n * res.aux["hx"])      # inverse of -d2 loglik / dx dx'
    cov_robust = hess_inv @ res.aux["opg"] @ hess_inv
    resid = y - params.mu if spec.mean == "constant" else y
    bc = prob.backcast_fn(params.mu)
    sigma2 = variance_filter(resid, params.omega, params.alpha, params.gamma, params.beta, bc)
    return dict(theta=res.theta, x=params.to_vector(spec), f=res.f, decrement=res.decrement,
                iterations=res.iterations, cov=cov_robust, cov_hessian=hess_inv, sigma2=sigma2, backcast=bc,
                last_resid=resid[-1])


def _straggler_count(n: int) -> int:
    """How many series the straggler stage re-runs at a time (a static shape)."""
    return min(n, max(8, n // 32))


@partial(compile_budget.jit, static_argnames=("spec", "sample_backcast", "max_iter", "tol", "mixed"))
def fit_standardised(y, moments, *, spec: GarchSpec, sample_backcast: bool, max_iter: int, tol: float,
                     mixed: bool = True, variance_scale=None):
    """The jitted batch kernel: y (T, N) standardised returns; moments (N, 3): per series mean(y),
    mean(y^2) and the fixed backcast (ignored when ``sample_backcast``). Every output has a leading
    (N,) axis, except sigma2 which is (T, N), multiplied by ``variance_scale`` (N,) when given (the
    caller's units: scale^2) in the same pass that transposes it.

    For batches of at least STAGED_MIN_SERIES series, three stages, each vmapped over the series
    (smaller batches run stage 2 to convergence and skip the rest):

    1. mixed precision (``mixed`` and float64 input): the starting grid and Newton up to float32's
       resolution run in float32, where a likelihood pass is 2-7x cheaper on CPU;
    2. Newton continues in float64 for at most a few iterations (usually one or two suffice from
       there, convergence being quadratic); only float64 iterations decide convergence, so the result
       is a float64 optimum;
    3. stragglers: under vmap a while loop runs until its slowest lane is done, so the few series that
       still need many iterations (optima next to a bound, odd data) would hold up the whole batch.
       Instead the K least converged are gathered into a small batch (K = N/32, a static shape), run to
       convergence (``max_iter``) and scattered back, K at a time, each series at most once.
    """
    args = dict(spec=spec, sample_backcast=sample_backcast)
    n_series = y.shape[1]
    # the staging pays off for batches; for a few series it would only add compile time
    staged = n_series >= STAGED_MIN_SERIES
    low = jnp.float32 if (mixed and staged and y.dtype == jnp.float64) else y.dtype
    y_low, m_low = y.astype(low), moments.astype(low)
    theta = _start(y_low, m_low, **args)
    iters = jnp.zeros(n_series, jnp.int32)
    if low != y.dtype:
        theta, iters = jax.vmap(
            lambda yy, mm, th: _newton(yy, mm, th, max_iter=min(max_iter, LOW_MAX_ITER), tol=LOW_TOL, **args),
            in_axes=(1, 0, 0))(y_low, m_low, theta)
        theta = theta.astype(y.dtype)

    def newton_finish(yy, mm, th, n_iter):
        return jax.vmap(lambda a, b, c: _newton_finish(a, b, c, max_iter=n_iter, tol=tol, **args),
                        in_axes=(1, 0, 0))(yy, mm, th)

    main_iter = min(max_iter, MAIN_MAX_ITER) if staged else max_iter
    out = newton_finish(y, moments, theta, main_iter)
    out["iterations"] = iters + out["iterations"]

    k = _straggler_count(n_series)

    def pending(o, tried):
        return ~(o["decrement"] < tol) & ~tried

    def cond(carry):
        o, tried = carry
        return jnp.any(pending(o, tried))

    def body(carry):
        o, tried = carry
        score = jnp.where(pending(o, tried), o["decrement"], -jnp.inf)
        score = jnp.where(jnp.isnan(score), jnp.inf, score)
        _, idx = lax.top_k(score, k)
        sub = newton_finish(y[:, idx], moments[idx], o["theta"][idx], max_iter)
        sub["iterations"] = o["iterations"][idx] + sub["iterations"]
        o = {name: o[name].at[idx].set(sub[name]) for name in o}
        return o, tried.at[idx].set(True)

    if max_iter > main_iter:
        out, _ = lax.while_loop(cond, body, (out, jnp.zeros(n_series, bool)))
    out["converged"] = out["decrement"] < tol
    sigma2 = out["sigma2"] if variance_scale is None else out["sigma2"] * variance_scale[:, None]
    out["sigma2"] = sigma2.T
    return out


def _ewma_backcast_np(resid: np.ndarray) -> np.ndarray:
    tau = min(EWMA_TAU, resid.shape[0])
    w = EWMA_LAMBDA ** np.arange(tau)
    return (w / w.sum()) @ (resid[:tau] ** 2)


def check_dtype(dtype):
    """The computation dtype: None (jnp's default float), float32 or float64 (which needs x64 enabled)."""
    if dtype is None:
        return jnp.zeros(()).dtype
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be None, 'float32' or 'float64', got {dtype!r}")
    if resolved == np.float64 and not jax.config.jax_enable_x64:
        raise ValueError("dtype='float64' needs jax.config.update('jax_enable_x64', True) before fitting")
    return jnp.dtype(resolved)


def _same(value, default) -> bool:
    return value is default or (isinstance(value, str) and isinstance(default, str) and value == default) or \
        (isinstance(value, (int, float)) and not isinstance(value, bool) and value == default)


def fit_garch(returns, method: str = "mle", vol: str = "garch", dist: str = "normal", mean: str = "zero",
              percent: bool = False, *, backcast="sample", max_iter: int = 100, tol: float | None = None,
              dtype=None, fallback: str | None = None, refine: int = 0, nn_arch: str | None = None) -> GarchFit:
    """Fit GARCH(1,1) (``vol="garch"``) or GJR-GARCH(1,1,1) (``vol="gjr"``) by exact maximum likelihood.

    returns: log returns per period. 1-D array / pandas Series = one series; 2-D array / DataFrame = a
        batch, one series per COLUMN, all fitted in one vectorised call. At least 100 observations
        (fewer than 500 warns). NaN/inf or a constant series: ValueError for a single series; in a batch
        that column gets status "error", NaN parameters and an error text, the others fit normally.
    method: "mle" (exact maximum likelihood) or "nn" (the neural calibrator with the shipped weights,
        vol="garch" only; see nn_fit.py). For "nn": ``fallback="mle"`` refits series flagged out of the
        training distribution by MLE; ``refine`` = Newton steps on the exact likelihood after the network
        (0 = none); ``nn_arch`` = "hybrid" (default: network, five Newton steps and a learned gate
        between them, see hybrid.py), "mlp" (the network alone, fastest) or "lstm". The result is an ``NNGarchFit`` (a GarchFit
        with ``ood``, ``ood_reason`` and ``fallback`` per series).
    dist: "normal" or "t" (Student-t scaled to unit variance, 2.05 < nu < 500 as in arch).
    mean: "zero" or "constant".
    percent: True if the returns are in percent (as arch users often pass them). Only recorded: the
        parameters come back in the units of the input, and annualised volatilities divide by 100.
    backcast: the proxy for e_{-1}^2 and h_{-1} that starts the filter, h_0 = omega + (alpha + gamma/2 +
        beta) * backcast. "sample" (default): the mean of squared residuals at the current mu, the
        convention of the published DEM/GBP benchmark. "ewma": arch's exponentially weighted mean of
        the first 75 squared residuals (weights 0.94**i) at the sample mean, fixed during estimation; use
        it to reproduce arch's log-likelihood. A number (or one per column): a fixed value in units of
        returns squared, e.g. arch's ``res.model._backcast``.
    max_iter, tol: Newton iteration cap and tolerance on the Newton decrement of the mean negative
        log-likelihood (default 1e-14 in float64, 1e-6 in float32).
    dtype: computation dtype; default jnp's default float (float64 only when x64 is enabled).

    Returns a ``GarchFit`` (see fit_result.py): scalars for one series, arrays (one per column) for a
    batch. Warnings: ``ShortSeriesWarning``, ``DataScaleWarning``, ``ConvergenceWarning``,
    ``PersistenceWarning``.
    """
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(f"method={method!r} is not supported; choose 'mle' or 'nn'")
    dtype = check_dtype(dtype)
    if method.lower() == "nn":
        # the network's estimate has no filter start, iteration cap or tolerance: refuse them, not ignore them
        given = [name for name, value, default in (("backcast", backcast, "sample"), ("max_iter", max_iter, 100),
                                                   ("tol", tol, None)) if not _same(value, default)]
        if given:
            raise ValueError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to method='mle' only "
                             "(method='nn' uses refine= for Newton steps)")
        from .nn_fit import DEFAULT_ARCH, fit_nn
        return fit_nn(returns, vol=vol, dist=dist, mean=mean, percent=percent, arch=nn_arch or DEFAULT_ARCH,
                      refine=refine, fallback=fallback, dtype=dtype)
    if fallback is not None or refine or nn_arch is not None:
        raise ValueError("fallback, refine and nn_arch apply to method='nn' only")
    spec = GarchSpec(vol=vol, dist=dist, mean=mean)
    if not isinstance(percent, (bool, np.bool_)):
        raise ValueError(f"percent must be True or False, got {percent!r}")
    percent = bool(percent)
    if isinstance(backcast, str):
        if backcast.lower() not in BACKCASTS:
            raise ValueError(f"backcast={backcast!r} is not supported; choose 'sample', 'ewma' or a number "
                             f"(units of returns squared)")
        backcast_mode = backcast.lower()
    else:
        backcast_mode = "user"
    if not val.is_whole(max_iter) or max_iter < 1:
        raise ValueError(f"max_iter must be a whole number >= 1, got {max_iter!r}")
    if tol is not None and (not val.is_number(tol) or tol < 0):
        raise ValueError(f"tol must be a number >= 0 (or None for the default), got {tol!r}")

    prep = val.prepare_returns(returns)
    T, N = prep.data.shape
    errors = val.column_errors(prep)
    bad = np.array([e is not None for e in errors])
    if prep.single and bad[0]:
        raise ValueError(errors[0])
    if bad.all():
        raise ValueError("no column can be fitted: " + "; ".join(errors[:3]) + (" ..." if N > 3 else ""))
    good = ~bad
    val.warn_short(prep)
    val.warn_scale(prep, good, percent)

    if backcast_mode == "user":
        try:
            user_bc = np.broadcast_to(np.asarray(backcast, dtype=float), (N,)).copy()
        except (TypeError, ValueError):
            raise ValueError(f"backcast must be a number or one number per column ({N}), got {backcast!r}") from None
        if not np.all(np.isfinite(user_bc[good])) or np.any(user_bc[good] <= 0):
            raise ValueError(f"backcast must be a positive number (units of returns squared), got {backcast!r}")

    # standardise each column (bad columns borrow the first good column's data; their results are dropped)
    data = prep.data.copy()
    first_good = int(np.argmax(good))
    data[:, bad] = data[:, [first_good]]
    if spec.mean == "constant":
        loc = data.mean(axis=0)
        scale = data.std(axis=0)
    else:
        loc = np.zeros(N)
        scale = np.sqrt(np.mean(data * data, axis=0))
    y = (data - loc) / scale
    if backcast_mode == "ewma":
        bc_std = _ewma_backcast_np(y)
    elif backcast_mode == "user":
        user_bc[bad] = user_bc[first_good]
        bc_std = user_bc / scale**2
    else:
        bc_std = np.ones(N)

    tol = float(tol) if tol is not None else _default_tol(dtype)
    moments = np.stack([y.mean(axis=0), (y * y).mean(axis=0), bc_std], axis=1)
    out = fit_standardised(jnp.asarray(y, dtype), jnp.asarray(moments, dtype), spec=spec,
                           sample_backcast=(backcast_mode == "sample"), max_iter=int(max_iter), tol=tol,
                           variance_scale=variance_scale_on_device(dtype, scale))
    out = jax.tree.map(lambda a: np.asarray(a, dtype=np.float64) if a.dtype != bool else np.asarray(a), out)
    return assemble_fit(spec, prep, percent, backcast_mode, errors, bad, loc, scale, out, dtype)
