"""Inline transcendental functions for the lowering: ``emit_math(builder, name, args)``.

Invariants: every function takes scalar ``float``/``double`` values and returns one of the
same type; it is emitted as straight-line code in the current block (no branches); NaN,
+-inf, -0.0 and subnormals come out as NumPy gives them.

This first version still calls LLVM's libm intrinsics for exp/log/sin/cos/pow; the composed
functions (log1p, expm1, tan, tanh, logistic, softplus) are built from them stably.
"""
from __future__ import annotations

from llvmlite import ir

SUPPORTED: frozenset[str] = frozenset({
    "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "logistic", "softplus",
    "sqrt", "pow"})


def _call(b: ir.IRBuilder, name: str, *args: ir.Value) -> ir.Value:
    ty = args[0].type
    fnty = ir.FunctionType(ty, [ty] * len(args))
    fn = b.module.declare_intrinsic(name, [ty], fnty)
    return b.call(fn, list(args))


def _isinf(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.fcmp_ordered("==", _call(b, "llvm.fabs", x), ir.Constant(x.type, float("inf")))


def _log1p(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    one = ir.Constant(x.type, 1.0)
    u = b.fadd(one, x)
    um1 = b.fsub(u, one)
    # log(u) * x / (u - 1) corrects the rounding of 1 + x.
    r = b.fdiv(b.fmul(_call(b, "llvm.log", u), x), um1)
    r = b.select(b.fcmp_ordered("==", um1, ir.Constant(x.type, 0.0)), x, r)
    return b.select(_isinf(b, x), _call(b, "llvm.log", u), r)


def _expm1(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    one = ir.Constant(x.type, 1.0)
    u = _call(b, "llvm.exp", x)
    um1 = b.fsub(u, one)
    r = b.fdiv(b.fmul(um1, x), _call(b, "llvm.log", u))
    r = b.select(b.fcmp_ordered("==", u, one), x, r)
    r = b.select(b.fcmp_ordered("==", um1, ir.Constant(x.type, -1.0)), um1, r)
    return b.select(_isinf(b, u), u, r)


def emit_math(builder: ir.IRBuilder, name: str, args: list[ir.Value]) -> ir.Value:
    """Emit ``name(*args)`` inline for a scalar float or double; returns the result value.

    >>> y = emit_math(builder, "exp", [x])   # x: a float or double ir.Value
    """
    b = builder
    x = args[0]
    ty = x.type
    zero = ir.Constant(ty, 0.0)
    one = ir.Constant(ty, 1.0)
    if name in ("exp", "log", "sin", "cos", "sqrt"):
        return _call(b, "llvm." + name, x)
    if name == "pow":
        return _call(b, "llvm.pow", x, args[1])
    if name == "log1p":
        return _log1p(b, x)
    if name == "expm1":
        return _expm1(b, x)
    if name == "tan":
        return b.fdiv(_call(b, "llvm.sin", x), _call(b, "llvm.cos", x))
    if name == "tanh":
        ax = _call(b, "llvm.fabs", x)
        t = _expm1(b, b.fmul(ax, ir.Constant(ty, -2.0)))
        r = b.fdiv(b.fsub(zero, t), b.fadd(t, ir.Constant(ty, 2.0)))
        return _call(b, "llvm.copysign", r, x)
    if name == "logistic":
        e = _call(b, "llvm.exp", b.fsub(zero, _call(b, "llvm.fabs", x)))
        d = b.fadd(one, e)
        return b.select(b.fcmp_ordered(">=", x, zero), b.fdiv(one, d), b.fdiv(e, d))
    if name == "softplus":
        e = _call(b, "llvm.exp", b.fsub(zero, _call(b, "llvm.fabs", x)))
        pos = b.select(b.fcmp_ordered(">", x, zero), x, zero)
        return b.fadd(pos, _log1p(b, e))
    raise NotImplementedError(f"emit_math: unknown function {name!r}; supported: "
                              + ", ".join(sorted(SUPPORTED)))
