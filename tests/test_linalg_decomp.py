"""tj.linalg's eigh, eigvalsh, qr, svd and lstsq: factorizations against NumPy (the same
LAPACK routines, so bit for bit in float64) eagerly and compiled, TensorFlow's output
structures, gradients at orders 1 and 2 against central finite differences (through
functions that do not depend on the arbitrary signs of singular vectors where those
would change), and TensorFlow 2.21's gradient values on one matrix.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.ir.lapack_cases import rectangular, symmetric
from tests.test_grad_ops import gradcheck

RNG = np.random.default_rng(11)
SYM = symmetric(RNG, (2,), 4)                    # junk above the diagonal
TALL = rectangular(RNG, (2,), 5, 3)
WIDE = rectangular(RNG, (2,), 3, 5)


def both(f: Any, *args: Any) -> list[Any]:
    xs = [tj.constant(a) for a in args]
    return [f(*xs), tj.function(f)(*xs)]


def test_eigh_matches_numpy_lower_triangle() -> None:
    we, ve = np.linalg.eigh(SYM, UPLO="L")
    for e, v in both(lambda a: tuple(tj.linalg.eigh(a)), SYM):
        np.testing.assert_array_equal(e.numpy(), we)
        np.testing.assert_array_equal(v.numpy(), ve)
    np.testing.assert_array_equal(tj.linalg.eigvalsh(tj.constant(SYM)).numpy(), we)


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("a", [TALL, WIDE], ids=["tall", "wide"])
def test_qr_matches_numpy(a: np.ndarray, full: bool) -> None:
    wq, wr = np.linalg.qr(a, mode="complete" if full else "reduced")
    for q, r in both(lambda x: tuple(tj.linalg.qr(x, full_matrices=full)), a):
        np.testing.assert_array_equal(q.numpy(), wq)
        np.testing.assert_array_equal(r.numpy(), wr)
    q, r = tj.linalg.qr(tj.constant(a), full_matrices=full)
    assert tj.linalg.qr(tj.constant(a))._fields == ("q", "r")


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("a", [TALL, WIDE], ids=["tall", "wide"])
def test_svd_matches_numpy_in_tensorflow_order(a: np.ndarray, full: bool) -> None:
    wu, ws, wvh = np.linalg.svd(a, full_matrices=full)
    for s, u, v in both(lambda x: tuple(tj.linalg.svd(x, full_matrices=full)), a):
        np.testing.assert_array_equal(s.numpy(), ws)
        np.testing.assert_array_equal(u.numpy(), wu)
        np.testing.assert_array_equal(v.numpy(), np.swapaxes(wvh, -1, -2))
    for s in both(lambda x: tj.linalg.svd(x, compute_uv=False), a):
        np.testing.assert_allclose(s.numpy(), ws, rtol=1e-14)


def test_float32() -> None:
    a = SYM.astype(np.float32)
    e, v = tj.function(lambda x: tuple(tj.linalg.eigh(x)))(tj.constant(a))
    assert e.dtype == np.float32 and v.dtype == np.float32
    np.testing.assert_allclose(e.numpy(), np.linalg.eigh(SYM)[0], rtol=1e-5)
    s = tj.function(lambda x: tj.linalg.svd(x, compute_uv=False))(tj.constant(TALL.astype(
        np.float32)))
    np.testing.assert_allclose(s.numpy(), np.linalg.svd(TALL, compute_uv=False), rtol=1e-5)


def _proj(v: Any, k: int) -> Any:
    """v[:, :k] v[:, :k]^T: independent of the signs of the columns."""
    vk = v[..., :, :k]
    return tj.matmul(vk, vk, transpose_b=True)


GRADS = [
    ("eigh_values", lambda a: tj.linalg.eigh(a)[0], SYM[0]),
    ("eigh_vectors", lambda a: tj.linalg.eigh(a)[1], SYM[0]),
    ("qr_tall", lambda a: tuple(tj.linalg.qr(a)), TALL[0]),
    ("qr_wide", lambda a: tuple(tj.linalg.qr(a)), WIDE[0]),
    ("qr_square_full", lambda a: tuple(tj.linalg.qr(a, full_matrices=True)), TALL[0][:3]),
    ("svd_values", lambda a: tj.linalg.svd(a, compute_uv=False), TALL[0]),
    ("svd_tall", lambda a: tuple(tj.linalg.svd(a)), TALL[0]),
    ("svd_wide", lambda a: tuple(tj.linalg.svd(a)), WIDE[0]),
    ("svd_projectors", lambda a: (_proj(tj.linalg.svd(a)[1], 2), _proj(tj.linalg.svd(a)[2], 2)),
     WIDE),
]


@pytest.mark.parametrize("case", GRADS, ids=[c[0] for c in GRADS])
def test_gradients_orders_1_and_2(case: Any) -> None:
    _, f, a = case
    gradcheck(f, a, order=2)


def test_gradients_match_tensorflow() -> None:
    # Computed with TensorFlow 2.21 (float64): eigh's gradient is lower triangular, the
    # Cholesky gradient symmetric.
    a = tj.constant([[2., 1., .5], [.3, 3., .2], [.1, .7, 5.]], tj.float64)
    w = tj.constant([1., 2., 3.], tj.float64)
    with tj.GradientTape(persistent=True) as tape:
        tape.watch(a)
        e, v = tj.linalg.eigh(a)
        y = tj.reduce_sum(e * w) + tj.reduce_sum(v[:, 0] ** 2 * w)
        c = tj.reduce_sum(tj.linalg.cholesky(a) * tj.reshape(tj.range(9, dtype=tj.float64),
                                                              [3, 3]))
    np.testing.assert_allclose(tape.gradient(y, a).numpy(), [
        [1.24878811, 0., 0.], [1.05850075, 1.85509105, 0.],
        [-0.11361875, 0.66846487, 2.89612084]], rtol=1e-7)
    np.testing.assert_allclose(tape.gradient(c, a).numpy(), [
        [-0.2186441, 0.86155625, 1.78821334], [0.86155625, 0.78922105, 1.6144153],
        [1.78821334, 1.6144153, 1.81889414]], rtol=1e-7)


def test_degenerate_eigenvalues_give_finite_gradients() -> None:
    # TensorFlow's safe reciprocal: equal eigenvalues drop the terms that would be inf.
    a = tj.constant(np.diag([1., 1., 2.]))
    with tj.GradientTape() as tape:
        tape.watch(a)
        e, v = tj.linalg.eigh(a)
        y = tj.reduce_sum(e) + tj.reduce_sum(v)
    assert np.isfinite(tape.gradient(y, a).numpy()).all()


def test_undefined_gradients_raise_like_tensorflow() -> None:
    a = tj.constant(TALL[0])
    with tj.GradientTape() as tape:
        tape.watch(a)
        q, r = tj.linalg.qr(a, full_matrices=True)
        y = tj.reduce_sum(q)
    with pytest.raises(NotImplementedError, match="full_matrices"):
        tape.gradient(y, a)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("a", [TALL, WIDE], ids=["tall", "wide"])
def test_lstsq_matches_numpy(a: np.ndarray, fast: bool) -> None:
    b = RNG.uniform(-1, 1, a.shape[:-1] + (2,))
    want = np.stack([np.linalg.lstsq(a[k], b[k], rcond=None)[0] for k in range(len(a))])
    for got in both(lambda x, y: tj.linalg.lstsq(x, y, fast=fast), a, b):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)


def test_lstsq_regularized_and_rank_deficient_like_tensorflow() -> None:
    a = np.array([[1., 2.], [2., 4.]])
    b = np.ones((2, 1))
    # TensorFlow: NaN from the normal equations, the minimum-norm solution otherwise.
    assert np.isnan(tj.linalg.lstsq(tj.constant(a), tj.constant(b)).numpy()).all()
    np.testing.assert_allclose(tj.linalg.lstsq(tj.constant(a), tj.constant(b),
                                               fast=False).numpy(), [[0.12], [0.24]])
    got = tj.linalg.lstsq(tj.constant(TALL[0]), tj.constant(np.ones((5, 1))),
                          l2_regularizer=0.5).numpy()
    want = np.linalg.solve(TALL[0].T @ TALL[0] + 0.5 * np.eye(3), TALL[0].T @ np.ones((5, 1)))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_lstsq_gradients() -> None:
    b = RNG.uniform(-1, 1, (5, 2))
    gradcheck(lambda a, y: tj.linalg.lstsq(a, y), TALL[0], b, order=2)
    gradcheck(lambda a, y: tj.linalg.lstsq(a, y, fast=False), TALL[0], b, order=1)
