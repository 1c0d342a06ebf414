"""Matrix helpers the linear-algebra VJP rules are written with (`lapack`, `lapack_decomp`).

Every helper only calls `bind` (through `ir.ops`), so a rule built from them is again a
program of primitives and can be differentiated again. Matrices are the last two axes of
an operand; leading axes are batch axes, and the masks and identities made here broadcast
over them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dims, ops
from ..core import FLOAT_DTYPES, TensorType, bind, dtype_name
from ..errors import DTypeError, ShapeError

I64 = np.dtype(np.int64)


def check_matrix(op: str, a: TensorType, square: bool = True) -> None:
    """A float operand of rank >= 2 (square matrices when `square`), or a clear error."""
    if a.dtype not in FLOAT_DTYPES:
        raise DTypeError(f"{op} needs a float32 or float64 matrix, got {dtype_name(a.dtype)}")
    if a.ndim < 2:
        raise ShapeError(f"{op} needs a tensor of rank >= 2 (matrices in the last two axes), "
                         f"got {a}")
    if square and dims.dims_equal(a.shape[-1], a.shape[-2]) is False:
        # (two unknown sizes are assumed equal; `specialize` checks them at run time)
        raise ShapeError(f"{op} needs square matrices, got {a}")


def mT(x: Any) -> Any:
    """x with its last two axes swapped."""
    r = len(x.shape)
    return ops.transpose(x, tuple(range(r - 2)) + (r - 1, r - 2))


def _grid(rows: int, cols: int) -> tuple[Any, Any]:
    return ops.iota((rows, cols), 0, I64), ops.iota((rows, cols), 1, I64)


def eye(n: int, dtype: Any) -> Any:
    """The n x n identity of `dtype`."""
    i, j = _grid(n, n)
    return ops.convert(ops.eq(i, j), dtype)


def band(x: Any, lower: bool) -> Any:
    """The lower (or upper) triangle of x, diagonal included; zeros elsewhere."""
    rows, cols = x.shape[-2:]
    i, j = _grid(rows, cols)
    keep = ops.ge(i, j) if lower else ops.le(i, j)
    return ops.select(keep, x, ops.full((), 0, x.dtype))


def strict_lower_mask(rows: int, cols: int) -> Any:
    i, j = _grid(rows, cols)
    return ops.gt(i, j)


def halve_diag(x: Any) -> Any:
    """x with its diagonal halved."""
    n = x.shape[-1]
    return ops.mul(x, ops.sub(ops.full((), 1, x.dtype), ops.scale(eye(n, x.dtype), 0.5)))


def diag_part(x: Any) -> Any:
    """The main diagonal of square matrices x: shape [..., n]."""
    n = x.shape[-1]
    return ops.reduce_sum(ops.mul(x, eye(n, x.dtype)), (len(x.shape) - 1,))


def diag_embed(v: Any) -> Any:
    """Square matrices with v (shape [..., n]) on the diagonal."""
    n = v.shape[-1]
    lead = tuple(v.shape[:-1])
    return ops.mul(ops.reshape(v, lead + (1, n)), eye(n, v.dtype))


def sym(x: Any) -> Any:
    """(x + x^T) / 2."""
    return ops.scale(ops.add(x, mT(x)), 0.5)


def lower_form(x: Any) -> Any:
    """The gradient with respect to a matrix of which only the lower triangle is read, from
    `x`, the gradient with respect to the symmetric matrix: tril(x + x^T) with the diagonal
    halved (TensorFlow's eigh gradient)."""
    return band(halve_diag(ops.add(x, mT(x))), lower=True)


def slice_last(x: Any, axis_from_end: int, start: int, stop: int) -> Any:
    """x[..., start:stop] along axis -axis_from_end (1: columns, 2: rows)."""
    shape = tuple(x.shape)
    r = len(shape)
    ax = r - axis_from_end
    starts = tuple(start if d == ax else 0 for d in range(r))
    limits = tuple(stop if d == ax else shape[d] for d in range(r))
    return bind("slice", x, starts=starts, limits=limits, strides=(1,) * r)
