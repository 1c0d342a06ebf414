"""Kernel rule of the scans (`cumsum`, `cumprod`, `cumlogsumexp`) and of the linear
recurrence `linrec` (``h_i = a_i h_prev + b_i``): a loop along the axis.

Invariants: for each index before the axis, the first element along the scan (the last
with `reverse`) is the operand's; each following one combines the output's previous
element with the operand's, in scan order, so float results round as NumPy's sequential
`accumulate`. The loop over the dimensions after the axis is innermost, so a scan of a
non-innermost axis runs in memory order and vectorizes across them. The operand is read
through an `Emitter` (an inlined elementwise producer is computed inside the loop).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from ..ir import Instr
from .loops import const, for_range, linear_index, loop_nest
from .lower_arith import logaddexp
from .plan import size_of
from .rules import kernel_rule

if TYPE_CHECKING:
    from .lower import Lowerer


def _combine(b: ir.IRBuilder, prim: str, acc: ir.Value, v: ir.Value, is_float: bool
             ) -> ir.Value:
    if prim == "cumsum":
        return b.fadd(acc, v) if is_float else b.add(acc, v)
    if prim == "cumprod":
        return b.fmul(acc, v) if is_float else b.mul(acc, v)
    return logaddexp(b, acc, v)


@kernel_rule("cumsum", "cumprod", "cumlogsumexp", "linrec")
def scan_along_axis(lw: Lowerer, ins: Instr) -> None:
    b = lw.b
    x, out = ins.inputs[-1], ins.outs[0]       # linrec: the first element is b's
    axis, reverse = ins.params["axis"], ins.params["reverse"]
    shape = tuple(out.shape)
    if size_of(shape) == 0:
        return
    n = shape[axis]
    dt = out.dtype
    po = lw.ptr(out)
    with loop_nest(b, shape[:axis], "pre") as pre:
        first = const(n - 1 if reverse else 0)
        with loop_nest(b, shape[axis + 1:], "post") as post:
            idx = pre + (first,) + post
            lw.store_at(po, dt, linear_index(b, idx, shape), lw.emitter().value(x, idx))
        with for_range(b, 1, n, name="scan") as k:
            kk = b.sub(const(n - 1), k) if reverse else k
            prev = b.add(kk, const(1)) if reverse else b.sub(kk, const(1))
            with loop_nest(b, shape[axis + 1:], "post") as post:
                idx = pre + (kk,) + post
                acc = lw.load_at(po, dt, linear_index(b, pre + (prev,) + post, shape))
                v = lw.emitter().value(x, idx)
                if ins.prim == "linrec":
                    coef = lw.emitter().value(ins.inputs[0], idx)
                    r = b.fadd(b.fmul(coef, acc), v)
                else:
                    r = _combine(b, ins.prim, acc, v, dt.kind == "f")
                lw.store_at(po, dt, linear_index(b, idx, shape), r)
