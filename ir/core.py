"""The SSA IR: types, values, instructions, functions, and `bind`.

Invariants:
- A `TensorType` is immutable and hashable: a shape (tuple of non-negative ints, or
  `dims.Dim` symbols for sizes known only at run time) and a NumPy dtype drawn from
  `DTYPES`.
- A `Value` has identity (two values are equal only if they are the same object) and a
  type that never changes. It is defined exactly once: as a parameter of one `Function`
  or as an output of one `Instr`.
- A `Function` is a straight-line list of instructions in SSA order: every input of an
  instruction is a parameter or an output of an earlier instruction.
- `TensorType.size` and `.nbytes` are exact Python ints (never wrap around), and
  `check_allocation` refuses, with `MemoryError`, arrays that exceed the address space or
  the memory available, before anything is allocated.
- Every operation goes through `bind(prim, *args, **params)`, which hands it to the
  current interpreter (one context variable). The interpreter decides what "running"
  means: computing with NumPy, recording on tapes, or appending an instruction to a
  `Function` being built (`Builder`).
"""
from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Any
from collections.abc import Iterator, Sequence

import numpy as np

from .dims import Dim, is_dim
from .errors import IRError, ShapeError

# --------------------------------------------------------------------------- dtypes

DTYPES: dict[str, np.dtype] = {
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
}
DTYPE_NAMES: dict[np.dtype, str] = {v: k for k, v in DTYPES.items()}
FLOAT_DTYPES = (DTYPES["f32"], DTYPES["f64"])
INT_DTYPES = (DTYPES["i32"], DTYPES["i64"])


def dtype_name(dtype: Any) -> str:
    dt = np.dtype(dtype)
    try:
        return DTYPE_NAMES[dt]
    except KeyError:
        raise TypeError(f"unsupported dtype {dt}; tracejit supports "
                        f"{', '.join(str(d) for d in DTYPES.values())}") from None


def is_float(dtype: Any) -> bool:
    return np.dtype(dtype) in FLOAT_DTYPES


class TensorType:
    """The type of a value: `TensorType((2, 3), np.float32)` prints as `f32[2,3]`."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: Sequence[int], dtype: Any):
        self.shape = tuple(d if type(d) is Dim else int(d)  # type: ignore[comparison-overlap]
                           for d in shape)
        self.dtype = np.dtype(dtype)
        dtype_name(self.dtype)  # validates
        if any(type(d) is not Dim and d < 0  # type: ignore[comparison-overlap]
               for d in self.shape):
            raise ShapeError(f"negative dimension in shape {self.shape}")

    @classmethod
    def of_array(cls, a: np.ndarray) -> TensorType:
        """The type of a NumPy array (its shape is already a tuple of non-negative ints);
        the hot path of eager execution, so it skips the conversions of `__init__`."""
        if a.dtype not in DTYPE_NAMES:
            return cls(a.shape, a.dtype)  # raises the usual error
        t = object.__new__(cls)
        t.shape = a.shape
        t.dtype = a.dtype
        return t

    @classmethod
    def make(cls, shape: tuple[int, ...], dtype: np.dtype) -> TensorType:
        """A type from parts already known valid (a tuple of non-negative ints and one of
        `DTYPES`), as shape rules produce from their operands' types: no conversions."""
        t = object.__new__(cls)
        t.shape = shape
        t.dtype = dtype
        return t

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of elements, exact (a Python int: never wraps around); a `Dim`
        monomial when a dimension is unknown (`symbolic`)."""
        n: int = math.prod(self.shape)
        return n

    @property
    def nbytes(self) -> int:
        """The bytes of a dense array of this type, exact (never wraps around)."""
        itemsize: int = self.dtype.itemsize
        return self.size * itemsize

    @property
    def symbolic(self) -> bool:
        """Whether a dimension is unknown (a `Dim`, known only at run time)."""
        return any(is_dim(d) for d in self.shape)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TensorType) and self.shape == other.shape
                and self.dtype == other.dtype)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))

    def __str__(self) -> str:
        return f"{DTYPE_NAMES[self.dtype]}[{','.join(str(d) for d in self.shape)}]"

    __repr__ = __str__


def type_of(x: Any) -> TensorType:
    """The TensorType of a Value, a NumPy array or anything with .shape and .dtype."""
    if isinstance(x, Value):
        return x.type
    return TensorType(np.shape(x), np.asarray(x).dtype if not hasattr(x, "dtype") else x.dtype)


# --------------------------------------------------------------------------- values


class Value:
    """An SSA value. `shape` and `dtype` mirror its type so that rules written with
    `bind` read the same whether they run on Values, arrays or user tensors."""

    __slots__ = ("type", "hint", "__weakref__")

    def __init__(self, type: TensorType, hint: str | None = None):
        self.type = type
        self.hint = hint

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> np.dtype:
        dt: np.dtype = self.type.dtype
        return dt

    @property
    def ndim(self) -> int:
        return len(self.type.shape)

    def __repr__(self) -> str:
        return f"Value({self.type}, {self.hint or hex(id(self))})"


class Instr:
    """One SSA instruction: `outs = prim(inputs) {params}`."""

    __slots__ = ("prim", "inputs", "params", "outs")

    def __init__(self, prim: str, inputs: Sequence[Value], params: dict[str, Any],
                 outs: Sequence[Value]):
        self.prim = prim
        self.inputs = list(inputs)
        self.params = dict(params)
        self.outs = list(outs)

    def __repr__(self) -> str:
        from .printer import format_instr
        return format_instr(self)


class Function:
    """A typed SSA function (region instructions hold nested Functions). Equality is
    structural (`parse(print(f)) == f`: same name, types, ops, params and wiring) and the
    hash agrees with it (name and parameter types). A Function is not changed once built.

    >>> b = Builder("f")
    >>> x = b.param(TensorType((), np.float32))
    >>> with interpreting(b):
    ...     y = bind("mul", x, x)
    >>> f = b.build([y])
    >>> from tracejit.ir.parser import parse
    >>> g = parse(str(f))
    >>> g == f and hash(g) == hash(f) and g is not f
    True
    """

    # No other attribute can be set on a Function: what another package keeps about one
    # (its executable, whether it is optimized) lives in that package's own maps.
    __slots__ = ("name", "params", "instrs", "results", "_hash", "__weakref__")

    def __init__(self, name: str, params: Sequence[Value], instrs: Sequence[Instr],
                 results: Sequence[Value]):
        self.name = name
        self.params = list(params)
        self.instrs = list(instrs)
        self.results = list(results)
        self._hash: int | None = None

    @property
    def in_types(self) -> list[TensorType]:
        return [p.type for p in self.params]

    @property
    def out_types(self) -> list[TensorType]:
        return [r.type for r in self.results]

    def __str__(self) -> str:
        from .printer import print_function
        return print_function(self)

    def __repr__(self) -> str:
        return f"<Function @{self.name} {self.in_types} -> {self.out_types}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Function):
            return NotImplemented
        return structurally_equal(self, other)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash((self.name, tuple(p.type for p in self.params)))
        return self._hash


def params_equal(a: Any, b: Any) -> bool:
    if isinstance(a, Function) or isinstance(b, Function):
        return isinstance(a, Function) and isinstance(b, Function) and structurally_equal(a, b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind != "f":
            return bool(np.array_equal(a, b))
        # NaNs are equal whatever their payload; 0.0 and -0.0 are not.
        return bool(np.array_equal(a, b, equal_nan=True) and np.array_equal(
            np.signbit(a) & ~np.isnan(a), np.signbit(b) & ~np.isnan(b)))
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True
        if a == 0.0 and math.copysign(1.0, a) != math.copysign(1.0, b):
            return False  # 0.0 and -0.0 differ: 1 / x tells them apart
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(params_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def structurally_equal(f: Function, g: Function) -> bool:
    """Alpha-equivalence: same types, ops, params and wiring, whatever the names."""
    if f.name != g.name or len(f.params) != len(g.params) or len(f.instrs) != len(g.instrs):
        return False
    env: dict[int, Value] = {}
    for p, q in zip(f.params, g.params):
        if p.type != q.type:
            return False
        env[id(p)] = q
    for a, b in zip(f.instrs, g.instrs):
        if (a.prim != b.prim or len(a.inputs) != len(b.inputs) or len(a.outs) != len(b.outs)
                or a.params.keys() != b.params.keys()):
            return False
        if any(env.get(id(x)) is not y for x, y in zip(a.inputs, b.inputs)):
            return False
        if any(not params_equal(a.params[k], b.params[k]) for k in a.params):
            return False
        for x, y in zip(a.outs, b.outs):
            if x.type != y.type:
                return False
            env[id(x)] = y
    return len(f.results) == len(g.results) and all(
        env.get(id(x)) is y for x, y in zip(f.results, g.results))


# --------------------------------------------------------------------------- bind


class Interpreter:
    """What `bind` hands an operation to. Subclasses define `apply`."""

    def apply(self, prim: Primitive, args: Sequence[Any], params: dict[str, Any]) -> Any:
        raise NotImplementedError


_current: contextvars.ContextVar[Interpreter | None] = contextvars.ContextVar(
    "tracejit_interpreter", default=None)
_default: list[Interpreter] = []


def set_default_interpreter(interp: Interpreter) -> None:
    """The interpreter used when no `with interpreting(...)` block is active."""
    _default[:] = [interp]


def current_interpreter() -> Interpreter:
    interp = _current.get()
    if interp is not None:
        return interp
    if _default:
        return _default[0]
    from .interp import NumpyInterpreter
    return NumpyInterpreter()


@contextlib.contextmanager
def interpreting(interp: Interpreter) -> Iterator[Interpreter]:
    token = _current.set(interp)
    try:
        yield interp
    finally:
        _current.reset(token)


def bind(prim: Primitive | str, *args: Any, **params: Any) -> Any:
    """Run one primitive in the current context. Returns one result, or a tuple when the
    primitive has several outputs. Example: `bind("mul", x, y)`."""
    if isinstance(prim, str):
        p = _REGISTRY.get(prim)
        if p is None:
            from .prims import get_primitive
            p = get_primitive(prim)         # raises the KeyError
    else:
        p = prim
    params = p.canonical_params(params)
    interp = _current.get()
    if interp is None:
        interp = _default[0] if _default else current_interpreter()
    return interp.apply(p, args, params)


def results_list(out: Any) -> list[Any]:
    """`bind`'s result as a list of outputs (one, or the tuple of several).
    Example: `results_list(bind("sort", x))` is `[values, indices]`."""
    return list(out) if isinstance(out, tuple) else [out]


# --------------------------------------------------------------------------- building


class Builder(Interpreter):
    """An interpreter that appends each operation to a Function under construction.

    Arguments to `apply` must be Values of this builder (or of an enclosing scope, which
    `lift` turns into parameters)."""

    def __init__(self, name: str = "f"):
        self.name = name
        self.params: list[Value] = []
        self.instrs: list[Instr] = []
        self.defined: set[int] = set()

    def param(self, type: TensorType, hint: str | None = None) -> Value:
        v = Value(type, hint)
        self.params.append(v)
        self.defined.add(id(v))
        return v

    def emit(self, prim: Primitive, inputs: Sequence[Value], params: dict[str, Any]
             ) -> list[Value]:
        for x in inputs:
            if not isinstance(x, Value):
                raise IRError(f"{prim.name}: input {x!r} is not an IR value")
            if id(x) not in self.defined:
                raise IRError(f"{prim.name}: input {x!r} is not defined in function @{self.name}")
        out_types = prim.infer([x.type for x in inputs], params)
        outs = [Value(t) for t in out_types]
        self.instrs.append(Instr(prim.name, inputs, params, outs))
        self.defined.update(id(o) for o in outs)
        return outs

    def apply(self, prim: Primitive, args: Sequence[Any], params: dict[str, Any]) -> Any:
        outs = self.emit(prim, args, params)
        return outs[0] if prim.n_outs(params) == 1 else tuple(outs)

    def build(self, results: Sequence[Value]) -> Function:
        for r in results:
            if id(r) not in self.defined:
                raise IRError(f"result {r!r} is not defined in function @{self.name}")
        return Function(self.name, self.params, self.instrs, results)


from .prims.registry import _REGISTRY, Primitive  # noqa: E402  (cycle: prims use core's types)
