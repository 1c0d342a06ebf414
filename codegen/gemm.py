"""Matrix multiply for generated code: `tj_gemm_f32` / `tj_gemm_f64`.

`declare_gemm(module, dtype)` defines, once per module, an internal function

    void tj_gemm_<dtype>(i32 ta, i32 tb, i64 m, i64 n, i64 k,
                         T* A, i64 lda, T* B, i64 ldb, T* C, i64 ldc)

that overwrites the row-major `C[m, n]` with `op(A) @ op(B)`. `op(A)` is `A` (m x k, row
stride `lda`) or, when `ta != 0`, `A^T` with `A` stored k x m (row stride `lda`); likewise
`op(B)` with `tb`, `ldb`. Its body calls NumPy's bundled OpenBLAS when `blas.use_blas()` (see
`codegen/blas.py`), otherwise the blocked kernel of `codegen/gemm_kernel.py`.

Invariants of every `tj_gemm_*`:
- C is written, never accumulated into: its previous contents (NaN included) never leak.
- `m <= 0` or `n <= 0` touches nothing; `k <= 0` sets C to zero; no other argument is read
  in those cases, so empty operands may be null pointers.
- Only non-empty products reach BLAS or the blocked kernel, so the leading dimensions they
  see are valid (`ld >= max(1, stored column count)`) as long as the caller passes the true
  row stride of each non-empty matrix, which is the one precondition on `lda/ldb/ldc`.
- No fast-math beyond `contract` (fused multiply-add): NaN and inf propagate as in BLAS.
- Every module gets its own internal `tj_gemm_*` wrapper; the blocked kernel it calls is
  compiled once per process (`runtime.symbol(dtype)`, see `codegen/runtime.py`), and a
  module built while BLAS is in use references the symbols `scipy_cblas_sgemm64_` /
  `scipy_cblas_dgemm64_`, registered with LLVM by `blas.find_blas()`. `blas_info()` names which
  body new code gets
  and belongs in every compiled-object cache key.
"""
from __future__ import annotations

from llvmlite import ir

from . import gemm_pack, runtime
from .blas import GEMM_SYMBOLS, blas_info, use_blas
from .irbuild import Builder, new_function

__all__ = ["GEMM_DTYPES", "blas_info", "declare_gemm", "gemm_type"]

GEMM_DTYPES: dict[str, ir.Type] = {"f32": ir.FloatType(), "f64": ir.DoubleType()}

# Products with fewer multiply-adds than this run on the builtin kernel (about 1 ms of
# single-threaded work on a 2020s core): below it, BLAS's threads do not pay for themselves.
BLAS_MIN_WORK = 1 << 26

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)

# CBLAS enums (C `int`); every other integer of the ILP64 interface is int64.
_CBLAS_ROW_MAJOR = 101
_CBLAS_NO_TRANS = 111
_CBLAS_TRANS = 112


def gemm_type(dtype: str) -> ir.FunctionType:
    """The LLVM signature of `tj_gemm_<dtype>`."""
    pt = GEMM_DTYPES[dtype].as_pointer()
    return ir.FunctionType(ir.VoidType(),
                           [_I32, _I32, _I64, _I64, _I64, pt, _I64, pt, _I64, pt, _I64])


def declare_gemm(module: ir.Module, dtype: str, work: int | None = None,
                 module_cost: int | None = None) -> ir.Function:
    """Return `tj_gemm_<dtype>` in `module`, defining it on first use. A builtin kernel
    it calls is loaded before this returns, unless `module_cost` (the estimated size of
    the module being lowered) is given: then it may still be compiling in a worker
    (`runtime.request`), and `runtime.ensure` must be called before code that calls it
    is loaded (`compile_function` does).

    The body calls BLAS if NumPy's OpenBLAS is available and `TRACEJIT_BLAS` is not `0`,
    else the builtin blocked kernel. `work` (multiply-adds of the call site, when known)
    below `BLAS_MIN_WORK` selects the builtin kernel (`tj_gemm_<dtype>_small`) anyway:
    it matches single-threaded OpenBLAS there, and BLAS's thread pool costs more than it
    gains on products that small (and far more when other processes load the cores).
    Example, inside a lowering::

        gemm = declare_gemm(module, "f32")
        builder.call(gemm, [ta, tb, m, n, k, a, lda, b, ldb, c, ldc])
    """
    if dtype not in GEMM_DTYPES:
        raise ValueError(f"gemm supports f32 and f64, got {dtype!r}")
    blas = use_blas() and (work is None or work >= BLAS_MIN_WORK)
    name = f"tj_gemm_{dtype}" if blas or work is None else f"tj_gemm_{dtype}_small"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = new_function(module, gemm_type(dtype), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    m, n, k, c, ldc = fn.args[2], fn.args[3], fn.args[4], fn.args[9], fn.args[10]
    builder = Builder(fn.append_basic_block("entry"))
    zero = ir.Constant(_I64, 0)

    empty = builder.or_(builder.icmp_signed("<=", m, zero), builder.icmp_signed("<=", n, zero))
    with builder.if_then(empty, likely=False):
        builder.ret_void()
    with builder.if_then(builder.icmp_signed("<=", k, zero), likely=False):
        gemm_pack.emit_fill_zero(builder, c, m, n, ldc)
        builder.ret_void()

    if blas:
        _emit_blas_call(builder, dtype, fn.args)
    else:
        kernel = module.globals.get(runtime.symbol(dtype))
        if kernel is None:
            kernel = new_function(module, gemm_type(dtype), runtime.load(dtype)
                                 if module_cost is None
                                 else runtime.request(dtype, module_cost))
            kernel.attributes.add("nounwind")
        builder.call(kernel, fn.args)
    builder.ret_void()
    return fn


def _emit_blas_call(builder: ir.IRBuilder, dtype: str, args: tuple[ir.Argument, ...]) -> None:
    """`cblas_?gemm64_(RowMajor, opA, opB, m, n, k, 1, A, lda, B, ldb, 0, C, ldc)`."""
    ta, tb, m, n, k, a, lda, b, ldb, c, ldc = args
    t = GEMM_DTYPES[dtype]
    cblas = _declare_cblas(builder.module, dtype)
    zero32 = ir.Constant(_I32, 0)
    trans = ir.Constant(_I32, _CBLAS_TRANS)
    no_trans = ir.Constant(_I32, _CBLAS_NO_TRANS)
    a_trans = builder.icmp_signed("!=", ta, zero32)
    b_trans = builder.icmp_signed("!=", tb, zero32)
    builder.call(cblas, [
        ir.Constant(_I32, _CBLAS_ROW_MAJOR),
        builder.select(a_trans, trans, no_trans), builder.select(b_trans, trans, no_trans),
        m, n, k, ir.Constant(t, 1.0), a, lda, b, ldb, ir.Constant(t, 0.0), c, ldc])


def _declare_cblas(module: ir.Module, dtype: str) -> ir.Function:
    name = GEMM_SYMBOLS[dtype]
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    t = GEMM_DTYPES[dtype]
    pt = t.as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [_I32, _I32, _I32, _I64, _I64, _I64, t, pt, _I64,
                                           pt, _I64, t, pt, _I64])
    fn = new_function(module, fnty, name)
    fn.attributes.add("nounwind")
    return fn

