"""pad (constant, reflect, symmetric), linalg.diag, diag_part, set_diag, trace, band_part,
matvec and integer matmul/tensordot: NumPy references eagerly and compiled, TensorFlow's values
and errors, gradients against central finite differences in float64 at orders 1 and 2."""
from __future__ import annotations

import numpy as np
import pytest

import tracejit as tj
from tests.test_array_ops import same
from tests.test_grad_ops import gradcheck, rand
from tracejit.matrices import tril, triu

X = np.arange(24, dtype=np.float64).reshape(2, 3, 4) - 7


@pytest.mark.parametrize("mode", ["CONSTANT", "reflect", "Symmetric"])
def test_pad_matches_numpy(mode: str) -> None:
    p = [[0, 1], [2, 1], [3, 0]] if mode != "Symmetric" else [[2, 1], [3, 2], [4, 1]]
    np_mode = {"CONSTANT": "constant", "reflect": "reflect", "Symmetric": "symmetric"}[mode]
    same(lambda x: tj.pad(x, p, mode), np.pad(X, p, np_mode), X)
    gradcheck(lambda x: tj.pad(x, p, mode) ** 2, rand(1, (2, 3, 4)))


def test_pad_constant_values() -> None:
    same(lambda x: tj.pad(x, [[1, 0], [0, 2], [1, 1]], constant_values=-1.5),
         np.pad(X, [[1, 0], [0, 2], [1, 1]], constant_values=-1.5), X)
    xi = X.astype(np.int32)
    same(lambda x: tj.pad(x, [[0, 0], [1, 1], [0, 0]], constant_values=7),
         np.pad(xi, [[0, 0], [1, 1], [0, 0]], constant_values=7), xi)
    gradcheck(lambda x: tj.pad(x, [[1, 1], [0, 0], [2, 0]], constant_values=3.0) ** 2,
              rand(2, (2, 3, 4)))
    c = tj.constant(2.0, tj.float64)
    with tj.GradientTape() as tape:         # TensorFlow: no gradient for constant_values
        tape.watch(c)
        y = tj.pad(tj.constant(X), [[1, 0], [0, 0], [0, 0]], constant_values=c)
    assert tape.gradient(y, c) is None


def test_pad_errors_match_tensorflow() -> None:
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="REFLECT paddings must be less than the dimension "
                                         "size: 2, 0 not less than 2"):
        tj.pad(x, [[2, 0], [0, 0]], "REFLECT")
    with pytest.raises(ValueError, match="no greater than the dimension size: 3, 0"):
        tj.pad(x, [[3, 0], [0, 0]], "SYMMETRIC")
    with pytest.raises(ValueError, match="non-negative, got -1 0"):
        tj.pad(x, [[-1, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"shape \[2, 2\]"):
        tj.pad(x, [[1, 0]])
    with pytest.raises(ValueError, match="mode must be one of"):
        tj.pad(x, [[1, 0], [0, 0]], "WRAP")
    with pytest.raises(TypeError, match="integers"):
        tj.pad(x, [[1.0, 0], [0, 0]])


def _np_diag(v: np.ndarray, k: int, rows: int, cols: int, pad: float) -> np.ndarray:
    out = np.full(v.shape[:-1] + (rows, cols), pad, v.dtype)
    for i in range(v.shape[-1]):
        r, c = (i, i + k) if k >= 0 else (i - k, i)
        if r < rows and c < cols:
            out[..., r, c] = v[..., i]
    return out


@pytest.mark.parametrize("k,rows,cols", [(0, -1, -1), (1, -1, -1), (-2, -1, -1),
                                         (-1, 4, 3), (1, 3, 5), (0, 4, -1)])
def test_diag_matches_tensorflow_sizing(k: int, rows: int, cols: int) -> None:
    v = rand(3, (2, 3))
    want_rows = {(0, -1, -1): 3, (1, -1, -1): 4, (-2, -1, -1): 5}.get((k, rows, cols), rows)
    want_cols = {(0, -1, -1): 3, (1, -1, -1): 4, (-2, -1, -1): 5, (0, 4, -1): 3}.get(
        (k, rows, cols), cols)
    want = _np_diag(v, k, want_rows, want_cols, 0.5)
    same(lambda t: tj.linalg.diag(t, k=k, num_rows=rows, num_cols=cols, padding_value=0.5),
         want, v)
    gradcheck(lambda t: tj.linalg.diag(t, k=k, num_rows=rows, num_cols=cols) ** 2, v)


def test_diag_errors() -> None:
    with pytest.raises(ValueError, match="not consistent"):
        tj.linalg.diag([1, 2], num_rows=1)
    with pytest.raises(ValueError, match="at least 1-D"):
        tj.linalg.diag(1.0)
    with pytest.raises(NotImplementedError, match="band of diagonals"):
        tj.linalg.diag([[1, 2]], k=(0, 1))


@pytest.mark.parametrize("k", [0, 1, 3, -1, -2])
def test_diag_part_and_trace_match_numpy(k: int) -> None:
    x = rand(4, (2, 3, 4))
    want = np.stack([np.diagonal(m, k) for m in x])
    same(lambda t: tj.linalg.diag_part(t, k=k), want, x)
    gradcheck(lambda t: tj.linalg.diag_part(t, k=k) ** 2, x)
    with pytest.raises(ValueError, match="between -3 and 4"):
        tj.linalg.diag_part(x, k=4)
    same(lambda t: tj.linalg.trace(t), np.trace(x, axis1=1, axis2=2), x)
    same(lambda t: tj.linalg.trace(t), np.int32(12), np.arange(9, dtype=np.int32).reshape(3, 3))
    gradcheck(lambda t: tj.linalg.trace(t * t), x)


def _np_set_diag(x: np.ndarray, v: np.ndarray, k: int) -> np.ndarray:
    out = x.copy()
    for i in range(v.shape[-1]):
        out[..., i - min(k, 0), i + max(k, 0)] = v[..., i]
    return out


@pytest.mark.parametrize("k", [0, 1, 3, -1, -2])
def test_set_diag_matches_numpy(k: int) -> None:
    x = rand(9, (2, 3, 4))
    n = np.diagonal(x[0], k).size
    v = rand(10, (2, n))
    same(lambda t, d: tj.linalg.set_diag(t, d, k=k), _np_set_diag(x, v, k), x, v)
    gradcheck(lambda t, d: tj.linalg.set_diag(t * t, d * t[:, 0, :n], k=k) ** 2, x, v)
    ints = np.arange(12, dtype=np.int32).reshape(3, 4)
    same(lambda t: tj.linalg.set_diag(t, [7] * np.diagonal(ints, k).size, k=k),
         _np_set_diag(ints, np.full(np.diagonal(ints, k).size, 7, np.int32), k), ints)


def test_set_diag_gradient_and_values_tensorflow_gives() -> None:
    """TensorFlow 2.21: the input's gradient is the upstream one with the diagonal zeroed,
    the diagonal's the upstream one's diagonal part; a list takes the input's dtype."""
    x = tj.constant(np.arange(12.0).reshape(3, 4))
    d = tj.constant([1.0, 2.0, 3.0], tj.float64)
    w = tj.constant(np.arange(12.0).reshape(3, 4))
    with tj.GradientTape() as tape:
        tape.watch([x, d])
        y = tj.reduce_sum(tj.linalg.set_diag(x, d, k=1) * w)
    gx, gd = tape.gradient(y, [x, d])
    assert gx.numpy().tolist() == [[0, 0, 2, 3], [4, 5, 0, 7], [8, 9, 10, 0]]
    assert gd.numpy().tolist() == [1, 6, 11]
    got = tj.linalg.set_diag(tj.zeros([2, 2]), [1, 2])
    assert got.dtype == np.float32 and got.numpy().tolist() == [[1, 0], [0, 2]]
    b = tj.linalg.set_diag(tj.zeros([2, 2, 2], tj.bool_), [[True, True], [False, True]])
    assert b.numpy().tolist() == [[[True, False], [False, True]],
                                  [[False, False], [False, True]]]


def test_diagonals_of_empty_matrices_follow_tensorflow() -> None:
    """TensorFlow 2.21's bound on k: -rows < k < cols, or k = 0 (the empty main diagonal of
    empty matrices); diag_part of a (0, 3) matrix raised ValueError, at k = 1 ShapeError."""
    for shape, ks in [((0, 3), (0, 1, 2)), ((3, 0), (-2, -1, 0)), ((0, 0), (0,)),
                      ((2, 1, 0), (0,))]:
        x = np.zeros(shape, np.float32)
        d = np.zeros(shape[:-2] + (0,), np.float32)
        for k in range(-3, 4):
            if k in ks:
                same(lambda t, k=k: tj.linalg.diag_part(t, k=k), d, x)
                same(lambda t, v, k=k: tj.linalg.set_diag(t, v, k=k), x, x, d)
            else:
                with pytest.raises(ValueError, match=f"k={k} is out of bounds"):
                    tj.linalg.diag_part(x, k=k)
                with pytest.raises(ValueError, match=f"k={k} is out of bounds"):
                    tj.linalg.set_diag(x, d, k=k)


def test_set_diag_errors() -> None:
    x = tj.zeros([3, 4])
    with pytest.raises(ValueError, match=r"diagonal k=-1 .* has length 2, so diagonal must "
                                         r"have shape \(2,\), got \(3,\)"):
        tj.linalg.set_diag(x, [1.0, 2.0, 3.0], k=-1)
    with pytest.raises(ValueError, match=r"must have shape \(2, 2\), got \(2,\)"):
        tj.linalg.set_diag(tj.zeros([2, 2, 2]), [1.0, 2.0])          # no broadcasting
    with pytest.raises(ValueError, match="between -3 and 4"):
        tj.linalg.set_diag(x, [1.0], k=4)
    with pytest.raises(ValueError, match="input must be at least 2-D"):
        tj.linalg.set_diag(tj.zeros([2]), [1.0])
    with pytest.raises(ValueError, match="diagonal must be at least 1-D"):
        tj.linalg.set_diag(tj.zeros([2, 2]), 1.0)
    with pytest.raises(tj.errors.DTypeError, match="float32 and float64"):
        tj.linalg.set_diag(tj.zeros([2, 2]), tj.constant([1.0, 2.0], tj.float64))
    with pytest.raises(NotImplementedError, match="band of diagonals"):
        tj.linalg.set_diag(tj.zeros([3, 3]), [[0.0, 1.0, 2.0], [3.0, 4.0, 0.0]], k=(0, 1))
    for op, args in [(tj.linalg.set_diag, (x, [1.0, 2.0, 3.0])), (tj.linalg.diag_part, (x,)),
                     (tj.linalg.diag, ([1.0],))]:
        with pytest.raises(ValueError, match="align must be one of LEFT_RIGHT"):
            op(*args, align="left_right")
        op(*args, align="LEFT_LEFT")


@pytest.mark.parametrize("lo,hi", [(1, 0), (-1, 1), (0, -1), (-1, -1), (2, 3)])
def test_band_part_matches_numpy(lo: int, hi: int) -> None:
    x = rand(5, (2, 3, 4))
    i, j = np.ogrid[:3, :4]
    keep = ((lo < 0) | (i - j <= lo)) & ((hi < 0) | (j - i <= hi))
    same(lambda t: tj.linalg.band_part(t, lo, hi), np.where(keep, x, 0), x)
    gradcheck(lambda t: tj.linalg.band_part(t, lo, hi) ** 2, x)


def test_band_part_errors_and_triangles() -> None:
    with pytest.raises(ValueError, match=r"number of rows \(3\), got 5"):
        tj.linalg.band_part(tj.ones([3, 4]), 5, 1)
    with pytest.raises(ValueError, match="at least 2-D"):
        tj.linalg.band_part(tj.ones([3]), 1, 1)
    x = rand(6, (3, 5))
    for k in (-1, 0, 2):
        np.testing.assert_array_equal(tril(x, k).numpy(), np.tril(x, k))
        np.testing.assert_array_equal(triu(x, k).numpy(), np.triu(x, k))


def test_matvec_matches_numpy() -> None:
    a, v = rand(7, (2, 3, 4)), rand(8, (4,))
    same(lambda p, q: tj.linalg.matvec(p, q), np.einsum("bij,j->bi", a, v), a, v,
         rtol=1e-12)
    same(lambda p, q: tj.linalg.matvec(p, q, transpose_a=True),
         np.einsum("bji,bj->bi", a, rand(9, (2, 3))), a, rand(9, (2, 3)), rtol=1e-12)
    gradcheck(lambda p, q: tj.linalg.matvec(p, q), a, v)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_matmul_and_tensordot(dtype: type) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(-9, 9, (2, 3, 5)).astype(dtype)
    b = rng.integers(-9, 9, (5, 4)).astype(dtype)
    bb = rng.integers(-9, 9, (1, 5, 4)).astype(dtype)
    same(lambda p, q: tj.matmul(p, q), np.matmul(a, bb), a, bb)
    c = rng.integers(-9, 9, (2, 4, 3)).astype(dtype)
    same(lambda p, q: tj.matmul(p, q, transpose_a=True, transpose_b=True),
         np.matmul(a.transpose(0, 2, 1), c.transpose(0, 2, 1)), a, c)
    same(lambda p, q: tj.tensordot(p, q, 1), np.tensordot(a, b, 1), a, b)
    same(lambda p, q: tj.linalg.matvec(p, q), np.einsum("bij,j->bi", a, b[:, 0]), a, b[:, 0])
    big = np.full((2, 2), 2**31 - 1, np.int32)        # wraps around, as NumPy and TF do
    same(lambda p: tj.matmul(p, p), np.matmul(big, big), big)
    with pytest.raises(ValueError, match="inner dimensions differ"):
        tj.matmul(a, a)
    with pytest.raises(TypeError):
        tj.matmul(a > 0, a > 0)
