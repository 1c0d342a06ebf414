"""`tj.vectorized_map`: `fn` traced once on one slice and batched over all of them (the
batching rules), against `map_fn` and a Python loop over the slices, eagerly and compiled,
with gradients (central differences) and run-time checks."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck

F32 = np.float32
RNG = np.random.default_rng(7)
W = RNG.standard_normal((3, 4)).astype(F32)


def _mlp_row(x: tj.Tensor) -> tj.Tensor:
    return tj.tanh(tj.matmul(x[None], tj.constant(W)))[0]      # a captured tensor


def _branchy(x: tj.Tensor) -> tj.Tensor:
    # a predicate that differs between slices: both branches, selected per slice
    return tj.cond(tj.reduce_sum(x) > 0.0, lambda: x * 2.0, lambda: -x)


def _looping(x: tj.Tensor) -> tj.Tensor:
    # a trip count that differs between slices
    def body(i: tj.Tensor, s: tj.Tensor) -> list[tj.Tensor]:
        return [i + 1, s * 0.5 + 1.0]
    n = tj.cast(tj.reduce_max(tj.abs(x)) * 3.0, tj.int32)
    return tj.while_loop(lambda i, s: i < n, body, [0, x])[1]


def _indexing(x: tj.Tensor) -> tj.Tensor:
    return tj.gather(x, tj.argsort(x))      # indices that differ between slices


FUNCTIONS: list[tuple[str, Callable[[tj.Tensor], Any]]] = [
    ("elementwise", lambda x: tj.sin(x) * x + 1.0),
    ("reduction", lambda x: tj.reduce_logsumexp(x)),
    ("matmul", _mlp_row),
    ("cond", _branchy),
    ("while", _looping),
    ("gather", _indexing),
    ("outer", lambda x: x[:, None] * x[None, :]),
]


@pytest.mark.parametrize("name", [n for n, _ in FUNCTIONS])
def test_matches_a_loop_over_the_slices_eagerly_and_compiled(name: str) -> None:
    fn = dict(FUNCTIONS)[name]
    xs = RNG.standard_normal((5, 3)).astype(F32)
    want = np.stack([fn(tj.constant(x)).numpy() for x in xs])
    np.testing.assert_allclose(tj.map_fn(fn, tj.constant(xs)).numpy(), want, rtol=1e-6)
    got = tj.vectorized_map(fn, tj.constant(xs))
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    compiled = tj.function(lambda e: tj.vectorized_map(fn, e))
    np.testing.assert_allclose(compiled(xs).numpy(), want, rtol=1e-5, atol=1e-6)


def test_structures_in_and_out() -> None:
    elems = {"a": tj.constant(np.arange(6, dtype=F32).reshape(3, 2)),
             "b": tj.constant(np.arange(3, dtype=np.int32))}
    out = tj.vectorized_map(lambda d: (d["a"] * tj.cast(d["b"], tj.float32), d["b"] + 1),
                            elems)
    assert isinstance(out, tuple) and len(out) == 2
    np.testing.assert_array_equal(out[0].numpy(), np.arange(6).reshape(3, 2)
                                  * np.arange(3)[:, None])
    np.testing.assert_array_equal(out[1].numpy(), [1, 2, 3])
    # a result that does not depend on the slice is stacked all the same
    np.testing.assert_array_equal(
        tj.vectorized_map(lambda x: tj.constant(2.0), tj.zeros([4, 2])).numpy(), [2.0] * 4)


def test_no_slices() -> None:
    out = tj.vectorized_map(lambda x: tj.reduce_sum(x) + 1.0, tj.zeros([0, 3]))
    assert out.shape == (0,) and out.dtype == np.float32


def test_gradients_orders_1_and_2() -> None:
    xs = RNG.standard_normal((4, 3))
    gradcheck(lambda e: tj.vectorized_map(lambda x: tj.reduce_sum(tj.sin(x) * x), e), xs)
    gradcheck(lambda e: tj.vectorized_map(_branchy, e), xs)


def test_checks_of_any_slice_raise() -> None:
    def fn(x: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_greater(x, 0.0, message="positive")
        return tj.math.log(x)

    ok = np.ones((3, 2), F32)
    bad = ok.copy()
    bad[2, 1] = -1.0
    compiled = tj.function(lambda e: tj.vectorized_map(fn, e))
    np.testing.assert_array_equal(compiled(ok).numpy(), np.zeros((3, 2)))
    for run in (lambda e: tj.vectorized_map(fn, tj.constant(e)), compiled):
        with pytest.raises(tj.errors.InvalidArgumentError, match="^positive\nCondition x > y"):
            run(bad)


def test_bad_elems() -> None:
    with pytest.raises(ValueError, match="leading axis of length 3"):
        tj.vectorized_map(lambda a: a[0] + a[1], (tj.zeros([3]), tj.zeros([2])))
    with pytest.raises(ValueError, match="tensors with a leading axis"):
        tj.vectorized_map(lambda a: a, tj.constant(1.0))


def _guarded_division(x: tj.Tensor) -> tj.Tensor:
    return tj.cond(x[1] != 0, lambda: x[0] // x[1], lambda: tj.constant(0))


def _while_past_its_end(x: tj.Tensor) -> tj.Tensor:
    n = tj.cast(x, tj.int32)

    def body(i: tj.Tensor, s: tj.Tensor) -> list[tj.Tensor]:
        tj.debugging.assert_less(i, n)      # holds on every iteration that runs
        return [i + 1, s * 2.0]
    return tj.while_loop(lambda i, s: i < n, body, [0, tj.constant(1.0)])[1]


def _fori_past_its_end(x: tj.Tensor) -> tj.Tensor:
    n = tj.cast(x, tj.int32)

    def body(i: tj.Tensor, s: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_less(i, n)
        return s + 1.0
    return tj.fori_loop(0, n, body, tj.constant(0.0))


MASKED = [
    (_guarded_division, np.array([[7, 2], [5, 0], [9, 3]], np.int32), [3, 0, 3]),
    (_while_past_its_end, np.array([1.0, 3.0, 0.0], F32), [2.0, 8.0, 1.0]),
    (_fori_past_its_end, np.array([1.0, 3.0, 0.0], F32), [1.0, 3.0, 0.0]),
]


@pytest.mark.parametrize("case", range(len(MASKED)))
def test_code_an_element_does_not_run_checks_nothing_for_it(case: int) -> None:
    """A branch another element takes, iterations past an element's end: batched, they
    run for every element, and their checks only for the elements that run them (a
    guarded integer division must not raise for the element the guard protects)."""
    fn, xs, want = MASKED[case]
    np.testing.assert_array_equal(tj.map_fn(fn, tj.constant(xs)).numpy(), want)
    np.testing.assert_array_equal(tj.vectorized_map(fn, tj.constant(xs)).numpy(), want)
    compiled = tj.function(lambda e: tj.vectorized_map(fn, e))
    np.testing.assert_array_equal(compiled(xs).numpy(), want)


def test_checks_in_a_branch_check_the_elements_that_take_it() -> None:
    def fn(x: tj.Tensor) -> tj.Tensor:
        def taken() -> tj.Tensor:
            tj.debugging.assert_less(x, 10.0, message="small")
            return x
        return tj.cond(x > 0.0, taken, lambda: -x)

    compiled = tj.function(lambda e: tj.vectorized_map(fn, e))
    np.testing.assert_array_equal(compiled(np.array([1.0, -20.0], F32)).numpy(), [1.0, 20.0])
    with pytest.raises(tj.errors.InvalidArgumentError, match="^small"):
        compiled(np.array([1.0, 20.0], F32))
    with pytest.raises(tj.errors.InvalidArgumentError, match="^small"):
        tj.vectorized_map(fn, tj.constant([1.0, 20.0]))
