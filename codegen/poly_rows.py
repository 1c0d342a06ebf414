"""Runtime-sized rules of the primitives that walk rows in order (`lower_poly.py`):
scans along an axis, segment reductions, Philox random draws and sort.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ..ir import Instr, dims
from ..ir.prims.segments import identity as segment_identity
from .accumulate import combine
from .llvmtypes import I8, mem_type, scalar_constant
from .loops import I64, ZERO, const, for_range
from .lower_elementwise import convert
from .lower_scans import _combine as scan_combine
from .poly_core import PolyCore


class PolyRows(PolyCore):
    """The row-walking rules (see the module docstring)."""

    def _cumsum(self, ins: Instr) -> None:
        """A loop along the axis: the first element is the operand's, each next one
        combines the previous result with the operand's (NumPy's sequential order)."""
        x, out = ins.inputs[-1], ins.outs[0]       # linrec: the first element is b's
        axis, reverse = ins.params["axis"], ins.params["reverse"]
        shape = self.shape(out)
        n = shape[axis]
        b = self.b
        last = b.sub(n, const(1))

        def pre_body(pre: tuple[ir.Value, ...]) -> None:
            first = last if reverse else ZERO
            self.nest(shape[axis + 1:], lambda post: self.store(
                out, self.offset(pre + (first,) + post, out.type.shape),
                self.value_at(x, pre + (first,) + post)), "first")
            with for_range(b, const(1), n, name="scan") as k:
                kk = b.sub(last, k) if reverse else k
                prev = b.add(kk, const(1)) if reverse else b.sub(kk, const(1))

                def post_body(post: tuple[ir.Value, ...]) -> None:
                    idx = pre + (kk,) + post
                    acc = self.load(out, self.offset(pre + (prev,) + post, out.type.shape))
                    v = self.value_at(x, idx)
                    if ins.prim == "linrec":
                        r = b.fadd(b.fmul(self.value_at(ins.inputs[0], idx), acc), v)
                    else:
                        r = scan_combine(b, ins.prim, acc, v, out.dtype.kind == "f")
                    self.store(out, self.offset(idx, out.type.shape), r)
                self.nest(shape[axis + 1:], post_body, "post")

        with b.if_then(b.icmp_signed(">", n, ZERO)):
            self.nest(shape[:axis], pre_body, "pre")

    _cumprod = _cumlogsumexp = _linrec = _cumsum

    def _segment_max(self, ins: Instr) -> None:
        """The identity (the lowest or highest finite value: an empty segment's result) in
        every segment, then each row of data combined into its segment's (ids checked
        first)."""
        data, ids = ins.inputs
        out, b = ins.outs[0], self.b
        red = {"segment_max": "reduce_max", "segment_min": "reduce_min",
               "segment_prod": "reduce_prod"}[ins.prim]
        self._check(ins, ids, const(ins.params["num_segments"]))
        start = scalar_constant(segment_identity(ins.prim, data.dtype), out.dtype)
        self.nest([self.count(out)], lambda i: self.store(out, i[0], start), "z")
        r = ids.ndim

        def body(idx: tuple[ir.Value, ...]) -> None:
            s = self.load(ids, self.offset(idx[:r], ids.type.shape))
            s = b.sext(s, I64) if s.type != I64 else s
            off = self.offset((s,) + idx[r:], out.type.shape)
            v = self.load(data, self.offset(idx, data.type.shape))
            self.store(out, off, combine(b, red, self.load(out, off), v))
        self.nest(self.shape(data), body)

    _segment_min = _segment_prod = _segment_max

    def _philox(self, ins: Instr) -> None:
        """Counter-based random numbers (`lower_random`'s scheme, so the draws are
        bit-identical to fixed-shape code's) for a shape known at run time: whole blocks
        of a Philox call, then the last block's first lanes."""
        from ..ir.prims.random import per_block
        from .lower_random import U32, _elements, _words
        b = self.b
        key, counter = ins.inputs
        out = ins.outs[0]
        dtype, dist = np.dtype(ins.params["dtype"]), ins.params["dist"]
        n = self.dim(dims.size(ins.params["shape"]))
        k = per_block(dtype, dist)
        full, rest = b.udiv(n, const(k)), b.urem(n, const(k))

        def row(r: tuple[ir.Value, ...]) -> None:
            k0 = b.and_(self.value_at(key, r + (ZERO,)), const(U32))
            k1 = b.and_(self.value_at(key, r + (const(1),)), const(U32))
            c0 = self.value_at(counter, r)
            base = b.mul(self.offset(r, counter.type.shape), n)

            def block(j: ir.Value, lanes: ir.Value | None) -> None:
                vals = _elements(b, _words(b, k0, k1, b.add(c0, j)), dtype, dist)
                at = b.add(base, b.mul(j, const(k)))
                for lane in range(k):
                    if lanes is None:
                        self.store(out, b.add(at, const(lane)), vals[lane])
                        continue
                    with b.if_then(b.icmp_unsigned("<", const(lane), lanes)):
                        self.store(out, b.add(at, const(lane)), vals[lane])
            with for_range(b, full, name="blk") as j:
                block(j, None)
            block(full, rest)
        self.nest(self.shape(counter), row, "row")

    def _sort(self, ins: Instr) -> None:
        """`lower_sorting`'s stable bottom-up merge sort of each row, with the row length
        known at run time (two key rows and two index rows from the scratch block)."""
        from .lower_sorting import merge_passes
        b = self.b
        x = ins.inputs[0]
        vals, inds = ins.outs
        dt, is_float = x.dtype, x.dtype.kind == "f"
        desc = bool(ins.params["descending"])
        shape = self.shape(x)
        n = shape[-1]
        kbuf, ibuf = (self.ptr(v) for v in self.pairs[id(ins)])
        keys = (kbuf, b.gep(kbuf, [n], inbounds=True))
        idxs = (ibuf, b.gep(ibuf, [n], inbounds=True))
        kty, ity = keys[0].type, idxs[0].type
        with b.goto_block(self.alloca_block):
            src_k, dst_k = b.alloca(kty, name="srck"), b.alloca(kty, name="dstk")
            src_i, dst_i = b.alloca(ity, name="srci"), b.alloca(ity, name="dsti")
            width, ii, jj = (b.alloca(I64, name=nm) for nm in ("width", "i", "j"))

        def ld(p: ir.Value, k: ir.Value) -> ir.Value:
            return b.load(b.gep(p, [k], inbounds=True))

        def st(p: ir.Value, k: ir.Value, v: ir.Value) -> None:
            b.store(v, b.gep(p, [k], inbounds=True))

        def row(r: tuple[ir.Value, ...]) -> None:
            with for_range(b, n, name="load") as k:
                v = self.value_at(x, r + (k,))
                st(keys[0], k, b.zext(v, mem_type(dt)) if dt.kind == "b" else v)
                st(idxs[0], k, k)
            for p, v in ((src_k, keys[0]), (dst_k, keys[1]), (src_i, idxs[0]),
                         (dst_i, idxs[1])):
                b.store(v, p)
            if dt.kind == "b":      # bools are bytes in memory, i1 in the comparison

                def load_key(p: ir.Value, k: ir.Value) -> ir.Value:
                    return b.icmp_unsigned("!=", ld(p, k), ir.Constant(I8, 0))

                def store_key(p: ir.Value, k: ir.Value, v: ir.Value) -> None:
                    st(p, k, b.zext(v, I8))
            else:
                load_key, store_key = ld, st
            sk, si = merge_passes(b, n, (src_k, dst_k, src_i, dst_i, width, ii, jj),
                                  load_key, store_key, ld, st, desc, is_float)
            base = b.mul(self.offset(r, vals.type.shape[:-1]), n)
            with for_range(b, n, name="out") as k:
                o = b.add(base, k)
                b.store(ld(sk, k), b.gep(self.ptr(vals), [o], inbounds=True))
                self.store(inds, o, convert(b, ld(si, k), np.int64, inds.dtype))
        self.nest(shape[:-1], row, "row")
