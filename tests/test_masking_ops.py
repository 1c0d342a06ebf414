"""boolean_mask, where(condition) and boolean-mask indexing: NumPy's selections eagerly
and compiled with a constant mask, TensorFlow's values and errors, gradients against
central finite differences at orders 1 and 2, and the error naming the op and the line
for a mask traced inside a compiled function."""
from __future__ import annotations

import numpy as np
import pytest

import tracejit as tj
from tests.test_array_ops import same
from tests.test_grad_ops import gradcheck, rand

X = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
M = np.array([[True, False, True], [False, False, True]])


def test_boolean_mask_matches_numpy() -> None:
    same(lambda x: tj.boolean_mask(x, M), X[M], X)
    same(lambda x: tj.boolean_mask(x, np.array([True, False])), X[np.array([True, False])], X)
    same(lambda x: tj.boolean_mask(x, M[0], axis=1), X[:, M[0]], X)
    same(lambda x: tj.boolean_mask(x, X[0] > 5, axis=1), X[:, X[0] > 5], X)
    same(lambda x: tj.boolean_mask(x, np.zeros(4, bool), axis=-1), X[..., np.zeros(4, bool)], X)
    gradcheck(lambda x: tj.boolean_mask(x, M) ** 2, rand(1, X.shape))


def test_boolean_mask_errors() -> None:
    with pytest.raises(ValueError, match=r"mask of shape \(3,\) does not match"):
        tj.boolean_mask(X, [True, False, True])
    with pytest.raises(TypeError, match="must be bool"):
        tj.boolean_mask(X, [1, 0])


def test_where_with_one_argument_gives_coordinates() -> None:
    same(lambda: tj.where(M), np.argwhere(M))
    got = tj.where(np.array([1, 0, 2]))
    assert got.dtype == np.int64 and got.numpy().tolist() == [[0], [2]]
    assert tj.where(np.zeros((2, 3), bool)).shape == (0, 2)
    with pytest.raises(ValueError, match="both be given, or neither"):
        tj.where(M, X[0, :2, :3])


def test_indexing_with_a_boolean_mask() -> None:
    x = tj.constant(X)
    np.testing.assert_array_equal(x[x > 10].numpy(), X[X > 10])
    np.testing.assert_array_equal(x[M].numpy(), X[M])
    np.testing.assert_array_equal(x[:, M[1]].numpy(), X[:, M[1]])
    np.testing.assert_array_equal(x[..., X[0, 0] > 1].numpy(), X[..., X[0, 0] > 1])
    gradcheck(lambda t: t[t > 0.5] ** 2, rand(2, X.shape))
    with pytest.raises(IndexError, match="only be combined with ':'"):
        x[0, M[0]]


def test_a_traced_mask_raises_naming_the_op_and_line() -> None:
    for f in (lambda a: tj.boolean_mask(a, a > 2), lambda a: a[a > 2],
              lambda a: tj.where(a > 2)):
        with pytest.raises(tj.TracingError, match="True elements.*not known while tracing") \
                as e:
            tj.function(f)(X)
        assert "test_masking_ops.py" in str(e.value)


def test_a_size_bound_works_on_a_traced_mask_and_matches_eager() -> None:
    f = tj.function(lambda a: tj.boolean_mask(a, a > 5, size=2, fill_value=-1))
    for a in ([5, 6, 7, 8], [5, 1, 7, 0], [0, 0, 0, 0]):
        x = np.array(a, np.int32)
        want = np.concatenate([x[x > 5], [-1, -1]])[:2]
        np.testing.assert_array_equal(f(x).numpy(), want)
        np.testing.assert_array_equal(tj.boolean_mask(x, x > 5, size=2, fill_value=-1).numpy(),
                                      want)
    g = tj.function(lambda c: tj.where(c, size=3, fill_value=-1))
    for c in (M, ~M, np.ones((2, 3), bool)):
        want = np.concatenate([np.argwhere(c), np.full((3, 2), -1)])[:3]
        np.testing.assert_array_equal(g(c).numpy(), want)
        np.testing.assert_array_equal(tj.where(c, size=3, fill_value=-1).numpy(), want)
    h = tj.function(lambda a: tj.boolean_mask(a, a[0, :, 0] > 3, axis=1, size=3))
    np.testing.assert_array_equal(h(X).numpy(), np.concatenate(
        [X[:, X[0, :, 0] > 3], np.zeros((2, 1, 4))], axis=1))
    with pytest.raises(TypeError, match="non-negative Python int"):
        tj.boolean_mask(X, M, size=-1)


def test_a_size_bound_is_differentiable_at_orders_1_and_2() -> None:
    x = rand(3, (2, 3, 4))
    x[0, :, 0] = [1.0, -1.0, 1.0]       # the mask stays put under finite differences

    def f(a: tj.Tensor) -> tj.Tensor:
        return tj.boolean_mask(a, a[0, :, 0] > 0, axis=1, size=3, fill_value=0.5) ** 2
    gradcheck(f, x)
    gradcheck(tj.function(f), x)
