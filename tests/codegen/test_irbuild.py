"""`irbuild.Builder` makes each instruction and block exactly as `ir.IRBuilder` does: the
same class, the same attributes holding the same things, the same names (deduplicated in
the function's scope), and modules that print the same. Each scenario runs once with
each builder on identical fresh modules."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llvmlite import ir
from tracejit.codegen.irbuild import FAST, FAST_METHODS, Builder, new_function

# The fast paths exist under the llvmlite releases they were checked against only
# (test_llvmlite_release.py covers the others).
pytestmark = pytest.mark.skipif(not FAST, reason="llvmlite release without irbuild's fast paths")

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
V4 = ir.VectorType(F32, 4)
ARR = ir.ArrayType(F64, 8)


def _norm(v: Any, depth: int = 0) -> Any:
    """What an attribute holds, comparable across the two modules."""
    if isinstance(v, (ir.Block, ir.Function)):
        return (type(v).__name__, v.name)
    if isinstance(v, ir.Value) or isinstance(v, ir.Type):
        return (type(v).__name__, str(v) if isinstance(v, ir.Type) else v.get_reference())
    if isinstance(v, ir.Module):
        return ("Module", v.name)
    if isinstance(v, ir._utils.NameScope):
        return (sorted(v._useset), dict(v._basenamemap))
    if isinstance(v, ir.values.AttributeSet):
        return (type(v).__name__, sorted(v), sorted(vars(v).items()))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [_norm(x, depth + 1) for x in v])
    if isinstance(v, dict):
        return {k: _norm(x, depth + 1) for k, x in v.items()}
    return v


def _state(x: Any) -> tuple[str, dict[str, Any]]:
    return type(x).__name__, {k: _norm(v) for k, v in vars(x).items()}


Scenario = Callable[[ir.IRBuilder, ir.Function], list[Any]]


def _run(make: type, scenario: Scenario) -> tuple[str, list[Any]]:
    m = ir.Module(name="m")
    callee = ir.Function(m, ir.FunctionType(F64, [F64, I64]), "callee")
    ir.Function(m, ir.FunctionType(I32, [I64], var_arg=True), "printf")
    fn = ir.Function(m, ir.FunctionType(F64, [F64.as_pointer(), I64, V4, ARR.as_pointer()]),
                     "f")
    b = make(fn.append_basic_block("entry"))
    made = scenario(b, callee)
    return str(m), [_state(x) for x in made]


def _binops(b: ir.IRBuilder, callee: ir.Function) -> list[Any]:
    p, n, v, _ = b.function.args
    x = b.load(p)
    ints = [getattr(b, op)(n, n) for op in ("shl", "lshr", "ashr", "add", "sub", "mul",
                                            "udiv", "sdiv", "urem", "srem", "or_", "and_",
                                            "xor")]
    floats = [getattr(b, op)(x, x, name="f") for op in ("fadd", "fsub", "fmul", "fdiv",
                                                         "frem")]
    flagged = [b.add(n, n, name="k", flags=("nuw", "nsw")), b.fadd(x, x, flags=("fast",)),
               b.fmul(v, v, name="v"), b.not_(b.icmp_signed("<", n, n))]
    return [x] + ints + floats + flagged


def _casts(b: ir.IRBuilder, callee: ir.Function) -> list[Any]:
    p, n, _, a = b.function.args
    x = b.load(p)
    out = [b.trunc(n, I32), b.zext(b.trunc(n, I8), I64), b.sext(b.trunc(n, I8), I32),
           b.fptrunc(x, F32, name="t"), b.fpext(b.fptrunc(x, F32), F64),
           b.bitcast(p, I8.as_pointer()), b.fptoui(x, I64), b.uitofp(n, F32),
           b.fptosi(x, I32), b.sitofp(n, F64), b.ptrtoint(p, I64), b.inttoptr(n, p.type),
           b.bitcast(a, ARR.as_pointer())]     # the same type: the value itself
    return out


def _compares(b: ir.IRBuilder, callee: ir.Function) -> list[Any]:
    p, n, v, _ = b.function.args
    x = b.load(p, align=8)
    out = [b.icmp_signed(op, n, n) for op in ("<", "<=", ">", ">=", "==", "!=")]
    out += [b.icmp_unsigned(op, n, n, name="u") for op in ("<", "==")]
    out += [b.fcmp_ordered(op, x, x) for op in ("<", "==", "!=", "ord", "uno")]
    out += [b.fcmp_unordered(op, x, x, flags=("nnan",)) for op in (">=", "uno")]
    out += [b.fcmp_ordered("<", v, v), b.icmp_signed("<", b.fptosi(v, ir.VectorType(I32, 4)),
                                                     b.fptosi(v, ir.VectorType(I32, 4)))]
    out += [b.select(out[0], x, x), b.select(out[1], x, x, name="s", flags=("fast",))]
    return out


def _memory(b: ir.IRBuilder, callee: ir.Function) -> list[Any]:
    p, n, _, a = b.function.args
    slot = b.alloca(F64, name="slot")
    q = b.gep(p, [n], inbounds=True, name="q")
    r = b.gep(a, [ir.Constant(I64, 0), ir.Constant(I32, 3)])
    s = b.gep(p, [ir.Constant(I64, 2)])
    x, y = b.load(q, align=8), b.load(r, name="y")
    z = b.load(slot)                          # from an alloca: llvmlite's own path
    return [slot, q, r, s, x, y, z, b.store(x, slot), b.store(y, q, align=8),
            b.store(z, s, align=1)]


def _calls(b: ir.IRBuilder, callee: ir.Function) -> list[Any]:
    _, n, _, _ = b.function.args
    printf = b.module.get_global("printf")
    x = ir.Constant(F64, 1.5)
    out = [b.call(callee, [x, n]), b.call(callee, [x, n], name="c", tail=True),
           b.call(callee, [x, n], tail="musttail", fastmath=("fast",)),
           b.call(callee, [x, n], fastmath=("nnan", "ninf")),
           b.call(printf, [n, n, x]), b.call(callee, [x, n], attrs=("nounwind",)),
           b.call(callee, [x, n], cconv="fastcc"),
           b.call(callee, [x, n], arg_attrs={1: ("noundef",)})]
    with pytest.raises(TypeError):
        b.call(callee, [n, n])
    return out


def _control(b: ir.IRBuilder, callee: ir.Function) -> list[Any]:
    fn = b.function
    _, n, _, _ = fn.args
    blocks = [b.append_basic_block(name) for name in ("loop", "loop", "", "", "loop.1",
                                                      "x" * 60)]
    c = b.icmp_signed("<", n, n)
    out: list[Any] = list(blocks)
    out.append(b.cbranch(c, blocks[0], blocks[1]))
    b.position_at_end(blocks[0])
    ph = b.phi(I64, name="i")
    ph.add_incoming(n, fn.blocks[0])
    out += [ph, b.phi(F64, flags=("fast",)), b.branch(blocks[1])]
    b.position_at_end(blocks[1])
    with b.if_then(c, likely=True) as end:
        out.append(b.add(n, n))
    out.append(end)
    with b.if_then(c, likely=False):
        with b.if_then(c):
            out.append(b.sub(n, n))
        out.append(b.ret(ir.Constant(F64, 0.0)))
    with b.if_then(c, likely=False):
        pass
    b.position_at_end(blocks[5])
    with b.if_then(c, likely=True):
        pass
    out += list(fn.blocks) + [b.ret(ir.Constant(F64, 1.0))]
    empty = ir.Function(b.module, ir.FunctionType(ir.VoidType(), []), "empty")
    b.position_at_end(empty.append_basic_block())
    return out + [b.ret_void()]


SCENARIOS = [_binops, _casts, _compares, _memory, _calls, _control]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_fast_method_makes_what_llvmlite_makes(scenario: Scenario) -> None:
    text, made = _run(ir.IRBuilder, scenario)
    got_text, got = _run(Builder, scenario)
    assert len(got) == len(made)
    for k, (g, w) in enumerate(zip(got, made)):
        assert g == w, f"{scenario.__name__}: item {k}"
    assert got_text == text


def test_every_fast_method_is_covered(monkeypatch: pytest.MonkeyPatch) -> None:
    called: set[str] = set()

    def spy(name: str) -> Callable[..., Any]:
        method = vars(Builder)[name]

        def call(*a: Any, **k: Any) -> Any:
            called.add(name)
            return method(*a, **k)
        return call

    for name in FAST_METHODS:
        monkeypatch.setattr(Builder, name, spy(name))
    for s in SCENARIOS:
        _run(Builder, s)
    assert called == set(FAST_METHODS), sorted(set(FAST_METHODS) - called)


@pytest.mark.parametrize("ftype", [
    ir.FunctionType(F64, [I64, F64.as_pointer()]), ir.FunctionType(ir.VoidType(), []),
    ir.FunctionType(I32, [I64], var_arg=True), ir.FunctionType(V4, [V4, ARR.as_pointer()])])
def test_new_function_makes_what_llvmlite_makes(ftype: ir.FunctionType) -> None:
    made = []
    for make in (ir.Function, new_function):
        m = ir.Module(name="m")
        fn = make(m, ftype, "f")
        with pytest.raises(ir._utils.DuplicatedNameError):
            make(m, ftype, "f")
        made.append((m, fn))
    (m1, f1), (m2, f2) = made
    assert type(f2) is type(f1)
    assert _state(f2) == _state(f1)
    assert [_state(a) for a in f2.args + (f2.return_value,)] == [
        _state(a) for a in f1.args + (f1.return_value,)]
    for _, f in made:
        for a in f.args:
            a.add_attribute("noalias")
        b = Builder(f.append_basic_block())
        b.ret(ir.Constant(ftype.return_type, None)) if ftype.return_type != ir.VoidType() \
            else b.ret_void()
    assert str(m2) == str(m1)
