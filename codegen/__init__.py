"""tracejit.codegen: IR `Function` -> LLVM IR (llvmlite) -> native code, callable from
Python with NumPy arrays.

    from tracejit.codegen import compile_function
    exe = compile_function(fn)      # fn: tracejit.ir.Function
    outs = exe(*arrays)             # one new np.ndarray per result
    exe.llvm_ir, exe.llvm_ir_unoptimized, exe.asm

Depends on `tracejit.ir` only (never on the user API).
"""
from __future__ import annotations

import logging

from ..ir import Function
from ..ir.errors import CompileError
from . import engine, objcache, runtime, segments
from .inline import inline_calls
from .build import build_module
from .call import ABI, Boxing, Executable
from .parts import Parts
from .poly import PolyExecutable
from .rules import LOWERINGS, LoweringError
# The rule modules: each enters its lowering rules into `rules.LOWERINGS` when imported.
from . import (lower_elementwise, lower_kernels, lower_random, lower_region,  # noqa: F401,E402
               lower_shape)
from . import lower_arith, lower_scans, lower_segment_ops, lower_sorting  # noqa: F401,E402
from . import lower_conv, lower_lapack, lower_lapack_decomp, lower_pool  # noqa: F401,E402

log = logging.getLogger("tracejit")

__all__ = ["LOWERINGS", "Boxing", "CompileError", "Executable", "LoweringError", "PolyExecutable",
           "compile_function", "fusion_plan", "load_executable"]


def fusion_plan(fn: Function) -> str:
    """The fusion plan of `fn` as text: its loop nests (what each stores, reduces and
    computes), kernels, bounds checks and scratch buffers, with value numbers as
    `print_function` shows `fn` (calls inlined first)."""
    from .fusion import make_plan
    from .plan import format_plan
    return format_plan(make_plan(inline_calls(fn)))


def compile_function(fn: Function, *, cache: bool = True) -> Executable:
    """Lower, optimize (O3, host CPU) and JIT-compile `fn`; with `cache`, reuse object
    code from the disk cache (`objcache`) when an earlier process compiled the same
    Function on the same install and host. A large Function is compiled as several
    modules at once, in worker processes (`parts.py`).

    Example: `compile_function(fn)(np.ones(3, np.float32))`."""
    key = None
    if cache and objcache.enabled():
        from ..ir.printer import print_function
        key = objcache.key_for(print_function(fn))
        obj = objcache.load(key)
        if obj is not None:
            try:
                return load_executable(fn, obj)
            except Exception as e:  # unusable object code: rebuild and replace it
                log.debug("disk cache entry %s cannot be loaded (%s): rebuilding it",
                          key[:16], e)
    log.debug("compiling @%s with LLVM", fn.name)
    parts = Parts(fn.name)
    try:
        module, flat = build_module(fn, ABI, parts=parts)
        text = str(module)
        slp = module.plan_cost <= segments.SLP_MAX_COST
        # The main module compiles here while the workers compile the other parts.
        objs = parts.objects(text, slp)
    finally:
        parts.close()
    texts = [text] + parts.texts
    for t in texts:
        runtime.ensure(t)
    obj = engine.bundle(objs)
    if key:
        objcache.store(key, obj)
    exe = Executable(fn, engine.load_object(obj), texts, flat=flat, slp=slp)
    exe.object_code = obj
    return exe


def load_executable(fn: Function, obj: bytes) -> Executable:
    """The executable of `fn` from object code compiled for it before on this host and
    install (`Executable.object_code`; the caller checks that with `objcache.key_for`):
    no lowering, optimization or code generation.

    Example: `load_executable(fn, compile_function(fn).object_code)(*arrays)`."""
    runtime.ensure(obj)
    exe = Executable(fn, engine.load_object(obj), None, flat=inline_calls(fn), slp=False)
    exe.object_code = obj
    return exe
