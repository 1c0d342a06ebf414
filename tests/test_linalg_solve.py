"""tj.linalg's cholesky, triangular_solve, cholesky_solve, solve, inv, det, slogdet and
logdet: values against NumPy eagerly and compiled (native LAPACK calls), TensorFlow 2.21's
results on bad input (checked in a TensorFlow install: which cases raise and which give
NaN/inf), broadcasting of batch dimensions, and gradients through a GradientTape against
central finite differences at orders 1 and 2.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.ir.lapack_cases import general, spd, triangular
from tests.test_grad_ops import gradcheck

RNG = np.random.default_rng(7)
A = general(RNG, (2,), 4)
S = spd(RNG, (2,), 4)
T = triangular(RNG, (2,), 4)
B = RNG.uniform(-2, 2, (2, 4, 3))


def both(f: Callable[..., Any], *args: Any) -> list[Any]:
    """f eagerly and compiled, on float64 tensors of args: [eager, compiled]."""
    xs = [tj.constant(a) for a in args]
    return [f(*xs), tj.function(f)(*xs)]


def np_of(r: Any) -> Any:
    return tuple(np_of(x) for x in r) if isinstance(r, tuple) else r.numpy()


CASES: list[tuple[str, Callable[..., Any], Callable[..., Any], tuple[Any, ...]]] = [
    ("cholesky", tj.linalg.cholesky, np.linalg.cholesky, (S,)),
    ("triangular_solve", lambda a, b: tj.linalg.triangular_solve(a, b),
     lambda a, b: np.linalg.solve(np.tril(a), b), (T, B)),
    ("triangular_solve_upper_adjoint",
     lambda a, b: tj.linalg.triangular_solve(a, b, lower=False, adjoint=True),
     lambda a, b: np.linalg.solve(np.swapaxes(np.triu(a), -1, -2), b), (T, B)),
    ("cholesky_solve", lambda a, b: tj.linalg.cholesky_solve(tj.linalg.cholesky(a), b),
     np.linalg.solve, (S, B)),
    ("solve", tj.linalg.solve, np.linalg.solve, (A, B)),
    ("solve_adjoint", lambda a, b: tj.linalg.solve(a, b, adjoint=True),
     lambda a, b: np.linalg.solve(np.swapaxes(a, -1, -2), b), (A, B)),
    ("inv", tj.linalg.inv, np.linalg.inv, (A,)),
    ("det", tj.linalg.det, np.linalg.det, (A,)),
    ("slogdet", lambda a: tuple(tj.linalg.slogdet(a)), lambda a: tuple(np.linalg.slogdet(a)),
     (A,)),
    ("logdet", tj.linalg.logdet, lambda a: np.linalg.slogdet(a)[1], (S,)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_values_match_numpy_eager_and_compiled(case: Any) -> None:
    _, f, ref, args = case
    want = ref(*args)
    for got in both(f, *args):
        got = np_of(got)
        for g, w in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(case: Any) -> None:
    _, f, ref, args = case
    want = ref(*args)
    got = tj.function(f)(*[tj.constant(a.astype(np.float32)) for a in args])
    for g, w in zip(got if isinstance(got, tuple) else (got,),
                    want if isinstance(want, tuple) else (want,)):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g.numpy(), w, rtol=2e-4, atol=1e-5)


GRADS: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = [
    # cholesky's gradient is TensorFlow's symmetric one: checked on symmetric perturbations
    ("cholesky", lambda a: tj.linalg.cholesky((a + tj.linalg.matrix_transpose(a)) / 2.0),
     (S[0],)),
    ("triangular_solve", lambda a, b: tj.linalg.triangular_solve(a, b, lower=False),
     (T[0], B[0])),
    ("cholesky_solve", lambda a, b: tj.linalg.cholesky_solve(
        tj.linalg.cholesky((a + tj.linalg.matrix_transpose(a)) / 2.0), b), (S[0], B[0])),
    ("solve_broadcast", lambda a, b: tj.linalg.solve(a, b), (A[0], B)),
    ("inv", tj.linalg.inv, (A,)),
    ("det", tj.linalg.det, (A,)),
    ("slogdet", lambda a: tj.linalg.slogdet(a).log_abs_determinant, (A,)),
    ("logdet", lambda a: tj.linalg.logdet((a + tj.linalg.matrix_transpose(a)) / 2.0), (S,)),
]


@pytest.mark.parametrize("case", GRADS, ids=[c[0] for c in GRADS])
def test_gradients_orders_1_and_2(case: Any) -> None:
    _, f, args = case
    gradcheck(f, *args, order=2)


def test_compiled_gradient_matches_eager() -> None:
    def loss(a: Any, b: Any) -> Any:
        with tj.GradientTape() as tape:
            tape.watch([a, b])
            y = tj.reduce_sum(tj.linalg.solve(a, b) ** 2) + tj.linalg.logdet(
                tj.matmul(a, a, transpose_b=True))
        return tape.gradient(y, [a, b])
    eager, compiled = both(loss, A, B)
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=1e-10)


def test_batch_dimensions_broadcast() -> None:
    a = A[0]
    got = tj.linalg.solve(tj.constant(a), tj.constant(B)).numpy()
    np.testing.assert_allclose(got, np.linalg.solve(a, B), rtol=1e-12)
    got = tj.linalg.triangular_solve(tj.constant(T), tj.constant(B[0])).numpy()
    np.testing.assert_allclose(got, np.linalg.solve(np.tril(T), B[0]), rtol=1e-12)


# ------------------------------------------------------------------ bad input (TensorFlow 2.21)

SINGULAR = np.array([[[1., 2.], [2., 4.]], [[1., 0.], [0., 1.]]])
NOT_PD = np.array([[1., 2.], [2., 1.]])


@pytest.mark.parametrize("op", ["solve", "inv"])
@pytest.mark.parametrize("compiled", [False, True])
def test_singular_matrix_raises_linalg_error(op: str, compiled: bool) -> None:
    # TensorFlow: InvalidArgumentError "Input matrix is not invertible".
    def f(a: Any) -> Any:
        return tj.linalg.solve(a, tj.ones([2, 2, 1], tj.float64)) if op == "solve" \
            else tj.linalg.inv(a)
    g = tj.function(f) if compiled else f
    with pytest.raises(tj.errors.LinAlgError, match=r"not invertible.*batch index \(0,\).*"
                       r"f64\[2,2,2\]"):
        g(tj.constant(SINGULAR))
    assert issubclass(tj.errors.LinAlgError, np.linalg.LinAlgError)
    assert issubclass(tj.errors.LinAlgError, ValueError)


@pytest.mark.parametrize("compiled", [False, True])
def test_not_positive_definite_gives_nan_like_tensorflow(compiled: bool) -> None:
    f = tj.function(tj.linalg.cholesky) if compiled else tj.linalg.cholesky
    got = f(tj.constant(np.stack([np.eye(2), NOT_PD]))).numpy()
    np.testing.assert_array_equal(got[0], np.eye(2))
    assert np.isnan(got[1][np.tril_indices(2)]).all() and got[1][0, 1] == 0
    ld = tj.function(tj.linalg.logdet) if compiled else tj.linalg.logdet
    assert np.isnan(float(ld(tj.constant(NOT_PD))))


@pytest.mark.parametrize("compiled", [False, True])
def test_singular_det_and_slogdet_like_tensorflow(compiled: bool) -> None:
    det = tj.function(tj.linalg.det) if compiled else tj.linalg.det
    sl = tj.function(lambda a: tuple(tj.linalg.slogdet(a))) if compiled else \
        (lambda a: tuple(tj.linalg.slogdet(a)))
    np.testing.assert_array_equal(det(tj.constant(SINGULAR)).numpy(), [0.0, 1.0])
    sign, logabs = sl(tj.constant(SINGULAR))
    np.testing.assert_array_equal(sign.numpy(), [0.0, 1.0])
    np.testing.assert_array_equal(logabs.numpy(), [-np.inf, 0.0])


@pytest.mark.parametrize("compiled", [False, True])
def test_zero_on_triangular_diagonal_gives_inf(compiled: bool) -> None:
    f = tj.function(tj.linalg.triangular_solve) if compiled else tj.linalg.triangular_solve
    got = f(tj.constant([[0., 0.], [1., 1.]]), tj.constant([[1.], [1.]])).numpy()
    assert not np.isfinite(got).any()


def test_only_the_lower_triangle_is_read() -> None:
    # TensorFlow: cholesky reads the lower triangle, triangular_solve the named one.
    a = np.array([[4., 100.], [2., 5.]])
    for f in (tj.linalg.cholesky, tj.function(tj.linalg.cholesky)):
        np.testing.assert_allclose(f(tj.constant(a)).numpy(), [[2., 0.], [1., 2.]])
    got = tj.linalg.triangular_solve(tj.constant([[2., 100.], [1., 4.]]),
                                     tj.constant([[1.], [1.]])).numpy()
    np.testing.assert_allclose(got, [[0.5], [0.125]])


def test_bad_shapes_and_dtypes_name_them() -> None:
    with pytest.raises(tj.errors.ShapeError, match=r"square.*\[2, 3\]"):
        tj.linalg.inv(tj.ones([2, 3]))
    with pytest.raises(tj.errors.ShapeError, match=r"rhs has 3 rows"):
        tj.linalg.solve(tj.ones([2, 2]), tj.ones([3, 1]))
    with pytest.raises(tj.errors.ShapeError, match=r"do not broadcast"):
        tj.linalg.solve(tj.ones([2, 2, 2]), tj.ones([3, 2, 1]))
    with pytest.raises(tj.errors.DTypeError, match="int32"):
        tj.linalg.cholesky(tj.constant([[1, 0], [0, 1]]))
    with pytest.raises(TypeError, match="float32 and float64|float64 and float32|differ"):
        tj.linalg.solve(tj.ones([2, 2]), tj.ones([2, 1], tj.float64))


def test_empty_matrices() -> None:
    for f in (tj.linalg.cholesky, tj.linalg.inv):
        assert f(tj.zeros([3, 0, 0])).shape == (3, 0, 0)
    np.testing.assert_array_equal(tj.function(tj.linalg.det)(tj.zeros([2, 0, 0])).numpy(),
                                  [1.0, 1.0])


# ------------------------------------------------------------------ lu


def test_lu_packs_l_and_u_with_tensorflows_permutation() -> None:
    a = np.array([[1., 2., 0.], [3., 4., 1.], [0., 5., 6.]])
    for packed, p in both(lambda x: tuple(tj.linalg.lu(x)), a):
        # TensorFlow 2.21's result for this matrix
        np.testing.assert_array_equal(p.numpy(), [1, 2, 0])
        np.testing.assert_allclose(packed.numpy(), [[3., 4., 1.], [0., 5., 6.],
                                                    [1 / 3, 2 / 15, -17 / 15]], rtol=1e-14)
    x = np.stack([A[0][[2, 0, 3, 1]], A[1]])
    packed, p = tj.function(lambda t: tuple(tj.linalg.lu(t)))(tj.constant(x))
    lo = np.tril(packed.numpy(), -1) + np.eye(4)
    up = np.triu(packed.numpy())
    np.testing.assert_allclose(lo @ up, np.take_along_axis(x, p.numpy()[..., None], -2),
                               rtol=1e-13)
    assert tj.linalg.lu(tj.constant(x), output_idx_type=tj.int64).p.dtype == np.int64


@pytest.mark.parametrize("compiled", [False, True])
def test_lu_of_singular_matrix_raises(compiled: bool) -> None:
    f = tj.function(lambda a: tuple(tj.linalg.lu(a))) if compiled else tj.linalg.lu
    with pytest.raises(tj.errors.LinAlgError, match="lu: .*not invertible"):
        f(tj.constant(np.zeros((2, 2))))


def test_lu_gradients_orders_1_and_2() -> None:
    x = A[0][[2, 0, 3, 1]]
    gradcheck(lambda a: tj.linalg.lu(a).lu, x, order=2)


def test_large_matrices_take_lapacks_path() -> None:
    # n > SMALL_LU: getrf/gesv instead of our own small-matrix kernel
    from tracejit.codegen.lower_lapack_small import SMALL_LU
    n = SMALL_LU + 8
    rng = np.random.default_rng(5)
    a = general(rng, (), n)
    b = rng.uniform(-1, 1, (n, 2))
    got = tj.function(lambda x, y: (tj.linalg.solve(x, y), tj.linalg.slogdet(x)[1],
                                    tj.linalg.lu(x).lu, tj.linalg.solve(x, y, adjoint=True))
                      )(tj.constant(a), tj.constant(b))
    np.testing.assert_allclose(got[0].numpy(), np.linalg.solve(a, b), rtol=1e-10)
    np.testing.assert_allclose(got[3].numpy(), np.linalg.solve(a.T, b), rtol=1e-10)
    np.testing.assert_allclose(got[1].numpy(), np.linalg.slogdet(a)[1], rtol=1e-12)
    lo, up = np.tril(got[2].numpy(), -1) + np.eye(n), np.triu(got[2].numpy())
    np.testing.assert_allclose(lo @ up, a, atol=1e-12 * n)     # no pivoting: dominant diagonal
    singular = a.copy()
    singular[:, 3] = 0.0
    with pytest.raises(tj.errors.LinAlgError, match="not invertible"):
        tj.function(tj.linalg.inv)(tj.constant(singular))


def test_large_cholesky_reads_the_lower_triangle_and_marks_failure() -> None:
    # Native code factors the row-major lower triangle in place ('U' of its transpose).
    rng = np.random.default_rng(6)
    n = 70
    m = rng.uniform(-1, 1, (n, n))
    spd = m @ m.T / n + np.eye(n)
    junk = np.tril(spd) + np.triu(rng.uniform(5, 9, (n, n)), 1)
    bad = spd.copy()
    bad[40, 40] = -1.0
    got = tj.function(tj.linalg.cholesky)(tj.constant(np.stack([junk, bad]))).numpy()
    np.testing.assert_allclose(got[0], np.linalg.cholesky(spd), rtol=1e-12, atol=1e-14)
    assert np.isnan(got[1][np.tril_indices(n)]).all()
    assert (got[1][np.triu_indices(n, 1)] == 0).all()


def test_a_numerically_singular_solve_agrees_with_eager_mode() -> None:
    """Two equal rows (equal points of a kernel matrix): NumPy's LU of a meets no exact
    zero pivot and returns its huge result; compiled code factors a the same way and
    returns the same, instead of the LinAlgError an LU of a^T gives."""
    rng = np.random.default_rng(7)
    u = rng.standard_normal((130, 3)) * 2
    u[-1] = u[0]
    d2 = ((u[:, None, :] - u[None, :, :]) ** 2).sum(-1)
    a = np.exp(-0.5 * d2) + 0.1 * (d2 == 0) + 0.3 * u[:, :1]
    b = u[:, 1:3].copy()
    want = np.linalg.solve(a, b)
    eager = tj.linalg.solve(tj.constant(a), tj.constant(b)).numpy()
    got = np.asarray(tj.compile(tj.linalg.solve)(a, b))
    np.testing.assert_array_equal(eager, want)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_batched_solve_copies_each_matrix(dtype: Any) -> None:
    # n a multiple of 8: the 8 x 8 register-transposing copy into LAPACK's layout, per
    # matrix of the batch; `2 * a` is computed inside the copy (the element-wise path).
    rng = np.random.default_rng(7)
    n = 72
    a = np.stack([general(rng, (), n) for _ in range(2)]).astype(dtype)
    b = rng.uniform(-1, 1, (2, n, 3)).astype(dtype)
    got = tj.function(lambda x, y: (tj.linalg.solve(x, y), tj.linalg.solve(2 * x, y)))(a, b)
    want = np.linalg.solve(a.astype(float), b.astype(float))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got[0].numpy(), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(got[1].numpy(), want / 2, rtol=tol, atol=tol)
