"""Hypothesis case generators shared by the per-primitive tests (`test_batching.py`,
`test_vjp.py`): a case is the operands of one primitive and its params.

- `Style(fill, sides, drops)`: how one test module draws shapes (`Style.shapes`,
  `Style.operand_shapes`) and float64 operands (`fill`: special values for one module,
  smooth ones for another).
- The cases of the structural primitives, each drawn in a `Style`: `reshape_case`,
  `broadcast_case`, `transpose_case`, `concat_case`, `slice_case`, `pad_case`, `rev_case`,
  `gather_case`, `scatter_case`, `one_hot_case`, `matmul_case`, `call_case` and
  `custom_vjp_case`.
- `make_rng(draw)` and `subset(draw, rank)`, helpers of composite strategies.
- `plain_elementwise(p)`, `accepted(p, dtypes)`, `inexact(p)`: what a primitive's registry
  entry says about its cases (so category lists are derived, never typed out).
- `CALLEES` and `make_callee(name, shapes, bodies)`: small callees of `call`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from tracejit.ir import Function, bind
from tracejit.ir.prims import Primitive

from tests.strategies import F64, I32, I64, build_function

Case = tuple[list[np.ndarray], dict[str, Any]]
Fill = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]
Body = Callable[..., Any]


def plain_elementwise(p: Primitive) -> bool:
    """Whether `p` is an elementwise primitive whose cases follow from its registry entry
    alone: no parameters, operands of one dtype from `p.dtypes`."""
    return p.kind == "elementwise" and not p.param_defaults and p.dtypes is not None


def accepted(p: Primitive, choices: Sequence[Any]) -> tuple[np.dtype, ...]:
    """The dtypes of `choices` that `p` accepts (its registry entry's `dtypes`)."""
    out = tuple(np.dtype(d) for d in choices if np.dtype(d) in (p.dtypes or ()))
    assert out, f"{p.name} accepts none of {choices}"
    return out


def inexact(p: Primitive) -> bool:
    """Whether NumPy's results of `p` may round differently for different array shapes
    (transcendentals take SIMD or scalar paths; sums and products accumulate in
    shape-dependent order), so comparisons across shapes need a tolerance."""
    if p.kind == "elementwise":
        return p.dtypes is not None and all(d.kind == "f" for d in p.dtypes)
    return p.kind in ("reduce", "kernel", "call", "region")


def make_rng(draw: Any) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def subset(draw: Any, rank: int) -> tuple[int, ...]:
    return tuple(i for i in range(rank) if draw(st.booleans()))


CALLEES: dict[str, Body] = {
    # Two results, broadcasting inside; the second ignores y.
    "two_results": lambda x, y: (bind("mul", x, bind("sin", y)), bind("exp", x)),
    # A call inside the callee: transformations of the caller recurse into both callees.
    "nested": lambda x, y: bind("call", bind("mul", x, x), y,
                                fn=make_callee("two_results", (x.shape, y.shape))),
}


def make_callee(name: str, shapes: Sequence[tuple[int, ...]],
                bodies: Mapping[str, Body] = CALLEES) -> Function:
    """The callee `bodies[name]` with float64 parameters of `shapes`."""
    return build_function(name, [(s, F64) for s in shapes], bodies[name])


@dataclass(frozen=True)
class Style:
    """How a test module draws cases. `fill(rng, shape)` draws a float64 operand;
    `sides(rank)` gives the dimension sizes a shape of that rank draws from and `drops` the
    numbers of leading dimensions an operand of `operand_shapes` leaves out (repeats weigh)."""
    fill: Fill
    sides: Callable[[int], Sequence[int]]
    drops: Sequence[int]

    def shapes(self, min_rank: int = 0, max_rank: int = 3, min_side: int = 0
               ) -> st.SearchStrategy[tuple[int, ...]]:
        @st.composite
        def shape(draw: Any) -> tuple[int, ...]:
            rank = draw(st.integers(min_rank, max_rank))
            sides = [s for s in self.sides(rank) if s >= min_side]
            return tuple(draw(st.sampled_from(sides)) for _ in range(rank))
        return shape()

    def operand_shapes(self, n: int, max_rank: int = 3
                       ) -> st.SearchStrategy[list[tuple[int, ...]]]:
        """n shapes that broadcast together: suffixes of one shape, some dims set to 1."""
        @st.composite
        def operands(draw: Any) -> list[tuple[int, ...]]:
            base = draw(self.shapes(0, max_rank))
            out = []
            for _ in range(n):
                drop = min(len(base), draw(st.sampled_from(self.drops)))
                out.append(tuple(1 if draw(st.sampled_from([False, False, True])) else d
                                 for d in base[drop:]))
            return out
        return operands()


@st.composite
def reshape_case(draw: Any, style: Style) -> Case:
    shape = draw(style.shapes())
    n = int(np.prod(shape, dtype=np.int64))
    pos = draw(st.integers(0, len(shape)))
    targets = [(n,), shape[::-1], shape[:pos] + (1,) + shape[pos:]]
    if n == 1:
        targets.append(())
    if n % 2 == 0 and n:
        targets.append((2, n // 2))
    return [style.fill(make_rng(draw), shape)], {"shape": draw(st.sampled_from(targets))}


@st.composite
def broadcast_case(draw: Any, style: Style) -> Case:
    target = draw(style.shapes())
    shape = tuple(1 if draw(st.booleans()) else d for d in target)
    shape = shape[min(len(shape), draw(st.sampled_from([0, 0, 1, 2]))):]
    return [style.fill(make_rng(draw), shape)], {"shape": target}


@st.composite
def transpose_case(draw: Any, style: Style) -> Case:
    shape = draw(style.shapes())
    return [style.fill(make_rng(draw), shape)], {
        "perm": tuple(draw(st.permutations(range(len(shape)))))}


@st.composite
def concat_case(draw: Any, style: Style) -> Case:
    shape = draw(style.shapes(1, 3))
    axis = draw(st.integers(0, len(shape) - 1))
    rng = make_rng(draw)
    xs = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(shape)
        s[axis] = draw(st.sampled_from([1, 2, 3, 0]))
        xs.append(style.fill(rng, tuple(s)))
    return xs, {"axis": axis}


@st.composite
def slice_case(draw: Any, style: Style) -> Case:
    shape = draw(style.shapes())
    starts, limits, strides = [], [], []
    for d in shape:
        starts.append(draw(st.integers(0, d)))
        limits.append(draw(st.integers(starts[-1], d)))
        strides.append(draw(st.integers(1, 3)))
    return [style.fill(make_rng(draw), shape)], {
        "starts": tuple(starts), "limits": tuple(limits), "strides": tuple(strides)}


@st.composite
def pad_case(draw: Any, style: Style) -> Case:
    shape = draw(style.shapes(0, 2))
    k = len(shape)
    ints = st.lists(st.integers(0, 2), min_size=k, max_size=k).map(tuple)
    return [style.fill(make_rng(draw), shape)], {
        "lo": draw(ints), "hi": draw(ints), "interior": draw(ints)}


@st.composite
def rev_case(draw: Any, style: Style) -> Case:
    shape = draw(style.shapes())
    return [style.fill(make_rng(draw), shape)], {"axes": subset(draw, len(shape))}


@st.composite
def _index_case(draw: Any, style: Style
                ) -> tuple[np.random.Generator, tuple[int, ...], int, np.ndarray]:
    """An rng, an operand shape, an axis and in-range indices into that axis."""
    shape = list(draw(style.shapes(1, 3)))
    axis = draw(st.integers(0, len(shape) - 1))
    shape[axis] = shape[axis] or 2
    rng = make_rng(draw)
    idx_shape = draw(style.shapes(0, 2)) if len(shape) < 3 else draw(style.shapes(0, 1))
    dt = draw(st.sampled_from([I32, I64]))
    idx = rng.integers(0, shape[axis], idx_shape).astype(dt)  # repeats included
    return rng, tuple(shape), axis, idx


@st.composite
def gather_case(draw: Any, style: Style) -> Case:
    rng, shape, axis, idx = draw(_index_case(style))
    return [style.fill(rng, shape), idx], {"axis": axis}


@st.composite
def scatter_case(draw: Any, style: Style, distinct_set: bool = False) -> Case:
    """Mode "add" or "set"; with `distinct_set`, a "set" case has no repeated index (where
    repeats are overwritten, its gradient is TensorFlow's rule rather than the
    derivative: every update gets the cotangent at its index)."""
    rng, shape, axis, idx = draw(_index_case(style))
    mode = draw(st.sampled_from(["add", "set"]))
    if mode == "set" and distinct_set:
        n = min(idx.size, shape[axis])
        idx = rng.permutation(shape[axis])[:n].astype(idx.dtype)
    upd = style.fill(rng, shape[:axis] + idx.shape + shape[axis + 1:])
    return [upd, idx], {"axis": axis, "size": shape[axis], "mode": mode}


@st.composite
def one_hot_case(draw: Any, style: Style, dtypes: Sequence[np.dtype]) -> Case:
    """Indices of one of `dtypes`."""
    rng = make_rng(draw)
    depth = draw(st.integers(1, 4))
    idx = rng.integers(0, depth, draw(style.shapes(0, 2))).astype(draw(st.sampled_from(dtypes)))
    return [idx], {"depth": depth, "dtype": F64, "on": 2.5, "off": -1.0}


@st.composite
def matmul_case(draw: Any, style: Style, max_lead: int | None = None,
                plain_rhs: bool = False) -> Case:
    """Operands uniform in [-2, 2); with `max_lead`, the leading (batch) dimensions of each
    hold at most that many elements; with `plain_rhs`, half the time the right operand is a
    plain matrix."""
    rng = make_rng(draw)
    leads = style.operand_shapes(2, max_rank=2)
    if max_lead is not None:
        leads = leads.filter(
            lambda ss: all(int(np.prod(s, dtype=np.int64)) <= max_lead for s in ss))
    sa, sb = draw(leads)
    if plain_rhs and draw(st.booleans()):
        sb = ()  # a plain matrix: the batching rule folds the batch axis into the rows
    m, k, n = (draw(st.sampled_from([1, 2, 3, 0])) for _ in range(3))
    ta, tb = draw(st.booleans()), draw(st.booleans())
    a = rng.uniform(-2, 2, sa + ((k, m) if ta else (m, k)))
    b = rng.uniform(-2, 2, sb + ((n, k) if tb else (k, n)))
    return [a, b], {"transpose_a": ta, "transpose_b": tb}


@st.composite
def call_case(draw: Any, style: Style, bodies: Mapping[str, Body]) -> Case:
    """A call of one of the callees `bodies` (functions of x and y)."""
    rng = make_rng(draw)
    sx, sy = draw(style.operand_shapes(2))
    body = draw(st.sampled_from(sorted(bodies)))
    if body == "nested":
        sx = np.broadcast_shapes(sx, sy)  # the inner call's first result has this shape
    fn = make_callee(body, (sx, sy), bodies)
    return [style.fill(rng, sx), style.fill(rng, sy)], {"fn": fn}


@st.composite
def custom_vjp_case(draw: Any, style: Style) -> Case:
    """`custom_vjp(x, y, r)` whose gradient Function gives x the cotangent `seed * r`."""
    rng = make_rng(draw)
    s = draw(style.shapes(0, 3))
    bwd = build_function("bwd", [(s, F64), (s, F64)], lambda r, g: bind("mul", g, r))
    return ([style.fill(rng, s) for _ in range(3)],
            {"bwd": bwd, "n_in": 1, "n_out": 1, "connected": (True,)})


# --------------------------------------------------------------------------- regions
# Loop trip counts depend on an integer counter only, so finite differences never change
# them; data-dependent trip counts have tests of their own (tests/ir/test_control.py).


def _i32(v: int) -> Any:
    return bind("constant", value=np.array(v, np.int32))


@st.composite
def while_case(draw: Any, style: Style) -> Case:
    """`while i < n: x = sin(x) * a + 0.5 * x; i += 1` with a const `a` (broadcasting into
    `x`), `n` in {0, 1, 3} and maybe a smaller `max_iters`."""
    rng = make_rng(draw)
    sx, sa = draw(style.operand_shapes(2))
    sx = np.broadcast_shapes(sx, sa)
    n = draw(st.sampled_from([0, 1, 3]))
    types = [(sa, F64), (sx, F64), ((), I32)]
    cond = build_function("cond", types, lambda a, x, i: bind("lt", i, _i32(n)))
    body = build_function("body", types, lambda a, x, i: (
        bind("add", bind("mul", bind("sin", x), a),
             bind("mul", x, bind("constant", value=np.array(0.5)))),
        bind("add", i, _i32(1))))
    max_iters = draw(st.sampled_from([None, None, 2]))
    return ([style.fill(rng, sa), style.fill(rng, sx), np.array(0, np.int32)],
            {"cond": cond, "body": body, "n_consts": 1, "max_iters": max_iters})


@st.composite
def scan_case(draw: Any, style: Style) -> Case:
    """`c = c * tanh(x) + a; y = (c * x, sin(c))` over `xs` of length 0, 1 or 3, either
    direction, all steps or a dynamic step count (out of range too)."""
    rng = make_rng(draw)
    sc, sa = draw(style.operand_shapes(2))
    sc = np.broadcast_shapes(sc, sa)
    length = draw(st.sampled_from([0, 1, 3]))
    types = [(sa, F64), (sc, F64), (sc, F64)]

    def step(a: Any, c: Any, x: Any) -> Any:
        c2 = bind("add", bind("mul", c, bind("tanh", x)), a)
        return c2, bind("mul", c, x), bind("sin", c)
    body = build_function("body", types, step)
    args = [style.fill(rng, sa), style.fill(rng, sc), style.fill(rng, (length,) + sc)]
    params = {"body": body, "n_consts": 1, "n_carry": 1, "length": length,
              "reverse": draw(st.booleans())}
    if draw(st.booleans()):     # a dynamic step count, clamped to [0, length]
        steps = draw(st.sampled_from([-1, 0, 1, length - 1, length, length + 2]))
        return [np.array(steps, np.int32)] + args, dict(params, dynamic=True)
    return args, params


@st.composite
def cond_case(draw: Any, style: Style) -> Case:
    """Three branches of (x, y) with two results each; the index may be out of range (the
    last branch runs)."""
    rng = make_rng(draw)
    sx, sy = draw(style.operand_shapes(2))
    s = np.broadcast_shapes(sx, sy)
    types = [(s, F64), (s, F64)]
    branches = (
        build_function("b0", types, lambda x, y: (bind("mul", x, y), bind("sin", x))),
        build_function("b1", types, lambda x, y: (bind("add", x, y), bind("mul", x, x))),
        build_function("b2", types, lambda x, y: (bind("exp", y), x)),
    )
    index = np.array(draw(st.sampled_from([0, 1, 2, -1, 5])), np.int32)
    return [index, style.fill(rng, s), style.fill(rng, s)], {"branches": branches}


@st.composite
def cumulative_case(draw: Any, style: Style, dtypes: Sequence[Any] = (F64,)) -> Case:
    """A scan (`cumsum`, ...) along a drawn axis, forwards or in reverse; integer dtypes
    get the float operand rounded (small ints, so products do not overflow)."""
    shape = draw(style.shapes(1, 3))
    x = style.fill(make_rng(draw), shape)
    dt = np.dtype(draw(st.sampled_from(list(dtypes))))
    if dt.kind in "iu":
        x = np.round(x).astype(dt)
    return [x], {"axis": draw(st.integers(0, len(shape) - 1)), "reverse": draw(st.booleans())}


@st.composite
def linrec_case(draw: Any, style: Style, dtypes: Sequence[Any] = (F64,)) -> Case:
    """`linrec(a, b)` of two operands of one drawn shape, along a drawn axis, either way."""
    shape = draw(style.shapes(1, 3))
    rng = make_rng(draw)
    dt = np.dtype(draw(st.sampled_from(list(dtypes))))
    a, b = style.fill(rng, shape).astype(dt), style.fill(rng, shape).astype(dt)
    return [a, b], {"axis": draw(st.integers(0, len(shape) - 1)), "reverse": draw(st.booleans())}


@st.composite
def sort_case(draw: Any, style: Style, dtypes: Sequence[Any] = (F64,)) -> Case:
    """`sort` of a drawn operand of rank >= 1, ascending or descending."""
    x = style.fill(make_rng(draw), draw(style.shapes(1, 3)))
    dt = np.dtype(draw(st.sampled_from(list(dtypes))))
    return [np.round(x).astype(dt) if dt.kind in "iu" else x], {
        "descending": draw(st.booleans())}


@st.composite
def segment_case(draw: Any, style: Style, dtypes: Sequence[Any] = (F64,)) -> Case:
    """A segment reduction: ids of a drawn prefix of the data's shape, in range, naming
    every segment when there are ids enough (an empty segment's value is the dtype's
    lowest or highest, which drowns finite differences)."""
    shape = draw(style.shapes(1, 3))
    k = draw(st.integers(1, len(shape)))
    size = int(np.prod(shape[:k], dtype=np.int64))
    n = min(draw(st.integers(1, 4)), max(size, 1))
    rng = make_rng(draw)
    x = style.fill(rng, shape)
    dt = np.dtype(draw(st.sampled_from(list(dtypes))))
    flat = rng.integers(0, n, size)
    flat[:n] = rng.permutation(n)[:size]
    ids = flat.reshape(shape[:k]).astype(draw(st.sampled_from([I32, I64])))
    return [np.round(x).astype(dt) if dt.kind in "iu" else x, ids], {"num_segments": n}
