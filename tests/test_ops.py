"""Eager user-level ops against NumPy: values, shapes (broadcasting, size 0 and 1, scalars),
axes, indexing, dtype rules and the Tensor object itself.

Float32 results are compared at rtol=1e-5 (DESIGN.md, "Testing decisions"), float64 ones at
rtol=1e-12 where the op is a single NumPy call and looser where it is a composition.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracejit as tj
from tests.test_grad_ops import gradcheck


def examples(n: int) -> settings:
    """`n` examples under the CI profile (tests/conftest.py), ten times more under
    HYPOTHESIS_PROFILE=dev."""
    return settings(deadline=None, max_examples=max(1, n * settings().max_examples // 50))


FLOATS = [np.float32, np.float64]
SEEDS = st.integers(0, 2**32 - 1)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0,
                                          max_side=3)


def rand(seed: int, shape: tuple[int, ...], dtype: object = np.float32, lo: float = -2.0,
         hi: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.uniform(lo, hi, shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    return rng.integers(int(lo), int(hi) + 1, shape).astype(dt)


def tol(dtype: object, composite: bool = False) -> dict[str, float]:
    if np.dtype(dtype) == np.float32:
        return {"rtol": 1e-5, "atol": 1e-6}
    return {"rtol": 1e-10 if composite else 1e-12, "atol": 1e-12}


def check(got: object, want: np.ndarray, dtype: object = None, composite: bool = False) -> None:
    """`got` is a Tensor with exactly `want`'s shape and dtype and close values."""
    assert isinstance(got, tj.Tensor), type(got)
    want = np.asarray(want)
    dt = np.dtype(dtype) if dtype is not None else want.dtype
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == dt, (got.dtype, dt)
    g = got.numpy()
    if dt.kind == "f":
        np.testing.assert_allclose(g, want.astype(dt), **tol(dt, composite))
    else:
        np.testing.assert_array_equal(g, want)


# ---------------------------------------------------------------------------- the op list

DESIGN_OPS = """add subtract multiply divide negative square sqrt exp log log1p expm1 sin cos tan
tanh abs sign pow maximum minimum where matmul transpose reshape broadcast_to squeeze
expand_dims concat stack reduce_sum reduce_mean reduce_max reduce_min reduce_prod
reduce_logsumexp cast stop_gradient equal not_equal less less_equal greater greater_equal
clip_by_value gather one_hot identity add_n argmax argmin range tensordot floordiv mod
reduce_variance reduce_std norm""".split()
NN_OPS = """relu sigmoid softplus softmax log_softmax softmax_cross_entropy_with_logits
sparse_softmax_cross_entropy_with_logits""".split()


def test_every_design_op_is_exported() -> None:
    missing = [n for n in DESIGN_OPS if not callable(getattr(tj, n, None))]
    assert not missing
    assert not [n for n in NN_OPS if not callable(getattr(tj.nn, n, None))]
    assert tj.linalg.matmul is tj.matmul
    for n in ("constant", "convert_to_tensor", "ones", "zeros", "ones_like", "zeros_like",
              "fill", "Variable", "GradientTape", "custom_gradient"):
        assert callable(getattr(tj, n)), n
    for n in ("float32", "float64", "int32", "int64", "bool_"):
        assert isinstance(getattr(tj, n), np.dtype) and getattr(tj, n) == np.dtype(n.rstrip("_"))


def test_math_namespace_aliases_are_the_same_functions() -> None:
    names = [n for n in vars(tj.math) if not n.startswith("_")]
    assert {"exp", "log", "reduce_sum", "reduce_logsumexp", "sigmoid", "softplus",
            "log_softmax", "softmax", "reduce_std", "reduce_variance", "floormod"} <= set(names)
    # A name in tj.math and in tj (or tj.nn) is one function; some are only in tj.math
    # (ceil, rsqrt, ...), as in TensorFlow.
    for n in names:
        f = getattr(tj.math, n)
        assert f is getattr(tj, n, f) and f is getattr(tj.nn, n, f), n
    assert tj.math.floormod is tj.mod
    x = tj.constant([[1.0, -2.0], [0.5, 3.0]])
    check(tj.math.log_softmax(x), tj.nn.log_softmax(x).numpy())
    check(tj.math.reduce_logsumexp(x, 1), tj.reduce_logsumexp(x, 1).numpy())
    for n in ("norm", "tensordot", "matrix_transpose", "matmul"):
        assert getattr(tj.linalg, n) is getattr(tj, n)


# ---------------------------------------------------------------------------- unary


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


UNARY = [
    ("negative", np.negative, (-2, 2)), ("square", np.square, (-2, 2)),
    ("sqrt", np.sqrt, (0.01, 4)), ("exp", np.exp, (-3, 3)), ("log", np.log, (0.01, 4)),
    ("log1p", np.log1p, (-0.9, 3)), ("expm1", np.expm1, (-3, 3)), ("sin", np.sin, (-4, 4)),
    ("cos", np.cos, (-4, 4)), ("tan", np.tan, (-1.2, 1.2)), ("tanh", np.tanh, (-3, 3)),
    ("abs", np.abs, (-2, 2)), ("sign", np.sign, (-2, 2)), ("floor", np.floor, (-3, 3)),
    ("sigmoid", _sigmoid, (-6, 6)), ("softplus", lambda x: np.logaddexp(0, x.astype(float)),
                                     (-6, 6)),
    ("relu", lambda x: np.maximum(x, 0), (-2, 2)), ("identity", lambda x: x, (-2, 2)),
    ("stop_gradient", lambda x: x, (-2, 2)),
]


@pytest.mark.parametrize("name,ref,dom", UNARY, ids=[u[0] for u in UNARY])
@examples(12)
@given(shape=SHAPES, seed=SEEDS, dtype=st.sampled_from(FLOATS))
def test_unary(name: str, ref: object, dom: tuple[float, float], shape: tuple[int, ...],
               seed: int, dtype: object) -> None:
    a = rand(seed, shape, dtype, *dom)
    got = getattr(tj, name)(tj.constant(a))
    check(got, np.asarray(ref(a)).astype(dtype), dtype)


@pytest.mark.parametrize("name", ["negative", "abs", "sign", "relu", "square", "identity"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_unary_on_ints(name: str, dtype: object) -> None:
    a = np.array([[-3, 0, 2], [5, -1, 7]], dtype)
    ref = {"negative": np.negative, "abs": np.abs, "sign": np.sign, "square": np.square,
           "relu": lambda x: np.maximum(x, 0), "identity": lambda x: x}[name]
    check(getattr(tj, name)(a), ref(a), dtype)


def test_operators_unary() -> None:
    a = np.array([-1.5, 0.0, 2.0], np.float32)
    check(-tj.constant(a), -a)
    check(abs(tj.constant(a)), np.abs(a))
    check(+tj.constant(a), a)
    check(~tj.constant([True, False]), np.array([False, True]))


# ---------------------------------------------------------------------------- binary

def _tf_floordiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TensorFlow's FloorDiv of floats: floor(a / b) (NumPy's floor_divide differs)."""
    return np.floor(a / b)


def _tf_floormod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TensorFlow's FloorMod of floats: fmod, plus b when nonzero with the other sign."""
    r = np.fmod(a, b)
    return np.where((r != 0) & ((b < 0) != (r < 0)), r + b, r)


BINARY = [
    ("add", np.add, None), ("subtract", np.subtract, None), ("multiply", np.multiply, None),
    ("divide", np.divide, "nonzero"), ("truediv", np.divide, "nonzero"),
    ("pow", np.power, "pos_base"), ("maximum", np.maximum, None),
    ("minimum", np.minimum, None), ("floordiv", _tf_floordiv, "nonzero"),
    ("mod", _tf_floormod, "nonzero"), ("equal", np.equal, "ties"),
    ("not_equal", np.not_equal, "ties"),
    ("less", np.less, "ties"), ("less_equal", np.less_equal, "ties"),
    ("greater", np.greater, "ties"), ("greater_equal", np.greater_equal, "ties"),
]


def _binary_inputs(kind: str | None, sa: tuple[int, ...], sb: tuple[int, ...], seed: int,
                   dtype: object) -> tuple[np.ndarray, np.ndarray]:
    a, b = rand(seed, sa, dtype), rand(seed + 1, sb, dtype)
    if kind == "nonzero":
        b = np.where(np.abs(b) < 0.25, np.asarray(1.5, dtype), b).astype(dtype)
    elif kind == "pos_base":
        a = (np.abs(a) + 0.1).astype(dtype)
    elif kind == "ties":  # comparisons: make equal elements likely
        a, b = np.round(a).astype(dtype), np.round(b).astype(dtype)
    return a, b


@pytest.mark.parametrize("name,ref,kind", BINARY, ids=[b[0] for b in BINARY])
@examples(12)
@given(shapes=PAIRS, seed=st.integers(0, 2**31), dtype=st.sampled_from(FLOATS))
def test_binary_broadcasting(name: str, ref: object, kind: str | None, shapes: object,
                             seed: int, dtype: object) -> None:
    sa, sb = shapes.input_shapes
    a, b = _binary_inputs(kind, sa, sb, seed, dtype)
    want = np.asarray(ref(a, b))
    got = getattr(tj, name)(tj.constant(a), tj.constant(b))
    check(got, want, want.dtype if want.dtype == bool else dtype)


INT_BINARY = [("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
              ("maximum", np.maximum), ("minimum", np.minimum), ("floordiv", np.floor_divide),
              ("mod", np.mod), ("less", np.less), ("equal", np.equal)]


@pytest.mark.parametrize("name,ref", INT_BINARY, ids=[b[0] for b in INT_BINARY])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_binary_on_ints(name: str, ref: object, dtype: object) -> None:
    a = np.array([[-7, 0, 5], [3, -2, 9]], dtype)
    b = np.array([2, -3, 4], dtype)
    want = np.asarray(ref(a, b))
    check(getattr(tj, name)(a, b), want, want.dtype)


def test_integer_divide_gives_float64_as_tensorflow() -> None:
    check(tj.divide(tj.constant([3, -7]), 2), np.array([1.5, -3.5]), np.float64)


def test_logical_ops() -> None:
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    check(tj.logical_and(a, b), a & b)
    check(tj.logical_or(a, b), a | b)
    check(tj.logical_not(a), ~a)
    check(tj.constant(a) & b, a & b)
    check(tj.constant(a) | b, a | b)


def test_operators_and_reflected_operators() -> None:
    a = np.array([[1.5, -2.0], [0.5, 3.0]], np.float32)
    b = np.array([[2.0, 0.5], [-1.0, 4.0]], np.float32)
    x, y = tj.constant(a), tj.constant(b)
    for got, want in [(x + y, a + b), (x - y, a - b), (x * y, a * b), (x / y, a / b),
                      (abs(x) ** y, np.abs(a) ** b), (x @ y, a @ b), (x // y, a // b),
                      (x % y, a % b), (2 + x, 2 + a), (2 - x, 2 - a), (2 * x, 2 * a),
                      (2 / x, 2 / a), (2 ** x, 2 ** a), (7 // x, 7 // a), (7 % x, 7 % a),
                      (a @ y, a @ b), (b - x, b - a), (x.T, a.T)]:
        check(got, want.astype(np.float32))
    for got, want in [(x < y, a < b), (x <= y, a <= b), (x > y, a > b), (x >= y, a >= b),
                      (x == y, a == b), (x != y, a != b), (x < 1, a < 1), (1 < x, 1 < a)]:
        check(got, want)


# ---------------------------------------------------------------------------- reductions


@st.composite
def shape_and_axis(draw: st.DrawFn, min_side: int = 0) -> tuple[tuple[int, ...], object, bool]:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=min_side, max_side=3))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"])) if nd else "none"
    if kind == "none":
        axis: object = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axes = draw(st.lists(st.integers(0, nd - 1), unique=True, max_size=nd))
        axis = [a - nd if draw(st.booleans()) else a for a in axes]
        if draw(st.booleans()):
            axis = tuple(axis)
    return shape, axis, draw(st.booleans())


def _np_axis(axis: object) -> object:
    return tuple(axis) if isinstance(axis, list) else axis


def _np_logsumexp(a: np.ndarray, axis: object, keepdims: bool) -> np.ndarray:
    a = a.astype(np.float64)
    with np.errstate(all="ignore"):
        return np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))


REDUCTIONS = [
    ("reduce_sum", lambda a, ax, kd: np.sum(a, axis=ax, keepdims=kd), False),
    ("reduce_mean", lambda a, ax, kd: np.mean(a, axis=ax, keepdims=kd), True),
    ("reduce_max", lambda a, ax, kd: np.max(a, axis=ax, keepdims=kd, initial=-np.inf), False),
    ("reduce_min", lambda a, ax, kd: np.min(a, axis=ax, keepdims=kd, initial=np.inf), False),
    ("reduce_prod", lambda a, ax, kd: np.prod(a, axis=ax, keepdims=kd), False),
    ("reduce_logsumexp", _np_logsumexp, True),
    ("reduce_variance", lambda a, ax, kd: np.var(a.astype(float), axis=ax, keepdims=kd), True),
    ("reduce_std", lambda a, ax, kd: np.std(a.astype(float), axis=ax, keepdims=kd), True),
]


@pytest.mark.parametrize("name,ref,composite", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@examples(20)
@given(sak=shape_and_axis(), seed=SEEDS, dtype=st.sampled_from(FLOATS))
def test_reductions(name: str, ref: object, composite: bool, sak: object, seed: int,
                    dtype: object) -> None:
    shape, axis, keepdims = sak
    a = rand(seed, shape, dtype)
    with np.errstate(all="ignore"), _quiet():
        want = np.asarray(ref(a, _np_axis(axis), keepdims))
    got = getattr(tj, name)(tj.constant(a), axis=axis, keepdims=keepdims)
    check(got, want, dtype, composite)


class _quiet:
    """Silence NumPy's RuntimeWarnings (mean of an empty axis) in references."""

    def __enter__(self) -> None:
        import warnings
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)


def test_reductions_on_empty_axes_give_identities() -> None:
    e = tj.zeros((0, 3))
    check(tj.reduce_sum(e, 0), np.zeros(3, np.float32))
    check(tj.reduce_prod(e, 0), np.ones(3, np.float32))
    check(tj.reduce_max(e, 0), np.full(3, -np.inf, np.float32))
    check(tj.reduce_min(e, 0), np.full(3, np.inf, np.float32))
    check(tj.reduce_logsumexp(e, 0), np.full(3, -np.inf, np.float32))
    assert np.isnan(tj.reduce_mean(e, 0).numpy()).all()


def test_reduce_ints_and_bools() -> None:
    a = np.array([[1, 2, 3], [4, 5, 7]], np.int32)
    check(tj.reduce_sum(a, 1), np.array([6, 16], np.int32))
    check(tj.reduce_mean(a, 1), np.array([2, 5], np.int32))  # TensorFlow truncates
    check(tj.reduce_max(a), np.int32(7))
    check(tj.reduce_prod(a, -1), np.array([6, 140], np.int32))
    check(tj.reduce_sum(tj.constant([True, False, True])), np.int32(2))


def test_reduce_mean_of_negative_ints_rounds_toward_zero() -> None:
    # TensorFlow's integer mean truncates: mean([-1, 0]) is 0 and mean([-7, 0, 0]) is -2,
    # where floor division gives -1 and -3.
    a = np.array([[2, -2, -1], [3, -3, 0], [-7, 0, 0], [-6, 0, 0]], np.int32)

    def ref(axis: int | None) -> np.ndarray:
        s = a.sum(axis=axis, dtype=np.int64)
        n = a.size if axis is None else a.shape[axis]
        return (np.sign(s) * (np.abs(s) // n)).astype(np.int32)

    for axis in (None, 0, 1):
        check(tj.reduce_mean(a, axis), ref(axis))
        check(tj.compile(lambda x, axis=axis: tj.reduce_mean(x, axis))(a), ref(axis))
    spec = [tj.TensorSpec([None, 3], tj.int32)]
    check(tj.compile(lambda x: tj.reduce_mean(x, 0), input_signature=spec)(a), ref(0))


@pytest.mark.parametrize("fn,ref", [(tj.argmax, np.argmax), (tj.argmin, np.argmin)])
@examples(15)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=SEEDS,
       data=st.data())
def test_argmax_argmin(fn: object, ref: object, shape: tuple[int, ...], seed: int,
                       data: st.DataObject) -> None:
    a = rand(seed, shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    want = ref(a, axis=0 if axis is None else axis)  # TensorFlow: axis None means 0
    check(fn(a, axis), want, np.int64)
    check(fn(a, axis, output_type=tj.int32), want, np.int32)


@pytest.mark.parametrize("fn,ref,red", [(tj.argmax, np.argmax, tj.reduce_max),
                                        (tj.argmin, np.argmin, tj.reduce_min)])
def test_argmax_argmin_take_the_first_nan(fn: Any, ref: Any, red: Any) -> None:
    """README: NumPy's rule, the index of reduce_max's (NaN) result (TensorFlow's CPU
    kernels skip NaN: argmax([1, nan, 3]) is 2 there), eagerly and compiled; in float32
    and float64, along rows of 100 (vector loops) too."""
    nan, inf = np.nan, np.inf
    rows = [[1, nan, 3, 0], [nan, 1, 3, nan], [1, 3, 0, nan], [nan, nan, nan, nan],
            [-inf, nan, inf, 2], [3, 3, nan, 1], [inf, -inf, 1, 2], [-inf, -inf, 5, 5]]
    big = np.tile(np.linspace(-1, 1, 100), (3, 1))
    big[0, 37], big[1, 99], big[2, [5, 60]] = nan, nan, nan
    for a in (np.array(rows), big):
        for dt in (np.float32, np.float64):
            x = a.astype(dt)
            want = ref(x, axis=1)
            compiled = tj.function(lambda t: (fn(t, 1), red(t, 1)))(x)
            for got, top in ((fn(x, 1), red(x, 1)), compiled):
                np.testing.assert_array_equal(got.numpy(), want)
                np.testing.assert_array_equal(x[np.arange(len(x)), want], top.numpy())


@examples(20)
@given(sak=shape_and_axis(), seed=SEEDS, ord=st.sampled_from(["euclidean", 2, 1, np.inf]))
def test_norm(sak: object, seed: int, ord: object) -> None:
    shape, axis, keepdims = sak
    a = rand(seed, shape, np.float64)
    ax = _np_axis(axis)
    if ord in ("euclidean", 2):
        want = np.sqrt(np.sum(a * a, axis=ax, keepdims=keepdims))
    elif ord == 1:
        want = np.sum(np.abs(a), axis=ax, keepdims=keepdims)
    else:
        want = np.max(np.abs(a), axis=ax, keepdims=keepdims, initial=0.0)
    got = tj.norm(a, ord=ord, axis=axis, keepdims=keepdims)
    if ord == np.inf and a.size == 0:
        want = np.full(want.shape, -np.inf)  # the max over nothing
    check(got, want, np.float64, composite=True)
    check(tj.linalg.norm(tj.constant([3.0, 4.0])), np.float32(5.0))


@pytest.mark.filterwarnings("ignore:.*traced it:UserWarning")
@pytest.mark.parametrize("ord", ["fro", "euclidean", 1, 2, np.inf])
@pytest.mark.parametrize("axis", [(0, 1), (1, 0), (-1, 0), (0, 2), (2, 1)])
def test_norm_over_two_axes_is_a_matrix_norm(ord: object, axis: tuple[int, int]) -> None:
    # TensorFlow (and NumPy): ord=1 is the largest column sum, np.inf the largest row sum,
    # 2 the largest singular value, over the matrices formed by the two axes (rows first);
    # they were the entrywise 1-norm, max and Frobenius norm.
    a = rand(3, (3, 4, 5), np.float64)
    want = np.linalg.norm(a, ord=ord if ord != "euclidean" else "fro", axis=axis)
    check(tj.norm(a, ord=ord, axis=axis), want, np.float64, composite=True)
    kept = tj.norm(a, ord=ord, axis=list(axis), keepdims=True)
    check(kept, np.linalg.norm(a, ord=ord if ord != "euclidean" else "fro", axis=axis,
                               keepdims=True), np.float64, composite=True)
    compiled = tj.compile(lambda x: tj.norm(x, ord=ord, axis=axis))
    check(compiled(a), want, np.float64, composite=True)
    gradcheck(lambda x: tj.norm(x, ord=ord, axis=axis), a)


def test_norm_of_other_orders() -> None:
    a = rand(4, (3, 4), np.float64)
    for p in (3, 0.5, 1.5):
        want = np.sum(np.abs(a) ** p, axis=1) ** (1 / p)
        check(tj.norm(a, ord=p, axis=1), want, np.float64, composite=True)
    for bad in (0, -1, "nuc"):
        with pytest.raises(ValueError, match="ord"):
            tj.norm(a, ord=bad)
    with pytest.raises(ValueError, match="ord"):
        tj.norm(a, ord=3, axis=[0, 1])
    with pytest.raises(ValueError, match="axes"):
        tj.norm(a, axis=[1, -1])
    with pytest.raises(ValueError, match="axis"):
        tj.norm(rand(4, (2, 3, 4), np.float64), axis=[0, 1, 2])


# ---------------------------------------------------------------------------- shapes


@examples(25)
@given(shape=SHAPES, seed=SEEDS, data=st.data())
def test_reshape_transpose_squeeze_expand_dims(shape: tuple[int, ...], seed: int,
                                               data: st.DataObject) -> None:
    a = rand(seed, shape)
    x = tj.constant(a)
    # reshape, with a -1 when the size allows it
    new = data.draw(st.permutations(shape)) if shape else []
    new = list(new) + [1] * data.draw(st.integers(0, 1))
    check(tj.reshape(x, new), a.reshape(new))
    if a.size and new:
        i = data.draw(st.integers(0, len(new) - 1))
        minus = list(new)
        minus[i] = -1
        check(tj.reshape(x, minus), a.reshape(minus))
    # transpose: default reverses the axes; negative entries in perm are allowed
    check(tj.transpose(x), a.T)
    perm = data.draw(st.permutations(range(len(shape))))
    check(tj.transpose(x, perm), np.transpose(a, perm))
    neg = [p - len(shape) for p in perm]
    check(tj.transpose(x, neg), np.transpose(a, perm))
    if len(shape) >= 2:
        check(tj.linalg.matrix_transpose(x), np.swapaxes(a, -1, -2))
    # expand_dims, squeeze
    ax = data.draw(st.integers(-len(shape) - 1, len(shape)))
    e = tj.expand_dims(x, ax)
    check(e, np.expand_dims(a, ax))
    check(tj.squeeze(e, ax), a)
    check(tj.squeeze(x), np.squeeze(a))


@examples(25)
@given(shapes=PAIRS, seed=SEEDS)
def test_broadcast_to_and_fill(shapes: object, seed: int) -> None:
    sa, _ = shapes.input_shapes
    a = rand(seed, sa)
    check(tj.broadcast_to(a, shapes.result_shape), np.broadcast_to(a, shapes.result_shape))
    check(tj.fill(shapes.result_shape, 2.5), np.full(shapes.result_shape, 2.5, np.float32))


@examples(25)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), seed=SEEDS,
       data=st.data())
def test_concat_stack_unstack(shape: tuple[int, ...], seed: int, data: st.DataObject) -> None:
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1))
    parts = []
    for k in range(data.draw(st.integers(1, 3))):
        s = list(shape)
        s[axis] = data.draw(st.integers(0, 3))
        parts.append(rand(seed + k, s))
    check(tj.concat([tj.constant(p) for p in parts], axis), np.concatenate(parts, axis))
    same = [rand(seed + k, shape) for k in range(data.draw(st.integers(1, 3)))]
    sax = data.draw(st.integers(-nd - 1, nd))
    check(tj.stack(same, sax), np.stack(same, sax))
    st_ = np.stack(same, sax)
    outs = tj.unstack(tj.constant(st_), axis=sax)
    assert len(outs) == len(same)
    for o, want in zip(outs, same):
        check(o, want)


@examples(30)
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                               min_side=1, max_side=3),
       mkn=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
       ta=st.booleans(), tb=st.booleans(), dtype=st.sampled_from(FLOATS), seed=SEEDS)
def test_matmul_batch_broadcast_and_transposes(batch: object, mkn: tuple[int, int, int],
                                               ta: bool, tb: bool, dtype: object,
                                               seed: int) -> None:
    (ba, bb), (m, k, n) = batch.input_shapes, mkn
    a = rand(seed, ba + ((k, m) if ta else (m, k)), dtype)
    b = rand(seed + 1, bb + ((n, k) if tb else (k, n)), dtype)
    want = np.matmul(np.swapaxes(a, -1, -2) if ta else a, np.swapaxes(b, -1, -2) if tb else b)
    got = tj.matmul(a, b, transpose_a=ta, transpose_b=tb)
    check(got, want, dtype, composite=True)
    check(tj.linalg.matmul(tj.constant(a), b, adjoint_a=ta, adjoint_b=tb), want, dtype, True)


@pytest.mark.parametrize("sa,sb,axes", [
    ((2, 3), (3, 4), 1), ((2, 3, 4), (3, 4, 5), 2), ((2,), (3,), 0), ((3,), (3,), 1),
    ((2, 3, 4), (4, 2), [[0, 2], [1, 0]]), ((2, 3), (3, 2), [[-1], [0]]),
    ((0, 3), (3, 2), 1), ((2, 0), (0, 3), 1), ((2, 3, 4), (4, 3, 2), ([1, 2], [1, 0])),
])
def test_tensordot(sa: tuple[int, ...], sb: tuple[int, ...], axes: object) -> None:
    a, b = rand(1, sa, np.float64), rand(2, sb, np.float64)
    check(tj.tensordot(a, b, axes), np.tensordot(a, b, axes), np.float64, composite=True)
    check(tj.linalg.tensordot(a, b, axes), np.tensordot(a, b, axes), np.float64, True)


@examples(25)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       ishape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
       seed=SEEDS, data=st.data())
def test_gather(shape: tuple[int, ...], ishape: tuple[int, ...], seed: int,
                data: st.DataObject) -> None:
    a = rand(seed, shape)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    idx = np.random.default_rng(seed).integers(0, shape[axis], ishape)
    idx_dtype = data.draw(st.sampled_from([np.int32, np.int64]))
    check(tj.gather(a, idx.astype(idx_dtype), axis=axis), np.take(a, idx, axis=axis))
    check(tj.gather(tj.constant(a), tj.constant(idx.astype(idx_dtype)), axis=axis),
          np.take(a, idx, axis=axis))


def test_gather_default_axis_and_list_indices() -> None:
    a = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    check(tj.gather(a, [3, 0, 0]), a[[3, 0, 0]])
    check(tj.gather(a, [[2], [1]], axis=1), np.take(a, [[2], [1]], axis=1))


@pytest.mark.parametrize("axis", [None, -1, 0, 1])
def test_one_hot(axis: object) -> None:
    idx = np.array([[0, 2], [1, 3]])
    eye = np.eye(4, dtype=np.float32)[idx]
    want = eye if axis in (None, -1) else np.moveaxis(eye, -1, axis)
    check(tj.one_hot(idx, 4, axis=axis), want)
    hot = tj.one_hot(tj.constant([2, 0]), 3, on_value=5.0, off_value=-1.0, dtype=tj.float64)
    check(hot, np.array([[-1, -1, 5], [5, -1, -1]], np.float64))


@examples(25)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3,
                                                max_side=3),
       seed=SEEDS)
def test_where_broadcasts(shapes: object, seed: int) -> None:
    sc, sx, sy = shapes.input_shapes
    c = rand(seed, sc, bool)
    x, y = rand(seed + 1, sx), rand(seed + 2, sy)
    check(tj.where(c, x, y), np.where(c, x, y))
    check(tj.where(tj.constant(c), tj.constant(x), 0.5), np.where(c, x, np.float32(0.5)))


def test_where_needs_bool_condition_and_both_branches() -> None:
    with pytest.raises(TypeError, match="bool"):
        tj.where(tj.constant([1.0, 0.0]), 1.0, 2.0)
    with pytest.raises(ValueError, match="x and y"):
        tj.where(tj.constant([True]), 1.0)


@examples(20)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=2,
                                                max_side=3), seed=SEEDS)
def test_clip_by_value(shapes: object, seed: int) -> None:
    st_, slo, shi = shapes.input_shapes
    t = rand(seed, st_, lo=-3, hi=3)
    lo = rand(seed + 1, slo, lo=-2, hi=-0.5)
    hi = rand(seed + 2, shi, lo=0.5, hi=2)
    check(tj.clip_by_value(t, lo, hi), np.clip(t, lo, hi))
    check(tj.clip_by_value(tj.constant(t), -1.0, 1.0), np.clip(t, -1, 1))


def test_clip_by_value_propagates_nan() -> None:
    got = tj.clip_by_value(tj.constant([np.nan, 5.0, -5.0]), -1.0, 1.0).numpy()
    assert np.isnan(got[0]) and got[1] == 1.0 and got[2] == -1.0


def test_cast() -> None:
    f = np.array([1.7, -1.7, np.nan, 3e10, -3e10, np.inf], np.float32)
    check(tj.cast(f, tj.int32), np.array([1, -1, 0, 2**31 - 1, -2**31, 2**31 - 1], np.int32))
    check(tj.cast(tj.constant([1, -2]), tj.float32), np.array([1.0, -2.0], np.float32))
    check(tj.cast(tj.constant([0.0, 2.0]), tj.bool_), np.array([False, True]))
    check(tj.cast(tj.constant([True, False]), tj.float64), np.array([1.0, 0.0]))
    check(tj.cast(tj.constant([1.5], tj.float64), tj.float32), np.array([1.5], np.float32))


def test_add_n() -> None:
    parts = [rand(k, (2, 3)) for k in range(4)]
    check(tj.add_n(parts), np.sum(parts, axis=0, dtype=np.float32))
    check(tj.add_n([tj.constant(parts[0])]), parts[0])
    with pytest.raises(ValueError):
        tj.add_n([tj.ones((2,)), tj.ones((3,))])


@pytest.mark.parametrize("args,kw,want", [
    ((5,), {}, np.arange(5, dtype=np.int32)),
    ((2, 9, 3), {}, np.arange(2, 9, 3, dtype=np.int32)),
    ((5, 0, -2), {}, np.arange(5, 0, -2, dtype=np.int32)),
    ((0.0, 1.0, 0.25), {}, np.arange(0, 1, 0.25, dtype=np.float32)),
    ((3,), {"dtype": tj.float64}, np.arange(3, dtype=np.float64)),
    ((3, 3), {}, np.zeros(0, np.int32)),
])
def test_range(args: tuple[object, ...], kw: dict[str, object], want: np.ndarray) -> None:
    check(tj.range(*args, **kw), want)


def test_range_of_tensors_keeps_their_kind() -> None:
    """Regression: tensor arguments went through float(), so tj.range(tj.constant(3)) gave
    float32 values instead of TensorFlow's int32."""
    check(tj.range(tj.constant(3)), np.arange(3, dtype=np.int32))
    check(tj.range(tj.constant(1), tj.constant(7), 2), np.array([1, 3, 5], np.int32))
    check(tj.range(tj.constant(1.5)), np.array([0.0, 1.0], np.float32))
    check(tj.range(np.float32(2.0)), np.array([0.0, 1.0], np.float32))


def test_range_takes_the_widest_dtype_of_its_arguments() -> None:
    # TensorFlow: int32 < int64 < float32 < float64 over the arguments' dtypes (Python
    # ints int32, floats float32); a float64 start gave float32 steps of 0.1.
    check(tj.range(tj.constant(0.0, tj.float64), 1.0, 0.1), np.arange(0.0, 1.0, 0.1))
    check(tj.range(np.float64(2.0)), np.array([0.0, 1.0]))
    check(tj.range(tj.constant(5, tj.int64)), np.arange(5, dtype=np.int64))
    check(tj.range(np.int64(1), 4), np.arange(1, 4, dtype=np.int64))
    check(tj.range(tj.constant(1, tj.int64), 3.0), np.array([1.0, 2.0], np.float32))
    check(tj.range(2, tj.constant(4, tj.int32), np.int64(1)), np.arange(2, 4, dtype=np.int64))


def test_creation_functions() -> None:
    check(tj.ones((2, 3)), np.ones((2, 3), np.float32))
    check(tj.zeros([0, 2]), np.zeros((0, 2), np.float32))
    check(tj.ones(3, tj.int64), np.ones(3, np.int64))
    check(tj.zeros((), tj.float64), np.float64(0))
    x = tj.constant([[1, 2]], tj.int32)
    check(tj.ones_like(x), np.ones((1, 2), np.int32))
    check(tj.zeros_like(x), np.zeros((1, 2), np.int32))
    check(tj.zeros_like(x, dtype=tj.float32), np.zeros((1, 2), np.float32))
    check(tj.fill([2], 7), np.array([7, 7], np.int32))
    check(tj.constant(0.5, shape=[2, 2]), np.full((2, 2), 0.5, np.float32))
    check(tj.constant([1, 2, 3, 4], shape=(2, 2)), np.array([[1, 2], [3, 4]], np.int32))
    check(tj.convert_to_tensor([1.0, 2.0]), np.array([1.0, 2.0], np.float32))
    check(tj.convert_to_tensor(np.array([1.0])), np.array([1.0]))  # NumPy keeps float64
    check(tj.constant(True), np.bool_(True))
    check(tj.constant(2**40), np.int64(2**40))  # does not fit int32


# ---------------------------------------------------------------------------- nn


def _np_log_softmax(a: np.ndarray, axis: int) -> np.ndarray:
    a = a.astype(np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    return a - m - np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))


@examples(25)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=SEEDS,
       data=st.data(), dtype=st.sampled_from(FLOATS))
def test_softmax_log_softmax_and_cross_entropies(shape: tuple[int, ...], seed: int,
                                                 data: st.DataObject, dtype: object) -> None:
    a = rand(seed, shape, dtype, -5, 5)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    ls = _np_log_softmax(a, axis)
    check(tj.nn.softmax(a, axis=axis), np.exp(ls), dtype, composite=True)
    check(tj.nn.log_softmax(a, axis=axis), ls, dtype, composite=True)
    check(tj.nn.softmax(tj.constant(a)), np.exp(_np_log_softmax(a, -1)), dtype, True)
    # TensorFlow's axis=None is the last axis
    check(tj.nn.softmax(a, axis=None), np.exp(_np_log_softmax(a, -1)), dtype, True)
    check(tj.nn.log_softmax(a, axis=None), _np_log_softmax(a, -1), dtype, True)
    labels = np.exp(_np_log_softmax(rand(seed + 1, shape, dtype), -1)).astype(dtype)
    want = -np.sum(labels * _np_log_softmax(a, -1), axis=-1)
    check(tj.nn.softmax_cross_entropy_with_logits(labels=labels, logits=a), want, dtype, True)
    cls = np.random.default_rng(seed).integers(0, shape[-1], shape[:-1])
    want = -np.take_along_axis(_np_log_softmax(a, -1), cls[..., None], -1)[..., 0]
    check(tj.nn.sparse_softmax_cross_entropy_with_logits(labels=cls, logits=a), want, dtype,
          True)


def test_activations() -> None:
    a = np.array([-3.0, -0.5, 0.0, 0.5, 3.0], np.float64)
    check(tj.nn.relu(a), np.maximum(a, 0))
    check(tj.nn.sigmoid(a), 1 / (1 + np.exp(-a)))
    check(tj.nn.softplus(a), np.log1p(np.exp(a)))
    check(tj.nn.tanh(a), np.tanh(a))
    assert tj.nn.sigmoid is tj.sigmoid and tj.math.sigmoid is tj.sigmoid


# ---------------------------------------------------------------------------- indexing


@st.composite
def index_keys(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[object, ...]]:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    nd = len(shape)
    items: list[object] = []
    for d in shape:
        kind = draw(st.sampled_from(["int", "slice", "slice", "full"] if d else
                                    ["slice", "full"]))
        if kind == "int":
            items.append(draw(st.integers(-d, d - 1)))
        elif kind == "slice":
            bound = st.one_of(st.none(), st.integers(-d - 2, d + 2))
            step = draw(st.sampled_from([None, 1, 2, 3, -1, -2, -3]))
            items.append(slice(draw(bound), draw(bound), step))
        else:
            items.append(slice(None))
    # one int-array index at some axis of non-zero size
    cand = [i for i, d in enumerate(shape) if d]
    if cand and draw(st.booleans()):
        i = draw(st.sampled_from(cand))
        d = shape[i]
        ishape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
        arr = np.random.default_rng(draw(SEEDS)).integers(-d, d, ishape)
        items[i] = draw(st.sampled_from(["list", "array", "tensor"])), arr
    # maybe replace a run of full slices with Ellipsis, or else drop trailing full slices
    if draw(st.booleans()):
        lo = draw(st.integers(0, len(items)))
        hi = draw(st.integers(lo, len(items)))
        if all(isinstance(it, slice) and it == slice(None) for it in items[lo:hi]):
            items[lo:hi] = [Ellipsis]
    if Ellipsis not in items:
        while items and items[-1] == slice(None) and draw(st.booleans()):
            items.pop()
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    assert nd == len(shape)
    return shape, tuple(items)


def _as_key(items: tuple[object, ...], for_numpy: bool) -> tuple[object, ...]:
    out = []
    for it in items:
        if isinstance(it, tuple):
            kind, arr = it
            if for_numpy:
                out.append(arr)
            else:
                if kind == "list" and arr.size == 0 and arr.ndim > 1:
                    kind = "array"  # a nested empty list cannot say its shape
                out.append(arr.tolist() if kind == "list" else
                           arr if kind == "array" else tj.constant(arr))
        else:
            out.append(it)
    return tuple(out)


@examples(150)
@given(sk=index_keys(), seed=SEEDS)
def test_indexing_matches_numpy(sk: tuple[tuple[int, ...], tuple[object, ...]],
                                seed: int) -> None:
    shape, items = sk
    a = rand(seed, shape)
    want = a[_as_key(items, True)]
    got = tj.constant(a)[_as_key(items, False)]
    check(got, want)
    if len(items) == 1:  # a bare key, not a tuple
        check(tj.constant(a)[_as_key(items, False)[0]], a[_as_key(items, True)[0]])


def test_indexing_regressions() -> None:
    a = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    x = tj.constant(a)
    # an int and an array index separated by a slice: the index's dims go first (NumPy)
    check(x[0, :, [1, 2]], a[0, :, [1, 2]])
    check(x[[1, 0], None, 2], a[[1, 0], None, 2])
    # negative entries of an index array count from the end
    check(x[[-1, 0]], a[[-1, 0]])
    check(x[:, tj.constant([-3, 2])], a[:, [-3, 2]])
    # Ellipsis expands to the missing axes only
    check(x[..., 1], a[..., 1])
    check(x[0, ..., [3, 0]], a[0, ..., [3, 0]])
    check(x[..., ::-1, 2], a[..., ::-1, 2])
    check(x[tj.constant(1), ...], a[1, ...])


def test_indexing_errors() -> None:
    x = tj.ones((2, 3))
    with pytest.raises(IndexError, match="out of bounds"):
        x[2]
    with pytest.raises(IndexError, match="out of bounds"):
        x[:, -4]
    with pytest.raises(IndexError):
        x[[0, 2]]
    with pytest.raises(IndexError, match="too many"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="ellipsis"):
        x[..., ...]
    with pytest.raises(IndexError, match="boolean mask"):
        x[np.array([True, False]), 0]
    with pytest.raises(IndexError):
        x[1.5]


def test_iteration_and_len() -> None:
    a = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    rows = list(tj.constant(a))
    assert len(rows) == len(tj.constant(a)) == 3
    for r, w in zip(rows, a):
        check(r, w)
    with pytest.raises(TypeError):
        len(tj.constant(1.0))


# ---------------------------------------------------------------------------- dtype rules


def test_python_scalars_default_to_float32_and_int32() -> None:
    assert tj.constant(1.5).dtype == np.float32
    assert tj.constant(3).dtype == np.int32
    assert tj.constant([1.0, 2]).dtype == np.float32
    assert tj.constant([[1, 2]]).dtype == np.int32
    assert tj.constant(True).dtype == np.bool_
    assert tj.constant(1.5, tj.float64).dtype == np.float64
    assert tj.ones((1,)).dtype == np.float32


def test_numpy_values_keep_their_dtype() -> None:
    assert tj.constant(np.float64(1.0)).dtype == np.float64
    assert tj.constant(np.ones(2, np.int64)).dtype == np.int64
    assert tj.constant(np.ones(2, np.float32)).dtype == np.float32


@pytest.mark.parametrize("value,dtype", [
    ([np.float64(1.5), 2.0], np.float64), ([[np.float64(1.0)], [2.0]], np.float64),
    ((np.float64(2.0), 1), np.float64), ([np.array([1.0, 2.0]), [3.0, 4.0]], np.float64),
    ([np.float32(1.5), 2.0], np.float32), ([np.int64(1), 2.5], np.float32),
    ([np.int64(1), 2], np.int32), ([np.array([1, 2], np.int32), [3.5, 4]], np.float32)])
def test_a_list_takes_tensorflows_dtype(value: object, dtype: object) -> None:
    # TensorFlow makes a list float64 when it holds a float64 NumPy value (tj gave float32,
    # rounding the values); otherwise Python's defaults hold.
    for convert in (tj.constant, tj.convert_to_tensor):
        t = convert(value)
        assert t.dtype == dtype, (value, t.dtype)
        np.testing.assert_array_equal(t.numpy(), np.array(value, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_weak_python_scalars_take_the_tensor_dtype(dtype: object) -> None:
    x = tj.constant(np.array([1, 2], dtype))
    for y in (x + 1, 1 + x, x * 2, 3 - x, x - 1, tj.maximum(x, 1), tj.add(2, x)):
        assert y.dtype == np.dtype(dtype)
    if np.dtype(dtype).kind == "f":
        assert (x * 0.5).dtype == np.dtype(dtype)
        assert (0.5 / x).dtype == np.dtype(dtype)
        check(x * 0.5, np.array([0.5, 1.0], dtype))


@pytest.mark.parametrize("a,b,names", [
    (tj.constant(1.0), tj.constant(1.0, tj.float64), ("float32", "float64")),
    (tj.constant(2, tj.int32), tj.constant(1.0), ("int32", "float32")),
    (tj.constant([1], tj.int64), tj.constant([1], tj.int32), ("int64", "int32")),
])
def test_mixed_dtypes_raise_type_error_naming_both(a: tj.Tensor, b: tj.Tensor,
                                                   names: tuple[str, str]) -> None:
    for op in (lambda: a + b, lambda: a * b, lambda: tj.multiply(b, a), lambda: a - b,
               lambda: tj.maximum(a, b), lambda: tj.where(True, a, b)):
        with pytest.raises(TypeError) as ei:
            op()
        msg = str(ei.value)
        assert names[0] in msg and names[1] in msg and "tj.cast" in msg, msg


def test_int_times_float_suggests_a_float_cast() -> None:
    with pytest.raises(TypeError, match=r"tj\.cast\(x, tj\.float32\)"):
        tj.constant(2) * tj.constant(1.5)


def test_float_scalar_with_int_tensor_raises() -> None:
    x = tj.constant([1, 2])
    for op in (lambda: x + 1.5, lambda: 2.0 * x, lambda: tj.multiply(x, 0.5)):
        with pytest.raises(TypeError) as ei:
            op()
        assert "int32" in str(ei.value) and "float" in str(ei.value)


def test_ndarray_times_tensor_is_a_recorded_tensor() -> None:
    a = np.array([1.0, 2.0, 3.0], np.float32)
    x = tj.constant([4.0, 5.0, 6.0])
    with tj.GradientTape() as t:
        t.watch(x)
        y = a * x
        z = a - x
    assert isinstance(y, tj.Tensor) and isinstance(z, tj.Tensor)
    check(y, a * x.numpy())
    check(z, a - x.numpy())
    g = t.gradient([y, z], x)
    check(g, a - 1)


def test_ndarray_matmul_tensor_is_a_tensor() -> None:
    a = np.eye(2, dtype=np.float32) * 2
    x = tj.constant([[1.0, 2.0], [3.0, 4.0]])
    got = a @ x
    assert isinstance(got, tj.Tensor)
    check(got, a @ x.numpy())


def test_ndarray_of_another_dtype_is_not_promoted() -> None:
    # As TensorFlow's operators: a NumPy array or a list beside a tensor converts to the
    # tensor's dtype (no promotion to float64); a tensor of another dtype is refused.
    for got in (np.ones(2) * tj.constant([1.0, 2.0]), tj.constant([1.0, 2.0]) * np.ones(2),
                tj.constant([1.0, 2.0]) * [1, 1], [1, 1] * tj.constant([1.0, 2.0]),
                tj.constant([1.0, 2.0]) * np.array([1, 1], np.int64)):
        assert got.dtype == np.float32 and got.numpy().tolist() == [1.0, 2.0]
    assert (tj.constant([1, 2]) + np.array([1.0, 2.0])).dtype == np.int32      # exact: fine
    assert (tj.maximum(tj.constant([1.0, 2.0]), [[0], [3]])).numpy().tolist() == [
        [1.0, 2.0], [3.0, 3.0]]
    with pytest.raises(TypeError, match="fractional part"):
        tj.constant([1, 2]) + np.array([1.5, 2.0])                             # TF truncates
    with pytest.raises(TypeError, match="fractional part"):
        tj.constant([1, 2]) + [1.5, 2]
    with pytest.raises(tj.errors.DTypeError, match="float64"):
        tj.constant([1.0, 2.0]) * tj.constant([1.0, 2.0], tj.float64)
    with pytest.raises(tj.errors.DTypeError, match="float64"):
        tj.constant([1.0, 2.0]) * [tj.constant(1.0, tj.float64)] * 2           # holds tensors

    @tj.function
    def f(x: tj.Tensor) -> tj.Tensor:
        return x * np.arange(2) + [1, 2]

    assert f(tj.constant([1.0, 2.0])).numpy().tolist() == [1.0, 4.0]


# ---------------------------------------------------------------------------- Tensor object


def test_numpy_is_read_only() -> None:
    x = tj.constant([1.0, 2.0])
    a = x.numpy()
    assert isinstance(a, np.ndarray) and not a.flags.writeable
    with pytest.raises(ValueError):
        a[0] = 5.0
    assert x.numpy()[0] == 1.0
    y = x * 2
    with pytest.raises(ValueError):
        y.numpy()[...] = 0


def test_constant_copies_its_ndarray() -> None:
    a = np.array([1.0, 2.0], np.float32)
    for make in (tj.constant, tj.convert_to_tensor, lambda v: tj.constant(v, tj.float32)):
        x = make(a)
        a[0] = 9.0
        assert x.numpy()[0] == 1.0
        a[0] = 1.0
    assert a.flags.writeable  # the caller's array is untouched


def test_repr_shows_value_shape_and_dtype() -> None:
    r = repr(tj.constant([[1.5, 2.0]]))
    assert "1.5" in r and "(1, 2)" in r and "float32" in r
    r = repr(tj.constant(7, tj.int64))
    assert "7" in r and "shape=()" in r and "int64" in r
    s = str(tj.constant([3.25]))
    assert "3.25" in s and "float32" in s
    assert f"{tj.constant(2.5):.2f}" == "2.50"


def test_tensor_properties_and_conversions() -> None:
    x = tj.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert x.shape == (2, 3) and isinstance(x.shape, tuple)
    assert x.dtype == np.float32 and isinstance(x.dtype, np.dtype)
    assert x.ndim == 2
    np.testing.assert_array_equal(np.asarray(x), np.arange(6).reshape(2, 3))
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert float(tj.constant(2.5)) == 2.5 and int(tj.constant(7)) == 7
    assert bool(tj.constant(1.0) > 0) is True and bool(tj.constant(0.0) > 0) is False
    assert list(range(10))[tj.constant(3)] == 3  # __index__
    with pytest.raises(ValueError, match="ambiguous"):
        bool(tj.constant([1.0, 2.0]))
    with pytest.raises(TypeError):
        [0, 1][tj.constant(1.0)]


def test_enable_eager_and_executing_eagerly() -> None:
    assert tj.enable_eager_execution() is None
    assert tj.executing_eagerly() is True
