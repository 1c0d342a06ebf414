"""Linear algebra on LAPACK, part 2: the decompositions `eigh`, `qr`, `svd`.

Invariants (besides those of `lapack`):
- `eigh(a) -> (e, v)`: eigenvalues ascending and orthonormal eigenvectors in the columns
  of v, reading only the lower triangle of a (NumPy's `eigh(UPLO="L")`, LAPACK `syevd`).
  Its VJP is TensorFlow's: V (diag(ge) + F * (V^T gV)) V^T, with F_ij = 1/(e_j - e_i)
  computed as TensorFlow's safe reciprocal x / (x^2 + 1e-20), so a pair of equal
  eigenvalues contributes 0 instead of inf (right for a loss that does not depend on the
  choice of basis within an eigenspace: where the loss does, no derivative exists), then
  taken to the lower triangle (`lower_form`).
- `qr(a; full_matrices) -> (q, r)` (`geqrf` + `orgqr`, NumPy's `qr`), VJP TensorFlow's
  (Walter & Lehmann; Seeger et al. 2017), which TensorFlow leaves undefined for
  `full_matrices` with more rows than columns: so do we (NotImplementedError).
- `svd(a; full_matrices, compute_uv) -> (s, u, v)` or `(s,)` (`gesdd`, NumPy's `svd`;
  TensorFlow returns v, not v^T), singular values descending. VJP TensorFlow's (Townsend
  2016, "Differentiating the singular value decomposition"), with the same safe
  reciprocal for equal singular values, and undefined with `full_matrices` when the
  matrix's sides differ by more than one (TensorFlow's NotImplementedError).
- A decomposition that does not converge raises LinAlgError.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..core import TensorType, bind
from ..errors import LinAlgError
from .matrix_util import (band, check_matrix, diag_embed, lower_form, mT, slice_last)
from . import lapack_jvp as jv
from .registry import Primitive, register


def safe_reciprocal(x: Any) -> Any:
    """x / (x^2 + 1e-20): 1/x away from 0, and 0 at 0 (TensorFlow's _SafeReciprocal)."""
    return ops.div(x, ops.add(ops.mul(x, x), ops.const(1e-20, x.dtype)))


def inverse_gaps(e: Any) -> Any:
    """F[..., i, j] = safe_reciprocal(e_j - e_i) off the diagonal and 0 on it (TensorFlow's
    matrix_set_diag(..., 0)). The diagonal is selected away rather than computed as
    safe_reciprocal(0) = 0: that one's derivative is 1e20, and its cotangents, which cancel
    exactly in theory, would not cancel in rounding in a second derivative."""
    lead = tuple(e.shape[:-1])
    n = e.shape[-1]
    gaps = ops.sub(ops.reshape(e, lead + (1, n)), ops.reshape(e, lead + (n, 1)))
    i, j = ops.iota((n, n), 0, np.int64), ops.iota((n, n), 1, np.int64)
    off = bind("ne", i, j)
    one = ops.full((), 1, e.dtype)
    return ops.select(off, safe_reciprocal(ops.select(off, gaps, one)), ops.full((), 0, e.dtype))


def _converged(op: str, f: Any, a: np.ndarray) -> Any:
    try:
        return f()
    except np.linalg.LinAlgError:
        raise LinAlgError(f"{op}: the decomposition did not converge, in operand "
                          f"{TensorType(a.shape, a.dtype)}") from None

# --------------------------------------------------------------------------- eigh


def _eigh_rule(a: TensorType) -> list[TensorType]:
    check_matrix("eigh", a)
    return [TensorType(tuple(a.shape[:-1]), a.dtype), a]


def _eigh_impl(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    e, v = _converged("eigh", lambda: np.linalg.eigh(a, UPLO="L"), a)
    return e.astype(a.dtype), v.astype(a.dtype)


def _eigh_vjp(g: Any, a: Any, *, out: Any) -> tuple[Any]:
    ge, gv = g
    e, v = out
    f = inverse_gaps(e)
    inner = ops.add(diag_embed(ge), ops.mul(f, ops.matmul(v, gv, transpose_a=True)))
    ga = ops.matmul(v, ops.matmul(inner, v, transpose_b=True))
    return (lower_form(ga),)


register(Primitive("eigh", kind="kernel", shape_rule=_eigh_rule, impl=_eigh_impl,
                   vjp=_eigh_vjp, jvp=jv.eigh_jvp, n_inputs=1, n_outs=2))

# --------------------------------------------------------------------------- qr


def _qr_rule(a: TensorType, *, full_matrices: bool) -> list[TensorType]:
    check_matrix("qr", a, square=False)
    m, n = a.shape[-2:]
    k = m if full_matrices else min(m, n)
    lead = tuple(a.shape[:-2])
    return [TensorType(lead + (m, k), a.dtype), TensorType(lead + (k, n), a.dtype)]


def _qr_impl(a: np.ndarray, *, full_matrices: bool) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    q, r = np.linalg.qr(a, mode="complete" if full_matrices else "reduced")
    return q.astype(a.dtype), r.astype(a.dtype)


def _tri_solve_right(x: Any, r: Any) -> Any:
    """x R^-T for upper-triangular R (TensorFlow's _TriangularSolve in QrGrad)."""
    return mT(bind("triangular_solve", r, mT(x), lower=False, adjoint=False))


def _qr_square_or_deep(q: Any, r: Any, dq: Any, dr: Any) -> Any:
    qdq = ops.matmul(q, dq, transpose_a=True)
    qdq_ = ops.sub(qdq, mT(qdq))
    rdr = ops.matmul(r, dr, transpose_b=True)
    rdr_ = ops.sub(rdr, mT(rdr))
    tril = band(ops.add(qdq_, rdr_), lower=True)
    grad_a = ops.matmul(q, ops.add(dr, _tri_solve_right(tril, r)))
    grad_b = _tri_solve_right(ops.sub(dq, ops.matmul(q, qdq)), r)
    return ops.add(grad_a, grad_b)


def _qr_vjp(g: Any, a: Any, *, out: Any, full_matrices: bool) -> tuple[Any]:
    dq, dr = g
    q, r = out
    m, n = a.shape[-2:]
    if full_matrices and m > n:
        raise NotImplementedError("qr: the gradient is not defined for full_matrices=True "
                                  f"with more rows than columns ({m} > {n}), as in "
                                  "TensorFlow; use full_matrices=False")
    if m >= n:
        return (_qr_square_or_deep(q, r, dq, dr),)
    # a = [x, y], r = [u, v]: reduce to the square case (TensorFlow's QrGrad).
    y = slice_last(a, 1, m, n)
    u = slice_last(r, 1, 0, m)
    dv = slice_last(dr, 1, m, n)
    du = slice_last(dr, 1, 0, m)
    dy = ops.matmul(q, dv)
    dx = _qr_square_or_deep(q, u, ops.add(dq, ops.matmul(y, dv, transpose_b=True)), du)
    return (bind("concat", dx, dy, axis=len(a.shape) - 1),)


register(Primitive("qr", kind="kernel", params={"full_matrices": False}, shape_rule=_qr_rule,
                   impl=_qr_impl, vjp=_qr_vjp, jvp=jv.qr_jvp, n_inputs=1, n_outs=2))

# --------------------------------------------------------------------------- svd


def _svd_rule(a: TensorType, *, full_matrices: bool, compute_uv: bool) -> list[TensorType]:
    check_matrix("svd", a, square=False)
    m, n = a.shape[-2:]
    k = min(m, n)
    lead = tuple(a.shape[:-2])
    s = TensorType(lead + (k,), a.dtype)
    if not compute_uv:
        return [s]
    cu, cv = (m, n) if full_matrices else (k, k)
    return [s, TensorType(lead + (m, cu), a.dtype), TensorType(lead + (n, cv), a.dtype)]


def _svd_impl(a: np.ndarray, *, full_matrices: bool, compute_uv: bool) -> Any:
    a = np.asarray(a)
    if not compute_uv:
        s = _converged("svd", lambda: np.linalg.svd(a, compute_uv=False), a)
        return s.astype(a.dtype)
    u, s, vh = _converged("svd", lambda: np.linalg.svd(a, full_matrices=full_matrices), a)
    return s.astype(a.dtype), u.astype(a.dtype), np.swapaxes(vh, -1, -2).astype(a.dtype)


def _svd_vjp(g: Any, a: Any, *, out: Any, full_matrices: bool, compute_uv: bool
             ) -> tuple[Any]:
    """TensorFlow's _SvdGrad."""
    if not compute_uv:
        gs = g[0] if isinstance(g, (tuple, list)) else g
        _, u, v = bind("svd", a, full_matrices=False, compute_uv=True)
        return (ops.matmul(u, ops.matmul(diag_embed(gs), v, transpose_b=True)),)
    gs, gu, gv = g
    s, u, v = out
    m, n = a.shape[-2:]
    adjoint = m > n
    if adjoint:     # the gradient of A^T = V S U^T, transposed at the end
        m, n = n, m
        u, v = v, u
        gu, gv = gv, gu
    if full_matrices and abs(m - n) > 1:
        raise NotImplementedError("svd: the gradient is not defined for full_matrices=True "
                                  "when the matrix's sides differ by more than 1, as in "
                                  "TensorFlow; use full_matrices=False")
    s_mat = diag_embed(s)
    f = inverse_gaps(ops.mul(s, s))
    s_inv = diag_embed(safe_reciprocal(s))
    v1 = slice_last(v, 1, 0, m)
    gv1 = slice_last(gv, 1, 0, m)
    f_u = ops.mul(f, ops.matmul(u, gu, transpose_a=True))
    f_v = ops.mul(f, ops.matmul(v1, gv1, transpose_a=True))
    term1_nouv = ops.add(ops.add(diag_embed(gs), ops.matmul(ops.add(f_u, mT(f_u)), s_mat)),
                         ops.matmul(s_mat, ops.add(f_v, mT(f_v))))
    ga = ops.matmul(u, ops.matmul(term1_nouv, v1, transpose_b=True))
    if m != n:
        gv1t = mT(gv1)
        term2 = ops.sub(gv1t, ops.matmul(ops.matmul(gv1t, v1), v1, transpose_b=True))
        if full_matrices:
            v2 = slice_last(v, 1, m, n)
            gv2 = slice_last(gv, 1, m, n)
            term2 = ops.sub(term2, ops.matmul(ops.matmul(v1, gv2, transpose_a=True), v2,
                                              transpose_b=True))
        ga = ops.add(ga, ops.matmul(ops.matmul(u, s_inv), term2))
    return (mT(ga) if adjoint else ga,)


register(Primitive("svd", kind="kernel", params={"full_matrices": False, "compute_uv": True},
                   shape_rule=_svd_rule, impl=_svd_impl, vjp=_svd_vjp, jvp=jv.svd_jvp,
                   n_inputs=1,
                   n_outs=lambda full_matrices, compute_uv: 3 if compute_uv else 1))
