"""Shape polymorphism end to end: a function traced once with unknown dimensions
(`tracing.trace(..., shapes=...)`, what `input_signature` with None uses) runs every
matching shape natively, equal to eager mode, and refuses the others with ValueError."""
from __future__ import annotations

from typing import Any
from collections.abc import Callable

import numpy as np
import pytest

import tracejit as tj
from tracejit.codegen import poly
from tracejit.ir.dims import Dim
from tracejit.trees import flatten
from tracejit.tracing import trace
from tests.gradcheck import numerical_vjp


class Poly:
    """`fn` traced once for the argument shapes `specs` (None: unknown)."""

    def __init__(self, fn: Callable[..., Any], *specs: tuple[tuple[Any, ...], Any]):
        self.fn = fn
        self.compiled = tj.function(fn)
        examples = [np.zeros(tuple(2 if d is None else d for d in s), dt) for s, dt in specs]
        leaves, tree = flatten((tuple(examples), {}))
        self.concrete = trace(self.compiled, leaves, tree, shapes=[s for s, _ in specs])

    def __call__(self, *arrays: np.ndarray) -> Any:
        return self.concrete.call(flatten((arrays, {}))[0])


def counts() -> dict[str, int]:
    return dict(poly.COUNTS)


def test_mlp_step_one_trace_every_batch_size() -> None:
    rng = np.random.default_rng(0)
    ws = [tj.Variable(rng.normal(size=s).astype(np.float32) * 0.05)
          for s in [(784, 32), (32,), (32, 10), (10,)]]

    def step(x: Any, y: Any) -> Any:
        with tj.GradientTape() as t:
            h = tj.nn.relu(x @ ws[0] + ws[1])
            logits = h @ ws[2] + ws[3]
            loss = tj.reduce_mean(
                tj.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        return loss, t.gradient(loss, ws)

    before = counts()
    f = Poly(step, ((None, 784), np.float32), ((None,), np.int32))
    assert f.concrete.symbolic and f.concrete.in_shapes == [(None, 784), (None,)]
    assert "%x: f32[n0,784]" in str(f.concrete.opt_fn)
    for n in (1, 7, 128, 1000):
        x = rng.normal(size=(n, 784)).astype(np.float32)
        y = rng.integers(0, 10, n).astype(np.int32)
        loss, grads = f(x, y)
        want_loss, want = step(tj.constant(x), tj.constant(y))
        np.testing.assert_allclose(loss.numpy(), want_loss.numpy(), rtol=1e-5)
        for g, w in zip(grads, want):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-6)
    # One native code for every batch size.
    after = counts()
    assert after["runtime"] - before["runtime"] == 1, after
    assert after["specialized"] == before["specialized"], after
    assert f.concrete.executable().blocker is None


def test_index_errors_and_fallback_per_shape() -> None:
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    f = Poly(lambda t, i: tj.gather(t, i) * 2.0, ((None, 3), np.float32),
             ((None,), np.int32))
    np.testing.assert_array_equal(f(table, np.array([3, 0], np.int32)).numpy(),
                                  table[[3, 0]] * 2)
    with pytest.raises(IndexError, match=r"index 4 is out of bounds for size 4\n  at .*"
                                         r"test_poly.py:\d+: f = Poly"):
        f(table, np.array([1, 4], np.int32))      # the line of the user's gather
    # eigh of a matrix of unknown order has no runtime-size lowering (only its batch
    # dimensions may be unknown): compiled once per shape, still right.
    before = counts()
    g = Poly(lambda x: tj.linalg.eigh(x @ tj.transpose(x))[0] + 1.0, ((None, 2), np.float64))
    for n in (3, 5, 3):
        x = np.arange(2.0 * n).reshape(n, 2) ** 2
        np.testing.assert_allclose(g(x).numpy(), np.linalg.eigvalsh(x @ x.T) + 1, atol=1e-9)
    assert g.concrete.executable().blocker == \
        "eigh (an unknown dimension other than a batch dimension)"
    assert counts()["specialized"] - before["specialized"] == 2
    # sin, with arguments beyond the inline reduction's range (the C library's sin).
    h = Poly(lambda x: tj.sin(x) * 2.0, ((None,), np.float32))
    x = np.array([0.5, -3.0, 1e5, 3e7, -1e30], np.float32)
    np.testing.assert_allclose(h(x).numpy(), np.sin(x) * 2, rtol=2e-6, atol=1e-7)


def test_runtime_shape_mismatches_raise_value_error() -> None:
    f = Poly(lambda x, w: x @ w, ((None, 4), np.float32), ((4, None), np.float32))
    np.testing.assert_allclose(f(np.ones((3, 4), np.float32), np.ones((4, 5), np.float32))
                               .numpy(), np.full((3, 5), 4.0))
    with pytest.raises(ValueError, match=r"expected a shape \(None, 4\), got \(3, 5\)"):
        f(np.ones((3, 5), np.float32), np.ones((4, 5), np.float32))
    g = Poly(lambda x, y: x * 2.0 + y, ((None,), np.float32), ((None,), np.float32))
    np.testing.assert_allclose(g(np.ones(3, np.float32), np.ones(3, np.float32)).numpy(),
                               [3.0, 3.0, 3.0])
    with pytest.raises(ValueError, match=r"incompatible shapes for broadcasting: \(3,\) and "
                                         r"\(4,\)"):
        g(np.ones(3, np.float32), np.ones(4, np.float32))
    with pytest.raises(ValueError, match="trace assumed"):
        g(np.ones(1, np.float32), np.ones(4, np.float32))
    with pytest.raises(ValueError, match="matmul inner dimensions differ"):
        Poly(lambda x, w: x @ w, ((None, 4), np.float32), ((None, 3), np.float32))(
            np.ones((2, 4), np.float32), np.ones((5, 3), np.float32))


def test_shape_inside_trace_and_runtime_shape_tensor() -> None:
    seen: list[Any] = []

    def fn(x: Any) -> Any:
        seen.append(x.shape)
        n = tj.shape(x)
        return tj.cast(n, tj.float32), tj.reduce_mean(x, axis=0), tj.zeros_like(x) + 1.0

    f = Poly(fn, ((None, 3), np.float32))
    assert type(seen[0][0]) is Dim and seen[0][1] == 3
    for n in (1, 5):
        x = np.arange(3 * n, dtype=np.float32).reshape(n, 3)
        shape, mean, ones = f(x)
        np.testing.assert_array_equal(shape.numpy(), [n, 3])
        np.testing.assert_allclose(mean.numpy(), x.mean(0), rtol=1e-6)
        np.testing.assert_array_equal(ones.numpy(), np.ones((n, 3)))


def test_gradients_match_central_differences() -> None:
    def loss(x: Any, w: Any) -> Any:
        return tj.reduce_sum(tj.tanh(x @ w) * tj.reduce_mean(x, axis=1, keepdims=True))

    def value_and_grad(x: Any, w: Any) -> Any:
        with tj.GradientTape() as t:
            t.watch([x, w])
            v = loss(x, w)
        return v, t.gradient(v, [x, w])

    f = Poly(value_and_grad, ((None, 3), np.float64), ((3, None), np.float64))
    rng = np.random.default_rng(1)
    for n, m in ((1, 2), (4, 5)):
        x, w = rng.normal(size=(n, 3)), rng.normal(size=(3, m))
        _, (gx, gw) = f(x, w)
        num = numerical_vjp(lambda a, b: loss(tj.constant(a), tj.constant(b)).numpy(),
                            [x, w], [np.ones(())], [0, 1])
        np.testing.assert_allclose(gx.numpy(), num[0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(gw.numpy(), num[1], rtol=1e-5, atol=1e-7)


def test_input_signature_training_loop_one_trace_one_compile() -> None:
    """The acceptance test: an MLP training step with input_signature [None, 784], [None]
    runs batches of 1, 7, 128 and 1000 rows with one trace and one compile, and trains
    exactly as the same step run eagerly."""
    rng = np.random.default_rng(2)
    init = [rng.normal(size=s).astype(np.float32) * 0.05
            for s in [(784, 32), (32,), (32, 10), (10,)]]

    def make_step(ws: list[Any]) -> Callable[[Any, Any], Any]:
        def step(x: Any, y: Any) -> Any:
            with tj.GradientTape() as t:
                logits = tj.nn.relu(x @ ws[0] + ws[1]) @ ws[2] + ws[3]
                loss = tj.reduce_mean(
                    tj.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
            for w, g in zip(ws, t.gradient(loss, ws)):
                w.assign_sub(0.1 * g)
            return loss
        return step

    compiled_ws = [tj.Variable(w) for w in init]
    eager_ws = [tj.Variable(w) for w in init]
    step = tj.function(make_step(compiled_ws), input_signature=[
        tj.TensorSpec([None, 784], tj.float32), tj.TensorSpec([None], tj.int32)])
    eager = make_step(eager_ws)
    before = counts()
    for n in (1, 7, 128, 1000):
        x = rng.normal(size=(n, 784)).astype(np.float32)
        y = rng.integers(0, 10, n).astype(np.int32)
        np.testing.assert_allclose(step(x, y).numpy(), eager(tj.constant(x),
                                                             tj.constant(y)).numpy(),
                                   rtol=1e-5)
        for c, e in zip(compiled_ws, eager_ws):
            np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=1e-4, atol=1e-6)
    assert step.experimental_get_tracing_count() == 1
    after = counts()
    assert (after["runtime"] - before["runtime"], after["specialized"]
            - before["specialized"]) == (1, 0)
    with pytest.raises(TypeError, match="Can not cast"):     # TensorFlow's error type
        step(np.ones((3, 783), np.float32), np.zeros(3, np.int32))
    # Unknown dims the trace had to assume equal: checked at run time, eager's message.
    with pytest.raises(ValueError, match="sparse_softmax|incompatible shapes|assumed"):
        step(np.ones((3, 784), np.float32), np.zeros(4, np.int32))
    add = tj.function(lambda a, b: a + b, input_signature=[
        tj.TensorSpec([None], tj.float32), tj.TensorSpec([None], tj.float32)])
    with pytest.raises(ValueError, match=r"incompatible shapes for broadcasting: \(3,\) and "
                                         r"\(4,\)"):
        add(np.ones(3, np.float32), np.ones(4, np.float32))


def test_embedding_gradient_argmax_concat_and_slices_one_compile() -> None:
    table = tj.Variable(np.arange(20, dtype=np.float32).reshape(10, 2))

    def fn(i: Any) -> Any:
        with tj.GradientTape() as t:
            e = tj.gather(table, i)
            loss = tj.reduce_sum(e * e) + tj.cast(tj.reduce_sum(tj.argmax(e, axis=1)),
                                                  tj.float32)
            z = tj.concat([e, e[:, :1], tj.reverse(e, [0])], axis=1)
        return loss, t.gradient(loss, table), z

    f = tj.function(fn, input_signature=[tj.TensorSpec([None], tj.int32)])
    before = counts()
    for n in (1, 4, 9, 0):
        i = (np.arange(n, dtype=np.int32) * 7) % 10
        got = f(i)
        want = fn(tj.constant(i))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6)
    assert counts()["runtime"] - before["runtime"] == 1
    assert counts()["specialized"] == before["specialized"]
    with pytest.raises(IndexError, match="index 10 is out of bounds for size 10"):
        f(np.array([10], np.int32))
    with pytest.raises(IndexError, match="only `:` takes it whole"):
        tj.function(lambda x: x[1:], input_signature=[tj.TensorSpec([None])])(
            np.ones(3, np.float32))


def test_sort_rows_of_unknown_count_and_length() -> None:
    f = Poly(lambda x: (tj.sort(x, direction="DESCENDING"), tj.argsort(x)),
             ((None, None), np.float32))
    rng = np.random.default_rng(5)
    for shape in ((1, 1), (3, 7), (2, 16), (4, 0)):
        x = np.round(rng.normal(size=shape), 1).astype(np.float32)   # ties: stable order
        if x.size:
            x.flat[0] = np.nan
        s, i = f(x)
        np.testing.assert_array_equal(s.numpy(), tj.sort(x, direction="DESCENDING").numpy())
        np.testing.assert_array_equal(i.numpy(), tj.argsort(x).numpy())
    assert f.concrete.executable().blocker is None


def test_scans_and_segments_with_unknown_length() -> None:
    f = Poly(lambda x, ids: (tj.cumsum(x, axis=0), tj.math.cumprod(x, axis=0, reverse=True),
                             tj.math.unsorted_segment_max(x, ids, num_segments=3)),
             ((None, 2), np.float64), ((None,), np.int32))
    rng = np.random.default_rng(4)
    for n in (1, 6, 0):
        x, ids = rng.normal(size=(n, 2)), np.sort(rng.integers(0, 3, n)).astype(np.int32)
        want = [tj.cumsum(x, axis=0), tj.math.cumprod(x, axis=0, reverse=True),
                tj.math.unsorted_segment_max(x, ids, num_segments=3)]
        for g, w in zip(f(x, ids), want):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12)
    assert f.concrete.executable().blocker is None


def test_batched_matmul_with_unknown_batch() -> None:
    f = Poly(lambda a, w, c: (a @ w, tj.matmul(a, c, transpose_b=True)),
             ((None, 3, 4), np.float64), ((4, 5), np.float64), ((None, 2, 4), np.float64))
    rng = np.random.default_rng(3)
    for n in (1, 4, 0):
        a, w, c = rng.normal(size=(n, 3, 4)), rng.normal(size=(4, 5)), rng.normal(size=(n, 2, 4))
        p, q = f(a, w, c)
        np.testing.assert_allclose(p.numpy(), a @ w, rtol=1e-12)
        np.testing.assert_allclose(q.numpy(), a @ np.swapaxes(c, 1, 2), rtol=1e-12)
    assert f.concrete.executable().blocker is None


def test_random_draws_and_constants_equal_fixed_shape_code() -> None:
    def fn(x: Any) -> Any:
        u = tj.random.stateless_uniform(x.shape, seed=[1, 2])
        z = tj.random.stateless_normal(x.shape, seed=[3, 4], dtype=tj.float64)
        return x * u * tj.constant([1.0, 2.0, 3.0, 4.0, 5.0]), z

    f = tj.function(fn, input_signature=[tj.TensorSpec([None, 5])])
    per_shape = tj.function(fn)                  # traced for each shape alone
    before = counts()
    for n in (1, 7, 0):
        x = np.ones((n, 5), np.float32)
        fixed = per_shape(x)
        for g, w in zip(f(x), fixed):
            np.testing.assert_array_equal(g.numpy(), w.numpy())   # bit-identical draws
    assert (counts()["runtime"] - before["runtime"], counts()["specialized"]
            - before["specialized"]) == (1, 0)


def test_sizes_too_large_raise_memory_error_before_running() -> None:
    # An outer product of two unknown-length vectors: 2**31 x 2**31 float64 elements.
    f = Poly(lambda a, b: tj.reduce_sum(a[:, None] * b[None, :]),
             ((None,), np.float64), ((None,), np.float64))
    big = np.broadcast_to(np.zeros((), np.float64), (2**31,))
    with pytest.raises(MemoryError):
        f(big, big)
    np.testing.assert_allclose(f(np.ones(3), np.ones(4)).numpy(), 12.0)


@pytest.mark.parametrize("spec", [(None, 3), (4, None), (None, None)])
def test_int_and_tensor_indices_on_unknown_dimensions(spec: tuple[Any, ...]) -> None:
    # an int (or int tensor) index on a size known only at run time is a gather whose
    # negative index is wrapped by the runtime size and whose bound is checked natively
    keys: list[Any] = [0, -1, (0, 1), (slice(None), -3), (None, -2), (Ellipsis, 1),
                       (1, slice(None), None)]

    def fn(x: tj.Tensor) -> Any:
        with tj.GradientTape() as t:
            t.watch(x)
            ys = [x[k] for k in keys] + [x[tj.constant(-2)]]
            loss = tj.add_n([tj.reduce_sum(y * y) * (k + 1.0) for k, y in enumerate(ys)])
        return ys, t.gradient(loss, x)

    f = tj.function(fn, input_signature=[tj.TensorSpec(spec, tj.float64)])
    x = np.arange(12.0).reshape(4, 3) - 5.0
    (ys, g), (_, gw) = f(x), fn(tj.constant(x))
    for y, k in zip(ys, keys + [-2]):
        assert y.shape == x[k].shape
        np.testing.assert_array_equal(y.numpy(), x[k])
    np.testing.assert_array_equal(g.numpy(), gw.numpy())
    bad = 4 if spec[0] is None else (0, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        tj.function(lambda x: x[bad], input_signature=[tj.TensorSpec(spec, tj.float64)])(x)


def test_scans_over_an_unknown_leading_axis_are_refused_by_name() -> None:
    # the user-level error (it was an IRError from the scan's shape rule), and the loop
    # it suggests runs
    sig = [tj.TensorSpec([None], tj.float64)]
    x = np.arange(5.0)
    for name, fn in [("map_fn", lambda x: tj.map_fn(lambda e: e * 2.0, x)),
                     ("scan", lambda x: tj.scan(lambda a, e: a + e, x)),
                     ("foldr", lambda x: tj.foldr(lambda a, e: a + e, x, initializer=x[0]))]:
        with pytest.raises(TypeError, match=f"{name}: the leading axis of elems has a size "
                                            "unknown while tracing"):
            tj.function(fn, input_signature=sig)(x)
    f = tj.function(lambda x: tj.while_loop(lambda i, a: i < tj.shape(x)[0],
                                            lambda i, a: (i + 1, a * 0.5 + x[i]),
                                            (0, tj.constant(0.0, tj.float64)))[1],
                    input_signature=sig)
    for n in (0, 1, 5):
        want = 0.0
        for v in x[:n]:
            want = want * 0.5 + v
        assert float(f(x[:n])) == want


@pytest.mark.parametrize("spec", [(3, None), (None, 4), (None, None)])
def test_exclusive_scans_and_scan_gradients_along_unknown_axes(spec: tuple[Any, ...]) -> None:
    # the one-step shift of exclusive scans and of the scans' gradients, along an unknown
    # axis (a gather) and beside one (its pad's gradient took the unknown size whole)
    def fn(x: tj.Tensor) -> Any:
        with tj.GradientTape() as t2:
            t2.watch(x)
            with tj.GradientTape() as t:
                t.watch(x)
                ys = [tj.cumsum(x, axis=0, exclusive=True),
                      tj.cumsum(x, axis=1, exclusive=True, reverse=True),
                      tj.math.cumprod(x, axis=0), tj.math.cumprod(x, axis=1, reverse=True),
                      tj.math.cumprod(x, axis=0, exclusive=True, reverse=True)]
                loss = tj.add_n([tj.reduce_sum(tj.sin(y) * (k + 1.0)) for k, y in enumerate(ys)])
            g = t.gradient(loss, x)
            h = tj.reduce_sum(g * g)
        return ys, loss, g, t2.gradient(h, x)

    f = tj.function(fn, input_signature=[tj.TensorSpec(spec, tj.float64)])
    x = np.random.default_rng(2).uniform(0.5, 1.5, (3, 4))
    x[1, 2] = 0.0                                   # cumprod's gradient at a zero
    got, want = f(x), fn(tj.constant(x))
    for a, b in zip(flatten(got)[0], flatten(want)[0]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)
    if spec != (None, None):
        return          # the eager oracle is the same for every spec: checked once
    loss = lambda v: fn(tj.constant(v))[1].numpy()                      # noqa: E731
    grad = lambda v: fn(tj.constant(v))[2].numpy()                      # noqa: E731
    g = got[2].numpy()
    np.testing.assert_allclose(g, numerical_vjp(loss, [x], [np.ones(())], [0])[0],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[3].numpy(), numerical_vjp(grad, [x], [2 * g], [0])[0],
                               rtol=1e-5, atol=1e-5)
