"""JVP rules (forward mode) of the LAPACK primitives, written with `bind`.

Each is the transpose of the primitive's VJP rule, so forward and reverse mode agree:
`cholesky` takes the symmetric part of the tangent (its VJP is TensorFlow's symmetric
gradient), `eigh` the symmetric matrix the tangent's lower triangle stands for (it reads
the lower triangle), `triangular_solve` the named triangle; equal eigen/singular values
use the same safe reciprocal as the VJPs. The decompositions follow JAX's rules (Murray
2016 for Cholesky; QR for M >= N and, split as in the VJP, M < N; SVD without
`full_matrices`, whose extra vectors have no derivative).
"""
from __future__ import annotations

from typing import Any

from .. import ops
from ..core import bind
from .matrix_util import band, diag_part, eye, halve_diag, mT, slice_last, sym


def _zero_if_none(t: Any, like: Any) -> Any:
    return t if t is not None else ops.full(tuple(like.shape), 0, like.dtype)


def _right_solve_upper(x: Any, r: Any) -> Any:
    """x R^-1 for upper-triangular R."""
    return mT(bind("triangular_solve", r, mT(x), lower=False, adjoint=True))


def cholesky_jvp(ts: Any, a: Any, *, out: Any) -> list[Any]:
    (da,) = ts
    lo = out
    # dL = L Phi(L^-1 sym(dA) L^-T), Phi = lower triangle with the diagonal halved.
    y = bind("triangular_solve", lo, sym(da), lower=True, adjoint=False)          # L^-1 dA
    x = mT(bind("triangular_solve", lo, mT(y), lower=True, adjoint=False))        # .. L^-T
    return [ops.matmul(lo, band(halve_diag(x), lower=True))]


def triangular_solve_jvp(ts: Any, a: Any, b: Any, *, out: Any, lower: bool, adjoint: bool
                         ) -> list[Any]:
    da, db = ts
    rhs = _zero_if_none(db, out)
    if da is not None:
        dt = band(da, lower)
        rhs = ops.sub(rhs, ops.matmul(dt, out, transpose_a=adjoint))
    return [bind("triangular_solve", a, rhs, lower=lower, adjoint=adjoint)]


def solve_jvp(ts: Any, a: Any, b: Any, *, out: Any, adjoint: bool) -> list[Any]:
    da, db = ts
    rhs = _zero_if_none(db, out)
    if da is not None:
        rhs = ops.sub(rhs, ops.matmul(da, out, transpose_a=adjoint))
    return [bind("solve", a, rhs, adjoint=adjoint)]


def slogdet_jvp(ts: Any, a: Any, *, out: Any) -> list[Any]:
    (da,) = ts
    # d log|det A| = tr(A^-1 dA); the sign has no tangent.
    return [None, diag_part_sum(bind("solve", a, da, adjoint=False))]


def diag_part_sum(x: Any) -> Any:
    d = diag_part(x)
    return ops.reduce_sum(d, (len(d.shape) - 1,))


def lu_jvp(ts: Any, a: Any, *, out: Any) -> list[Any]:
    (da,) = ts
    lu, perm = out
    n = a.shape[-1]
    ident = eye(n, a.dtype)
    lo = ops.add(ops.sub(band(lu, lower=True), ops.mul(lu, ident)), ident)
    up = band(lu, lower=False)
    p = bind("one_hot", perm, depth=n, dtype=a.dtype, on=1.0, off=0.0, checked=False)
    y = bind("triangular_solve", lo, ops.matmul(p, da), lower=True, adjoint=False)
    x = _right_solve_upper(y, up)                                   # L^-1 P dA U^-1
    strict = ops.sub(band(x, lower=True), ops.mul(x, ident))
    dl = ops.matmul(lo, strict)
    du = ops.matmul(band(x, lower=False), up)
    return [ops.add(ops.sub(band(dl, lower=True), ops.mul(dl, ident)), band(du, lower=False)),
            None]


def eigh_jvp(ts: Any, a: Any, *, out: Any) -> list[Any]:
    from .lapack_decomp import inverse_gaps
    (da,) = ts
    e, v = out
    lower = band(da, lower=True)
    d_sym = ops.sub(ops.add(lower, mT(lower)), ops.mul(da, eye(a.shape[-1], a.dtype)))
    m = ops.matmul(v, ops.matmul(d_sym, v), transpose_a=True)     # V^T dA V
    return [diag_part(m), ops.matmul(v, ops.mul(inverse_gaps(e), m))]


def _qr_square_or_deep(q: Any, r: Any, dx: Any) -> tuple[Any, Any]:
    dx_rinv = _right_solve_upper(dx, r)
    qt = ops.matmul(q, dx_rinv, transpose_a=True)
    low = ops.sub(band(qt, lower=True), ops.mul(qt, eye(qt.shape[-1], qt.dtype)))
    do = ops.sub(low, mT(low))
    dq = ops.add(ops.matmul(q, ops.sub(do, qt)), dx_rinv)
    dr = ops.matmul(ops.sub(qt, do), r)
    return dq, dr


def qr_jvp(ts: Any, a: Any, *, out: Any, full_matrices: bool) -> list[Any]:
    (da,) = ts
    q, r = out
    m, n = a.shape[-2:]
    if full_matrices and m > n:
        raise NotImplementedError("qr: the derivative is not defined for full_matrices=True "
                                  f"with more rows than columns ({m} > {n})")
    if m >= n:
        return list(_qr_square_or_deep(q, r, da))
    # a = [x, y], r = [u, v]: x = q u is the square case, and dv = q^T (dy - dq v).
    dq, du = _qr_square_or_deep(q, slice_last(r, 1, 0, m), slice_last(da, 1, 0, m))
    dv = ops.matmul(q, ops.sub(slice_last(da, 1, m, n), ops.matmul(dq, slice_last(r, 1, m, n))),
                    transpose_a=True)
    return [dq, bind("concat", du, dv, axis=len(a.shape) - 1)]


def svd_jvp(ts: Any, a: Any, *, out: Any, full_matrices: bool, compute_uv: bool
            ) -> list[Any]:
    from .lapack_decomp import inverse_gaps, safe_reciprocal
    (da,) = ts
    if not compute_uv:
        _, u, v = bind("svd", a, full_matrices=False, compute_uv=True)
        return [diag_part(ops.matmul(u, ops.matmul(da, v), transpose_a=True))]
    if full_matrices and a.shape[-1] != a.shape[-2]:
        raise NotImplementedError("svd: the derivative is not defined for full_matrices=True "
                                  "with a non-square matrix (the extra singular vectors are "
                                  "arbitrary); use full_matrices=False")
    s, u, v = out
    m, n = a.shape[-2:]
    k = s.shape[-1]
    lead = tuple(s.shape[:-1])
    ds_mat = ops.matmul(u, ops.matmul(da, v), transpose_a=True)     # U^T dA V
    f = inverse_gaps(ops.mul(s, s))
    row = ops.reshape(s, lead + (1, k))
    col = ops.reshape(s, lead + (k, 1))
    dss = ops.mul(row, ds_mat)
    sds = ops.mul(col, ds_mat)
    du = ops.matmul(u, ops.mul(f, ops.add(dss, mT(dss))))
    dv = ops.matmul(v, ops.mul(f, ops.add(sds, mT(sds))))
    s_inv = ops.reshape(safe_reciprocal(s), lead + (1, k))
    if m > n:
        dav = ops.matmul(da, v)
        du = ops.add(du, ops.mul(ops.sub(dav, ops.matmul(u, ops.matmul(u, dav, transpose_a=True))),
                                 s_inv))
    if n > m:
        dahu = ops.matmul(da, u, transpose_a=True)
        dv = ops.add(dv, ops.mul(ops.sub(dahu, ops.matmul(v, ops.matmul(v, dahu,
                                                                      transpose_a=True))),
                                 s_inv))
    return [diag_part(ds_mat), du, dv]
