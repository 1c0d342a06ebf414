"""Elementwise primitives: unary math, binary arithmetic with NumPy broadcasting,
comparisons, `select` and `convert`.

Invariants: operands of a binary primitive share one dtype (the user API promotes Python
scalars before it binds); the result shape is the NumPy broadcast of the operand shapes;
comparisons give bool. VJP rules return cotangents in the *broadcast* shape; the autodiff
pass sums them back to each operand's shape (the one unbroadcast helper).
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable

import numpy as np

from .. import ops
from ..core import FLOAT_DTYPES, INT_DTYPES, TensorType, bind, dtype_name
from ..errors import DTypeError, ShapeError
from .registry import Primitive, register
from .tangents import linear, multilinear

_BOOL = np.dtype(np.bool_)
ANY = FLOAT_DTYPES + INT_DTYPES + (_BOOL,)
NUM = FLOAT_DTYPES + INT_DTYPES
FLOAT = FLOAT_DTYPES


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcast of `shapes`. An unknown dimension (`Dim`) against a number > 1
    gives the number, against another unknown one the first: `dims.specialize` checks at
    run time that the concrete shapes agree."""
    nd = max((len(s) for s in shapes), default=0)
    out: list[Any] = []
    for i in range(nd):
        dims = {s[i - nd + len(s)] for s in shapes if i - nd + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            known = {d for d in dims if type(d) is int}
            if len(known) > 1:
                raise ShapeError("incompatible shapes for broadcasting: "
                                 + " and ".join(str(tuple(s)) for s in shapes))
            if known:
                out.append(known.pop())
                continue
            first = [s[i - nd + len(s)] for s in shapes if i - nd + len(s) >= 0]
            out.append(next(d for d in first if d != 1))
            continue
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _check_dtype(name: str, t: TensorType, allowed: tuple[np.dtype, ...]) -> None:
    if t.dtype not in allowed:
        raise DTypeError(f"{name} does not accept dtype {dtype_name(t.dtype)}; it accepts "
                         + ", ".join(dtype_name(d) for d in allowed))


def _same_dtype(name: str, *ts: TensorType) -> np.dtype:
    dts = {t.dtype for t in ts}
    if len(dts) > 1:
        shown = " and ".join(dtype_name(t.dtype) for t in ts)
        raise DTypeError(f"{name}: operand dtypes {shown} differ; tracejit never promotes "
                         "tensor dtypes silently, use tj.cast")
    dt: np.dtype = ts[0].dtype
    return dt


def unary(name: str, impl: Callable[..., Any], vjp: Callable[..., Any] | None, *, cost: int,
          allowed: tuple[np.dtype, ...] = FLOAT, gradient: str = "rule",
          jvp: Callable[..., Any] | None = None) -> Primitive:
    """Register the elementwise primitive `name(x)` over the dtypes `allowed`; the result
    has x's type. `cost` is its inline cost (see `registry`); the JVP is derived from the
    VJP unless `jvp` is given."""
    def rule(x: TensorType) -> TensorType:
        _check_dtype(name, x, allowed)
        return x

    return register(Primitive(name, kind="elementwise", shape_rule=rule, impl=impl, vjp=vjp,
                              n_inputs=1, gradient=gradient, cost=cost, dtypes=allowed,
                              jvp=jvp))


def binary(name: str, impl: Callable[..., Any], vjp: Callable[..., Any] | None, *,
           cost: int, allowed: tuple[np.dtype, ...] = NUM, out_bool: bool = False,
           gradient: str = "rule", jvp: Callable[..., Any] | None = None) -> Primitive:
    """Register the elementwise primitive `name(x, y)`: operands of one dtype from
    `allowed`, broadcast as NumPy does; the result has their dtype (bool with
    `out_bool`). `cost` is its inline cost (see `registry`); the JVP is derived from the
    VJP unless `jvp` is given."""
    def rule(x: TensorType, y: TensorType) -> TensorType:
        dt = _same_dtype(name, x, y)
        _check_dtype(name, x, allowed)
        shape = x.shape if x.shape == y.shape else broadcast_shapes(x.shape, y.shape)
        return TensorType.make(shape, _BOOL if out_bool else dt)

    return register(Primitive(name, kind="elementwise", shape_rule=rule, impl=impl, vjp=vjp,
                              n_inputs=2, gradient=gradient, cost=cost, dtypes=allowed,
                              jvp=jvp))


def _keep(dtype_like: Any, r: Any) -> np.ndarray:
    return np.asarray(r, dtype=np.asarray(dtype_like).dtype)


# ---------------------------------------------------------------- unary math

unary("neg", lambda x: np.negative(x), lambda g, x, *, out: (ops.neg(g),), allowed=NUM, cost=1)
unary("exp", np.exp, lambda g, x, *, out: (ops.mul(g, out),), cost=35)
unary("log", np.log, lambda g, x, *, out: (ops.div(g, x),), cost=37)
unary("log1p", np.log1p,
      lambda g, x, *, out: (ops.div(g, ops.add(ops.const(1, x.dtype), x)),), cost=46)
unary("expm1", np.expm1,
      lambda g, x, *, out: (ops.mul(g, ops.add(out, ops.const(1, x.dtype))),), cost=34)
unary("sin", np.sin, lambda g, x, *, out: (ops.mul(g, ops.cos(x)),), cost=136)
unary("cos", np.cos, lambda g, x, *, out: (ops.neg(ops.mul(g, ops.sin(x))),), cost=132)
unary("tan", np.tan,
      lambda g, x, *, out: (ops.mul(g, ops.add(ops.const(1, x.dtype), ops.square(out))),), cost=132)
# Inverse trigonometric functions: atan's gradient is 1 / (1 + x^2); asin's and acos'
# +-1 / sqrt(1 - x^2) are infinite at +-1, as TensorFlow's.
unary("atan", np.arctan,
      lambda g, x, *, out: (ops.div(g, ops.add(ops.const(1, x.dtype), ops.square(x))),),
      cost=75)
unary("asin", np.arcsin, lambda g, x, *, out: (
    ops.div(g, bind("sqrt", ops.sub(ops.const(1, x.dtype), ops.square(x)))),), cost=85)
unary("acos", np.arccos, lambda g, x, *, out: (
    ops.neg(ops.div(g, bind("sqrt", ops.sub(ops.const(1, x.dtype), ops.square(x))))),),
    cost=85)
unary("tanh", np.tanh,
      lambda g, x, *, out: (ops.mul(g, ops.sub(ops.const(1, x.dtype), ops.square(out))),), cost=40)
# sqrt's gradient is 0 where the cotangent is 0, even at x = 0 or x < 0 (TensorFlow's
# SqrtGrad kernel), so `where(x > 0, sqrt(x), 0)` has a finite gradient at 0. mul_no_nan
# gives that and keeps d/dg = 1 / (2 sqrt(x)) at g = 0 for higher orders (a select on g == 0
# would make it 0 there).
unary("sqrt", np.sqrt, lambda g, x, *, out: (
    bind("mul_no_nan", ops.div(ops.const(0.5, x.dtype), out), g),), cost=10)
# rsqrt and reciprocal: the gradient is 0 where the cotangent is 0, as sqrt's (TensorFlow's
# RsqrtGrad and ReciprocalGrad kernels), so `where(x > 0, rsqrt(x), 0)` has a finite
# gradient at 0 where `1 / sqrt(x)` through division gives NaN. Computed as the division
# (1 / sqrt(x), 1 / x): the same bits.
unary("rsqrt", lambda x: np.divide(1, np.sqrt(x), dtype=np.asarray(x).dtype),
      lambda g, x, *, out: (
          bind("mul_no_nan", ops.mul(ops.const(-0.5, x.dtype), ops.mul(out, ops.square(out))),
               g),), cost=12)
unary("reciprocal", lambda x: np.divide(1, x, dtype=np.asarray(x).dtype),
      lambda g, x, *, out: (bind("mul_no_nan", ops.neg(ops.square(out)), g),), cost=3)
# |x| has gradient sign(x), which is 0 at 0 (TensorFlow's subgradient).
unary("abs", np.abs, lambda g, x, *, out: (ops.mul(g, ops.sign(x)),), allowed=NUM, cost=1)
# TensorFlow: sign has a registered gradient of zeros (sources stay connected); floor has
# none (a source reachable only through it gets None).
unary("sign", np.sign, lambda g, x, *, out: (None,), allowed=NUM, gradient="zero", cost=6)
unary("floor", np.floor, lambda g, x, *, out: (None,), gradient="none", cost=1)
# ceil and round (halves to even: NumPy's rint, TensorFlow's round) have no gradient in
# TensorFlow either.
unary("ceil", np.ceil, lambda g, x, *, out: (None,), gradient="none", cost=1)
unary("round", np.rint, lambda g, x, *, out: (None,), gradient="none", cost=1)


def _logistic(x: np.ndarray) -> np.ndarray:
    # Never overflows: exp only ever sees -|x|.
    e = np.exp(-np.abs(x))
    return _keep(x, np.where(x >= 0, 1 / (1 + e), e / (1 + e)))


def _softplus(x: np.ndarray) -> np.ndarray:
    return _keep(x, np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))))


# sigmoid, 1 / (1 + exp(-x)), and softplus, log(1 + exp(x)): stable for any |x|.
unary("logistic", _logistic, lambda g, x, *, out: (
    ops.mul(g, ops.mul(out, ops.sub(ops.const(1, x.dtype), out))),), cost=41)
unary("softplus", _softplus, lambda g, x, *, out: (ops.mul(g, ops.logistic(x)),), cost=70)
def _relu_vjp(g: Any, x: Any, *, out: Any) -> tuple[Any]:
    # dy where x > 0, else 0 (also at 0 and NaN: TensorFlow's ReluGrad). TensorFlow gives
    # ReluGrad a gradient of zeros for x, so a second derivative through relu is zeros, not
    # None: x is joined to the result by `zero_gradient_link`.
    pos = ops.gt(x, ops.const(0, x.dtype))
    return (ops.select(pos, ops.zero_gradient_link(g, x), ops.zeros_like(g)),)


# relu keeps NaN (as maximum does) and has gradient 0 at 0 (TensorFlow's subgradient).
unary("relu", lambda x: np.maximum(x, np.zeros((), x.dtype)), _relu_vjp, allowed=NUM, cost=2)

# ---------------------------------------------------------------- binary arithmetic

binary("add", np.add, lambda g, x, y, *, out: (g, g), cost=1)
binary("sub", np.subtract, lambda g, x, y, *, out: (g, ops.neg(g)), cost=1)
# mul is linear in each operand: t_x * y + x * t_y (the derived rule would compute both
# cotangents per tangent).
binary("mul", np.multiply, lambda g, x, y, *, out: (ops.mul(g, y), ops.mul(g, x)), cost=1,
       jvp=multilinear("mul"))
binary("div", np.divide, lambda g, x, y, *, out: (
    ops.div(g, y), ops.neg(ops.div(ops.mul(g, out), y))), allowed=FLOAT,
    cost=10)  # true division of floats


def _pow_vjp(g: Any, x: Any, y: Any, *, out: Any) -> tuple[Any, Any]:
    one = ops.const(1, x.dtype)
    zero = ops.const(0, x.dtype)
    # d/dx = y * x**(y-1): exact at x = 0 for y >= 1 (x**2 -> 2*x**1 = 0 there). Where
    # x = y = 0 the exponent y-1 = -1 would give 0 * inf = NaN, while x**0 is constant: use
    # exponent 1 there, so the term is 0 * 0**1 = 0 and stays finite when differentiated again
    # (d2/dx2 x**1 and d3/dx3 x**2 at 0 are 0, never NaN).
    both_zero = bind("logical_and", ops.eq(x, zero), ops.eq(y, zero))
    ym1 = ops.select(both_zero, one, ops.sub(y, one))
    gx = ops.mul(g, ops.mul(y, ops.pow(x, ym1)))
    # d/dy = log(x) * x**y, taken as 0 where x <= 0 (TensorFlow's choice). The log sees 1
    # there, so no NaN or inf leaks into the gradient of this gradient.
    pos = ops.gt(x, zero)
    safe_x = ops.select(pos, x, ops.ones_like(x))
    logx = ops.select(pos, ops.log(safe_x), ops.zeros_like(x))
    gy = ops.mul(g, ops.mul(out, logx))
    return gx, gy


def _pow(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """IEEE 754 pow, as native code and TensorFlow compute it. NumPy's loop takes sqrt for
    an exponent 0.5 given as a scalar (or broadcast with stride 0), so it gave -0.0 at -0.0
    and NaN at -inf, where pow gives +0.0 and +inf (and NumPy itself for an array of
    0.5s)."""
    r: np.ndarray = np.power(x, y)
    half = np.asarray(y) == 0.5
    if half.any():
        fix = half & ((x == 0) | (x == -np.inf))
        if fix.any():
            r = np.where(fix, np.abs(x), r).astype(r.dtype)
    return r


binary("pow", _pow, _pow_vjp, allowed=FLOAT, cost=140)


def _atan2_vjp(g: Any, y: Any, x: Any, *, out: Any) -> tuple[Any, Any]:
    # d/dy = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2); NaN at the origin, as TensorFlow's.
    r2 = ops.add(ops.square(x), ops.square(y))
    return ops.div(ops.mul(g, x), r2), ops.neg(ops.div(ops.mul(g, y), r2))


# atan2(y, x), the angle of (x, y) in (-pi, pi] (C99's special cases).
binary("atan2", np.arctan2, _atan2_vjp, allowed=FLOAT, cost=75)


def _maximum_vjp(g: Any, x: Any, y: Any, *, out: Any) -> tuple[Any, Any]:
    # Ties send the gradient to the first operand (TensorFlow).
    first = ops.ge(x, y)
    z = ops.zeros_like(g)
    return ops.select(first, g, z), ops.select(first, z, g)


def _minimum_vjp(g: Any, x: Any, y: Any, *, out: Any) -> tuple[Any, Any]:
    first = ops.le(x, y)
    z = ops.zeros_like(g)
    return ops.select(first, g, z), ops.select(first, z, g)


# NaN-propagating, as NumPy's.
binary("maximum", np.maximum, _maximum_vjp, cost=3)
binary("minimum", np.minimum, _minimum_vjp, cost=3)


def _floordiv(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if np.asarray(x).dtype.kind == "f":
        return _keep(x, np.floor(np.divide(x, y)))
    return _keep(x, np.floor_divide(x, y))


def _mod(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if np.asarray(x).dtype.kind == "f":
        r = np.fmod(x, y)
        return _keep(x, np.where((r != 0) & ((y < 0) != (r < 0)), r + y, r))
    return _keep(x, np.mod(x, y))


# TensorFlow's FloorDiv and FloorMod. Floats: floordiv is floor(x / y) (Python's and
# NumPy's // differ: 1.0 // 0.1 is 9.0 there, 10.0 here, and -1.0 // inf is -1.0 there,
# -0.0 here); mod is r = fmod(x, y), plus y when r is nonzero and its sign differs from
# y's (so a zero result keeps x's sign, and mod by 0 is NaN). Integers: floor quotient
# and the remainder with the sign of y, as Python's; division or mod by zero gives 0
# (TensorFlow raises; the user API refuses a zero divisor whose value it knows).
binary("floordiv", _floordiv, lambda g, x, y, *, out: (None, None), gradient="none", cost=25)
binary("mod", _mod, lambda g, x, y, *, out: (
    g, ops.neg(ops.mul(g, ops.floordiv(x, y)))), cost=25)

# ---------------------------------------------------------------- comparisons

for _name, _fn in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                   ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)]:
    binary(_name, _fn, lambda g, x, y, *, out: (None, None), allowed=ANY, out_bool=True,
           gradient="none", cost=1)

binary("logical_and", np.logical_and, lambda g, x, y, *, out: (None, None),
       allowed=(np.dtype(np.bool_),), gradient="none", cost=1)
binary("logical_or", np.logical_or, lambda g, x, y, *, out: (None, None),
       allowed=(np.dtype(np.bool_),), gradient="none", cost=1)
unary("logical_not", np.logical_not, lambda g, x, *, out: (None,),
      allowed=(np.dtype(np.bool_),), gradient="none", cost=1)

# ---------------------------------------------------------------- select, convert


def _select_rule(c: TensorType, x: TensorType, y: TensorType) -> TensorType:
    if c.dtype != np.dtype(np.bool_):
        raise DTypeError(f"select: the condition must be bool, got {dtype_name(c.dtype)}")
    dt = _same_dtype("select", x, y)
    return TensorType(broadcast_shapes(c.shape, x.shape, y.shape), dt)


def _select_vjp(g: Any, c: Any, x: Any, y: Any, *, out: Any) -> tuple[Any, Any, Any]:
    # The branch not taken gets exact zeros, never NaN * 0.
    z = ops.zeros_like(g)
    return None, ops.select(c, g, z), ops.select(c, z, g)


# where(c, x, y) with broadcasting
# (linear in x and y jointly: its JVP selects between their tangents)
register(Primitive("select", kind="elementwise", shape_rule=_select_rule,
                   impl=lambda c, x, y: np.where(c, x, y), vjp=_select_vjp, n_inputs=3,
                   cost=1, jvp=linear("select")))


def _convert_impl(x: np.ndarray, *, dtype: np.dtype) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind == "f" and np.dtype(dtype).kind in "iu":
        # Saturating, NaN -> 0 (LLVM's fptosi.sat), never undefined.
        info = np.iinfo(dtype)
        with np.errstate(invalid="ignore"):
            y = np.where(np.isnan(x), 0, np.clip(x, info.min, info.max))
            big = y >= float(info.max)
            small = y <= float(info.min)
            r = np.where(big | small, 0, y).astype(dtype)
        r = np.where(big, info.max, np.where(small, info.min, r))
        return np.asarray(r, dtype=dtype)
    return x.astype(dtype)


def _convert_vjp(g: Any, x: Any, *, out: Any, dtype: np.dtype) -> tuple[Any]:
    if x.dtype in FLOAT_DTYPES and np.dtype(dtype) in FLOAT_DTYPES:
        return (ops.convert(g, x.dtype),)
    return (None,)


# cast; float to int saturates and NaN becomes 0
register(Primitive("convert", kind="elementwise", params={"dtype": np.dtype(np.float32)},
                   shape_rule=lambda x, *, dtype: TensorType(x.shape, dtype),
                   impl=_convert_impl, vjp=_convert_vjp, n_inputs=1, cost=4, dtypes=ANY,
                   jvp=linear("convert")))   # (a float -> int result gets no tangent)

register(Primitive("identity", kind="elementwise", shape_rule=lambda x: x,
                   impl=lambda x: np.array(x, copy=True), vjp=lambda g, x, *, out: (g,),
                   n_inputs=1, cost=0, dtypes=ANY))
register(Primitive("stop_gradient", kind="elementwise", shape_rule=lambda x: x,
                   impl=lambda x: np.array(x, copy=True), vjp=lambda g, x, *, out: (None,),
                   n_inputs=1, gradient="none", cost=0, dtypes=ANY))  # no gradient flows through
