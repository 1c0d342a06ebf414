"""Bad input gets a clear error naming what went wrong and the user's own source line
(DESIGN.md, "Errors")."""
from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

import tracejit as tj

HERE = os.path.basename(__file__)


def line() -> int:
    """The line number of the caller's next line."""
    return inspect.currentframe().f_back.f_lineno + 1  # type: ignore[union-attr]


def assert_points_here(e: pytest.ExceptionInfo[BaseException], lineno: int) -> None:
    msg = str(e.value)
    assert f"{HERE}:{lineno}" in msg, msg


# ---------------------------------------------------------------------------- shapes


def test_broadcast_mismatch_names_both_shapes_and_the_user_line() -> None:
    a, b = tj.ones((2, 3)), tj.ones((4,))
    with pytest.raises(ValueError) as e:
        n = line()
        a + b
    assert "(2, 3)" in str(e.value) and "(4,)" in str(e.value)
    assert_points_here(e, n)
    assert isinstance(e.value, tj.ShapeError)


def test_eager_checks_are_remembered_only_for_what_passed() -> None:
    # A repeated eager op skips its shape rule (context._CHECKED); a failing one, another
    # shape, another dtype or other parameters still raise every time.
    from tracejit import context
    a, b = tj.ones((2, 3)), tj.ones((3,))
    (a + b).numpy()
    assert any(k[0].name == "add" for k in context._CHECKED)
    for _ in range(2):
        with pytest.raises(tj.ShapeError, match=r"\(4,\)"):
            a + tj.ones((4,))
        with pytest.raises(TypeError):
            a + tj.ones((3,), tj.int32)
        with pytest.raises(ValueError):
            tj.reshape(a, (4, 2))
    assert tj.reshape(a, (3, 2)).shape == (3, 2)


def test_shape_error_inside_a_user_function_points_at_that_function() -> None:
    def model(x: tj.Tensor, w: tj.Tensor) -> tj.Tensor:
        return tj.multiply(x, w)

    with pytest.raises(ValueError) as e:
        model(tj.ones((5, 2)), tj.ones((3,)))
    assert "(5, 2)" in str(e.value) and "(3,)" in str(e.value)
    assert_points_here(e, model.__code__.co_firstlineno + 1)
    assert "tj.multiply(x, w)" in str(e.value)  # the source text is quoted


def test_shape_error_on_a_tape_and_with_operators() -> None:
    x = tj.constant([1.0, 2.0, 3.0])
    with tj.GradientTape():
        with pytest.raises(ValueError) as e:
            n = line()
            x * tj.ones((2,)) - 1.0
    assert "(3,)" in str(e.value) and "(2,)" in str(e.value)
    assert_points_here(e, n)


@pytest.mark.parametrize("call", [
    lambda x: tj.reduce_sum(x, axis=2), lambda x: tj.reduce_mean(x, axis=-3),
    lambda x: tj.reduce_max(x, axis=[0, 5]), lambda x: tj.argmax(x, axis=2),
    lambda x: tj.squeeze(x, axis=3), lambda x: tj.expand_dims(x, 4),
    lambda x: tj.concat([x, x], axis=2), lambda x: tj.nn.softmax(x, axis=2),
    lambda x: tj.gather(x, [0], axis=-3), lambda x: tj.unstack(x, axis=2),
], ids=["sum", "mean", "max", "argmax", "squeeze", "expand_dims", "concat", "softmax",
        "gather", "unstack"])
def test_bad_axes(call: object) -> None:
    x = tj.ones((2, 3))
    with pytest.raises(ValueError) as e:
        call(x)  # type: ignore[operator]
    msg = str(e.value)
    assert "axis" in msg and "range" in msg, msg
    assert f"{HERE}:" in msg


def test_repeated_axes_and_non_int_axes() -> None:
    x = tj.ones((2, 3))
    with pytest.raises(ValueError, match="repeated"):
        tj.reduce_sum(x, axis=[1, -1])
    with pytest.raises(TypeError, match="int"):
        tj.reduce_sum(x, axis=1.0)


def test_squeeze_of_a_dimension_that_is_not_one() -> None:
    with pytest.raises(ValueError, match=r"size 3, not 1"):
        tj.squeeze(tj.ones((2, 3)), axis=1)


def test_reshape_to_the_wrong_size() -> None:
    x = tj.ones((2, 3))
    with pytest.raises(ValueError) as e:
        n = line()
        tj.reshape(x, (4, 2))
    msg = str(e.value)
    assert "6" in msg and "(4, 2)" in msg and "8" in msg
    assert_points_here(e, n)
    with pytest.raises(ValueError, match="-1"):
        tj.reshape(x, (-1, -1))
    with pytest.raises(ValueError, match=r"\(4, -1\)|\[4, -1\]"):
        tj.reshape(x, (4, -1))


def test_matmul_inner_dimensions() -> None:
    a, b = tj.ones((2, 3)), tj.ones((2, 3))
    with pytest.raises(ValueError) as e:
        n = line()
        tj.matmul(a, b)
    msg = str(e.value)
    assert "[2,3]" in msg and "3 != 2" in msg, msg
    assert_points_here(e, n)
    with pytest.raises(ValueError, match="3 != 2"):
        a @ b
    assert tj.matmul(a, b, transpose_b=True).shape == (2, 2)
    with pytest.raises(ValueError, match="batch"):
        tj.matmul(tj.ones((2, 2, 3)), tj.ones((3, 3, 4)))


@pytest.mark.parametrize("sa,sb", [((3,), (3, 3)), ((3, 3), (3,)), ((3,), (3,)), ((), (1, 1))])
def test_matmul_of_vectors_raises_as_tensorflow(sa: tuple[int, ...],
                                                 sb: tuple[int, ...]) -> None:
    with pytest.raises(ValueError) as e:
        tj.matmul(tj.ones(sa), tj.ones(sb))
    assert "rank >= 2" in str(e.value)


def test_matmul_of_bools_raises() -> None:
    with pytest.raises(TypeError, match="float"):      # ints multiply, as in TensorFlow
        tj.matmul(tj.ones((2, 2), tj.bool_), tj.ones((2, 2), tj.bool_))


def test_other_shape_errors_name_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)|\(3,\).*\(2,\)"):
        tj.stack([tj.ones((2,)), tj.ones((3,))])
    with pytest.raises(ValueError, match="concat"):
        tj.concat([tj.ones((2, 2)), tj.ones((3, 3))], axis=0)
    with pytest.raises(ValueError, match=r"\[3\].*\[4\]|f32\[3\]"):
        tj.broadcast_to(tj.ones((3,)), (4,))
    with pytest.raises(ValueError, match="tensordot"):
        tj.tensordot(tj.ones((2, 3)), tj.ones((2, 3)), 1)
    with pytest.raises(ValueError, match=r"tensordot.*3 axes.*\(2, 3\).*\(3, 2\)"):
        tj.tensordot(tj.ones((2, 3)), tj.ones((3, 2)), 3)
    with pytest.raises(ValueError, match="same shape"):
        tj.nn.softmax_cross_entropy_with_logits(labels=tj.ones((2, 3)), logits=tj.ones((2, 4)))
    with pytest.raises(ValueError, match="negative"):
        tj.ones((2, -1))


# ---------------------------------------------------------------------------- indices


def test_out_of_bounds_data_dependent_indices_raise_index_error() -> None:
    x = tj.ones((3, 2))
    with pytest.raises(IndexError) as e:
        n = line()
        tj.gather(x, [0, 5])
    assert "5" in str(e.value) and "3" in str(e.value)
    assert_points_here(e, n)
    with pytest.raises(IndexError, match="-1"):
        tj.gather(x, [-1])  # gather does not wrap (TensorFlow)
    with pytest.raises(IndexError, match="7"):
        tj.nn.sparse_softmax_cross_entropy_with_logits(labels=[7], logits=tj.ones((1, 3)))
    with pytest.raises(IndexError, match="index 3"):
        x[3]


def test_a_run_time_shape_mismatch_of_unknown_dimensions_names_the_call() -> None:
    @tj.function(input_signature=[tj.TensorSpec([None], tj.float32)] * 2)
    def f(x: tj.Tensor, y: tj.Tensor) -> tj.Tensor:
        return x + y
    f(np.ones(3, np.float32), np.ones(3, np.float32))
    for _ in range(2):                      # the first call's path, then the cached one
        with pytest.raises(tj.ShapeError) as e:
            n = line()
            f(np.ones(3, np.float32), np.ones(4, np.float32))
        assert "(3,)" in str(e.value) and "(4,)" in str(e.value)
        assert_points_here(e, n)


def test_a_singular_matrix_in_compiled_code_names_the_call() -> None:
    f = tj.function(lambda a: tj.linalg.inv(a))
    f(np.eye(2, dtype=np.float32))
    for _ in range(2):
        with pytest.raises(np.linalg.LinAlgError, match="not invertible") as e:
            n = line()
            f(np.zeros((2, 2), np.float32))
        assert_points_here(e, n)


def test_errors_of_a_cached_call_never_point_into_generated_code() -> None:
    # A repeated call runs through a call wrapper generated for its signature; the line
    # an error names is the user's, never one of that wrapper's.
    f = tj.function(lambda d, i: tj.math.unsorted_segment_sum(d, i, 0))
    d = np.ones(3, np.float32)
    f(d, np.array([-1, -2, -3], np.int32))
    f(d, np.array([-1, -2, -3], np.int32))
    with pytest.raises(IndexError) as e:
        f(d, np.array([-1, 0, -3], np.int32))
    assert "<tracejit" not in str(e.value) and f"{HERE}:" in str(e.value), str(e.value)


# ---------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("make", [
    lambda: tj.constant(1.0, tj.float16), lambda: tj.constant(np.ones(2, np.float16)),
    lambda: tj.ones((2,), tj.float16), lambda: tj.cast(tj.ones((2,)), tj.float16),
    lambda: tj.constant(np.ones(2, np.complex64)), lambda: tj.constant(1j),
    lambda: tj.constant([1.0], dtype=np.complex128), lambda: tj.Variable(np.float16(1.0)),
    lambda: tj.constant(["a", "b"]),
], ids=["f16-dtype", "f16-array", "ones-f16", "cast-f16", "c64-array", "complex-scalar",
        "c128-dtype", "f16-variable", "strings"])
def test_unsupported_dtypes_raise_type_error(make: object) -> None:
    with pytest.raises(TypeError) as e:
        make()  # type: ignore[operator]
    msg = str(e.value)
    assert any(w in msg for w in ("float16", "complex", "cannot convert")), msg


def test_unsupported_dtype_is_never_silently_converted() -> None:
    """Regression: tj.float16 was None, so tj.constant(x, tj.float16) made float32."""
    assert tj.float16 == np.float16
    with pytest.raises(TypeError, match="float16"):
        tj.constant(1.0, dtype=tj.float16)
    with pytest.raises(TypeError, match="float32, float64, int32, int64, bool"):
        tj.zeros((1,), np.float16)


def test_constant_never_drops_a_fraction_silently() -> None:
    """Regression: tj.constant([1.5], tj.int32) truncated to 1 (TensorFlow raises)."""
    with pytest.raises(TypeError, match="1.5.*int32.*tj.cast"):
        tj.constant([1.5, 2.0], tj.int32)
    with pytest.raises(TypeError, match="int64"):
        tj.fill([2], 2.5, dtype=tj.int64)
    with pytest.raises(ValueError, match="non-finite"):
        tj.constant([np.nan], tj.int32)
    np.testing.assert_array_equal(tj.constant([1.0, -2.0], tj.int32).numpy(), [1, -2])
    np.testing.assert_array_equal(tj.cast(tj.constant([1.5]), tj.int32).numpy(), [1])


def test_non_float_ops_on_the_wrong_dtypes() -> None:
    with pytest.raises(TypeError, match="exp.*(i32|int32)"):
        tj.exp(tj.constant([1, 2]))
    with pytest.raises(TypeError, match="int32"):
        tj.constant([1, 2]) ** 2.5
    with pytest.raises(TypeError, match="bool"):
        tj.logical_and(tj.constant([1.0]), tj.constant([True]))
    with pytest.raises(TypeError, match="bool"):
        tj.constant([True]) + 1


# ---------------------------------------------------------------------------- tapes


def test_second_gradient_on_a_non_persistent_tape() -> None:
    x = tj.constant(2.0)
    with tj.GradientTape() as t:
        t.watch(x)
        y = x * x
    t.gradient(y, x)
    with pytest.raises(RuntimeError) as e:
        n = line()
        t.gradient(y, x)
    assert "persistent=True" in str(e.value)
    assert_points_here(e, n)


def test_bad_gradient_arguments() -> None:
    x = tj.constant(2.0)
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
    with pytest.raises(TypeError, match="None"):
        t.gradient(None, x)
    with pytest.raises(TypeError, match="str"):
        t.gradient(y, "x")
    with pytest.raises(ValueError, match="output_gradients"):
        t.gradient([y, y], x, output_gradients=[tj.constant(1.0)])


# ---------------------------------------------------------------------------- concrete values


def test_truth_value_of_a_non_scalar_tensor() -> None:
    with pytest.raises(ValueError, match="ambiguous"):
        if tj.constant([1.0, 2.0]) > 0:
            pass


def test_traced_value_in_bool_explains_what_to_do() -> None:
    @tj.function
    def f(x: tj.Tensor) -> tj.Tensor:
        if x > 0:  # data-dependent Python `if`: cannot be traced
            return x
        return -x

    with pytest.raises(TypeError) as e:
        f(tj.constant(1.0))
    msg = str(e.value)
    assert isinstance(e.value, tj.TracingError), repr(e.value)
    assert "bool()" in msg and "tj.where" in msg and "run_functions_eagerly" in msg
    tj.config.run_functions_eagerly(True)
    try:
        assert float(f(tj.constant(-2.0))) == 2.0  # eagerly, the same code runs
    finally:
        tj.config.run_functions_eagerly(False)
