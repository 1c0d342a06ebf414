"""Kernel rule of `sort`: a stable bottom-up merge sort of each row (the last axis).

Invariants: per row, the operand is read once (through an `Emitter`) into a key buffer
and the indices 0..n-1 are merged in passes of width 1, 2, 4, ... between two index
buffers; a merge takes from the right run only when its element is strictly before the
left one's (`_before`: `<`, or `>` descending, with NaN after every number ascending and
before it descending), so equal elements keep their order. Loads at a run's end read a
clamped, in-bounds index whose value a `select` discards. The key buffer and the two index buffers
(one block) are allocated once per kernel and freed at its end. O(n log n) comparisons per row.
"""
from __future__ import annotations

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
    keys = lw.malloc(n * dt.itemsize, mem_type(dt))
    both = lw.malloc(2 * n * 8, I64)          # the two index buffers (a kernel has two slots)
    bufs = (both, b.gep(both, [const(n)], inbounds=True))
    src = lw.alloca(I64.as_pointer(), "src")
    dst = lw.alloca(I64.as_pointer(), "dst")
    width = lw.alloca(I64, "width")
    ii = lw.alloca(I64, "i")
    jj = lw.alloca(I64, "j")
    last = const(n - 1)
    with loop_nest(b, shape[:-1], "row") as row:
        with for_range(b, n, name="load") as k:
            lw.store_at(keys, dt, k, lw.emitter().value(x, row + (k,)))
            lw.store_at(bufs[0], "int64", k, k)
        b.store(bufs[0], src)
        b.store(bufs[1], dst)
        b.store(const(1), width)
        cond = b.append_basic_block("merge.pass")
        body = b.append_basic_block("merge.body")
        done = b.append_basic_block("merge.done")
        b.branch(cond)
        b.position_at_end(cond)
        w = b.load(width)
        b.cbranch(b.icmp_signed("<", w, const(n)), body, done)
        b.position_at_end(body)
        s, d = b.load(src), b.load(dst)
        with for_range(b, 0, n, b.mul(w, const(2)), name="run") as lo:
            mid = _min(b, b.add(lo, w), const(n))
            hi = _min(b, b.add(mid, w), const(n))
            b.store(lo, ii)
            b.store(mid, jj)
            with for_range(b, lo, hi, name="k") as k:
                i, j = b.load(ii), b.load(jj)
                si = lw.load_at(s, "int64", _min(b, i, last))
                sj = lw.load_at(s, "int64", _min(b, j, last))
                right_first = _before(b, lw.load_at(keys, dt, sj), lw.load_at(keys, dt, si),
                                      desc, is_float)
                take_right = b.and_(b.icmp_signed("<", j, hi),
                                    b.or_(b.icmp_signed(">=", i, mid), right_first))
                lw.store_at(d, "int64", k, b.select(take_right, sj, si))
                step = b.zext(take_right, I64)
                b.store(b.add(j, step), jj)
                b.store(b.add(i, b.sub(const(1), step)), ii)
        b.store(d, src)
        b.store(s, dst)
        b.store(b.mul(w, const(2)), width)
        b.branch(cond)
        b.position_at_end(done)
        s = b.load(src)
        with for_range(b, n, name="out") as k:
            p = lw.load_at(s, "int64", k)
            o = b.add(b.mul(_row_offset(b, row, shape), const(n)), k)
            lw.store_at(lw.ptr(vals), dt, o, lw.load_at(keys, dt, p))
            lw.store_at(lw.ptr(inds), "int32", o, b.trunc(p, I32))
    lw.free(both)
    lw.free(keys)


def _row_offset(b: ir.IRBuilder, row: tuple[ir.Value, ...], shape: tuple[int, ...]
                ) -> ir.Value:
    """The row-major number of the row `row` over `shape[:-1]`."""
    off = const(0)
    for r, dim in zip(row, shape[:-1]):
        off = b.add(b.mul(off, const(dim)), r)
    return off
