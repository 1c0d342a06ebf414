"""Small loop tasks lowered as straight-line vector code (`codegen/lower_vector.py`): the
same results as the reference interpreter and as the loop version, no loops, and every
task that does not qualify keeps its loop."""
from __future__ import annotations

import re

import numpy as np
import pytest
from tracejit.codegen import compile_function, lower_vector
from tracejit.codegen.fusion import make_plan
from tracejit.codegen.plan import LoopTask
from tracejit.ir import all_primitives, bind

from tests.codegen.helpers import check, floats, fn_of, ints

F32, F64, I32, I64, B = np.float32, np.float64, np.int32, np.int64, np.bool_


def _spring_step(p, v):
    """One explicit Euler step of a spring chain: shifted slices, concat with a constant,
    pad, scalar constants broadcast."""
    t = p.dtype
    k, dt = bind("constant", value=np.asarray(10.0, t)), bind("constant", value=np.asarray(0.01, t))
    f = bind("mul", k, bind("sub", bind("slice", p, starts=(1,), limits=(8,), strides=(1,)),
                            bind("slice", p, starts=(0,), limits=(7,), strides=(1,))))
    zero = bind("constant", value=np.zeros(1, t))
    force = bind("sub", bind("concat", f, zero, axis=0),
                 bind("pad", f, lo=(1,), hi=(0,), interior=(0,)))
    v = bind("add", v, bind("mul", dt, force))
    return bind("add", p, bind("mul", dt, v)), v


def _body(ir_text: str) -> str:
    return "\n".join(re.findall(r"define (?:internal )?i32 @\"?body.*?^}", ir_text, re.S | re.M))


def test_small_steps_are_vector_code_without_loops():
    def prog(p, v):
        for _ in range(3):
            p, v = _spring_step(p, v)
        return p, v

    fn = fn_of([((8,), F64), ((8,), F64)], prog)
    plan = make_plan(fn)
    loops = [t for t in plan.tasks if isinstance(t, LoopTask)]
    assert loops and all(lower_vector.eligible(plan, t) for t in loops)
    rng = np.random.default_rng(0)
    exe = check(fn, [rng.standard_normal(8), rng.standard_normal(8)])
    body = _body(exe.llvm_ir_unoptimized)
    assert "shufflevector" in body and "<8 x double>" in body
    assert " phi " not in body and not re.search(r'"i\d+\.cond', body)    # no loop nest


def test_tasks_that_do_not_qualify_keep_their_loops():
    big = fn_of([((VMAX := lower_vector.VECTOR_MAX + 1,), F32)],
                lambda x: bind("add", x, x))
    with_math = fn_of([((4,), F32)], lambda x: bind("exp", x))
    with_sum = fn_of([((4,), F32)], lambda x: bind("reduce_sum", bind("mul", x, x),
                                                     axes=(0,)))
    sliced_big = fn_of([((100,), F32)],
                       lambda x: bind("slice", bind("neg", x), starts=(3,), limits=(7,),
                                      strides=(1,)))
    for fn in (big, with_math, with_sum, sliced_big):
        plan = make_plan(fn)
        t = next(t for t in plan.tasks if isinstance(t, LoopTask))
        assert not lower_vector.eligible(plan, t), fn
    rng = np.random.default_rng(1)
    check(big, [floats(rng, (VMAX,), F32)])
    check(sliced_big, [floats(rng, (100,), F32)])


# The vector ops without params and of one operand dtype (`convert`, `select` and
# `broadcast_to` have tests of their own), from the registry.
PLAIN = {n: all_primitives()[n] for n in sorted(lower_vector.VECTOR_OPS)
         if n not in ("convert", "select", "broadcast_to")}


def _arg(rng, shape, dt):
    dt = np.dtype(dt)
    if dt.kind == "f":
        return floats(rng, shape, dt)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    return ints(rng, shape, dt)


def _both_ways(monkeypatch, types, body, seed=0):
    """Compile `body` as vector code and as loops; both must match the interpreter."""
    fn = fn_of(types, body)
    plan = make_plan(fn)
    assert any(isinstance(t, LoopTask) and lower_vector.eligible(plan, t)
               for t in plan.tasks)
    rng = np.random.default_rng(seed)
    args = [_arg(rng, s, d) for s, d in types]
    check(fn, args, exe=compile_function(fn, cache=False))
    with monkeypatch.context() as m:
        m.setattr(lower_vector, "VECTOR_MAX", 0)
        check(fn, args, exe=compile_function(fn, cache=False))


NUMBERS = [F32, F64, I32, I64]


def _unary(dt):
    return [n for n, p in PLAIN.items() if p.n_inputs == 1 and np.dtype(dt) in p.dtypes]


def _binary(dt):
    return [n for n, p in PLAIN.items() if p.n_inputs == 2 and np.dtype(dt) in p.dtypes]


def test_the_vector_ops_are_the_registry_s_elementwise_primitives_without_math():
    assert {"add", "floordiv", "logical_not", "relu"} <= lower_vector.VECTOR_OPS
    assert not lower_vector.VECTOR_OPS & {"sin", "exp", "pow", "sqrt"}
    assert {n for n in PLAIN if PLAIN[n].n_inputs not in (1, 2)} == set()
    tested = {n for dt in NUMBERS + [B] for n in _unary(dt) + _binary(dt)}
    assert tested == set(PLAIN), sorted(set(PLAIN) - tested)


@pytest.mark.parametrize("dt", NUMBERS + [B])
def test_elementwise_ops_with_broadcasting_match_the_interpreter(monkeypatch, dt):
    """Every unary op; every binary op with both operands broadcast ((3, 1) with (4,))
    and with a scalar splat (() with (3, 4))."""
    def body(x, y, z):
        return ([bind(p, x) for p in _unary(dt)] + [bind(p, x, y) for p in _binary(dt)]
                + [bind(p, z, x) for p in _binary(dt)])

    _both_ways(monkeypatch, [((3, 1), dt), ((4,), dt), ((), dt)], body)


@pytest.mark.parametrize("src,dst", [(F32, I32), (F64, I64), (F32, F64), (F64, F32),
                                     (I32, F32), (I64, I32), (B, F32), (F32, B), (I32, B)])
def test_convert_and_select_match_the_interpreter(monkeypatch, src, dst):
    def body(c, x, y):
        return bind("convert", bind("select", c, x, y), dtype=np.dtype(dst))
    _both_ways(monkeypatch, [((2, 4), B), ((2, 4), src), ((4,), src)], body)


def test_shape_ops_match_the_interpreter(monkeypatch):
    def body(x, y):
        t = bind("transpose", x, perm=(1, 0))                           # (4, 3)
        r = bind("rev", t, axes=(0, 1))
        s = bind("slice", r, starts=(1, 0), limits=(4, 3), strides=(2, 2))   # (2, 2)
        p = bind("pad", s, lo=(1, 0), hi=(0, 2), interior=(1, 1))      # (4, 5)
        c = bind("concat", p, bind("reshape", y, shape=(1, 5)), axis=0)     # (5, 5)
        w = bind("concat", s, bind("neg", s), s, axis=1)                  # (2, 6)
        b = bind("broadcast_to", bind("slice", y, starts=(1,), limits=(4,), strides=(1,)),
                 shape=(2, 3))
        return c, w, bind("mul", b, bind("iota", shape=(2, 3), dimension=1, dtype=np.dtype(F32)))

    fn = fn_of([((3, 4), F32), ((5,), F32)], body)
    _both_ways(monkeypatch, [((3, 4), F32), ((5,), F32)], body)
    plan = make_plan(fn)
    assert all(lower_vector.eligible(plan, t) for t in plan.tasks if isinstance(t, LoopTask))


def test_a_long_unrolled_chain_stays_small():
    """200 spring steps: the unoptimized LLVM IR has no loops and a few lines per
    instruction of the program."""
    def prog(p, v):
        for _ in range(200):
            p, v = _spring_step(p, v)
        return p, v

    fn = fn_of([((8,), F32), ((8,), F32)], prog)
    rng = np.random.default_rng(2)
    exe = check(fn, [rng.standard_normal(8).astype(F32), rng.standard_normal(8).astype(F32)],
                rtol=1e-4)
    text = exe.llvm_ir_unoptimized
    assert not re.search(r'"i\d+\.cond', text)          # no loop nest
    assert text.count("\n") < 8 * len(fn.instrs)


def test_one_element_values_are_scalars(monkeypatch):
    """No `<1 x T>` code (LLVM's inliner aborted on it inside a loop): one-element values
    (a scalar operand, a one-element slice, concat and pad of single elements) are
    scalars, splat or inserted where a vector needs them."""
    def body(x, s):
        one = bind("slice", x, starts=(2,), limits=(3,), strides=(1,))
        pair = bind("concat", one, bind("reshape", s, shape=(1,)), axis=0)
        padded = bind("pad", one, lo=(2,), hi=(1,), interior=(0,))
        return bind("mul", bind("add", x, s), bind("concat", pair, pair, axis=0)), padded

    types = [((4,), F32), ((), F32)]
    _both_ways(monkeypatch, types, body)
    exe = compile_function(fn_of(types, body), cache=False)
    assert "<1 x" not in exe.llvm_ir_unoptimized
