"""Native reductions and argmax/argmin vs the reference interpreter: any axes, keepdims,
empty axes (identities), fused elementwise producers, NaN propagation, and float32 sum
accuracy on a million elements."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tracejit.codegen import compile_function
from tracejit.ir import bind
from tracejit.ir.interp import evaluate

from tests.codegen.helpers import assert_close, check, floats, fn_of, ints

NUM = [np.float32, np.float64, np.int32, np.int64]
REDUCE = ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod"]
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)


def _data(rng, shape, dtype, special=True):
    if np.dtype(dtype).kind == "f":
        return floats(rng, shape, dtype, scale=1.5, special=special)
    return ints(rng, shape, dtype)


def _check_reductions(x, axes, keepdims, fused):
    dtype = x.dtype

    def body(v):
        src = bind("mul", v, v) if fused else v
        return tuple(bind(n, src, axes=axes, keepdims=keepdims) for n in REDUCE)

    fn = fn_of([(x.shape, dtype)], body)
    got = compile_function(fn)(x)
    with np.errstate(all="ignore"):
        ref = evaluate(fn, [x])
        src = x * x if fused else x
        scale = np.sum(np.abs(src.astype(np.float64)), axis=axes, keepdims=keepdims) \
            if dtype.kind == "f" else 0
    for name, g, r in zip(REDUCE, got, ref):
        if dtype.kind != "f":
            assert_close(g, r, what=name)
        elif name == "reduce_sum":
            # Summation order differs from NumPy's: bound the error by the sum of |x|.
            eps = np.finfo(dtype).eps * 8 * max(1, src.size)
            assert g.shape == r.shape and g.dtype == r.dtype
            finite = np.isfinite(scale)
            err = np.abs(g[finite].astype(np.float64) - r[finite])
            assert (err <= eps * scale[finite] + 1e-30).all(), (g, r)
            np.testing.assert_array_equal(g[~finite], r[~finite])
        elif name == "reduce_prod":
            assert_close(g, r, rtol=3e-5 if dtype == np.float32 else 1e-12, what=name)
        else:
            assert_close(g, r, what=name)


@settings(max_examples=30)
@given(shapes, st.data(), st.sampled_from(NUM), st.booleans(), st.integers(0, 2**32 - 1))
def test_reductions(shape, data, dtype, keepdims, seed):
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1))) if shape else ()))
    x = _data(np.random.default_rng(seed), shape, dtype)
    _check_reductions(x, axes, keepdims, fused=data.draw(st.booleans()))


@pytest.mark.parametrize("dtype", NUM)
@pytest.mark.parametrize("shape,axes", [((1003,), (0,)), ((3, 2051), (1,)), ((2051, 3), (0,)),
                                        ((17, 9, 33), (0, 2)), ((6, 7, 8), (1,)),
                                        ((5000,), (0,)), ((4, 0, 3), (1,)), ((4, 0, 3), (0,))])
def test_reductions_long(dtype, shape, axes):
    x = _data(np.random.default_rng(7), shape, dtype, special=False)
    _check_reductions(x, axes, keepdims=False, fused=False)


@settings(max_examples=20)
@given(shapes.filter(lambda s: len(s) > 0 and 0 not in s), st.data(), st.sampled_from(NUM),
       st.integers(0, 2**32 - 1))
def test_argmax_argmin(shape, data, dtype, seed):
    axis = data.draw(st.integers(0, len(shape) - 1))
    out_dt = data.draw(st.sampled_from([np.int32, np.int64]))
    rng = np.random.default_rng(seed)
    # Few distinct values: many ties, so "first index" matters.
    x = (rng.integers(-2, 3, shape).astype(dtype) if data.draw(st.booleans())
         else _data(rng, shape, dtype))
    fn = fn_of([(shape, dtype)], lambda v: (
        bind("argmax", v, axis=axis, dtype=np.dtype(out_dt)),
        bind("argmin", bind("neg", v), axis=axis, dtype=np.dtype(out_dt))))
    check(fn, [x])


def test_nan_propagation_and_first_nan():
    x = np.array([[1.0, np.nan, 3.0, np.nan], [np.inf, 2.0, -np.inf, 0.0],
                  [5.0, 5.0, -1.0, -1.0]], np.float64)
    fn = fn_of([(x.shape, np.float64)], lambda v: (
        bind("reduce_max", v, axes=(1,)), bind("reduce_min", v, axes=(1,)),
        bind("argmax", v, axis=1, dtype=np.dtype(np.int64)),
        bind("argmin", v, axis=1, dtype=np.dtype(np.int64)),
        bind("reduce_max", v, axes=(0,)), bind("reduce_sum", v, axes=(1,))))
    exe = check(fn, [x])
    mx, mn, amax, amin, *_ = exe(x)
    assert np.isnan(mx[0]) and np.isnan(mn[0])
    assert list(amax) == [1, 0, 0] and list(amin) == [1, 2, 2]


def test_empty_axes_give_identities():
    for dtype in NUM:
        x = np.zeros((3, 0, 2), dtype)
        _check_reductions(x, (1,), keepdims=True, fused=False)
        _check_reductions(x, (0, 1, 2), keepdims=False, fused=True)


def test_float32_sum_accuracy_1m():
    rng = np.random.default_rng(11)
    x = (rng.random(1_000_000) * 2 + 0.1).astype(np.float32)
    y = (rng.standard_normal(1_000_000) + 0.3).astype(np.float32)
    fn = fn_of([(x.shape, np.float32)] * 2,
               lambda a, b: (bind("reduce_sum", a, axes=(0,)), bind("reduce_sum", b, axes=(0,))))
    exe = compile_function(fn)
    got = exe(x, y)
    for g, v in zip(got, (x, y)):
        exact = np.sum(v.astype(np.float64))
        err_native = abs(float(g) - exact)
        err_numpy = abs(float(np.sum(v)) - exact)
        assert err_native <= err_numpy, (err_native, err_numpy)
        assert err_native <= abs(exact) * 1e-7


def test_float64_blocked_sum_accuracy():
    rng = np.random.default_rng(12)
    x = rng.standard_normal(300_000) + 1e3
    fn = fn_of([(x.shape, np.float64)], lambda a: bind("reduce_sum", a, axes=(0,)))
    (g,) = compile_function(fn)(x)
    exact = float(np.sum(x.astype(np.longdouble)))
    err_numpy = abs(float(np.sum(x)) - exact)
    assert abs(float(g) - exact) <= max(8 * err_numpy, 8 * float(np.spacing(exact)))


@pytest.mark.parametrize("shape,axes", [((3, 400_000), (1,)),      # the sum kernel
                                        ((400_000, 3), (0, 1)),    # short fused rows
                                        ((600, 2000), (0, 1))])    # blocks of each row
def test_float32_sum_accuracy_in_blocks(shape, axes):
    rng = np.random.default_rng(13)
    x = (rng.random(shape) * 2 + 0.1).astype(np.float32)
    fn = fn_of([(shape, np.float32)],
               lambda a: bind("reduce_sum", bind("mul", a, a), axes=axes))
    (g,) = compile_function(fn)(x)
    sq = x * x
    exact = np.sum(sq.astype(np.float64), axis=axes)
    err_native = np.max(np.abs(g.astype(np.float64) - exact) / exact)
    err_numpy = np.max(np.abs(np.sum(sq, axis=axes).astype(np.float64) - exact) / exact)
    assert err_native <= max(2 * err_numpy, 2e-7), (err_native, err_numpy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_product_with_a_zero_and_overflowing_partial_products_is_zero(dtype) -> None:
    """A zero among factors whose partial products overflow: NumPy's 0, never 0 * inf = NaN
    from a reordered product (alone and fused with its producer)."""
    import tracejit as tj
    x = np.arange(300, dtype=dtype)
    alone = tj.compile(lambda x: tj.reduce_prod(x))
    fused = tj.compile(lambda x: tj.reduce_prod(x * 1.0 + 0.0))
    for f in (alone, fused):
        got = f(x).numpy()
        assert got == np.prod(x) == 0 and not np.signbit(got), got
