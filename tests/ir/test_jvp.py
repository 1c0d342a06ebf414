"""Every primitive's JVP rule (forward mode) against central finite differences, at order 1
and at order 2 (forward over forward, forward over reverse, reverse over forward).

The cases are the VJP tests' (`tests/ir/test_vjp.py` `SPECS`: one per registered primitive,
values away from kinks, broadcasting, size-0 and size-1 dimensions, scalars), so a new
primitive is checked in forward mode as soon as it has a VJP spec. The checks are
directional (`tests/jvpcheck.py`): two evaluations per check, so order 2 samples fewer
examples than order 1 but covers every primitive.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracejit.ir import Builder, TensorType, all_primitives, bind, interpreting
from tracejit.ir.core import Function
from tracejit.ir.errors import IRError
from tracejit.ir.interp import evaluate
from tracejit.ir.jvp import jvp
from tracejit.ir.printer import print_function

from tests.gradcheck import ir_vjp_of, on_numpy
from tests.ir.test_vjp import DIFFERENTIABLE, SPECS, trace_primitive
from tests.jvpcheck import check_ir_jvp, check_second_order, ir_jvp_of

FAST = settings(deadline=None, max_examples=12, suppress_health_check=[HealthCheck.too_slow])
SECOND = settings(deadline=None, max_examples=5, suppress_health_check=[HealthCheck.too_slow])


def _apply(name: str, params: dict[str, Any]) -> Any:
    prep = SPECS[name].prepare
    if prep is not None:      # e.g. cholesky(sym(x)): see test_vjp's Spec
        return lambda *xs: bind(name, *map(prep, xs), **params)
    return lambda *xs: bind(name, *xs, **params)


def test_every_primitive_has_a_jvp_rule() -> None:
    missing = sorted(n for n, p in all_primitives().items() if p.jvp is None)
    assert not missing, f"primitives without a JVP rule: {missing}"


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@FAST
@given(data=st.data())
def test_jvp_matches_finite_differences(name: str, data: st.DataObject) -> None:
    args, params = data.draw(SPECS[name].cases, label="case")
    check_ir_jvp(_apply(name, params), args, what=name, wrt=SPECS[name].wrt)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@SECOND
@given(data=st.data())
def test_second_order_matches_finite_differences(name: str, data: st.DataObject) -> None:
    """Forward over forward, forward over reverse and reverse over forward."""
    args, params = data.draw(SPECS[name].cases, label="case")
    check_second_order(on_numpy(_apply(name, params)), args, ir_jvp_of, ir_vjp_of, what=name,
                       wrt=SPECS[name].wrt)


@pytest.mark.parametrize("name", sorted(SPECS))
@FAST
@given(data=st.data())
def test_rule_gives_tangents_of_the_output_types(name: str, data: st.DataObject) -> None:
    """With a tangent for every float operand, the pass gives each float output a tangent of
    its exact type (float32 too) built as IR, none to an integer output; a primitive without
    a gradient gives none at all, nor one with a zero gradient (sign: TensorFlow's forward
    mode gives None through it)."""
    args, params = data.draw(SPECS[name].cases, label="case")
    if name not in ("call", "custom_vjp", "while", "scan", "cond") and data.draw(
            st.booleans(), label="float32"):
        args = [a.astype(np.float32) if a.dtype == np.float64 else a for a in args]
    b, ps, out = trace_primitive(name, args, params)
    outs = list(out) if isinstance(out, tuple) else [out]
    fn = b.build(outs)
    flags = [p.dtype.kind == "f" for p in ps]
    jf = jvp(fn, flags)
    kind = SPECS[name].kind
    for o, c in zip(outs, jf.out_tangents):
        if kind in ("nondiff", "zero") or o.dtype.kind != "f" or not any(flags):
            assert not c
    n = len(outs)
    assert [r.type for r in jf.fn.results[:n]] == [o.type for o in outs]
    tangents = [r for r in jf.fn.results[n:]]
    assert [t.type for t in tangents] == [o.type for o, c in zip(outs, jf.out_tangents) if c]


def test_custom_vjp_tangent_is_the_transposed_custom_gradient() -> None:
    """`custom_vjp(x, y, r)` whose gradient gives x the cotangent `seed * r`: the tangent
    of y is `r * t_x` (the custom gradient transposed, as TensorFlow's ForwardAccumulator
    does), whatever computed y; a tangent of y or r alone gives none."""
    from tests.ir.cases import build_function
    bwd = build_function("bwd", [((3,), np.float64), ((3,), np.float64)],
                         lambda r, g: bind("mul", g, r))
    params = {"bwd": bwd, "n_in": 1, "n_out": 1, "connected": (True,)}
    b = Builder("f")
    x, r = b.param(TensorType((3,), np.float64)), b.param(TensorType((3,), np.float64))
    with interpreting(b):
        y = bind("custom_vjp", x, bind("exp", x), r, **params)
    fn = b.build([y])
    xv, rv, tv = np.array([0.5, 1., 2.]), np.array([3., -1., 2.]), np.array([1., 2., -1.])
    jf = jvp(fn, [True, False])
    _, t = evaluate(jf.fn, [xv, rv, tv])
    np.testing.assert_allclose(t, rv * tv, rtol=1e-15)
    assert not any(jvp(fn, [False, True]).out_tangents)


def test_jvp_is_consistent_with_vjp() -> None:
    """<jvp(t), g> == <t, vjp(g)> on a program with a call (of a call), a scan, a
    reduction with a choice and a cumulative product, to rounding: forward and reverse
    mode are transposes of one linear map."""
    from tests.ir.cases import make_callee
    callee = make_callee("nested", ((3,), (3,)))
    rng = np.random.default_rng(3)
    b = Builder("f")
    x = b.param(TensorType((3,), np.float64))
    with interpreting(b):
        y = bind("sin", bind("mul", x, x))
        z = bind("cumprod", y, axis=0, reverse=True)
        w = bind("reduce_max", bind("concat", z, x, axis=0), axes=(0,), keepdims=False)
        out = bind("mul", bind("logaddexp", z, y), w)
        out = bind("call", out, x, fn=callee)[0]
    fn = b.build([out])
    xv, tv, g = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
    _, t_out = evaluate(jvp(fn, [True]).fn, [xv, tv])
    (ct,) = _vjp(fn, xv, g)
    np.testing.assert_allclose(np.dot(t_out, g), np.dot(tv, ct), rtol=1e-12)


def _vjp(fn: Function, x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    from tracejit.ir.autodiff import vjp
    gf = vjp(fn, fn.params)
    res = evaluate(Function("r", fn.params, fn.instrs, gf.residuals), [x])
    return evaluate(gf.fn, res + [g])


def test_dead_tangents_are_pruned_and_the_text_round_trips() -> None:
    from tracejit.ir.parser import parse
    b = Builder("f")
    x, n = b.param(TensorType((4,), np.float64)), b.param(TensorType((4,), np.float64))
    with interpreting(b):
        y = bind("exp", x)
        z = bind("floor", bind("mul", y, n))      # no gradient: no tangent
    fn = b.build([y, z])
    jf = jvp(fn, [True, False])
    assert jf.out_tangents == [True, False]
    prims = [ins.prim for ins in jf.fn.instrs]
    # exp, mul, floor, and the tangent of exp (one mul): mul's tangent is dead, pruned
    assert sorted(prims) == ["exp", "floor", "mul", "mul"], print_function(jf.fn)
    text = print_function(jf.fn)
    assert print_function(parse(text)) == text


def test_a_tangent_of_an_integer_parameter_is_refused() -> None:
    b = Builder("f")
    i = b.param(TensorType((), np.int32))
    fn = b.build([i])
    with pytest.raises(IRError, match="only floats"):
        jvp(fn, [True])
