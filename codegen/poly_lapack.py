"""Runtime-sized LAPACK rules for matrices whose order is unknown (`lower_poly.py`):
`cholesky`, `triangular_solve`, `solve`, `slogdet` and `lu` of `(..., n, n)` with `n` (and
the batch, and a right-hand side's columns) known only at run time, as a Gram matrix
`x @ transpose(x)` of `x` with an unknown number of rows is.

The routines are those `lower_lapack` calls (`potrf` 'L', `trsm`, `gesv`, `getrf`), with
sizes passed as runtime integers; none needs a workspace, so the scratch (the
column-major copy of a matrix, pivots, `info`) is sized at run time from the function's
scratch block (`temporaries`). When only batch dimensions are unknown, `PolyKernels`'
block calls of the fixed-shape kernel run instead (its small-matrix LU included).

Invariants (those of `lower_lapack`): per matrix, operands are copied into column-major
scratch (leading dimension max(1, n)), the routine runs there, the results are copied
out; an empty matrix calls no routine; `cholesky` of a matrix that is not positive
definite gives NaN in its lower triangle, `solve` and `lu` of a singular one fail with
status `(info, matrix number)` and this instruction's code (`FAILURES` raises the
LinAlgError eager mode raises), `slogdet` of one gives sign 0 and log|det| -inf.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from llvmlite import ir

from ..ir import Instr, TensorType, Value, dims
from . import lapack
from .llvmtypes import I32, mem_type, scalar_constant
from .loops import ZERO, const, for_range
from .poly_kernels import PolyKernels, kernel_blocker

#: The LAPACK primitives whose matrix order may be unknown.
ORDER = ("cholesky", "lu", "slogdet", "solve", "triangular_solve")


def _runtime_order(ins: Instr) -> bool:
    return ins.prim in ORDER and kernel_blocker(ins) is not None


class PolyLapack(PolyKernels):
    """The runtime-order rules (see the module docstring)."""

    def temporaries(self, ins: Instr) -> list[Value]:
        if not _runtime_order(ins):
            return super().temporaries(ins)
        a, dt = ins.inputs[0], ins.inputs[0].dtype
        n = a.type.shape[-1]
        out = [Value(TensorType((n, n), dt)), Value(TensorType((n,), np.int64)),
               Value(TensorType((n,), np.int64)), Value(TensorType((1,), np.int64))]
        if ins.prim in ("solve", "triangular_solve"):
            out.append(Value(TensorType(ins.inputs[1].type.shape[-2:], dt)))
        return out

    def alloca(self, ty: ir.Type, name: str = "slot") -> ir.Value:
        """A stack slot in the entry block (for `lapack.call`'s arguments)."""
        with self.b.goto_block(self.alloca_block):
            return self.b.alloca(ty, name=name)

    def _matrix_loop(self, ins: Instr, body: Callable[[ir.Value, ir.Value], None]) -> None:
        """`body(k, n)` for every matrix k of the batch, n the runtime order."""
        a = ins.inputs[0]
        total = self.dim(dims.size(a.type.shape[:-2]))
        n = self.dim(a.type.shape[-1])
        with for_range(self.b, total, name="mat") as k:
            body(k, n)

    def _copy_in(self, x: Value, k: ir.Value, dst: ir.Value, transpose: bool = False) -> None:
        """dst (column-major, leading dimension max(1, rows)) = matrix k of x (or its
        transpose)."""
        b = self.b
        rows, cols = (self.dim(d) for d in x.type.shape[-2:])
        base = b.mul(k, b.mul(rows, cols))
        ld = self._ld(rows)

        def body(idx: tuple[ir.Value, ...]) -> None:
            i, j = idx
            at = b.add(b.mul(i, self._ld(cols)), j) if transpose else b.add(i, b.mul(j, ld))
            v = self.load(x, b.add(base, b.add(b.mul(i, cols), j)))
            b.store(v, b.gep(dst, [at], inbounds=True))
        self.nest([rows, cols], body, "in")

    def _copy_out(self, out: Value, k: ir.Value, src: ir.Value, ld: ir.Value,
                  value: Callable[[ir.Value, ir.Value, ir.Value], ir.Value] | None = None
                  ) -> None:
        b = self.b
        rows, cols = (self.dim(d) for d in out.type.shape[-2:])
        base = b.mul(k, b.mul(rows, cols))

        def body(idx: tuple[ir.Value, ...]) -> None:
            i, j = idx
            v = b.load(b.gep(src, [b.add(i, b.mul(j, ld))], inbounds=True))
            if value is not None:
                v = value(i, j, v)
            self.store(out, b.add(base, b.add(b.mul(i, cols), j)), v)
        self.nest([rows, cols], body, "out")

    def _ld(self, n: ir.Value) -> ir.Value:
        b = self.b
        return b.select(b.icmp_signed(">", n, const(1)), n, const(1))

    def _scratch(self, ins: Instr) -> list[ir.Value]:
        return [self.ptr(v) for v in self.temps[id(ins)]]

    def _fail(self, ins: Instr, info: ir.Value, k: ir.Value) -> None:
        b = self.b
        code = self.number[id(ins)] + 1
        for j, x in enumerate((info, k, const(code))):
            b.store(x, b.gep(self.status, [const(j)]))
        self.release()
        b.ret(ir.Constant(I32, code))

    def _call_if(self, n: ir.Value, routine: str, dt: Any, args: list[Any]) -> None:
        with self.b.if_then(self.b.icmp_signed(">", n, ZERO)):
            lapack.call(self, routine, dt, args)    # type: ignore[arg-type]

    def _cholesky(self, ins: Instr) -> None:
        if not _runtime_order(ins):
            self._kernel(ins)
            return
        b, x, out = self.b, ins.inputs[0], ins.outs[0]
        dt = x.dtype
        work, _, _, info = self._scratch(ins)

        def body(k: ir.Value, n: ir.Value) -> None:
            b.store(ZERO, info)
            self._copy_in(x, k, work)
            self._call_if(n, "potrf", dt, ["L", n, work, self._ld(n), info])
            failed = b.icmp_signed("!=", b.load(info), ZERO)
            nan, zero = scalar_constant(np.nan, dt), scalar_constant(0, dt)

            def value(i: ir.Value, j: ir.Value, v: ir.Value) -> ir.Value:
                return b.select(b.icmp_signed("<=", j, i), b.select(failed, nan, v), zero)
            self._copy_out(out, k, work, self._ld(n), value)
        self._matrix_loop(ins, body)

    def _triangular_solve(self, ins: Instr) -> None:
        if not _runtime_order(ins):
            self._kernel(ins)
            return
        a, rhs = ins.inputs
        out, dt = ins.outs[0], ins.outs[0].dtype
        lower, adjoint = bool(ins.params["lower"]), bool(ins.params["adjoint"])
        wa, _, _, _, wb = self._scratch(ins)
        alpha = lapack.scalar_slot(self, dt, 1.0)    # type: ignore[arg-type]
        m = self.dim(rhs.type.shape[-1])

        def body(k: ir.Value, n: ir.Value) -> None:
            self._copy_in(a, k, wa)
            self._copy_in(rhs, k, wb)
            ld = self._ld(n)
            with self.b.if_then(self.b.icmp_signed(">", m, ZERO)):
                self._call_if(n, "trsm", dt, ["L", "L" if lower else "U",
                                              "T" if adjoint else "N", "N", n, m, alpha,
                                              wa, ld, wb, ld])
            self._copy_out(out, k, wb, ld)
        self._matrix_loop(ins, body)

    def _solve(self, ins: Instr) -> None:
        if not _runtime_order(ins):
            self._kernel(ins)
            return
        b = self.b
        a, rhs = ins.inputs
        out, dt = ins.outs[0], ins.outs[0].dtype
        wa, ipiv, _, info, wb = self._scratch(ins)
        m = self.dim(rhs.type.shape[-1])

        def body(k: ir.Value, n: ir.Value) -> None:
            b.store(ZERO, info)
            self._copy_in(a, k, wa, transpose=bool(ins.params["adjoint"]))
            self._copy_in(rhs, k, wb)
            ld = self._ld(n)
            self._call_if(n, "gesv", dt, [n, m, wa, ld, ipiv, wb, ld, info])
            with b.if_then(b.icmp_signed("!=", b.load(info), ZERO), likely=False):
                self._fail(ins, b.load(info), k)
            self._copy_out(out, k, wb, ld)
        self._matrix_loop(ins, body)

    def _slogdet(self, ins: Instr) -> None:
        """getrf, then the sign from the pivots and U's diagonal and log|det| the sum of
        log|u_ii| in order (`lower_lapack.slogdet`'s arithmetic)."""
        if not _runtime_order(ins):
            self._kernel(ins)
            return
        b, x = self.b, ins.inputs[0]
        sign_out, log_out = ins.outs
        dt = x.dtype
        t = mem_type(dt)
        log = self.module.declare_intrinsic("llvm.log", [t])
        fabs = self.module.declare_intrinsic("llvm.fabs", [t])
        one, zero = scalar_constant(1, dt), scalar_constant(0, dt)
        work, ipiv, _, info = self._scratch(ins)
        sign, acc = self.alloca(t, "sign"), self.alloca(t, "logdet")

        def body(k: ir.Value, n: ir.Value) -> None:
            b.store(ZERO, info)
            self._copy_in(x, k, work)
            ld = self._ld(n)
            self._call_if(n, "getrf", dt, [n, n, work, ld, ipiv, info])
            b.store(one, sign)
            b.store(zero, acc)
            with for_range(b, n, name="diag") as i:
                d = b.load(b.gep(work, [b.mul(i, b.add(ld, const(1)))]))
                swapped = b.icmp_signed("!=", b.load(b.gep(ipiv, [i])), b.add(i, const(1)))
                s = b.select(b.fcmp_ordered("<", d, zero), b.fneg(one), one)
                s = b.select(swapped, b.fneg(s), s)
                b.store(b.fmul(b.load(sign), s), sign)
                b.store(b.fadd(b.load(acc), b.call(log, [b.call(fabs, [d])])), acc)
            singular = b.icmp_signed("!=", b.load(info), ZERO)
            self.store(sign_out, k, b.select(singular, zero, b.load(sign)))
            self.store(log_out, k, b.select(singular, scalar_constant(-np.inf, dt),
                                            b.load(acc)))
        self._matrix_loop(ins, body)

    def _lu(self, ins: Instr) -> None:
        """getrf; the row interchanges become the permutation p with a[p] = L U."""
        if not _runtime_order(ins):
            self._kernel(ins)
            return
        b, x = self.b, ins.inputs[0]
        lu_out, p_out = ins.outs
        dt = x.dtype
        work, ipiv, perm, info = self._scratch(ins)

        def body(k: ir.Value, n: ir.Value) -> None:
            b.store(ZERO, info)
            self._copy_in(x, k, work)
            ld = self._ld(n)
            self._call_if(n, "getrf", dt, [n, n, work, ld, ipiv, info])
            with b.if_then(b.icmp_signed("!=", b.load(info), ZERO), likely=False):
                self._fail(ins, b.load(info), k)
            self._copy_out(lu_out, k, work, ld)
            with for_range(b, n, name="iota") as i:
                b.store(i, b.gep(perm, [i]))
            with for_range(b, n, name="swap") as i:
                j = b.sub(b.load(b.gep(ipiv, [i])), const(1))
                pi, pj = b.load(b.gep(perm, [i])), b.load(b.gep(perm, [j]))
                b.store(pj, b.gep(perm, [i]))
                b.store(pi, b.gep(perm, [j]))
            base = b.mul(k, n)
            with for_range(b, n, name="perm") as i:
                self.store(p_out, b.add(base, i), b.trunc(b.load(b.gep(perm, [i])), I32))
        self._matrix_loop(ins, body)

