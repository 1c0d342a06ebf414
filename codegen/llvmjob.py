"""One LLVM job: LLVM IR text in, object code out (parse, verify, O3, code generation);
and the loop of a compile worker process that runs such jobs.

This module imports only the standard library and `llvmlite`, never the rest of tracejit:
a worker process (`workers.py`) runs it as a script, without importing tracejit (whose
import costs more than a job on a small module). The engine (`engine.py`) calls
`compile_module` in its own process, under its lock; a worker calls the very same
function, so a module compiled in either place gives byte-identical object code for the
same target machine (triple, CPU name and features).

Invariants:
- Each job parses into its own `llvm.create_context()`, freed with the module before the
  job returns: nothing of one job outlives it (a worker's memory does not grow).
- The worker protocol is frames over its stdin and stdout: an 8-byte prefix (lengths of a
  JSON header and of a payload, little-endian uint32) then the header, then the payload.
  A request's header names the target and the options, its payload is the IR text; a
  reply's header says `ok` (with `warnings`) or gives the `error`, its payload is the
  object code. The worker answers each request in order and exits at the end of its input.
"""
from __future__ import annotations

import json
import os
import struct
import sys
import threading
import time
from typing import IO, Any

import llvmlite.binding as llvm

_PREFIX = struct.Struct("<II")
# Per thread: `free` is True while the thread compiles past llvmlite's lock
# (`llvmthreads.compile_part`); such a thread must not free objects other threads made.
thread_state = threading.local()
INVALID_AFTER_O3 = ("LLVM's optimizer produced invalid IR; this function is compiled "
                    "without optimization")


def target_machine(triple: str, cpu: str, features: str, level: int = 3
                   ) -> llvm.TargetMachine:
    """The target machine code is generated for (JIT code model), at code generation
    level `level` (3 for everything but the entry functions, see `build.ENTRY_CODEGEN`)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_triple(triple)
    return target.create_target_machine(cpu=cpu, features=features, opt=level, jit=True)


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


def optimize(mod: llvm.ModuleRef, tm: llvm.TargetMachine, slp: bool = True) -> None:
    """Run the O3 pipeline on `mod` (without the SLP vectorizer unless `slp`), then free
    the pipeline (see `close_pass_manager`).

    Builder and pipeline are made anew for each module: LLVM's default pipeline runs once
    (its inliner wrapper moves its passes out when it runs; a second run aborts), and
    llvmlite registers instrumentation callbacks into the builder on every run that are
    never removed (a reused builder makes each pass slower with every module: 12 -> 24 ms
    a module after 1,000). A builder leaks about 1.5 KiB (llvmlite never frees its
    `PassInstrumentationCallbacks`).

    After O3, calls to `alwaysinline` functions are inlined once more: the loop
    vectorizer makes new calls to the vector variants of `mathcall`'s functions, and the
    explicit AVX-512 ones (`mathvec`) are meant to be part of the loop that calls them
    (their tables and constants then stay in registers across iterations)."""
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = slp
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    post = None
    try:
        mpm.run(mod, pb)
        post = llvm.create_new_module_pass_manager()
        post.add_always_inliner_pass()
        post.run(mod, pb)
    finally:
        close_pass_manager(mpm)
        if post is not None:
            close_pass_manager(post)
        pb.close()
        pto.close()


def parse(llvm_ir: str, ctx: llvm.ContextRef) -> llvm.ModuleRef:
    """`llvm_ir` parsed into `ctx` and verified (llvmlite's builder accepts ill-typed IR)."""
    mod = llvm.parse_assembly(llvm_ir, context=ctx)
    mod.verify()
    return mod


def valid(mod: llvm.ModuleRef) -> bool:
    """Whether `mod` passes LLVM's verifier."""
    try:
        mod.verify()
    except RuntimeError:
        return False
    return True


def compile_module(llvm_ir: str, tm: llvm.TargetMachine, optimize_: bool = True,
                   slp: bool = True, emit_object: bool = True, want_text: bool = False
                   ) -> tuple[bytes | None, str | None, list[str]]:
    """Parse `llvm_ir` into a fresh context, verify it, run the O3 pipeline (unless not
    `optimize_`) and verify its output (if SLP vectorizing broke it, optimize again
    without the SLP vectorizer; if that breaks it too, keep the unoptimized module).
    Returns the object code (if `emit_object`), the optimized text (if `want_text`) and
    the warnings for the user. Module and context are freed before returning.

    Example: `obj, _, _ = compile_module(text, target_machine(triple, cpu, features))`."""
    warnings: list[str] = []
    ctx = llvm.create_context()
    try:
        mod = parse(llvm_ir, ctx)
        if optimize_:
            optimize(mod, tm, slp)
            if slp and not valid(mod):
                # LLVM's SLP vectorizer can emit invalid IR (a use not dominated by its
                # definition, seen in the second-order gradient of two reverse scans), on
                # which the code generator aborts the process: optimize again without it.
                mod.close()
                mod = parse(llvm_ir, ctx)
                optimize(mod, tm, slp=False)
            if not valid(mod):
                # O3 without SLP can break it too (the same Hessian's module, once small
                # loops became straight-line vector code): generate code for the
                # unoptimized module, which was verified on parsing.
                warnings.append(INVALID_AFTER_O3)
                mod.close()
                mod = parse(llvm_ir, ctx)
        text = str(mod) if want_text else None
        obj = bytes(tm.emit_object(mod)) if emit_object else None
        mod.close()
    finally:
        ctx.close()
    return obj, text, warnings


# --------------------------------------------------------------------------- protocol


def write_frame(out: IO[bytes], header: dict[str, Any], payload: bytes) -> None:
    """Write one frame (see the module docstring) and flush it."""
    head = json.dumps(header).encode()
    out.write(_PREFIX.pack(len(head), len(payload)))
    out.write(head)
    out.write(payload)
    out.flush()


def _read_exactly(inp: IO[bytes], n: int) -> bytes | None:
    chunks = []
    while n:
        data = inp.read(n)
        if not data:
            return None
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def read_frame(inp: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """The next frame's header and payload, or None at the end of the input (a frame cut
    short counts as the end)."""
    prefix = _read_exactly(inp, _PREFIX.size)
    if prefix is None:
        return None
    n_head, n_payload = _PREFIX.unpack(prefix)
    head = _read_exactly(inp, n_head) if n_head else b""
    payload = _read_exactly(inp, n_payload) if n_payload else b""
    if head is None or payload is None:
        return None
    header: dict[str, Any] = json.loads(head)
    return header, payload


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """Answer compile requests from `inp` on `out` until `inp` ends. A request's header
    holds `triple`, `cpu`, `features`, `optimize` and `slp`; its payload is LLVM IR text.
    A failure of one job is its reply (`ok` false, `error` the message): the worker
    carries on with the next one."""
    machines: dict[tuple[str, str, str], llvm.TargetMachine] = {}
    while True:
        request = read_frame(inp)
        if request is None:
            return
        header, payload = request
        try:
            key = (header["triple"], header["cpu"], header["features"])
            if key not in machines:
                machines[key] = target_machine(*key)
            cpu = time.process_time()
            obj, _, warnings = compile_module(payload.decode(), machines[key],
                                              bool(header["optimize"]), bool(header["slp"]))
            assert obj is not None
            write_frame(out, {"ok": True, "warnings": warnings,
                              "cpu": time.process_time() - cpu}, obj)
        except Exception as e:
            write_frame(out, {"ok": False, "error": f"{type(e).__name__}: {e}"}, b"")


def main() -> None:
    """The worker's entry point: serve on the process's stdin and stdout. Anything else
    that writes to file descriptor 1 (native code) goes to stderr instead, so only
    replies reach the caller."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, out)
