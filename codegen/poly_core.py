"""The core of runtime-sized lowering (`lower_poly.py`): sizes read from the symbols'
values, one scratch block, loop nests with runtime bounds, and elementwise values computed
where they are read (`value_at`). The instructions' own rules are in `poly_ops.py`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from llvmlite import ir

from ..ir import Function, Instr, TensorType, Value, dims
from ..ir.dims import Dim
from .irbuild import Builder, new_function
from .llvmtypes import I8, I32, VOIDP, mem_type, scalar_constant
from .loops import I64, NUW_NSW, ZERO, const, for_range
from . import mathcall
from .lower import NOMEM, libc
from .lower_elementwise import MATH, SCALAR_OPS

ENTRY = "tj_poly_entry"
TRIG = {"sin", "cos", "tan"}     # beyond the inline range: the C library's (`_exact_far`)
REDUCE = {"reduce_sum", "reduce_max", "reduce_min", "reduce_prod"}


def symbol_names(fn: Function) -> list[str]:
    """The symbols of `fn`'s parameters, in the order `dims` holds their values."""
    return sorted({s for p in fn.params for s in dims.symbols(p.type.shape)})


def row_reduction(ins: Instr) -> bool:
    """Whether `ins` reduces leading axes only (and keeps at least one)."""
    if ins.prim not in REDUCE:
        return False
    axes = sorted(ins.params["axes"])
    return bool(axes) and axes == list(range(len(axes))) and len(axes) < ins.inputs[0].ndim


def virtual(fn: Function) -> set[int]:
    """The values computed where they are read instead of stored (fused into their
    consumers' loops): outputs of elementwise instructions (and one-element constants)
    read only by elementwise instructions and reductions, not results of `fn`; when
    read more than once, only the cheap ones (no math function)."""
    uses: dict[int, list[Instr]] = {}
    for ins in fn.instrs:
        for x in ins.inputs:
            uses.setdefault(id(x), []).append(ins)
    results = {id(r) for r in fn.results}
    out: set[int] = set()
    for ins in fn.instrs:
        if len(ins.outs) != 1 or id(ins.outs[0]) in results:
            continue
        v = ins.outs[0]
        if ins.prim == "constant":
            if np.asarray(ins.params["value"]).size != 1:
                continue
        elif ins.prim not in SCALAR_OPS:
            continue
        us = uses.get(id(v), [])
        if not us or any(u.prim not in SCALAR_OPS and u.prim not in REDUCE for u in us):
            continue
        if len(us) > 1 and ins.prim in MATH:
            continue
        out.add(id(v))
    return out

class PolyCore:
    """State while lowering one Function with runtime sizes."""

    def __init__(self, fn: Function, module: ir.Module, name: str = ENTRY,
                 names: list[str] | None = None):
        """`fn` lowered into function `name` of `module`; `names`: the symbols in the order
        of `dims` (a region body's are its enclosing function's), else `fn`'s own."""
        self.fn = fn
        self.module = module
        self.names = symbol_names(fn) if names is None else names
        fty = ir.FunctionType(I32, [I64.as_pointer(), VOIDP.as_pointer(), I64.as_pointer()])
        self.ll = new_function(module, fty, name)
        if name != ENTRY:
            self.ll.linkage = "internal"
        # Allocas and the dims (and products of them) first, in blocks that dominate all.
        self.alloca_block = self.ll.append_basic_block("allocas")
        self.start = self.ll.append_basic_block("dims")
        body = self.ll.append_basic_block("body")
        self.b = Builder(self.start)
        self.dims_p, self.bufs, self.status = self.ll.args
        self.sym = {s: self.b.load(self.b.gep(self.dims_p, [const(k)]), align=8)
                    for k, s in enumerate(self.names)}
        self.b.position_at_end(body)
        self.dim_values: dict[Dim, ir.Value] = {}
        self.ptrs: dict[int, ir.Value] = {}
        self.arena: ir.Value | None = None
        self.number = {id(ins): k for k, ins in enumerate(fn.instrs)}
        self.producer = {id(o): ins for ins in fn.instrs for o in ins.outs}
        self.virtual = virtual(fn)

    # ------------------------------------------------------------------ sizes

    def dim(self, d: Any) -> ir.Value:
        if not dims.is_dim(d):
            return const(int(d))
        hit = self.dim_values.get(d)
        if hit is None:
            with self.b.goto_block(self.start):     # dominates every use
                for s in d.syms:
                    hit = self.sym[s] if hit is None else self.b.mul(hit, self.sym[s])
                assert hit is not None
                if d.coef != 1:
                    hit = self.b.mul(hit, const(d.coef))
            self.dim_values[d] = hit
        return hit

    def shape(self, v: Value) -> list[ir.Value]:
        return [self.dim(d) for d in v.type.shape]

    def count(self, v: Value) -> ir.Value:
        return self.dim(dims.size(v.type.shape))

    def offset(self, idx: Sequence[ir.Value], shape: Sequence[Any]) -> ir.Value:
        """The row-major offset of `idx` in an array of `shape` (runtime dims)."""
        off: ir.Value = ZERO
        stride: ir.Value | None = None
        for i, d in reversed(list(zip(idx, shape))):
            if not (isinstance(d, int) and d == 1):
                term = i if stride is None else self.b.mul(i, stride, flags=NUW_NSW)
                off = term if off is ZERO else self.b.add(off, term, flags=NUW_NSW)
            dv = self.dim(d)
            stride = dv if stride is None else self.b.mul(stride, dv, flags=NUW_NSW)
        return off

    # ------------------------------------------------------------------ memory

    def ptr(self, v: Value) -> ir.Value:
        return self.ptrs[id(v)]

    def load(self, v: Value, off: ir.Value) -> ir.Value:
        x = self.b.load(self.b.gep(self.ptr(v), [off], inbounds=True), align=v.dtype.itemsize)
        return self.b.icmp_unsigned("!=", x, ir.Constant(I8, 0)) if v.dtype.kind == "b" else x

    def store(self, v: Value, off: ir.Value, x: ir.Value) -> None:
        if v.dtype.kind == "b":
            x = self.b.zext(x, I8)
        self.b.store(x, self.b.gep(self.ptr(v), [off], inbounds=True), align=v.dtype.itemsize)

    def buffers(self) -> None:
        """Arguments and results from `bufs`; every other value a piece of one scratch
        block sized at run time (a reshape shares its operand's buffer)."""
        fn, b = self.fn, self.b
        n_in = len(fn.params)
        for k, p in enumerate(fn.params):
            self.ptrs.setdefault(id(p), self._buf(k, p))
        self.direct: set[int] = set()
        producers = {id(o) for ins in fn.instrs if ins.prim != "reshape" for o in ins.outs}
        for k, r in enumerate(fn.results):
            if id(r) in producers and id(r) not in self.ptrs:
                self.ptrs[id(r)] = self._buf(n_in + k, r)
                self.direct.add(id(r))
        scratch = [o for ins in fn.instrs if ins.prim != "reshape" for o in ins.outs
                   if id(o) not in self.ptrs and id(o) not in self.virtual]
        # Float64 accumulators of float32 sums over leading axes (`_reduce_rows`).
        self.acc: dict[int, Value] = {}
        for ins in fn.instrs:
            if row_reduction(ins) and ins.inputs[0].dtype == np.float32 and \
                    ins.prim == "reduce_sum":
                self.acc[id(ins)] = Value(TensorType(ins.outs[0].type.shape, np.float64))
                scratch.append(self.acc[id(ins)])
        # Sort's two pairs of key and index rows (`_sort`).
        self.pairs: dict[int, tuple[Value, Value]] = {}
        for ins in fn.instrs:
            if ins.prim == "sort":
                x = ins.inputs[0]
                n2 = 2 * x.type.shape[-1] if x.ndim else 2
                self.pairs[id(ins)] = (Value(TensorType((n2,), x.dtype)),
                                       Value(TensorType((n2,), np.int64)))
                scratch.extend(self.pairs[id(ins)])
        # Scratch an instruction's rule asks for (`temporaries`).
        self.temps: dict[int, list[Value]] = {}
        for ins in fn.instrs:
            extra = self.temporaries(ins)
            if extra:
                self.temps[id(ins)] = extra
                scratch.extend(extra)
        offs: list[ir.Value] = []
        total: ir.Value = ZERO
        for v in scratch:
            offs.append(total)
            nbytes = b.mul(self.count(v), const(v.dtype.itemsize))
            total = b.add(total, b.and_(b.add(nbytes, const(63)), const(-64)))
        if scratch:
            raw = b.call(libc(self.module, "aligned_alloc"), [const(64), b.add(total, const(64))])
            with b.if_then(b.icmp_unsigned("==", raw, ir.Constant(VOIDP, None)), likely=False):
                b.ret(ir.Constant(I32, NOMEM))
            self.arena = raw
            for v, off in zip(scratch, offs):
                self.ptrs[id(v)] = b.bitcast(b.gep(raw, [off]), mem_type(v.dtype).as_pointer())

    def temporaries(self, ins: Instr) -> list[Value]:
        """Scratch buffers the rule of `ins` uses (in `self.temps[id(ins)]`, from the one
        scratch block); none unless a rule says so."""
        return []

    def _buf(self, k: int, v: Value) -> ir.Value:
        raw = self.b.load(self.b.gep(self.bufs, [const(k)]), align=8)
        return self.b.bitcast(raw, mem_type(v.dtype).as_pointer())

    def finish(self) -> None:
        fn, b = self.fn, self.b
        n_in = len(fn.params)
        memcpy = self.module.declare_intrinsic("llvm.memcpy", [VOIDP, VOIDP, I64])
        for k, r in enumerate(fn.results):
            if id(r) in self.direct and fn.results.index(r) == k:
                continue
            dst = b.load(b.gep(self.bufs, [const(n_in + k)]), align=8)
            src = b.bitcast(self.ptr(r), VOIDP)
            nbytes = b.mul(self.count(r), const(r.dtype.itemsize))
            b.call(memcpy, [dst, src, nbytes, ir.Constant(ir.IntType(1), 0)])
        self.release()
        b.ret(ir.Constant(I32, 0))

    def run(self) -> ir.Function:
        """Lower every instruction of `fn` into `self.ll` (complete: it returns 0 at the
        end) and return it."""
        self.buffers()
        for ins in self.fn.instrs:
            self.lower(ins)
        self.finish()
        Builder(self.alloca_block).branch(self.start)
        Builder(self.start).branch(self.ll.blocks[2])
        return self.ll

    def release(self) -> None:
        if self.arena is not None:
            self.b.call(libc(self.module, "free"), [self.arena])

    def fail_index(self, ins: Instr, index: ir.Value, bound: ir.Value) -> None:
        b = self.b
        for k, x in enumerate((index, bound, const(self.number[id(ins)] + 1))):
            b.store(x, b.gep(self.status, [const(k)]))
        self.release()
        b.ret(ir.Constant(I32, self.number[id(ins)] + 1))

    # ------------------------------------------------------------------ loops

    def nest(self, shape: Sequence[ir.Value], body: Any, name: str = "i") -> None:
        """`body(idx)` inside loops over `shape` (runtime bounds, row-major)."""
        def go(k: int, idx: tuple[ir.Value, ...]) -> None:
            if k == len(shape):
                body(idx)
                return
            with for_range(self.b, shape[k], name=f"{name}{k}") as i:
                go(k + 1, idx + (i,))
        go(0, ())

    # ------------------------------------------------------------------ instructions

    def lower(self, ins: Instr) -> None:
        if ins.outs and all(id(o) in self.virtual for o in ins.outs):
            return                  # computed where it is read (`value_at`)
        getattr(self, "_" + ins.prim, self._elementwise)(ins)

    def value_at(self, v: Value, idx: Sequence[ir.Value] | ir.Value) -> ir.Value:
        """The element of `v` at `idx` (an index per dimension, or the linear index when
        every buffer it reads has `v`'s shape or one element: `_flat`), loaded, or
        computed when `v` is virtual."""
        if id(v) not in self.virtual:
            if isinstance(idx, ir.Value):
                return self.load(v, idx if v.type.shape else ZERO)
            return self.load(v, self.offset(idx, v.type.shape))
        ins = self.producer[id(v)]
        if ins.prim == "constant":
            return scalar_constant(np.asarray(ins.params["value"]).reshape(-1)[0], v.dtype)
        args = []
        for x in ins.inputs:
            if isinstance(idx, ir.Value):
                xi: Any = idx if x.type.shape == v.type.shape else ZERO
            else:
                lead = len(v.type.shape) - x.ndim
                xi = [ZERO if (isinstance(d, int) and d == 1) else idx[lead + i]
                      for i, d in enumerate(x.type.shape)]   # equal dims: `requirements`
            args.append(self.value_at(x, xi))
        y = SCALAR_OPS[ins.prim](self.b, ins, args)
        if ins.prim in TRIG:
            y = self._exact_far(ins.prim, args[0], y)
        return y

    def _exact_far(self, prim: str, x: ir.Value, y: ir.Value) -> ir.Value:
        """The inline sin/cos/tan `y` of `x`, or the C library's (exact reduction) when `x`
        is beyond the inline reduction's range (a branch per element: such loops do not
        vectorize, unlike fixed-shape code's two-version tasks)."""
        b = self.b
        far = mathcall.far_argument(b, x, prim)
        pre = b.block
        with b.if_then(far, likely=False):
            exact = b.call(mathcall.libm(self.module, prim, x.type), [x])
            then = b.block
        out = b.phi(x.type)
        out.add_incoming(y, pre)
        out.add_incoming(exact, then)
        return out

    def _flat(self, v: Value) -> bool:
        """Whether every buffer the element of `v` reads has `v`'s shape or one element."""
        ins = self.producer.get(id(v))
        for x in ins.inputs if ins is not None else ():
            if id(x) in self.virtual:
                if x.type.shape != v.type.shape or not self._flat(x):
                    return False
            elif x.type.shape != v.type.shape and dims.size(x.type.shape) != 1:
                return False
        return True

    def _elementwise(self, ins: Instr) -> None:
        out = ins.outs[0]
        self.virtual.add(id(out))       # its element as `value_at` computes it
        try:
            if self._flat(out):
                self.nest([self.count(out)], lambda idx: self.store(
                    out, idx[0], self.value_at(out, idx[0])))
            else:
                self.nest(self.shape(out), lambda idx: self.store(
                    out, self.offset(idx, out.type.shape), self.value_at(out, idx)))
        finally:
            self.virtual.discard(id(out))

    def _check(self, ins: Instr, idx_v: Value, bound: ir.Value) -> None:
        """Return the failure code when an index of `idx_v` is outside [0, bound)."""
        b = self.b

        def body(idx: tuple[ir.Value, ...]) -> None:
            k = self.load(idx_v, idx[0])
            k = b.sext(k, I64) if k.type != I64 else k
            with b.if_then(b.icmp_unsigned(">=", k, bound), likely=False):
                self.fail_index(ins, k, bound)
        self.nest([self.count(idx_v)], body, "chk")
