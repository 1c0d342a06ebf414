"""The dtype policy and conversion of the user-facing ops: Python and NumPy values to
tensors, the operands of an n-ary op to one dtype, and the normalization of the shape and
axis arguments every op takes.

Dtype rules (TensorFlow's): Python floats default to float32 and ints to int32; a Python
scalar next to a tensor takes the tensor's dtype (a float scalar with an int tensor is a
TypeError); tensors of different dtypes are never promoted silently.
"""
from __future__ import annotations

import logging
import math
import numbers
import operator
from typing import Any

import numpy as np

from .ir.dims import Dim
from .errors import ConversionError, TracingError, at_user_line, user_frame
from .exports import export, public
from .ir.caches import on_clear
from .ir.axes import normalize_axes, normalize_axis
from .ir.core import DTYPE_NAMES, DTYPES, TensorType, _current, bind
from .ir.memory import check_allocation
from .ir.errors import DTypeError, ShapeError
from .tensor import Tensor, TensorInput, TensorLike

float32: np.dtype = public(np.dtype(np.float32), "float32")
float64: np.dtype = public(np.dtype(np.float64), "float64")
int32: np.dtype = public(np.dtype(np.int32), "int32")
int64: np.dtype = public(np.dtype(np.int64), "int64")
bool_: np.dtype = public(np.dtype(np.bool_), "bool_", "bool")
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
        raise _user_error(TypeError("dtype must not be None"))
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
    leaves = _flatten_list(value) if isinstance(value, (list, tuple)) else []
    if any(isinstance(v, TensorLike) for v in leaves):
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
    if kind == "f" and any(getattr(v, "dtype", None) == np.float64 for v in leaves):
        return a    # TensorFlow: a float64 NumPy value in a list makes it float64
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
        from .elementwise import identity
        t = convert_to_tensor(value)
        t = cast(t, dtype) if dtype is not None else identity(t)
        if shape is None or t.shape == (dims := _shape_arg(shape)):
            return t
        if _fills(t.shape, dims) == "fill":
            return bind("broadcast_to", bind("reshape", t, shape=()), shape=dims)
        return bind("reshape", t, shape=dims)
    _note_baked(value)
    a = _array_of(value, dtype)
    if shape is not None:
        dims = _shape_arg(shape)
        if _fills(a.shape, dims) == "fill":
            try:  # before NumPy allocates and fills it
                check_allocation([TensorType(dims, a.dtype)], "constant")
            except MemoryError as e:
                raise _user_error(e) from None
            a = np.broadcast_to(a.reshape(()), dims).copy()
        else:
            a = a.reshape(dims)
    return _literal(a)


def _fills(have: tuple[Any, ...], dims: tuple[Any, ...]) -> str:
    """How `constant` gives a value of shape `have` the shape `dims`, as TensorFlow's: one
    element fills it ("fill"), as many elements are reshaped ("reshape"); any other count
    raises TypeError (TensorFlow's error), where NumPy's reshape error named no line and a
    tensor's `shape` was ignored."""
    n = 1
    for d in have:
        n *= d
    m = 1
    for d in dims:
        m *= d
    if n == 1 and not any(type(d) is Dim for d in have):
        return "fill"
    if n == m:
        return "reshape"
    raise _user_error(TypeError(f"constant: a value of shape {tuple(have)} ({n} elements) "
                                f"cannot take the shape {tuple(dims)} ({m} elements): give "
                                "one element to fill it, or as many elements as it has"))


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
    from .variable import Variable
    if isinstance(value, (Tensor, Variable)):
        t = value if isinstance(value, Tensor) else value._read()
        if dtype is not None and _dtype(dtype) != t.dtype:
            raise _user_error(ConversionError(
                f"{'tensor' if t is value else 'Variable'} of dtype {t.dtype} cannot be "
                f"converted to {np.dtype(dtype)}; use tj.cast"))
        return t
    if isinstance(value, (list, tuple)) and any(isinstance(v, TensorLike)
                                                for v in _flatten_list(value)):
        from .shapes import stack
        t = stack([convert_to_tensor(v) for v in value])
        return t if dtype is None else cast(t, dtype)
    if dtype is None and dtype_hint is not None and _is_scalar(value):
        dt = _dtype(dtype_hint)
        if isinstance(value, float) and dt.kind in "iub" and not float(value).is_integer():
            raise _user_error(TypeError(f"cannot convert {value!r} to {dt}"))
        return _literal(np.array(value, dtype=dt))
    _note_baked(value)
    return _literal(_array_of(value, dtype))


@export("is_tensor")
def is_tensor(x: Any) -> bool:
    """Whether `x` is a tracejit tensor or Variable (not a NumPy array or Python number),
    as TensorFlow's `is_tensor`.

    >>> tj.is_tensor(tj.constant(1.)), tj.is_tensor(tj.Variable(1.)), tj.is_tensor(1.)
    (True, True, False)
    """
    return isinstance(x, TensorLike)


@export("get_static_value")
def get_static_value(tensor: Any, partial: bool = False) -> Any:
    """The value of `tensor` if it is known now, as TensorFlow's: an eager tensor's NumPy
    array, None for a tensor traced in a compiled function and for a Variable (whose value
    can change), anything that is not a tensor as it is.

    >>> tj.get_static_value(tj.constant([1, 2]))
    array([1, 2], dtype=int32)
    """
    from .variable import Variable
    if isinstance(tensor, Variable):
        return None
    if isinstance(tensor, Tensor):
        return tensor._data
    return tensor


# Eager tensors for Python scalars in arithmetic (`x * 2`): immutable, so shared. A plain
# dict (one atomic operation per read or write, on the eager hot path), at most 512 entries.
_SCALARS: dict[tuple[Any, ...], Tensor] = {}
_SCALARS_MAX = 512
on_clear("eager scalar constants", _SCALARS.clear)


# The largest finite value of each float dtype, for `_scalar_cast`.
_FLOAT_MAX = {np.dtype(t): float(np.finfo(t).max) for t in (np.float32, np.float64)}


def _scalar_cast(x: Any, dt: np.dtype) -> np.ndarray:
    """`np.array(x, dtype=dt)` for an operand scalar: a Python number beyond the range of
    float dtype `dt` rounds to +-inf, as TensorFlow converts it, without NumPy's "overflow
    encountered in cast" warning (an error under `-W error`). A NumPy scalar keeps NumPy's
    warning, as in TensorFlow."""
    big = _FLOAT_MAX.get(dt)
    if big is not None and type(x) in (float, int):
        try:
            beyond = abs(float(x)) > big
        except OverflowError:       # an int beyond every float: np.array says so below
            beyond = False
        if beyond:
            with np.errstate(over="ignore"):
                return np.array(x, dtype=dt)
    return np.array(x, dtype=dt)


def _eager_scalar(x: int | float, dt: np.dtype) -> Tensor | None:
    """The eager tensor of Python scalar `x` in float dtype `dt` (or an int in an int
    dtype), from a small cache; None when tracing or when the general path must judge
    (a float with an int tensor, a bool tensor, an int out of range)."""
    if _current.get() is not None:
        return None
    # (type, value, dtype): 1 == 1.0, but an int and a float are different keys. A zero
    # float's key has its sign as well (0.0 == -0.0), so `_SCALARS.get((float, x, dt))`
    # (eager_ops' lookup) never finds a zero of the other sign.
    key = ((float, x, math.copysign(1.0, x), dt) if type(x) is float and x == 0.0
           else (type(x), x, dt))
    t = _SCALARS.get(key)
    if t is None:
        if dt.kind == "f" or (dt.kind == "i" and type(x) is int
                              and np.iinfo(dt).min <= x <= np.iinfo(dt).max):
            try:
                t = Tensor._wrap(_scalar_cast(x, dt))
            except OverflowError:       # an int beyond every float: `_operands` says so
                return None
        else:
            return None
        if len(_SCALARS) < _SCALARS_MAX:
            _SCALARS[key] = t
    return t


def _scalar_array(name: str, x: Any, dt: np.dtype) -> np.ndarray:
    """Python or NumPy scalar `x` of op `name` as a 0-d array of its tensor's dtype `dt`;
    an OverflowError naming the op and the range for an integer `dt` cannot hold (NumPy
    raised its own without the op or the user's line for a Python int, and wrapped a NumPy
    integer around silently: `int32_tensor + np.int64(2**32)` added 0) or an int beyond
    every float."""
    integral = isinstance(x, (int, np.integer)) and not isinstance(x, bool)
    shown = f"an int of {int(x).bit_length()} bits" if integral and int(x).bit_length() > 64 \
        else repr(x)
    if dt.kind in "iu" and integral:
        info = np.iinfo(dt)
        if not info.min <= int(x) <= info.max:
            raise _user_error(OverflowError(
                f"{name}: {shown} is out of the range of {dt} [{info.min}, {info.max}]; it "
                "would wrap around"))
    try:
        return _scalar_cast(x, dt)
    except OverflowError:
        raise _user_error(OverflowError(f"{name}: {shown} is out of the range of {dt}")
                          ) from None


def _float_tensor(op: str, x: Any) -> Tensor:
    """`x` as a tensor of a float dtype, else a DTypeError naming `op` (the ops TensorFlow
    defines for floats only)."""
    t = convert_to_tensor(x)
    if t.dtype.kind != "f":
        raise _user_error(DTypeError(f"{op} needs a float tensor, got {t.dtype.name}; use "
                                     "tj.cast"))
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
    # A list of numbers or a NumPy array beside a numeric tensor converts to the tensor's
    # dtype, as TensorFlow's operators convert it (`x_f32 + [1, 2]`,
    # `x_f32 * np.arange(3)`): never losing an integer's fractional part or range (that is
    # refused, see `convert_to_tensor`).
    to = strong if strong is not None and strong.kind in "iuf" else None
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
            out.append(_literal(_scalar_array(name, x, strong)))
        elif to is not None and (isinstance(x, (np.ndarray, np.generic)) or (
                isinstance(x, (list, tuple))
                and not any(isinstance(v, TensorLike) for v in _flatten_list(x)))):
            out.append(convert_to_tensor(x, dtype=to))
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




@export("cast")
def cast(x: TensorInput, dtype: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(x)
    dt = _dtype(dtype)
    if x.dtype == dt:
        return x
    return bind("convert", x, dtype=dt)



def _shape_dim(d: Any) -> Any:
    """One dimension of a shape argument: a `Dim` (a dimension unknown until run time,
    another tensor's .shape entry) or an int (a Python int, bool or NumPy integer). A
    float, even 2.0, or a string raises TypeError: `int()` would make [2.5] a shape of 2
    silently (TensorFlow refuses both)."""
    if type(d) is Dim:
        return d
    if isinstance(d, (float, np.floating, str, bytes)):
        raise TypeError(d)
    return operator.index(d)


def known_value(raw: Any, t: Tensor) -> np.ndarray | None:
    """The value of operand `raw` (converted: `t`) if it has one now: an eager tensor's, or
    a Python or NumPy value as given (a trace holds it as a constant); None for a traced
    tensor."""
    if not t.is_traced:
        return t.numpy()
    return None if isinstance(raw, TensorLike) else np.asarray(raw)


def shape_value(op: str, arg: str, v: Any) -> np.ndarray:
    """`np.asarray(v)` for an argument that decides a shape; a traced tensor raises
    TypeError naming `op` and `arg` (its value is not known while tracing)."""
    try:
        return np.asarray(v)
    except TracingError:
        raise _user_error(TypeError(
            f"{op}: {arg} decides the output's shape, so it must be known when the op runs "
            "(a Python value, NumPy array or eager tensor), not a traced tensor")) from None


def static_int(op: str, arg: str, v: Any) -> int:
    """The int value of an argument that decides a shape (`depth`, `k`, `num_segments`,
    `num_rows`): a Python int, NumPy integer, or integer 0-d array or eager tensor. A
    float (even 2.0) or a string raises TypeError naming `op` and `arg`, where `int()`
    would truncate 2.5 to 2 silently.

    >>> static_int("one_hot", "depth", np.int64(3))
    3
    """
    a = shape_value(op, arg, v)
    if a.ndim == 0 and a.dtype == object and isinstance(v, numbers.Integral):
        a = np.asarray(int(v), object)          # a Python int beyond 64 bits
    elif a.ndim != 0 or a.dtype.kind not in "iub":
        raise _user_error(TypeError(f"{op}: {arg} must be an integer, got {v!r}"))
    n = int(a)
    if not _INT64_MIN <= n <= _INT64_MAX:
        raise _user_error(ValueError(f"{op}: {arg} = {n} is outside the int64 range"))
    return n


_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1


def _check_dims(op: str, dims: tuple[Any, ...]) -> None:
    """ShapeError for a dimension beyond the int64 range: NumPy refuses it even in an
    array of no elements ("Maximum allowed dimension exceeded"), and native code counts
    elements in int64."""
    for d in dims:
        if type(d) is not Dim and d > _INT64_MAX:
            raise _user_error(ShapeError(f"{op}dimension {d} of shape {dims} is larger than "
                                         f"the largest int64 ({_INT64_MAX})"))


def _shape_arg(shape: Any) -> tuple[Any, ...]:
    if isinstance(shape, TensorLike):
        shape = np.asarray(shape)
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        dims = tuple(_shape_dim(d) for d in shape)
    except (TypeError, ValueError):
        raise _user_error(TypeError(f"a shape must be a sequence of ints, got {shape!r}")) \
            from None
    if any(type(d) is not Dim and d < 0 for d in dims):
        raise _user_error(ShapeError(f"negative dimension in shape {dims}"))
    _check_dims("", dims)
    return dims



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

