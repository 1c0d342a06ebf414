"""Memory stays bounded: repeated calls allocate nothing that lives on, evicted traces
free their native code, and many distinct compilations keep resident memory bounded.

Resident-set measurements run in a fresh subprocess so the rest of the suite does not
disturb them. LLVM's new pass manager, as wrapped by llvmlite, keeps about 50-120 KB per
optimized module that no Python call can release (measured; it is independent of
tracejit), so the per-compilation bound below allows for it while still catching a
retained engine (about 2 MB each when modules were kept alive)."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import weakref

import numpy as np

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

    f = tj.compile(lambda x, k: tj.tanh(x * k) + 1.0)
    for i in range(100):
        f(x, float(i))
    gc.collect(); c = rss_mb()
    n = int(sys.argv[1])
    for i in range(100, 100 + n):
        f(x, float(i))
    gc.collect(); d = rss_mb()
    print(b - a, (d - c) * 1024 / n)
""")


def test_calls_and_compilations_keep_memory_bounded() -> None:
    env = {**os.environ, "TRACEJIT_CACHE": "0"}
    r = subprocess.run([sys.executable, "-c", SCRIPT, "300"], capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    call_growth_mb, kb_per_compile = map(float, r.stdout.split())
    assert call_growth_mb < 1.0, f"10,000 calls grew RSS by {call_growth_mb:.2f} MB"
    assert kb_per_compile < 400, f"{kb_per_compile:.0f} KB per compilation"


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
