"""The whole `GradientTape` API of DESIGN.md, `custom_gradient`, `stop_gradient` and
Variables as tapes see them; values are exact or checked against analytic derivatives and
finite differences."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import tracejit as tj
import tracejit.tape


def val(t: Any) -> np.ndarray:
    assert isinstance(t, tj.Tensor), t
    return t.numpy()


def fd_jacobian(f: Any, a: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference Jacobian of f: R^a.shape -> R^out.shape, in float64."""
    out = np.asarray(f(a))
    jac = np.zeros(out.shape + a.shape)
    for j in np.ndindex(*a.shape):
        ap, am = a.copy(), a.copy()
        ap[j] += h
        am[j] -= h
        jac[(...,) + j] = (np.asarray(f(ap)) - np.asarray(f(am))) / (2 * h)
    return jac


@pytest.fixture
def fresh_unwatched_warning() -> Any:
    """Python's default warning filter (once per call site), with fresh registries."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        yield


# ---------------------------------------------------------------------------- watch


def test_watch_a_tensor_a_list_and_a_variable() -> None:
    x, y = tj.constant(2.0), tj.constant(3.0)
    v = tj.Variable(4.0)
    with tj.GradientTape(watch_accessed_variables=False) as t:
        t.watch([x, [y]])
        t.watch(v)
        z = x * y * v
    gx, gy, gv = t.gradient(z, [x, y, v])
    assert (val(gx), val(gy), val(gv)) == (12.0, 8.0, 6.0)
    assert t.watched_variables() == (v,)


def test_unwatched_constant_gives_none() -> None:
    x = tj.constant(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tj.GradientTape() as t:
            y = x * x
        assert t.gradient(y, x) is None


def test_unwatched_source_warns_once_per_call_site(fresh_unwatched_warning: Any) -> None:
    """TensorFlow returns None for an unwatched source (silently; it logs only for integer
    sources). tracejit also warns, through `warnings` at the user's line, so the default
    filter shows it once per call site: the same line again is quiet, and a second mistake
    at another line is reported (it was once per process)."""
    x = tj.ones((2,))

    def forgot() -> Any:
        with tj.GradientTape() as t:
            y = x * x
        return t, y

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("default")
        for _ in range(3):
            t, y = forgot()
            assert t.gradient(y, x) is None                       # one call site
        t, y = forgot()
        assert t.gradient(y, x) is None                           # another call site
    assert len(rec) == 2, [str(r.message) for r in rec]
    assert all(r.filename == __file__ for r in rec)               # points at the user's call
    assert rec[0].lineno != rec[1].lineno
    msg = str(rec[0].message)
    assert "watch" in msg and "Variable" in msg and "None" in msg


def test_trainable_variables_are_watched_and_untrainable_ones_are_not() -> None:
    v = tj.Variable(2.0)
    w = tj.Variable(3.0, trainable=False)
    with tj.GradientTape() as t:
        y = v * w
    gv, gw = t.gradient(y, [v, w])
    assert val(gv) == 3.0 and gw is None
    assert t.watched_variables() == (v,)
    assert not w.trainable and v.trainable


def test_untrainable_variable_can_be_watched_explicitly() -> None:
    w = tj.Variable(3.0, trainable=False)
    with tj.GradientTape() as t:
        t.watch(w)
        y = w * w
    assert val(t.gradient(y, w)) == 6.0


def test_watch_accessed_variables_false() -> None:
    v, u = tj.Variable(2.0), tj.Variable(5.0)
    with tj.GradientTape(watch_accessed_variables=False) as t:
        t.watch(u)
        y = v * v + u * v
    gv, gu = t.gradient(y, [v, u])
    assert gv is None and val(gu) == 2.0
    assert t.watched_variables() == (u,)


@pytest.mark.parametrize("bad", [3.0, [tj.constant(1.0), 2.0], "s", None, np.ones(2)])
def test_watch_of_a_non_tensor_raises_value_error(bad: Any) -> None:
    """TensorFlow: `ValueError: Passed in object 3.0 of type 'float', not tf.Tensor or
    tf.Variable` (NumPy arrays included); integer tensors may be watched."""
    with tj.GradientTape() as t:
        with pytest.raises(ValueError, match=r"watch: .* of type \w+ is not a tensor"):
            t.watch(bad)
        t.watch(tj.constant(1))


# ---------------------------------------------------------------------------- gradient


def test_nested_sources_return_the_same_structure() -> None:
    x, y = tj.constant([1.0, 2.0]), tj.constant(3.0)
    v = tj.Variable([[1.0], [2.0]])
    with tj.GradientTape() as t:
        t.watch([x, y])
        z = tj.reduce_sum(x * y) + tj.reduce_sum(v * x)
    g = t.gradient(z, {"a": [x, (y, v)], "b": (x,), "c": {"d": y}})
    assert isinstance(g, dict) and list(g) == ["a", "b", "c"]
    assert isinstance(g["a"], list) and isinstance(g["a"][1], tuple)
    assert isinstance(g["b"], tuple) and isinstance(g["c"], dict)
    np.testing.assert_array_equal(val(g["a"][0]), [3.0 + 3.0, 3.0 + 3.0])
    assert val(g["a"][1][0]) == 3.0
    np.testing.assert_array_equal(val(g["a"][1][1]), [[3.0], [3.0]])
    np.testing.assert_array_equal(val(g["b"][0]), val(g["a"][0]))
    assert val(g["c"]["d"]) == 3.0
    with tj.GradientTape() as t:
        t.watch(x)
        z = x * x
    g = t.gradient(z, (x,))
    assert isinstance(g, tuple) and len(g) == 1


def test_intermediate_values_as_sources() -> None:
    x = tj.constant([1.0, 2.0])
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
        s = tj.reduce_sum(y)
        z = s * s + tj.reduce_sum(y)
    assert val(t.gradient(z, s)) == 2 * 5.0
    np.testing.assert_array_equal(val(t.gradient(z, y)), [11.0, 11.0])
    _, gx = t.gradient(z, [y, x])
    np.testing.assert_array_equal(val(gx), 11.0 * 2 * np.array([1.0, 2.0]))


def test_output_gradients_weight_the_target() -> None:
    x = tj.constant([1.0, 2.0, 3.0])
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
        z = tj.reduce_sum(x)
    g = t.gradient(y, x, output_gradients=tj.constant([1.0, 0.0, -2.0]))
    np.testing.assert_array_equal(val(g), [2.0, 0.0, -12.0])
    g = t.gradient([y, z], x, output_gradients=[tj.constant([1.0, 1.0, 0.0]),
                                               tj.constant(10.0)])
    np.testing.assert_array_equal(val(g), [12.0, 14.0, 10.0])
    with pytest.raises(ValueError, match="shape"):
        t.gradient(y, x, output_gradients=tj.constant([1.0, 2.0]))


@pytest.mark.parametrize("mode", ["none", "zero", tj.UnconnectedGradients.ZERO,
                                  tj.UnconnectedGradients.NONE])
def test_unconnected_gradients(mode: Any) -> None:
    x, u = tj.constant([1.0, 2.0]), tj.constant([[3.0]], tj.float64)
    with tj.GradientTape() as t:
        t.watch([x, u])
        y = x * 2.0
        _ = u * u
    gx, gu = t.gradient(y, [x, u], unconnected_gradients=mode)
    np.testing.assert_array_equal(val(gx), [2.0, 2.0])
    if mode == "zero":
        assert gu.shape == (1, 1) and gu.dtype == np.float64 and val(gu) == 0.0
    else:
        assert gu is None


def test_bad_unconnected_gradients_value() -> None:
    x = tj.constant(1.0)
    with tj.GradientTape() as t:
        t.watch(x)
        y = x * 2.0
    with pytest.raises(ValueError, match="unconnected_gradients"):
        t.gradient(y, x, unconnected_gradients="zeros!")


def test_int_source_gives_none_with_a_warning() -> None:
    i = tj.constant([1, 2])
    x = tj.constant(2.0)
    with tj.GradientTape() as t:
        t.watch([i, x])
        y = tj.cast(i, tj.float32) * x
    with pytest.warns(UserWarning, match="int32") as rec:
        gi, gx = t.gradient(y, [i, x])
    assert gi is None and val(gx) == 3.0
    assert "None" in str(rec[0].message)
    assert rec[0].filename == __file__


def test_non_scalar_target_differentiates_its_sum() -> None:
    x = tj.constant([[1.0, 2.0], [3.0, 4.0]])
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = tj.matmul(x, x)
        s = tj.reduce_sum(y)
    np.testing.assert_array_equal(val(t.gradient(y, x)), val(t.gradient(s, x)))
    a = x.numpy().astype(np.float64)
    want = fd_jacobian(lambda m: np.sum(m @ m), a)
    np.testing.assert_allclose(val(t.gradient(y, x)), want, rtol=1e-5)


def test_list_of_targets_sums_their_gradients() -> None:
    x = tj.constant(3.0)
    with tj.GradientTape() as t:
        t.watch(x)
        a, b = x * x, tj.sin(x)
    g = t.gradient([a, {"b": b}], x)
    np.testing.assert_allclose(val(g), 6.0 + np.cos(3.0), rtol=1e-6)


def test_second_gradient_on_a_non_persistent_tape_raises() -> None:
    x = tj.constant(3.0)
    with tj.GradientTape() as t:
        t.watch(x)
        y = x * x
    assert val(t.gradient(y, x)) == 6.0
    with pytest.raises(RuntimeError, match="persistent"):
        t.gradient(y, x)
    with pytest.raises(RuntimeError, match="persistent"):
        t.jacobian(y, x)


def test_persistent_tape_gives_many_gradients() -> None:
    x = tj.constant(3.0)
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
        z = y * y
    assert val(t.gradient(z, x)) == 108.0
    assert val(t.gradient(y, x)) == 6.0
    assert val(t.gradient(z, x)) == 108.0
    np.testing.assert_array_equal(val(t.jacobian(y, x)), 6.0)


# ---------------------------------------------------------------------------- jacobians


def test_jacobian_values_and_shapes() -> None:
    a = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
    x = tj.constant(a)
    w = tj.constant(np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]]))
    with tj.GradientTape(persistent=True) as t:
        t.watch([x, w])
        y = tj.tanh(tj.matmul(x, w))  # (2, 2)
    jx = t.jacobian(y, x)
    assert jx.shape == (2, 2, 2, 3) and jx.dtype == np.float64
    want = fd_jacobian(lambda m: np.tanh(m @ w.numpy()), a)
    np.testing.assert_allclose(val(jx), want, rtol=1e-5, atol=1e-9)
    jl = t.jacobian(y, [x, {"w": w}])
    assert isinstance(jl, list) and isinstance(jl[1], dict)
    assert jl[1]["w"].shape == (2, 2, 3, 2)
    want_w = fd_jacobian(lambda m: np.tanh(a @ m), w.numpy())
    np.testing.assert_allclose(val(jl[1]["w"]), want_w, rtol=1e-5, atol=1e-9)


def test_jacobian_of_a_scalar_and_of_unconnected_sources() -> None:
    x = tj.constant([1.0, 2.0, 3.0])
    u = tj.constant([5.0, 6.0])
    with tj.GradientTape(persistent=True) as t:
        t.watch([x, u])
        s = tj.reduce_prod(x)
    j = t.jacobian(s, x)
    assert j.shape == (3,)
    np.testing.assert_array_equal(val(j), [6.0, 3.0, 2.0])
    assert t.jacobian(s, u) is None
    z = t.jacobian(s, u, unconnected_gradients="zero")
    assert z.shape == (2,) and np.all(val(z) == 0)
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
    j = t.jacobian(y, x)
    np.testing.assert_array_equal(val(j), np.diag([2.0, 4.0, 6.0]))


def test_batch_jacobian_values_and_shapes() -> None:
    a = np.random.default_rng(0).uniform(-1, 1, (4, 3))
    x = tj.constant(a)
    w = np.random.default_rng(1).uniform(-1, 1, (3, 2))
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = tj.sin(tj.matmul(x, w)) * tj.reduce_sum(x * x, axis=1, keepdims=True)  # (4, 2)
    bj = t.batch_jacobian(y, x)
    assert bj.shape == (4, 2, 3)
    full = val(t.jacobian(y, x))  # (4, 2, 4, 3)
    for b in range(4):
        np.testing.assert_allclose(val(bj)[b], full[b, :, b, :], rtol=1e-12)
    row = fd_jacobian(lambda r: np.sin(r @ w) * np.sum(r * r), a[1])
    np.testing.assert_allclose(val(bj)[1], row, rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError, match="batch"):
        t.batch_jacobian(y, tj.constant(np.ones((3, 3))))


def test_batch_jacobian_of_higher_rank_target() -> None:
    x = tj.constant(np.arange(6.0).reshape(2, 3))
    with tj.GradientTape() as t:
        t.watch(x)
        y = tj.stack([x * x, 3.0 * x], axis=1)  # (2, 2, 3)
    bj = t.batch_jacobian(y, x)
    assert bj.shape == (2, 2, 3, 3)
    want = np.zeros((2, 2, 3, 3))
    for b in range(2):
        want[b, 0] = np.diag(2 * x.numpy()[b])
        want[b, 1] = np.diag([3.0] * 3)
    np.testing.assert_array_equal(val(bj), want)


# ---------------------------------------------------------------------------- control


def test_stop_recording() -> None:
    x = tj.constant(2.0)
    with tj.GradientTape() as t:
        t.watch(x)
        y = x * x
        with t.stop_recording():
            c = y * 10.0  # a constant for the tape
        z = y + c * x
    # dz/dx = 2x + c = 4 + 40
    assert val(t.gradient(z, x)) == 44.0


def test_reset_forgets_everything_recorded() -> None:
    x = tj.constant(2.0)
    v = tj.Variable(1.0)
    with tj.GradientTape() as t:
        t.watch(x)
        y = x * x * v
        t.reset()
        assert t.watched_variables() == ()
        z = x * 3.0 + y
        t.watch(x)
        w = x * 5.0 + z
    assert val(t.gradient(w, x)) == 5.0  # z was made while x was not watched


def test_watched_variables_in_creation_order() -> None:
    """TensorFlow returns the watched variables in the order they were created, whatever
    the order they were read or watched in."""
    a, b, c = tj.Variable(1.0), tj.Variable(2.0), tj.Variable(3.0, trainable=False)
    d = tj.Variable(4.0)
    with tj.GradientTape() as t:
        _ = d * b * a + c
        _ = a * 2.0
    assert t.watched_variables() == (a, b, d)
    with tj.GradientTape(watch_accessed_variables=False) as t:
        t.watch(d)
        t.watch([c, a])
    assert t.watched_variables() == (a, c, d)


def test_tape_records_nothing_outside_its_block() -> None:
    x = tj.constant(2.0)
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
    z = y * x  # after the block
    assert t.gradient(z, x) is None
    assert val(t.gradient(y, x)) == 4.0


def test_three_nested_tapes_give_the_third_derivative() -> None:
    x = tj.constant(1.5)
    with tj.GradientTape() as t1:
        t1.watch(x)
        with tj.GradientTape() as t2:
            t2.watch(x)
            with tj.GradientTape() as t3:
                t3.watch(x)
                y = x ** 4
            d1 = t3.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t1.gradient(d2, x)
    assert val(d1) == 4 * 1.5 ** 3 and val(d2) == 12 * 1.5 ** 2 and val(d3) == 24 * 1.5


def test_nested_tapes_with_variables_and_persistent_outer() -> None:
    v = tj.Variable(0.5, dtype=tj.float64)
    with tj.GradientTape(persistent=True) as outer:
        with tj.GradientTape() as inner:
            y = tj.exp(v * v)
        g = inner.gradient(y, v)  # 2 v exp(v^2)
    h = outer.gradient(g, v)      # (2 + 4 v^2) exp(v^2)
    np.testing.assert_allclose(val(g), 2 * 0.5 * np.exp(0.25), rtol=1e-14)
    np.testing.assert_allclose(val(h), (2 + 4 * 0.25) * np.exp(0.25), rtol=1e-14)
    assert outer.gradient(y, v) is not None  # the outer tape saw the forward too


def test_hessian_as_the_jacobian_of_a_gradient() -> None:
    a = np.array([0.5, -1.0, 2.0])
    x = tj.constant(a)
    with tj.GradientTape() as outer:
        outer.watch(x)
        with tj.GradientTape() as inner:
            inner.watch(x)
            y = tj.reduce_sum(x ** 3) + x[0] * x[1] + tj.exp(x[2])
        g = inner.gradient(y, x)
    h = outer.jacobian(g, x)
    want = np.diag(6 * a)
    want[0, 1] = want[1, 0] = 1.0
    want[2, 2] += np.exp(2.0)
    np.testing.assert_allclose(val(h), want, rtol=1e-14)


def test_batch_jacobian_of_a_gradient() -> None:
    a = np.arange(6.0).reshape(2, 3)
    x = tj.constant(a)
    with tj.GradientTape() as outer:
        outer.watch(x)
        with tj.GradientTape() as inner:
            inner.watch(x)
            y = tj.reduce_sum(tj.sin(x))
        g = inner.gradient(y, x)
    bj = outer.batch_jacobian(g, x)
    assert bj.shape == (2, 3, 3)
    for b in range(2):
        np.testing.assert_allclose(val(bj)[b], np.diag(-np.sin(a[b])), rtol=1e-14)


def test_a_tape_can_be_entered_again_to_record_more() -> None:
    x = tj.constant(2.0)
    t = tj.GradientTape(persistent=True)
    with t:
        t.watch(x)
        y = x * x
    _ = y * 100.0  # not recorded
    with t:
        z = y * x
    assert val(t.gradient(z, x)) == 12.0


def test_entering_a_recording_tape_again_raises_value_error() -> None:
    """TensorFlow: `ValueError: Tape is still recording, This can happen if you try to
    re-enter an already-active tape.`; after its block the tape may be entered again."""
    t = tj.GradientTape(persistent=True)
    with t:
        with pytest.raises(ValueError, match="still recording"):
            with t:
                pass
    x = tj.constant(2.0)
    with t:
        t.watch(x)
        y = x * x
    assert val(t.gradient(y, x)) == 4.0


# ---------------------------------------------------------------------------- stop_gradient


def test_stop_gradient() -> None:
    x = tj.constant([1.0, 2.0])
    with tj.GradientTape() as t:
        t.watch(x)
        y = tj.stop_gradient(x * x) * x
    np.testing.assert_array_equal(val(t.gradient(y, x)), [1.0, 4.0])
    with tj.GradientTape() as t:
        t.watch(x)
        y = tj.stop_gradient(x) * 2.0
    assert t.gradient(y, x) is None  # TensorFlow: None (StopGradient has no gradient)


# ---------------------------------------------------------------------------- custom_gradient


def _log1pexp() -> Any:
    @tj.custom_gradient
    def log1pexp(x: tj.Tensor) -> Any:
        e = tj.exp(x)

        def grad(upstream: tj.Tensor) -> tj.Tensor:
            return upstream * (1 - 1 / (1 + e))
        return tj.math.log(1 + e), grad
    return log1pexp


def test_custom_gradient_tensorflow_log1pexp_example() -> None:
    log1pexp = _log1pexp()
    x = tj.constant(100.0)
    with tj.GradientTape() as t:
        t.watch(x)
        y = log1pexp(x)
    assert val(y) == np.inf  # the forward overflows in float32, as in TensorFlow's docs
    assert val(t.gradient(y, x)) == 1.0  # the custom gradient does not
    x = tj.constant(0.5)
    with tj.GradientTape() as t:
        t.watch(x)
        y = log1pexp(x) * 3.0
    np.testing.assert_allclose(val(t.gradient(y, x)), 3 / (1 + np.exp(-0.5)), rtol=1e-6)


def test_custom_gradient_nested_in_an_outer_tape() -> None:
    """The gradient function closes over exp(x) from the forward: an outer tape must see it
    connected to x and give the second derivative (regression: it gave None)."""
    log1pexp = _log1pexp()
    x = tj.constant(0.5, tj.float64)
    with tj.GradientTape() as outer:
        outer.watch(x)
        with tj.GradientTape() as inner:
            inner.watch(x)
            y = log1pexp(x)
        g = inner.gradient(y, x)
    h = outer.gradient(g, x)
    s = 1 / (1 + np.exp(-0.5))
    np.testing.assert_allclose(val(y), np.log1p(np.exp(0.5)), rtol=1e-14)
    np.testing.assert_allclose(val(g), s, rtol=1e-14)
    np.testing.assert_allclose(val(h), s * (1 - s), rtol=1e-14)


def test_custom_gradient_with_a_closed_over_tensor_and_two_inputs() -> None:
    scale = tj.constant(10.0)

    @tj.custom_gradient
    def clip_grad_mul(a: tj.Tensor, b: tj.Tensor) -> Any:
        def grad(dy: tj.Tensor) -> Any:
            return dy * b * scale, None
        return a * b, grad

    a, b = tj.constant([1.0, 2.0]), tj.constant([3.0, 4.0])
    with tj.GradientTape() as t:
        t.watch([a, b])
        y = clip_grad_mul(a, b)
    np.testing.assert_array_equal(val(y), [3.0, 8.0])
    ga, gb = t.gradient(y, [a, b])
    np.testing.assert_array_equal(val(ga), [30.0, 40.0])
    assert gb is None or np.all(val(gb) == 0)  # no gradient for b (zeros or None)


def test_custom_gradient_wrong_number_of_gradients() -> None:
    @tj.custom_gradient
    def f(a: tj.Tensor, b: tj.Tensor) -> Any:
        return a * b, lambda dy: dy
    a, b = tj.constant(1.0), tj.constant(2.0)
    with tj.GradientTape() as t:
        t.watch([a, b])
        y = f(a, b)
    with pytest.raises(ValueError, match="2 inputs"):
        t.gradient(y, a)


# ---------------------------------------------------------------------------- Variables


def test_variable_basics() -> None:
    v = tj.Variable([1.0, 2.0], name="w")
    assert v.name == "w:0" and v.shape == (2,) and v.dtype == np.float32 and v.trainable
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    assert isinstance(v.value(), tj.Tensor)
    assert isinstance(v + 1.0, tj.Tensor)
    np.testing.assert_array_equal(val(v * v), [1.0, 4.0])
    np.testing.assert_array_equal(val(2.0 - v), [1.0, 0.0])
    np.testing.assert_array_equal(val(v[1:]), [2.0])
    assert tj.Variable(1.0, dtype=tj.float64).dtype == np.float64
    assert tj.Variable(lambda: tj.ones((2,))).shape == (2,)
    assert "w:0" in repr(v)


def test_variable_assign_family() -> None:
    v = tj.Variable(1.0)
    assert v.assign(5.0) is v and v.numpy() == 5.0
    v.assign_add(2.0)
    assert v.numpy() == 7.0
    v.assign_sub(tj.constant(3.0))
    assert v.numpy() == 4.0
    with pytest.raises(TypeError, match="float64"):
        v.assign(tj.constant(1.0, tj.float64))
    with pytest.raises(ValueError, match="shape"):
        v.assign([1.0, 2.0])


def test_assign_does_not_change_values_a_tape_recorded() -> None:
    """Regression: the value assign_add computed was recorded from the old read, so the new
    read counted the old one twice (gradient 20 instead of TensorFlow's 16)."""
    v = tj.Variable(2.0)
    with tj.GradientTape() as t:
        y = v * v
        v.assign_add(1.0)
        z = y * v  # v^2 (old value) * v (new value)
    assert val(z) == 12.0
    # z = r1^2 * r2 for the reads r1 = 2 (before) and r2 = 3 (after the assignment); the
    # gradient with respect to v sums over its reads: 2*r1*r2 + r1^2 = 12 + 4
    assert val(t.gradient(z, v)) == 16.0


def test_assignment_is_not_differentiable() -> None:
    x = tj.constant(2.0)
    v = tj.Variable(0.0)
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        v.assign(x * 3.0)
        y = v * x  # v is a fresh read (6.0), not 3 * x
    assert val(y) == 12.0
    assert val(t.gradient(y, x)) == 6.0
    assert val(t.gradient(y, v)) == 2.0


def test_reads_after_assign_are_seen_by_tapes() -> None:
    v = tj.Variable(1.0)
    v.assign(3.0)
    with tj.GradientTape() as t:
        y = v * v * v
    assert val(y) == 27.0 and val(t.gradient(y, v)) == 27.0


def test_assign_sub_in_a_training_loop() -> None:
    """Gradient descent on (w - 3)^2: each step's tape sees the current value."""
    w = tj.Variable(0.0)
    for _ in range(50):
        with tj.GradientTape() as t:
            loss = (w - 3.0) ** 2
        w.assign_sub(0.1 * t.gradient(loss, w))
    assert abs(float(w.numpy()) - 3.0) < 1e-4
