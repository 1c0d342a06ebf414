"""Region instructions in the IR: text form, verifier, interpreter semantics, region passes,
reverse mode with a data-dependent trip count (orders 1 and 2) and batching with a batched
loop condition. (Per-primitive VJP and batching checks run from the registry in
test_vjp.py and test_batching.py.)"""
from __future__ import annotations

import time

import numpy as np
import pytest
from tracejit.ir import Builder, Function, IRError, Instr, TensorType, Value, bind, interpreting
from tracejit.ir import ops
from tracejit.ir.batching import vmap
from tracejit.ir.interp import evaluate
from tracejit.ir.parser import parse
from tracejit.ir.passes import optimize
from tracejit.ir.printer import print_function
from tracejit.ir.verify import verify

from tests.gradcheck import check_ir_grads
from tests.strategies import build_function

F64, I32, BOOL = np.dtype(np.float64), np.dtype(np.int32), np.dtype(np.bool_)


def counter_loop(n: int, body_fn: Function | None = None) -> tuple[Function, Function]:
    """cond `i < n` and body `(a, x, i) -> (x * a + exp(a), i + 1)`."""
    types = [((), F64), ((3,), F64), ((), I32)]
    cond = build_function("cond", types, lambda a, x, i: bind("lt", i, ops.const(n, I32)))
    body = body_fn or build_function("body", types, lambda a, x, i: (
        ops.add(ops.mul(x, a), ops.exp(a)), ops.add(i, ops.const(1, I32))))
    return cond, body


def newton(a: Value) -> Value:
    """The cube root of `a` by Newton's method until |x**3 - a| < 1e-13 (from x = 1)."""
    types = [((), F64), ((), F64)]
    cond = build_function("cond", types, lambda a, x: bind(
        "gt", bind("abs", ops.sub(ops.mul(ops.mul(x, x), x), a)), ops.const(1e-13, F64)))
    body = build_function("step", types, lambda a, x: ops.sub(x, ops.div(
        ops.sub(ops.mul(ops.mul(x, x), x), a), ops.mul(ops.const(3.0, F64), ops.mul(x, x)))))
    x, n = bind("while", a, ops.const(1.0, F64), cond=cond, body=body, n_consts=1,
                max_iters=100)
    return ops.mul(x, ops.sin(a))


def test_nested_regions_print_indented_and_parse_back() -> None:
    cond, body = counter_loop(4)
    inner = build_function("scan_body", [((), F64), ((3,), F64), ((), I32), ((3,), F64)],
                           lambda a, x, i, e: bind("while", a, ops.mul(x, e), i, cond=cond,
                                                   body=body, n_consts=1)[:2])
    b = Builder("f")
    a, xs = b.param(TensorType((), F64), "a"), b.param(TensorType((2, 3), F64), "xs")
    with interpreting(b):
        x, i, ys = bind("scan", a, ops.full((3,), 1.0, F64), ops.const(0, I32), xs,
                        body=Function("scan_body", inner.params, inner.instrs,
                                      inner.results[:2] + [inner.results[0]]),
                        n_consts=1, n_carry=2, length=2, reverse=True)
        pick = bind("cond", i, x, ys, branches=(
            build_function("b0", [((3,), F64), ((2, 3), F64)], lambda x, y: ops.neg(x)),
            build_function("b1", [((3,), F64), ((2, 3), F64)],
                           lambda x, y: ops.reduce_sum(y, (0,)))))
    f = b.build([pick])
    verify(f)
    text = print_function(f)
    assert text.startswith("func @f(")                    # no top-level blocks for regions
    assert "\n    func @scan_body(" in text and "\n        func @cond(" in text
    assert "\n    func @b0(" in text and "\n    func @b1(" in text
    g = parse(text)
    assert g == f and print_function(g) == text
    args = [np.array(0.5), np.arange(6.0).reshape(2, 3)]
    np.testing.assert_array_equal(evaluate(g, args)[0], evaluate(f, args)[0])


def test_the_verifier_checks_nested_signatures() -> None:
    cond, body = counter_loop(2)
    b = Builder("f")
    a, x = b.param(TensorType((), F64)), b.param(TensorType((3,), F64))
    with interpreting(b):
        i = ops.const(0, I32)
        with pytest.raises(IRError, match=r"cond @cond takes .*f64\[3\].*give.*f64\[4\]"):
            bind("while", a, ops.full((4,), 0.0, F64), i, cond=cond, body=body, n_consts=1)
        outs = bind("while", a, x, i, cond=cond, body=body, n_consts=1)
    f = b.build([outs[0]])
    bad = build_function("body", [((), F64), ((3,), F64), ((), I32)],
                         lambda a, x, i: (ops.reduce_sum(x, (0,)), i))
    ins = f.instrs[-1]
    f.instrs[-1] = Instr("while", ins.inputs, dict(ins.params, body=bad), ins.outs)
    with pytest.raises(IRError, match="returns"):
        verify(f)


def test_interpreter_semantics() -> None:
    cond, body = counter_loop(5)
    b = Builder("f")
    a, x = b.param(TensorType((), F64)), b.param(TensorType((3,), F64))
    with interpreting(b):
        capped = bind("while", a, x, ops.const(0, I32), cond=cond, body=body, n_consts=1,
                      max_iters=2)
        full = bind("while", a, x, ops.const(0, I32), cond=cond, body=body, n_consts=1)
    f = b.build([capped[0], capped[2], full[0], full[2]])
    x0 = np.array([1.0, 2.0, 3.0])
    got = evaluate(f, [np.array(0.5), x0])
    want = x0.copy()
    for _ in range(2):
        want = want * 0.5 + np.exp(0.5)
    np.testing.assert_allclose(got[0], want)
    assert int(got[1]) == 2 and int(got[3]) == 5


def test_invariants_are_hoisted_and_loops_never_fold() -> None:
    cond, _ = counter_loop(10**9)   # would take minutes in the interpreter
    types = [((), F64), ((3,), F64), ((), I32)]
    body = build_function("body", types, lambda a, x, i: (
        ops.add(x, ops.exp(ops.mul(a, ops.const(2.0, F64)))), ops.add(i, ops.const(1, I32))))
    b = Builder("f")
    x = b.param(TensorType((3,), F64))
    with interpreting(b):
        outs = bind("while", ops.const(0.25, F64), x, ops.const(0, I32), cond=cond, body=body,
                    n_consts=1)
    f = b.build([outs[0]])
    t0 = time.perf_counter()
    g = optimize(f)
    assert time.perf_counter() - t0 < 5
    loop = next(i for i in g.instrs if i.prim == "while")
    prims = [i.prim for i in loop.params["body"].instrs]
    assert "exp" not in prims and "mul" not in prims        # exp(a * 2) computed once, before
    assert [i.prim for i in g.instrs].count("while") == 1
    small, _ = counter_loop(3, body)
    f3 = Function("f", f.params, [Instr(i.prim, i.inputs, dict(i.params, cond=small)
                                        if i.prim == "while" else i.params, i.outs)
                                  for i in f.instrs], f.results)
    g3 = optimize(f3)
    x0 = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(evaluate(g3, [x0])[0], evaluate(f3, [x0])[0], rtol=1e-15)


def test_optimize_never_gives_a_new_nested_function_the_result_of_a_dropped_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rounds of `optimize` make nested Functions and drop them, and CPython gives a dropped
    object's address (its `id`) to a later one. Keyed by that address alone, the memo of
    optimized nested Functions handed a loop body the optimized loop condition (an
    order-dependent LoweringError of a second-order while_loop gradient, 'double* != i32*').
    Here a stand-in for the region pass renames the condition in round 1 and the body in
    round 2, and the two share an address as a dropped Function and a newcomer would."""
    import builtins

    import tracejit.ir.passes as passes
    cond, body = counter_loop(3)
    b = Builder("f")
    a, x = b.param(TensorType((), F64)), b.param(TensorType((3,), F64))
    with interpreting(b):
        outs = bind("while", a, x, ops.const(0, I32), cond=cond, body=body, n_consts=1)
    f = b.build(outs[:2])
    rounds = []

    def churn(fn: Function) -> Function:
        loop = next((i for i in fn.instrs if i.prim == "while"), None)
        if loop is None or len(rounds) == 2:
            return fn
        key, name = ("cond", "cond_1") if not rounds else ("body", "body_2")
        rounds.append(name)
        old = loop.params[key]
        params = dict(loop.params, **{key: Function(name, old.params, old.instrs, old.results)})
        return Function(fn.name, fn.params, [Instr(i.prim, i.inputs, params, i.outs)
                                             if i is loop else i for i in fn.instrs],
                        fn.results)

    def reused_id(v: object) -> int:
        if isinstance(v, Function) and v.name in ("cond_1", "body_2"):
            return -1
        return builtins.id(v)
    monkeypatch.setattr(passes, "regions", churn)
    monkeypatch.setattr(passes, "id", reused_id, raising=False)
    g = optimize(f, check=True)
    assert rounds == ["cond_1", "body_2"]
    loop = next(i for i in g.instrs if i.prim == "while")
    assert loop.params["cond"].name == "cond_1" and loop.params["body"].name == "body_2"
    args = [np.array(0.5), np.array([1.0, 2.0, 3.0])]
    np.testing.assert_allclose(evaluate(g, args)[0], evaluate(f, args)[0], rtol=1e-15)


@pytest.mark.parametrize("order", [1, 2])
def test_newton_with_a_data_dependent_trip_count_differentiates(order: int) -> None:
    for a in (2.0, 0.3, 7.0):
        check_ir_grads(newton, [np.array(a)], order=order)


def test_a_batched_loop_condition_runs_each_element_to_its_own_end() -> None:
    b = Builder("f")
    a = b.param(TensorType((), F64))
    with interpreting(b):
        y = newton(a)
    f = b.build([y])
    fb = vmap(f, [True], 4)
    verify(fb)
    xs = np.array([0.1, 2.0, 30.0, 1.0])
    got = evaluate(fb, [xs])[0]
    np.testing.assert_allclose(got, [evaluate(f, [x])[0] for x in xs], rtol=1e-14)


def test_the_gradient_of_a_batched_loop_runs_each_element_to_its_own_end() -> None:
    """vmap of the gradient of Newton's method over values of `a` whose trip counts differ:
    the backward pass is a dynamic `scan` with one step count per element."""
    from tests.gradcheck import ir_vjp_of
    b = Builder("g")
    a = b.param(TensorType((), F64))
    with interpreting(b):
        (ga,) = ir_vjp_of(newton)(a, seed=np.array(1.0))
    g = b.build([ga])
    gb = vmap(g, [True], 4)
    verify(gb)
    xs = np.array([0.1, 2.0, 30.0, 1.0])
    want = [evaluate(g, [x])[0] for x in xs]
    np.testing.assert_allclose(evaluate(gb, [xs])[0], want, rtol=1e-13)
    counts = []
    for v in xs:                # Newton's iterations from x = 1, as `newton` runs them
        x, n = 1.0, 0
        while abs(x * x * x - v) > 1e-13 and n < 100:
            x, n = x - (x * x * x - v) / (3.0 * x * x), n + 1
        counts.append(n)
    assert len(set(counts)) == 4          # each element runs to its own end


def test_a_dynamic_scan_runs_its_step_count_and_zeroes_the_other_rows() -> None:
    types = [((), F64), ((), F64), ((), F64)]
    body = build_function("body", types, lambda a, c, x: (ops.add(ops.mul(c, a), x),
                                                          ops.mul(c, x)))
    xs = np.array([1.0, 2.0, 3.0, 4.0])
    for steps, reverse in [(2, False), (2, True), (-3, False), (9, True), (0, True)]:
        b = Builder("f")
        n, a, c0, x = (b.param(TensorType((), I32)), b.param(TensorType((), F64)),
                       b.param(TensorType((), F64)), b.param(TensorType((4,), F64)))
        with interpreting(b):
            c, ys = bind("scan", n, a, c0, x, body=body, n_consts=1, n_carry=1, length=4,
                         reverse=reverse, dynamic=True)
        f = b.build([c, ys])
        verify(f)
        assert parse(print_function(f)) == f
        got_c, got_ys = evaluate(f, [np.array(steps, np.int32), np.array(0.5), np.array(1.0),
                                     xs])
        run_ = min(max(steps, 0), 4)
        want_c, want_ys = 1.0, np.zeros(4)
        for i in (range(run_ - 1, -1, -1) if reverse else range(run_)):
            want_ys[i] = want_c * xs[i]
            want_c = want_c * 0.5 + xs[i]
        assert float(got_c) == want_c
        np.testing.assert_array_equal(got_ys, want_ys)


def test_the_stacks_of_a_while_gradient_cover_every_trip_count() -> None:
    from tracejit.ir.prims.control_ad import I32_MAX, STACK_BYTES, stack_plan
    big = TensorType((1 << 20,), F64)               # 8 MiB a state
    assert stack_plan([big], 5) == (5, 0)           # never more states than iterations
    assert stack_plan([TensorType((), F64)], 1000) == (1000, 0)     # preallocated
    for state, most in [([TensorType((), F64)], None), ([big], None), ([big], 10**6),
                        ([TensorType((8,), F64), TensorType((), I32)], 10**8)]:
        cap, levels = stack_plan(state, most)
        assert cap ** (levels + 1) >= (I32_MAX if most is None else most)
        assert cap == 16 or 2 * cap * sum(t.nbytes for t in state) <= STACK_BYTES
