"""The fast paths around llvmlite print exactly what llvmlite itself prints:
`irtext.module_text` what `str(module)` prints, and modules made with `irbuild.Builder`
what modules made with `ir.IRBuilder` print. Checked on the modules of every primitive's
lowering (main and entry modules), on a program lowered in parts, and on each
instruction form `module_text` formats itself, with every flag, attribute and metadata
variant that changes llvmlite's text."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llvmlite import ir
from tracejit.codegen import ABI, build_module
from tracejit.codegen.irbuild import FAST, FAST_METHODS, Builder
from tracejit.codegen.irtext import module_text
from tracejit.ir import all_primitives, bind

from tests.ir.prim_cases import CASES
from tests.strategies import build_function

# The fast paths exist under the llvmlite releases they were checked against only
# (test_llvmlite_release.py covers the others).
pytestmark = pytest.mark.skipif(not FAST, reason="llvmlite release without irbuild's fast paths")

PRIMS = sorted(all_primitives())


def _same(m: ir.Module) -> None:
    got, want = module_text(m), str(m)
    if got != want:
        for k, (a, b) in enumerate(zip(got.splitlines(), want.splitlines())):
            assert a == b, f"line {k + 1} of module {m.name!r}"
        assert got == want


@contextlib.contextmanager
def llvmlite_builder() -> Iterator[None]:
    """`Builder` without its fast paths: llvmlite's own methods."""
    saved = {k: vars(Builder)[k] for k in FAST_METHODS}
    try:
        for k in FAST_METHODS:
            setattr(Builder, k, getattr(ir.IRBuilder, k))
        yield
    finally:
        for k, v in saved.items():
            setattr(Builder, k, v)


@pytest.mark.parametrize("name", PRIMS)
@settings(deadline=None, max_examples=2, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_primitive_lowering_prints_as_with_llvmlite_alone(name: str,
                                                                 data: st.DataObject) -> None:
    args, params = data.draw(CASES[name], label="case")
    types = [(a.shape, a.dtype) for a in args]

    def body(*xs: Any) -> Any:
        r = bind(name, *xs, **params)
        return list(r) if isinstance(r, (tuple, list)) else [r]

    fn = build_function(name, types, body)
    with llvmlite_builder():
        want = [str(m) for m in build_module(fn, ABI)[::2]]
    module, _, entries, _ = build_module(fn, ABI)
    _same(module)
    _same(entries)
    assert [module_text(module), module_text(entries)] == want


class _Parts:
    """Takes every part module (`parts.Parts`' interface, nothing compiled)."""

    def __init__(self) -> None:
        self.modules: list[ir.Module] = []

    def plan(self, cost: int, n_segments: int, slp: bool) -> int:
        return min(n_segments, 3)

    def submit(self, module: ir.Module) -> None:
        self.modules.append(module)


def test_a_program_lowered_in_parts_prints_as_llvmlite_does() -> None:
    f32 = np.dtype(np.float32)

    def body(x: Any, w: Any) -> Any:     # estimated beyond parts.THREAD_MIN_COST
        h, outs = bind("tanh", bind("matmul", x, w)), []
        for _ in range(6):
            h = bind("exp", bind("neg", bind("tanh", bind("matmul", h, w))))
            outs.append(bind("reduce_sum", bind("log", h), axes=(1,)))
        return outs

    fn = build_function("parts", [((64, 48), f32), ((48, 48), f32)], body)
    with llvmlite_builder():
        slow = _Parts()
        module, _, entries, _ = build_module(fn, ABI, parts=slow)  # type: ignore[arg-type]
        want = [str(m) for m in slow.modules + [module, entries]]
    parts = _Parts()
    module, _, entries, _ = build_module(fn, ABI, parts=parts)  # type: ignore[arg-type]
    assert len(parts.modules) == 1
    for m in parts.modules + [module, entries]:
        _same(m)
    assert [module_text(m) for m in parts.modules + [module, entries]] == want


def _forms_module() -> ir.Module:
    """One function with every instruction form `module_text` formats itself, in each
    variant of flags, alignment, attributes and metadata."""
    i1, i32, i64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
    f32, f64, v4 = ir.FloatType(), ir.DoubleType(), ir.VectorType(ir.FloatType(), 4)
    m = ir.Module(name="forms")
    callee = ir.Function(m, ir.FunctionType(f64, [f64, i64]), "callee")
    vararg = ir.Function(m, ir.FunctionType(i32, [i64], var_arg=True), "printf")
    sink = ir.Function(m, ir.FunctionType(ir.VoidType(), [f64]), "sink")
    fn = ir.Function(m, ir.FunctionType(f64, [f64.as_pointer(), i64, v4]), "forms")
    p, n, v = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    slot = b.alloca(f64, name="slot")
    many = b.alloca(i64, size=n)
    many.align = 64
    aligned = b.alloca(f32)
    aligned.align = 4
    q = b.gep(p, [n], inbounds=True, name='we"ird\\name')
    r = b.gep(p, [ir.Constant(i64, 3)])
    x = b.load(q, align=8)
    y = b.load(r)
    y.set_metadata("invariant.load", m.add_metadata([]))
    b.store(x, slot)
    b.store(y, r, align=8)
    st_ = b.store(x, r)
    st_.set_metadata("nontemporal", m.add_metadata([ir.Constant(i32, 1)]))
    s = b.fadd(x, y, flags=("fast",))
    s = b.fmul(s, y)
    s = b.fsub(s, x, flags=("contract", "nnan"))
    s = b.fneg(s, flags=("nsz",))
    k = b.add(n, ir.Constant(i64, 1), flags=("nuw", "nsw"))
    k = b.shl(k, ir.Constant(i64, 2))
    big = b.icmp_signed(">", k, n)
    fbig = b.fcmp_ordered("<", s, x, flags=("fast",))
    fun = b.fcmp_unordered("uno", s, x)
    vc = b.fcmp_ordered("==", v, v)
    both = b.and_(b.and_(big, fbig), b.not_(fun))
    t = b.select(both, s, x)
    t2 = b.select(both, s, t, flags=("nnan",))
    w = b.fpext(b.fptrunc(t2, f32), f64)
    w = b.sitofp(b.fptosi(w, i32), f64)
    c = b.call(callee, [w, k], name="c")
    c2 = b.call(callee, [c, k], tail=True, fastmath=("fast",))
    c3 = b.call(callee, [c2, k], tail="musttail", attrs=("nounwind",))
    c3.set_metadata("tj", m.add_metadata(["x"]))
    b.call(vararg, [k], cconv="fastcc")
    b.call(callee, [c3, k], arg_attrs={0: ("noundef",)})
    b.call(sink, [c3])
    b.extract_element(v, ir.Constant(i32, 0))
    b.icmp_unsigned("==", b.extract_element(vc, ir.Constant(i32, 1)), ir.Constant(i1, 1))
    loop = b.append_basic_block("loop.body")
    done = b.append_basic_block("")
    b.cbranch(both, loop, done).set_weights([1, 99])
    b.position_at_end(loop)
    ph = b.phi(f64, name="acc")
    ph.add_incoming(c3, fn.blocks[0])
    ph.add_incoming(ph, loop)
    ph2 = b.phi(f64, flags=("fast",))
    ph2.add_incoming(c3, fn.blocks[0])
    ph2.add_incoming(ph2, loop)
    br = b.cbranch(big, loop, done)
    br.set_metadata("llvm.loop", m.add_metadata([]))
    b.position_at_end(done)
    sw_blk = b.append_basic_block("sw")
    b.branch(sw_blk).set_metadata("tj.br", m.add_metadata(["y"]))
    b.position_at_end(sw_blk)
    sw = b.switch(n, done)
    sw.add_case(1, loop)
    fn2 = ir.Function(m, ir.FunctionType(ir.VoidType(), []), "empty")
    b2 = ir.IRBuilder(fn2.append_basic_block())
    ret = b2.ret_void()
    ret.set_metadata("tj.ret", m.add_metadata(["z"]))
    fn3 = ir.Function(m, ir.FunctionType(f64, [f64]), "value")
    ir.IRBuilder(fn3.append_basic_block("entry")).ret(fn3.args[0])
    g = ir.GlobalVariable(m, i64, "counter")
    g.initializer = ir.Constant(i64, 0)
    m.add_named_metadata("tj.named", ["w"])
    return m


def test_every_instruction_form_prints_as_llvmlite_does() -> None:
    m = _forms_module()
    text = module_text(m)
    assert 'getelementptr inbounds double, double* %".1"' in text
    assert "!prof" in text and "!llvm.loop" in text and "fastcc" in text
    _same(m)
