"""The random-program strategy keeps the promises its docstring makes to other tests."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from tracejit.ir import Function, Value, all_primitives
from tracejit.ir.interp import evaluate
from tracejit.ir.verify import verify

from tests.strategies import ALL_PRIMS, GENERATORS, SMOOTH_PRIMS, inputs, programs, random_inputs
from tests.strategies_regions import nested_functions

#: What a region adds around its nested programs: the loop condition and counter, the
#: branch index (piecewise constant, so gradient checks stay valid).
REGION_CONTROL = {"lt", "le", "gt", "logical_and", "convert"}


def all_instrs(fn: Function) -> list:
    """Instructions of `fn` and of its nested Functions (callees, loop bodies and
    conditions, branches), recursively."""
    out = []
    for ins in fn.instrs:
        out.append(ins)
    for f in nested_functions(fn):
        out += all_instrs(f)
    return out


def test_every_generator_is_a_registered_primitive() -> None:
    assert set(GENERATORS) == ALL_PRIMS and ALL_PRIMS <= set(all_primitives())


@given(programs(dtypes=(np.float64,), max_size=32, max_rank=2))
def test_bounds_and_dtypes(fn: Function) -> None:
    verify(fn)
    for v in fn.params + fn.results:
        assert v.type.dtype == np.float64
    for ins in all_instrs(fn):
        for o in ins.outs:
            assert o.type.size <= 32 and o.type.ndim <= 3


@given(programs(allow={"add", "mul"}), programs(allow={"add", "mul", "constant"}))
def test_allow_restricts_the_operations(fn: Function, fc: Function) -> None:
    assert {i.prim for i in fn.instrs} <= {"add", "mul"}
    assert {i.prim for i in fc.instrs} <= {"add", "mul", "constant"}


@given(programs(allow=SMOOTH_PRIMS, safe=True), st.data())
def test_safe_programs_guard_domains(fn: Function, data: st.DataObject) -> None:
    defs: dict[int, str] = {}
    for ins in all_instrs(fn):
        assert ins.prim in SMOOTH_PRIMS | {"constant", "tanh", "mul", "add"} | REGION_CONTROL
        for o in ins.outs:
            assert o.type.dtype.kind in "fi" or ins.prim in {"constant"} | REGION_CONTROL
            defs[id(o)] = ins.prim
        guarded: list[Value] = []
        if ins.prim in ("log", "log1p", "sqrt"):
            guarded = ins.inputs
        elif ins.prim in ("div", "pow"):
            guarded = ins.inputs[1:] if ins.prim == "div" else ins.inputs[:1]
        for x in guarded:
            assert defs.get(id(x)) == "add"  # x * x + 0.5
        if ins.prim in ("exp", "expm1", "tan"):
            assert defs.get(id(ins.inputs[0])) == "tanh"
    args = data.draw(inputs(fn))
    evaluate(fn, args)


def test_random_inputs_match_the_parameters() -> None:
    from tests.strategies import build_function
    f = build_function("f", [((2, 0), np.float32), ((3,), np.int64), ((), np.bool_)],
                       lambda x, n, b: x)
    args = random_inputs(f, np.random.default_rng(0))
    assert [(a.shape, a.dtype) for a in args] == [(p.type.shape, p.type.dtype)
                                                  for p in f.params]
