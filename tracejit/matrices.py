"""Matrix-structure ops of `tj.linalg`: diag, diag_part, set_diag, trace, band_part, matvec,
and the triangle masks (`keep_band`, `tril`, `triu`) that NumPy-style layers build on.

All are composites: `diag_part` is a strided `slice` of the flattened matrices (element
(i, i + k) sits at i * (cols + 1) + k), `diag`, `set_diag` and `band_part` select by an
iota mask, so native code computes them in one fused loop and their gradients are those of
`slice`, `select` and `broadcast_to`. One diagonal `k` (an int) is supported; TensorFlow's band of
diagonals `k = (lo, hi)` raises NotImplementedError.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .arrayops import static_ints
from .convert import _axes, _operands, _user_error, convert_to_tensor
from .exports import export
from .ir.core import bind
from .ir.errors import ShapeError
from .ir.ops import const
from .shapes import expand_dims, gather, matmul, matrix_transpose, reshape, squeeze, stack
from .tensor import Tensor, TensorInput

I64 = np.dtype(np.int64)


def _one_k(op: str, k: Any) -> int:
    a = static_ints(op, "k", k)
    if a.size != 1:
        raise _user_error(NotImplementedError(
            f"{op}: k={a.tolist()} (a band of diagonals) is not supported; pass one "
            "diagonal k as an int and stack the results"))
    return int(a.reshape(-1)[0])


ALIGNS = ("LEFT_RIGHT", "RIGHT_LEFT", "LEFT_LEFT", "RIGHT_RIGHT")


def _check_align(op: str, align: Any) -> None:
    """TensorFlow's four alignments of a band's diagonals (one diagonal needs none)."""
    if align not in ALIGNS:
        raise _user_error(ValueError(f"{op}: align must be one of {', '.join(ALIGNS)}, got "
                                     f"{align!r}"))


def _matrix(op: str, input: TensorInput) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    if x.ndim < 2:
        raise _user_error(ShapeError(f"{op}: input must be at least 2-D, got shape {x.shape}"))
    return x


def _offset_mask(rows: int, cols: int, keep: Any) -> Any:
    """`keep(j - i)` over a (rows, cols) grid of int64 iotas: a bool mask."""
    i = bind("iota", shape=(rows, cols), dimension=0, dtype=I64)
    j = bind("iota", shape=(rows, cols), dimension=1, dtype=I64)
    return keep(bind("sub", j, i))




def _fill_value(op: str, x: Tensor, value: Any) -> Any:
    """A scalar of x's dtype (Python numbers take it); no gradient flows into it, as in
    TensorFlow."""
    _, v = _operands(op, x, value)
    if v.ndim:
        raise _user_error(ShapeError(f"{op}: the padding value must be a scalar, got shape "
                                     f"{v.shape}"))
    return bind("stop_gradient", v)


@export("linalg.diag")
def diag(diagonal: TensorInput, name: str | None = None, k: Any = 0, num_rows: int = -1,
         num_cols: int = -1, padding_value: Any = 0, align: str = "RIGHT_LEFT") -> Tensor:
    """Matrices with `diagonal` (shape [..., n]) on diagonal `k` (0 the main one, > 0
    above it) and `padding_value` elsewhere; square unless `num_rows`/`num_cols` say
    otherwise (TensorFlow's sizing rules).

    >>> tj.linalg.diag(tj.constant([1, 2]), k=1).numpy()
    array([[0, 1, 0],
           [0, 0, 2],
           [0, 0, 0]], dtype=int32)
    """
    v = convert_to_tensor(diagonal)
    if v.ndim < 1:
        raise _user_error(ShapeError(f"diag: diagonal must be at least 1-D, got shape "
                                     f"{v.shape}"))
    _check_align("diag", align)
    kk = _one_k("diag", k)
    n = v.shape[-1]
    min_rows, min_cols = n + max(0, -kk), n + max(0, kk)
    rows, cols = int(num_rows), int(num_cols)
    if rows == -1 and cols == -1:
        rows = cols = max(min_rows, min_cols)
    rows = min_rows if rows == -1 else rows
    cols = min_cols if cols == -1 else cols
    if rows < min_rows or cols < min_cols or (rows != min_rows and cols != min_cols):
        raise _user_error(ValueError(
            f"diag: {rows} rows and {cols} columns are not consistent with a diagonal of "
            f"length {n} at k={kk} (needs rows >= {min_rows}, columns >= {min_cols}, and "
            "one of them equal)"))
    mask, vals = _on_diagonal(v, kk, rows, cols)
    return bind("select", mask, vals, _fill_value("diag", v, padding_value))


def _on_diagonal(v: Tensor, kk: int, rows: int, cols: int) -> tuple[Any, Any]:
    """The (rows, cols) mask of diagonal `kk`, and matrices of shape v.shape[:-1] + (rows,
    cols) holding `v` (whose length must be the diagonal's) on it (other elements are
    copies of v's entries, for the mask to discard)."""
    n = v.shape[-1]
    # Element (i, j) of diagonal k reads v[i] above the main diagonal, v[j] below it.
    along = rows if kk >= 0 else cols
    vp = v if along == n else bind("pad", v, lo=(0,) * v.ndim,
                                   hi=(0,) * (v.ndim - 1) + (along - n,),
                                   interior=(0,) * v.ndim)
    vals = expand_dims(vp, -1 if kk >= 0 else -2)
    shape = v.shape[:-1] + (rows, cols)
    vals = bind("broadcast_to", vals, shape=shape) if vals.shape != shape else vals
    return _offset_mask(rows, cols, lambda d: bind("eq", d, const(kk, I64))), vals


def _diagonal_length(op: str, rows: int, cols: int, kk: int) -> int:
    """The length of diagonal `kk` of (rows, cols) matrices; ValueError if there is no
    such diagonal (TensorFlow's bound: -rows < k < cols, and k = 0 always, so that empty
    matrices have an empty main diagonal)."""
    if not (-rows < kk < cols or kk == 0):
        raise _user_error(ValueError(f"{op}: k={kk} is out of bounds for matrices of "
                                     f"shape ({rows}, {cols}); it must be between {-rows} "
                                     f"and {cols}, exclusive"))
    return max(0, min(rows + min(0, kk), cols - max(0, kk)))


@export("linalg.set_diag")
def set_diag(input: TensorInput, diagonal: TensorInput, name: str | None = None,  # noqa: A002
             k: Any = 0, align: str = "RIGHT_LEFT") -> Tensor:
    """`input` (shape [..., rows, cols]) with diagonal `k` of its innermost matrices
    replaced by `diagonal` (shape [..., n]: the same batch shape, n the diagonal's
    length). Gradients as TensorFlow's: `input` gets the upstream gradient off the
    diagonal, `diagonal` its diagonal part.

    >>> tj.linalg.set_diag(tj.zeros([2, 3]), tj.constant([1., 2.]), k=1).numpy()
    array([[0., 1., 0.],
           [0., 0., 2.]], dtype=float32)
    """
    x = _matrix("set_diag", input)
    x, v = _operands("set_diag", x, diagonal)
    if v.ndim < 1:
        raise _user_error(ShapeError(f"set_diag: diagonal must be at least 1-D, got shape "
                                     f"{v.shape}"))
    _check_align("set_diag", align)
    kk = _one_k("set_diag", k)
    rows, cols = x.shape[-2:]
    n = _diagonal_length("set_diag", rows, cols, kk)
    if v.shape != x.shape[:-2] + (n,):
        raise _user_error(ShapeError(
            f"set_diag: diagonal k={kk} of input of shape {x.shape} has length {n}, so "
            f"diagonal must have shape {x.shape[:-2] + (n,)}, got {v.shape}"))
    mask, vals = _on_diagonal(v, kk, rows, cols)
    return bind("select", mask, vals, x)


@export("linalg.diag_part")
def diag_part(input: TensorInput, name: str | None = None, k: Any = 0,  # noqa: A002
              padding_value: Any = 0, align: str = "RIGHT_LEFT") -> Tensor:
    """Diagonal `k` of the innermost matrices of `input` (shape [..., rows, cols]), a
    strided slice of each flattened matrix.

    >>> tj.linalg.diag_part(tj.reshape(tj.range(6), [2, 3]), k=1).numpy()
    array([1, 5], dtype=int32)
    """
    x = _matrix("diag_part", input)
    _check_align("diag_part", align)
    kk = _one_k("diag_part", k)
    rows, cols = x.shape[-2:]
    n = _diagonal_length("diag_part", rows, cols, kk)
    batch = x.shape[:-2]
    flat = reshape(x, batch + (rows * cols,))
    start = (kk if kk >= 0 else -kk * cols) if n else 0
    limit = start + (n - 1) * (cols + 1) + 1 if n else start
    nb = len(batch)
    return bind("slice", flat, starts=(0,) * nb + (start,), limits=batch + (limit,),
                strides=(1,) * nb + (cols + 1,))


@export("linalg.trace")
def trace(x: TensorInput, name: str | None = None) -> Tensor:
    """The sum of the main diagonal of each innermost matrix.

    >>> int(tj.linalg.trace(tj.reshape(tj.range(9), [3, 3])))
    12
    """
    d = diag_part(_matrix("trace", x))
    return bind("reduce_sum", d, axes=(d.ndim - 1,))


def keep_band(x: Tensor, lower: int | None, upper: int | None) -> Tensor:
    """`x` with the elements (i, j) of its innermost matrices outside `-lower <= j - i <=
    upper` set to zero (None: no bound on that side). `tril(x, k)` is `keep_band(x, None,
    k)` and `triu(x, k)` is `keep_band(x, -k, None)`."""
    from .ops import logical_and
    rows, cols = x.shape[-2:]
    conds = []
    if lower is not None:
        conds.append(lambda d: bind("ge", d, const(-lower, I64)))
    if upper is not None:
        conds.append(lambda d: bind("le", d, const(upper, I64)))
    if not conds:
        return bind("identity", x)
    mask = _offset_mask(rows, cols, lambda d: conds[0](d) if len(conds) == 1 else
                        logical_and(conds[0](d), conds[1](d)))
    zero = bind("constant", value=np.zeros((), x.dtype))
    return bind("select", mask, x, zero)


def tril(x: TensorInput, k: int = 0) -> Tensor:
    """The lower triangle of each innermost matrix: elements with j - i <= k."""
    return keep_band(_matrix("tril", x), None, int(k))


def triu(x: TensorInput, k: int = 0) -> Tensor:
    """The upper triangle of each innermost matrix: elements with j - i >= k."""
    return keep_band(_matrix("triu", x), -int(k), None)


@export("linalg.band_part")
def band_part(input: TensorInput, num_lower: Any, num_upper: Any,  # noqa: A002
              name: str | None = None) -> Tensor:
    """`input` with everything outside a band of its innermost matrices set to zero:
    `num_lower` diagonals below the main one and `num_upper` above it (negative: all).
    `band_part(x, -1, 0)` is the lower triangle, `band_part(x, 0, -1)` the upper one.

    >>> tj.linalg.band_part(tj.ones([3, 3], tj.int32), 1, 0).numpy()
    array([[1, 0, 0],
           [1, 1, 0],
           [0, 1, 1]], dtype=int32)
    """
    x = _matrix("band_part", input)
    rows, cols = x.shape[-2:]
    lo = int(static_ints("band_part", "num_lower", num_lower))
    hi = int(static_ints("band_part", "num_upper", num_upper))
    if lo > rows:
        raise _user_error(ValueError(f"band_part: num_lower must be negative or at most the "
                                     f"number of rows ({rows}), got {lo}"))
    if hi > cols:
        raise _user_error(ValueError(f"band_part: num_upper must be negative or at most the "
                                     f"number of columns ({cols}), got {hi}"))
    return keep_band(x, lo if lo >= 0 else None, hi if hi >= 0 else None)


@export("linalg.matvec")
def matvec(a: TensorInput, b: TensorInput, transpose_a: bool = False, adjoint_a: bool = False,
           a_is_sparse: bool = False, b_is_sparse: bool = False, name: str | None = None
           ) -> Tensor:
    """Matrix times vector over the innermost axes, batch axes broadcasting:
    `matmul(a, b[..., None])[..., 0]`.

    >>> tj.linalg.matvec(tj.constant([[1., 2.], [3., 4.]]), tj.constant([1., 1.])).numpy()
    array([3., 7.], dtype=float32)
    """
    x, v = _operands("matvec", a, b)
    if v.ndim < 1:
        raise _user_error(ShapeError(f"matvec: b must be at least 1-D, got shape {v.shape}"))
    return squeeze(matmul(x, expand_dims(v, -1), transpose_a=transpose_a,
                          adjoint_a=adjoint_a), -1)


@export("linalg.cross")
def cross(a: TensorInput, b: TensorInput, name: str | None = None) -> Tensor:
    """The cross product of 3-element vectors along the last axis of `a` and `b` (the same
    shape, as TensorFlow's; no broadcasting).

    >>> tj.linalg.cross([1., 0., 0.], [0., 1., 0.]).numpy()
    array([0., 0., 1.], dtype=float32)
    """
    x, y = _operands("cross", a, b)
    if x.shape != y.shape:
        raise _user_error(ShapeError(f"cross: a and b must have the same shape, got "
                                     f"{x.shape} and {y.shape}"))
    if not x.shape or x.shape[-1] != 3:
        raise _user_error(ShapeError(f"cross: the last dimension must be 3 (vectors in 3-D "
                                     f"space), got shape {x.shape}"))
    x0, x1, x2 = (gather(x, i, axis=-1) for i in range(3))
    y0, y1, y2 = (gather(y, i, axis=-1) for i in range(3))
    return stack([x1 * y2 - x2 * y1, x2 * y0 - x0 * y2, x0 * y1 - x1 * y0], axis=-1)


@export("linalg.adjoint")
def adjoint(matrix: TensorInput, name: str | None = None) -> Tensor:
    """The conjugate transpose of the last two dimensions; for tracejit's real dtypes, the
    transpose (`matrix_transpose`).

    >>> tj.linalg.adjoint([[1., 2., 3.]]).shape
    TensorShape([3, 1])
    """
    return matrix_transpose(matrix)


@export("linalg.normalize")
def normalize(tensor: TensorInput, ord: Any = "euclidean", axis: Any = None,  # noqa: A002
              name: str | None = None) -> tuple[Tensor, Tensor]:
    """`(tensor / norm, norm)` with `norm = tj.norm(tensor, ord, axis, keepdims=True)`, as
    TensorFlow's (a zero norm gives NaN).

    >>> v, n = tj.linalg.normalize([3., 4.])
    >>> v.numpy(), n.numpy()
    (array([0.6, 0.8], dtype=float32), array([5.], dtype=float32))
    """
    from .ops import divide, norm
    t = convert_to_tensor(tensor)
    if axis is not None:
        _axes("normalize", axis, t.ndim, "axis")
    n = norm(t, ord=ord, axis=axis, keepdims=True)
    return divide(t, n), n
