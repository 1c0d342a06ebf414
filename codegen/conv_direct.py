"""`conv` and `conv_filter_grad` by register-tiled direct loops, with no im2col buffer:
the kernels `lower_conv` uses when the output channels of a group fill whole vectors
(`direct_plan`) and no input dilation is involved.

A *line* is one image's output positions that share every spatial index but the last;
the kernels work line by line, and a kernel function is called with a range of lines
`[lo, hi)`, so the thread pool (`threads.py`) can run `chunks` of lines at once.

Invariants:
- `conv`: a tile of `mr` consecutive output positions of a line times `nvb` vectors of
  output channels of one group is accumulated in registers over every window offset and
  input channel, then stored once: per offset, each of the tile's positions points at its
  `ci` input channels (contiguous in NHWC) or, outside the input, at a buffer of zeros;
  per channel, the `mr` inputs are broadcast and multiplied with `nvb` filter vectors
  (HWIO: the output channels are contiguous). Output rows are written by exactly one
  chunk, so the thread count changes nothing bit for bit.
- `conv_filter_grad`: a tile of `mr` input channels times `nvb` output-channel vectors of
  one window offset is loaded from the result, accumulated over the valid positions of a
  line (a range computed from the offset, so padding is skipped), and stored back. The
  sum over lines is split in `filter_parts` chunks chosen from the shape alone, each
  summed in order into its own buffer, then added in chunk order: the same bits for any
  thread count.
- Every position read lies inside the input (the checks are unsigned compares of
  `q * stride + k * rhs_dilation - pad_lo` against the input's size).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir

from ..ir import Instr
from . import runtime
from .gemm_kernel import host_kernel_shape
from .irbuild import Builder, new_function
from .llvmtypes import VOIDP, mem_type
from .loops import const, for_range, linear_index, loop_nest
from .plan import size_of
from .threads import CHUNK_FN

if TYPE_CHECKING:
    from .lower import Lowerer

# A chunk of lines (one call of a kernel on the pool) has at least this many
# multiply-adds (about 50 us on one core): the pool's hand-over costs a few microseconds.
CHUNK_WORK = 1 << 21
MAX_CHUNKS = 16
# The filter gradient's partial sums: at most this many, and this many bytes in all.
MAX_PARTS = 8
PARTIAL_BYTES = 4 << 20
_I32 = ir.IntType(32)
_FLAGS = ("contract",)


@dataclass(frozen=True)
class Geometry:
    """The static sizes of one convolution (NHWC input, HWIO filter, groups)."""

    n: int
    spatial: tuple[int, ...]
    c: int
    window: tuple[int, ...]
    ci: int
    o: int
    groups: int
    q: tuple[int, ...]
    strides: tuple[int, ...]
    rd: tuple[int, ...]
    pad: tuple[int, ...]
    lanes: int          # elements per vector
    nvb: int            # vectors per tile (output channels)
    mr_max: int         # tile rows at most

    @property
    def og(self) -> int:
        return self.o // self.groups

    @property
    def lines(self) -> int:
        return self.n * size_of(self.q[:-1])

    def blocks(self) -> list[tuple[int, int]]:
        """(first output channel within the group, vectors) of each tile column block."""
        nv = self.og // self.lanes
        return [(j * self.lanes, min(self.nvb, nv - j)) for j in range(0, nv, self.nvb)]


def direct_plan(x_shape: tuple[int, ...], window: tuple[int, ...], ci: int, o: int,
                params: dict[str, Any], q: tuple[int, ...], dtype: Any) -> Geometry | None:
    """The geometry of a convolution the direct kernels take, or None: no input
    dilation, at least one spatial axis, and a group's output channels a multiple of
    half the host's vector (8 float32 on AVX-512)."""
    nsp = len(x_shape) - 2
    if nsp < 1 or any(d != 1 for d in params.get("lhs_dilation", (1,) * nsp)):
        return None
    groups = params["groups"]
    og = o // groups
    shape = host_kernel_shape("f32" if np.dtype(dtype) == np.float32 else "f64")
    lanes = shape.w if og % shape.w == 0 else shape.w // 2
    if lanes < 2 or og % lanes or ci * size_of(window) < 8:
        return None
    big = shape.mr >= 8                         # 32 vector registers
    nvb = min(og // lanes, 2)
    mr_max = (28 if big else 12) // nvb
    return Geometry(n=x_shape[0], spatial=tuple(x_shape[1:-1]), c=x_shape[-1],
                    window=tuple(window), ci=ci, o=o, groups=groups, q=tuple(q),
                    strides=tuple(params["strides"]),
                    rd=tuple(params.get("rhs_dilation", (1,) * nsp)),
                    pad=tuple(params["pad_lo"]), lanes=lanes, nvb=nvb,
                    mr_max=min(mr_max, 16))


def _tiles(count: int, most: int) -> tuple[int, int, int]:
    """(tile size, full tiles, last tile's size or 0): `count` split in near-equal tiles
    of at most `most`."""
    per = -(-count // -(-count // most))
    return per, count // per, count % per


def _splat(b: ir.IRBuilder, x: ir.Value, vt: ir.VectorType) -> ir.Value:
    undef = ir.Constant(vt, ir.Undefined)
    one = b.insert_element(undef, x, ir.Constant(_I32, 0))
    return b.shuffle_vector(one, undef, ir.Constant(ir.VectorType(_I32, vt.count), [0] * vt.count))


def _vptr(b: ir.IRBuilder, p: ir.Value, off: ir.Value, vt: ir.VectorType) -> ir.Value:
    return b.bitcast(b.gep(p, [off], inbounds=True), vt.as_pointer())


class _Kernel:
    """A kernel function `(x, w_or_g, out, line_lo, line_hi)` being built."""

    def __init__(self, module: ir.Module, geo: Geometry, dtype: Any, name: str) -> None:
        self.geo = geo
        self.t = mem_type(np.dtype(dtype))
        self.vt = ir.VectorType(self.t, geo.lanes)
        self.align = np.dtype(dtype).itemsize
        pt = self.t.as_pointer()
        self.fn = new_function(module, ir.FunctionType(ir.VoidType(), [pt, pt, pt, ir.IntType(64),
                                                                       ir.IntType(64)]),
                              module.get_unique_name(name))
        self.fn.linkage = "internal"
        self.fn.attributes.add("nounwind")
        self.fn.attributes.add("noinline")
        for a in self.fn.args[:3]:
            a.add_attribute("noalias")
        self.entry = self.fn.append_basic_block("entry")
        self.b = Builder(self.fn.append_basic_block("start"))
        self.acc = self.alloca(ir.ArrayType(self.vt, geo.mr_max * geo.nvb))

    def alloca(self, ty: ir.Type) -> ir.Value:
        with self.b.goto_block(self.entry):
            return self.b.alloca(ty)

    def finish(self) -> ir.Function:
        self.b.ret_void()
        with self.b.goto_block(self.entry):
            self.b.branch(self.fn.blocks[1])
        return self.fn

    def slot(self, r: int, v: int) -> ir.Value:
        return self.b.gep(self.acc, [const(0), const(r * self.geo.nvb + v)], inbounds=True)

    def fma_step(self, mr: int, nvb: int, xs: list[ir.Value], wv: list[ir.Value]) -> None:
        """acc[r][v] += splat(*xs[r]) * wv[v] for the tile's rows and vectors."""
        b = self.b
        for r in range(mr):
            a = _splat(b, b.load(xs[r], align=self.align), self.vt)
            for v in range(nvb):
                s = self.slot(r, v)
                b.store(b.fadd(b.load(s), b.fmul(a, wv[v], flags=_FLAGS), flags=_FLAGS), s)

    def line_origin(self, line: ir.Value) -> tuple[ir.Value, tuple[ir.Value, ...]]:
        """(image, output indices of the line on every spatial axis but the last)."""
        b, geo = self.b, self.geo
        outer = geo.q[:-1]
        per_img = size_of(outer)
        img = b.udiv(line, const(per_img))
        rest = b.urem(line, const(per_img))
        idx = []
        for d in reversed(outer):
            idx.append(b.urem(rest, const(d)))
            rest = b.udiv(rest, const(d))
        return img, tuple(reversed(idx))

    def outer_row(self, img: ir.Value, qo: tuple[ir.Value, ...], ko: tuple[ir.Value, ...]
                  ) -> tuple[ir.Value, ir.Value]:
        """(inside the input?, the input position index of (img, the outer axes' input
        positions, 0), counted in positions)."""
        b, geo = self.b, self.geo
        ok: ir.Value = ir.Constant(ir.IntType(1), 1)
        pos = []
        for i in range(len(qo)):
            t = b.sub(b.add(b.mul(qo[i], const(geo.strides[i])), b.mul(ko[i], const(geo.rd[i]))),
                      const(geo.pad[i]))
            ok = b.and_(ok, b.icmp_unsigned("<", t, const(geo.spatial[i])))
            pos.append(t)
        row = linear_index(b, (img,) + tuple(pos), (geo.n,) + geo.spatial[:-1])
        return ok, b.mul(row, const(geo.spatial[-1]))


def _forward_kernel(module: ir.Module, geo: Geometry, dtype: Any) -> ir.Function:
    k = _Kernel(module, geo, dtype, "conv_direct")
    b, t = k.b, k.t
    px, pw, po, lo, hi = k.fn.args
    zeros = k.alloca(ir.ArrayType(t, geo.ci))
    zp = b.gep(zeros, [const(0), const(0)])
    with for_range(b, geo.ci, name="z") as i:
        b.store(ir.Constant(t, 0.0), b.gep(zp, [i]))
    ql = geo.q[-1]
    mr, full, last = _tiles(ql, geo.mr_max)
    with for_range(b, lo, hi, name="line") as line:
        img, qo = k.line_origin(line)
        with for_range(b, geo.groups, name="g") as g:
            for j0, nvb in geo.blocks():
                with for_range(b, full, name="tile") as ti:
                    _forward_tile(k, img, qo, line, g, j0, nvb, b.mul(ti, const(mr)), mr, zp)
                if last:
                    _forward_tile(k, img, qo, line, g, j0, nvb, const(full * mr), last, zp)
    return k.finish()


def _forward_tile(k: _Kernel, img: ir.Value, qo: tuple[ir.Value, ...], line: ir.Value,
                  g: ir.Value, j0: int, nvb: int, q0: ir.Value, mr: int, zp: ir.Value) -> None:
    b, geo, vt = k.b, k.geo, k.vt
    px, pw, po = k.fn.args[:3]
    zero_v = ir.Constant(vt, None)
    for r in range(mr):
        for v in range(nvb):
            b.store(zero_v, k.slot(r, v))
    ocol = b.add(b.mul(g, const(geo.og)), const(j0))       # first output channel
    with loop_nest(b, geo.window[:-1], "ko") as ko:
        ok, row = k.outer_row(img, qo, ko)
        with b.if_then(ok):
            with for_range(b, geo.window[-1], name="kl") as kl:
                kidx = linear_index(b, tuple(ko) + (kl,), geo.window)
                wrow = b.gep(pw, [b.add(b.mul(kidx, const(geo.ci * geo.o)), ocol)])
                base = b.sub(b.mul(kl, const(geo.rd[-1])), const(geo.pad[-1]))
                xs = []
                for r in range(mr):
                    tq = b.add(b.mul(b.add(q0, const(r)), const(geo.strides[-1])), base)
                    at = b.add(b.mul(b.add(row, tq), const(geo.c)), b.mul(g, const(geo.ci)))
                    inside = b.icmp_unsigned("<", tq, const(geo.spatial[-1]))
                    xs.append(b.select(inside, b.gep(px, [at]), zp))
                with for_range(b, geo.ci, name="c") as c:
                    wc = b.mul(c, const(geo.o))
                    wv = [b.load(_vptr(b, wrow, b.add(wc, const(v * geo.lanes)), vt),
                                 align=k.align) for v in range(nvb)]
                    k.fma_step(mr, nvb, [b.gep(x, [c]) for x in xs], wv)
    for r in range(mr):
        orow = b.mul(b.add(b.mul(line, const(geo.q[-1])), b.add(q0, const(r))), const(geo.o))
        for v in range(nvb):
            at = b.add(orow, b.add(ocol, const(v * geo.lanes)))
            b.store(b.load(k.slot(r, v)), _vptr(b, po, at, vt), align=k.align)


def _filter_kernel(module: ir.Module, geo: Geometry, dtype: Any) -> ir.Function:
    """`(x, g, dst, lo, hi)`: dst = the filter gradient summed over lines lo..hi."""
    k = _Kernel(module, geo, dtype, "conv_filter_direct")
    b, t = k.b, k.t
    px, pg, pd, lo, hi = k.fn.args
    with for_range(b, size_of(geo.window) * geo.ci * geo.o, name="z") as i:
        b.store(ir.Constant(t, 0.0), b.gep(pd, [i]))
    mr, full, last = _tiles(geo.ci, geo.mr_max)
    ctiles = [(i * mr, mr) for i in range(full)] + ([(full * mr, last)] if last else [])
    s, ql = geo.strides[-1], geo.q[-1]
    with for_range(b, lo, hi, name="line") as line:
        img, qo = k.line_origin(line)
        with loop_nest(b, geo.window[:-1], "ko") as ko:
            ok, row = k.outer_row(img, qo, ko)
            with b.if_then(ok), for_range(b, geo.window[-1], name="kl") as kl:
                # Positions q of the line whose input index q*s + kl*rd - pad lies in
                # [0, size): q in [ceil(-base / s), ceil((size - base) / s)), clipped.
                base = b.sub(b.mul(kl, const(geo.rd[-1])), const(geo.pad[-1]))
                qlo = _ceil_div_clip(b, b.neg(base), s, ql)
                qhi = _ceil_div_clip(b, b.sub(const(geo.spatial[-1]), base), s, ql)
                kidx = linear_index(b, tuple(ko) + (kl,), geo.window)
                with for_range(b, geo.groups, name="g") as g:
                    for c0, mrc in ctiles:
                        for j0, nvb in geo.blocks():
                            _filter_tile(k, line, row, base, kidx, g, c0, mrc, j0, nvb,
                                         qlo, qhi)
    return k.finish()


def _ceil_div_clip(b: ir.IRBuilder, num: ir.Value, s: int, top: int) -> ir.Value:
    """min(top, max(0, ceil(num / s))) for a signed num."""
    pos = b.icmp_signed(">", num, const(0))
    q = b.sdiv(b.add(num, const(s - 1)), const(s))
    q = b.select(pos, q, const(0))
    return b.select(b.icmp_signed("<", q, const(top)), q, const(top))


def _filter_tile(k: _Kernel, line: ir.Value, row: ir.Value, base: ir.Value, kidx: ir.Value,
                 g: ir.Value, c0: int, mr: int, j0: int, nvb: int, qlo: ir.Value,
                 qhi: ir.Value) -> None:
    b, geo, vt = k.b, k.geo, k.vt
    px, pg, pd = k.fn.args[:3]
    ocol = b.add(b.mul(g, const(geo.og)), const(j0))
    drow = b.add(b.mul(kidx, const(geo.ci)), const(c0))

    def dst(r: int, v: int) -> ir.Value:
        return _vptr(b, pd, b.add(b.mul(b.add(drow, const(r)), const(geo.o)),
                                  b.add(ocol, const(v * geo.lanes))), vt)
    for r in range(mr):
        for v in range(nvb):
            b.store(b.load(dst(r, v), align=k.align), k.slot(r, v))
    xcol = b.add(b.mul(g, const(geo.ci)), const(c0))
    with for_range(b, qlo, qhi, name="q") as q:
        tq = b.add(b.mul(q, const(geo.strides[-1])), base)
        xp = b.gep(px, [b.add(b.mul(b.add(row, tq), const(geo.c)), xcol)])
        gat = b.add(b.mul(b.add(b.mul(line, const(geo.q[-1])), q), const(geo.o)), ocol)
        gv = [b.load(_vptr(b, pg, b.add(gat, const(v * geo.lanes)), vt), align=k.align)
              for v in range(nvb)]
        k.fma_step(mr, nvb, [b.gep(xp, [const(r)]) for r in range(mr)], gv)
    for r in range(mr):
        for v in range(nvb):
            b.store(b.load(k.slot(r, v)), dst(r, v), align=k.align)


def chunks(geo: Geometry, work: int, limit: int = MAX_CHUNKS) -> int:
    """Chunks of lines a kernel is split into: from the shape alone (never the thread
    count), each at least `CHUNK_WORK` multiply-adds, at most `limit`."""
    return max(1, min(geo.lines, limit, work // CHUNK_WORK))


def _chunk_function(module: ir.Module, kern: ir.Function, lines: int, n: int,
                    partial: int) -> ir.Function:
    """`chunk(ctx, i)` for the pool: ctx holds the kernel's three pointers and a scratch
    pointer; chunk i runs lines [i * per, min(lines, (i + 1) * per)). With `partial`
    (elements of a filter gradient), chunk i > 0 writes to scratch[(i - 1) * partial]."""
    fn = new_function(module, CHUNK_FN, module.get_unique_name(f"{kern.name}.chunk"))
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    b = Builder(fn.append_basic_block("entry"))
    ctx, i = fn.args
    slots = b.bitcast(ctx, VOIDP.as_pointer())
    pt = kern.function_type.args[0]
    x, w, out, scratch = (b.bitcast(b.load(b.gep(slots, [const(k)])), pt) for k in range(4))
    if partial:
        at = b.gep(scratch, [b.mul(b.sub(i, const(1)), const(partial))])
        out = b.select(b.icmp_signed("==", i, const(0)), out, at)
    per = -(-lines // n)
    lo = b.mul(i, const(per))
    hi = b.add(lo, const(per))
    hi = b.select(b.icmp_signed("<", hi, const(lines)), hi, const(lines))
    b.call(kern, [x, w, out, lo, hi])
    b.ret_void()
    return fn


def _run(lw: Lowerer, kern: ir.Function, ptrs: list[ir.Value], lines: int, n: int,
         partial: int = 0) -> None:
    """kern over every line: directly when n == 1, else as n chunks on the pool."""
    b = lw.b
    if n == 1:
        b.call(kern, ptrs[:3] + [const(0), const(lines)])
        return
    ctx = lw.alloca(ir.ArrayType(VOIDP, 4), "conv_ctx")
    for k, p in enumerate(ptrs + [ir.Constant(ptrs[0].type, None)] * (4 - len(ptrs))):
        b.store(b.bitcast(p, VOIDP), b.gep(ctx, [const(0), const(k)]))
    chunk = _chunk_function(lw.module, kern, lines, n, partial)
    b.call(runtime.declare_parallel_for(lw.module), [chunk, b.bitcast(ctx, VOIDP), const(n)])


def conv_forward(lw: Lowerer, ins: Instr, geo: Geometry, px: ir.Value, pw: ir.Value) -> None:
    """Emit the direct `conv` of `ins` (operands at px, pw), its lines in `chunks`."""
    kern = _forward_kernel(lw.module, geo, ins.outs[0].dtype)
    work = size_of(ins.outs[0].shape) * geo.ci * size_of(geo.window)
    _run(lw, kern, [px, pw, lw.ptr(ins.outs[0])], geo.lines, chunks(geo, work))


def filter_parts(geo: Geometry, dtype: Any) -> int:
    """Chunks of the filter gradient's sum over lines (each but the first sums into its
    own scratch, at most `PARTIAL_BYTES` in all)."""
    size = size_of(geo.window) * geo.ci * geo.o
    work = geo.lines * size_of(geo.q[-1:]) * size
    room = 1 + PARTIAL_BYTES // max(1, size * np.dtype(dtype).itemsize)
    return chunks(geo, work, min(MAX_PARTS, room))


def filter_grad(lw: Lowerer, ins: Instr, geo: Geometry, px: ir.Value, pg: ir.Value,
                scratch: ir.Value | None) -> None:
    """Emit the direct `conv_filter_grad` of `ins` in `filter_parts` chunks: chunk 0 sums
    its lines into the result, chunk i > 0 into scratch part i - 1 (`scratch` holds
    parts - 1 results, None for one part), and the parts are added in order after."""
    out = ins.outs[0]
    kern = _filter_kernel(lw.module, geo, out.dtype)
    po = lw.ptr(out)
    b = lw.b
    n = filter_parts(geo, out.dtype)
    size = size_of(out.shape)
    _run(lw, kern, [px, pg, po] + ([scratch] if scratch is not None else []), geo.lines, n,
         size)
    if n == 1:
        return
    assert scratch is not None
    with for_range(b, size, name="sum") as i:
        at = b.gep(po, [i])
        total = b.load(at)
        for k in range(n - 1):
            total = b.fadd(total, b.load(b.gep(scratch, [b.add(i, const(k * size))])))
        b.store(total, at)
