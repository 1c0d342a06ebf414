"""Variables created inside a compiled function, as `tf.function` allows: on its first
call only.

Invariants:
- While a compiled function traces, `tj.Variable(...)` asks `on_create` (through the
  current `Creation`). On the function's first call it is allowed: the initial value,
  which may be computed from the arguments (a traced value), is evaluated at once from
  this call's concrete inputs by the reference interpreter (only the instructions it
  depends on), so the Variable is an ordinary Variable with a value from then on (read
  by reference by the traces, kept by whatever the Python code stored it in, and by the
  function: `CompiledFunction._created_variables`).
- A trace that created Variables is discarded and the function traced again, as
  TensorFlow does: that second trace must create none (else TensorFlow's ValueError:
  "tf.function only supports singleton tf.Variables created on the first call"), and
  any later trace that creates one raises TensorFlow's "Creating variables on a
  non-first call" ValueError.
- Random initializers draw from their generator's state at the time of the call, and
  the generator is advanced past those draws (the state Variable's value in the trace
  at the moment of creation is written back), so the initial values are those an eager
  call would have made, and later draws differ from them.
"""
from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .errors import at_user_line
from .ir.core import Function
from .ir.errors import InvalidArgumentError
from .tensor import Tensor

SINGLETON = ("tf.function only supports singleton tf.Variables created on the first call. "
             "Make sure the tf.Variable is only created once or created outside "
             "tf.function. See https://www.tensorflow.org/guide/function#creating_tfvariables "
             "for more information.")
NON_FIRST = "Creating variables on a non-first call to a function decorated with tf.function."


class Creation:
    """The Variable-creation policy of one trace and what it created."""

    def __init__(self, mode: str, state: Any, arg_arrays: list[Any]):
        self.mode = mode                # "first", "verify" (the retrace after it) or "later"
        self.state = state              # the TraceState being built
        self.arg_arrays = arg_arrays    # concrete arrays of its first parameters
        self.created: list[Any] = []
        self.snapshot: dict[int, Any] = {}  # id(param) -> its value when first evaluated


_CURRENT: contextvars.ContextVar[Creation | None] = contextvars.ContextVar(
    "tracejit_variable_creation", default=None)


@contextmanager
def creating(c: Creation) -> Iterator[Creation]:
    """Make `c` the policy of Variables created while this trace runs."""
    token = _CURRENT.set(c)
    try:
        yield c
    finally:
        _CURRENT.reset(token)


def on_create(var: Any, t: Tensor, state: Any) -> Tensor:
    """A Variable `var` is being made inside the trace of `state` with initial value `t`:
    its concrete initial value, or ValueError where TensorFlow refuses the creation."""
    c = _CURRENT.get()
    if c is None or c.state is not state:
        if t._data is not None:
            raise at_user_line(ValueError(NON_FIRST))
        raise TypeError("a Variable's initial value must be concrete; create Variables "
                        "outside compiled functions, or on their first call")
    if c.mode == "verify":
        raise at_user_line(ValueError(SINGLETON))
    if c.mode != "first":
        raise at_user_line(ValueError(NON_FIRST))
    value = t if t._data is not None else Tensor._wrap(_evaluate(c, t))
    _advance_generators(c)
    c.created.append(var)
    return value


def _inputs(c: Creation) -> list[Any]:
    """The concrete value of every parameter of the trace so far."""
    st = c.state
    params = st.builder.params
    arrays: list[Any] = list(c.arg_arrays)
    captured = {id(v): obj for v, obj in st.captures}
    for p in params[len(arrays):]:
        data = c.snapshot.get(id(p))
        if data is not None:
            arrays.append(data)
            continue
        obj = captured.get(id(p))
        data = c.snapshot[id(p)] = getattr(getattr(obj, "_value", obj), "_data", None)
        if data is None:
            raise at_user_line(TypeError(
                "a Variable created in a compiled function takes its initial value from a "
                "tensor of an enclosing trace; create it in the outer function, or from "
                "the arguments"))
        arrays.append(data)
    return arrays


def _evaluate_values(c: Creation, vals: list[Any]) -> list[np.ndarray]:
    """The concrete values of traced IR values of the trace so far at this call."""
    from .ir.interp import evaluate
    from .ir.passes.dce import dce
    st = c.state
    # The trace's checks so far run too (the value is what the code so far computes, and
    # it would have raised).
    fn = dce(Function("variable_initializer", st.builder.params, list(st.builder.instrs),
                      list(vals) + st.checks))
    try:
        out = evaluate(fn, _inputs(c))
    except InvalidArgumentError as e:
        from .context import explained
        raise explained(e, st.explain) from None
    return [np.asarray(a) for a in out[:len(vals)]]


def check_first_trace(c: Creation) -> None:
    """Run the checks (`assert`s) of a first trace that made Variables on the reference:
    the call runs the trace made again with the Variables, which lacks the checks of code
    that ran only the first time (the block that made them); TensorFlow's first call
    runs the first trace, and raises for them."""
    st = c.state
    if not st.checks:
        return
    _evaluate_values(c, [])


def _evaluate(c: Creation, t: Tensor) -> np.ndarray:
    st = c.state
    if t._trace is not st:
        raise at_user_line(TypeError("a Variable's initial value is a traced tensor of "
                                     "another trace"))
    out = _evaluate_values(c, [t._val])[0]
    return np.array(out)


def _advance_generators(c: Creation) -> None:
    """Write back the states of random generators the trace advanced so far."""
    from .random_generator import is_generator_state
    st = c.state
    pending = [(st.variables[i], v) for i, v in st.var_values.items()
               if i in st.assigned and is_generator_state(st.variables[i])
               and v._trace is st]
    if not pending:
        return
    values = _evaluate_values(c, [v._val for _, v in pending])
    for (var, _), arr in zip(pending, values):
        var._value = Tensor._wrap(np.array(arr))
        # The trace goes on from the advanced state: its later reads see the new value
        # as a capture, and the trace is discarded anyway.
