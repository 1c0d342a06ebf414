"""Dense linear algebra of `tj.linalg` on LAPACK: cholesky, triangular_solve,
cholesky_solve, solve, inv, det, slogdet, logdet, lu (TensorFlow's names and arguments).

Five primitives do the work (`ir/prims/lapack.py`: `cholesky`, `triangular_solve`,
`solve`, `slogdet`, `lu`, each a LAPACK call in native code); the rest are compositions of them
with `bind`, so their gradients are those of the primitives, to any order:
`cholesky_solve` is two triangular solves, `inv` a solve with the identity, `det` is
`sign * exp(log|det|)`, `logdet` twice the sum of the logs of the Cholesky diagonal
(TensorFlow's definitions). Leading dimensions are batch dimensions and broadcast between
the matrix and the right-hand side (TensorFlow's `solve` requires them equal).

Bad input follows TensorFlow: `solve` and `inv` of a singular matrix raise
`tj.errors.LinAlgError` (TensorFlow's InvalidArgumentError), `cholesky` of a matrix that
is not positive definite gives NaN, `det` of a singular one 0 and `slogdet` sign 0 and
log|det| -inf.
"""
from __future__ import annotations

import collections
from typing import Any

import numpy as np

from .convert import _operands, _user_error, convert_to_tensor
from .exports import export
from .ir import dims
from .ir.core import bind
from .ir.errors import DTypeError, ShapeError
from .ir.prims.elementwise import broadcast_shapes
from .tensor import Tensor, TensorInput

Slogdet = collections.namedtuple("Slogdet", ["sign", "log_abs_determinant"])
Lu = collections.namedtuple("Lu", ["lu", "p"])


def _matrix(op: str, x: TensorInput, square: bool = True) -> Tensor:
    t = convert_to_tensor(x)
    if t.dtype.kind != "f":
        raise _user_error(DTypeError(f"{op} needs float32 or float64 matrices, got "
                                     f"{t.dtype.name}"))
    if t.ndim < 2 or (square and dims.dims_equal(t.shape[-1], t.shape[-2]) is False):
        what = "square matrices" if square else "matrices"
        raise _user_error(ShapeError(f"{op} needs {what} (rank >= 2, the last two axes), "
                                     f"got shape {list(t.shape)}"))
    return t


def _pair(op: str, matrix: TensorInput, rhs: TensorInput) -> tuple[Tensor, Tensor]:
    """The matrix and right-hand side, with their batch dimensions broadcast."""
    a, b = _operands(op, _matrix(op, matrix), rhs)
    if b.ndim < 2:
        raise _user_error(ShapeError(f"{op}: rhs must have rank >= 2 ([..., M, K]), got "
                                     f"shape {list(b.shape)}"))
    if dims.dims_equal(b.shape[-2], a.shape[-1]) is False:
        raise _user_error(ShapeError(f"{op}: rhs has {b.shape[-2]} rows, the matrix "
                                     f"{a.shape[-1]} (shapes {list(a.shape)} and "
                                     f"{list(b.shape)})"))
    try:
        batch = tuple(_broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    except ValueError:
        raise _user_error(ShapeError(f"{op}: batch dimensions do not broadcast: shapes "
                                     f"{list(a.shape)} and {list(b.shape)}")) from None
    if a.shape[:-2] != batch:
        a = bind("broadcast_to", a, shape=batch + tuple(a.shape[-2:]))
    if b.shape[:-2] != batch:
        b = bind("broadcast_to", b, shape=batch + tuple(b.shape[-2:]))
    return a, b


def _broadcast_shapes(s: tuple[int, ...], t: tuple[int, ...]) -> tuple[int, ...]:
    # NumPy's rule; unknown batch dimensions (a symbolic trace) broadcast as elementwise
    # operands' do (assumed equal, checked at run time).
    return broadcast_shapes(tuple(s), tuple(t))


@export("linalg.cholesky")
def cholesky(input: TensorInput, name: str | None = None) -> Tensor:  # noqa: A002
    """The lower-triangular Cholesky factor L of each symmetric positive-definite matrix
    (A = L L^T); only the lower triangle of `input` is read. A matrix that is not positive
    definite gives NaN in its lower triangle (TensorFlow's result on CPU). The gradient is
    TensorFlow's symmetric one (Murray 2016).

    >>> tj.linalg.cholesky(tj.constant([[4., 2.], [2., 5.]])).numpy()
    array([[2., 0.],
           [1., 2.]], dtype=float32)
    """
    return bind("cholesky", _matrix("cholesky", input))


@export("linalg.triangular_solve")
def triangular_solve(matrix: TensorInput, rhs: TensorInput, lower: bool = True,
                     adjoint: bool = False, name: str | None = None) -> Tensor:
    """X with `matrix @ X = rhs` (or `matrix^T @ X = rhs` when `adjoint`), reading only
    the lower (`lower=True`) or upper triangle of `matrix`. A zero on the diagonal gives
    inf/NaN, as in TensorFlow.

    >>> tj.linalg.triangular_solve(tj.constant([[2., 0.], [1., 4.]]),
    ...                            tj.constant([[2.], [5.]])).numpy()
    array([[1.],
           [1.]], dtype=float32)
    """
    a, b = _pair("triangular_solve", matrix, rhs)
    return bind("triangular_solve", a, b, lower=bool(lower), adjoint=bool(adjoint))


@export("linalg.cholesky_solve")
def cholesky_solve(chol: TensorInput, rhs: TensorInput, name: str | None = None) -> Tensor:
    """X with `A @ X = rhs`, given the Cholesky factor `chol` of A (from
    `tj.linalg.cholesky`): two triangular solves.

    >>> a = tj.constant([[4., 2.], [2., 5.]])
    >>> tj.linalg.cholesky_solve(tj.linalg.cholesky(a), tj.constant([[6.], [7.]])).numpy()
    array([[1.],
           [1.]], dtype=float32)
    """
    lo, b = _pair("cholesky_solve", chol, rhs)
    y = bind("triangular_solve", lo, b, lower=True, adjoint=False)
    return bind("triangular_solve", lo, y, lower=True, adjoint=True)


@export("linalg.solve")
def solve(matrix: TensorInput, rhs: TensorInput, adjoint: bool = False,
          name: str | None = None) -> Tensor:
    """X with `matrix @ X = rhs` (`matrix^T @ X = rhs` when `adjoint`), by LU with partial
    pivoting; batch dimensions broadcast. A singular matrix raises
    `tj.errors.LinAlgError` (TensorFlow: InvalidArgumentError).

    >>> tj.linalg.solve(tj.constant([[2., 1.], [1., 3.]]), tj.constant([[3.], [4.]])).numpy()
    array([[1.],
           [1.]], dtype=float32)
    """
    a, b = _pair("solve", matrix, rhs)
    return bind("solve", a, b, adjoint=bool(adjoint))


@export("linalg.inv")
def inv(input: TensorInput, adjoint: bool = False, name: str | None = None) -> Tensor:  # noqa: A002
    """The inverse of each square matrix (of its transpose when `adjoint`); a singular
    matrix raises `tj.errors.LinAlgError`.

    >>> tj.linalg.inv(tj.constant([[2., 0.], [0., 4.]])).numpy()
    array([[0.5 , 0.  ],
           [0.  , 0.25]], dtype=float32)
    """
    a = _matrix("inv", input)
    n = a.shape[-1]
    ident = bind("convert", bind("eq", bind("iota", shape=(n, n), dimension=0),
                                 bind("iota", shape=(n, n), dimension=1)), dtype=a.dtype)
    ident = bind("broadcast_to", ident, shape=tuple(a.shape))
    return bind("solve", a, ident, adjoint=bool(adjoint))


@export("linalg.slogdet")
def slogdet(input: TensorInput, name: str | None = None) -> Slogdet:  # noqa: A002
    """(sign, log|det|) of each square matrix: a singular matrix gives sign 0 and
    log|det| = -inf. Only log|det| has a gradient (A^-T).

    >>> sign, logdet = tj.linalg.slogdet(tj.constant([[0., 2.], [3., 0.]]))
    >>> float(sign), round(float(logdet), 4)
    (-1.0, 1.7918)
    """
    sign, logabs = bind("slogdet", _matrix("slogdet", input))
    return Slogdet(sign, logabs)


@export("linalg.det")
def det(input: TensorInput, name: str | None = None) -> Tensor:  # noqa: A002
    """The determinant of each square matrix: `sign * exp(log|det|)` from the LU factors
    (0 for a singular matrix); gradient `det * A^-T` (Giles 2008).

    >>> float(tj.linalg.det(tj.constant([[1., 2.], [3., 4.]])))
    -2.0
    """
    sign, logabs = bind("slogdet", _matrix("det", input))
    return bind("mul", sign, bind("exp", logabs))


@export("linalg.logdet")
def logdet(matrix: TensorInput, name: str | None = None) -> Tensor:
    """log(det(A)) of each symmetric positive-definite matrix, as twice the sum of the logs
    of its Cholesky diagonal (TensorFlow's definition: NaN when A is not positive
    definite).

    >>> round(float(tj.linalg.logdet(tj.constant([[4., 2.], [2., 5.]]))), 4)
    2.7726
    """
    lo = bind("cholesky", _matrix("logdet", matrix))
    from .matrices import diag_part
    d = diag_part(lo)
    s = bind("reduce_sum", bind("log", d), axes=(d.ndim - 1,))
    return bind("add", s, s)


@export("linalg.lu")
def lu(input: TensorInput, output_idx_type: Any = np.int32,  # noqa: A002
       name: str | None = None) -> Lu:
    """(lu, p): the LU decomposition with partial pivoting of each square matrix, packed as
    TensorFlow's: L (unit diagonal) below the diagonal of `lu` and U on and above it, with
    `input[..., p, :] = L @ U`. A singular matrix raises `tj.errors.LinAlgError`
    (TensorFlow: "Input is not invertible").

    >>> lu, p = tj.linalg.lu(tj.constant([[1., 2.], [3., 4.]]))
    >>> p.numpy(), lu.numpy().round(4)
    (array([1, 0], dtype=int32), array([[3.    , 4.    ],
           [0.3333, 0.6667]], dtype=float32))
    """
    packed, p = bind("lu", _matrix("lu", input))
    dt = np.dtype(output_idx_type)
    if dt not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise _user_error(DTypeError(f"lu: output_idx_type must be int32 or int64, got {dt}"))
    return Lu(packed, p if dt == np.int32 else bind("convert", p, dtype=dt))
