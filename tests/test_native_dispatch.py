"""The native dispatcher (`codegen/dispatch.py`, `tracejit/native.py`): a call of a known
signature with tensor or array arguments runs without Python, and anything else takes
the Python path with its usual meaning (conversions, copies, retracing, errors).

`f._detector.native` counts the calls the dispatcher served, so each test says which
path a call took, not only what it returned."""
from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterator

import numpy as np
import pytest

import tracejit as tj
from tracejit import native
from tracejit.compile import CompiledFunction


def native_calls(f: CompiledFunction) -> int:
    return f._detector.native.value


def warm(f: CompiledFunction, *args: object) -> None:
    """Trace, compile and fill the native table (the Python path offers it; the first
    time in a process after `native.NATIVE_AFTER` calls)."""
    for _ in range(native.NATIVE_AFTER + 2):
        f(*args)
        if f._native is not None:
            break
    assert f._native is not None, "the signature did not enter the native table"


@contextlib.contextmanager
def others_held() -> Iterator[None]:
    """Reference counts read inside are this thread's alone: other threads of the process
    (the test runner's, a finalizer's, a compile's) reference dtypes, types and None too,
    and under load a loop is slow enough for them to run between two readings. A switch
    interval longer than the loop keeps them waiting (nothing inside may block or release
    the GIL); the sleep lets a thread already waiting with the old interval go first."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    try:
        time.sleep(0.05)
        gc.collect()
        yield
    finally:
        sys.setswitchinterval(interval)


def make() -> CompiledFunction:
    @tj.function
    def f(x):
        return x * 2. + 1.
    return f


def test_the_native_path_serves_a_known_signature_and_counts_its_calls() -> None:
    f = make()
    x = tj.constant(np.arange(5, dtype=np.float32))
    warm(f, x)
    assert type(CompiledFunction.__dict__["__call__"]).__name__ == "method_descriptor"
    before, traces = native_calls(f), f.trace_count
    for _ in range(1000):
        y = f(x)
    assert native_calls(f) - before == 1000 and f.trace_count == traces
    assert type(y) is tj.Tensor and not y.is_traced
    np.testing.assert_array_equal(y.numpy(), np.arange(5, dtype=np.float32) * 2 + 1)
    assert not y.numpy().flags.writeable
    a = np.arange(5, dtype=np.float32)
    y2 = f(a)                                   # a NumPy array of the same signature
    assert native_calls(f) - before == 1001
    np.testing.assert_array_equal(y2.numpy(), y.numpy())
    assert y2.numpy() is not y.numpy() and not np.shares_memory(y2.numpy(), a)


def test_a_million_calls_keep_every_reference_count() -> None:
    f = make()
    x = tj.constant(np.ones(3, np.float32))
    a = np.ones(3, np.float32)
    warm(f, x)
    f(a)
    dt = np.dtype(np.float32)
    objs = [x, x._data, a, f, dt, tj.Tensor]
    with others_held():
        counts = [sys.getrefcount(o) for o in objs]
        nones = sys.getrefcount(None)
        before = native_calls(f)
        for _ in range(500_000):
            f(x)
            f(a)
        calls = native_calls(f) - before
        after = [sys.getrefcount(o) for o in objs]
        nones_after = sys.getrefcount(None)
    assert calls == 1_000_000
    assert after == counts
    # None is shared by everything the interpreter does; a leak here would be millions.
    assert abs(nones_after - nones) < 100
    y = f(x)
    # y: the name and the argument; its array: the tensor, the expression, the argument
    assert sys.getrefcount(y) == 2 and sys.getrefcount(y._data) == 3
    refs = weakref.ref(y), weakref.ref(y._data)
    del y
    assert refs[0]() is None and refs[1]() is None


def test_arrays_the_native_path_refuses_take_the_python_path() -> None:
    f = make()
    x = np.arange(6, dtype=np.float32)
    warm(f, x)
    strided = np.arange(12, dtype=np.float32)[::2]
    raw = np.zeros(6 * 4 + 1, np.uint8)[1:].view(np.float32)    # misaligned
    raw[:] = x
    assert not raw.flags.aligned
    big_endian = x.astype(">f4")
    ro = x.copy()
    ro.setflags(write=False)
    cases = [(strided, False), (raw, False), (big_endian, False),
             (tj.constant(x), True), (ro, True)]
    for arg, served in cases:
        n, traces = native_calls(f), f.trace_count
        want = np.asarray(arg, np.float32) * 2 + 1
        for _ in range(3):
            np.testing.assert_array_equal(f(arg).numpy(), want)
        assert (native_calls(f) - n == 3) is served, type(arg)
        assert f.trace_count == traces, "an accepted signature traced again"


def test_new_shapes_dtypes_statics_and_keywords_keep_their_python_meaning() -> None:
    @tj.function
    def g(x, k=1.):
        return x * k
    x = tj.constant(np.ones(3, np.float32))
    warm(g, x)
    n, traces = native_calls(g), g.trace_count
    assert g(tj.constant(np.ones(4, np.float32))).shape == (4,)
    assert g.trace_count == traces + 1
    assert g(tj.constant(np.ones(3, np.float64))).dtype == np.float64
    assert g.trace_count == traces + 2
    np.testing.assert_array_equal(g(x, 3.).numpy(), np.full(3, 3, np.float32))
    np.testing.assert_array_equal(g(x, k=4.).numpy(), np.full(3, 4, np.float32))
    np.testing.assert_array_equal(g(x=x).numpy(), np.ones(3, np.float32))
    assert native_calls(g) == n
    with pytest.raises(TypeError):
        g(x, 1., 2.)
    with pytest.raises(TypeError):
        g(x, nope=1)
    g(x)
    assert native_calls(g) == n + 1


def test_tapes_traces_and_eager_mode_take_the_python_path() -> None:
    f = make()
    x = tj.constant(np.arange(3, dtype=np.float32))
    warm(f, x)
    n = native_calls(f)
    with tj.GradientTape() as tape:
        tape.watch(x)
        y = tj.reduce_sum(f(x))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), np.full(3, 2, np.float32))

    @tj.function
    def outer(x):
        return f(x) + 1.
    np.testing.assert_array_equal(outer(x).numpy(), x.numpy() * 2 + 2)
    tj.config.run_functions_eagerly(True)
    try:
        np.testing.assert_array_equal(f(x).numpy(), x.numpy() * 2 + 1)
        assert f._native is None
    finally:
        tj.config.run_functions_eagerly(False)
    assert native_calls(f) == n
    warm(f, x)
    f(x)
    assert native_calls(f) == n + 1


def test_errors_in_native_code_are_raised_by_the_python_path_with_the_users_line() -> None:
    @tj.function
    def pick(params, idx):
        return tj.gather(params, idx)     # the line the error must name
    p = tj.constant(np.arange(4, dtype=np.float32))
    ok, bad = tj.constant(np.array([0, 3], np.int32)), tj.constant(np.array([0, 9], np.int32))
    warm(pick, p, ok)
    objs = [p, bad, bad._data]
    counts = [sys.getrefcount(o) for o in objs]
    n = native_calls(pick)
    for _ in range(200):
        with pytest.raises(IndexError, match="9") as info:
            pick(p, bad)
    assert "tj.gather(params, idx)" in str(info.value)
    assert native_calls(pick) == n
    del info
    assert [sys.getrefcount(o) for o in objs] == counts
    np.testing.assert_array_equal(pick(p, ok).numpy(), [0., 3.])
    assert native_calls(pick) == n + 1


def test_exceptions_of_the_python_function_pass_through() -> None:
    @tj.function
    def h(x):
        if x.shape[0] > 3:
            raise ValueError("too long")
        return x + 1.
    warm(h, np.ones(2, np.float32))
    with pytest.raises(ValueError, match="too long"):
        h(np.ones(5, np.float32))
    np.testing.assert_array_equal(h(np.ones(2, np.float32)).numpy(), [2., 2.])


def test_clearing_caches_empties_the_table_and_traces_again() -> None:
    f = make()
    x = tj.constant(np.ones(2, np.float32))
    warm(f, x)
    traces = f.trace_count
    tj.clear_caches()
    assert f._native is None
    f(x)
    assert f.trace_count == traces + 1


def test_calls_from_many_threads_at_once() -> None:
    @tj.function
    def big(x):
        return tj.reduce_sum(tj.exp(x * 1e-3), axis=0)      # releases the GIL
    small = make()
    xs = tj.constant(np.ones((256, 64), np.float32))
    x = tj.constant(np.arange(4, dtype=np.float32))
    warm(big, xs)
    warm(small, x)
    assert any(e.release_gil for e in big._native_entries.values() if e)
    want_big, want_small = big(xs).numpy(), small(x).numpy()
    n_big, n_small = native_calls(big), native_calls(small)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(300):
                np.testing.assert_array_equal(big(xs).numpy(), want_big)
                np.testing.assert_array_equal(small(x).numpy(), want_small)
        except BaseException as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert native_calls(big) - n_big == 2400 and native_calls(small) - n_small == 2400


def test_the_retrace_warning_counts_native_calls() -> None:
    f = make()
    x = tj.constant(np.ones(2, np.float32))
    warm(f, x)
    for _ in range(50):
        f(x)
    assert f._detector.calls >= 53
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in range(3, 8):              # 5 traces, 20 native calls apart: no warning
            f(tj.constant(np.ones(n, np.float32)))
            for _ in range(20):
                f(x)


def test_variables_are_read_and_assigned_natively_in_program_order() -> None:
    v = tj.Variable(np.zeros(3, np.float32))
    w = tj.Variable(np.ones(3, np.float32))
    c = tj.constant(np.full(3, 10, np.float32))

    @tj.function
    def step(x):
        v.assign_add(x)
        w.assign(w * 2. + v)            # reads v as just assigned
        return tj.reduce_sum(v + c)
    x = tj.constant(np.ones(3, np.float32))
    warm(step, x)
    v.assign(np.zeros(3, np.float32))   # assigned from outside: the next call sees it
    w.assign(np.ones(3, np.float32))
    n = native_calls(step)
    vv, ww = np.zeros(3, np.float32), np.ones(3, np.float32)
    for _ in range(50):
        old = weakref.ref(v._value)
        got = step(x)
        vv = vv + 1
        ww = ww * 2 + vv
        assert old() is None, "the replaced value was not released"
        assert float(got) == float((vv + 10).sum())
    np.testing.assert_array_equal(v.numpy(), vv)
    np.testing.assert_array_equal(w.numpy(), ww)
    assert native_calls(step) - n == 50
    with v._lock:                       # a held lock: the Python path, which takes it
        step(x)
    assert native_calls(step) - n == 50
    np.testing.assert_array_equal(v.numpy(), vv + 1)


def test_assignments_from_many_threads_lose_no_update() -> None:
    v = tj.Variable(np.zeros((), np.int64))
    big = tj.constant(np.random.default_rng(0).random(1 << 16).astype(np.float32))

    @tj.function
    def bump(x, big):
        # Long enough that another thread runs while the Python path computes.
        s = tj.reduce_sum(tj.exp(tj.sin(big)))
        v.assign_add(x + tj.cast(s > 1e30, tj.int64))
        return v + 0
    one = tj.constant(np.ones((), np.int64))
    warm(bump, one, big)
    assert bump._native_entries and all(bump._native_entries.values())
    start, n = int(v.numpy()), native_calls(bump)

    def work() -> None:
        for k in range(200):
            if k % 2:
                bump(one, big)
            else:
                bump(one, big=big)     # a keyword: the Python path, with the lock
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert int(v.numpy()) == start + 1600
    assert 0 < native_calls(bump) - n <= 800


_FIRST_CALLS = """
import threading, numpy as np, tracejit as tj
from tracejit import native
@tj.compile
def g(x):
    return x * 2.0
x = np.ones(4, np.float32)
g(x)
def work():
    for _ in range(native.NATIVE_AFTER + 50):
        assert float(g(x)[0]) == 2.0
ts = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
assert native._dispatcher() is not None
print("ok")
"""


def test_first_calls_from_four_threads_build_one_dispatcher() -> None:
    """Four threads' first calls reach the dispatcher's build at once: one is built and
    kept (two builds dropped the first one's code under a running call: a crash in 3
    of 10 processes). In fresh processes, so a crash fails this test, not the run."""
    import subprocess
    for _ in range(4):
        r = subprocess.run([sys.executable, "-c", _FIRST_CALLS], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])


def test_a_function_with_checks_is_served_natively_and_fails_on_the_python_path() -> None:
    """Its checks' results come after the result: the dispatcher releases them (no
    reference or memory kept) and a failing check falls back to the Python path, which
    raises the check's error."""
    @tj.function
    def f(x, y):
        tj.debugging.assert_less(x, y)      # the line the error must name
        return x * 2. + 1.
    x, y = tj.constant(np.arange(4, dtype=np.float32)), tj.constant(np.full(4, 9, np.float32))
    warm(f, x, y)
    objs = [x, y, x._data, y._data, f, tj.Tensor, np.dtype(np.bool_)]
    with others_held():
        counts = [sys.getrefcount(o) for o in objs]
        n = native_calls(f)
        for _ in range(100_000):
            f(x, y)
        calls = native_calls(f) - n
        after = [sys.getrefcount(o) for o in objs]
    assert calls == 100_000 and after == counts
    np.testing.assert_array_equal(f(x, y).numpy(), np.arange(4) * 2 + 1)
    bad = tj.constant(np.array([1, 2, 2, 9], np.float32))     # fails at x[2]
    n = native_calls(f)
    for _ in range(20):
        with pytest.raises(tj.errors.InvalidArgumentError, match="did not hold") as info:
            f(x, bad)
    assert "tj.debugging.assert_less(x, y)" in str(info.value)
    assert native_calls(f) == n
