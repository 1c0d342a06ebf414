"""shape, size, rank, slice, reverse, roll, tile, repeat, split, eye and linspace: NumPy
references eagerly and compiled (size-0 axes included), TensorFlow's values and errors
where they are not NumPy's, and gradients against central finite differences in float64
at orders 1 and 2."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck, rand


def same(op: Callable[..., Any], want: Any, *args: Any, rtol: float = 0.0) -> None:
    """`op(*args)` equals `want` (value, shape and dtype; values within `rtol`) eagerly and
    compiled."""
    want = [np.asarray(w) for w in want] if isinstance(want, list) else np.asarray(want)
    for fn in (op, tj.function(op)):
        got = fn(*args)
        gots = [g.numpy() for g in got] if isinstance(got, list) else got.numpy()
        for g, w in zip(gots if isinstance(gots, list) else [gots],
                        want if isinstance(want, list) else [want]):
            assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=0)


X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def test_shape_size_rank_are_int32_tensors() -> None:
    same(lambda x: tj.shape(x), np.array([2, 3, 4], np.int32), X)
    same(lambda x: tj.size(x), np.int32(24), X)
    same(lambda x: tj.rank(x), np.int32(3), X)
    assert tj.shape(X, out_type=tj.int64).dtype == np.int64
    assert tj.size(np.zeros((0, 3)), out_type=tj.int64).numpy() == 0
    with pytest.raises(TypeError, match="out_type"):
        tj.shape(X, out_type=tj.float32)


@pytest.mark.parametrize("begin,size_", [([1, 0, 1], [-1, 2, 3]), ([0, 3, 0], [2, 0, -1]),
                                         ([0, 0, 0], [-1, -1, -1])])
def test_slice_matches_numpy(begin: list[int], size_: list[int]) -> None:
    want = X[tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size_))]
    same(lambda x: tj.slice(x, begin, size_), want, X)


def test_slice_errors_name_the_bounds() -> None:
    with pytest.raises(ValueError, match=r"size\[0\] in \[0, 1\].*got 2"):
        tj.slice(X, [1, 0, 0], [2, 1, 1])
    with pytest.raises(ValueError, match=r"begin\[0\] in \[0, 2\].*got -1"):
        tj.slice(X, [-1, 0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="one entry per dimension"):
        tj.slice(X, [0], [1])
    with pytest.raises(TypeError, match="known when the op runs"):
        tj.function(lambda x, b: tj.slice(x, b, [1, 1, 1]))(X, np.array([0, 0, 0]))


def test_reverse_and_roll_match_numpy() -> None:
    same(lambda x: tj.reverse(x, [0, -1]), X[::-1, :, ::-1], X)
    same(lambda x: tj.roll(x, 1, 2), np.roll(X, 1, 2), X)
    same(lambda x: tj.roll(x, [-1, 5, 2], [0, 1, 1]), np.roll(X, (-1, 7), (0, 1)), X)
    same(lambda x: tj.roll(x, 3, 0), np.roll(np.zeros((0, 2)), 3, 0), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="more than once"):
        tj.reverse(X, [1, -2])


def test_tile_and_repeat_match_numpy() -> None:
    same(lambda x: tj.tile(x, [2, 1, 3]), np.tile(X, (2, 1, 3)), X)
    same(lambda x: tj.tile(x, [0, 1, 1]), np.tile(X, (0, 1, 1)), X)
    same(lambda x: tj.repeat(x, 2), np.repeat(X, 2), X)
    same(lambda x: tj.repeat(x, 3, axis=-1), np.repeat(X, 3, axis=-1), X)
    same(lambda x: tj.repeat(x, [2, 0, 1], axis=1), np.repeat(X, [2, 0, 1], axis=1), X)
    # TensorFlow counts negative repeats as 0
    same(lambda x: tj.repeat(x, [-1, 2], axis=0), np.repeat(X, [0, 2], axis=0), X)
    with pytest.raises(ValueError, match="multiples of length 3"):
        tj.tile(X, [2])
    with pytest.raises(ValueError, match=">= 0"):
        tj.tile(X, [-1, 1, 1])
    with pytest.raises(ValueError, match="do not match dimension 1"):
        tj.repeat(X, [1, 2], axis=1)


def test_split_sizes_and_errors() -> None:
    x = np.arange(14.0).reshape(7, 2)
    same(lambda t: tj.split(t, [2, -1, 1]), [x[:2], x[2:6], x[6:]], x)
    same(lambda t: tj.split(t, 2, axis=1), [x[:, :1], x[:, 1:]], x)
    with pytest.raises(ValueError, match="divide dimension 0"):
        tj.split(x, 3)
    with pytest.raises(ValueError, match="do not add up"):
        tj.split(x, [2, 2])
    with pytest.raises(ValueError, match="one -1"):
        tj.split(x, [-1, -1])


def test_eye_and_linspace_match_tensorflow() -> None:
    same(lambda: tj.eye(2, 3, batch_shape=[2], dtype=tj.int32),
         np.broadcast_to(np.eye(2, 3, dtype=np.int32), (2, 2, 3)))
    same(lambda: tj.eye(3), np.eye(3, dtype=np.float32))
    same(lambda: tj.linspace(0.0, 1.0, 5), np.linspace(0, 1, 5).astype(np.float32))
    same(lambda: tj.linspace(0, 4, 5), np.linspace(0, 4, 5))          # ints give float64
    same(lambda: tj.linspace([0.0, 1.0], [1.0, 3.0], 3, axis=1),
         np.array([[0, 0.5, 1], [1, 2, 3]], np.float32))
    same(lambda: tj.linspace(2.0, 5.0, 1), np.array([2.0], np.float32))
    same(lambda: tj.linspace(2.0, 5.0, 0), np.zeros(0, np.float32))
    # the last value is `stop` exactly
    assert tj.linspace(0.1, 0.7, 7).numpy()[-1] == np.float32(0.7)
    # a number `stop` takes a float start's dtype, as TensorFlow converts it (these raised
    # TypeError: "start is float64 and stop float32")
    same(lambda: tj.linspace(np.float64(0.0), 1.0, 3), np.array([0.0, 0.5, 1.0]))
    same(lambda: tj.linspace(tj.constant([0.0, 1.0], tj.float64), [1.0, 2.0], 2),
         np.array([[0.0, 1.0], [1.0, 2.0]]))
    same(lambda: tj.linspace(0.0, np.float64(1.0), 3), np.array([0.0, 0.5, 1.0], np.float32))


def test_gradients_orders_1_and_2() -> None:
    x = rand(1, (2, 3, 4))
    gradcheck(lambda t: tj.slice(t, [0, 1, 1], [-1, 2, 2]) ** 2, x)
    gradcheck(lambda t: tj.reverse(t, [1]) * t, x)
    gradcheck(lambda t: tj.roll(t, [1, -2], [2, 1]) * t, x)
    gradcheck(lambda t: tj.tile(t, [1, 2, 2]) ** 2, x)
    gradcheck(lambda t: tj.repeat(t, 2, axis=1) ** 2, x)
    gradcheck(lambda t: tj.repeat(t, [0, 3, 1], axis=1) ** 2, x)
    gradcheck(lambda t: tj.stack([p * p for p in tj.split(t, [1, -1], axis=2)[::-1]][:1]), x)
    gradcheck(lambda a, b: tj.linspace(a, b, 4, axis=-1) ** 2, rand(2, (3,)), rand(3, (3,)))


def test_gradients_compiled_match_eager() -> None:
    x = rand(4, (2, 3, 4))

    def f(t: tj.Tensor) -> tj.Tensor:
        with tj.GradientTape() as tape:
            tape.watch(t)
            y = tj.reduce_sum(tj.tile(tj.roll(t, 1, 1), [2, 1, 1]) ** 2
                              * tj.repeat(t, 2, axis=0))
        return tape.gradient(y, t)
    np.testing.assert_allclose(tj.function(f)(x).numpy(), f(tj.constant(x)).numpy(),
                               rtol=1e-12)
