"""fit_garch(..., method="nn"): amortised GARCH(1,1) estimation with the shipped network weights.

1. each column is made unit-free (u = (r - m) / RMS; m = 0 or the mean), features.py computes its inputs;
   the network's stages run on blocks of series, one block per local device (series_devices.py: a CPU's
   cores where XLA_FLAGS makes them devices), with the same numbers as on one device;
2. the network (networks.py, weights from calibrator/weights/, no training step) gives alpha, beta and
   the long-run variance ratio v, constrained by construction; omega = (1 - alpha - beta) * v * scale^2;
   The default architecture, "hybrid" (hybrid.py), adds Newton steps on the exact likelihood from the
   network's estimate and a learned gate that mixes the two;
3. optional ``refine`` further Newton steps on the exact likelihood (the MLE code's _Problem and
   minimize_newton, not a second implementation);
4. loglik from the exact likelihood at those parameters and h_t from the variance filter, assembled into
   the same ``GarchFit`` as the MLE (via fit_assembly.assemble_fit), plus per-series out-of-distribution flags
   (``NNGarchFit.ood`` / ``ood_reason``) and, with ``fallback="mle"``, exact MLE for the flagged series.
"""
from __future__ import annotations

import dataclasses
import json
import warnings
from functools import lru_cache, partial
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from pricer import compile_budget

from . import _validation as val
from . import hybrid, networks, series_devices
from ._host import adopt, aligned_empty
from .features import robust_scale, sequence_inputs
from .fit_assembly import assemble_fit, variance_scale_on_device
from .fit_result import GarchFit
from .garch import GarchSpec, negloglik_mean_and_variances, variance_filter
from .optimize import minimize_newton
from .transforms import at_open_bound, params_to_theta, theta_to_params
from .warnings import GarchWarning
from pricer._stacklevel import user_stacklevel

__all__ = ["fit_nn", "NNGarchFit", "load_weights", "predict", "WeightsError", "OutOfDistributionWarning",
           "WEIGHTS_DIR", "DEFAULT_ARCH", "MIN_LENGTH"]

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_ARCH = "hybrid"
MIN_LENGTH = 250             # the shortest training length
FEATURE_Z_MAX = 8.0          # a standardised input further out than this is unlike the training data
PERS_RANGE = (0.7, 0.999)
ALPHA_MAX = 0.3


class WeightsError(ValueError):
    """A weights / metadata file is missing, corrupt, or does not match the network it is loaded into."""


class OutOfDistributionWarning(GarchWarning):
    """Some series lie outside what the network was trained on; see NNGarchFit.ood / ood_reason."""


@dataclasses.dataclass(frozen=True, eq=False, repr=False)   # GarchFit's summary, not every array
class NNGarchFit(GarchFit):
    """A GarchFit from the neural calibrator, plus: method ("nn" or "nn+newtonK"), ood (bool per series),
    ood_reason (text per series, "" when in distribution), fallback (bool per series: MLE used instead).
    It has no standard errors (NaN): the network gives no Hessian; refine=K or method="mle" do."""
    method: str = "nn"
    ood: object = None
    ood_reason: object = None
    fallback: object = None


# ------------------------------------------------------------------ weights
def _flat(tree, prefix=""):
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(_flat(v, f"{prefix}/{k}" if prefix else str(k)))
    else:
        out[prefix] = tree
    return out


def _template(arch, meta):
    model = networks.build(arch, **meta.get("network_kwargs", {}))
    x0 = jnp.zeros(networks.input_shape(arch, 8), jnp.float32)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x0)["params"])
    nf = networks.input_features(arch)
    return model, {"params": shapes, "feature_mean": jax.ShapeDtypeStruct((nf,), jnp.float32),
                   "feature_std": jax.ShapeDtypeStruct((nf,), jnp.float32)}


def load_weights(arch: str = DEFAULT_ARCH, directory=None):
    """Load and validate ``{arch}.msgpack`` + ``{arch}.json``: returns (model, variables, meta).
    Raises WeightsError saying what is wrong (missing, not msgpack / truncated, wrong keys or shapes)."""
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    wpath, mpath = directory / f"{arch}.msgpack", directory / f"{arch}.json"
    for p in (wpath, mpath):
        if not p.is_file():
            hint = (" (this folder holds mlp weights only: pass nn_arch='mlp', or train the hybrid's gate on them)"
                    if arch == "hybrid" and (directory / "mlp.msgpack").is_file() else "")
            raise WeightsError(f"{p}: file not found (the neural calibrator needs {arch}.msgpack and {arch}.json; "
                               f"train them with `exotics train-calibrator` or reinstall the package){hint}")
    try:
        meta = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{mpath}: metadata is not valid JSON ({exc})") from None
    if meta.get("architecture") != arch:
        raise WeightsError(f"{mpath}: metadata says architecture {meta.get('architecture')!r}, expected {arch!r}")
    from .training import WEIGHTS_VERSION
    if meta.get("version") != WEIGHTS_VERSION:
        raise WeightsError(f"{mpath}: weights version {meta.get('version')!r}, this library reads version "
                           f"{WEIGHTS_VERSION}")
    try:
        raw = flax.serialization.msgpack_restore(wpath.read_bytes())
    except Exception as exc:  # msgpack raises several types for corrupt data
        raise WeightsError(f"{wpath}: corrupt or truncated weights file, not readable msgpack "
                           f"({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise WeightsError(f"{wpath}: expected a mapping of arrays, got {type(raw).__name__}")
    model, template = _template(arch, meta)
    want, got = _flat(template), _flat(raw)
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing or extra:
        raise WeightsError(f"{wpath}: does not match the {arch!r} network: missing {missing[:4]}, "
                           f"unexpected {extra[:4]}")
    bad = [f"{k}: file {np.shape(got[k])}, network {tuple(want[k].shape)}" for k in want
           if tuple(np.shape(got[k])) != tuple(want[k].shape)]
    if bad:
        raise WeightsError(f"{wpath}: wrong array shapes for the {arch!r} network: " + "; ".join(bad[:4]))
    nonfinite = [k for k in want if not np.all(np.isfinite(got[k]))]
    if nonfinite:
        raise WeightsError(f"{wpath}: non-finite values in {nonfinite[:4]}")
    if arch == "hybrid":   # the gate reads the mlp's outputs: it must be the mlp it was trained on
        steps = meta.get("newton_steps")
        if not (isinstance(steps, int) and not isinstance(steps, bool) and 1 <= steps <= 20):
            raise WeightsError(f"{mpath}: newton_steps must be a whole number from 1 to 20, got {steps!r}")
        from .training import stage1_of
        try:
            found = stage1_of(directory)["sha256"]
        except FileNotFoundError:
            found = None
        stage1 = meta.get("stage1")
        expected = stage1.get("sha256") if isinstance(stage1, dict) else None
        if expected is None:
            raise WeightsError(f"{mpath}: no stage1.sha256 (the mlp weights the gate was trained on)")
        if found != expected:
            raise WeightsError(f"{mpath}: the hybrid's gate was trained on other mlp weights than "
                               f"{directory / 'mlp.msgpack'} ({'missing' if found is None else 'SHA-256 differs'}); "
                               f"retrain it with `exotics train-calibrator --arch hybrid`")
    variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), raw)
    return model, variables, meta


@lru_cache(maxsize=8)
def _cached(arch, directory):
    return load_weights(arch, directory)


def _per_series(arch, model, mlp_model, newton_steps, lstm_stride):
    """((variables, mlp_variables), u (T, n) float32, robust (n,) or None) -> (network outputs (n,) each,
    zmax (n,)): everything the network does for a block of series, nothing across series."""
    def run(weights, u, robust):
        variables, mlp_variables = weights
        if arch == "hybrid":
            raw, cands, zmax = hybrid.stage_inputs(mlp_model, mlp_variables, u, robust, newton_steps)
            return hybrid.apply_gate(model, variables, raw, cands), zmax
        if arch == "mlp":
            out, z = networks.summary_network(model, variables, u, robust)
            return out, jnp.max(jnp.abs(z), axis=1)
        z = sequence_inputs(u, lstm_stride).transpose(1, 0, 2)
        return networks.head(model.apply({"params": variables["params"]}, z)), jnp.zeros(u.shape[1], u.dtype)
    return run


@lru_cache(maxsize=8)
def _network_program(arch, directory):
    """The jitted network for a block of series (kept: a new function would be a new compile)."""
    model, _, meta = _cached(arch, directory)
    mlp_model = _cached("mlp", directory)[0] if arch == "hybrid" else None
    return compile_budget.jit(_per_series(arch, model, mlp_model, int(meta.get("newton_steps", 0)),
                               int(meta.get("lstm_stride", 1))))


def predict(u, arch: str = DEFAULT_ARCH, directory=None):
    """Network estimates for unit-RMS series u (T, N) (an array, or a series_devices.Placed batch): dict
    of (N,) arrays alpha, beta, persistence, v, and zmax (largest standardised input; large = unlike
    training). The batch runs cut over the local devices (series_devices.py)."""
    directory = None if directory is None else str(directory)
    weights = (_cached(arch, directory)[1], _cached("mlp", directory)[1] if arch == "hybrid" else None)
    placed = u if isinstance(u, series_devices.Placed) else series_devices.place(np.asarray(u, np.float32))
    robust = (None,) * len(placed.blocks)
    if arch != "lstm":
        # the median behind the robust scale by numpy's selection (XLA's sort is ~9x slower on a CPU),
        # from the host copies of the blocks
        robust = series_devices.place_rows(
            np.concatenate([robust_scale(block, np) for block in placed.host])[:placed.n].astype(np.float32),
            placed)
    out, zmax = series_devices.run_on_blocks(_network_program(arch, directory), weights, placed, robust)
    out = {k: np.asarray(v, np.float64) for k, v in out.items()}
    out["zmax"] = np.asarray(zmax, np.float64)
    return out


# ------------------------------------------------------------------ fitting
@partial(compile_budget.jit, static_argnames=("spec", "refine"))
def _finish(y, moments, theta0, variance_scale, *, spec: GarchSpec, refine: int):
    """Optional Newton refinement, then the variance filter and the objective at the estimate, per series:
    y (T, N), moments (N, 3), theta0 (N, k) standardised; sigma2 comes back (T, N) multiplied by
    ``variance_scale`` (N,) (the caller's units), the rest (N, ...)."""
    from .garch_fit import _Problem

    def one(yy, mm, th, s2):
        prob = _Problem(yy, mm, spec, True)
        iters = jnp.zeros((), jnp.int32)
        if refine > 0:
            res = minimize_newton(prob.value_grad_hess, th, max_iter=refine, tol=0.0,
                                  at_bound=partial(at_open_bound, spec))
            th, iters = res.theta, res.iterations
        params = theta_to_params(spec, th)
        resid = yy - params.mu if spec.mean == "constant" else yy
        bc = prob.backcast_fn(params.mu)
        f, sigma2 = negloglik_mean_and_variances(params, yy, bc, spec, s2)   # one pass for both
        k = len(spec.param_names)
        nan = jnp.full((k, k), jnp.nan, yy.dtype)
        return dict(theta=th, x=params.to_vector(spec), f=f, sigma2=sigma2, backcast=bc,
                    last_resid=resid[-1], iterations=iters, decrement=jnp.zeros((), yy.dtype), cov=nan,
                    cov_hessian=nan, converged=jnp.ones((), bool))

    keys = ("theta", "x", "f", "sigma2", "backcast", "last_resid", "iterations", "decrement", "cov",
            "cov_hessian", "converged")
    # sigma2 straight out as (T, N), the scan's own layout: no transposed copy of the batch
    return jax.vmap(one, in_axes=(1, 0, 0, 0), out_axes={k: 1 if k == "sigma2" else 0 for k in keys})(
        y, moments, theta0, variance_scale)


def _theta0(spec, omega, alpha, beta, nu):
    """transforms.params_to_theta for a batch: vectorised for normal GARCH, per series otherwise."""
    if spec.dist == "normal":
        a = np.maximum(alpha, 1e-12)
        pers = a + np.maximum(beta, 1e-12)
        theta = np.asarray(hybrid.theta_of(omega, a, pers, persistence_max=1.0 - 1e-9), np.float64)
        return np.concatenate([np.zeros((len(omega), 1)), theta], axis=1) if spec.mean == "constant" else theta
    return np.stack([params_to_theta(spec, 0.0, omega[i], alpha[i], 0.0, beta[i], nu[i])
                     for i in range(len(omega))])


def _standardise(prep, spec: GarchSpec, bad):
    """Unit-free series for the network: y = (r - loc) / scale, (T, N) float64, with loc = 0 and scale the
    root mean square (zero mean) or loc the mean and scale the standard deviation (constant mean); the
    columns that cannot be fitted are replaced by the first good one (their results are discarded).
    Returns (y, loc, scale, moments (N, 3) = mean y, mean y^2, 1 as _finish wants them). One output
    allocation and the column moments already computed by the checks: a 10,000 x 2,500 batch is 200 MB;
    y is 64-byte aligned so that the device can adopt it without a copy (_host.py)."""
    mean, mean_square = prep.column_moments()
    first_good = int(np.argmax(~bad))
    if spec.mean == "constant":
        loc = mean.copy()
        scale = np.sqrt(np.maximum(mean_square - mean * mean, 0.0))
        # cancellation when |mean| >> std: those few columns get numpy's two-pass std
        shaky = np.flatnonzero(~bad & (mean * mean > 1e-6 * mean_square))
        if shaky.size:
            scale[shaky] = np.std(prep.data[:, shaky], axis=0)
    else:
        loc, scale = np.zeros_like(mean), np.sqrt(mean_square)
    loc[bad], scale[bad] = loc[first_good], scale[first_good]
    y = aligned_empty(prep.data.shape, np.float64)
    np.subtract(prep.data, loc, out=y)
    y *= 1.0 / scale
    if bad.any():
        y[:, bad] = y[:, [first_good]]
    m1 = np.where(bad, mean[first_good], mean)
    m1 = (m1 - loc) / scale
    moments = np.stack([m1 if spec.mean == "zero" else np.zeros_like(m1), np.ones_like(m1), np.ones_like(m1)],
                       axis=1)
    return y, loc, scale, moments


def _nu_from_kurtosis(y, sigma2):
    z = y / np.sqrt(sigma2)
    k = np.mean(z ** 4, axis=0) / np.mean(z ** 2, axis=0) ** 2 - 3.0
    return np.clip(np.where(k > 0.0, 4.0 + 6.0 / np.maximum(k, 1e-6), 500.0), 4.1, 500.0)


#: the most further Newton steps ``refine`` may ask for
MAX_REFINE = 20


def check_options(arch, refine, fallback) -> int:
    """The neural calibrator's options, checked (ValueError naming each): arch one of the networks,
    refine a whole number of Newton steps from 0 to MAX_REFINE, fallback None or "mle". Returns refine."""
    if arch not in networks.ARCHITECTURES:
        raise ValueError(f"nn_arch={arch!r} is unknown; choose one of {sorted(networks.ARCHITECTURES)}")
    if fallback not in (None, "mle"):
        raise ValueError(f"fallback={fallback!r} is not supported; choose None or 'mle'")
    if not val.is_whole(refine) or not 0 <= refine <= MAX_REFINE:
        raise ValueError(f"refine must be a whole number of Newton steps from 0 to {MAX_REFINE}, got {refine!r}")
    return int(refine)


def fit_nn(returns, vol="garch", dist="normal", mean="zero", percent=False, *, arch: str = DEFAULT_ARCH,
           refine: int = 0, fallback: str | None = None, weights_dir=None, dtype=None) -> NNGarchFit:
    """The neural calibrator behind ``fit_garch(..., method="nn")``. See the module docstring.

    arch: "hybrid" (default: the summary-statistics network, Newton steps on the exact likelihood and a
    learned gate between the two, hybrid.py), "mlp" (the network alone) or "lstm". refine: further Newton
    steps on the exact likelihood after that (0 = none; they move the estimate towards the MLE, outliers
    and all). fallback: None or "mle" (exact MLE
    for the series flagged out of distribution). dist="t": alpha, beta from the network, nu from the
    kurtosis of the standardised residuals (refine > 0 then polishes all of them).
    """
    refine = check_options(arch, refine, fallback)
    spec = GarchSpec(vol=vol, dist=dist, mean=mean)
    if spec.vol != "garch":
        raise ValueError("method='nn' covers vol='garch' (the network was trained on GARCH(1,1)); "
                         "use method='mle' for vol='gjr'")
    if not isinstance(percent, (bool, np.bool_)):
        raise ValueError(f"percent must be True or False, got {percent!r}")
    prep = val.prepare_returns(returns)
    T, N = prep.data.shape
    errors = val.column_errors(prep)
    bad = np.array([e is not None for e in errors])
    if prep.single and bad[0]:
        raise ValueError(errors[0])
    if bad.all():
        raise ValueError("no column can be fitted: " + "; ".join(errors[:3]))
    good = ~bad
    val.warn_short(prep)
    val.warn_scale(prep, good, bool(percent))
    y, loc, scale, moments = _standardise(prep, spec, bad)
    from .garch_fit import check_dtype
    dtype = check_dtype(dtype)

    # the devices adopt the host arrays (no 100-200 MB copies); nothing writes to y from here on
    placed = series_devices.place(y, np.float32)
    pred = predict(placed, arch, weights_dir)
    if np.dtype(dtype) == y.dtype:
        y_dev = adopt(y)
    elif len(placed.blocks) == 1 and np.dtype(dtype) == np.float32:
        y_dev = placed.blocks[0]      # one device: the float32 block is y, unpadded
    else:
        y_dev = jnp.asarray(y, dtype)
    alpha, beta, pers = pred["alpha"], pred["beta"], pred["persistence"]
    omega_std = (1.0 - pers) * pred["v"]
    nu = np.full(N, np.inf)
    if spec.dist == "t":
        h = np.asarray(jax.vmap(lambda e, o, a, b: variance_filter(e, o, a, 0.0, b, 1.0), in_axes=(1, 0, 0, 0))(
            y_dev, jnp.asarray(omega_std), jnp.asarray(alpha), jnp.asarray(beta))).T
        nu = _nu_from_kurtosis(y, h)
    theta0 = _theta0(spec, omega_std, alpha, beta, nu)
    on_device = variance_scale_on_device(dtype, scale)
    out = _finish(y_dev, jnp.asarray(moments, dtype), jnp.asarray(theta0, dtype),
                  jnp.ones(N, dtype) if on_device is None else on_device, spec=spec, refine=refine)
    # read-only views where possible (sigma2 is T x N); the MLE fallback below copies what it overwrites
    out = jax.tree.map(lambda a: np.asarray(a, np.float64) if a.dtype != bool else np.asarray(a), out)

    # out-of-distribution flags, per series
    reasons = [[] for _ in range(N)]
    for i in range(N):
        if bad[i]:
            continue
        if T < MIN_LENGTH:
            reasons[i].append(f"{T} observations, fewer than the {MIN_LENGTH} the network was trained on")
        if pred["zmax"][i] > FEATURE_Z_MAX:
            reasons[i].append(f"summary statistics unlike the training data (|z| = {pred['zmax'][i]:.1f})")
        if not PERS_RANGE[0] <= pers[i] <= PERS_RANGE[1]:
            reasons[i].append(f"persistence {pers[i]:.4f} outside the training range {PERS_RANGE}")
        if alpha[i] > ALPHA_MAX:
            reasons[i].append(f"alpha {alpha[i]:.3f} above the training range (<= {ALPHA_MAX})")
    ood = np.array([bool(r) for r in reasons])
    reason = np.array(["; ".join(r) for r in reasons], dtype=object)
    used_mle = np.zeros(N, bool)
    if fallback == "mle" and ood.any():
        from .garch_fit import _default_tol, fit_standardised
        idx = np.flatnonzero(ood)
        sub = fit_standardised(jnp.asarray(y[:, idx], dtype), jnp.asarray(moments[idx], dtype), spec=spec,
                               sample_backcast=True, max_iter=100, tol=_default_tol(dtype),
                               variance_scale=variance_scale_on_device(dtype, scale[idx]))
        sub = jax.tree.map(lambda a: np.asarray(a, np.float64) if a.dtype != bool else np.asarray(a), sub)
        for key in out:
            if key in sub:
                out[key] = np.array(out[key])
                if key == "sigma2":
                    out[key][:, idx] = sub[key]
                else:
                    out[key][idx] = sub[key]
        used_mle[idx] = True
    elif ood.any():
        where = "" if prep.single else f" for {int(ood.sum())} of {N} series"
        warnings.warn(f"the neural calibrator's inputs are outside its training range{where} "
                      f"({reason[np.flatnonzero(ood)[0]]}); see fit.ood_reason, or pass fallback='mle'",
                      OutOfDistributionWarning, stacklevel=user_stacklevel())
    fit = assemble_fit(spec, prep, bool(percent), "sample", errors, bad, loc, scale, out, dtype)
    base = {f.name: getattr(fit, f.name) for f in dataclasses.fields(GarchFit)}
    pick = (lambda a: a[0].item() if isinstance(a[0], np.generic) else a[0]) if prep.single else (lambda a: a)
    return NNGarchFit(**base, method="nn" if refine == 0 else f"nn+newton{refine}", ood=pick(ood),
                      ood_reason=pick(reason), fallback=pick(used_mle))
