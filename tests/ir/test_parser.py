"""The parser: round trips over random programs, hand-written text, and errors that name
the line."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from tracejit.ir import IRError, bind
from tracejit.ir.lexer import tokenize
from tracejit.ir.parser import parse, parse_module
from tracejit.ir.printer import print_function
from tracejit.ir.verify import verify

from tests.strategies import build_function, programs

F32 = np.dtype(np.float32)


@given(programs(special_values=True))
def test_round_trip_random_programs(fn: object) -> None:
    text = print_function(fn)
    back = parse(text)
    assert back == fn
    assert print_function(back) == text
    verify(back)


@given(programs(dtypes=(np.float32, np.int32, np.int64, np.bool_), special_values=True))
def test_round_trip_random_programs_all_dtypes(fn: object) -> None:
    text = print_function(fn)
    assert parse(text) == fn and print_function(parse(text)) == text


def test_structural_equality_tells_signed_zeros_apart() -> None:
    def f(v: float) -> object:
        return build_function("f", [], lambda: bind("constant", value=np.array(v, F32)))
    assert parse(print_function(f(-0.0))) == f(-0.0)
    assert f(-0.0) != f(0.0)
    assert f(np.nan) == f(np.nan)


def test_hand_written_text_is_normalized() -> None:
    # Any value names, comments, omitted default params, a trailing newline.
    text = """
    // a comment
    func @f(%in: f32[2,3], %arg7: f32[]) -> (f32[3,2], f32[]) {
      %t = transpose(%in) {perm=(1,0)} : f32[3,2]   // trailing comment
      %s = reduce_sum(%t) : f32[3,2]
      %m = mul(%arg7, %arg7) : f32[]
      return %s, %m
    }
    """
    f = parse(text)
    assert f.instrs[1].params == {"axes": (), "keepdims": False}
    assert print_function(f) == """\
func @f(%in: f32[2,3], %arg1: f32[]) -> (f32[3,2], f32[]) {
  %0 = transpose(%in) {perm=(1,0)} : f32[3,2]
  %1 = reduce_sum(%0) {axes=(), keepdims=False} : f32[3,2]
  %2 = mul(%arg1, %arg1) : f32[]
  return %1, %2
}"""


def test_parse_module_returns_all_functions_in_order() -> None:
    text = """\
func @a(%x: f32[]) -> f32[] {
  return %x
}

func @b() -> () {
  return
}"""
    mod = parse_module(text)
    assert list(mod) == ["a", "b"]
    assert parse(text) is not mod["b"] and parse(text) == mod["b"]


def test_dense_with_explicit_type() -> None:
    text = """\
func @f() -> f32[2] {
  %0 = constant() {value=dense<[1.5, -inf] : f32[2]>} : f32[2]
  return %0
}"""
    value = parse(text).instrs[0].params["value"]
    assert value.dtype == F32 and value.tolist() == [1.5, -np.inf]


def test_tokenize_lines() -> None:
    toks = tokenize("func @f(\n%x: f32[]) -> f32[]")
    assert [(t.kind, t.text, t.line) for t in toks[:4]] == [
        ("ident", "func", 1), ("func", "@f", 1), ("punct", "(", 1), ("value", "%x", 2)]
    assert toks[-1].kind == "eof"


HEADER = "func @f(%x: f32[2]) -> f32[2] {\n"


@pytest.mark.parametrize("body, line, message", [
    ("  %0 = neg(%x) : f32[3]\n  return %0\n}", 2,
     r"printed type f32\[3\] differs from the inferred type f32\[2\]"),
    ("  %0 = neg(%y) : f32[2]\n  return %0\n}", 2, r"value %y is not defined"),
    ("  %0 = neg(%x) : f32[2]\n  %0 = neg(%0) : f32[2]\n  return %0\n}", 3,
     r"value %0 is defined twice"),
    ("  %x = neg(%x) : f32[2]\n  return %x\n}", 2, r"value %x is defined twice"),
    ("  %0 = frobnicate(%x) : f32[2]\n  return %0\n}", 2, r"unknown op 'frobnicate'"),
    ("  %0 = neg(%x) {axes=(0,)} : f32[2]\n  return %0\n}", 2, r"unknown parameter"),
    ("  %0 = neg(%x : f32[2]\n  return %0\n}", 2, r"expected ',', got ':'"),
    ("  %0 = neg(%x) : f32[2]\n  return %1\n}", 3, r"value %1 is not defined"),
    ("  %0 = reduce_sum(%x) : f32[]\n  return %0\n}", 2, r"differs from the inferred"),
    ("  %0 = add(%x) : f32[2]\n  return %0\n}", 2, r"add takes 2 operand"),
    ("  %0 = neg(%x) : f32[2]\n  return %x, %0\n}", 3, r"signature \(line 1\)"),
    ("  %0, %1 = neg(%x) : f32[2]\n  return %0\n}", 2, r"1 output\(s\), 2 name\(s\)"),
    ("  %0 = constant() {value=dense<[1.0]>} : f32[2]\n  return %0\n}", 2,
     r"does not have the shape"),
    ("  %0 = constant() {value=dense<[1, 2.5]>} : i32[2]\n  return %0\n}", 2,
     r"does not fit dtype"),
    ("  %0 = constant() {value=dense<[1, 9999999999]>} : i32[2]\n  return %0\n}", 2,
     r"out of range"),
    ("  %0 = reshape(%x) {shape=(2)} : f32[2]\n  return %0\n}", 2,
     r"one-element tuple is written \(x,\)"),
    ("  %0 = convert(%x) {dtype=f16} : f32[2]\n  return %0\n}", 2,
     r"expected a param value"),
    ("  %0 = neg(%x) : f32[2]\n  return %0\n", 4, r"expected '}', got end of input"),
    ("  %0 = neg(%x) : f32[2]\n}", 3, r"has no return"),
    ("  %0 = neg(%x) : f17[2]\n  return %0\n}", 2, r"unknown dtype 'f17'"),
    ("  %0 = neg(%x) : f32[2] ?\n  return %0\n}", 2, r"unexpected character '\?'"),
    ("  %0 = test_call(%x) {fn=@g} : f32[2]\n  return %0\n}", 2, r"@g is not defined"),
    ('  %0 = test_call(%x) {tag="\\q"} : f32[2]\n  return %0\n}', 2, r"bad string literal"),
])
def test_errors_name_the_line(body: str, line: int, message: str) -> None:
    text = HEADER + body
    with pytest.raises(IRError, match=message) as info:
        parse(text)
    msg = str(info.value)
    assert msg.startswith(f"line {line}: ")
    lines = text.split("\n")
    if line <= len(lines) and lines[line - 1].strip():
        assert lines[line - 1].strip() in msg  # quotes the offending line


def test_errors_in_header_and_module() -> None:
    with pytest.raises(IRError, match="^line 2: no function"):
        parse("// nothing here\n")
    with pytest.raises(IRError, match="^line 1: expected 'func'"):
        parse("function @f() -> () {\n  return\n}")
    same = "func @f() -> () {\n  return\n}\n"
    assert list(parse_module(same + same)) == ["f"]  # joined texts repeat shared callees
    with pytest.raises(IRError, match="^line 4: function @f is defined twice, differently"):
        parse(same + "func @f(%x: f32[]) -> () {\n  return\n}")
    with pytest.raises(IRError, match=r"^line 1: bad dimension '-1'"):
        parse("func @f(%x: f32[-1]) -> () {\n  return\n}")


def test_callee_reference(call_prim: object) -> None:
    text = """\
func @g(%x: f32[2]) -> f32[] {
  %0 = reduce_sum(%x) {axes=(0,), keepdims=False} : f32[]
  return %0
}

func @f(%x: f32[2]) -> f32[] {
  %0 = test_call(%x) {fn=@g, tag="t", opts=()} : f32[]
  return %0
}"""
    mod = parse_module(text)
    assert mod["f"].instrs[0].params["fn"] is mod["g"]
    assert print_function(mod["f"]) == text
    with pytest.raises(IRError, match=r"^line 7: test_call: @g takes \[f32\[2\]\]"):
        parse(text.replace("func @f(%x: f32[2])", "func @f(%x: f32[3])"))
