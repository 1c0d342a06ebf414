"""Gradients of the user-level ops and compositions, taken with `GradientTape`, against
central finite differences in float64 at order 1 and order 2 (`tests/gradcheck.py`), plus
the exact subgradients of DESIGN.md and stability at |x| = 100 and 1000.

The VJP transform below records `f` on a tape; called on tensors inside an outer tape (as
`check_grads` does at order 2) the replayed gradient is recorded there, so order 2 checks
the gradient of the gradient exactly as a user would take it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracejit as tj
from tests.gradcheck import check_grads, numerical_vjp


def examples(n: int) -> settings:
    """`n` examples under the CI profile, ten times more under HYPOTHESIS_PROFILE=dev."""
    return settings(deadline=None, max_examples=max(1, n * settings().max_examples // 50))


def tape_vjp_of(f: Callable[..., Any]) -> Callable[..., list[Any]]:
    """`tape_vjp_of(f)(*args, seed=s)`: the cotangent of every float argument of `f` for
    output cotangent `s`, from a GradientTape (None for other arguments)."""
    def f_vjp(*args: Any, seed: Any) -> list[Any]:
        xs = [a if isinstance(a, tj.Tensor) else tj.constant(a) for a in args]
        fl = [x for x in xs if x.dtype.kind == "f"]
        with tj.GradientTape() as tape:
            tape.watch(fl)
            out = f(*xs)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        seeds = list(seed) if isinstance(seed, tuple) else [seed]
        grads = iter(tape.gradient(outs, fl, output_gradients=[
            s if isinstance(s, tj.Tensor) else tj.constant(np.asarray(s)) for s in seeds],
            unconnected_gradients="zero"))
        return [next(grads) if x.dtype.kind == "f" else None for x in xs]
    return f_vjp


def gradcheck(f: Callable[..., Any], *args: Any, order: int = 2, **kw: Any) -> None:
    check_grads(f, [np.asarray(a) for a in args], tape_vjp_of, order=order, **kw)


def first_and_second(f: Callable[[Any], Any], x: Any) -> tuple[Any, Any]:
    """f'(x) and the gradient of that gradient (its sum's), by two nested tapes watching
    `x`: eagerly, or inside a compiled function."""
    with tj.GradientTape() as t2:
        t2.watch(x)
        with tj.GradientTape() as t1:
            t1.watch(x)
            y = f(x)
        g = t1.gradient(y, x)
    return g, t2.gradient(g, x)


def rand(seed: int, shape: tuple[int, ...], lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def away(a: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """`a` with entries pushed at least `margin` away from 0 (kinks of abs, relu, sign)."""
    return np.where(np.abs(a) < margin, np.where(a < 0, -margin, margin) * 2, a)


# ---------------------------------------------------------------------------- elementwise

UNARY = [
    ("negative", tj.negative, (-2, 2)), ("square", tj.square, (-2, 2)),
    ("sqrt", tj.sqrt, (0.2, 3)), ("exp", tj.exp, (-2, 2)), ("log", tj.log, (0.2, 3)),
    ("log1p", tj.log1p, (-0.5, 2)), ("expm1", tj.expm1, (-2, 2)), ("sin", tj.sin, (-3, 3)),
    ("cos", tj.cos, (-3, 3)), ("tan", tj.tan, (-1, 1)), ("tanh", tj.tanh, (-2, 2)),
    ("abs", tj.abs, (-2, 2)), ("sigmoid", tj.nn.sigmoid, (-4, 4)),
    ("softplus", tj.nn.softplus, (-4, 4)), ("relu", tj.nn.relu, (-2, 2)),
    ("identity", tj.identity, (-2, 2)), ("reciprocal", lambda x: 1.0 / x, (0.5, 2)),
    ("pow_scalar", lambda x: tj.abs(x) ** 2.5, (-2, 2)),
    ("rpow", lambda x: 2.0 ** x, (-2, 2)),
]


@pytest.mark.parametrize("i", range(len(UNARY)), ids=[u[0] for u in UNARY])
def test_unary_grads(i: int) -> None:
    name, f, dom = UNARY[i]
    a = rand(i, (2, 3), *dom)
    if name in ("abs", "relu", "pow_scalar"):
        a = away(a)
    gradcheck(f, a)


BINARY = [
    ("add", tj.add), ("subtract", tj.subtract), ("multiply", tj.multiply),
    ("divide", lambda x, y: tj.divide(x, tj.abs(y) + 0.5)),
    ("pow", lambda x, y: tj.pow(tj.abs(x) + 0.5, y)),
    ("maximum", tj.maximum), ("minimum", tj.minimum),
    ("mod", lambda x, y: tj.mod(x, tj.abs(y) + 3.0)),
    ("operators", lambda x, y: (x * y - y / (x * x + 1)) ** 2 + 3 * x - y),
]


@pytest.mark.parametrize("name,f", BINARY, ids=[b[0] for b in BINARY])
@examples(6)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                min_side=1, max_side=3),
       seed=st.integers(0, 2**16))
def test_binary_grads_with_broadcasting(name: str, f: Callable[..., Any], shapes: Any,
                                        seed: int) -> None:
    sa, sb = shapes.input_shapes
    a, b = rand(seed, sa), rand(seed + 1, sb)
    if name in ("maximum", "minimum"):
        assume(np.min(np.abs(np.subtract(a, b)), initial=1.0) > 1e-3)  # away from ties
    if name == "mod":
        q = a / (np.abs(b) + 3.0)
        assume(np.min(np.abs(q - np.round(q)), initial=1.0) > 1e-3)  # away from the jumps
    gradcheck(f, a, b)


def test_where_routes_gradients() -> None:
    c = np.array([[True, False, True], [False, False, True]])
    a, b = rand(1, (2, 3)), rand(2, (3,))
    gradcheck(lambda c, x, y: tj.where(c, x * x, tj.sin(y)), c, a, b)


def test_where_gives_zeros_not_nan_to_the_branch_not_taken() -> None:
    a, b = tj.constant([1.0, 2.0, 3.0]), tj.constant([4.0, 5.0, 6.0])
    c = tj.constant([True, False, True])
    with tj.GradientTape() as t:
        t.watch([a, b])
        y = tj.where(c, a, b)
    # an infinite cotangent where a branch is not taken must not become inf * 0 = NaN
    ga, gb = t.gradient(y, [a, b], output_gradients=tj.constant([2.0, np.inf, -np.inf]))
    np.testing.assert_array_equal(ga.numpy(), [2.0, 0.0, -np.inf])
    np.testing.assert_array_equal(gb.numpy(), [0.0, np.inf, 0.0])
    # so the usual guard (a where inside and outside sqrt) gives finite gradients
    x = tj.constant([-1.0, 0.0, 4.0])
    with tj.GradientTape() as t:
        t.watch(x)
        pos = x > 0
        y = tj.where(pos, tj.sqrt(tj.where(pos, x, tj.ones_like(x))), tj.zeros_like(x))
    np.testing.assert_array_equal(t.gradient(y, x).numpy(), [0.0, 0.0, 0.25])


@pytest.mark.parametrize("compiled", [False, True])
def test_sqrt_gives_zero_gradient_where_its_cotangent_is_zero(compiled: bool) -> None:
    # TensorFlow's SqrtGrad is 0 where the upstream gradient is 0, so a where with sqrt in
    # one branch only (or a norm masked out) has a finite gradient at 0 and below, where
    # the cotangent 0 / (2 sqrt(0)) was NaN.
    def first(x: tj.Tensor) -> tj.Tensor:
        with tj.GradientTape() as t:
            t.watch(x)
            y = tj.reduce_sum(tj.where(x > 0, tj.sqrt(x), tj.zeros_like(x)))
            y = y + tj.where(x[0] > 0, tj.norm(x[:2]), 0.0)
        return t.gradient(y, x)

    def mixed(x: tj.Tensor, w: tj.Tensor) -> tj.Tensor:
        # d2/dx dw of sum(w sqrt(x)) at w = 0 is 1 / (2 sqrt(x)): the zero cotangent must
        # not make the gradient's own derivative 0
        with tj.GradientTape(persistent=True) as t:
            t.watch([x, w])
            y = tj.reduce_sum(w * tj.sqrt(x))
            gx = tj.reduce_sum(t.gradient(y, x))
        return t.gradient(gx, w)

    run1, run2 = (tj.compile(first), tj.compile(mixed)) if compiled else (first, mixed)
    x = tj.constant([0.0, -1.0, 4.0], tj.float64)
    np.testing.assert_array_equal(run1(x).numpy(), [0.0, 0.0, 0.25])
    got = run2(tj.constant([1.0, 4.0], tj.float64), tj.constant([0.0, 0.0], tj.float64))
    np.testing.assert_allclose(got.numpy(), [0.5, 0.25], rtol=1e-15)


@pytest.mark.parametrize("compiled", [False, True])
def test_rsqrt_and_reciprocal_give_zero_gradient_where_their_cotangent_is_zero(
        compiled: bool) -> None:
    # TensorFlow's RsqrtGrad and ReciprocalGrad are 0 where the upstream gradient is 0, as
    # SqrtGrad: `where(x > 0, rsqrt(x), 0)` had a NaN gradient at 0 and below (1 / sqrt(x)
    # through division).
    def first(x: tj.Tensor) -> tj.Tensor:
        with tj.GradientTape() as t:
            t.watch(x)
            y = tj.reduce_sum(tj.where(x > 0, tj.math.rsqrt(x), tj.zeros_like(x)))
            y = y + tj.reduce_sum(tj.where(x > 0, tj.math.reciprocal(x), tj.zeros_like(x)))
        return t.gradient(y, x)

    def mixed(x: tj.Tensor, w: tj.Tensor) -> tj.Tensor:
        # d2/dx dw of sum(w rsqrt(x) + w / x) at w = 0 is -1/2 x^-3/2 - x^-2: not 0
        with tj.GradientTape(persistent=True) as t:
            t.watch([x, w])
            y = tj.reduce_sum(w * tj.math.rsqrt(x) + w * tj.math.reciprocal(x))
            gx = tj.reduce_sum(t.gradient(y, x))
        return t.gradient(gx, w)

    run1, run2 = (tj.compile(first), tj.compile(mixed)) if compiled else (first, mixed)
    x = tj.constant([0.0, -1.0, 4.0], tj.float64)
    np.testing.assert_allclose(run1(x).numpy(), [0.0, 0.0, -1 / 16 - 1 / 16], rtol=1e-15)
    got = run2(tj.constant([1.0, 4.0], tj.float64), tj.constant([0.0, 0.0], tj.float64))
    np.testing.assert_allclose(got.numpy(), [-1.5, -1 / 16 - 1 / 16], rtol=1e-15)
    # the values are the division's, bit for bit, eagerly and compiled
    v = tj.constant(np.linspace(0.01, 50.0, 301, dtype=np.float32))
    want_r, want_q = 1 / np.sqrt(v.numpy()), 1 / v.numpy()
    f = tj.compile(lambda a: (tj.math.rsqrt(a), tj.math.reciprocal(a))) if compiled else \
        (lambda a: (tj.math.rsqrt(a), tj.math.reciprocal(a)))
    r, q = f(v)
    np.testing.assert_array_equal(r.numpy(), want_r)
    np.testing.assert_array_equal(q.numpy(), want_q)


def test_rsqrt_and_reciprocal_gradients_to_second_order() -> None:
    gradcheck(tj.math.rsqrt, rand(30, (5,), 0.5, 3.0))
    gradcheck(tj.math.reciprocal, away(rand(31, (5,)), 0.3))


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("op", [tj.nn.relu, tj.nn.relu6, tj.nn.leaky_relu])
def test_second_derivative_of_relus_is_zeros_not_none(op: Callable[..., Any],
                                                      compiled: bool) -> None:
    # TensorFlow registers gradients of zeros for ReluGrad, Relu6Grad and LeakyReluGrad,
    # so x stays connected: tj gave None.
    def grads(x: tj.Tensor, dy: tj.Tensor) -> tuple[tj.Tensor, tj.Tensor]:
        with tj.GradientTape(persistent=True) as t:
            t.watch(x)
            g = t.gradient(op(x), x, output_gradients=dy)
        return g, t.gradient(g, x)

    run = tj.compile(grads) if compiled else grads
    x = tj.constant([-2.0, -0.0, 0.0, 0.5, 7.0, np.nan, -1.0])
    dy = tj.constant([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0])
    g, g2 = run(x, dy)
    slope = {tj.nn.relu: 0.0, tj.nn.relu6: 0.0, tj.nn.leaky_relu: 0.2}[op]
    top = 0.0 if op is tj.nn.relu6 else 1.0
    np.testing.assert_allclose(g.numpy(), [slope, slope, slope, 1, top, slope, 2 * slope])
    assert g2 is not None
    np.testing.assert_array_equal(g2.numpy(), np.zeros(7))


def test_clip_by_value_grads() -> None:
    a = np.array([[-3.0, -0.5, 0.25], [0.7, 2.0, -1.7]])
    gradcheck(lambda x: tj.clip_by_value(x, -1.0, 1.0) * x, a)
    lo, hi = np.full((3,), -1.0), np.array([[1.5], [0.5]])
    gradcheck(lambda x, lo, hi: tj.clip_by_value(x, lo, hi), a, lo, hi, order=1)


def test_cast_between_floats_is_differentiable() -> None:
    x = tj.constant([1.5, -2.0])
    with tj.GradientTape() as t:
        t.watch(x)
        y = tj.cast(x, tj.float64) ** 3
    g = t.gradient(y, x)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g.numpy(), [6.75, 12.0])
    i = tj.constant([1, 2])
    with tj.GradientTape() as t:
        t.watch(x)
        y = tj.cast(tj.cast(x, tj.int32) + i, tj.float32) * x
    np.testing.assert_array_equal(t.gradient(y, x).numpy(), [2.0, 0.0])  # int path: no grad


# ---------------------------------------------------------------------------- reductions


@pytest.mark.parametrize("name,f", [
    ("reduce_sum", tj.reduce_sum), ("reduce_mean", tj.reduce_mean),
    ("reduce_prod", tj.reduce_prod), ("reduce_max", tj.reduce_max),
    ("reduce_min", tj.reduce_min), ("reduce_logsumexp", tj.reduce_logsumexp),
    ("reduce_variance", tj.reduce_variance), ("reduce_std", tj.reduce_std),
    ("norm", tj.norm), ("norm1", lambda x, axis, keepdims: tj.norm(x, 1, axis, keepdims)),
    ("norm_inf", lambda x, axis, keepdims: tj.norm(x, np.inf, axis, keepdims)),
])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (-1, True), (0, False),
                                           ([0, -1], True), ((1,), False)])
def test_reduction_grads(name: str, f: Callable[..., Any], axis: Any, keepdims: bool) -> None:
    a = rand(7, (3, 4, 2))
    if name in ("norm1", "norm_inf", "reduce_max", "reduce_min"):
        a = away(a, 0.2)
        a = a + np.arange(a.size).reshape(a.shape) * 1e-2  # no ties
    gradcheck(lambda x: f(x, axis=axis, keepdims=keepdims), a)


@pytest.mark.parametrize("compiled", [False, True])
def test_reduce_prod_gradient_is_linear_in_the_number_of_elements(compiled: bool) -> None:
    # The product of the others was taken over an (n, n) matrix: 20000 elements took 90 s
    # and a 300 x 400 tensor asked for 115 GB (MemoryError); TensorFlow's ProdGrad is two
    # exclusive cumulative products.
    rng = np.random.default_rng(0)
    a = 1.0 + rng.uniform(-1e-3, 1e-3, (300, 400))
    a[5, 7] = 0.0

    def grad(x: tj.Tensor) -> tj.Tensor:
        with tj.GradientTape() as t:
            t.watch(x)
            y = tj.reduce_prod(x)
        return t.gradient(y, x)

    g = (tj.compile(grad) if compiled else grad)(tj.constant(a)).numpy()
    others = a.copy()
    others[5, 7] = 1.0
    want = np.zeros_like(a)
    want[5, 7] = np.prod(others)               # the only element whose others are nonzero
    np.testing.assert_allclose(g, want, rtol=1e-10, atol=0)
    a[5, 7] = 2.0
    g = (tj.compile(grad) if compiled else grad)(tj.constant(a)).numpy()
    np.testing.assert_allclose(g, np.prod(a) / a, rtol=1e-10)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("x,axis", [(2.5, None), ([2.5, -4.0], []), ([[2.5, -4.0]], 0)])
def test_second_derivative_of_reduce_prod_over_nothing_is_zeros_not_none(
        x: Any, axis: Any, compiled: bool) -> None:
    # A product of one factor (a 0-d operand, or no axes) has gradient 1 and second
    # derivative 0 (TensorFlow: zeros); with no axes the VJP was g itself, so tj gave None.
    def grads(a: tj.Tensor) -> tuple[tj.Tensor, tj.Tensor]:
        return first_and_second(lambda t: tj.reduce_prod(t, axis=axis), a)

    a = np.array(x, np.float64)
    g, h = (tj.compile(grads) if compiled else grads)(tj.constant(a))
    np.testing.assert_array_equal(g.numpy(), np.ones_like(a))
    want = numerical_vjp(lambda v: grads(tj.constant(v))[0].numpy(), [a], [np.ones_like(a)],
                         [0])[0]
    assert h is not None
    np.testing.assert_array_equal(h.numpy(), want)


def test_reduce_max_ties_share_the_gradient_equally() -> None:
    x = tj.constant([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    with tj.GradientTape() as t:
        t.watch(x)
        y = tj.reduce_max(x, 1)
    np.testing.assert_allclose(t.gradient(y, x).numpy(),
                               [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


def test_subgradients_follow_tensorflow() -> None:
    x = tj.constant([0.0, 1.0, -1.0])
    y = tj.constant([0.0, 2.0, -1.0])
    with tj.GradientTape(persistent=True) as t:
        t.watch([x, y])
        outs = {"abs": tj.abs(x), "sign": tj.sign(x), "relu": tj.nn.relu(x),
                "max": tj.maximum(x, y), "min": tj.minimum(x, y)}
    want = {"abs": [0, 1, -1], "sign": [0, 0, 0], "relu": [0, 1, 0]}
    for k, w in want.items():
        np.testing.assert_array_equal(t.gradient(outs[k], x, unconnected_gradients="zero")
                                      .numpy(), w)
    # ties (elements 0 and 2) send the gradient to the first operand
    gx, gy = t.gradient(outs["max"], [x, y])
    np.testing.assert_array_equal(gx.numpy(), [1, 0, 1])
    np.testing.assert_array_equal(gy.numpy(), [0, 1, 0])
    gx, gy = t.gradient(outs["min"], [x, y])
    np.testing.assert_array_equal(gx.numpy(), [1, 1, 1])
    np.testing.assert_array_equal(gy.numpy(), [0, 0, 0])


def test_power_at_zero_is_exact_at_every_order() -> None:
    x = tj.constant(0.0)
    with tj.GradientTape() as t1:
        t1.watch(x)
        with tj.GradientTape() as t2:
            t2.watch(x)
            with tj.GradientTape() as t3:
                t3.watch(x)
                y = x ** 2 + tj.sqrt(x * x + 1.0)
            d1 = t3.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t1.gradient(d2, x)
    assert d1.numpy() == 0.0 and d2.numpy() == 3.0 and d3.numpy() == 0.0


# ---------------------------------------------------------------------------- nn


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_and_log_softmax_grads(axis: int) -> None:
    a = rand(11, (3, 4), -3, 3)
    gradcheck(lambda x: tj.nn.softmax(x, axis=axis), a)
    gradcheck(lambda x: tj.nn.log_softmax(x, axis=axis), a)
    gradcheck(lambda x: tj.math.softmax(x * x, axis=axis), a, order=1)


def test_cross_entropy_grads() -> None:
    logits = rand(12, (3, 5), -3, 3)
    labels = np.exp(rand(13, (3, 5)))
    labels /= labels.sum(-1, keepdims=True)
    gradcheck(lambda lb, lg: tj.nn.softmax_cross_entropy_with_logits(labels=lb, logits=lg),
              labels, logits)
    cls = np.array([4, 0, 2])
    gradcheck(lambda c, lg: tj.nn.sparse_softmax_cross_entropy_with_logits(labels=c,
                                                                            logits=lg),
              cls, logits)
    # mean loss of a linear model: the usual training composition
    w = rand(14, (4, 5))
    xb = rand(15, (3, 4))
    gradcheck(lambda w, x: tj.reduce_mean(tj.nn.sparse_softmax_cross_entropy_with_logits(
        cls, tj.matmul(x, w))), w, xb)


# ---------------------------------------------------------------------------- linalg, shapes


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_grads_with_transposes_and_batch_broadcast(ta: bool, tb: bool) -> None:
    a = rand(21, (2, 1, 3, 4) if not ta else (2, 1, 4, 3))
    b = rand(22, (3, 4, 2) if not tb else (3, 2, 4))
    gradcheck(lambda x, y: tj.matmul(x, y, transpose_a=ta, transpose_b=tb), a, b)
    gradcheck(lambda x, y: tj.linalg.matmul(x, y, transpose_a=ta, transpose_b=tb) ** 2,
              a[0, 0], b[0], order=2)


def test_tensordot_grads() -> None:
    a, b = rand(23, (2, 3, 4)), rand(24, (4, 3, 2))
    gradcheck(lambda x, y: tj.tensordot(x, y, [[1, 2], [1, 0]]), a, b)
    gradcheck(lambda x, y: tj.tensordot(x, y, 0), a[0, 0], b[0, 0])
    gradcheck(lambda x, y: tj.tensordot(x, y, 1), a, b)


def test_gather_grads_accumulate_repeated_indices() -> None:
    a = rand(25, (4, 3))
    idx = np.array([[0, 3], [3, 3]])
    gradcheck(lambda x, i: tj.gather(x, i) ** 2, a, idx)
    gradcheck(lambda x, i: tj.gather(x, i, axis=1), a, np.array([2, 0, 2]))
    x = tj.constant(a)
    with tj.GradientTape() as t:
        t.watch(x)
        y = tj.gather(x, [1, 1, 1, 0])
    want = np.zeros((4, 3))
    want[1], want[0] = 3, 1
    np.testing.assert_array_equal(t.gradient(y, x).numpy(), want)


@pytest.mark.parametrize("key", [
    (0,), (-1, slice(None, None, -2)), (slice(1, None), None, slice(None, None, -1)),
    (Ellipsis, 1), ([2, 0, 2],), (slice(None), [1, -1]), (0, slice(None), [1, 1]),
    (None, Ellipsis, slice(None, 1)),
], ids=str)
def test_indexing_grads(key: tuple[Any, ...]) -> None:
    a = rand(26, (3, 2, 4))
    gradcheck(lambda x: x[key] * x[key], a)


def test_concat_stack_reshape_transpose_grads() -> None:
    a, b = rand(27, (2, 3)), rand(28, (2, 1))
    gradcheck(lambda x, y: tj.concat([x, y * y, x], axis=-1), a, b)
    gradcheck(lambda x, y: tj.stack([x, x * 2.0], axis=1) * tj.reshape(y, (2, 1, 1)), a, b)
    gradcheck(lambda x: tj.transpose(tj.reshape(x, (3, 2)), [1, 0]) ** 2, a)
    gradcheck(lambda x: tj.expand_dims(tj.squeeze(tj.reshape(x, (1, 6, 1))), 0) * x[0, 0], a)
    gradcheck(lambda x, y: tj.broadcast_to(y, (4, 2, 3)) * x, a, b)
    gradcheck(lambda x: tj.unstack(x, axis=1)[2] * tj.add_n([x[:, 0], x[:, 1], x[:, 0]]), a)


def test_composite_model_grads() -> None:
    """A small MLP with every kind of op, differentiated twice."""
    w1, b1 = rand(31, (4, 3)), rand(32, (3,))
    w2 = rand(33, (3, 2))
    x = rand(34, (5, 4))

    def f(w1: tj.Tensor, b1: tj.Tensor, w2: tj.Tensor) -> tj.Tensor:
        h = tj.tanh(tj.matmul(x, w1) + b1)
        z = tj.matmul(h, w2)
        return tj.reduce_logsumexp(z, axis=1) - tj.reduce_mean(tj.nn.softplus(z)) + \
            0.1 * tj.reduce_sum(w1 * w1)
    gradcheck(f, w1, b1, w2)


# ---------------------------------------------------------------------------- stability


STABLE = {
    "sigmoid": tj.nn.sigmoid,
    "softplus": tj.nn.softplus,
    "log_softmax": lambda x: tj.nn.log_softmax(x),
    "softmax": lambda x: tj.nn.softmax(x),
    "reduce_logsumexp": lambda x: tj.reduce_logsumexp(x, axis=-1),
    "softmax_xent": lambda x: tj.nn.softmax_cross_entropy_with_logits(
        labels=tj.constant([[0.25, 0.75, 0.0]], x.dtype), logits=x),
    "sparse_xent": lambda x: tj.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tj.constant([1]), logits=x),
}


@pytest.mark.parametrize("name", STABLE)
@pytest.mark.parametrize("big", [100.0, 1000.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_values_and_gradients_at_large_inputs(name: str, big: float,
                                                     dtype: Any) -> None:
    a = np.array([[big, -big, 0.5 * big]], dtype)
    x = tj.constant(a)
    with tj.GradientTape() as t2:
        t2.watch(x)
        with tj.GradientTape() as t:
            t.watch(x)
            y = STABLE[name](x)
        g = t.gradient(y, x)
    h = t2.gradient(g, x)
    assert y.dtype == dtype and g.dtype == dtype
    for v in (y, g, h):
        assert np.all(np.isfinite(v.numpy())), (name, v)
    # the values themselves, from float64 closed forms that cannot overflow
    a64 = a.astype(np.float64)
    ls = a64 - (np.max(a64) + np.log(np.sum(np.exp(a64 - np.max(a64)))))
    want_y = {"sigmoid": np.where(a64 > 0, 1.0, 0.0) + np.where(np.abs(a64) < 1, 0.5, 0),
              "softplus": np.maximum(a64, 0) + np.log1p(np.exp(-np.abs(a64))),
              "log_softmax": ls, "softmax": np.exp(ls),
              "reduce_logsumexp": [np.max(a64) + np.log(np.sum(np.exp(a64 - np.max(a64))))],
              "softmax_xent": [-(0.25 * ls[0, 0] + 0.75 * ls[0, 1])],
              "sparse_xent": [-ls[0, 1]]}[name]
    np.testing.assert_allclose(y.numpy(), np.asarray(want_y).reshape(y.shape), rtol=1e-6,
                               atol=1e-30)
    with np.errstate(over="ignore"):       # exp(-a) overflows to inf where 1/(1+inf) = 0
        want_g = {"sigmoid": np.exp(-np.abs(a64)) / (1 + np.exp(-np.abs(a64))) ** 2,
                  "softplus": 1 / (1 + np.exp(-a64)), "log_softmax": 1 - 3 * np.exp(ls),
                  "softmax": np.zeros_like(a64), "reduce_logsumexp": np.exp(ls),
                  "softmax_xent": np.exp(ls) - [[0.25, 0.75, 0.0]],
                  "sparse_xent": np.exp(ls) - [[0.0, 1.0, 0.0]]}[name]
    np.testing.assert_allclose(g.numpy(), want_g, rtol=1e-5, atol=1e-6)


def test_softplus_and_sigmoid_do_not_overflow_in_float32_at_1000() -> None:
    x = tj.constant([-1000.0, 1000.0])
    np.testing.assert_array_equal(tj.nn.softplus(x).numpy(), [0.0, 1000.0])
    np.testing.assert_array_equal(tj.nn.sigmoid(x).numpy(), [0.0, 1.0])
