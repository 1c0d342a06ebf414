"""Which calls of a compiled function share a trace (`tracejit/keys.py`), and the
`tf.function` behaviours around it: arguments by value or by reference, the values a
trace returns, and the errors for arguments no trace can be keyed by."""
from __future__ import annotations

import dataclasses
import gc
import warnings
import weakref

import numpy as np
import pytest

import tracejit as tj


@dataclasses.dataclass
class Scale:
    s: float

    @tj.compile
    def __call__(self, x):
        return x * self.s


def test_dataclass_method_right_for_fresh_objects() -> None:
    # A plain @dataclass is unhashable; keyed by address, a new object at a recycled
    # address reused the dead one's trace (97 wrong results in 100).
    # (Each instance has its compiled method of its own, as in TensorFlow; its key still
    # holds the instance by value, so one instance whose attribute changes retraces.)
    ones = np.ones(3, np.float32)
    rng = np.random.default_rng(0)
    right = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # a new instance per call traces per call
        for _ in range(100):
            s = float(rng.integers(1, 5))
            obj = Scale(s)
            right += bool(np.all(obj(ones).numpy() == s))
            assert obj.__call__.trace_count == 1
    assert right == 100
    obj = Scale(1.)
    for s in (1., 2., 1., 3.):
        obj.s = s
        assert np.all(obj(ones).numpy() == s)
    assert obj.__call__.trace_count == 3


class EqNoHash:
    def __init__(self, scale: float, items: list[float]):
        self.scale = scale
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EqNoHash) and self.scale == other.scale


@pytest.mark.filterwarnings("ignore:.*traced it")
def test_unhashable_object_keyed_by_its_attribute_values() -> None:
    f = tj.compile(lambda x, o: x * o.scale + sum(o.items))
    x = np.ones(2, np.float32)
    for k in range(200):
        o = EqNoHash(float(k % 3), [float(k % 2)])
        assert float(f(x, o)[0]) == k % 3 + k % 2
    assert f.trace_count == 6


def test_plain_object_with_changed_attribute_retraces() -> None:
    class Model:
        def __init__(self) -> None:
            self.scale = 2.0
            self.w = tj.Variable([1.0, 2.0])

        @tj.compile
        def __call__(self, x):
            return x * self.w * self.scale

    m = Model()
    x = tj.constant([1.0, 1.0])
    np.testing.assert_array_equal(m(x).numpy(), [2.0, 4.0])
    m.scale = 3.0            # TensorFlow keeps the baked 2.0 here; a new key retraces
    np.testing.assert_array_equal(m(x).numpy(), [3.0, 6.0])
    m.w.assign([5.0, 5.0])   # Variables are read by reference: no retrace
    np.testing.assert_array_equal(m(x).numpy(), [15.0, 15.0])
    assert m.__call__.trace_count == 2


def test_unkeyable_arguments_raise_type_error_saying_why() -> None:
    f = tj.compile(lambda x, s: x)
    x = tj.constant(1.0)
    with pytest.raises(TypeError, match=r"argument `s` is a set.*frozenset"):
        f(x, {1, 2})
    ref_target = Scale(1.0)
    with pytest.raises(TypeError, match=r"argument `s` is a weakref.*object itself"):
        f(x, weakref.ref(ref_target))
    with pytest.raises(TypeError, match=r"argument `s\[1\]` is an unhashable bytearray.*"
                                         r"__hash__"):
        f(x, [1, bytearray(b"ab")])
    assert float(f(x, frozenset({1, 2}))) == 1.0


@pytest.mark.parametrize("zero", [0.0, np.float64(0.0)], ids=["float", "np.float64"])
def test_static_negative_zero_has_its_own_trace(zero: float) -> None:
    f = tj.compile(lambda x, s: x / s)
    x = tj.constant(1.0)
    neg = -zero
    for k in range(100):
        s = neg if k % 2 else zero
        assert float(f(x, s)) == (-np.inf if k % 2 else np.inf)
    assert f.trace_count == 2


def test_static_nan_traces_once() -> None:
    f = tj.compile(lambda x, s: x + s)
    x = tj.constant(1.0)
    for _ in range(50):
        assert np.isnan(float(f(x, float("nan"))))
        assert np.isnan(float(f(x, np.float64("nan"))))
    assert f.trace_count == 2


def test_returned_variable_read_at_call_time() -> None:
    v = tj.Variable(1.0)

    @tj.compile
    def f(x):
        return x * 2.0, v, {"v": v}

    x = tj.constant(1.0)
    for k in range(100):
        v.assign(float(k))
        out, got, d = f(x)
        assert float(got) == k and float(d["v"]) == k and float(out) == 2.0
        assert isinstance(got, tj.Tensor)   # as tf.function: the value, read at the call
    assert f.trace_count == 1


def test_returned_variable_after_assign_in_the_trace() -> None:
    v = tj.Variable(1.0)

    @tj.compile
    def f(d):
        v.assign_add(d)
        return v

    assert float(f(tj.constant(2.0))) == 3.0
    assert float(f(tj.constant(2.0))) == 5.0 and float(v.numpy()) == 5.0


def test_returned_python_numbers_are_tensors() -> None:
    @tj.compile
    def f(x):
        return 1, 2.5, True, np.float64(3.0), np.arange(2), None, "s"

    one, half, yes, f64, arr, none, s = f(tj.constant(1.0))
    # TensorFlow 2.21: int32, float32, bool, float64 and an int64 tensor; None stays None.
    # (TensorFlow makes a string tensor of "s"; tracejit has no strings and returns it.)
    assert [t.dtype for t in (one, half, yes, f64, arr)] == [
        np.int32, np.float32, np.bool_, np.float64, np.int64]
    assert all(isinstance(t, tj.Tensor) for t in (one, half, yes, f64, arr))
    assert float(half) == 2.5 and none is None and s == "s"
    assert f(tj.constant(2.0))[0] is not one      # a new tensor at every call


def test_keyword_order_does_not_retrace() -> None:
    f = tj.compile(lambda a, b, *, c=1.0: a - b * c)
    a, b = tj.constant(5.0), tj.constant(2.0)
    assert float(f(a=a, b=b, c=3.0)) == -1.0
    assert float(f(c=3.0, b=b, a=a)) == -1.0
    assert float(f(a, b=b, c=3.0)) == -1.0
    assert float(f(a, b, c=3.0)) == -1.0
    assert f.trace_count == 1


def test_variable_arguments_of_one_shape_share_a_trace() -> None:
    @tj.compile
    def step(v, d):
        before = v * 1.0
        v.assign_add(d)
        return before, v * 10.0

    v1, v2 = tj.Variable([1.0, 2.0]), tj.Variable([10.0, 20.0])
    d = tj.constant([1.0, 1.0])
    for _ in range(3):
        b1, a1 = step(v1, d)
        b2, a2 = step(v2, d)
    np.testing.assert_array_equal(v1.numpy(), [4.0, 5.0])
    np.testing.assert_array_equal(v2.numpy(), [13.0, 23.0])
    np.testing.assert_array_equal(b2.numpy(), [12.0, 22.0])
    np.testing.assert_array_equal(a2.numpy(), [130.0, 230.0])
    assert step.trace_count == 1
    step(tj.Variable([1.0, 2.0, 3.0]), tj.constant([1.0, 1.0, 1.0]))
    step(tj.Variable([1.0, 2.0], trainable=False), d)
    assert step.trace_count == 3


def test_variable_arguments_aliasing_is_part_of_the_key() -> None:
    @tj.compile
    def swap_add(a, b):
        a.assign_add(b)
        return b * 1.0     # after the assign: a new value when a is b

    v1, v2 = tj.Variable(1.0), tj.Variable(2.0)
    assert float(swap_add(v1, v2)) == 2.0 and float(v1.numpy()) == 3.0
    assert float(swap_add(v1, v1)) == 6.0 and float(v1.numpy()) == 6.0
    assert swap_add.trace_count == 2


def test_variable_argument_that_is_also_read_from_outside() -> None:
    g = tj.Variable(1.0)

    @tj.compile
    def f(v):
        v.assign(5.0)
        return g * 1.0

    assert float(f(tj.Variable(0.0))) == 1.0
    assert float(f(g)) == 5.0 and float(g.numpy()) == 5.0   # g is v: sees the assign


def test_trace_where_the_argument_is_the_outside_variable_serves_no_other_variable() -> None:
    # The same as above, called in the other order: the first trace sees one Variable
    # through both names; a later call with another Variable must not reuse it.
    g = tj.Variable(1.0)

    @tj.compile
    def f(v):
        v.assign(5.0)
        return g * 1.0

    assert float(f(g)) == 5.0 and float(g.numpy()) == 5.0   # g is v: sees the assign
    g.assign(1.0)
    other = tj.Variable(0.0)
    assert float(f(other)) == 1.0                            # g, not the argument
    assert float(other.numpy()) == 5.0 and float(g.numpy()) == 1.0
    assert float(f(g)) == 5.0 and float(g.numpy()) == 5.0


def test_variable_argument_gradient_under_a_tape() -> None:
    f = tj.compile(lambda v, x: tj.reduce_sum(v * x))
    v1, v2 = tj.Variable([1.0, 2.0]), tj.Variable([3.0, 4.0])
    x = tj.constant([5.0, 7.0])
    for v in (v1, v2):
        with tj.GradientTape() as t:
            y = f(v, x)
        np.testing.assert_array_equal(t.gradient(y, v).numpy(), [5.0, 7.0])
    assert f.trace_count == 1


def test_compile_of_a_non_callable_raises_type_error() -> None:
    with pytest.raises(TypeError, match="needs a function.*got 1 of type int"):
        tj.function(1)


def test_function_that_modifies_its_input_list_raises() -> None:
    @tj.compile
    def f(xs):
        xs.append(tj.constant(1.0))
        return xs[0]

    with pytest.raises(ValueError, match=r"f\(xs\) modified its Python input argument\(s\) "
                                         r"xs while traced.*copy"):
        f([tj.constant(2.0)])

    @tj.compile
    def g(d, y):
        d["k"] = 1.0
        return y

    with pytest.raises(ValueError, match=r"argument\(s\) d while"):
        g({}, y=tj.constant(1.0))


@pytest.mark.filterwarnings("ignore:.*traced it")
def test_trace_diagnostics_hold_no_arguments() -> None:
    class Model:
        def __init__(self, k: int) -> None:
            self.k = k
            self.big = np.zeros(1000, np.float32)

        @tj.compile
        def __call__(self, x):
            return x + float(self.k % 50)

    x = tj.constant(1.0)
    models = [Model(k) for k in range(300)]
    refs = [weakref.ref(m) for m in models]
    for m in models:
        assert float(m(x)) == 1.0 + m.k % 50
    del models, m
    gc.collect()
    assert sum(r() is not None for r in refs) == 0
    assert len(Model.__call__._keys) <= 8


def test_slotted_and_self_referencing_objects_keyed_by_value() -> None:
    class Slotted:
        __slots__ = ("k", "unset")

        def __init__(self, k: float) -> None:
            self.k = k

    class Node:
        def __init__(self, k: float) -> None:
            self.k = k
            self.me = self          # a cycle: keyed without recursing forever

        def __eq__(self, other: object) -> bool:
            return NotImplemented

    f = tj.compile(lambda x, a, b: x * a.k + b.k)
    x = tj.constant(1.0)
    for k in range(20):
        assert float(f(x, Slotted(float(k % 2)), Node(float(k % 3)))) == k % 2 + k % 3
    assert f.trace_count == 6
