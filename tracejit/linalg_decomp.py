"""Decompositions of `tj.linalg` on LAPACK: eigh, eigvalsh, qr, svd (TensorFlow's names,
arguments and output structures), and lstsq built on them.

`eigh`, `qr` and `svd` are primitives (`ir/prims/lapack_decomp.py`; native code calls
`syevd`, `geqrf`/`orgqr`, `gesdd`); their gradients are TensorFlow's (see that module for
the degenerate cases). `lstsq` is composed from `cholesky` and triangular solves (`fast`,
TensorFlow's normal equations) or from `svd` (`fast=False`, the minimum-norm solution),
so its gradients come from theirs.
"""
from __future__ import annotations

import collections
from typing import Any

import numpy as np

from .convert import _operands, _user_error
from .exports import export
from .ir.core import bind
from .ir.errors import ShapeError
from .linalg_solve import _matrix
from .tensor import Tensor, TensorInput

Qr = collections.namedtuple("Qr", ["q", "r"])


@export("linalg.eigh")
def eigh(tensor: TensorInput, name: str | None = None) -> tuple[Tensor, Tensor]:
    """(e, v): the eigenvalues (ascending) and eigenvectors (the columns of v) of each
    symmetric matrix, reading only its lower triangle. The gradient is TensorFlow's; for
    equal eigenvalues the terms that would divide by their difference are dropped (correct
    when the loss does not depend on the choice of basis within an eigenspace).

    >>> e, v = tj.linalg.eigh(tj.constant([[2., 1.], [1., 2.]]))
    >>> e.numpy()
    array([1., 3.], dtype=float32)
    """
    e, v = bind("eigh", _matrix("eigh", tensor))
    return e, v


@export("linalg.eigvalsh")
def eigvalsh(tensor: TensorInput, name: str | None = None) -> Tensor:
    """The eigenvalues (ascending) of each symmetric matrix (lower triangle read).

    >>> tj.linalg.eigvalsh(tj.constant([[2., 0.], [0., -1.]])).numpy()
    array([-1.,  2.], dtype=float32)
    """
    return eigh(tensor)[0]


@export("linalg.qr")
def qr(input: TensorInput, full_matrices: bool = False, name: str | None = None  # noqa: A002
       ) -> Qr:
    """(q, r) with `input = q @ r`, q with orthonormal columns and r upper triangular: q is
    [..., M, min(M, N)] and r [..., min(M, N), N], or q [..., M, M] and r [..., M, N] with
    `full_matrices` (whose gradient, as in TensorFlow, is undefined when M > N).

    >>> q, r = tj.linalg.qr(tj.constant([[3., 1.], [4., 2.]]))
    >>> r.numpy().round(3)
    array([[-5. , -2.2],
           [ 0. ,  0.4]], dtype=float32)
    """
    q, r = bind("qr", _matrix("qr", input, square=False), full_matrices=bool(full_matrices))
    return Qr(q, r)


@export("linalg.svd")
def svd(tensor: TensorInput, full_matrices: bool = False, compute_uv: bool = True,
        name: str | None = None) -> Any:
    """(s, u, v) with `tensor = u @ diag(s) @ v^T` (TensorFlow's order, and v rather than
    v^T), singular values descending; only s when `compute_uv=False`. u is [..., M, P]
    and v [..., N, P] with P = min(M, N), or square with `full_matrices`.

    >>> tj.linalg.svd(tj.constant([[3., 0.], [0., -4.]]), compute_uv=False).numpy()
    array([4., 3.], dtype=float32)
    """
    x = _matrix("svd", tensor, square=False)
    if not compute_uv:
        return bind("svd", x, full_matrices=bool(full_matrices), compute_uv=False)
    s, u, v = bind("svd", x, full_matrices=bool(full_matrices), compute_uv=True)
    return s, u, v


@export("linalg.lstsq")
def lstsq(matrix: TensorInput, rhs: TensorInput, l2_regularizer: float = 0.0,
          fast: bool = True, name: str | None = None) -> Tensor:
    """The least-squares solution X of `matrix @ X = rhs` ([..., M, N] and [..., M, K]),
    minimizing |matrix @ X - rhs|^2 + l2_regularizer |X|^2. With `fast` (TensorFlow's
    default) from the normal equations by Cholesky: (A^T A + l2 I)^-1 A^T B when M >= N,
    A^T (A A^T + l2 I)^-1 B otherwise (NaN for a rank-deficient matrix without
    regularization, as in TensorFlow); with `fast=False` the minimum-norm solution from the
    SVD (singular values below max(M, N) * eps * the largest count as zero).

    >>> tj.linalg.lstsq(tj.constant([[1., 0.], [0., 1.], [1., 1.]]),
    ...                 tj.constant([[1.], [1.], [2.]])).numpy().round(4)
    array([[1.],
           [1.]], dtype=float32)
    """
    a = _matrix("lstsq", matrix, square=False)
    a, b = _rect_pair(a, rhs)
    if fast:
        return _lstsq_normal(a, b, float(l2_regularizer))
    if float(l2_regularizer) != 0.0:
        raise _user_error(NotImplementedError(
            "lstsq: fast=False with l2_regularizer != 0 is not supported (TensorFlow "
            "raises too); use fast=True"))
    return _lstsq_svd(a, b)


def _rect_pair(a: Tensor, rhs: TensorInput) -> tuple[Tensor, Tensor]:
    """The matrix [..., M, N] and right-hand side [..., M, K], batch dimensions
    broadcast."""
    m, n = a.shape[-2:]
    x, b = _operands("lstsq", a, rhs)
    if b.ndim < 2 or b.shape[-2] != m:
        raise _user_error(ShapeError(f"lstsq: rhs must be [..., {m}, K] for a matrix of "
                                     f"shape {list(a.shape)}, got {list(b.shape)}"))
    try:
        batch = tuple(np.broadcast_shapes(x.shape[:-2], b.shape[:-2]))
    except ValueError:
        raise _user_error(ShapeError(f"lstsq: batch dimensions do not broadcast: shapes "
                                     f"{list(a.shape)} and {list(b.shape)}")) from None
    if x.shape[:-2] != batch:
        x = bind("broadcast_to", x, shape=batch + (m, n))
    if b.shape[:-2] != batch:
        b = bind("broadcast_to", b, shape=batch + tuple(b.shape[-2:]))
    return x, b


def _eye_like(n: int, dtype: Any) -> Any:
    return bind("convert", bind("eq", bind("iota", shape=(n, n), dimension=0),
                                bind("iota", shape=(n, n), dimension=1)), dtype=dtype)


def _chol_solve(gram: Any, rhs: Any) -> Any:
    lo = bind("cholesky", gram)
    y = bind("triangular_solve", lo, rhs, lower=True, adjoint=False)
    return bind("triangular_solve", lo, y, lower=True, adjoint=True)


def _lstsq_normal(a: Tensor, b: Tensor, l2: float) -> Tensor:
    m, n = a.shape[-2:]
    if m >= n:
        gram = bind("matmul", a, a, transpose_a=True, transpose_b=False)
        if l2:
            gram = bind("add", gram, bind("mul", _eye_like(n, a.dtype),
                                          bind("constant", value=_scalar(l2, a.dtype))))
        atb = bind("matmul", a, b, transpose_a=True, transpose_b=False)
        return _chol_solve(gram, atb)
    gram = bind("matmul", a, a, transpose_a=False, transpose_b=True)
    if l2:
        gram = bind("add", gram, bind("mul", _eye_like(m, a.dtype),
                                      bind("constant", value=_scalar(l2, a.dtype))))
    return bind("matmul", a, _chol_solve(gram, b), transpose_a=True, transpose_b=False)


def _scalar(v: float, dtype: Any) -> Any:
    return np.asarray(v, dtype)


def _lstsq_svd(a: Tensor, b: Tensor) -> Tensor:
    m, n = a.shape[-2:]
    s, u, v = bind("svd", a, full_matrices=False, compute_uv=True)
    k = s.shape[-1]
    lead = tuple(s.shape[:-1])
    eps = float(np.finfo(a.dtype).eps) * max(m, n)
    smax = bind("reduce_max", s, axes=(len(s.shape) - 1,), keepdims=True) if k else s
    cut = bind("mul", smax, bind("constant", value=_scalar(eps, a.dtype)))
    keep = bind("gt", s, cut)
    one = bind("constant", value=_scalar(1.0, a.dtype))
    zero = bind("constant", value=_scalar(0.0, a.dtype))
    inv_s = bind("select", keep, bind("div", one, bind("select", keep, s, one)), zero)
    utb = bind("matmul", u, b, transpose_a=True, transpose_b=False)
    scaled = bind("mul", bind("reshape", inv_s, shape=lead + (k, 1)), utb)
    return bind("matmul", v, scaled, transpose_a=False, transpose_b=False)


