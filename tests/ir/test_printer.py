"""The printer: golden text for hand-built functions, value naming, every param kind, and
bit-exact float literals."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tracejit.ir import Builder, TensorType, bind, interpreting
from tracejit.ir.parser import parse, parse_module
from tracejit.ir.printer import format_instr, format_param, print_function

from tests.strategies import build_function

F32, F64, I32 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)


def const(value: object, dtype: object) -> object:
    return bind("constant", value=np.asarray(value, dtype=dtype))


def test_golden_reduce_mul() -> None:
    def body(x: object) -> object:
        s = bind("reduce_sum", x, axes=(0, 1))
        return bind("mul", s, s)

    f = build_function("f", [((2, 2), F32)], body, ["x"])
    assert print_function(f) == """\
func @f(%x: f32[2,2]) -> f32[] {
  %0 = reduce_sum(%x) {axes=(0,1), keepdims=False} : f32[]
  %1 = mul(%0, %0) : f32[]
  return %1
}"""
    assert str(f) == print_function(f)


def test_golden_several_results_and_params() -> None:
    def body(x: object, y: object) -> object:
        z = bind("add", x, y)
        t = bind("transpose", bind("reshape", z, shape=(3, 1)), perm=(1, 0))
        return z, t, x

    f = build_function("g", [((3,), F64), ((), F64)], body, ["x", None])
    assert print_function(f) == """\
func @g(%x: f64[3], %arg1: f64[]) -> (f64[3], f64[1,3], f64[3]) {
  %0 = add(%x, %arg1) : f64[3]
  %1 = reshape(%0) {shape=(3,1)} : f64[3,1]
  %2 = transpose(%1) {perm=(1,0)} : f64[1,3]
  return %0, %2, %x
}"""


def test_golden_constants() -> None:
    def body() -> object:
        return (const(2.0, F32), const([[1.0, 2.0], [3.0, 4.0]], F64),
                const([0.1, -0.0, np.inf, -np.inf, np.nan], F32), const(0.1, F64),
                const([[1, -2]], I32), const([True, False], np.bool_),
                const(np.zeros((2, 0)), F32), const(np.zeros((0, 2)), I32),
                const(1e-45, F32), const(3.4028235e38, F32))

    f = build_function("c", [], body)
    assert print_function(f) == """\
func @c() -> (f32[], f64[2,2], f32[5], f64[], i32[1,2], bool[2], f32[2,0], i32[0,2], \
f32[], f32[]) {
  %0 = constant() {value=dense<2.0>} : f32[]
  %1 = constant() {value=dense<[[1.0, 2.0], [3.0, 4.0]]>} : f64[2,2]
  %2 = constant() {value=dense<[0.1, -0.0, inf, -inf, nan]>} : f32[5]
  %3 = constant() {value=dense<0.1>} : f64[]
  %4 = constant() {value=dense<[[1, -2]]>} : i32[1,2]
  %5 = constant() {value=dense<[True, False]>} : bool[2]
  %6 = constant() {value=dense<[[], []]>} : f32[2,0]
  %7 = constant() {value=dense<[]>} : i32[0,2]
  %8 = constant() {value=dense<1e-45>} : f32[]
  %9 = constant() {value=dense<3.4028235e+38>} : f32[]
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9
}"""


def test_golden_dtype_and_nested_params() -> None:
    def body(x: object) -> object:
        i = bind("iota", shape=(2, 3), dimension=1, dtype=np.int64)
        p = bind("pad", x, lo=(1,), hi=(0,), interior=(2,))
        o = bind("one_hot", bind("constant", value=np.array([0, 2], np.int32)), depth=3,
                 dtype=np.float64, on=-0.0, off=math.inf)
        return i, p, o

    f = build_function("h", [((2,), F32)], body, ["x"])
    assert print_function(f) == """\
func @h(%x: f32[2]) -> (i64[2,3], f32[5], f64[2,3]) {
  %0 = iota() {shape=(2,3), dimension=1, dtype=i64} : i64[2,3]
  %1 = pad(%x) {lo=(1,), hi=(0,), interior=(2,)} : f32[5]
  %2 = constant() {value=dense<[0, 2]>} : i32[2]
  %3 = one_hot(%2) {depth=3, dtype=f64, on=-0.0, off=inf, checked=False} : f64[2,3]
  return %0, %1, %3
}"""


def test_param_names_from_hints() -> None:
    # Valid unique hints are kept; duplicates, invalid identifiers and hints that would
    # clash with another parameter's fallback name are not.
    t = ((), F32)
    hints = ["x", "y", "y", "not valid", "arg0", "arg5", None, "_ok1"]
    f = build_function("f", [t] * len(hints), lambda *xs: xs[0], hints)
    header = print_function(f).splitlines()[0]
    assert header == ("func @f(%x: f32[], %arg1: f32[], %arg2: f32[], %arg3: f32[], "
                      "%arg4: f32[], %arg5: f32[], %arg6: f32[], %_ok1: f32[]) -> f32[] {")


def test_function_name_quoted_when_not_identifier() -> None:
    f = build_function("my fn", [((), F32)], lambda x: x, ["x"])
    text = print_function(f)
    assert text.startswith('func @"my fn"(%x: f32[]) -> f32[] {')
    assert parse(text) == f


def test_no_results_and_no_params() -> None:
    b = Builder("empty")
    f = b.build([])
    assert print_function(f) == "func @empty() -> () {\n  return\n}"


def test_format_instr_standalone() -> None:
    b = Builder("f")
    x = b.param(TensorType((2,), F32), "x")
    with interpreting(b):
        y = bind("neg", x)
        bind("add", x, y)
    assert format_instr(b.instrs[1]) == "%v0 = add(%x, %v1) : f32[2]"
    assert repr(b.instrs[0]) == "%v0 = neg(%x) : f32[2]"
    assert format_instr(b.instrs[1], {}) == "%? = add(%?, %?) : f32[2]"


def test_callee_printed_first(call_prim: object) -> None:
    g = build_function("g", [((3,), F32)],
                       lambda x: (bind("reduce_sum", x, axes=(0,)), bind("neg", x)), ["x"])

    def body(a: object) -> object:
        s, n = bind("test_call", a, fn=g, tag="a \"tag\"\n", opts=((1, None), (), -0.0,
                                                                  True, F64))
        return bind("mul", n, n), s

    f = build_function("f", [((3,), F32)], body, ["a"])
    text = print_function(f)
    assert text == """\
func @g(%x: f32[3]) -> (f32[], f32[3]) {
  %0 = reduce_sum(%x) {axes=(0,), keepdims=False} : f32[]
  %1 = neg(%x) : f32[3]
  return %0, %1
}

func @f(%a: f32[3]) -> (f32[3], f32[]) {
  %0, %1 = test_call(%a) {fn=@g, tag="a \\"tag\\"\\n", opts=((1,None),(),-0.0,True,f64)} \
: (f32[], f32[3])
  %2 = mul(%1, %1) : f32[3]
  return %2, %0
}"""
    back = parse(text)
    assert back == f and print_function(back) == text
    assert back.instrs[0].params["fn"] == g


def test_different_callees_with_one_name_get_labels() -> None:
    # Tracing one Python function at two shapes gives two Functions named alike.
    g1 = build_function("f", [((), F32)], lambda x: bind("neg", x), ["x"])
    g2 = build_function("f", [((2,), F32)], lambda x: bind("exp", x), ["x"])
    g1_again = build_function("f", [((), F32)], lambda x: bind("neg", x), ["x"])

    def body(x: object, y: object) -> object:
        a = bind("call", bind("call", x, fn=g1), fn=g1_again)
        return a, bind("call", y, fn=g2)

    f = build_function("f", [((), F32), ((2,), F32)], body, ["x", "y"])
    text = print_function(f)
    assert text == """\
func @f(%x: f32[]) -> f32[] {
  %0 = neg(%x) : f32[]
  return %0
}

func @f#1(%x: f32[2]) -> f32[2] {
  %0 = exp(%x) : f32[2]
  return %0
}

func @f#2(%x: f32[], %y: f32[2]) -> (f32[], f32[2]) {
  %0 = call(%x) {fn=@f} : f32[]
  %1 = call(%0) {fn=@f} : f32[]
  %2 = call(%y) {fn=@f#1} : f32[2]
  return %1, %2
}"""
    back = parse(text)
    assert back == f and back.name == "f" and print_function(back) == text
    assert list(parse_module(text)) == ["f", "f#1", "f#2"]


@pytest.mark.parametrize("value, text", [
    (None, "None"), (True, "True"), (False, "False"), (0, "0"), (-7, "-7"),
    (1.0, "1.0"), (-0.0, "-0.0"), (math.inf, "inf"), (-math.inf, "-inf"),
    (math.nan, "nan"), (1e300, "1e+300"), (5e-324, "5e-324"), ("", '""'),
    ("é\t", '"\\u00e9\\t"'), ((), "()"), ((3,), "(3,)"), ((1, (2, "a")), '(1,(2,"a"))'),
    (np.dtype(np.bool_), "bool"), (np.dtype(np.int64), "i64"),
    (np.int64(3), "3"), (np.float32(0.5), "0.5"),
])
def test_format_param(value: object, text: str) -> None:
    assert format_param(value) == text


@given(st.lists(st.floats(width=32), min_size=1, max_size=6))
def test_f32_literals_bit_exact(xs: list[float]) -> None:
    a = np.array(xs, np.float32)
    f = build_function("f", [], lambda: const(a, F32))
    back = parse(print_function(f)).instrs[0].params["value"]
    same = (back.view(np.uint32) == a.view(np.uint32)) | (np.isnan(a) & np.isnan(back))
    assert back.dtype == F32 and same.all()


@given(st.lists(st.floats(), min_size=1, max_size=6), st.floats())
def test_f64_literals_bit_exact(xs: list[float], p: float) -> None:
    a = np.array(xs, np.float64)
    f = build_function("f", [], lambda: const(a, F64))
    back = parse(print_function(f)).instrs[0].params["value"]
    same = (back.view(np.uint64) == a.view(np.uint64)) | (np.isnan(a) & np.isnan(back))
    assert back.dtype == F64 and same.all()
    q = parse(print_function(build_function(
        "g", [((), F32)], lambda x: bind("one_hot", const(0, I32), depth=1, on=p)))
              ).instrs[1].params["on"]
    assert math.isnan(p) and math.isnan(q) or (q == p and math.copysign(1, q) ==
                                               math.copysign(1, p))
