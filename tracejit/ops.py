"""The user-facing ops, with TensorFlow's names and semantics.

Each op converts its operands (the dtype rules below), normalizes its parameters (negative
axes, `None` axes, -1 in shapes) and calls `bind` once per primitive it is made of; it
never computes with NumPy itself, so every op works the same eagerly, on tapes and traced.

Dtype rules (TensorFlow's): Python floats default to float32 and ints to int32; a Python
scalar next to a tensor takes the tensor's dtype (a float scalar with an int tensor is a
TypeError); tensors of different dtypes are never promoted silently.
"""
from __future__ import annotations

import logging
import math
import numbers
from typing import Any
from collections.abc import Sequence

import numpy as np

from .errors import at_user_line, user_frame
from .exports import export, public
from .ir.caches import on_clear
from .ir.axes import normalize_axes, normalize_axis, normalize_perm
from .ir.core import DTYPE_NAMES, DTYPES, TensorType, _current, bind, check_allocation
from .ir.errors import AxisError, DTypeError, ShapeError
from .tensor import Tensor, TensorInput, TensorLike

float32: np.dtype = public(np.dtype(np.float32), "float32")
float64: np.dtype = public(np.dtype(np.float64), "float64")
int32: np.dtype = public(np.dtype(np.int32), "int32")
int64: np.dtype = public(np.dtype(np.int64), "int64")
bool_: np.dtype = public(np.dtype(np.bool_), "bool_")
_log = logging.getLogger("tracejit")
# Not supported: named so that using it gives a clear error.
float16 = public(np.dtype(np.float16), "float16")

_DEFAULT_FOR_KIND: dict[str, np.dtype] = {"f": float32, "i": int32, "u": int64, "b": bool_}


def _user_error(e: BaseException) -> BaseException:
    return at_user_line(e)


def _note_baked(value: Any) -> None:
    """Log at DEBUG that the NumPy array `value`, met inside a trace, is baked into it: it
    is copied now, and changing it in place later does not change the compiled code."""
    if not isinstance(value, np.ndarray) or not _log.isEnabledFor(logging.DEBUG):
        return
    from .context import TraceInterpreter
    interp = _current.get()
    if isinstance(interp, TraceInterpreter):
        where = user_frame()
        at = f" at {where[0]}:{where[1]}" if where else ""
        _log.debug("%s: a NumPy array %s[%s] used%s is baked into the trace (copied now; "
                   "changing it in place later does not change compiled calls)",
                   interp.state.builder.name, value.dtype, ",".join(map(str, value.shape)),
                   at)


def _dtype(dtype: Any) -> np.dtype:
    if dtype is None:
        raise TypeError("dtype must not be None")
    dt = np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
    if dt not in DTYPE_NAMES:
        raise _user_error(DTypeError(
            f"unsupported dtype {dt}; tracejit supports "
            + ", ".join(str(d) for d in DTYPES.values())))
    return dt


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (numbers.Number, np.bool_)) and not isinstance(x, np.ndarray)


def _array_of(value: Any, dtype: Any = None) -> np.ndarray:
    """A fresh NumPy array for a Python/NumPy value, with TensorFlow's default dtypes:
    NumPy values keep their dtype (in native byte order), Python floats become float32 and
    ints int32."""
    if isinstance(value, (list, tuple)) and any(isinstance(v, TensorLike)
                                                for v in _flatten_list(value)):
        raise _user_error(TypeError("a list holding tensors cannot become a constant; use "
                                    "tj.stack"))
    if dtype is not None:
        dt = _dtype(dtype)
        a = np.asarray(value)
        if a.dtype.kind == "f" and dt.kind in "iu" and a.size and not np.all(np.isfinite(a)):
            raise _user_error(ValueError(f"cannot convert non-finite values to {dt}"))
        if a.dtype.kind == "f" and dt.kind in "iub" and a.size and np.any(a != np.trunc(a)):
            raise _user_error(TypeError(
                f"cannot convert {value!r} to {dt} without losing its fractional part; use "
                "tj.cast to truncate"))
        _check_int_range(a, dt)
        return np.array(value, dtype=dt)
    a = np.array(value)
    if isinstance(value, (np.ndarray, np.generic)):
        if a.dtype in DTYPE_NAMES:
            return a
        native = a.dtype.newbyteorder("=")
        if native in DTYPE_NAMES:
            # Byte-swapped (big-endian on this machine): same dtype, native byte order.
            return a.astype(native)
        if a.dtype.kind in "iu":
            _check_int_range(a, int64)
            return a.astype(np.int64)
        hint = ("; convert it with .astype(np.float32) or .astype(np.float64)"
                if a.dtype.kind in "fc" else "")
        raise _user_error(DTypeError(
            f"unsupported dtype {a.dtype}; tracejit supports "
            + ", ".join(str(d) for d in DTYPES.values()) + hint))
    kind = a.dtype.kind
    if kind not in _DEFAULT_FOR_KIND:
        raise _user_error(TypeError(f"cannot convert {type(value).__name__} {value!r} to a "
                                    "tensor"))
    if kind == "i" and a.size and (a.max() > np.iinfo(np.int32).max
                                   or a.min() < np.iinfo(np.int32).min):
        return a.astype(np.int64)
    if kind == "u":
        _check_int_range(a, int64)
    return a.astype(_DEFAULT_FOR_KIND[kind])


def _check_int_range(a: np.ndarray, dt: np.dtype) -> None:
    """Refuse integers (or integral floats) that `dt` cannot hold: NumPy's cast would wrap
    them around silently (2**63 as int64 is -2**63)."""
    if dt.kind not in "iu" or a.dtype.kind not in "iuf" or not a.size:
        return
    info = np.iinfo(dt)
    for v in (a.min().item(), a.max().item()):
        if v < info.min or v > info.max:
            raise _user_error(OverflowError(
                f"{v!r} is out of the range of {dt} [{info.min}, {info.max}]; it would wrap "
                "around"))


def _flatten_list(v: Any) -> list[Any]:
    out: list[Any] = []
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        else:
            out.append(x)
    return out


@export("constant")
def constant(value: TensorInput, dtype: Any = None, shape: Any = None, name: str | None = None
             ) -> Tensor:
    """A tensor holding a copy of `value` (a Python number, nested list or NumPy array),
    converted to `dtype` when given; a single value fills `shape` when given. Python floats
    become float32 and ints int32, as in TensorFlow.

    >>> tj.constant([[1., 2.], [3., 4.]]).dtype
    dtype('float32')
    >>> tj.constant(0, dtype=tj.float64, shape=[2]).numpy()
    array([0., 0.])
    """
    if isinstance(value, TensorLike):
        t = convert_to_tensor(value)
        return cast(t, dtype) if dtype is not None else identity(t)
    _note_baked(value)
    a = _array_of(value, dtype)
    if shape is not None:
        shape = tuple(shape)
        if a.size == 1:
            try:  # before NumPy allocates and fills it
                check_allocation([TensorType(_shape_arg(shape), a.dtype)], "constant")
            except MemoryError as e:
                raise _user_error(e) from None
            a = np.broadcast_to(a, shape).copy()
        else:
            a = a.reshape(shape)
    return _literal(a)


def _literal(a: np.ndarray) -> Tensor:
    from .context import TraceInterpreter
    from .ir.core import current_interpreter
    interp = current_interpreter()
    if isinstance(interp, TraceInterpreter) and a.size > 16:
        # A large literal inside a trace is a captured buffer, never LLVM IR text.
        return Tensor(None, interp.state.value_of(Tensor._wrap(a)), interp.state)
    if isinstance(interp, TraceInterpreter):
        return bind("constant", value=a)
    return Tensor._wrap(a)


@export("convert_to_tensor")
def convert_to_tensor(value: TensorInput, dtype: Any = None, dtype_hint: Any = None,
                      name: str | None = None) -> Tensor:
    """`value` as a Tensor (Tensors pass through; Variables are read; Python floats become
    float32 and ints int32, unless `dtype` or, for a Python number, `dtype_hint` says).

    >>> tj.convert_to_tensor([1, 2]).dtype, tj.convert_to_tensor(1, dtype_hint=tj.float64).dtype
    (dtype('int32'), dtype('float64'))
    """
    if isinstance(value, Tensor):
        if dtype is not None and _dtype(dtype) != value.dtype:
            raise _user_error(DTypeError(
                f"tensor of dtype {value.dtype} cannot be converted to {np.dtype(dtype)}; "
                "use tj.cast"))
        return value
    from .variable import Variable
    if isinstance(value, Variable):
        return value._read()
    if isinstance(value, (list, tuple)) and any(isinstance(v, TensorLike)
                                                for v in _flatten_list(value)):
        t = stack([convert_to_tensor(v) for v in value])
        return t if dtype is None else cast(t, dtype)
    if dtype is None and dtype_hint is not None and _is_scalar(value):
        dt = _dtype(dtype_hint)
        if isinstance(value, float) and dt.kind in "iub" and not float(value).is_integer():
            raise _user_error(TypeError(f"cannot convert {value!r} to {dt}"))
        return _literal(np.array(value, dtype=dt))
    _note_baked(value)
    return _literal(_array_of(value, dtype))


# Eager tensors for Python scalars in arithmetic (`x * 2`): immutable, so shared. A plain
# dict (one atomic operation per read or write, on the eager hot path), at most 512 entries.
_SCALARS: dict[tuple[Any, ...], Tensor] = {}
_SCALARS_MAX = 512
on_clear("eager scalar constants", _SCALARS.clear)


def _eager_scalar(x: int | float, dt: np.dtype) -> Tensor | None:
    """The eager tensor of Python scalar `x` in float dtype `dt` (or an int in an int
    dtype), from a small cache; None when tracing or when the general path must judge
    (a float with an int tensor, a bool tensor, an int out of range)."""
    if _current.get() is not None:
        return None
    key = (type(x), x, math.copysign(1.0, x), dt)
    t = _SCALARS.get(key)
    if t is None:
        if dt.kind == "f" or (dt.kind == "i" and type(x) is int
                              and np.iinfo(dt).min <= x <= np.iinfo(dt).max):
            t = Tensor._wrap(np.array(x, dtype=dt))
        else:
            return None
        if len(_SCALARS) < _SCALARS_MAX:
            _SCALARS[key] = t
    return t


def _operands(name: str, *xs: Any) -> list[Tensor]:
    """Convert operands: tensors keep their dtype, Python scalars take it (weak typing)."""
    if len(xs) == 2:
        x, y = xs
        tx, ty = type(x), type(y)
        if tx is Tensor and ty is Tensor and x.dtype == y.dtype:
            return [x, y]  # the common case, kept cheap for eager code
        if tx is Tensor and (ty is float or ty is int) and x._data is not None:
            c = _eager_scalar(y, x._data.dtype)
            if c is not None:
                return [x, c]
        elif ty is Tensor and (tx is float or tx is int) and y._data is not None:
            c = _eager_scalar(x, y._data.dtype)
            if c is not None:
                return [c, y]
    strong = None
    for x in xs:
        if isinstance(x, TensorLike):
            strong = x.dtype
            break
    if strong is None:
        for x in xs:
            if isinstance(x, np.ndarray):
                strong = _array_of(x).dtype
                break
    out = []
    for x in xs:
        if isinstance(x, TensorLike):
            out.append(convert_to_tensor(x))
        elif _is_scalar(x) and strong is not None:
            if strong.kind in "iub" and isinstance(x, (float, np.floating)) and \
                    not isinstance(x, bool):
                raise _user_error(DTypeError(
                    f"{name}: a Python float ({x!r}) cannot be combined with a "
                    f"{strong.name} tensor; use tj.cast to convert the tensor to a "
                    "float dtype"))
            if strong == bool_ and not isinstance(x, (bool, np.bool_)):
                raise _user_error(DTypeError(
                    f"{name}: a Python number ({x!r}) cannot be combined with a bool tensor"))
            out.append(_literal(np.array(x, dtype=strong)))
        else:
            out.append(convert_to_tensor(x))
    dts = {t.dtype for t in out}
    if len(dts) > 1:
        shown = " and ".join(t.dtype.name for t in out)
        to = max(dts, key=lambda d: (d.kind == "f", d.itemsize))
        raise _user_error(DTypeError(
            f"{name}: operands have different dtypes ({shown}); tracejit never promotes "
            f"tensor dtypes silently: use tj.cast(x, tj.{to.name}) on one of them"))
    return out


# ------------------------------------------------------------------ creation

@export("fill")
def fill(dims: Sequence[int], value: TensorInput, name: str | None = None, *, dtype: Any = None
         ) -> Tensor:
    v = convert_to_tensor(value) if dtype is None else constant(value, dtype)
    return broadcast_to(v, _shape_arg(dims))


def _shape_arg(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, TensorLike):
        shape = np.asarray(shape)
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise _user_error(TypeError(f"a shape must be a sequence of ints, got {shape!r}")) \
            from None
    if any(d < 0 for d in dims):
        raise _user_error(ShapeError(f"negative dimension in shape {dims}"))
    return dims


@export("ones")
def ones(shape: Any, dtype: Any = float32, name: str | None = None) -> Tensor:
    return fill(shape, 1, dtype=dtype)


@export("zeros")
def zeros(shape: Any, dtype: Any = float32, name: str | None = None) -> Tensor:
    return fill(shape, 0, dtype=dtype)


@export("ones_like")
def ones_like(input: TensorInput, dtype: Any = None, name: str | None = None) -> Tensor:
    x = convert_to_tensor(input)
    return fill(x.shape, 1, dtype=dtype or x.dtype)


@export("zeros_like")
def zeros_like(input: TensorInput, dtype: Any = None, name: str | None = None) -> Tensor:
    x = convert_to_tensor(input)
    return fill(x.shape, 0, dtype=dtype or x.dtype)


@export("range")
def range(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None,
          name: str | None = None) -> Tensor:  # noqa: A001  (TensorFlow's name)
    if limit is None:
        start, limit = 0, start
    vals = [np.asarray(v).item() if isinstance(v, (TensorLike, np.generic)) else v
            for v in (start, limit, delta)]
    if dtype is None:
        dtype = float32 if any(isinstance(v, float) for v in vals) else int32
    if vals[2] == 0:
        raise _user_error(ValueError("range: delta must not be 0"))
    dt = _dtype(dtype)
    start, limit, delta = vals
    if all(isinstance(v, (int, np.integer)) for v in vals):
        n = max(0, -(-(limit - start) // delta))           # exact for any Python int
    else:
        n = max(0, math.ceil((limit - start) / delta))
    # Check before NumPy allocates and fills: neither a huge length nor values that the
    # dtype would wrap around.
    try:
        check_allocation([TensorType((n,), dt)], "range")
    except MemoryError as e:
        raise _user_error(e) from None
    if n and dt.kind in "iu":
        info = np.iinfo(dt)
        for v in (start, start + (n - 1) * delta):
            if not info.min <= v <= info.max:
                raise _user_error(OverflowError(
                    f"range: {v!r} is out of the range of {dt} [{info.min}, {info.max}]; "
                    "pass dtype=tj.int64"))
    return constant(np.arange(*vals).astype(dt))


# ------------------------------------------------------------------ elementwise

def _unary(prim: str, x: Any) -> Tensor:
    return bind(prim, convert_to_tensor(x))


def _binary(prim: str, x: Any, y: Any, name: str) -> Tensor:
    a, b = _operands(name, x, y)
    return bind(prim, a, b)


@export("add", "math.add")
def add(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("add", x, y, "add")
@export("subtract", "math.subtract")
def subtract(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("sub", x, y, "subtract")
@export("multiply", "math.multiply")
def multiply(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("mul", x, y, "multiply")
@export("maximum", "math.maximum")
def maximum(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("maximum", x, y, "maximum")
@export("minimum", "math.minimum")
def minimum(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("minimum", x, y, "minimum")
@export("floordiv", "math.floordiv")
def floordiv(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("floordiv", x, y, "floordiv")
@export("mod", "math.mod", "math.floormod")
def mod(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("mod", x, y, "mod")
@export("equal", "math.equal")
def equal(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("eq", x, y, "equal")
@export("not_equal", "math.not_equal")
def not_equal(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("ne", x, y, "not_equal")
@export("less", "math.less")
def less(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("lt", x, y, "less")
@export("less_equal", "math.less_equal")
def less_equal(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("le", x, y, "less_equal")
@export("greater", "math.greater")
def greater(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("gt", x, y, "greater")
@export("greater_equal", "math.greater_equal")
def greater_equal(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("ge", x, y, "greater_equal")
@export("logical_and", "math.logical_and")
def logical_and(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("logical_and", x, y, "logical_and")
@export("logical_or", "math.logical_or")
def logical_or(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("logical_or", x, y, "logical_or")
@export("logical_not", "math.logical_not")
def logical_not(x: TensorInput, name: str | None = None) -> Tensor: return _unary("logical_not", x)


@export("divide", "math.divide")
def divide(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    a, b = _operands("divide", x, y)
    if a.dtype.kind in "iub":
        # TensorFlow's true division of integers gives float64.
        a, b = cast(a, float64), cast(b, float64)
    return bind("div", a, b)


truediv = public(divide, "truediv", "math.truediv")


@export("pow", "math.pow")
def pow(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:  # noqa: A001
    a, b = _operands("pow", x, y)
    if a.dtype.kind in "iu":
        raise _user_error(DTypeError(f"pow of {a.dtype.name} tensors is not supported; "
                                     "use tj.cast to a float dtype"))
    return bind("pow", a, b)


@export("negative", "math.negative")
def negative(x: TensorInput, name: str | None = None) -> Tensor: return _unary("neg", x)
@export("exp", "math.exp")
def exp(x: TensorInput, name: str | None = None) -> Tensor: return _unary("exp", x)
@export("log", "math.log")
def log(x: TensorInput, name: str | None = None) -> Tensor: return _unary("log", x)
@export("log1p", "math.log1p")
def log1p(x: TensorInput, name: str | None = None) -> Tensor: return _unary("log1p", x)
@export("expm1", "math.expm1")
def expm1(x: TensorInput, name: str | None = None) -> Tensor: return _unary("expm1", x)
@export("sin", "math.sin")
def sin(x: TensorInput, name: str | None = None) -> Tensor: return _unary("sin", x)
@export("cos", "math.cos")
def cos(x: TensorInput, name: str | None = None) -> Tensor: return _unary("cos", x)
@export("tan", "math.tan")
def tan(x: TensorInput, name: str | None = None) -> Tensor: return _unary("tan", x)
@export("tanh", "math.tanh", "nn.tanh")
def tanh(x: TensorInput, name: str | None = None) -> Tensor: return _unary("tanh", x)
@export("sqrt", "math.sqrt")
def sqrt(x: TensorInput, name: str | None = None) -> Tensor: return _unary("sqrt", x)
@export("abs", "math.abs")
def abs(x: TensorInput, name: str | None = None) -> Tensor: return _unary("abs", x)  # noqa: A001
@export("sign", "math.sign")
def sign(x: TensorInput, name: str | None = None) -> Tensor: return _unary("sign", x)
@export("floor", "math.floor")
def floor(x: TensorInput, name: str | None = None) -> Tensor: return _unary("floor", x)
@export("sigmoid", "math.sigmoid", "nn.sigmoid")
def sigmoid(x: TensorInput, name: str | None = None) -> Tensor: return _unary("logistic", x)
@export("softplus", "math.softplus", "nn.softplus")
def softplus(features: TensorInput, name: str | None = None) -> Tensor:
    return _unary("softplus", features)
@export("relu", "nn.relu")
def relu(features: TensorInput, name: str | None = None) -> Tensor: return _unary("relu", features)
@export("identity")
def identity(input: TensorInput, name: str | None = None) -> Tensor:
    return _unary("identity", input)
@export("stop_gradient")
def stop_gradient(input: TensorInput, name: str | None = None) -> Tensor:
    return _unary("stop_gradient", input)


@export("square", "math.square")
def square(x: TensorInput, name: str | None = None) -> Tensor:
    x = convert_to_tensor(x)
    return bind("mul", x, x)


@export("where")
def where(condition: TensorInput, x: TensorInput | None = None, y: TensorInput | None = None,
          name: str | None = None) -> Tensor:
    """`x` where `condition` is True, else `y`, elementwise with broadcasting. The branch
    not taken gets exact zero gradients (never NaN times zero).

    >>> x = tj.constant([-1., 4.])
    >>> tj.where(x > 0., tj.sqrt(tj.abs(x)), 0.).numpy()
    array([0., 2.], dtype=float32)
    """
    if x is None or y is None:
        raise _user_error(ValueError(
            "tj.where(condition) without x and y would return a data-dependent number of "
            "coordinates, which tracejit does not support; pass both x and y"))
    c = convert_to_tensor(condition)
    if c.dtype != bool_:
        raise _user_error(DTypeError(f"where: the condition must be bool, got {c.dtype}"))
    a, b = _operands("where", x, y)
    return bind("select", c, a, b)


@export("cast")
def cast(x: TensorInput, dtype: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(x)
    dt = _dtype(dtype)
    if x.dtype == dt:
        return x
    return bind("convert", x, dtype=dt)


@export("clip_by_value")
def clip_by_value(t: TensorInput, clip_value_min: TensorInput, clip_value_max: TensorInput,
                  name: str | None = None) -> Tensor:
    return minimum(maximum(t, clip_value_min), clip_value_max)


@export("add_n", "math.add_n")
def add_n(inputs: Sequence[Any], name: str | None = None) -> Tensor:
    if not inputs:
        raise _user_error(ValueError("add_n needs at least one input"))
    xs = _operands("add_n", *inputs)
    shapes = {x.shape for x in xs}
    if len(shapes) > 1:
        raise _user_error(ShapeError(f"add_n: inputs must have one shape, got "
                                     f"{sorted(shapes)}"))
    out = xs[0]
    for x in xs[1:]:
        out = bind("add", out, x)
    return out if len(xs) > 1 else identity(out)


# ------------------------------------------------------------------ axes helpers

# Every axis, axes and perm argument a user passes goes through one of these (ir.axes: the
# same checks as the primitives' declared axis parameters), never `% ndim`.

def _axes(op: str, axis: Any, ndim: int, arg: str = "axis") -> tuple[int, ...]:
    """Sorted distinct non-negative axes of a rank-`ndim` tensor (None: all of them)."""
    try:
        return normalize_axes(op, arg, axis, ndim)
    except (TypeError, ValueError) as e:
        raise _user_error(e) from None


def _axis(op: str, axis: Any, ndim: int, arg: str = "axis", extra: int = 0) -> int:
    """One non-negative axis of a rank-`ndim` tensor (`extra=1`: an insertion point)."""
    try:
        return normalize_axis(op, arg, axis, ndim, extra=extra)
    except (TypeError, ValueError) as e:
        raise _user_error(e) from None


import builtins  # noqa: E402

builtins_range = builtins.range


def _reduce(prim: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = convert_to_tensor(x)
    return bind(prim, x, axes=_axes(prim, axis, x.ndim), keepdims=bool(keepdims))


@export("reduce_sum", "math.reduce_sum")
def reduce_sum(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
               name: str | None = None) -> Tensor:
    """The sum over `axis` (an int, a list of ints, or None for all); bool counts as int32.

    >>> x = tj.constant([[1., 2.], [3., 4.]])
    >>> tj.reduce_sum(x).numpy(), tj.reduce_sum(x, axis=1, keepdims=True).numpy()
    (array(10., dtype=float32), array([[3.],
           [7.]], dtype=float32))
    """
    x = convert_to_tensor(input_tensor)
    if x.dtype == bool_:
        x = cast(x, int32)
    return _reduce("reduce_sum", x, axis, keepdims)


@export("reduce_max", "math.reduce_max")
def reduce_max(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
               name: str | None = None) -> Tensor:
    return _reduce("reduce_max", input_tensor, axis, keepdims)


@export("reduce_min", "math.reduce_min")
def reduce_min(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
               name: str | None = None) -> Tensor:
    return _reduce("reduce_min", input_tensor, axis, keepdims)


@export("reduce_prod", "math.reduce_prod")
def reduce_prod(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
                name: str | None = None) -> Tensor:
    return _reduce("reduce_prod", input_tensor, axis, keepdims)


def _count(x: Tensor, axes: tuple[int, ...]) -> int:
    return int(np.prod([x.shape[a] for a in axes], dtype=np.int64))


@export("reduce_mean", "math.reduce_mean")
def reduce_mean(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
                name: str | None = None) -> Tensor:
    """The mean over `axis` (all axes when None); of an int tensor, the integer mean
    (rounded toward zero), as in TensorFlow.

    >>> tj.reduce_mean(tj.constant([[1., 2.], [3., 4.]]), axis=0).numpy()
    array([2., 3.], dtype=float32)
    """
    x = convert_to_tensor(input_tensor)
    axes = _axes("reduce_mean", axis, x.ndim)
    s = bind("reduce_sum", x, axes=axes, keepdims=bool(keepdims))
    n = _count(x, axes)
    if x.dtype.kind in "iu":
        return floordiv(s, n) if n else s  # TensorFlow: integer mean truncates
    return divide(s, float(n)) if n != 1 else s


@export("reduce_variance", "math.reduce_variance")
def reduce_variance(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
                    name: str | None = None) -> Tensor:
    x = convert_to_tensor(input_tensor)
    if x.dtype.kind not in "f":
        raise _user_error(DTypeError(f"reduce_variance needs a float tensor, got {x.dtype}"))
    axis = list(_axes("reduce_variance", axis, x.ndim))
    m = reduce_mean(x, axis, keepdims=True)
    d = subtract(x, m)
    return reduce_mean(multiply(d, d), axis, keepdims)


@export("reduce_std", "math.reduce_std")
def reduce_std(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
               name: str | None = None) -> Tensor:
    x = convert_to_tensor(input_tensor)
    return sqrt(reduce_variance(x, list(_axes("reduce_std", axis, x.ndim)), keepdims))


@export("reduce_logsumexp", "math.reduce_logsumexp")
def reduce_logsumexp(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
                     name: str | None = None) -> Tensor:
    """log(sum(exp(x))) over `axis` without overflow: the max is subtracted first (and is
    a constant for the gradient, which is then exactly softmax).

    >>> tj.reduce_logsumexp(tj.constant([1000., 1000.])).numpy()
    array(1000.6932, dtype=float32)
    """
    x = convert_to_tensor(input_tensor)
    axes = _axes("reduce_logsumexp", axis, x.ndim)
    m = stop_gradient(bind("reduce_max", x, axes=axes, keepdims=True))
    finite = less(abs(m), np.inf)
    m = where(finite, m, zeros_like(m))
    s = bind("reduce_sum", exp(subtract(x, m)), axes=axes, keepdims=True)
    out = add(log(s), m)
    if not keepdims:
        out = reshape(out, [d for i, d in enumerate(x.shape) if i not in axes])
    return out


@export("argmax", "math.argmax")
def argmax(input: TensorInput, axis: Any = None, output_type: Any = int64,
           name: str | None = None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    ax = _axis("argmax", 0 if axis is None else axis, x.ndim)
    return bind("argmax", x, axis=ax, dtype=_dtype(output_type))


@export("argmin", "math.argmin")
def argmin(input: TensorInput, axis: Any = None, output_type: Any = int64,
           name: str | None = None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    ax = _axis("argmin", 0 if axis is None else axis, x.ndim)
    return bind("argmin", x, axis=ax, dtype=_dtype(output_type))


@export("norm", "linalg.norm")
def norm(tensor: TensorInput, ord: Any = "euclidean", axis: Any = None, keepdims: bool = False,
         name: str | None = None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(tensor)
    axis = list(_axes("norm", axis, x.ndim))
    if ord in ("euclidean", 2, 2.0, "fro"):
        return sqrt(reduce_sum(multiply(x, x), axis, keepdims))
    if ord in (1, 1.0):
        return reduce_sum(abs(x), axis, keepdims)
    if ord in (np.inf, "inf"):
        return reduce_max(abs(x), axis, keepdims)
    raise _user_error(ValueError(f"norm: ord must be 'euclidean', 2, 1 or np.inf, got {ord!r}"))


# ------------------------------------------------------------------ shapes

@export("reshape")
def reshape(tensor: TensorInput, shape: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(tensor)
    if isinstance(shape, TensorLike):
        shape = np.asarray(shape).tolist()
    shape = [int(d) for d in ([shape] if isinstance(shape, (int, np.integer)) else shape)]
    if shape.count(-1) > 1:
        raise _user_error(ShapeError(f"reshape: at most one -1 in shape {shape}"))
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        size = int(np.prod(x.shape, dtype=np.int64))
        if known == 0 or size % known:
            raise _user_error(ShapeError(
                f"cannot reshape a tensor of shape {x.shape} ({size} elements) to {shape}"))
        shape[shape.index(-1)] = size // known
    if tuple(shape) == x.shape:
        return x
    return bind("reshape", x, shape=tuple(shape))


@export("broadcast_to")
def broadcast_to(input: TensorInput, shape: Any, name: str | None = None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    shape = _shape_arg(shape)
    if shape == x.shape:
        return x
    return bind("broadcast_to", x, shape=shape)


@export("transpose")
def transpose(a: TensorInput, perm: Any = None, conjugate: bool = False, name: str | None = None
              ) -> Tensor:
    x = convert_to_tensor(a)
    if perm is None:
        perm = tuple(reversed(builtins_range(x.ndim)))
    try:
        perm = normalize_perm("transpose", "perm", perm, x.ndim)
    except (TypeError, ValueError) as e:
        raise _user_error(e) from None
    if perm == tuple(builtins_range(x.ndim)):
        return x
    return bind("transpose", x, perm=perm)


@export("squeeze")
def squeeze(input: TensorInput, axis: Any = None, name: str | None = None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = _axes("squeeze", axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise _user_error(ShapeError(
                    f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1"))
    return reshape(x, [d for i, d in enumerate(x.shape) if i not in axes])


@export("expand_dims")
def expand_dims(input: TensorInput, axis: int, name: str | None = None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    axis = _axis("expand_dims", axis, x.ndim, extra=1)
    shape = list(x.shape)
    shape.insert(axis, 1)
    return bind("reshape", x, shape=tuple(shape))


@export("concat")
def concat(values: Sequence[Any], axis: int, name: str | None = None) -> Tensor:
    xs = _operands("concat", *values)
    if not xs:
        raise _user_error(ValueError("concat needs at least one tensor"))
    ax = _axis("concat", axis, xs[0].ndim)
    if len(xs) == 1:
        return xs[0]
    return bind("concat", *xs, axis=ax)


@export("stack")
def stack(values: Sequence[Any], axis: int = 0, name: str | None = None) -> Tensor:
    xs = _operands("stack", *values)
    if not xs:
        raise _user_error(ValueError("stack needs at least one tensor"))
    shapes = {x.shape for x in xs}
    if len(shapes) > 1:
        raise _user_error(ShapeError("stack: all tensors must have one shape, got "
                                     + ", ".join(str(x.shape) for x in xs)))
    ax = _axis("stack", axis, xs[0].ndim, extra=1)
    xs = [expand_dims(x, ax) for x in xs]
    return xs[0] if len(xs) == 1 else bind("concat", *xs, axis=ax)


@export("unstack")
def unstack(value: TensorInput, num: Any = None, axis: int = 0, name: str | None = None
            ) -> list[Tensor]:
    x = convert_to_tensor(value)
    ax = _axis("unstack", axis, x.ndim)
    perm = [ax] + [i for i in builtins_range(x.ndim) if i != ax]
    xt = transpose(x, perm)
    return [xt[i] for i in builtins_range(x.shape[ax])]


@export("matmul", "linalg.matmul")
def matmul(a: TensorInput, b: TensorInput, transpose_a: bool = False, transpose_b: bool = False,
           adjoint_a: bool = False, adjoint_b: bool = False, name: str | None = None
           ) -> Tensor:
    x, y = _operands("matmul", a, b)
    return bind("matmul", x, y, transpose_a=bool(transpose_a or adjoint_a),
                transpose_b=bool(transpose_b or adjoint_b))


@export("matrix_transpose", "linalg.matrix_transpose")
def matrix_transpose(a: TensorInput, name: str | None = None) -> Tensor:
    x = convert_to_tensor(a)
    if x.ndim < 2:
        raise _user_error(ShapeError(f"matrix_transpose needs rank >= 2, got shape {x.shape}"))
    return transpose(x, list(builtins_range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2])


@export("tensordot", "linalg.tensordot")
def tensordot(a: TensorInput, b: TensorInput, axes: Any, name: str | None = None) -> Tensor:
    x, y = _operands("tensordot", a, b)
    ax_a: list[Any]
    ax_b: list[Any]
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= min(x.ndim, y.ndim):
            raise _user_error(ShapeError(f"tensordot: cannot contract {int(axes)} axes of "
                                         f"shapes {x.shape} and {y.shape}"))
        ax_a = list(builtins_range(x.ndim - int(axes), x.ndim))
        ax_b = list(builtins_range(int(axes)))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    ax_a = [_axis("tensordot", a_, x.ndim, "axes[0]") for a_ in ax_a]
    ax_b = [_axis("tensordot", b_, y.ndim, "axes[1]") for b_ in ax_b]
    if len(ax_a) != len(ax_b) or any(x.shape[i] != y.shape[j] for i, j in zip(ax_a, ax_b)):
        raise _user_error(ShapeError(f"tensordot: contracted axes {ax_a} of {x.shape} and "
                                     f"{ax_b} of {y.shape} do not match"))
    free_a = [i for i in builtins_range(x.ndim) if i not in ax_a]
    free_b = [j for j in builtins_range(y.ndim) if j not in ax_b]
    k = int(np.prod([x.shape[i] for i in ax_a], dtype=np.int64))
    xa = reshape(transpose(x, free_a + ax_a), [-1 if k else 0, k] if k else
                 [int(np.prod([x.shape[i] for i in free_a], dtype=np.int64)), 0])
    yb = reshape(transpose(y, ax_b + free_b), [k, int(np.prod([y.shape[j] for j in free_b],
                                                               dtype=np.int64))])
    out = bind("matmul", xa, yb, transpose_a=False, transpose_b=False)
    return reshape(out, [x.shape[i] for i in free_a] + [y.shape[j] for j in free_b])


@export("gather")
def gather(params: TensorInput, indices: TensorInput, validate_indices: Any = None,
           axis: Any = None, batch_dims: int = 0, name: str | None = None) -> Tensor:
    x = convert_to_tensor(params)
    idx = convert_to_tensor(indices) if isinstance(indices, TensorLike) else \
        constant(np.asarray(indices, dtype=np.int64) if np.asarray(indices).dtype.kind in "iu"
                 else indices)
    if batch_dims:
        raise _user_error(ValueError("gather: batch_dims other than 0 is not supported"))
    ax = _axis("gather", 0 if axis is None else axis, x.ndim)
    return bind("gather", x, idx, axis=ax)


def _one_hot_value(op_arg: str, v: Any, hint: np.dtype | None) -> tuple[float, np.dtype]:
    """(value, dtype) of one_hot's `on_value`/`off_value`, typed as TensorFlow types it:
    `dtype` is only a hint (a Python int may become a float, never a float an int)."""
    dt: np.dtype
    if isinstance(v, bool):
        dt = bool_
    elif isinstance(v, int) and not isinstance(v, np.integer):
        dt = hint if hint is not None and hint.kind in "iuf" else int32
    elif isinstance(v, float) and not isinstance(v, np.floating):
        dt = hint if hint is not None and hint.kind == "f" else float32
    else:
        t = convert_to_tensor(v)
        if t.ndim:
            raise _user_error(ShapeError(f"one_hot: {op_arg} must be a scalar, got shape "
                                         f"{t.shape}"))
        return float(t.numpy()), t.dtype
    return float(v), dt


@export("one_hot")
def one_hot(indices: TensorInput, depth: int, on_value: Any = None, off_value: Any = None,
            axis: Any = None, dtype: Any = None, name: str | None = None) -> Tensor:
    """One-hot rows: `on_value` where the index equals the column, else `off_value`. An
    index outside [0, depth), -1 included, gives a row of `off_value` (TensorFlow's
    "ignore this label" idiom). The dtype is `dtype`, else that of `on_value` or
    `off_value`, else float32; `on_value` and `off_value` of other dtypes raise TypeError,
    as in TensorFlow. Example: `tj.one_hot([0, -1], 2)` is [[1, 0], [0, 0]]."""
    idx = convert_to_tensor(indices)
    want = _dtype(dtype) if dtype is not None else None
    given = {arg: _one_hot_value(arg, v, want)
             for arg, v in (("on_value", on_value), ("off_value", off_value)) if v is not None}
    for arg, (_, dt) in given.items():
        if want is not None and dt != want:
            raise _user_error(DTypeError(f"one_hot: dtype {dt} of {arg} does not match the "
                                         f"dtype parameter {want}"))
    if len(given) == 2 and given["on_value"][1] != given["off_value"][1]:
        raise _user_error(DTypeError(
            f"one_hot: dtype {given['on_value'][1]} of on_value does not match dtype "
            f"{given['off_value'][1]} of off_value"))
    dt = want or next((d for _, d in given.values()), float32)
    on = given.get("on_value", (1.0, dt))[0]
    off = given.get("off_value", (0.0, dt))[0]
    if axis is not None:
        # TensorFlow's rule, narrower than an insertion point's: -1 or 0..rank.
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise _user_error(TypeError(f"one_hot: axis must be an int, got {axis!r}"))
        if axis != -1 and not 0 <= axis <= idx.ndim:
            raise _user_error(AxisError(
                f"one_hot: axis={int(axis)} is out of range for indices of rank {idx.ndim} "
                f"(valid: -1 or 0..{idx.ndim})"))
    out = bind("one_hot", idx, depth=int(depth), dtype=dt, on=on, off=off)
    if axis is not None and axis != -1 and axis != out.ndim - 1:
        perm = list(builtins_range(out.ndim - 1))
        perm.insert(axis, out.ndim - 1)
        out = transpose(out, perm)
    return out


def _attach_docs() -> None:
    """The one-line wrappers above take their docstrings (with examples) from opdocs.py,
    which keeps this module a readable table. A wrapper with a docstring of its own must
    not be listed there too."""
    from .opdocs import DOCS
    for name, doc in DOCS.items():
        fn = globals()[name]
        if fn.__doc__ is not None:
            raise RuntimeError(f"tracejit.ops.{name} has a docstring and one in opdocs.py")
        fn.__doc__ = doc


_attach_docs()
