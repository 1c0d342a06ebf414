"""Native gather / scatter_add / one_hot vs the reference interpreter, and their native
bounds checks: an out-of-range index raises IndexError naming the index and the bound,
and nothing is read or written out of bounds."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tracejit.codegen import compile_function
from tracejit.ir import bind

from tests.codegen.helpers import check, fn_of

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4)
idx_shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)
IDX = [np.int32, np.int64]
VALS = [np.float32, np.float64, np.int32, np.int64]


@settings(max_examples=30)
@given(shapes, idx_shapes, st.data(), st.sampled_from(IDX), st.sampled_from(VALS),
       st.integers(0, 2**32 - 1))
def test_gather_and_scatter_add(shape, ishape, data, idt, vdt, seed):
    axis = data.draw(st.integers(0, len(shape) - 1))
    n = shape[axis]
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 10).astype(vdt)
    if n == 0 and np.prod(ishape) > 0:
        ishape = (0,)
    idx = rng.integers(0, max(n, 1), ishape).astype(idt)

    def body(v, i):
        g = bind("gather", v, i, axis=axis)
        s = bind("scatter_add", g, i, axis=axis, size=n)
        # gather of an inlined expression, and an expression of a gather.
        g2 = bind("gather", bind("add", v, v), i, axis=axis)
        return g, s, bind("mul", g2, g)

    check(fn_of([(shape, vdt), (ishape, idt)], body), [x, idx])


@settings(max_examples=20)
@given(idx_shapes, st.integers(0, 5), st.sampled_from(IDX),
       st.sampled_from(VALS + [np.bool_]), st.integers(0, 2**32 - 1))
def test_one_hot(ishape, depth, idt, dt, seed):
    rng = np.random.default_rng(seed)
    if depth == 0 and np.prod(ishape) > 0:
        ishape = (0,)
    # Indices out of [0, depth), -1 and the extremes of the dtype included, give an all-off
    # row (TensorFlow's one_hot), natively as in the reference.
    idx = rng.integers(-2, depth + 3, ishape).astype(idt)
    if idx.size:
        idx.flat[0] = np.iinfo(idt).min
        idx.flat[-1] = np.iinfo(idt).max
    fn = fn_of([(ishape, idt)], lambda i: (
        bind("one_hot", i, depth=depth, dtype=np.dtype(dt), on=1.0, off=0.0),
        bind("one_hot", i, depth=depth, dtype=np.dtype(dt), on=-2.5, off=7.0)))
    check(fn, [idx])


def test_scatter_add_accumulates_repeats_in_order():
    g = np.array([[1e16, 1.0, -1e16, 1.0], [1.0, 2.0, 3.0, 4.0]])
    idx = np.array([2, 2, 2, 0], np.int64)
    fn = fn_of([(g.shape, np.float64), (idx.shape, np.int64)],
               lambda a, i: bind("scatter_add", a, i, axis=1, size=3))
    exe = check(fn, [g, idx])
    out = exe(g, idx)[0]
    np.testing.assert_array_equal(out, [[1.0, 0.0, 0.0], [4.0, 0.0, 6.0]])


@pytest.mark.parametrize("bad", [5, 7, -1, -2**31, 2**31 - 1])
def test_gather_index_error(bad):
    x = np.arange(5.0)
    idx = np.array([0, 4, bad, 1, bad], np.int32)
    fn = fn_of([((5,), np.float64), ((5,), np.int32)],
               lambda v, i: bind("gather", bind("exp", v), i, axis=0))
    exe = compile_function(fn)
    with pytest.raises(IndexError, match=f"gather: index {bad} is out of bounds for size 5"):
        exe(x, idx)
    # The executable stays usable.
    np.testing.assert_allclose(exe(x, np.array([0, 1, 2, 3, 4], np.int32))[0], np.exp(x))


def test_one_hot_and_scatter_index_errors():
    idx = np.array([[0, 1], [3, 9]], np.int64)
    fn = fn_of([((2, 2), np.int64)],
               lambda i: bind("one_hot", i, depth=4, dtype=np.dtype(np.float32),
                              on=1.0, off=0.0, checked=True))
    with pytest.raises(IndexError, match="one_hot: index 9 is out of bounds for size 4"):
        compile_function(fn)(idx)
    g = np.ones((2, 2), np.float32)
    fn = fn_of([((2, 2), np.float32), ((2, 2), np.int64)],
               lambda a, i: bind("scatter_add", a, i, axis=0, size=3))
    with pytest.raises(IndexError, match="scatter_add: index 3 is out of bounds for size 3"):
        compile_function(fn)(g, idx)
    with pytest.raises(IndexError, match="scatter_add: index -1 is out of bounds for size 3"):
        compile_function(fn)(g, np.array([[0, 1], [-1, 2]], np.int64))


def test_gather_from_empty_axis_raises():
    x = np.zeros((0, 3), np.float32)
    idx = np.array([0], np.int64)
    fn = fn_of([((0, 3), np.float32), ((1,), np.int64)], lambda v, i: bind("gather", v, i))
    with pytest.raises(IndexError, match="gather: index 0 is out of bounds for size 0"):
        compile_function(fn)(x, idx)


def test_index_error_from_threads():
    """Status buffers are per thread: concurrent failures report their own index."""
    from concurrent.futures import ThreadPoolExecutor
    fn = fn_of([((100,), np.float64), ((50,), np.int64)],
               lambda v, i: bind("gather", v, i, axis=0))
    exe = compile_function(fn)
    x = np.arange(100.0)

    def run(k):
        idx = np.zeros(50, np.int64)
        idx[k % 50] = 100 + k
        try:
            exe(x, idx)
        except IndexError as e:
            return str(e)
        return "no error"

    with ThreadPoolExecutor(8) as pool:
        msgs = list(pool.map(run, range(64)))
    assert msgs == [f"gather: index {100 + k} is out of bounds for size 100" for k in range(64)]


def test_failed_checks_free_scratch_memory():
    """An index error after scratch buffers were allocated frees them on the way out."""
    def body(v, i):
        e = bind("exp", v)                                   # scratch: read twice below
        s = bind("reduce_sum", e, axes=(1,))
        g = bind("gather", bind("add", e, e), i, axis=0)     # bounds check after `e`
        return s, g

    fn = fn_of([((512, 512), np.float64), ((3,), np.int64)], body)
    exe = compile_function(fn)
    x = np.zeros((512, 512))
    bad = np.array([0, 1, 512], np.int64)

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 1e6

    for _ in range(20):
        with pytest.raises(IndexError):
            exe(x, bad)
    before = rss_mb()
    for _ in range(300):      # 2 MB of scratch per call: a leak would show as 600 MB
        with pytest.raises(IndexError):
            exe(x, bad)
    assert rss_mb() - before < 50
