"""`Variable`: a mutable, named holder of a tensor value, as TensorFlow's.

Invariants:
- A Variable's value is always an eager Tensor of a fixed shape and dtype; `assign*`
  replaces it (never mutates the old array), so tapes that recorded the old value stay
  right.
- Every read goes through `_read`: it returns the current value (or, inside a trace, the
  traced value, captured by reference) and lets active tapes watch it when the variable is
  trainable and the tape watches accessed variables.
- Inside a compiled function `assign*` takes effect in program order: later reads in the
  same call see the new value, and the value is written back when the call returns.
- Atomicity (threads): each Variable has a lock. Eager `assign`, `assign_add` and
  `assign_sub` hold it, so a read-modify-write is never interleaved with another update
  of the same Variable. A compiled call that assigns Variables holds their locks (taken
  in creation order, so two calls never deadlock) from reading its inputs until its
  write-back: the whole call is one atomic update of the Variables it assigns. Reads
  take no lock: a Variable only read by a compiled call, or read eagerly, gives the value
  before or after a concurrent update, never a torn one, but a call that reads `v` and
  assigns only `w` is not atomic with respect to updates of `v`.
"""
from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .context import TraceInterpreter, active_tapes
from .ir.core import current_interpreter
from .tensor import DTypeLike, Tensor, TensorInput, TensorLike
from .tensorshape import TensorShape

_shape_new = tuple.__new__

_counter = itertools.count()
# The name scope Variables are made in (`tj.name_scope`, `tj.Module.name_scope`): a prefix
# such as "outer/inner/", or "".
_NAME_SCOPE: contextvars.ContextVar[str] = contextvars.ContextVar("tracejit_name_scope",
                                                                  default="")
_serial = itertools.count()     # creation order (`GradientTape.watched_variables` sorts by it)


class Variable(TensorLike):
    """A mutable tensor: model state that tapes watch and `assign*` updates in place.
    Compiled functions read it by reference (each call sees the current value) and their
    assignments take effect in program order, as in TensorFlow.

    >>> v = tj.Variable([1., 2.], name="w")
    >>> v.assign_add([10., 10.]).numpy()
    array([11., 12.], dtype=float32)
    >>> v.name, v.shape, v.dtype
    ('w:0', TensorShape([2]), dtype('float32'))
    """

    __slots__ = ("_value", "trainable", "name", "_serial", "_lock", "__weakref__")

    def __init__(self, initial_value: TensorInput | Callable[[], TensorInput],
                 trainable: bool = True, name: str | None = None, dtype: DTypeLike = None):
        from .ops import cast, convert_to_tensor
        if callable(initial_value):
            initial_value = initial_value()
        t = convert_to_tensor(initial_value)
        if dtype is not None and np.dtype(dtype) != t.dtype:
            t = cast(t, dtype)
        interp = current_interpreter()
        if isinstance(interp, TraceInterpreter):
            # Inside a compiled function: allowed on its first call only (`firstcall`).
            from .firstcall import on_create
            t = on_create(self, t, interp.state)
        elif t._data is None:
            raise TypeError("a Variable's initial value must be concrete; create Variables "
                            "outside compiled functions")
        self._value = t
        self._lock = threading.RLock()
        self._serial = next(_serial)
        self.trainable = bool(trainable)
        self.name = _NAME_SCOPE.get() + (name or f"Variable_{next(_counter)}") + ":0"

    def __reduce__(self) -> Any:
        """Pickled by value: its value, trainability and name."""
        return _unpickle, (self.numpy(), self.trainable, self.name)

    @property
    def shape(self) -> TensorShape:
        """The shape, a `tj.TensorShape` of ints (fixed when the Variable is made).

        >>> tj.Variable([[1., 2.]]).shape
        TensorShape([1, 2])
        """
        return _shape_new(TensorShape, self._value._data.shape)  # type: ignore[union-attr]

    @property
    def dtype(self) -> np.dtype:
        """The dtype, a NumPy dtype (fixed when the Variable is made).

        >>> tj.Variable(1.).dtype
        dtype('float32')
        """
        return self._value.dtype

    def _read(self) -> Tensor:
        interp = current_interpreter()
        if isinstance(interp, TraceInterpreter):
            t = interp.state.read_var(self)
        else:
            t = self._value
        tapes = active_tapes.get()
        if tapes:
            for tape in tapes:
                tape._read_variable(self, t)
        return t

    def _read_untracked(self) -> Tensor:
        interp = current_interpreter()
        if isinstance(interp, TraceInterpreter):
            return interp.state.read_var(self)
        return self._value

    def value(self) -> Tensor:
        """The current value as a Tensor (a read that tapes record).

        >>> tj.Variable(2.).value() * 3.
        <tj.Tensor: shape=(), dtype=float32, numpy=array(6., dtype=float32)>
        """
        return self._read()

    def read_value(self) -> Tensor:
        """The current value as a Tensor; the same as `value()`.

        >>> v = tj.Variable(1.)
        >>> v.assign_add(2.).read_value().numpy()
        array(3., dtype=float32)
        """
        return self._read()

    def numpy(self) -> np.ndarray:
        """The current value as a read-only NumPy array.

        >>> tj.Variable([1, 2]).numpy()
        array([1, 2], dtype=int32)
        """
        return self._value.numpy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._value.__array__(dtype, copy)

    def _check(self, value: TensorInput) -> Tensor:
        from .ops import convert_to_tensor
        t = convert_to_tensor(value, dtype_hint=self.dtype)
        if t.dtype != self.dtype:
            raise TypeError(f"cannot assign a {t.dtype} value to Variable {self.name} of dtype "
                            f"{self.dtype}; use tj.cast")
        if t.shape != self.shape:
            raise ValueError(f"cannot assign a value of shape {t.shape} to Variable "
                             f"{self.name} of shape {self.shape}")
        return t

    def assign(self, value: TensorInput) -> Variable:
        """Replace the value with `value` (same shape and dtype; a Python number takes the
        Variable's dtype) and return the Variable. Not differentiable, as in TensorFlow.

        >>> v = tj.Variable([1., 2.])
        >>> v.assign([3., 4.]).numpy()
        array([3., 4.], dtype=float32)
        """
        t = self._check(value)
        # The new value is a new Tensor object: tapes see later reads as fresh reads of the
        # variable, never as the (recorded) computation that produced the value (as in
        # TensorFlow, assignment is not differentiable).
        interp = current_interpreter()
        if isinstance(interp, TraceInterpreter):
            st = interp.state
            interp.state.assign_var(self, Tensor(None, t._val if t._trace is st else
                                                 st.value_of(t), st))
        else:
            if t._data is None:
                raise TypeError("cannot assign a traced tensor to a Variable outside the "
                                "compiled function that made it")
            with self._lock:
                self._value = Tensor(t._data)
        return self

    def _update(self, op: Any, delta: Any) -> Variable:
        """`self.assign(op(self, delta))`, atomic per Variable when eager."""
        if isinstance(current_interpreter(), TraceInterpreter):
            return self.assign(op(self._read(), delta))
        with self._lock:
            return self.assign(op(self._read(), delta))

    def assign_add(self, delta: TensorInput) -> Variable:
        """`v.assign(v + delta)`, atomic per Variable (threads lose no update).

        >>> tj.Variable(1.).assign_add(0.5).numpy()
        array(1.5, dtype=float32)
        """
        from .ops import add
        return self._update(add, delta)

    def assign_sub(self, delta: TensorInput) -> Variable:
        """`v.assign(v - delta)`, atomic per Variable (threads lose no update).

        >>> tj.Variable(1.).assign_sub(0.5).numpy()
        array(0.5, dtype=float32)
        """
        from .ops import subtract
        return self._update(subtract, delta)

    @staticmethod
    def _locks_of(variables: Sequence[Variable]) -> list[Any]:
        """The locks of `variables`, each once, in creation order: threads that take them
        in this order never deadlock."""
        if len(variables) == 1:
            return [next(iter(variables))._lock]
        return [v._lock for v in sorted({id(v): v for v in variables}.values(),
                                        key=lambda v: v._serial)]

    def __repr__(self) -> str:
        return (f"<tj.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}, "
                f"numpy={self._value._data!r}>")

    def __bool__(self) -> bool:
        return bool(self._read())

    def __float__(self) -> float:
        return float(self._read())

    def __int__(self) -> int:
        return int(self._read())

    def __index__(self) -> int:
        return self._read().__index__()


def _unpickle(value: np.ndarray, trainable: bool, name: str) -> Variable:
    """A pickled Variable (`Variable.__reduce__`)."""
    return Variable(value, trainable=trainable, name=name[:-2] if name.endswith(":0") else name)
