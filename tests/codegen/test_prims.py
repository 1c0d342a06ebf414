"""Every registered primitive in native code, against the reference interpreter and eager
mode: the native-code oracle over the registry.

For each primitive (`CASES` in `tests/ir/prim_cases.py` has one entry each, derived from
the registry for plain elementwise primitives; a primitive without cases fails
`test_every_primitive_has_native_cases`), hypothesis draws operands and params: float32,
float64, int32, int64 and bool operands as the primitive accepts them, broadcasting
between operands, size-0 and size-1 dimensions, scalars. One compiled Function computes
the primitive twice:

- unfused: straight from the parameters' buffers into an output buffer;
- fused: each operand computed by an exact involution (`neg(neg(x))`, `logical_not`
  twice) and the result passed through one, so the primitive's element rule runs inside
  its producers' and consumer's loop wherever the fusion plan inlines it.

Both must equal the reference interpreter (`ir.interp.evaluate`) within DESIGN.md's
tolerances, and the reference must equal eager mode (`bind` on tensors).

Every elementwise primitive must also fuse as one: between a producer and a consumer, on
operands of one shape, it is one loop nest with no scratch buffer, over the shape coalesced
to one dimension (what the plan does for exactly the primitives of its ELEMENTWISE class).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracejit.codegen import compile_function
from tracejit.codegen.fusion import make_plan
from tracejit.codegen.plan import LoopTask
from tracejit.ir import Function, all_primitives, bind
from tracejit.ir.interp import evaluate

import tracejit as tj
from tests.codegen.helpers import ATOL_MATH, RTOL, RTOL_MATH, assert_close
from tests.ir.cases import plain_elementwise
from tests.ir.prim_cases import CASES, INEXACT
from tests.strategies import build_function

PRIMS = all_primitives()
ORACLE = settings(deadline=None, max_examples=4, suppress_health_check=[HealthCheck.too_slow])


def _involution(x: Any) -> Any:
    """x again, through two instructions that native code computes exactly."""
    if x.dtype == np.bool_:
        return bind("logical_not", bind("logical_not", x))
    return bind("neg", bind("neg", x))


def _outs(r: Any) -> list[Any]:
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _functions(name: str, args: list[np.ndarray], params: dict[str, Any]
               ) -> tuple[Function, Function]:
    """(both variants in one Function: unfused results then fused ones, the fused chain
    alone)."""
    types = [(a.shape, a.dtype) for a in args]

    def fused(*xs: Any) -> list[Any]:
        return [_involution(o) for o in _outs(bind(name, *map(_involution, xs), **params))]

    def both(*xs: Any) -> list[Any]:
        return _outs(bind(name, *xs, **params)) + fused(*xs)

    return build_function(name, types, both), build_function(f"{name}_fused", types, fused)


def _tolerance(name: str, dtype: np.dtype) -> tuple[float | None, float]:
    if dtype.kind != "f" or name not in INEXACT:
        return None, 0.0
    # Vector math (within 4 ulp) and sums or products accumulated in another order, of
    # operands of magnitude <= 2 and at most a few dozen elements.
    return (max(RTOL_MATH[dtype], RTOL[dtype]),
            ATOL_MATH[dtype] * 10 if dtype == np.float32 else 1e-12)


def test_every_primitive_has_native_cases() -> None:
    assert set(CASES) == set(PRIMS), (
        f"primitives without cases: {sorted(set(PRIMS) - set(CASES))}; "
        f"cases of unknown primitives: {sorted(set(CASES) - set(PRIMS))}")


@pytest.mark.parametrize("name", sorted(PRIMS))
@ORACLE
@given(data=st.data())
def test_primitive_native_matches_reference_and_eager(name: str, data: st.DataObject) -> None:
    args, params = data.draw(CASES[name], label="case")
    fn, chain = _functions(name, args, params)
    with np.errstate(all="ignore"):
        ref = evaluate(fn, list(args))
        eager = _outs(bind(name, *[tj.constant(a) for a in args], **params))
    n = len(ref) // 2
    for k, (e, r) in enumerate(zip(eager, ref[:n])):
        assert_close(np.asarray(e.numpy()), r, *_tolerance(name, r.dtype),
                     what=f"{name}: eager result {k}")
    before = [np.array(a, copy=True) for a in args]
    got = compile_function(fn)(*args)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: an input was modified")
    for k, (g, r) in enumerate(zip(got, ref)):
        what = f"{name}: {'fused' if k >= n else 'unfused'} native result {k % n}"
        assert_close(g, r, *_tolerance(name, r.dtype), what=what)


# Operands and params of the elementwise primitives that have parameters or operands of
# several dtypes (the others' follow from their registry entries).
SHAPE = (4, 5)
_F64 = np.dtype(np.float64)
_SPECIAL: dict[str, tuple[list[np.dtype], dict[str, Any]]] = {
    "select": ([np.dtype(np.bool_), _F64, _F64], {}),
    "convert": ([_F64], {"dtype": np.dtype(np.int32)}),
    "broadcast_to": ([_F64], {"shape": SHAPE}),
}
ELEMENTWISE = sorted(n for n, p in PRIMS.items() if p.kind == "elementwise")


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_primitive_fuses_into_one_coalesced_loop(name: str) -> None:
    p = PRIMS[name]
    if plain_elementwise(p):
        assert p.n_inputs is not None and p.dtypes
        dtypes, params = [p.dtypes[0]] * p.n_inputs, {}
    else:
        assert name in _SPECIAL, f"elementwise {name} has parameters: add it to _SPECIAL"
        dtypes, params = _SPECIAL[name]
    args = [np.zeros(SHAPE, d) for d in dtypes]
    _, chain = _functions(name, args, params)
    plan = make_plan(chain)
    (task,) = plan.tasks
    assert isinstance(task, LoopTask) and not plan.scratch, plan.tasks
    assert task.vshape and all(s == (20,) for s in task.vshape.values()), task.vshape
