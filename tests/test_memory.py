"""Memory stays bounded: repeated calls allocate nothing that lives on, evicted traces
free their native code, and many distinct compilations keep resident memory bounded.

Resident-set measurements run in a fresh subprocess so the rest of the suite does not
disturb them. The bound on compilations is the one the project holds to: 1,000 distinct
compilations after the first hundred grow RSS by under 10 MiB, that is 10 KiB each (the
suite compiles 300 and holds them to the same 10 KiB each; measured about 2.5 KiB each,
most of it llvmlite's `PassInstrumentationCallbacks`, which it never frees, 1.5 KiB a
module). Before O3 pipelines were freed explicitly they kept about 108 KiB each.
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest

import tracejit as tj

SCRIPT = textwrap.dedent("""
    import gc, os, sys, warnings
    import numpy as np
    import tracejit as tj
    warnings.simplefilter("ignore")

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    x = np.ones(64, np.float32)
    g = tj.compile(lambda x: tj.reduce_sum(tj.tanh(x) * 2.0))
    for _ in range(2000):
        g(x)
    gc.collect(); a = rss_mb()
    for _ in range(10000):
        g(x)
    gc.collect(); b = rss_mb()

    def compile_distinct(i):
        # a new function each time (its own trace, IR and machine code), then dropped
        def h(x):
            return tj.tanh(x * float(i)) + 1.0
        f = tj.compile(h)
        assert abs(float(f(x).numpy()[0]) - (np.tanh(np.float32(i)) + 1.0)) < 1e-5

    for i in range(100):
        compile_distinct(i)
    gc.collect(); c = rss_mb()
    n = int(sys.argv[1])
    for i in range(100, 100 + n):
        compile_distinct(i)
    gc.collect(); d = rss_mb()
    print(b - a, (d - c) * 1024 / n)
""")


def test_calls_and_compilations_keep_memory_bounded() -> None:
    env = {**os.environ, "TRACEJIT_CACHE": "0"}
    r = subprocess.run([sys.executable, "-c", SCRIPT, "300"], capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    call_growth_mb, kb_per_compile = map(float, r.stdout.split())
    assert call_growth_mb < 1.0, f"10,000 calls grew RSS by {call_growth_mb:.2f} MiB"
    # 10 MiB per 1,000 compilations (python -c "$SCRIPT" 1000 measured 2.4 MiB)
    assert kb_per_compile < 10, f"{kb_per_compile:.1f} KiB per compilation"


def test_evicted_traces_free_their_native_code() -> None:
    compile_module = sys.modules["tracejit.compile"]
    f = tj.compile(lambda x, k: x * k)
    x = np.ones(4, np.float32)
    f(x, 0.0)
    first = next(iter(f._cache.values()))
    exe_ref = weakref.ref(first.executable())
    del first
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(1, compile_module.CACHE_SIZE + 2):
                f(x, float(i))
    gc.collect()
    assert len(f._cache) <= compile_module.CACHE_SIZE
    assert exe_ref() is None, "an evicted trace kept its executable alive"


def test_the_o3_pipeline_frees_its_native_memory() -> None:
    # Bytes malloc holds after 40 O3 runs over distinct modules: the pipeline of each
    # run is freed (llvmlite 0.50's ModulePassManager.close() alone frees nothing, about
    # 108 KiB a module); what remains is llvmlite's 1.5 KiB per PassBuilder.
    import ctypes
    import llvmlite.binding as llvm
    from tracejit.codegen import engine, llvmjob
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        pytest.skip("needs glibc's mallinfo2")

    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks "
                    "keepcost".split()]
    mallinfo2.restype = Info

    def in_use() -> int:
        info = mallinfo2()
        return info.uordblks + info.hblkhd

    def optimize(i: int) -> None:
        text = (f"define double @f{i}(double %x) {{\n  %y = fmul double %x, {i}.0\n"
                f"  %z = fadd double %y, 1.0\n  ret double %z\n}}\n")
        with engine.LLVM_LOCK:
            ctx = llvm.create_context()
            mod = engine._parse(text, ctx)
            llvmjob.optimize(mod, engine.host_machine())
            mod.close()
            ctx.close()

    for i in range(10):
        optimize(i)
    gc.collect()
    before = in_use()
    n = 40
    for i in range(10, 10 + n):
        optimize(i)
    gc.collect()
    per_module = (in_use() - before) / n / 1024
    assert per_module < 8, f"{per_module:.1f} KiB of native memory kept per O3 run"
