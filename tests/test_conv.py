"""`tj.nn`'s convolutions and pools against straightforward NumPy loops written here
(TensorFlow's semantics: SAME pads the odd element at the end, padding never counts in a
mean or wins a max, the first maximum of a window gets max_pool's gradient), eagerly and
compiled (both of native code's conv paths: im2col + GEMM and direct loops); gradients
against finite differences at orders 1 and 2 through the user API; TensorFlow's errors.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracejit.codegen import compile_function
from tracejit.ir import bind
from tracejit.ir.interp import evaluate

import tracejit as tj
from tests.gradcheck import numerical_vjp
from tests.ir import conv_cases as cc
from tests.strategies import build_function
from tests.test_grad_ops import examples, first_and_second, gradcheck

# --------------------------------------------------------------------------- references


def same_pads(size: int, k: int, stride: int, dil: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + (k - 1) * dil + 1 - size)
    return total // 2, total - total // 2


def pads_of(padding: Any, sizes: Any, window: Any, strides: Any, dils: Any) -> list[Any]:
    if padding == "VALID":
        return [(0, 0)] * len(sizes)
    if padding == "SAME":
        return [same_pads(*a) for a in zip(sizes, window, strides, dils)]
    return [tuple(p) for p in padding[1:-1]]


def loop_conv(x: np.ndarray, w: np.ndarray, strides: Any, pads: Any, dils: Any) -> np.ndarray:
    """Cross-correlation by loops; groups = in channels / filter in channels."""
    nsp = x.ndim - 2
    sizes, window = x.shape[1:-1], w.shape[:nsp]
    ci, o = w.shape[nsp:]
    og = o // (x.shape[-1] // ci)
    q = [(s + a + b - (k - 1) * d - 1) // st + 1
         for s, (a, b), k, d, st in zip(sizes, pads, window, dils, strides)]
    out = np.zeros([x.shape[0]] + q + [o])
    for n, pos, oc in itertools.product(range(x.shape[0]), itertools.product(*map(range, q)),
                                        range(o)):
        acc = 0.0
        for k in itertools.product(*map(range, window)):
            idx = [p * st + kk * d - a for p, st, kk, d, (a, _) in
                   zip(pos, strides, k, dils, pads)]
            if all(0 <= i < s for i, s in zip(idx, sizes)):
                for c in range(ci):
                    acc += x[(n, *idx, (oc // og) * ci + c)] * w[(*k, c, oc)]
        out[(n, *pos, oc)] = acc
    return out


def loop_pool(x: np.ndarray, window: Any, strides: Any, pads: Any, kind: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """(pooled, gradient of sum(pooled * seed) for seed = ones): max takes the first
    maximum, scanning rows then columns; avg divides by the in-input positions."""
    sizes = x.shape[1:-1]
    q = [(s + a + b - k) // st + 1 for s, (a, b), k, st in zip(sizes, pads, window, strides)]
    out = np.zeros([x.shape[0]] + q + [x.shape[-1]])
    grad = np.zeros(x.shape)
    for n, pos, c in itertools.product(range(x.shape[0]), itertools.product(*map(range, q)),
                                       range(x.shape[-1])):
        inside = []
        for k in itertools.product(*map(range, window)):
            idx = tuple(p * st + kk - a for p, st, kk, (a, _) in zip(pos, strides, k, pads))
            if all(0 <= i < s for i, s in zip(idx, sizes)):
                inside.append((n, *idx, c))
        vals = [x[i] for i in inside]
        if kind == "max":
            best = int(np.argmax(vals))        # NumPy's argmax: the first maximum
            out[(n, *pos, c)] = vals[best]
            grad[inside[best]] += 1
        else:
            out[(n, *pos, c)] = np.mean(vals)
            for i in inside:
                grad[i] += 1 / len(inside)
    return out, grad


def both(f: Any) -> list[Any]:
    return [f, tj.compile(f)]


def padding_strategy(nsp: int) -> st.SearchStrategy[Any]:
    pair = st.tuples(st.integers(0, 2), st.integers(0, 2)).map(list)
    explicit = st.lists(pair, min_size=nsp, max_size=nsp).map(
        lambda ps: [[0, 0]] + ps + [[0, 0]])
    return st.one_of(st.sampled_from(["SAME", "VALID"]), explicit)


# --------------------------------------------------------------------------- values


RETRACES = pytest.mark.filterwarnings("ignore:.*calls of tj.compile function")


@RETRACES
@examples(30)
@given(nsp=st.sampled_from([1, 2]), data=st.data())
def test_conv_matches_loops(nsp: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31), label="seed"))
    sizes = data.draw(st.lists(st.integers(1, 6), min_size=nsp, max_size=nsp), label="sizes")
    window = data.draw(st.lists(st.integers(1, 3), min_size=nsp, max_size=nsp), label="k")
    strides = data.draw(st.lists(st.integers(1, 3), min_size=nsp, max_size=nsp), label="s")
    dils = data.draw(st.lists(st.integers(1, 2), min_size=nsp, max_size=nsp), label="d")
    groups, ci = data.draw(st.sampled_from([1, 1, 2])), data.draw(st.integers(1, 3))
    o = groups * data.draw(st.sampled_from([1, 2, 5]), label="out per group")
    padding = "SAME" if nsp == 1 and data.draw(st.booleans()) else (
        "VALID" if nsp == 1 else data.draw(padding_strategy(2), label="padding"))
    pads = pads_of(padding, sizes, window, strides, dils)
    if any(s + a + b < (k - 1) * d + 1 for s, (a, b), k, d in zip(sizes, pads, window, dils)):
        return      # an error case (tested below)
    x = rng.uniform(-1, 1, (2, *sizes, ci * groups))
    w = rng.uniform(-1, 1, (*window, ci, o))
    want = loop_conv(x, w, strides, pads, dils)
    op = tj.nn.conv2d if nsp == 2 else tj.nn.conv1d
    for f in both(lambda a, b: op(a, b, strides, padding, dilations=dils)):
        np.testing.assert_allclose(f(tj.constant(x), tj.constant(w)).numpy(), want,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,filt,strides,padding", [
    ((2, 9, 8, 16), (3, 3, 16, 30), 1, "SAME"),     # im2col + GEMM, several chunks of rows
    ((3, 7, 7, 6), (2, 3, 6, 8), 2, "VALID"),
    ((2, 6, 6, 8), (3, 3, 4, 8), 1, "SAME"),         # two groups through GEMM
])
def test_gemm_path_matches_loops(shape: Any, filt: Any, strides: int, padding: str) -> None:
    rng = np.random.default_rng(0)
    x, w = rng.uniform(-1, 1, shape).astype(np.float32), rng.uniform(-1, 1, filt)
    w = w.astype(np.float32)
    want = loop_conv(x.astype(float), w.astype(float), (strides,) * 2,
                     pads_of(padding, shape[1:3], filt[:2], (strides,) * 2, (1, 1)), (1, 1))
    for f in both(lambda a, b: tj.nn.conv2d(a, b, strides, padding)):
        np.testing.assert_allclose(f(x, w).numpy(), want, rtol=1e-5, atol=1e-5)


DIRECT = [   # output channels per group a multiple of 8: the direct register-tiled kernels
    ("SAME, tiles with a remainder", (2, 9, 13, 16), (3, 3, 16, 32), 1, "SAME", 1),
    ("stride 2, 3 vectors of outputs", (2, 7, 30, 8), (3, 3, 8, 48), 2, "SAME", 1),
    ("two groups", (2, 6, 6, 8), (3, 3, 4, 32), 1, "SAME", 1),
    ("dilated, VALID", (1, 9, 11, 5), (2, 3, 5, 16), 1, "VALID", 2),
    ("explicit cropping and padding", (2, 6, 7, 4), (2, 2, 4, 8), 1,
     [[0, 0], [2, 0], [0, 1], [0, 0]], 1),
]


@RETRACES
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,shape,filt,strides,padding,dil", DIRECT,
                         ids=[d[0] for d in DIRECT])
def test_direct_path_matches_loops(name: str, shape: Any, filt: Any, strides: int,
                                   padding: Any, dil: int, dtype: Any) -> None:
    """Values, and the compiled gradients for input and filter against eager NumPy."""
    rng = np.random.default_rng(2)
    x, w = rng.uniform(-1, 1, shape), rng.uniform(-1, 1, filt)
    pads = pads_of(padding, shape[1:3], filt[:2], (strides,) * 2, (dil,) * 2)
    want = loop_conv(x, w, (strides,) * 2, pads, (dil,) * 2)
    gy = rng.uniform(-1, 1, want.shape)
    x, w, gy = x.astype(dtype), w.astype(dtype), gy.astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12

    def f(a: Any, b: Any, g: Any) -> Any:
        with tj.GradientTape() as tape:
            tape.watch([a, b])
            y = tj.nn.conv2d(a, b, strides, padding, dilations=dil)
        return y, tape.gradient(y, [a, b], output_gradients=g)
    y, grads = tj.function(f)(x, w, gy)
    np.testing.assert_allclose(y.numpy(), want, rtol=tol, atol=tol)
    for got, ref in zip(grads, f(*map(tj.constant, (x, w, gy)))[1]):
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=tol, atol=tol)


def test_direct_path_is_the_same_on_one_thread_or_two() -> None:
    """Large enough to run in chunks on the thread pool: the forward's lines and the
    filter gradient's partial sums give the same bits whatever the thread count."""
    from tracejit.codegen import conv_direct, runtime
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (8, 16, 16, 16)).astype(np.float32)
    w = rng.uniform(-1, 1, (3, 3, 16, 32)).astype(np.float32)
    gy = rng.uniform(-1, 1, (8, 16, 16, 32)).astype(np.float32)
    assert 8 * 16 * 16 * 32 * 9 * 16 >= 4 * conv_direct.CHUNK_WORK

    @tj.function
    def f(a: Any, b: Any, g: Any) -> Any:
        with tj.GradientTape() as tape:
            tape.watch([a, b])
            y = tj.nn.conv2d(a, b, 1, "SAME")
        return y, tape.gradient(y, [a, b], output_gradients=g)
    f(x, w, gy)
    results = []
    old = runtime.set_pool_threads(1)
    try:
        for n in (1, 2, 3):
            runtime.set_pool_threads(n)
            y, (gx, gw) = f(x, w, gy)
            results.append([y.numpy(), gx.numpy(), gw.numpy()])
    finally:
        runtime.set_pool_threads(old)
    for other in results[1:]:
        for one, more in zip(results[0], other):
            np.testing.assert_array_equal(one, more)
    want = loop_conv(x[:1, :5, :5].astype(float), w.astype(float), (1, 1), [(1, 1)] * 2,
                     (1, 1))
    np.testing.assert_allclose(results[0][0][:1, :4, :4], want[:, :4, :4], rtol=1e-5,
                               atol=1e-5)


@examples(20)
@given(kind=st.sampled_from(["conv", "conv_filter_grad"]), data=st.data())
def test_direct_kernels_match_the_reference(kind: str, data: st.DataObject) -> None:
    """The primitives with every parameter the direct kernels take (cropping pads,
    strides, filter dilation, groups, 1 or 2 spatial axes), native against the reference
    interpreter."""
    draw = (cc.conv_case if kind == "conv" else cc.filter_grad_case)(
        (cc.F64, cc.F32), channels=5, direct=True)
    args, params = data.draw(draw, label="case")
    fn = build_function(kind, [(a.shape, a.dtype) for a in args],
                        lambda *xs: [bind(kind, *xs, **params)])
    want = evaluate(fn, list(args))[0]
    tol = 1e-5 if want.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(compile_function(fn)(*args)[0], want, rtol=tol, atol=tol)


def test_depthwise_matches_loops() -> None:
    rng = np.random.default_rng(1)
    x, w = rng.uniform(-1, 1, (2, 7, 6, 3)), rng.uniform(-1, 1, (3, 2, 3, 2))
    # per channel c, multiplier m: output channel c * 2 + m
    dense = np.zeros((3, 2, 1, 6))
    dense[:, :, 0, :] = w.reshape(3, 2, 6)
    for strides, padding, dils in [([1, 1, 1, 1], "SAME", None), ([1, 2, 2, 1], "VALID", None),
                                   ([1, 1, 1, 1], "SAME", [2, 2])]:
        d = dils or [1, 1]
        want = loop_conv(x, dense, strides[1:3], pads_of(padding, (7, 6), (3, 2),
                                                         strides[1:3], d), d)
        for f in both(lambda a, b, s=strides, p=padding, d=dils:  # type: ignore[misc]
                      tj.nn.depthwise_conv2d(a, b, s, p, dilations=d)):
            np.testing.assert_allclose(f(x, w).numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("out_shape,strides,padding", [
    ((2, 6, 6, 4), 2, "SAME"), ((2, 7, 7, 4), 2, "VALID"), ((2, 5, 5, 4), 2,
                                                            [[0, 0], [1, 1], [1, 1], [0, 0]]),
    ((2, 3, 3, 4), 1, "SAME"),
])
def test_conv2d_transpose_is_the_adjoint_of_conv2d(out_shape: Any, strides: int,
                                                   padding: Any) -> None:
    """<conv2d(x, w), y> == <x, conv2d_transpose(y, w)> for every x and y."""
    rng = np.random.default_rng(2)
    w = rng.uniform(-1, 1, (3, 3, 4, 3))
    x = rng.uniform(-1, 1, out_shape)
    fwd = tj.nn.conv2d(x, w, strides, padding).numpy()
    y = rng.uniform(-1, 1, fwd.shape)
    for f in both(lambda a, b: tj.nn.conv2d_transpose(a, b, out_shape, strides, padding)):
        back = f(y, w).numpy()
        assert back.shape == out_shape
        np.testing.assert_allclose(np.sum(fwd * y), np.sum(x * back), rtol=1e-12)


@RETRACES
@examples(30)
@given(kind=st.sampled_from(["max", "avg"]), data=st.data())
def test_pools_match_loops(kind: str, data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31), label="seed"))
    sizes = data.draw(st.lists(st.integers(1, 6), min_size=2, max_size=2), label="sizes")
    window = data.draw(st.lists(st.integers(1, 3), min_size=2, max_size=2), label="k")
    strides = data.draw(st.lists(st.integers(1, 3), min_size=2, max_size=2), label="s")
    padding = data.draw(st.sampled_from(["SAME", "VALID"]), label="padding")
    pads = pads_of(padding, sizes, window, strides, (1, 1))
    if any(s < k for s, k in zip(sizes, window)) and padding == "VALID":
        return
    x = np.round(rng.uniform(-2, 2, (2, *sizes, 3)))           # many ties
    want, want_grad = loop_pool(x, window, strides, pads, kind)
    op = tj.nn.max_pool2d if kind == "max" else tj.nn.avg_pool2d

    def f(a: Any) -> Any:
        with tj.GradientTape() as tape:
            tape.watch(a)
            y = op(a, window, strides, padding)
        return y, tape.gradient(y, a)
    for g in both(f):
        y, dx = g(tj.constant(x))
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-12)
        np.testing.assert_allclose(dx.numpy(), want_grad, rtol=1e-12)


def test_max_pool_gradient_goes_to_the_first_maximum() -> None:
    """TensorFlow 2.21's results on these inputs (ties everywhere)."""
    ones = np.ones((1, 3, 3, 1), np.float32)
    x2 = np.array([[0, 2, 2], [2, 0, 0], [0, 0, 0]], np.float32).reshape(1, 3, 3, 1)
    for x, strides, padding, want in [
            (ones, 1, "VALID", [[1, 1, 0], [1, 1, 0], [0, 0, 0]]),
            (x2, 1, "SAME", [[0, 2, 1], [1, 1, 1], [1, 1, 1]])]:
        def f(a: Any, s: int = strides, p: str = padding) -> Any:
            with tj.GradientTape() as tape:
                tape.watch(a)
                y = tj.nn.max_pool2d(a, 2, s, p)
            return tape.gradient(y, a)
        for g in both(f):
            np.testing.assert_array_equal(g(tj.constant(x)).numpy().reshape(3, 3), want)


def test_max_pool_ignores_nan_and_starts_from_lowest() -> None:
    """TensorFlow's CPU kernels: NaN never wins; a window of NaN or -inf gives the lowest
    finite float."""
    x = np.array([np.nan, 1, 2, 3, 1, np.nan, 2, 0, np.nan, np.nan, -np.inf, np.nan],
                 np.float32).reshape(3, 2, 2, 1)
    for f in both(lambda a: tj.nn.max_pool2d(a, 2, 1, "VALID")):
        np.testing.assert_array_equal(f(x).numpy().ravel(),
                                      [3, 2, np.finfo(np.float32).min])


def test_avg_pool_same_counts_only_the_input() -> None:
    x = np.arange(9.0, dtype=np.float32).reshape(1, 3, 3, 1)
    for f in both(lambda a: tj.nn.avg_pool2d(a, 2, 2, "SAME")):
        np.testing.assert_array_equal(f(x).numpy().ravel(), [2, 3.5, 6.5, 8])


def test_channels_first_is_a_transpose() -> None:
    rng = np.random.default_rng(3)
    x, w = rng.uniform(-1, 1, (2, 3, 5, 5)), rng.uniform(-1, 1, (3, 3, 3, 4))
    last = tj.nn.conv2d(np.transpose(x, (0, 2, 3, 1)), w, [1, 2, 2, 1], "SAME").numpy()
    first = tj.nn.conv2d(x, w, [1, 1, 2, 2], "SAME", data_format="NCHW").numpy()
    np.testing.assert_allclose(first, np.transpose(last, (0, 3, 1, 2)), rtol=1e-12)
    pooled = tj.nn.max_pool(x, 2, 2, "VALID", data_format="NCHW").numpy()
    np.testing.assert_array_equal(pooled, np.transpose(tj.nn.max_pool2d(
        np.transpose(x, (0, 2, 3, 1)), 2, 2, "VALID").numpy(), (0, 3, 1, 2)))


# --------------------------------------------------------------------------- gradients

GRADS = [
    ("conv2d SAME stride 2", lambda x, w: tj.nn.conv2d(x, w, 2, "SAME"), (1, 4, 3, 2),
     (2, 2, 2, 2)),
    ("conv2d dilated explicit", lambda x, w: tj.nn.conv2d(
        x, w, 1, [[0, 0], [1, 0], [0, 2], [0, 0]], dilations=2), (1, 3, 3, 2), (2, 2, 2, 1)),
    ("conv1d grouped", lambda x, w: tj.nn.conv1d(x, w, 2, "SAME"), (2, 5, 2), (3, 1, 2)),
    ("depthwise", lambda x, w: tj.nn.depthwise_conv2d(x, w, [1, 2, 1, 1], "SAME"),
     (1, 3, 3, 2), (2, 2, 2, 2)),
    ("conv2d_transpose", lambda x, w: tj.nn.conv2d_transpose(x, w, (1, 4, 4, 2), 2, "SAME"),
     (1, 2, 2, 3), (2, 2, 2, 3)),
]


@pytest.mark.parametrize("name,f,xs,ws", GRADS, ids=[g[0] for g in GRADS])
def test_conv_gradients_of_order_two(name: str, f: Any, xs: Any, ws: Any) -> None:
    rng = np.random.default_rng(4)
    gradcheck(f, rng.uniform(-1, 1, xs), rng.uniform(-1, 1, ws), order=2)


@pytest.mark.parametrize("op", [tj.nn.max_pool2d, tj.nn.avg_pool2d])
def test_pool_gradients_of_order_two(op: Any) -> None:
    x = (np.random.default_rng(5).permutation(32) * 0.1).reshape(1, 4, 4, 2)  # no ties
    gradcheck(lambda a: op(a, 3, 2, "SAME"), x, order=2)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("op,shape", [(tj.nn.max_pool1d, (1, 9, 2)),
                                      (tj.nn.max_pool2d, (1, 3, 3, 2)),
                                      (tj.nn.max_pool, (1, 3, 3, 2, 1))])
def test_second_derivative_of_max_pool_is_zeros_not_none(op: Any, shape: Any,
                                                         compiled: bool) -> None:
    # TensorFlow's MaxPoolGrad has a gradient of zeros for the pool's input; the
    # gradient's only path to x was the argmax indices, so tj gave None.
    def grads(a: tj.Tensor) -> tuple[tj.Tensor, tj.Tensor]:
        return first_and_second(lambda t: tj.reduce_sum(op(t, 2, 1, "SAME")), a)

    x = (np.random.default_rng(7).permutation(int(np.prod(shape))) * 0.1).reshape(shape)
    g, h = (tj.compile(grads) if compiled else grads)(tj.constant(x))
    # The oracle: central differences of the gradient's sum (how many windows each
    # element wins: piecewise constant, so zeros away from ties).
    want = numerical_vjp(lambda a: tj.reduce_sum(grads(tj.constant(a))[0]).numpy(),
                         [x], [np.ones(())], [0])[0]
    assert h is not None
    np.testing.assert_array_equal(h.numpy(), want)


def test_compiled_gradient_matches_eager() -> None:
    rng = np.random.default_rng(6)
    x, w = rng.uniform(-1, 1, (2, 8, 8, 5)), rng.uniform(-1, 1, (3, 3, 5, 6))

    def loss(a: Any, b: Any) -> Any:
        with tj.GradientTape() as tape:
            tape.watch([a, b])
            y = tj.nn.max_pool2d(tj.nn.relu(tj.nn.conv2d(a, b, 1, "SAME")), 2, 2, "SAME")
            s = tj.reduce_sum(tj.square(y))
        return tape.gradient(s, [a, b])
    eager = loss(tj.constant(x), tj.constant(w))
    native = tj.compile(loss)(tj.constant(x), tj.constant(w))
    for e, n in zip(eager, native):
        np.testing.assert_allclose(n.numpy(), e.numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- errors

X = np.ones((2, 5, 5, 3), np.float32)
W = np.ones((3, 3, 3, 4), np.float32)


@pytest.mark.parametrize("call,err,words", [
    (lambda: tj.nn.conv2d(np.ones((5, 5, 3), np.float32), W, 1, "SAME"), ValueError,
     "rank 4"),
    (lambda: tj.nn.conv2d(np.ones((2, 5, 5, 2), np.float32), W, 1, "SAME"), ValueError,
     "input depth must be evenly divisible by filter depth: 2 vs 3"),
    (lambda: tj.nn.conv2d(np.ones((2, 5, 5, 4), np.float32), np.ones((3, 3, 2, 3),
                                                                     np.float32), 1, "SAME"),
     ValueError, "output depth must be evenly divisible by number of groups: 3 vs 2"),
    (lambda: tj.nn.conv2d(X, W, 1, "FULL"), ValueError, "'SAME', 'VALID'"),
    (lambda: tj.nn.conv2d(X, W, [1, 1, 1], "SAME"), ValueError, "length 1, 2 or 4"),
    (lambda: tj.nn.conv2d(X, W, [2, 1, 1, 1], "SAME"), ValueError, "batch and channel"),
    (lambda: tj.nn.conv2d(X, W, 1, [[1, 0], [1, 1], [1, 1], [0, 0]]), ValueError,
     "batch or channel"),
    (lambda: tj.nn.conv2d(np.ones((1, 2, 2, 3), np.float32), W, 1, "VALID"), ValueError,
     "computed output size would be negative"),
    (lambda: tj.nn.conv2d(X.astype(np.float64), W, 1, "SAME"), TypeError, "float64"),
    (lambda: tj.nn.conv2d(X.astype(np.int32), W.astype(np.int32), 1, "SAME"), TypeError,
     "int32"),
    (lambda: tj.nn.conv1d(np.ones((2, 7, 3), np.float32), np.ones((3, 3, 5), np.float32), 1,
                          [[0, 0], [1, 1], [0, 0]]), TypeError, "explicit"),
    (lambda: tj.nn.depthwise_conv2d(X, np.ones((3, 3, 3, 2), np.float32), [1, 2], "SAME"),
     ValueError, "4 dimensions"),
    (lambda: tj.nn.depthwise_conv2d(X, np.ones((3, 3, 2, 2), np.float32), [1, 1, 1, 1],
                                    "SAME"), ValueError, "input depth 3"),
    (lambda: tj.nn.depthwise_conv2d(X, np.ones((3, 3, 3, 2), np.float32), [1, 2, 2, 1],
                                    "SAME", dilations=[2, 2]), ValueError, "strides must be 1"),
    (lambda: tj.nn.conv2d_transpose(np.ones((2, 3, 3, 3), np.float32),
                                    np.ones((3, 3, 4, 3), np.float32), [2, 5, 5, 4], 2, "VALID"),
     ValueError, "output_shape [2, 5, 5, 4]"),
    (lambda: tj.nn.max_pool2d(np.ones((2, 1, 1, 3), np.float32), 2, 2, "VALID"), ValueError,
     "computed output size would be negative"),
    (lambda: tj.nn.max_pool2d(X, [2, 2, 2, 1], 2, "VALID"), ValueError, "batch and channel"),
    (lambda: tj.nn.avg_pool2d(X, 2, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]), TypeError,
     "'SAME' or 'VALID'"),
    (lambda: tj.nn.max_pool(np.ones((4, 3), np.float32), 2, 2, "VALID"), ValueError,
     "rank 3 or 4 or 5"),
    (lambda: tj.nn.conv2d(X, W, 1, "SAME", data_format="NWHC"), ValueError, "data_format"),
])
def test_errors_name_the_problem(call: Any, err: type, words: str) -> None:
    with pytest.raises(err, match=None) as info:
        call()
    assert words in str(info.value), str(info.value)


def test_error_points_at_the_users_line() -> None:
    with pytest.raises(ValueError) as info:
        tj.nn.conv2d(np.ones((2, 5, 5, 2), np.float32), W, 1, "SAME")
    assert "test_conv.py" in str(info.value)


def test_unknown_spatial_sizes_are_refused_and_an_unknown_batch_compiles() -> None:
    spec = tj.TensorSpec([None, None, None, 3])
    conv = tj.function(lambda a: tj.nn.conv2d(a, tj.ones([3, 3, 3, 4]), 1, "SAME"),
                       input_signature=[spec])
    pool = tj.function(lambda a: tj.nn.max_pool2d(a, 2, 2, "SAME"), input_signature=[spec])
    x = np.ones((2, 8, 8, 3), np.float32)
    for f in (conv, pool):
        with pytest.raises(tj.ShapeError, match="only the batch dimension may be None"):
            f(x)
    batch = tj.function(lambda a: tj.nn.conv2d(a, tj.ones([3, 3, 3, 4]), 1, "SAME"),
                        input_signature=[tj.TensorSpec([None, 8, 8, 3])])
    for n in (1, 3):
        xn = np.random.default_rng(n).standard_normal((n, 8, 8, 3)).astype(np.float32)
        np.testing.assert_allclose(batch(xn).numpy(),
                                   tj.nn.conv2d(xn, tj.ones([3, 3, 3, 4]), 1, "SAME").numpy(),
                                   rtol=1e-5, atol=1e-5)
    assert batch.experimental_get_tracing_count() == 1
