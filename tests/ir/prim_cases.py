"""Cases of every registered primitive for the tests that iterate the registry (`vmap`
in `test_batching.py`, native code in `tests/codegen/test_prims.py`): `CASES[name]` draws
operands and params of primitive `name`.

Shapes come from `STYLE`: broadcasting between operands, size-0 and size-1 dimensions and
scalars. Operands come from `values`: floats in [-2, 2) with ties, signed and exact zeros,
small ints, bools. The cases of elementwise primitives without parameters are derived from
their registry entries (`n_inputs`, `dtypes`), so a new one has cases for free; every
other primitive is listed (a test fails when one is missing).
"""
from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from hypothesis import strategies as st
from tracejit.ir import all_primitives, bind

from tests.ir import cases, conv_cases as cc, lapack_cases as lc
from tests.ir.cases import CALLEES, Body, Case, Style, make_rng, subset

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
I32 = np.dtype(np.int32)
I64 = np.dtype(np.int64)
BOOL = np.dtype(np.bool_)

def values(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Floats in [-2, 2) with some repeats (ties) and signed zeros, small ints, bools."""
    dt = np.dtype(dtype)
    if dt == BOOL:
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        return rng.integers(-3, 4, shape).astype(dt)
    a = rng.uniform(-2, 2, shape)
    a = np.where(rng.random(shape) < 0.2, np.round(a), a)  # ties, -0.0, exact zeros
    return a.astype(dt)


STYLE = Style(partial(values, dtype=F64), sides=lambda rank: (1, 2, 3, 2, 3, 1, 0),
              drops=(0, 0, 1, 2, 3))

TEST_CALLEES: dict[str, Body] = {
    **CALLEES,
    # y is unused, and the second result depends on no parameter.
    "unused_param": lambda x, y: (bind("tanh", x), bind("iota", shape=(2,), dimension=0,
                                                         dtype=F64)),
}


def nary(n: int, dtypes: tuple[Any, ...], **params: Any) -> st.SearchStrategy[Case]:
    @st.composite
    def case(draw: Any) -> Case:
        rng = make_rng(draw)
        dt = draw(st.sampled_from(dtypes))
        return [values(rng, s, dt) for s in draw(STYLE.operand_shapes(n))], dict(params)
    return case()


@st.composite
def select_case(draw: Any) -> Case:
    rng = make_rng(draw)
    sc, sx, sy = draw(STYLE.operand_shapes(3))
    dt = draw(st.sampled_from([F64, I32]))
    return [values(rng, sc, BOOL), values(rng, sx, dt), values(rng, sy, dt)], {}


@st.composite
def convert_case(draw: Any) -> Case:
    src = draw(st.sampled_from([F64, F32, I32, BOOL]))
    dst = draw(st.sampled_from([F64, F32, I32, I64, BOOL]))
    return [values(make_rng(draw), draw(STYLE.shapes()), src)], {"dtype": dst}


def reduction(dtypes: tuple[Any, ...]) -> st.SearchStrategy[Case]:
    @st.composite
    def case(draw: Any) -> Case:
        shape = draw(STYLE.shapes())
        params = {"axes": subset(draw, len(shape)), "keepdims": draw(st.booleans())}
        return [values(make_rng(draw), shape, draw(st.sampled_from(dtypes)))], params
    return case()


@st.composite
def arg_reduction(draw: Any) -> Case:
    shape = draw(STYLE.shapes(1, 3, min_side=1))
    params = {"axis": draw(st.integers(0, len(shape) - 1)),
              "dtype": draw(st.sampled_from([I32, I64]))}
    return [values(make_rng(draw), shape, draw(st.sampled_from([F64, I32])))], params


@st.composite
def constant_case(draw: Any) -> Case:
    return [], {"value": values(make_rng(draw), draw(STYLE.shapes()),
                                draw(st.sampled_from([F64, I32])))}


@st.composite
def iota_case(draw: Any) -> Case:
    shape = draw(STYLE.shapes(1, 3))
    return [], {"shape": shape, "dimension": draw(st.integers(0, len(shape) - 1)),
                "dtype": draw(st.sampled_from([I32, I64, F64]))}


@st.composite
def philox_case(draw: Any) -> Case:
    """Keys of any 32-bit words and counters far from 0, under 0-2 batch dimensions."""
    rng = make_rng(draw)
    batch = draw(STYLE.shapes(0, 2))
    key = rng.integers(0, 2**32, size=batch + (2,), dtype=np.int64)
    counter = rng.integers(0, 2**40, size=batch, dtype=np.int64)
    dtype, dist = draw(st.sampled_from([(I64, "bits"), (F32, "uniform"), (F64, "uniform"),
                                        (F32, "normal"), (F64, "normal")]))
    return [key, counter], {"shape": draw(STYLE.shapes(0, 3)), "dtype": np.dtype(dtype),
                            "dist": dist}


@st.composite
def polygamma_case(draw: Any) -> Case:
    """polygamma(a, x) with integer orders 0..3 (other orders give NaN everywhere) and
    some invalid ones."""
    rng = make_rng(draw)
    dt = draw(st.sampled_from([F64, F32]))
    sa, sx = draw(STYLE.operand_shapes(2))
    a = rng.integers(0, 4, sa).astype(dt)
    a = np.where(rng.random(sa) < 0.1, dt.type(-0.5), a).astype(dt)
    return [a, values(rng, sx, dt)], {}


@st.composite
def assert_case(draw: Any) -> Case:
    """A bool operand of any shape, all true (a failing one raises: its own tests)."""
    return [np.ones(draw(STYLE.shapes(0, 3)), BOOL)], {"message": "m", "error": draw(
        st.sampled_from(["invalid_argument", "division_by_zero"]))}


PRIMS = all_primitives()

CASES: dict[str, st.SearchStrategy[Case]] = {
    # Every elementwise primitive without parameters, on the dtypes it accepts.
    **{n: nary(p.n_inputs, cases.accepted(p, (F64, F32, I32, BOOL)))
       for n, p in PRIMS.items() if cases.plain_elementwise(p)},
    "convert": convert_case(),
    "select": select_case(),
    "polygamma": polygamma_case(),
    **{p: reduction((F64, I32)) for p in ("reduce_sum", "reduce_max", "reduce_min",
                                          "reduce_prod")},
    "argmax": arg_reduction(),
    "argmin": arg_reduction(),
    "assert": assert_case(),
    "constant": constant_case(),
    "iota": iota_case(),
    "reshape": cases.reshape_case(STYLE),
    "broadcast_to": cases.broadcast_case(STYLE),
    "transpose": cases.transpose_case(STYLE),
    "concat": cases.concat_case(STYLE),
    "slice": cases.slice_case(STYLE),
    "pad": cases.pad_case(STYLE),
    "rev": cases.rev_case(STYLE),
    "gather": cases.gather_case(STYLE),
    "scatter_add": cases.scatter_case(STYLE),
    "one_hot": cases.one_hot_case(STYLE, (I32, I64)),
    "philox": philox_case(),
    "matmul": cases.matmul_case(STYLE, plain_rhs=True),
    "call": cases.call_case(STYLE, TEST_CALLEES),
    "custom_vjp": cases.custom_vjp_case(STYLE),


    "while": cases.while_case(STYLE),
    "scan": cases.scan_case(STYLE),
    "cond": cases.cond_case(STYLE),
    "cumsum": cases.cumulative_case(STYLE, (F64, I32)),
    "cumprod": cases.cumulative_case(STYLE, (F64, I32)),
    "cumlogsumexp": cases.cumulative_case(STYLE),
    "linrec": cases.linrec_case(STYLE, (F64, F32)),
    "sort": cases.sort_case(STYLE, (F64, I32)),
    **{p: cases.segment_case(STYLE, (F64, I32)) for p in ("segment_max", "segment_min",
                                                          "segment_prod")},
    "cholesky": lc.unary_case(lc.spd, (F64, F32)),
    "triangular_solve": lc.solve_case("triangular_solve", (F64, F32)),
    "solve": lc.solve_case("solve", (F64, F32)),
    "slogdet": lc.unary_case(lc.general, (F64, F32)),
    "eigh": lc.unary_case(lc.symmetric, (F64, F32)),
    "qr": lc.decomposition_case("qr", (F64, F32)),
    "svd": lc.decomposition_case("svd", (F64, F32)),
    "lu": lc.unary_case(lc.pivoting, (F64, F32)),
    "conv": cc.conv_case((F64, F32), batch=(0, 1, 2), channels=5, wide=True),
    "conv_filter_grad": cc.filter_grad_case((F64, F32), batch=(0, 1, 2), channels=5,
                                            wide=True),
    **{p: cc.pool_case((F64, F32), batch=(0, 1, 2)) for p in ("max_pool", "max_pool_argmax",
                                                              "avg_pool")},
}

#: Primitives whose NumPy results may round differently for different array shapes.
INEXACT = frozenset(n for n, p in PRIMS.items() if cases.inexact(p))
