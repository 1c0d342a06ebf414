"""unique, unique_with_counts and math.bincount: NumPy references, the results TensorFlow
2.21 gives (written out), errors, TracingError for a traced input whose values set the
output size, bincount compiled with a fixed length, and bincount's gradient with respect
to its weights against central finite differences at orders 1 and 2."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck, rand


def _np_unique(a: np.ndarray) -> tuple[list[Any], list[int], list[int]]:
    y: list[Any] = []
    idx = []
    for v in a.tolist():
        at = next((i for i, u in enumerate(y) if u == v), None)   # NaN equals nothing
        if at is None:
            y.append(v)
            at = len(y) - 1
        idx.append(at)
    return y, idx, [idx.count(i) for i in range(len(y))]


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32, np.float64])
def test_unique_matches_reference(dtype: Any) -> None:
    a = np.random.default_rng(3).integers(-5, 5, 200).astype(dtype)
    if a.dtype.kind == "f":
        a[[3, 50, 51]] = np.nan
        a[[7, 9]] = [-0.0, 0.0]
    y, idx, count = _np_unique(a)
    got = tj.unique(a)
    assert got.y.dtype == a.dtype and got.idx.dtype == np.int32
    np.testing.assert_array_equal(got.y.numpy(), np.array(y, a.dtype))
    assert got.idx.numpy().tolist() == idx
    np.testing.assert_array_equal(tj.gather(got.y, got.idx).numpy(), a)
    c = tj.unique_with_counts(tj.constant(a), out_idx=tj.int64)
    assert c.idx.dtype == c.count.dtype == np.int64
    assert c.count.numpy().tolist() == count and c.idx.numpy().tolist() == idx


def test_unique_values_tensorflow_gives() -> None:
    y, idx = tj.unique([3, 1, 3, 2, 1])
    assert y.numpy().tolist() == [3, 1, 2] and idx.numpy().tolist() == [0, 1, 0, 2, 1]
    u = tj.unique([1.0, np.nan, np.nan, -0.0, 0.0])
    assert str(u.y.numpy().tolist()) == "[1.0, nan, nan, -0.0]"
    assert u.idx.numpy().tolist() == [0, 1, 2, 3, 3]
    e = tj.unique(tj.zeros([0]))
    assert e.y.shape == (0,) and e.y.dtype == np.float32 and e.idx.shape == (0,)
    b = tj.unique([True, False, True])
    assert b.y.numpy().tolist() == [True, False] and b.idx.numpy().tolist() == [0, 1, 0]
    assert tj.unique_with_counts([3, 1, 3, 2, 1]).count.numpy().tolist() == [2, 2, 1]
    x = tj.constant([3.0, 1.0, 3.0])
    with tj.GradientTape() as tape:
        tape.watch(x)
        y = tj.unique(x).y                       # TensorFlow registers no gradient
    assert tape.gradient(y, x) is None


def test_unique_errors_and_compiled() -> None:
    with pytest.raises(ValueError, match=r"unique expects a 1-D tensor, got shape \(1, 2\)"):
        tj.unique([[1, 2]])
    with pytest.raises(ValueError, match="1-D"):
        tj.unique_with_counts(1)
    with pytest.raises(TypeError, match="out_idx must be int32 or int64, got float32"):
        tj.unique([1], out_idx=tj.float32)
    f = tj.function(lambda a: tj.unique(a).y)
    with pytest.raises(tj.TracingError, match="unique: the output's size depends on the "
                                              "values of its input"):
        f(tj.constant([1, 2, 1]))
    g = tj.function(lambda a: tj.unique(np.array([4, 2, 4], np.int32)).y + a)
    assert g(tj.constant(1)).numpy().tolist() == [5, 3]


def _np_bincount(a: np.ndarray, w: np.ndarray | None, n: int) -> np.ndarray:
    keep = a < n
    out = np.bincount(a[keep], None if w is None else w[keep], minlength=n)
    return out[:n]


def test_bincount_matches_numpy() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 30, (7, 19)).astype(np.int32)
    w = rand(5, (7, 19))
    for lo, hi in [(None, None), (40, None), (None, 12), (5, 12), (12, 12), (None, 0)]:
        n = max(int(a.max()) + 1, lo or 0)
        n = n if hi is None else min(n, hi)
        want = _np_bincount(a.reshape(-1), None, n).astype(np.int32)
        got = tj.math.bincount(a, minlength=lo, maxlength=hi)
        np.testing.assert_array_equal(got.numpy(), want)
        assert got.dtype == np.int32
        got = tj.math.bincount(a, weights=w, minlength=lo, maxlength=hi)
        np.testing.assert_allclose(got.numpy(), _np_bincount(a.reshape(-1), w.reshape(-1), n),
                                   rtol=1e-12)
        rows = tj.math.bincount(a, minlength=lo, maxlength=hi, axis=-1, dtype=tj.int64)
        np.testing.assert_array_equal(rows.numpy(), np.stack([_np_bincount(r, None, n)
                                                              for r in a]))
    f = tj.function(lambda x, v: tj.math.bincount(x, weights=v, minlength=20, maxlength=20))
    np.testing.assert_allclose(f(a, w).numpy(), _np_bincount(a.reshape(-1), w.reshape(-1), 20),
                               rtol=1e-12)
    g = tj.function(lambda x: tj.math.bincount(x, minlength=20, maxlength=20, axis=-1,
                                               binary_output=True))
    np.testing.assert_array_equal(g(a).numpy(), np.stack([_np_bincount(r, None, 20) > 0
                                                          for r in a]).astype(np.int32))
    gradcheck(lambda v: tj.math.bincount(a, weights=v * v, minlength=31) ** 2, w)


def test_bincount_values_tensorflow_gives() -> None:
    bc = tj.math.bincount
    assert bc([1, 1, 3]).numpy().tolist() == [0, 2, 0, 1]
    assert bc(tj.zeros([0], tj.int32)).shape == (0,)
    assert bc([1, 1, 3], minlength=6).numpy().tolist() == [0, 2, 0, 1, 0, 0]
    assert bc([1, 1, 3], maxlength=2).numpy().tolist() == [0, 2]
    assert bc([1, 1, 3], maxlength=0).shape == (0,)
    assert bc([[1, 1], [3, 0]]).numpy().tolist() == [1, 2, 0, 1]
    assert bc([[1, 1], [3, 0]], axis=0).numpy().tolist() == [1, 2, 0, 1]
    assert bc([[1, 1], [3, 0]], axis=-1).numpy().tolist() == [[0, 2, 0, 0], [1, 0, 0, 1]]
    w = bc([1, 1, 3], weights=[0.5, 1.0, 2.0], dtype=tj.float64)       # weights' dtype wins
    assert w.dtype == np.float32 and w.numpy().tolist() == [0.0, 1.5, 0.0, 2.0]
    assert bc([1, 1, 3], weights=[1, 2, 3]).numpy().tolist() == [0, 3, 0, 3]
    assert bc([1, 1, 3], dtype=tj.float32).numpy().tolist() == [0.0, 2.0, 0.0, 1.0]
    assert bc([1, 1, 3], binary_output=True).numpy().tolist() == [0, 1, 0, 1]
    assert bc([1.0, 2.0]).numpy().tolist() == [0, 1, 1]                  # cast, as there
    assert bc([1, 2], minlength=-1).numpy().tolist() == [0, 1, 1]
    assert bc([1, 2], minlength=tj.constant(4)).numpy().tolist() == [0, 1, 1, 0]


def test_bincount_errors() -> None:
    bc = tj.math.bincount
    with pytest.raises(tj.errors.InvalidArgumentError, match="must be non-negative"):
        bc([1, -1, 3], minlength=5)
    with pytest.raises(ValueError, match="mutually exclusive"):
        bc([1, 1, 3], weights=[1.0, 2.0, 3.0], binary_output=True)
    with pytest.raises(ValueError, match=r"weights must have the shape of arr \(3,\)"):
        bc([1, 1, 3], weights=[1.0, 2.0])
    with pytest.raises(TypeError, match="dtype must be int32, int64, float32 or float64"):
        bc([1], dtype=tj.bool_)
    with pytest.raises(ValueError, match="Only 0 and -1 are currently supported"):
        bc([[1]], axis=1)
    with pytest.raises(tj.errors.AxisError, match="bincount: axis"):
        bc([1], axis=1)
    f = tj.function(lambda a: bc(a, minlength=4, maxlength=4))
    with pytest.raises(IndexError, match="index -2 is out of bounds"):
        f(tj.constant([1, -2, 1, 7]))
    rows = tj.function(lambda a: bc(a, minlength=3, maxlength=3, axis=-1))
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        rows(tj.constant([[1, 2, 1], [0, -1, 5]]))
    with pytest.raises(tj.TracingError, match="pass minlength=maxlength=n"):
        tj.function(lambda a: bc(a))(tj.constant([1, 2, 1]))
