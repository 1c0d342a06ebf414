"""NumPy on tracejit tensors, as on TensorFlow's eager tensors: NumPy functions compute
on the values and return ndarrays; binary operators with a NumPy operand on the left stay
tracejit ops (recorded by tapes, traced by compile); NumPy on a traced tensor raises an
error naming the tj op to use."""
from __future__ import annotations

import numpy as np
import pytest

import tracejit as tj


def test_numpy_functions_on_eager_tensors_return_ndarrays() -> None:
    x = np.array([0.5, 1.0, 2.0], np.float32)
    t, v = tj.constant(x), tj.Variable(x)
    for arg in (t, v):
        got = np.exp(arg)
        assert type(got) is np.ndarray and got.dtype == np.float32
        np.testing.assert_array_equal(got, np.exp(x))
    np.testing.assert_array_equal(np.maximum(t, 1.0), np.maximum(x, 1.0))
    assert type(np.maximum(t, 1.0)) is np.ndarray
    assert np.sum(t) == np.float32(3.5) and isinstance(np.sum(t), np.float32)
    np.testing.assert_array_equal(np.add.accumulate(t), np.add.accumulate(x))
    b = np.ones(3, np.float32)
    b *= t                      # in place into the ndarray, as with TensorFlow
    np.testing.assert_array_equal(b, x)
    with pytest.raises(TypeError, match="immutable"):
        np.exp(x, out=t)


def test_ndarray_operator_tensor_is_computed_by_tracejit_and_recorded() -> None:
    a = np.array([2.0, 3.0], np.float32)
    t = tj.constant([5.0, 7.0])
    for r in (a * t, a + t, a - t, a / t, a ** t, a < t, a == t, np.float32(2) * t,
              a.reshape(1, 2) @ tj.reshape(t, (2, 1))):
        assert isinstance(r, tj.Tensor)
    with tj.GradientTape() as g:
        g.watch(t)
        y = tj.reduce_sum(a * t + a / t)
    np.testing.assert_allclose(g.gradient(y, t).numpy(), a - a / t.numpy() ** 2, rtol=1e-6)
    f = tj.compile(lambda x: a * x - a)
    np.testing.assert_array_equal(f(t).numpy(), a * t.numpy() - a)


@pytest.mark.parametrize("fn, hint", [
    (lambda x: np.exp(x), "np.exp .*use tj.exp instead"),
    (lambda x: np.absolute(x), "np.absolute .*use tj.abs instead"),
    (lambda x: np.add.reduce(x), r"np.add.reduce .*use tj.reduce_sum instead"),
    (lambda x: np.sum(x), r"np.add.reduce .*use tj.reduce_sum instead"),
    (lambda x: np.arctan2(x, x), "np.arctan2 .*write it with tj ops"),
], ids=["exp", "absolute", "add.reduce", "sum", "arctan2"])
def test_numpy_function_on_traced_tensor_names_the_tj_op(fn, hint) -> None:
    f = tj.compile(fn)
    with pytest.raises(tj.TracingError, match=hint) as e:
        f(tj.constant([1.0, 2.0]))
    assert "test_tensor_numpy.py" in str(e.value)


def test_numpy_function_on_a_variable_inside_a_trace_raises() -> None:
    v = tj.Variable([1.0, 2.0])
    f = tj.compile(lambda x: np.exp(v) * x)    # would bake v's trace-time value
    with pytest.raises(tj.TracingError, match="use tj.exp"):
        f(tj.constant([1.0, 1.0]))
