"""The builtin GEMM: a cache-blocked, register-tiled kernel written in LLVM IR.

Used when no BLAS is available (or `TRACEJIT_BLAS=0`). The scheme is the classic
Goto/BLIS one:

    for jc in n by NC:                   B panel (kc x nc) lives in L2/L3
      for pc in k by kc:                 kc <= KC, blocks of k balanced
        pack op(B)[pc:, jc:] into NR-column micro-panels, zero-padded
        for ic in m by MC:               A block (mc x kc) lives in L2
          pack op(A)[ic:, pc:] into MR-row micro-panels, zero-padded
          for jr in nc by NR:            one B micro-panel (kc x NR) stays in L1
            for ir in mc by MR:
              micro-kernel: MR x NR tile of C in registers, kc rank-1 updates

The micro-kernel holds its tile as MR x (NR/W) vectors of W lanes, broadcasts one packed
element of A per row and multiplies it with NR/W contiguous vectors of packed B; each
step is `fmul contract` + `fadd contract`, which the backend fuses into FMA where the CPU
has it. W, MR and NR are picked from the host's vector width and register count.

Invariants:
- Packed panels are contiguous: A's micro-panel p holds `MR` rows as `[kc][MR]`, B's
  holds `NR` columns as `[kc][NR]`, both padded with zeros past the matrix edge; padded
  lanes only ever reach tile entries that are never stored (so inf*0 there is harmless).
- The first k-block stores its tile into C, later blocks add to it: C's old contents are
  never read before being overwritten.
- The packing buffers come from `malloc` (one call per GEMM, 64-byte aligned) and are
  freed before returning; if `malloc` fails the kernel runs an unblocked loop nest, slower
  but equal in result semantics. Every function defined here has internal linkage
  (`runtime.py` makes the kernel itself external in the one module that exports it).
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import llvmlite.binding as llvm
from llvmlite import ir

from .loops import for_range

_I1 = ir.IntType(1)
_I8 = ir.IntType(8)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_FLAGS = ("contract",)


@dataclass(frozen=True)
class KernelShape:
    """Register tile and cache blocking, in elements."""

    w: int    # vector lanes
    mr: int   # tile rows (broadcast A elements)
    nv: int   # tile columns, in vectors: NR = nv * w
    kc: int   # depth of a k-block
    mc: int   # rows of an A block (multiple of mr)
    nc: int   # columns of a B panel (multiple of nr)

    @property
    def nr(self) -> int:
        return self.nv * self.w


def host_kernel_shape(dtype: str) -> KernelShape:
    """The tile shape for the host CPU: vector width and register count from its features."""
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:
        features = {}
    size = 4 if dtype == "f32" else 8
    if features.get("avx512f"):
        bits, regs = 512, 32
    elif features.get("avx"):
        bits, regs = 256, 16
    else:  # SSE2 or NEON class
        bits, regs = 128, 32 if features.get("neon") else 16
    w = bits // (8 * size)
    # Tile: mr * nv accumulators + nv loaded B vectors + 1 broadcast must fit the registers.
    mr, nv = (8, 3) if regs >= 32 else (6, 2)
    nr = nv * w
    # Blocking: the kc x NR B micro-panel (at most 48 KiB, AVX-512 f32) is reused from L1/L2
    # by every A micro-panel, the mc x kc A block (at most 144 KiB) stays in L2, the kc x nc
    # B panel (at most 3.1 MiB) in L3. Nearby sizes (kc 128..256, mc 96..192) measured within
    # noise of these on AVX-512.
    kc = 256 if size == 4 else 192
    return KernelShape(w=w, mr=mr, nv=nv, kc=kc, mc=mr * (96 // mr), nc=nr * (2048 // nr))


# --------------------------------------------------------------------------- small helpers

def _c64(v: int) -> ir.Constant:
    return ir.Constant(_I64, v)


def _min(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _for_range(b: ir.IRBuilder, start: ir.Value, stop: ir.Value, step: int | ir.Value = 1,
               name: str = "i") -> AbstractContextManager[ir.Value]:
    """`for i in range(start, stop, step)` on i64 (`loops.for_range`, in this module's
    argument order)."""
    return for_range(b, stop, start, name=name, step=step)


def _internal_function(module: ir.Module, name: str, fnty: ir.FunctionType,
                       inline: bool = True) -> ir.Function:
    fn = ir.Function(module, fnty, name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    if not inline:
        fn.attributes.add("noinline")
    return fn


def _declare(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, fnty, name)


def emit_fill_zero(b: ir.IRBuilder, c: ir.Value, m: ir.Value, n: ir.Value, ldc: ir.Value) -> None:
    """C[i, j] = 0 for i < m, j < n (row stride ldc)."""
    zero = ir.Constant(c.type.pointee, 0.0)
    with _for_range(b, _c64(0), m, name="zi") as i:
        row = b.gep(c, [b.mul(i, ldc)])
        with _for_range(b, _c64(0), n, name="zj") as j:
            b.store(zero, b.gep(row, [j]))


# --------------------------------------------------------------------------- kernel

def define_blocked(module: ir.Module, dtype: str, t: ir.Type,
                   shape: KernelShape | None = None, name: str | None = None) -> ir.Function:
    """Define (once) `tj_gemm_<dtype>_blocked` (or `name`) with `tj_gemm_<dtype>`'s
    signature.

    It assumes m, n, k >= 1 (the caller handles empty products).
    """
    name = name or f"tj_gemm_{dtype}_blocked"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    shape = shape or host_kernel_shape(dtype)
    pt = t.as_pointer()
    fn = _internal_function(module, name, ir.FunctionType(
        ir.VoidType(), [_I32, _I32, _I64, _I64, _I64, pt, _I64, pt, _I64, pt, _I64]))
    ta, tb, m, n, k, a, lda, bmat, ldb, c, ldc = fn.args
    pack_a = _define_pack(module, dtype, t, shape.mr)
    pack_b = _define_pack(module, dtype, t, shape.nr)
    micro = _define_micro(module, dtype, t, shape)
    naive = define_naive(module, dtype, t)
    malloc = _declare(module, "malloc", ir.FunctionType(_I8.as_pointer(), [_I64]))
    free = _declare(module, "free", ir.FunctionType(ir.VoidType(), [_I8.as_pointer()]))

    b = ir.IRBuilder(fn.append_basic_block("entry"))
    size = 4 if dtype == "f32" else 8
    # Balanced k-blocks: ceil(k / ceil(k / KC)), so no block is a sliver.
    nkb = b.sdiv(b.add(k, _c64(shape.kc - 1)), _c64(shape.kc))
    kcb = b.sdiv(b.add(k, b.sub(nkb, _c64(1))), nkb)
    ncap = _min(b, _c64(shape.nc), _round_up(b, n, shape.nr))
    mcap = _min(b, _c64(shape.mc), _round_up(b, m, shape.mr))
    elems = b.mul(kcb, b.add(ncap, mcap))
    raw = b.call(malloc, [b.add(b.mul(elems, _c64(size)), _c64(64))])
    with b.if_then(b.icmp_unsigned("==", raw, ir.Constant(raw.type, None)), likely=False):
        b.call(naive, fn.args)
        b.ret_void()
    aligned = b.and_(b.add(b.ptrtoint(raw, _I64), _c64(63)), _c64(-64))
    bp = b.inttoptr(aligned, pt)
    ap = b.gep(bp, [b.mul(kcb, ncap)])

    a_trans = b.icmp_signed("!=", ta, ir.Constant(_I32, 0))
    b_trans = b.icmp_signed("!=", tb, ir.Constant(_I32, 0))
    one = _c64(1)
    sai, sap = b.select(a_trans, one, lda), b.select(a_trans, lda, one)   # op(A)[i,p]
    sbp, sbj = b.select(b_trans, one, ldb), b.select(b_trans, ldb, one)   # op(B)[p,j]

    with _for_range(b, _c64(0), n, shape.nc, name="jc") as jc:
        nc = _min(b, _c64(shape.nc), b.sub(n, jc))
        with _for_range(b, _c64(0), k, kcb, name="pc") as pc:
            kc = _min(b, kcb, b.sub(k, pc))
            first = b.icmp_signed("==", pc, _c64(0))
            b_src = b.gep(bmat, [b.add(b.mul(pc, sbp), b.mul(jc, sbj))])
            b.call(pack_b, [b_src, sbj, sbp, nc, kc, bp])
            with _for_range(b, _c64(0), m, shape.mc, name="ic") as ic:
                mc = _min(b, _c64(shape.mc), b.sub(m, ic))
                a_src = b.gep(a, [b.add(b.mul(ic, sai), b.mul(pc, sap))])
                b.call(pack_a, [a_src, sai, sap, mc, kc, ap])
                c_blk = b.gep(c, [b.add(b.mul(ic, ldc), jc)])
                with _for_range(b, _c64(0), nc, shape.nr, name="jr") as jr:
                    nr = _min(b, _c64(shape.nr), b.sub(nc, jr))
                    bpanel = b.gep(bp, [b.mul(jr, kc)])
                    with _for_range(b, _c64(0), mc, shape.mr, name="ir") as ir_:
                        mr = _min(b, _c64(shape.mr), b.sub(mc, ir_))
                        apanel = b.gep(ap, [b.mul(ir_, kc)])
                        ctile = b.gep(c_blk, [b.add(b.mul(ir_, ldc), jr)])
                        b.call(micro, [kc, apanel, bpanel, ctile, ldc, mr, nr, first])
    b.call(free, [raw])
    b.ret_void()
    return fn


def _round_up(b: ir.IRBuilder, x: ir.Value, multiple: int) -> ir.Value:
    return b.mul(b.sdiv(b.add(x, _c64(multiple - 1)), _c64(multiple)), _c64(multiple))


def _define_pack(module: ir.Module, dtype: str, t: ir.Type, r: int) -> ir.Function:
    """`pack<r>(src, sq, sp, nq, kc, dst)`: dst[q // r][p][q % r] = src[q*sq + p*sp].

    Rows `q >= nq` of the last micro-panel are zero. Each step over p writes one vector of
    r elements: one vector load when the r source elements are contiguous (`sq == 1`),
    else r scalar loads. Written with explicit vectors, not scalar loops, so LLVM has
    nothing to vectorize or version and the function compiles fast.
    """
    name = f"tj_gemm_{dtype}_pack{r}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    pt = t.as_pointer()
    vt = ir.VectorType(t, r)
    fn = _internal_function(module, name, ir.FunctionType(
        ir.VoidType(), [pt, _I64, _I64, _I64, _I64, pt]), inline=False)
    src, sq, sp, nq, kc, dst = fn.args
    for arg in (src, dst):
        arg.add_attribute("noalias")
    align = 4 if dtype == "f32" else 8
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    rc = _c64(r)
    with _for_range(b, _c64(0), nq, r, name="q0") as q0:
        s = b.gep(src, [b.mul(q0, sq)])
        d = b.gep(dst, [b.mul(q0, kc)])
        rows = _min(b, rc, b.sub(nq, q0))
        contiguous = b.and_(b.icmp_signed("==", rows, rc), b.icmp_signed("==", sq, _c64(1)))
        with b.if_else(contiguous) as (whole, gather):
            with whole, _for_range(b, _c64(0), kc, name="p") as p:
                v = b.load(b.bitcast(b.gep(s, [b.mul(p, sp)]), vt.as_pointer()), align=align)
                b.store(v, b.bitcast(b.gep(d, [b.mul(p, rc)]), vt.as_pointer()), align=align)
            with gather:
                # Rows past the edge re-read the last valid row (always in bounds) and are
                # then replaced by zero.
                last = b.sub(rows, _c64(1))
                offsets = [b.mul(_min(b, _c64(q), last), sq) for q in range(r)]
                valid = [b.icmp_signed("<", _c64(q), rows) for q in range(r)]
                zero = ir.Constant(t, 0.0)
                with _for_range(b, _c64(0), kc, name="pg") as p:
                    s_p = b.gep(s, [b.mul(p, sp)])
                    v = ir.Constant(vt, ir.Undefined)
                    for q in range(r):
                        x = b.select(valid[q], b.load(b.gep(s_p, [offsets[q]])), zero)
                        v = b.insert_element(v, x, ir.Constant(_I32, q))
                    b.store(v, b.bitcast(b.gep(d, [b.mul(p, rc)]), vt.as_pointer()), align=align)
    b.ret_void()
    return fn


def _define_micro(module: ir.Module, dtype: str, t: ir.Type, shape: KernelShape) -> ir.Function:
    """`micro(kc, ap, bp, c, ldc, mr, nr, first)`: C[:mr, :nr] (=|+=) Apanel @ Bpanel.

    The MR x NR tile is accumulated in vector registers over the whole k-block, then
    stored (`first`) or added to C; an edge tile goes through a stack buffer so only
    the `mr x nr` valid entries are touched.
    """
    name = f"tj_gemm_{dtype}_micro"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    pt = t.as_pointer()
    vt = ir.VectorType(t, shape.w)
    mr_, nv, w, nr_ = shape.mr, shape.nv, shape.w, shape.nr
    fn = _internal_function(module, name, ir.FunctionType(
        ir.VoidType(), [_I64, pt, pt, pt, _I64, _I64, _I64, _I1]), inline=False)
    kc, ap, bp, c, ldc, mr, nr, first = fn.args
    for arg in (ap, bp, c):
        arg.add_attribute("noalias")
    elem_align = 4 if dtype == "f32" else 8
    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("k")
    done = fn.append_basic_block("store")
    b = ir.IRBuilder(entry)
    tile = b.alloca(ir.ArrayType(t, mr_ * nr_), name="tile")
    tile.align = 64
    b.branch(loop)

    b.position_at_end(loop)
    zero_v = ir.Constant(vt, [0.0] * w)
    p = b.phi(_I64, name="p")
    p.add_incoming(_c64(0), entry)
    accs = [[b.phi(vt, name=f"acc{r}_{v}") for v in range(nv)] for r in range(mr_)]
    for row in accs:
        for acc in row:
            acc.add_incoming(zero_v, entry)
    b_row = b.gep(bp, [b.mul(p, _c64(nr_))])
    bvec = [b.load(b.bitcast(b.gep(b_row, [_c64(v * w)]), vt.as_pointer()), align=elem_align)
            for v in range(nv)]
    a_row = b.gep(ap, [b.mul(p, _c64(mr_))])
    undef_v = ir.Constant(vt, ir.Undefined)
    splat_mask = ir.Constant(ir.VectorType(_I32, w), [0] * w)
    sums = [[zero_v] * nv for _ in range(mr_)]   # the tile after this step
    for r in range(mr_):
        a_elem = b.load(b.gep(a_row, [_c64(r)]))
        a_vec = b.shuffle_vector(b.insert_element(undef_v, a_elem, ir.Constant(_I32, 0)),
                                 undef_v, splat_mask)
        for v in range(nv):
            prod = b.fmul(a_vec, bvec[v], flags=_FLAGS)
            sums[r][v] = b.fadd(accs[r][v], prod, flags=_FLAGS)
            accs[r][v].add_incoming(sums[r][v], loop)
    p_next = b.add(p, _c64(1), flags=["nsw"])
    p.add_incoming(p_next, loop)
    b.cbranch(b.icmp_signed("<", p_next, kc), loop, done)

    b.position_at_end(done)
    full = b.and_(b.icmp_signed("==", mr, _c64(mr_)), b.icmp_signed("==", nr, _c64(nr_)))
    with b.if_else(full, likely=True) as (whole, edge):
        with whole:
            for r in range(mr_):
                c_row = b.gep(c, [b.mul(_c64(r), ldc)])
                for v in range(nv):
                    ptr = b.bitcast(b.gep(c_row, [_c64(v * w)]), vt.as_pointer())
                    old = b.load(ptr, align=elem_align)
                    val = b.select(first, sums[r][v], b.fadd(old, sums[r][v]))
                    b.store(val, ptr, align=elem_align)
        with edge:
            tile_p = b.bitcast(tile, pt)
            for r in range(mr_):
                for v in range(nv):
                    ptr = b.bitcast(b.gep(tile_p, [_c64(r * nr_ + v * w)]), vt.as_pointer())
                    b.store(sums[r][v], ptr, align=elem_align)
            with _for_range(b, _c64(0), mr, name="er") as r:
                c_row = b.gep(c, [b.mul(r, ldc)])
                t_row = b.gep(tile_p, [b.mul(r, _c64(nr_))])
                with _for_range(b, _c64(0), nr, name="ej") as j:
                    ptr = b.gep(c_row, [j])
                    acc = b.load(b.gep(t_row, [j]))
                    val = b.select(first, acc, b.fadd(b.load(ptr), acc))
                    b.store(val, ptr)
    b.ret_void()
    return fn


def define_naive(module: ir.Module, dtype: str, t: ir.Type) -> ir.Function:
    """Unblocked `C = op(A) @ op(B)`: the fallback when the packing buffers cannot be had."""
    name = f"tj_gemm_{dtype}_naive"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    pt = t.as_pointer()
    fn = _internal_function(module, name, ir.FunctionType(
        ir.VoidType(), [_I32, _I32, _I64, _I64, _I64, pt, _I64, pt, _I64, pt, _I64]), inline=False)
    ta, tb, m, n, k, a, lda, bmat, ldb, c, ldc = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    one = _c64(1)
    a_trans = b.icmp_signed("!=", ta, ir.Constant(_I32, 0))
    b_trans = b.icmp_signed("!=", tb, ir.Constant(_I32, 0))
    sai, sap = b.select(a_trans, one, lda), b.select(a_trans, lda, one)
    sbp, sbj = b.select(b_trans, one, ldb), b.select(b_trans, ldb, one)
    emit_fill_zero(b, c, m, n, ldc)
    with _for_range(b, _c64(0), m, name="i") as i:
        c_row = b.gep(c, [b.mul(i, ldc)])
        with _for_range(b, _c64(0), k, name="p") as p:
            a_ip = b.load(b.gep(a, [b.add(b.mul(i, sai), b.mul(p, sap))]))
            b_row = b.gep(bmat, [b.mul(p, sbp)])
            with _for_range(b, _c64(0), n, name="j") as j:
                ptr = b.gep(c_row, [j])
                prod = b.fmul(a_ip, b.load(b.gep(b_row, [b.mul(j, sbj)])), flags=_FLAGS)
                b.store(b.fadd(b.load(ptr), prod, flags=_FLAGS), ptr)
    b.ret_void()
    return fn
