"""`tj_gemm_f32/f64` (codegen/gemm.py) against `np.matmul`, through BLAS and the builtin kernel.

Each variant is one small native module, independent of the engine: an external wrapper
`entry(ta, tb, m, n, k, A, lda, B, ldb, C, ldc)` calling the function under test, O3 with
loop and SLP vectorization for the host, MCJIT, ctypes. Operands are submatrix views of larger
buffers (leading
dimensions larger than the column count) surrounded by sentinels that must survive, and
C starts as NaN, which must never leak into the result.

Error bound per entry: |C - ref| <= 2 k eps (|op(A)| @ |op(B)|) + tiny, with the reference
computed in float64 (float32 case) or taken from `np.matmul` (float64 case).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from llvmlite import binding as llvm
from llvmlite import ir
from tracejit.codegen import blas, gemm, gemm_kernel
from tracejit.errors import SettingError

from tests.codegen.helpers import host_target_machine

DTYPES = {"f32": np.float32, "f64": np.float64}
TRANSPOSES = [(0, 0), (0, 1), (1, 0), (1, 1)]
SHAPES = [  # (m, n, k)
    (0, 5, 3), (4, 0, 3), (4, 5, 0), (0, 0, 0), (1, 1, 1), (1, 7, 1), (7, 1, 9), (2, 3, 1),
    (37, 53, 29), (8, 48, 16), (100, 50, 300), (3, 2100, 5),
]
# Small blocks so tiny matrices cross every loop of the blocked kernel, and a tile shape
# like the one chosen on AVX2 hosts; the host's own shape comes through `declare_gemm`.
SMALL_SHAPE = gemm_kernel.KernelShape(w=4, mr=3, nv=2, kc=5, mc=6, nc=16)
AVX2_SHAPE = gemm_kernel.KernelShape(w=8, mr=6, nv=2, kc=64, mc=48, nc=256)

GemmFn = Callable[..., None]
_ARGTYPES = [ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
             ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
             ctypes.c_void_p, ctypes.c_int64]

# ---------------------------------------------------------------- a tiny native module


class Native:
    """One module holding `entry`, a wrapper around the function `define(module)` returns."""

    def __init__(self, dtype: str, define: Callable[[ir.Module], ir.Function],
                 optimize: bool = True) -> None:
        mod = ir.Module(name=f"gemm_{dtype}")
        mod.triple = llvm.get_process_triple()
        target = define(mod)
        wrapper = ir.Function(mod, gemm.gemm_type(dtype), "entry")
        b = ir.IRBuilder(wrapper.append_basic_block("entry"))
        b.call(target, wrapper.args)
        b.ret_void()
        self.text = str(mod)
        tm = host_target_machine()
        self.ctx = llvm.create_context()
        self.module = llvm.parse_assembly(self.text, context=self.ctx)
        self.module.verify()
        if optimize:
            pto = llvm.create_pipeline_tuning_options(speed_level=3)
            pto.loop_vectorization = pto.slp_vectorization = True
            pb = llvm.create_pass_builder(tm, pto)
            pb.getModulePassManager().run(self.module, pb)
        self.engine = llvm.create_mcjit_compiler(self.module, tm)
        self.engine.finalize_object()
        self.fn: GemmFn = ctypes.CFUNCTYPE(None, *_ARGTYPES)(
            self.engine.get_function_address("entry"))

    def asm(self) -> str:
        return host_target_machine().emit_assembly(self.module)


def _declared(dtype: str) -> Callable[[ir.Module], ir.Function]:
    return lambda mod: gemm.declare_gemm(mod, dtype)


def _blocked(dtype: str, shape: gemm_kernel.KernelShape) -> Callable[[ir.Module], ir.Function]:
    return lambda mod: gemm_kernel.define_blocked(mod, dtype, gemm.GEMM_DTYPES[dtype], shape)


def _without_heap(dtype: str, shape: gemm_kernel.KernelShape
                  ) -> Callable[[ir.Module], ir.Function]:
    """The blocked kernel in a module whose `malloc` always fails (returns null)."""
    def define(mod: ir.Module) -> ir.Function:
        malloc = ir.Function(mod, ir.FunctionType(ir.IntType(8).as_pointer(),
                                                  [ir.IntType(64)]), "malloc")
        malloc.linkage = "internal"
        ir.IRBuilder(malloc.append_basic_block()).ret(
            ir.Constant(ir.IntType(8).as_pointer(), None))
        return _blocked(dtype, shape)(mod)
    return define


_BUILT: dict[tuple[str, str], Native] = {}


def native(variant: str, dtype: str) -> Native:
    """Compiled once per (variant, dtype) and kept for the session."""
    key = (variant, dtype)
    if key not in _BUILT:
        if variant == "blas":
            if not blas.use_blas():
                pytest.skip("NumPy's bundled OpenBLAS is not available")
            _BUILT[key] = Native(dtype, _declared(dtype))
        elif variant == "builtin":
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("TRACEJIT_BLAS", "0")
                _BUILT[key] = Native(dtype, _declared(dtype))
        elif variant == "blocked":      # host tile shape, as codegen/runtime.py builds it
            _BUILT[key] = Native(dtype, _blocked(dtype, gemm_kernel.host_kernel_shape(dtype)))
        elif variant == "small-blocks":      # unoptimized, as codegen/runtime.py builds it
            _BUILT[key] = Native(dtype, _blocked(dtype, SMALL_SHAPE), optimize=False)
        elif variant == "avx2-tile":
            _BUILT[key] = Native(dtype, _blocked(dtype, AVX2_SHAPE), optimize=False)
        elif variant == "avx2-tile-O3":
            _BUILT[key] = Native(dtype, _blocked(dtype, AVX2_SHAPE))
        elif variant == "no-heap":      # host tile shape, malloc fails
            _BUILT[key] = Native(dtype, _without_heap(dtype, gemm_kernel.host_kernel_shape(
                dtype)), optimize=False)
        elif variant == "no-heap-small-blocks":
            _BUILT[key] = Native(dtype, _without_heap(dtype, SMALL_SHAPE), optimize=False)
        else:
            raise ValueError(variant)
    return _BUILT[key]


# ---------------------------------------------------------------- operands and oracle

PAD = 3          # extra rows/columns around every operand, filled with a sentinel
SENTINEL = -7.25


def _embedded(rng: np.random.Generator, rows: int, cols: int, dtype: type) -> tuple[np.ndarray,
                                                                                      np.ndarray]:
    """A rows x cols view at offset (1, 2) of a sentinel-filled buffer with wider rows."""
    big = np.full((rows + PAD, cols + PAD), SENTINEL, dtype=dtype)
    view = big[1:1 + rows, 2:2 + cols]
    view[...] = rng.standard_normal((rows, cols))
    return big, view


def _ld(view: np.ndarray) -> int:
    return view.strides[0] // view.itemsize


def run_gemm(fn: GemmFn, a: np.ndarray, b: np.ndarray, c: np.ndarray, ta: int, tb: int) -> None:
    m, n = c.shape
    k = a.shape[0] if ta else a.shape[1]
    fn(ta, tb, m, n, k, a.ctypes.data, _ld(a), b.ctypes.data, _ld(b), c.ctypes.data, _ld(c))


def check(fn: GemmFn, dtype: type, m: int, n: int, k: int, ta: int, tb: int,
          seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    _, a = _embedded(rng, *((k, m) if ta else (m, k)), dtype)
    _, b = _embedded(rng, *((n, k) if tb else (k, n)), dtype)
    c_big = np.full((m + PAD, n + PAD), SENTINEL, dtype=dtype)
    c = c_big[1:1 + m, 2:2 + n]
    c[...] = np.nan
    run_gemm(fn, a, b, c, ta, tb)

    opa, opb = (a.T if ta else a), (b.T if tb else b)
    ref = opa.astype(np.float64) @ opb.astype(np.float64)
    scale = np.abs(opa).astype(np.float64) @ np.abs(opb).astype(np.float64)
    eps = np.finfo(dtype).eps
    err = np.abs(c.astype(np.float64) - ref)
    assert np.all(err <= 2 * max(k, 1) * eps * scale + np.finfo(dtype).tiny), (
        f"max error {err.max() if err.size else 0} for m,n,k={m, n, k} ta,tb={ta, tb}")
    outside = c_big.copy()
    outside[1:1 + m, 2:2 + n] = SENTINEL
    assert np.all(outside == SENTINEL), "gemm wrote outside C"


# ---------------------------------------------------------------- tests

VARIANTS = ["blas", "builtin", "small-blocks", "avx2-tile", "avx2-tile-O3", "no-heap",
            "no-heap-small-blocks"]
KERNELS_ONLY = ("small-blocks", "avx2-tile", "avx2-tile-O3", "no-heap", "no-heap-small-blocks")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
def test_matches_numpy(variant: str, dtype: str, ta: int, tb: int) -> None:
    fn = native(variant, dtype).fn
    for m, n, k in SHAPES:
        if variant in KERNELS_ONLY and 0 in (m, n, k):
            continue   # the kernels themselves assume a non-empty product
        check(fn, DTYPES[dtype], m, n, k, ta, tb)


@pytest.mark.parametrize("variant", ["blas", "builtin"])
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_host_blocking_sizes(variant: str, dtype: str) -> None:
    """Products crossing the host kernel's k-block, A-block and B-panel sizes."""
    fn = native(variant, dtype).fn
    shape = gemm_kernel.host_kernel_shape(dtype)
    for m, n, k in [(shape.mc + shape.mr + 1, shape.nr + 5, 2 * shape.kc + 7),
                    (5, shape.nc + shape.nr + 3, 3)]:
        for ta, tb in TRANSPOSES:
            check(fn, DTYPES[dtype], m, n, k, ta, tb, seed=m + n + k)


def _panel_widths(shape: gemm_kernel.KernelShape) -> list[int]:
    """Column counts whose last B micro-panel is 1..nv vectors wide, each whole and with a
    partial last vector, after one full panel."""
    return [shape.nr + n for v in range(1, shape.nv + 1)
            for n in sorted({(v - 1) * shape.w + 1, v * shape.w - 1, v * shape.w}) if n > 0]


@pytest.mark.parametrize("variant", ["builtin", "avx2-tile"])
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_every_micro_kernel_width(variant: str, dtype: str) -> None:
    """Every way a panel's last columns are computed (the full-width micro-kernel, one or
    more one-vector strips, whole or partial vectors) is selected by some product and
    matches NumPy there, on full and partial row tiles, in the first k-block (stored) and
    a later one (added)."""
    fn = native(variant, dtype).fn
    shape = gemm_kernel.host_kernel_shape(dtype) if variant == "builtin" else AVX2_SHAPE
    for i, n in enumerate(_panel_widths(shape)):
        for m, k in [(2 * shape.mr, 3), (shape.mr + 1, shape.kc + 2)]:
            ta, tb = TRANSPOSES[(i + m) % 4]
            check(fn, DTYPES[dtype], m, n, k, ta, tb, seed=n)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_without_heap_memory_the_result_is_the_same_bit_for_bit(dtype: str) -> None:
    """When `malloc` fails, the kernel packs one register tile at a time on the stack and
    gives the library's result bit for bit, across k-blocks, A blocks and B panels."""
    shape = gemm_kernel.host_kernel_shape(dtype)
    rng = np.random.default_rng(5)
    for m, n, k in [(shape.mc + shape.mr + 1, shape.nc + shape.nr + 5, 2 * shape.kc + 7),
                    (shape.mr - 1, 2 * shape.w + 1, 3)]:
        for ta, tb in TRANSPOSES:
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(DTYPES[dtype])
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(DTYPES[dtype])
            got = [np.full((m, n), np.nan, DTYPES[dtype]) for _ in range(2)]
            for variant, c in zip(("builtin", "no-heap"), got, strict=True):
                run_gemm(native(variant, dtype).fn, a, b, c, ta, tb)
            np.testing.assert_array_equal(got[0], got[1])


@pytest.mark.parametrize("variant", ["blas", "builtin"])
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_k_zero_overwrites_c_with_zeros(variant: str, dtype: str) -> None:
    """k = 0 gives C = 0 (not C unchanged) even with null operand pointers."""
    fn = native(variant, dtype).fn
    c = np.full((3, 4), np.nan, dtype=DTYPES[dtype])
    fn(0, 0, 3, 4, 0, None, 0, None, 4, c.ctypes.data, 4)
    assert np.array_equal(c, np.zeros((3, 4)))
    fn(0, 0, 0, 4, 0, None, 0, None, 4, None, 4)   # empty C: nothing is touched
    fn(1, 1, 3, 0, 5, None, 3, None, 5, None, 1)


@pytest.mark.parametrize("variant", ["blas", "builtin", "small-blocks"])
@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
def test_nan_and_inf_propagate(variant: str, dtype: str, ta: int, tb: int) -> None:
    fn = native(variant, dtype).fn
    dt = DTYPES[dtype]
    m, n, k = 9, 37, 11
    rng = np.random.default_rng(1)
    opa = rng.uniform(0.5, 1.5, (m, k)).astype(dt)
    opb = rng.uniform(0.5, 1.5, (k, n)).astype(dt)
    opa[2, 3] = np.nan
    opa[5, 0] = np.inf
    opa[7, 1] = -np.inf
    opb[4, 30] = np.inf       # column 30: +inf, except NaN in rows 2 (NaN) and 7 (-inf + inf)
    a = np.ascontiguousarray(opa.T) if ta else opa
    b = np.ascontiguousarray(opb.T) if tb else opb
    c = np.full((m, n), 123.0, dtype=dt)
    run_gemm(fn, a, b, c, ta, tb)
    with np.errstate(invalid="ignore"):
        ref = np.matmul(opa, opb)
    np.testing.assert_array_equal(np.isnan(c), np.isnan(ref))
    np.testing.assert_array_equal(np.isposinf(c), np.isposinf(ref))
    np.testing.assert_array_equal(np.isneginf(c), np.isneginf(ref))
    assert np.isnan(c[2]).all() and np.isposinf(c[5]).all() and np.isnan(c[7, 30])
    assert np.isneginf(np.delete(c[7], 30)).all() and np.isposinf(np.delete(c[:, 30], [2, 7])).all()


def test_declare_is_idempotent_and_checks_dtype() -> None:
    mod = ir.Module()
    f32 = gemm.declare_gemm(mod, "f32")
    assert gemm.declare_gemm(mod, "f32") is f32
    f64 = gemm.declare_gemm(mod, "f64")
    assert f64 is not f32 and f32.name == "tj_gemm_f32" and f64.name == "tj_gemm_f64"
    assert f32.ftype == gemm.gemm_type("f32")
    with pytest.raises(ValueError, match="f32 and f64"):
        gemm.declare_gemm(mod, "i32")
    llvm.parse_assembly(str(mod), context=llvm.create_context()).verify()


def test_blas_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """`TRACEJIT_BLAS=0` selects the builtin kernel and says so in `blas_info()`."""
    monkeypatch.setenv("TRACEJIT_BLAS", "0")
    assert gemm.blas_info() == "builtin"
    mod = ir.Module()
    gemm.declare_gemm(mod, "f32")
    assert "scipy_cblas" not in str(mod) and "tj_gemm_f32_blocked" in str(mod)
    monkeypatch.delenv("TRACEJIT_BLAS")
    if blas.find_blas() is None:
        assert gemm.blas_info() == "builtin"
        return
    assert gemm.blas_info().startswith("scipy_openblas64 OpenBLAS ")
    mod = ir.Module()
    gemm.declare_gemm(mod, "f64")
    assert "scipy_cblas_dgemm64_" in str(mod) and "_blocked" not in str(mod)


def test_library_without_ilp64_symbols_is_rejected() -> None:
    """A BLAS lacking `scipy_cblas_?gemm64_` (MKL, a system OpenBLAS) is not used."""
    libm = ctypes.util.find_library("m") or ctypes.util.find_library("c")
    if libm is None:
        pytest.skip("no system C library to try")
    assert blas._load_first([libm, "/nonexistent/libscipy_openblas64_.so"]) is None


def test_bundled_library_files_are_found_as_glob_found_them(tmp_path: Path) -> None:
    """One listing of the folder finds what the globs `libscipy_openblas*.so*`, `*.dylib`
    and `*.dll` found, in their order."""
    names = ["libscipy_openblas64_-b.so", "libscipy_openblas64_-a.so", "libscipy_openblas.so.0",
             "libscipy_openblas64_.dylib", "libscipy_openblasX.dll", "libopenblas.so",
             "libscipy_openblas_notes.txt", "libscipy_openblas.dll.bak", "xlibscipy_openblas.so"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    expected = [p for pattern in ("libscipy_openblas*.so*", "libscipy_openblas*.dylib",
                                  "libscipy_openblas*.dll")
                for p in sorted(glob.glob(str(tmp_path / pattern)))]
    assert blas._bundled_in(str(tmp_path)) == expected and len(expected) == 5
    assert blas._bundled_in(str(tmp_path / "missing")) == []


def test_candidate_libraries_are_the_bundled_ones_then_the_mapped_ones_once() -> None:
    """The first search takes the bundled files as listed (no repeats possible); the
    second adds the mapped ones, each real file once."""
    bundled = blas._candidate_paths(mapped=False)
    every = blas._candidate_paths()
    assert len(set(every)) == len(every)
    assert [os.path.realpath(p) for p in bundled] == every[:len(bundled)]
    if blas.find_blas() is not None:
        assert blas.find_blas().path in bundled + every


def test_micro_kernel_is_vector_code() -> None:
    """The builtin kernel's inner loop multiplies whole vectors, not scalars."""
    if not re.match(r"(x86_64|amd64)", llvm.get_process_triple()):
        pytest.skip("instruction check written for x86-64")
    for dtype, suffix in (("f32", "ps"), ("f64", "pd")):
        asm = native("blocked", dtype).asm()   # the kernel the runtime library exports
        vector_ops = re.findall(rf"\bv?(?:fmadd\w*|mul){suffix}\s+[^\n]*%[xyz]mm", asm)
        assert vector_ops, f"no packed multiply in the {dtype} kernel"


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_two_threads_give_the_serial_result_bit_for_bit(dtype: str) -> None:
    """Large products are split in two halves run on the thread pool (rows or columns,
    whichever side is longer; columns at a multiple of the vector width, which may fall
    inside a register tile's panel, as in W3's 128 x 256 x 784); every element is
    computed in the serial order, so the results are equal."""
    from tracejit.codegen import runtime
    name = runtime.load(dtype)
    pool_saved = runtime.set_pool_threads(2)
    count = ctypes.c_int32.from_address(runtime._loaded[name].global_address(f"{name}_threads"))
    fn = ctypes.CFUNCTYPE(None, *_ARGTYPES)(runtime._loaded[name].address(name))
    npdt = np.float32 if dtype == "f32" else np.float64
    rng = np.random.default_rng(5)
    saved = count.value
    try:
        for m, n, k, ta, tb in [(700, 97, 300, 0, 0), (97, 700, 300, 1, 1), (513, 515, 70, 0, 1),
                                (260, 260, 260, 1, 0), (128, 256, 784, 0, 0),
                                (784, 256, 128, 1, 0)]:
            assert m * n * k >= gemm_kernel.PAR_MIN_WORK
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(npdt)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(npdt)
            outs = []
            for threads in (1, 2):
                count.value = threads
                c = np.full((m, n), np.nan, npdt)
                run_gemm(fn, a, b, c, ta, tb)
                outs.append(c)
            np.testing.assert_array_equal(outs[0], outs[1])
            want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
            np.testing.assert_allclose(outs[1], want, rtol=1e-4 if dtype == "f32" else 1e-10,
                                       atol=1e-3 if dtype == "f32" else 1e-9)
    finally:
        count.value = saved
        runtime.set_pool_threads(pool_saved)


def test_thread_count_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracejit.codegen import runtime
    monkeypatch.setenv("TRACEJIT_NUM_THREADS", "1")
    assert runtime.threads() == 1
    monkeypatch.setenv("TRACEJIT_NUM_THREADS", "8")
    assert runtime.threads() == 2
    monkeypatch.setenv("TRACEJIT_NUM_THREADS", "many")
    with pytest.raises(SettingError, match="TRACEJIT_NUM_THREADS='many'"):
        runtime.threads()
    monkeypatch.delenv("TRACEJIT_NUM_THREADS")
    assert 1 <= runtime.threads() <= 2
