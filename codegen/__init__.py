"""tracejit.codegen: IR `Function` -> LLVM IR (llvmlite) -> native code, callable from
Python with NumPy arrays.

    from tracejit.codegen import compile_function
    exe = compile_function(fn)      # fn: tracejit.ir.Function
    outs = exe(*arrays)             # one new np.ndarray per result
    exe.llvm_ir, exe.llvm_ir_unoptimized, exe.asm

Depends on `tracejit.ir` only (never on the user API).
"""
from __future__ import annotations

from ..ir import Function
from . import engine
from .call import ABI, Executable
from .lower import LOWERINGS, LoweringError, build_module

__all__ = ["LOWERINGS", "Executable", "LoweringError", "compile_function"]


def compile_function(fn: Function) -> Executable:
    """Lower, optimize (O3, host CPU) and JIT-compile `fn`.

    Example: `compile_function(fn)(np.ones(3, np.float32))`."""
    module, flat = build_module(fn, ABI)
    text = str(module)
    return Executable(fn, engine.jit(text), text, flat=flat)
