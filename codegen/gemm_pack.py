"""Helpers of the builtin GEMM (`gemm_kernel.py`) and its packing routines: copying a
block of op(A) or op(B) into contiguous, zero-padded micro-panels.

Invariant: a packed micro-panel of `r` rows is `[kc][r]`, rows past the matrix edge
are zeros (see `gemm_kernel`'s invariants for why zeros there are harmless).
"""
from __future__ import annotations

from llvmlite import ir

from .irbuild import Builder, new_function
from .loops import for_range

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
# Micro-panels of at most this many rows are packed by in-register transposes.
TRANSPOSE_MAX = 16


def c64(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def suffix(t: ir.Type) -> str:
    """The element part of an intrinsic's vector type suffix: f32 or f64."""
    return "f32" if isinstance(t, ir.FloatType) else "f64"


def smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def internal_function(module: ir.Module, name: str, fnty: ir.FunctionType,
                      inline: bool = True, cold: bool = False) -> ir.Function:
    """A function with internal linkage; `inline=False`: never inlined; `cold`: see
    `mark_cold`."""
    fn = new_function(module, fnty, name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    if cold:
        mark_cold(fn)
    elif not inline:
        fn.attributes.add("noinline")
    return fn


def mark_cold(fn: ir.Function) -> None:
    """Compile `fn` without the code generator's optimizations (`optnone`, which needs
    `noinline`: fast instruction selection, no loop strength reduction), for code that
    runs per call or per register tile, never per element: the GEMM library's driver
    loops, thread split and unblocked fallback took about 11 of its 55 ms of code
    generation (float32, AVX-512), and gave the same speed either way."""
    fn.attributes.add("noinline")
    fn.attributes.add("optnone")


def declare(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    return existing if existing is not None else new_function(module, fnty, name)


def emit_fill_zero(b: ir.IRBuilder, c: ir.Value, m: ir.Value, n: ir.Value, ldc: ir.Value) -> None:
    """C[i, j] = 0 for i < m, j < n (row stride ldc)."""
    zero = ir.Constant(c.type.pointee, 0.0)
    with for_range(b, c64(0), m, name="zi") as i:
        row = b.gep(c, [b.mul(i, ldc)])
        with for_range(b, c64(0), n, name="zj") as j:
            b.store(zero, b.gep(row, [j]))


# --------------------------------------------------------------------------- packing


def define_pack(module: ir.Module, dtype: str, t: ir.Type, r: int, w: int) -> ir.Function:
    """`pack<r>(src, sq, sp, nq, kc, dst)`: dst[q // r][p][q % r] = src[q*sq + p*sp].

    Rows `q >= nq` of the last micro-panel are zero. Each step over p writes one vector of
    r elements: one vector load when the r source elements are contiguous (`sq == 1`).
    Otherwise: a whole narrow panel (r <= `TRANSPOSE_MAX`, the A side) whose source is
    contiguous along p (`sp == 1`: a row-major A) takes a few steps at a time, vector
    loads along p transposed in registers (`_pack_transposed`), and what remains (the
    last steps, a partial or strided panel) a plain loop over its valid rows; a wide
    panel (a transposed B) takes r/w vector gathers per step.
    Written with explicit vectors, not scalar loops, so the kernel needs no optimization
    pipeline to be fast and compiles in a fraction of the time.
    """
    name = f"tj_gemm_{dtype}_pack{r}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    pt = t.as_pointer()
    vt = ir.VectorType(t, r)
    fn = internal_function(module, name, ir.FunctionType(
        ir.VoidType(), [pt, I64, I64, I64, I64, pt]), inline=False)
    src, sq, sp, nq, kc, dst = fn.args
    for arg in (src, dst):
        arg.add_attribute("noalias")
    align = 4 if dtype == "f32" else 8
    b = Builder(fn.append_basic_block("entry"))
    rc = c64(r)
    with for_range(b, c64(0), nq, r, name="q0") as q0:
        s = b.gep(src, [b.mul(q0, sq)])
        d = b.gep(dst, [b.mul(q0, kc)])
        rows = smin(b, rc, b.sub(nq, q0))
        contiguous = b.and_(b.icmp_signed("==", rows, rc), b.icmp_signed("==", sq, c64(1)))
        with b.if_else(contiguous) as (whole, gather):
            with whole, for_range(b, c64(0), kc, name="p") as p:
                v = b.load(b.bitcast(b.gep(s, [b.mul(p, sp)]), vt.as_pointer()), align=align)
                b.store(v, b.bitcast(b.gep(d, [b.mul(p, rc)]), vt.as_pointer()), align=align)
            with gather:
                if r > TRANSPOSE_MAX and r % w == 0:
                    _pack_gathered(b, t, r, w, s, sp, kc, rows, b.sub(rows, c64(1)), sq, d,
                                   align)
                else:
                    # Whole panels contiguous along p: w steps at a time by transposes;
                    # what remains (a partial panel, a strided source, the last steps)
                    # by a plain loop over the valid rows, the rest zero.
                    g = _group(r, w)
                    whole_rows = b.and_(b.icmp_signed("==", rows, rc),
                                        b.icmp_signed("==", sp, c64(1)))
                    chunks = b.select(whole_rows, b.sdiv(kc, c64(g)), c64(0))
                    _pack_transposed(b, t, r, w, s, sq, chunks, d, align)
                    p0 = b.mul(chunks, c64(g))
                    with for_range(b, p0, kc, name="pz") as p:
                        b.store(ir.Constant(vt, None),
                                b.bitcast(b.gep(d, [b.mul(p, rc)]), vt.as_pointer()), align=align)
                    with for_range(b, c64(0), rows, name="qs") as q:
                        row = b.gep(s, [b.mul(q, sq)])
                        with for_range(b, p0, kc, name="ps") as p:
                            x = b.load(b.gep(row, [b.mul(p, sp)]), align=align)
                            b.store(x, b.gep(d, [b.add(b.mul(p, rc), q)]), align=align)
    b.ret_void()
    return fn


def _pack_gathered(b: ir.IRBuilder, t: ir.Type, r: int, w: int, s: ir.Value, sp: ir.Value,
                   kc: ir.Value, rows: ir.Value, last: ir.Value, sq: ir.Value, d: ir.Value,
                   align: int) -> None:
    """For p < kc: d[p*r + q] = s[min(q, last)*sq + p*sp] (0 for q >= rows), with r/w
    vector gathers per step (a wide micro-panel read across rows: a transposed B)."""
    i64v, vt = ir.VectorType(I64, w), ir.VectorType(t, w)
    mask_t = ir.VectorType(I1, w)
    size = 4 if isinstance(t, ir.FloatType) else 8
    gather = declare(b.function.module, f"llvm.masked.gather.v{w}{suffix(t)}.v{w}p0",
                      ir.FunctionType(vt, [ir.VectorType(t.as_pointer(), w), I32, mask_t, vt]))

    def splat(x: ir.Value) -> ir.Value:
        u = ir.Constant(i64v, ir.Undefined)
        return b.shuffle_vector(b.insert_element(u, x, ir.Constant(I32, 0)), u,
                                ir.Constant(ir.VectorType(I32, w), [0] * w))

    last_v, rows_v, sq_v = splat(last), splat(rows), splat(b.mul(sq, c64(size)))
    parts = []
    for v in range(r // w):
        q = ir.Constant(i64v, [v * w + lane for lane in range(w)])
        clamped = b.select(b.icmp_signed("<", q, last_v), q, last_v)
        parts.append((b.mul(clamped, sq_v), b.icmp_signed("<", q, rows_v)))
    with for_range(b, c64(0), kc, name="pv") as p:
        base = splat(b.ptrtoint(b.gep(s, [b.mul(p, sp)]), I64))
        for v, (offs, mask) in enumerate(parts):
            ptrs = b.inttoptr(b.add(base, offs), ir.VectorType(t.as_pointer(), w))
            x = b.call(gather, [ptrs, ir.Constant(I32, align), mask, ir.Constant(vt, None)])
            at = b.add(b.mul(p, c64(r)), c64(v * w))
            b.store(x, b.bitcast(b.gep(d, [at]), vt.as_pointer()), align=align)


def _group(r: int, w: int) -> int:
    """Rows per transpose in `_pack_transposed`: a power of two, at most 4 (and at most
    the vector width and what r needs): the x86 code generator takes 3x as long over
    8 x 8 shuffle networks as over 4 x 4 ones, for no measurable speed."""
    g = 1
    while g * 2 <= min(w, 4) and g < r:
        g *= 2
    return g


def transpose_square(b: ir.IRBuilder, rows: list[ir.Value]) -> list[ir.Value]:
    """The columns of the n x n matrix whose rows are `rows` (n vectors of n elements, n a
    power of two): log2(n) rounds of `new[2i], new[2i+1] = interleave_lo/hi(rows[i],
    rows[i + n/2])`, each a two-input shuffle the backend lowers to one instruction."""
    n = len(rows)
    h = n // 2
    lo = ir.Constant(ir.VectorType(I32, n), [x for i in range(h) for x in (i, n + i)])
    hi = ir.Constant(ir.VectorType(I32, n), [x for i in range(h, n) for x in (i, n + i)])
    for _ in range(n.bit_length() - 1):
        new: list[ir.Value] = []
        for i in range(h):
            new += [b.shuffle_vector(rows[i], rows[i + h], lo),
                    b.shuffle_vector(rows[i], rows[i + h], hi)]
        rows = new
    return rows


def _pack_transposed(b: ir.IRBuilder, t: ir.Type, r: int, w: int, s: ir.Value,
                     sq: ir.Value, chunks: ir.Value, d: ir.Value, align: int) -> None:
    """For c < chunks: d[(c*g + j)*r + q] = s[q*sq + c*g + j] for j < g and q < r,
    with g = `_group(r, w)`: r row loads of g elements, transposed g rows at a time
    (`transpose_square`, zero rows padding the last group), one store per column of
    each group."""
    g = _group(r, w)
    gt = ir.VectorType(t, g)
    zero = ir.Constant(gt, None)
    starts = [s]                                    # the source rows
    for _ in range(r - 1):
        starts.append(b.gep(starts[-1], [sq]))
    with for_range(b, c64(0), chunks, name="pt") as c:
        p0 = b.mul(c, c64(g))
        rows = [b.load(b.bitcast(b.gep(row, [p0]), gt.as_pointer()), align=align)
                for row in starts]
        out_at = b.gep(d, [b.mul(p0, c64(r))])     # step p0 of the packed panel
        for q0 in range(0, r, g):
            m = min(g, r - q0)
            cols = transpose_square(b, rows[q0:q0 + m] + [zero] * (g - m))
            mt = ir.VectorType(t, m)
            first = ir.Constant(ir.VectorType(I32, m), list(range(m)))
            for j, col in enumerate(cols):
                out = col if m == g else b.shuffle_vector(col, col, first)
                ptr = b.gep(out_at, [c64(j * r + q0)]) if j * r + q0 else out_at
                b.store(out, b.bitcast(ptr, mt.as_pointer()), align=align)
