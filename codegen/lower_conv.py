"""Kernel rules of `conv` and `conv_filter_grad` (`ir.prims.conv`, `ir.prims.conv_filter`):
register-tiled direct kernels (`conv_direct`, on up to two threads) when a group's output
channels fill vectors and the input is not dilated, else im2col + GEMM for convolutions
with enough channels per group, channels-last direct loops otherwise (the pools' rules,
`lower_pool`, share the window arithmetic).

Invariants:
- Operands are read from their buffers; an operand the plan does not materialize (an
  inlined transpose, say) is first copied into scratch through an `Emitter`. All scratch
  of a kernel is one heap block (`lower_lapack.arena`), freed at the end.
- An input position is read only when it lies inside the input: for output position q,
  window offset k, `t = q * stride + k * rhs_dilation - pad_lo` must be in
  `[0, (S - 1) * lhs_dilation]` and a multiple of `lhs_dilation` (one unsigned compare
  covers t < 0); every other position contributes zero (conv, avg_pool) or is skipped
  (max_pool), so padding and dilation are never materialized.
- `conv` through GEMM (`gemm_eligible`): rows of output positions are gathered chunk by
  chunk into an im2col buffer `col[row, group, k, c]` (zeros outside the input) of about
  `CHUNK_BYTES`, then one `tj_gemm` per group multiplies it by the filter viewed as a
  `(K * C/groups, O)` row-major matrix, writing the output rows directly. Otherwise the
  direct loops accumulate, per output position, over window offsets and channels with the
  output channels innermost (the loop that vectorizes). Measured on the conv benchmark
  (benchmarks/conv_bench.py): see `benchmarks/RESULTS.md`.
- `conv_filter_grad` multiplies the same im2col rows, transposed, by the cotangent's rows
  (GEMM, chunks after the first added through scratch), or accumulates by direct loops
  when `gemm_eligible` says no (depthwise).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir

from ..ir import Instr, Value
from . import conv_direct
from .gemm import declare_gemm
from .llvmtypes import scalar_constant
from .loops import block_ranges, const, for_range, linear_index, loop_nest
from .lower_lapack import arena
from .plan import size_of
from .rules import kernel_rule

if TYPE_CHECKING:
    from .lower import Lowerer

CHUNK_BYTES = 1 << 20       # im2col rows gathered per GEMM call (about L2's size)
MIN_ROWS = 128              # but at least this many rows, so each GEMM call has work


def gemm_eligible(ci: int, window: int, og: int) -> bool:
    """Whether a convolution goes through im2col + GEMM: per group, a reduction of at least
    8 and at least 4 output channels (below that GEMM's packing costs more than it saves)."""
    return ci * window >= 8 and og >= 4


def staged(lw: Lowerer, xs: Sequence[Value], extra: Sequence[tuple[int, Any]]
            ) -> tuple[ir.Value | None, list[ir.Value], list[ir.Value]]:
    """(scratch block or None, a pointer to each operand, the `extra` scratch buffers): an
    operand the plan inlines is copied into scratch first."""
    copies = [x for x in xs if id(x) not in lw.plan.materialized]
    parts = [(size_of(x.shape), x.dtype) for x in copies] + list(extra)
    block, ptrs = arena(lw, parts) if parts else (None, [])
    where = dict(zip((id(x) for x in copies), ptrs))
    for x in copies:
        em_shape = tuple(x.shape)
        with loop_nest(lw.b, em_shape, "stage") as idx:
            lw.store_at(where[id(x)], x.dtype, linear_index(lw.b, idx, em_shape),
                        lw.emitter().value(x, idx))
    return block, [where[id(x)] if id(x) in where else lw.ptr(x) for x in xs], ptrs[len(copies):]


def _position(b: ir.IRBuilder, q: ir.Value, k: ir.Value, stride: int, rd: int, lo: int,
              ld: int, size: int) -> tuple[ir.Value, ir.Value]:
    """(inside the input?, input index) of output position q, window offset k on one axis."""
    t = b.sub(b.add(b.mul(q, const(stride)), b.mul(k, const(rd))), const(lo))
    if ld == 1:
        return b.icmp_unsigned("<", t, const(size)), t
    inside = b.icmp_unsigned("<", t, const((size - 1) * ld + 1))
    aligned = b.icmp_unsigned("==", b.urem(t, const(ld)), const(0))
    return b.and_(inside, aligned), b.udiv(t, const(ld))


def window_position(b: ir.IRBuilder, qs: Sequence[ir.Value], ks: Sequence[ir.Value],
                     params: dict[str, Any], spatial: Sequence[int]
                     ) -> tuple[ir.Value, list[ir.Value]]:
    nsp = len(spatial)
    ld = params.get("lhs_dilation", (1,) * nsp)
    rd = params.get("rhs_dilation", (1,) * nsp)
    ok: ir.Value = ir.Constant(ir.IntType(1), 1)
    pos = []
    for i in range(nsp):
        inside, p = _position(b, qs[i], ks[i], params["strides"][i], rd[i],
                              params["pad_lo"][i], ld[i], spatial[i])
        ok = b.and_(ok, inside)
        pos.append(p)
    return ok, pos


def _fma(b: ir.IRBuilder, acc: ir.Value, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.fadd(acc, b.fmul(x, y, flags=("contract",)), flags=("contract",))


def fill_range(lw: Lowerer, ptr: ir.Value, dt: Any, start: ir.Value, n: int, v: ir.Value
               ) -> None:
    with for_range(lw.b, n, name="z") as i:
        lw.store_at(ptr, dt, lw.b.add(start, i), v)


@kernel_rule("conv")
def conv(lw: Lowerer, ins: Instr) -> None:
    x, w = ins.inputs
    out = ins.outs[0]
    p = ins.params
    nsp = x.ndim - 2
    window = tuple(w.shape[:nsp])
    ci, o = w.shape[nsp:]
    groups = p["groups"]
    og = o // groups
    dt = out.dtype
    zero = scalar_constant(0, dt)
    if size_of(out.shape) == 0:
        return
    if size_of(x.shape) == 0 or size_of(w.shape) == 0:
        fill_range(lw, lw.ptr(out), dt, const(0), size_of(out.shape), zero)
        return
    kc = size_of(window) * ci
    geo = conv_direct.direct_plan(tuple(x.shape), window, ci, o, p, tuple(out.shape[1:-1]), dt)
    if geo is not None:
        block, (px, pw), _ = staged(lw, [x, w], [])
        conv_direct.conv_forward(lw, ins, geo, px, pw)
        if block is not None:
            lw.free(block)
        return
    if gemm_eligible(ci, size_of(window), og):
        _conv_gemm(lw, ins, kc)
        return
    block, (px, pw), _ = staged(lw, [x, w], [])
    b = lw.b
    po = lw.ptr(out)

    def body(rbase: ir.Value, kbase: ir.Value, cc: ir.Value, oo: ir.Value, xv: ir.Value
             ) -> None:
        wv = lw.load_at(pw, dt, b.add(kbase, b.add(b.mul(cc, const(o)), oo)))
        at = b.add(rbase, oo)
        lw.store_at(po, dt, at, _fma(b, lw.load_at(po, dt, at), xv, wv))
    _direct_loops(lw, x, px, p, window, ci, o, groups, (x.shape[0],) + tuple(out.shape[1:-1]),
                  body, lambda rbase: fill_range(lw, po, dt, rbase, o, zero))
    if block is not None:
        lw.free(block)


def _chunks(lines: int, line: int, row_bytes: int, k0: int, k0_bytes: int
            ) -> tuple[int, int]:
    """(lines per chunk, first-axis window offsets per chunk): about `CHUNK_BYTES` of
    im2col per chunk, at least `MIN_ROWS` rows when there are that many, chunks of equal
    size; the window is split along its first axis only when even those rows are too wide
    (a filter gradient: few rows, a window as large as the image)."""
    per = max(1, CHUNK_BYTES // max(1, line * row_bytes), -(-MIN_ROWS // line))
    per = min(per, lines)
    per = -(-lines // -(-lines // per))                 # balance the chunks
    kb = max(1, min(k0, CHUNK_BYTES // max(1, per * line * k0_bytes)))
    return per, kb


def _conv_gemm(lw: Lowerer, ins: Instr, kc: int) -> None:
    """im2col in chunks of lines (an image's rows of output positions with equal first
    spatial index) and of window offsets along the first window axis, one GEMM per group
    and chunk; the products of later window chunks are added to the first one's."""
    x, w = ins.inputs
    out = ins.outs[0]
    p = ins.params
    b = lw.b
    dt = out.dtype
    nsp = x.ndim - 2
    window = tuple(w.shape[:nsp])
    ci, o = w.shape[nsp:]
    groups = p["groups"]
    og = o // groups
    n = x.shape[0]
    q = tuple(out.shape[1:-1])
    line = size_of(q[1:])                       # output positions per line
    lines = n * q[0]
    krest = size_of(window[1:]) * ci            # columns per first-axis window offset
    per, kb = _chunks(lines, line, groups * kc * dt.itemsize, window[0],
                      groups * krest * dt.itemsize)
    width = kb * krest                          # im2col columns per group and chunk
    extra = [(per * line * groups * width, dt)]
    if kb < window[0]:
        extra.append((per * line * o, dt))
    block, (px, pw), scratch = staged(lw, [x, w], extra)
    col = scratch[0]
    po = lw.ptr(out)
    zero = scalar_constant(0, dt)
    gemm = declare_gemm(lw.module, "f32" if dt == np.float32 else "f64",
                        work=per * line * og * width)
    i32 = ir.IntType(32)
    with block_ranges(b, lines, per) as (start, end):
        count = b.sub(end, start)
        m = b.mul(count, const(line))
        obase = b.mul(b.mul(start, const(line)), const(o))
        with block_ranges(b, window[0], kb) as (k0s, kend):
            kcount = b.sub(kend, k0s)
            _im2col(lw, p, px, col, tuple(x.shape), window, q, groups, ci, start, count,
                    k0s, kcount, kb, zero)
            first = b.icmp_unsigned("==", k0s, const(0))
            dest = po if kb == window[0] else b.select(first, b.gep(po, [obase]), scratch[1])
            ld = const(o)
            for g in range(groups):
                b.call(gemm, [ir.Constant(i32, 0), ir.Constant(i32, 0), m, const(og),
                              b.mul(kcount, const(krest)), b.gep(col, [const(g * width)]),
                              const(groups * width),
                              b.gep(pw, [b.add(b.mul(k0s, const(krest * o)), const(g * og))]),
                              const(o),
                              b.gep(dest, [b.add(const(0) if kb < window[0] else obase,
                                                 const(g * og))]), ld])
            if kb < window[0]:
                with b.if_then(b.not_(first)):
                    with for_range(b, b.mul(m, const(o)), name="acc") as i:
                        oi = b.add(obase, i)
                        lw.store_at(po, dt, oi, b.fadd(lw.load_at(po, dt, oi),
                                                       lw.load_at(scratch[1], dt, i)))
    if block is not None:
        lw.free(block)


def _im2col(lw: Lowerer, p: dict[str, Any], px: ir.Value, col: ir.Value,
            x_shape: tuple[int, ...], window: tuple[int, ...], q: tuple[int, ...], groups: int,
            ci: int, start: ir.Value, count: ir.Value, k0s: ir.Value, kcount: ir.Value, kb: int,
            zero: ir.Value) -> None:
    """col[row, group, (k0 - k0s, *k_rest), c] for the `count` lines from `start` (an
    image's output positions with equal first spatial index; `row` counts from the chunk's
    first) and the first-axis window offsets k0s .. k0s + kcount (`kb` slots)."""
    b = lw.b
    n, spatial, c = x_shape[0], tuple(x_shape[1:-1]), x_shape[-1]
    line = size_of(q[1:])
    width = kb * size_of(window[1:]) * ci
    with for_range(b, count, name="line") as li:
        at = b.add(start, li)
        img, q0 = b.udiv(at, const(q[0])), b.urem(at, const(q[0]))
        with loop_nest(b, q[1:], "q") as qrest:
            row = b.add(b.mul(li, const(line)), linear_index(b, qrest, q[1:]))
            with for_range(b, kcount, name="k0") as kk0:
                with loop_nest(b, window[1:], "k") as krs:
                    kidx = (b.add(k0s, kk0),) + tuple(krs)
                    ok, pos = window_position(b, (q0,) + tuple(qrest), kidx, p, spatial)
                    kl = linear_index(b, (kk0,) + tuple(krs), (kb,) + window[1:])
                    dst0 = b.add(b.mul(row, const(groups * width)), b.mul(kl, const(ci)))
                    _gather_channels(lw, ok, px, col, img, pos, dst0, n, spatial, c, groups,
                                     ci, width, zero)


def _gather_channels(lw: Lowerer, ok: ir.Value, px: ir.Value, col: ir.Value,
                     img: ir.Value, pos: list[ir.Value], dst0: ir.Value, n: int,
                     spatial: tuple[int, ...], c: int, groups: int, ci: int, width: int,
                     zero: ir.Value) -> None:
    """col[dst0 + g * width + cc] = x[img, pos, g * ci + cc] for every group and channel,
    or zeros when the position is outside the input."""
    b = lw.b
    dt = _dtype_of(zero)
    with b.if_else(ok) as (inside, outside):
        with inside:
            src = b.mul(linear_index(b, (img,) + tuple(pos), (n,) + spatial), const(c))
            with loop_nest(b, (groups, ci), "gc") as (g, cc):
                v = lw.load_at(px, dt, b.add(src, b.add(b.mul(g, const(ci)), cc)))
                lw.store_at(col, dt, b.add(dst0, b.add(b.mul(g, const(width)), cc)), v)
        with outside:
            with loop_nest(b, (groups, ci), "gz") as (g, cc):
                lw.store_at(col, dt, b.add(dst0, b.add(b.mul(g, const(width)), cc)), zero)


def _dtype_of(v: ir.Value) -> np.dtype:
    return np.dtype(np.float32 if isinstance(v.type, ir.FloatType) else np.float64)


@kernel_rule("conv_filter_grad")
def conv_filter_grad(lw: Lowerer, ins: Instr) -> None:
    """The forward's im2col of the input in chunks of rows, times the cotangent's rows
    (`op(A) = col^T`), per group; chunks after the first are added through a scratch
    product (the GEMM overwrites its output)."""
    x, g = ins.inputs
    out = ins.outs[0]
    p = ins.params
    b = lw.b
    dt = out.dtype
    window = tuple(p["window"])
    ci, o = out.shape[-2:]
    groups = p["groups"]
    og = o // groups
    zero = scalar_constant(0, dt)
    if size_of(out.shape) == 0:
        return
    q = tuple(g.shape[1:-1])
    if size_of(x.shape) == 0 or size_of(g.shape) == 0:
        fill_range(lw, lw.ptr(out), dt, const(0), size_of(out.shape), zero)
        return
    kc = size_of(window) * ci
    geo = conv_direct.direct_plan(tuple(x.shape), window, ci, o, p, q, dt)
    if geo is not None:
        parts = conv_direct.filter_parts(geo, dt)
        block, (px, pg), extra = staged(lw, [x, g], [((parts - 1) * size_of(out.shape), dt)]
                                        if parts > 1 else [])
        conv_direct.filter_grad(lw, ins, geo, px, pg, extra[0] if extra else None)
        if block is not None:
            lw.free(block)
        return
    if not gemm_eligible(ci, size_of(window), og):
        _filter_direct(lw, ins)
        return
    line = size_of(q[1:])
    lines = x.shape[0] * q[0]
    per, _ = _chunks(lines, line, groups * kc * dt.itemsize, window[0], 0)
    block, (px, pg), (col, tmp) = staged(lw, [x, g], [(per * line * groups * kc, dt),
                                                        (kc * o, dt)])
    po = lw.ptr(out)
    gemm = declare_gemm(lw.module, "f32" if dt == np.float32 else "f64",
                        work=per * line * og * kc)
    i32 = ir.IntType(32)
    with block_ranges(b, lines, per) as (start, end):
        count = b.sub(end, start)
        _im2col(lw, p, px, col, tuple(x.shape), window, q, groups, ci, start, count,
                const(0), const(window[0]), window[0], zero)
        first = b.icmp_unsigned("==", start, const(0))
        dest = b.select(first, po, tmp)
        rows = b.mul(count, const(line))
        gbase = b.mul(b.mul(start, const(line)), const(o))
        for gi in range(groups):
            b.call(gemm, [ir.Constant(i32, 1), ir.Constant(i32, 0), const(kc), const(og), rows,
                          b.gep(col, [const(gi * kc)]), const(groups * kc),
                          b.gep(pg, [b.add(gbase, const(gi * og))]), const(o),
                          b.gep(dest, [const(gi * og)]), const(o)])
        with b.if_then(b.not_(first)):
            with for_range(b, kc * o, name="acc") as i:
                lw.store_at(po, dt, i, b.fadd(lw.load_at(po, dt, i), lw.load_at(tmp, dt, i)))
    if block is not None:
        lw.free(block)


def _direct_loops(lw: Lowerer, x: Value, px: ir.Value, p: dict[str, Any],
                  window: tuple[int, ...], ci: int, o: int, groups: int,
                  rows: tuple[int, ...], body: Callable[..., None],
                  start_row: Callable[[ir.Value], None] | None = None) -> None:
    """The loops of a convolution by direct loops (`conv` and `conv_filter_grad`): per
    row of output positions `rows` (batch, then the spatial positions), window offset
    whose input position is inside the input, group, input channel of the group and output
    channel of the group, `body(rbase, kbase, cc, oo, xv)` with rbase = the row's number
    times o, kbase = the window offset's number times ci * o, cc the input channel in its
    group, oo the output channel and xv the input element. `start_row(rbase)` runs first
    in each row."""
    b = lw.b
    og = o // groups
    n, spatial, c = x.shape[0], tuple(x.shape[1:-1]), x.shape[-1]
    with loop_nest(b, rows, "row") as ridx:
        rbase = b.mul(linear_index(b, ridx, rows), const(o))
        if start_row is not None:
            start_row(rbase)
        with loop_nest(b, window, "k") as kidx:
            ok, pos = window_position(b, ridx[1:], kidx, p, spatial)
            with b.if_then(ok):
                xbase = b.mul(linear_index(b, (ridx[0],) + tuple(pos), (n,) + spatial),
                              const(c))
                kbase = b.mul(linear_index(b, kidx, window), const(ci * o))
                with loop_nest(b, (groups, ci, og), "gcj") as (g, cc, j):
                    xv = lw.load_at(px, x.dtype, b.add(xbase, b.add(b.mul(g, const(ci)), cc)))
                    body(rbase, kbase, cc, b.add(b.mul(g, const(og)), j), xv)


def _filter_direct(lw: Lowerer, ins: Instr) -> None:
    """conv_filter_grad by loops: per output position and window offset inside the input,
    out[k, c, o] += x[n, position, group(o) * ci + c] * g[n, q, o], output channels
    innermost (depthwise: the channels are the groups, contiguous in x, g and out)."""
    x, gy = ins.inputs
    out = ins.outs[0]
    p = ins.params
    b = lw.b
    dt = out.dtype
    ci, o = out.shape[-2:]
    block, (px, pg), _ = staged(lw, [x, gy], [])
    po = lw.ptr(out)
    fill_range(lw, po, dt, const(0), size_of(out.shape), scalar_constant(0, dt))

    def body(rbase: ir.Value, kbase: ir.Value, cc: ir.Value, oo: ir.Value, xv: ir.Value
             ) -> None:
        gv = lw.load_at(pg, dt, b.add(rbase, oo))
        at = b.add(kbase, b.add(b.mul(cc, const(o)), oo))
        lw.store_at(po, dt, at, _fma(b, lw.load_at(po, dt, at), xv, gv))
    _direct_loops(lw, x, px, p, tuple(p["window"]), ci, o, p["groups"],
                  (x.shape[0],) + tuple(gy.shape[1:-1]), body)
    if block is not None:
        lw.free(block)
