"""The LLVM types of NumPy dtypes, and constants of them.

Elements live in registers as their dtype's LLVM type (`reg_type`: `i1` for bool) and in
memory as the NumPy layout (`mem_type`: `i8` for bool).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir

from .loops import I64

I1, I8, I32 = ir.IntType(1), ir.IntType(8), ir.IntType(32)
F32, F64 = ir.FloatType(), ir.DoubleType()
_REG = {"float32": F32, "float64": F64, "int32": I32, "int64": I64, "bool": I1}
_MEM = dict(_REG, bool=I8)
VOIDP = I8.as_pointer()


# The same keyed by the dtypes themselves (the common case: no `np.dtype` call).
_REG_DT = {np.dtype(k): v for k, v in _REG.items()}
_MEM_DT = {np.dtype(k): v for k, v in _MEM.items()}


def reg_type(dtype: Any) -> ir.Type:
    t = _REG_DT.get(dtype) if isinstance(dtype, np.dtype) else None
    return t if t is not None else _REG[np.dtype(dtype).name]


def mem_type(dtype: Any) -> ir.Type:
    t = _MEM_DT.get(dtype) if isinstance(dtype, np.dtype) else None
    return t if t is not None else _MEM[np.dtype(dtype).name]


def scalar_constant(value: Any, dtype: Any) -> ir.Constant:
    dt = np.dtype(dtype)
    ty = reg_type(dt)
    if dt.kind == "f":
        return ir.Constant(ty, float(np.asarray(value, dt)))
    if dt.kind == "b":
        return ir.Constant(ty, int(bool(value)))
    return ir.Constant(ty, int(np.asarray(value, dt)))
