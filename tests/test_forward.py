"""`tj.autodiff.ForwardAccumulator` and the forward-mode helpers against TensorFlow's
semantics: the expected values and None/zeros below are what TensorFlow 2.21 gives for
the same snippets (run with `import tensorflow as tf`), and TensorFlow's documented
examples run unchanged with `import tracejit as tf`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tracejit as tf
import tracejit as tj


def test_documented_nested_accumulators() -> None:
    """TensorFlow's ForwardAccumulator docstring: higher-order JVPs from outer
    accumulators; an inner one does not see an outer one's JVP computation."""
    primal = tf.constant(1.1)
    with tf.autodiff.ForwardAccumulator(primal, tf.constant(1.)) as outer:
        with tf.autodiff.ForwardAccumulator(primal, tf.constant(1.)) as inner:
            primal_out = primal ** tf.constant(3.5)
    inner_jvp = inner.jvp(primal_out)
    np.testing.assert_allclose(inner_jvp.numpy(), 4.4417057, rtol=1e-6)      # 3.5 * 1.1**2.5
    np.testing.assert_allclose(outer.jvp(inner_jvp).numpy(), 10.094786, rtol=1e-6)
    assert inner.jvp(outer.jvp(primal_out)) is None


def test_documented_forward_over_backward_hessian_vector_product() -> None:
    v = tf.Variable([1., 2.])
    with tf.autodiff.ForwardAccumulator(
            v,
            # The "vector" in Hessian-vector product.
            tf.constant([1., 0.])) as acc:
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(v ** 3.)
        backward = tape.gradient(y, v)
    np.testing.assert_array_equal(backward.numpy(), [3., 12.])
    np.testing.assert_array_equal(acc.jvp(backward).numpy(), [6., 0.])


def test_documented_linear_regression_columns_match_the_gradient() -> None:
    """The docstring's linear regression, with the Dense layer's kernel and bias as
    Variables: forward mode gives the gradient one column at a time."""
    x = tf.constant([[2.0, 3.0], [1.0, 4.0]])
    targets = tf.constant([[1.], [-1.]])
    kernel, bias = tf.Variable([[0.5], [-0.3]]), tf.Variable([0.1])
    loss_fn = lambda: tf.reduce_sum((x @ kernel + bias - targets) ** 2.)  # noqa: E731
    kernel_fprop = []
    with tf.autodiff.ForwardAccumulator(kernel, tf.constant([[1.], [0.]])) as acc:
        kernel_fprop.append(acc.jvp(loss_fn()))
    with tf.autodiff.ForwardAccumulator(kernel, tf.constant([[0.], [1.]])) as acc:
        kernel_fprop.append(acc.jvp(loss_fn()))
    with tf.autodiff.ForwardAccumulator(bias, tf.constant([1.])) as acc:
        bias_fprop = acc.jvp(loss_fn())
    with tf.GradientTape() as tape:
        loss = loss_fn()
    kernel_grad, bias_grad = tape.gradient(loss, (kernel, bias))
    # (tracejit has no tf.newaxis: None indexes a new axis, as in NumPy)
    np.testing.assert_allclose(kernel_grad, tf.stack(kernel_fprop)[:, None], rtol=1e-6)
    np.testing.assert_allclose(bias_grad, bias_fprop[None], rtol=1e-6)


def test_connected_none_and_zeros_as_tensorflow() -> None:
    x = tf.constant(3.0)
    with tf.autodiff.ForwardAccumulator(x, tf.constant(2.0)) as acc:
        y = x * x
        f, s, sg = tf.floor(x), tf.sign(x), tf.stop_gradient(x)
        c = tf.cast(x, tf.int32)
        c2 = tf.cast(c, tf.float32)
        k = tf.constant(5.0) * 2.
        ab, idn = tf.abs(x), tf.identity(x)
        am, eq = tf.argmax(tf.stack([x, x])), tf.equal(x, x)
        wh, mx = tf.where(x > 0, x, 0.), tf.maximum(x, 3.0)
    assert float(acc.jvp(y)) == 12.0
    # TensorFlow gives None through floor, sign (whose gradient is zeros), stop_gradient,
    # a cast to int and back, argmax and comparisons, and for a constant.
    for t in (f, s, sg, c, c2, k, am, eq):
        assert acc.jvp(t) is None
    assert float(acc.jvp(k, unconnected_gradients="zero")) == 0.0
    zero_int = acc.jvp(c, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    assert zero_int.dtype == np.int32 and int(zero_int) == 0
    for t in (ab, idn, wh, mx):     # maximum's tie goes to the first operand
        assert float(acc.jvp(t)) == 2.0
    assert float(acc.jvp(x)) == 2.0
    assert acc.jvp(x * 5.) is None                  # outside the block
    nested = acc.jvp({"a": y, "b": [k, x]})
    assert float(nested["a"]) == 12.0 and nested["b"][0] is None


def test_variables_as_primals() -> None:
    v = tf.Variable(2.0)
    with tf.autodiff.ForwardAccumulator(v, tf.constant(1.5)) as acc:
        y = v * v
        r = v.read_value()
    assert float(acc.jvp(y)) == 6.0 and float(acc.jvp(v)) == 1.5 and float(acc.jvp(r)) == 1.5
    w = tf.Variable(3.0)
    acc2 = tf.autodiff.ForwardAccumulator(w, tf.constant(1.0))
    y0 = w * 2.
    with acc2:
        y1 = w * 2.
    assert acc2.jvp(y0) is None and float(acc2.jvp(y1)) == 2.0
    u = tf.Variable(1.0)
    with tf.autodiff.ForwardAccumulator(u, tf.constant(1.0)) as acc3:
        u.assign(5.0)
        y3 = u * 2.
    assert float(acc3.jvp(y3)) == 2.0           # the tangent outlives the assign


def test_accumulators_and_tapes_in_any_nesting() -> None:
    x = tf.constant([1., 2.])
    with tf.GradientTape() as tape:             # reverse over forward
        tape.watch(x)
        with tf.autodiff.ForwardAccumulator(x, tf.constant([1., 0.])) as acc:
            loss = tf.reduce_sum(x ** 3)
        j = acc.jvp(loss)
    np.testing.assert_array_equal(tape.gradient(j, x).numpy(), [6., 0.])
    x = tf.constant(2.)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        with tf.autodiff.ForwardAccumulator(x, tf.constant(1.)) as acc:
            y = x ** 3
    assert float(tape.gradient(y, x)) == 12.0 and float(tape.gradient(acc.jvp(y), x)) == 12.0
    t = tf.constant(1.)
    with tf.GradientTape() as tape:             # the gradient with respect to the tangent
        tape.watch(t)
        with tf.autodiff.ForwardAccumulator(x, t) as acc:
            y = x ** 3
        j = acc.jvp(y)
    assert float(tape.gradient(j, t)) == 12.0


def test_custom_gradient_as_tensorflow() -> None:
    """Eagerly, a result keeps the tangent of what computed it, else the custom gradient
    transposed; a compiled function honours the custom gradient (its compiled JVP)."""
    @tf.custom_gradient
    def f(x):
        return x * x, lambda dy: dy * 10.

    @tf.custom_gradient
    def straight_through(x):
        return tf.round(x), lambda dy: dy

    @tf.custom_gradient
    def g2(x, y):
        return x * y, lambda dy: (dy * y, None)

    x = tf.constant(3.)
    with tf.autodiff.ForwardAccumulator(x, tf.constant(2.)) as acc:
        y, r = f(x), straight_through(x)
    assert float(acc.jvp(y)) == 12.0 and float(acc.jvp(r)) == 2.0
    a, b = tf.constant(3.), tf.constant(4.)
    with tf.autodiff.ForwardAccumulator([a, b], [tf.constant(1.), tf.constant(1.)]) as acc:
        z = g2(a, b)
    assert float(acc.jvp(z)) == 7.0
    h = tf.function(lambda x: f(x))
    with tf.autodiff.ForwardAccumulator(x, tf.constant(2.)) as acc:
        y = h(x)
    assert float(acc.jvp(y)) == 20.0

    @tf.function
    def inside(x):
        with tf.autodiff.ForwardAccumulator(x, tf.constant(2.)) as acc:
            y = f(x)
        return acc.jvp(y)
    assert float(inside(x)) == 12.0


def test_compiled_function_under_an_accumulator_uses_its_compiled_jvp() -> None:
    @tj.function
    def h(x, w):
        return tj.reduce_sum(tj.sin(x) * w) * x

    x, w = tj.constant([0.5, 1.0, 2.0]), tj.Variable([1., -2., 3.])
    _ = h(x, w)
    traces = h.trace_count
    with tj.autodiff.ForwardAccumulator(x, tj.constant([1., 0., 1.])) as acc:
        y = h(x, w)
    xv, wv, tv = x.numpy(), w.numpy(), np.array([1., 0., 1.], np.float32)
    want = np.sum(np.cos(xv) * tv * wv) * xv + np.sum(np.sin(xv) * wv) * tv
    np.testing.assert_allclose(acc.jvp(y).numpy(), want, rtol=1e-6)
    assert h.trace_count == traces                   # no retrace: the callee's JVP
    with tj.autodiff.ForwardAccumulator(w, tj.constant([1., 1., 1.])) as acc:
        y = h(x, w)                                  # a captured Variable as the primal
    np.testing.assert_allclose(acc.jvp(y).numpy(), np.sum(np.sin(xv)) * xv, rtol=1e-6)


def test_accumulator_inside_compiled_code_matches_eager() -> None:
    def f(x):
        with tj.autodiff.ForwardAccumulator(x, tj.ones_like(x)) as acc:
            with tj.GradientTape() as tape:
                tape.watch(x)
                y = tj.reduce_sum(tj.exp(x) * x)
            g = tape.gradient(y, x)
        return acc.jvp(y), acc.jvp(g)
    x = tj.constant([0.1, -0.4, 1.2], tj.float64)
    eager = f(x)
    compiled = tj.function(f)(x)
    xv = x.numpy()
    np.testing.assert_allclose(eager[0].numpy(), np.sum(np.exp(xv) * (xv + 1)), rtol=1e-12)
    np.testing.assert_allclose(eager[1].numpy(), np.exp(xv) * (xv + 2), rtol=1e-12)
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=1e-12)


def test_helpers_jvp_and_hvp() -> None:
    y, dy = tj.autodiff.jvp(lambda x, w: tj.reduce_sum(x * w), (tj.constant([1., 2.]),
                            tj.constant([3., 4.])), (tj.constant([1., 0.]),
                                                     tj.constant([0., 1.])))
    assert float(y) == 11.0 and float(dy) == 5.0
    f = lambda x: tj.reduce_sum(x ** 3.)       # noqa: E731
    np.testing.assert_array_equal(
        tj.autodiff.hvp(f, tj.constant([1., 2.]), tj.constant([1., 1.])).numpy(), [6., 12.])
    hv = tj.function(lambda x, v: tj.autodiff.hvp(f, x, v))(tj.constant([1., 2.]),
                                                           tj.constant([0., 1.]))
    np.testing.assert_array_equal(hv.numpy(), [0., 12.])


def test_bad_primals_and_tangents_say_what_is_wrong() -> None:
    x = tf.constant(3.)
    with pytest.raises(ValueError, match=r"tangent of shape \(2,\) for a primal of shape \(\)"):
        tf.autodiff.ForwardAccumulator(x, tf.constant([1., 2.]))
    with pytest.raises(TypeError, match="dtype float64 for a primal of dtype float32"):
        tf.autodiff.ForwardAccumulator(x, tf.constant(1., tf.float64))
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        tf.autodiff.ForwardAccumulator([x, x], [tf.constant(1.)])
    with pytest.raises(ValueError, match="more than once"):
        tf.autodiff.ForwardAccumulator([x, x], [tf.constant(1.), tf.constant(2.)])
    acc = tf.autodiff.ForwardAccumulator(tf.constant(1), tf.constant(1))
    with acc:                                     # an integer primal has no tangent
        y = x * 2
    assert acc.jvp(y) is None
    with tf.autodiff.ForwardAccumulator(x, 1.0) as acc:   # a Python number tangent
        y = x * 2
    assert float(acc.jvp(y)) == 2.0


def _f_many(x):
    w = tj.reshape(tj.range(0., 12., dtype=x.dtype), (4, 3))
    return {"y": tj.tanh(w @ tj.reshape(x, (3, 1))) * tj.reduce_sum(x * x),
            "c": tj.ones((2,), x.dtype), "i": tj.argmax(x)}


def test_jacfwd_matches_the_tape_jacobian_eagerly_and_compiled() -> None:
    x = tj.constant([0.3, -1.2, 0.7], tj.float64)
    with tj.GradientTape() as tape:
        tape.watch(x)
        y = _f_many(x)["y"]
    want = tape.jacobian(y, x).numpy()
    for jac in (tj.autodiff.jacfwd(_f_many)(x),
                tj.function(lambda x: tj.autodiff.jacfwd(_f_many)(x))(x)):
        assert jac["y"].shape == (4, 1, 3)
        np.testing.assert_allclose(jac["y"].numpy(), want, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(jac["c"].numpy(), np.zeros((2, 3)))   # unconnected
        assert jac["i"] is None                                              # an integer


def test_jacfwd_of_several_arguments_and_of_an_empty_one() -> None:
    h = lambda a, b: a * b + tj.reduce_sum(b)     # noqa: E731
    ja, jb = tj.autodiff.jacfwd(h, argnums=(0, 1))(tj.constant([1., 2.]), tj.constant([3., 4.]))
    np.testing.assert_array_equal(ja.numpy(), [[3., 0.], [0., 4.]])
    np.testing.assert_array_equal(jb.numpy(), [[2., 1.], [1., 3.]])
    empty = tj.autodiff.jacfwd(lambda x: tj.reduce_sum(x) + 1.)(tj.zeros((0,)))
    assert empty.shape == (0,)
    with pytest.raises(TypeError, match="float argument"):
        tj.autodiff.jacfwd(lambda i: i * 2)(tj.constant([1, 2]))


def test_gradient_of_a_jacfwd_under_a_tape() -> None:
    """The batched tangent program is replayed through bind, so a tape records it."""
    x = tj.constant([0.5, -0.25], tj.float64)
    f = lambda x: tj.sin(x) * x[0]                # noqa: E731
    with tj.GradientTape() as tape:
        tape.watch(x)
        s = tj.reduce_sum(tj.autodiff.jacfwd(f)(x))
    g = tape.gradient(s, x).numpy()
    # sum of J = sum_i cos(x_i) x0 + sum_i sin(x_i) (column 0): d/dx
    x0, x1 = 0.5, -0.25
    want = [-np.sin(x0) * x0 + np.cos(x0) + np.cos(x0) + np.cos(x1), -np.sin(x1) * x0 + np.cos(x1)]
    np.testing.assert_allclose(g, want, rtol=1e-12)


def test_newton_example_converges_with_forward_over_reverse() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import newton
    x = newton.newton_cg(np.zeros(4), verbose=False, hvp=newton.hvp_forward)
    np.testing.assert_allclose(x, np.ones(4), atol=1e-8)
    v = np.array([0.5, -1.0, 2.0, 0.25])
    xs = np.array([0.3, 0.8, 1.1, -0.4])
    np.testing.assert_allclose(newton.hvp_forward(xs, v).numpy(), newton.hvp(xs, v).numpy(),
                               rtol=1e-12)


def test_nestings_inside_compiled_code_match_eager() -> None:
    """Inside tj.function: a tape around an accumulator (reverse over forward) and two
    accumulators (forward over forward) give the eager values, which are the closed forms
    of d/dx [3 x^2 t] = 6 x t and d2/dx2 of x^3.5."""
    def rev_fwd(x, t):
        with tj.GradientTape() as tape:
            tape.watch(x)
            with tj.autodiff.ForwardAccumulator(x, t) as acc:
                y = tj.reduce_sum(x ** 3.)
            j = acc.jvp(y)
        return tape.gradient(j, x)

    def fwd_fwd(x):
        with tj.autodiff.ForwardAccumulator(x, tj.ones_like(x)) as outer:
            with tj.autodiff.ForwardAccumulator(x, tj.ones_like(x)) as inner:
                y = x ** 3.5
            d1 = inner.jvp(y)
        return d1, outer.jvp(d1)

    x = tj.constant([1.1, 0.5], tj.float64)
    t = tj.constant([1., -2.], tj.float64)
    xv, tv = x.numpy(), t.numpy()
    for f in (rev_fwd, tj.function(rev_fwd)):
        np.testing.assert_allclose(f(x, t).numpy(), 6 * xv * tv, rtol=1e-12)
    for f in (fwd_fwd, tj.function(fwd_fwd)):
        d1, d2 = f(x)
        np.testing.assert_allclose(d1.numpy(), 3.5 * xv ** 2.5, rtol=1e-12)
        np.testing.assert_allclose(d2.numpy(), 3.5 * 2.5 * xv ** 1.5, rtol=1e-12)
