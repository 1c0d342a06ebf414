"""Linear algebra on LAPACK, part 1: `cholesky`, `triangular_solve`, `solve`, `slogdet`.

Invariants:
- Matrices are the last two axes; every leading axis is a batch axis. Operands of the
  two-operand primitives have equal batch shapes (the user layer broadcasts them first, so
  the autodiff pass sums cotangents back through `broadcast_to`); float32 or float64, one
  dtype.
- The reference implementations compute what native code computes (`codegen.lower_lapack`
  calls the same LAPACK routines of NumPy's bundled OpenBLAS on column-major copies), with
  TensorFlow's results on bad input: `cholesky` of a matrix that is not positive definite
  gives NaN in its lower triangle (TensorFlow 2.21 on CPU; NumPy raises), `solve` of a
  singular matrix raises `LinAlgError` (TensorFlow's InvalidArgumentError "not
  invertible"), `slogdet` of one gives sign 0 and log|det| = -inf, a triangular matrix
  with a zero on its diagonal gives inf/NaN.
- `cholesky` reads only the lower triangle and its VJP is TensorFlow's symmetric gradient
  (Murray 2016, "Differentiation of the Cholesky decomposition": for perturbations of a
  symmetric matrix it is the derivative); `triangular_solve` reads only the triangle it
  is told and its VJP is zero outside it; `solve` and `slogdet` follow Giles 2008 ("An
  extended collection of matrix derivative results"). Every rule is written with `bind`,
  so gradients are differentiable again.
- JVP rules (`lapack_jvp`, also for `lapack_decomp`) are the VJPs' transposes, so forward
  and reverse mode agree.
- Batching maps the batch axis through (a new leading batch axis); an unbatched operand of
  a two-operand primitive is broadcast to the batch.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dims, ops
from ..core import TensorType, bind
from ..errors import LinAlgError, ShapeError
from .elementwise import _same_dtype
from .matrix_util import band, check_matrix, eye, halve_diag, mT, sym
from . import lapack_jvp as jv
from .registry import Primitive, register


def singular_message(op: str, shape: tuple[int, ...], dtype: Any, index: int | None) -> str:
    """The message of the LinAlgError for a singular matrix, eager and native alike."""
    where = ""
    batch = tuple(shape[:-2])
    if batch and index is not None:
        at = tuple(int(i) for i in np.unravel_index(index, batch))
        where = f" (the matrix at batch index {at})"
    t = TensorType(tuple(shape), np.dtype(dtype))
    return (f"{op}: the input matrix is not invertible{where}, in operand {t} "
            "(TensorFlow: InvalidArgumentError, 'Input matrix is not invertible')")


def first_failure(test: Any, a: np.ndarray) -> int:
    """The batch number of the first matrix of `a` on which `test` raises LinAlgError."""
    flat = a.reshape((-1,) + a.shape[-2:])
    for k, m in enumerate(flat):
        try:
            test(m)
        except np.linalg.LinAlgError:
            return k
    return 0


def _batch_of(op: str, *ts: TensorType) -> tuple[Any, ...]:
    """The operands' common batch shape. Unknown dimensions that may be equal are
    assumed to be (`specialize` checks them with the concrete shapes, at run time)."""
    batch = tuple(ts[0].shape[:-2])
    for t in ts[1:]:
        if len(t.shape) != len(ts[0].shape) or any(
                dims.dims_equal(d, e) is False for d, e in zip(t.shape[:-2], batch)):
            raise ShapeError(f"{op}: batch dimensions differ: " + " and ".join(map(str, ts)))
    return batch

# --------------------------------------------------------------------------- cholesky


def _cholesky_rule(a: TensorType) -> TensorType:
    check_matrix("cholesky", a)
    return a


def _cholesky_impl(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        pass
    # Some matrix is not positive definite: TensorFlow gives NaN for it, the others as usual.
    flat = a.reshape((-1,) + a.shape[-2:])
    out = np.empty_like(flat)
    n = a.shape[-1]
    for k, m in enumerate(flat):
        try:
            out[k] = np.linalg.cholesky(m)
        except np.linalg.LinAlgError:
            out[k] = np.where(np.tri(n, dtype=bool), np.nan, 0).astype(a.dtype)
    return out.reshape(a.shape)


def _cholesky_vjp(g: Any, a: Any, *, out: Any) -> tuple[Any]:
    # Murray 2016 / TensorFlow's CholeskyGrad: Phi(L^T gL) with Phi = tril, diagonal halved;
    # gA = sym(L^-T Phi L^-1), computed by two triangular solves instead of an inverse.
    lo = out
    middle = band(halve_diag(ops.matmul(lo, g, transpose_a=True)), lower=True)
    x = bind("triangular_solve", lo, middle, lower=True, adjoint=True)       # L^-T Phi
    ga = mT(bind("triangular_solve", lo, mT(x), lower=True, adjoint=True))   # (L^-T x^T)^T
    return (sym(ga),)


register(Primitive("cholesky", kind="kernel", shape_rule=_cholesky_rule, impl=_cholesky_impl,
                   vjp=_cholesky_vjp, jvp=jv.cholesky_jvp, n_inputs=1))

# --------------------------------------------------------------------------- triangular_solve


def _two_rule(op: str, a: TensorType, b: TensorType) -> TensorType:
    check_matrix(op, a)
    dt = _same_dtype(op, a, b)
    if b.ndim != a.ndim:
        raise ShapeError(f"{op}: rhs must have the matrix's rank, got {a} and {b}")
    _batch_of(op, a, b)
    if dims.dims_equal(b.shape[-2], a.shape[-1]) is False:
        raise ShapeError(f"{op}: rhs has {b.shape[-2]} rows, the matrix {a.shape[-1]} "
                         f"(operands {a} and {b})")
    return TensorType(tuple(b.shape), dt)


def _trisolve_rule(a: TensorType, b: TensorType, *, lower: bool, adjoint: bool
                   ) -> TensorType:
    return _two_rule("triangular_solve", a, b)


def _trisolve_impl(a: np.ndarray, b: np.ndarray, *, lower: bool, adjoint: bool) -> np.ndarray:
    """Forward or back substitution, row by row (vectorized over batch and columns)."""
    a, b = np.asarray(a), np.asarray(b)
    t = np.tril(a) if lower else np.triu(a)
    if adjoint:
        t, lower = np.swapaxes(t, -1, -2), not lower
    n = t.shape[-1]
    x = np.zeros(b.shape, b.dtype)
    with np.errstate(all="ignore"):
        for i in (range(n) if lower else range(n - 1, -1, -1)):
            done = slice(0, i) if lower else slice(i + 1, n)
            s = b[..., i, :] - np.matmul(t[..., i:i + 1, done], x[..., done, :])[..., 0, :]
            x[..., i, :] = s / t[..., i, i][..., None]
    return x


def _trisolve_vjp(g: Any, a: Any, b: Any, *, out: Any, lower: bool, adjoint: bool
                  ) -> tuple[Any, Any]:
    gb = bind("triangular_solve", a, g, lower=lower, adjoint=not adjoint)
    ga = ops.neg(ops.matmul(out, gb, transpose_b=True) if adjoint
                 else ops.matmul(gb, out, transpose_b=True))
    return band(ga, lower), gb


register(Primitive("triangular_solve", kind="kernel", params={"lower": True, "adjoint": False},
                   shape_rule=_trisolve_rule, impl=_trisolve_impl, vjp=_trisolve_vjp,
                   jvp=jv.triangular_solve_jvp, n_inputs=2))

# --------------------------------------------------------------------------- solve


def _solve_rule(a: TensorType, b: TensorType, *, adjoint: bool) -> TensorType:
    return _two_rule("solve", a, b)


def _solve_impl(a: np.ndarray, b: np.ndarray, *, adjoint: bool) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    m = np.swapaxes(a, -1, -2) if adjoint else a
    try:
        return np.linalg.solve(m, b)
    except np.linalg.LinAlgError:
        k = first_failure(np.linalg.inv, m)
        raise LinAlgError(singular_message("solve", a.shape, a.dtype, k)) from None


def _solve_vjp(g: Any, a: Any, b: Any, *, out: Any, adjoint: bool) -> tuple[Any, Any]:
    # Giles 2008: X = A^-1 B gives gB = A^-T g and gA = -gB X^T (for A^T X = B,
    # gA = -X gB^T).
    gb = bind("solve", a, g, adjoint=not adjoint)
    ga = ops.neg(ops.matmul(out, gb, transpose_b=True) if adjoint
                 else ops.matmul(gb, out, transpose_b=True))
    return ga, gb


register(Primitive("solve", kind="kernel", params={"adjoint": False}, shape_rule=_solve_rule,
                   impl=_solve_impl, vjp=_solve_vjp, jvp=jv.solve_jvp, n_inputs=2))

# --------------------------------------------------------------------------- slogdet


def _slogdet_rule(a: TensorType) -> list[TensorType]:
    check_matrix("slogdet", a)
    t = TensorType(tuple(a.shape[:-2]), a.dtype)
    return [t, t]


def _slogdet_impl(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    sign, logabs = np.linalg.slogdet(a)
    return np.asarray(sign, a.dtype), np.asarray(logabs, a.dtype)


def _slogdet_vjp(g: Any, a: Any, *, out: Any) -> tuple[Any]:
    # d log|det A| = tr(A^-1 dA): gA = g A^-T (Giles 2008); the sign is piecewise constant.
    _, g_logabs = g
    n = a.shape[-1]
    lead = tuple(a.shape[:-2])
    ident = ops.broadcast_to(eye(n, a.dtype), lead + (n, n))
    inv_t = bind("solve", a, ident, adjoint=True)
    return (ops.mul(ops.reshape(g_logabs, lead + (1, 1)), inv_t),)


register(Primitive("slogdet", kind="kernel", shape_rule=_slogdet_rule, impl=_slogdet_impl,
                   vjp=_slogdet_vjp, jvp=jv.slogdet_jvp, n_inputs=1, n_outs=2))

# --------------------------------------------------------------------------- lu


def _lu_rule(a: TensorType) -> list[TensorType]:
    check_matrix("lu", a)
    return [a, TensorType(tuple(a.shape[:-1]), np.dtype(np.int32))]


def _lu_impl(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LU with partial pivoting (LAPACK's getrf: the first largest |pivot|), packed as
    TensorFlow's `lu`: L's strict lower triangle (unit diagonal) and U, and the permutation
    p with a[..., p, :] = L U. A zero pivot raises LinAlgError (TensorFlow: "Input is not
    invertible")."""
    a = np.asarray(a)
    n = a.shape[-1]
    flat = a.reshape((-1, n, n)).copy()
    nb = flat.shape[0]
    perm = np.tile(np.arange(n, dtype=np.int32), (nb, 1))
    rows = np.arange(nb)
    singular = np.zeros(nb, bool)
    for k in range(n):                  # every matrix of the batch at once
        p = k + np.argmax(np.abs(flat[:, k:, k]), axis=1)
        zero = flat[rows, p, k] == 0    # (NaN pivots go on, as LAPACK's do)
        singular |= zero
        flat[rows[zero], p[zero], k] = 1.0      # a singular matrix's result is unused
        top = flat[:, k, :].copy()
        flat[:, k, :] = flat[rows, p, :]
        flat[rows, p, :] = top
        pk = perm[:, k].copy()
        perm[:, k] = perm[rows, p]
        perm[rows, p] = pk
        flat[:, k + 1:, k] /= flat[:, k:k + 1, k]
        flat[:, k + 1:, k + 1:] -= flat[:, k + 1:, k, None] * flat[:, k, None, k + 1:]
    if singular.any():                  # the first singular matrix, as one at a time
        b = int(np.flatnonzero(singular)[0])
        raise LinAlgError(singular_message("lu", a.shape, a.dtype, b))
    return flat.reshape(a.shape), perm.reshape(a.shape[:-1])


def _lu_vjp(g: Any, a: Any, *, out: Any) -> tuple[Any]:
    # TensorFlow's LuGrad (square matrices): with P A = L U,
    # gA = P^T L^-T (tril(L^T gL, -1) + triu(gU U^T)) U^-T.
    glu, _ = g
    lu, perm = out
    n = a.shape[-1]
    ident = eye(n, a.dtype)
    strict = ops.sub(band(lu, lower=True), ops.mul(lu, ident))
    lo = ops.add(strict, ident)
    up = band(lu, lower=False)
    gl = ops.sub(band(glu, lower=True), ops.mul(glu, ident))
    gu = band(glu, lower=False)
    lhg = ops.matmul(lo, gl, transpose_a=True)
    f = ops.add(ops.sub(band(lhg, lower=True), ops.mul(lhg, ident)),
                band(ops.matmul(gu, up, transpose_b=True), lower=False))
    x = bind("triangular_solve", lo, f, lower=True, adjoint=True)             # L^-T f
    x = mT(bind("triangular_solve", up, mT(x), lower=False, adjoint=False))   # x U^-T
    p = bind("one_hot", perm, depth=n, dtype=a.dtype, on=1.0, off=0.0, checked=False)
    return (ops.matmul(p, x, transpose_a=True),)


register(Primitive("lu", kind="kernel", shape_rule=_lu_rule, impl=_lu_impl, vjp=_lu_vjp,
                   jvp=jv.lu_jvp, n_inputs=1, n_outs=2))
