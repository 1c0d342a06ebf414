"""A medium Function compiles as two LLVM modules at once, the first on a thread of this
process past llvmlite's lock (`codegen/llvmthreads.py`, `parts.THREAD_MIN_COST`): the
results and the object code must be what the caller compiling both parts gives, other
threads must still take llvmlite's lock, and without the gate the caller compiles both."""
from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
import tracejit as tj
from llvmlite.binding import ffi
from tracejit.codegen import (CompileError, engine, llvmthreads, objcache, parts, runtime,
                              runtime_build, segments, workers)

N, D, H, C = 16, 12, 8, 3


def _step(W1: Any, b1: Any, W2: Any, b2: Any, X: Any, Y: Any) -> Any:
    """W3's training step (bench.py) on small shapes: a plan of about 2,300 estimated
    LLVM instructions, in two segments."""
    params = [W1, b1, W2, b2]
    with tj.GradientTape() as tape:
        tape.watch(params)
        h = tj.tanh(tj.matmul(X, W1) + b1)
        logits = tj.matmul(h, W2) + b2
        loss = tj.reduce_mean(tj.nn.softmax_cross_entropy_with_logits(labels=Y, logits=logits))
    return loss, tape.gradient(loss, params)


def _args() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    Y = np.eye(C, dtype=np.float32)[rng.integers(0, C, N)]
    return [rng.standard_normal(s).astype(np.float32) * 0.3
            for s in ((D, H), (H,), (H, C), (C,), (N, D))] + [Y]


def _run(monkeypatch: Any, env: dict[str, str]) -> tuple[list[np.ndarray], list[list[bytes]]]:
    """The step's outputs, compiled afresh under `env`, and the object files linked."""
    monkeypatch.setenv("TRACEJIT_CACHE", "0")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    bundles: list[list[bytes]] = []
    bundle = engine.bundle
    monkeypatch.setattr(engine, "bundle", lambda objs: bundles.append(list(objs)) or bundle(objs))
    tj.clear_caches()           # compile afresh (not from this process's own caches)
    loss, grads = tj.compile(_step)(*_args())
    return [np.asarray(loss)] + [np.asarray(g) for g in grads], bundles


@pytest.fixture
def spy_threads(monkeypatch: Any) -> list[str]:
    """The names of the threads that ran `llvmthreads.compile_part`."""
    names: list[str] = []
    run = llvmthreads.compile_part

    def spy(text: str, header: Any) -> Any:
        names.append(threading.current_thread().name)
        return run(text, header)
    monkeypatch.setattr(llvmthreads, "compile_part", spy)
    return names


def test_a_medium_function_compiles_its_first_part_on_a_thread(monkeypatch: Any,
                                                               spy_threads: list[str]) -> None:
    monkeypatch.setenv("TRACEJIT_COMPILE_WORKERS", "1")
    runtime.load("f32")         # the GEMM library is not what this test watches
    acquired: list[int] = []
    monkeypatch.setattr(workers, "acquire", lambda n, start=True: acquired.append(n) or [])
    threaded, bundles = _run(monkeypatch, {})
    assert spy_threads == ["tracejit-compile-part"] and acquired == []   # no process
    # The two parts and the entry module (`build.py`).
    assert len(bundles) == 1 and len(bundles[0]) == 3
    assert parts.last_stats.worker_parts == 1 and parts.last_stats.caller_parts == 1
    # The same segments compiled by the caller alone (no gate): identical object code.
    monkeypatch.setattr(llvmthreads, "_installed", [False])
    here, bundles_here = _run(monkeypatch, {})
    assert [o for o in bundles_here[0]] == bundles[0]
    # One module in the caller (no workers at all): the same results, bit for bit.
    single, bundles_single = _run(monkeypatch, {"TRACEJIT_COMPILE_WORKERS": "0"})
    assert len(bundles_single[0]) == 2       # one module and the entry module
    for a, b, c in zip(threaded, here, single):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    ref = _reference()
    for a, r in zip(threaded, ref):
        np.testing.assert_allclose(a, r, rtol=2e-5, atol=1e-6)


def _reference() -> list[np.ndarray]:
    W1, b1, W2, b2, X, Y = (a.astype(np.float64) for a in _args())
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = np.mean(-(Y * np.log(p)).sum(axis=1))
    dz = (p - Y) / N
    dh = dz @ W2.T * (1 - h * h)
    return [np.asarray(loss), X.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]


def test_the_segments_of_a_medium_plan_split_about_evenly(monkeypatch: Any) -> None:
    """The first segment holds about half of plan and main module (`MAIN_EXTRA_COST`)."""
    seen: list[tuple[int, list[int]]] = []
    split = segments.split

    def spy(plan: Any, *a: Any, **k: Any) -> Any:
        segs, shared = split(plan, *a, **k)
        seen.append((plan.cost, [s.cost for s in segs]))
        return segs, shared
    monkeypatch.setattr(segments, "split", spy)
    _run(monkeypatch, {"TRACEJIT_COMPILE_WORKERS": "0"})
    (cost, costs), = seen
    assert parts.THREAD_MIN_COST <= cost < parts.PARALLEL_MIN_COST
    half = (cost + segments.MAIN_EXTRA_COST) // 2
    assert len(costs) == 2 and costs[0] <= half < costs[0] + 200


def test_a_part_compiles_while_another_thread_holds_llvmlites_lock() -> None:
    """The gate lets `compile_part` past the lock; any other thread still waits for it."""
    assert llvmthreads.gate()
    text = "define i32 @f(i32 %x) {\n  %y = mul i32 %x, 3\n  ret i32 %y\n}\n"
    header = engine.job_header()
    llvmthreads.compile_part(text, header)      # a target machine ready for the thread
    got: list[Any] = []
    other: list[Any] = []
    with ffi.lib._lock:                 # as any llvmlite call in this thread holds it
        t = threading.Thread(target=lambda: got.append(llvmthreads.compile_part(text, header)))
        t.start()
        t.join(60)
        u = threading.Thread(target=lambda: other.append(ffi.lib.LLVMPY_GetVersionInfo()))
        u.start()
        u.join(0.3)
        assert got and not other and u.is_alive()     # the other thread is waiting
    u.join(60)
    assert other
    obj, warnings, cpu = got[0]
    assert obj == engine.compile_object(text) and warnings == [] and cpu >= 0.0


def test_an_llvm_error_on_the_thread_is_a_compile_error() -> None:
    header = engine.job_header()
    fut = llvmthreads.ThreadWorker().submit(header, b"define i32 @f( {")
    with pytest.raises(CompileError, match="LLVM"):
        fut.result(60)


def test_the_gemm_runtime_compiles_on_a_thread(monkeypatch: Any, tmp_path: Any) -> None:
    """With an empty disk cache and an idle CPU the library is built and compiled on a
    thread (no process started, however small the module); the caller waits for it,
    however long (`WAIT_FOR_WORKER` is for processes), and its object code is what
    compiling it here gives, stored in the disk cache; a failed job is compiled here
    instead, and so is the library while no CPU looks idle."""
    from tests.codegen.test_parallel import MATMUL_ARGS, _fresh_runtime, _matmul_fn
    from tests.codegen.helpers import check
    name = _fresh_runtime(monkeypatch, tmp_path, thread=True)
    monkeypatch.setattr(runtime, "WAIT_FOR_WORKER", 0.0)
    monkeypatch.setattr(runtime, "WORKER_MIN_COST", 10 ** 9)
    monkeypatch.setattr(workers, "acquire",        # no new process (an idle one may serve)
                        lambda n, start=True: pytest.fail("a process") if start else [])
    jobs: list[str] = []
    here: list[str] = []
    compile_part, compile_object = llvmthreads.compile_part, engine.compile_object

    def on_thread(text: str, header: Any) -> Any:
        jobs.append(text)
        time.sleep(0.3)                 # late: the caller waits all the same
        return compile_part(text, header)

    def compiled(text: str, **kw: Any) -> bytes:
        here.append(text)
        return compile_object(text, **kw)
    monkeypatch.setattr(llvmthreads, "compile_part", on_thread)
    monkeypatch.setattr(engine, "compile_object", compiled)
    check(_matmul_fn("mm_thread"), MATMUL_ARGS, rtol=1e-12)
    assert len(jobs) == 1 and name in jobs[0] and not any(name + "_serial" in t for t in here)
    key, obj = runtime._objects[name]
    assert obj == compile_object(jobs[0], optimize=False)
    assert objcache.load(key) == obj
    # A job that fails (here: its IR cannot be built) leaves the library to the caller.
    name = _fresh_runtime(monkeypatch, tmp_path / "again", thread=True)
    monkeypatch.setattr(runtime_build, "library_ir", _failing(runtime_build.library_ir))
    here.clear()
    check(_matmul_fn("mm_thread_failed"), MATMUL_ARGS, rtol=1e-12)
    assert [t for t in here if name + "_serial" in t] and name in runtime._loaded
    # While no CPU looks idle the caller compiles it itself, with no thread.
    name = _fresh_runtime(monkeypatch, tmp_path / "loaded", thread=True)
    monkeypatch.setattr(workers, "core_idle", lambda: False)
    jobs.clear()
    here.clear()
    check(_matmul_fn("mm_thread_loaded"), MATMUL_ARGS, rtol=1e-12)
    assert jobs == [] and [t for t in here if name + "_serial" in t]


def _failing(library_ir: Any) -> Any:
    """`runtime_build.library_ir` that fails on a thread (as a job's LLVM error would)."""
    def build(*a: Any) -> str:
        if threading.current_thread().name == "tracejit-compile-part":
            raise RuntimeError("no IR on this thread")
        return str(library_ir(*a))
    return build


def test_a_library_is_built_on_a_thread_while_the_caller_holds_the_engines_lock() -> None:
    """The caller holds `engine.LLVM_LOCK` while it compiles its own module: a thread
    building a library's IR (`runtime.request`) must not need it."""
    name = runtime.symbol("f32")
    info = engine.host_info()
    runtime_build.key("f32", name)      # what `request` computes before the thread starts
    built: list[str] = []
    with engine.LLVM_LOCK:
        t = threading.Thread(target=lambda: built.append(runtime_build.library_ir("f32", name,
                                                                                 info)))
        t.start()
        t.join(20)
        assert built and name in built[0]


def _medium_ir(functions: int = 40) -> str:
    """LLVM IR of `functions` small loops: tens of milliseconds of O3 and code generation,
    so that jobs on several threads overlap."""
    out = []
    for k in range(functions):
        out.append(
            f"define void @f{k}(ptr noalias %a, ptr noalias %b, i64 %n) {{\n"
            "entry:\n  br label %loop\n"
            "loop:\n  %i = phi i64 [0, %entry], [%j, %loop]\n"
            "  %p = getelementptr double, ptr %a, i64 %i\n  %x = load double, ptr %p\n"
            f"  %y = fmul double %x, {k + 1}.0\n  %z = fadd double %y, %x\n"
            "  %w = fmul double %z, %z\n"
            "  %q = getelementptr double, ptr %b, i64 %i\n  store double %w, ptr %q\n"
            "  %j = add i64 %i, 1\n  %c = icmp ult i64 %j, %n\n"
            "  br i1 %c, label %loop, label %done\n"
            "done:\n  ret void\n}\n")
    return "".join(out)


def test_a_child_forked_while_llvmlites_lock_is_held_can_call_llvm() -> None:
    """A compile thread that holds llvmlite's lock at a fork does not exist in the child:
    the child's fork handler frees the lock, and its first LLVM call returns."""
    import os
    import signal
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    import llvmlite.binding as llvm
    llvmthreads.gate()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ffi.lib._lock:
            held.set()
            release.wait(30)
    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:                            # pragma: no cover  (the child)
            signal.alarm(20)
            try:
                llvm.get_host_cpu_name()
                f = tj.compile(lambda x: x * 2.0 + 1.0)
                ok = float(np.asarray(f(np.float64(3.0)))) == 7.0
            except BaseException:
                ok = False
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        t.join()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def test_with_lock_callbacks_registered_a_job_takes_the_real_lock() -> None:
    """llvmlite promises its lock callbacks one holder at a time; with callbacks present
    (numba registers some) a compile thread does not pass the gate."""
    if not llvmthreads.gate():
        pytest.skip("llvmlite's lock is not as llvmthreads expects")
    holders: list[int] = []
    most: list[int] = [0]
    guard = threading.Lock()

    def acq() -> None:
        with guard:
            holders.append(1)
            most[0] = max(most[0], len(holders))

    def rel() -> None:
        with guard:
            holders.pop()
    header = engine.job_header()
    text = _medium_ir()
    ffi.register_lock_callback(acq, rel)
    try:
        futs = [llvmthreads.ThreadWorker().submit(header, text.encode()) for _ in range(3)]
        objs = [f.result(timeout=120)[0] for f in futs]
    finally:
        ffi.unregister_lock_callback(acq, rel)
    assert most[0] == 1 and not holders
    assert objs[0] == objs[1] == objs[2]
    assert not llvmthreads.callbacks()


def test_without_a_thread_the_job_is_compiled_by_the_caller(
        monkeypatch: Any) -> None:
    def refuse(self: Any) -> None:
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(llvmthreads.threading.Thread, "start", refuse)
    text = _medium_ir(4)
    fut = llvmthreads.ThreadWorker().submit(engine.job_header(), text.encode())
    assert fut.done() and fut.result()[0] == engine.compile_object(text)
    # A medium function still compiles (its first part on the calling thread) and is right.
    monkeypatch.setenv("TRACEJIT_CACHE", "0")
    tj.clear_caches()
    loss, grads = tj.compile(_step)(*_args())
    np.testing.assert_allclose(np.asarray(loss), _reference()[0], rtol=2e-5, atol=1e-6)


def test_a_module_collected_on_a_thread_that_cannot_take_the_lock_is_freed_later() -> None:
    """The garbage collector runs `JitModule.__del__` on whatever thread allocates: while
    another thread holds the engine's lock (a caller compiling, waiting for that thread)
    the finalizer must not wait for it, and a compile thread past llvmlite's lock must not
    free another thread's engine; the next load frees what they left."""
    import gc
    text = "define i32 @g(i32 %x) {\n  %y = add i32 %x, 1\n  ret i32 %y\n}\n"
    obj = engine.compile_object(text)
    gc.collect()
    engine.load_object(obj).close()     # nothing deferred from earlier garbage
    before = len(engine._live)
    gc.disable()
    try:
        jm = engine.load_object(obj)
        cycle: list[Any] = [jm]
        cycle.append(cycle)             # freed only by the collector
        del jm, cycle
        done: list[int] = []
        with engine.LLVM_LOCK:
            t = threading.Thread(target=lambda: done.append(gc.collect()))
            t.start()
            t.join(20)
            assert done, "the finalizer waited for the engine's lock"
        assert engine._deferred and len(engine._live) >= before + 1
        engine.load_object(obj).close()  # frees the deferred engine
        assert not engine._deferred and len(engine._live) == before
    finally:
        gc.enable()


def test_while_a_job_runs_the_switch_interval_is_short_and_restored_after() -> None:
    """A job waits for the GIL at every return from LLVM: while one runs, the caller's
    Python gives the GIL up after at most `JOB_SWITCH_INTERVAL`; the interval the first
    job found is back once the last one ends."""
    before = threading.Event()
    release = threading.Event()
    text = _medium_ir(2)
    seen: list[float] = []

    def payload() -> bytes:
        before.set()
        release.wait(20)
        seen.append(__import__("sys").getswitchinterval())
        return text.encode()

    import sys
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        jobs = [llvmthreads.ThreadWorker().submit(engine.job_header(), payload)
                for _ in range(2)]
        assert before.wait(20)
        assert sys.getswitchinterval() == pytest.approx(llvmthreads.JOB_SWITCH_INTERVAL)
        release.set()
        objs = [j.result(60)[0] for j in jobs]
        assert objs[0] == objs[1] == engine.compile_object(text)
        assert seen == [pytest.approx(llvmthreads.JOB_SWITCH_INTERVAL)] * 2
        assert sys.getswitchinterval() == pytest.approx(0.004)
    finally:
        sys.setswitchinterval(old)


def test_a_child_forked_while_a_job_runs_gets_its_switch_interval_back() -> None:
    """The parent's job does not exist in a forked child: the child starts with no job
    counted and the interval the parent's first job found, and its own jobs restore it."""
    import os
    import sys
    text = _medium_ir(2)
    started, release = threading.Event(), threading.Event()

    def payload() -> bytes:
        started.set()
        release.wait(30)
        return text.encode()

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        job = llvmthreads.ThreadWorker().submit(engine.job_header(), payload)
        assert started.wait(30)
        pid = os.fork()
        if pid == 0:        # the child: exit code 0 only if every check holds
            ok = (sys.getswitchinterval() == pytest.approx(0.004)
                  and llvmthreads._switch_state == [0, None])
            mine = llvmthreads.ThreadWorker().submit(engine.job_header(), text.encode())
            ok = ok and mine.result(60)[0] == engine.compile_object(text)
            time.sleep(0.1)
            ok = ok and sys.getswitchinterval() == pytest.approx(0.004)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        release.set()
        job.result(60)
        assert os.waitstatus_to_exitcode(status) == 0
        assert sys.getswitchinterval() == pytest.approx(0.004)
    finally:
        release.set()
        sys.setswitchinterval(old)
