"""Element rules for the elementwise primitives: scalar LLVM code per element.

Invariants (the reference is each primitive's NumPy `impl`):
- Operands are read at their NumPy-broadcast index (`broadcast_index`): broadcasting is
  stride-0 indexing, never a materialized copy.
- NaN, inf and signed zeros come out as in NumPy: `maximum(x, y)` is
  `x > y or isnan(x) ? x : y` (`minimum` with `<`), so a NaN operand wins and of two
  equal operands (0.0 and -0.0) the second is returned, as `np.maximum` does; `relu` is
  `maximum(x, 0)`; ordered comparisons are false on NaN and `ne` is true; `sign(nan)` is
  nan. The only fast-math flag used is `contract`.
- Integer arithmetic wraps; integer `floordiv`/`mod` by zero give 0 and `MIN // -1` gives
  `MIN` (NumPy's results) through a divisor that is never 0 or -1 with `MIN`, so no
  division can trap. Float `floordiv` is `floor(x / y)` and `mod` is `fmod(x, y)` plus
  `y` when nonzero with the other sign (TensorFlow's FloorDiv and FloorMod).
- `convert` from float to int saturates with NaN -> 0 (`llvm.fptosi.sat`'s semantics,
  spelled out so that it vectorizes), to bool is `!= 0` (NaN -> True), from bool is 0/1.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir

from ..ir import Instr
from ..ir.tables import entering
from .irbuild import new_function
from .llvmtypes import F32, F64, I1, I32, reg_type
from .loops import I64, broadcast_index
from .rules import element_rule
from . import mathcall, mathvec
from .mathlib import SUPPORTED, emit_math
from .fusion import MATH_COST

if TYPE_CHECKING:
    from .emit import Emitter

CONTRACT = ("contract",)
_MANGLE = {F32: "f32", F64: "f64", I32: "i32", I64: "i64", I1: "i1"}


def intrinsic(b: ir.IRBuilder, name: str, ret: ir.Type, args: list[ir.Value]) -> ir.Value:
    """Call the LLVM intrinsic `name` (fully mangled), declaring it on first use."""
    fn = b.module.globals.get(name)
    if fn is None:
        fn = new_function(b.module, ir.FunctionType(ret, [a.type for a in args]), name)
    return b.call(fn, args)


def mangle(ty: ir.Type) -> str:
    """An intrinsic's type suffix: `f32`, or `v8f32` for a vector (`lower_vector`)."""
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{_MANGLE[ty.element]}"
    return _MANGLE[ty]


def overloaded(b: ir.IRBuilder, base: str, *args: ir.Value) -> ir.Value:
    ty = args[0].type
    return intrinsic(b, f"{base}.{mangle(ty)}", ty, list(args))


def like(x: ir.Value, ty: ir.Type) -> ir.Type:
    """`ty`, or a vector of `ty` as long as `x` when `x` is a vector."""
    return ir.VectorType(ty, x.type.count) if isinstance(x.type, ir.VectorType) else ty


def _is_float(ty: ir.Type) -> bool:
    if isinstance(ty, ir.VectorType):
        ty = ty.element
    return isinstance(ty, (ir.FloatType, ir.DoubleType))


def _c(ty: ir.Type, v: Any) -> ir.Constant:
    return ir.Constant(ty, v)


ScalarOp = Callable[[ir.IRBuilder, Instr, list[ir.Value]], ir.Value]
SCALAR_OPS: dict[str, ScalarOp] = {}


def scalar(*names: str) -> Callable[[ScalarOp], ScalarOp]:
    return entering(names, SCALAR_OPS)


# ---------------------------------------------------------------- unary


@scalar("neg")
def _neg(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    return b.fneg(a[0]) if _is_float(a[0].type) else b.sub(_c(a[0].type, 0), a[0])


# Called out of line (`mathcall`) in tasks over the math budget: the functions of the
# vector-math library that cost more than a call (sqrt is one instruction).
MATH = frozenset(MATH_COST)


@scalar(*SUPPORTED)
def _math(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    # Functions with an explicit vector body on this host (`mathvec`) are always called
    # out of line: the vectorized loop then runs that body once per vector.
    if mathvec.explicit(ins.prim, a[0].type):
        return b.call(mathcall.function(b.module, ins.prim, a[0].type), a)
    return emit_math(b, ins.prim, a)


@scalar("rsqrt", "reciprocal")
def _reciprocal(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    x = a[0]
    d = overloaded(b, "llvm.sqrt", x) if ins.prim == "rsqrt" else x
    return b.fdiv(_c(x.type, 1.0), d)


@scalar("abs")
def _abs(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    x = a[0]
    if _is_float(x.type):
        return overloaded(b, "llvm.fabs", x)
    return intrinsic(b, f"llvm.abs.{mangle(x.type)}", x.type, [x, _c(I1, 0)])


@scalar("sign")
def _sign(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    x = a[0]
    ty = x.type
    if _is_float(ty):
        zero = _c(ty, 0.0)
        r = b.select(b.fcmp_ordered("==", x, zero), zero, x)   # +-0 -> 0, NaN stays
        r = b.select(b.fcmp_ordered("<", x, zero), _c(ty, -1.0), r)
        return b.select(b.fcmp_ordered(">", x, zero), _c(ty, 1.0), r)
    zero = _c(ty, 0)
    return b.sub(b.zext(b.icmp_signed(">", x, zero), ty), b.zext(b.icmp_signed("<", x, zero), ty))


# Rounding to an integer is one instruction each (`rint` rounds halves to even in the
# default floating-point environment, which native code never changes).
_ROUNDING = {"floor": "llvm.floor", "ceil": "llvm.ceil", "round": "llvm.rint"}


@scalar(*_ROUNDING)
def _rounding(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    return overloaded(b, _ROUNDING[ins.prim], a[0])


@scalar("relu")
def _relu(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    x = a[0]
    if _is_float(x.type):
        return _np_extreme(b, ">", x, _c(x.type, 0.0))
    return overloaded(b, "llvm.smax", x, _c(x.type, 0))


def _np_extreme(b: ir.IRBuilder, op: str, x: ir.Value, y: ir.Value) -> ir.Value:
    """NumPy's float maximum (`op` ">") or minimum ("<"): x where `x op y` or x is NaN,
    else y (a compare and a blend per vector)."""
    return b.select(b.or_(b.fcmp_ordered(op, x, y), b.fcmp_unordered("uno", x, x)), x, y)


@scalar("identity", "stop_gradient", "broadcast_to")
def _identity(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    return a[0]


@scalar("logical_not")
def _not(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    return b.not_(a[0])


# ---------------------------------------------------------------- binary


@scalar("add", "sub", "mul", "div")
def _arith(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    x, y = a
    if _is_float(x.type):
        op = {"add": b.fadd, "sub": b.fsub, "mul": b.fmul, "div": b.fdiv}[ins.prim]
        return op(x, y, flags=CONTRACT) if ins.prim != "div" else op(x, y)
    return {"add": b.add, "sub": b.sub, "mul": b.mul}[ins.prim](x, y)


@scalar("maximum", "minimum")
def _minmax(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    big = ins.prim == "maximum"
    if _is_float(a[0].type):
        return _np_extreme(b, ">" if big else "<", *a)
    return overloaded(b, "llvm.smax" if big else "llvm.smin", *a)


@scalar("logical_and", "logical_or")
def _logical(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    return b.and_(*a) if ins.prim == "logical_and" else b.or_(*a)


_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@scalar(*_CMP)
def _compare(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    x, y = a
    op = _CMP[ins.prim]
    if _is_float(x.type):
        return b.fcmp_unordered(op, x, y) if op == "!=" else b.fcmp_ordered(op, x, y)
    if x.type == I1 or isinstance(x.type, ir.VectorType) and x.type.element == I1:
        return b.icmp_unsigned(op, x, y)
    return b.icmp_signed(op, x, y)


def _int_divmod(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Floor quotient and remainder with NumPy's results for y == 0 and MIN // -1."""
    ty = x.type
    zero, one = _c(ty, 0), _c(ty, 1)
    by_zero = b.icmp_signed("==", y, zero)
    width = (ty.element if isinstance(ty, ir.VectorType) else ty).width
    mn = _c(ty, -(1 << (width - 1)))
    overflow = b.and_(b.icmp_signed("==", x, mn), b.icmp_signed("==", y, _c(ty, -1)))
    d = b.select(b.or_(by_zero, overflow), one, y)
    q = b.sdiv(x, d)
    r = b.srem(x, d)
    adjust = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("<", b.xor(r, d), zero))
    q = b.sub(q, b.zext(adjust, ty))
    r = b.select(adjust, b.add(r, d), r)
    return b.select(by_zero, zero, q), b.select(by_zero, zero, r)


def _float_divmod(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
    """TensorFlow's FloorDiv and FloorMod for floats: floor(x / y), and r = fmod(x, y)
    plus y where r is nonzero (or NaN) and differs from y in sign."""
    zero = _c(x.type, 0.0)
    r = b.frem(x, y)
    adjust = b.and_(b.fcmp_unordered("!=", r, zero),      # C truthiness: NaN is true
                    b.icmp_unsigned("!=", b.fcmp_ordered("<", y, zero),
                                    b.fcmp_ordered("<", r, zero)))
    return overloaded(b, "llvm.floor", b.fdiv(x, y)), b.select(adjust, b.fadd(r, y), r)


@scalar("floordiv", "mod")
def _divmod(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    q, r = (_float_divmod if _is_float(a[0].type) else _int_divmod)(b, *a)
    return q if ins.prim == "floordiv" else r


@scalar("select")
def _select(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    return b.select(*a)


@scalar("convert")
def _convert(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    return convert(b, a[0], ins.inputs[0].dtype, ins.params["dtype"])


def convert(b: ir.IRBuilder, x: ir.Value, src: Any, dst: Any) -> ir.Value:
    """Cast one element from dtype `src` to dtype `dst` with NumPy's `astype` results
    (float -> int saturating, NaN -> 0)."""
    src, dst = np.dtype(src), np.dtype(dst)
    ty = like(x, reg_type(dst))
    if src == dst:
        return x
    if dst.kind == "b":
        if src.kind == "f":
            return b.fcmp_unordered("!=", x, _c(x.type, 0.0))
        return b.icmp_signed("!=", x, _c(x.type, 0))
    if src.kind == "b":
        return b.uitofp(x, ty) if dst.kind == "f" else b.zext(x, ty)
    if src.kind == "f" and dst.kind == "f":
        return b.fpext(x, ty) if dst.itemsize > src.itemsize else b.fptrunc(x, ty)
    if src.kind == "f":
        return _fptosi_sat(b, x, src, dst)
    if dst.kind == "f":
        return b.sitofp(x, ty)
    return b.sext(x, ty) if dst.itemsize > src.itemsize else b.trunc(x, ty)


def _fptosi_sat(b: ir.IRBuilder, x: ir.Value, src: np.dtype, dst: np.dtype) -> ir.Value:
    """`llvm.fptosi.sat` semantics (saturate, NaN -> 0) from compares, selects and a plain
    `fptosi` of an in-range value, which vectorizes where the intrinsic is scalarized."""
    ty = like(x, reg_type(dst))
    info = np.iinfo(dst)
    lo = float(info.min)                                             # -2**(w-1): exact
    top = float(-info.min)                                           # 2**(w-1): exact
    below_top = float(np.nextafter(np.asarray(top, src), np.asarray(0, src)))
    c = b.select(b.fcmp_ordered("<", x, _c(x.type, lo)), _c(x.type, lo), x)
    c = b.select(b.fcmp_ordered(">", c, _c(x.type, below_top)), _c(x.type, below_top), c)
    c = b.select(b.fcmp_unordered("uno", x, x), _c(x.type, 0.0), c)
    t = b.fptosi(c, ty)
    return b.select(b.fcmp_ordered(">=", x, _c(x.type, top)), _c(ty, int(info.max)), t)


@element_rule(*SCALAR_OPS)
def elementwise(em: Emitter, ins: Instr, idx: tuple[ir.Value, ...]) -> ir.Value:
    """out[idx] = op(x[bidx], y[bidx], ...) with each operand's broadcast index."""
    shape = em.shape(ins.outs[0])
    args = [em.value(x, broadcast_index(idx, shape, em.shape(x))) for x in ins.inputs]
    if em.lw.outline_math and ins.prim in MATH and _is_float(args[0].type):
        return em.b.call(mathcall.function(em.lw.module, ins.prim, args[0].type), args)
    return SCALAR_OPS[ins.prim](em.b, ins, args)


@element_rule(*mathcall.TRIG)
def trig(em: Emitter, ins: Instr, idx: tuple[ir.Value, ...]) -> ir.Value:
    """The inline sin/cos/tan, for arguments of any size: in a task's first version
    (`Lowerer.task`) finite arguments beyond `mathcall.limit` only raise the task's `far`
    flag; in its second version, run only when the flag is up, they go to the C
    library's function (whose Payne-Hanek reduction is exact), one element at a time.
    In a task with out-of-line math the called function does both (`mathcall`)."""
    b, lw = em.b, em.lw
    y = elementwise(em, ins, idx)
    if lw.outline_math:
        return y
    shape = em.shape(ins.outs[0])
    x = em.value(ins.inputs[0], broadcast_index(idx, shape, em.shape(ins.inputs[0])))
    far = mathcall.far_argument(b, x, ins.prim)
    if not lw.trig_exact:
        lw.trig_seen = True
        flag = lw.far_flag()
        b.store(b.or_(b.load(flag), far), flag)
        return y
    pre = b.block
    with b.if_then(far, likely=False):
        exact = b.call(mathcall.libm(lw.module, ins.prim, x.type), [x])
        then = b.block
    out = b.phi(x.type)
    out.add_incoming(y, pre)
    out.add_incoming(exact, then)
    return out
