"""The passes: golden text for each rewrite, and on random programs that each pass keeps
the reference interpreter's results (bit for bit), verifies, and leaves its input alone."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tracejit.ir import Function, bind
from tracejit.ir.interp import evaluate
from tracejit.ir.passes import cse, dce, fold, optimize, simplify
from tracejit.ir.printer import print_function
from tracejit.ir.verify import verify

from tests.strategies import build_function, programs, random_inputs

F32, F64, I32 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)
Pass = Callable[[Function], Function]
PASSES: dict[str, Pass] = {"cse": cse, "fold": fold, "simplify": simplify, "dce": dce,
                           "optimize": optimize,
                           "simplify_nsz": lambda f: simplify(f, signed_zeros=False)}


def const(value: Any, dtype: Any = F32) -> Any:
    return bind("constant", value=np.asarray(value, dtype=dtype))


def body_text(fn: Function) -> str:
    """The printed instructions and return, without the header and braces."""
    return "\n".join(line.strip() for line in print_function(fn).splitlines()[1:-1])


def assert_same(a: np.ndarray, b: np.ndarray, signed_zeros: bool = True) -> None:
    """Equal shapes, dtypes and values, NaN equal to NaN, and 0.0 unequal to -0.0 (unless
    not `signed_zeros`)."""
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)
    if a.dtype.kind == "f" and signed_zeros:
        keep = ~np.isnan(a)
        np.testing.assert_array_equal(np.signbit(a[keep]), np.signbit(b[keep]))


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("name", sorted(PASSES))
@given(fn=programs(special_values=True), seed=st.integers(0, 2**32 - 1))
def test_pass_preserves_results(name: str, fn: Function, seed: int) -> None:
    before = print_function(fn)
    instrs = [(i, list(i.inputs), dict(i.params), list(i.outs)) for i in fn.instrs]
    out = PASSES[name](fn)
    # The input is untouched: same text, same instruction objects with the same fields.
    assert print_function(fn) == before
    assert [(i, i.inputs, i.params, i.outs) for i in fn.instrs] == instrs
    verify(out)
    assert out.in_types == fn.in_types and out.out_types == fn.out_types
    args = random_inputs(fn, np.random.default_rng(seed))
    for want, got in zip(evaluate(fn, args), evaluate(out, args)):
        # simplify_nsz may turn (-0.0) - (-0.0) = 0.0 into -0.0: that is what it is for.
        assert_same(want, got, signed_zeros=name != "simplify_nsz")


@given(fn=programs(dtypes=(np.float32, np.int32, np.int64), special_values=True),
       seed=st.integers(0, 2**32 - 1))
def test_optimize_with_integers(fn: Function, seed: int) -> None:
    out = optimize(fn, check=True)
    args = random_inputs(fn, np.random.default_rng(seed))
    for want, got in zip(evaluate(fn, args), evaluate(out, args)):
        assert_same(want, got)


@given(programs(special_values=True))
def test_optimize_reaches_a_fixed_point(fn: Function) -> None:
    once = optimize(fn)
    assert optimize(once) == once
    assert len(once.instrs) <= len(dce(fn).instrs)
    # At the fixed point every pass returns its input itself (the last round of `optimize`
    # compares by identity and copies nothing); `optimize` still returns a Function of its
    # own.
    for name in ("cse", "fold", "simplify", "dce"):
        assert PASSES[name](once) is once, name
    again = optimize(once)
    assert again is not once and again.instrs == once.instrs


# --------------------------------------------------------------------------- cse


def test_cse_merges_identical_instructions() -> None:
    def body(x: Any) -> Any:
        a, b = bind("exp", x), bind("exp", x)
        s1, s2 = bind("add", a, b), bind("add", a, b)
        r1 = bind("reduce_sum", s1, axes=(0,), keepdims=True)
        r2 = bind("reduce_sum", s2, axes=(0,), keepdims=False)  # other params: kept
        return bind("mul", s1, s2), r1, r2

    f = build_function("f", [((2,), F32)], body, ["x"])
    assert body_text(cse(f)) == """\
%0 = exp(%x) : f32[2]
%1 = add(%0, %0) : f32[2]
%2 = reduce_sum(%1) {axes=(0,), keepdims=True} : f32[1]
%3 = reduce_sum(%1) {axes=(0,), keepdims=False} : f32[]
%4 = mul(%1, %1) : f32[2]
return %4, %2, %3"""


def test_cse_constants_by_value_and_signed_zero() -> None:
    def body() -> Any:
        return (const(1.0), const(1.0), const(np.nan), const(np.nan), const(0.0),
                const(-0.0), const(1.0, F64), const([1.0, 2.0]), const([1.0, 2.0]))

    assert body_text(cse(build_function("f", [], body))) == """\
%0 = constant() {value=dense<1.0>} : f32[]
%1 = constant() {value=dense<nan>} : f32[]
%2 = constant() {value=dense<0.0>} : f32[]
%3 = constant() {value=dense<-0.0>} : f32[]
%4 = constant() {value=dense<1.0>} : f64[]
%5 = constant() {value=dense<[1.0, 2.0]>} : f32[2]
return %0, %0, %1, %1, %2, %3, %4, %5, %5"""


# --------------------------------------------------------------------------- fold


def test_fold_small_constant_expressions() -> None:
    def body(x: Any) -> Any:
        six = bind("mul", const(2.0), const(3.0))
        v = bind("add", bind("iota", shape=(3,), dimension=0, dtype=np.float32), six)
        return bind("mul", x, v), bind("reduce_sum", v, axes=(0,))

    f = build_function("f", [((3,), F32)], body, ["x"])
    assert body_text(dce(fold(f))) == """\
%0 = constant() {value=dense<[6.0, 7.0, 8.0]>} : f32[3]
%1 = mul(%x, %0) : f32[3]
%2 = constant() {value=dense<21.0>} : f32[]
return %1, %2"""


def test_fold_keeps_large_results_and_failing_instructions() -> None:
    def body() -> Any:
        big = bind("iota", shape=(8, 9), dimension=0, dtype=np.int32)  # 72 > 64 elements
        bad = bind("gather", const([1.0, 2.0]), const([0, 5], I32), axis=0)  # out of range
        nan = bind("log", const(-1.0))  # folds: NaN is a value, not an error
        return big, bad, nan

    text = body_text(fold(build_function("f", [], body)))
    assert text == """\
%0 = iota() {shape=(8,9), dimension=0, dtype=i32} : i32[8,9]
%1 = constant() {value=dense<[1.0, 2.0]>} : f32[2]
%2 = constant() {value=dense<[0, 5]>} : i32[2]
%3 = gather(%1, %2) {axis=0} : f32[2]
%4 = constant() {value=dense<-1.0>} : f32[]
%5 = constant() {value=dense<nan>} : f32[]
return %0, %3, %5"""
    with pytest.raises(IndexError, match="index 5 is out of bounds for size 2"):
        evaluate(fold(build_function("f", [], body)), [])


def test_fold_large_elementwise_results_of_broadcast_constants() -> None:
    # 3 - 1 on a scalar broadcast to 100 elements (a VJP of x**3) folds to 2 broadcast,
    # which simplify sees through: pow(x, 2) becomes x * x.
    def body(x: Any) -> Any:
        three = bind("broadcast_to", const(3.0), shape=(100,))
        one = bind("broadcast_to", const(1.0), shape=(100,))
        return bind("pow", x, bind("sub", three, one)), bind("mul", three, const(2.0))

    f = build_function("f", [((100,), F32)], body, ["x"])
    text = body_text(dce(fold(f)))
    assert "sub" not in text and "dense<2.0>" in text and "dense<6.0>" in text, text
    assert body_text(dce(optimize(f))).splitlines()[0] == "%0 = mul(%x, %x) : f32[100]"
    x = np.linspace(-2, 2, 100, dtype=np.float32)
    for got, want in zip(evaluate(fold(f), [x]), evaluate(f, [x])):
        np.testing.assert_array_equal(got, want)


def test_fold_result_owns_its_memory() -> None:
    f = build_function("f", [], lambda: bind("reshape", const([1.0, 2.0]), shape=(2, 1)))
    g = fold(f)
    assert not np.shares_memory(g.instrs[1].params["value"], f.instrs[0].params["value"])


# --------------------------------------------------------------------------- simplify


def test_simplify_arithmetic_identities() -> None:
    def body(x: Any, n: Any) -> Any:
        one, mzero, zero = const(1.0), const(-0.0), const(0.0)
        ones = bind("broadcast_to", one, shape=(3,))
        return (bind("mul", x, one), bind("mul", ones, x), bind("div", x, ones),
                bind("add", x, mzero), bind("add", mzero, x), bind("sub", x, zero),
                bind("add", n, const(0, I32)), bind("sub", n, const([0, 0, 0], I32)),
                bind("neg", bind("neg", x)))

    f = build_function("f", [((3,), F32), ((3,), I32)], body, ["x", "n"])
    assert body_text(dce(simplify(f))) == "return %x, %x, %x, %x, %x, %x, %n, %n, %x"


def test_simplify_keeps_inexact_rewrites() -> None:
    def body(x: Any, s: Any) -> Any:
        return (bind("add", x, const(0.0)),             # -0.0 + 0.0 is 0.0
                bind("sub", x, const(-0.0)),            # likewise
                bind("mul", x, const(0.0)),             # NaN * 0 is NaN
                bind("mul", s, const([1.0, 1.0])),      # broadcasts s: not s
                bind("sub", const(0.0), x),             # 0 - x is not x
                bind("div", const(1.0), x),
                bind("mul", x, const([1.0, 2.0])),
                bind("stop_gradient", x))               # matters to autodiff

    f = build_function("f", [((2,), F32), ((), F32)], body, ["x", "s"])
    assert simplify(f) == f
    g = dce(simplify(f, signed_zeros=False))
    assert body_text(g).splitlines()[-1] == "return %x, %x, %1, %3, %5, %7, %9, %10"


def test_simplify_shape_identities() -> None:
    def body(x: Any) -> Any:
        r = bind("reshape", bind("reshape", x, shape=(6,)), shape=(3, 2))
        back = bind("reshape", bind("reshape", x, shape=(6,)), shape=(2, 3))
        t = bind("transpose", bind("transpose", x, perm=(1, 0)), perm=(1, 0))
        b = bind("broadcast_to", bind("broadcast_to", x, shape=(1, 2, 3)), shape=(4, 2, 3))
        return (r, back, t, b, bind("reshape", x, shape=(2, 3)),
                bind("broadcast_to", x, shape=(2, 3)), bind("transpose", x, perm=(0, 1)),
                bind("convert", x, dtype=np.float32), bind("identity", x),
                bind("convert", x, dtype=np.float64))

    f = build_function("f", [((2, 3), F32)], body, ["x"])
    assert body_text(dce(simplify(f))) == """\
%0 = reshape(%x) {shape=(3,2)} : f32[3,2]
%1 = broadcast_to(%x) {shape=(4,2,3)} : f32[4,2,3]
%2 = convert(%x) {dtype=f64} : f64[2,3]
return %0, %x, %x, %1, %x, %x, %x, %x, %x, %2"""


def test_simplify_composes_transposes() -> None:
    def body(x: Any) -> Any:
        return bind("transpose", bind("transpose", x, perm=(1, 2, 0)), perm=(2, 0, 1)), \
            bind("transpose", bind("transpose", x, perm=(1, 2, 0)), perm=(1, 0, 2))

    f = build_function("f", [((2, 3, 4), F32)], body, ["x"])
    g = dce(simplify(f))
    assert body_text(g) == """\
%0 = transpose(%x) {perm=(2,1,0)} : f32[4,3,2]
return %x, %0"""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for want, got in zip(evaluate(f, [x]), evaluate(g, [x])):
        assert_same(want, got)


# --------------------------------------------------------------------------- optimize


def test_optimize_pipeline() -> None:
    def body(x: Any) -> Any:
        two = bind("add", const(1.0), const(1.0))
        a = bind("mul", bind("mul", x, bind("div", two, two)), two)
        b = bind("mul", bind("identity", x), two)
        unused = bind("exp", x)  # noqa: F841
        return bind("add", a, b)

    f = build_function("f", [((2,), F32)], body, ["x"])
    g = optimize(f, check=True)
    assert body_text(g) == """\
%0 = constant() {value=dense<2.0>} : f32[]
%1 = mul(%x, %0) : f32[2]
%2 = add(%1, %1) : f32[2]
return %2"""
    x = np.array([1.5, -3.0], np.float32)
    assert_same(evaluate(f, [x])[0], evaluate(g, [x])[0])


def test_optimize_callees() -> None:
    g = build_function("g", [((2,), F32)],
                       lambda x: bind("mul", bind("identity", x), const(1.0)), ["x"])

    def body(x: Any) -> Any:
        a = bind("call", x, fn=g)
        return bind("add", a, bind("call", x, fn=g))

    f = build_function("f", [((2,), F32)], body, ["x"])
    g_text = print_function(g)
    assert print_function(optimize(f, check=True)) == """\
func @g(%x: f32[2]) -> f32[2] {
  return %x
}

func @f(%x: f32[2]) -> f32[2] {
  %0 = call(%x) {fn=@g} : f32[2]
  %1 = add(%0, %0) : f32[2]
  return %1
}"""
    assert print_function(g) == g_text  # the callee itself is untouched


def test_simplify_select_logical_and_pow() -> None:
    B = np.dtype(np.bool_)

    def body(x: Any, c: Any) -> Any:
        t, f = const(True, B), const(False, B)
        return (bind("select", c, x, x),                     # -> x
                bind("select", t, x, bind("neg", x)),        # -> x
                bind("select", f, bind("neg", x), x),        # -> x
                bind("logical_and", c, t),                   # -> c
                bind("logical_or", f, c),                    # -> c
                bind("pow", x, const(1.0)),                  # -> x
                bind("pow", x, const(2.0)),                  # -> mul(x, x)
                bind("logical_and", c, f))                   # -> False

    f = build_function("f", [((3,), F32), ((3,), np.bool_)], body, ["x", "c"])
    g = dce(simplify(f))
    text = body_text(g)
    assert text.splitlines()[-1].startswith("return %x, %x, %x, %c, %c, %x, %")
    assert "mul(%x, %x)" in text and "pow" not in text and "select" not in text
    x = np.array([np.nan, -0.0, 3.0], np.float32)
    c = np.array([True, False, True])
    for a, b in zip(evaluate(f, [x, c]), evaluate(g, [x, c])):
        assert_same(np.asarray(a), np.asarray(b))


def test_simplify_select_that_broadcasts_becomes_broadcast_to() -> None:
    def body(x: Any, c: Any) -> Any:
        return (bind("select", c, x, x),)                    # c broadcasts x: not x itself
    f = build_function("f", [((), F32), ((3,), np.bool_)], body, ["x", "c"])
    g = dce(simplify(f))
    assert body_text(g).splitlines()[0].startswith("%0 = broadcast_to(%x) {shape=(3,)}")
    x, c = np.float32(-0.0), np.array([True, False, True])
    assert_same(evaluate(f, [x, c])[0], evaluate(g, [x, c])[0])


def test_simplify_broadcasts_a_chosen_scalar_operand() -> None:
    B = np.dtype(np.bool_)

    def body(x: Any) -> Any:
        zero = const(0.0)
        c = bind("logical_and", bind("eq", x, zero), const(False, B))   # all False, (3,)
        e = bind("select", c, const(1.0), bind("sub", const(2.0), const(1.0)))
        return (bind("pow", x, e), c)

    f = build_function("f", [((3,), F32)], body, ["x"])
    g = optimize(f)
    text = body_text(g)
    assert "pow" not in text and "select" not in text and "logical_and" not in text
    x = np.array([0.0, -2.0, np.nan], np.float32)
    for a, b in zip(evaluate(f, [x]), evaluate(g, [x])):
        assert_same(np.asarray(a), np.asarray(b))
