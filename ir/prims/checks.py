"""Run-time assertions: `assert(cond)` fails unless every element of the bool tensor
`cond` is true.

`assert` is how a check on values that exist only at run time reaches compiled code
(`tj.debugging`'s value assertions on traced operands, an integer divisor known only at
run time). Its result is a bool scalar, true whenever the instruction returns: the user
API keeps it alive by making it a result of the traced Function, which drops it at the
call.

Invariants:
- the reference raises `assert_failure(...)` for the first false element in row-major
  order; native code checks every element and raises the same error, with the same flat
  index, before any later instruction runs (`codegen.rules.FAILURES`);
- `message` names what failed and, after a line "  at file:line", where (added by the
  user API); the failing element's index goes before that line. `error` picks the
  exception class (`ERRORS`);
- an `assert` is never hoisted out of a loop (a loop that runs zero times checks nothing),
  never folded away unless its operand is a constant that passes, and has no gradient.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import TensorType
from ..errors import DivisionByZeroError, DTypeError, InvalidArgumentError
from .registry import Primitive, register

#: The exception raised by a failed `assert`, by its `error` parameter.
ERRORS: dict[str, type[InvalidArgumentError]] = {
    "invalid_argument": InvalidArgumentError,
    "division_by_zero": DivisionByZeroError,
}


def assert_failure(message: str, error: str, index: int, shape: tuple[Any, ...]
                   ) -> InvalidArgumentError:
    """The exception of an `assert` whose operand of `shape` is false first at flat
    (row-major) `index`: its message, and that element's index where `shape` has more
    than one element."""
    size = 1
    for d in shape:
        size = size * d if isinstance(d, int) else -1
    where = ""
    if size != 1:
        pos = [int(i) for i in np.unravel_index(index, shape)] if size > 0 else [index]
        where = f" (first failing element: index {pos})"
    body, sep, line = message.rpartition("\n  at ")
    if not sep:
        body, line = message, ""
    return ERRORS[error](f"{body}{where}{sep}{line}")


def _assert_rule(cond: TensorType, *, message: str, error: str) -> tuple[TensorType]:
    if cond.dtype != np.bool_:
        raise DTypeError(f"assert: the condition must be a bool tensor, got {cond}")
    if error not in ERRORS:
        raise ValueError(f"assert: error must be one of {sorted(ERRORS)}, got {error!r}")
    return (TensorType((), np.dtype(np.bool_)),)


def _assert_impl(cond: np.ndarray, *, message: str, error: str) -> np.ndarray:
    c = np.asarray(cond).reshape(-1)
    if not c.all():
        raise assert_failure(message, error, int(np.argmin(c)), np.shape(cond))
    return np.array(True)


register(Primitive("assert", kind="kernel",
                   params={"message": "", "error": "invalid_argument"},
                   shape_rule=_assert_rule, impl=_assert_impl,
                   vjp=lambda g, cond, *, out, message, error: (None,), n_inputs=1,
                   gradient="none", raises=True))
