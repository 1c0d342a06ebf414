"""`tj.compile`: tracing, caching per shape/dtype/static value, Variables by reference,
tapes inside compiled code, differentiability of compiled calls under eager tapes, the
debugging switch, inspection stages, threads, and the examples."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import tracejit as tj
from tracejit.ir.prims import all_primitives

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))


def test_tutorial_compiled_and_eager_agree(capsys: pytest.CaptureFixture[str]) -> None:
    import tutorial
    tutorial.run(compiled=False)
    eager = capsys.readouterr().out.split("\n", 2)[2]
    tutorial.run(compiled=True)
    compiled = capsys.readouterr().out.split("\n", 2)[2]
    assert eager == compiled


def test_tutorial_script_both_ways() -> None:
    for env in ({}, {"TRACEJIT_DISABLE_JIT": "1"}):
        r = subprocess.run([sys.executable, str(ROOT / "examples" / "tutorial.py")],
                           capture_output=True, text=True, timeout=300,
                           env={**os.environ, **env})
        assert r.returncode == 0, r.stderr
        assert "7. speed = 0.0  acceleration = 9.8" in r.stdout


def test_static_arguments_retrace_once_per_value() -> None:
    import tutorial
    g = tj.function(tutorial.grad)
    x = tj.convert_to_tensor(2.0)
    assert [g(x, 6).numpy(), g(x, 5).numpy(), g(x, 4).numpy()] == [12.0, 12.0, 4.0]
    assert g.trace_count == 3
    g(x, 6), g(x, 5), g(tj.constant(3.0), 4)
    assert g.trace_count == 3


def test_new_shape_retraces_known_shape_does_not() -> None:
    f = tj.compile(lambda x: tj.reduce_sum(x * x))
    f(np.ones(3, np.float32))
    f(np.zeros(3, np.float32))
    assert f.trace_count == 1
    assert float(f(np.ones(4, np.float32))) == 4.0
    assert f.trace_count == 2
    f(np.ones(4, np.float64))
    assert f.trace_count == 3


def test_retrace_warning_names_the_argument() -> None:
    f = tj.compile(lambda x, n: x * n)
    x = np.ones(2, np.float32)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for n in range(7):
            f(x, float(n))
    msgs = [str(m.message) for m in w if "traced" in str(m.message)]
    assert msgs and "n: the Python value 3.0 -> the Python value 4.0" in msgs[0]


def _retrace_warnings(calls: list[float]) -> list[int]:
    """The call numbers (from 1) at which a compiled function warned about retracing."""
    ns: dict[str, object] = {}
    # A function of its own code: the warning counts calls per Python function code.
    exec(f"def f(x, n):\n    return x * n * {len(calls)} * {sum(calls)}", ns)  # noqa: S102
    f = tj.compile(ns["f"])
    x = np.ones(2, np.float32)
    warned = []
    for i, n in enumerate(calls, 1):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            f(x, n)
        if any("traced it" in str(m.message) for m in w):
            warned.append(i)
    return warned


def test_retrace_warning_at_tensorflows_threshold() -> None:
    # Measured with TensorFlow 2.21: a warning when the traces of the last 10 calls, with
    # the trace before them, number 5 (the first trace counts); at most two per function.
    assert _retrace_warnings([1.0, 2.0, 3.0, 4.0]) == []
    assert _retrace_warnings([1.0, 2.0, 3.0, 4.0, 5.0]) == [5]
    assert _retrace_warnings([float(n) for n in range(1, 20)]) == [5, 6]
    assert _retrace_warnings([1.0] * 3 + [2.0] * 3 + [3.0] * 3 + [4.0] * 3 + [5.0]) == [13]
    assert _retrace_warnings([1.0] * 4 + [2.0] * 3 + [3.0] * 3 + [4.0] * 3 + [5.0]) == [14]
    spread = [1.0] * 3 + [2.0] * 3 + [3.0] * 3 + [4.0] * 3 + [5.0] * 3 + [6.0]
    assert _retrace_warnings(spread) == [13, 16]
    assert _retrace_warnings([1.0] * 5 + [2.0] * 5 + [3.0] * 5 + [4.0] * 5 + [5.0]) == []


def test_retrace_warning_for_compiled_functions_made_in_a_loop() -> None:
    ns: dict[str, object] = {}
    exec("def g(x):\n    return x * 2.0 + 0.125", ns)  # noqa: S102
    warned = []
    for i in range(1, 8):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            tj.compile(ns["g"])(np.ones(2, np.float32))
        if any("traced it" in str(m.message) for m in w):
            warned.append(i)
    assert warned == [5, 6]   # as TensorFlow 2.21


def test_variables_are_read_by_reference() -> None:
    v = tj.Variable(1.0)
    f = tj.compile(lambda: v * 2.0)
    assert float(f()) == 2.0
    v.assign(3.0)
    assert float(f()) == 6.0
    assert f.trace_count == 1


def test_assign_in_program_order() -> None:
    v = tj.Variable([1.0, 2.0])

    @tj.compile
    def step(d):
        before = v * 1.0
        v.assign_add(d)
        after = v * 10.0
        v.assign_sub(tj.ones_like(d))
        return before, after

    b, a = step(tj.constant([1.0, 1.0]))
    np.testing.assert_array_equal(b.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(a.numpy(), [20.0, 30.0])
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    step(tj.constant([5.0, 5.0]))
    np.testing.assert_array_equal(v.numpy(), [5.0, 6.0])


def test_captured_tensors_are_parameters_not_literals() -> None:
    big = tj.constant(np.arange(1000, dtype=np.float32))
    f = tj.compile(lambda x: x + big)
    low = f.lower(np.ones(1000, np.float32))
    assert low.as_text("opt").startswith("func @<lambda>") or "capture" in low.as_text("opt")
    assert "999.0" not in low.as_text("llvm")
    assert len(low.concrete.opt_fn.params) == 2
    np.testing.assert_array_equal(f(np.ones(1000, np.float32)).numpy(), np.arange(1000) + 1)


def test_nested_structures_in_and_out() -> None:
    @tj.compile
    def f(d, pair):
        a, b = pair
        return {"s": d["x"] + a, "list": [b * 2.0, "static", None]}

    out = f({"x": np.ones(2, np.float32)}, (tj.constant([1.0, 2.0]), tj.constant(3.0)))
    np.testing.assert_array_equal(out["s"].numpy(), [2.0, 3.0])
    assert float(out["list"][0]) == 6.0 and out["list"][1:] == ["static", None]


def test_jacobian_inside_compiled_matches_eager() -> None:
    def jac(x):
        with tj.GradientTape() as t:
            t.watch(x)
            y = tj.sin(x) * tj.reduce_sum(x * x)
        return t.jacobian(y, x)
    x = tj.constant(np.linspace(-1, 1, 5))
    np.testing.assert_allclose(tj.compile(jac)(x).numpy(), jac(x).numpy(), rtol=1e-12)


def test_compiled_call_is_differentiable_to_second_order() -> None:
    w = tj.Variable(np.array([0.5, -1.0, 2.0]))

    @tj.compile
    def loss(x):
        return tj.reduce_sum(tj.tanh(x * w) ** 2)

    def eager_loss(x):
        return tj.reduce_sum(tj.tanh(x * w) ** 2)

    x = tj.constant(np.array([0.3, 0.2, -0.1]))
    for fn in (loss, eager_loss):
        with tj.GradientTape() as outer:
            outer.watch(x)
            with tj.GradientTape() as inner:
                inner.watch(x)
                y = fn(x)
            gx, gw = inner.gradient(y, [x, w])
        hx = outer.gradient(gx, x)
        if fn is loss:
            got = (y.numpy(), gx.numpy(), gw.numpy(), hx.numpy())
        else:
            want = (y.numpy(), gx.numpy(), gw.numpy(), hx.numpy())
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_run_functions_eagerly_switch() -> None:
    seen = []

    @tj.compile
    def f(x):
        seen.append(tj.executing_eagerly())
        return x * 2.0

    f(tj.constant(1.0))
    tj.config.run_functions_eagerly(True)
    try:
        assert float(f(tj.constant(1.0))) == 2.0
    finally:
        tj.config.run_functions_eagerly(False)
    assert seen == [False, True]


def test_lower_stages() -> None:
    import tutorial
    f = tj.function(tutorial.falling_apple)
    low = f.lower(tj.Variable(0.0))
    assert low.as_text("trace").startswith("func @falling_apple(")
    assert low.as_text("grad").count("func @grad(") == 2
    assert "9.8" in low.as_text("opt")  # x**0 folded: the acceleration is a constant
    assert "define" in low.as_text("llvm")
    assert low.as_text("asm").strip()
    g = tj.compile(lambda x: x + 1.0)
    with pytest.raises(ValueError, match="--grad"):
        g.lower(tj.constant(1.0)).as_text("grad")
    with pytest.raises(ValueError, match="unknown stage"):
        g.lower(tj.constant(1.0)).as_text("bogus")


def test_elementwise_loop_is_vectorized() -> None:
    f = tj.compile(lambda x, y: tj.exp(x) * y + 1.0)
    x = np.ones(1000, np.float32)
    ir = f.lower(x, x).as_text("llvm")
    assert "<16 x float>" in ir or "<8 x float>" in ir


def test_one_native_call_and_no_numpy_reference_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    def f(x):
        with tj.GradientTape() as t:
            t.watch(x)
            y = tj.reduce_sum(tj.tanh(x) ** 2)
        return y, t.gradient(y, x)
    cf = tj.compile(f)
    x = np.linspace(-1, 1, 7).astype(np.float32)
    cf(x)  # compile
    calls = {"impl": 0}
    for p in all_primitives().values():
        orig = p.impl

        def counting(*a, _orig=orig, **k):
            calls["impl"] += 1
            return _orig(*a, **k)
        monkeypatch.setattr(p, "impl", counting)
    exe = cf.lower(x).concrete.executable()
    n = {"native": 0}
    orig_call = type(exe).__call__

    def counted(self, *a):
        n["native"] += 1
        return orig_call(self, *a)
    monkeypatch.setattr(type(exe), "__call__", counted)
    cf(x)
    assert calls["impl"] == 0 and n["native"] == 1


def test_data_dependent_python_if_explains() -> None:
    @tj.compile
    def f(x):
        if x > 0:
            return x
        return -x
    with pytest.raises(tj.TracingError, match="tj.where"):
        f(tj.constant(1.0))


def test_shape_error_inside_compiled_names_user_line() -> None:
    @tj.compile
    def f(a, b):
        return a + b  # the line the error must name
    with pytest.raises(ValueError) as e:
        f(np.ones(3, np.float32), np.ones(4, np.float32))
    assert "(3,)" in str(e.value) and "(4,)" in str(e.value)
    assert "test_compile.py" in str(e.value) and "a + b" in str(e.value)


def test_threads_compile_once_per_key() -> None:
    f = tj.compile(lambda x: tj.reduce_sum(tj.sin(x) * x))
    errors = []

    def work(i: int) -> None:
        try:
            for k in range(20):
                n = 3 + (i + k) % 4
                x = np.linspace(0, 1, n).astype(np.float32)
                got = float(f(x))
                want = float(np.sum(np.sin(x) * x))
                if abs(got - want) > 1e-5:
                    errors.append((n, got, want))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert f.trace_count == 4


def test_linear_regression_example_converges() -> None:
    import linear_regression as lr
    lr.w.assign(np.zeros_like(lr.TRUE_W))
    lr.b.assign(0.0)
    lr.train(300, verbose=False)
    np.testing.assert_allclose(lr.w.numpy(), lr.TRUE_W, atol=5e-3)
    assert abs(float(lr.b.numpy()) - lr.TRUE_B) < 5e-3
    assert lr.train_step.trace_count == 1


def test_newton_example_converges() -> None:
    import newton
    x = newton.newton_cg(np.zeros(4), verbose=False)
    np.testing.assert_allclose(x, np.ones(4), atol=1e-8)


def test_traced_jacobian_size_does_not_grow_with_outputs() -> None:
    def hess(x):
        with tj.GradientTape() as t2:
            t2.watch(x)
            with tj.GradientTape() as t1:
                t1.watch(x)
                y = tj.reduce_sum(x ** 3 * tj.sin(x))
            g = t1.gradient(y, x)
        return t2.jacobian(g, x)
    sizes = []
    for n in (10, 1000):
        x = np.linspace(0.1, 1.0, n)
        low = tj.compile(hess).lower(x)
        sizes.append(len(low.concrete.trace_fn.instrs))
        if n == 10:
            xs = x
            want = np.diag(6 * xs * np.sin(xs) + 6 * xs**2 * np.cos(xs) - xs**3 * np.sin(xs))
            np.testing.assert_allclose(tj.compile(hess)(x).numpy(), want, rtol=1e-10,
                                       atol=1e-12)
    assert sizes[0] == sizes[1]


def test_native_code_runs_without_the_gil() -> None:
    import time
    f = tj.compile(lambda x: tj.reduce_sum(tj.sin(x) * tj.cos(x) + tj.exp(-x * x)))
    x = np.linspace(0, 1, 4_000_000, dtype=np.float64)
    f(x)
    t0 = time.perf_counter()
    for _ in range(3):
        f(x)
    per_call = (time.perf_counter() - t0) / 3
    reps = max(1, int(0.3 / max(per_call, 1e-4)))
    big = np.tile(x, reps)  # one native call of about 0.3 s
    f(big)
    stamps: list[float] = []
    stop = threading.Event()

    def other() -> None:
        while not stop.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0.001)
    th = threading.Thread(target=other)
    th.start()
    time.sleep(0.02)
    start = time.perf_counter()
    f(big)
    end = time.perf_counter()
    stop.set()
    th.join()
    inside = [s for s in stamps if start + 0.25 * (end - start) < s < end - 0.25 * (end - start)]
    assert end - start > 0.05 and len(inside) >= 3, (end - start, len(inside))


def test_fast_path_with_static_and_dynamic_arguments_mixed() -> None:
    f = tj.compile(lambda k, x, s: x * k + s)
    x = np.arange(3, dtype=np.float32)
    for _ in range(3):  # first call traces, later ones take the fast path
        np.testing.assert_array_equal(f(2.0, x, tj.constant(1.0)).numpy(), x * 2 + 1)
    np.testing.assert_array_equal(f(3.0, x, tj.constant(1.0)).numpy(), x * 3 + 1)
    assert f.trace_count == 2
