"""`tj.experimental.numpy` (`tj.numpy`) against NumPy itself: every function eagerly and
compiled on fixed cases, the shape-dependent ones on hypothesis shapes (size 0 and 1
included), and gradients against central finite differences at orders 1 and 2."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracejit as tj
from tests.test_grad_ops import examples, gradcheck, rand

tnp = tj.experimental.numpy
pytestmark = pytest.mark.filterwarnings("ignore:.*traced it")


def r(seed: int, *shape: int, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return rand(seed, shape, lo, hi)


A2, B2, V3, W3 = r(0, 3, 4), r(1, 4, 2), r(2, 3), r(3, 3)
POS = r(4, 2, 3, lo=0.2, hi=2.0)
UNIT = r(5, 2, 3, lo=-0.9, hi=0.9)

# name (the function of tj.numpy and of numpy, unless given), arguments, keyword arguments
CASES: list[tuple[str, list[Any], dict[str, Any]]] = [
    ("abs", [A2], {}), ("add", [A2, A2], {}), ("divide", [A2, POS[:1, :1]], {}),
    ("power", [POS, A2[:2, :3]], {}), ("sqrt", [POS], {}), ("exp2", [A2], {}),
    ("log2", [POS], {}), ("log10", [POS], {}), ("arcsin", [UNIT], {}),
    ("arccos", [UNIT], {}), ("arctan", [A2], {}), ("arctan2", [A2, A2[::-1] + 3], {}),
    ("sinh", [A2], {}), ("cosh", [A2], {}), ("arcsinh", [A2], {}),
    ("arccosh", [POS + 1], {}), ("arctanh", [UNIT], {}), ("ceil", [A2], {}),
    ("rint", [A2 * 3], {}), ("reciprocal", [POS], {}), ("isnan", [A2], {}),
    ("isfinite", [A2], {}), ("maximum", [A2, 0.5], {}), ("minimum", [A2, V3[:, None]], {}),
    ("positive", [A2], {}), ("round", [A2 * 100], {"decimals": -1}),
    ("round", [A2], {"decimals": 2}), ("clip", [A2, -0.5, 0.5], {}),
    ("deg2rad", [A2 * 90], {}), ("rad2deg", [A2], {}),
    ("sum", [A2], {"axis": 1, "keepdims": True}), ("prod", [A2], {"axis": 0}),
    ("max", [A2], {}), ("amin", [A2], {"axis": -1}), ("mean", [A2], {"axis": 0}),
    ("mean", [np.arange(6, dtype=np.int32).reshape(2, 3)], {"axis": 1}),
    ("var", [A2], {"axis": 1, "ddof": 1}), ("std", [A2], {"ddof": 1}),
    ("all", [np.array([[1., 0.], [2., 3.]])], {"axis": 1}),
    ("any", [np.array([[1., 0.], [0., 0.]])], {"axis": 0}),
    ("argmax", [A2], {}), ("argmin", [A2], {"axis": 1}),
    ("count_nonzero", [np.array([[1., 0.], [2., 3.]])], {"axis": 0}),
    ("transpose", [r(6, 2, 3, 4)], {"axes": (2, 0, 1)}), ("ravel", [A2], {}),
    ("swapaxes", [r(6, 2, 3, 4)], {"axis1": 0, "axis2": 2}),
    ("moveaxis", [r(6, 2, 3, 4)], {"source": [0, 1], "destination": [-1, 0]}),
    ("flip", [A2], {"axis": 0}), ("flip", [A2], {}),
    ("stack", [[A2, A2 + 1]], {"axis": -1}),
    ("concatenate", [[A2, A2[:1]]], {"axis": 0}),
    ("concatenate", [[A2, V3]], {"axis": None}),
    ("vstack", [[V3, W3]], {}), ("vstack", [[A2, A2[:1]]], {}),
    ("hstack", [[V3, W3]], {}), ("hstack", [[A2, A2[:, :1]]], {}),
    ("dstack", [[A2, A2]], {}), ("dstack", [[V3, W3]], {}),
    ("append", [A2, V3], {}), ("append", [A2, A2[:1]], {"axis": 0}),
    ("rot90", [r(6, 2, 3, 4)], {}), ("rot90", [r(6, 2, 3, 4)], {"k": 2, "axes": (1, 2)}),
    ("rot90", [r(6, 2, 3, 4)], {"k": -1, "axes": (2, 0)}), ("rot90", [A2], {"k": 3}),
    ("diff", [A2], {}), ("diff", [A2], {"n": 2, "axis": 0}), ("diff", [A2], {"n": 0}),
    ("tril", [A2], {}), ("tril", [r(7, 2, 3, 3)], {"k": -1}), ("triu", [A2], {"k": 1}),
    ("triu", [A2], {"k": -2}),
    ("trace", [A2], {}), ("trace", [A2], {"offset": 1}), ("trace", [A2], {"offset": -2}),
    ("trace", [r(6, 2, 3, 4)], {"axis1": 1, "axis2": 2}), ("trace", [A2], {"offset": 5}),
    ("matmul", [A2, B2], {}), ("matmul", [V3, A2], {}), ("matmul", [A2, r(8, 4)], {}),
    ("matmul", [V3, W3], {}), ("matmul", [r(9, 2, 3, 4), B2], {}),
    ("dot", [V3, W3], {}), ("dot", [A2, B2], {}), ("dot", [A2, r(8, 4)], {}),
    ("dot", [r(9, 2, 3, 4), r(10, 5, 4, 2)], {}), ("dot", [2.0, A2], {}),
    ("inner", [V3, W3], {}), ("inner", [A2, r(11, 5, 4)], {}),
    ("outer", [V3, A2], {}), ("kron", [A2, B2], {}), ("kron", [V3, A2], {}),
    ("cross", [V3, W3], {}), ("cross", [r(12, 4, 3), W3], {}),
    ("cross", [r(12, 4, 2), r(13, 4, 2)], {}), ("cross", [r(12, 3, 4), r(13, 4, 3)],
                                                  {"axisa": 0, "axisc": 0}),
    ("select", [[A2 > 0, A2 < -1], [A2, A2 * 2]], {"default": -1.0}),
    ("tensordot", [A2, B2], {"axes": 1}), ("einsum", ["ij,jk->ik", A2, B2], {}),
    ("atleast_1d", [2.0], {}), ("atleast_2d", [V3], {}), ("atleast_3d", [V3], {}),
    ("atleast_3d", [A2], {}), ("where", [A2 > 0, A2, 0.0], {}),
    ("tile", [V3, (2, 2)], {}), ("tile", [A2, 2], {}), ("repeat", [A2, 2], {"axis": 1}),
    ("repeat", [A2, 2], {}), ("roll", [A2, 1], {}), ("roll", [A2, -1], {"axis": 0}),
    ("roll", [A2, (1, 2)], {"axis": (0, 1)}), ("eye", [3], {"M": 4, "k": 1}),
    ("eye", [3], {"k": -1}), ("identity", [2], {}),
    ("linspace", [np.array(0.0), np.array(1.0)], {"num": 5, "endpoint": False}),
    ("linspace", [np.array(-1.0), np.array([1.0, 3.0])], {"num": 3, "axis": -1}),
    ("logaddexp", [A2, A2[::-1]], {}), ("logaddexp2", [A2, 0.5], {}),
    ("cumsum", [A2], {}), ("cumsum", [A2], {"axis": 1}), ("cumprod", [A2], {"axis": 0}),
    ("cumprod", [V3], {}), ("sort", [A2], {}), ("sort", [A2], {"axis": 0}),
    ("sort", [A2], {"axis": None}), ("argsort", [A2], {}), ("argsort", [A2], {"axis": 0}),
    ("take", [A2, np.array([5, 0, 11])], {}), ("take", [A2, np.array([[1, 0]])], {"axis": 1}),
    ("diag", [V3], {}), ("diag", [V3], {"k": -2}), ("diag", [A2], {"k": 1}),
    ("diagonal", [r(6, 2, 3, 4)], {"offset": 1, "axis1": 2, "axis2": 1}),
    ("pad", [A2, 1], {}), ("pad", [A2, ((1, 0), (2, 3))], {"mode": "reflect"}),
    ("pad", [V3, (2, 3)], {"mode": "symmetric"}),
    ("pad", [A2, (1, 2)], {"constant_values": 7.0}),
]

def _np(name: str) -> Callable[..., Any]:
    return getattr(np, name)


def _call(fn: Callable[..., Any], args: list[Any], kw: dict[str, Any], conv: Any) -> Any:
    return fn(*[conv(a) for a in args], **kw)


@pytest.mark.parametrize("name,args,kw", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_tnp_matches_numpy_eagerly_and_compiled(name: str, args: list[Any], kw: dict[str, Any]
                                                ) -> None:
    want = np.asarray(_np(name)(*args, **kw))
    fn = getattr(tnp, name)

    def conv(a: Any) -> Any:
        if isinstance(a, np.ndarray):
            return tj.constant(a)
        if isinstance(a, list):
            return [conv(x) for x in a]
        return a

    got = np.asarray(_call(fn, args, kw, conv))
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    def arrays(a: Any) -> list[np.ndarray]:
        if isinstance(a, np.ndarray):
            return [a]
        return [t for x in a for t in arrays(x)] if isinstance(a, list) else []

    tensors = arrays(args)

    def compiled(*ts: Any) -> Any:
        it = iter(ts)

        def put(a: Any) -> Any:
            if isinstance(a, np.ndarray):
                return next(it)
            if isinstance(a, list):
                return [put(x) for x in a]
            return a
        return _call(fn, args, kw, put)

    got_c = np.asarray(tj.function(compiled)(*[tj.constant(t) for t in tensors]))
    np.testing.assert_allclose(got_c, want, rtol=1e-12, atol=1e-12)


def test_tnp_is_one_namespace_of_numpy_names() -> None:
    assert tj.numpy is tj.experimental.numpy
    for name in tnp.__all__:
        assert hasattr(np, name), name
    assert tnp.exp is tj.exp and tnp.einsum is tj.einsum
    assert {"vstack", "hstack", "dstack", "tril", "triu", "kron", "cross", "select",
            "rot90", "trace", "mean", "std", "var"} <= set(tnp.__all__)


@pytest.mark.parametrize("name,args,want_shapes", [
    ("split", (np.arange(12.0).reshape(6, 2), 3), [(2, 2)] * 3),
    ("split", (np.arange(12.0).reshape(6, 2), [1, 4, 10]), [(1, 2), (3, 2), (2, 2), (0, 2)]),
    ("array_split", (np.arange(12.0).reshape(2, 6), [-2], 1), [(2, 4), (2, 2)]),
    ("vsplit", (np.arange(12.0).reshape(6, 2), 2), [(3, 2)] * 2),
    ("hsplit", (np.arange(12.0).reshape(2, 6), [2]), [(2, 2), (2, 4)]),
    ("hsplit", (np.arange(6.0), 3), [(2,)] * 3),
])
def test_tnp_splits_match_numpy(name: str, args: tuple[Any, ...], want_shapes: list[Any]
                                ) -> None:
    want = getattr(np, name)(*args)
    for f in (getattr(tnp, name), tj.function(lambda x: getattr(tnp, name)(x, *args[1:]))):
        got = f(tj.constant(args[0]), *args[1:]) if f is getattr(tnp, name) else f(
            tj.constant(args[0]))
        assert [g.shape for g in got] == want_shapes == [w.shape for w in want]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w)
    with pytest.raises(ValueError, match="does not divide into 4"):
        tnp.split(tj.ones((6,)), 4)


def test_tnp_shape_queries_are_python_values() -> None:
    x = tj.ones((2, 3))
    assert tnp.size(x) == 6 and tnp.size(x, 1) == 3
    assert tnp.shape(x) == (2, 3) and tnp.ndim(x) == 2


@given(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), st.data())
@examples(40)
def test_tnp_reductions_on_drawn_shapes(shape: tuple[int, ...], data: st.DataObject) -> None:
    a = np.asarray(rand(0, shape))
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1)
                     if shape else st.none())
    keep = data.draw(st.booleans())
    for name in ("sum", "prod", "mean", "var", "std", "all", "any", "count_nonzero"):
        with np.errstate(all="ignore"):
            want = np.asarray(_np(name)(a, axis=axis, keepdims=keep))
        got = getattr(tnp, name)(tj.constant(a), axis=axis, keepdims=keep).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)


@given(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
@examples(30)
def test_tnp_joins_on_drawn_shapes(shape: tuple[int, ...]) -> None:
    a, b = np.asarray(rand(1, shape)), np.asarray(rand(2, shape))
    for name in ("vstack", "hstack", "dstack", "stack"):
        try:
            want = _np(name)([a, b])
        except ValueError:
            continue
        got = getattr(tnp, name)([tj.constant(a), tj.constant(b)]).numpy()
        np.testing.assert_array_equal(got, want, err_msg=name)
    for x in (tnp.atleast_1d(tj.constant(a)), tnp.atleast_2d(tj.constant(a)),
              tnp.atleast_3d(tj.constant(a))):
        assert x.ndim >= 1
    assert tnp.atleast_3d(tj.constant(a)).shape == np.atleast_3d(a).shape
    assert tnp.atleast_2d(tj.constant(a)).shape == np.atleast_2d(a).shape
    if a.ndim == 2:
        for k in (-1, 0, 1):
            np.testing.assert_array_equal(tnp.tril(tj.constant(a), k).numpy(), np.tril(a, k))
            np.testing.assert_array_equal(tnp.triu(tj.constant(a), k).numpy(), np.triu(a, k))
            assert float(tnp.trace(tj.constant(a), k)) == pytest.approx(np.trace(a, k))


GRADS: list[tuple[str, Callable[..., Any], list[np.ndarray]]] = [
    ("var_std", lambda x: tnp.sum(tnp.var(x, axis=0, ddof=1)) + tnp.std(x, axis=1), [A2]),
    ("diff", lambda x: tnp.diff(x * x, n=2), [A2]),
    ("kron", lambda x, y: tnp.kron(x, y * y), [r(1, 2, 2), r(2, 2, 3)]),
    ("cross", lambda x, y: tnp.cross(x * x, y), [r(3, 2, 3), W3]),
    ("trace", lambda x: tnp.trace(x * x, offset=1), [A2]),
    ("tril_triu", lambda x: tnp.tril(x * x, -1) + tnp.triu(x, 1), [r(4, 3, 3)]),
    ("rot90", lambda x: tnp.rot90(x * x, 3, (1, 0)), [A2]),
    ("dot", lambda x, y: tnp.dot(x * x, y), [A2, r(5, 4)]),
    ("matmul_vec", lambda x, y: tnp.matmul(x, y * y), [V3, A2]),
    ("inner_outer", lambda x, y: tnp.inner(x, y * y) + tnp.sum(tnp.outer(x, y)), [V3, W3]),
    ("select", lambda x: tnp.select([x > 0.5, x < -0.5], [x * x, x * 3], x), [A2]),
    ("deg2rad", lambda x: tnp.sin(tnp.deg2rad(x * 90)), [A2]),
    ("joins", lambda x, y: tnp.vstack([x, y]) * tnp.hstack([y, x])[0], [V3, W3]),
    ("clip_mean", lambda x: tnp.mean(tnp.clip(x * x, 0.5, 2.0), axis=0), [A2]),
    ("logaddexp2", lambda x, y: tnp.logaddexp2(x * x, y), [A2, A2[::-1]]),
    ("cumsum_cumprod", lambda x: tnp.cumsum(x * x, axis=1) + tnp.cumprod(x, axis=1), [A2]),
    ("sort_take", lambda x: tnp.sort(x * x) + tnp.take(x, [[1, 0, 2, 3]]), [A2]),
    ("diag_diagonal", lambda x: tnp.diag(tnp.diagonal(x * x, 1)), [A2]),
    ("pad", lambda x: tnp.pad(x * x, ((1, 1), (2, 1)), mode="reflect"), [A2]),
]


@pytest.mark.parametrize("name", [g[0] for g in GRADS])
def test_tnp_gradients_order_1_and_2(name: str) -> None:
    _, f, args = next(g for g in GRADS if g[0] == name)
    gradcheck(f, *args)
