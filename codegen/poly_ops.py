"""The instructions' rules of runtime-sized lowering (`lower_poly.py`): each one loop nest
(or a gemm call) over sizes known at run time, on the buffers `PolyCore` lays out.
"""
from __future__ import annotations


import numpy as np
from llvmlite import ir

from ..ir import Instr, Value, dims
from .accumulate import combine, identity
from .blas import use_blas
from .gemm import BLAS_MIN_WORK, declare_gemm
from .llvmtypes import I1, I8, I32, mem_type, reg_type, scalar_constant
from .loops import I64, ZERO, const, for_range
from .lower_elementwise import convert
from .poly_core import row_reduction
from .poly_regions import PolyRegions


class PolyLowerer(PolyRegions):
    """`PolyCore` with a rule per primitive (`_<name>`; elementwise ones share
    `PolyCore._elementwise`; scans, segments, random draws and sort are `PolyRows`',
    convolutions, pools and LAPACK kernels `PolyKernels`', while/cond/scan `PolyRegions`')."""

    def _constant(self, ins: Instr) -> None:
        out = ins.outs[0]
        value = np.ascontiguousarray(ins.params["value"])
        flat = value.reshape(-1)
        if flat.size <= 1 or bool((flat.view(np.uint8).reshape(flat.size, -1)
                                   == flat[:1].view(np.uint8)).all()):
            c = scalar_constant(flat[0] if flat.size else 0, out.dtype)
            self.nest([self.count(out)], lambda idx: self.store(out, idx[0], c))
            return
        data = value.astype(np.uint8) if value.dtype.kind == "b" else value
        aty = ir.ArrayType(I8, max(1, data.nbytes))
        g = ir.GlobalVariable(self.module, aty, self.module.get_unique_name("const"))
        g.linkage, g.global_constant = "private", True
        g.initializer = ir.Constant(aty, bytearray(data.tobytes()) or bytearray(1))
        src = self.b.bitcast(g, mem_type(value.dtype).as_pointer())

        def body(idx: tuple[ir.Value, ...]) -> None:
            x = self.b.load(self.b.gep(src, [idx[0]]), align=value.dtype.itemsize)
            self.b.store(x, self.b.gep(self.ptr(out), [idx[0]]), align=value.dtype.itemsize)
        self.nest([const(flat.size)], body)

    def _iota(self, ins: Instr) -> None:
        out, d = ins.outs[0], ins.params["dimension"]
        self.nest(self.shape(out), lambda idx: self.store(
            out, self.offset(idx, out.type.shape), convert(self.b, idx[d], np.int64, out.dtype)))

    def _reshape(self, ins: Instr) -> None:
        self.ptrs[id(ins.outs[0])] = self.b.bitcast(
            self.ptr(ins.inputs[0]), mem_type(ins.outs[0].dtype).as_pointer())

    def _transpose(self, ins: Instr) -> None:
        x, out, perm = ins.inputs[0], ins.outs[0], ins.params["perm"]

        def body(idx: tuple[ir.Value, ...]) -> None:
            xi = [ZERO] * x.ndim
            for i, p in enumerate(perm):
                xi[p] = idx[i]
            self.store(out, self.offset(idx, out.type.shape),
                       self.load(x, self.offset(xi, x.type.shape)))
        self.nest(self.shape(out), body)

    def _reduce(self, ins: Instr) -> None:
        if row_reduction(ins):
            self._reduce_rows(ins)
            return
        x, out = ins.inputs[0], ins.outs[0]
        axes, keep = set(ins.params["axes"]), ins.params["keepdims"]
        prim, dt = ins.prim, x.dtype
        widen = prim == "reduce_sum" and dt == np.float32
        acc_dt = np.dtype(np.float64) if widen else dt
        kept = [k for k in range(x.ndim) if k not in axes]
        red = sorted(axes)
        b = self.b
        xs = self.shape(x)
        with b.goto_block(self.alloca_block):
            acc = b.alloca(reg_type(acc_dt), name="acc")

        def outer(oidx: tuple[ir.Value, ...]) -> None:
            b.store(scalar_constant(identity(prim, dt), acc_dt), acc)

            def inner(ridx: tuple[ir.Value, ...]) -> None:
                xi = [ZERO] * x.ndim
                for k, i in zip(kept, oidx):
                    xi[k] = i
                for k, i in zip(red, ridx):
                    xi[k] = i
                v = self.value_at(x, xi)
                if widen:
                    v = b.fpext(v, reg_type(acc_dt))
                b.store(combine(b, prim, b.load(acc), v), acc)
            self.nest([xs[k] for k in red], inner, "r")
            r = b.load(acc)
            if widen:
                r = b.fptrunc(r, reg_type(dt))
            full = list(oidx) if not keep else [
                ZERO if k in axes else oidx[kept.index(k)] for k in range(x.ndim)]
            self.store(out, self.offset(full, out.type.shape), r)
        self.nest([xs[k] for k in kept], outer, "o")

    _reduce_sum = _reduce_max = _reduce_min = _reduce_prod = _reduce

    def _reduce_rows(self, ins: Instr) -> None:
        """A reduction over leading axes: rows combined into an accumulator row in turn,
        so the inner loop runs along contiguous memory (and vectorizes)."""
        x, out, prim = ins.inputs[0], ins.outs[0], ins.prim
        acc = self.acc.get(id(ins), out)
        acc_dt = acc.dtype
        b = self.b
        r = len(ins.params["axes"])
        xs = self.shape(x)
        rows = self.dim(dims.size(x.type.shape[:r]))
        cols = self.dim(dims.size(x.type.shape[r:]))
        start = scalar_constant(identity(prim, x.dtype), acc_dt)
        self.nest([cols], lambda j: self.store(acc, j[0], start), "z")
        flat = self._flat(x) if id(x) in self.virtual else True
        del xs

        def row(i: tuple[ir.Value, ...]) -> None:
            base = b.mul(i[0], cols)

            def col(j: tuple[ir.Value, ...]) -> None:
                if flat:
                    v = self.value_at(x, b.add(base, j[0]))
                else:
                    idx = self._unflatten(b.add(base, j[0]), x)
                    v = self.value_at(x, idx)
                if acc_dt != x.dtype:
                    v = b.fpext(v, reg_type(acc_dt))
                self.store(acc, j[0], combine(b, prim, self.load(acc, j[0]), v))
            self.nest([cols], col, "c")
        self.nest([rows], row, "r")
        if acc is not out:
            self.nest([cols], lambda j: self.store(
                out, j[0], b.fptrunc(self.load(acc, j[0]), reg_type(out.dtype))), "t")

    def _unflatten(self, lin: ir.Value, v: Value) -> list[ir.Value]:
        """The index per dimension of linear index `lin` in `v`'s shape."""
        out: list[ir.Value] = []
        for d in reversed(v.type.shape):
            dv = self.dim(d)
            out.append(self.b.urem(lin, dv))
            lin = self.b.udiv(lin, dv)
        return out[::-1]

    def _matmul(self, ins: Instr) -> None:
        """One gemm call with runtime m, n, k; over the batch dimensions (broadcast as
        NumPy does) one call per matrix."""
        a, bm = ins.inputs
        ta, tb = ins.params["transpose_a"], ins.params["transpose_b"]
        out, b = ins.outs[0], self.b
        ra, ca = self.shape(a)[-2:]
        rb, cb = self.shape(bm)[-2:]
        m, k = (ca, ra) if ta else (ra, ca)
        n = rb if tb else cb
        dt = "f32" if out.dtype == np.float32 else "f64"
        small = declare_gemm(self.module, dt, work=0)
        work = b.mul(b.mul(m, n), k)

        def call(pa: ir.Value, pb: ir.Value, pc: ir.Value) -> None:
            args = [ir.Constant(I32, int(ta)), ir.Constant(I32, int(tb)), m, n, k,
                    pa, ca, pb, cb, pc, n]
            if not use_blas():
                b.call(small, args)
                return
            with b.if_else(b.icmp_signed(">=", work, const(BLAS_MIN_WORK))) as (big, little):
                with big:
                    b.call(declare_gemm(self.module, dt), args)
                with little:
                    b.call(small, args)

        batch = out.type.shape[:-2]
        if not batch:
            call(self.ptr(a), self.ptr(bm), self.ptr(out))
            return

        def one(idx: tuple[ir.Value, ...]) -> None:
            ptrs = []
            for op, size in ((a, b.mul(ra, ca)), (bm, b.mul(rb, cb))):
                bshape = op.type.shape[:-2]
                lead = len(batch) - len(bshape)
                bi = [ZERO if (isinstance(d, int) and d == 1) else idx[lead + i]
                      for i, d in enumerate(bshape)]      # equal dims: `requirements`
                ptrs.append(b.gep(self.ptr(op), [b.mul(self.offset(bi, bshape), size)]))
            coff = b.mul(self.offset(idx, batch), b.mul(m, n))
            call(ptrs[0], ptrs[1], b.gep(self.ptr(out), [coff]))
        self.nest([self.dim(d) for d in batch], one, "batch")

    def _assert(self, ins: Instr) -> None:
        """Fail at the first false element (its flat index reported, as the reference
        does); the result is true."""
        x, out = ins.inputs[0], ins.outs[0]
        b = self.b

        def body(idx: tuple[ir.Value, ...]) -> None:
            with b.if_then(b.not_(self.load(x, idx[0])), likely=False):
                self.fail_index(ins, idx[0], self.count(x))
        self.nest([self.count(x)], body, "chk")
        self.store(out, ZERO, ir.Constant(I1, 1))

    def _gather(self, ins: Instr) -> None:
        x, idx_v = ins.inputs
        out, axis = ins.outs[0], ins.params["axis"]
        bound = self.dim(x.type.shape[axis])
        self._check(ins, idx_v, bound)
        b, r = self.b, idx_v.ndim

        def body(idx: tuple[ir.Value, ...]) -> None:
            k = self.load(idx_v, self.offset(idx[axis:axis + r], idx_v.type.shape))
            k = b.sext(k, I64) if k.type != I64 else k
            xi = list(idx[:axis]) + [k] + list(idx[axis + r:])
            self.store(out, self.offset(idx, out.type.shape),
                       self.load(x, self.offset(xi, x.type.shape)))
        self.nest(self.shape(out), body)

    def _one_hot(self, ins: Instr) -> None:
        (idx_v,), out, p = ins.inputs, ins.outs[0], ins.params
        if p["checked"]:
            self._check(ins, idx_v, const(p["depth"]))
        b = self.b
        on, off = scalar_constant(p["on"], out.dtype), scalar_constant(p["off"], out.dtype)

        def body(idx: tuple[ir.Value, ...]) -> None:
            k = self.load(idx_v, self.offset(idx[:-1], idx_v.type.shape))
            k = b.sext(k, I64) if k.type != I64 else k
            self.store(out, self.offset(idx, out.type.shape),
                       b.select(b.icmp_signed("==", k, idx[-1]), on, off))
        self.nest(self.shape(out), body)


    def _argmax(self, ins: Instr) -> None:
        """The index of the first extreme along `axis`; NaN wins (NumPy's rule)."""
        x, out, axis = ins.inputs[0], ins.outs[0], ins.params["axis"]
        b, big = self.b, ins.prim == "argmax"
        xs = self.shape(x)
        kept = [k for k in range(x.ndim) if k != axis]
        is_float = x.dtype.kind == "f"
        with b.goto_block(self.alloca_block):
            best = b.alloca(reg_type(x.dtype), name="best")
            at = b.alloca(I64, name="at")

        def outer(oidx: tuple[ir.Value, ...]) -> None:
            def xi(i: ir.Value) -> list[ir.Value]:
                full = [ZERO] * x.ndim
                for k, j in zip(kept, oidx):
                    full[k] = j
                full[axis] = i
                return full
            b.store(self.load(x, self.offset(xi(ZERO), x.type.shape)), best)
            b.store(ZERO, at)
            with for_range(b, const(1), xs[axis], name="a") as i:
                v, cur = self.load(x, self.offset(xi(i), x.type.shape)), b.load(best)
                if is_float:
                    wins = b.or_(b.fcmp_ordered(">" if big else "<", v, cur), b.and_(
                        b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", cur, cur)))
                else:
                    wins = b.icmp_signed(">" if big else "<", v, cur)
                b.store(b.select(wins, v, cur), best)
                b.store(b.select(wins, i, b.load(at)), at)
            self.store(out, self.offset(oidx, out.type.shape),
                       convert(b, b.load(at), np.int64, out.dtype))
        self.nest([xs[k] for k in kept], outer, "o")

    _argmin = _argmax

    def _scatter_add(self, ins: Instr) -> None:
        """Zeros of `size` along `axis`, each update added (mode "add") or stored, the
        last one winning (mode "set"), at its index; indices checked first."""
        g, idx_v = ins.inputs
        out, p = ins.outs[0], ins.params
        axis, r = p["axis"], idx_v.ndim
        b = self.b
        self._check(ins, idx_v, self.dim(p["size"]))
        zero = scalar_constant(0, out.dtype)
        self.nest([self.count(out)], lambda i: self.store(out, i[0], zero), "z")

        def body(idx: tuple[ir.Value, ...]) -> None:
            k = self.load(idx_v, self.offset(idx[axis:axis + r], idx_v.type.shape))
            k = b.sext(k, I64) if k.type != I64 else k
            off = self.offset(list(idx[:axis]) + [k] + list(idx[axis + r:]), out.type.shape)
            v = self.load(g, self.offset(idx, g.type.shape))
            if p["mode"] == "add":
                v = combine(b, "reduce_sum", self.load(out, off), v)
            self.store(out, off, v)
        self.nest(self.shape(g), body)

    def _slice(self, ins: Instr) -> None:
        x, out, p = ins.inputs[0], ins.outs[0], ins.params
        b = self.b

        def body(idx: tuple[ir.Value, ...]) -> None:
            xi = [i if (s, k) == (0, 1) else b.add(const(s), b.mul(i, const(k)))
                  for i, s, k in zip(idx, p["starts"], p["strides"])]
            self.store(out, self.offset(idx, out.type.shape),
                       self.load(x, self.offset(xi, x.type.shape)))
        self.nest(self.shape(out), body)

    def _rev(self, ins: Instr) -> None:
        x, out, axes = ins.inputs[0], ins.outs[0], set(ins.params["axes"])
        b = self.b
        xs = self.shape(x)

        def body(idx: tuple[ir.Value, ...]) -> None:
            xi = [b.sub(b.sub(xs[k], const(1)), i) if k in axes else i
                  for k, i in enumerate(idx)]
            self.store(out, self.offset(idx, out.type.shape),
                       self.load(x, self.offset(xi, x.type.shape)))
        self.nest(self.shape(out), body)

    def _pad(self, ins: Instr) -> None:
        """Zeros, then each element of the operand stored at its padded place."""
        x, out, p = ins.inputs[0], ins.outs[0], ins.params
        b = self.b
        zero = scalar_constant(0, out.dtype)
        self.nest([self.count(out)], lambda i: self.store(out, i[0], zero), "z")

        def body(idx: tuple[ir.Value, ...]) -> None:
            oi = [i if (lo, k) == (0, 0) else b.add(const(lo), b.mul(i, const(k + 1)))
                  for i, lo, k in zip(idx, p["lo"], p["interior"])]
            self.store(out, self.offset(oi, out.type.shape),
                       self.load(x, self.offset(idx, x.type.shape)))
        self.nest(self.shape(x), body)

    def _concat(self, ins: Instr) -> None:
        out, axis = ins.outs[0], ins.params["axis"]
        b = self.b
        start: ir.Value = ZERO
        for x in ins.inputs:
            def body(idx: tuple[ir.Value, ...], x: Value = x, start: ir.Value = start) -> None:
                oi = list(idx)
                oi[axis] = b.add(idx[axis], start)
                self.store(out, self.offset(oi, out.type.shape),
                           self.load(x, self.offset(idx, x.type.shape)))
            self.nest(self.shape(x), body)
            start = b.add(start, self.dim(x.type.shape[axis]))
