"""Native code with runtime sizes, for Functions with unknown dimensions (`poly.py`).

`build_poly(fn)` lowers `fn` (calls inlined) to an LLVM module exporting

    i32 tj_poly_entry(i64* dims, i8** bufs, i64* status)

(and, given an `Abi`, `tj_poly_call(i64* dims, tuple)`, which reads and checks the
arrays of a Python tuple natively, as `build.py`'s entry does), where `dims` holds the
value of each symbol (`symbol_names(fn)` order), `bufs` the data pointers of the
arguments then of the results (C-contiguous, allocated by the caller for the result
shapes the symbols give). Loop bounds, strides and scratch sizes are computed from
`dims` at run time; one compile serves every shape.

Each instruction is its own loop nest, except elementwise values read only by
elementwise ops and reductions (`_virtual`): they are computed inside their readers'
loops. Elementwise loops over operands of one shape run flat (one loop, which LLVM
vectorizes); reductions over leading axes add row after row into an accumulator row
(`_reduce_rows`), other reductions keep a register accumulator. Matrix products call
`tj_gemm_*` with runtime m, n, k (BLAS for large products, the builtin kernel else, as
fixed-shape code chooses). Scratch lives in one heap block sized at run time.

Invariants:
- Only primitives in `supported()` are lowered (`blocker`), and an elementwise operand's
  unknown dimension is never broadcast: the caller checks `requirements` at each call
  (and runs code specialized to the shapes when they fail).
- Return codes: 0; NOMEM (-3) when the scratch block cannot be allocated; k > 0 when an
  index of instruction k-1 is out of range, with (index, bound, k) in `status`.
- Float32 sums accumulate in float64, as the fixed-shape code does.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from llvmlite import ir

from ..ir import Function, Instr, TensorType, Value, dims
from ..ir.dims import Dim
from . import engine
from .accumulate import combine, identity
from .blas import use_blas
from .gemm import BLAS_MIN_WORK, declare_gemm
from .inline import inline_calls
from .llvmtypes import I8, I32, VOIDP, mem_type, reg_type, scalar_constant
from .loops import I64, NUW_NSW, ZERO, const, for_range
from .lower import BADARGS, LAYOUT, NOMEM, libc
from .lower_elementwise import MATH, SCALAR_OPS, convert

ENTRY = "tj_poly_entry"
CALLER = "tj_poly_call"
_TRIG = {"sin", "cos", "tan"}     # their element rules need the two-version task
_OWN = {"call", "custom_vjp",       # inlined first
        "constant", "iota", "reshape", "transpose", "matmul", "gather", "one_hot",
        "reduce_sum", "reduce_max", "reduce_min", "reduce_prod"}


_REDUCE = {"reduce_sum", "reduce_max", "reduce_min", "reduce_prod"}


def supported() -> frozenset[str]:
    """The primitives `build_poly` lowers: its own rules, and the elementwise ones with a
    scalar rule (`SCALAR_OPS`, complete once every rule module is imported)."""
    return frozenset(SCALAR_OPS).difference(_TRIG) | _OWN


def symbol_names(fn: Function) -> list[str]:
    """The symbols of `fn`'s parameters, in the order `dims` holds their values."""
    return sorted({s for p in fn.params for s in dims.symbols(p.type.shape)})


def blocker(fn: Function) -> str | None:
    """None when `build_poly` lowers `fn`, else what stops it (a primitive's name)."""
    known = set(symbol_names(fn))
    ok = supported()
    for ins in inline_calls(fn).instrs:
        if ins.prim not in ok:
            return ins.prim
        for v in list(ins.inputs) + list(ins.outs):
            if any(s not in known for s in dims.symbols(v.type.shape)):
                return f"{ins.prim} (a dimension no argument gives)"
        if ins.prim == "matmul" and ins.outs[0].ndim != 2:
            return "matmul (batched)"
    return None


def requirements(fn: Function) -> list[tuple[Any, Any]]:
    """Pairs of dimensions that must be equal at run time for the code of `build_poly`:
    an elementwise operand's unknown dimension against the result's (equal, or the
    operand would need broadcasting from 1, which that code does not do; the caller
    runs such a call through code specialized to its shapes instead)."""
    pairs: dict[tuple[Any, Any], None] = {}
    for ins in inline_calls(fn).instrs:
        if ins.prim in SCALAR_OPS:
            out = ins.outs[0].type.shape
            for x in ins.inputs:
                lead = len(out) - x.ndim
                for i, d in enumerate(x.type.shape):
                    if dims.is_dim(d) and d is not out[lead + i]:
                        pairs[(d, out[lead + i])] = None
    return list(pairs)


def _row_reduction(ins: Instr) -> bool:
    """Whether `ins` reduces leading axes only (and keeps at least one)."""
    if ins.prim not in _REDUCE:
        return False
    axes = sorted(ins.params["axes"])
    return bool(axes) and axes == list(range(len(axes))) and len(axes) < ins.inputs[0].ndim


def _virtual(fn: Function) -> set[int]:
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
        elif ins.prim not in SCALAR_OPS or ins.prim in _TRIG:
            continue
        us = uses.get(id(v), [])
        if not us or any(u.prim not in SCALAR_OPS and u.prim not in _REDUCE for u in us):
            continue
        if len(us) > 1 and ins.prim in MATH:
            continue
        out.add(id(v))
    return out


class _Poly:
    """State while lowering one Function with runtime sizes."""

    def __init__(self, fn: Function, module: ir.Module):
        self.fn = fn
        self.module = module
        fty = ir.FunctionType(I32, [I64.as_pointer(), VOIDP.as_pointer(), I64.as_pointer()])
        self.ll = ir.Function(module, fty, ENTRY)
        # Allocas and the dims (and products of them) first, in blocks that dominate all.
        self.alloca_block = self.ll.append_basic_block("allocas")
        self.start = self.ll.append_basic_block("dims")
        body = self.ll.append_basic_block("body")
        self.b = ir.IRBuilder(self.start)
        dims_p, self.bufs, self.status = self.ll.args
        self.sym = {s: self.b.load(self.b.gep(dims_p, [const(k)]), align=8)
                    for k, s in enumerate(symbol_names(fn))}
        self.b.position_at_end(body)
        self.dim_values: dict[Dim, ir.Value] = {}
        self.ptrs: dict[int, ir.Value] = {}
        self.arena: ir.Value | None = None
        self.number = {id(ins): k for k, ins in enumerate(fn.instrs)}
        self.producer = {id(o): ins for ins in fn.instrs for o in ins.outs}
        self.virtual = _virtual(fn)

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
            if _row_reduction(ins) and ins.inputs[0].dtype == np.float32 and \
                    ins.prim == "reduce_sum":
                self.acc[id(ins)] = Value(TensorType(ins.outs[0].type.shape, np.float64))
                scratch.append(self.acc[id(ins)])
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
        return SCALAR_OPS[ins.prim](self.b, ins, args)

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
        aty = ir.ArrayType(mem_type(value.dtype), flat.size)
        g = ir.GlobalVariable(self.module, aty, self.module.get_unique_name("const"))
        g.linkage, g.global_constant = "private", True
        g.initializer = ir.Constant(aty, bytearray(data.tobytes()))
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
        if _row_reduction(ins):
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
        a, bm = ins.inputs
        ta, tb = ins.params["transpose_a"], ins.params["transpose_b"]
        out, b = ins.outs[0], self.b
        ra, ca = self.shape(a)
        rb, cb = self.shape(bm)
        m, k = (ca, ra) if ta else (ra, ca)
        n = rb if tb else cb
        dt = "f32" if out.dtype == np.float32 else "f64"
        args = [ir.Constant(I32, int(ta)), ir.Constant(I32, int(tb)), m, n, k,
                self.ptr(a), ca, self.ptr(bm), cb, self.ptr(out), n]
        small = declare_gemm(self.module, dt, work=0)
        if not use_blas():
            b.call(small, args)
            return
        work = b.mul(b.mul(m, n), k)
        with b.if_else(b.icmp_signed(">=", work, const(BLAS_MIN_WORK))) as (big, little):
            with big:
                b.call(declare_gemm(self.module, dt), args)
            with little:
                b.call(small, args)

    def _check(self, ins: Instr, idx_v: Value, bound: ir.Value) -> None:
        """Return the failure code when an index of `idx_v` is outside [0, bound)."""
        b = self.b

        def body(idx: tuple[ir.Value, ...]) -> None:
            k = self.load(idx_v, idx[0])
            k = b.sext(k, I64) if k.type != I64 else k
            with b.if_then(b.icmp_unsigned(">=", k, bound), likely=False):
                self.fail_index(ins, k, bound)
        self.nest([self.count(idx_v)], body, "chk")

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


def _build_caller(lw: _Poly, abi: Any) -> None:
    """`tj_poly_call(i64* dims, tuple) -> i32` with `tuple = (in0.., out0.., status,
    ndarray)`: checks that every input is an ndarray of its parameter's canonical dtype
    (else BADARGS), C-contiguous and aligned (else LAYOUT), then calls the entry with the
    arrays' data pointers (read natively, at the `abi` offsets; shapes are the caller's
    to check, as the dims are)."""
    fn, module = lw.fn, lw.module
    n_in, n_out = len(fn.params), len(fn.results)
    f = ir.Function(module, ir.FunctionType(I32, [I64.as_pointer(), VOIDP]), CALLER)
    b = ir.IRBuilder(f.append_basic_block("entry"))
    bufs = b.alloca(VOIDP, size=const(max(1, n_in + n_out)), name="bufs")
    items = b.bitcast(b.gep(f.args[1], [const(abi.tuple_items)]), VOIDP.as_pointer())
    objs = [b.load(b.gep(items, [const(k)]), align=8) for k in range(n_in + n_out + 2)]

    def field(obj: ir.Value, offset: int, ty: ir.Type) -> ir.Value:
        return b.load(b.bitcast(b.gep(obj, [const(offset)]), ty.as_pointer()), align=1)

    def require(ok: ir.Value, code: int) -> None:
        with b.if_then(b.not_(ok), likely=False):
            b.ret(ir.Constant(I32, code))

    need = ir.Constant(I32, 0x1 | 0x100)   # NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED
    for o, p in zip(objs[:n_in], fn.params):
        require(b.icmp_unsigned("==", field(o, abi.ob_type, VOIDP), objs[-1]), BADARGS)
        descr = field(o, abi.descr, VOIDP)
        num, order = abi.dtypes[p.dtype.name]
        require(b.and_(
            b.icmp_signed("==", field(descr, abi.type_num, I32), ir.Constant(I32, num)),
            b.icmp_unsigned("==", field(descr, abi.byteorder, I8), ir.Constant(I8, order))),
            BADARGS)
        flags = field(o, abi.flags, I32)
        require(b.icmp_unsigned("==", b.and_(flags, need), need), LAYOUT)
    for k, o in enumerate(objs[:n_in + n_out]):
        b.store(field(o, abi.data, VOIDP), b.gep(bufs, [const(k)]))
    status = b.bitcast(field(objs[-2], abi.data, VOIDP), I64.as_pointer())
    b.ret(b.call(lw.ll, [f.args[0], bufs, status]))


def build_poly(fn: Function, abi: Any = None) -> tuple[str, Function]:
    """The LLVM IR text of `fn` lowered with runtime sizes (see the module docstring), and
    the flat Function (calls inlined) whose instruction numbers its codes refer to."""
    flat = inline_calls(fn)
    module = ir.Module(name=fn.name)
    info = engine.host_info()
    module.triple = info["triple"]
    module.data_layout = info["data_layout"]
    lw = _Poly(flat, module)
    lw.buffers()
    for ins in flat.instrs:
        lw.lower(ins)
    lw.finish()
    if abi is not None:
        _build_caller(lw, abi)
    ir.IRBuilder(lw.alloca_block).branch(lw.start)
    ir.IRBuilder(lw.start).branch(lw.start.function.blocks[2])
    return str(module), flat
