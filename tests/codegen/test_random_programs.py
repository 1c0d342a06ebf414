"""Differential test: native code vs the reference interpreter on random IR programs
(`tests/strategies.py`), float32/float64 and integer/bool mixes, with special values."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tracejit.codegen import compile_function
from tracejit.ir.interp import evaluate

from tests.codegen.helpers import assert_close
from tests.strategies import FLOATS, INTS, programs, random_inputs

TRANSCENDENTAL = {"exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sqrt",
                  "logistic", "softplus", "pow", "reduce_sum", "reduce_prod", "matmul",
                  "div", "call"}


def _tolerance(fn) -> tuple[float, float]:
    """Loose where error can grow through a chain of rounded operations."""
    prims = {ins.prim for ins in fn.instrs}
    f32 = any(p.type.dtype == np.float32 for p in fn.params) or any(
        o.type.dtype == np.float32 for ins in fn.instrs for o in ins.outs)
    if prims & TRANSCENDENTAL:
        return (2e-4, 1e-5) if f32 else (1e-9, 1e-12)
    return (1e-5, 1e-6) if f32 else (1e-12, 1e-14)


def _run(fn, seed):
    args = random_inputs(fn, np.random.default_rng(seed))
    before = [a.copy() for a in args]
    with np.errstate(all="ignore"):
        ref = evaluate(fn, args)
    got = compile_function(fn)(*args)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)
    rtol, atol = _tolerance(fn)
    for k, (g, r) in enumerate(zip(got, ref)):
        assert_close(g, r, rtol=rtol, atol=atol, what=f"result {k} of\n{fn}")


@settings(max_examples=60)
@given(programs(dtypes=FLOATS, max_instrs=8, safe=True), st.integers(0, 2**32 - 1))
def test_random_float_programs(fn, seed):
    _run(fn, seed)


@settings(max_examples=30)
@given(programs(dtypes=FLOATS + INTS, max_instrs=6, special_values=True),
       st.integers(0, 2**32 - 1))
def test_random_mixed_programs(fn, seed):
    _run(fn, seed)
