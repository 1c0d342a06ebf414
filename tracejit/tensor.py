"""`Tensor`: an immutable array that is either concrete (eager) or traced.

Invariants:
- An eager Tensor owns a read-only NumPy array (`_data`); `.numpy()` returns it, so user
  code can never change a value a tape recorded.
- A traced Tensor holds an IR `Value` (`_val`) of the trace that made it (`_trace`); asking
  for its concrete value raises `TracingError` with an explanation.
- Every operator goes through `tracejit.ops`, hence through `bind`: NumPy never computes
  behind a tape's back (`eager_ops` puts one-frame versions of that route for repeated
  eager arithmetic and comparisons on Tensor; they record on tapes the same way).
  `ndarray * tensor` (every binary operator with a NumPy operand on the left) arrives in
  `__array_ufunc__` as the ufunc of that operator and is computed by the tracejit op of
  the same name, recorded. Other NumPy functions (`np.exp(t)`,
  `np.add.reduce(t)`) compute on the concrete values and return NumPy arrays, as with
  TensorFlow's eager tensors; on a traced tensor they raise an error naming the tj op.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from .errors import TracingError
from .ir.core import DTYPE_NAMES, Value
from .tensorshape import TensorShape, shape_of

_shape_new = tuple.__new__


class TensorLike:
    """Operators shared by Tensor and Variable; each one calls the op of the same name."""

    __slots__ = ()

    if TYPE_CHECKING:  # what Tensor and Variable both provide
        @property
        def shape(self) -> TensorShape: ...
        @property
        def dtype(self) -> np.dtype: ...

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy's hook. A binary operator's ufunc (what `ndarray * tensor` calls) runs
        the tracejit op, recorded; any other ufunc runs in NumPy on the concrete values
        and returns an ndarray (eager tensors only: a traced one raises, naming the tj
        op). NumPy cannot tell `a * t` from `np.multiply(a, t)`, so both give a tensor."""
        op = _OPERATOR_UFUNCS.get(ufunc.__name__)
        if op is not None and method == "__call__" and len(inputs) == 2 and not kwargs:
            return getattr(_ops(), op)(*inputs)
        return _numpy_ufunc(ufunc, method, inputs, kwargs)

    def __add__(self, o: TensorInput) -> Tensor: return _ops().add(self, o)
    def __radd__(self, o: TensorInput) -> Tensor: return _ops().add(o, self)
    def __sub__(self, o: TensorInput) -> Tensor: return _ops().subtract(self, o)
    def __rsub__(self, o: TensorInput) -> Tensor: return _ops().subtract(o, self)
    def __mul__(self, o: TensorInput) -> Tensor: return _ops().multiply(self, o)
    def __rmul__(self, o: TensorInput) -> Tensor: return _ops().multiply(o, self)
    def __truediv__(self, o: TensorInput) -> Tensor: return _ops().divide(self, o)
    def __rtruediv__(self, o: TensorInput) -> Tensor: return _ops().divide(o, self)
    def __floordiv__(self, o: TensorInput) -> Tensor: return _ops().floordiv(self, o)
    def __rfloordiv__(self, o: TensorInput) -> Tensor: return _ops().floordiv(o, self)
    def __mod__(self, o: TensorInput) -> Tensor: return _ops().mod(self, o)
    def __rmod__(self, o: TensorInput) -> Tensor: return _ops().mod(o, self)
    def __pow__(self, o: TensorInput) -> Tensor: return _ops().pow(self, o)
    def __rpow__(self, o: TensorInput) -> Tensor: return _ops().pow(o, self)
    def __matmul__(self, o: TensorInput) -> Tensor: return _ops().matmul(self, o)
    def __rmatmul__(self, o: TensorInput) -> Tensor: return _ops().matmul(o, self)
    def __neg__(self) -> Tensor: return _ops().negative(self)
    def __pos__(self) -> Tensor: return _ops().identity(self)
    def __abs__(self) -> Tensor: return _ops().abs(self)
    def __lt__(self, o: TensorInput) -> Tensor: return _ops().less(self, o)
    def __le__(self, o: TensorInput) -> Tensor: return _ops().less_equal(self, o)
    def __gt__(self, o: TensorInput) -> Tensor: return _ops().greater(self, o)
    def __ge__(self, o: TensorInput) -> Tensor: return _ops().greater_equal(self, o)
    def __eq__(self, o: TensorInput) -> Tensor: return _ops().equal(self, o)  # type: ignore[override]
    def __ne__(self, o: TensorInput) -> Tensor: return _ops().not_equal(self, o)  # type: ignore
    def __and__(self, o: TensorInput) -> Tensor: return _ops().logical_and(self, o)
    def __or__(self, o: TensorInput) -> Tensor: return _ops().logical_or(self, o)
    def __invert__(self) -> Tensor: return _ops().logical_not(self)
    __hash__ = object.__hash__

    def __getitem__(self, key: Any) -> Tensor:
        from .indexing import getitem
        return getitem(self, key)

    @property
    def T(self) -> Tensor:
        """The transpose (dimensions reversed), as `tj.transpose(x)`.

        >>> tj.constant([[1, 2, 3]]).T.shape
        TensorShape([3, 1])
        """
        return _ops().transpose(self)

    @property
    def ndim(self) -> int:
        """The rank: the number of dimensions (0 for a scalar)."""
        return len(self.shape)

    def get_shape(self) -> TensorShape:
        """The shape, as `x.shape` (TensorFlow's older spelling).

        >>> tj.zeros([2, 3]).get_shape().as_list()
        [2, 3]
        """
        return self.shape

    def set_shape(self, shape: Any) -> None:
        """Check that the shape is compatible with `shape` (None for a size left open), as
        TensorFlow's `set_shape`; a ValueError if it is not. Unlike TensorFlow's, it does
        not refine a size that a traced tensor knows only at run time (`x.shape` keeps None
        there), and adds no run-time check of it.

        >>> tj.zeros([2, 3]).set_shape([None, 3])
        """
        from .errors import at_user_line
        from .tensorshape import as_shape
        want = as_shape(shape)
        if not self.shape.is_compatible_with(want):
            raise at_user_line(ValueError(f"Tensor's shape {self.shape} is not compatible "
                                          f"with supplied shape {want}."))

    def ref(self) -> Reference:
        """A hashable reference to this tensor or Variable, for dict keys and sets: equal
        to another only when both refer to the same object; `deref()` gives the object
        back. As TensorFlow's (`experimental_ref` is the same).

        >>> x = tj.constant(1.)
        >>> {x.ref(): "x"}[x.ref()], x.ref().deref() is x
        ('x', True)
        """
        return Reference(self)

    experimental_ref = ref

    @property
    def device(self) -> str:
        """The device that holds the value: always the host's CPU, in TensorFlow's
        notation (tracejit computes on the CPU of this process)."""
        return CPU_DEVICE

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a scalar tensor")
        return int(self.shape[0])

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]


# The device string of every tensor and Variable (`TensorLike.device`), TensorFlow's for
# the host CPU.
CPU_DEVICE = "/job:localhost/replica:0/task:0/device:CPU:0"


class Reference:
    """A hashable reference to a tensor or Variable (`TensorLike.ref()`): equal to a
    reference to the same object only, hashed by the object's identity."""

    __slots__ = ("_obj",)

    def __init__(self, obj: TensorLike):
        self._obj = obj

    def deref(self) -> TensorLike:
        """The tensor or Variable referred to."""
        return self._obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reference) and other._obj is self._obj

    def __hash__(self) -> int:
        return id(self._obj)

    def __repr__(self) -> str:
        return f"<Reference wrapping {self._obj!r}>"


# The ufuncs NumPy's binary operators call, and the tracejit op of each operator.
_OPERATOR_UFUNCS = {
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "divide",
    "true_divide": "divide", "floor_divide": "floordiv", "remainder": "mod",
    "power": "pow", "matmul": "matmul", "less": "less", "less_equal": "less_equal",
    "greater": "greater", "greater_equal": "greater_equal", "equal": "equal",
    "not_equal": "not_equal", "bitwise_and": "logical_and", "bitwise_or": "logical_or"}
# NumPy names whose tracejit op has another name.
_TJ_NAMES = {"absolute": "abs", "fabs": "abs", "true_divide": "divide", "divide": "divide",
             "remainder": "mod", "fmod": "mod", "floor_divide": "floordiv",
             "power": "pow", "invert": "logical_not", "bitwise_and": "logical_and",
             "bitwise_or": "logical_or", "arctan": "atan", "fmax": "maximum",
             "fmin": "minimum"}
_TJ_REDUCTIONS = {"add": "reduce_sum", "multiply": "reduce_prod", "maximum": "reduce_max",
                  "minimum": "reduce_min", "logical_and": "reduce_all",
                  "logical_or": "reduce_any"}


def _numpy_ufunc(ufunc: Any, method: str, inputs: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    """Run a NumPy ufunc on eager tensors' values; refuse traced ones, naming the op."""
    from .context import TraceInterpreter
    from .ir.core import current_interpreter
    tracing = isinstance(current_interpreter(), TraceInterpreter)
    outs = tuple(kwargs.get("out") or ())
    for x in (*inputs, *outs):
        if isinstance(x, TensorLike) and (tracing or getattr(x, "_data", 0) is None):
            raise _traced_ufunc_error(ufunc, method)
    for x in outs:
        if isinstance(x, TensorLike):
            raise TypeError(f"np.{ufunc.__name__}(..., out=tensor): tracejit tensors are "
                            "immutable; let NumPy allocate the result, or assign it to "
                            "a Variable")
    arrays = [np.asarray(x) if isinstance(x, TensorLike) else x for x in inputs]
    return getattr(ufunc, method)(*arrays, **kwargs)


def _traced_ufunc_error(ufunc: Any, method: str) -> BaseException:
    from .errors import at_user_line
    name = ufunc.__name__
    call = f"np.{name}" if method == "__call__" else f"np.{name}.{method}"
    tj_name = _TJ_REDUCTIONS.get(name) if method == "reduce" else (
        None if method != "__call__" else _TJ_NAMES.get(name, name))
    if tj_name is not None and hasattr(_ops(), tj_name):
        use = f"use tj.{tj_name} instead"
    else:
        use = "write it with tj ops"
    return at_user_line(TracingError(
        f"{call} was called on a traced tensor (or a Variable, while tracing): NumPy "
        "computes now, but inside a compiled "
        f"function values are not known until the compiled code runs; {use} (it is "
        "traced, compiled and differentiable)"))


_OPS: Any = None


def _ops() -> Any:
    global _OPS
    if _OPS is None:
        from . import ops
        _OPS = ops
    return _OPS


class Tensor(TensorLike):
    """An immutable n-dimensional array of one dtype: eager (holding a NumPy array) or,
    inside a compiled function, traced (a value of the function being built). Made by
    `tj.constant`, `tj.convert_to_tensor` and every op; has the arithmetic and comparison
    operators, indexing and slicing.

    >>> x = tj.constant([[1., 2.], [3., 4.]])
    >>> (x @ x.T + 1.)[0].numpy()
    array([ 6., 12.], dtype=float32)
    >>> x.shape, x.dtype, x.ndim
    (TensorShape([2, 2]), dtype('float32'), 2)
    """

    __slots__ = ("_data", "_val", "_trace", "__weakref__")

    def __init__(self, data: np.ndarray | None = None, val: Value | None = None,
                 trace: Any = None):
        self._data = data
        self._val = val
        self._trace = trace

    @staticmethod
    def _wrap(a: np.ndarray) -> Tensor:
        """An eager tensor owning `a` (made read-only; the caller gives up `a`)."""
        if type(a) is not np.ndarray:
            a = np.asarray(a)
        a.setflags(False)  # type: ignore[call-arg]  # write=False (positional: faster)
        t = _new_tensor(Tensor)
        t._data = a
        t._val = None
        t._trace = None
        return t

    @property
    def is_traced(self) -> bool:
        """True for a tensor of a function being traced (its value is not known yet).

        >>> tj.constant(1.).is_traced
        False
        """
        return self._val is not None

    @property
    def shape(self) -> TensorShape:
        """The shape, a `tj.TensorShape`: a tuple of ints (`()` for a scalar) with
        TensorFlow's methods, and None for a size known only at run time.

        >>> tj.zeros([2, 3]).shape
        TensorShape([2, 3])
        >>> tj.zeros([2, 3]).shape == (2, 3), tj.zeros([2, 3]).shape.as_list()
        (True, [2, 3])
        """
        d = self._data
        if d is not None:
            return _shape_new(TensorShape, d.shape)
        return shape_of(self._val.shape)  # type: ignore[union-attr]

    @property
    def dtype(self) -> np.dtype:
        """The dtype, a NumPy dtype such as `tj.float32`.

        >>> tj.constant([1, 2]).dtype
        dtype('int32')
        """
        return self._data.dtype if self._data is not None else self._val.dtype  # type: ignore

    def _concrete(self, what: str) -> np.ndarray:
        if self._data is None:
            from .errors import at_user_line
            raise at_user_line(TracingError(
                f"{what} needs the concrete value of a traced tensor "
                f"(shape {self.shape}, dtype {self.dtype}), but inside a compiled function "
                "values are not known until the compiled code runs. Python `if`, `while`, "
                "`bool()`, `float()` and `.numpy()` cannot depend on them: use tj.cond (or "
                "tj.where) for a data-dependent choice and tj.while_loop (or tj.fori_loop, "
                "tj.scan) for a data-dependent loop, or run the function eagerly with "
                "tj.config.run_functions_eagerly(True) to debug."))
        return self._data

    def numpy(self) -> np.ndarray:
        """The value as a read-only NumPy array (eager tensors only).

        >>> tj.constant([1., 2.]).numpy()
        array([1., 2.], dtype=float32)
        """
        return self._concrete(".numpy()")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self._concrete("converting to a NumPy array")
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __bool__(self) -> bool:
        a = self._concrete("bool()")
        if a.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {a.shape} is ambiguous; "
                             "use tj.reduce_any-style reductions or tj.where")
        return bool(a.reshape(()))

    def __float__(self) -> float:
        return float(self._concrete("float()").reshape(()))

    def __int__(self) -> int:
        return int(self._concrete("int()").reshape(()))

    def __index__(self) -> int:
        a = self._concrete("using a tensor as an index")
        if a.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {a.dtype}")
        return int(a.reshape(()))

    def __repr__(self) -> str:
        if self._data is None:
            return (f"<tj.Tensor traced shape={self.shape} dtype={self.dtype.name} "
                    f"({DTYPE_NAMES[self.dtype]}[{','.join(map(str, self.shape))}])>")
        return f"<tj.Tensor: shape={self.shape}, dtype={self.dtype.name}, numpy={self._data!r}>"

    def __str__(self) -> str:
        if self._data is None:
            return repr(self)
        return f"tj.Tensor({self._data}, shape={self.shape}, dtype={self.dtype.name})"

    def __format__(self, spec: str) -> str:
        if self._data is not None and self._data.ndim == 0 and spec:
            return format(self._data.item(), spec)
        return format(str(self), spec)

    def __reduce__(self) -> Any:
        return (_unpickle, (np.array(self._concrete("pickling")),))


_new_tensor = object.__new__


def raw_shape(t: Any) -> tuple[Any, ...]:
    """The shape of a Tensor or Variable as the library keeps it: the plain tuple of its
    array or IR type (symbolic dimensions kept), not the user's `TensorShape`."""
    if type(t) is not Tensor:
        t = getattr(t, "_value", t)        # a Variable's current value
    d = t._data
    return d.shape if d is not None else t._val.shape  # type: ignore[no-any-return]


def _unpickle(a: np.ndarray) -> Tensor:
    return Tensor._wrap(a)


# What the ops accept where TensorFlow accepts a tensor: a Tensor or Variable, a NumPy
# array or scalar, a Python number or bool, or a (nested) list or tuple of them.
TensorInput: TypeAlias = "TensorLike | np.ndarray | np.generic | float | Sequence[Any]"
# A dtype where TensorFlow takes one: `tj.float32`, `np.float32`, `"float32"`, or None for
# the default.
DTypeLike: TypeAlias = "np.dtype[Any] | type | str | None"
# A tensor, or a list, tuple, namedtuple or dict of structures (TensorFlow's `nest`): loop
# variables, gradients of nested sources, the values functions return. Checked at run time
# (`trees.flatten`), so the static type says no more than "any structure".
Structure: TypeAlias = Any
