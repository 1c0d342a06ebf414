"""tj.ensure_shape and tj.debugging's assertions: what passes and what raises (with the
messages TensorFlow 2.21 gives, written out), eagerly and inside compiled functions (shape
checks at trace time; value checks where the values are known), and ensure_shape's
gradient against central finite differences at orders 1 and 2."""
from __future__ import annotations

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck, rand

IAE = tj.errors.InvalidArgumentError


def test_invalid_argument_error_is_a_value_error() -> None:
    assert issubclass(IAE, ValueError) and "InvalidArgumentError" in tj.errors.__all__


def test_ensure_shape() -> None:
    x = tj.constant(np.arange(6.0).reshape(2, 3))
    for shape in ([2, 3], [None, 3], [2, None], None, tj.TensorShape([None, None]), (2, 3)):
        y = tj.ensure_shape(x, shape)
        assert isinstance(y, tj.Tensor) and y.numpy().tolist() == x.numpy().tolist()
    assert tj.ensure_shape([1.0, 2.0], [2]).dtype == np.float32
    assert tj.ensure_shape(tj.constant(1.0), []).shape == ()
    with pytest.raises(IAE, match=r"Shape of tensor input \[2,3\] is not compatible with "
                                  r"expected shape \[2,4\]\."):
        tj.ensure_shape(x, [2, 4])
    with pytest.raises(IAE, match=r"expected shape \[2\]\."):
        tj.ensure_shape(x, [2])
    with pytest.raises(IAE, match=r"expected shape \[\?,4\]\."):
        tj.ensure_shape(x, [None, 4])
    with pytest.raises(ValueError, match="-1"):
        tj.ensure_shape(x, [-1, 3])
    v = tj.Variable([1.0, 2.0])
    with tj.GradientTape() as tape:
        y = tj.ensure_shape(v * v, [2])
    assert tape.gradient(y, v).numpy().tolist() == [2.0, 4.0]
    gradcheck(lambda a: tj.ensure_shape(a * a, [None, 3]) * a, rand(1, (2, 3)))


def test_ensure_shape_in_compiled_functions() -> None:
    f = tj.function(lambda a: tj.ensure_shape(a, [4, None]) * 2.0)
    assert f(tj.ones([4, 3])).numpy().tolist() == [[2.0] * 3] * 4
    with pytest.raises(IAE, match=r"input \[5,3\] is not compatible with expected shape "
                                  r"\[4,\?\]"):
        f(tj.ones([5, 3]))
    # A size known only at run time is not checked (documented in README).
    g = tj.function(lambda a: tj.ensure_shape(a, [4, 3]),
                    input_signature=[tj.TensorSpec([None, 3])])
    assert g(tj.ones([5, 3])).shape == (5, 3)
    h = tj.function(lambda a: tj.ensure_shape(a, [4, 2]),
                    input_signature=[tj.TensorSpec([None, 3])])
    with pytest.raises(IAE, match=r"input \[\?,3\] is not compatible with expected shape "
                                  r"\[4,2\]"):
        h(tj.ones([4, 3]))                              # the known size is checked


@pytest.mark.parametrize("op,cond,ok,bad", [
    (tj.debugging.assert_equal, "==", [1, 2], [1, 3]),
    (tj.debugging.assert_none_equal, "!=", [2, 1], [2, 2]),
    (tj.debugging.assert_less, "<", [2, 3], [2, 2]),
    (tj.debugging.assert_less_equal, "<=", [1, 2], [1, 1]),
    (tj.debugging.assert_greater, ">", [0, 1], [0, 2]),
    (tj.debugging.assert_greater_equal, ">=", [1, 2], [1, 3])])
def test_value_assertions(op: object, cond: str, ok: list[int], bad: list[int]) -> None:
    x = tj.constant([1, 2])
    assert op(x, ok) is None                                      # type: ignore[operator]
    assert op(tj.cast(x, tj.float64), np.array(ok, np.float64)) is None  # type: ignore
    with pytest.raises(IAE, match=f"Condition x {cond} y did not hold"):
        op(x, bad)                                                # type: ignore[operator]
    assert op(tj.zeros([0]), tj.zeros([0])) is None               # type: ignore[operator]
    with pytest.raises(ValueError, match=r"incompatible shapes \(2,\) and \(3,\)"):
        op(x, [1, 2, 3])                                          # type: ignore[operator]
    with pytest.raises(tj.errors.DTypeError, match="int32 and float32"):
        op(x, tj.constant([1.0, 2.0]))                            # type: ignore[operator]


def test_value_assertion_messages_are_tensorflows() -> None:
    with pytest.raises(IAE) as e:
        tj.debugging.assert_equal(tj.constant([1, 2]), [1, 3], message="msg!")
    assert str(e.value).split("\n  at ")[0] == (
        "msg!\nCondition x == y did not hold.\nIndices of first 1 different values:\n[[1]]\n"
        "Corresponding x values:\n[2]\nCorresponding y values:\n[3]\n"
        "First 2 elements of x:\n[1 2]\nFirst 2 elements of y:\n[1 3]")
    with pytest.raises(IAE) as e:
        tj.assert_equal(tj.constant([[1, 2], [3, 4]]), [[1, 0], [0, 4]])
    assert "Indices of first 2 different values:\n[[0 1]\n [1 0]]\nCorresponding x values:" \
           "\n[2 3]" in str(e.value)
    with pytest.raises(IAE) as e:
        tj.debugging.assert_equal(tj.range(10), tj.range(10) * 0, summarize=3)
    assert "Indices of first 3 different values:\n[[1]\n [2]\n [3]]" in str(e.value)
    with pytest.raises(IAE, match="did not hold"):           # NaN equals nothing
        tj.debugging.assert_equal(tj.constant([np.nan]), [np.nan])
    assert tj.debugging.assert_equal(tj.constant([1, 1]), 1) is None     # broadcasts
    assert tj.assert_less is tj.debugging.assert_less
    assert tj.assert_greater is tj.debugging.assert_greater
    with pytest.raises(tj.errors.DTypeError, match="numeric"):
        tj.debugging.assert_less(tj.constant([True]), [True])
    assert tj.debugging.assert_equal(tj.constant([True]), [True]) is None


def test_value_assertions_in_compiled_functions() -> None:
    @tj.function
    def traced(a: tj.Tensor, b: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_equal(a, b)     # traced operands: checked when the code runs
        return a + b

    assert traced(tj.constant([1, 2]), tj.constant([1, 2])).numpy().tolist() == [2, 4]
    with pytest.raises(IAE, match=r"^Condition x == y did not hold.\nIndices of first 1 "
                                  r"different values:\n\[\[1\]\]\nCorresponding x values:\n"
                                  r"\[2\]\nCorresponding y values:\n\[3\]\n(.|\n)*"
                                  r"  at .*test_debugging.py:\d+: "
                                  r"tj.debugging.assert_equal\(a, b\)"):
        traced(tj.constant([1, 2]), tj.constant([1, 3]))

    @tj.function
    def known(a: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_less(np.array([1, 2], np.int32), [2, 2])
        return a

    with pytest.raises(IAE, match="Condition x < y did not hold"):
        known(tj.constant(1))

    @tj.function
    def shapes(a: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_equal(a, tj.zeros([3]))
        return a

    with pytest.raises(ValueError, match="incompatible shapes"):
        shapes(tj.zeros([2]))


def test_assert_near() -> None:
    x = tj.constant([1.0, 2.0])
    assert tj.debugging.assert_near(x, [1.000001, 2.0]) is None
    with pytest.raises(IAE, match=r"rtol=1.19\d*e-06, atol=1.19\d*e-06"):
        tj.debugging.assert_near(x, [1.1, 2.0])
    assert tj.debugging.assert_near(x, [1.1, 2.0], rtol=0.2) is None
    assert tj.debugging.assert_near(x, [1.1, 2.0], atol=0.11) is None
    assert tj.debugging.assert_near(x, 1.5, atol=0.5) is None               # broadcasts
    d = tj.constant([1.0, 2.0], tj.float64)
    assert tj.debugging.assert_near(d, tj.constant([1.0, 2.0 + 2e-15], tj.float64)) is None
    with pytest.raises(IAE, match=r"rtol=2.22\d*e-15"):
        tj.debugging.assert_near(d, tj.constant([1.0, 2.0 + 1e-9], tj.float64))
    for v in (np.nan, np.inf):
        with pytest.raises(IAE, match="did not hold"):
            tj.debugging.assert_near(tj.constant([v]), [v])
    with pytest.raises(tj.errors.DTypeError, match="float tensors, got int32"):
        tj.debugging.assert_near(tj.constant([1, 2]), [1, 2])


def test_assert_rank() -> None:
    x = tj.zeros([2, 3])
    assert tj.assert_rank(x, 2) is None and tj.debugging.assert_rank(x, tj.constant(2)) is None
    with pytest.raises(ValueError, match=r"hey\nTensor must have rank 3. Received rank 2, "
                                         r"shape \(2, 3\)"):
        tj.debugging.assert_rank(x, 3, message="hey")
    with pytest.raises(TypeError, match="rank must be"):
        tj.assert_rank(x, 2.0)
    assert tj.debugging.assert_rank_at_least(x, 2) is None
    with pytest.raises(ValueError, match="must have rank at least 3. Received rank 2"):
        tj.debugging.assert_rank_at_least(x, 3)
    assert tj.debugging.assert_rank_in(x, [1, 2]) is None
    with pytest.raises(ValueError, match=r"must have rank in \(1, 3\). Received rank 2"):
        tj.debugging.assert_rank_in(x, [1, 3])
    f = tj.function(lambda a: (tj.debugging.assert_rank(a, 1), a)[1])
    with pytest.raises(ValueError, match="must have rank 1"):
        f(x)


def test_assert_shapes() -> None:
    x, y = tj.zeros([2, 3]), tj.zeros([2])
    ok = tj.debugging.assert_shapes
    assert ok([(x, ("N", "D")), (y, ("N",))]) is None
    assert ok([(tj.zeros([4, 2, 3]), ("...", "N", "D")), (y, ("N",))]) is None
    assert ok([(x, (2, 3)), (x, (None, 3)), (x, ".D"), (x, "ND")]) is None
    assert ok({x: ("N", "D"), y: ("N",)}) is None
    assert ok([(tj.constant(1.0), [])]) is None
    with pytest.raises(ValueError, match=r"Specified by tensor of shape \(2, 3\) dimension 0: "
                                         r"tensor of shape \(3,\) dimension 0 must have size "
                                         r"2. Received size 3"):
        ok([(x, ("N", "D")), (tj.zeros([3]), ("N",))])
    with pytest.raises(ValueError, match=r"hey\nSpecified by the spec: .* dimension 1 must "
                                         "have size 4"):
        ok([(x, (2, 4))], message="hey")
    with pytest.raises(ValueError, match=r"shape \(2, 3\) must have rank 1. Received rank 2"):
        ok([(x, ("N",))])
    with pytest.raises(ValueError, match="must have rank at least 2. Received rank 1"):
        ok([(y, ("...", "N", "D"))])
    with pytest.raises(ValueError, match="must have rank 0"):
        ok([(tj.zeros([1]), [])])
    f = tj.function(lambda a, b: (ok([(a, ("N",)), (b, ("N",))]), a + b)[1])
    assert f(tj.ones([2]), tj.ones([2])).numpy().tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match="must have size 2"):
        f(tj.ones([2]), tj.ones([1]))


SIGNS = [(tj.debugging.assert_positive, ">", [1.0, 2.0]),
         (tj.debugging.assert_negative, "<", [-1.0, -2.0]),
         (tj.debugging.assert_non_negative, ">=", [0.0, 2.0]),
         (tj.debugging.assert_non_positive, "<=", [0.0, -2.0])]


@pytest.mark.parametrize("case", range(len(SIGNS)))
def test_sign_assertions(case: int) -> None:
    """TensorFlow 2.21's eager message, word for word; NaN fails; a traced operand is
    checked when the compiled code runs."""
    check, cond, ok = SIGNS[case]
    assert check(tj.constant(ok)) is None
    assert check(tj.constant([int(v) for v in ok], tj.int32)) is None
    bad = [1.0, -2.0, 3.0]
    want = (f"msg.  \nCondition x {cond} 0 did not hold element-wise:\nx (shape=(3,) "
            "dtype=float32) = \n['1.0', '-2.0', '3.0']")
    with pytest.raises(IAE) as info:
        check(tj.constant(bad), message="msg")
    assert str(info.value).startswith(want), str(info.value)
    with pytest.raises(IAE):
        check(tj.constant([ok[0], np.nan]))
    with pytest.raises(TypeError, match="must be numeric"):
        check(tj.constant([True]))

    @tj.function
    def f(x: tj.Tensor) -> tj.Tensor:
        check(x)
        return x + 1.0

    np.testing.assert_array_equal(f(np.array(ok, np.float32)).numpy(), np.add(ok, 1.0))
    flipped = np.array(ok, np.float32)
    flipped[0] = -1.0 if cond in (">", ">=") else 1.0    # fails at index 0
    with pytest.raises(IAE) as compiled:
        f(flipped)
    with pytest.raises(IAE) as eager:
        f.python_function(tj.constant(flipped))
    assert str(compiled.value) == str(eager.value)
    assert str(compiled.value).startswith(f"\nCondition x {cond} 0 did not hold element-wise:")


def test_check_numerics_and_assert_all_finite() -> None:
    """TensorFlow 2.21's messages; the tensor comes back, its gradient passes through
    (orders 1 and 2); float tensors only; compiled code gives the eager message."""
    x = tj.constant([1.0, 2.0])
    np.testing.assert_array_equal(tj.debugging.check_numerics(x, "m").numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(tj.debugging.assert_all_finite(x, "m").numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(
        tj.debugging.assert_all_finite(x=x, message="m").numpy(), [1.0, 2.0])
    for values, what in (([1.0, np.nan], "NaN"), ([1.0, -np.inf], "Inf"),
                         ([np.inf, np.nan], "Inf and NaN")):
        with pytest.raises(IAE, match=rf"^bad : Tensor had {what} values\n  at "):
            tj.debugging.check_numerics(tj.constant(values), "bad")
    with pytest.raises(IAE, match=r"^bad : Tensor had Inf values"):
        tj.debugging.assert_all_finite(tj.constant([1.0, -np.inf]), "bad")
    with pytest.raises(TypeError, match="must be a float tensor"):
        tj.debugging.check_numerics(tj.constant([1, 2]), "m")
    gradcheck(lambda a: tj.debugging.check_numerics(a * a, "m") * a, rand(2, (3,)))

    @tj.function
    def loss(a: tj.Tensor) -> tj.Tensor:
        return tj.reduce_sum(tj.debugging.check_numerics(tj.math.log(a), "log(a)"))

    assert loss(np.array([1.0, 1.0], np.float32)).numpy() == 0.0
    with pytest.raises(IAE, match=r"^log\(a\) : Tensor had NaN values\n  at "
                                  r".*test_debugging.py"):
        loss(np.array([1.0, -1.0], np.float32))
    with pytest.raises(IAE, match=r"^log\(a\) : Tensor had Inf and NaN values"):
        loss(np.array([0.0, -1.0], np.float32))


def test_Assert() -> None:  # noqa: N802
    """TensorFlow 2.21's message: the condition, then each item of `data` on a line of its
    own (a tensor's first `summarize` values, a string as bytes); eagerly and compiled."""
    x = tj.constant([1.0, -2.0, 3.0])
    assert tj.debugging.Assert(tj.constant(True), [x]) is None
    with pytest.raises(IAE, match=r"^Expected 'tj.Tensor\(False, shape=\(\), dtype=bool\)' to "
                                  r"be true. Summarized data: 1.0, -2.0, \.\.\.\nb'hi'\n  at "):
        tj.debugging.Assert(tj.constant(False), [x, "hi"], summarize=2)
    with pytest.raises(TypeError, match="bool scalar"):
        tj.debugging.Assert(tj.constant([True, True]), [x])
    with pytest.raises(TypeError, match="data must be a list"):
        tj.debugging.Assert(tj.constant(True), x)

    @tj.function
    def f(a: tj.Tensor) -> tj.Tensor:
        tj.debugging.Assert(tj.reduce_all(a > 0.0), ["a:", a])
        return a

    np.testing.assert_array_equal(f(np.ones(2, np.float32)).numpy(), [1.0, 1.0])
    with pytest.raises(IAE, match=r"^Expected 'tj.Tensor\(False, shape=\(\), dtype=bool\)' to "
                                  r"be true. Summarized data: b'a:'\n1.0, -1.0\n  at "
                                  r".*test_debugging"):
        f(np.array([1.0, -1.0], np.float32))


def test_assertions_take_tensorflow_2s_arguments() -> None:
    """TensorFlow 2's order `(x[, y], message, summarize, name)`: a message given by
    position is the message (TensorFlow 1's `data` came first)."""
    one, two = tj.constant([1.0]), tj.constant([2.0])
    with pytest.raises(IAE, match="^first\nCondition x == y"):
        tj.debugging.assert_equal(one, two, "first")
    with pytest.raises(IAE, match="^second\nCondition x ~="):
        tj.debugging.assert_near(one, two, None, None, "second")
    with pytest.raises(IAE, match="^third.  \nCondition x < 0 did not hold element-wise:\n"
                                  r"x \(shape=\(4,\) dtype=float32\) = \n\['1.0', '2.0', '3.0', "
                                  r"'...'\]"):
        tj.debugging.assert_negative(tj.constant([1.0, 2.0, 3.0, 4.0]), "third")
    with pytest.raises(IAE, match="^\nCondition x < 0"):          # no message: a newline
        tj.debugging.assert_negative(one)
    # scalars: no indices in the message, as TensorFlow's
    with pytest.raises(IAE, match=r"^Condition x == y did not hold.\nFirst 1 elements of x:"
                                  r"\n\[1\]\nFirst 1 elements of y:\n\[2\]\n  at "):
        tj.debugging.assert_equal(tj.constant(1), tj.constant(2))
