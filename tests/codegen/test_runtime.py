"""The runtime libraries (`codegen/runtime.py`) as a fresh process finds them on disk:
lowering a new function `request`s the GEMM library, and every disk-cache entry it looks
at on the way (the library's own, the pool's, their joint entry) is read once, whether
the pool is requested on its own first (a CPU looks idle) or loaded with the library."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.test_cache import MATMUL, run

# Counts the disk-cache reads of the runtime libraries' entries while the program runs:
# the joint entry is removed first, so both libraries load from their own entries.
COUNT_READS = textwrap.dedent("""
    import json, sys
    from tracejit.codegen import objcache, runtime, runtime_build, runtime_pair, workers
    workers.core_idle = lambda: IDLE
    gemm, pool = runtime.symbol("f32"), runtime.pool_symbol()
    keys = {"gemm": runtime_build.key("f32", gemm), "pool": runtime_build.key("pool", pool),
            "pair": runtime_pair.key("f32", gemm)}
    objcache._path(keys["pair"]).unlink()
    reads = {k: 0 for k in keys}
    original = objcache.load
    def counted(key, *a, **kw):
        for k, v in keys.items():
            reads[k] += key == v
        return original(key, *a, **kw)
    objcache.load = counted
""")


@pytest.mark.parametrize("idle", [True, False])
def test_request_reads_each_runtime_entry_once(tmp_path: Path, idle: bool) -> None:
    env = {"TRACEJIT_BLAS": "0"}
    first = run(tmp_path, env, MATMUL)
    assert "compiling runtime library" in first.stderr
    # A function not in the disk cache (its lowering requests the library), in a process
    # whose libraries all come from their own entries.
    new = MATMUL.replace("tj.tanh(tj.matmul(x, w))", "tj.sin(tj.matmul(x, w))")
    assert new != MATMUL
    r = run(tmp_path, env, COUNT_READS.replace("IDLE", str(idle)) + new
            + "\nprint('READS', json.dumps(reads))\n")
    reads = json.loads(r.stdout.split("READS ", 1)[1])
    assert reads == {"gemm": 1, "pool": 1, "pair": 1}, r.stderr
    assert "compiling runtime library" not in r.stderr
    assert r.stderr.count("loaded from object code") == 2
    # Loaded together, the two write their joint entry again.
    assert ("disk cache (runtime libraries) store" in r.stderr) == (not idle)
