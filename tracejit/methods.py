"""Compiled methods: `@tj.function` on a method gives each instance a compiled function
of its own, as TensorFlow does (its own traces, trace count and first-call Variables).

Invariants:
- `obj.method` is the same `BoundCompiledFunction` each time while `obj` lives; it holds
  `obj` weakly, and the class's function holds it in a table keyed by `id(obj)` whose
  entry goes when `obj` dies (so the instance is never kept alive by its methods).
- The instance is passed as the first argument of the per-instance compiled function,
  so it is keyed as before (by its attributes): changing an attribute the method reads
  retraces.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compile import CompiledFunction
    from .concrete import Concrete
    from .stages import Lowered


class BoundCompiledFunction:
    """A compiled method bound to one instance (`obj.method` of a `@tj.function` method)."""

    def __init__(self, function: CompiledFunction, obj: Any):
        self._function = function
        self._ref = weakref.ref(obj)
        self.__name__ = function.__name__
        self.__doc__ = function.__doc__
        self.__wrapped__ = function.python_function

    def _obj(self) -> Any:
        obj = self._ref()
        if obj is None:
            raise ReferenceError(f"the instance of compiled method {self.__name__!r} is gone")
        return obj

    @property
    def python_function(self) -> Any:
        return self._function.python_function

    @property
    def input_signature(self) -> Any:
        return self._function.input_signature

    @property
    def trace_count(self) -> int:
        return self._function.trace_count

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function(self._obj(), *args, **kwargs)

    def get_concrete_function(self, *args: Any, **kwargs: Any) -> Concrete:
        """`CompiledFunction.get_concrete_function` for this instance."""
        return self._function.get_concrete_function(self._obj(), *args, **kwargs)

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """`CompiledFunction.lower` for this instance."""
        return self._function.lower(self._obj(), *args, **kwargs)

    def experimental_get_tracing_count(self) -> int:
        """How many times this instance's method has been traced."""
        return self._function.trace_count

    def __repr__(self) -> str:
        return f"<compiled method {self.__name__} of {self._ref()!r}>"


def bind_method(owner: CompiledFunction, obj: Any) -> BoundCompiledFunction | None:
    """The compiled method `owner` of `obj` (made and remembered on first use), or None if
    `obj` cannot be weakly referenced."""
    from .compile import CompiledFunction
    key = id(obj)
    table = owner._instances

    def gone(_: Any, key: int = key) -> None:
        table.pop(key, None)
    try:
        ref = weakref.ref(obj, gone)
    except TypeError:
        return None
    with owner._lock:                   # two threads' first `obj.method`: one function
        hit = table.get(key)
        if hit is not None and hit[0]() is obj:
            return hit[1]               # type: ignore[no-any-return]
        fn = CompiledFunction(owner.python_function, owner.__name__, owner.input_signature,
                              owner._reduce_retracing, method=True)
        bound = BoundCompiledFunction(fn, obj)
        table[key] = (ref, bound)
    return bound
