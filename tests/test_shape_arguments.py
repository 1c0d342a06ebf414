"""Arguments that decide an output's shape (`shape`, `depth`, `k`, `num_segments`,
`num_rows`) take integers only: a float such as 2.5 (or even 2.0) or a string raises
TypeError naming the argument, as TensorFlow refuses them, where `int()` would make a
shape of 2 silently. Python ints, NumPy integers, bools and integer arrays or tensors
keep working, eagerly and while tracing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tracejit as tj

X = np.arange(12, dtype=np.float32).reshape(3, 4)

BAD: dict[str, Callable[[], Any]] = {
    "zeros": lambda: tj.zeros([2.5]),
    "zeros_str": lambda: tj.zeros(["2"]),
    "ones": lambda: tj.ones([2.0, 1]),
    "ones_np_float": lambda: tj.ones([np.float32(2.0)]),
    "fill": lambda: tj.fill([2.5], 1.0),
    "constant": lambda: tj.constant(1.0, shape=[2.5]),
    "broadcast_to": lambda: tj.broadcast_to(X, [3.5, 4]),
    "broadcast_to_array": lambda: tj.broadcast_to(X, np.array([3.0, 4.0])),
    "reshape": lambda: tj.reshape(X, [2.5, 6]),
    "reshape_tensor": lambda: tj.reshape(X, tj.constant([2.0, 6.0])),
    "random_normal": lambda: tj.random.normal([2.5]),
    "random_uniform_array": lambda: tj.random.uniform(np.array([2.0])),
    "eye": lambda: tj.eye(2.5),
    "eye_columns": lambda: tj.eye(2, 3.5),
    "numpy_eye": lambda: tj.numpy.eye(2.5, k=1),
    "one_hot": lambda: tj.one_hot([0], 2.5),
    "top_k": lambda: tj.math.top_k(X, k=1.5),
    "unsorted_segment_sum": lambda: tj.math.unsorted_segment_sum(tj.ones([3]), [0, 0, 1], 2.5),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_float_where_a_size_is_expected_raises_type_error(name: str) -> None:
    with pytest.raises(TypeError, match="int"):
        BAD[name]()


@pytest.mark.parametrize("name", ["reshape", "one_hot", "top_k"])
def test_a_float_size_raises_while_tracing_too(name: str) -> None:
    @tj.compile
    def f(x: Any) -> Any:
        if name == "reshape":
            return tj.reshape(x, [6.0, 2])
        if name == "one_hot":
            return tj.one_hot(tj.cast(x[0], tj.int32), 4.0)
        return tj.math.top_k(x, k=2.0).values
    with pytest.raises(TypeError, match="int"):
        f(X)


def test_integer_sizes_of_every_kind_still_work() -> None:
    assert tj.zeros([np.int64(2), True]).shape == (2, 1)
    assert tj.ones(np.array([2, 3], np.int32)).shape == (2, 3)
    assert tj.fill(tj.constant([2]), 1.0).shape == (2,)
    assert tj.reshape(X, tj.constant([2, -1])).shape == (2, 6)
    assert tj.reshape(X, np.int64(12)).shape == (12,)
    assert tj.random.normal(np.array([3], np.int64)).shape == (3,)
    np.testing.assert_array_equal(tj.eye(np.int32(2)).numpy(), np.eye(2, dtype=np.float32))
    np.testing.assert_array_equal(tj.one_hot([1], np.int64(3)).numpy(), [[0.0, 1.0, 0.0]])
    assert tj.math.top_k(X, k=tj.constant(2)).values.shape == (3, 2)
    got = tj.math.unsorted_segment_sum(tj.ones([3]), [0, 0, 1], np.int64(2)).numpy()
    np.testing.assert_array_equal(got, [2.0, 1.0])


@pytest.mark.parametrize("repeats", [-1, [-2], np.array([-1])])
def test_one_negative_repeats_for_every_element_raises(repeats: Any) -> None:
    # TensorFlow: InvalidArgumentError from its Tile ("Expected multiples[1] >= 0").
    with pytest.raises(ValueError, match="repeats must be >= 0"):
        tj.repeat(X, repeats, axis=0)
    with pytest.raises(ValueError, match="repeats must be >= 0"):
        tj.compile(lambda x: tj.repeat(x, repeats, axis=0))(X)


def test_negative_per_element_repeats_count_as_zero() -> None:
    # TensorFlow's rule (tf.repeat([1, 2], [2, -1]) is [1, 1]), eagerly and compiled.
    want = np.repeat(X, [1, 0, 2], axis=0)
    np.testing.assert_array_equal(tj.repeat(X, [1, -1, 2], axis=0).numpy(), want)
    got = tj.compile(lambda x: tj.repeat(x, [1, -1, 2], axis=0))(X)
    np.testing.assert_array_equal(np.asarray(got), want)


def test_constant_gives_a_tensor_value_its_shape_argument() -> None:
    # TensorFlow reshapes a tensor to `shape` (or fills it from one element), as it does
    # an array; the shape was ignored, giving a tensor of the wrong shape silently.
    v = np.arange(4, dtype=np.float32)
    for value in (tj.constant(v), tj.Variable(v)):
        got = tj.constant(value, shape=[2, 2])
        assert got.shape == (2, 2)
        np.testing.assert_array_equal(got.numpy(), v.reshape(2, 2))
    got = tj.constant(tj.constant([7.0]), shape=[2, 3], dtype=tj.float64)
    np.testing.assert_array_equal(got.numpy(), np.full((2, 3), 7.0))
    got = tj.compile(lambda x: tj.constant(x, shape=[2, 2]))(v)
    np.testing.assert_array_equal(np.asarray(got), v.reshape(2, 2))
    np.testing.assert_array_equal(tj.constant([[5.0]], shape=[]).numpy(), np.float32(5.0))


@pytest.mark.parametrize("value", [[1.0, 2.0, 3.0], np.ones(2, np.float32),
                                   tj.ones([4])], ids=["list", "array", "tensor"])
def test_constant_of_the_wrong_element_count_raises_type_error(value: Any) -> None:
    # TensorFlow: TypeError ("Eager execution of tf.constant with unsupported shape").
    with pytest.raises(TypeError, match=r"cannot take the shape \(3, 2\) \(6 elements\)"):
        tj.constant(value, shape=[3, 2])


@pytest.mark.parametrize("logits, n, error, match", [
    ([[0.0, 1.0]], 2.5, TypeError, "num_samples must be an integer"),
    ([[0.0, 1.0]], -1, ValueError, "num_samples must be >= 0"),
    (np.zeros((2, 0), np.float32), 3, ValueError, "at least one class"),
], ids=["float-samples", "negative-samples", "no-classes"])
def test_categorical_arguments(logits: Any, n: Any, error: type, match: str) -> None:
    # TensorFlow: TypeError, and InvalidArgumentError ("num_samples should be
    # nonnegative", "num_classes should be positive"); the errors were about a shape
    # (-1 samples) or an argmax over an empty axis (no classes), or 2.5 drew 2 samples.
    with pytest.raises(error, match=match):
        tj.random.categorical(logits, n)
    assert tj.random.categorical([[0.0, 1.0]], np.int64(3)).shape == (1, 3)


@pytest.mark.parametrize("shape", [[-3], [2, -1]])
def test_scatter_nd_of_a_negative_shape_says_so(shape: list[int]) -> None:
    # It said that index [0] "does not index into shape [-3]", or asked for updates of
    # shape (1, -1).
    with pytest.raises(ValueError, match="negative dimension in shape"):
        tj.scatter_nd([[0]], [1.0], shape)


@pytest.mark.parametrize("args", [(0.0, float("nan")), (0.0, float("inf")),
                                  (float("-inf"), 1.0), (0.0, 1.0, float("nan"))])
def test_range_of_a_non_finite_bound_says_so(args: tuple[float, ...]) -> None:
    # The errors were Python's "cannot convert float NaN to integer" (ValueError) and
    # "cannot convert float infinity to integer" (OverflowError), naming no line.
    with pytest.raises(ValueError, match="must be finite") as e:
        tj.range(*args)
    assert "test_shape_arguments.py" in str(e.value)


BEYOND_INT64: dict[str, Callable[[], Any]] = {
    "zeros": lambda: tj.zeros([2**63, 0]),
    "zeros_huge": lambda: tj.zeros([0, 2**70]),
    "broadcast_to": lambda: tj.broadcast_to(tj.zeros([0, 1]), [0, 2**64]),
    "reshape": lambda: tj.reshape(tj.zeros([0]), [2**63, 0]),
    "random_normal": lambda: tj.random.normal([2**63, 0]),
    "one_hot": lambda: tj.one_hot(tj.zeros([0], tj.int32), 2**64),
    "one_hot_uint64": lambda: tj.one_hot(tj.zeros([0], tj.int32), 2**63),
    "compiled_zeros": lambda: tj.compile(lambda: tj.zeros([0, 2**64]))(),
    "compiled_one_hot": lambda: tj.compile(lambda i: tj.one_hot(i, 2**63))(np.zeros(0, np.int32)),
}


@pytest.mark.parametrize("name", sorted(BEYOND_INT64))
def test_a_size_beyond_int64_says_so(name: str) -> None:
    # Even with no elements NumPy refuses such a shape, with "Maximum allowed dimension
    # exceeded" (and a depth of 2**64 was "not an integer").
    with pytest.raises(ValueError, match="int64") as e:
        BEYOND_INT64[name]()
    assert "test_shape_arguments.py" in str(e.value)


@pytest.mark.parametrize("call", [
    lambda: tj.numpy.linspace(0.0, 1.0, 2.5),
    lambda: tj.numpy.tile(tj.ones([2]), 2.5),
    lambda: tj.numpy.diag(tj.ones([3]), k=2.5),
    lambda: tj.numpy.diag(tj.ones([3, 3]), k=1.5),
    lambda: tj.numpy.diagonal(tj.ones([3, 3]), offset=0.5),
], ids=["linspace", "tile", "diag", "diag_part", "diagonal"])
def test_numpy_api_sizes_are_integers(call: Callable[[], Any]) -> None:
    # NumPy raises TypeError for each; they gave 2 points, 4 elements and a 5x5 matrix.
    with pytest.raises(TypeError, match="integer"):
        call()


@pytest.mark.parametrize("num", [2, 5])
def test_unstack_checks_num_against_the_dimension(num: int) -> None:
    # TensorFlow: InvalidArgumentError ("Input shape axis 0 must equal 5"); num was
    # ignored, giving 3 tensors for num=5.
    with pytest.raises(ValueError, match=f"num={num} does not match axis 0"):
        tj.unstack(X, num=num)
    assert [t.shape for t in tj.unstack(X, num=np.int64(4), axis=1)] == [(3,)] * 4


def test_add_n_of_one_tensor_adds_its_rows() -> None:
    # TensorFlow iterates a tensor given as the list (tf.add_n(x) is the sum of x's rows);
    # the error was "the truth value of a tensor of shape (3, 4) is ambiguous".
    np.testing.assert_array_equal(tj.add_n(tj.constant(X)).numpy(), X.sum(axis=0))
    np.testing.assert_array_equal(tj.add_n(X).numpy(), X.sum(axis=0))
    got = tj.compile(lambda x: tj.add_n(x))(X)
    np.testing.assert_array_equal(np.asarray(got), X.sum(axis=0))


@pytest.mark.parametrize("call", [
    lambda: tj.zeros([2], dtype=None),
    lambda: tj.ones([2], None),
    lambda: tj.random.normal([2], dtype=None),
    lambda: tj.random.uniform([2], dtype=None),
    lambda: tj.random.truncated_normal([2], dtype=None),
    lambda: tj.TensorSpec([2], None),
], ids=["zeros", "ones", "normal", "uniform", "truncated_normal", "TensorSpec"])
def test_a_dtype_of_none_raises_where_one_is_needed(call: Callable[[], Any]) -> None:
    # TensorFlow: TypeError ("Cannot convert ... None to a TensorFlow DType"). zeros and
    # ones gave int32 and the others float64 (np.dtype(None)), silently.
    with pytest.raises(TypeError, match="dtype must not be None"):
        call()


def test_the_numpy_api_takes_a_dtype_of_none_as_its_default() -> None:
    # NumPy's rule (the default float; float32 here, as Python floats): it gave int32.
    assert tj.numpy.zeros(2, None).dtype == np.float32
    assert tj.numpy.ones((2,), dtype=None).dtype == np.float32
