"""Eager parameterless elementwise ops on Tensors in one frame each: Tensor's arithmetic
and comparison operators and the ops behind them (`tj.multiply(x, 2)`, `tj.exp(x)`).

`x * 2`, `x + y`, `x < 0.5` on eager tensors spend most of their time in Python (NumPy's
own work on a small array is ~0.3 us). The general route is several calls deep: the op
(`tj.multiply`) converts the operands (`convert._operands`, a Python scalar taking the
tensor's dtype from `convert._eager_scalar`'s cache), then binds the eager interpreter
(`context.bind_plain`), whose short path (`EagerInterpreter.apply`) runs the primitive's
NumPy implementation for an operand signature whose checks passed before
(`context._SHORT`). The functions made here (`binary`, `unary`; `elementwise` makes the
ops and Tensor's operators with them) do exactly that in one frame, and take the general
route for everything else:

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
from .ir.prims.registry import Primitive
from .tensor import Tensor

_new_tensor = object.__new__
_ndarray = np.ndarray

# Each fast function's checked operand signatures (those on `context._SHORT`), so that a
# repeated operation makes one lookup: (shape, scalar type, scalar, dtype) -> the scalar's
# tensor (`convert._eager_scalar`'s), or (shape, other shape, dtype) -> True for two
# tensors. A zero float is never a key (0.0 == -0.0): it takes `_eager_scalar`, which
# keeps its sign.
_KNOWN: list[dict[Any, Any]] = []
KNOWN_MAX = 512

# Tensor's operator methods installed here: name -> the op it stands for, reflected.
INSTALLED: dict[str, tuple[str, bool]] = {}


def _clear_known() -> None:
    for known in _KNOWN:
        known.clear()


on_clear("eager operator signatures", _clear_known)


def binary(prim: Primitive, general: Callable[[Any, Any], Any], reflected: bool = False,
           impl: Callable[[Any, Any], Any] | None = None) -> Callable[[Tensor, Any], Any]:
    """`f(x, o)`, for an eager Tensor `x`: `general(x, o)` (`general(o, x)` reflected),
    the op that converts its operands and binds parameterless `prim`, on the short route
    when it can (see the module docstring). The short route runs `impl` (default: the
    primitive's), which may check the operands as `general` does."""
    impl = impl or prim.impl
    assert not prim.param_defaults and prim.n_outs({}) == 1, prim.name
    current, tapes = _current.get, active_tapes.get
    var, ignore = _IGNORE if _IGNORE is not None else (None, None)
    known: dict[Any, Any] = {}
    _KNOWN.append(known)
    lookup = known.get

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

    def fast(self: Tensor, o: Any) -> Any:
        x = self._data
        if x is None or var is None or current() is not None:
            return general(o, self) if reflected else general(self, o)
        to = type(o)
        if to is float or to is int:
            other = lookup((x.shape, to, o, x.dtype))
            if other is None:
                other = learn(x, o, None)
                if other is None:
                    return general(o, self) if reflected else general(self, o)
            y = other._data
        elif to is Tensor:
            y = o._data
            if y is None or y.dtype is not x.dtype or (
                    lookup((x.shape, y.shape, x.dtype)) is None and learn(x, o, y) is None):
                return general(o, self) if reflected else general(self, o)
            other = o
        else:
            return general(o, self) if reflected else general(self, o)
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

    return fast


def unary(prim: Primitive, general: Callable[[Any], Any]) -> Callable[[Tensor], Any]:
    """`f(x)`, for an eager Tensor `x`: `general(x)`, the op that binds parameterless
    `prim`, on the short route when it can."""
    impl = prim.impl
    assert not prim.param_defaults and prim.n_outs({}) == 1, prim.name
    current, tapes = _current.get, active_tapes.get
    var, ignore = _IGNORE if _IGNORE is not None else (None, None)

    def fast(self: Tensor) -> Any:
        # The steps after the checks are `binary`'s, written out again: a shared helper
        # would be one more Python call on the path this module exists to shorten.
        x = self._data
        if (x is None or var is None or current() is not None
                or (prim, x.shape, x.dtype) not in _SHORT):
            return general(self)
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

    return fast


def install(name: str, method: Callable[..., Any], op: str, reflected: bool = False) -> None:
    """Make `method` (made by `binary` or `unary` for the op `op`) Tensor's operator
    `name` (Variables keep `TensorLike`'s, which call the op)."""
    setattr(Tensor, name, method)
    INSTALLED[name] = (op, reflected)
