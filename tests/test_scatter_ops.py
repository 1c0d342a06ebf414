"""gather with batch_dims, gather_nd, scatter_nd, tensor_scatter_nd_add/_update/_max/_min and
nn.embedding_lookup: NumPy references eagerly and compiled, TensorFlow's values, errors
and gradient rules, and gradients against central finite differences in float64 at orders
1 and 2."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.test_array_ops import same
from tests.test_grad_ops import gradcheck, rand

P = np.arange(24, dtype=np.float64).reshape(2, 3, 4)


def _np_gather_nd(x: np.ndarray, idx: np.ndarray, b: int = 0) -> np.ndarray:
    if b:
        return np.stack([_np_gather_nd(x[i], idx[i], b - 1) for i in range(x.shape[0])])
    rows = idx.reshape(int(np.prod(idx.shape[:-1])), idx.shape[-1])
    got = [x[tuple(r)] for r in rows]
    return np.array(got, x.dtype).reshape(idx.shape[:-1] + x.shape[idx.shape[-1]:])


def _np_gather(x: np.ndarray, i: np.ndarray, axis: int, b: int) -> np.ndarray:
    if b == 0:
        return np.take(x, i, axis=axis)
    return np.stack([_np_gather(x[k], i[k], axis - 1, b - 1) for k in range(x.shape[0])])


@pytest.mark.parametrize("axis,b,ishape", [(1, 1, (2, 4)), (2, 1, (2, 2, 3)),
                                           (2, 2, (2, 3, 5)), (-1, -1, (2, 3)),
                                           (None, 1, (2, 0))])
def test_gather_batch_dims_matches_tensorflow(axis: int | None, b: int,
                                              ishape: tuple[int, ...]) -> None:
    bb = b % len(ishape)
    ax = bb if axis is None else axis % 3
    idx = np.random.default_rng(0).integers(0, P.shape[ax], ishape)
    same(lambda x, i: tj.gather(x, i, axis=axis, batch_dims=b), _np_gather(P, idx, ax, bb),
         P, idx)
    gradcheck(lambda x: tj.gather(x, idx, axis=axis, batch_dims=b) ** 2, rand(1, P.shape))


@pytest.mark.parametrize("shape,b", [((5, 2), 0), ((2, 3), 0), ((3, 1), 0), ((2, 0), 0),
                                     ((2, 1), 1), ((2, 3, 2), 1)])
def test_gather_nd_matches_numpy(shape: tuple[int, ...], b: int) -> None:
    rng = np.random.default_rng(1)
    k = shape[-1]
    hi = np.array(P.shape[b:b + k] or (1,))[None]
    idx = (rng.integers(0, 100, (int(np.prod(shape[:-1])), k)) % hi[:, :k] if k else
           np.zeros((int(np.prod(shape[:-1])), 0), np.int64)).reshape(shape)
    same(lambda x, i: tj.gather_nd(x, i, batch_dims=b), _np_gather_nd(P, idx, b), P, idx)
    gradcheck(lambda x: tj.gather_nd(x, idx, batch_dims=b) ** 2, rand(2, P.shape))


def test_gather_nd_bad_indices_raise_index_error_eagerly_and_compiled() -> None:
    x = np.zeros((2, 3), np.float32)
    for bad in ([[2, 0]], [[-1, 0]], [[0, 3]]):
        with pytest.raises(IndexError, match=r"indices\[0\] = .* does not index into param"):
            tj.gather_nd(x, bad)
        with pytest.raises(IndexError, match="out of bounds"):
            tj.function(lambda a, i: tj.gather_nd(a, i))(x, np.array(bad))
    with pytest.raises(ValueError, match="exceed the rank"):
        tj.gather_nd(x, [[0, 0, 0]])
    with pytest.raises(TypeError, match="int32 or int64"):
        tj.gather_nd(x, [[0.0, 1.0]])


def test_scatter_nd_adds_duplicates_and_is_gather_nds_transpose() -> None:
    idx = np.array([[1, 0], [0, 2], [1, 0]])
    upd = rand(3, (3, 4))
    want = np.zeros((2, 3, 4))
    np.add.at(want, (idx[:, 0], idx[:, 1]), upd)
    same(lambda i, u: tj.scatter_nd(i, u, [2, 3, 4]), want, idx, upd, rtol=1e-15)
    gradcheck(lambda u: tj.scatter_nd(idx, u, [2, 3, 4]) ** 2, upd)
    with pytest.raises(IndexError, match=r"indices\[0\] = \[3\] does not index into shape"):
        tj.scatter_nd([[3]], [1.0], [3])
    with pytest.raises(IndexError, match="out of bounds"):
        tj.function(lambda i: tj.scatter_nd(i, tj.constant([1.0]), [3]))(np.array([[3]]))
    with pytest.raises(ValueError, match="updates must have shape"):
        tj.scatter_nd([[1]], [1.0, 2.0], [3])


def test_tensor_scatter_nd_add_and_update() -> None:
    t = rand(4, (4, 3))
    idx = np.array([[2], [0], [2]])
    upd = rand(5, (3, 3))
    add = t.copy()
    np.add.at(add, idx[:, 0], upd)
    same(lambda a, i, u: tj.tensor_scatter_nd_add(a, i, u), add, t, idx, upd, rtol=1e-15)
    new = t.copy()
    new[0], new[2] = upd[1], upd[2]                  # the last duplicate wins (TF's CPU)
    same(lambda a, i, u: tj.tensor_scatter_nd_update(a, i, u), new, t, idx, upd)
    gradcheck(lambda a, u: tj.tensor_scatter_nd_add(a, idx, u) ** 2, t, upd)
    uniq = np.array([[3], [0]])
    gradcheck(lambda a, u: tj.tensor_scatter_nd_update(a, uniq, u) ** 2, t, upd[:2])


def test_tensor_scatter_nd_update_gradient_follows_tensorflow() -> None:
    """TensorFlow: the tensor gets the gradient where not overwritten, every update (a
    duplicate overwritten by a later one too) the gradient at its index."""
    t = tj.constant(np.ones(3))
    u = tj.constant(np.array([1.0, 2.0, 3.0]))
    with tj.GradientTape(persistent=True) as tape:
        tape.watch([t, u])
        y = tj.tensor_scatter_nd_update(t, [[1], [1], [2]], u) * tj.constant([5.0, 6.0, 7.0],
                                                                             tj.float64)
    np.testing.assert_array_equal(tape.gradient(y, t).numpy(), [5, 0, 0])
    np.testing.assert_array_equal(tape.gradient(y, u).numpy(), [6, 6, 7])


def test_embedding_lookup() -> None:
    p = rand(6, (5, 3))
    ids = np.array([[4, 0], [0, 2]])
    same(lambda a, i: tj.nn.embedding_lookup(a, i), p[ids], p, ids)
    same(lambda a, i: tj.nn.embedding_lookup([a], i), p[ids], p, ids)
    norms = np.linalg.norm(p[ids], axis=-1, keepdims=True)
    want = p[ids] * 1.0 / np.maximum(norms, 1.0)
    same(lambda a, i: tj.nn.embedding_lookup(a, i, max_norm=1.0), want, p, ids, rtol=1e-12)
    gradcheck(lambda a: tj.nn.embedding_lookup(a, ids, max_norm=1.0) ** 2, p)
    with pytest.raises(NotImplementedError, match="sharded over 2"):
        tj.nn.embedding_lookup([p, p], ids)


@pytest.mark.parametrize("op,call", [
    ("gather_nd", lambda t, i, u: tj.gather_nd(t, i)),
    ("scatter_nd", lambda t, i, u: tj.scatter_nd(i, u, [4, 3])),
    ("tensor_scatter_nd_add", lambda t, i, u: tj.tensor_scatter_nd_add(t, i, u)),
    ("tensor_scatter_nd_sub", lambda t, i, u: tj.tensor_scatter_nd_sub(t, i, u)),
    ("tensor_scatter_nd_update", lambda t, i, u: tj.tensor_scatter_nd_update(t, i, u)),
])
def test_compiled_index_errors_name_the_op_called(op: str, call: Any) -> None:
    """Compiled, an index row component out of range named `gather` (the primitive that
    checks it) for every one of these ops."""
    t, u = np.zeros((4, 3), np.float32), np.ones((2, 3), np.float32)
    f = tj.function(call)
    f(t, np.array([[1, 2], [3, 0]]), np.ones((2,), np.float32))   # in range: no error
    for bad, index, size in [([[1, 0], [4, 1]], 4, 4), ([[1, -1], [0, 0]], -1, 3)]:
        with pytest.raises(IndexError) as e:
            f(t, np.array(bad), np.ones((2,), np.float32))
        first = str(e.value).splitlines()[0]
        assert first == (f"{op}: index {index} is out of bounds for size {size} "
                         "(a component of an index row)")
        assert "test_scatter_ops.py" in str(e.value)
    with pytest.raises(IndexError, match=f"^{op}: index 4 is out"):
        tj.function(call)(t, np.array([[4], [0]]), u)


def _np_scatter_extreme(t: np.ndarray, idx: np.ndarray, upd: np.ndarray, fn: Any
                        ) -> np.ndarray:
    out = t.copy()
    k = idx.shape[-1]
    rows = idx.reshape(-1, k)
    u = upd.reshape((rows.shape[0],) + t.shape[k:])
    for r, v in zip(rows, u):
        out[tuple(r)] = fn(out[tuple(r)], v)
    return out


@pytest.mark.parametrize("op,fn", [(tj.tensor_scatter_nd_max, np.maximum),
                                   (tj.tensor_scatter_nd_min, np.minimum)])
def test_tensor_scatter_nd_max_min_match_numpy(op: Any, fn: Any) -> None:
    t = rand(7, (4, 3))
    idx = np.array([[2], [0], [2], [3]])
    upd = rand(8, (4, 3))
    same(lambda a, i, u: op(a, i, u), _np_scatter_extreme(t, idx, upd, fn), t, idx, upd)
    idx2 = np.array([[[1, 2], [0, 0]], [[1, 2], [3, 1]]])          # whole index rows
    upd2 = rand(9, (2, 2))
    same(lambda a, i, u: op(a, i, u), _np_scatter_extreme(t, idx2, upd2, fn), t, idx2, upd2)
    ti = np.array([[1, 5], [-3, 0]], np.int64)
    same(lambda a, i, u: op(a, i, u),
         _np_scatter_extreme(ti, np.array([[1], [1]]), np.array([[4, -9], [2, 7]]), fn),
         ti, np.array([[1], [1]]), np.array([[4, -9], [2, 7]], np.int64))
    # no updates: the tensor itself; Python lists take the tensor's dtype (TensorFlow's)
    same(lambda a: op(a, np.zeros((0, 1), np.int32), np.zeros((0, 3))), t, t)
    got = op(tj.constant([1.0, 5.0]), [[0], [1]], [4, 2])
    assert got.dtype == np.float32 and got.numpy().tolist() == [fn(1, 4), fn(5, 2)]


def test_tensor_scatter_nd_max_min_values_tensorflow_gives() -> None:
    """The results TensorFlow 2.21 gives, written out (NaN in the tensor stays NaN)."""
    t = tj.constant([1.0, 5.0, 3.0, 0.0])
    idx = [[0], [1], [0], [3]]
    assert tj.tensor_scatter_nd_max(t, idx, [4.0, 2.0, 7.0, -1.0]).numpy().tolist() == \
        [7.0, 5.0, 3.0, 0.0]
    assert tj.tensor_scatter_nd_min(t, idx, [4.0, 2.0, 7.0, -1.0]).numpy().tolist() == \
        [1.0, 2.0, 3.0, -1.0]
    got = tj.tensor_scatter_nd_max(tj.constant([np.nan, 1.0]), [[0], [1]], [4.0, 2.0])
    assert np.isnan(got.numpy()[0]) and got.numpy()[1] == 2.0
    assert tj.tensor_scatter_nd_max(tj.zeros([2, 3]), [[1]], [[1.0, -2.0, 3.0]]).numpy(
    ).tolist() == [[0.0, 0.0, 0.0], [1.0, 0.0, 3.0]]
    # a NaN update propagates (TensorFlow's CPU kernel skips it: README lists this)
    got = tj.tensor_scatter_nd_max(tj.constant([0.0, 1.0]), [[0], [0]], [np.nan, 2.0])
    assert np.isnan(got.numpy()[0])


def test_tensor_scatter_nd_max_min_gradients_follow_tensorflow() -> None:
    """TensorFlow's: the elements equal to the result share its gradient equally (the
    tensor's element and the updates at its row); the gradient of the gradient is None."""
    x = tj.constant([1.0, 5.0, 3.0, 2.0])
    y = tj.constant([4.0, 5.0, 7.0, 1.0])
    w = tj.constant([1.0, 2.0, 3.0, 4.0])
    for compiled in (False, True):
        def grads(x: tj.Tensor, y: tj.Tensor) -> Any:
            with tj.GradientTape(persistent=True) as outer:
                outer.watch([x, y])
                with tj.GradientTape() as tape:
                    tape.watch([x, y])
                    s = tj.reduce_sum(tj.tensor_scatter_nd_max(x, [[0], [1], [0], [3]], y) * w)
                gx, gy = tape.gradient(s, [x, y])
            return gx, gy, outer.gradient(gx, [x, y]), outer.gradient(gy, [x, y])
        gx, gy, ggx, ggy = (tj.function(grads) if compiled else grads)(x, y)
        assert gx.numpy().tolist() == [0.0, 1.0, 3.0, 4.0]        # x[1], y[1] tie at 5
        assert gy.numpy().tolist() == [0.0, 1.0, 1.0, 0.0]
        assert ggx == [None, None] and ggy == [None, None]
    y = tj.constant([5.0, 5.0, 5.0, 1.0])
    with tj.GradientTape() as tape:
        tape.watch([x, y])
        out = tj.tensor_scatter_nd_max(x, [[1], [1], [1], [3]], y)
    gx, gy = tape.gradient(out, [x, y])
    assert gx.numpy().tolist() == [1.0, 0.25, 1.0, 1.0]
    assert gy.numpy().tolist() == [0.25, 0.25, 0.25, 0.0]
    t = rand(10, (4, 3))
    upd = rand(11, (3, 3))
    idx = np.array([[2], [0], [2]])
    gradcheck(lambda a, u: tj.tensor_scatter_nd_max(a * a, idx, u) ** 2, t, upd)
    gradcheck(lambda a, u: tj.tensor_scatter_nd_min(a, idx, u * a[1]), t, upd)


def test_tensor_scatter_nd_max_min_errors() -> None:
    t = tj.constant([1.0, 5.0, 3.0, 0.0])
    for op in (tj.tensor_scatter_nd_max, tj.tensor_scatter_nd_min):
        name = op.__name__
        with pytest.raises(tj.errors.DTypeError, match=f"{name}: tensor must be a float or "
                                                      "integer tensor, got bool"):
            op(tj.constant([True, False]), [[0]], [False])
        with pytest.raises(tj.errors.DTypeError, match="float32 and float64"):
            op(t, [[0]], tj.constant([4.0], tj.float64))
        with pytest.raises(IndexError, match=r"indices\[1\] = \[4\] does not index into "
                                             r"shape \[4\]"):
            op(t, [[0], [4]], [1.0, 1.0])
        with pytest.raises(IndexError, match=r"indices\[0\] = \[-1\]"):
            op(t, [[-1]], [1.0])
        with pytest.raises(IndexError, match="out of bounds"):
            tj.function(lambda a, i, f=op: f(a, i, tj.constant([1.0])))(t, np.array([[4]]))
        with pytest.raises(ValueError, match="updates must have shape"):
            op(tj.zeros([2, 3]), [[1]], [1.0, 2.0])
        with pytest.raises(TypeError, match="int32 or int64"):
            op(t, [[1.0]], [1.0])
