"""tj.Module against TensorFlow 2.21's tf.Module (names, scopes and the order in which
variables and submodules are collected, checked by running the same code with
`import tensorflow as tf`), and the Keras-style example."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

import tracejit as tj


class Leaf(tj.Module):
    def __init__(self, name=None):
        super().__init__(name=name)
        with self.name_scope:
            self.w = tj.Variable(1.0, name="w")
            self.c = tj.Variable(2.0, trainable=False, name="c")


class MyModel(tj.Module):
    def __init__(self):
        super().__init__()
        self.z_layer = Leaf("z")
        self.layers = [Leaf("l0"), Leaf("l1")]
        self.d = {"b": Leaf("db"), "a": Leaf("da")}
        self.t = (tj.Variable(3.0, name="tv"),)
        self.a_var = tj.Variable(4.0, name="av")
        self.shared = self.z_layer


def test_collection_order_and_names() -> None:
    m = MyModel()
    assert m.name == "my_model" and m.name_scope.name == "my_model/"
    assert [v.name for v in m.variables] == [
        "av:0", "tv:0", "da/c:0", "da/w:0", "db/c:0", "db/w:0", "l0/c:0", "l0/w:0",
        "l1/c:0", "l1/w:0", "z/c:0", "z/w:0"]
    assert [v.name for v in m.trainable_variables] == [
        "av:0", "tv:0", "da/w:0", "db/w:0", "l0/w:0", "l1/w:0", "z/w:0"]
    assert [v.name for v in m.non_trainable_variables] == [
        "da/c:0", "db/c:0", "l0/c:0", "l1/c:0", "z/c:0"]
    assert [s.name for s in m.submodules] == ["da", "db", "l0", "l1", "z"]
    assert type(m.variables) is tuple and type(m.submodules) is tuple


def test_names_and_scopes() -> None:
    class CamelCaseModel(tj.Module):
        pass
    assert CamelCaseModel().name == "camel_case_model"
    for bad in ("1abc", "a b"):
        with pytest.raises(ValueError, match=f"'{bad}' is not a valid module name. Module "
                                             "names must be valid Python identifiers"):
            tj.Module(name=bad)

    class Scoped(tj.Module):
        @tj.Module.with_name_scope
        def __call__(self, x):
            self.v = tj.Variable(x, name="v")
            return self.v
    s = Scoped(name="sc")
    s(1.0)
    assert s.v.name == "sc/v:0"
    with tj.name_scope("outer"):
        v = tj.Variable(1.0, name="x")
        inner = Leaf("inner")
    assert v.name == "outer/x:0" and inner.w.name == "outer/inner/w:0"
    assert inner.name_scope.name == "outer/inner/"


def test_cycles_and_gradients_through_trainable_variables() -> None:
    class Cyc(tj.Module):
        def __init__(self):
            super().__init__()
            self.me = self
            self.v = tj.Variable(3.)
            self.sub = Leaf("s")
    m = Cyc()
    assert len(m.variables) == 3 and len(m.submodules) == 1
    with tj.GradientTape() as tape:
        loss = m.v * m.v * m.sub.w
    g = tape.gradient(loss, m.trainable_variables)
    assert [float(x) for x in g] == [6., 9.]     # d/dv first (its own), then d/dw of `sub`
    assert m.trainable_variables[1].name == "s/w:0"


def _example():
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "keras_style.py")
    spec = importlib.util.spec_from_file_location("keras_style", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_keras_style_example_builds_lazily_and_trains() -> None:
    ex = _example()
    losses, model, step = ex.train(epochs=6, verbose=False)
    assert losses[-1] < 0.5 * losses[0]
    assert [(v.name, tuple(v.shape)) for v in model.trainable_variables] == [
        ("hidden/b:0", (16,)), ("hidden/w:0", (8, 16)), ("out/b:0", (1,)),
        ("out/w:0", (16, 1))]
    # Traced twice on the first call (it created the weights), and never again: the
    # smaller last batch fits the signature's None batch dimension.
    assert step.experimental_get_tracing_count() == 2
    with pytest.raises(TypeError, match=r"argument `x`: Can not cast TensorSpec\(shape=\(4, 5\)"):
        step(np.ones([4, 5], np.float32), np.ones([4, 1], np.float32))


def test_gradient_through_a_compiled_call_of_a_module() -> None:
    class Affine(tj.Module):
        def __init__(self):
            super().__init__()
            self.w = tj.Variable([[1.0, -2.0], [0.5, 3.0]], name="w")
            self.b = tj.Variable([0.25, -0.5], name="b")

        @tj.function
        def __call__(self, x):
            return tj.tanh(tj.matmul(x, self.w) + self.b)

    m = Affine()
    x = tj.constant([[0.3, -0.7], [1.1, 0.2], [-0.4, 0.9]])
    with tj.GradientTape() as tape:
        loss = tj.reduce_sum(tj.square(m(x)))
    grads = tape.gradient(loss, m.trainable_variables)
    with tj.GradientTape() as tape:          # the same function run eagerly
        loss_e = tj.reduce_sum(tj.square(m.__call__.python_function(m, x)))
    expected = tape.gradient(loss_e, m.trainable_variables)
    assert [v.name for v in m.trainable_variables] == ["b:0", "w:0"]
    np.testing.assert_allclose(float(loss), float(loss_e), rtol=1e-6)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)
