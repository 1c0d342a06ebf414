"""`vmap` against its definition: the batched Function, evaluated once, equals the original
Function evaluated per batch element and stacked.

- Every registered primitive (`CASES` has one entry each; a test fails when one is missing)
  with hypothesis-drawn shapes (broadcasting, size-0 and size-1 dimensions, scalars), every
  subset of batched operands and batch sizes 0 to 3.
- Random programs of `tests/strategies.py`, batched over random subsets of parameters.
- Jacobians and Hessians: `vmap` of a gradient Function over identity seeds gives the full
  matrix in one pass, equal to the per-row passes, and its instruction count is the same
  for 10 and 1000 rows.
- Batched Functions verify, stay differentiable (their VJP is the stacked VJPs), nest
  (vmap of vmap), keep unbatched operands unbatched and keep index bounds checks.

Comparisons are exact (NaN equals NaN) except where NumPy may round differently for
different array shapes: transcendental functions and sums, products and matrix products,
whose accumulation order may depend on the shape (`rtol = 1e-12` in float64).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tracejit.ir import Builder, Function, TensorType, all_primitives, bind, interpreting
from tracejit.ir.autodiff import vjp
from tracejit.ir.batching import RULES, batched_callee, missing_rules, rule_for, vmap
from tracejit.ir.interp import evaluate, run, run_env
from tracejit.ir.parser import parse
from tracejit.ir.verify import verify

from tests.ir.cases import make_callee
from tests.ir.prim_cases import TEST_CALLEES, CASES, INEXACT
from tests.strategies import SMOOTH_PRIMS, build_function, programs, random_inputs

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
I32 = np.dtype(np.int32)
I64 = np.dtype(np.int64)
BOOL = np.dtype(np.bool_)

FAST = settings(deadline=None, max_examples=12, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- the oracle


def variant(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another operand like `a` for another batch element: its elements permuted (indices
    stay in range, ties stay ties), floats also scaled by a positive factor."""
    out = rng.permutation(a.reshape(-1)).reshape(a.shape)
    if a.dtype.kind == "f":
        out = (out * rng.uniform(0.5, 1.5)).astype(a.dtype)
    elif a.dtype == BOOL:
        out = rng.random(a.shape) < 0.5
    return out


def stack_args(args: list[np.ndarray], batched: list[bool], size: int,
               rng: np.random.Generator) -> list[np.ndarray]:
    return [np.array([variant(a, rng) for _ in range(size)], a.dtype).reshape(
        (size,) + a.shape) if bt else a for a, bt in zip(args, batched)]


def per_element(fn: Function, args: list[np.ndarray], batched: list[bool], size: int
                ) -> list[np.ndarray]:
    """The definition of vmap: evaluate `fn` per batch element and stack."""
    rows = [evaluate(fn, [a[i] if bt else a for a, bt in zip(args, batched)])
            for i in range(size)]
    return [np.stack([r[k] for r in rows]) if rows
            else np.zeros((0,) + t.shape, t.dtype) for k, t in enumerate(fn.out_types)]


def assert_same(got: np.ndarray, want: np.ndarray, exact: bool, what: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, (
        f"{what}: got {got.dtype}{got.shape}, want {want.dtype}{want.shape}")
    if exact or want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        rtol = 1e-12 if want.dtype == F64 else 1e-5
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=what)


def check_vmap(fn: Function, args: list[np.ndarray], batched: list[bool], size: int,
               rng: np.random.Generator, exact: bool = True) -> Function:
    fb = vmap(fn, batched, size)
    verify(fb)
    for p, q, bt in zip(fn.params, fb.params, batched):
        assert q.type == (TensorType((size,) + p.type.shape, p.type.dtype) if bt else p.type)
    for r, s in zip(fn.results, fb.results):
        assert s.type == TensorType((size,) + r.type.shape, r.type.dtype)
    bargs = stack_args(args, batched, size, rng)
    got = evaluate(fb, bargs)
    want = per_element(fn, bargs, batched, size)
    for k, (g, w) in enumerate(zip(got, want)):
        assert_same(g, w, exact, f"@{fn.name} result {k}, batched={batched}, size={size}")
    return fb


def _single(name: str, args: list[np.ndarray], params: dict[str, Any]) -> Function:
    return build_function(name, [(a.shape, a.dtype) for a in args],
                          lambda *xs: bind(name, *xs, **params))


# --------------------------------------------------------------------------- per primitive


def test_every_primitive_has_a_rule_and_a_case() -> None:
    registered = set(all_primitives())
    assert missing_rules() == []
    assert set(RULES) <= registered, f"rules of unknown primitives: {set(RULES) - registered}"
    assert set(CASES) == registered, (
        f"missing cases: {sorted(registered - set(CASES))}; "
        f"cases of unknown primitives: {sorted(set(CASES) - registered)}")


@pytest.mark.parametrize("name", sorted(all_primitives()))
@FAST
@given(data=st.data())
def test_primitive_batches(name: str, data: st.DataObject) -> None:
    args, params = data.draw(CASES[name], label="case")
    batched = data.draw(st.lists(st.booleans(), min_size=len(args), max_size=len(args)),
                        label="batched")
    size = data.draw(st.sampled_from([1, 2, 3, 3, 0]), label="size")
    fn = _single(name, args, params)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    check_vmap(fn, args, batched, size, rng, exact=name not in INEXACT)


@pytest.mark.parametrize("name", ["constant", "iota"])
def test_nullary_rules_give_unbatched_values(name: str) -> None:
    """vmap never calls these (they have no operand to be batched); called directly, the
    rule gives the primitive's value, unbatched."""
    params: dict[str, Any] = ({"value": np.arange(6.0).reshape(2, 3)} if name == "constant"
                              else {"shape": (2, 3), "dimension": 1, "dtype": I32})
    b = Builder("r")
    with interpreting(b):
        rule = rule_for(name)
        assert rule is not None
        outs, flags = rule([], [], 5, **params)
    assert flags == [False]
    (got,) = evaluate(b.build(outs), [])
    np.testing.assert_array_equal(got, evaluate(_single(name, [], params), [])[0])


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("batched", [[True, False], [False, True], [True, True]])
@pytest.mark.parametrize("lead_a,lead_b", [((), ()), ((2,), ()), ((), (2,)), ((3, 1), (2,))])
def test_matmul_batching_paths(ta: bool, tb: bool, batched: list[bool],
                               lead_a: tuple[int, ...], lead_b: tuple[int, ...]) -> None:
    """Every path of the matmul rule: the batch folded into the rows of the left operand or
    the columns of the right one, and the broadcast batch axis; B * m == n, so a result
    transposed or laid out wrongly would still have the right type."""
    m, k, n = 2, 3, 4
    sa, sb = lead_a + ((k, m) if ta else (m, k)), lead_b + ((n, k) if tb else (k, n))
    a = np.arange(np.prod(sa), dtype=F64).reshape(sa) - 2.5
    b = np.arange(np.prod(sb), dtype=F64).reshape(sb) * 0.5 - 1
    fn = _single("matmul", [a, b], {"transpose_a": ta, "transpose_b": tb})
    check_vmap(fn, [a, b], batched, 2, np.random.default_rng(3))


# --------------------------------------------------------------------------- programs


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(fn=programs(dtypes=(F64,), max_instrs=8), data=st.data())
def test_random_float64_programs_batch(fn: Function, data: st.DataObject) -> None:
    _check_program(fn, data)


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(fn=programs(dtypes=(F32, I32, BOOL), max_instrs=8), data=st.data())
def test_random_mixed_programs_batch(fn: Function, data: st.DataObject) -> None:
    _check_program(fn, data)


def _check_program(fn: Function, data: st.DataObject) -> None:
    n = len(fn.params)
    batched = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="batched")
    size = data.draw(st.integers(1, 3), label="size")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    args = random_inputs(fn, rng)
    inexact = any(ins.prim in INEXACT for ins in fn.instrs)
    check_vmap(fn, args, batched, size, rng, exact=not inexact)
    # The instructions emitted per instruction do not depend on the batch size.
    assert len(vmap(fn, batched, 10).instrs) == len(vmap(fn, batched, 1000).instrs)


# --------------------------------------------------------------------------- Jacobians


def _residuals(fn: Function, grad: Any, args: list[np.ndarray]) -> list[np.ndarray]:
    return evaluate(Function("res", fn.params, fn.instrs, grad.residuals), args)


def batched_jacobian(fn: Function, args: list[np.ndarray]) -> tuple[np.ndarray, Function]:
    """d fn.results[0] / d fn.params[0], by one vmapped backward pass over identity seeds."""
    x, out = fn.params[0], fn.results[0]
    grad = vjp(fn, [x])
    n_out = out.type.size
    res = _residuals(fn, grad, args)
    gb = vmap(grad.fn, [False] * len(res) + [True], n_out)
    seeds = np.eye(n_out, dtype=out.type.dtype).reshape((n_out,) + out.type.shape)
    (jac,) = evaluate(gb, res + [seeds])
    return jac, gb


def row_by_row_jacobian(fn: Function, args: list[np.ndarray]) -> np.ndarray:
    x, out = fn.params[0], fn.results[0]
    grad = vjp(fn, [x])
    res = _residuals(fn, grad, args)
    n_out = out.type.size
    eye = np.eye(n_out, dtype=out.type.dtype)
    rows = [evaluate(grad.fn, res + [eye[i].reshape(out.type.shape)])[0] for i in range(n_out)]
    return np.stack(rows).reshape((n_out,) + x.type.shape) if rows else np.zeros(
        (0,) + x.type.shape, x.type.dtype)


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(fn=programs(dtypes=(F64,), allow=SMOOTH_PRIMS, safe=True, max_instrs=8,
                   allow_zero_dims=False), seed=st.integers(0, 2**32 - 1))
def test_jacobian_of_random_program_is_one_batched_backward_pass(fn: Function, seed: int
                                                                 ) -> None:
    assume(fn.params)
    f = Function(fn.name, fn.params, fn.instrs, fn.results[:1])
    assume(vjp(f, [f.params[0]]).connected[0])
    args = random_inputs(f, np.random.default_rng(seed))
    jac, gb = batched_jacobian(f, args)
    verify(gb)
    want = row_by_row_jacobian(f, args)
    assert jac.shape == (f.results[0].type.size,) + f.params[0].type.shape
    np.testing.assert_allclose(jac, want, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(want).max(
        initial=0.0)))


def _layer(n: int) -> Function:
    """x: f64[n] -> tanh(W @ x) * x + sum(sin(x)), with W a parameter."""
    def body(x: Any, w: Any) -> Any:
        h = bind("tanh", bind("reshape", bind("matmul", w, bind("reshape", x, shape=(n, 1))),
                              shape=(n,)))
        s = bind("reduce_sum", bind("sin", x), axes=(0,))
        return bind("add", bind("mul", h, x), s)
    return build_function("layer", [((n,), F64), ((n, n), F64)], body, ["x", "w"])


def _layer_jacobian(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    h = np.tanh(w @ x)
    return (1 - h**2)[:, None] * w * x[:, None] + np.diag(h) + np.cos(x)[None, :]


@pytest.mark.parametrize("n", [10, 1000])
def test_jacobian_of_a_layer(n: int) -> None:
    rng = np.random.default_rng(n)
    args = [rng.uniform(-1, 1, n), rng.uniform(-1, 1, (n, n)) / np.sqrt(n)]
    f = _layer(n)
    jac, _ = batched_jacobian(f, args)
    np.testing.assert_allclose(jac, _layer_jacobian(*args), rtol=1e-10, atol=1e-12)
    if n <= 10:
        np.testing.assert_allclose(jac, row_by_row_jacobian(f, args), rtol=1e-12, atol=1e-14)


def test_instruction_count_does_not_grow_with_rows() -> None:
    counts = {}
    for n in (10, 1000):
        f = _layer(n)
        grad = vjp(f, [f.params[0]])
        gb = vmap(grad.fn, [False] * len(grad.residuals) + [True], n)
        counts[n] = (len(grad.fn.instrs), len(gb.instrs))
    assert counts[10] == counts[1000], counts
    # A handful of reshapes more than the single backward pass, not n passes.
    n_grad, n_batched = counts[10]
    assert n_batched <= 2 * n_grad + 4, counts


def _gradient_function(f: Function) -> Function:
    """x -> d f / d x (f has one scalar result), forward and backward in one Function."""
    grad = vjp(f, [f.params[0]])
    b = Builder(f"{f.name}_grad")
    xs = [b.param(p.type, p.hint) for p in f.params]
    with interpreting(b):
        env = run_env(f, xs)
        one = bind("constant", value=np.ones(f.results[0].type.shape, F64))
        (g,) = run(grad.fn, [env[id(v)] for v in grad.residuals] + [one])
    return b.build([g])


@pytest.mark.parametrize("n", [4, 300])
def test_hessian_is_one_batched_backward_pass_of_the_gradient(n: int) -> None:
    """f(x) = sum(sin(x) * x) + x . (A x): H = diag(2 cos x - x sin x) + A + A^T."""
    def body(x: Any, a: Any) -> Any:
        col = bind("reshape", x, shape=(n, 1))
        quad = bind("reduce_sum", bind("mul", col, bind("matmul", a, col)), axes=(0, 1))
        return bind("add", bind("reduce_sum", bind("mul", bind("sin", x), x), axes=(0,)), quad)
    f = build_function("f", [((n,), F64), ((n, n), F64)], body, ["x", "a"])
    rng = np.random.default_rng(n)
    x, a = rng.uniform(-2, 2, n), rng.uniform(-1, 1, (n, n))
    g = _gradient_function(f)
    hess, _ = batched_jacobian(g, [x, a])
    want = np.diag(2 * np.cos(x) - x * np.sin(x)) + a + a.T
    np.testing.assert_allclose(hess, want, rtol=1e-10, atol=1e-12)
    if n <= 10:
        np.testing.assert_allclose(hess, row_by_row_jacobian(g, [x, a]), rtol=1e-12,
                                   atol=1e-14)


# --------------------------------------------------------------------------- properties


def _mlp() -> Function:
    def body(x: Any, w: Any, c: Any) -> Any:
        return bind("tanh", bind("add", bind("matmul", x, w), c))
    return build_function("mlp", [((2, 3), F64), ((3, 4), F64), ((4,), F64)], body,
                          ["x", "w", "c"])


def test_unbatched_operands_stay_unbatched() -> None:
    f = _mlp()
    fb = vmap(f, [True, False, False], 5)
    prims = [ins.prim for ins in fb.instrs]
    assert "broadcast_to" not in prims, str(fb)
    mm = next(ins for ins in fb.instrs if ins.prim == "matmul")
    assert mm.inputs[1] is fb.params[1]  # the weights are used as they are
    add = next(ins for ins in fb.instrs if ins.prim == "add")
    assert add.inputs[1] is fb.params[2]
    # An instruction on unbatched values only is copied unchanged.
    g = vmap(f, [False, False, True], 5)
    mm = next(ins for ins in g.instrs if ins.prim == "matmul")
    assert mm.inputs == g.params[:2] and mm.outs[0].type.shape == (2, 4)


def test_unbatched_results_are_broadcast() -> None:
    f = build_function("f", [((3,), F64), ((3,), F64)],
                       lambda x, y: (bind("exp", x), bind("neg", y), x))
    fb = vmap(f, [False, True], 4)
    assert [r.type.shape for r in fb.results] == [(4, 3)] * 3
    x, y = np.arange(3.0), np.arange(12.0).reshape(4, 3)
    ex, ny, xx = evaluate(fb, [x, y])
    np.testing.assert_array_equal(ex, np.broadcast_to(np.exp(x), (4, 3)))
    np.testing.assert_array_equal(ny, -y)
    np.testing.assert_array_equal(xx, np.broadcast_to(x, (4, 3)))


def test_call_keeps_unbatched_results_unbatched() -> None:
    callee = make_callee("unused_param", ((3,), (2,)), TEST_CALLEES)
    bc, flags = batched_callee(callee, [True, False], 5)
    assert flags == [True, False]
    assert bc.results[1].type.shape == (2,)
    assert batched_callee(callee, [True, False], 5)[0] is bc  # cached


def test_batched_calls_print_and_parse_back() -> None:
    """Two batchings of one callee (different flags) in one program: distinct callees of
    one name, which the text form keeps apart."""
    callee = make_callee("two_results", ((3,), (3,)))

    def body(x: Any, y: Any) -> Any:
        u, _ = bind("call", x, y, fn=callee)
        v, _ = bind("call", y, u, fn=callee)
        return v
    f = build_function("f", [((3,), F64), ((3,), F64)], body, ["x", "y"])
    fb = vmap(f, [True, False], 2)
    verify(fb)
    assert parse(str(fb)) == fb
    rng = np.random.default_rng(4)
    check_vmap(f, [rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3)], [True, False], 2, rng,
               exact=False)


def test_vmap_of_vmap() -> None:
    f = _mlp()
    rng = np.random.default_rng(1)
    ff = vmap(vmap(f, [True, False, True], 3), [True, True, False], 2)
    verify(ff)
    x, w, c = rng.uniform(-1, 1, (2, 3, 2, 3)), rng.uniform(-1, 1, (2, 3, 4)), rng.uniform(
        -1, 1, (3, 4))
    (got,) = evaluate(ff, [x, w, c])
    want = np.tanh(np.einsum("ijkl,ilm->ijkm", x, w) + c[None, :, None, :])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_batched_function_is_differentiable() -> None:
    """The VJP of vmap(f) is the stacked VJPs of f."""
    f = _mlp()
    fb = vmap(f, [True, False, False], 4)
    rng = np.random.default_rng(2)
    x, w, c = rng.uniform(-1, 1, (4, 2, 3)), rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, 4)
    seed = rng.uniform(-1, 1, (4, 2, 4))
    gb = vjp(fb, fb.params[:1])
    (gx,) = evaluate(gb.fn, _residuals(fb, gb, [x, w, c]) + [seed])
    g = vjp(f, f.params[:1])
    for i in range(4):
        (want,) = evaluate(g.fn, _residuals(f, g, [x[i], w, c]) + [seed[i]])
        np.testing.assert_allclose(gx[i], want, rtol=1e-12)


@pytest.mark.parametrize("prim", ["gather", "scatter_add"])
@pytest.mark.parametrize("bad", [-1, 3, 7])
def test_batched_indices_keep_their_bounds_check(prim: str, bad: int) -> None:
    """An index out of range in one batch element raises, and never reads or writes
    another batch element's row (the flattened axis would hold index 3 of row 0 at 3)."""
    if prim == "gather":
        f = build_function("g", [((3, 2), F64), ((2,), I32)],
                           lambda x, i: bind("gather", x, i, axis=0))
        args = [np.ones((2, 3, 2)), np.array([[0, 1], [2, bad]], np.int32)]
    else:
        f = build_function("s", [((2, 2), F64), ((2,), I32)],
                           lambda g, i: bind("scatter_add", g, i, axis=0, size=3))
        args = [np.ones((2, 2, 2)), np.array([[0, bad], [2, 1]], np.int32)]
    fb = vmap(f, [True, True], 2)
    with pytest.raises(IndexError):
        evaluate(fb, args)


def test_bad_arguments() -> None:
    f = _mlp()
    with pytest.raises(Exception, match="3 parameters"):
        vmap(f, [True], 2)
    with pytest.raises(Exception, match="batch size"):
        vmap(f, [True, False, False], -1)
