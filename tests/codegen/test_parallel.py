"""A large Function compiles as several LLVM modules at once, in worker processes
(`codegen/parts.py`, `codegen/workers.py`): the results, the object code and the disk cache
must be what one module gives; failures in a worker surface in the caller; threads and
callers of the same signature stay safe."""
from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import numpy as np
import pytest
import tracejit as tj
from tracejit.codegen import CompileError, compile_function, engine, objcache, parts, segments
from tracejit.codegen import workers
from tracejit.ir import bind

from tests.codegen.helpers import check, fn_of

F64 = np.float64


def _steps(x: Any, n: int) -> tuple[Any, Any]:
    """n small loops (shifted differences) with sin in each: many segments, and out-of-line
    math that every part module needs its own copy of."""
    acc = x
    for _ in range(n):
        d = bind("sin", bind("sub", bind("slice", x, starts=(1,), limits=(40,), strides=(1,)),
                             bind("slice", x, starts=(0,), limits=(39,), strides=(1,))))
        x = bind("add", x, bind("mul", bind("pad", d, lo=(1,), hi=(0,), interior=(0,)),
                                bind("constant", value=np.asarray(0.01))))
        acc = bind("add", acc, bind("mul", x, x))
    return x, acc


def _big(n: int = 12, name: str = "f") -> Any:
    return fn_of([((40,), F64), ((300,), F64)],
                 lambda x, big: (*_steps(x, n), bind("exp", bind("neg", big))), name)


ARGS = [np.linspace(-1.0, 1.0, 40), np.linspace(0.0, 3.0, 300)]


@pytest.fixture
def small_parts(monkeypatch: Any) -> None:
    """Split small test programs like large ones: segments of 150 estimated instructions,
    parts from 300, one worker."""
    monkeypatch.setattr(segments, "SEGMENT_COST", 150)
    monkeypatch.setattr(parts, "PARALLEL_MIN_COST", 300)
    monkeypatch.setattr(parts, "PART_MIN_COST", 150)
    monkeypatch.setenv("TRACEJIT_COMPILE_WORKERS", "1")
    monkeypatch.setenv("TRACEJIT_CACHE", "0")


class Spy:
    """Records the jobs sent to workers and the object files linked."""

    def __init__(self, monkeypatch: Any):
        self.jobs: list[bytes] = []
        self.bundles: list[list[bytes]] = []
        submit, bundle = workers.Worker.submit, engine.bundle

        def spy_submit(w: workers.Worker, header: Any, payload: bytes) -> Any:
            self.jobs.append(payload)
            return submit(w, header, payload)

        def spy_bundle(objs: list[bytes]) -> bytes:
            self.bundles.append(list(objs))
            return bundle(objs)
        monkeypatch.setattr(workers.Worker, "submit", spy_submit)
        monkeypatch.setattr(engine, "bundle", spy_bundle)


def _digests(objs: list[bytes]) -> list[str]:
    return [hashlib.sha256(o).hexdigest()[:16] for o in objs]


def test_assign_puts_the_first_segments_in_worker_parts() -> None:
    assert parts.assign([10] * 5, 2) == [1, 1, 1, 0, 0]
    where = parts.assign([10] * 12, 4)
    assert where == sorted(where, key=lambda p: (p == 0, p)) and set(where) == {0, 1, 2, 3}
    assert parts.assign([1000, 1], 3) == [1, 0]          # an empty part is dropped
    assert parts.count(parts.THREAD_MIN_COST - 1, 10) == 1
    # A medium plan: two parts, the first compiled on a thread (`llvmthreads`).
    assert parts.count(parts.PARALLEL_MIN_COST - 1, 10) == (2 if workers.max_workers() else 1)


def test_a_large_function_compiles_in_parts_with_the_same_results(small_parts: None,
                                                                   monkeypatch: Any) -> None:
    from tracejit.codegen import fusion
    monkeypatch.setattr(fusion, "MODULE_MATH_BUDGET", 0)      # sin out of line everywhere
    spy = Spy(monkeypatch)
    fn = _big()
    exe = check(fn, ARGS, rtol=1e-14)
    # The main module, the part and the entry module (`build.py`).
    assert len(spy.jobs) == 1 and len(spy.bundles[0]) == 3
    text = exe.llvm_ir_unoptimized
    assert "; module 2 of 3" in text and "; module 3 of 3" in text
    main, rest = text.split("; module 2 of 3")
    part, entries = rest.split("; module 3 of 3")
    assert "declare i32 @\"seg0\"" in main and "define i32 @\"seg0\"" in part
    sin = "define internal double @\"tj.sin.f64\""
    assert sin in part and sin in main                  # each module has its own copy
    assert "@\"tracejit_entry_" in entries and "tracejit_entry" not in main + part
    assert "<" in exe.asm and exe.llvm_ir.count("; module") == 3


def test_object_code_is_the_same_from_a_worker_and_in_process(small_parts: None,
                                                              monkeypatch: Any) -> None:
    """Deterministic: two compiles give the same object files, and a part compiled by the
    caller (no worker free) is byte-identical to the worker's."""
    spy = Spy(monkeypatch)
    fn = _big()
    compile_function(fn, cache=False)
    compile_function(fn, cache=False)
    monkeypatch.setattr(workers, "acquire", lambda n: [])
    check(fn, ARGS, rtol=1e-14)
    assert len(spy.jobs) == 2 and spy.jobs[0] == spy.jobs[1]
    first, second, here = (_digests(b) for b in spy.bundles)
    assert first == second == here and len(first) == 3   # with the entry module


def test_parts_are_bounded_and_shared_through_a_queue(small_parts: None,
                                                      monkeypatch: Any) -> None:
    """A plan several times `PART_COST` is cut into that many parts whatever the workers;
    each part is compiled exactly once, by the worker (it takes the first as soon as it is
    lowered) or by the caller (after its main module), and the object code is the same
    as when the caller compiles every part."""
    monkeypatch.setattr(parts, "PART_COST", 300)
    spy = Spy(monkeypatch)
    here: list[str] = []
    compile_object = engine.compile_object

    def spy_compile(text: str, **kw: Any) -> bytes:
        here.append(text)
        return compile_object(text, **kw)
    monkeypatch.setattr(engine, "compile_object", spy_compile)
    fn = _big(16)
    check(fn, ARGS, rtol=1e-14)
    n = len(spy.bundles[0])
    assert n >= 4
    jobs = [j.decode() for j in spy.jobs]
    assert jobs and len(jobs) + len(here) == n                      # main + the parts
    assert len(set(jobs) | set(here)) == n                          # none twice
    monkeypatch.setattr(workers, "acquire", lambda k: [])
    check(fn, ARGS, rtol=1e-14)
    assert _digests(spy.bundles[0]) == _digests(spy.bundles[1])


def _tiny_module(name: str) -> Any:
    from llvmlite import ir as llir
    m = llir.Module(name=name)
    info = engine.host_info()
    m.triple, m.data_layout = info["triple"], info["data_layout"]
    f = llir.Function(m, llir.FunctionType(llir.IntType(32), []), name)
    llir.IRBuilder(f.append_basic_block()).ret(llir.Constant(llir.IntType(32), 7))
    return m


def test_a_worker_takes_its_next_part_while_the_caller_compiles(monkeypatch: Any) -> None:
    """A worker's reply hands it the next queued part at once, even while the caller is
    inside LLVM (holding the engine's lock) compiling a part of its own; the split of the
    work is reported in `parts.last_stats`."""
    monkeypatch.setenv("TRACEJIT_COMPILE_WORKERS", "1")
    monkeypatch.setattr(parts, "count", lambda cost, n: 3)
    spy = Spy(monkeypatch)
    p = parts.Parts("t")
    try:
        assert p.plan(10 ** 6, 10, slp=True) == 3 and len(p.workers) == 1
        with engine.LLVM_LOCK:          # as in `engine.compile_object`, for as long as it takes
            p.submit(_tiny_module("a"))
            p.submit(_tiny_module("b"))
            for _ in range(600):
                if len(spy.jobs) == 2:
                    break
                threading.Event().wait(0.05)
            assert len(spy.jobs) == 2, "the worker waited for the caller's LLVM lock"
        objs = p.objects(str(_tiny_module("main")), slp=True)
    finally:
        p.close()
    assert len(objs) == 3 and all(o.startswith(b"\x7fELF") for o in objs)
    st = parts.last_stats
    assert (st.caller_parts, st.worker_parts) == (1, 2) and st.worker_cpu >= 0.0


_RETIRED: list[Any] = []      # runtime libraries replaced by a test: their code stays alive
_CORE_IDLE = workers.core_idle


def _fresh_runtime(monkeypatch: Any, tmp_path: Any, thread: bool = False) -> str:
    """A process state in which the f64 GEMM runtime library was never loaded, with an
    empty disk cache, one worker allowed and the builtin kernel for every product. The
    thread pool, which a GEMM kernel's loading loads first, is loaded before: it is not
    the library under test. Unless `thread`, llvmlite's lock cannot be passed, so the
    library goes to a worker process (`test_llvmthreads.py` tests the thread)."""
    from tracejit.codegen import llvmthreads, runtime
    runtime.load(runtime.POOL)
    if not thread:
        monkeypatch.setattr(llvmthreads, "_installed", [False])
    monkeypatch.setenv("TRACEJIT_COMPILE_WORKERS", "1")
    monkeypatch.setenv("TRACEJIT_CACHE", "1")
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRACEJIT_BLAS", "0")
    monkeypatch.setattr(runtime, "WORKER_MIN_COST", 0)     # any module starts a worker
    monkeypatch.setattr(workers, "core_idle", lambda: True)   # however loaded the machine
    monkeypatch.setattr(runtime, "WAIT_FOR_WORKER", 120.0)   # and its reply is awaited
    name = runtime.symbol("f64")
    if name in runtime._loaded:      # code compiled before still calls the old copy
        _RETIRED.append(runtime._loaded.pop(name))
    return name


def _matmul_fn(name: str) -> Any:
    return fn_of([((5, 7), F64), ((7, 3), F64)],
                 lambda a, b: (bind("matmul", a, b, transpose_a=False, transpose_b=False),),
                 name)


MATMUL_ARGS = [np.linspace(-1.0, 1.0, 35).reshape(5, 7), np.linspace(0.0, 2.0, 21).reshape(7, 3)]


def test_the_gemm_runtime_compiles_in_a_worker_while_the_caller_goes_on(
        monkeypatch: Any, tmp_path: Any) -> None:
    """Lowering a product on the builtin kernel hands the runtime library to a worker and
    goes on; the caller loads the worker's object code, byte-identical to compiling it
    here, before the function's own code, and stores it in the disk cache."""
    from tracejit.codegen import runtime
    name = _fresh_runtime(monkeypatch, tmp_path)
    spy = Spy(monkeypatch)
    order: list[str] = []
    compile_object, load = engine.compile_object, runtime._load

    def compiled(text: str, **kw: Any) -> bytes:
        order.append("runtime here" if name + "_serial" in text else "function")
        return compile_object(text, **kw)

    def loaded(*a: Any, **kw: Any) -> Any:
        order.append("runtime loaded")
        return load(*a, **kw)
    monkeypatch.setattr(engine, "compile_object", compiled)
    monkeypatch.setattr(runtime, "_load", loaded)
    check(_matmul_fn("mm_async"), MATMUL_ARGS, rtol=1e-12)
    assert order == ["function", "function", "runtime loaded"]    # main, entry module
    assert len(spy.jobs) == 1 and name.encode() in spy.jobs[0]
    key, obj = runtime._objects[name]
    assert obj == compile_object(spy.jobs[0].decode(), optimize=False)
    assert objcache.load(key) == obj


def test_a_failed_runtime_job_is_compiled_by_the_caller(monkeypatch: Any,
                                                        tmp_path: Any) -> None:
    name = _fresh_runtime(monkeypatch, tmp_path)
    submit, compile_object = workers.Worker.submit, engine.compile_object
    sent: list[bytes] = []
    here: list[str] = []

    def broken(w: workers.Worker, header: Any, payload: bytes) -> Any:
        sent.append(payload)
        return submit(w, header, payload + b"\ndefine i32 @oops() {\n  ret float 1.0\n}\n")

    def compiled(text: str, **kw: Any) -> bytes:
        here.append(text)
        return compile_object(text, **kw)
    monkeypatch.setattr(workers.Worker, "submit", broken)
    monkeypatch.setattr(engine, "compile_object", compiled)
    check(_matmul_fn("mm_fallback"), MATMUL_ARGS, rtol=1e-12)
    assert len(sent) == 1 and [t for t in here if name + "_serial" in t] == [sent[0].decode()]


def test_the_caller_compiles_the_runtime_when_the_worker_is_late(monkeypatch: Any,
                                                                 tmp_path: Any) -> None:
    """A worker that has not replied within `WAIT_FOR_WORKER` (here: one that never
    does) does not hold the caller up: it compiles the library itself, from the same IR."""
    from concurrent.futures import Future

    from tracejit.codegen import runtime
    name = _fresh_runtime(monkeypatch, tmp_path)
    monkeypatch.setattr(runtime, "WAIT_FOR_WORKER", 0.0)
    sent: list[bytes] = []
    here: list[str] = []
    compile_object = engine.compile_object
    late: Future[Any] = Future()

    def never(w: workers.Worker, header: Any, payload: bytes) -> Any:
        sent.append(payload)
        return late

    def compiled(text: str, **kw: Any) -> bytes:
        here.append(text)
        return compile_object(text, **kw)
    monkeypatch.setattr(workers.Worker, "submit", never)
    monkeypatch.setattr(engine, "compile_object", compiled)
    try:
        check(_matmul_fn("mm_late"), MATMUL_ARGS, rtol=1e-12)
    finally:
        late.set_exception(CompileError("too late"))     # gives the worker back
    assert len(sent) == 1 and [t for t in here if name + "_serial" in t] == [sent[0].decode()]


def test_a_small_module_starts_no_worker_for_the_runtime(monkeypatch: Any,
                                                         tmp_path: Any) -> None:
    """Below `WORKER_MIN_COST` the library compiles in the caller, unless a worker is
    idle already."""
    from tracejit.codegen import runtime
    _fresh_runtime(monkeypatch, tmp_path)
    monkeypatch.setattr(runtime, "WORKER_MIN_COST", 10 ** 9)
    workers.shutdown()
    spy = Spy(monkeypatch)
    asked: list[bool] = []
    acquire = workers.acquire

    def acquiring(n: int, start: bool = True) -> list[workers.Worker]:
        asked.append(start)
        return acquire(n, start)
    monkeypatch.setattr(workers, "acquire", acquiring)
    check(_matmul_fn("mm_small"), MATMUL_ARGS, rtol=1e-12)
    assert spy.jobs == [] and asked == [False]
    _fresh_runtime(monkeypatch, tmp_path / "again")
    monkeypatch.setattr(runtime, "WORKER_MIN_COST", 10 ** 9)
    workers.release(workers.acquire(1))             # one idle worker
    check(_matmul_fn("mm_idle"), MATMUL_ARGS, rtol=1e-12)
    assert len(spy.jobs) == 1


def test_a_loaded_machine_starts_no_worker_for_the_runtime(monkeypatch: Any,
                                                           tmp_path: Any) -> None:
    """While no CPU looks idle the library compiles in the caller, whatever the size."""
    from tracejit.codegen import runtime
    _fresh_runtime(monkeypatch, tmp_path)
    monkeypatch.setattr(workers, "running_now", lambda: 64)
    monkeypatch.setattr(workers, "core_idle", _CORE_IDLE)
    assert not workers.core_idle()
    workers.shutdown()
    spy = Spy(monkeypatch)
    check(_matmul_fn("mm_loaded"), MATMUL_ARGS, rtol=1e-12)
    assert spy.jobs == [] and runtime.symbol("f64") in runtime._loaded


def test_a_core_looks_idle_by_the_threads_running_now(monkeypatch: Any) -> None:
    """Running now, this thread included: fewer others than CPUs is idle; without the
    count, the 1-minute load average decides."""
    monkeypatch.setattr(workers.cpus, "available", lambda: 2)
    for running, idle in ((1, True), (2, True), (3, False), (9, False)):
        monkeypatch.setattr(workers, "running_now", lambda r=running: r)
        assert workers.core_idle() is idle
    monkeypatch.setattr(workers, "running_now", lambda: None)
    monkeypatch.setattr(workers.os, "getloadavg", lambda: (64.0, 64.0, 64.0))
    assert not workers.core_idle()
    monkeypatch.setattr(workers.os, "getloadavg", lambda: (0.2, 3.0, 3.0))
    assert workers.core_idle()
    got = workers.running_now()
    assert got is None or got >= 1


def test_small_functions_start_no_worker(monkeypatch: Any) -> None:
    monkeypatch.setenv("TRACEJIT_COMPILE_WORKERS", "2")
    started: list[int] = []
    monkeypatch.setattr(workers, "acquire", lambda n: started.append(n) or [])
    fn = fn_of([((100,), F64)], lambda x: (bind("reduce_sum", bind("sin", x), axes=(0,)),))
    check(fn, [np.linspace(0.0, 1.0, 100)], rtol=1e-14)
    assert started == []


def test_zero_workers_compiles_one_module_in_the_caller(small_parts: None,
                                                        monkeypatch: Any) -> None:
    monkeypatch.setenv("TRACEJIT_COMPILE_WORKERS", "0")
    spy = Spy(monkeypatch)
    exe = check(_big(), ARGS, rtol=1e-14)
    assert spy.jobs == [] and len(spy.bundles[0]) == 2      # one module, the entry module
    assert exe.llvm_ir_unoptimized.count("; module") == 2
    assert "@\"seg0\"(" in exe.llvm_ir_unoptimized.split("; module 2 of 2")[0]


def test_an_llvm_error_in_a_worker_is_raised_in_the_caller(small_parts: None,
                                                           monkeypatch: Any) -> None:
    submit = workers.Worker.submit

    def broken(w: workers.Worker, header: Any, payload: bytes) -> Any:
        return submit(w, header, payload + b"\ndefine i32 @oops() {\n  ret float 1.0\n}\n")
    monkeypatch.setattr(workers.Worker, "submit", broken)
    with pytest.raises(CompileError, match=r"@f: compiling part 1 of 2 of its module in a "
                                           r"worker process failed: LLVM: .*"):
        compile_function(_big(), cache=False)
    monkeypatch.setattr(workers.Worker, "submit", submit)
    check(_big(), ARGS, rtol=1e-14)         # the worker is still usable


def test_a_worker_that_dies_is_reported_and_replaced(small_parts: None,
                                                     monkeypatch: Any) -> None:
    submit = workers.Worker.submit
    pids: list[int] = []

    def killed(w: workers.Worker, header: Any, payload: bytes) -> Any:
        pids.append(w.proc.pid)
        w.proc.kill()
        return submit(w, header, payload)
    monkeypatch.setattr(workers.Worker, "submit", killed)
    with pytest.raises(CompileError, match=r"died \(killed by SIGKILL\)"):
        compile_function(_big(), cache=False)
    monkeypatch.setattr(workers.Worker, "submit", submit)
    spy = Spy(monkeypatch)
    check(_big(), ARGS, rtol=1e-14)
    assert len(spy.jobs) == 1 and pids


def test_the_disk_cache_stores_and_loads_all_parts(small_parts: None, monkeypatch: Any,
                                                   tmp_path: Any) -> None:
    monkeypatch.setenv("TRACEJIT_CACHE", "1")
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    spy = Spy(monkeypatch)
    fn = _big(name="cached")
    check(fn, ARGS, rtol=1e-14)
    assert len(spy.jobs) == 1
    key = objcache.key_for(__import__("tracejit.ir.printer", fromlist=["x"]).print_function(fn))
    stored = objcache.load(key)
    assert stored is not None and len(engine.unbundle(stored)) == 3
    compiled: list[str] = []
    monkeypatch.setattr(engine, "compile_object", lambda *a, **k: compiled.append("x"))
    monkeypatch.setenv("TRACEJIT_COMPILE_WORKERS", "0")      # loading needs no worker
    check(fn, ARGS, rtol=1e-14)
    assert compiled == [] and len(spy.jobs) == 1


def test_a_cut_bundle_is_refused() -> None:
    data = engine.bundle([b"abc", b"defg"])
    assert engine.unbundle(data) == [b"abc", b"defg"]
    assert engine.unbundle(b"\x7fELF...") == [b"\x7fELF..."]
    with pytest.raises(ValueError):
        engine.unbundle(data[:-1])


def test_threads_compile_different_functions_at_once(small_parts: None,
                                                     monkeypatch: Any) -> None:
    """Four threads, one worker allowed: each compile gets the worker or compiles its
    parts itself; every result is right and no more workers than allowed ever live."""
    most = [0]
    acquire = workers.acquire

    def counting(n: int) -> list[workers.Worker]:
        got = acquire(n)
        most[0] = max(most[0], workers._live[0])
        return got
    monkeypatch.setattr(workers, "acquire", counting)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            check(_big(10 + i, name=f"f{i}"), ARGS, rtol=1e-14)
        except BaseException as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert most[0] == 1


def test_a_second_caller_of_the_same_signature_waits_for_the_first(small_parts: None,
                                                                   monkeypatch: Any) -> None:
    """Two threads call a new signature at once: one traces and compiles (in parts), the
    other waits for it and runs the same code."""
    import tracejit.codegen as cg
    calls: list[str] = []
    compile_fn = cg.compile_function
    entered = threading.Event()

    def slow(fn: Any, **kw: Any) -> Any:
        calls.append(fn.name)
        entered.set()
        return compile_fn(fn, **kw)
    monkeypatch.setattr(cg, "compile_function", slow)
    spy = Spy(monkeypatch)

    @tj.compile
    def chain(x: Any) -> Any:
        for _ in range(20):
            x = tj.sin(x[1:] - x[:-1]) * 1.001
            x = tj.concat([x, x[:1]], 0)
        return tj.reduce_sum(x)

    x = np.linspace(-1.0, 1.0, 40)
    out: list[float] = []
    threads = [threading.Thread(target=lambda: out.append(float(chain(x)))) for _ in range(2)]
    threads[0].start()
    entered.wait(60)
    threads[1].start()
    [t.join() for t in threads]
    assert chain.trace_count == 1 and len(calls) == 1
    assert len(spy.jobs) == 1 and out[0] == out[1]
    want = x.copy()
    for _ in range(20):
        want = np.sin(want[1:] - want[:-1]) * 1.001
        want = np.concatenate([want, want[:1]])
    np.testing.assert_allclose(out[0], want.sum(), rtol=1e-12)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_workers(small_parts: None) -> None:
    check(_big(), ARGS, rtol=1e-14)          # leaves an idle worker in this process
    pid = os.fork()
    if pid == 0:                             # the child: compile with workers of its own
        code = 1
        try:
            check(_big(11), ARGS, rtol=1e-14)
            code = 0 if workers._live[0] >= 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    check(_big(13), ARGS, rtol=1e-14)         # the parent's worker still works
