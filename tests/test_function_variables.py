"""Variables created inside a compiled function on its first call only, with
TensorFlow 2.21's semantics and messages (checked by running the same code with
`import tensorflow as tf`)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracejit as tj

SINGLETON = "tf.function only supports singleton tf.Variables created on the first call"
NON_FIRST = "Creating variables on a non-first call to a function decorated with tf.function."


class Dense:
    def __init__(self, units):
        self.units = units
        self.w = None

    @tj.function
    def __call__(self, x):
        if self.w is None:
            self.w = tj.Variable(tj.random.normal([x.shape[-1], self.units]), name="w")
            self.b = tj.Variable(tj.zeros([self.units]), name="b")
        return tj.matmul(x, self.w) + self.b


def test_lazily_built_layer() -> None:
    d = Dense(4)
    assert d(tj.ones([2, 3])).shape == (2, 4)
    w = d.w
    assert isinstance(w, tj.Variable) and w.shape == (3, 4) and d.b.shape == (4,)
    assert d(tj.ones([5, 3])).shape == (5, 4)
    assert d.w is w                                      # created once
    assert d.__call__.experimental_get_tracing_count() == 3   # 2 on the first call, as TF
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(d(x).numpy(), x @ w.numpy() + d.b.numpy(), rtol=1e-6)
    d.b.assign([1., 2., 3., 4.])                         # read by reference afterwards
    np.testing.assert_allclose(d(x).numpy(), x @ w.numpy() + [1., 2., 3., 4.], rtol=1e-6)
    assert d.__call__._function._created_variables == [d.w, d.b]   # kept by the function
    d2 = Dense(4)
    d2(tj.ones([1, 3]))                                  # another instance: its own first call
    assert not np.allclose(d2.w.numpy(), w.numpy())


def test_creating_on_every_trace_is_refused() -> None:
    @tj.function
    def bad(x):
        v = tj.Variable(1.0)
        return x + v
    with pytest.raises(ValueError, match=SINGLETON):
        bad(tj.ones(2))


def test_creating_on_a_later_trace_is_refused() -> None:
    @tj.function
    def sometimes(x, make):
        if make:
            return x + tj.Variable(1.0)
        return x
    sometimes(tj.ones(2), False)
    with pytest.raises(ValueError, match=NON_FIRST):
        sometimes(tj.ones(2), True)


def test_a_second_unbuilt_layer_is_refused_not_waited_for() -> None:
    # The first call's Variables change its key; the call key it was traced for must
    # not stay pending (a later call with that key waited on it forever).
    import threading

    class Lazy(tj.Module):
        def __init__(self):
            super().__init__()
            self.w = None

        def __call__(self, x):
            if self.w is None:
                self.w = tj.Variable(tj.ones([x.shape[-1], 2]))
            return tj.matmul(x, self.w)

    f = tj.function(lambda m, x: m(x))
    x = tj.ones([3, 4])
    assert float(tj.reduce_sum(f(Lazy(), x))) == 24.0
    assert not f._pending
    errors: list[BaseException] = []

    def second() -> None:
        try:
            f(Lazy(), x)
        except ValueError as e:
            errors.append(e)
    t = threading.Thread(target=second, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the second call hangs"
    assert len(errors) == 1 and NON_FIRST in str(errors[0])


def test_threads_making_the_first_call_together() -> None:
    import threading
    d = Dense(2)
    x = tj.ones([3, 4])
    out: list[tj.Tensor] = []
    ts = [threading.Thread(target=lambda: out.append(d(x)), daemon=True) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not any(t.is_alive() for t in ts), "a first call hangs"
    assert len(out) == 2
    np.testing.assert_allclose(out[0].numpy(), out[1].numpy())
    np.testing.assert_allclose(out[0].numpy(), x.numpy() @ d.w.numpy() + d.b.numpy(),
                               rtol=1e-6)


def test_initial_value_from_the_arguments() -> None:
    vs = []

    @tj.function
    def once(x):
        if not vs:
            vs.append(tj.Variable(x * 2.0))
        return vs[0] + x
    np.testing.assert_array_equal(once(tj.ones(2)).numpy(), [3., 3.])
    np.testing.assert_array_equal(once(tj.ones(2) * 5.).numpy(), [7., 7.])
    np.testing.assert_array_equal(vs[0].numpy(), [2., 2.])

    cs = []

    @tj.function
    def lazy_callable(x):
        if not cs:
            cs.append(tj.Variable(lambda: tj.ones([x.shape[0]])))
        return cs[0] + x
    np.testing.assert_array_equal(lazy_callable(tj.ones(2)).numpy(), [2., 2.])


def test_assignments_and_gradients_after_creation() -> None:
    vs = []

    @tj.function
    def step(x):
        if not vs:
            vs.append(tj.Variable(tj.zeros([2])))
        vs[0].assign_add(x)
        return vs[0].read_value()
    np.testing.assert_array_equal(step(tj.ones(2)).numpy(), [1., 1.])   # assigned once
    np.testing.assert_array_equal(step(tj.ones(2)).numpy(), [2., 2.])

    gs = []

    @tj.function
    def grad(x):
        if not gs:
            gs.append(tj.Variable(tj.ones([2])))
        with tj.GradientTape() as t:
            y = tj.reduce_sum(gs[0] * x)
        return t.gradient(y, gs[0])
    np.testing.assert_array_equal(grad(tj.constant([3., 4.])).numpy(), [3., 4.])


def test_random_initializers_advance_the_generator() -> None:
    tj.random.set_seed(3)
    expected = tj.random.normal([3]).numpy()
    after = tj.random.normal([3]).numpy()
    tj.random.set_seed(3)
    vs = []

    @tj.function
    def f(x):
        if not vs:
            vs.append(tj.Variable(tj.random.normal([3])))
        return vs[0] + x
    f(tj.zeros(3))
    np.testing.assert_array_equal(vs[0].numpy(), expected)      # as an eager call draws
    np.testing.assert_array_equal(tj.random.normal([3]).numpy(), after)


def test_names_under_a_module_scope() -> None:
    class Layer(tj.Module):
        @tj.function
        def __call__(self, x):
            if not hasattr(self, "v"):
                with self.name_scope:
                    self.v = tj.Variable(tj.ones([x.shape[-1]]), name="v")
            return x * self.v
    layer = Layer(name="lay")
    layer(tj.ones([2, 3]))
    assert layer.v.name == "lay/v:0" and layer.variables == (layer.v,)


def test_first_calls_of_two_signatures_in_two_threads_create_once() -> None:
    import threading
    import time

    class Lazy(tj.Module):
        def __init__(self):
            super().__init__()
            self.w = None
            self.made = 0

        @tj.function
        def __call__(self, x):
            if self.w is None:
                time.sleep(0.05)            # both threads' traces get here unserialized
                self.made += 1
                self.w = tj.Variable(tj.ones([x.shape[-1], 2]))
            return tj.matmul(x, self.w)

    for _ in range(3):
        m = Lazy()
        out: dict[int, Any] = {}
        errors: list[BaseException] = []

        def call(rows: int, m: Lazy = m, out: dict[int, Any] = out,
                 errors: list[BaseException] = errors) -> None:
            try:
                out[rows] = m(tj.ones([rows, 4])).numpy()
            except BaseException as e:      # noqa: BLE001  (reported below)
                errors.append(e)
        ts = [threading.Thread(target=call, args=(r,), daemon=True) for r in (3, 5)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert not errors and sorted(out) == [3, 5]
        assert m.made == 1 and len(m.__call__._function._created_variables) == 1
        for rows, y in out.items():
            np.testing.assert_allclose(y, np.full((rows, 2), 4.0))
