"""Kernel rules: reductions, argmax/argmin, matmul, scatter_add and assert.

Invariants:
- A kernel writes every element of its output buffer and reads its operands through an
  `Emitter`, so an inlined elementwise producer is computed inside the kernel's loops.
- Loops run in memory order of the (coalesced) operand: a reduction whose innermost
  dimension is reduced keeps a register accumulator (`reassoc`, so the loop vectorizes
  with several vector accumulators); otherwise it accumulates into a buffer over the
  output, vectorizing across the kept innermost dimension.
- Float sums run in blocks of the innermost reduced dimension (`SUM_BLOCK_F32` float32 or
  `SUM_BLOCK` float64 elements), each summed from zero in the operand's type with vector
  accumulators and added into a float64 (float32 sums) or float64 total: the error is
  that of a short block plus the total's rounding, as good as NumPy's pairwise sum, and
  the block loop vectorizes at the operand's full width. As in NumPy's float32 sum, a
  block's float32 partial sum can overflow to inf where the exact total is finite.
- Reducing an empty axis gives the identity: 0, 1, -inf / the lowest int for max,
  +inf / the highest int for min. max/min propagate NaN (`llvm.maximum/minimum`).
- argmax/argmin give the first index of the extreme, and the first NaN wins (np.argmax).
- Temporary buffers are allocated and freed inside the kernel.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from llvmlite import ir

from ..ir import Instr, Value
from ..ir.prims.checks import assert_failure
from .gemm import declare_gemm
from .loops import (I64, ZERO, block_ranges, broadcast_index, const, for_range, linear_index,
                    loop_nest)
from .accumulate import SUM_BLOCK, SUM_BLOCK_F32, combine, identity
from .llvmtypes import F32, I1, I32, mem_type, reg_type, scalar_constant
from .lower_elementwise import overloaded
from .plan import coalesce, size_of
from .lower_tasks import fail_first
from .rules import failure_rule, kernel_rule

if TYPE_CHECKING:
    from .lower import Lowerer

def _fill(lw: Lowerer, ptr: ir.Value, dtype: np.dtype, n: int, value: ir.Value) -> None:
    with loop_nest(lw.b, (n,), "fill") as (i,):
        lw.store_at(ptr, dtype, i, value)


def _operand_shape(lw: Lowerer, x: Value, shape: tuple[int, ...], reduced: frozenset[int]
                   ) -> tuple[dict[int, tuple[int, ...]], tuple[int, ...], set[int]]:
    """Coalesced (vshape, shape of x, reduced dimensions) for reading operand `x`."""
    plan = lw.plan
    inline = id(x) not in plan.materialized
    c = coalesce(plan, shape, [x] if inline else [], [] if inline else [x], reduced)
    if c is None:
        return {}, shape, set(reduced)
    vshape, groups = c
    return vshape, vshape[id(x)], {g for g, dims in enumerate(groups) if dims[0] in reduced}


Element = Callable[[tuple[ir.Value, ...], ir.Value], ir.Value]


def reduce_loops(lw: Lowerer, S: tuple[int, ...], A: set[int], element: Element,
                 combine: Callable[[ir.Value, ir.Value], ir.Value], ident: ir.Value,
                 acc_dt: np.dtype, dst: ir.Value, dst_dt: np.dtype,
                 finish: Callable[[ir.Value], ir.Value] | None = None,
                 block: int = 0, elt_dt: np.dtype | None = None) -> None:
    """`dst[o] = finish(combine over the dimensions A of S of element(idx, o))`, where `o`
    is the row-major offset of idx's kept dimensions. Loops run in memory order of S.

    `element` gives values of `elt_dt` (default `acc_dt`), widened to `acc_dt` before
    they are combined. With `block`, a trailing reduced dimension runs in blocks of that
    many elements, each combined from the identity in `elt_dt` (with vector
    accumulators), then widened into the running total."""
    b = lw.b
    r = len(S)
    K = [d for d in range(r) if d not in A]
    kshape = tuple(S[d] for d in K)
    n_out = size_of(kshape)
    fin = finish or (lambda v: v)
    elt_dt = elt_dt or acc_dt

    def lift(v: ir.Value) -> ir.Value:
        return b.fpext(v, reg_type(acc_dt)) if elt_dt != acc_dt else v

    def out_offset(idx: tuple[ir.Value, ...]) -> ir.Value:
        return linear_index(b, [idx[d] for d in K], kshape)

    if size_of(S) == 0:
        _fill(lw, dst, dst_dt, n_out, fin(ident))
        return
    if not A:
        with loop_nest(b, S) as idx:
            o = linear_index(b, idx, S)
            lw.store_at(dst, dst_dt, o, fin(lift(element(idx, o))))
        return
    t0 = r
    while t0 > 0 and (t0 - 1) in A:
        t0 -= 1
    P, T = S[:t0], S[t0:]
    acc = lw.alloca(reg_type(acc_dt))

    def inner(pidx: tuple[ir.Value, ...], o: ir.Value) -> ir.Value:
        """Combine over the trailing reduced dimensions T at prefix index pidx."""
        b.store(ident, acc)
        with contextlib.ExitStack() as stack:
            tidx = tuple(stack.enter_context(loop_nest(b, T[:-1], "t")))
            if block:
                lo, hi = stack.enter_context(block_ranges(b, T[-1], block))
                part = lw.alloca(reg_type(elt_dt), "part")
                b.store(scalar_constant(0, elt_dt) if elt_dt != acc_dt else ident, part)
                with for_range(b, lo, hi, name="j") as j:
                    b.store(combine(b.load(part), element(pidx + tidx + (j,), o)), part)
                b.store(combine(b.load(acc), lift(b.load(part))), acc)
            else:
                (j,) = stack.enter_context(loop_nest(b, T[-1:], "j"))
                b.store(combine(b.load(acc), lift(element(pidx + tidx + (j,), o))), acc)
        return b.load(acc)

    if T and not any(d in A for d in range(t0)):
        chunk = lw.chunk        # rows of P split into chunks (`lower_parallel`)
        span = None if chunk is None else (chunk.dim, chunk.start, chunk.stop)
        with loop_nest(b, P, "p", span=span) as pidx:
            o = out_offset(pidx)
            lw.store_at(dst, dst_dt, o, fin(inner(pidx, o)))
        return
    assert lw.chunk is None, "only independent rows of a reduction are split into chunks"
    # A reduced dimension lies outside the trailing block: accumulate into a buffer over
    # the output, in memory order (vectorizing across the kept inner dimensions).
    direct = finish is None and acc_dt == dst_dt
    buf = dst if direct else lw.malloc(n_out * acc_dt.itemsize, mem_type(acc_dt))
    _fill(lw, buf, acc_dt, n_out, ident)
    with loop_nest(b, P if T else S, "p") as pidx:
        o = out_offset(pidx)
        v = inner(pidx, o) if T else lift(element(pidx, o))
        lw.store_at(buf, acc_dt, o, combine(lw.load_at(buf, acc_dt, o), v))
    if not direct:
        with loop_nest(b, (n_out,), "fin") as (i,):
            lw.store_at(dst, dst_dt, i, fin(lw.load_at(buf, acc_dt, i)))
        lw.free(buf)


def independent_rows(lw: Lowerer, ins: Instr) -> tuple[tuple[int, ...], int] | None:
    """For a reduction kernel (`reduce`) whose reduced dimensions all follow its kept
    ones (after coalescing): the kept shape P, whose elements `reduce_loops` computes
    one by one, each from the same loops over the reduced ones, and the number of
    operand elements per element of P; None for any other reduction."""
    if ins.prim not in ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod"):
        return None
    x = ins.inputs[0]
    _, S, A = _operand_shape(lw, x, x.shape, frozenset(ins.params["axes"]))
    t0 = len(S)
    while t0 > 0 and (t0 - 1) in A:
        t0 -= 1
    if t0 == len(S) or not A or any(d in A for d in range(t0)) or size_of(S) == 0:
        return None
    return S[:t0], size_of(S[t0:])


@kernel_rule("reduce_sum", "reduce_max", "reduce_min", "reduce_prod")
def reduce(lw: Lowerer, ins: Instr) -> None:
    b = lw.b
    prim = ins.prim
    x, out = ins.inputs[0], ins.outs[0]
    dt = x.dtype
    vshape, S, A = _operand_shape(lw, x, x.shape, frozenset(ins.params["axes"]))
    widen = prim == "reduce_sum" and dt == np.float32
    acc_dt = np.dtype(np.float64) if widen else dt

    def element(idx: tuple[ir.Value, ...], o: ir.Value) -> ir.Value:
        return lw.emitter(vshape).value(x, idx)

    block = 0
    if prim == "reduce_sum" and dt.kind == "f":
        block = SUM_BLOCK if dt == np.float64 else SUM_BLOCK_F32
    reduce_loops(lw, S, A, element, lambda a, v: combine(b, prim, a, v),
                 scalar_constant(identity(prim, dt), acc_dt), acc_dt, lw.ptr(out), dt,
                 (lambda v: b.fptrunc(v, F32)) if widen else None, block=block, elt_dt=dt)


@kernel_rule("argmax", "argmin")
def argextreme(lw: Lowerer, ins: Instr) -> None:
    """Two vectorizable passes: the extreme m of each row, then the smallest j with
    x[j] == m or x[j] NaN (a row holds a NaN exactly when m is NaN)."""
    b = lw.b
    x, out = ins.inputs[0], ins.outs[0]
    axis = ins.params["axis"]
    odt = np.dtype(ins.params["dtype"])
    n_out = size_of(out.shape)
    if x.shape[axis] == 1:
        _fill(lw, lw.ptr(out), odt, n_out, scalar_constant(0, odt))
        return
    vshape, S, A = _operand_shape(lw, x, x.shape, frozenset({axis}))
    (a,) = A
    n = S[a]
    kind = "reduce_max" if ins.prim == "argmax" else "reduce_min"
    best = lw.malloc(n_out * x.dtype.itemsize, mem_type(x.dtype))

    def value(idx: tuple[ir.Value, ...], o: ir.Value) -> ir.Value:
        return lw.emitter(vshape).value(x, idx)

    reduce_loops(lw, S, A, value, lambda acc, v: combine(b, kind, acc, v),
                 scalar_constant(identity(kind, x.dtype), x.dtype), x.dtype, best, x.dtype)

    def first(idx: tuple[ir.Value, ...], o: ir.Value) -> ir.Value:
        v = value(idx, o)
        m = lw.load_at(best, x.dtype, o)
        if x.dtype.kind == "f":
            hit = b.or_(b.fcmp_ordered("==", v, m), b.fcmp_unordered("uno", v, v))
        else:
            hit = b.icmp_signed("==", v, m)
        return b.select(hit, idx[a], const(n))

    i64 = np.dtype(np.int64)
    reduce_loops(lw, S, A, first, lambda acc, v: overloaded(b, "llvm.smin", acc, v), const(n),
                 i64, lw.ptr(out), odt, None if odt == i64 else (lambda v: b.trunc(v, I32)))
    lw.free(best)


@kernel_rule("assert")
def assert_all(lw: Lowerer, ins: Instr) -> None:
    """Fail unless every element of the bool operand is true (reporting the first false
    one's flat index, as the reference does); the result is true."""
    b = lw.b
    x, out = ins.inputs[0], ins.outs[0]
    em = lw.emitter()

    def false_at(idx: tuple[ir.Value, ...]) -> tuple[ir.Value, ir.Value]:
        return b.not_(em.value(x, idx)), linear_index(b, idx, x.shape)

    fail_first(lw, ins, x.shape, false_at, size_of(x.shape))
    lw.store_at(lw.ptr(out), out.dtype, ZERO, ir.Constant(I1, 1))


@failure_rule("assert")
def _assert_failed(ins: Instr, index: int, size: int) -> Exception:
    return assert_failure(ins.params["message"], ins.params["error"], index,
                          ins.inputs[0].shape)


@kernel_rule("matmul")
def matmul(lw: Lowerer, ins: Instr) -> None:
    b = lw.b
    (a, ta), (bm, tb) = lw.plan.matmul_operands[id(ins)]
    out = ins.outs[0]
    ra, ca = a.shape[-2:]
    rb, cb = bm.shape[-2:]
    m, k = (ca, ra) if ta else (ra, ca)
    n = rb if tb else cb
    # Not waiting for the builtin kernel: `compile_function` loads it before the code.
    gemm = declare_gemm(lw.module, "f32" if out.dtype == np.float32 else "f64",
                        work=size_of(out.shape) * k, module_cost=lw.plan.cost)
    pa, pb, pc = lw.ptr(a), lw.ptr(bm), lw.ptr(out)
    batch = out.shape[:-2]
    nb = size_of(batch)
    flags = [ir.Constant(I32, int(ta)), ir.Constant(I32, int(tb))]
    if size_of(bm.shape[:-2]) == 1 and not ta and size_of(a.shape[:-2]) == nb:
        # No broadcasting of A and one B: the batch is just more rows of A and C.
        b.call(gemm, flags + [const(nb * m), const(n), const(k), pa, const(ca), pb, const(cb),
                              pc, const(n)])
        return
    def at(p: ir.Value, off: ir.Value, size: int) -> ir.Value:
        """`p` advanced by `off` matrices of `size` elements (`p` itself at offset 0)."""
        return p if off is ZERO else b.gep(p, [b.mul(off, const(size))])

    with loop_nest(b, batch, "batch") as bidx:
        ptrs = []
        for p, op, rows, cols in ((pa, a, ra, ca), (pb, bm, rb, cb)):
            bshape = op.shape[:-2]
            off = linear_index(b, broadcast_index(bidx, batch, bshape), bshape)
            ptrs.append(at(p, off, rows * cols))
        cptr = at(pc, linear_index(b, bidx, batch), m * n)
        b.call(gemm, flags + [const(m), const(n), const(k), ptrs[0], const(ca),
                              ptrs[1], const(cb), cptr, const(n)])


@kernel_rule("scatter_add")
def scatter_add(lw: Lowerer, ins: Instr) -> None:
    b = lw.b
    g, ind = ins.inputs
    out = ins.outs[0]
    axis = ins.params["axis"]
    r = ind.ndim
    dt = out.dtype
    _fill(lw, lw.ptr(out), dt, size_of(out.shape), scalar_constant(0, dt))
    if size_of(g.shape) == 0:
        return  # no updates: the zeros are the result (an empty operand has no elements)
    # Memory order over the updates: each output element receives its updates in index
    # order, as np.add.at adds them (mode "set": the last one stays).
    with loop_nest(b, g.shape, "upd") as gidx:
        em = lw.emitter()
        kk = em.value(ind, gidx[axis:axis + r])
        kk = kk if kk.type == I64 else b.sext(kk, I64)
        o = linear_index(b, gidx[:axis] + (kk,) + gidx[axis + r:], out.shape)
        v = em.value(g, gidx)
        if ins.params["mode"] == "set":         # in update order: the last one wins
            lw.store_at(lw.ptr(out), dt, o, v)
        else:
            old = lw.load_at(lw.ptr(out), dt, o)
            lw.store_at(lw.ptr(out), dt, o,
                        b.fadd(old, v) if dt.kind == "f" else b.add(old, v))

