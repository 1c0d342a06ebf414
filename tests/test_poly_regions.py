"""`while_loop`, `cond` and `scan` with unknown dimensions: one native code for every
size (`codegen/poly_regions.py`: each body lowered with runtime sizes, called in a real
loop), values and gradients equal to eager mode and to central differences, and index
errors inside a body as fixed-shape code reports them."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tracejit.codegen import poly
from tests.gradcheck import numerical_vjp


def _counts() -> tuple[int, int]:
    return poly.COUNTS["runtime"], poly.COUNTS["specialized"]


def _loop_loss(x: Any, w: Any) -> Any:
    """Three steps of `h = tanh(h @ w) + x` (a while loop), a cond on the result's sign,
    then a scan over the rows of `w` accumulating `h * row`."""
    def body(i: Any, h: Any) -> Any:
        return i + 1, tj.tanh(h @ w) + x
    _, h = tj.while_loop(lambda i, h: i < 3, body, (tj.constant(0), x))
    h = tj.cond(tj.reduce_sum(h) > 0, lambda: h * 2.0, lambda: tj.sin(h))
    acc = tj.scan(lambda a, row: a * 0.5 + h * row, w, initializer=tj.zeros_like(h))
    return tj.reduce_sum(acc * acc)


def test_loop_cond_and_scan_gradients_with_unknown_batch_one_compile() -> None:
    def step(x: Any, w: Any) -> Any:
        with tj.GradientTape() as t:
            t.watch([x, w])
            loss = _loop_loss(x, w)
        return loss, t.gradient(loss, [x, w])

    f = tj.function(step, input_signature=[tj.TensorSpec([None, 3], tj.float64),
                                           tj.TensorSpec([3, 3], tj.float64)])
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3)) * 0.5
    before = _counts()
    for n in (1, 5, 0):
        for sign in (1.0, -1.0):            # both branches of the cond
            x = sign * np.abs(rng.normal(size=(n, 3)))
            loss, grads = f(x, w)
            want_loss, want = step(tj.constant(x), tj.constant(w))
            np.testing.assert_allclose(loss.numpy(), want_loss.numpy(), rtol=1e-12)
            for g, e in zip(grads, want):
                np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-11, atol=1e-13)
            if n == 5:
                num = numerical_vjp(lambda *a: _loop_loss(*map(tj.constant, a)).numpy(),
                                    [x, w], [np.ones(())], [0, 1])
                np.testing.assert_allclose(grads[0].numpy(), num[0], rtol=1e-5, atol=1e-7)
                np.testing.assert_allclose(grads[1].numpy(), num[1], rtol=1e-5, atol=1e-7)
    assert _counts() == (before[0] + 1, before[1])


def test_scan_over_steps_of_unknown_width() -> None:
    # The step count is known (3 rows of xs); each row has an unknown length.
    f = tj.function(lambda xs: tj.scan(lambda a, r: a * r + 1.0, xs),
                    input_signature=[tj.TensorSpec([3, None], tj.float32)])
    before = _counts()
    for m in (1, 17, 0):
        xs = np.linspace(-1, 1, 3 * m, dtype=np.float32).reshape(3, m)
        want = tj.scan(lambda a, r: a * r + 1.0, tj.constant(xs)).numpy()
        np.testing.assert_allclose(f(xs).numpy(), want, rtol=1e-6)
    assert _counts() == (before[0] + 1, before[1])


def test_index_error_inside_a_loop_body_with_unknown_sizes() -> None:
    table = tj.constant([1.0, 2.0, 3.0, 4.0])

    @tj.function(input_signature=[tj.TensorSpec([None], tj.int32)])
    def lookup(idx: Any) -> Any:
        def body(i: Any, s: Any) -> Any:
            return i + 1, s + tj.gather(table, idx + i)
        return tj.while_loop(lambda i, s: i < 2, body, (0, tj.zeros_like(idx, tj.float32)))[1]

    np.testing.assert_array_equal(lookup(np.array([0, 2], np.int32)).numpy(), [3.0, 7.0])
    with pytest.raises(IndexError) as e:
        lookup(np.array([0, 3, 1], np.int32))
    msg = str(e.value)
    assert msg.startswith("gather: index 4 is out of bounds for size 4"), msg
    assert "test_poly_regions.py:" in msg and "tj.gather(table, idx + i)" in msg, msg
