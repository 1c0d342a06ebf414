"""Every primitive's VJP rule against central finite differences, at order 1 and order 2.

`SPECS` has one entry per registered primitive (a test fails when a primitive has none): a
hypothesis strategy drawing valid operands and params, and a kind.

- "diff": differentiable; its rule is checked against finite differences of
  `sum(seed * f(x))` (order 1) and of the computed gradient (order 2), see
  `tests/gradcheck.py` for the tolerances. Values are drawn away from kinks and
  singularities by much more than the finite-difference step.
- "zero": piecewise constant with float output (floor, sign, floordiv); the rule gives no
  cotangent, the autodiff pass reports the operands connected with zero gradient, and finite
  differences (away from the jumps) agree.
- "nondiff": no gradient flows (comparisons, logical ops, argmax/argmin, one_hot, iota,
  constant, stop_gradient): the rule gives `None` for every operand and the autodiff pass
  reports each source unconnected, or connected with exact zeros when both the source and
  the result are float.

Shapes cover broadcasting between operands, size-1 and size-0 dimensions and scalars; each
operand has at most ~30 elements so that per-element finite differences stay fast.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracejit.ir import Builder, TensorType, Value, all_primitives, bind, interpreting
from tracejit.ir.autodiff import vjp
from tracejit.ir.core import Function
from tracejit.ir.interp import evaluate

from tests.gradcheck import check_ir_grads

F64 = np.dtype(np.float64)
Case = tuple[list[np.ndarray], dict[str, Any]]
Domain = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]

# --------------------------------------------------------------------------- shapes


@st.composite
def shapes(draw: Any, min_rank: int = 0, max_rank: int = 3, min_side: int = 0
           ) -> tuple[int, ...]:
    rank = draw(st.integers(min_rank, max_rank))
    sides = [1, 2, 3, 2, 3, 4, 1, 0] if rank <= 2 else [1, 2, 3, 2, 1, 0]
    sides = [s for s in sides if s >= min_side]
    return tuple(draw(st.sampled_from(sides)) for _ in range(rank))


@st.composite
def operand_shapes(draw: Any, n: int, max_rank: int = 3) -> list[tuple[int, ...]]:
    """n shapes that broadcast together: suffixes of one shape, some dims set to 1."""
    base = draw(shapes(0, max_rank))
    out = []
    for _ in range(n):
        drop = min(len(base), draw(st.sampled_from([0, 0, 0, 1, 2, 3])))
        out.append(tuple(1 if draw(st.sampled_from([False, False, True])) else d
                         for d in base[drop:]))
    return out


def _rng(draw: Any) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _subset(draw: Any, rank: int) -> tuple[int, ...]:
    return tuple(i for i in range(rank) if draw(st.booleans()))


# --------------------------------------------------------------------------- value domains


def uniform(lo: float, hi: float) -> Domain:
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def away_from_zero(lo: float, hi: float) -> Domain:
    return lambda rng, shape: rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def off_integer(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-3, 4, shape) + rng.uniform(0.1, 0.9, shape)


def on_lattice(offset: float) -> Domain:
    # maximum/minimum operands: one on k + [-0.2, 0.2], the other on k + 0.5 + [-0.2, 0.2],
    # so they are never within 0.1 of each other and either may be the larger one.
    return lambda rng, shape: rng.integers(-3, 4, shape) + offset + rng.uniform(-.2, .2, shape)


def dividend(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # m + f with f in [0.1, 0.4]: divided by +-{0.5, 1, 2} (exactly), the quotient is at
    # least 0.05 away from an integer, where floordiv and mod jump.
    return rng.integers(-4, 5, shape) + rng.uniform(0.1, 0.4, shape)


def divisor(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.choice([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0], shape)


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # No ties for reduce_max/min: distinct values at least 0.15 apart.
    n = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(n) * 0.25 - n / 8 + rng.uniform(-0.05, 0.05, n)).reshape(shape)


# --------------------------------------------------------------------------- cases


def unary(dom: Domain) -> st.SearchStrategy[Case]:
    @st.composite
    def case(draw: Any) -> Case:
        return [dom(_rng(draw), draw(shapes()))], {}
    return case()


def nary(*doms: Domain, **params: Any) -> st.SearchStrategy[Case]:
    @st.composite
    def case(draw: Any) -> Case:
        rng = _rng(draw)
        return [d(rng, s) for d, s in zip(doms, draw(operand_shapes(len(doms))))], dict(params)
    return case()


def _bool(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.random(shape) < 0.5


@st.composite
def comparison(draw: Any) -> Case:
    rng = _rng(draw)
    sx, sy = draw(operand_shapes(2))
    dt = draw(st.sampled_from([np.float64, np.int32]))
    return [rng.integers(-2, 3, sx).astype(dt), rng.integers(-2, 3, sy).astype(dt)], {}


def reduction(dom: Domain) -> st.SearchStrategy[Case]:
    @st.composite
    def case(draw: Any) -> Case:
        shape = draw(shapes())
        params = {"axes": _subset(draw, len(shape)), "keepdims": draw(st.booleans())}
        return [dom(_rng(draw), shape)], params
    return case()


@st.composite
def arg_reduction(draw: Any) -> Case:
    shape = draw(shapes(1, 3, min_side=1))
    params = {"axis": draw(st.integers(0, len(shape) - 1)),
              "dtype": np.dtype(draw(st.sampled_from([np.int32, np.int64])))}
    return [uniform(-2, 2)(_rng(draw), shape)], params


@st.composite
def convert_case(draw: Any) -> Case:
    return [uniform(-2, 2)(_rng(draw), draw(shapes()))], {"dtype": F64}


@st.composite
def constant_case(draw: Any) -> Case:
    return [], {"value": uniform(-2, 2)(_rng(draw), draw(shapes()))}


@st.composite
def iota_case(draw: Any) -> Case:
    shape = draw(shapes(1, 3))
    return [], {"shape": shape, "dimension": draw(st.integers(0, len(shape) - 1)),
                "dtype": np.dtype(draw(st.sampled_from([np.int32, np.int64, np.float64])))}


@st.composite
def reshape_case(draw: Any) -> Case:
    shape = draw(shapes())
    n = int(np.prod(shape, dtype=np.int64))
    pos = draw(st.integers(0, len(shape)))
    targets = [(n,), shape[::-1], shape[:pos] + (1,) + shape[pos:]]
    if n == 1:
        targets.append(())
    if n % 2 == 0 and n:
        targets.append((2, n // 2))
    return [uniform(-2, 2)(_rng(draw), shape)], {"shape": draw(st.sampled_from(targets))}


@st.composite
def broadcast_case(draw: Any) -> Case:
    target = draw(shapes())
    shape = tuple(1 if draw(st.sampled_from([False, True])) else d for d in target)
    shape = shape[min(len(shape), draw(st.sampled_from([0, 0, 1, 2]))):]
    return [uniform(-2, 2)(_rng(draw), shape)], {"shape": target}


@st.composite
def transpose_case(draw: Any) -> Case:
    shape = draw(shapes())
    return [uniform(-2, 2)(_rng(draw), shape)], {
        "perm": tuple(draw(st.permutations(range(len(shape)))))}


@st.composite
def concat_case(draw: Any) -> Case:
    shape = draw(shapes(1, 3))
    axis = draw(st.integers(0, len(shape) - 1))
    rng = _rng(draw)
    xs = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(shape)
        s[axis] = draw(st.sampled_from([1, 2, 3, 0]))
        xs.append(rng.uniform(-2, 2, s))
    return xs, {"axis": axis}


@st.composite
def slice_case(draw: Any) -> Case:
    shape = draw(shapes())
    starts, limits, strides = [], [], []
    for d in shape:
        starts.append(draw(st.integers(0, d)))
        limits.append(draw(st.integers(starts[-1], d)))
        strides.append(draw(st.integers(1, 3)))
    return [uniform(-2, 2)(_rng(draw), shape)], {
        "starts": tuple(starts), "limits": tuple(limits), "strides": tuple(strides)}


@st.composite
def pad_case(draw: Any) -> Case:
    shape = draw(shapes(0, 2))
    k = len(shape)
    ints = st.lists(st.integers(0, 2), min_size=k, max_size=k).map(tuple)
    return [uniform(-2, 2)(_rng(draw), shape)], {
        "lo": draw(ints), "hi": draw(ints), "interior": draw(ints)}


@st.composite
def rev_case(draw: Any) -> Case:
    shape = draw(shapes())
    return [uniform(-2, 2)(_rng(draw), shape)], {"axes": _subset(draw, len(shape))}


@st.composite
def index_case(draw: Any) -> tuple[np.random.Generator, tuple[int, ...], int, np.ndarray]:
    shape = list(draw(shapes(1, 3)))
    axis = draw(st.integers(0, len(shape) - 1))
    shape[axis] = shape[axis] or 2
    rng = _rng(draw)
    idx_shape = draw(shapes(0, 2)) if len(shape) < 3 else draw(shapes(0, 1))
    dt = draw(st.sampled_from([np.int32, np.int64]))
    idx = rng.integers(0, shape[axis], idx_shape).astype(dt)  # repeats included
    return rng, tuple(shape), axis, idx


@st.composite
def gather_case(draw: Any) -> Case:
    rng, shape, axis, idx = draw(index_case())
    return [rng.uniform(-2, 2, shape), idx], {"axis": axis}


@st.composite
def scatter_case(draw: Any) -> Case:
    rng, shape, axis, idx = draw(index_case())
    upd = rng.uniform(-2, 2, shape[:axis] + idx.shape + shape[axis + 1:])
    return [upd, idx], {"axis": axis, "size": shape[axis]}


@st.composite
def one_hot_case(draw: Any) -> Case:
    rng = _rng(draw)
    depth = draw(st.integers(1, 4))
    idx = rng.integers(0, depth, draw(shapes(0, 2))).astype(np.int32)
    return [idx], {"depth": depth, "dtype": F64, "on": 2.5, "off": -1.0}


@st.composite
def matmul_case(draw: Any) -> Case:
    rng = _rng(draw)
    sa, sb = draw(operand_shapes(2, max_rank=2).filter(
        lambda ss: all(int(np.prod(s, dtype=np.int64)) <= 4 for s in ss)))
    m, k, n = (draw(st.sampled_from([1, 2, 3, 0])) for _ in range(3))
    ta, tb = draw(st.booleans()), draw(st.booleans())
    a = rng.uniform(-2, 2, sa + ((k, m) if ta else (m, k)))
    b = rng.uniform(-2, 2, sb + ((n, k) if tb else (k, n)))
    return [a, b], {"transpose_a": ta, "transpose_b": tb}


_CALLEES: dict[str, Callable[..., Any]] = {
    # Two results, broadcasting inside; the second ignores y.
    "two_results": lambda x, y: (bind("mul", x, bind("sin", y)), bind("exp", x)),
    # y is unused: unconnected inside the callee.
    "unused_param": lambda x, y: bind("tanh", x),
    # A call inside the callee, so the backward of a backward calls a backward.
    "nested": lambda x, y: bind("call", bind("mul", x, x), y, fn=_callee("two_results",
                                                                          (x.shape, y.shape))),
}


def _callee(body: str, shapes: tuple[tuple[int, ...], ...]) -> Function:
    b = Builder(body)
    ps = [b.param(TensorType(s, F64)) for s in shapes]
    with interpreting(b):
        out = _CALLEES[body](*ps)
    return b.build(list(out) if isinstance(out, tuple) else [out])


@st.composite
def call_case(draw: Any) -> Case:
    rng = _rng(draw)
    sx, sy = draw(operand_shapes(2))
    body = draw(st.sampled_from(sorted(_CALLEES)))
    if body == "nested":
        sx = np.broadcast_shapes(sx, sy)  # the inner call's first result has this shape
    fn = _callee(body, (sx, sy))
    return [rng.uniform(-2, 2, sx), rng.uniform(-2, 2, sy)], {"fn": fn}


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Spec:
    cases: st.SearchStrategy[Case]
    kind: str = "diff"  # "diff" | "zero" | "nondiff" (see the module docstring)


U = uniform(-2, 2)
POS = uniform(0.5, 3)
AWAY = away_from_zero(0.1, 2)

SPECS: dict[str, Spec] = {
    # elementwise, unary
    "neg": Spec(unary(U)),
    "exp": Spec(unary(U)),
    "log": Spec(unary(POS)),
    "log1p": Spec(unary(uniform(-0.5, 2))),
    "expm1": Spec(unary(U)),
    "sin": Spec(unary(uniform(-4, 4))),
    "cos": Spec(unary(uniform(-4, 4))),
    "tan": Spec(unary(uniform(-1.2, 1.2))),
    "tanh": Spec(unary(U)),
    "sqrt": Spec(unary(POS)),
    "abs": Spec(unary(AWAY)),
    "sign": Spec(unary(AWAY), "zero"),
    "floor": Spec(unary(off_integer), "zero"),
    "logistic": Spec(unary(uniform(-6, 6))),
    "softplus": Spec(unary(uniform(-6, 6))),
    "relu": Spec(unary(AWAY)),
    "identity": Spec(unary(U)),
    "stop_gradient": Spec(unary(U), "nondiff"),
    "convert": Spec(convert_case()),
    "logical_not": Spec(nary(_bool), "nondiff"),
    # elementwise, binary
    "add": Spec(nary(U, U)),
    "sub": Spec(nary(U, U)),
    "mul": Spec(nary(U, U)),
    "div": Spec(nary(U, away_from_zero(0.5, 2))),
    "pow": Spec(nary(uniform(0.5, 2), U)),
    "maximum": Spec(nary(on_lattice(0.0), on_lattice(0.5))),
    "minimum": Spec(nary(on_lattice(0.5), on_lattice(0.0))),
    "floordiv": Spec(nary(dividend, divisor), "zero"),
    "mod": Spec(nary(dividend, divisor)),
    **{c: Spec(comparison(), "nondiff") for c in ["eq", "ne", "lt", "le", "gt", "ge"]},
    "logical_and": Spec(nary(_bool, _bool), "nondiff"),
    "logical_or": Spec(nary(_bool, _bool), "nondiff"),
    "select": Spec(nary(_bool, U, U)),
    # reductions
    "reduce_sum": Spec(reduction(U)),
    "reduce_max": Spec(reduction(distinct)),
    "reduce_min": Spec(reduction(distinct)),
    "reduce_prod": Spec(reduction(away_from_zero(0.5, 1.5))),
    "argmax": Spec(arg_reduction(), "nondiff"),
    "argmin": Spec(arg_reduction(), "nondiff"),
    # shape
    "constant": Spec(constant_case(), "nondiff"),
    "iota": Spec(iota_case(), "nondiff"),
    "reshape": Spec(reshape_case()),
    "broadcast_to": Spec(broadcast_case()),
    "transpose": Spec(transpose_case()),
    "concat": Spec(concat_case()),
    "slice": Spec(slice_case()),
    "pad": Spec(pad_case()),
    "rev": Spec(rev_case()),
    # indexing
    "gather": Spec(gather_case()),
    "scatter_add": Spec(scatter_case()),
    "one_hot": Spec(one_hot_case(), "nondiff"),
    # linear algebra
    "matmul": Spec(matmul_case()),
    # functions
    "call": Spec(call_case()),
}

DIFFERENTIABLE = sorted(n for n, s in SPECS.items() if s.kind != "nondiff")
NOT_DIFFERENTIABLE = sorted(n for n, s in SPECS.items() if s.kind != "diff")
FAST = settings(deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])


def test_every_primitive_has_a_spec() -> None:
    registered = set(all_primitives())
    assert set(SPECS) == registered, (
        f"missing specs: {sorted(registered - set(SPECS))}; "
        f"specs of unknown primitives: {sorted(set(SPECS) - registered)}")


def _apply(name: str, params: dict[str, Any]) -> Callable[..., Any]:
    return lambda *xs: bind(name, *xs, **params)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@FAST
@given(data=st.data())
def test_vjp_matches_finite_differences(name: str, data: st.DataObject) -> None:
    args, params = data.draw(SPECS[name].cases, label="case")
    check_ir_grads(_apply(name, params), args, order=1, what=name)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@SLOW
@given(data=st.data())
def test_vjp_of_vjp_matches_finite_differences(name: str, data: st.DataObject) -> None:
    args, params = data.draw(SPECS[name].cases, label="case")
    check_ir_grads(_apply(name, params), args, order=2, what=name)


def _trace(name: str, args: list[np.ndarray], params: dict[str, Any]
           ) -> tuple[Builder, list[Value], Value]:
    b = Builder(name)
    ps = [b.param(TensorType(a.shape, a.dtype)) for a in args]
    with interpreting(b):
        out = bind(name, *ps, **params)
    return b, ps, out


@pytest.mark.parametrize("name", sorted(SPECS))
@FAST
@given(data=st.data())
def test_rule_emits_ir_of_the_operand_types(name: str, data: st.DataObject) -> None:
    """A rule returns one cotangent (or None) per operand, built as IR (running it inside a
    Builder fails on any NumPy escape), with the operand's dtype (float32 too) and a shape
    that sums back to the operand's shape; a non-differentiable primitive gives None for every
    operand."""
    args, params = data.draw(SPECS[name].cases, label="case")
    if name != "call" and data.draw(st.booleans(), label="float32"):
        args = [a.astype(np.float32) if a.dtype == F64 else a for a in args]
    prim = all_primitives()[name]
    b, ps, out = _trace(name, args, params)
    g = tuple(b.param(o.type, "g") for o in out) if isinstance(out, tuple) else b.param(out.type)
    with interpreting(b):
        cts = prim.vjp(g, *ps, out=out, **prim.canonical_params(params))
    assert len(cts) == len(ps)
    for p, c in zip(ps, cts):
        if SPECS[name].kind != "diff" or p.dtype.kind != "f":
            assert c is None
        if c is None:  # (a differentiable primitive may know an operand is unused)
            continue
        assert isinstance(c, Value)
        assert c.dtype == p.dtype
        assert np.broadcast_shapes(c.shape, p.shape) == c.shape


@pytest.mark.parametrize("name", NOT_DIFFERENTIABLE)
@FAST
@given(data=st.data())
def test_autodiff_reports_no_gradient(name: str, data: st.DataObject) -> None:
    """Through a primitive without a gradient, a float source of a float result is connected
    with exact zeros (as TensorFlow's gradient through sign or floor); every other source is
    reported unconnected."""
    args, params = data.draw(SPECS[name].cases, label="case")
    b, ps, out = _trace(name, args, params)
    fn = b.build([out])
    grad = vjp(fn, ps)
    expected = [out.dtype.kind == "f" and p.dtype.kind == "f" for p in ps]
    assert grad.connected == expected
    residuals = evaluate(Function("res", fn.params, fn.instrs, grad.residuals), args)
    seed = np.ones(out.shape, out.dtype)
    cts = evaluate(grad.fn, residuals + [seed])
    assert len(cts) == sum(expected)
    for c, p in zip(cts, [p for p, e in zip(ps, expected) if e]):
        assert c.shape == p.shape and c.dtype == p.dtype
        assert not np.any(c), "expected exact zeros"


# --------------------------------------------------------------------------- regressions


def test_broadcast_to_a_scalar_keeps_rank_0_regression() -> None:
    """The reference impl used np.ascontiguousarray, which turns a 0-d result into shape
    (1,): its gradient then had the wrong shape."""
    b, _, out = _trace("broadcast_to", [np.ones(())], {"shape": ()})
    (value,) = evaluate(b.build([out]), [np.array(2.0)])
    assert value.shape == ()


def test_call_with_one_result_keeps_its_shape_regression() -> None:
    """The reference impl of `call` returned a 1-tuple, which the NumPy interpreter turned
    into an array of shape (1, ...)."""
    fn = _callee("unused_param", ((), (2,)))
    check_ir_grads(_apply("call", {"fn": fn}), [np.array(0.5), np.ones(2)], order=2)
