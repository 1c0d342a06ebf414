"""Eager elementwise ops and Tensor's operators on their short route (`tracejit.eager_ops`,
one frame each) against their general route: same values, dtypes, errors and tape
records."""
from __future__ import annotations

import operator
import warnings
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tracejit import context, eager_ops, ops

BINARY = {name: spec for name, spec in eager_ops.INSTALLED.items()
          if name not in ("__neg__", "__abs__", "__invert__")}
UNARY = {name: spec for name, spec in eager_ops.INSTALLED.items() if name not in BINARY}
# (the operator as a function, reflected, the op it stands for)
OPERATORS = [(getattr(operator, name.replace("__r", "__", 1)), reflected, op)
             for name, (op, reflected) in BINARY.items()]


def test_the_operators_on_the_short_route() -> None:
    assert set(eager_ops.INSTALLED) == {
        f"__{r}{n}__" for n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow")
        for r in ("", "r")} | {f"__{n}__" for n in ("lt", "le", "gt", "ge", "eq", "ne", "and",
                                                    "or", "neg", "abs", "invert")}


def _general(fn: Any) -> Any:
    """fn() on the general route: no signature is known to the short route."""
    context._SHORT.clear()
    eager_ops._clear_known()
    return _outcome(fn)


def _apply(fn: Any, reflected: bool, a: Any, b: Any) -> Any:
    return fn(b, a) if reflected else fn(a, b)


def _outcome(fn: Any) -> Any:
    """(values, dtype, read-only) of fn(), or (error type, message); a warning fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = fn()
    except Exception as e:   # noqa: BLE001  (the error is what is compared)
        return type(e), str(e).split("\n  at ")[0]
    a = r.numpy()
    return a.tobytes(), a.shape, a.dtype, a.flags.writeable


OPERANDS = [
    (np.array([1.5, -2.0, 0.0], np.float32), 2),
    (np.array([1.5, -2.0, 0.0], np.float32), 2.5),
    (np.array([1.5, -2.0, 3.0], np.float64), -0.0),
    (np.array([1.5, -2.0, 3.0], np.float64), 0.0),
    (np.array([1.5, -2.0, 3.0], np.float32), float("nan")),
    (np.array([1.5, -2.0, 3.0], np.float32), 1e40),            # inf in float32
    (np.array([[1.5], [-2.0]], np.float32), np.array([1.0, 2.0, 4.0], np.float32)),
    (np.array([3, -7, 0], np.int32), 2),
    (np.array([3, -7, 0], np.int32), 2 ** 40),                 # out of int32's range
    (np.array([3, -7, 0], np.int32), 2.5),                     # a float with an int tensor
    (np.array([3, -7, 1], np.int64), np.array([2, 3, 5], np.int64)),
    (np.array([True, False]), 1),                              # a number with a bool tensor
    (np.array([1.0, 2.0], np.float32), np.array([1.0, 2.0], np.float64)),  # two dtypes
    (np.array([1.0, 2.0], np.float32), np.ones(3, np.float32)),           # shapes
    (np.array(4.0, np.float64), np.array([1.0, 2.0], np.float64)),
]


@pytest.mark.parametrize("fn,reflected,op", OPERATORS, ids=list(BINARY))
@pytest.mark.parametrize("x,y", OPERANDS, ids=range(len(OPERANDS)))
def test_binary_operators_give_their_ops_results_and_errors(
        fn: Any, reflected: bool, op: str, x: np.ndarray, y: Any) -> None:
    a = tj.constant(x)
    b = tj.constant(y) if isinstance(y, np.ndarray) else y
    expected = _general(lambda: _apply(getattr(ops, op), reflected, a, b))
    for _ in range(2):      # the operator and the op, each on its short route where it can
        assert _outcome(lambda: _apply(fn, reflected, a, b)) == expected
        assert _outcome(lambda: _apply(getattr(ops, op), reflected, a, b)) == expected


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("x", [np.array([1.5, -2.0, -0.0], np.float32),
                               np.array([3, -7, 0], np.int64), np.array([True, False])])
def test_unary_operators_give_their_ops_results_and_errors(name: str, x: np.ndarray) -> None:
    a = tj.constant(x)
    op = getattr(ops, UNARY[name][0])
    expected = _general(lambda: op(a))
    for _ in range(2):
        assert _outcome(lambda: getattr(operator, name.strip("_"))(a)) == expected
        assert _outcome(lambda: op(a)) == expected


@pytest.mark.parametrize("op", ["exp", "tanh", "sqrt", "sigmoid", "sign", "floor"])
@pytest.mark.parametrize("x", [np.array([1.5, -2.0, -0.0, 1e30], np.float32),
                               np.array([3, -7, 0], np.int32)])
def test_unary_ops_give_their_general_results_and_errors(op: str, x: np.ndarray) -> None:
    a = tj.constant(x)
    fn = getattr(tj, op)
    expected = _general(lambda: fn(a))
    for _ in range(2):
        assert _outcome(lambda: fn(a)) == expected


@pytest.mark.parametrize("op", ["maximum", "minimum", "multiply", "divide", "pow", "less"])
@pytest.mark.parametrize("b", ["a", 2.0, 3, -0.0, [1.0, 2.0, 3.0]])
def test_binary_ops_called_as_functions_give_their_general_results(op: str, b: Any) -> None:
    a = tj.constant(np.array([1.5, -2.0, 0.0], np.float32))
    b = a if b == "a" else b
    fn = getattr(tj, op)
    expected = _general(lambda: fn(a, b)), _general(lambda: fn(b, a))
    for _ in range(2):
        assert (_outcome(lambda: fn(a, b)), _outcome(lambda: fn(b, a))) == expected


def test_repeated_operators_skip_the_general_route_and_still_record_on_tapes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tj.clear_caches()                # no signature is known yet
    x = tj.constant(np.array([1.0, 2.0, 3.0], np.float32))
    calls: list[str] = []            # the general route's applications
    real = context.EAGER.apply
    monkeypatch.setattr(context.EAGER, "apply",
                        lambda p, *a: calls.append(p.name) or real(p, *a))
    for i in range(3):
        with tj.GradientTape() as outer:
            outer.watch(x)
            with tj.GradientTape() as inner:
                inner.watch(x)
                calls.clear()
                y = -(x * x * 2 + 1) / x - (1 - x) + tj.exp(x) ** 2.0
                # The first round checks each signature; later ones take the short route.
                assert (calls == []) == (i > 0), calls
            g = inner.gradient(y, x)
        want = -1 + 1 / x.numpy() ** 2 + 2 * np.exp(2 * x.numpy())
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-5)
        np.testing.assert_allclose(outer.gradient(g, x).numpy(),
                                   -2 / x.numpy() ** 3 + 4 * np.exp(2 * x.numpy()), rtol=1e-5)
    calls.clear()
    x * 3.5                          # a new scalar of a known signature
    tj.multiply(x, 3.5)
    assert calls == []
    z = tj.constant(np.ones(4, np.float32))
    z * 3.5                          # a new signature: the general route checks it
    z * 3.5
    assert calls == ["mul"]


def test_operators_on_a_watched_variable_and_a_scalar_record() -> None:
    v = tj.Variable(np.array([1.0, 2.0], np.float32))
    for _ in range(3):
        with tj.GradientTape() as tape:
            y = tj.reduce_sum(v * 3.0 + v.read_value() * v)
        np.testing.assert_allclose(tape.gradient(y, v).numpy(), 3 + 2 * v.numpy())


def test_a_signed_zero_scalar_keeps_its_sign() -> None:
    x = tj.constant(np.array([1.0, -1.0], np.float32))
    for _ in range(3):
        assert list(np.signbit((x * 0.0).numpy())) == [False, True]
        assert list(np.signbit((x * -0.0).numpy())) == [True, False]
        assert list(np.signbit((0.0 - x * 0.0).numpy())) == [False, False]


def test_operators_inside_a_compiled_function_are_traced() -> None:
    x = tj.constant(np.array([1.0, 2.0], np.float32))
    x * 2 + 1                         # the eager signature is known
    seen: list[bool] = []

    @tj.compile
    def f(t: tj.Tensor) -> tj.Tensor:
        y = t * 2 + 1
        seen.append(y.is_traced)
        return -y / t
    np.testing.assert_allclose(f(x).numpy(), -(x.numpy() * 2 + 1) / x.numpy())
    assert seen == [True]


def test_a_known_pair_of_shapes_is_not_taken_for_another_dtype() -> None:
    a = tj.constant(np.ones(2, np.float32))
    b = tj.constant(np.ones(2, np.float64))
    for _ in range(3):
        a * a, a * 2.0
    with pytest.raises(tj.DTypeError, match="different dtypes"):
        a * b
    i = tj.constant(np.ones(2, np.int32))
    with pytest.raises(tj.DTypeError, match="float"):
        i * 2.0
    assert (i * 2).dtype == np.int32 and (a * 2).dtype == np.float32



@pytest.mark.parametrize("make", [
    lambda i: i * 2 ** 40, lambda i: 2 ** 31 + i, lambda i: i - np.int64(2 ** 32),
    lambda i: tj.add(i, np.int64(2 ** 32)), lambda i: i < -2 ** 31 - 1,
    lambda i: tj.cast(i, tj.float32) * 10 ** 400])
def test_an_integer_operand_out_of_the_tensors_range_is_refused_naming_the_op(make: Any
                                                                             ) -> None:
    """A Python or NumPy integer an int32 tensor's dtype cannot hold raised NumPy's bare
    OverflowError (no op, no user line), and a NumPy integer wrapped around silently
    (`i + np.int64(2**32)` added 0): both now raise one clear OverflowError, on the
    operators' fast route and the general one alike (an int beyond every float too)."""
    i = tj.constant(np.array([3, -7, 0], np.int32))
    for _ in range(2):
        with pytest.raises(OverflowError, match=r"^(add|subtract|multiply|less): .* is out "
                                                r"of the range of (int32|float32)") as e:
            make(i)
        assert "test_eager_operators.py" in str(e.value)     # the user's line
    assert (i + (2 ** 31 - 1 - 3)).numpy()[0] == 2 ** 31 - 1   # the edge of the range


def test_a_python_number_beyond_the_float_range_is_inf_without_a_warning() -> None:
    """TensorFlow converts `x * 1e40` for a float32 `x` to inf silently; NumPy's cast
    warned "overflow encountered in cast" (an error under -W error), eagerly and when
    traced. A number that rounds to the largest finite value stays finite."""
    x = tj.constant(np.ones(2, np.float32))
    f = tj.compile(lambda v: v * 1e40 - (-1e40) * v)
    top = float(np.finfo(np.float32).max)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):      # the general route, then the operators' remembered one
            assert np.isposinf((x * 1e40).numpy()).all()
            assert np.isneginf(tj.multiply(x, -1e40).numpy()).all()
            assert np.isposinf((x * 10 ** 39).numpy()).all()
            assert np.isposinf(f(x).numpy()).all()
            assert ((x * top).numpy() == top).all()
