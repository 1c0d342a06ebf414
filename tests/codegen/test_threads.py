"""Large fused loops run in chunks on the native thread pool (`codegen/threads.py`,
`codegen/lower_parallel.py`): every chunk runs exactly once, results are bit-identical
for any thread count, many Python threads may call threaded code at once, small loops
never touch the pool, and code from the disk cache follows the thread count of the
process that runs it."""
from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from llvmlite import ir

import tracejit as tj
from tracejit.codegen import build_module, compile_function, engine, runtime
from tracejit.codegen.call import ABI
from tracejit.codegen.loops import for_range
from tracejit.codegen.lower_parallel import (CHUNK_ELEMENTS, MAX_CHUNKS, PAR_MIN_ELEMENTS,
                                             partition)
from tracejit.codegen.threads import CHUNK_FN
from tracejit.codegen.accumulate import SUM_BLOCK
from tracejit.ir import bind

from tests.codegen.helpers import RTOL_MATH, check, fn_of

BIG = PAR_MIN_ELEMENTS + 12_345          # split into chunks; not a multiple of anything


@contextlib.contextmanager
def pool_threads(n: int) -> Iterator[None]:
    old = runtime.set_pool_threads(n)
    try:
        yield
    finally:
        runtime.set_pool_threads(old)


def _c(v: float, dtype: type) -> object:
    return bind("constant", value=np.asarray(v, dtype))


def test_partition_depends_on_the_shape_only() -> None:
    assert partition((PAR_MIN_ELEMENTS - 1,), True) is None
    dim, rows, chunks = partition((1_000_003,), True)       # type: ignore[misc]
    assert dim == 0 and rows % SUM_BLOCK == 0 and rows >= CHUNK_ELEMENTS
    assert (chunks - 1) * rows < 1_000_003 <= chunks * rows
    assert partition((1, 1, 400_000), False)[0] == 2         # type: ignore[index]
    assert partition((3, 200_000), True) == (0, 1, 3)       # whole rows, never fewer than 2
    assert partition((1, 300_000), True)[0] == 1             # type: ignore[index]
    assert partition((10**8,), False)[2] <= MAX_CHUNKS       # type: ignore[index]


def _texts(fn: object) -> str:
    return str(build_module(fn, ABI)[0])


def test_only_large_loops_that_can_be_split_call_the_pool() -> None:
    sym = runtime.pool_symbol()
    small = fn_of([((1000,), np.float32)], lambda x: bind("exp", x))
    large = fn_of([((BIG,), np.float32)], lambda x: bind("exp", x))
    assert sym not in _texts(small) and sym in _texts(large)
    # A float product is multiplied in order (0 * inf = NaN otherwise): one thread.
    prod = fn_of([((BIG,), np.float64)], lambda x: bind("reduce_prod", x, axes=(0,)))
    assert sym not in _texts(prod)
    iprod = fn_of([((BIG,), np.int64)], lambda x: bind("reduce_prod", x, axes=(0,)))
    assert sym in _texts(iprod)


def _fused(x: object, y: object, dtype: type) -> tuple[object, ...]:
    """Elementwise outputs, a float sum, a max and a min of one fused loop."""
    t = bind("mul", bind("tanh", x), bind("exp", bind("neg", bind("mul", x, x))))
    s = bind("add", t, bind("mul", bind("sin", y), bind("sin", y)))
    return (s, bind("reduce_sum", s, axes=tuple(range(len(s.shape)))),
            bind("reduce_max", t, axes=tuple(range(len(t.shape)))),
            bind("reduce_min", bind("sub", s, y), axes=tuple(range(len(s.shape)))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [((1_000_003,), (1_000_003,)),
                                    ((700, 513), (513,)),        # a broadcast row
                                    ((40_001, 10), (40_001, 1))])  # short rows, flat loop
def test_results_are_bit_identical_for_one_two_three_threads(dtype: type, shapes) -> None:
    xs, ys = shapes
    fn = fn_of([(xs, dtype), (ys, dtype)], lambda x, y: _fused(x, y, dtype))
    assert runtime.pool_symbol() in _texts(fn)
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(xs) * 2).astype(dtype)
    y = (rng.standard_normal(ys) * 4).astype(dtype)
    exe = compile_function(fn, cache=False)
    outs = []
    for n in (1, 2, 3, 1, 2):
        with pool_threads(n):
            outs.append(exe(x, y))
    for got in outs[1:]:
        for a, b in zip(outs[0], got):
            assert a.tobytes() == b.tobytes()
    with pool_threads(2):
        check(fn, [x, y], rtol=RTOL_MATH[np.dtype(dtype)], atol=1e-6, exe=exe)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_row_reductions_split_by_rows_are_bit_identical(dtype: type) -> None:
    """Reductions over trailing axes compute whole rows per chunk (an inlined producer
    included); a reduction over a leading axis stays whole. All agree with the
    reference on any thread count."""
    shape = (2_001, 3, 131)

    def body(x):
        y = bind("mul", x, x)
        return (bind("reduce_sum", y, axes=(1, 2)), bind("reduce_max", x, axes=(2,)),
                bind("reduce_prod", bind("sign", x), axes=(2,)),
                bind("reduce_min", x, axes=(0,)))

    fn = fn_of([(shape, dtype)], body)
    text = _texts(fn)
    assert text.count(runtime.pool_symbol()) == 4     # declared, called for 3 of the 4
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(shape) * 50).astype(dtype)
    exe = compile_function(fn, cache=False)
    outs = []
    for n in (1, 2, 3):
        with pool_threads(n):
            outs.append(exe(x))
    for got in outs[1:]:
        assert [a.tobytes() for a in got] == [a.tobytes() for a in outs[0]]
    check(fn, [x], exe=exe)


def test_integer_sums_match_numpy_exactly_on_any_thread_count() -> None:
    fn = fn_of([((BIG,), np.int32)], lambda i: (
        bind("reduce_sum", bind("mul", i, i), axes=(0,)),
        bind("reduce_max", i, axes=(0,)), bind("reduce_prod", bind("sign", i), axes=(0,))))
    i = np.random.default_rng(3).integers(-40_000, 40_000, BIG).astype(np.int32)
    exe = compile_function(fn, cache=False)
    for n in (1, 3):
        with pool_threads(n):
            s, m, p = exe(i)
        assert s == np.sum(i * i, dtype=np.int32) and m == i.max()
        assert p == np.prod(np.sign(i), dtype=np.int32)


def test_far_trig_arguments_recompute_their_chunk_exactly() -> None:
    """A chunk whose sin arguments lie beyond the inline reduction's range runs its exact
    version; the other chunks keep the fast one; the sum sees every chunk's result."""
    x = np.linspace(-3, 3, BIG)
    x[BIG - 5] = 1e15                     # in the last chunk only
    fn = fn_of([((BIG,), np.float64)], lambda v: (
        bind("sin", v), bind("reduce_sum", bind("sin", v), axes=(0,))))
    exe = compile_function(fn, cache=False)
    with pool_threads(2):
        s, total = exe(x)
    assert s[BIG - 5] == np.sin(1e15)
    np.testing.assert_allclose(s, np.sin(x), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(total, np.sin(x).sum(), rtol=1e-12, atol=1e-9)


def _pool_probe() -> tuple[ctypes._CFuncPtr, engine.JitModule]:
    """Native `probe(out, n)`: parallel_for over n chunks; chunk i adds 1 to out[2i]
    (atomically) and writes its thread's id to out[2i+1] after ~30 us of work."""
    m = ir.Module("probe")
    info = engine.host_info()
    m.triple, m.data_layout = info["triple"], info["data_layout"]
    i64, f64 = ir.IntType(64), ir.DoubleType()
    chunk = ir.Function(m, CHUNK_FN, "chunk")
    b = ir.IRBuilder(chunk.append_basic_block())
    out = b.bitcast(chunk.args[0], i64.as_pointer())
    i = chunk.args[1]
    acc = b.alloca(f64)
    b.store(ir.Constant(f64, 0.0), acc)
    with for_range(b, 20_000) as k:         # work that O3 cannot remove
        v = b.sitofp(b.add(k, i), f64)
        b.store(b.fadd(b.load(acc, ), b.fdiv(v, b.fadd(v, ir.Constant(f64, 1.0)))), acc)
    slot = b.gep(out, [b.mul(i, ir.Constant(i64, 2))])
    b.atomic_rmw("add", slot, b.add(ir.Constant(i64, 1), b.fptosi(
        b.fmul(b.load(acc), ir.Constant(f64, 0.0)), i64)), "monotonic")
    self_id = ir.Function(m, ir.FunctionType(i64, []), "pthread_self")
    b.store(b.call(self_id, []), b.gep(slot, [ir.Constant(i64, 1)]))
    b.ret_void()
    entry = ir.Function(m, ir.FunctionType(ir.VoidType(), [i64.as_pointer(), i64]), "probe")
    b = ir.IRBuilder(entry.append_basic_block())
    b.call(runtime.declare_parallel_for(m),
           [chunk, b.bitcast(entry.args[0], ir.IntType(8).as_pointer()), entry.args[1]])
    b.ret_void()
    text = str(m)
    runtime.ensure(text)
    jm = engine.jit(text)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(jm.address("probe"))
    return fn, jm


def test_pool_runs_every_chunk_once_and_uses_its_workers() -> None:
    probe, _jm = _pool_probe()
    n = 48
    used: set[int] = set()
    deadline = time.monotonic() + 5.0
    with pool_threads(3):
        while True:
            out = np.zeros(2 * n, np.int64)
            probe(out.ctypes.data, n)
            assert (out[::2] == 1).all(), out[::2]
            used = set(out[1::2].tolist())
            if len(used) > 1 or time.monotonic() > deadline:
                break
        assert runtime.pool_workers() >= 2
    # With one thread, or another caller holding the pool, the caller runs every chunk.
    with pool_threads(1):
        out = np.zeros(2 * n, np.int64)
        probe(out.ctypes.data, n)
        assert (out[::2] == 1).all() and len(set(out[1::2].tolist())) == 1
    if len(os.sched_getaffinity(0)) > 1:
        assert len(used) > 1, "no chunk ran on a worker in 5 s"


def w2(x):
    with tj.GradientTape() as tape:
        tape.watch(x)
        y = tj.reduce_sum(tj.tanh(x) * tj.exp(-x * x) + tj.sin(x) ** 2)
    return y, tape.gradient(y, x)


def test_a_threaded_function_called_from_eight_python_threads_at_once() -> None:
    f = tj.compile(w2)
    x = np.random.default_rng(1).standard_normal(400_000).astype(np.float32)
    with pool_threads(1):
        want = [r.numpy().tobytes() for r in f(x)]
    bad: list[int] = []

    def calls(k: int) -> None:
        for _ in range(6):
            if [r.numpy().tobytes() for r in f(x)] != want:
                bad.append(k)

    with pool_threads(3):
        threads = [threading.Thread(target=calls, args=(k,), daemon=True) for k in range(8)]
        for t in threads:
            t.start()
        end = time.monotonic() + 120
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "a caller is still waiting"
    assert bad == []


PROGRAM = textwrap.dedent("""
    import hashlib, sys
    import numpy as np
    import tracejit as tj
    from tracejit.codegen import runtime

    small = tj.compile(lambda x: x * 2 + 1)
    small(np.ones(3, np.float32))
    assert runtime.pool_symbol() not in runtime._loaded, "a small call loaded the pool"

    @tj.compile
    def w2(x):
        with tj.GradientTape() as tape:
            tape.watch(x)
            y = tj.reduce_sum(tj.tanh(x) * tj.exp(-x * x) + tj.sin(x) ** 2)
        return y, tape.gradient(y, x)

    x = np.random.default_rng(2).standard_normal(300_000).astype(np.float64)
    y, g = w2(x)
    print(repr(float(y)), hashlib.sha256(g.numpy().tobytes()).hexdigest(),
          runtime.pool_threads(), runtime.pool_workers())
""")


def _run(cache: Path, threads: str) -> tuple[list[str], str]:
    # (No prefetch at import: this follows what the calls themselves load and compile.)
    env = {**os.environ, "TRACEJIT_CACHE_DIR": str(cache), "TRACEJIT_NUM_THREADS": threads,
           "TRACEJIT_PREFETCH": "off"}
    env.pop("TRACEJIT_CACHE", None)
    r = subprocess.run([sys.executable, "-c",
                        "import logging, sys; logging.basicConfig(level=logging.DEBUG, "
                        "stream=sys.stderr, format='%(message)s')\n" + PROGRAM],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.split(), r.stderr


def test_disk_cache_code_follows_the_thread_count_of_the_process_running_it(
        tmp_path: Path) -> None:
    one, _ = _run(tmp_path, "1")
    assert one[2:] == ["1", "0"]          # one thread: no worker was ever started
    three, log = _run(tmp_path, "3")
    assert "disk cache hit" in log and "with LLVM" not in log
    assert three[:2] == one[:2] and three[2] == "3" and int(three[3]) >= 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_pool() -> None:
    f = tj.compile(w2)
    x = np.random.default_rng(4).standard_normal(300_000).astype(np.float32)
    with pool_threads(2):
        want = [r.numpy().tobytes() for r in f(x)]
        assert runtime.pool_workers() >= 1
        pid = os.fork()
        if pid == 0:        # the child: its pool has no workers until it needs them
            ok = runtime.pool_workers() == 0 and \
                [r.numpy().tobytes() for r in f(x)] == want and runtime.pool_workers() >= 1
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_thread_count_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEJIT_NUM_THREADS", "1")
    assert runtime.pool_threads() == 1
    monkeypatch.setenv("TRACEJIT_NUM_THREADS", "5")
    assert runtime.pool_threads() == 5
    monkeypatch.delenv("TRACEJIT_NUM_THREADS")
    assert runtime.pool_threads() == len(os.sched_getaffinity(0))


EXIT_PROGRAM = textwrap.dedent("""
    import gc, time
    import numpy as np
    import tracejit as tj
    from tracejit.codegen import runtime

    f = tj.compile(lambda x: tj.reduce_sum(tj.exp(-x * x)))
    x = np.linspace(-2, 2, 400_000, dtype=np.float32)
    for _ in range(3):
        f(x)
    # What interpreter shutdown does to every module: drop the library (its workers are
    # still spinning in its code right after the job).
    runtime._loaded.clear()
    gc.collect()
    time.sleep(0.05)
    print("ok")
""")


def test_the_pool_code_outlives_every_reference_to_it(tmp_path: Path) -> None:
    env = {**os.environ, "TRACEJIT_CACHE_DIR": str(tmp_path), "TRACEJIT_NUM_THREADS": "2"}
    r = subprocess.run([sys.executable, "-c", EXIT_PROGRAM], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0 and r.stdout.split() == ["ok"], (r.returncode, r.stderr[-2000:])


@pytest.mark.parametrize("threads", [2, 3])
def test_jobs_of_alternating_sizes_never_run_a_chunk_twice(threads: int) -> None:
    """Jobs of 2 and 9 chunks back to back (`pool_stress.py`): a worker that read the
    ticket right after the 2-chunk job's last claim used to claim chunk 2 of the 9-chunk
    job with the old ticket, running it twice and leaving the caller waiting forever
    (found in seconds of this loop: 7 double runs in 14M rounds, or a hang)."""
    root = Path(__file__).resolve().parents[2]
    try:
        r = subprocess.run([sys.executable, "-m", "tests.codegen.pool_stress", str(threads),
                            "3"], cwd=root, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("the pool hung: a job never saw all its chunks done")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("ok "), r.stdout


_FORK_WHILE_LOADING = """
import os, sys, threading, time
from tracejit.codegen import runtime
hold = threading.Event()
release = threading.Event()
def holder():
    with runtime._lock:          # as a first library load does while it compiles
        hold.set()
        release.wait()
t = threading.Thread(target=holder, daemon=True)
t.start()
hold.wait()
pid = os.fork()
if pid == 0:
    runtime.load("f64")           # must not wait for the parent's thread
    os._exit(0)
for _ in range(300):
    p, status = os.waitpid(pid, os.WNOHANG)
    if p:
        break
    time.sleep(0.1)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("hung")
    os._exit(1)
release.set()
t.join()
print("ok" if status == 0 else f"child status {status}")
"""


def test_a_child_forked_during_a_library_load_loads_its_own() -> None:
    """A fork while another thread holds the library lock (a first load compiling): the
    child's lock starts free (it used to wait forever for a thread it does not have)."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", _FORK_WHILE_LOADING],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "ok", (r.stdout, r.stderr[-2000:])
