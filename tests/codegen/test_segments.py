"""Large plans are lowered into several functions (`codegen/segments.py`): results, bounds
errors and scratch memory must be what one function gives; small scratch lives on the
stack, in the frame of the function that uses it or, when shared, of the body."""
from __future__ import annotations

import numpy as np
import pytest
from tracejit.codegen import compile_function, segments
from tracejit.codegen.fusion import make_plan
from tracejit.ir import bind

from tests.codegen.helpers import check, fn_of

F64 = np.float64


def _steps(x, n):
    """n steps of a shifted-difference update: each step is its own small loop (the
    slices read the previous value at other indices), and every value is kept for the
    results' sum (scratch that lives across many tasks)."""
    acc = x
    for _ in range(n):
        d = bind("sub", bind("slice", x, starts=(1,), limits=(8,), strides=(1,)),
                 bind("slice", x, starts=(0,), limits=(7,), strides=(1,)))
        x = bind("add", x, bind("mul", bind("pad", d, lo=(1,), hi=(0,), interior=(0,)),
                                bind("constant", value=np.asarray(0.01))))
        acc = bind("add", acc, bind("exp", bind("neg", bind("mul", x, x))))
    return x, acc


def test_many_small_loops_split_into_functions_with_the_same_results(monkeypatch):
    monkeypatch.setattr(segments, "SEGMENT_COST", 300)
    monkeypatch.setenv("TRACEJIT_COMPILE_WORKERS", "0")     # one module (not parts.py's)
    fn = fn_of([((8,), F64), ((4000,), F64)],
               lambda x, big: (*_steps(x, 60), bind("mul", big, bind("reduce_sum", x,
                                                                      axes=(0,)))))
    plan = make_plan(fn)
    segs, shared = segments.split(plan, segments.stack_scratch(plan))
    assert len(segs) > 3 and segs[0].start == 0 and segs[-1].stop == len(plan.tasks)
    assert all(a.stop == b.start for a, b in zip(segs, segs[1:]))
    exe = check(fn, [np.linspace(0, 1, 8), np.ones(4000)])
    text = exe.llvm_ir_unoptimized
    assert text.count("define internal i32 @\"seg") == len(segs)


def test_stack_scratch_is_small_and_bounded():
    fn = fn_of([((8,), F64), ((4000,), F64)],
               lambda x, big: (*_steps(x, 5), bind("exp", bind("exp", big))))
    plan = make_plan(fn)
    stack = segments.stack_scratch(plan)
    sizes = {id(v): v.type.nbytes for v in plan.scratch}
    assert stack and all(sizes[k] <= segments.STACK_BYTES for k in stack)
    assert sum(sizes[k] for k in stack) <= segments.STACK_TOTAL


def test_index_error_in_a_later_segment_frees_scratch_and_reports(monkeypatch):
    monkeypatch.setattr(segments, "SEGMENT_COST", 200)

    def body(x, i, big):
        y, acc = _steps(x, 30)
        e = bind("exp", big)                                  # heap scratch, 2 MB
        g = bind("gather", bind("add", e, e), i, axis=0)      # checked after `e` exists
        return acc, g, bind("reduce_sum", e, axes=(0, 1))

    fn = fn_of([((8,), F64), ((3,), np.int64), ((512, 512), F64)], body)
    plan = make_plan(fn)
    assert len(segments.split(plan, segments.stack_scratch(plan))[0]) > 2
    exe = compile_function(fn)
    x, big = np.linspace(0, 1, 8), np.zeros((512, 512))

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 1e6

    for _ in range(10):
        with pytest.raises(IndexError, match="gather: index 512 is out of bounds for size 512"):
            exe(x, np.array([0, 1, 512]), big)
    before = rss_mb()
    for _ in range(200):      # 2 MB per call: a leak would show as 400 MB
        with pytest.raises(IndexError):
            exe(x, np.array([0, 1, 512]), big)
    assert rss_mb() - before < 50
    check(fn, [x, np.array([0, 1, 511]), np.full((512, 512), 0.5)], exe=exe)


def test_very_large_modules_skip_the_slp_vectorizer(monkeypatch):
    from tracejit.codegen import engine
    seen = []
    compile_object = engine.compile_object

    def spy(text, **kw):
        if kw.get("optimize", True):        # not the entry module (`build.py`)
            seen.append(kw.get("slp", True))
        return compile_object(text, **kw)

    monkeypatch.setattr(engine, "compile_object", spy)
    fn = fn_of([((8,), F64)], lambda x: _steps(x, 10))
    compile_function(fn, cache=False)
    monkeypatch.setattr(segments, "SLP_MAX_COST", 100)
    check(fn, [np.linspace(0, 1, 8)], exe=compile_function(fn, cache=False))
    assert seen == [True, False]


def test_the_plan_cost_comes_with_the_lowered_module_not_on_it():
    # `build_module` hands the plan's cost over in what it returns; llvmlite's module
    # carries only llvmlite's own attributes.
    from llvmlite import ir
    from tracejit.codegen.build import build_module
    from tracejit.codegen.call import ABI
    fn = fn_of([((8,), F64)], lambda x: _steps(x, 10))
    lowered = build_module(fn, ABI)
    assert lowered.plan_cost > 100      # what the test above lowers SLP_MAX_COST to
    assert set(vars(lowered.module)) == set(vars(ir.Module(name="fresh")))


def _function_text(text: str, name: str) -> str:
    start = text.index(f'@"{name}"(')
    start = text.rindex("\ndefine", 0, start)
    return text[start:text.index("\n}\n", start)]


def test_heap_buffers_reach_their_segments_through_entries_and_the_body_stays_small(
        monkeypatch):
    """Heap scratch that lives across segments is loaded from the slot table by a small
    entry function per segment, not in the body: the body holds a call per segment, and
    its size does not grow with the buffers live across segments (LLVM's instruction
    combining took time quadratic in the slot table's uses when the body loaded them)."""
    monkeypatch.setattr(segments, "SEGMENT_COST", 300)
    monkeypatch.setattr(segments, "STACK_BYTES", 0)        # every buffer on the heap
    monkeypatch.setenv("TRACEJIT_COMPILE_WORKERS", "0")
    sizes = []
    for n in (30, 90):
        fn = fn_of([((8,), F64)], lambda x, n=n: _steps(x, n))
        plan = make_plan(fn)
        segs, _ = segments.split(plan, segments.stack_scratch(plan))
        live = sum(len(s.live_in) for s in segs)
        exe = check(fn, [np.linspace(0, 1, 8)], exe=compile_function(fn, cache=False))
        text = exe.llvm_ir_unoptimized
        assert live > 2 * len(segs) and text.count('define internal i32 @"enter.seg') > 3
        body = _function_text(text, "body")
        # (the loads left: the exit block's loop over the slot table and the code)
        assert body.count(" call ") <= len(segs) + 4 and body.count(" = load ") <= 3
        sizes.append((len(segs), body.count("\n")))
    (s1, b1), (s2, b2) = sizes
    assert b2 / s2 <= 1.2 * b1 / s1, sizes


def test_small_buffers_beyond_the_stack_share_one_arena(monkeypatch):
    """Small scratch that does not fit the stack budget lives in one heap block per call
    at offsets fixed at compile time: buffers live at the same time never overlap, dead
    ones' bytes are reused, the code has one allocation for all of them, and results,
    across segments too, are what the interpreter gives."""
    monkeypatch.setattr(segments, "SEGMENT_COST", 300)
    monkeypatch.setattr(segments, "STACK_TOTAL", 256)         # 4 buffers of 64 bytes
    monkeypatch.setenv("TRACEJIT_COMPILE_WORKERS", "0")
    fn = fn_of([((8,), F64)], lambda x: _steps(x, 40))
    plan = make_plan(fn)
    stack = segments.stack_scratch(plan)
    offsets, size = segments.arena_scratch(plan, stack)
    small = [v for v in plan.scratch if id(v) in plan.born and id(v) not in stack]
    assert len(stack) == 4 and small and {id(v) for v in small} == set(offsets)
    spans = sorted((plan.born[id(v)], plan.dies[id(v)], offsets[id(v)]) for v in small)
    for i, (b1, d1, o1) in enumerate(spans):
        for b2, d2, o2 in spans[i + 1:]:
            if b2 <= d1:                                       # live at once
                assert abs(o1 - o2) >= 64, (b1, d1, o1, b2, d2, o2)
    assert size % 64 == 0 and size < 64 * len(small)           # bytes were reused
    segs, _ = segments.split(plan, stack, arena=offsets)
    assert len(segs) > 3 and not any(id(v) in offsets for s in segs for v in s.live_in)
    exe = check(fn, [np.linspace(0, 1, 8)], exe=compile_function(fn, cache=False))
    text = exe.llvm_ir_unoptimized
    assert text.count("call i8* @\"aligned_alloc\"") == 1, text.count("aligned_alloc")
