"""The verifier: accepts every random program and rejects hand-made broken ones, naming
the printed instruction."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from tracejit.ir import Function, Instr, IRError, TensorType, Value, bind
from tracejit.ir.verify import verify

from tests.strategies import build_function, programs

F32 = np.dtype(np.float32)
T2 = TensorType((2,), F32)


@given(programs(dtypes=(np.float32, np.float64, np.int32, np.bool_), special_values=True))
def test_random_programs_verify(fn: Function) -> None:
    verify(fn)


def fn_of(instrs: list[Instr], results: list[Value], params: list[Value]) -> Function:
    return Function("bad", params, instrs, results)


def test_wrong_output_type() -> None:
    x, y = Value(T2, "x"), Value(TensorType((3,), F32))
    f = fn_of([Instr("neg", [x], {}, [y])], [y], [x])
    with pytest.raises(IRError, match=r"instruction 0 `%0 = neg\(%x\) : f32\[3\]`: output 0 "
                                      r"has type f32\[3\], but the inferred type is f32\[2\]"):
        verify(f)


def test_use_before_definition_and_undefined() -> None:
    x, a, b = Value(T2, "x"), Value(T2), Value(T2)
    f = fn_of([Instr("neg", [b], {}, [a]), Instr("neg", [x], {}, [b])], [a], [x])
    with pytest.raises(IRError, match=r"`%0 = neg\(%1\) : f32\[2\]`: input 0 is used before "
                                      r"its definition"):
        verify(f)
    stray = Value(T2, "stray")
    f = fn_of([Instr("add", [x, stray], {}, [a])], [a], [x])
    with pytest.raises(IRError, match=r"`%0 = add\(%x, %\?\) : f32\[2\]`: input 1 \(hint "
                                      r"'stray'\) is not defined"):
        verify(f)


def test_unknown_missing_and_noncanonical_params() -> None:
    x, y = Value(T2, "x"), Value(TensorType((), F32))
    bad_params: list[tuple[dict[str, Any], str]] = [
        ({"axes": (0,), "keepdims": False, "bogus": 1}, r"unknown \['bogus'\]"),
        ({"axes": (0,)}, r"missing \['keepdims'\]"),
        ({"axes": [0], "keepdims": False}, r"param axes holds list \[0\]"),
        ({"axes": (np.int64(0),), "keepdims": False}, r"param axes holds int64 np.int64\(0\)"),
    ]
    for params, message in bad_params:
        f = fn_of([Instr("reduce_sum", [x], params, [y])], [y], [x])
        with pytest.raises(IRError, match=message):
            verify(f)
    z = Value(T2)
    f = fn_of([Instr("convert", [x], {"dtype": np.dtype(np.float16)}, [z])], [z], [x])
    with pytest.raises(IRError, match="unsupported dtype float16"):
        verify(f)


def test_structure_errors() -> None:
    x, a = Value(T2, "x"), Value(T2)
    cases = [
        (fn_of([Instr("frob", [x], {}, [a])], [a], [x]), r"unknown primitive 'frob'"),
        (fn_of([Instr("neg", [x], {}, [a, Value(T2)])], [a], [x]),
         r"2 output\(s\), but neg has 1 here"),
        (fn_of([Instr("neg", [x], {}, [x])], [x], [x]), r"output 0 is defined twice"),
        (fn_of([Instr("neg", [x], {}, [a]), Instr("neg", [x], {}, [a])], [a], [x]),
         r"instruction 1 .* output 0 is defined twice"),
        (fn_of([], [a], [x]), r"result 0 is not defined"),
        (fn_of([], [], [x, x]), r"parameter 1 \(%arg1\) is listed twice"),
        (fn_of([Instr("add", [x], {}, [a])], [a], [x]), r"shape rule fails: add takes 2"),
        (fn_of([Instr("reshape", [x], {"shape": (3,)}, [a])], [a], [x]),
         r"shape rule fails: reshape: cannot reshape"),
    ]
    for f, message in cases:
        with pytest.raises(IRError, match=message):
            verify(f)


def test_callees_are_verified(call_prim: object) -> None:
    g = build_function("g", [((2,), F32)], lambda x: bind("neg", x), ["x"])
    f = build_function("f", [((2,), F32)], lambda x: bind("test_call", x, fn=g), ["x"])
    verify(f)
    g.instrs[0].outs[0].type = TensorType((2,), np.float64)  # break the callee
    with pytest.raises(IRError, match=r"callee @g: verify @g, instruction 0 .* inferred"):
        verify(f)
