"""Kernel rules of `cholesky`, `triangular_solve`, `solve`, `slogdet` and `lu`: LAPACK
calls.

Invariants:
- Per matrix of the batch, the operands are read through an `Emitter` (so an inlined
  producer is computed here) into column-major scratch buffers (LAPACK's layout; it
  overwrites them), the routine runs on those, and the results are copied into the
  row-major output buffers. The copies are O(n^2) per matrix against the routine's
  O(n^3), and NumPy's `linalg` makes the same ones. All scratch is one heap block per
  kernel, allocated before the batch loop and freed after it; leading dimensions are the
  true row counts (>= 1: no kernel runs for an empty output).
- The routines are those NumPy's `linalg` calls (`potrf`, `gesv`, `getrf`) plus
  `getrs` and BLAS `trsm`, so results agree with the reference implementations to
  rounding. `cholesky` skips the transposing copies by reading a row-major matrix as
  LAPACK's column-major transpose: it factors in the output buffer with `potrf` 'U'
  (U = L^T). `solve` of n > `SMALL_LU` factors a as NumPy does (a tiled transposing
  copy, then `gesv`): the same routine on the same matrix, so a numerically singular
  matrix gives eager mode's result or error. LU of n <= `SMALL_LU` runs our own kernel
  instead (`lower_lapack_small`: getrf's overhead dominates there), with LAPACK's
  pivoting rule and `info` but its own order of operations: on a matrix that is
  singular to rounding it can meet an exact zero pivot where LAPACK does not (a
  LinAlgError where NumPy returns a huge result), or the reverse.
- `info` is checked after every call: `cholesky` writes NaN into the lower triangle of a
  matrix that is not positive definite (TensorFlow's result); `solve` and `lu` of a
  singular matrix fail with `lw.status = (info, batch number)`, which `FAILURES` turns
  into `LinAlgError` with the eager message; `slogdet` of one gives sign 0, log|det| -inf.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir

from ..ir import Instr, Value
from ..ir.errors import LinAlgError
from ..ir.prims.lapack import singular_message
from . import lapack
from .gemm_pack import transpose_square
from .lower_lapack_small import SMALL_LU, emit_lu, emit_lu_solve
from .llvmtypes import I32, mem_type, scalar_constant
from .loops import const, for_range, linear_index, loop_nest
from .plan import size_of
from .rules import failure_rule, kernel_rule

if TYPE_CHECKING:
    from .lower import Lowerer


def arena(lw: Lowerer, parts: list[tuple[int, Any]]) -> tuple[ir.Value, list[ir.Value]]:
    """One heap block holding buffers of `(elements, dtype)` each (64-byte aligned): the
    block (free it with `lw.free`) and the buffers as typed pointers."""
    offsets, total = [], 0
    for count, dt in parts:
        offsets.append(total)
        total += -(-max(1, count) * np.dtype(dt).itemsize // 64) * 64
    block = lw.malloc(total, ir.IntType(8))
    ptrs = [lw.b.bitcast(lw.b.gep(block, [const(off)], inbounds=True),
                         mem_type(np.dtype(dt)).as_pointer())
            for off, (_, dt) in zip(offsets, parts)]
    return block, ptrs


def fail(lw: Lowerer, ins: Instr, info: ir.Value, batch: ir.Value) -> None:
    """Write (info, batch number, code) to the status buffer and return the code."""
    code = lw.instr_number[id(ins)] + 1
    for k, x in enumerate((info, batch, const(code))):
        lw.b.store(x, lw.b.gep(lw.status, [const(k)], inbounds=True))
    lw.bail(ir.Constant(I32, code))


@contextlib.contextmanager
def batch_loop(lw: Lowerer, x: Value) -> Iterator[tuple[tuple[ir.Value, ...], ir.Value]]:
    """Loop over the matrices of `x` (all but its last two axes): (index, number)."""
    batch = tuple(x.shape[:-2])
    with loop_nest(lw.b, batch, "batch") as bidx:
        yield bidx, linear_index(lw.b, bidx, batch)


def copy_in(lw: Lowerer, x: Value, bidx: tuple[ir.Value, ...], dst: ir.Value,
            transpose: bool = False) -> None:
    """dst (column-major, leading dimension = rows) = the matrix bidx of x (or its
    transpose: then dst holds x's row-major layout)."""
    rows, cols = x.shape[-2:]
    em = lw.emitter()
    b = lw.b
    if transpose or rows * cols < _TILED_COPY_MIN:
        with loop_nest(b, (rows, cols), "in") as (i, j):
            off = b.add(b.mul(i, const(cols)), j) if transpose else \
                b.add(i, b.mul(j, const(rows)))
            lw.store_at(dst, x.dtype, off, em.value(x, bidx + (i, j)))
        return
    if rows % _VEC_TILE == 0 and cols % _VEC_TILE == 0 and id(x) in lw.plan.materialized:
        _copy_transposed(lw, x, bidx, dst)
        return
    # Into column-major order tile by tile: the strided stores of one tile stay in cache
    # (a row-by-row copy of a 512 x 512 float64 matrix took a fifth of its solve).
    t = _COPY_TILE
    with loop_nest(b, (-(-rows // t), -(-cols // t)), "tile") as (ti, tj):
        i0, j0 = b.mul(ti, const(t)), b.mul(tj, const(t))
        i1 = _min(b, b.add(i0, const(t)), const(rows))
        j1 = _min(b, b.add(j0, const(t)), const(cols))
        with for_range(b, i0, i1, name="in_i") as i:
            with for_range(b, j0, j1, name="in_j") as j:
                lw.store_at(dst, x.dtype, b.add(i, b.mul(j, const(rows))),
                            em.value(x, bidx + (i, j)))


# Matrices of at least this many elements are copied into column-major order in square
# tiles of `_COPY_TILE`.
_TILED_COPY_MIN = 64 * 64
_COPY_TILE = 16


_VEC_TILE = 8


def _copy_transposed(lw: Lowerer, x: Value, bidx: tuple[ir.Value, ...], dst: ir.Value
                     ) -> None:
    """copy_in of a materialized x whose sides are multiples of 8, in 8 x 8 blocks: eight
    row vectors loaded, transposed in registers, stored as eight column vectors. (The
    element-wise tiled copy of a 512 x 512 float64 matrix took 0.65 ms, a fifth of the
    solve: both strides are 4 KiB, so a tile's rows all fall in one L1 set.)"""
    b = lw.b
    rows, cols = x.shape[-2:]
    t = _VEC_TILE
    vt = ir.VectorType(mem_type(x.dtype), t)
    align = np.dtype(x.dtype).itemsize
    src = b.gep(lw.ptr(x), [b.mul(linear_index(b, bidx, tuple(x.shape[:-2])),
                                  const(rows * cols))])
    with loop_nest(b, (rows // t, cols // t), "vt") as (ti, tj):
        i0, j0 = b.mul(ti, const(t)), b.mul(tj, const(t))
        vecs = [b.load(b.bitcast(b.gep(src, [b.add(b.mul(b.add(i0, const(r)), const(cols)),
                                                    j0)]), vt.as_pointer()), align=align)
                for r in range(t)]
        for c, col in enumerate(transpose_square(b, vecs)):
            at = b.add(b.mul(b.add(j0, const(c)), const(rows)), i0)
            b.store(col, b.bitcast(b.gep(dst, [at]), vt.as_pointer()), align=align)


def _min(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def copy_out(lw: Lowerer, out: Value, number: ir.Value, src: ir.Value, ld: int,
             value: Any = None, transpose: bool = False) -> None:
    """The matrix `number` of out = src (column-major, leading dimension ld; or its
    transpose), each element passed through `value(i, j, element)` when given."""
    b = lw.b
    rows, cols = out.shape[-2:]
    base = b.mul(number, const(rows * cols))
    with loop_nest(b, (rows, cols), "out") as (i, j):
        r, c = (j, i) if transpose else (i, j)
        v = lw.load_at(src, out.dtype, b.add(r, b.mul(c, const(ld))))
        if value is not None:
            v = value(i, j, v)
        lw.store_at(lw.ptr(out), out.dtype, b.add(base, b.add(b.mul(i, const(cols)), j)), v)


def _getrf(lw: Lowerer, a: ir.Value, n: int, dt: Any, ipiv: ir.Value, info: ir.Value
           ) -> None:
    """LU with partial pivoting in place: our kernel for small n, else LAPACK's getrf."""
    if n <= SMALL_LU:
        emit_lu(lw, a, n, dt, ipiv, info)
    else:
        lapack.call(lw, "getrf", dt, [n, n, a, n, ipiv, info])


def _nan(dt: np.dtype) -> ir.Constant:
    return scalar_constant(np.nan, dt)


@kernel_rule("cholesky")
def cholesky(lw: Lowerer, ins: Instr) -> None:
    """In the output: the lower triangle of x, zeros above, in x's row-major layout, which
    is column-major x^T, whose upper triangle `potrf` 'U' factors as U = L^T in place;
    read row-major again, that is L (no transposing copy: at n = 512 the two copies
    through LAPACK's column-major layout cost more than `potrf` itself)."""
    b = lw.b
    x, out = ins.inputs[0], ins.outs[0]
    dt = x.dtype
    n = x.shape[-1]
    po = lw.ptr(out)
    info = lw.alloca(ir.IntType(64), "info")
    zero = scalar_constant(0, dt)
    with batch_loop(lw, x) as (bidx, k):
        base = b.mul(k, const(n * n))
        em = lw.emitter()
        with loop_nest(b, (n, n), "in") as (i, j):
            lower = b.icmp_signed("<=", j, i)
            at = b.add(base, b.add(b.mul(i, const(n)), j))
            lw.store_at(po, dt, at, b.select(lower, em.value(x, bidx + (i, j)), zero))
        lapack.call(lw, "potrf", dt, ["U", n, b.gep(po, [base]), n, info])
        with b.if_then(b.icmp_signed("!=", b.load(info), const(0)), likely=False):
            with loop_nest(b, (n, n), "nan") as (i, j):
                with b.if_then(b.icmp_signed("<=", j, i)):
                    lw.store_at(po, dt, b.add(base, b.add(b.mul(i, const(n)), j)), _nan(dt))


@kernel_rule("triangular_solve")
def triangular_solve(lw: Lowerer, ins: Instr) -> None:
    a, rhs = ins.inputs
    out = ins.outs[0]
    dt = out.dtype
    n, m = rhs.shape[-2:]
    lower, adjoint = bool(ins.params["lower"]), bool(ins.params["adjoint"])
    block, (wa, wb) = arena(lw, [(n * n, dt), (n * m, dt)])
    alpha = lapack.scalar_slot(lw, dt, 1.0)
    with batch_loop(lw, a) as (bidx, k):
        copy_in(lw, a, bidx, wa)
        copy_in(lw, rhs, bidx, wb)
        lapack.call(lw, "trsm", dt, ["L", "L" if lower else "U", "T" if adjoint else "N", "N",
                                     n, m, alpha, wa, n, wb, n])
        copy_out(lw, out, k, wb, n)
    lw.free(block)


@kernel_rule("solve")
def solve(lw: Lowerer, ins: Instr) -> None:
    b = lw.b
    a, rhs = ins.inputs
    out = ins.outs[0]
    dt = out.dtype
    n, m = rhs.shape[-2:]
    block, (wa, wb, ipiv, info) = arena(lw, [(n * n, dt), (n * m, dt), (n, np.int64),
                                             (1, np.int64)])
    adjoint = bool(ins.params["adjoint"])
    with batch_loop(lw, a) as (bidx, k):
        # The LU of a (of a^T for the adjoint), as NumPy's solve factors it: the same
        # pivots, so the same result, or the same singular matrix, as eager mode.
        # (Factoring the row-major a as column-major a^T, getrs 'T', saves the
        # transposing copy but pivots differently: a matrix with two equal rows then
        # raised LinAlgError where NumPy returns its huge result.)
        copy_in(lw, a, bidx, wa, transpose=adjoint)
        copy_in(lw, rhs, bidx, wb)
        if n <= SMALL_LU:
            emit_lu(lw, wa, n, dt, ipiv, info)
        else:
            lapack.call(lw, "gesv", dt, [n, m, wa, n, ipiv, wb, n, info])
        with b.if_then(b.icmp_signed("!=", b.load(info), const(0)), likely=False):
            fail(lw, ins, b.load(info), k)
        if n <= SMALL_LU:
            emit_lu_solve(lw, wa, n, dt, ipiv, wb, m)
        copy_out(lw, out, k, wb, n)
    lw.free(block)


@failure_rule("solve", "lu")
def _singular(ins: Instr, info: int, batch: int) -> Exception:
    a = ins.inputs[0]
    return LinAlgError(singular_message(ins.prim, tuple(a.shape), a.dtype, batch))


@kernel_rule("slogdet")
def slogdet(lw: Lowerer, ins: Instr) -> None:
    """getrf, then sign = parity of the pivots times the signs of U's diagonal and
    log|det| = the sum of log|u_ii| in order (NumPy's slogdet)."""
    b = lw.b
    x = ins.inputs[0]
    sign_out, log_out = ins.outs
    dt = x.dtype
    n = x.shape[-1]
    one, zero = scalar_constant(1, dt), scalar_constant(0, dt)
    if n == 0:
        with for_range(b, size_of(sign_out.shape), name="empty") as k:
            lw.store_at(lw.ptr(sign_out), dt, k, one)
            lw.store_at(lw.ptr(log_out), dt, k, zero)
        return
    t = mem_type(dt)
    log = lw.module.declare_intrinsic("llvm.log", [t])
    fabs = lw.module.declare_intrinsic("llvm.fabs", [t])
    block, (work, ipiv, info) = arena(lw, [(n * n, dt), (n, np.int64), (1, np.int64)])
    sign, acc = lw.alloca(t, "sign"), lw.alloca(t, "logdet")
    with batch_loop(lw, x) as (bidx, k):
        copy_in(lw, x, bidx, work)
        _getrf(lw, work, n, dt, ipiv, info)
        b.store(one, sign)
        b.store(zero, acc)
        with for_range(b, n, name="diag") as i:
            d = lw.load_at(work, dt, b.mul(i, const(n + 1)))
            swapped = b.icmp_signed("!=", lw.load_at(ipiv, np.int64, i), b.add(i, const(1)))
            s = b.select(b.fcmp_ordered("<", d, zero), b.fneg(one), one)
            s = b.select(swapped, b.fneg(s), s)
            b.store(b.fmul(b.load(sign), s), sign)
            b.store(b.fadd(b.load(acc), b.call(log, [b.call(fabs, [d])])), acc)
        singular = b.icmp_signed("!=", b.load(info), const(0))
        lw.store_at(lw.ptr(sign_out), dt, k, b.select(singular, zero, b.load(sign)))
        lw.store_at(lw.ptr(log_out), dt, k,
                    b.select(singular, scalar_constant(-np.inf, dt), b.load(acc)))
    lw.free(block)


@kernel_rule("lu")
def lu(lw: Lowerer, ins: Instr) -> None:
    """getrf; the row interchanges ipiv (1-based, applied in order) become the permutation
    p with a[p] = L U (TensorFlow's)."""
    b = lw.b
    x = ins.inputs[0]
    lu_out, p_out = ins.outs
    dt = x.dtype
    n = x.shape[-1]
    block, (work, ipiv, perm, info) = arena(lw, [(n * n, dt), (n, np.int64), (n, np.int64),
                                                 (1, np.int64)])
    with batch_loop(lw, x) as (bidx, k):
        copy_in(lw, x, bidx, work)
        _getrf(lw, work, n, dt, ipiv, info)
        with b.if_then(b.icmp_signed("!=", b.load(info), const(0)), likely=False):
            fail(lw, ins, b.load(info), k)
        copy_out(lw, lu_out, k, work, n)
        with for_range(b, n, name="iota") as i:
            lw.store_at(perm, np.int64, i, i)
        with for_range(b, n, name="swap") as i:
            j = b.sub(lw.load_at(ipiv, np.int64, i), const(1))
            pi, pj = lw.load_at(perm, np.int64, i), lw.load_at(perm, np.int64, j)
            lw.store_at(perm, np.int64, i, pj)
            lw.store_at(perm, np.int64, j, pi)
        base = b.mul(k, const(n))
        with for_range(b, n, name="perm") as i:
            lw.store_at(lw.ptr(p_out), np.int32, b.add(base, i),
                        b.trunc(lw.load_at(perm, np.int64, i), I32))
    lw.free(block)
