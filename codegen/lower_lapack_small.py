"""Our own kernel for small matrices: LU with partial pivoting and the solves with its
factors, emitted inline, for `solve`, `slogdet` and `lu` with n <= `SMALL_LU`.

OpenBLAS's `getrf` has a large fixed cost per call for small matrices (its blocked code is
built for large ones), more than the factorization's n^3/3 multiply-adds take in a plain
loop up to n = 64 (measurements at `SMALL_LU`). `potrf` has no such overhead: an
unblocked Cholesky kernel of the same kind was slower than it at every size, so
`cholesky` always calls LAPACK.

Invariants (those of LAPACK's `getf2`/`getrs`, so callers treat both the same):
- `emit_lu(lw, a, n, ipiv, info)` factors the column-major n x n buffer `a` in place into
  unit-lower L (below the diagonal) and U: at step k the pivot is the first row of largest
  |a[i, k]|, i >= k; `ipiv[k]` is its 1-based row, rows k and ipiv[k]-1 are swapped across
  all columns, the column below the pivot is divided by it and the trailing matrix
  updated. A zero pivot sets `info` to k + 1 (the first one only) and skips the division;
  the factorization goes on, as in LAPACK.
- `emit_lu_solve(lw, a, n, ipiv, b, m)` overwrites the column-major n x m buffer `b`
  with A^-1 b from the factors (row swaps, then L, then U): only after `info == 0`.
- Inner loops run down columns (unit stride), so they vectorize.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir

from .llvmtypes import scalar_constant
from .loops import I64, const, for_range

if TYPE_CHECKING:
    from .lower import Lowerer

#: The largest n that uses the kernels here rather than LAPACK's getrf. Measured (one
#: thread, `solve` with one right-hand side, best of 30): 64 x 8x8 19 us against 30 us,
#: 64 x 32x32 219 against 368, 8 x 64x64 146 against 172, 100x100 64 against 60, and
#: 4 x 128x128 5.0 ms against 1.5 ms (the blocked getrf wins from about 100).
SMALL_LU = 64


def _at(b: ir.IRBuilder, i: ir.Value, j: ir.Value, n: int) -> ir.Value:
    return b.add(i, b.mul(j, const(n)))


def emit_lu(lw: Lowerer, a: ir.Value, n: int, dt: Any, ipiv: ir.Value, info: ir.Value
            ) -> None:
    b = lw.b
    dt = np.dtype(dt)
    t = a.type.pointee
    fabs = lw.module.declare_intrinsic("llvm.fabs", [t])
    zero = scalar_constant(0, dt)
    best, piv = lw.alloca(t, "best"), lw.alloca(I64, "piv")
    b.store(const(0), info)
    with for_range(b, n, name="lu.k") as k:
        b.store(b.call(fabs, [lw.load_at(a, dt, _at(b, k, k, n))]), best)
        b.store(k, piv)
        with for_range(b, b.add(k, const(1)), const(n), name="lu.find") as i:
            v = b.call(fabs, [lw.load_at(a, dt, _at(b, i, k, n))])
            bigger = b.fcmp_ordered(">", v, b.load(best))
            b.store(b.select(bigger, v, b.load(best)), best)
            b.store(b.select(bigger, i, b.load(piv)), piv)
        p = b.load(piv)
        lw.store_at(ipiv, np.int64, k, b.add(p, const(1)))
        pivot = lw.load_at(a, dt, _at(b, p, k, n))
        nonzero = b.fcmp_unordered("!=", pivot, zero)
        with b.if_else(nonzero) as (then, otherwise):
            with then:
                with b.if_then(b.icmp_signed("!=", p, k)):
                    with for_range(b, n, name="lu.swap") as j:
                        x, y = _at(b, k, j, n), _at(b, p, j, n)
                        vx, vy = lw.load_at(a, dt, x), lw.load_at(a, dt, y)
                        lw.store_at(a, dt, x, vy)
                        lw.store_at(a, dt, y, vx)
                with for_range(b, b.add(k, const(1)), const(n), name="lu.scale") as i:
                    o = _at(b, i, k, n)
                    lw.store_at(a, dt, o, b.fdiv(lw.load_at(a, dt, o), pivot))
            with otherwise:
                with b.if_then(b.icmp_signed("==", b.load(info), const(0))):
                    b.store(b.add(k, const(1)), info)
        k1 = b.add(k, const(1))
        with for_range(b, k1, const(n), name="lu.col") as j:
            u = lw.load_at(a, dt, _at(b, k, j, n))
            with for_range(b, k1, const(n), name="lu.row") as i:
                o = _at(b, i, j, n)
                upd = b.fmul(lw.load_at(a, dt, _at(b, i, k, n)), u)
                lw.store_at(a, dt, o, b.fsub(lw.load_at(a, dt, o), upd))


def emit_lu_solve(lw: Lowerer, a: ir.Value, n: int, dt: Any, ipiv: ir.Value, rhs: ir.Value,
                  m: int) -> None:
    b = lw.b
    dt = np.dtype(dt)
    with for_range(b, m, name="sv.col") as c:
        with for_range(b, n, name="sv.swap") as k:
            p = b.sub(lw.load_at(ipiv, np.int64, k), const(1))
            x, y = _at(b, k, c, n), _at(b, p, c, n)
            vx, vy = lw.load_at(rhs, dt, x), lw.load_at(rhs, dt, y)
            lw.store_at(rhs, dt, x, vy)
            lw.store_at(rhs, dt, y, vx)
        with for_range(b, n, name="sv.l") as k:        # unit lower triangle, forward
            xk = lw.load_at(rhs, dt, _at(b, k, c, n))
            with for_range(b, b.add(k, const(1)), const(n), name="sv.li") as i:
                o = _at(b, i, c, n)
                upd = b.fmul(lw.load_at(a, dt, _at(b, i, k, n)), xk)
                lw.store_at(rhs, dt, o, b.fsub(lw.load_at(rhs, dt, o), upd))
        with for_range(b, n, name="sv.u") as kk:       # upper triangle, backward
            k = b.sub(const(n - 1), kk)
            ok = _at(b, k, c, n)
            xk = b.fdiv(lw.load_at(rhs, dt, ok), lw.load_at(a, dt, _at(b, k, k, n)))
            lw.store_at(rhs, dt, ok, xk)
            with for_range(b, k, name="sv.ui") as i:
                o = _at(b, i, c, n)
                upd = b.fmul(lw.load_at(a, dt, _at(b, i, k, n)), xk)
                lw.store_at(rhs, dt, o, b.fsub(lw.load_at(rhs, dt, o), upd))

