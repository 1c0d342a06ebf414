"""Fusion decisions of the plan: what is inlined, what is stored, and how loops merge.
A wrong plan is still correct code, so these tests pin the performance-relevant shape of
the plan for small, typical programs."""
from __future__ import annotations

import math

import numpy as np
from tracejit.codegen.fusion import make_plan
from tracejit.codegen.plan import KernelTask, LoopTask, format_plan
from tracejit.ir import bind

from tests.codegen.helpers import check, fn_of

F32 = np.float32


def _c(v):
    return bind("constant", value=np.asarray(v, F32))


def _plan(fn):
    return make_plan(fn)


def test_elementwise_chain_is_one_loop_without_scratch():
    fn = fn_of([((1000,), F32)] * 2,
               lambda x, y: bind("add", bind("mul", bind("exp", x), y), _c(1)))
    plan = _plan(fn)
    assert len(plan.tasks) == 1 and isinstance(plan.tasks[0], LoopTask)
    assert plan.scratch == []


def test_shared_expensive_value_fuses_into_one_multi_output_loop():
    def body(x):
        e = bind("exp", x)
        return bind("add", e, _c(1)), bind("mul", e, _c(2))

    fn = fn_of([((50, 30), F32)], body)
    plan = _plan(fn)
    assert len(plan.tasks) == 1, format_plan(plan)
    assert plan.scratch == [], format_plan(plan)        # exp stays in registers
    check(fn, [np.random.default_rng(0).standard_normal((50, 30)).astype(F32)])


def test_no_recomputation_under_broadcast():
    def body(x, row):
        e = bind("exp", row)                     # f32[30], broadcast over 50 rows
        return bind("mul", x, e)

    plan = _plan(fn_of([((50, 30), F32), ((30,), F32)], body))
    assert len(plan.scratch) == 1 and plan.scratch[0].shape == (30,), format_plan(plan)


def test_producer_fuses_into_reduction_and_softmax_shape():
    def softmax(a):
        m = bind("reduce_max", a, axes=(1,), keepdims=True)
        e = bind("exp", bind("sub", a, m))
        return bind("div", e, bind("reduce_sum", e, axes=(1,), keepdims=True))

    fn = fn_of([((64, 100), F32)], softmax)
    plan = _plan(fn)
    kinds = [type(t).__name__ for t in plan.tasks]
    assert kinds == ["KernelTask", "LoopTask", "KernelTask", "LoopTask"], format_plan(plan)
    assert [v.shape for v in plan.scratch] == [(64, 1), (64, 100), (64, 1)]
    x = np.random.default_rng(1).standard_normal((64, 100)).astype(F32)
    check(fn, [x])


def test_reduction_of_expression_reads_only_the_parameter():
    fn = fn_of([((300, 7), F32)],
               lambda x: bind("reduce_sum", bind("mul", x, x), axes=(0, 1)))
    plan = _plan(fn)
    (loop,) = plan.tasks
    assert isinstance(loop, LoopTask) and len(loop.reductions) == 1
    assert plan.scratch == []
    check(fn, [np.random.default_rng(6).standard_normal((300, 7)).astype(F32)])


def test_partial_reduction_stays_a_kernel():
    fn = fn_of([((300, 7), F32)],
               lambda x: bind("reduce_sum", bind("mul", x, x), axes=(0,)))
    plan = _plan(fn)
    assert len(plan.tasks) == 1 and isinstance(plan.tasks[0], KernelTask)


def test_value_and_gradient_run_as_one_pass():
    # sum(tanh(x) * exp(-x*x) + sin(x)**2) and its gradient (W2 of benchmarks/bench.py):
    # the sum, the gradient and every shared transcendental in one loop, no scratch.
    def body(x):
        t, e, s = bind("tanh", x), bind("exp", bind("mul", bind("neg", x), x)), bind("sin", x)
        te = bind("mul", t, e)
        total = bind("reduce_sum", bind("add", te, bind("mul", s, s)), axes=(0,))
        g1 = bind("mul", bind("mul", _c(2), s), bind("cos", x))
        g2 = bind("mul", e, bind("sub", _c(1), bind("mul", t, t)))
        g3 = bind("mul", bind("mul", _c(-2), x), te)
        return total, bind("add", bind("add", g1, g2), g3)

    fn = fn_of([((10_000,), F32)], body)
    plan = _plan(fn)
    (loop,) = plan.tasks
    assert len(loop.reductions) == 1 and plan.scratch == [], format_plan(plan)
    check(fn, [np.random.default_rng(7).standard_normal(10_000).astype(F32)], rtol=1e-5,
          atol=1e-6)    # the gradient cancels to ~0 in places: float32 rounding


def test_a_loop_never_reads_its_own_reduction():
    # x / sum(x) needs the whole sum first: two passes.
    def body(x):
        s = bind("reduce_sum", x, axes=(0,), keepdims=True)
        return bind("div", x, s)

    fn = fn_of([((4096,), np.float64)], body)
    plan = _plan(fn)
    assert len(plan.tasks) == 2, format_plan(plan)
    check(fn, [np.random.default_rng(8).standard_normal(4096)])


def test_fused_float64_sum_is_accurate():
    # A float64 sum fused into a loop runs in blocks, as the sum kernel does, and agrees
    # with an exactly rounded sum to 1e-14 over 2M elements.
    n = 2_000_003

    def body(x):
        return bind("reduce_sum", x, axes=(0,)), bind("mul", x, x)

    fn = fn_of([((n,), np.float64)], body)
    plan = _plan(fn)
    assert len(plan.tasks) == 1, format_plan(plan)
    x = 0.1 + np.random.default_rng(9).random(n) * 1e-3
    exe = check(fn, [x])
    exact = math.fsum(x)
    assert abs(exe(x)[0] - exact) <= 1e-14 * exact


def test_matmul_folds_transposes_and_coalesces_elementwise_loops():
    def body(a, b):
        return bind("matmul", bind("transpose", a, perm=(1, 0)), b), bind("add", a, a)

    plan = _plan(fn_of([((8, 5), F32), ((8, 3), F32)], body))
    assert plan.scratch == [], format_plan(plan)          # the transpose is a flag
    (loop,) = [t for t in plan.tasks if isinstance(t, LoopTask)]
    assert loop.vshape[id(loop.stores[0].value)] == (40,)   # (8, 5) runs as one loop


def test_exponential_reuse_is_bounded():
    def body(x):
        y = x
        for _ in range(24):
            y = bind("add", y, bind("transpose", y, perm=(1, 0)))
        return y

    fn = fn_of([((4, 4), F32)], body)
    plan = _plan(fn)
    assert len(plan.scratch) >= 8, format_plan(plan)
    check(fn, [np.random.default_rng(2).random((4, 4)).astype(F32) * 1e-6], rtol=1e-4)


def test_concat_of_expensive_pieces_materializes_them():
    # Each element of a concat evaluates every piece (then selects one): an expensive
    # piece must be computed once into a buffer, not once per output element.
    fn = fn_of([((40, 3), F32), ((40, 5), F32)],
               lambda a, b: bind("concat", bind("exp", a), bind("exp", b), axis=1))
    plan = _plan(fn)
    assert sorted(v.shape for v in plan.scratch) == [(40, 3), (40, 5)], format_plan(plan)
    rng = np.random.default_rng(3)
    check(fn, [rng.standard_normal((40, 3)).astype(F32), rng.standard_normal((40, 5))
               .astype(F32)])


def test_long_chains_are_cut_into_bounded_inline_depth():
    def body(x):
        y = x
        for k in range(600):
            y = bind("add", bind("mul", y, _c(0.999)), x) if k % 2 else bind("neg", y)
        return y

    from tracejit.codegen.fusion import MAX_TASK_INSTRS
    from tracejit.codegen.plan import task_instrs
    fn = fn_of([((37,), F32)], body)
    plan = _plan(fn)
    # The cut points stay in registers within a loop, and loops stop growing at
    # MAX_TASK_INSTRS instructions (900 here): the next loop reads the last one's result.
    assert 900 // MAX_TASK_INSTRS + 1 <= len(plan.tasks) <= 900 // MAX_TASK_INSTRS + 2
    assert all(len(task_instrs(plan, t)) <= MAX_TASK_INSTRS for t in plan.tasks)
    assert sum(len(t.stores) for t in plan.tasks) >= 900 // 40
    assert sum(s.keep for t in plan.tasks for s in t.stores) == len(plan.tasks)
    assert len(plan.scratch) == len(plan.tasks) - 1
    check(fn, [np.random.default_rng(5).standard_normal(37).astype(F32)], rtol=1e-4)


def test_short_rows_under_a_broadcast_run_as_one_flat_loop():
    # (n, 10) + (10,): one flat loop (row and column from the flat index); with a
    # transposed operand, or rows of 2, the nested loop stays (it is faster there).
    rng = np.random.default_rng(10)
    flat = fn_of([((300, 10), F32), ((10,), F32)], lambda x, b: bind("add", x, b))
    nested = fn_of([((10, 300), F32), ((10,), F32)],
                   lambda x, b: bind("add", bind("transpose", x, perm=(1, 0)), b))
    pairs = fn_of([((300, 2), F32), ((2,), F32)], lambda x, b: bind("add", x, b))
    for fn, want in ((flat, True), (nested, False), (pairs, False)):
        args = [rng.standard_normal(p.shape).astype(F32) for p in fn.params]
        exe = check(fn, args)
        assert ("udiv" in exe.llvm_ir_unoptimized) == want, fn
