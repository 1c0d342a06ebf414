"""Calling LAPACK from generated code: the routines of NumPy's bundled OpenBLAS.

NumPy's OpenBLAS (`blas.find_blas`) exports LAPACK in the Fortran interface with 64-bit
integers: `scipy_dpotrf_64_(char *uplo, int64 *n, double *a, int64 *lda, int64 *info)`,
every argument by reference, matrices column-major, then one hidden `size_t` length per
character argument (gfortran's convention; routines written in C ignore them).
`call(lw, routine, dtype, args)` emits such a call: integers and characters are stored
into stack slots of the kernel and passed by pointer, buffers are passed as they are.

Invariants:
- A routine whose symbol the library does not export, or a NumPy without the bundled
  OpenBLAS, raises `LapackMissing` (a LoweringError naming the symbol) at lowering time:
  native code never calls an unresolved symbol.
- Workspace sizes are asked of the library at lowering time (`workspace`, LAPACK's
  `lwork = -1` query through ctypes) for the static matrix sizes of the instruction, so a
  kernel allocates its workspace once, before its batch loop. The library is part of
  every compiled-object cache key (`blas.blas_info`), so a cached kernel never meets
  another library's workspace needs.
"""
from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir

from .blas import find_blas, lapack_symbol
from .irbuild import new_function
from .llvmtypes import I8, mem_type
from .loops import I64, const
from .rules import LoweringError

if TYPE_CHECKING:
    from .lower import Lowerer


class LapackMissing(LoweringError):
    """The LAPACK routine a linear-algebra primitive needs is not available."""


def dtype_code(dtype: Any) -> str:
    return "f32" if np.dtype(dtype) == np.float32 else "f64"


def _handle_and_name(routine: str, dtype: Any) -> tuple[ctypes.CDLL, str]:
    lib = find_blas()
    name = lapack_symbol(routine, dtype_code(dtype))
    if lib is None:
        raise LapackMissing(
            f"{routine}: native code calls LAPACK ({name}) from the OpenBLAS that NumPy "
            "wheels bundle, and this NumPy has none (built against another BLAS); run "
            "the function eagerly (tj.config.run_functions_eagerly(True))")
    if not hasattr(lib.handle, name):
        raise LapackMissing(f"{routine}: {lib.describe()} does not export {name}")
    return lib.handle, name


def declare(module: ir.Module, routine: str, dtype: Any, n_args: int, n_chars: int
            ) -> ir.Function:
    """The external LAPACK function in `module`: `n_args` pointer arguments, then
    `n_chars` hidden string lengths."""
    _, name = _handle_and_name(routine, dtype)
    fn = module.globals.get(name)
    if fn is None:
        fty = ir.FunctionType(ir.VoidType(), [I8.as_pointer()] * n_args + [I64] * n_chars)
        fn = new_function(module, fty, name)
        fn.attributes.add("nounwind")
    return fn


def call(lw: Lowerer, routine: str, dtype: Any, args: Sequence[Any]) -> None:
    """Call `routine` with `args`: a `str` is a character argument, an `int` or an i64
    `ir.Value` an integer argument, and a pointer `ir.Value` a buffer."""
    b = lw.b
    ptrs = []
    n_chars = 0
    for a in args:
        if isinstance(a, str):
            slot = lw.alloca(I8, "ch")
            b.store(ir.Constant(I8, ord(a)), slot)
            ptrs.append(slot)
            n_chars += 1
        elif isinstance(a, int) or (isinstance(a, ir.Value) and a.type == I64):
            slot = lw.alloca(I64, "int")
            b.store(const(a) if isinstance(a, int) else a, slot)
            ptrs.append(b.bitcast(slot, I8.as_pointer()))
        else:
            ptrs.append(b.bitcast(a, I8.as_pointer()))
    fn = declare(lw.module, routine, dtype, len(ptrs), n_chars)
    b.call(fn, ptrs + [const(1)] * n_chars)


def scalar_slot(lw: Lowerer, dtype: Any, value: float) -> ir.Value:
    """A stack slot holding `value` (for BLAS's alpha)."""
    slot = lw.alloca(mem_type(np.dtype(dtype)), "alpha")
    lw.b.store(ir.Constant(mem_type(np.dtype(dtype)), value), slot)
    return slot


def workspace(routine: str, dtype: Any, args: Sequence[Any]) -> tuple[int, int]:
    """(lwork, liwork): the optimal workspace sizes LAPACK reports for a call with `args`,
    where `"work"`/`"iwork"` mark the workspace arrays (their sizes become -1: the
    query) and `"lwork"`/`"liwork"` their sizes; `str` characters, `int` integers, and
    `None` any other array (a dummy is passed)."""
    handle, name = _handle_and_name(routine, dtype)
    fn = getattr(handle, name)
    fn.restype = None
    ctype = ctypes.c_float if dtype_code(dtype) == "f32" else ctypes.c_double
    work = (ctype * 1)()
    iwork = (ctypes.c_int64 * 1)()
    dummy = (ctype * 1)()
    keep: list[Any] = []
    passed: list[Any] = []
    chars = 0
    for a in args:
        if a == "work":
            passed.append(work)
        elif a == "iwork":
            passed.append(iwork)
        elif a in ("lwork", "liwork"):
            v = ctypes.c_int64(-1)
            keep.append(v)
            passed.append(ctypes.byref(v))
        elif isinstance(a, str):
            c = ctypes.c_char(a.encode())
            keep.append(c)
            passed.append(ctypes.byref(c))
            chars += 1
        elif isinstance(a, int):
            v = ctypes.c_int64(a)
            keep.append(v)
            passed.append(ctypes.byref(v))
        else:
            passed.append(dummy)
    fn(*passed, *([ctypes.c_size_t(1)] * chars))
    return max(1, int(work[0])), max(1, int(iwork[0]))
