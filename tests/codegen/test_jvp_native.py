"""Tangent Functions (forward mode, `ir.jvp`) in native code against the reference
interpreter, sampled over the registry: a JVP of one primitive, and forward over reverse
(the JVP of its gradient Function, what a Hessian-vector product compiles to). Sampled,
not enumerated (each example compiles a Function): `tests/ir/test_jvp.py` checks every
primitive's rule against finite differences with the interpreter.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracejit.codegen import compile_function
from tracejit.ir import Function, bind, interpreting
from tracejit.ir.interp import evaluate
from tracejit.ir.jvp import jvp

from tests.gradcheck import ir_vjp_of
from tests.ir.test_vjp import DIFFERENTIABLE, SPECS, trace_primitive

SAMPLED = settings(deadline=None, max_examples=10, suppress_health_check=[HealthCheck.too_slow])


def _close(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12 * scale, err_msg=what)


def _trace(name: str, args: list[np.ndarray], params: dict[str, Any], with_grad: bool
           ) -> Function:
    b, ps, out = trace_primitive(name, args, params)
    outs = list(out) if isinstance(out, tuple) else [out]
    if not with_grad:
        return b.build(outs)
    with interpreting(b):
        seeds = [b.param(o.type, "seed") for o in outs]
        cts = ir_vjp_of(lambda *xs: bind(name, *xs, **params))(
            *ps, seed=seeds[0] if len(seeds) == 1 else tuple(seeds))
    return b.build([c for c in cts if c is not None] or outs)


def _check(name: str, args: list[np.ndarray], params: dict[str, Any], with_grad: bool,
           rng: np.random.Generator) -> None:
    fn = _trace(name, args, params, with_grad)
    flags = [p.type.dtype.kind == "f" for p in fn.params[:len(args)]] + \
        [False] * (len(fn.params) - len(args))
    jf = jvp(fn, flags)
    extra = [rng.standard_normal(p.type.shape).astype(p.type.dtype) if p.type.dtype.kind == "f"
             else np.zeros(p.type.shape, p.type.dtype)      # an integer output's seed (lu's pivots)
             for p in fn.params[len(args):]]
    ts = [rng.standard_normal(a.shape) for a, f in zip(args, flags) if f]
    inputs = list(args) + extra + ts
    with np.errstate(all="ignore"):
        ref = evaluate(jf.fn, inputs)
    got = compile_function(jf.fn)(*inputs)
    for k, (g, r) in enumerate(zip(got, ref)):
        _close(np.asarray(g), r, f"{name}: result {k} of\n{jf.fn}")


@SAMPLED
@given(data=st.data())
def test_tangent_function_native_matches_reference(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(DIFFERENTIABLE), label="primitive")
    args, params = data.draw(SPECS[name].cases, label="case")
    _check(name, args, params, False, np.random.default_rng(0))


@SAMPLED
@given(data=st.data())
def test_forward_over_reverse_native_matches_reference(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(DIFFERENTIABLE), label="primitive")
    args, params = data.draw(SPECS[name].cases, label="case")
    _check(name, args, params, True, np.random.default_rng(1))
