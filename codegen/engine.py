"""The native engine: host target machine, the O3 pipeline, and MCJIT.

Invariants:
- Every LLVM call made here runs under `LLVM_LOCK` (one re-entrant, module-level lock):
  llvmlite serializes LLVM anyway, and the lock keeps contexts and engines from being
  created and disposed concurrently.
- Code targets the host: `llvm.get_host_cpu_name()` and its features, never a fixed CPU.
- Each module is parsed into its own `llvm.create_context()` and verified before it is
  optimized or compiled; a `JitModule` owns its engine (which owns the module and its own
  target machine) and its context, and disposes them in that order, under the lock. Both
  stay referenced from `_live` until then, so the garbage collector never finalizes
  them itself: llvmlite's own finalizer would dispose the engine without the lock, on
  the collecting thread, and concurrently with the `_free` of its deferred JitModule.
- An engine only links object files made before (`load_object`): its empty module's
  code is the first object file, handed to MCJIT through its object cache, so nothing
  is compiled and its target machine is the triple's generic CPU (`_loader_machine`).
  A load cost 1.0 ms with a host target machine compiling the empty module, 0.2 now.
- Code that lives as long as the process (the runtime libraries, the native dispatcher)
  is linked into ONE engine (`load_object(permanent=True)`), made once and never freed
  (not even at interpreter exit: thread pool workers run its code until the process
  ends); its objects must define distinct global names. Each further object costs only
  its own linking (0.1 instead of 0.4 ms).
- The pipeline is the new pass manager at O3 with loop and SLP vectorization (the
  runtime library's explicit vector code skips it: `jit(optimize=False)`; very large
  modules skip the SLP vectorizer: `jit(slp=False)`).
"""
from __future__ import annotations

import ctypes
import logging
import struct
import threading
from collections.abc import Callable
from typing import Any

import llvmlite.binding as llvm

from . import llvmjob

log = logging.getLogger("tracejit")

LLVM_LOCK = threading.RLock()

_state: dict[str, Any] = {}
# The engine and context of every JitModule not yet freed, by the context's id. A context
# must outlive its engine, and garbage collection finalizes the objects of a cycle in any
# order: an engine only a collected JitModule referenced had llvmlite's `__del__` dispose
# it on the collecting thread, without the lock, while the JitModule's own finalizer
# deferred it and the next load disposed it too ("Exception ignored in ObjectRef.__del__
# ... Don't know how to convert parameter 1", or a double free). Referenced from here, an
# engine and its context are never garbage: only `_free` releases them.
_live: dict[int, tuple[llvm.ExecutionEngine, llvm.ContextRef]] = {}


def _init() -> None:
    if "ready" not in _state:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _state["cpu"] = llvm.get_host_cpu_name()
        # `FeatureMap.flatten()`'s string, made in a third of its time (0.05 ms).
        features = ",".join([("+" if on else "-") + name for name, on
                             in sorted(llvm.get_host_cpu_features().items())])
        if "+avx512f" in features.split(","):
            # LLVM's tuning for several AVX-512 CPUs caps loops at 256-bit vectors (to
            # spare the clock of early parts); the vector math measured 20-35% faster
            # with the full 512 bits on the CPUs this was tuned on.
            features += ",-prefer-256-bit"
        _state["features"] = features
        _state["triple"] = llvm.get_process_triple()
        _state["ready"] = True


def _new_target_machine(level: int = 3) -> llvm.TargetMachine:
    return llvmjob.target_machine(llvm.get_process_triple(), _state["cpu"], _state["features"],
                                  level)


def host_machine(level: int = 3) -> llvm.TargetMachine:
    """The host's target machine code is compiled with, at code generation level `level`
    (made at its first use: loading object code from the disk cache never needs it)."""
    with LLVM_LOCK:
        _init()
        key = "tm" if level == 3 else f"tm{level}"
        if key not in _state:
            _state[key] = _new_target_machine(level)
        return _state[key]


def _loader_machine() -> llvm.TargetMachine:
    """A new target machine for an engine that only links object files: the generic CPU
    of the host's triple at code generation level 0 (see the invariants). The engine
    takes ownership of it. The one `host_info(machine=False)` made for the data layout
    is handed to the first such engine (making one costs 0.15-0.2 ms). Called under the
    lock."""
    spare = _state.pop("spare_loader", None)
    if spare is not None:
        return spare
    return llvm.Target.from_triple(_state["triple"]).create_target_machine(opt=0, jit=True)


def host_info(machine: bool = True) -> dict[str, str]:
    """The triple, data layout, CPU name and feature string code is compiled for. Without
    `machine`, the data layout is that of the triple's generic CPU: the same (LLVM derives
    it from the triple alone), without making the host's target machine (for `objcache`'s
    key on a disk-cache hit, which never compiles)."""
    with LLVM_LOCK:
        _init()
        if machine:
            layout = str(host_machine().target_data)
        else:
            if "layout" not in _state:
                tm = _loader_machine()
                _state["layout"] = str(tm.target_data)
                _state["spare_loader"] = tm
            layout = _state["layout"]
        return {"triple": _state["triple"], "data_layout": layout,
                "cpu": _state["cpu"], "features": _state["features"]}


def _parse(llvm_ir: str, ctx: llvm.ContextRef) -> llvm.ModuleRef:
    return llvmjob.parse(llvm_ir, ctx)


close_pass_manager = llvmjob.close_pass_manager


class JitModule:
    """A module compiled to machine code in memory. `address(name)` gives a function's
    entry point; the code lives until `close()` (or garbage collection)."""

    def __init__(self, engine: llvm.ExecutionEngine, ctx: llvm.ContextRef | None,
                 optimized_ir: str):
        """`ctx` None: the engine is the permanent one (`load_object(permanent=True)`),
        which `close()` leaves alone."""
        self._engine: llvm.ExecutionEngine | None = engine
        self._key: int | None = None if ctx is None else id(ctx)
        if ctx is not None:
            _live[id(ctx)] = (engine, ctx)
        self.optimized_ir = optimized_ir

    def address(self, name: str) -> int:
        """The entry point of function `name`."""
        return self._lookup(name, "function")

    def global_address(self, name: str) -> int:
        """The address of global variable `name`."""
        return self._lookup(name, "global")

    def _lookup(self, name: str, kind: str) -> int:
        with LLVM_LOCK:
            assert self._engine is not None, "JitModule is closed"
            get = (self._engine.get_function_address if kind == "function"
                   else self._engine.get_global_value_address)
            addr = get(name)
        if not addr:
            raise LookupError(f"no {kind} {name!r} in the compiled module")
        return int(addr)

    def close(self) -> None:
        with LLVM_LOCK:
            _free(self._key)
            self._engine = self._key = None
            _close_deferred()

    def __del__(self) -> None:
        # At interpreter shutdown llvmlite (and even this module's globals) may already be
        # torn down: nothing to free then. The garbage collector runs this on whatever
        # thread allocates: one that must not wait for the engine's lock (a thread whose
        # result the lock's holder is waiting for: a deadlock) or that runs past
        # llvmlite's lock (`llvmthreads`) leaves the freeing to the next load or close.
        try:
            if getattr(llvmjob.thread_state, "free", False) or not LLVM_LOCK.acquire(
                    blocking=False):
                _deferred.append(self._key)
                self._engine = self._key = None
                return
            try:
                self.close()
            finally:
                LLVM_LOCK.release()
        except Exception:
            pass


# Keys (in `_live`) of JitModules collected where they could not be freed at once
# (`JitModule.__del__`); freed under the lock by the next `load_object` or `close`.
_deferred: list[int | None] = []


# Engines `_free` could not dispose, with their contexts: referenced until the process
# ends, so that the garbage collector does not free a context its engine still uses.
_kept: list[tuple[Any, Any]] = []


def _free(key: int | None) -> None:
    """Free the engine and context `_live` holds under `key`, a JitModule's (the permanent
    engine has no key and is never freed). Under `LLVM_LOCK`. An engine llvmlite refuses
    to dispose (its handle already detached) is left to the process, and so is its
    context, which the engine may still use: freeing memory never fails the load or close
    that does it."""
    if key is None:
        return
    engine, ctx = _live.pop(key)
    try:
        engine.close()
    except Exception as e:      # noqa: BLE001
        log.debug("an execution engine could not be disposed (%s); kept", e)
        _kept.append((engine, ctx))     # (dropped, they would be freed)
        return
    ctx.close()


def _close_deferred() -> None:
    while _deferred:
        _free(_deferred.pop())


def _optimized(llvm_ir: str, emit_object: bool, optimize: bool = True, slp: bool = True,
               want_text: bool = True, level: int = 3) -> tuple[str | None, bytes | None]:
    """`llvmjob.compile_module` for the host, in this process: the optimized text (if
    `want_text`) and the object code (if `emit_object`, at code generation level
    `level`) of `llvm_ir`."""
    with LLVM_LOCK:
        obj, text, warnings = llvmjob.compile_module(llvm_ir, host_machine(level), optimize,
                                                     slp, emit_object, want_text)
    for w in warnings:
        log.warning(w)
    return text, obj


def compile_object(llvm_ir: str, optimize: bool = True, slp: bool = True, level: int = 3
                   ) -> bytes:
    """The object code of `llvm_ir` for the host (O3 unless not `optimize`; code
    generation level `level`), made in this process.
    Example: `load_object(compile_object(str(module)))`."""
    obj = _optimized(llvm_ir, emit_object=True, optimize=optimize, slp=slp,
                     want_text=False, level=level)[1]
    assert obj is not None
    return obj


def job_header(optimize: bool = True, slp: bool = True) -> dict[str, Any]:
    """The header of a worker request (`llvmjob.serve`) that compiles for this host exactly
    as `compile_object` does."""
    with LLVM_LOCK:
        _init()
        return {"triple": _state["triple"], "cpu": _state["cpu"],
                "features": _state["features"], "optimize": optimize, "slp": slp}


def jit(llvm_ir: str, on_object: Callable[[bytes], None] | None = None,
        optimize: bool = True, slp: bool = True, permanent: bool = False) -> JitModule:
    """Parse, verify, optimize at O3 for the host, generate an object file and load it
    into MCJIT (so a live executable holds only its machine code). `on_object` receives
    the object code (for the disk cache). With `optimize=False` the IR goes straight to
    the code generator (for IR written as explicit vector code, which O3 cannot improve
    but takes 2-3x as long to compile); with `slp=False` without the SLP vectorizer
    (for very large modules, `segments.SLP_MAX_COST`); `permanent` as `load_object`'s.

    Example: `jm = jit(str(module)); addr = jm.address("entry")`."""
    obj = compile_object(llvm_ir, optimize=optimize, slp=slp)
    if on_object is not None:
        on_object(obj)
    return load_object(obj, permanent=permanent)


def optimize_ir(llvm_ir: str, slp: bool = True) -> str:
    """`llvm_ir` after the O3 pipeline (without the SLP vectorizer unless `slp`), as text
    (no code generation)."""
    text = _optimized(llvm_ir, emit_object=False, slp=slp)[0]
    assert text is not None
    return text


_BUNDLE = b"TJOBJS\x00"
_COUNT = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")


def bundle(objs: list[bytes]) -> bytes:
    """Several object files as one byte string that `load_object` links in one engine (a
    module compiled in parts, see `parts.py`); one object file stays as it is."""
    if len(objs) == 1:
        return objs[0]
    return b"".join([_BUNDLE, _COUNT.pack(len(objs))] + [_LENGTH.pack(len(o)) for o in objs]
                    + objs)


def unbundle(data: bytes) -> list[bytes]:
    """The object files of `bundle(objs)` (`[data]` for a plain object file); raises
    ValueError when the bundle is cut short or too long."""
    if not data.startswith(_BUNDLE):
        return [data]
    at = len(_BUNDLE)
    (n,) = _COUNT.unpack_from(data, at)
    at += _COUNT.size
    sizes = [_LENGTH.unpack_from(data, at + k * _LENGTH.size)[0] for k in range(n)]
    at += n * _LENGTH.size
    if at + sum(sizes) != len(data):
        raise ValueError("object bundle of the wrong length")
    objs = []
    for size in sizes:
        objs.append(data[at:at + size])
        at += size
    return objs


def load_object(obj: bytes, permanent: bool = False) -> JitModule:
    """A JitModule from object code that `jit` produced before (a disk-cache hit), or a
    `bundle` of object files, linked together in one engine: no parsing, optimization or
    code generation. Its optimized IR is not available. With `permanent`, the code is
    linked into the process's permanent engine instead and lives until the process ends
    (for code every later module may call: its global names must be unique there)."""
    objs = unbundle(obj)
    with LLVM_LOCK:
        _init()
        _close_deferred()
        if permanent:
            return _load_permanent(objs)
        ctx = llvm.create_context()
        engine = None
        try:
            engine = _linking_engine(ctx, objs[0])
            for o in objs[1:]:
                engine.add_object_file(llvm.ObjectFileRef.from_data(o))
            engine.finalize_object()
        except BaseException:
            if engine is not None:
                engine.close()          # before the context its module lives in
            ctx.close()
            raise
        return JitModule(engine, ctx, "")


def _linking_engine(ctx: llvm.ContextRef, first: bytes) -> llvm.ExecutionEngine:
    """An engine whose (empty) module's object code is `first`: MCJIT asks its object
    cache for a module's code before compiling it, so the next `finalize_object` links
    `first` and never builds a code generation pipeline (that cost 0.2 ms a load, and
    1 ms for the first of a process). Called under the lock."""
    pending = [first]
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly("", context=ctx),
                                        _loader_machine())
    engine.set_object_cache(getbuffer_func=lambda _module: pending.pop() if pending else None)
    return engine


def _load_permanent(objs: list[bytes]) -> JitModule:
    """`objs` linked into the permanent engine (made at the first call; called under the
    lock)."""
    engine = _state.get("permanent")
    if engine is None:
        ctx = llvm.create_context()
        engine = _linking_engine(ctx, objs[0])
        objs = objs[1:]
        # Never freed, not even when the interpreter clears this module at exit.
        for keep in (ctx, engine):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(keep))
        _state["permanent"] = engine
    for o in objs:
        engine.add_object_file(llvm.ObjectFileRef.from_data(o))
    engine.finalize_object()
    return JitModule(engine, None, "")


def assembly(llvm_ir: str, level: int = 3) -> str:
    """Host assembly for (already optimized) LLVM IR text, at code generation level
    `level`."""
    with LLVM_LOCK:
        ctx = llvm.create_context()
        try:
            mod = _parse(llvm_ir, ctx)
            text = str(host_machine(level).emit_assembly(mod))
            mod.close()
        finally:
            ctx.close()
        return text
