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
import threading
from collections.abc import Callable
from typing import Any

import llvmlite.binding as llvm

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
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=_state["cpu"], features=_state["features"],
                                        opt=3, jit=True)


def host_info() -> dict[str, str]:
    """The triple, data layout, CPU name and feature string code is compiled for."""
    with LLVM_LOCK:
        _init()
        return {"triple": _state["triple"], "data_layout": str(_state["tm"].target_data),
                "cpu": _state["cpu"], "features": _state["features"]}


def _optimize(mod: llvm.ModuleRef, slp: bool = True) -> None:
    """Run the O3 pipeline on `mod` (without the SLP vectorizer unless `slp`), then free
    the pipeline (see `close_pass_manager`).

    Builder and pipeline are made anew for each module: LLVM's default pipeline runs once
    (its inliner wrapper moves its passes out when it runs; a second run aborts), and
    llvmlite registers instrumentation callbacks into the builder on every run that are
    never removed (a reused builder makes each pass slower with every module: 12 -> 24 ms
    a module after 1,000). A builder leaks about 1.5 KiB (llvmlite never frees its
    `PassInstrumentationCallbacks`)."""
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = slp
    pb = llvm.create_pass_builder(_state["tm"], pto)
    mpm = pb.getModulePassManager()
    try:
        mpm.run(mod, pb)
    finally:
        close_pass_manager(mpm)
        pb.close()
        pto.close()


def _valid(mod: llvm.ModuleRef) -> bool:
    """Whether `mod` passes LLVM's verifier."""
    try:
        mod.verify()
    except RuntimeError:
        return False
    return True


def close_pass_manager(pm: Any) -> None:
    """Free a new-pass-manager pipeline (`ModulePassManager` or `FunctionPassManager`).

    In llvmlite 0.50 their `close()` frees nothing: the no-op `ObjectRef._dispose` comes
    before `NewPassManager._dispose` in their method resolution order. An O3 pipeline left
    so keeps about 108 KiB of native memory per optimized module. Call the disposer
    directly while that is so (and `close()` once llvmlite fixes it)."""
    from llvmlite.binding import ffi, newpassmanagers
    if type(pm)._dispose is ffi.ObjectRef._dispose:
        newpassmanagers.NewPassManager._dispose(pm)
        pm.detach()
    else:
        pm.close()


def _parse(llvm_ir: str, ctx: llvm.ContextRef) -> llvm.ModuleRef:
    mod = llvm.parse_assembly(llvm_ir, context=ctx)
    mod.verify()
    return mod


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


def _optimized(llvm_ir: str, emit_object: bool, optimize: bool = True, slp: bool = True
               ) -> tuple[str, bytes | None]:
    """Parse `llvm_ir` into a fresh context, verify it, run the O3 pipeline (unless not
    `optimize`) and verify its output (if SLP vectorizing broke it, optimize again without
    the SLP vectorizer; if that breaks it too, keep the unoptimized module); return the
    optimized text and, if asked, the object code. Module and context are freed before
    returning, so nothing of the IR outlives this call."""
    with LLVM_LOCK:
        _init()
        ctx = llvm.create_context()
        try:
            mod = _parse(llvm_ir, ctx)
            if optimize:
                _optimize(mod, slp)
                if slp and not _valid(mod):
                    # LLVM's SLP vectorizer can emit invalid IR (a use not dominated by
                    # its definition, seen in the second-order gradient of two reverse
                    # scans), on which the code generator aborts the process: optimize
                    # again without it.
                    mod.close()
                    mod = _parse(llvm_ir, ctx)
                    _optimize(mod, slp=False)
                if not _valid(mod):
                    # O3 without SLP can break it too (the same Hessian's module, once
                    # small loops became straight-line vector code): generate code for
                    # the unoptimized module, which was verified on parsing.
                    log.warning("LLVM's optimizer produced invalid IR; this function is "
                                "compiled without optimization")
                    mod.close()
                    mod = _parse(llvm_ir, ctx)
            text = str(mod)
            obj = bytes(_state["tm"].emit_object(mod)) if emit_object else None
            mod.close()
        finally:
            ctx.close()
        return text, obj


def jit(llvm_ir: str, on_object: Callable[[bytes], None] | None = None,
        optimize: bool = True, slp: bool = True) -> JitModule:
    """Parse, verify, optimize at O3 for the host, generate an object file and load it
    into MCJIT (so a live executable holds only its machine code). `on_object` receives
    the object code (for the disk cache). With `optimize=False` the IR goes straight to
    the code generator (for IR written as explicit vector code, which O3 cannot improve
    but takes 2-3x as long to compile); with `slp=False` without the SLP vectorizer
    (for very large modules, `segments.SLP_MAX_COST`).

    Example: `jm = jit(str(module)); addr = jm.address("entry")`."""
    optimized, obj = _optimized(llvm_ir, emit_object=True, optimize=optimize, slp=slp)
    assert obj is not None
    if on_object is not None:
        on_object(obj)
    jm = load_object(obj)
    jm.optimized_ir = optimized
    return jm


def optimize_ir(llvm_ir: str) -> str:
    """`llvm_ir` after the O3 pipeline, as text (no code generation)."""
    return _optimized(llvm_ir, emit_object=False)[0]


def load_object(obj: bytes) -> JitModule:
    """A JitModule from object code that `jit` produced before (a disk-cache hit): no
    parsing, optimization or code generation. Its optimized IR is not available."""
    with LLVM_LOCK:
        _init()
        ctx = llvm.create_context()
        try:
            empty = llvm.parse_assembly("", context=ctx)
            engine = llvm.create_mcjit_compiler(empty, _new_target_machine())
            engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
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
