"""calibrator.jacobi.symmetric_eigh against numpy's LAPACK eigh, and the saddle-free Newton step built on it."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from calibrator.jacobi import symmetric_eigh
from calibrator.optimize import newton_decrement


def _matrices(kind, n, k, rng):
    """n symmetric k x k matrices with a known spectrum of the given kind: (matrices, eigenvalues)."""
    q, _ = np.linalg.qr(rng.standard_normal((n, k, k)))
    if kind == "random":
        lam = rng.standard_normal((n, k))
    elif kind == "graded":          # Hessians of parameters on very different scales
        lam = rng.choice([-1.0, 1.0], (n, k)) * 10.0 ** rng.uniform(-8, 4, (n, k))
    elif kind == "degenerate":      # a repeated eigenvalue (the eigenvectors are then not unique)
        lam = np.repeat(rng.standard_normal((n, 1)), k, axis=1)
        lam[:, 0] += 1e-9
    else:                           # clustered
        lam = 1.0 + 1e-6 * rng.standard_normal((n, k))
    return np.einsum("nij,nj,nkj->nik", q, lam, q), lam


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("kind", ["random", "graded", "degenerate", "clustered"])
def test_decomposition_to_float64_rounding(k, kind):
    rng = np.random.default_rng(10 * k + len(kind))
    a, lam = _matrices(kind, 300, k, rng)
    w, v = jax.vmap(symmetric_eigh)(jnp.asarray(a))
    w, v = np.asarray(w), np.asarray(v)
    norm = np.linalg.norm(a, axis=(1, 2))
    reconstructed = np.einsum("nij,nj,nkj->nik", v, w, v)
    assert np.max(np.abs(reconstructed - a) / norm[:, None, None]) < 1e-13
    assert np.max(np.abs(np.einsum("nji,njk->nik", v, v) - np.eye(k))) < 1e-13
    lapack = np.linalg.eigvalsh(a)
    assert np.max(np.abs(np.sort(w, axis=1) - lapack) / norm[:, None]) < 1e-13
    assert np.max(np.abs(np.sort(w, axis=1) - np.sort(lam, axis=1)) / norm[:, None]) < 1e-12


def test_float32_and_nonfinite_input():
    rng = np.random.default_rng(1)
    a, _ = _matrices("random", 200, 3, rng)
    w32, v32 = jax.vmap(symmetric_eigh)(jnp.asarray(a, jnp.float32))
    assert w32.dtype == jnp.float32
    rec = np.einsum("nij,nj,nkj->nik", np.asarray(v32, float), np.asarray(w32, float), np.asarray(v32, float))
    assert np.max(np.abs(rec - a) / np.linalg.norm(a, axis=(1, 2))[:, None, None]) < 2e-6
    bad = a[0].copy()
    bad[0, 1] = bad[1, 0] = np.nan
    w, _ = symmetric_eigh(jnp.asarray(bad))
    assert not np.all(np.isfinite(np.asarray(w)))


def test_diagonal_and_zero_matrices_need_no_rotation():
    d = jnp.diag(jnp.array([3.0, -1.0, 2.0]))
    w, v = symmetric_eigh(d)
    np.testing.assert_array_equal(np.asarray(w), [3.0, -1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(v), np.eye(3))
    w, v = symmetric_eigh(jnp.zeros((3, 3)))
    assert np.all(np.asarray(w) == 0.0) and np.array_equal(np.asarray(v), np.eye(3))


def test_newton_decrement_uses_absolute_eigenvalues():
    """g' |H|^-1 g with |H| = V |Lambda| V': compared with numpy's eigh on an indefinite Hessian."""
    rng = np.random.default_rng(3)
    a, _ = _matrices("random", 50, 4, rng)
    g = rng.standard_normal((50, 4))
    ours = np.asarray(jax.vmap(lambda g, h: newton_decrement(g, h, "jacobi"))(jnp.asarray(g), jnp.asarray(a)))
    lam, vec = np.linalg.eigh(a)
    vg = np.einsum("nji,nj->ni", vec, g)
    expected = np.sum(vg * vg / np.abs(lam), axis=1)
    np.testing.assert_allclose(ours, expected, rtol=1e-10)
