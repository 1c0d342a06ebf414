"""Native shape primitives vs the reference interpreter. Each op is applied to a parameter
(a materialized buffer), to an inlined expression, and feeds an elementwise consumer, so
both index-remapping paths and fusion through the op are exercised."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tracejit.ir import bind

from tests.codegen.helpers import check, floats, fn_of

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)


def _data(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return floats(rng, shape, dt)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(-50, 50, shape).astype(dt)


def _neg(x):
    return bind("logical_not", x) if x.dtype == np.bool_ else bind("neg", x)


def _check_op(shape, dtype, seed, op):
    """op(x), op(inlined -x) and -op(x) inlined into a consumer, in one function."""
    rng = np.random.default_rng(seed)
    x = _data(rng, shape, dtype)
    fn = fn_of([(shape, dtype)], lambda v: (op(v), op(_neg(v)), _neg(op(v))))
    check(fn, [x])


@st.composite
def reshape_case(draw):
    shape = draw(shapes)
    n = math.prod(shape)
    dims = []
    rest = n
    while rest > 1 and len(dims) < 4:
        d = draw(st.sampled_from([k for k in range(1, rest + 1) if rest % k == 0]))
        dims.append(d)
        rest //= d
    dims.append(rest)
    if n == 0:
        dims = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3).filter(
            lambda s: 0 in s))
    draw(st.randoms()).shuffle(dims)
    return shape, tuple(dims)


@settings(max_examples=25)
@given(reshape_case(), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_reshape(case, dtype, seed):
    shape, target = case
    _check_op(shape, dtype, seed, lambda v: bind("reshape", v, shape=target))


@settings(max_examples=25)
@given(shapes, st.data(), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_transpose(shape, data, dtype, seed):
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    _check_op(shape, dtype, seed, lambda v: bind("transpose", v, perm=perm))


@settings(max_examples=25)
@given(shapes, st.data(), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_broadcast_to(shape, data, dtype, seed):
    small = tuple(1 if data.draw(st.booleans()) else d for d in shape)
    lead = tuple(data.draw(st.lists(st.integers(0, 3), max_size=2)))
    _check_op(small, dtype, seed, lambda v: bind("broadcast_to", v, shape=lead + shape))


@settings(max_examples=25)
@given(shapes, st.data(), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_slice(shape, data, dtype, seed):
    starts, limits, strides = [], [], []
    for d in shape:
        s = data.draw(st.integers(0, d))
        starts.append(s)
        limits.append(data.draw(st.integers(s, d)))
        strides.append(data.draw(st.integers(1, 3)))
    _check_op(shape, dtype, seed, lambda v: bind("slice", v, starts=tuple(starts),
                                                 limits=tuple(limits), strides=tuple(strides)))


@settings(max_examples=25)
@given(shapes, st.data(), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_pad(shape, data, dtype, seed):
    r = len(shape)
    lo = tuple(data.draw(st.lists(st.integers(0, 2), min_size=r, max_size=r)))
    hi = tuple(data.draw(st.lists(st.integers(0, 2), min_size=r, max_size=r)))
    inner = tuple(data.draw(st.lists(st.integers(0, 2), min_size=r, max_size=r)))
    _check_op(shape, dtype, seed, lambda v: bind("pad", v, lo=lo, hi=hi, interior=inner))


@settings(max_examples=25)
@given(shapes, st.data(), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_rev(shape, data, dtype, seed):
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, max(0, len(shape) - 1)))
                                  if shape else st.just(set()))))
    _check_op(shape, dtype, seed, lambda v: bind("rev", v, axes=axes))


@settings(max_examples=25)
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4), st.data(),
       st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_concat(shape, data, dtype, seed):
    axis = data.draw(st.integers(0, len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=3))
    types = [(shape[:axis] + (n,) + shape[axis + 1:], dtype) for n in sizes]
    rng = np.random.default_rng(seed)
    args = [_data(rng, s, dtype) for s, _ in types]

    def body(*xs):
        c = bind("concat", *xs, axis=axis)
        return c, _neg(bind("concat", *[_neg(x) for x in xs], axis=axis))

    check(fn_of(types, body), args)


@settings(max_examples=20)
@given(shapes, st.data(), st.sampled_from(DTYPES[:4]))
def test_iota(shape, data, dtype):
    if not shape:
        shape = (3,)
    dim = data.draw(st.integers(0, len(shape) - 1))
    fn = fn_of([], lambda: (bind("iota", shape=shape, dimension=dim, dtype=np.dtype(dtype)),))
    check(fn, [])


@pytest.mark.parametrize("dtype", DTYPES)
def test_constants(dtype):
    rng = np.random.default_rng(0)
    small = np.asarray(_data(rng, (), dtype))
    uniform = np.full((3, 4), _data(rng, (), dtype))
    table = _data(rng, (5, 7), dtype)
    x = _data(rng, (5, 7), dtype)

    def body(v):
        cs = [bind("constant", value=c) for c in (small, uniform, table)]
        return tuple(cs) + (bind("select", bind("ne", v, cs[2]), v, cs[2]),)

    check(fn_of([((5, 7), dtype)], body), [x])


def test_long_chains_of_views():
    """slice -> transpose -> rev -> reshape -> broadcast over a big buffer, summed."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((37, 41))

    def body(v):
        s = bind("slice", v, starts=(1, 2), limits=(37, 40), strides=(2, 3))
        t = bind("rev", bind("transpose", s, perm=(1, 0)), axes=(0,))
        r = bind("reshape", t, shape=(13, 2, 9))
        b = bind("broadcast_to", r, shape=(3, 13, 2, 9))
        return b, bind("reduce_sum", bind("mul", b, b), axes=(0, 2))

    check(fn_of([((37, 41), np.float64)], body), [x])
