"""Training the neural GARCH calibrator: synthetic data from ``calibrator.simulate`` and an optax loop.

Data (``make_dataset``), one parameter set per path, reproducible from ``seed``:
  persistence = 1 - exp(U(log 0.001, log 0.3))  (0.7 .. 0.999, denser near 1), alpha ~ U(0.01, min(0.3, pers)),
  daily vol log-uniform 0.3% .. 5%, omega = vol^2 (1 - pers); normal or Student-t(nu ~ U(3, 30)) shocks;
  a share of paths contaminated with additive outliers (0.5 - 2% of days, +-3..10 conditional sds) and a
  share with a regime shift (returns after a random break multiplied by 0.5 .. 2); lengths drawn from
  LENGTHS (250 .. 5,000). Targets are the clean generating alpha and persistence (and log long-run
  variance relative to the sample), so the network learns to see through the contamination.

``train`` fits one architecture with Adam (optax), a rich progress bar and msgpack checkpoints, and
writes weights + a metadata JSON that ``nn_fit.load_weights`` validates.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from pricer import compile_budget

from . import hybrid, networks
from .features import robust_scale, sequence_inputs, standardise, summary_features
from .simulate import simulate

__all__ = ["make_dataset", "train", "PRIORS", "LENGTHS", "WEIGHTS_VERSION"]

WEIGHTS_VERSION = 1
LENGTHS = (250, 500, 1000, 2000, 3000, 5000)
PRIORS = dict(alpha=(0.01, 0.3), persistence=(0.7, 0.999), daily_vol=(0.003, 0.05), nu=(3.0, 30.0),
              outlier_share=(0.005, 0.02), outlier_size_sd=(3.0, 10.0), lengths=(250, 5000),
              p_student=0.4, p_contaminated=0.3, p_regime=0.15)


def sample_params(rng: np.random.Generator, n: int, alpha=None, persistence=None):
    """Draw n parameter sets from the training priors (or the given (lo, hi) ranges)."""
    if persistence is None:
        pers = 1.0 - np.exp(rng.uniform(np.log(0.001), np.log(0.3), n))
    else:
        pers = rng.uniform(*persistence, n)
    if alpha is None:
        alpha = rng.uniform(0.01, np.minimum(0.3, pers - 0.005))
    else:
        alpha = rng.uniform(alpha[0], np.minimum(alpha[1], pers - 0.005))
    vol = np.exp(rng.uniform(np.log(0.003), np.log(0.05), n))
    return dict(alpha=alpha, beta=pers - alpha, omega=vol ** 2 * (1.0 - pers), persistence=pers)


def simulate_set(seed: int, n: int, T: int, *, student_nu=None, outliers=None, regime=False,
                 alpha=None, persistence=None, contaminate_share: float = 1.0, regime_share: float = 1.0):
    """n paths of length T from calibrator.simulate. student_nu: None | float | 'prior' (U(3, 30) per path);
    outliers: None | share of days (float) | 'prior' (U(0.5%, 2%) per path), applied to a random
    ``contaminate_share`` of the paths; regime: a level shift on a random ``regime_share`` of the paths.
    Returns (returns (T, n) float64 numpy, params dict with per-path flags and ``last_variance`` (n,), the
    clean process's conditional variance on the last day)."""
    rng = np.random.default_rng(seed)
    p = sample_params(rng, n, alpha, persistence)
    nu = None
    if student_nu == "prior":
        nu = rng.uniform(3.0, 30.0, n)
    elif student_nu is not None:
        nu = np.full(n, float(student_nu))
    sim = simulate(jax.random.key(seed), T, omega=p["omega"], alpha=p["alpha"], beta=p["beta"], nu=nu,
                   burn=300, dtype=jnp.float32)
    r = np.asarray(sim.returns, np.float64)
    h = np.asarray(sim.conditional_variance, np.float64)
    p["contaminated"] = np.zeros(n, bool)
    p["regime"] = np.zeros(n, bool)
    if outliers is not None:
        which = rng.random(n) < contaminate_share
        share = rng.uniform(0.005, 0.02, n) if outliers == "prior" else np.full(n, float(outliers))
        hit = (rng.random((T, n)) < share) & which
        size = rng.uniform(3.0, 10.0, (T, n)) * rng.choice([-1.0, 1.0], (T, n))
        r = r + hit * size * np.sqrt(h)
        p["contaminated"] = which
    if regime:
        which = rng.random(n) < regime_share
        brk = rng.integers(T // 5, 4 * T // 5, n)
        factor = np.where(which, np.exp(rng.uniform(np.log(0.5), np.log(2.0), n)), 1.0)
        r = np.where(np.arange(T)[:, None] >= brk[None, :], r * factor, r)
        p["regime"] = which
        h = h * np.where(np.arange(T)[:, None] >= brk[None, :], factor * factor, 1.0)
    p["nu"] = nu
    # the clean process's conditional variance on the last day (after a regime shift, its own level):
    # what a fit's last filtered variance estimates, the start of every forecast
    p["last_variance"] = h[-1]
    return r, p


def targets_of(r, p):
    """Training targets: alpha, persistence, log(long-run variance / sample mean square)."""
    lr = p["omega"] / (1.0 - p["persistence"])
    return np.stack([p["alpha"], p["persistence"], np.log(lr / np.mean(r * r, axis=0))], axis=1)


def _training_blocks(seed: int, n_per_length: int, lengths):
    """(returns (T, n), params) blocks of the training mixture, normal then Student-t, per length."""
    rng = np.random.default_rng(seed)
    for T in lengths:
        sub = int(rng.integers(0, 2**31 - 1))
        for j, nu in enumerate((None, "prior")):
            n = int(round(n_per_length * (1.0 - PRIORS["p_student"] if nu is None else PRIORS["p_student"])))
            yield simulate_set(sub + j, n, T, student_nu=nu, outliers="prior", regime=True,
                               contaminate_share=PRIORS["p_contaminated"], regime_share=PRIORS["p_regime"])


def make_dataset(seed: int, n_per_length: int, lengths=LENGTHS, arch: str = "mlp", lstm_stride: int = 1,
                 progress=None, weights_dir=None, newton_steps: int = hybrid.NEWTON_STEPS):
    """Mixed training set. mlp: (X (n, N_FEATURES), Y); lstm: list of (X (n, T', 1), Y) per length;
    hybrid: (X (n, N_GATE_INPUTS), candidates (n, 6), Y) from the mlp weights in ``weights_dir`` (default:
    the shipped ones). Y (n, 3): ``targets_of``. Rows with non-finite inputs are dropped."""
    if arch == "hybrid":
        from .nn_fit import load_weights
        mlp_model, mlp_variables, _ = load_weights("mlp", weights_dir)
    blocks = []
    for r, p in _training_blocks(seed, n_per_length, lengths):
        y = targets_of(r, p).astype(np.float32)
        u, _, _ = standardise(jnp.asarray(r, jnp.float32), demean=False)
        if arch == "hybrid":
            raw, cands, _ = hybrid.stage_inputs(mlp_model, mlp_variables, u, robust_scale(np.asarray(u), np),
                                                newton_steps)
            blocks.append((np.asarray(raw), np.asarray(cands), y))
        elif arch == "mlp":
            blocks.append((np.asarray(summary_features(u)), y))
        else:
            blocks.append((np.asarray(sequence_inputs(u, lstm_stride).transpose(1, 0, 2)), y))
        if progress is not None:
            progress()
    if arch == "lstm":
        return blocks
    arrays = [np.concatenate(column) for column in zip(*blocks)]
    ok = np.all([np.all(np.isfinite(a.reshape(len(a), -1)), axis=1) for a in arrays], axis=0)
    return tuple(a[ok] for a in arrays)


def _loss(z, y, cands=None):
    """Mean squared error of alpha and persistence (x100) plus 0.1 x that of log long-run variance.
    z: the network's raw outputs; for the hybrid, the gate's logits, mixed over ``cands``."""
    out = networks.head(z) if cands is None else hybrid.mix(z, cands)
    la = (out["alpha"] - y[:, 0]) ** 2
    lp = (out["persistence"] - y[:, 1]) ** 2
    lv = (jnp.log(out["v"]) - y[:, 2]) ** 2
    return jnp.mean(la + lp) * 100.0 + 0.1 * jnp.mean(lv)


def train(arch: str = "mlp", *, seed: int = 0, n_per_length: int = 4000, steps: int = 3000, batch: int = 512,
          lr: float = 2e-3, out_dir: str | Path | None = None, lengths=LENGTHS, lstm_stride: int = 1,
          checkpoint_every: int = 1000, quiet: bool = False, weights_dir=None,
          newton_steps: int = hybrid.NEWTON_STEPS, **net_kwargs):
    """Train one architecture; returns (params, norm, metadata). Writes weights + metadata to out_dir.

    arch="hybrid" trains the gate of hybrid.py on top of the mlp weights in ``weights_dir`` (default: those
    in out_dir if it has some, else the shipped ones); its metadata records their SHA-256 and the mlp files are copied beside it, so that
    out_dir is a complete weights folder (load_weights checks the pair)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if arch == "hybrid":
        weights_dir = _stage1_source(weights_dir, out_dir)
    model = networks.build(arch, **net_kwargs)
    t0 = time.time()
    n_blocks = len(lengths) * 2
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), disable=quiet) as prog:
        task = prog.add_task(f"simulating ({arch})", total=n_blocks, info="")
        data = make_dataset(seed, n_per_length, lengths, arch, lstm_stride, progress=lambda: prog.advance(task),
                            weights_dir=weights_dir, newton_steps=newton_steps)
        if arch == "lstm":
            blocks = data
            mean, std = np.zeros(1, np.float32), np.ones(1, np.float32)
        else:   # one block (X, [candidates,] Y); X standardised as nn_fit / hybrid.apply_gate will
            X = data[0]
            mean, std = X.mean(axis=0), X.std(axis=0) + 1e-6
            X = (X - mean) / std
            blocks = [(np.clip(X, -10.0, 10.0) if arch == "hybrid" else X, *data[1:])]
        key = jax.random.key(seed + 1)
        x0 = jnp.asarray(blocks[0][0][:2])
        params = model.init(key, x0)["params"]
        sched = optax.cosine_decay_schedule(lr, steps, alpha=0.05)
        opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=1e-5))
        state = opt.init(params)

        @compile_budget.jit
        def step(params, state, x, *rest):   # rest: (y,) or, for the hybrid, (candidates, y)
            y, cands = rest[-1], (rest[0] if len(rest) == 2 else None)
            loss, g = jax.value_and_grad(lambda p: _loss(model.apply({"params": p}, x), y, cands))(params)
            upd, state = opt.update(g, state, params)
            return optax.apply_updates(params, upd), state, loss

        rng = np.random.default_rng(seed + 2)
        task2 = prog.add_task(f"training {arch}", total=steps, info="")
        ema = None
        for it in range(steps):
            block = blocks[it % len(blocks)]
            idx = rng.integers(0, block[0].shape[0], min(batch, block[0].shape[0]))
            params, state, loss = step(params, state, *(jnp.asarray(a[idx]) for a in block))
            ema = float(loss) if ema is None else 0.98 * ema + 0.02 * float(loss)
            prog.update(task2, advance=1, info=f"loss {ema:.4f}")
            if out_dir is not None and checkpoint_every and (it + 1) % checkpoint_every == 0:
                _write(out_dir, arch, params, mean, std, _meta(arch, seed, n_per_length, it + 1, lengths,
                                                              lstm_stride, net_kwargs, ema, time.time() - t0),
                       suffix=".ckpt")
    meta = _meta(arch, seed, n_per_length, steps, lengths, lstm_stride, net_kwargs, ema, time.time() - t0)
    if arch == "hybrid":
        meta["stage1"] = stage1_of(weights_dir)
        meta["newton_steps"] = int(newton_steps)
    if out_dir is not None:
        _write(out_dir, arch, params, mean, std, meta)
        if arch == "hybrid":
            source = Path(weights_dir) if weights_dir is not None else _shipped()
            for name in ("mlp.msgpack", "mlp.json"):
                if (Path(out_dir) / name).resolve() != (source / name).resolve():
                    shutil.copyfile(source / name, Path(out_dir) / name)
    return params, (mean, std), meta


def _stage1_source(weights_dir, out_dir) -> Path:
    """Where the hybrid's mlp comes from: ``weights_dir``; else out_dir when it holds mlp weights (train the
    mlp, then the gate, into one folder); else the shipped ones. Refuses an out_dir whose mlp differs from
    the source (copying the source there would overwrite it)."""
    out_mlp = Path(out_dir) / "mlp.msgpack" if out_dir is not None else None
    if weights_dir is None:
        return Path(out_dir) if out_mlp is not None and out_mlp.is_file() else _shipped()
    source = Path(weights_dir)
    if out_mlp is not None and out_mlp.is_file() and out_mlp.resolve() != (source / "mlp.msgpack").resolve() \
            and out_mlp.read_bytes() != (source / "mlp.msgpack").read_bytes():
        raise ValueError(f"{out_mlp} holds other mlp weights than {source / 'mlp.msgpack'}: training the hybrid "
                         f"there would replace them; choose another output folder")
    return source


def _shipped() -> Path:
    from .nn_fit import WEIGHTS_DIR
    return WEIGHTS_DIR


def stage1_of(weights_dir=None) -> dict:
    """What the hybrid's gate was trained on: the mlp weights file's SHA-256."""
    path = (Path(weights_dir) if weights_dir is not None else _shipped()) / "mlp.msgpack"
    return dict(architecture="mlp", sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def _meta(arch, seed, n_per_length, steps, lengths, stride, net_kwargs, loss, seconds):
    return dict(architecture=arch, network_kwargs=net_kwargs, version=WEIGHTS_VERSION, data_seed=seed,
                series_per_length=n_per_length, steps=steps, lengths=list(lengths), lstm_stride=stride,
                training_ranges=PRIORS, final_loss=loss, train_seconds=round(seconds, 1),
                device=f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind})",
                jax_version=jax.__version__)


def _write(out_dir, arch, params, mean, std, meta, suffix=""):
    out = Path(out_dir) / "checkpoints" if suffix else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    blob = {"params": jax.tree.map(np.asarray, params), "feature_mean": np.asarray(mean, np.float32),
            "feature_std": np.asarray(std, np.float32)}
    (out / f"{arch}{suffix}.msgpack").write_bytes(flax.serialization.to_bytes(blob))
    (out / f"{arch}{suffix}.json").write_text(json.dumps(meta, indent=1, default=float))
