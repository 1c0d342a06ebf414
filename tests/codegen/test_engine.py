"""The engine's object loading: linking without code generation, the permanent engine."""
from __future__ import annotations

import ctypes
import uuid

import pytest

from tracejit.codegen import engine, runtime


def _function(name: str, body: str = "%y = mul i64 %x, 3\n  ret i64 %y",
              extra: str = "") -> bytes:
    """The object code of `i64 name(i64 x)` (with `body`), plus `extra` declarations."""
    return engine.compile_object(f"{extra}\ndefine i64 @{name}(i64 %x) {{\n  {body}\n}}\n")


def _call(jm: engine.JitModule, name: str, x: int) -> int:
    return int(ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(jm.address(name))(x))


def _unique(stem: str) -> str:
    # The permanent engine lives as long as the test process: every name is new.
    return f"{stem}_{uuid.uuid4().hex}"


def test_a_loaded_bundle_links_its_objects_to_each_other() -> None:
    f, g = _unique("f"), _unique("g")
    first = _function(f)
    second = _function(g, f"%y = call i64 @{f}(i64 %x)\n  %z = add i64 %y, 1\n  ret i64 %z",
                       extra=f"declare i64 @{f}(i64)")
    for objs in ([first, second], [second, first]):
        jm = engine.load_object(engine.bundle(objs))
        assert _call(jm, f, 5) == 15 and _call(jm, g, 5) == 16
        jm.close()


def test_engines_are_separate_unless_permanent() -> None:
    f = _unique("f")
    a, b = engine.load_object(_function(f)), engine.load_object(_function(f))
    assert a._engine is not b._engine and _call(a, f, 2) == _call(b, f, 2) == 6
    a.close()
    assert _call(b, f, 4) == 12          # closing one engine leaves the other's code alone
    b.close()
    with pytest.raises(AssertionError, match="closed"):
        b.address(f)


def test_permanent_code_shares_one_engine_and_outlives_close() -> None:
    f, g = _unique("f"), _unique("g")
    jf = engine.load_object(_function(f), permanent=True)
    jg = engine.load_object(_function(g, f"%y = call i64 @{f}(i64 %x)\n  ret i64 %y",
                                      extra=f"declare i64 @{f}(i64)"), permanent=True)
    assert jf._engine is jg._engine is engine._state["permanent"]
    addr = jf.address(f)
    jf.close()                           # a handle goes; the code stays
    assert int(ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(addr)(7)) == 21
    assert _call(jg, g, 7) == 21


def test_the_runtime_libraries_share_the_permanent_engine() -> None:
    runtime.load("f32")                  # loads the pool first
    gemm, pool = runtime._loaded[runtime.symbol("f32")], runtime._loaded[runtime.pool_symbol()]
    assert gemm._engine is pool._engine is engine._state["permanent"]


def test_the_key_names_the_host_data_layout_without_its_target_machine() -> None:
    assert engine.host_info(machine=False) == engine.host_info()


def test_the_host_features_are_llvms_flattened_map() -> None:
    """The feature string code is compiled for (and every cache key carries) is what
    `FeatureMap.flatten()` gives, with 512-bit vectors preferred where AVX-512 is."""
    import llvmlite.binding as llvm
    want = llvm.get_host_cpu_features().flatten()
    if "+avx512f" in want.split(","):
        want += ",-prefer-256-bit"
    assert engine.host_info(machine=False)["features"] == want


def test_an_engine_llvmlite_refuses_to_dispose_does_not_fail_the_free() -> None:
    """`_free` of an engine whose `close` raises (llvmlite's handle already detached)
    keeps the engine and its context and returns: a load or close freeing deferred
    engines never fails because of one."""
    from tracejit.codegen import engine as eng

    class Refusing:
        def close(self) -> None:
            raise TypeError("Don't know how to convert parameter 1")

    key = -12345
    engine = Refusing()
    context = object()          # never closed: the engine may still use it
    eng._live[key] = (engine, context)      # type: ignore[assignment]
    eng._free(key)
    assert key not in eng._live
    assert (engine, context) in eng._kept       # still referenced: never collected
    eng._kept.remove((engine, context))


def test_a_collected_module_disposes_its_engine_only_under_the_lock(monkeypatch) -> None:
    """A JitModule in a reference cycle, collected on a thread that cannot take the
    engine's lock, defers its engine to the next load; the collector must not dispose
    that engine itself (llvmlite's own finalizer, run on the collecting thread without
    the lock, raced the deferred free: "Exception ignored in ObjectRef.__del__ ... Don't
    know how to convert parameter 1", or a double free). Every disposal happens under
    the lock, exactly once, and the next load frees what was deferred."""
    import gc
    import threading

    import llvmlite.binding as llvm
    disposals: list[tuple[int, bool]] = []
    real = llvm.ExecutionEngine._dispose

    def dispose(self: llvm.ExecutionEngine) -> None:
        disposals.append((id(self), engine.LLVM_LOCK._is_owned()))   # type: ignore[attr-defined]
        real(self)

    monkeypatch.setattr(llvm.ExecutionEngine, "_dispose", dispose)
    obj = _function(_unique("f"))
    gc.collect()
    engine.load_object(obj).close()     # nothing deferred from earlier garbage
    disposals.clear()
    gc.disable()
    try:
        jm = engine.load_object(obj)
        ee = id(jm._engine)
        cycle: list[object] = [jm]
        cycle.append(cycle)             # freed only by the collector
        del jm, cycle
        with engine.LLVM_LOCK:
            t = threading.Thread(target=gc.collect)
            t.start()
            t.join(20)
            assert not t.is_alive()
        assert engine._deferred
        assert disposals == [], "the collector disposed an engine without the lock"
        engine.load_object(obj).close()     # frees the deferred engine, then its own
        assert not engine._deferred
        assert [d for d in disposals if d[0] == ee] == [(ee, True)]
        assert all(locked for _, locked in disposals)
    finally:
        gc.enable()
