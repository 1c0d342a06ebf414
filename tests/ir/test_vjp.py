"""Every primitive's VJP rule against central finite differences, at order 1 and order 2.

`SPECS` has one entry per registered primitive (a test fails when a primitive has none): a
hypothesis strategy drawing valid operands and params, and a kind.

- "diff": differentiable; its rule is checked against finite differences of
  `sum(seed * f(x))` (order 1) and of the computed gradient (order 2), see
  `tests/gradcheck.py` for the tolerances. Values are drawn away from kinks and
  singularities by much more than the finite-difference step.
- "zero": TensorFlow registers a gradient of zeros (sign): the rule gives no cotangent,
  the autodiff pass reports float operands connected with zero gradient, and finite
  differences (away from the jumps) agree.
- "nondiff": TensorFlow registers no gradient (floor, floordiv, comparisons, logical ops,
  argmax/argmin, one_hot, iota, constant, stop_gradient): the rule gives `None` for every
  operand and the autodiff pass reports each source unconnected.
- "custom": `custom_vjp`, whose gradient is a given Function rather than the derivative
  of what it computes (checked by the rule test here and end to end, against finite
  differences, by `tests/test_custom_gradient.py`).
The kinds agree with each primitive's registry field `gradient` (a test checks it).

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
from tests.ir import cases, conv_cases as cc, lapack_cases as lc
from tests.ir.cases import CALLEES, Body, Case, Style, make_callee, make_rng, subset
from tests.ir.prim_cases import assert_case, philox_case

F64 = np.dtype(np.float64)
Domain = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]

# --------------------------------------------------------------------------- value domains


def uniform(lo: float, hi: float) -> Domain:
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def away_from_zero(lo: float, hi: float) -> Domain:
    return lambda rng, shape: rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def off_integer(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-3, 4, shape) + rng.uniform(0.1, 0.9, shape)


def gamma_argument(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Positive, or negative at least 0.15 away from the poles (the integers <= 0)."""
    x = rng.uniform(-2.7, 3.5, shape)
    frac = x - np.floor(x)
    return np.where(x > 0.15, x, np.floor(x) + 0.15 + 0.7 * frac)


def polygamma_order(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 4, shape).astype(np.float64)


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


STYLE = Style(uniform(-2, 2),
              sides=lambda rank: (1, 2, 3, 2, 3, 4, 1, 0) if rank <= 2 else (1, 2, 3, 2, 1, 0),
              drops=(0, 0, 0, 1, 2, 3))

_CALLEES: dict[str, Body] = {
    **CALLEES,
    # y is unused: unconnected inside the callee.
    "unused_param": lambda x, y: bind("tanh", x),
}


def unary(dom: Domain) -> st.SearchStrategy[Case]:
    @st.composite
    def case(draw: Any) -> Case:
        return [dom(make_rng(draw), draw(STYLE.shapes()))], {}
    return case()


def nary(*doms: Domain, **params: Any) -> st.SearchStrategy[Case]:
    @st.composite
    def case(draw: Any) -> Case:
        rng = make_rng(draw)
        shapes = draw(STYLE.operand_shapes(len(doms)))
        return [d(rng, s) for d, s in zip(doms, shapes)], dict(params)
    return case()


def _bool(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.random(shape) < 0.5


def _small_int(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-3, 4, shape).astype(np.int32)


@st.composite
def comparison(draw: Any) -> Case:
    rng = make_rng(draw)
    sx, sy = draw(STYLE.operand_shapes(2))
    dt = draw(st.sampled_from([np.float64, np.int32]))
    return [rng.integers(-2, 3, sx).astype(dt), rng.integers(-2, 3, sy).astype(dt)], {}


def reduction(dom: Domain) -> st.SearchStrategy[Case]:
    @st.composite
    def case(draw: Any) -> Case:
        shape = draw(STYLE.shapes())
        params = {"axes": subset(draw, len(shape)), "keepdims": draw(st.booleans())}
        return [dom(make_rng(draw), shape)], params
    return case()


@st.composite
def arg_reduction(draw: Any) -> Case:
    shape = draw(STYLE.shapes(1, 3, min_side=1))
    params = {"axis": draw(st.integers(0, len(shape) - 1)),
              "dtype": np.dtype(draw(st.sampled_from([np.int32, np.int64])))}
    return [uniform(-2, 2)(make_rng(draw), shape)], params


@st.composite
def convert_case(draw: Any) -> Case:
    return [uniform(-2, 2)(make_rng(draw), draw(STYLE.shapes()))], {"dtype": F64}


@st.composite
def constant_case(draw: Any) -> Case:
    return [], {"value": uniform(-2, 2)(make_rng(draw), draw(STYLE.shapes()))}


@st.composite
def iota_case(draw: Any) -> Case:
    shape = draw(STYLE.shapes(1, 3))
    return [], {"shape": shape, "dimension": draw(st.integers(0, len(shape) - 1)),
                "dtype": np.dtype(draw(st.sampled_from([np.int32, np.int64, np.float64])))}


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Spec:
    cases: st.SearchStrategy[Case]
    kind: str = "diff"  # "diff" | "zero" | "nondiff" | "custom" (see the module docstring)
    # the float operands the rule differentiates (default: all); the others get None
    wrt: tuple[int, ...] | None = None
    # Applied to each operand before the primitive (with bind): `symmetric_input` for the
    # primitives whose gradient is TensorFlow's symmetric one (cholesky).
    prepare: Callable[[Any], Any] | None = None


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
    "rsqrt": Spec(unary(POS)),
    "reciprocal": Spec(unary(AWAY)),
    "abs": Spec(unary(AWAY)),
    "sign": Spec(unary(AWAY), "zero"),
    "floor": Spec(unary(off_integer), "nondiff"),
    "ceil": Spec(unary(off_integer), "nondiff"),
    "round": Spec(unary(off_integer), "nondiff"),
    "atan2": Spec(nary(AWAY, AWAY)),
    "atan": Spec(unary(U)),
    "asin": Spec(unary(uniform(-0.9, 0.9))),
    "acos": Spec(unary(uniform(-0.9, 0.9))),
    "logistic": Spec(unary(uniform(-6, 6))),
    "erf": Spec(unary(U)),
    "erfc": Spec(unary(U)),
    "lgamma": Spec(unary(gamma_argument)),
    "digamma": Spec(unary(gamma_argument)),
    # the order is an integer-valued float without a gradient (TensorFlow's None)
    "polygamma": Spec(nary(polygamma_order, gamma_argument), wrt=(1,)),
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
    "floordiv": Spec(nary(dividend, divisor), "nondiff"),
    "mod": Spec(nary(dividend, divisor)),
    **{c: Spec(comparison(), "nondiff") for c in ["eq", "ne", "lt", "le", "gt", "ge"]},
    "logical_and": Spec(nary(_bool, _bool), "nondiff"),
    "logaddexp": Spec(nary(U, U)),
    "mul_no_nan": Spec(nary(U, U)),
    "ipow": Spec(nary(_small_int, _small_int), "nondiff"),
    "logical_or": Spec(nary(_bool, _bool), "nondiff"),
    "select": Spec(nary(_bool, U, U)),
    # reductions
    "reduce_sum": Spec(reduction(U)),
    "reduce_max": Spec(reduction(distinct)),
    "reduce_min": Spec(reduction(distinct)),
    "reduce_prod": Spec(reduction(away_from_zero(0.5, 1.5))),
    "argmax": Spec(arg_reduction(), "nondiff"),
    "assert": Spec(assert_case(), "nondiff"),
    "argmin": Spec(arg_reduction(), "nondiff"),
    # shape
    "constant": Spec(constant_case(), "nondiff"),
    "iota": Spec(iota_case(), "nondiff"),
    "reshape": Spec(cases.reshape_case(STYLE)),
    "broadcast_to": Spec(cases.broadcast_case(STYLE)),
    "transpose": Spec(cases.transpose_case(STYLE)),
    "concat": Spec(cases.concat_case(STYLE)),
    "slice": Spec(cases.slice_case(STYLE)),
    "pad": Spec(cases.pad_case(STYLE)),
    "rev": Spec(cases.rev_case(STYLE)),
    # indexing
    "gather": Spec(cases.gather_case(STYLE)),
    "scatter_add": Spec(cases.scatter_case(STYLE, distinct_set=True)),
    "one_hot": Spec(cases.one_hot_case(STYLE, (np.dtype(np.int32),)), "nondiff"),
    # random numbers
    "philox": Spec(philox_case(), "nondiff"),
    # linear algebra
    "matmul": Spec(cases.matmul_case(STYLE, max_lead=4)),
    # functions
    "call": Spec(cases.call_case(STYLE, _CALLEES)),
    "custom_vjp": Spec(cases.custom_vjp_case(STYLE), "custom"),
    # regions
    "while": Spec(cases.while_case(STYLE)),
    "scan": Spec(cases.scan_case(STYLE)),
    "cond": Spec(cases.cond_case(STYLE)),
    # scans
    "cumsum": Spec(cases.cumulative_case(STYLE)),
    "cumprod": Spec(cases.cumulative_case(STYLE)),
    "linrec": Spec(cases.linrec_case(STYLE)),
    "cumlogsumexp": Spec(cases.cumulative_case(STYLE)),
    "sort": Spec(cases.sort_case(STYLE)),
    **{p: Spec(cases.segment_case(STYLE)) for p in ("segment_max", "segment_min",
                                                    "segment_prod")},
    # linear algebra on LAPACK
    "cholesky": Spec(lc.unary_case(lc.spd), prepare=lc.symmetric_input),
    "triangular_solve": Spec(lc.solve_case("triangular_solve")),
    "solve": Spec(lc.solve_case("solve")),
    "slogdet": Spec(lc.unary_case(lc.general)),
    "eigh": Spec(lc.unary_case(lc.symmetric)),
    "qr": Spec(lc.decomposition_case("qr", for_gradients=True)),
    "svd": Spec(lc.decomposition_case("svd", for_gradients=True)),
    "lu": Spec(lc.unary_case(lc.pivoting)),
    # convolution and pooling (max_pool away from ties)
    "conv": Spec(cc.conv_case()),
    "conv_filter_grad": Spec(cc.filter_grad_case()),
    "max_pool": Spec(cc.pool_case(ties=False)),
    "max_pool_argmax": Spec(cc.pool_case(), "nondiff"),
    "avg_pool": Spec(cc.pool_case()),
}

DIFFERENTIABLE = sorted(n for n, s in SPECS.items() if s.kind in ("diff", "zero"))
NOT_DIFFERENTIABLE = sorted(n for n, s in SPECS.items() if s.kind in ("zero", "nondiff"))
FAST = settings(deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])


def test_every_primitive_has_a_spec() -> None:
    registered = set(all_primitives())
    assert set(SPECS) == registered, (
        f"missing specs: {sorted(registered - set(SPECS))}; "
        f"specs of unknown primitives: {sorted(set(SPECS) - registered)}")


def test_spec_kinds_agree_with_the_registry_gradient_field() -> None:
    want = {"diff": "rule", "zero": "zero", "nondiff": "none", "custom": "rule"}
    wrong = {n: (s.kind, all_primitives()[n].gradient) for n, s in SPECS.items()
             if want[s.kind] != all_primitives()[n].gradient}
    assert not wrong, wrong


def _apply(name: str, params: dict[str, Any]) -> Callable[..., Any]:
    prep = SPECS[name].prepare
    if prep is not None:
        return lambda *xs: bind(name, *map(prep, xs), **params)
    return lambda *xs: bind(name, *xs, **params)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@FAST
@given(data=st.data())
def test_vjp_matches_finite_differences(name: str, data: st.DataObject) -> None:
    args, params = data.draw(SPECS[name].cases, label="case")
    check_ir_grads(_apply(name, params), args, order=1, what=name, wrt=SPECS[name].wrt)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@SLOW
@given(data=st.data())
def test_vjp_of_vjp_matches_finite_differences(name: str, data: st.DataObject) -> None:
    args, params = data.draw(SPECS[name].cases, label="case")
    check_ir_grads(_apply(name, params), args, order=2, what=name, wrt=SPECS[name].wrt)


def trace_primitive(name: str, args: list[np.ndarray], params: dict[str, Any]
                    ) -> tuple[Builder, list[Value], Any]:
    """(a Builder, its parameters typed as `args`, the output(s) of `name` bound on them)."""
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
    if name not in ("call", "custom_vjp", "while", "scan", "cond") and data.draw(
            st.booleans(), label="float32"):
        args = [a.astype(np.float32) if a.dtype == F64 else a for a in args]
    prim = all_primitives()[name]
    b, ps, out = trace_primitive(name, args, params)
    g = tuple(b.param(o.type, "g") for o in out) if isinstance(out, tuple) else b.param(out.type)
    with interpreting(b):
        cts = prim.vjp(g, *ps, out=out, **prim.canonical_params(params))
    assert len(cts) == len(ps)
    for p, c in zip(ps, cts):
        if SPECS[name].kind not in ("diff", "custom") or p.dtype.kind != "f":
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
    """Through a primitive with a zero gradient (TensorFlow's sign), a float source of a float
    result is connected with exact zeros; through one without a gradient (TensorFlow's floor,
    stop_gradient, comparisons, ...), and for every other source, it is unconnected."""
    args, params = data.draw(SPECS[name].cases, label="case")
    b, ps, out = trace_primitive(name, args, params)
    fn = b.build([out])
    grad = vjp(fn, ps)
    zero = all_primitives()[name].gradient == "zero"
    expected = [zero and out.dtype.kind == "f" and p.dtype.kind == "f" for p in ps]
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
    b, _, out = trace_primitive("broadcast_to", [np.ones(())], {"shape": ()})
    (value,) = evaluate(b.build([out]), [np.array(2.0)])
    assert value.shape == ()


def test_call_with_one_result_keeps_its_shape_regression() -> None:
    """The reference impl of `call` returned a 1-tuple, which the NumPy interpreter turned
    into an array of shape (1, ...)."""
    fn = make_callee("unused_param", ((), (2,)), _CALLEES)
    check_ir_grads(_apply("call", {"fn": fn}), [np.array(0.5), np.ones(2)], order=2)
