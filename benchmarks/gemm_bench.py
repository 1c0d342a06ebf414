"""Matrix multiply from native code: `tj_gemm_*` through BLAS and through the builtin kernel.

Compares, in one process, per shape:

- `np.matmul` (NumPy's OpenBLAS, its default thread count);
- `tj_gemm` calling that same OpenBLAS from JIT code (default threads, then 1 thread);
- `tj_gemm` with the builtin blocked kernel (`TRACEJIT_BLAS=0`; always 1 thread);

and prints times (best of several runs) and the builtin kernel's time as a ratio of
single-threaded OpenBLAS (the builtin kernel is single-threaded). Native functions are called
through ctypes with precomputed
pointers, so the ~1 us call overhead is included (it only matters for tiny shapes).

Run it with the workplace's OpenBLAS overrides removed, in that command only:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gemm_bench.py

`--compile` instead times the builtin kernel's library (codegen/runtime.py) compiled as
it is (no optimization pipeline) and through O3, and both builds' speed.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import time
from collections.abc import Callable

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from tracejit.codegen import blas, gemm

# (m, n, k, ta, tb, dtype)
SHAPES = [
    (128, 256, 784, 0, 0, "f32"),
    (128, 256, 784, 1, 1, "f32"),
    (64, 64, 64, 0, 0, "f32"),
    (512, 512, 512, 0, 0, "f32"),
    (4096, 64, 512, 0, 0, "f32"),
    (64, 4096, 64, 0, 1, "f32"),
    (1000, 1000, 1000, 0, 0, "f32"),
    (128, 256, 784, 0, 0, "f64"),
    (512, 512, 512, 0, 0, "f64"),
]
NP_DTYPES = {"f32": np.float32, "f64": np.float64}
_ARGTYPES = [ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
             ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
             ctypes.c_void_p, ctypes.c_int64]
_alive: list[object] = []


def compile_gemm(dtype: str, use_blas: bool) -> Callable[..., None]:
    """`entry(...)` wrapping `tj_gemm_<dtype>`, compiled at O3 for the host."""
    saved = os.environ.get("TRACEJIT_BLAS")
    os.environ["TRACEJIT_BLAS"] = "1" if use_blas else "0"
    try:
        mod = ir.Module(name=f"bench_{dtype}")
        mod.triple = llvm.get_process_triple()
        target = gemm.declare_gemm(mod, dtype)
    finally:
        if saved is None:
            del os.environ["TRACEJIT_BLAS"]
        else:
            os.environ["TRACEJIT_BLAS"] = saved
    wrapper = ir.Function(mod, gemm.gemm_type(dtype), "entry")
    b = ir.IRBuilder(wrapper.append_basic_block("entry"))
    b.call(target, wrapper.args)
    b.ret_void()
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
        opt=3, jit=True)
    ctx = llvm.create_context()
    module = llvm.parse_assembly(str(mod), context=ctx)
    module.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)
    engine = llvm.create_mcjit_compiler(module, tm)
    engine.finalize_object()
    _alive.append((ctx, engine))
    return ctypes.CFUNCTYPE(None, *_ARGTYPES)(engine.get_function_address("entry"))


def best_time(fn: Callable[[], object], budget: float,
              clock: Callable[[], float] = time.perf_counter) -> float:
    """Best mean time per call over 5 runs of about `budget / 5` seconds each.

    Single-threaded variants are timed with `time.thread_time` (CPU time of this thread),
    which other processes competing for the cores do not inflate; multi-threaded BLAS
    needs wall-clock time and is only meaningful on an otherwise idle machine.
    """
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(budget / 5 / once))
    best = float("inf")
    for _ in range(5):
        t0 = clock()
        for _ in range(reps):
            fn()
        best = min(best, (clock() - t0) / reps)
    return best


class OpenBlasThreads:
    """Get/set the thread count of NumPy's OpenBLAS (shared with `np.matmul`)."""

    def __init__(self, lib: blas.BlasLibrary) -> None:
        self._set = lib.handle.scipy_openblas_set_num_threads64_
        self._set.argtypes = [ctypes.c_int64]
        self._get = lib.handle.scipy_openblas_get_num_threads64_
        self._get.restype = ctypes.c_int64
        corename = lib.handle.scipy_openblas_get_corename64_
        corename.restype = ctypes.c_char_p
        self.core = (corename() or b"?").decode()

    def get(self) -> int:
        return int(self._get())

    def set(self, n: int) -> None:
        self._set(n)


def measure(shape: tuple[int, int, int, int, int, str],
            fns: dict[tuple[str, bool], Callable[..., None]], threads: OpenBlasThreads | None,
            default_threads: int, budget: float) -> dict[str, float]:
    """Seconds per call of each variant on one shape; checks the builtin kernel's result."""
    m, n, k, ta, tb, dt = shape
    rng = np.random.default_rng(0)
    npd = NP_DTYPES[dt]
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(npd)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(npd)
    c = np.empty((m, n), npd)
    opa, opb = (a.T if ta else a), (b.T if tb else b)
    cargs = (ta, tb, m, n, k, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1],
             c.ctypes.data, n)
    row: dict[str, float] = {}
    if threads is not None:
        for suffix, count, clock in (("", default_threads, time.perf_counter),
                                     ("1", 1, time.thread_time)):
            threads.set(count)
            row["np" + suffix] = best_time(lambda: np.matmul(opa, opb), budget, clock)
            row["blas" + suffix] = best_time(lambda: fns[dt, True](*cargs), budget, clock)
        threads.set(default_threads)
    row["builtin"] = best_time(lambda: fns[dt, False](*cargs), budget, time.thread_time)
    np.testing.assert_allclose(c, opa @ opb, rtol=1e-3 if dt == "f32" else 1e-10,
                               atol=1e-3 * np.sqrt(k))
    return row


def compile_section(budget: float) -> None:
    """The runtime library (codegen/runtime_build.py) as it is built, straight to the code
    generator, against the same IR through the O3 pipeline: compile time and speed."""
    from tracejit.codegen import engine, runtime, runtime_build
    runtime.load(runtime.POOL)      # the kernels' large-product split calls it
    for dt in NP_DTYPES:
        name = runtime.symbol(dt)
        text = runtime_build.library_ir(dt, name)
        fns = {}
        for label, optimize in (("no pipeline (as built)", False), ("O3", True)):
            t0 = time.perf_counter()
            jm = engine.jit(text, optimize=optimize)
            print(f"{dt} library, {label:<24} compile {(time.perf_counter() - t0) * 1e3:6.1f} ms")
            _alive.append(jm)
            fns[label] = ctypes.CFUNCTYPE(None, *_ARGTYPES)(jm.address(name))
        for m, n, k, ta, tb, sdt in SHAPES:
            if sdt != dt or m * n * k > 600**3:
                continue
            rng = np.random.default_rng(0)
            a = rng.random((k, m) if ta else (m, k)).astype(NP_DTYPES[dt])
            b = rng.random((n, k) if tb else (k, n)).astype(NP_DTYPES[dt])
            c = np.empty((m, n), NP_DTYPES[dt])
            args = (ta, tb, m, n, k, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1],
                    c.ctypes.data, n)
            times = {lb: best_time(lambda f=f: f(*args), budget) for lb, f in fns.items()}  # noqa: B023  (called in this iteration)
            print(f"  {m}x{k} @ {k}x{n} t{ta}{tb}: " + ", ".join(
                f"{lb} {t * 1e3:.3f} ms" for lb, t in times.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=0.5, help="seconds per measurement")
    ap.add_argument("--compile", action="store_true",
                    help="only compare the runtime library built with and without O3")
    args = ap.parse_args()
    if args.compile:
        compile_section(args.budget)
        return

    lib = blas.find_blas()
    threads = OpenBlasThreads(lib) if lib is not None else None
    print(f"host: {llvm.get_host_cpu_name()}, {os.cpu_count()} CPUs; BLAS: {blas.blas_info()}")
    if threads is not None:
        print(f"OpenBLAS core: {threads.core}, threads: {threads.get()}; "
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    fns = {(dt, use): compile_gemm(dt, use) for dt in NP_DTYPES
           for use in ((True, False) if lib is not None else (False,))}
    default_threads = threads.get() if threads is not None else 1

    head = (f"{'shape':<30} {'np.matmul':>10} {'tj blas':>10} {'np 1t':>10} {'tj blas 1t':>10} "
            f"{'builtin':>10} {'GFLOP/s':>8} {'builtin/blas1t':>14}")
    print(head)
    print("-" * len(head))
    for shape in SHAPES:
        row = measure(shape, fns, threads, default_threads, args.budget)
        m, n, k, ta, tb, dt = shape

        def ms(key: str, row: dict[str, float] = row) -> str:
            return f"{row[key] * 1e3:9.3f}m" if key in row else f"{'-':>10}"

        label = f"{m}x{k} @ {k}x{n} {dt}" + (f" t{ta}{tb}" if ta or tb else "")
        gflops = 2 * m * n * k / row["builtin"] / 1e9
        ratio = f"{row['builtin'] / row['blas1']:14.2f}" if "blas1" in row else f"{'-':>14}"
        print(f"{label:<30} {ms('np')} {ms('blas')} {ms('np1')} {ms('blas1')} "
              f"{ms('builtin')} {gflops:8.1f} {ratio}")
    print("times in ms, best mean of 5 runs: wall clock for the multi-threaded columns, CPU\n"
          "time of the calling thread for the single-threaded ones (1t, builtin); GFLOP/s of\n"
          "the builtin kernel")


if __name__ == "__main__":
    main()
