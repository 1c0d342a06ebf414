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
import re
import struct
from collections.abc import Callable

from ..ir import Function
from ..ir.errors import CompileError
from . import engine, irtext, objcache, runtime
# The runtime libraries compile on a background thread while the rest of tracejit imports,
# unless the disk cache has them (`runtime.prefetch`). Started as soon as `runtime` is
# loaded: every import the thread runs finds its module loaded by then (their disk-cache
# keys do not need `build` and `call`, `objcache.environment`), for a module two threads
# import at once can reach one of them half made when their imports form a cycle.
runtime.prefetch()
from . import segments  # noqa: E402
from .inline import inline_calls  # noqa: E402
from .build import ENTRY_CODEGEN, build_module  # noqa: E402
from .call import ABI, Boxing, Executable  # noqa: E402
from .parts import Parts  # noqa: E402
from .poly import PolyExecutable  # noqa: E402
from .rules import LOWERINGS, LoweringError  # noqa: E402
# The rule modules: each enters its lowering rules into `rules.LOWERINGS` when imported.
from . import (lower_elementwise, lower_kernels, lower_random, lower_region,  # noqa: F401,E402
               lower_shape)
from . import lower_arith, lower_scans, lower_segment_ops, lower_sorting  # noqa: F401,E402
from . import lower_conv, lower_lapack, lower_lapack_decomp, lower_pool  # noqa: F401,E402

log = logging.getLogger("tracejit")

__all__ = ["LOWERINGS", "Boxing", "CompileError", "Executable", "LoweringError", "PolyExecutable",
           "compile_function", "fusion_plan", "load_executable", "load_traced"]


def fusion_plan(fn: Function) -> str:
    """The fusion plan of `fn` as text: its loop nests (what each stores, reduces and
    computes), kernels, bounds checks and scratch buffers, with value numbers as
    `print_function` shows `fn` (calls inlined first)."""
    from .fusion import make_plan
    from .plan import format_plan
    return format_plan(make_plan(inline_calls(fn)))


def compile_function(fn: Function, *, cache: bool = True,
                     traced: Function | None = None) -> Executable:
    """Lower, optimize (O3, host CPU) and JIT-compile `fn`; with `cache`, reuse object
    code from the disk cache (`objcache`) when an earlier process compiled the same
    Function on the same install and host. A large Function is compiled as several
    modules at once, in worker processes (`parts.py`). `traced`: the Function `fn` is
    the IR-optimized form of, under whose key the code is found next time without
    optimizing it again (`load_traced`).

    Example: `compile_function(fn)(np.ones(3, np.float32))`."""
    key = None
    if cache and objcache.enabled():
        from ..ir.printer import print_function
        key = objcache.key_for(print_function(fn))
        obj = objcache.load(key)
        if obj is not None:
            try:
                exe = load_executable(fn, obj)
            except Exception as e:  # unusable object code: rebuild and replace it
                log.debug("disk cache entry %s cannot be loaded (%s): rebuilding it",
                          key[:16], e)
            else:
                if traced is not None:
                    _store_alias(traced, fn, key, exe)
                return exe
    log.debug("compiling @%s with LLVM", fn.name)
    parts = Parts(fn.name)
    try:
        module, flat, entries, plan_cost = build_module(fn, ABI, parts=parts)
        text, entry_text = irtext.module_text(module), irtext.module_text(entries)
        slp = plan_cost <= segments.SLP_MAX_COST
        # The entry module and the main module compile here while the workers compile
        # the other parts (the entry module first: not after waiting for them).
        entry_obj = engine.compile_object(entry_text, optimize=False, level=ENTRY_CODEGEN)
        objs = parts.objects(text, slp) + [entry_obj]
    finally:
        parts.close()
    texts = [text] + parts.texts + [entry_text]
    for t in texts:
        runtime.ensure(t)
    obj = engine.bundle(objs)
    if key:
        objcache.store(key, obj)
    exe = Executable(fn, engine.load_object(obj), texts, flat=flat, slp=slp)
    exe.object_code = obj
    if key and traced is not None:
        _store_alias(traced, fn, key, exe)
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


# A traced Function's disk-cache entry (an alias): the key of its optimized Function's
# object code and the bytes of its scratch arena.
_ALIAS = struct.Struct("<32sQ")
ALIAS = "disk cache alias"      # how the log names such entries


# A parameter the printer cannot write out (`<array of dtype ...>`, `<type repr>`): the
# text does not determine the Function, so it has no alias.
_UNPRINTABLE = re.compile(r"[=(,]<")


def _alias_key(traced: Function) -> str | None:
    from ..ir.printer import print_function
    text = print_function(traced)
    if _UNPRINTABLE.search(text):
        return None
    # Tagged: a trace the passes leave as it is has the same text as its optimized form.
    return objcache.key_for("traced Function, before the IR passes\0" + text)


def _store_alias(traced: Function, fn: Function, key: str, exe: Executable) -> None:
    """Record that `traced` optimizes to `fn`, whose object code is under `key`. The IR
    passes are a function of the traced IR and of `ir`'s sources, which every key
    covers, so the next process can skip them (`load_traced`)."""
    alias = _alias_key(traced)
    if alias and traced.in_types == fn.in_types and traced.out_types == fn.out_types:
        objcache.store(alias, _ALIAS.pack(bytes.fromhex(key), exe._sig.scratch), ALIAS)


def load_traced(traced: Function, optimized: Callable[[], Function]) -> Executable | None:
    """The executable of the IR-optimized form of `traced` from the disk cache, found by
    the traced Function's key (stored by `compile_function(..., traced=traced)` in this
    or an earlier process): no IR passes, lowering or LLVM. `optimized()` makes the
    optimized Function when the executable first needs it (see `Executable`). None when
    the cache has no such entry or its object code cannot be loaded."""
    key = _alias_key(traced) if objcache.enabled() else None
    if key is None:
        return None
    alias = objcache.load(key, ALIAS)
    if alias is None or len(alias) != _ALIAS.size:
        return None
    digest, scratch = _ALIAS.unpack(alias)
    obj = objcache.load(digest.hex())
    if obj is None:
        return None
    try:
        runtime.ensure(obj)
        exe = Executable(traced, engine.load_object(obj), None, slp=False,
                         optimized=optimized, scratch=scratch)
    except Exception as e:  # unusable object code: the caller compiles (and replaces it)
        log.debug("disk cache entry %s cannot be loaded (%s)", digest.hex()[:16], e)
        return None
    exe.object_code = obj
    return exe
