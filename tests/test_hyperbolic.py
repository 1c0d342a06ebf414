"""sinh, cosh, asinh, acosh, atanh, exp2, log2, log10 and nn.gelu (compositions of
primitives), reduce_all, reduce_any and count_nonzero: NumPy references eagerly and
compiled (size-0 and scalar shapes), accuracy in ulp over the whole range, TensorFlow's
values and gradients at the special points (0, +-1, overflow, inf, NaN), gradients against
central finite differences in float64 at orders 1 and 2, and the errors TensorFlow gives."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.codegen.test_mathlib import ulp_error
from tests.test_grad_ops import first_and_second, gradcheck, rand


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + tanh(z)) = x / (1 + exp(-2 z)), z = sqrt(2 / pi) (x + 0.044715 x**3),
    the latter without cancellation for x < 0."""
    with np.errstate(over="ignore"):
        return x / (1 + np.exp(-2 * np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def _gelu(x: Any) -> tj.Tensor:
    return tj.nn.gelu(x, approximate=True)


# name, op, NumPy reference, (lo, hi) of the drawn values
UNARY: list[tuple[str, Callable[..., Any], Callable[..., Any], tuple[float, float]]] = [
    ("sinh", tj.sinh, np.sinh, (-5, 5)),
    ("cosh", tj.math.cosh, np.cosh, (-5, 5)),
    ("asinh", tj.asinh, np.arcsinh, (-5, 5)),
    ("acosh", tj.math.acosh, np.arccosh, (1.1, 5)),
    ("atanh", tj.atanh, np.arctanh, (-0.9, 0.9)),
    ("exp2", tj.math.exp2, np.exp2, (-5, 5)),
    ("log2", tj.math.log2, np.log2, (0.1, 5)),
    ("log10", tj.math.log10, np.log10, (0.1, 5)),
    ("gelu", _gelu, _gelu_tanh, (-5, 5)),
]


def _check(got: Any, want: np.ndarray, dtype: Any, rtol64: float = 1e-13) -> None:
    """`got` has `want`'s shape and dtype and its values within 1e-5 (float32) or
    `rtol64` (float64), relative and absolute."""
    got = np.asarray(got)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.dtype, want.dtype)
    rtol = 1e-5 if np.dtype(dtype) == np.float32 else rtol64
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0,), (), (3, 37)])
@pytest.mark.parametrize("i", range(len(UNARY)), ids=[u[0] for u in UNARY])
def test_unary_matches_numpy_eagerly_and_compiled(i: int, shape: tuple[int, ...],
                                                  dtype: Any) -> None:
    _, op, ref, dom = UNARY[i]
    x = rand(i, shape, *dom).astype(dtype)
    want = np.asarray(ref(x.astype(np.float64))).astype(dtype)
    _check(op(x).numpy(), want, dtype)
    _check(tj.function(lambda t: op(t))(x).numpy(), want, dtype)


@pytest.mark.parametrize("i", range(len(UNARY)), ids=[u[0] for u in UNARY])
def test_unary_gradients_orders_1_and_2(i: int) -> None:
    _, op, _, dom = UNARY[i]
    gradcheck(op, rand(100 + i, (2, 3), *dom))


def _wide(rng: np.random.Generator, lo: float, hi: float, n: int, signed: bool = True
          ) -> np.ndarray:
    """`n` magnitudes log-uniform in [10**lo, 10**hi], with random signs if `signed`."""
    m = 10 ** rng.uniform(lo, hi, n)
    return m * rng.choice([-1.0, 1.0], n) if signed else m


# name, op, reference, the sample for float32 and for float64 (whole range of each)
ACCURACY: list[tuple[str, Callable[..., Any], Callable[..., Any],
                     Callable[[np.random.Generator, Any], np.ndarray]]] = [
    ("sinh", tj.sinh, np.sinh, lambda r, d: np.concatenate(
        [_wide(r, -30, np.log10(89.4 if d == np.float32 else 710.4), 4000),
         r.uniform(-25, 25, 4000)])),
    ("cosh", tj.cosh, np.cosh, lambda r, d: np.concatenate(
        [_wide(r, -30, np.log10(89.4 if d == np.float32 else 710.4), 4000),
         r.uniform(-25, 25, 4000)])),
    ("asinh", tj.asinh, np.arcsinh, lambda r, d: np.concatenate(
        [_wide(r, -30, 38 if d == np.float32 else 307, 4000), r.uniform(-3, 3, 4000)])),
    ("acosh", tj.acosh, np.arccosh, lambda r, d: np.concatenate(
        [1 + _wide(r, -10, 38 if d == np.float32 else 307, 4000, False),
         r.uniform(1, 3, 4000)])),
    ("atanh", tj.atanh, np.arctanh, lambda r, d: np.concatenate(
        [_wide(r, -30, 0, 4000), 1 - _wide(r, -7 if d == np.float32 else -16, 0, 4000, False),
         r.uniform(-1, 1, 4000)])),
    ("exp2", tj.math.exp2, np.exp2, lambda r, d: np.concatenate(
        [_wide(r, -20, np.log10(127 if d == np.float32 else 1023), 4000),
         r.uniform(-10, 10, 4000)])),
    ("log2", tj.math.log2, np.log2, lambda r, d: np.concatenate(
        [_wide(r, -37, 38, 4000, False), 1 + _wide(r, -7, 0, 4000)])),
    ("log10", tj.math.log10, np.log10, lambda r, d: np.concatenate(
        [_wide(r, -37, 38, 4000, False), 1 + _wide(r, -7, 0, 4000)])),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("i", range(len(ACCURACY)), ids=[a[0] for a in ACCURACY])
def test_accuracy_within_4_ulp_over_the_whole_range(i: int, dtype: Any) -> None:
    """Against NumPy in the next wider type (float64 for float32, long double for
    float64), eagerly and in native code: measured at most 3.0 ulp with 200,000 points a
    function (sinh eagerly in float32, NumPy's own float32 exp contributing)."""
    name, op, ref, sample = ACCURACY[i]
    x = sample(np.random.default_rng(i), dtype).astype(dtype)
    wide = np.float64 if dtype == np.float32 else np.longdouble
    with np.errstate(all="ignore"):
        want = ref(x.astype(wide))
    for mode, got in [("eager", op(x).numpy()),
                      ("native", tj.function(lambda t: op(t))(x).numpy())]:
        err = ulp_error(dtype, got, want)
        worst = int(np.argmax(err))
        assert err[worst] <= 4.0, f"{name} {mode}: {err[worst]:.2f} ulp at x={x[worst]!r}"


SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 20.0, -20.0, 89.5, -89.5, 1e30, np.inf, -np.inf,
                    np.nan, 0.5, -0.5, 1 - 1e-7], np.float32)
# TensorFlow 2.21's tf.math.<name>(SPECIAL) in float32.
TF_SPECIAL = {
    "sinh": [0.0, -0.0, 1.1752012, -1.1752012, 2.4258259e+08, -2.4258259e+08, np.inf,
             -np.inf, np.inf, np.inf, -np.inf, np.nan, 5.2109528e-01, -5.2109528e-01,
             1.1752009],
    "cosh": [1.0, 1.0, 1.5430806, 1.5430806, 2.4258259e+08, 2.4258259e+08, np.inf, np.inf,
             np.inf, np.inf, np.inf, np.nan, 1.1276259, 1.1276259, 1.5430804],
    "asinh": [0.0, -0.0, 0.8813736, -0.8813736, 3.689504, -3.689504, 5.187417, -5.187417,
              69.7707, np.inf, -np.inf, np.nan, 0.48121184, -0.48121184, 0.8813735],
    "acosh": [np.nan, np.nan, 0.0, np.nan, 3.6882539, np.nan, 5.1873546, np.nan, 69.7707,
              np.inf, np.nan, np.nan, np.nan, np.nan, np.nan],
    "atanh": [0.0, -0.0, np.inf, -np.inf, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan,
              np.nan, np.nan, 0.54930615, -0.54930615, 8.317766],
}


@pytest.mark.parametrize("name", sorted(TF_SPECIAL))
def test_values_at_special_points_are_tensorflows(name: str) -> None:
    """Signed zeros, overflow to inf exactly where TensorFlow's does (sinh(89.5) = inf,
    beyond exp's own overflow at 88.7), NaN outside the domain, +-inf at atanh(+-1)."""
    op = getattr(tj.math, name)
    want = np.array(TF_SPECIAL[name], np.float32)
    for got in (op(SPECIAL).numpy(), tj.function(lambda t: op(t))(SPECIAL).numpy()):
        np.testing.assert_allclose(got, want, rtol=2e-7)
        zero = want == 0
        np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]))


# TensorFlow 2.21's first and second derivatives at [0, 1, -1, 2] (float64).
TF_GRADS = {
    "sinh": ([1.0, 1.5430806348152437, 1.5430806348152437, 3.7621956910836314],
             [0.0, 1.1752011936438014, -1.1752011936438014, 3.626860407847019]),
    "cosh": ([0.0, 1.1752011936438014, -1.1752011936438014, 3.626860407847019],
             [1.0, 1.5430806348152437, 1.5430806348152437, 3.7621956910836314]),
    "asinh": ([1.0, 0.7071067811865476, 0.7071067811865476, 0.4472135954999579],
              [-0.0, -0.3535533905932739, 0.3535533905932739, -0.17888543819998312]),
    "acosh": ([np.nan, np.inf, np.nan, 0.5773502691896258],
              [np.nan, -np.inf, np.nan, -0.38490017945975064]),
    "atanh": ([1.0, np.inf, np.inf, -0.3333333333333333],
              [0.0, np.inf, -np.inf, 0.4444444444444444]),
}


@pytest.mark.parametrize("name", sorted(TF_GRADS))
def test_gradients_at_special_points_are_tensorflows(name: str) -> None:
    """At 0 the derivative of an odd function is 1 and cosh''(0) = 1 (|x| inside has
    derivative +-1 there, never abs's 0); at the ends of acosh's and atanh's domains the
    derivatives are infinite as TensorFlow's; eagerly, and in compiled code."""
    op = getattr(tj.math, name)
    x = np.array([0.0, 1.0, -1.0, 2.0])
    d1, d2 = (np.array(v) for v in TF_GRADS[name])
    g, h = first_and_second(op, tj.constant(x))
    cg, ch = tj.function(lambda t: first_and_second(op, t))(x)
    if name == "acosh":
        d2[1] = np.nan         # TensorFlow's is -inf: here inf - inf through the composition
    for got1, got2 in ((g, h), (cg, ch)):
        np.testing.assert_allclose(got1.numpy(), d1, rtol=1e-14)
        np.testing.assert_allclose(got2.numpy(), d2, rtol=1e-14, atol=1e-300)


def test_no_nan_gradient_from_the_branch_not_taken() -> None:
    """Near and far branches are both computed; the one not taken sees a clamped argument,
    so large |x| (where exp(|x|) overflows) still has finite or correct gradients."""
    x = tj.constant([-100.0, -30.0, 0.0, 30.0, 100.0, 1e20, -1e20])
    for op, want in [(tj.sinh, np.cosh), (tj.cosh, np.sinh),
                     (tj.asinh, lambda a: 1 / np.sqrt(a * a + 1))]:
        with tj.GradientTape() as t:
            t.watch(x)
            y = op(x)
        with np.errstate(over="ignore"):
            ref = want(x.numpy().astype(np.float64)).astype(np.float32)
        got = t.gradient(y, x).numpy()
        assert not np.isnan(got).any(), (op, got)
        np.testing.assert_allclose(got, ref, rtol=1e-5)


# First and second derivatives in float64 NumPy.
DERIVATIVES = {
    "sinh": (np.cosh, np.sinh),
    "cosh": (np.sinh, np.cosh),
    "asinh": (lambda a: 1 / np.sqrt(a * a + 1), lambda a: -a / (a * a + 1) ** 1.5),
    "acosh": (lambda a: 1 / np.sqrt(a * a - 1), lambda a: -a / (a * a - 1) ** 1.5),
    "atanh": (lambda a: 1 / (1 - a * a), lambda a: 2 * a / (1 - a * a) ** 2),
}


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_gradients_at_nan_are_nan(name: str, compiled: bool) -> None:
    """A NaN input has NaN derivatives of both orders (TensorFlow's too): the clamps that
    keep the branch not taken finite sent minimum's gradient to their constant, so sinh,
    cosh, asinh and acosh gave 0 there. Beside it the values at and around the branch
    points (20 and 2**28) are NumPy's."""
    op = getattr(tj.math, name)
    x = np.array([np.nan, -np.nan, 0.25, -0.5] if name == "atanh" else
                 [np.nan, -np.nan, 1.5, 20.0, 21.0, 2.0**28, -20.0, 3.0])
    if name == "acosh":
        x = np.abs(x)
    g, h = (tj.function(lambda t: first_and_second(op, t)) if compiled else
            lambda t: first_and_second(op, tj.constant(t)))(x)
    d1, d2 = DERIVATIVES[name]
    np.testing.assert_allclose(g.numpy(), d1(x), rtol=1e-14)
    np.testing.assert_allclose(h.numpy(), d2(x), rtol=1e-14, atol=1e-300)
    assert np.isnan(g.numpy()[:2]).all() and np.isnan(h.numpy()[:2]).all()


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("name,x", [("asinh", [np.inf, -np.inf]), ("acosh", [np.inf]),
                                    ("atanh", [np.inf, -np.inf])])
def test_derivatives_at_infinity_are_the_limits(name: str, x: Any, compiled: bool) -> None:
    """README: at +-inf the second derivatives of asinh and acosh are their limits, 0
    (TensorFlow: NaN), and atanh's derivatives 0 (TensorFlow: -0.0 and NaN)."""
    op = getattr(tj.math, name)
    g, h = (tj.function(lambda t: first_and_second(op, t)) if compiled else
            lambda t: first_and_second(op, tj.constant(t)))(np.array(x))
    if name == "atanh":
        np.testing.assert_array_equal(g.numpy(), np.zeros(len(x)))
    np.testing.assert_array_equal(h.numpy(), np.zeros(len(x)))


def test_gelu_tanh_form_matches_tensorflow() -> None:
    """TensorFlow's 0.5 x (1 + tanh(..)), computed without 1 + tanh's cancellation: equal
    where TensorFlow's float64 is accurate, and accurate in the left tail where
    TensorFlow's float32 rounds to -0 (x = -10) or loses digits (x = -3)."""
    x = np.array([0.0, 1.0, -1.0, 3.0, -3.0, 10.0, 1e5, -1e5, np.inf, np.nan])
    tf64 = [0.0, 8.4119199027867642e-01, -1.5880800972132364e-01, 2.9963626076762093,
            -3.6373923237909001e-03, 10.0, 1e5, -0.0, np.inf, np.nan]
    # (TensorFlow's float64 tanh is within 1e-7: NumPy's formula is the tighter check.)
    np.testing.assert_allclose(tj.nn.gelu(x, approximate=True).numpy(), tf64, rtol=1e-7)
    np.testing.assert_allclose(tj.nn.gelu(x, approximate=True).numpy(), _gelu_tanh(x),
                               rtol=1e-13)
    tail = tj.nn.gelu(np.float32([-3.0, -10.0]), approximate=True).numpy()
    np.testing.assert_allclose(tail, _gelu_tanh(np.array([-3.0, -10.0])), rtol=1e-6)
    assert tail[1] < 0                  # TensorFlow's float32 gives -0.0


@pytest.mark.parametrize("op", [tj.sinh, tj.cosh, tj.asinh, tj.acosh, tj.atanh, tj.math.exp2,
                                tj.math.log2, tj.math.log10, _gelu])
def test_integer_tensors_are_refused(op: Callable[..., Any]) -> None:
    with pytest.raises(tj.DTypeError, match="needs a float tensor, got int32"):
        op(tj.constant([1, 2]))


def test_log2_log10_exp2_at_exact_powers() -> None:
    """Exact at integer powers, as NumPy's (TensorFlow's log(x) / log(2) gives
    log2(2**-15) = -14.999999 in float32, and is off at 441 of float64's powers of 2)."""
    for d in (np.float32, np.float64):
        lo, hi = (-149, 127) if d == np.float32 else (-1074, 1023)
        k = np.arange(lo, hi + 1).astype(d)
        k10 = np.arange(-10, 11).astype(d) if d == np.float32 else np.arange(-22, 23.0)
        for run in (lambda f, a: f(a), lambda f, a: tj.function(lambda t: f(t))(a)):
            # (NumPy's float32 exp2(127) is an ulp off; its float64 one is exact.)
            np.testing.assert_array_equal(run(tj.math.exp2, k).numpy(),
                                          np.exp2(k.astype(np.float64)).astype(d))
            np.testing.assert_array_equal(run(tj.math.log2, np.exp2(k)).numpy(), k)
            np.testing.assert_array_equal(
                run(tj.math.log10, (10.0 ** k10).astype(d)).numpy(), k10)


# ------------------------------------------------------------------ logical reductions

@pytest.mark.parametrize("compiled", [False, True])
def test_reduce_all_any_count_nonzero_match_numpy(compiled: bool) -> None:
    rng = np.random.default_rng(5)
    b = rng.random((3, 4, 5)) < 0.7
    f = rng.integers(-1, 2, (3, 4, 5)).astype(np.float32)
    f[0, 0, 0] = np.nan                               # NaN is not zero
    cases: list[tuple[Callable[..., Any], Callable[..., Any], np.ndarray]] = [
        (tj.reduce_all, np.all, b), (tj.math.reduce_any, np.any, b),
        (tj.math.count_nonzero, np.count_nonzero, f), (tj.math.count_nonzero,
                                                        np.count_nonzero, b)]
    for op, ref, a in cases:
        for axis, keep in [(None, False), (1, False), ((0, 2), True), (-1, True), ([], False)]:
            def run(t: Any, op: Any = op, axis: Any = axis, keep: Any = keep) -> Any:
                return op(t, axis=axis, keepdims=keep)
            got = (tj.function(run) if compiled else run)(a).numpy()
            ax = tuple(axis) if isinstance(axis, list) else axis
            want = np.asarray(ref(a, axis=ax, keepdims=keep))
            if op is tj.math.count_nonzero:
                want = want.astype(np.int64)
            assert got.dtype == want.dtype and got.shape == want.shape, (op, axis)
            np.testing.assert_array_equal(got, want)


def test_logical_reductions_over_empty_axes_and_dtypes() -> None:
    """TensorFlow: all of nothing is True, any of nothing False, count 0; count_nonzero's
    `dtype`; reduce_all/reduce_any of a non-bool tensor is an error."""
    e = tj.zeros([0, 2], tj.bool_)
    np.testing.assert_array_equal(tj.reduce_all(e, axis=0).numpy(), [True, True])
    np.testing.assert_array_equal(tj.reduce_any(e, axis=0).numpy(), [False, False])
    assert tj.math.count_nonzero(tj.zeros([0])).numpy() == 0
    c = tj.math.count_nonzero(tj.constant([1, 0, 3]), dtype=tj.int32)
    assert c.dtype == np.int32 and c.numpy() == 2
    for op in (tj.reduce_all, tj.reduce_any):
        with pytest.raises(tj.DTypeError, match="needs a bool tensor, got float32"):
            op(tj.constant([1.0, 0.0]))
