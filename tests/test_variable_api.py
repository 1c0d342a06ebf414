"""Variable and Tensor as TensorFlow's: the constructor's arguments, how `assign*` converts
a value, `read_value`, the Variable scatters, `ref()`, `get_shape`/`set_shape`, `device`.
Each expectation was checked against TensorFlow 2.21 (README lists where tracejit
deliberately differs)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import tracejit as tj


def test_assign_converts_values_to_the_variables_dtype_as_tensorflow() -> None:
    v = tj.Variable([1.0, 2.0])
    assert v.assign(np.array([1, 2], np.int64)).numpy().tolist() == [1.0, 2.0]
    assert v.assign(np.array([1.5, 2.5])).numpy().tolist() == [1.5, 2.5]
    assert v.assign([3, 4]).numpy().tolist() == [3.0, 4.0]          # Python ints
    assert v.assign(np.array([True, False])).numpy().tolist() == [1.0, 0.0]
    assert v.dtype == np.float32 and v.numpy().dtype == np.float32
    w = tj.Variable(1.0, dtype=tj.float64)
    assert w.assign(np.float32(1.5)).numpy().dtype == np.float64
    assert tj.Variable([1.0]).assign_add(np.array([2])).numpy().tolist() == [3.0]
    assert tj.Variable([1.0]).assign_sub(np.array([0.5])).numpy().tolist() == [0.5]


def test_a_tensor_of_another_dtype_is_refused_with_a_value_error() -> None:
    v = tj.Variable([1.0, 2.0])
    for bad in (tj.constant([1.5, 2.5], tj.float64), tj.Variable([1, 2])):
        with pytest.raises(ValueError, match="cannot be converted to float32"):
            v.assign(bad)
        with pytest.raises(tj.errors.DTypeError):        # also our own class
            v.assign_add(bad)
    with pytest.raises(ValueError, match="Variable of dtype int32 cannot be converted"):
        tj.convert_to_tensor(tj.Variable([1, 2]), dtype=tj.float32)
    with pytest.raises(ValueError, match="tensor of dtype float64"):
        tj.Variable(tj.constant([1.5], tj.float64), dtype=tj.float32)
    assert v.numpy().tolist() == [1.0, 2.0]


def test_lossy_conversions_to_an_int_variable_are_refused() -> None:
    v = tj.Variable([1, 2])
    with pytest.raises(TypeError, match="fractional part"):
        v.assign([1.5, 2.5])
    with pytest.raises(TypeError, match="fractional part"):
        v.assign(np.array([1.5, 2.5]))                  # TensorFlow truncates (README)
    with pytest.raises(TypeError, match="fractional part"):
        v.assign_add([2.5, 0.0])
    with pytest.raises(OverflowError):
        v.assign(np.array([2**40, 0]))
    assert v.assign(np.array([3.0, 4.0])).numpy().tolist() == [3, 4]   # exact: fine
    assert v.numpy().dtype == np.int32


def test_read_value_false_returns_none_and_assigns() -> None:
    v = tj.Variable([1.0, 2.0])
    assert v.assign([3.0, 4.0], read_value=False) is None
    assert v.assign_add([1.0, 1.0], use_locking=True, name="a", read_value=False) is None
    assert v.assign_sub([0.5, 0.5], read_value=False) is None
    assert v.numpy().tolist() == [3.5, 4.5]
    assert v.assign([0.0, 0.0], use_locking=False, name="x") is v


def test_read_value_false_inside_a_compiled_function() -> None:
    v = tj.Variable(1.0)

    @tj.function
    def step(x: tj.Tensor) -> tj.Tensor:
        assert v.assign_add(x, read_value=False) is None
        return v.read_value() * 2

    assert float(step(tj.constant(2.0))) == 6.0
    assert float(step(tj.constant(3.0))) == 12.0
    assert float(v.numpy()) == 6.0


def test_constructor_arguments_of_tensorflow() -> None:
    c = tj.nn.relu
    v = tj.Variable([1.0, -2.0], trainable=None, validate_shape=True, caching_device=None,
                    name="w", dtype=tj.float32, constraint=c,
                    synchronization=tj.VariableSynchronization.ON_READ,
                    aggregation=tj.VariableAggregation.SUM, shape=[2],
                    experimental_enable_variable_lifting=True)
    assert v.trainable and v.name == "w:0" and v.shape == (2,)
    assert v.constraint is c
    assert v.synchronization is tj.VariableSynchronization.ON_READ
    assert v.aggregation is tj.VariableAggregation.SUM
    assert v.assign([-1.0, 3.0]).numpy().tolist() == [-1.0, 3.0]   # assign applies no constraint
    d = tj.Variable(0.0)
    assert d.constraint is None and d.synchronization is tj.VariableSynchronization.AUTO
    assert d.aggregation is tj.VariableAggregation.NONE
    assert tj.Variable([1.0], shape=tj.TensorShape([1])).shape == (1,)
    assert tj.Variable(lambda: tj.zeros([2]), shape=(2,)).shape == (2,)
    # validate_shape=False is accepted; the shape stays fixed (TensorFlow 2.21 too).
    with pytest.raises(ValueError, match="shape"):
        tj.Variable([1.0, 2.0], validate_shape=False).assign([1.0])


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="not compatible with the supplied shape"):
        tj.Variable([1.0, 2.0], shape=[3])
    with pytest.raises(NotImplementedError, match="shape is fixed"):
        tj.Variable([1.0, 2.0], shape=[None])
    with pytest.raises(NotImplementedError, match="shape is fixed"):
        tj.Variable([1.0, 2.0], shape=tj.TensorShape(None))
    with pytest.raises(ValueError, match="constraint must be None or a callable, got int"):
        tj.Variable([1.0], constraint=3)
    with pytest.raises(ValueError, match="initial_value must be specified"):
        tj.Variable()
    with pytest.raises(ValueError, match="no graphs"):
        tj.Variable([1.0], variable_def=object())
    with pytest.raises(ValueError):
        tj.Variable([1.0], synchronization=7)
    with pytest.raises(TypeError, match="fractional part"):
        tj.Variable([1.5], dtype=tj.int32)


def test_variable_scatters() -> None:
    w = tj.Variable([1.0, 2.0, 3.0, 4.0])
    assert w.scatter_nd_update([[0], [2]], [10.0, 30.0]) is w
    assert w.numpy().tolist() == [10.0, 2.0, 30.0, 4.0]
    assert w.scatter_nd_add([[0], [0]], np.array([1.0, 2.0])).numpy().tolist() == \
        [13.0, 2.0, 30.0, 4.0]
    assert w.scatter_nd_sub([[1]], [5]).numpy().tolist() == [13.0, -3.0, 30.0, 4.0]
    m = tj.Variable(np.zeros((2, 3), np.int32))
    m.scatter_nd_update([[1]], [[7, 8, 9]])
    m.scatter_nd_add([[0, 2], [0, 2]], [1, 1])
    assert m.numpy().tolist() == [[0, 0, 2], [7, 8, 9]]
    with pytest.raises(IndexError, match="does not index into shape"):
        w.scatter_nd_update([[9]], [1.0])
    with pytest.raises(ValueError):
        w.scatter_nd_update([[0]], tj.constant([1.0], tj.float64))
    assert w.numpy().tolist() == [13.0, -3.0, 30.0, 4.0]     # a failed update changes nothing
    assert w.scatter_nd_max([[0], [1], [1]], [1.0, 5.0, -7.0]) is w
    assert w.numpy().tolist() == [13.0, 5.0, 30.0, 4.0]
    assert w.scatter_nd_min([[2], [3], [2]], np.array([20.0, 9.0, 25.0])) is w
    assert w.numpy().tolist() == [13.0, 5.0, 20.0, 4.0]
    m.scatter_nd_max([[1, 0], [0, 1]], [3, 4])
    m.scatter_nd_min([[1]], [[9, 0, 9]])
    assert m.numpy().tolist() == [[0, 4, 2], [7, 0, 9]]
    with pytest.raises(IndexError, match="does not index into shape"):
        w.scatter_nd_max([[0], [4]], [99.0, 1.0])
    assert w.numpy().tolist() == [13.0, 5.0, 20.0, 4.0]


def test_variable_scatter_in_a_compiled_function_and_its_gradient_flow() -> None:
    w = tj.Variable([1.0, 2.0, 3.0])

    @tj.function
    def step(u: tj.Tensor) -> tj.Tensor:
        with tj.GradientTape() as tape:
            y = tj.reduce_sum(w * w)
        g = tape.gradient(y, w)
        w.scatter_nd_sub([[0], [2]], u * tj.gather(g, [0, 2]))
        return g

    g = step(tj.constant([0.5, 0.5]))
    assert g.numpy().tolist() == [2.0, 4.0, 6.0]
    assert w.numpy().tolist() == [0.0, 2.0, 0.0]


def test_scatter_updates_from_threads_lose_none() -> None:
    w = tj.Variable(np.zeros(4, np.int64))
    n = 200

    def work() -> None:
        for _ in range(n):
            w.scatter_nd_add([[1], [3]], np.array([1, 2]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.numpy().tolist() == [0, 4 * n, 0, 8 * n]


def test_ref_is_a_hashable_reference_by_identity() -> None:
    x = tj.constant([1.0, 2.0])
    v = tj.Variable([1.0])
    table = {x.ref(): "x", v.ref(): "v"}
    assert table[x.ref()] == "x" and table[v.ref()] == "v"
    assert x.ref() == x.ref() and hash(x.ref()) == hash(x.ref())
    assert x.ref() != tj.constant([1.0, 2.0]).ref()          # equal values, other object
    assert x.ref().deref() is x and v.experimental_ref().deref() is v
    assert x.ref() != x and repr(x.ref()).startswith("<Reference wrapping <tj.Tensor")


def test_get_shape_set_shape_and_device() -> None:
    x = tj.zeros([2, 3])
    assert x.get_shape() == (2, 3) and x.get_shape().as_list() == [2, 3]
    x.set_shape([2, 3])
    x.set_shape([None, 3])
    x.set_shape(tj.TensorShape(None))
    with pytest.raises(ValueError, match=r"shape \(2, 3\) is not compatible with supplied "
                                         r"shape \(2, 4\)"):
        x.set_shape([2, 4])
    with pytest.raises(ValueError, match="not compatible"):
        x.set_shape([6])
    v = tj.Variable([1.0])
    assert v.get_shape() == (1,)
    with pytest.raises(ValueError):
        v.set_shape([3])
    assert x.device == v.device == "/job:localhost/replica:0/task:0/device:CPU:0"


def test_set_shape_inside_a_compiled_function() -> None:
    seen = []

    @tj.function(input_signature=[tj.TensorSpec([None, 3], tj.float32)])
    def f(a: tj.Tensor) -> tj.Tensor:
        a.set_shape([None, 3])
        seen.append(a.get_shape().as_list())
        return a * 2

    assert f(tj.ones([2, 3])).shape == (2, 3)
    assert seen == [[None, 3]]

    @tj.function
    def g(a: tj.Tensor) -> None:
        a.set_shape([4])

    with pytest.raises(ValueError, match="not compatible"):
        g(tj.zeros([3]))
