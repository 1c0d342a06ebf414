"""Call keys of `tj.compile`: which calls may share one trace.

Invariants:
- Two calls get equal keys only if tracing either would build the same Function:
  * tensors and NumPy arrays by shape and dtype (their values are parameters);
  * Variables passed as arguments by shape, dtype, trainability and aliasing (which
    argument positions hold the same Variable): they are passed by reference;
  * Python and NumPy scalars by type and value; floats bit for bit (`-0.0` and `0.0` are
    different keys, a `nan` equals the same `nan`);
  * plain objects (dataclasses, instances whose class defines no `__hash__`/`__eq__`) by
    the keys of their attributes, recursively; tensors, arrays and Variables inside them
    by identity (the trace captures or bakes those very objects);
  * objects with their own `__hash__` by their own equality; functions, classes and
    modules by identity.
- A key never holds a strong reference to a tensor, array, Variable or plain object:
  identity is held by weak reference, and a dead object's key never equals a live one's,
  so an address recycled by a new object never matches an old trace. (Objects with their
  own `__hash__`, and the few that cannot be weakly referenced, are held by the key.)
- An argument no key can be made for (a `set`, a weakref, an unhashable object without
  attributes) raises `TypeError` saying why and what to pass instead.
"""
from __future__ import annotations

import dataclasses
import functools
import struct
import types
import weakref
from typing import Any
from collections.abc import Callable

import numpy as np

from .ir.caches import on_clear
from .tensor import Tensor, raw_shape
from .variable import Variable

# Plain objects with more attribute values than this (in all, recursively) or nested
# deeper are keyed by identity instead: keying them by value would cost more per call
# than the call itself.
MAX_NODES = 1000
MAX_DEPTH = 16

_OPAQUE = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
           types.ModuleType, type, functools.partial, types.CodeType)
_SCALARS = (bool, int, str, bytes, type(None))


class _WeakId:
    """Identity of an object, held weakly; equal only while both referents are alive and
    the same object."""

    __slots__ = ("ref", "h", "__weakref__")

    def __init__(self, obj: Any):
        self.ref = weakref.ref(obj)
        self.h = id(obj)

    def __hash__(self) -> int:
        return self.h

    def __eq__(self, o: object) -> bool:
        if type(o) is not _WeakId or o.h != self.h:
            return False
        a = self.ref()
        return a is not None and a is o.ref()

    def __repr__(self) -> str:
        return f"<object {type(self.ref()).__name__}>"


class _StrongId:
    """Identity of an object that cannot be weakly referenced (held by the key)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, o: object) -> bool:
        return type(o) is _StrongId and o.obj is self.obj


def identity(obj: Any) -> Any:
    try:
        return _WeakId(obj)
    except TypeError:
        return _StrongId(obj)


def float_bits(x: Any) -> bytes:
    """The bits of a float scalar: the static-float key (`-0.0 != 0.0`, `nan == nan`)."""
    if isinstance(x, np.generic):
        return x.tobytes()
    return _PACK_DOUBLE(x)


_PACK_DOUBLE = struct.Struct("<d").pack


class _TooBig(Exception):
    pass


def leaf_key(x: Any, aliases: dict[int, int], pos: int,
             describe: Callable[[], str]) -> Any:
    """The key of one flattened argument at position `pos`; `aliases` maps id(Variable)
    to the first position it was passed at; `describe()` names the argument in errors."""
    t = type(x)
    if t is Tensor or isinstance(x, Tensor):
        return ("T", raw_shape(x), x.dtype.str)
    if t is np.ndarray or isinstance(x, np.ndarray):
        return ("T", x.shape, x.dtype.str)
    if isinstance(x, Variable):
        first = aliases.setdefault(id(x), pos)
        return ("V", raw_shape(x), x.dtype.str, x.trainable, first)
    if t in _SCALARS:
        return ("S", t, x)
    if isinstance(x, set):
        raise TypeError(
            f"{describe()} is a set: a compiled function keys Python arguments by value, "
            "and a set is mutable and unhashable, so a later call could not be told apart "
            "from this one. Pass a frozenset or a tuple (or tensors) instead.")
    if isinstance(x, weakref.ref):
        raise TypeError(
            f"{describe()} is a weakref, which compiled functions do not accept: its "
            "referent may die or change between calls, so no trace can be keyed by it. "
            "Pass the object itself.")
    budget = [MAX_NODES]
    try:
        return static_key(x, {}, budget, 0, describe)
    except _TooBig:
        return ("I", identity(x))


def _kind(t: type) -> str:
    """How values of type `t` are keyed (cached per type: the ladder of isinstance checks
    would otherwise run for every attribute of every call)."""
    k = _KINDS.get(t)
    if k is None:
        if t in _SCALARS:
            k = "S"
        elif issubclass(t, (float, np.floating)):
            k = "F"
        elif issubclass(t, (complex, np.complexfloating)):
            k = "C"
        elif issubclass(t, np.generic):
            k = "G"
        elif issubclass(t, (Tensor, Variable, np.ndarray)):
            k = "R"
        elif issubclass(t, weakref.ref):
            k = "W"
        elif issubclass(t, _OPAQUE):
            k = "I"
        elif issubclass(t, (list, tuple)):
            k = "seq"
        elif issubclass(t, dict):
            k = "dict"
        elif issubclass(t, (set, frozenset)):
            k = "set"
        elif dataclasses.is_dataclass(t):
            k = "O"
        elif t.__eq__ is not object.__eq__ or t.__hash__ is not object.__hash__:
            k = "H"                   # its own equality: used if it hashes
        else:
            k = "O"
        if len(_KINDS) > _TYPES_KEPT:   # classes made at run time must not pile up
            _KINDS.clear()
            _SLOTS.clear()
        _KINDS[t] = k
    return k


_KINDS: dict[type, str] = {}
_TYPES_KEPT = 4096


def static_key(x: Any, seen: dict[int, int], budget: list[int], depth: int,
               describe: Callable[[], str]) -> Any:
    """The key of a Python (static) value; see the module docstring for the rules."""
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise _TooBig
    t = type(x)
    k = _KINDS.get(t) or _kind(t)
    if k == "S":
        return ("S", t, x)
    if k == "F":
        return ("F", t, _PACK_DOUBLE(x) if t is float else float_bits(x))
    if k == "C":
        return ("F", t, float_bits(x.real), float_bits(x.imag))
    if k == "G":
        return ("S", t, x.item())
    if k == "R":
        # Read by the trace, these are captured (or, for arrays, baked): that very object.
        return ("R", identity(x))
    if k == "W":
        obj = x()
        return ("W", None if obj is None else identity(obj))
    if k == "I":
        return ("I", identity(x))
    if id(x) in seen:                       # a cycle: name the object it points back to
        return ("cycle", seen[id(x)])
    seen[id(x)] = len(seen)
    depth += 1
    try:
        if k == "seq":
            return (t, tuple(static_key(e, seen, budget, depth, describe) for e in x))
        if k == "dict":
            return (t, tuple((static_key(a, seen, budget, depth, describe),
                              static_key(v, seen, budget, depth, describe))
                             for a, v in x.items()))
        if k == "set":
            return (t, frozenset(static_key(e, seen, budget, depth, describe) for e in x))
        if k == "H":
            try:
                hash(x)
                return ("H", t, x)
            except TypeError:
                pass
        attrs = _attributes(x)
        if attrs is None:
            if k == "H":
                raise TypeError(
                    f"{describe()} is an unhashable {t.__name__} without attributes to "
                    "compare, so a compiled function cannot tell whether a later call "
                    "passes the same value. Make it hashable (define __hash__ and __eq__, "
                    "or use a frozen dataclass), or pass its numbers as tensors.")
            return ("I", identity(x))
        return ("O", t, tuple((name, static_key(v, seen, budget, depth, describe))
                              for name, v in attrs))
    finally:
        del seen[id(x)]


def _attributes(x: Any) -> list[tuple[str, Any]] | None:
    """An object's instance attributes (`__dict__` and `__slots__`), or None if it has
    neither (a builtin or extension object)."""
    slots = _slots_of(type(x))
    d = getattr(x, "__dict__", None)
    if not isinstance(d, dict):
        if slots is None:
            return None
        out: list[tuple[str, Any]] = []
    else:
        out = list(d.items())
    for name in slots or ():
        out.append((name, getattr(x, name, _UNSET)))
    return out


def _slots_of(t: type) -> tuple[str, ...] | None:
    """The instance slots a class and its bases declare (None if none declares any)."""
    hit = _SLOTS.get(t, _UNSET)
    if hit is not _UNSET:
        return hit  # type: ignore[return-value]
    names: list[str] = []
    declared = False
    for cls in t.__mro__:
        slots = cls.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for name in slots:
            if name not in ("__dict__", "__weakref__"):
                declared = True
                names.append(name)
    result = tuple(names) if declared else None
    _SLOTS[t] = result
    return result


_UNSET: Any = ("unset",)
_SLOTS: dict[type, tuple[str, ...] | None] = {}


def _clear_type_memos() -> None:
    _KINDS.clear()
    _SLOTS.clear()


# Plain dicts rather than locked Memos: they are read on every compiled call, each read or
# write is one atomic dict operation, and an entry is a pure function of its type (two
# threads computing it agree).
on_clear("compile keys: kinds and slots of types", _clear_type_memos)


def describe(k: Any) -> str:
    """A key of one argument in words, for the retrace diagnostics."""
    kind = k[0]
    if kind == "T":
        return f"a tensor of shape {tuple(k[1])} and dtype {np.dtype(k[2]).name}"
    if kind == "V":
        return f"a Variable of shape {tuple(k[1])} and dtype {np.dtype(k[2]).name}"
    if kind == "S":
        return f"the Python value {k[2]!r}"
    if kind == "F":
        v = np.frombuffer(k[2], np.float64 if len(k[2]) == 8 else
                          {4: np.float32, 2: np.float16}.get(len(k[2]), np.float64))[0]
        return f"the Python value {float(v)!r}"
    if kind == "O":
        return f"a {k[1].__name__} with different attribute values"
    if kind == "H":
        return f"a different {k[1].__name__}"
    return "a different Python object"
