"""Linear algebra: `matmul` with TensorFlow's semantics.

Invariants: both operands have rank >= 2 and one float dtype; the last two axes are the
matrix axes (swapped by `transpose_a`/`transpose_b`), the leading axes are batch axes and
broadcast as NumPy does. The VJP gives batch-broadcast cotangents; the autodiff pass sums
them back to each operand's shape.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..core import FLOAT_DTYPES, TensorType, dtype_name
from ..errors import DTypeError, ShapeError
from ..dims import dims_equal
from .elementwise import _same_dtype, broadcast_shapes
from .tangents import multilinear
from .registry import Primitive, register


def _matmul_rule(a: TensorType, b: TensorType, *, transpose_a: bool, transpose_b: bool
                 ) -> TensorType:
    dt = _same_dtype("matmul", a, b)
    if dt not in FLOAT_DTYPES:
        raise DTypeError(f"matmul needs float32 or float64 operands, got {dtype_name(dt)}")
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError(f"matmul needs operands of rank >= 2 (as TensorFlow), got {a} and {b}; "
                         "use tj.reshape or tj.tensordot for vectors")
    m, k = (a.shape[-1], a.shape[-2]) if transpose_a else (a.shape[-2], a.shape[-1])
    k2, n = (b.shape[-1], b.shape[-2]) if transpose_b else (b.shape[-2], b.shape[-1])
    if dims_equal(k, k2) is False:   # unknown dims: checked at run time (dims.specialize)
        raise ShapeError(f"matmul inner dimensions differ: {a} @ {b} "
                         f"(transpose_a={transpose_a}, transpose_b={transpose_b}) has "
                         f"{k} != {k2}")
    try:
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ShapeError:
        raise ShapeError(f"matmul batch dimensions do not broadcast: {a} and {b}") from None
    return TensorType(batch + (m, n), dt)


def _matmul_impl(a: np.ndarray, b: np.ndarray, *, transpose_a: bool, transpose_b: bool
                 ) -> np.ndarray:
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    if np.may_share_memory(a, b):
        # NumPy computes x.T @ x with syrk when both views share one buffer, which rounds
        # differently from gemm: the reference result must depend on values only, not on
        # whether a pass (CSE, simplify) made the two operands one value.
        b = b.copy()
    return np.asarray(np.matmul(a, b), dtype=a.dtype)


def _matmul_vjp(g: Any, a: Any, b: Any, *, out: Any, transpose_a: bool, transpose_b: bool
                ) -> tuple[Any, Any]:
    mm = ops.matmul
    if not transpose_a and not transpose_b:
        return mm(g, b, False, True), mm(a, g, True, False)
    if transpose_a and not transpose_b:
        return mm(b, g, False, True), mm(a, g, False, False)
    if not transpose_a and transpose_b:
        return mm(g, b, False, False), mm(g, a, True, False)
    return mm(b, g, True, True), mm(g, a, True, True)


register(Primitive("matmul", kind="kernel",
                   params={"transpose_a": False, "transpose_b": False},
                   shape_rule=_matmul_rule, impl=_matmul_impl, vjp=_matmul_vjp, n_inputs=2,
                   jvp=multilinear("matmul")))
