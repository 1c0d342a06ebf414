"""sort, argsort, top_k and searchsorted: NumPy's stable order eagerly and compiled (every
axis, both directions, ties, NaN, size 0), TensorFlow's values, tie order, errors and gradients, and
gradients against central finite differences in float64 at orders 1 and 2."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck


def _argsort(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """NumPy's stable argsort; descending keeps ties in order and puts NaN first."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    n = x.shape[axis]
    return (n - 1) - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_values_eagerly_and_compiled(dtype: Any) -> None:
    """Every axis and direction eagerly, compiled where it costs one compile each."""
    rng = np.random.default_rng(0)
    f = tj.function(lambda t, axis, direction: (tj.sort(t, axis, direction),
                                                tj.argsort(t, axis, direction)))
    for shape in [(7,), (3, 37), (2, 3, 4), (0, 3), (3, 0), (1000,)]:
        x = rng.integers(-4, 5, shape).astype(dtype)           # many ties
        if dtype in (np.float32, np.float64) and x.size:
            x.flat[::5] = np.nan
            x.flat[1::9] = np.inf
        for axis in range(-len(shape), len(shape)):
            for direction in ("ASCENDING", "DESCENDING"):
                idx = _argsort(x, axis % len(shape), direction == "DESCENDING")
                want = np.take_along_axis(x, idx, axis)
                runs = [(tj.sort(x, axis, direction), tj.argsort(x, axis, direction))]
                if len(shape) != 2 and axis >= 0:      # compiling is what costs here
                    runs.append(f(x, axis, direction))
                for v, i in runs:
                    assert v.dtype == dtype and i.dtype == np.int32
                    np.testing.assert_array_equal(v.numpy(), want)
                    np.testing.assert_array_equal(i.numpy(), idx)


def test_top_k_values_ties_and_compiled() -> None:
    y = tj.constant([1, 3, 3, 2, 3])
    r = tj.math.top_k(y, k=3)
    assert r.values.numpy().tolist() == [3, 3, 3] and r.indices.numpy().tolist() == [1, 2, 4]
    assert tj.argsort(y, direction="DESCENDING", stable=True).numpy().tolist() == [1, 2, 4, 3,
                                                                                   0]
    assert tj.argsort(y, stable=True).numpy().tolist() == [0, 3, 1, 2, 4]
    x = np.random.default_rng(1).standard_normal((4, 50))
    f = tj.function(lambda t: tj.nn.top_k(t, 7))
    v, i = f(x)
    want = np.argsort(-x, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(i.numpy(), want)
    np.testing.assert_array_equal(v.numpy(), np.take_along_axis(x, want, 1))
    assert tj.math.top_k(x, 0).values.shape == (4, 0)
    assert tj.math.top_k(x, 2, index_type=tj.int64).indices.dtype == np.int64
    assert tj.math.top_k(x, 2)._fields == ("values", "indices")


def test_gradients_flow_through_the_selected_values() -> None:
    v = tj.constant([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], tj.float64)
    with tj.GradientTape(persistent=True) as t:
        t.watch(v)
        tk = tj.math.top_k(v, 2)
        l1 = tj.reduce_sum(tk.values * tj.constant([1.0, 10.0], tj.float64))
        s = tj.sort(v, axis=0, direction="DESCENDING")
        l2 = tj.reduce_sum(s * tj.constant([[1.0], [2.0]], tj.float64))
        a = tj.argsort(v)
    np.testing.assert_array_equal(t.gradient(l1, v).numpy(), [[0, 1, 10], [10, 0, 1]])
    np.testing.assert_array_equal(t.gradient(l2, v).numpy(), [[2, 1, 2], [1, 2, 1]])
    assert t.gradient(a, v) is None                    # integer indices: no gradient
    x = np.random.default_rng(2).permutation(12).reshape(3, 4) * 0.5 + 0.1
    gradcheck(lambda t: tj.sort(t, axis=0), x)
    gradcheck(lambda t: tj.sort(t, direction="DESCENDING") ** 2, x)
    gradcheck(lambda t: tj.math.top_k(t, 2).values, x)
    gradcheck(tj.function(lambda t: tj.math.top_k(t, 3).values * t[:, :3]), x)


def test_errors() -> None:
    with pytest.raises(ValueError, match="direction should be one of|`direction`"):
        tj.sort([1, 2], direction="UP")
    with pytest.raises(ValueError, match="at least k columns. Had 5, needed 6"):
        tj.math.top_k(tj.constant([1, 3, 3, 2, 3]), k=6)
    with pytest.raises(ValueError, match="k >= 0"):
        tj.math.top_k(tj.constant([1, 3]), k=-1)
    with pytest.raises(ValueError, match="1-D"):
        tj.math.top_k(tj.constant(1.0), k=1)
    with pytest.raises(tj.DTypeError, match="sort needs a numeric tensor, got bool"):
        tj.sort(tj.constant([True, False]))
    with pytest.raises(tj.errors.AxisError):
        tj.argsort(tj.constant([1, 2]), axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_searchsorted_matches_numpy(dtype: Any) -> None:
    rng = np.random.default_rng(5)
    seq = np.sort(rng.integers(-20, 20, (3, 2, 37)), axis=-1).astype(dtype)  # duplicates
    vals = rng.integers(-25, 25, (3, 2, 101)).astype(dtype)
    for side in ("left", "right"):
        want = np.stack([np.searchsorted(r, q, side=side) for r, q in
                         zip(seq.reshape(6, 37), vals.reshape(6, 101))]).reshape(vals.shape)
        for f in (tj.searchsorted, tj.function(tj.searchsorted)):
            got = f(seq, vals, side=side)
            assert got.dtype == np.int32 and got.shape == vals.shape
            np.testing.assert_array_equal(got.numpy(), want)
        got = tj.searchsorted(seq, vals, side=side, out_type=tj.int64)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got.numpy(), want)


def test_searchsorted_values_tensorflow_gives() -> None:
    """TensorFlow 2.21's results, written out: rows over the leading dimensions, NaN at 0
    (left) or the end (right), -0.0 equal to 0.0, empty sequences and values."""
    s = tj.constant([[0.0, 3.0, 9.0, 9.0, 10.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    v = tj.constant([[2.0, 9.0, 10.0, -1.0], [0.0, 6.0, 4.0, 3.0]])
    assert tj.searchsorted(s, v).numpy().tolist() == [[1, 2, 4, 0], [0, 5, 3, 2]]
    assert tj.searchsorted(s, v, side="right").numpy().tolist() == [[1, 4, 5, 0],
                                                                    [0, 5, 4, 3]]
    assert tj.searchsorted([[1, 3, 5]], [0, 3]).numpy().tolist() == [0, 1]
    for side, at in (("left", 0), ("right", 2)):
        assert tj.searchsorted([1.0, 2.0], [np.nan, 1.5], side=side).numpy().tolist() == \
            [at, 1]
    assert tj.searchsorted([-np.inf, 0.0, np.inf], [np.inf, -np.inf]).numpy().tolist() == \
        [2, 0]
    assert tj.searchsorted([-0.0, 0.0], [0.0]).numpy().tolist() == [0]
    assert tj.searchsorted([-0.0, 0.0], [-0.0], side="right").numpy().tolist() == [2]
    assert tj.searchsorted(tj.zeros([2, 0]), v).numpy().tolist() == [[0] * 4] * 2
    assert tj.searchsorted(s, tj.zeros([2, 0])).shape == (2, 0)
    x = tj.constant([1.0, 2.0])
    with tj.GradientTape() as tape:
        tape.watch(x)
        r = tj.searchsorted(x, [1.5])
    assert tape.gradient(r, x) is None


def test_searchsorted_errors() -> None:
    s = tj.constant([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="`side` must be either 'right' or 'left'"):
        tj.searchsorted(s, s, side="middle")
    with pytest.raises(TypeError, match="out_type must be int32 or int64, got float32"):
        tj.searchsorted(s, s, out_type=tj.float32)
    with pytest.raises(ValueError, match="same number of rows"):
        tj.searchsorted(s, s[:1])
    with pytest.raises(ValueError, match="same number of rows"):
        tj.searchsorted([1, 3, 5], [[0, 3], [6, 1]])
    with pytest.raises(ValueError, match="rank >= 1"):
        tj.searchsorted([1, 3, 5], 3)
    with pytest.raises(TypeError, match="float32 and int32"):
        tj.searchsorted(s, tj.constant([[1, 2], [3, 4]]))
    with pytest.raises(TypeError, match="numeric tensors, got bool"):
        tj.searchsorted([False, True], [True])
