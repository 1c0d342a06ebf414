"""Random region programs: a random Function (`tests/strategies.programs`) becomes the body
of a `scan` or `while` loop (its parameters are the carried state, which its results feed
back into) or a branch of a `cond`; native code is compared with the reference
interpreter, and reverse mode with central finite differences."""
from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st
from tracejit.codegen import compile_function
from tracejit.ir import Builder, Function, TensorType, bind, interpreting, ops
from tracejit.ir.interp import evaluate, run
from tracejit.ir.verify import verify

from tests.codegen.helpers import assert_close
from tests.gradcheck import check_ir_grads
from tests.strategies import SMOOTH_PRIMS, programs, random_inputs

F64 = np.dtype(np.float64)
I32 = np.dtype(np.int32)


def _feedback(g: Function, c: list[Any]) -> tuple[list[Any], list[Any]]:
    """(next state, g's results) for state `c`: g runs on the state, and a scalar of its
    first result nudges every state value."""
    r = run(g, c)
    s = ops.mul(bind("tanh", ops.reduce_sum(r[0], tuple(range(len(r[0].shape))))),
                ops.const(0.1, F64))
    return [ops.add(ops.mul(x, ops.const(0.9, F64)), s) for x in c], list(r)


def _body(name: str, g: Function, counter: bool, ys: bool) -> Function:
    b = Builder(name)
    c = [b.param(p.type) for p in g.params]
    i = b.param(TensorType((), I32)) if counter else None
    with interpreting(b):
        new, r = _feedback(g, c)
        res = new + ([ops.add(i, ops.const(1, I32))] if counter else []) + (r if ys else [])
    return b.build(res)


@st.composite
def region_programs(draw: Any) -> Function:
    g = draw(programs(dtypes=(np.float64,), max_size=24, max_rank=2, safe=True,
                      allow=SMOOTH_PRIMS - {"call", "stop_gradient"}, max_params=2,
                      max_results=2,
                      max_instrs=5, name="g"))
    kind = draw(st.sampled_from(["scan", "while", "cond"]))
    b = Builder(f"{kind}_program")
    xs = [b.param(p.type) for p in g.params]
    with interpreting(b):
        if kind == "scan":
            length = draw(st.sampled_from([0, 1, 3]))
            out = bind("scan", *xs, body=_body("body", g, False, True), n_consts=0,
                       n_carry=len(xs), length=length, reverse=draw(st.booleans()))
        elif kind == "while":
            n = draw(st.sampled_from([0, 1, 3]))
            tb = Builder("cond")
            ps = [tb.param(p.type) for p in g.params] + [tb.param(TensorType((), I32))]
            with interpreting(tb):
                c = bind("lt", ps[-1], ops.const(n, I32))
            out = bind("while", *xs, ops.const(0, I32), cond=tb.build([c]),
                       body=_body("body", g, True, False), n_consts=0, max_iters=None)
            out = out[:len(xs)]
        else:
            neg = Builder("negated")
            ps = [neg.param(p.type) for p in g.params]
            with interpreting(neg):
                r = run(g, [ops.neg(p) for p in ps])
            branches = (g, neg.build(list(r)))
            index = ops.const(draw(st.sampled_from([0, 1, 2])), I32)
            out = bind("cond", index, *xs, branches=branches)
        out = list(out) if isinstance(out, tuple) else [out]
    return b.build(out)


@settings(max_examples=12, deadline=None)
@given(region_programs(), st.integers(0, 2**32 - 1))
def test_native_region_programs_match_the_interpreter(fn: Function, seed: int) -> None:
    verify(fn)
    args = random_inputs(fn, np.random.default_rng(seed), -1.0, 1.0)
    want = evaluate(fn, args)
    got = compile_function(fn)(*args)
    for k, (a, w) in enumerate(zip(got, want)):
        assert_close(a, w, rtol=1e-9, atol=1e-12, what=f"result {k} of\n{fn}")


@settings(max_examples=10, deadline=None)
@given(region_programs(), st.integers(0, 2**32 - 1))
def test_region_programs_differentiate_like_finite_differences(fn: Function, seed: int
                                                               ) -> None:
    assume(fn.params)
    note(str(fn))
    args = random_inputs(fn, np.random.default_rng(seed), -1.0, 1.0)
    check_ir_grads(lambda *xs: tuple(run(fn, list(xs))), args, order=1)
