"""Runtime-sized rule of the pools (`max_pool`, `max_pool_argmax`, `avg_pool`) with an
unknown number of channels (`lower_poly.py`); with only the batch unknown, `PolyKernels`'
block calls of the fixed-shape kernel run instead.

The loops are `lower_pool`'s, with the batch and the channels read at run time (the
spatial sizes are always known: the shape rule computes the output's from them): per
output position, the window's positions inside the input (`lower_conv.window_position`),
channels innermost. Same invariants as `lower_pool`: the first maximum wins, NaN never
wins, the running max starts at the lowest finite value; `max_pool_argmax` gives the
flat index into the whole input of the position kept (the window's first real position
starts it); `avg_pool` divides by the number of positions inside the input.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ..ir import Instr, TensorType, Value
from .llvmtypes import mem_type, scalar_constant
from .loops import const
from .lower_conv import window_position
from .poly_kernels import POOLS, kernel_blocker
from .poly_lapack import PolyLapack


def runtime_channels(ins: Instr) -> bool:
    """Whether pool `ins` has an unknown dimension besides the batch."""
    return ins.prim in POOLS and kernel_blocker(ins) is not None


class PolyPools(PolyLapack):
    """The pools' rule with runtime channels (see the module docstring)."""

    def temporaries(self, ins: Instr) -> list[Value]:
        if ins.prim == "max_pool_argmax" and runtime_channels(ins):
            x = ins.inputs[0]
            return [Value(TensorType((x.type.shape[-1],), x.dtype))]
        return super().temporaries(ins)

    def _pool(self, ins: Instr) -> None:
        if not runtime_channels(ins):
            self._kernel(ins)
            return
        b, p, kind = self.b, ins.params, ins.prim
        x, out = ins.inputs[0], ins.outs[0]
        dt, odt = x.dtype, out.dtype
        spatial = tuple(int(d) for d in x.type.shape[1:-1])
        q = tuple(int(d) for d in out.type.shape[1:-1])
        c = self.dim(x.type.shape[-1])
        per_image = int(np.prod(spatial, dtype=np.int64))
        best = self.ptr(self.temps[id(ins)][0]) if kind == "max_pool_argmax" else None
        lowest = scalar_constant(np.finfo(dt).min, dt)
        zero = scalar_constant(0, dt)
        with b.goto_block(self.alloca_block):
            count = b.alloca(mem_type(dt), name="count")

        def row(ridx: tuple[ir.Value, ...]) -> None:
            obase = b.mul(self.offset(ridx, (x.type.shape[0],) + q), c)

            def start(i: tuple[ir.Value, ...]) -> None:
                at = b.add(obase, i[0])
                if kind == "max_pool_argmax":
                    b.store(lowest, b.gep(best, [i[0]]))
                    self.store(out, at, scalar_constant(-1, odt))
                else:
                    self.store(out, at, zero if kind == "avg_pool" else lowest)
            self.nest([c], start, "z")
            b.store(zero, count)

            def window(kidx: tuple[ir.Value, ...]) -> None:
                ok, pos = window_position(b, ridx[1:], kidx, p, spatial)
                with b.if_then(ok):
                    img = b.mul(ridx[0], const(per_image))
                    xbase = b.mul(b.add(img, self.offset(pos, spatial)), c)
                    b.store(b.fadd(b.load(count), scalar_constant(1, dt)), count)
                    self.nest([c], lambda cc: self._pool_step(
                        kind, x, out, best, b.add(obase, cc[0]), cc[0],
                        b.add(xbase, cc[0])), "c")
            self.nest([const(k) for k in p["window"]], window, "k")
            if kind == "avg_pool":
                total = b.load(count)
                self.nest([c], lambda cc: self.store(out, b.add(obase, cc[0]), b.fdiv(
                    self.load(out, b.add(obase, cc[0])), total)), "avg")
        self.nest([self.dim(x.type.shape[0])] + [const(k) for k in q], row, "row")

    _avg_pool = _max_pool = _max_pool_argmax = _pool

    def _pool_step(self, kind: str, x: Value, out: Value, best: ir.Value | None,
                   oat: ir.Value, cc: ir.Value, xat: ir.Value) -> None:
        """One input element `x[xat]` into output element `oat` (channel `cc`)."""
        b = self.b
        v = self.load(x, xat)
        if kind == "avg_pool":
            self.store(out, oat, b.fadd(self.load(out, oat), v))
            return
        if kind == "max_pool":
            cur = self.load(out, oat)
            self.store(out, oat, b.select(b.fcmp_ordered(">", v, cur), v, cur))
            return
        assert best is not None
        cur = b.load(b.gep(best, [cc]))
        arg = self.load(out, oat)
        gt = b.fcmp_ordered(">", v, cur)
        take = b.or_(gt, b.icmp_signed("<", arg, scalar_constant(0, out.dtype)))
        idx = xat if out.dtype == np.int64 else b.trunc(xat, ir.IntType(32))
        self.store(out, oat, b.select(take, idx, arg))
        b.store(b.select(gt, v, cur), b.gep(best, [cc]))

