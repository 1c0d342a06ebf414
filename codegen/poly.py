"""Executables of Functions with unknown dimensions (`input_signature` with `None`).

`compile_polymorphic(fn)` gives one callable for every argument shape that matches
`fn`'s symbolic parameter types. A call binds the symbols to the arguments' dims
(`ir.specialize.bind_arguments`) and checks, once per set of values, what the trace had to
assume (`ir.specialize.specialize` runs every shape rule again on the concrete shapes and
raises the eager error). Then:

- when every instruction lowers with runtime sizes (`runtime_sizes_blocker` finds none),
  the one native code of `fn` runs for every shape (`lower_dims.py`: the dims are read
  from the argument arrays at run time);
- otherwise each new set of dimension values compiles `fn` specialized to them (the
  fallback: correct, one compile per shape; an INFO log names the primitive that needs
  it).

Invariants: native code is only ever called with argument shapes that bind the symbols
and pass every shape rule; the specialized executables are kept per set of values in a
small LRU map (`SPECIALIZED_MAX`).
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir import Function, dims
from ..ir.errors import ShapeError
from ..ir.specialize import bind_arguments, specialize

log = logging.getLogger("tracejit")

SPECIALIZED_MAX = 16

#: Counts of compiles, for tests and benchmarks: "runtime" (one code for every shape) and
#: "specialized" (one per set of dimension values).
COUNTS: dict[str, int] = {"runtime": 0, "specialized": 0}


class PolyExecutable:
    """`exe(*arrays)` for a Function with unknown dimensions (see the module docstring)."""

    def __init__(self, fn: Function, compile_static: Callable[[Function], Any]):
        self.fn = fn
        self._compile = compile_static
        self._lock = threading.Lock()
        self._checked: dict[tuple[int, ...], Function] = {}
        self._specialized: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.blocker = runtime_sizes_blocker(fn)
        self._runtime: Any = None
        self.names = sorted({s for p in fn.params for s in dims.symbols(p.type.shape)})
        if self.blocker is not None:
            log.info("@%s: %s does not lower with runtime sizes yet; compiling once per "
                     "shape of the unknown dimensions %s", fn.name, self.blocker,
                     ", ".join(self.names))

    def bind(self, arrays: tuple[Any, ...]) -> tuple[tuple[int, ...], Function]:
        """The values of the symbols for these arguments and `fn` specialized to them
        (checked: ValueError naming the shapes when they do not match)."""
        if len(arrays) != len(self.fn.params):
            raise TypeError(f"@{self.fn.name} takes {len(self.fn.params)} argument(s), "
                            f"got {len(arrays)}")
        env = bind_arguments(self.fn, [np.shape(a) for a in arrays])
        key = tuple(env[s] for s in self.names)
        hit = self._checked.get(key)
        if hit is None:
            hit = specialize(self.fn, env)      # raises the eager shape error
            with self._lock:
                if len(self._checked) >= 4 * SPECIALIZED_MAX:
                    self._checked.clear()
                self._checked[key] = hit
        return key, hit

    def __call__(self, *arrays: Any) -> list[np.ndarray]:
        try:
            key, static = self.bind(arrays)
        except ShapeError as e:
            raise ShapeError(f"@{self.fn.name}: {e}") from None
        if self.blocker is None:
            return self.runtime()(*arrays)   # type: ignore[no-any-return]
        return self.specialized(key, static)(*arrays)  # type: ignore[no-any-return]

    def runtime(self) -> Any:
        if self._runtime is None:
            with self._lock:
                if self._runtime is None:
                    self._runtime = self._compile(self.fn)
                    COUNTS["runtime"] += 1
        return self._runtime

    def specialized(self, key: tuple[int, ...], static: Function) -> Any:
        with self._lock:
            exe = self._specialized.get(key)
            if exe is not None:
                self._specialized.move_to_end(key)
                return exe
        log.info("@%s: compiling for %s (%s needs concrete sizes)", self.fn.name,
                 ", ".join(f"{s}={v}" for s, v in zip(self.names, key)), self.blocker)
        exe = self._compile(static)
        with self._lock:
            COUNTS["specialized"] += 1
            self._specialized[key] = exe
            while len(self._specialized) > SPECIALIZED_MAX:
                self._specialized.popitem(last=False)
        return exe

    def __repr__(self) -> str:
        return f"<PolyExecutable @{self.fn.name} {self.fn.in_types} -> {self.fn.out_types}>"


def runtime_sizes_blocker(fn: Function) -> str | None:
    """None when every instruction of `fn` lowers with runtime sizes, else the name of
    (the first) primitive that does not."""
    from .lower_dims import blocker
    return blocker(fn)
