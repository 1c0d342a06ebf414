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
has it. W, MR and NR are picked from the host's vector width and register count; a
panel's last columns go to the full-width micro-kernel if they need all NR/W vectors,
else to the one-vector micro-kernel, one strip of W columns at a time.
Everything is explicit vector code (packing by in-register transposes or gathers, edge
tiles by masked loads and stores), so it is fast without LLVM's optimization pipeline
(`codegen/runtime.py` compiles it straight to machine code; the packing routines are in
`gemm_pack.py`); the code that runs per call or per tile (driver loops, thread split)
is compiled without the code generator's optimizations (`gemm_pack.mark_cold`).
`define_parallel` splits a large product in two halves run on the thread pool.

Invariants:
- Packed panels are contiguous: A's micro-panel p holds `MR` rows as `[kc][MR]`, B's
  holds `NR` columns as `[kc][NR]`, both padded with zeros past the matrix edge; padded
  lanes only ever reach tile entries that are never stored (so inf*0 there is harmless).
- The first k-block stores its tile into C, later blocks add to it: C's old contents are
  never read before being overwritten.
- The packing buffers come from `malloc` (one call per GEMM, 64-byte aligned) and are
  freed before returning; if `malloc` fails, the same loops run with B panels and A
  blocks of one register tile, packed on the stack (at most 56 KiB for the host tiles):
  slower, and the same result bit for bit (every element of C sees the same k-blocks,
  micro-panel boundaries and order of operations). Every function defined here has
  internal linkage except the one `define_parallel` exports, with its thread-count global.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from llvmlite import ir

from . import engine
from .gemm_pack import (I1, I8, I32, I64, c64, declare, define_pack, internal_function,
                        mark_cold, smin, suffix)
from .irbuild import Builder, new_function
from .loops import for_range

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


@functools.cache
def _host_features() -> dict[str, bool]:
    """The host CPU's features, as the engine asked LLVM for them once (0.2 ms a call);
    cached, so that a thread building a GEMM library's IR (`runtime.request`) need not
    wait for the engine's lock, which the caller holds while it compiles."""
    return {f[1:]: f[0] == "+" for f in engine.host_info(machine=False)["features"].split(",")
            if f}


def host_kernel_shape(dtype: str) -> KernelShape:
    """The tile shape for the host CPU: vector width and register count from its features."""
    features = _host_features()
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
    fn = internal_function(module, name, ir.FunctionType(
        ir.VoidType(), [I32, I32, I64, I64, I64, pt, I64, pt, I64, pt, I64]), cold=True)
    ta, tb, m, n, k, a, lda, bmat, ldb, c, ldc = fn.args
    pack_a = define_pack(module, dtype, t, shape.mr, shape.w)
    pack_b = define_pack(module, dtype, t, shape.nr, shape.w)
    micros = [_define_micro(module, dtype, t, shape, nv) for nv in sorted({1, shape.nv})]
    malloc = declare(module, "malloc", ir.FunctionType(I8.as_pointer(), [I64]))
    free = declare(module, "free", ir.FunctionType(ir.VoidType(), [I8.as_pointer()]))

    b = Builder(fn.append_basic_block("entry"))
    size = 4 if dtype == "f32" else 8
    # Balanced k-blocks: ceil(k / ceil(k / KC)), so no block is a sliver.
    nkb = b.sdiv(b.add(k, c64(shape.kc - 1)), c64(shape.kc))
    kcb = b.sdiv(b.add(k, b.sub(nkb, c64(1))), nkb)
    ncap = smin(b, c64(shape.nc), _round_up(b, n, shape.nr))
    mcap = smin(b, c64(shape.mc), _round_up(b, m, shape.mr))
    elems = b.mul(kcb, b.add(ncap, mcap))
    raw = b.call(malloc, [b.add(b.mul(elems, c64(size)), c64(64))])
    failed = b.icmp_unsigned("==", raw, ir.Constant(raw.type, None))
    with b.if_else(failed, likely=False) as (then, otherwise):
        with then:
            # No heap memory: the same loops, with packing buffers for one register
            # tile (kc x (NR + MR) elements, at most 56 KiB) on the stack.
            stack = b.alloca(t, size=b.mul(kcb, c64(shape.nr + shape.mr)))
            on_stack = b.block
        with otherwise:
            heap = b.inttoptr(b.and_(b.add(b.ptrtoint(raw, I64), c64(63)), c64(-64)), pt)
            on_heap = b.block
    bp = b.phi(pt)
    bp.add_incoming(stack, on_stack)
    bp.add_incoming(heap, on_heap)
    nstep = b.select(failed, c64(shape.nr), c64(shape.nc))    # columns of a B panel
    mstep = b.select(failed, c64(shape.mr), c64(shape.mc))    # rows of an A block
    ap = b.gep(bp, [b.mul(kcb, smin(b, nstep, _round_up(b, n, shape.nr)))])

    a_trans = b.icmp_signed("!=", ta, ir.Constant(I32, 0))
    b_trans = b.icmp_signed("!=", tb, ir.Constant(I32, 0))
    one = c64(1)
    sai, sap = b.select(a_trans, one, lda), b.select(a_trans, lda, one)   # op(A)[i,p]
    sbp, sbj = b.select(b_trans, one, ldb), b.select(b_trans, ldb, one)   # op(B)[p,j]

    with for_range(b, c64(0), n, nstep, name="jc") as jc:
        nc = smin(b, nstep, b.sub(n, jc))
        with for_range(b, c64(0), k, kcb, name="pc") as pc:
            kc = smin(b, kcb, b.sub(k, pc))
            first = b.icmp_signed("==", pc, c64(0))
            b_src = b.gep(bmat, [b.add(b.mul(pc, sbp), b.mul(jc, sbj))])
            b.call(pack_b, [b_src, sbj, sbp, nc, kc, bp])
            with for_range(b, c64(0), m, mstep, name="ic") as ic:
                mc = smin(b, mstep, b.sub(m, ic))
                a_src = b.gep(a, [b.add(b.mul(ic, sai), b.mul(pc, sap))])
                b.call(pack_a, [a_src, sai, sap, mc, kc, ap])
                c_blk = b.gep(c, [b.add(b.mul(ic, ldc), jc)])
                with for_range(b, c64(0), nc, shape.nr, name="jr") as jr:
                    nr = smin(b, c64(shape.nr), b.sub(nc, jr))
                    bpanel = b.gep(bp, [b.mul(jr, kc)])
                    with for_range(b, c64(0), mc, shape.mr, name="ir") as ir_:
                        mr = smin(b, c64(shape.mr), b.sub(mc, ir_))
                        apanel = b.gep(ap, [b.mul(ir_, kc)])
                        ctile = b.gep(c_blk, [b.add(b.mul(ir_, ldc), jr)])
                        _call_micro(b, micros, shape, nr,
                                    [kc, apanel, bpanel, ctile, ldc, mr, nr, first])
    b.call(free, [raw])     # (nothing when it is null)
    b.ret_void()
    return fn


def _call_micro(b: ir.IRBuilder, micros: list[ir.Function], shape: KernelShape,
                nr: ir.Value, args: list[ir.Value]) -> None:
    """Call the full-width micro-kernel (`micros[-1]`) for a panel wider than NV-1
    vectors, else the one-vector one (`micros[0]`) on each strip of W columns.

    (A kernel per width between them, as before, bought nothing measurable: 32 of 48
    columns took the same time as two one-vector strips (float32, AVX-512, 512 x 32 x
    1024 and W3's products), and each cost 7 ms of the library's code generation.)
    """
    if len(micros) == 1:
        b.call(micros[0], args)
        return
    kc, ap, bp, ct, ldc, mr, _, first = args
    w = shape.w
    wide = b.icmp_signed(">", nr, c64((shape.nv - 1) * w))
    with b.if_else(wide, likely=True) as (then, otherwise):
        with then:
            b.call(micros[-1], args)
        with otherwise, for_range(b, c64(0), nr, w, name="js") as js:
            b.call(micros[0], [kc, ap, b.gep(bp, [js]), b.gep(ct, [js]), ldc, mr,
                               smin(b, c64(w), b.sub(nr, js)), first])


def _vector(b: ir.IRBuilder, vectors: ir.Value, v: int) -> ir.Value:
    """A pointer to vector `v` of the vectors at `vectors` (a vector pointer)."""
    return vectors if v == 0 else b.gep(vectors, [c64(v)])


def _round_up(b: ir.IRBuilder, x: ir.Value, multiple: int) -> ir.Value:
    return b.mul(b.sdiv(b.add(x, c64(multiple - 1)), c64(multiple)), c64(multiple))


def _define_micro(module: ir.Module, dtype: str, t: ir.Type, shape: KernelShape,
                  nv: int) -> ir.Function:
    """`micro<nv>(kc, ap, bp, c, ldc, mr, nr, first)`: C[:mr, :nr] (=|+=) Apanel @ Bpanel
    for a tile of MR x nv*W (nv = NV or 1: the one-vector kernel serves a panel's last
    columns in strips, which would otherwise be computed on zero padding). B's packed
    rows are NR apart whatever nv is, so a strip is the panel's pointer plus its column.

    The tile is accumulated in vector registers over the whole k-block, then stored
    (`first`) or added to C; an edge tile uses masked vector loads and stores, so only
    the `mr x nr` valid entries are touched.
    """
    name = f"tj_gemm_{dtype}_micro{nv}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    pt = t.as_pointer()
    vt = ir.VectorType(t, shape.w)
    mr_, w, nr_ = shape.mr, shape.w, nv * shape.w
    fn = internal_function(module, name, ir.FunctionType(
        ir.VoidType(), [I64, pt, pt, pt, I64, I64, I64, I1]), inline=False)
    kc, ap, bp, c, ldc, mr, nr, first = fn.args
    for arg in (ap, bp, c):
        arg.add_attribute("noalias")
    elem_align = 4 if dtype == "f32" else 8
    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("k")
    done = fn.append_basic_block("store")
    b = Builder(entry)
    if nv > 1:
        tile = b.alloca(ir.ArrayType(ir.ArrayType(vt, nv), mr_))   # an edge tile's values
    b.branch(loop)

    b.position_at_end(loop)
    zero_v = ir.Constant(vt, [0.0] * w)
    p = b.phi(I64, name="p")
    p.add_incoming(c64(0), entry)
    accs = [[b.phi(vt, name=f"acc{r}_{v}") for v in range(nv)] for r in range(mr_)]
    for row in accs:
        for acc in row:
            acc.add_incoming(zero_v, entry)
    b_row = b.bitcast(b.gep(bp, [b.mul(p, c64(shape.nr))]), vt.as_pointer())
    bvec = [b.load(_vector(b, b_row, v), align=elem_align) for v in range(nv)]
    a_row = b.gep(ap, [b.mul(p, c64(mr_))])
    undef_v = ir.Constant(vt, ir.Undefined)
    splat_mask = ir.Constant(ir.VectorType(I32, w), [0] * w)
    sums = [[zero_v] * nv for _ in range(mr_)]   # the tile after this step
    for r in range(mr_):
        a_elem = b.load(b.gep(a_row, [c64(r)]))
        a_vec = b.shuffle_vector(b.insert_element(undef_v, a_elem, ir.Constant(I32, 0)),
                                 undef_v, splat_mask)
        for v in range(nv):
            prod = b.fmul(a_vec, bvec[v], flags=_FLAGS)
            sums[r][v] = b.fadd(accs[r][v], prod, flags=_FLAGS)
            accs[r][v].add_incoming(sums[r][v], loop)
    p_next = b.add(p, c64(1), flags=["nsw"])
    p.add_incoming(p_next, loop)
    b.cbranch(b.icmp_signed("<", p_next, kc), loop, done)

    b.position_at_end(done)
    full = b.and_(b.icmp_signed("==", mr, c64(mr_)), b.icmp_signed("==", nr, c64(nr_)))
    with b.if_else(full, likely=True) as (whole, edge):
        with whole:
            c_row = c
            for r in range(mr_):
                c_row = c_row if r == 0 else b.gep(c_row, [ldc])
                c_vecs = b.bitcast(c_row, vt.as_pointer())
                for v in range(nv):
                    ptr = _vector(b, c_vecs, v)
                    old = b.load(ptr, align=elem_align)
                    val = b.select(first, sums[r][v], b.fadd(old, sums[r][v]))
                    b.store(val, ptr, align=elem_align)
        with edge:
            # Masked vector loads and stores touch only the mr x nr valid entries.
            mask_t = ir.VectorType(I1, w)
            i64v = ir.VectorType(I64, w)
            mload = declare(module, f"llvm.masked.load.v{w}{suffix(t)}.p0",
                            ir.FunctionType(vt, [vt.as_pointer(), I32, mask_t, vt]))
            mstore = declare(module, f"llvm.masked.store.v{w}{suffix(t)}.p0",
                             ir.FunctionType(ir.VoidType(), [vt, vt.as_pointer(), I32, mask_t]))
            nr_v = b.shuffle_vector(b.insert_element(ir.Constant(i64v, ir.Undefined), nr,
                                                     ir.Constant(I32, 0)),
                                    ir.Constant(i64v, ir.Undefined), splat_mask)
            masks = [b.icmp_signed("<", ir.Constant(i64v, [v * w + lane for lane in range(w)]),
                                   nr_v) for v in range(nv)]
            align32 = ir.Constant(I32, elem_align)

            def add_masked(c_vecs: ir.Value, v: int, part: ir.Value, mask: ir.Value) -> None:
                ptr = _vector(b, c_vecs, v)
                old = b.call(mload, [ptr, align32, mask, zero_v])
                b.call(mstore, [b.select(first, part, b.fadd(old, part)), ptr, align32, mask])

            if nv == 1:
                # The one-vector kernel: every tile of a narrow product is an edge tile,
                # so its rows are unrolled (a loop over them cost 4-10% on 256 x 10 x 32).
                none = ir.Constant(mask_t, [0] * w)
                c_row = c
                for r in range(mr_):
                    c_row = c_row if r == 0 else b.gep(c_row, [ldc])
                    mask = b.select(b.icmp_signed("<", c64(r), mr), masks[0], none)
                    add_masked(b.bitcast(c_row, vt.as_pointer()), 0, sums[r][0], mask)
            else:
                # Through a stack copy of the tile, one row per loop step (unrolled, this
                # path was a third of the kernel's code; a wide kernel's edge tiles are
                # a product's last rows and last columns only).
                for r in range(mr_):
                    for v in range(nv):
                        b.store(sums[r][v], b.gep(tile, [c64(0), c64(r), c64(v)]),
                                align=elem_align)
                with for_range(b, c64(0), mr, name="r") as r:
                    c_vecs = b.bitcast(b.gep(c, [b.mul(r, ldc)]), vt.as_pointer())
                    for v in range(nv):
                        part = b.load(b.gep(tile, [c64(0), r, c64(v)]), align=elem_align)
                        add_masked(c_vecs, v, part, masks[v])
    b.ret_void()
    return fn


# Products with fewer multiply-adds than this run on the calling thread alone: below it,
# handing half to a pool worker (a few microseconds, tens when it sleeps) costs more
# than it saves.
PAR_MIN_WORK = 1 << 24


def define_parallel(module: ir.Module, dtype: str, t: ir.Type, serial: ir.Function,
                    name: str, parallel_for: ir.Function) -> tuple[ir.Function, ir.GlobalVariable]:
    """`name`, with `serial`'s signature: the same product, computed in two halves by the
    thread pool (`parallel_for`, `threads.py`) when it has at least `PAR_MIN_WORK`
    multiply-adds and the returned global (the thread count, 1 until the loader sets it)
    is at least 2.

    C's longer side is split into two halves, chunks 0 and 1 of one `parallel_for` job:
    the caller takes one, a pool worker (awake, or woken) the other, or the caller both
    when no worker can. Rows split at a multiple of the tile's MR rows, columns at a
    multiple of the vector width W, not of the tile's NR columns: W3's 256 columns in
    144 + 112 (3 and 2.33 panels of 48) took 280 and 231 us, in 128 + 128 261 and 263
    (the one-vector kernel takes the last 32 columns of each half), and the job lasts as
    long as its longer half. Every element of C is computed by one thread in the serial
    order, and both micro-kernels do the same operations per lane, so the result is the
    same bit for bit wherever the split falls.
    (A thread created per product, as before, often started on the caller's own core and
    waited to be moved: a 128 x 784 x 256 float32 product took 560 us by the median on
    two threads, against 490 on one.)
    """
    shape = host_kernel_shape(dtype)
    sig = serial.function_type
    fn = new_function(module, sig, name)
    fn.attributes.add("nounwind")
    mark_cold(fn)
    threads = ir.GlobalVariable(module, I32, f"{name}_threads")
    threads.initializer = ir.Constant(I32, 1)
    args_t = ir.LiteralStructType(list(sig.args))
    halves_t = ir.ArrayType(args_t, 2)
    voidp = I8.as_pointer()
    # chunk(ctx, i): the product of half i, ctx = the two halves' arguments.
    chunk = internal_function(module, f"{name}_half", ir.FunctionType(
        ir.VoidType(), [voidp, I64]), cold=True)
    cb = Builder(chunk.append_basic_block("entry"))
    halves = cb.bitcast(chunk.args[0], halves_t.as_pointer())
    packed = cb.gep(halves, [ir.Constant(I32, 0), chunk.args[1]])
    cb.call(serial, [cb.load(cb.gep(packed, [ir.Constant(I32, 0), ir.Constant(I32, i)]))
                     for i in range(len(sig.args))])
    cb.ret_void()

    ta, tb, m, n, k, a, lda, bm, ldb, c, ldc = fn.args
    b = Builder(fn.append_basic_block("entry"))
    rows = b.icmp_signed(">=", m, n)
    half_m = _round_up(b, b.sdiv(b.add(m, c64(1)), c64(2)), shape.mr)
    half_n = _round_up(b, b.sdiv(b.add(n, c64(1)), c64(2)), shape.w)
    m1 = b.select(rows, half_m, m)
    n1 = b.select(rows, n, half_n)
    m2 = b.select(rows, b.sub(m, m1), m)
    n2 = b.select(rows, n, b.sub(n, n1))
    work = b.mul(b.mul(m, n), k)
    go = b.and_(b.icmp_signed(">=", b.load(threads), ir.Constant(I32, 2)),
                b.and_(b.icmp_signed(">=", work, c64(PAR_MIN_WORK)),
                       b.and_(b.icmp_signed(">", m2, c64(0)), b.icmp_signed(">", n2, c64(0)))))
    with b.if_else(go, likely=False) as (split, whole):
        with split:
            ta_set = b.icmp_signed("!=", ta, ir.Constant(I32, 0))
            tb_set = b.icmp_signed("!=", tb, ir.Constant(I32, 0))
            # The second half: rows m1.. of op(A) and C, or columns n1.. of op(B) and C.
            a_off = b.select(rows, b.select(ta_set, m1, b.mul(m1, lda)), c64(0))
            b_off = b.select(rows, c64(0), b.select(tb_set, b.mul(n1, ldb), n1))
            c_off = b.select(rows, b.mul(m1, ldc), n1)
            first = [ta, tb, m1, n1, k, a, lda, bm, ldb, c, ldc]
            second = [ta, tb, m2, n2, k, b.gep(a, [a_off]), lda, b.gep(bm, [b_off]), ldb,
                      b.gep(c, [c_off]), ldc]
            slot = b.alloca(halves_t)
            for h, half in enumerate((first, second)):
                for i, v in enumerate(half):
                    b.store(v, b.gep(slot, [ir.Constant(I32, 0), ir.Constant(I32, h),
                                            ir.Constant(I32, i)]))
            b.call(parallel_for, [chunk, b.bitcast(slot, voidp), c64(2)])
        with whole:
            b.call(serial, list(fn.args))
    b.ret_void()
    return fn, threads
