"""The native engine: host target machine, the O3 pipeline, and MCJIT.

Invariants:
- Every LLVM call made here runs under `LLVM_LOCK` (one re-entrant, module-level lock):
  llvmlite serializes LLVM anyway, and the lock keeps contexts and engines from being
  created and disposed concurrently.
- Code targets the host: `llvm.get_host_cpu_name()` and its features, never a fixed CPU.
- Each module is parsed into its own `llvm.create_context()` and verified before it is
  optimized or compiled; a `JitModule` owns its engine (which owns the module and its own
  target machine) and its context, and disposes them in that order.
- The pipeline is the new pass manager at O3 with loop and SLP vectorization (the
  runtime library's explicit vector code skips it: `jit(optimize=False)`; very large
  modules skip the SLP vectorizer: `jit(slp=False)`).
"""
from __future__ import annotations

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
# Contexts of live engines. A context must outlive its engine, and garbage collection may
# finalize objects of a cycle in any order, so only `JitModule.close` releases one.
_contexts: dict[int, llvm.ContextRef] = {}


def _init() -> None:
    if "ready" not in _state:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _state["cpu"] = llvm.get_host_cpu_name()
        features = llvm.get_host_cpu_features().flatten()
        if "+avx512f" in features.split(","):
            # LLVM's tuning for several AVX-512 CPUs caps loops at 256-bit vectors (to
            # spare the clock of early parts); the vector math measured 20-35% faster
            # with the full 512 bits on the CPUs this was tuned on.
            features += ",-prefer-256-bit"
        _state["features"] = features
        _state["triple"] = llvm.get_process_triple()
        _state["tm"] = _new_target_machine()
        _state["ready"] = True


def _new_target_machine() -> llvm.TargetMachine:
    return llvmjob.target_machine(llvm.get_process_triple(), _state["cpu"], _state["features"])


def host_info() -> dict[str, str]:
    """The triple, data layout, CPU name and feature string code is compiled for."""
    with LLVM_LOCK:
        _init()
        return {"triple": _state["triple"], "data_layout": str(_state["tm"].target_data),
                "cpu": _state["cpu"], "features": _state["features"]}


def _parse(llvm_ir: str, ctx: llvm.ContextRef) -> llvm.ModuleRef:
    return llvmjob.parse(llvm_ir, ctx)


close_pass_manager = llvmjob.close_pass_manager


class JitModule:
    """A module compiled to machine code in memory. `address(name)` gives a function's
    entry point; the code lives until `close()` (or garbage collection)."""

    def __init__(self, engine: llvm.ExecutionEngine, ctx: llvm.ContextRef, optimized_ir: str):
        self._engine: llvm.ExecutionEngine | None = engine
        self._key: int | None = id(ctx)
        _contexts[id(ctx)] = ctx
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
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            if self._key is not None:
                _contexts.pop(self._key).close()
                self._key = None

    def __del__(self) -> None:
        # At interpreter shutdown llvmlite (and even this module's globals) may already be
        # torn down: nothing to free then.
        try:
            self.close()
        except Exception:
            pass


def _optimized(llvm_ir: str, emit_object: bool, optimize: bool = True, slp: bool = True,
               want_text: bool = True) -> tuple[str | None, bytes | None]:
    """`llvmjob.compile_module` for the host, in this process: the optimized text (if
    `want_text`) and the object code (if `emit_object`) of `llvm_ir`."""
    with LLVM_LOCK:
        _init()
        obj, text, warnings = llvmjob.compile_module(llvm_ir, _state["tm"], optimize, slp,
                                                     emit_object, want_text)
    for w in warnings:
        log.warning(w)
    return text, obj


def compile_object(llvm_ir: str, optimize: bool = True, slp: bool = True) -> bytes:
    """The object code of `llvm_ir` for the host (O3 unless not `optimize`), made in this
    process. Example: `load_object(compile_object(str(module)))`."""
    obj = _optimized(llvm_ir, emit_object=True, optimize=optimize, slp=slp,
                     want_text=False)[1]
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
        optimize: bool = True, slp: bool = True) -> JitModule:
    """Parse, verify, optimize at O3 for the host, generate an object file and load it
    into MCJIT (so a live executable holds only its machine code). `on_object` receives
    the object code (for the disk cache). With `optimize=False` the IR goes straight to
    the code generator (for IR written as explicit vector code, which O3 cannot improve
    but takes 2-3x as long to compile); with `slp=False` without the SLP vectorizer
    (for very large modules, `segments.SLP_MAX_COST`).

    Example: `jm = jit(str(module)); addr = jm.address("entry")`."""
    obj = compile_object(llvm_ir, optimize=optimize, slp=slp)
    if on_object is not None:
        on_object(obj)
    return load_object(obj)


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


def load_object(obj: bytes) -> JitModule:
    """A JitModule from object code that `jit` produced before (a disk-cache hit), or a
    `bundle` of object files, linked together in one engine: no parsing, optimization or
    code generation. Its optimized IR is not available."""
    objs = unbundle(obj)
    with LLVM_LOCK:
        _init()
        ctx = llvm.create_context()
        try:
            empty = llvm.parse_assembly("", context=ctx)
            engine = llvm.create_mcjit_compiler(empty, _new_target_machine())
            for o in objs:
                engine.add_object_file(llvm.ObjectFileRef.from_data(o))
            engine.finalize_object()
        except BaseException:
            ctx.close()
            raise
        return JitModule(engine, ctx, "")


def assembly(llvm_ir: str) -> str:
    """Host assembly for (already optimized) LLVM IR text."""
    with LLVM_LOCK:
        _init()
        ctx = llvm.create_context()
        try:
            mod = _parse(llvm_ir, ctx)
            text = str(_state["tm"].emit_assembly(mod))
            mod.close()
        finally:
            ctx.close()
        return text
