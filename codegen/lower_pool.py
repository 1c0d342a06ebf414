"""Kernel rules of `max_pool`, `max_pool_argmax` and `avg_pool` (`ir.prims.pool`): per
output position, the window's positions inside the input, channels innermost.

Invariants:
- Operands are read as `lower_conv` reads them (`staged`, `window_position`): padded
  positions are skipped, never materialized.
- max_pool visits window positions in row-major order and keeps `v > best` (TensorFlow:
  the first max wins, NaN never wins, the running max starts at the lowest finite value),
  exactly as the reference;
  `max_pool_argmax` records the flat input index of the position kept (the first real
  position starts a window); avg_pool divides the sum by the number of positions inside
  the input.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir

from ..ir import Instr
from .llvmtypes import mem_type, scalar_constant
from .loops import const, for_range, linear_index, loop_nest
from .lower_conv import fill_range, staged, window_position
from .plan import size_of
from .rules import kernel_rule

if TYPE_CHECKING:
    from .lower import Lowerer


@kernel_rule("max_pool", "max_pool_argmax", "avg_pool")
def pool(lw: Lowerer, ins: Instr) -> None:
    x, out = ins.inputs[0], ins.outs[0]
    p = ins.params
    b = lw.b
    dt, odt = x.dtype, out.dtype
    n, spatial, c = x.shape[0], tuple(x.shape[1:-1]), x.shape[-1]
    rows = (n,) + tuple(out.shape[1:-1])
    window = p["window"]
    if size_of(out.shape) == 0:
        return
    kind = ins.prim
    extra = [(c, dt)] if kind == "max_pool_argmax" else []
    block, (px,), scratch = staged(lw, [x], extra)
    po = lw.ptr(out)
    best = scratch[0] if scratch else po
    lowest = scalar_constant(np.finfo(dt).min, dt)
    count = lw.alloca(mem_type(dt), "count")
    with loop_nest(b, rows, "row") as ridx:
        obase = b.mul(linear_index(b, ridx, rows), const(c))
        bbase = const(0) if scratch else obase
        fill_range(lw, best, dt, bbase, c, scalar_constant(0, dt) if kind == "avg_pool" else lowest)
        if kind == "max_pool_argmax":
            fill_range(lw, po, odt, obase, c, scalar_constant(-1, odt))
        b.store(scalar_constant(0, dt), count)
        with loop_nest(b, window, "k") as kidx:
            ok, pos = window_position(b, ridx[1:], kidx, p, spatial)
            with b.if_then(ok):
                xbase = b.mul(linear_index(b, (ridx[0],) + tuple(pos), (n,) + spatial),
                              const(c))
                b.store(b.fadd(b.load(count), scalar_constant(1, dt)), count)
                with for_range(b, c, name="c") as cc:
                    v = lw.load_at(px, dt, b.add(xbase, cc))
                    at = b.add(bbase, cc)
                    cur = lw.load_at(best, dt, at)
                    if kind == "avg_pool":
                        lw.store_at(best, dt, at, b.fadd(cur, v))
                    elif kind == "max_pool":
                        lw.store_at(best, dt, at, b.select(b.fcmp_ordered(">", v, cur), v, cur))
                    else:
                        _argmax_step(lw, po, odt, b.add(obase, cc), best, dt, at, v, cur,
                                     b.add(xbase, cc))
        if kind == "avg_pool":
            total = b.load(count)
            with for_range(b, c, name="c") as cc:
                at = b.add(obase, cc)
                lw.store_at(po, dt, at, b.fdiv(lw.load_at(po, dt, at), total))
    if block is not None:
        lw.free(block)


def _argmax_step(lw: Lowerer, po: ir.Value, odt: Any, oat: ir.Value, best: ir.Value, dt: Any,
                 at: ir.Value, v: ir.Value, cur: ir.Value, index: ir.Value) -> None:
    """Keep position `index` if it is the window's first real one or strictly greater."""
    b = lw.b
    arg = lw.load_at(po, odt, oat)
    gt = b.fcmp_ordered(">", v, cur)
    take = b.or_(gt, b.icmp_signed("<", arg, scalar_constant(0, odt)))
    idx = index if odt == np.int64 else b.trunc(index, ir.IntType(32))
    lw.store_at(po, odt, oat, b.select(take, idx, arg))
    lw.store_at(best, dt, at, b.select(gt, v, cur))
