"""Kernel rule of `sort`: a stable bottom-up merge sort of each row (the last axis).

Invariants: per row, the operand is read once (through an `Emitter`) into a key buffer,
with the indices 0..n-1 beside it, and (key, index) pairs are merged in passes of width
1, 2, 4, ... between two pairs of buffers (keys move with their indices, so every access
is sequential); a merge takes from the right run only when its element is strictly before the
left one's (`_before`: `<`, or `>` descending, with NaN after every number ascending and
before it descending), so equal elements keep their order. Loads at a run's end read a
clamped, in-bounds index whose value a `select` discards. The buffers are
allocated once per kernel and freed at its end. O(n log n) comparisons per row.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llvmlite import ir

from ..ir import Instr
from .llvmtypes import I32, mem_type
from .loops import I64, const, for_range, loop_nest
from .plan import size_of
from .rules import kernel_rule

if TYPE_CHECKING:
    from .lower import Lowerer


def _before(b: ir.IRBuilder, a: ir.Value, c: ir.Value, descending: bool, is_float: bool
            ) -> ir.Value:
    """Whether key `a` sorts strictly before key `c`."""
    if not is_float:
        return b.icmp_signed(">" if descending else "<", a, c)
    if descending:
        return b.or_(b.fcmp_ordered(">", a, c),
                     b.and_(b.fcmp_unordered("uno", a, a), b.fcmp_ordered("ord", c, c)))
    return b.or_(b.fcmp_ordered("<", a, c),
                 b.and_(b.fcmp_unordered("uno", c, c), b.fcmp_ordered("ord", a, a)))


def _min(b: ir.IRBuilder, a: ir.Value, c: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", a, c), a, c)


def merge_passes(b: ir.IRBuilder, n: ir.Value, slots: tuple[ir.Value, ...],
                 load_key: Callable[[ir.Value, ir.Value], ir.Value],
                 store_key: Callable[[ir.Value, ir.Value, ir.Value], None],
                 load_index: Callable[[ir.Value, ir.Value], ir.Value],
                 store_index: Callable[[ir.Value, ir.Value, ir.Value], None],
                 descending: bool, is_float: bool) -> tuple[ir.Value, ir.Value]:
    """The merge passes of one row of `n` (key, index) pairs (see the module docstring).
    `slots` are the stack slots (source keys, destination keys, source indices,
    destination indices, width, i, j), the first four holding the buffers with the row in
    the source ones; `load_*(buffer, k)` and `store_*(buffer, k, value)` access element k.
    Returns the (keys, indices) buffers that hold the sorted row."""
    src_k, dst_k, src_i, dst_i, width, ii, jj = slots
    last = b.sub(n, const(1))
    b.store(const(1), width)
    cond = b.append_basic_block("merge.pass")
    body = b.append_basic_block("merge.body")
    done = b.append_basic_block("merge.done")
    b.branch(cond)
    b.position_at_end(cond)
    w = b.load(width)
    b.cbranch(b.icmp_signed("<", w, n), body, done)
    b.position_at_end(body)
    sk, dk, si, di = b.load(src_k), b.load(dst_k), b.load(src_i), b.load(dst_i)
    with for_range(b, const(0), n, b.mul(w, const(2)), name="run") as lo:
        mid = _min(b, b.add(lo, w), n)
        hi = _min(b, b.add(mid, w), n)
        b.store(lo, ii)
        b.store(mid, jj)
        with for_range(b, lo, hi, name="k") as k:
            # keys move with their indices, so every access here is sequential
            i, j = b.load(ii), b.load(jj)
            ci, cj = _min(b, i, last), _min(b, j, last)
            ki, kj = load_key(sk, ci), load_key(sk, cj)
            take_right = b.and_(b.icmp_signed("<", j, hi),
                                b.or_(b.icmp_signed(">=", i, mid),
                                      _before(b, kj, ki, descending, is_float)))
            store_key(dk, k, b.select(take_right, kj, ki))
            store_index(di, k, b.select(take_right, load_index(si, cj), load_index(si, ci)))
            step = b.zext(take_right, I64)
            b.store(b.add(j, step), jj)
            b.store(b.add(i, b.sub(const(1), step)), ii)
    for slot, v in ((src_k, dk), (dst_k, sk), (src_i, di), (dst_i, si)):
        b.store(v, slot)
    b.store(b.mul(w, const(2)), width)
    b.branch(cond)
    b.position_at_end(done)
    return b.load(src_k), b.load(src_i)


@kernel_rule("sort")
def sort_rows(lw: Lowerer, ins: Instr) -> None:
    b = lw.b
    x = ins.inputs[0]
    vals, inds = ins.outs
    shape = tuple(x.shape)
    if size_of(shape) == 0:
        return
    n = shape[-1]
    dt = x.dtype
    is_float = dt.kind == "f"
    desc = bool(ins.params["descending"])
    kty = mem_type(dt)
    # Two key buffers and two index buffers (a kernel has two heap slots: one block each).
    kblock = lw.malloc(2 * n * dt.itemsize, kty)
    iblock = lw.malloc(2 * n * 8, I64)
    keys = (kblock, b.gep(kblock, [const(n)], inbounds=True))
    inds_buf = (iblock, b.gep(iblock, [const(n)], inbounds=True))
    src_k, dst_k = lw.alloca(kty.as_pointer(), "srck"), lw.alloca(kty.as_pointer(), "dstk")
    src_i, dst_i = lw.alloca(I64.as_pointer(), "srci"), lw.alloca(I64.as_pointer(), "dsti")
    width = lw.alloca(I64, "width")
    ii = lw.alloca(I64, "i")
    jj = lw.alloca(I64, "j")
    slots = (src_k, dst_k, src_i, dst_i, width, ii, jj)
    with loop_nest(b, shape[:-1], "row") as row:
        with for_range(b, n, name="load") as k:
            lw.store_at(keys[0], dt, k, lw.emitter().value(x, row + (k,)))
            lw.store_at(inds_buf[0], "int64", k, k)
        b.store(keys[0], src_k)
        b.store(keys[1], dst_k)
        b.store(inds_buf[0], src_i)
        b.store(inds_buf[1], dst_i)
        sk, si = merge_passes(
            b, const(n), slots, lambda p, k: lw.load_at(p, dt, k),
            lambda p, k, v: lw.store_at(p, dt, k, v), lambda p, k: lw.load_at(p, "int64", k),
            lambda p, k, v: lw.store_at(p, "int64", k, v), desc, is_float)
        base = b.mul(_row_offset(b, row, shape), const(n))
        with for_range(b, n, name="out") as k:
            o = b.add(base, k)
            lw.store_at(lw.ptr(vals), dt, o, lw.load_at(sk, dt, k))
            lw.store_at(lw.ptr(inds), "int32", o, b.trunc(lw.load_at(si, "int64", k), I32))
    lw.free(iblock)
    lw.free(kblock)


def _row_offset(b: ir.IRBuilder, row: tuple[ir.Value, ...], shape: tuple[int, ...]
                ) -> ir.Value:
    """The row-major number of the row `row` over `shape[:-1]`."""
    off = const(0)
    for r, dim in zip(row, shape[:-1]):
        off = b.add(b.mul(off, const(dim)), r)
    return off
