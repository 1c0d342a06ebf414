#!/usr/bin/env python3
"""Where tracejit's time goes on the benchmark workloads (benchmarks/bench.py).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_tracejit.py \\
        [w1] [w2] [w3] [w5] [--cprofile]

Sections (all by default):

  w1  a call's Python dispatch, layer by layer: the whole `f(x)`, the executable alone,
      a native no-op called through ctypes the same way, `np.empty`, wrapping the result
  w2  native time against the memory and math floors; the optimized IR (instructions,
      fusion plan), whether the hot loops are vector code and call no scalar libm
  w3  native time against the BLAS floor of its matrix products (NumPy's own matmul of
      the same shapes); the optimized IR; where the matrix products go
  w5  the first call in a fresh process split into trace, IR optimization, lowering and
      LLVM (parse / O3 / machine code), with an empty and then a filled disk cache;
      `llvm_on_compile_threads` is the LLVM work of compile threads (codegen/llvmthreads:
      a medium module's first part, missing runtime libraries), beside the caller's own
  w5work  the work of W5's first call with an empty disk cache, job by job: each LLVM
      job's CPU time in the call and compiled again alone (one after the other, same
      process), the libraries' IR built in Python, the caller's own Python; then the
      same LLVM jobs again, all at once on threads as the call runs them and on as many
      threads as CPUs; and the wall time two CPUs could reach at best. Its processes
      run with TRACEJIT_PREFETCH=off, so that the call does all of that work (by default
      the import starts the runtime libraries, codegen/runtime.py `prefetch`)

Times are medians over repeats; "cpu" columns are this thread's CPU time
(`time.thread_time`), which other processes' load disturbs much less than wall time.
It uses tracejit's internals (Concrete, Executable, codegen.plan) for the breakdown; a
probe that no longer matches the code says so and goes on.
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import ctypes
import gc
import io
import json
import os
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench


def timeit(fn: Callable[[], Any], min_time: float = 0.2, repeats: int = 7
           ) -> tuple[float, float]:
    """(median wall, median thread-CPU) seconds per call over `repeats` samples."""
    n = bench.calibrate(fn, target_s=min_time / repeats)
    walls, cpus = [], []
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            c0, t0 = time.thread_time(), time.perf_counter()
            for _ in range(n):
                fn()
            walls.append((time.perf_counter() - t0) / n)
            cpus.append((time.thread_time() - c0) / n)
    finally:
        gc.enable()
    return statistics.median(walls), statistics.median(cpus)


def us(s: float) -> str:
    return f"{s * 1e6:9.3f} us"


def ms(s: float) -> str:
    return f"{s * 1e3:8.3f} ms"


def line(label: str, t: tuple[float, float], fmt: Callable[[float], str] = us) -> None:
    print(f"  {label:<58} wall {fmt(t[0])}   cpu {fmt(t[1])}")


def prim_histogram(text: str) -> str:
    prims = re.findall(r"= ([a-z_0-9]+)\(", text)
    c = collections.Counter(prims)
    return ", ".join(f"{k} {v}" for k, v in c.most_common())


def ir_facts(tj: Any, f: Any, args: list[Any]) -> dict[str, Any]:
    """Counts from the optimized IR, the fusion plan, the optimized LLVM IR and assembly."""
    low = f.lower(*args)
    facts: dict[str, Any] = {}
    trace = low.as_text("trace")
    opt = low.as_text("opt")
    facts["trace_instrs"] = len(re.findall(r"^\s+%\S+ = ", trace, re.MULTILINE))
    facts["opt_instrs"] = len(re.findall(r"^\s+%\S+ = ", opt, re.MULTILINE))
    facts["opt_prims"] = prim_histogram(opt)
    try:
        from tracejit.codegen.inline import inline_calls
        from tracejit.codegen.fusion import make_plan
        from tracejit.codegen.plan import KernelTask, LoopTask
        plan = make_plan(inline_calls(low.concrete.opt_fn))
        loops = [t for t in plan.tasks if isinstance(t, LoopTask)]
        kernels = [t for t in plan.tasks if isinstance(t, KernelTask)]
        facts["plan"] = (f"{len(plan.tasks)} tasks: {len(loops)} fused loop nests "
                         f"(shapes {[t.shape for t in loops]}), {len(kernels)} kernels "
                         f"({collections.Counter(t.instr.prim for t in kernels)}); "
                         f"{len(plan.scratch)} scratch buffers, "
                         f"{sum(v.type.nbytes for v in plan.scratch) / 2**20:.2f} MiB")
    except Exception as e:  # noqa: BLE001  (internals move; report and go on)
        facts["plan"] = f"n/a ({type(e).__name__}: {e})"
    llvm_ir = low.as_text("llvm")
    asm = low.as_text("asm")
    facts["llvm_lines"] = llvm_ir.count("\n")
    facts["llvm_vector_types"] = dict(collections.Counter(
        re.findall(r"<(\d+ x (?:float|double|i32|i64|i1))>", llvm_ir)).most_common(6))
    calls = re.findall(r"call [^@]*@([\w.$]+)", llvm_ir)
    facts["llvm_calls"] = dict(collections.Counter(calls).most_common(12))
    ins = [ln.split()[0] for ln in asm.splitlines()
           if ln.startswith("\t") and not ln.strip().startswith(".")]
    facts["asm_instructions"] = len(ins)
    facts["asm_zmm_instr"] = sum(1 for ln in asm.splitlines() if "zmm" in ln)
    facts["asm_ymm_instr"] = sum(1 for ln in asm.splitlines() if "ymm" in ln)
    facts["asm_xmm_scalar_ss"] = sum(1 for x in ins if x.endswith("ss") and x.startswith("v"))
    facts["asm_calls"] = dict(collections.Counter(
        re.findall(r"\tcall[q]?\s+(\S+)", asm)).most_common(12))
    return facts


def print_facts(facts: dict[str, Any]) -> None:
    for k, v in facts.items():
        print(f"  {k:<20} {v}")


# ----------------------------------------------------------------------------------- W1

def native_noop() -> tuple[Any, Any]:
    """`i32 f(i8*) { ret 0 }` JIT-compiled, with a ctypes prototype like tracejit's."""
    import llvmlite.binding as llvm
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    text = ('define i32 @noop(i8* %p) {\n  ret i32 0\n}\n')
    mod = llvm.parse_assembly(text)
    tm = llvm.Target.from_default_triple().create_target_machine()
    ee = llvm.create_mcjit_compiler(mod, tm)
    ee.finalize_object()
    proto = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)
    return proto(ee.get_function_address("noop")), ee


def w1(opts: argparse.Namespace) -> None:
    import tracejit as tj
    d = bench.make_data()
    print("\n== W1: call of x * 2 + 1 on f32[1], dispatch layer by layer")
    f = bench.tj_w1(tj)
    x = tj.constant(d["w1_x"])
    xa = d["w1_x"].copy()
    f(x)
    f(xa)
    conc = f.get_concrete_function(x)
    exe = conc.executable()
    rows: list[tuple[str, Callable[[], Any]]] = [
        ("f(x), x = tj.constant   (the W1 row)", lambda: f(x)),
        ("f(a), a = np.ndarray", lambda: f(xa)),
    ]
    try:
        leaves = [x]
        conc.call(leaves)
        rows.append(("Concrete.call([x])  (after the signature lookup)",
                     lambda: conc.call(leaves)))
    except Exception as e:  # noqa: BLE001
        print(f"  Concrete.call: n/a ({e})")
    rows.append(("Executable(a)  (outputs allocated, native call)", lambda: exe(xa)))
    T = tj.Tensor

    def minimal(x):
        # The least a Python dispatcher on top of the Executable does: unwrap, call,
        # wrap the result without touching its flags.
        return T(exe(x._data)[0])
    minimal(x)
    rows.append(("minimal dispatch: T(exe(x._data)[0])", lambda: minimal(x)))
    noop, _keep = native_noop()
    status = np.zeros(3, np.int64)
    out = np.empty(1, np.float32)
    rows += [
        ("native no-op via ctypes, tuple built per call",
         lambda: noop(id((xa, out, status, np.ndarray)))),
        ("np.empty((1,), float32)", lambda: np.empty((1,), np.float32)),
        ("x * 2 + 1 on the ndarray (NumPy)", lambda: xa * 2 + 1),
    ]
    wrap = getattr(tj.Tensor, "_wrap", None)
    if wrap is not None:
        rows.append(("Tensor._wrap(ndarray)", lambda: wrap(out)))
    try:
        from tracejit.compile import _fast_key
        rows.append(("_fast_key((x,))  (signature key)", lambda: _fast_key((x,))))
    except ImportError:
        pass
    try:
        from tracejit.ir.core import current_interpreter
        rows.append(("current_interpreter()", current_interpreter))
    except ImportError:
        pass
    try:
        from tracejit.context import active_tapes
        rows.append(("active_tapes.get()", active_tapes.get))
    except ImportError:
        pass
    res = {}
    for label, fn in rows:
        res[label] = timeit(fn, min_time=0.3, repeats=9)
        line(label, res[label])
    if opts.cprofile:
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(100_000):
            f(x)
        pr.disable()
        s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(12)
        print("  cProfile of 100,000 calls of f(x) (tottime; cProfile adds ~0.3 us per "
              "function call):")
        print("\n".join("    " + ln for ln in s.getvalue().splitlines()[4:24]))
    print("  optimized IR:")
    print("\n".join("    " + ln for ln in f.lower(x).as_text("opt").splitlines()))
    facts = ir_facts(tj, f, [x])
    print(f"  asm instructions in the module: {facts['asm_instructions']}")


# ----------------------------------------------------------------------------------- W2

def w2(opts: argparse.Namespace) -> None:
    import tracejit as tj
    d = bench.make_data()
    x = d["w2_x"]
    n = x.size
    print("\n== W2: value and gradient of sum(tanh(x)*exp(-x*x) + sin(x)**2), 1M f32")
    f = tj.compile(bench.tj_w2(tj))
    tx = tj.constant(x)
    f(tx)
    exe = f.get_concrete_function(tx).executable()
    res = {}
    res["f"] = timeit(lambda: f(tx), 1.0, 15)
    line("tracejit f(x)  (the W2 row)", res["f"], ms)
    res["exe"] = timeit(lambda: exe(x), 1.0, 15)
    line("Executable(x) alone", res["exe"], ms)
    print(f"  -> {res['exe'][1] / n * 1e9:.2f} ns CPU per element")
    for label, fn in (("tracejit f(x)", lambda: f(tx)),
                      ("hand-written NumPy", lambda: bench.w2_numpy(x))):
        fn()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(20):
            fn()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        print(f"  {label:<24} per call: {(r1.ru_minflt - r0.ru_minflt) / 20:7.0f} minor page "
              f"faults, user {(r1.ru_utime - r0.ru_utime) / 20 * 1e3:6.2f} ms, system "
              f"{(r1.ru_stime - r0.ru_stime) / 20 * 1e3:6.2f} ms")
    dst = np.empty_like(x)
    res["copy"] = timeit(lambda: np.copyto(dst, x), 0.5, 15)
    line("floor: np.copyto 4 MB (read x, write grad once)", res["copy"], ms)
    res["sum"] = timeit(lambda: np.sum(x), 0.5, 15)
    line("floor: np.sum(x)  (one read pass)", res["sum"], ms)
    res["numpy"] = timeit(lambda: bench.w2_numpy(x), 1.0, 15)
    line("hand-written NumPy (the 3x target is a third of this)", res["numpy"], ms)
    for name, fn in (("np.tanh", np.tanh), ("np.exp", np.exp), ("np.sin", np.sin),
                     ("np.cos", np.cos)):
        res[name] = timeit(lambda fn=fn: fn(x), 0.3, 9)
        line(f"  NumPy {name} alone", res[name], ms)
    print(f"  target: <= {res['numpy'][0] / 3 * 1e3:.2f} ms wall (NumPy / 3)")
    facts = ir_facts(tj, f, [tx])
    print_facts(facts)
    if opts.show_ir:
        print(f.lower(tx).as_text("opt"))
    print("  pieces, each compiled alone (1M f32 in; a 1M result written unless summed):")
    ones = tj.constant(np.ones_like(x))
    pieces = [
        ("reduce_sum(x)", lambda x, y: tj.reduce_sum(x), None),
        ("x * 2  (read + write, no math)", lambda x, y: x * 2, lambda: x * 2),
        ("tanh(x)", lambda x, y: tj.tanh(x), lambda: np.tanh(x)),
        ("exp(-x * x)", lambda x, y: tj.exp(-x * x), lambda: np.exp(-x * x)),
        ("sin(x)", lambda x, y: tj.sin(x), lambda: np.sin(x)),
        ("cos(x)", lambda x, y: tj.cos(x), lambda: np.cos(x)),
        ("x ** y, y a tensor of ones (general pow)", lambda x, y: x ** y,
         lambda: np.power(x, np.ones_like(x))),
        ("forward only: reduce_sum(tanh*exp + sin**2)",
         lambda x, y: tj.reduce_sum(tj.tanh(x) * tj.exp(-x * x) + tj.sin(x) ** 2), None),
    ]
    for label, fn, npfn in pieces:
        g = tj.compile(fn)
        g(tx, ones)
        t = timeit(lambda g=g: g(tx, ones), 0.5, 9)
        extra = ""
        if npfn is not None:
            tn = timeit(npfn, 0.5, 9)
            extra = f"   NumPy cpu {tn[1] * 1e9 / n:5.2f} ns/elt"
        print(f"    {label:<46} cpu {t[1] * 1e9 / n:6.2f} ns/elt (wall {t[0] * 1e3:6.2f} ms)"
              f"{extra}")


# ----------------------------------------------------------------------------------- W3

def w3(opts: argparse.Namespace) -> None:
    import tracejit as tj
    d = bench.make_data()
    print("\n== W3: MLP loss and gradients, batch 128, 784-256-10")
    f = tj.compile(bench.tj_w3(tj))
    args = bench.w3_tj_args(tj, d)
    f(*args)
    exe = f.get_concrete_function(*args).executable()
    arrays = [a.numpy() for a in args]
    res = {}
    res["f"] = timeit(lambda: f(*args), 1.0, 15)
    line("tracejit f(*args)  (the W3 row)", res["f"], us)
    res["exe"] = timeit(lambda: exe(*arrays), 1.0, 15)
    line("Executable(*arrays) alone", res["exe"], us)
    fv, _ = bench.tj_w3_variables(tj, d["w3_params"])
    fv = tj.compile(fv)
    X, Y = args[4], args[5]
    fv(X, Y)
    res["fvar"] = timeit(lambda: fv(X, Y), 1.0, 15)
    line("tracejit, parameters as Variables", res["fvar"], us)
    W1, b1, W2, _b2 = d["w3_params"]
    Xa = d["w3_X"]
    h = np.tanh(Xa @ W1 + b1)
    dl = np.ones((bench.BATCH, bench.D_OUT), np.float32)
    dz = np.ones((bench.BATCH, bench.D_HID), np.float32)
    gemms = [("X @ W1      128x784 @ 784x256", lambda: Xa @ W1),
             ("X.T @ dz    784x128 @ 128x256", lambda: Xa.T @ dz),
             ("h @ W2      128x256 @ 256x10", lambda: h @ W2),
             ("h.T @ dl    256x128 @ 128x10", lambda: h.T @ dl),
             ("dl @ W2.T   128x10 @ 10x256", lambda: dl @ W2.T)]
    tot = [0.0, 0.0]
    for name, fn in gemms:
        t = timeit(fn, 0.3, 9)
        tot[0] += t[0]
        tot[1] += t[1]
        line(f"  NumPy matmul {name}", t, us)
    line("BLAS floor: the 5 products above, NumPy", tuple(tot), us)  # type: ignore[arg-type]
    p = d["w3_params"]
    res["numpy"] = timeit(lambda: bench.w3_numpy(p, Xa, d["w3_y"]), 1.0, 15)
    line("hand-written NumPy forward + backward", res["numpy"], us)
    try:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1):
            line("  the same, BLAS limited to 1 thread: tracejit Executable",
                 timeit(lambda: exe(*arrays), 1.0, 15), us)
            line("  the same, BLAS limited to 1 thread: NumPy hand-written",
                 timeit(lambda: bench.w3_numpy(p, Xa, d["w3_y"]), 1.0, 15), us)
            t1 = [0.0, 0.0]
            for _name, fn in gemms:
                t = timeit(fn, 0.2, 7)
                t1[0] += t[0]
                t1[1] += t[1]
            line("  the same, BLAS limited to 1 thread: BLAS floor", tuple(t1), us)  # type: ignore[arg-type]
    except ImportError:
        print("  (threadpoolctl not installed: no single-thread comparison)")
    print("  the 5 products compiled alone by tracejit (its matmul lowering, same shapes):")
    def tT(a):
        return tj.constant(np.ascontiguousarray(a))
    prods = [("X @ W1", lambda a, b: tj.matmul(a, b), Xa, W1),
             ("X.T @ dz", lambda a, b: tj.matmul(a, b, transpose_a=True), Xa, dz),
             ("h @ W2", lambda a, b: tj.matmul(a, b), h, W2),
             ("h.T @ dl", lambda a, b: tj.matmul(a, b, transpose_a=True), h, dl),
             ("dl @ W2.T", lambda a, b: tj.matmul(a, b, transpose_b=True), dl, W2)]
    tot = [0.0, 0.0]
    for name, fn, a, b in prods:
        g = tj.compile(fn)
        ta, tb = tT(a), tT(b)
        g(ta, tb)
        t = timeit(lambda g=g, ta=ta, tb=tb: g(ta, tb), 0.3, 9)
        tot[0] += t[0]
        tot[1] += t[1]
        line(f"  tracejit matmul {name}", t, us)
    line("sum of the 5 tracejit products (each with its own call overhead)", tuple(tot), us)  # type: ignore[arg-type]
    try:
        from tracejit.codegen import blas
        print(f"  tracejit BLAS: use_blas() = {blas.use_blas()}, {blas.blas_info()}")
    except Exception as e:  # noqa: BLE001
        print(f"  tracejit BLAS: n/a ({e})")
    facts = ir_facts(tj, f, args)
    print_facts(facts)
    if opts.show_ir:
        print(f.lower(*args).as_text("opt"))
    if opts.cprofile:
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(300):
            f(*args)
        pr.disable()
        s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(8)
        print("\n".join("    " + ln for ln in s.getvalue().splitlines()[4:18]))


# ----------------------------------------------------------------------------------- W5

W5_CHILD = r'''
import json, os, sys, time
t0 = time.perf_counter()
import numpy as np
sys.path.insert(0, HERE)
import bench
d = bench.make_data()
t_np = time.perf_counter() - t0
t0 = time.perf_counter()
import tracejit as tj
t_import = time.perf_counter() - t0
T = {}
def wrap(mod, name, key):
    orig = getattr(mod, name)
    def timed(*a, **k):
        t, c = time.perf_counter(), time.thread_time()
        try:
            return orig(*a, **k)
        finally:
            T[key] = T.get(key, 0.0) + time.perf_counter() - t
            T[key + " (cpu)"] = T.get(key + " (cpu)", 0.0) + time.thread_time() - c
    setattr(mod, name, timed)
import tracejit.ir.passes as passes
import tracejit.codegen as cg
from tracejit.codegen import engine
import tracejit.executables as tje
import tracejit.tracing as tjt
wrap(passes, "optimize", "ir_optimize")
wrap(tjt, "trace", "trace_total")
wrap(tje, "native", "native_total")
if hasattr(tje, "cached"):        # code found by the traced Function (no IR passes)
    wrap(tje, "cached", "load_by_trace_total")
import tracejit.codegen.objcache as oc
import tracejit.codegen.runtime as rt
import tracejit.ir.printer as pr
wrap(oc, "environment", "cache_key_environment")
wrap(pr, "print_function", "print_ir_for_key")
wrap(rt, "ensure", "runtime_libraries_load")
for name, key in (("build_module", "lower_to_llvmlite"),):
    if hasattr(cg, name):
        wrap(cg, name, key)
for name, key in (("_parse", "llvm_parse_verify"), ("_optimize", "llvm_O3"),
                  ("jit", "llvm_jit_total"), ("load_object", "load_cached_object")):
    if hasattr(engine, name):
        wrap(engine, name, key)
try:
    from tracejit.codegen import llvmthreads     # parts and libraries compiled on threads
    wrap(llvmthreads, "compile_part", "llvm_on_compile_threads")
except ImportError:
    pass
if hasattr(cg, "objcache"):
    wrap(cg.objcache, "load", "disk_cache_lookup")
    wrap(cg.objcache, "store", "disk_cache_store")
f = tj.compile(bench.tj_w3(tj))
args = bench.w3_tj_args(tj, d)
t0, c0 = time.perf_counter(), time.thread_time()
f(*args)
first = time.perf_counter() - t0
T["first_call (cpu)"] = time.thread_time() - c0
later = []
for _ in range(3):
    t0 = time.perf_counter()
    f(*args)
    later.append(time.perf_counter() - t0)
T["first_call"] = first
T["calls_2_3_4"] = later
T["import_tracejit"] = t_import
print("PROFILE " + json.dumps(T))
'''


def w5_run(cache_dir: str) -> dict[str, Any]:
    env = dict(os.environ, TRACEJIT_CACHE_DIR=cache_dir, **bench.bytecode_env())
    src = W5_CHILD.replace("HERE", repr(HERE))
    cp = subprocess.run([sys.executable, "-c", src], env=env, capture_output=True, text=True,
                        timeout=600, check=False)
    lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("PROFILE ")]
    if not lines:
        raise RuntimeError(cp.stderr[-2000:])
    return json.loads(lines[-1][8:])


def w5(opts: argparse.Namespace) -> None:
    print("\n== W5: first call of W3 in a fresh process, split (median of "
          f"{opts.w5_runs} processes; seconds)")
    with tempfile.TemporaryDirectory() as root:
        for label, warm in (("cold (empty TRACEJIT_CACHE_DIR)", False),
                            ("warm (filled by the cold run)", True)):
            runs = []
            for i in range(opts.w5_runs):
                cdir = os.path.join(root, "warm" if warm else f"cold{i}")
                runs.append(w5_run(cdir))
                if not warm and i == 0:
                    w5_run(os.path.join(root, "warm"))      # fill the warm directory
            keys = sorted({k for r in runs for k in r
                           if k != "calls_2_3_4" and not k.endswith(" (cpu)")},
                          key=lambda k: -statistics.median(r.get(k, 0.0) for r in runs))
            print(f"  {label}:  {'wall':>9}  {'thread cpu':>10}")
            for k in keys:
                wall = statistics.median(r.get(k, 0.0) for r in runs) * 1e3
                cpu = [r[k + " (cpu)"] for r in runs if k + " (cpu)" in r]
                cpu_s = f"{statistics.median(cpu) * 1e3:7.1f} ms" if cpu else ""
                print(f"    {k:<24} {wall:7.1f} ms  {cpu_s:>10}")
            later = [statistics.median(r["calls_2_3_4"][i] for r in runs) for i in range(3)]
            print(f"    {'calls 2, 3, 4':<24} " + ", ".join(f"{t * 1e3:.2f} ms" for t in later))
    if opts.cprofile:
        with tempfile.TemporaryDirectory() as cdir:
            src = ("import cProfile, pstats, sys; sys.path.insert(0, HERE); import bench; "
                   "d = bench.make_data(); import tracejit as tj; "
                   "f = tj.compile(bench.tj_w3(tj)); a = bench.w3_tj_args(tj, d); "
                   "cProfile.run('f(*a)', sort='cumtime')").replace("HERE", repr(HERE))
            cp = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True,
                                env=dict(os.environ, TRACEJIT_CACHE_DIR=cdir,
                                         **bench.bytecode_env()), check=False,
                                timeout=600)
            print("  cProfile of the cold first call (cumulative, top 30):")
            print("\n".join("    " + ln for ln in cp.stdout.splitlines()[:38]))


W5WORK_CHILD = r'''
import json, os, resource, sys, threading, time
sys.path.insert(0, HERE)
import bench
d = bench.make_data()
import tracejit as tj
from tracejit.codegen import engine, llvmjob, llvmthreads, runtime_build
levels, jobs, lib_ir = {}, [], []
make_tm = llvmjob.target_machine
def target_machine(*a, **k):
    tm = make_tm(*a, **k)
    levels[id(tm)] = k.get("level", a[3] if len(a) > 3 else 3)
    return tm
llvmjob.target_machine = target_machine
compile_module = llvmjob.compile_module
def recorded(text, tm, optimize_=True, slp=True, *a, **k):
    c = time.thread_time()
    try:
        return compile_module(text, tm, optimize_, slp, *a, **k)
    finally:
        jobs.append({"chars": len(text), "optimize": bool(optimize_), "slp": bool(slp),
                     "level": levels.get(id(tm), 3), "caller": threading.current_thread()
                     is threading.main_thread(), "cpu": time.thread_time() - c, "text": text})
llvmjob.compile_module = recorded
library_ir = runtime_build.library_ir
def timed_ir(*a, **k):
    c = time.thread_time()
    try:
        return library_ir(*a, **k)
    finally:
        lib_ir.append(time.thread_time() - c)
runtime_build.library_ir = timed_ir
f = tj.compile(bench.tj_w3(tj))
args = bench.w3_tj_args(tj, d)
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0, c0 = time.perf_counter(), time.thread_time()
f(*args)
wall, caller = time.perf_counter() - t0, time.thread_time() - c0
r1 = resource.getrusage(resource.RUSAGE_SELF)
process = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
llvmjob.compile_module = compile_module
tm = {lv: make_tm(*(engine.host_info()[k] for k in ("triple", "cpu", "features")), level=lv)
      for lv in {j["level"] for j in jobs}}
for j in jobs:               # each job again, alone: the best of two
    best = None
    for _ in range(2):
        c = time.thread_time()
        compile_module(j["text"], tm[j["level"]], j["optimize"], j["slp"])
        best = min(best or 1e9, time.thread_time() - c)
    j["alone"] = best
header = engine.job_header()
replayed = [j for j in jobs if j["level"] == 3]
def at_once(lanes):
    """The level-3 jobs on `lanes` threads (None: one thread each), largest first."""
    todo = sorted(replayed, key=lambda j: -j["alone"])
    lock = threading.Lock()
    def lane():
        while True:
            with lock:
                if not todo:
                    return
                j = todo.pop(0)
            llvmthreads.compile_part(j["text"], dict(header, optimize=j["optimize"],
                                                     slp=j["slp"]))
    n = len(todo) if lanes is None else lanes
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    ts = [threading.Thread(target=lane) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter() - t0, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
llvmthreads.gate()
out = {"wall": wall, "caller": caller, "process": process, "lib_ir": lib_ir,
       "jobs": [{k: v for k, v in j.items() if k != "text"} for j in jobs],
       "replayed_alone": sum(j["alone"] for j in replayed), "cpus": os.cpu_count(),
       "one_thread_each": at_once(None), "one_lane": at_once(1), "two_lanes": at_once(2)}
print("WORK " + json.dumps(out))
'''


def w5work(opts: argparse.Namespace) -> None:
    print("\n== W5's first call with an empty disk cache: its work, job by job (ms of CPU "
          "unless said)")
    src = W5WORK_CHILD.replace("HERE", repr(HERE))
    for run in range(opts.w5_runs):
        with tempfile.TemporaryDirectory() as cdir:
            cp = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True,
                                env=dict(os.environ, TRACEJIT_CACHE_DIR=cdir,
                                         TRACEJIT_PREFETCH="off", **bench.bytecode_env()),
                                check=False, timeout=600)
        lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("WORK ")]
        if not lines:
            print(f"  run {run + 1}: failed: {cp.stderr[-400:]}")
            continue
        r = json.loads(lines[-1][5:])
        jobs = r["jobs"]
        caller_llvm = sum(j["cpu"] for j in jobs if j["caller"])
        python = r["caller"] - caller_llvm
        alone = sum(j["alone"] for j in jobs)
        print(f"  run {run + 1}: first call {r['wall'] * 1e3:.1f} ms wall; process CPU "
              f"{r['process'] * 1e3:.1f} (caller {r['caller'] * 1e3:.1f}, of it Python "
              f"{python * 1e3:.1f})")
        for j in jobs:
            kind = "O3 + code" if j["optimize"] else "code only"
            print(f"    {'caller' if j['caller'] else 'thread':<6} {kind:<9} level {j['level']} "
                  f"{j['chars']:>6} chars: {j['cpu'] * 1e3:5.1f} in the call, "
                  f"{j['alone'] * 1e3:5.1f} alone")
        print(f"    libraries' IR in Python: {sum(r['lib_ir']) * 1e3:.1f}")
        serial = python + sum(r["lib_ir"]) + alone
        print(f"    all of it, one job after another: {serial * 1e3:.1f} "
              f"(LLVM {alone * 1e3:.1f}); two CPUs at best: {serial / 2 * 1e3:.1f} ms wall")
        for label, key in (("one thread each (as the call)", "one_thread_each"),
                           ("one thread", "one_lane"), ("two threads", "two_lanes")):
            w, c = r[key]
            print(f"    the level-3 LLVM jobs again ({r['replayed_alone'] * 1e3:.1f} alone), "
                  f"{label}: {w * 1e3:.1f} ms wall, {c * 1e3:.1f} CPU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sections", nargs="*", type=str.lower,
                    help="w1 w2 w3 w5 w5work (any case; all when none is named)")
    ap.add_argument("--cprofile", action="store_true", help="add cProfile listings")
    ap.add_argument("--show-ir", action="store_true", help="print the optimized IR of W2/W3")
    ap.add_argument("--w5-runs", type=int, default=3)
    opts = ap.parse_args()
    sections = {"w1": w1, "w2": w2, "w3": w3, "w5": w5, "w5work": w5work}
    unknown = [s for s in opts.sections if s not in sections]
    if unknown:
        ap.error(f"unknown section(s) {', '.join(unknown)}; choose from w1 w2 w3 w5 w5work")
    print(f"load average {os.getloadavg()}")
    try:
        for s in opts.sections or list(sections):
            sections[s](opts)
    finally:
        for d in bench._PYCACHE:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
