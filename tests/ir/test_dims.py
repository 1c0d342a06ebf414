"""Unknown dimensions in the IR: `Dim` symbols in types and params, printed, parsed,
verified, computed with by the shape rules, bound and checked by `specialize` and the
reference interpreter."""
from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from tracejit.ir import dims
from tracejit.ir.core import Builder, Function, TensorType, bind, interpreting
from tracejit.ir.errors import IRError, ShapeError
from tracejit.ir.interp import evaluate
from tracejit.ir.parser import parse
from tracejit.ir.specialize import bind_arguments, is_symbolic, specialize
from tracejit.ir.verify import verify

F32 = np.dtype(np.float32)
N0, N1 = dims.symbol("n0"), dims.symbol("n1")


def build(types: list[TensorType], body: Any, name: str = "f") -> Function:
    b = Builder(name)
    xs = [b.param(t) for t in types]
    with interpreting(b):
        outs = body(*xs)
    return b.build(list(outs) if isinstance(outs, tuple) else [outs])


def mlp_layer(x: Any, w: Any, y: Any) -> tuple[Any, ...]:
    h = bind("matmul", x, w, transpose_a=False, transpose_b=False)
    z = bind("add", h, y)
    s = bind("reduce_sum", z, axes=(0,), keepdims=False)
    r = bind("reshape", x, shape=(N0 * 784,))
    q = bind("broadcast_to", s, shape=(N1, 10))
    return z, s, r, q


LAYER = [TensorType((N0, 784), F32), TensorType((784, 10), F32), TensorType((N1, 10), F32)]


def test_dims_are_interned_monomials() -> None:
    assert dims.symbol("n0") is N0
    assert N0 * 784 is 784 * N0 is dims.monomial(784, ("n0",))
    assert str(N0 * N1 * 2) == "n0*n1*2" and str(N1 * N0) == "n0*n1"
    assert (N0 * 784) // 28 is N0 * 28
    assert dims.exact_quotient(N0 * 784, 3) is None
    assert dims.exact_quotient(N0 * N1, N1) is N0
    assert dims.monomial(5, ()) == 5 and type(dims.monomial(5, ())) is int
    assert N0 != 1 and N0 != N1 and N0 + N0 is N0 * 2
    assert pickle.loads(pickle.dumps(N0 * 3)) is N0 * 3
    for bad in (lambda: int(N0), lambda: N0 < 3, lambda: range(N0)):
        with pytest.raises(TypeError, match="n0 is unknown while tracing"):
            bad()
    with pytest.raises(ShapeError, match="not supported"):
        N0 + 1


def test_types_print_parse_and_verify() -> None:
    f = build(LAYER, mlp_layer)
    text = str(f)
    assert "%arg0: f32[n0,784]" in text and "{shape=(n0*784,)} : f32[n0*784]" in text
    assert "matmul(%arg0, %arg1) {transpose_a=False, transpose_b=False} : f32[n0,10]" in text
    verify(f)
    g = parse(text)
    assert g == f and str(g) == text
    verify(g)
    assert is_symbolic(f) and not is_symbolic(parse("func @g(%x: f32[2]) -> f32[2] {\n"
                                                    "  return %x\n}"))


def test_parser_rejects_unknown_names_and_bad_dims() -> None:
    with pytest.raises(IRError, match="bad dimension"):
        parse("func @g(%x: f32[n0*2.5]) -> f32[] {\n  return %x\n}")
    with pytest.raises(IRError, match="expected a param value"):
        parse("func @g(%x: f32[n0]) -> f32[n0] {\n"
              "  %0 = reshape(%x) {shape=(m9,)} : f32[n0]\n  return %0\n}")


def test_shape_rules_compute_with_symbols() -> None:
    def out(prim: str, *types: TensorType, **params: Any) -> Any:
        from tracejit.ir.prims import get_primitive
        p = get_primitive(prim)
        return p.infer(list(types), p.canonical_params(params))[0].shape

    t = TensorType
    assert out("add", t((N0, 1), F32), t((1, 5), F32)) == (N0, 5)
    assert out("add", t((N0, 5), F32), t((N1, 5), F32)) == (N0, 5)     # checked at run time
    assert out("add", t((N0,), F32), t((7,), F32)) == (7,)
    assert out("matmul", t((N0, 3), F32), t((N1, 4), F32), transpose_a=False,
               transpose_b=False) == (N0, 4)
    assert out("reduce_sum", t((N0, 3), F32), axes=(0,)) == (3,)
    assert out("transpose", t((N0, 3), F32), perm=(1, 0)) == (3, N0)
    assert out("reshape", t((N0, 28, 28), F32), shape=(N0, 784)) == (N0, 784)
    assert out("slice", t((N0, 5), F32), starts=(0, 1), limits=(N0, 4),
               strides=(1, 1)) == (N0, 3)
    assert out("gather", t((10, 4), F32), t((N0,), np.int32), axis=0) == (N0, 4)
    with pytest.raises(ShapeError, match="inner dimensions"):
        out("matmul", t((N0, 3), F32), t((4, 5), F32), transpose_a=False, transpose_b=False)
    # n0*3 == n0*4 holds for n0 = 0 only: the trace keeps it and run time decides.
    assert out("reshape", t((N0, 3), F32), shape=(N0, 4)) == (N0, 4)
    with pytest.raises(ShapeError, match="cannot reshape"):
        out("reshape", t((N0, 3), F32), shape=(2, 2))
    with pytest.raises(ShapeError, match="taken whole"):
        out("slice", t((N0, 5), F32), starts=(1, 0), limits=(N0, 5), strides=(1, 1))


def test_interpreter_binds_and_checks_dims() -> None:
    f = build(LAYER, mlp_layer)
    w = np.ones((784, 10), np.float32)
    for n in (1, 3):
        x = np.arange(n * 784, dtype=np.float32).reshape(n, 784) / 1000
        y = np.ones((n, 10), np.float32)
        z, s, r, q = evaluate(f, [x, w, y])
        np.testing.assert_allclose(z, x @ w + y, rtol=1e-5)
        assert r.shape == (n * 784,) and q.shape == (n, 10)
    bad = [
        ((3, 784), (2, 10), "incompatible shapes for broadcasting: \\(3, 10\\) and \\(2, 10\\)"),
        ((3, 783), (3, 10), r"expected a shape \(None, 784\), got \(3, 783\)"),
        ((1, 784), (4, 10), r"trace assumed f32\[n0,10\] \(n0=1, n1=4\)"),
    ]
    for xs, ys, msg in bad:
        with pytest.raises(ValueError, match=msg):
            evaluate(f, [np.ones(xs, np.float32), w, np.ones(ys, np.float32)])


def test_specialize_binds_types_params_and_callees() -> None:
    callee = build([TensorType((N0, 3), F32)],
                   lambda x: bind("reshape", x, shape=(N0 * 3,)), name="callee")
    assert bind_arguments(callee, [(5, 3)]) == {"n0": 5}
    # The callee's own n0 is bound by the call's operands (here the caller's n1 * 2).
    f = build([TensorType((N1, 2, 3), F32)], lambda x: bind(
        "call", bind("reshape", x, shape=(N1 * 2, 3)), fn=callee))
    assert f.results[0].type.shape == (N1 * 6,)
    g = specialize(f, {"n1": 4})
    assert not is_symbolic(g)
    assert str(g.instrs[0].outs[0].type) == "f32[8,3]" and g.results[0].type.shape == (24,)
    verify(g)
    x = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    np.testing.assert_array_equal(evaluate(f, [x])[0], x.reshape(-1))
    with pytest.raises(ShapeError, match=r"expected a shape \(None, 3\)"):
        bind_arguments(callee, [(5, 4)])


def test_sums_and_differences_of_unknown_dims_are_shape_errors() -> None:
    n0, n1 = dims.symbol("n0"), dims.symbol("n1")
    assert (3 * n0) - n0 == 2 * n0 and n0 - 0 is n0 and n0 - n0 == 0
    for bad in (lambda: n0 - 1, lambda: 5 - n0, lambda: -n0, lambda: n0 - n1,
                lambda: n0 - 2 * n0, lambda: n0 + 1):
        with pytest.raises(ShapeError, match="unknown dimensions"):
            bad()
