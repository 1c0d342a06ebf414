"""Executables of Functions with unknown dimensions (`input_signature` with `None`).

`compile_polymorphic(fn)` gives one callable for every argument shape that matches
`fn`'s symbolic parameter types. A call binds the symbols to the arguments' dims
(`ir.specialize.bind_arguments`) and checks, once per set of values, what the trace had to
assume (`ir.specialize.specialize` runs every shape rule again on the concrete shapes and
raises the eager error). Then:

- when every instruction lowers with runtime sizes (`lower_poly.blocker` finds none),
  the one native code of `fn` runs for every shape (`lower_poly.py`: the dims are passed
  to it at each call);
- otherwise each new set of dimension values compiles `fn` specialized to them (the
  fallback: correct, one compile per shape; an INFO log names the primitive that needs
  it).

Invariants: native code is only ever called with argument shapes that bind the symbols
and pass every shape rule; the specialized executables are kept per set of values in a
small LRU map (`SPECIALIZED_MAX`).
"""
from __future__ import annotations

import ctypes
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir import Function, dims
from ..ir.memory import CHECK_ABOVE, check_allocation
from . import engine, lower_poly, objcache, runtime
from .inline import inline_calls
from .poly_core import virtual
from .call import ABI
from .lower import BADARGS, LAYOUT, NOMEM
from .rules import FAILURES
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
        self._checked: dict[tuple[int, ...], tuple[Function, bool]] = {}
        self._specialized: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.blocker = runtime_sizes_blocker(fn)
        self.requires = lower_poly.requirements(fn) if self.blocker is None else []
        # The instructions whose values runtime-sized code never stores (fused).
        fused = virtual(fn) if self.blocker is None else set()
        self._fused = {k for k, ins in enumerate(fn.instrs)
                       if ins.outs and all(id(o) in fused for o in ins.outs)}
        self._runtime: Any = None
        # Argument shapes seen before (checked, runtime-sized) -> `RuntimeSized.sizes`.
        self._by_shape: dict[tuple[Any, ...], Any] = {}
        self.names = lower_poly.symbol_names(fn)
        if self.blocker is not None:
            log.info("@%s: %s does not lower with runtime sizes yet; compiling once per "
                     "shape of the unknown dimensions %s", fn.name, self.blocker,
                     ", ".join(self.names))

    def bind(self, arrays: tuple[Any, ...]) -> tuple[tuple[int, ...], tuple[Function, bool]]:
        """The values of the symbols for these arguments, `fn` specialized to them
        (checked: ValueError naming the shapes when they do not match), and whether the
        runtime-sized code serves them."""
        if len(arrays) != len(self.fn.params):
            raise TypeError(f"@{self.fn.name} takes {len(self.fn.params)} argument(s), "
                            f"got {len(arrays)}")
        env = bind_arguments(self.fn, [np.shape(a) for a in arrays])
        key = tuple(env[s] for s in self.names)
        hit = self._checked.get(key)
        if hit is None:
            static = specialize(self.fn, env)      # raises the eager shape error
            _check_memory(static, self._fused)
            hit = (static, self.blocker is None and all(
                dims.evaluate(a, env) == dims.evaluate(b, env) for a, b in self.requires))
            with self._lock:
                if len(self._checked) >= 4 * SPECIALIZED_MAX:
                    self._checked.clear()
                self._checked[key] = hit
        return key, hit

    def __call__(self, *arrays: Any) -> list[np.ndarray]:
        try:
            hit = self._by_shape.get(tuple([a.shape for a in arrays]))
        except AttributeError:
            hit = None
        if hit is not None:
            outs = self._runtime.fast(hit, arrays)
            if outs is not None:
                return outs     # type: ignore[no-any-return]
        try:
            key, (static, native) = self.bind(arrays)
        except ShapeError as e:
            raise ShapeError(f"@{self.fn.name}: {e}") from None
        if native:
            env = dict(zip(self.names, key))
            rt = self.runtime()
            sizes = rt.sizes(key, env)
            if len(self._by_shape) > 4 * SPECIALIZED_MAX:
                self._by_shape.clear()
            self._by_shape[tuple(np.shape(a) for a in arrays)] = sizes
            return rt.run(key, env, arrays)  # type: ignore[no-any-return]
        return self.specialized(key, static)(*arrays)  # type: ignore[no-any-return]

    def runtime(self) -> Any:
        if self._runtime is None:
            with self._lock:
                if self._runtime is None:
                    self._runtime = RuntimeSized(self.fn)
                    COUNTS["runtime"] += 1
        return self._runtime

    def specialized(self, key: tuple[int, ...], static: Function) -> Any:
        with self._lock:
            exe = self._specialized.get(key)
            if exe is not None:
                self._specialized.move_to_end(key)
                return exe
        log.info("@%s: compiling for %s (%s needs concrete sizes)", self.fn.name,
                 ", ".join(f"{s}={v}" for s, v in zip(self.names, key)),
                 self.blocker or "broadcasting an unknown dimension of 1")
        exe = self._compile(static)
        with self._lock:
            COUNTS["specialized"] += 1
            self._specialized[key] = exe
            while len(self._specialized) > SPECIALIZED_MAX:
                self._specialized.popitem(last=False)
        return exe

    def _note(self) -> str:
        return (f"; @{self.fn.name}: {self.blocker} needs concrete sizes: compiled once per "
                f"shape of {', '.join(self.names)} when called\n")

    @property
    def llvm_ir_unoptimized(self) -> str:
        """The runtime-sized module as lowered (a comment when `fn` compiles per shape)."""
        if self.blocker is not None:
            return self._note()
        return self.runtime().llvm_ir  # type: ignore[no-any-return]

    @property
    def llvm_ir(self) -> str:
        """The runtime-sized module after the O3 pipeline."""
        if self.blocker is not None:
            return self._note()
        return engine.optimize_ir(self.llvm_ir_unoptimized)

    @property
    def asm(self) -> str:
        """Host assembly of the runtime-sized module."""
        if self.blocker is not None:
            return self._note()
        return engine.assembly(self.llvm_ir)

    def __repr__(self) -> str:
        return f"<PolyExecutable @{self.fn.name} {self.fn.in_types} -> {self.fn.out_types}>"


def _check_memory(static: Function, fused: set[int]) -> None:
    """MemoryError, before anything is allocated, when a value of `fn` at these sizes
    would overflow 64-bit index arithmetic, or its results and scratch (the values of
    the instructions not numbered in `fused`) exceed the memory available (the checks
    fixed-shape code makes when it is built and called)."""
    from .build import _check_sizes
    _check_sizes(static)
    scratch = sum(o.type.nbytes for k, ins in enumerate(static.instrs) if k not in fused
                  for o in ins.outs)
    if sum(t.nbytes for t in static.out_types) + scratch > CHECK_ABOVE:
        check_allocation(static.out_types, f"@{static.name}", scratch)


def runtime_sizes_blocker(fn: Function) -> str | None:
    """None when every instruction of `fn` lowers with runtime sizes, else the name of
    (the first) primitive that does not."""
    return lower_poly.blocker(fn)


class RuntimeSized:
    """The one native code of a Function with unknown dimensions (`lower_poly`):
    `run(values, env, arrays)` with the symbols' values (in `lower_poly.symbol_names`
    order) already bound and checked."""

    def __init__(self, fn: Function):
        self.fn = fn
        key, obj = None, None
        if objcache.enabled():      # object code of an earlier process, as compile_function
            from ..ir.printer import print_function
            key = objcache.key_for("runtime-sized\n" + print_function(fn))
            obj = objcache.load(key)
        self._text: str | None = None
        if obj is None:
            self._text, self.flat = lower_poly.build_poly(fn, ABI)
            obj = engine.bundle([engine.compile_object(self._text)])
            runtime.ensure(self._text)
            if key:
                objcache.store(key, obj)
        else:
            runtime.ensure(obj)
            self.flat = inline_calls(fn)
        self._jm = engine.load_object(obj)
        proto = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_void_p)
        self._cfunc = proto(self._jm.address(lower_poly.ENTRY))
        self._caller = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p)(
            self._jm.address(lower_poly.CALLER))
        self._in = [(p.type.dtype, p.hint or f"argument {k}") for k, p in enumerate(fn.params)]
        self._n = len(fn.params) + len(fn.results)
        # Per set of dimension values: the result shapes and the dims array (kept alive).
        self._sizes: dict[tuple[int, ...], Any] = {}

    @property
    def llvm_ir(self) -> str:
        """The module as lowered (lowered again when the code came from the disk cache)."""
        if self._text is None:
            self._text = lower_poly.build_poly(self.fn, ABI)[0]
        return self._text

    def sizes(self, values: tuple[int, ...], env: dict[str, int]) -> Any:
        """The result shapes and the dims array for these dimension values (cached)."""
        sizes = self._sizes.get(values)
        if sizes is None:
            if len(self._sizes) > 64:
                self._sizes.clear()
            shapes = [(tuple(dims.evaluate(d, env) for d in r.type.shape), r.type.dtype)
                      for r in self.fn.results]
            dim_values = np.array(values or (0,), np.int64)
            sizes = self._sizes[values] = (shapes, dim_values, dim_values.ctypes.data,
                                           dict(env))
        return sizes

    def fast(self, sizes: Any, arrays: tuple[Any, ...]) -> list[np.ndarray] | None:
        """One native call that reads the arrays natively; None when it refuses them (a
        dtype to convert, a layout to copy: `run` does that), else the results."""
        outs = [np.empty(shape, dt) for shape, dt in sizes[0]]
        status = np.zeros(4, np.int64)
        t = (*arrays, *outs, status, np.ndarray)
        rc = self._caller(sizes[2], id(t))
        if rc == 0:
            return outs
        if rc in (BADARGS, LAYOUT):
            return None
        return self._failed(rc, status, sizes[3])  # type: ignore[no-any-return]

    def _failed(self, rc: int, status: np.ndarray, env: dict[str, int]) -> Any:
        if rc == NOMEM:
            raise MemoryError(f"@{self.fn.name}: cannot allocate scratch memory")
        # The failing instruction with the shapes of this call (the messages name them,
        # as fixed-shape code's do).
        ins = inline_calls(specialize(self.fn, env)).instrs[rc - 1]
        index, bound = int(status[0]), int(status[1])
        failure = FAILURES.get(ins.prim)
        if failure is not None:
            raise failure(ins, index, bound)
        raise IndexError(f"{ins.prim}: index {index} is out of bounds for size {bound}")

    def run(self, values: tuple[int, ...], env: dict[str, int], arrays: tuple[Any, ...]
            ) -> list[np.ndarray]:
        conv = []
        for a, (dt, name) in zip(arrays, self._in):
            a = np.asarray(a)
            if a.dtype != dt:
                raise TypeError(f"@{self.fn.name}: {name} must have dtype {dt}, got an array "
                                f"of dtype {a.dtype} and shape {a.shape}")
            if not (a.flags.c_contiguous and a.flags.aligned):
                a = np.array(a, order="C", copy=True)
            conv.append(a)
        sizes = self.sizes(values, env)
        outs = [np.empty(shape, dt) for shape, dt in sizes[0]]
        ptrs = (ctypes.c_void_p * self._n)(*[x.ctypes.data for x in conv + outs])
        status = np.zeros(4, np.int64)
        rc = self._cfunc(sizes[2], ctypes.addressof(ptrs), status.ctypes.data)
        if rc == 0:
            return outs
        return self._failed(rc, status, env)  # type: ignore[no-any-return]
