"""Python's arithmetic and comparison operators on eager tensors, in one function each.

`x * 2`, `x + y`, `x < 0.5` on eager tensors spend most of their time in Python (NumPy's
own work on a small array is ~0.3 us). The general route is five calls deep: the operator
calls the op (`tj.multiply`), which converts the operands (`convert._operands`, a Python
scalar taking the tensor's dtype from `convert._eager_scalar`'s cache), then binds the
eager interpreter (`context.bind_plain`), whose short path (`EagerInterpreter.apply`) runs
the primitive's NumPy implementation for an operand signature whose checks passed before
(`context._SHORT`). The operators installed on `Tensor` here do exactly that in one
frame, and take the general route for everything else:

- when an interpreter is current (tracing, the IR builder, a recording profiler);
- for an operand that is not a Tensor or a Python int or float (Variables, arrays, bools,
  lists), a traced tensor, tensors of different dtypes, a scalar `_eager_scalar` leaves
  to the general rules (a float with an int tensor, anything with a bool tensor, an int
  out of range);
- for a signature not in `context._SHORT` (the first application runs the shape rule and
  the allocation check and remembers it).

Results, errors (with the user's line), NumPy's ignored floating-point errors, read-only
results and the recording on active tapes are the general route's (tests/
test_eager_operators.py holds them side by side).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .context import _IGNORE, _SHORT, _USER_ERRORS, active_tapes, record
from .convert import _SCALARS, _eager_scalar
from .errors import at_user_line
from .ir.caches import on_clear
from .ir.core import _current
from .ir.prims import get_primitive
from .tensor import Tensor, _ops

_new_tensor = object.__new__
_ndarray = np.ndarray

# operator method -> (primitive, the op it stands for, reflected)
_BINARY = {
    "__add__": ("add", "add", False), "__radd__": ("add", "add", True),
    "__sub__": ("sub", "subtract", False), "__rsub__": ("sub", "subtract", True),
    "__mul__": ("mul", "multiply", False), "__rmul__": ("mul", "multiply", True),
    # divide and pow bind these primitives for float operands; ints (other primitives,
    # or a cast first) never have a signature in _SHORT under these names.
    "__truediv__": ("div", "divide", False), "__rtruediv__": ("div", "divide", True),
    "__pow__": ("pow", "pow", False), "__rpow__": ("pow", "pow", True),
    "__lt__": ("lt", "less", False), "__le__": ("le", "less_equal", False),
    "__gt__": ("gt", "greater", False), "__ge__": ("ge", "greater_equal", False),
    "__eq__": ("eq", "equal", False), "__ne__": ("ne", "not_equal", False),
    "__floordiv__": ("floordiv", "floordiv", False),
    "__rfloordiv__": ("floordiv", "floordiv", True),
    "__mod__": ("mod", "mod", False), "__rmod__": ("mod", "mod", True),
}
# operator method -> (primitive, the op it stands for)
_UNARY = {"__neg__": ("neg", "negative"), "__abs__": ("abs", "abs")}


# Each operator's operand signatures known to be on `context._SHORT`, so that a repeated
# operator makes one lookup: (shape, scalar type, scalar, dtype) -> the scalar's tensor
# (`convert._eager_scalar`'s), or (shape, other shape, dtype) -> True for two tensors.
# A zero float is never a key (0.0 == -0.0): it takes `_eager_scalar`, which keeps its sign.
_KNOWN: list[dict[Any, Any]] = []
KNOWN_MAX = 512


def _clear_known() -> None:
    for known in _KNOWN:
        known.clear()


on_clear("eager operator signatures", _clear_known)


def _binary(name: str, prim_name: str, op_name: str, reflected: bool
            ) -> Callable[[Tensor, Any], Any]:
    """The operator method `name` binding `prim_name` (the op `op_name` on the general
    route)."""
    prim = get_primitive(prim_name)
    impl = prim.impl
    assert not prim.param_defaults and prim.n_outs({}) == 1, prim_name
    current, tapes = _current.get, active_tapes.get
    var, ignore = _IGNORE if _IGNORE is not None else (None, None)
    known: dict[Any, Any] = {}
    _KNOWN.append(known)
    lookup = known.get

    def general(self: Tensor, o: Any) -> Any:
        op = getattr(_ops(), op_name)
        return op(o, self) if reflected else op(self, o)

    def learn(x: np.ndarray, o: Any, y: np.ndarray | None) -> Any:
        """Whether `x` and Python scalar `o` (or array `y`) have a checked signature: the
        scalar's tensor (or True), else None; remembered in `known`."""
        dt = x.dtype
        c: Any = True
        key: tuple[Any, ...]
        if y is None:
            c = _SCALARS.get((type(o), o, dt))
            if c is None:
                c = _eager_scalar(o, dt)
                if c is None:
                    return None
            y, key = c._data, (x.shape, type(o), o, dt)
        else:
            key = (x.shape, y.shape, dt)       # (the caller checked y's dtype)
        ys: tuple[int, ...] = y.shape  # type: ignore[union-attr]
        if (prim, *((ys, dt, x.shape, dt) if reflected else (x.shape, dt, ys, dt))
                ) not in _SHORT:
            return None
        if not (type(o) is float and o == 0.0):
            if len(known) >= KNOWN_MAX:
                known.clear()
            known[key] = c
        return c

    def method(self: Tensor, o: Any) -> Any:
        x = self._data
        if x is None or var is None or current() is not None:
            return general(self, o)
        to = type(o)
        if to is float or to is int:
            other = lookup((x.shape, to, o, x.dtype))
            if other is None:
                other = learn(x, o, None)
                if other is None:
                    return general(self, o)
            y = other._data
        elif to is Tensor:
            y = o._data
            if y is None or y.dtype is not x.dtype or (
                    lookup((x.shape, y.shape, x.dtype)) is None and learn(x, o, y) is None):
                return general(self, o)
            other = o
        else:
            return general(self, o)
        token = var.set(ignore)
        try:
            out = impl(y, x) if reflected else impl(x, y)
        except _USER_ERRORS as e:
            raise at_user_line(e) from None
        finally:
            var.reset(token)
        if type(out) is not _ndarray:
            out = np.asarray(out)
        out.setflags(False)         # positional: a third of the keyword form's cost
        res = _new_tensor(Tensor)
        res._data, res._val, res._trace = out, None, None
        if tapes():
            record(prim, (other, self) if reflected else (self, other), {}, (res,))
        return res

    method.__name__, method.__qualname__ = name, f"Tensor.{name}"
    return method


def _unary(name: str, prim_name: str, op_name: str) -> Callable[[Tensor], Any]:
    """The operator method `name` binding `prim_name` (the op `op_name` on the general
    route)."""
    prim = get_primitive(prim_name)
    impl = prim.impl
    assert not prim.param_defaults and prim.n_outs({}) == 1, prim_name
    current, tapes = _current.get, active_tapes.get
    var, ignore = _IGNORE if _IGNORE is not None else (None, None)

    def method(self: Tensor) -> Any:
        x = self._data
        if (x is None or var is None or current() is not None
                or (prim, x.shape, x.dtype) not in _SHORT):
            return getattr(_ops(), op_name)(self)
        token = var.set(ignore)
        try:
            out = impl(x)
        except _USER_ERRORS as e:
            raise at_user_line(e) from None
        finally:
            var.reset(token)
        if type(out) is not _ndarray:
            out = np.asarray(out)
        out.setflags(False)
        res = _new_tensor(Tensor)
        res._data, res._val, res._trace = out, None, None
        if tapes():
            record(prim, (self,), {}, (res,))
        return res

    method.__name__, method.__qualname__ = name, f"Tensor.{name}"
    return method


def install() -> None:
    """Put the operators on `Tensor` (Variables keep `TensorLike`'s general ones)."""
    for name, spec in _BINARY.items():
        setattr(Tensor, name, _binary(name, *spec))
    for name, uspec in _UNARY.items():
        setattr(Tensor, name, _unary(name, *uspec))


install()
