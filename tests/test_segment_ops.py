"""Segment reductions: TensorFlow 2.21's values (empty segments, dropped negative ids,
2-D ids, integer means), errors and gradients (ties shared, products with zeros), eager
and compiled, and gradients against central finite differences in float64 at orders 1
and 2."""
from __future__ import annotations


import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck

D = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]], np.float32)
F32MAX = float(np.finfo(np.float32).max)


def test_tensorflow_values() -> None:
    m = tj.math
    ids = [0, 0, 2, 2]
    assert m.segment_sum(D, ids).numpy().tolist() == [[4, 6], [0, 0], [12, 14]]
    assert m.segment_max(D, ids).numpy().tolist() == [[3, 4], [0, 0], [7, 8]]
    assert m.segment_min(D, ids).numpy().tolist() == [[1, 2], [0, 0], [5, 6]]
    assert m.segment_prod(D, ids).numpy().tolist() == [[3, 8], [1, 1], [35, 48]]
    assert m.segment_mean(D, ids).numpy().tolist() == [[2, 3], [0, 0], [6, 7]]
    u = [0, -1, 2, 0]
    for f in (lambda op, *a: op(*a), lambda op, *a: tj.function(op)(*a)):
        assert f(m.unsorted_segment_sum, D, u, 3).numpy().tolist() == [[8, 10], [0, 0],
                                                                       [5, 6]]
        assert f(m.unsorted_segment_max, D, u, 3).numpy().tolist() == [
            [7, 8], [-F32MAX, -F32MAX], [5, 6]]
        assert f(m.unsorted_segment_min, D, u, 3).numpy().tolist() == [
            [1, 2], [F32MAX, F32MAX], [5, 6]]
        assert f(m.unsorted_segment_prod, D, u, 3).numpy().tolist() == [[7, 16], [1, 1],
                                                                        [5, 6]]
        assert f(m.unsorted_segment_mean, D, u, 3).numpy().tolist() == [[4, 5], [0, 0],
                                                                        [5, 6]]
        np.testing.assert_allclose(f(m.unsorted_segment_sqrt_n, D, u, 3).numpy(),
                                   [[5.656854152679443, 7.071067810058594], [0, 0], [5, 6]])
    assert m.unsorted_segment_max(tj.constant([1, 2]), [0, 0], 2).numpy().tolist() == [
        2, -2147483648]
    assert m.unsorted_segment_sum(D, [[0, 1], [1, 0], [0, 0], [1, 1]], 2).numpy().tolist() \
        == [16, 20]
    r = m.unsorted_segment_mean(tj.constant([1, 2, 4]), [0, 0, 0], 1)
    assert r.dtype == tj.float64 and r.numpy().tolist() == [7 / 3]


@pytest.mark.parametrize("dtype", [tj.int32, tj.int64])
def test_sorted_segment_mean_of_integers_is_an_integer_rounded_toward_zero(dtype: object) -> None:
    # TensorFlow's SegmentMean keeps the integer dtype and truncates (its
    # UnsortedSegmentMean gives float64): tj gave float64 -3.67 for [-7, -3, -1].
    x = np.array([[-7, 2], [-3, 4], [-1, 5], [1, 1], [2, 1]])
    ids = [0, 0, 0, 2, 2]
    s = np.array([x[:3].sum(0), [0, 0], x[3:].sum(0)])
    n = np.array([[3], [1], [2]])
    want = np.sign(s) * (np.abs(s) // n)
    for run in (lambda d: tj.math.segment_mean(d, ids),
                tj.function(lambda d: tj.math.segment_mean(d, ids))):
        r = run(tj.constant(x, dtype))
        assert r.dtype == dtype
        np.testing.assert_array_equal(r.numpy(), want)


def test_tensorflow_gradients() -> None:
    x = tj.constant([3.0, 1.0, 3.0, 2.0, 0.0, 5.0, 0.0], tj.float64)
    ids = tj.constant([0, 0, 0, 1, 1, 2, 2])
    m = tj.math
    cases = [(lambda: m.segment_max(x, ids), [0.5, 0, 0.5, 1, 0, 1, 0]),
             (lambda: m.unsorted_segment_max(x, ids, 3), [0.5, 0, 0.5, 1, 0, 1, 0]),
             (lambda: m.segment_prod(x, ids), [3, 9, 3, 0, 2, 0, 5]),
             (lambda: m.unsorted_segment_prod(x, ids, 4), [3, 9, 3, 0, 2, 0, 5]),
             (lambda: m.unsorted_segment_mean(x, ids, 4), [1 / 3] * 3 + [0.5] * 4)]
    for f, want in cases:
        with tj.GradientTape() as t:
            t.watch(x)
            y = f()
        np.testing.assert_allclose(t.gradient(y, x).numpy(), want, rtol=1e-12)


def test_gradients_orders_1_and_2() -> None:
    m = tj.math
    rng = np.random.default_rng(0)
    x = rng.permutation(15).reshape(5, 3) * 0.25 + 0.5          # distinct, nonzero
    ids = np.array([1, -1, 0, 1, 3])             # segment 2 is empty, row 1 is dropped
    for op in (m.unsorted_segment_sum, m.unsorted_segment_mean, m.unsorted_segment_sqrt_n,
               m.unsorted_segment_prod):
        gradcheck(lambda t, op=op: op(t, ids, 4), x)
    full = np.array([1, -1, 0, 1, 2])            # no empty segment (its value is -/+max)
    for op in (m.unsorted_segment_max, m.unsorted_segment_min):
        gradcheck(lambda t, op=op: op(t, full, 3), x)
    gradcheck(lambda t: m.segment_max(t, [0, 0, 2, 2, 2]), x)
    gradcheck(lambda t: m.segment_prod(t, [0, 1, 1, 1, 2]) * 1.0, x)
    z = x.copy()
    z[0, 0] = 0.0
    gradcheck(lambda t: m.unsorted_segment_prod(t, ids, 4), z, order=1)


def test_errors() -> None:
    m = tj.math
    with pytest.raises(ValueError, match="segment ids are not increasing"):
        m.segment_sum(D, [0, 2, 1, 1])
    with pytest.raises(ValueError, match="segment id -1 is negative"):
        m.segment_sum(D, [-1, 0, 1, 1])
    with pytest.raises(ValueError, match="prefix"):
        m.segment_sum(D, [0, 0, 1])
    for f in (m.unsorted_segment_sum, m.unsorted_segment_max):
        with pytest.raises(IndexError, match=r"segment_ids\[1\] = 5 is out of range \[0, 3\)"):
            f(D, tj.constant([0, 5, 2, 0]), 3)
    with pytest.raises(tj.errors.TracingError, match="unsorted_segment_sum"):
        tj.function(lambda d, i: m.segment_sum(d, i))(D, np.array([0, 0, 1, 1]))
    with pytest.raises(tj.DTypeError, match="segment_ids must be int"):
        m.unsorted_segment_sum(D, [0.0, 1.0, 0.0, 1.0], 2)


@pytest.mark.parametrize("op", ["unsorted_segment_sum", "unsorted_segment_mean",
                                "unsorted_segment_max", "unsorted_segment_prod"])
@pytest.mark.parametrize("bad", [3, 5, 2**40, 2**63 - 1])
def test_unsorted_id_out_of_range_names_the_id_and_num_segments(op: str, bad: int) -> None:
    # The ids move up by one inside (negative ones go to a dropped first row): an error
    # must still name the id the user gave and num_segments, never id + 1 and
    # num_segments + 1 (nor the wrapped-around id + 1 of the int64 maximum).
    f = getattr(tj.math, op)
    ids = np.array([0, -1, bad, 1], np.int64)
    with pytest.raises(IndexError, match=rf"segment_ids\[2\] = {bad} is out of range \[0, 3\)"):
        f(D, ids, 3)
    with pytest.raises(IndexError, match=rf"index {bad} is out of bounds for size 3\b"):
        tj.function(lambda d, i: f(d, i, 3))(D, ids)
    ok = np.array([0, -1, 2, 1], np.int64)          # negative ids are still dropped
    np.testing.assert_allclose(np.asarray(tj.function(lambda d, i: f(d, i, 3))(D, ok)),
                               np.asarray(f(D, ok, 3)), rtol=1e-6)


@pytest.mark.parametrize("op", ["segment_sum", "segment_mean", "segment_prod", "segment_min",
                                "segment_max"])
def test_sorted_ops_compile_with_known_ids_and_name_the_alternative_otherwise(op: str) -> None:
    """Ids given as Python/NumPy values are known while tracing (the output size is the
    last id + 1); ids that are a traced tensor raise TracingError naming unsorted_<op>
    with num_segments, and that alternative compiles and agrees."""
    fn = getattr(tj.math, op)
    data = np.arange(10.0).reshape(5, 2) - 3.0
    ids = [0, 0, 2, 2, 3]
    want = fn(data, ids).numpy()
    np.testing.assert_array_equal(tj.function(lambda d: fn(d, ids))(data).numpy(), want)
    np.testing.assert_array_equal(
        tj.function(lambda d: fn(d, np.array(ids)))(data).numpy(), want)
    with pytest.raises(tj.errors.TracingError, match=f"unsorted_{op}.*num_segments"):
        tj.function(lambda d, i: fn(d, i))(data, np.array(ids))
    alt = getattr(tj.math, f"unsorted_{op}")
    got = tj.function(lambda d, i: alt(d, i, 4))(data, np.array(ids)).numpy().copy()
    if op in ("segment_min", "segment_max"):     # empty segments: 0 sorted, dtype bound unsorted
        got[1] = 0.0
    np.testing.assert_allclose(got, want, rtol=1e-6)
