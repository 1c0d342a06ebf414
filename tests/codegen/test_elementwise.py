"""Native elementwise primitives vs the reference interpreter: every op, every dtype it
allows, broadcasting (size-0 and size-1 dimensions, scalars), lengths that are not a
multiple of the vector width, NaN/inf/-0 and integer extremes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tracejit.codegen import mathlib
from tracejit.ir import TensorType, all_primitives, bind

from tests.codegen.helpers import ATOL_MATH, RTOL_MATH, check, floats, fn_of, ints
from tests.ir.cases import plain_elementwise

FLOATS = [np.float32, np.float64]
INTS = [np.int32, np.int64]
# The categories, from the registry: elementwise primitives without parameters by arity,
# accepted dtypes and result dtype; the vector-math library's are the inexact ones.
_PLAIN = {n: p for n, p in all_primitives().items() if plain_elementwise(p)}
_F, _I, _B = np.dtype(np.float64), np.dtype(np.int32), np.dtype(np.bool_)


def _names(arity: int, accepts: np.dtype, gives: np.dtype) -> list[str]:
    return sorted(n for n, p in _PLAIN.items() if p.n_inputs == arity and accepts in p.dtypes
                  and p.infer([TensorType((), accepts)] * arity, {})[0].dtype == gives)


MATH = [n for n in _names(1, _F, _F) if n in mathlib.SUPPORTED]
EXACT_UNARY = [n for n in _names(1, _F, _F) if n not in mathlib.SUPPORTED]
INT_UNARY = _names(1, _I, _I)
# Binary ops of ints and floats (div and pow, float-only, are tested on their own).
ARITH = [n for n in _names(2, _I, _I) if _F in _PLAIN[n].dtypes]
COMPARE = [n for n in _names(2, _F, _B) if _I in _PLAIN[n].dtypes]
# Long enough for the vector loop, remainder loop and broadcasting to all run.
BIG_SHAPES = [((103,), (103,)), ((7, 37), (37,)), ((5, 1, 29), (3, 1)), ((131,), ())]

shape_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                 max_side=5).map(lambda r: r.input_shapes)
seeds = st.integers(0, 2**32 - 1)


def _unary_fn(names: list[str], shape: tuple[int, ...], dtype: type) -> object:
    return fn_of([(shape, dtype)], lambda x: tuple(bind(n, x) for n in names), "unary")


def _binary_fn(names: list[str], s1: tuple[int, ...], s2: tuple[int, ...], dtype: type
               ) -> object:
    return fn_of([(s1, dtype), (s2, dtype)], lambda x, y: tuple(bind(n, x, y) for n in names),
                 "binary")


@settings(max_examples=20)
@given(st.sampled_from(FLOATS), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                 max_side=6), seeds)
def test_float_unary(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    x = floats(rng, shape, dtype)
    fn = _unary_fn(MATH + EXACT_UNARY, shape, dtype)
    dt = np.dtype(dtype)
    check(fn, [x], rtol=RTOL_MATH[dt], atol=ATOL_MATH[dt], names=MATH + EXACT_UNARY)


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_unary_long(dtype):
    rng = np.random.default_rng(1)
    x = floats(rng, (1003,), dtype, scale=20.0)
    dt = np.dtype(dtype)
    check(_unary_fn(MATH + EXACT_UNARY, (1003,), dtype), [x], rtol=RTOL_MATH[dt],
          atol=ATOL_MATH[dt], names=MATH + EXACT_UNARY)


@settings(max_examples=25)
@given(st.sampled_from(FLOATS), shape_pairs, seeds)
def test_float_binary(dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    x, y = (floats(rng, s, dtype) for s in shapes)
    names = ARITH + ["div"] + COMPARE
    check(_binary_fn(names, *shapes, dtype), [x, y], names=names)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", BIG_SHAPES)
def test_float_binary_long(dtype, shapes):
    rng = np.random.default_rng(2)
    x, y = (floats(rng, s, dtype) for s in shapes)
    names = ARITH + ["div", "pow"] + COMPARE
    dt = np.dtype(dtype)
    check(_binary_fn(names, *shapes, dtype), [x, y], rtol=RTOL_MATH[dt], atol=ATOL_MATH[dt],
          names=names)


@settings(max_examples=20)
@given(st.sampled_from(FLOATS), shape_pairs, seeds)
def test_pow(dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    x = floats(rng, shapes[0], dtype)
    y = floats(rng, shapes[1], dtype, scale=2.0)
    dt = np.dtype(dtype)
    check(_binary_fn(["pow"], *shapes, dtype), [x, y], rtol=RTOL_MATH[dt], atol=ATOL_MATH[dt])


@settings(max_examples=25)
@given(st.sampled_from(INTS), shape_pairs, seeds)
def test_int_ops(dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    x, y = (ints(rng, s, dtype) for s in shapes)
    names = ARITH + COMPARE
    fn = fn_of([(shapes[0], dtype), (shapes[1], dtype)],
               lambda a, b: tuple(bind(n, a, b) for n in names)
               + tuple(bind(n, a) for n in INT_UNARY), "ints")
    check(fn, [x, y], names=names + INT_UNARY)


@pytest.mark.parametrize("dtype", INTS)
def test_int_division_edge_cases(dtype):
    info = np.iinfo(dtype)
    x = np.array([7, -7, 7, -7, 5, 0, -5, info.min, info.min, info.max, info.min, 3] * 9, dtype)
    y = np.array([2, 2, -2, -2, 0, 0, 0, -1, 1, -1, info.max, info.min] * 9, dtype)
    fn = _binary_fn(["floordiv", "mod"], x.shape, y.shape, dtype)
    check(fn, [x, y])


def tf_floordiv_floormod(x, y):
    """TensorFlow's float FloorDiv and FloorMod (TF 2.21 gives exactly these on the values
    below): floor(x / y); r = fmod(x, y), plus y when r is nonzero with the other sign."""
    with np.errstate(all="ignore"):
        r = np.fmod(x, y)
        return np.floor(x / y), np.where((r != 0) & ((y < 0) != (r < 0)), r + y, r)


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_division_edge_cases(dtype):
    vals = np.array([5.0, -5.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, 7.5, -7.5, 1e-30,
                     1.0, 0.1, -0.1, 0.7, 7.0])
    x, y = np.meshgrid(vals, vals)
    x, y = x.astype(dtype).ravel(), y.astype(dtype).ravel()
    fn = _binary_fn(["floordiv", "mod", "div", "maximum", "minimum"], x.shape, y.shape, dtype)
    exe = check(fn, [x, y])
    q, r, _, mx, mn = exe(x, y)
    # TensorFlow's values, signs of zeros included (1.0 // 0.1 is 10, not Python's 9;
    # -0.0 % 3 is -0.0; -1 // inf is -0.0).
    want_q, want_r = tf_floordiv_floormod(x, y)
    for got, want in ((q, want_q), (r, want_r)):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    assert q[(x == 1) & (y == dtype(0.1))] == 10
    assert np.isnan(mx[np.isnan(x) | np.isnan(y)]).all()
    assert np.isnan(mn[np.isnan(x) | np.isnan(y)]).all()


@given(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=4)
       .map(lambda r: r.input_shapes), st.sampled_from(FLOATS + INTS + [np.bool_]), seeds)
def test_select_and_logic(shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    c = rng.random(shapes[0]) < 0.5
    if np.dtype(dtype).kind == "f":
        x, y = floats(rng, shapes[1], dtype), floats(rng, shapes[2], dtype)
    elif np.dtype(dtype).kind == "b":
        x, y = rng.random(shapes[1]) < 0.5, rng.random(shapes[2]) < 0.5
    else:
        x, y = ints(rng, shapes[1], dtype), ints(rng, shapes[2], dtype)

    def body(c, x, y):
        outs = [bind("select", c, x, y)]
        if np.dtype(dtype).kind == "b":
            outs += [bind("logical_and", x, y), bind("logical_or", c, y), bind("logical_not", x)]
            outs += [bind(n, x, y) for n in COMPARE]
        return tuple(outs)

    check(fn_of([(shapes[0], np.bool_), (shapes[1], dtype), (shapes[2], dtype)], body), [c, x, y])


DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


@pytest.mark.parametrize("src", DTYPES)
def test_convert_all_pairs(src):
    rng = np.random.default_rng(3)
    if np.dtype(src).kind == "f":
        special = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 1e19, -1e19, 2.5, -2.5, -0.7,
                            0.7, 2147483647.0, -2147483648.0, 9.2e18, -0.0, 0.0], src)
        x = np.concatenate([special, floats(rng, (100,), src, scale=1e3)])
    elif np.dtype(src).kind == "b":
        x = rng.random(117) < 0.5
    else:
        x = ints(rng, (117,), src)
    fn = fn_of([(x.shape, src)], lambda v: tuple(bind("convert", v, dtype=np.dtype(d))
                                                 for d in DTYPES), "convert")
    check(fn, [x], names=[f"{np.dtype(src)} -> {np.dtype(d)}" for d in DTYPES])


def test_nan_propagation():
    x = np.array([np.nan, 1.0, np.nan, -np.inf, 0.0, -0.0, 2.0], np.float64)
    y = np.array([1.0, np.nan, np.nan, np.nan, -0.0, 0.0, np.inf], np.float64)
    fn = fn_of([(x.shape, np.float64)] * 2, lambda a, b: (
        bind("maximum", a, b), bind("minimum", a, b), bind("relu", a), bind("sign", a),
        bind("abs", a), bind("ne", a, b), bind("eq", a, b), bind("lt", a, b)))
    exe = check(fn, [x, y])
    mx, mn, relu, sign, *_ = exe(x, y)
    assert np.isnan(mx[:4]).all() and np.isnan(mn[:4]).all()
    assert np.isnan(relu[0]) and np.isnan(sign[0]) and np.isnan(sign[2])
