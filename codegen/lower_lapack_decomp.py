"""Kernel rules of `eigh`, `qr` and `svd`: LAPACK `syevd`, `geqrf` + `orgqr`, `gesdd`.

Invariants (besides those of `lower_lapack`): each calls the routine NumPy's `linalg`
calls, with the same job and triangle arguments, on the same column-major copy, so the
results (signs of eigen- and singular vectors included) are NumPy's. Workspace sizes come
from LAPACK's own query at lowering time (`lapack.workspace`) and live in the kernel's one
scratch block. An eigensolver or SVD that does not converge fails with LinAlgError.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from llvmlite import ir

from ..ir import Instr, Value
from ..ir.errors import LinAlgError
from ..ir.core import TensorType
from . import lapack
from .llvmtypes import scalar_constant
from .loops import const, for_range
from .lower_lapack import arena, batch_loop, copy_in, copy_out, fail
from .rules import failure_rule, kernel_rule

if TYPE_CHECKING:
    from .lower import Lowerer


def _check(lw: Lowerer, ins: Instr, info: ir.Value, k: ir.Value) -> None:
    b = lw.b
    with b.if_then(b.icmp_signed("!=", b.load(info), const(0)), likely=False):
        fail(lw, ins, b.load(info), k)


def _copy_vector(lw: Lowerer, out: Value, k: ir.Value, src: ir.Value, n: int) -> None:
    b = lw.b
    base = b.mul(k, const(n))
    with for_range(b, n, name="vec") as i:
        lw.store_at(lw.ptr(out), out.dtype, b.add(base, i), lw.load_at(src, out.dtype, i))


@kernel_rule("eigh")
def eigh(lw: Lowerer, ins: Instr) -> None:
    x = ins.inputs[0]
    e_out, v_out = ins.outs
    dt = x.dtype
    n = x.shape[-1]
    lwork, liwork = lapack.workspace("syevd", dt, ["V", "L", n, None, n, None, "work", "lwork",
                                                   "iwork", "liwork", 0])
    block, (wa, w, work, iwork, info) = arena(lw, [(n * n, dt), (n, dt), (lwork, dt),
                                                   (liwork, np.int64), (1, np.int64)])
    with batch_loop(lw, x) as (bidx, k):
        copy_in(lw, x, bidx, wa)
        lapack.call(lw, "syevd", dt, ["V", "L", n, wa, n, w, work, lwork, iwork, liwork, info])
        _check(lw, ins, info, k)
        _copy_vector(lw, e_out, k, w, n)
        copy_out(lw, v_out, k, wa, n)
    lw.free(block)


@kernel_rule("qr")
def qr(lw: Lowerer, ins: Instr) -> None:
    b = lw.b
    x = ins.inputs[0]
    q_out, r_out = ins.outs
    dt = x.dtype
    m, n = x.shape[-2:]
    k = min(m, n)
    qcols = q_out.shape[-1]
    lw1, _ = lapack.workspace("geqrf", dt, [m, n, None, m, None, "work", "lwork", 0])
    lw2, _ = lapack.workspace("orgqr", dt, [m, qcols, k, None, m, None, "work", "lwork", 0])
    lwork = max(lw1, lw2)
    block, (wa, wq, tau, work, info) = arena(
        lw, [(m * n, dt), (m * qcols if qcols > n else 0, dt), (max(k, 1), dt), (lwork, dt),
             (1, np.int64)])
    zero = scalar_constant(0, dt)
    with batch_loop(lw, x) as (bidx, bk):
        copy_in(lw, x, bidx, wa)
        lapack.call(lw, "geqrf", dt, [m, n, wa, m, tau, work, lwork, info])

        def upper(i: ir.Value, j: ir.Value, v: ir.Value) -> ir.Value:
            return b.select(b.icmp_signed(">=", j, i), v, zero)
        copy_out(lw, r_out, bk, wa, m, upper)
        qbuf = wa
        if qcols > n:       # full_matrices with m > n: Q is m x m, from the n reflectors
            qbuf = wq
            with for_range(b, m * qcols, name="qcopy") as t:
                src = lw.load_at(wa, dt, b.select(b.icmp_signed("<", t, const(m * n)), t,
                                                  const(0)))
                lw.store_at(wq, dt, t, b.select(b.icmp_signed("<", t, const(m * n)), src,
                                                zero))
        if k > 0:
            lapack.call(lw, "orgqr", dt, [m, qcols, k, qbuf, m, tau, work, lwork, info])
        else:
            _identity(lw, qbuf, m, qcols)
        copy_out(lw, q_out, bk, qbuf, m)
    lw.free(block)


def _identity(lw: Lowerer, buf: ir.Value, m: int, cols: int) -> None:
    """buf (column-major m x cols) = the identity's first columns (Q of an empty R)."""
    b = lw.b
    dt = np.dtype(np.float64) if buf.type.pointee == ir.DoubleType() else np.dtype(np.float32)
    with for_range(b, m * cols, name="eye") as t:
        lw.store_at(buf, dt, t, b.uitofp(b.icmp_signed("==", b.urem(t, const(m + 1)),
                                                        const(0)), buf.type.pointee))


@kernel_rule("svd")
def svd(lw: Lowerer, ins: Instr) -> None:
    x = ins.inputs[0]
    dt = x.dtype
    m, n = x.shape[-2:]
    k = min(m, n)
    full, uv = bool(ins.params["full_matrices"]), bool(ins.params["compute_uv"])
    job = ("A" if full else "S") if uv else "N"
    ucols, vrows = ((m, n) if full else (k, k)) if uv else (1, 1)
    ldu, ldvt = m, max(vrows, 1)
    lwork, _ = lapack.workspace("gesdd", dt, [job, m, n, None, m, None, None, ldu, None,
                                              ldvt, "work", "lwork", None, 0])
    block, (wa, s, u, vt, work, iwork, info) = arena(
        lw, [(m * n, dt), (k, dt), (m * ucols if uv else 1, dt), (vrows * n if uv else 1, dt),
             (lwork, dt), (8 * k, np.int64), (1, np.int64)])
    with batch_loop(lw, x) as (bidx, bk):
        copy_in(lw, x, bidx, wa)
        lapack.call(lw, "gesdd", dt, [job, m, n, wa, m, s, u, ldu, vt, ldvt, work, lwork,
                                      iwork, info])
        _check(lw, ins, info, bk)
        _copy_vector(lw, ins.outs[0], bk, s, k)
        if uv:
            copy_out(lw, ins.outs[1], bk, u, ldu)
            copy_out(lw, ins.outs[2], bk, vt, ldvt, transpose=True)
    lw.free(block)


@failure_rule("eigh", "svd")
def _not_converged(ins: Instr, info: int, batch: int) -> Exception:
    a = ins.inputs[0]
    t = TensorType(tuple(a.shape), a.dtype)
    return LinAlgError(f"{ins.prim}: the decomposition did not converge, in operand {t}")
