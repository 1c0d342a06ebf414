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
import enum
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .context import TraceInterpreter, active_tapes
from .errors import at_user_line as _user_error
from .ir.core import current_interpreter
from .tensor import DTypeLike, Tensor, TensorInput, TensorLike
from .tensorshape import TensorShape, as_shape

_shape_new = tuple.__new__


class VariableSynchronization(enum.IntEnum):
    """When a distributed Variable's replicas are brought together, as TensorFlow's enum
    (a `Variable` argument and property). tracejit keeps one copy of every Variable, so
    it is recorded, not acted on.

    >>> tj.Variable(1., synchronization=tj.VariableSynchronization.ON_READ).synchronization
    <VariableSynchronization.ON_READ: 3>
    """

    AUTO = 0
    NONE = 1
    ON_WRITE = 2
    ON_READ = 3


class VariableAggregation(enum.IntEnum):
    """How a distributed Variable's replicas' updates combine, as TensorFlow's enum (a
    `Variable` argument and property); recorded, not acted on (one copy of every
    Variable).

    >>> tj.Variable(1., aggregation=tj.VariableAggregation.SUM).aggregation
    <VariableAggregation.SUM: 1>
    """

    NONE = 0
    SUM = 1
    MEAN = 2
    ONLY_FIRST_REPLICA = 3

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

    __slots__ = ("_value", "trainable", "name", "_serial", "_lock", "_constraint",
                 "_synchronization", "_aggregation", "__weakref__")

    def __init__(self, initial_value: TensorInput | Callable[[], TensorInput] | None = None,
                 trainable: bool | None = None, validate_shape: bool = True,
                 caching_device: Any = None, name: str | None = None,
                 variable_def: Any = None, dtype: DTypeLike = None, import_scope: Any = None,
                 constraint: Callable[[Tensor], Tensor] | None = None,
                 synchronization: VariableSynchronization = VariableSynchronization.AUTO,
                 aggregation: VariableAggregation = VariableAggregation.NONE,
                 shape: Any = None, experimental_enable_variable_lifting: bool = True):
        """TensorFlow's arguments. The initial value converts to `dtype` as
        `convert_to_tensor` does (a NumPy array is cast; a tensor of another dtype is a
        ValueError). `shape`, if given, must be the value's own (a Variable's shape is fixed;
        sizes left open are not supported); `validate_shape`, `caching_device` and
        `experimental_enable_variable_lifting` are accepted and change nothing; `constraint`
        (None or a callable) is kept for optimizers to apply, as TensorFlow's, and
        `synchronization` and `aggregation` are recorded (there is one copy of every
        Variable)."""
        from .ops import convert_to_tensor
        if variable_def is not None or import_scope is not None:
            raise _user_error(ValueError(
                "variable_def and import_scope restore graph-mode Variables from protocol "
                "buffers; tracejit has no graphs: pass initial_value"))
        if initial_value is None:
            raise _user_error(ValueError("initial_value must be specified"))
        if constraint is not None and not callable(constraint):
            raise _user_error(ValueError(
                f"constraint must be None or a callable, got {type(constraint).__name__}"))
        self._synchronization = VariableSynchronization(synchronization)
        self._aggregation = VariableAggregation(aggregation)
        if callable(initial_value):
            initial_value = initial_value()
        t = convert_to_tensor(initial_value, dtype=dtype)
        if shape is not None:
            want = as_shape(shape)
            if not want.is_fully_defined():
                raise _user_error(NotImplementedError(
                    f"shape={want}: a Variable's shape is fixed (sizes left open, which "
                    "TensorFlow allows, are not supported); give the shape of the initial "
                    "value or leave shape out"))
            if tuple(want) != tuple(t.shape):
                raise _user_error(ValueError(
                    f"the initial value's shape {t.shape} is not compatible with the "
                    f"supplied shape argument {want}"))
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
        self.trainable = True if trainable is None else bool(trainable)
        self._constraint = constraint
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

    @property
    def constraint(self) -> Callable[[Tensor], Tensor] | None:
        """The constraint given when the Variable was made (None if none): what an
        optimizer applies after each update, as TensorFlow's; `assign` does not."""
        return self._constraint

    @property
    def synchronization(self) -> VariableSynchronization:
        """The synchronization given when the Variable was made (`AUTO` by default)."""
        return self._synchronization

    @property
    def aggregation(self) -> VariableAggregation:
        """The aggregation given when the Variable was made (`NONE` by default)."""
        return self._aggregation

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
        """`value` converted to the Variable's dtype as TensorFlow's `assign` converts it
        (`convert_to_tensor(value, dtype=...)`: a NumPy array is cast, a Python int list
        suits a float Variable, a float refuses an int one, a tensor of another dtype is a
        ValueError), of the Variable's shape."""
        from .ops import convert_to_tensor
        t = convert_to_tensor(value, dtype=self.dtype)
        if t.shape != self.shape:
            raise _user_error(ValueError(
                f"cannot assign a value of shape {t.shape} to Variable {self.name} of shape "
                f"{self.shape}"))
        return t

    def assign(self, value: TensorInput, use_locking: Any = None, name: str | None = None,
               read_value: bool = True) -> Variable | None:
        """Replace the value with `value` (the Variable's shape; converted to its dtype as
        TensorFlow converts it) and return the Variable (None when not `read_value`). Not
        differentiable, as in TensorFlow. `use_locking` and `name` are accepted: every
        update is atomic per Variable.

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
        return self if read_value else None

    def _update(self, op: Any, delta: Any, read_value: bool = True) -> Variable | None:
        """`self.assign(op(self, delta))` for `delta` converted to the Variable's dtype,
        atomic per Variable when eager."""
        from .ops import convert_to_tensor
        d = convert_to_tensor(delta, dtype=self.dtype)    # (it may broadcast)
        if isinstance(current_interpreter(), TraceInterpreter):
            return self.assign(op(self._read(), d), read_value=read_value)
        with self._lock:
            return self.assign(op(self._read(), d), read_value=read_value)

    def assign_add(self, delta: TensorInput, use_locking: Any = None, name: str | None = None,
                   read_value: bool = True) -> Variable | None:
        """`v.assign(v + delta)`, atomic per Variable (threads lose no update); `delta`
        converts to the Variable's dtype as `assign`'s value does.

        >>> tj.Variable(1.).assign_add(0.5).numpy()
        array(1.5, dtype=float32)
        """
        from .ops import add
        return self._update(add, delta, read_value)

    def assign_sub(self, delta: TensorInput, use_locking: Any = None, name: str | None = None,
                   read_value: bool = True) -> Variable | None:
        """`v.assign(v - delta)`, atomic per Variable (threads lose no update).

        >>> tj.Variable(1.).assign_sub(0.5).numpy()
        array(0.5, dtype=float32)
        """
        from .ops import subtract
        return self._update(subtract, delta, read_value)

    def scatter_nd_update(self, indices: TensorInput, updates: TensorInput,
                          name: str | None = None) -> Variable:
        """Replace the elements (or slices) at the index rows of `indices` by `updates`,
        as `tj.tensor_scatter_nd_update` of the value (of duplicate rows the last one
        wins); atomic per Variable; returns the Variable.

        >>> v = tj.Variable([1., 2., 3.])
        >>> v.scatter_nd_update([[0], [2]], [10., 30.]).numpy()
        array([10.,  2., 30.], dtype=float32)
        """
        from .scatter import tensor_scatter_nd_update
        self._update(lambda x, u: tensor_scatter_nd_update(x, indices, u), updates)
        return self

    def scatter_nd_add(self, indices: TensorInput, updates: TensorInput,
                       name: str | None = None) -> Variable:
        """Add `updates` at the index rows of `indices` (duplicates add up), as
        `tj.tensor_scatter_nd_add` of the value; atomic per Variable; returns the Variable.

        >>> tj.Variable([1., 2.]).scatter_nd_add([[0], [0]], [1., 2.]).numpy()
        array([4., 2.], dtype=float32)
        """
        from .scatter import tensor_scatter_nd_add
        self._update(lambda x, u: tensor_scatter_nd_add(x, indices, u), updates)
        return self

    def scatter_nd_sub(self, indices: TensorInput, updates: TensorInput,
                       name: str | None = None) -> Variable:
        """Subtract `updates` at the index rows of `indices` (duplicates add up); atomic
        per Variable; returns the Variable.

        >>> tj.Variable([1., 2.]).scatter_nd_sub([[1]], [5.]).numpy()
        array([ 1., -3.], dtype=float32)
        """
        from .ops import negative
        from .scatter import tensor_scatter_nd_add
        self._update(lambda x, u: tensor_scatter_nd_add(x, indices, negative(u)), updates)
        return self

    def scatter_nd_max(self, indices: TensorInput, updates: TensorInput,
                       name: str | None = None) -> Variable:
        """Replace the elements (or slices) at the index rows of `indices` by the maximum
        of themselves and `updates`, as `tj.tensor_scatter_nd_max` of the value; atomic
        per Variable; returns the Variable.

        >>> tj.Variable([1., 2.]).scatter_nd_max([[0], [1]], [5., 0.]).numpy()
        array([5., 2.], dtype=float32)
        """
        from .scatter import tensor_scatter_nd_max
        self._update(lambda x, u: tensor_scatter_nd_max(x, indices, u), updates)
        return self

    def scatter_nd_min(self, indices: TensorInput, updates: TensorInput,
                       name: str | None = None) -> Variable:
        """Replace the elements (or slices) at the index rows of `indices` by the minimum
        of themselves and `updates`, as `tj.tensor_scatter_nd_min` of the value; atomic
        per Variable; returns the Variable.

        >>> tj.Variable([1., 2.]).scatter_nd_min([[0], [1]], [5., 0.]).numpy()
        array([1., 0.], dtype=float32)
        """
        from .scatter import tensor_scatter_nd_min
        self._update(lambda x, u: tensor_scatter_nd_min(x, indices, u), updates)
        return self

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
