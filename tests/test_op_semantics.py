"""Op semantics pinned against an oracle written out in the test: the sign of zero in
max/min reductions, and other per-op behaviours (byte order, one_hot out of range, ...)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracejit as tj


def _ieee_fold(row: np.ndarray, big: bool) -> float:
    """IEEE 754-2019 maximum (minimum) of `row`, one element at a time: NaN wins and
    +0.0 > -0.0, so the order of the elements does not matter."""
    acc = -np.inf if big else np.inf
    for v in row:
        if np.isnan(acc) or np.isnan(v):
            acc = np.nan
        elif v == acc == 0:
            neg = np.signbit(v) and np.signbit(acc) if big else np.signbit(v) or np.signbit(acc)
            acc = -0.0 if neg else 0.0
        else:
            acc = max(acc, v) if big else min(acc, v)
    return acc


def _ieee_reduce(x: np.ndarray, axes: tuple[int, ...], big: bool) -> np.ndarray:
    kept = [i for i in range(x.ndim) if i not in axes]
    out_shape = tuple(x.shape[i] for i in kept)
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    rows = np.transpose(x, kept + list(axes)).reshape(-1, n)
    return np.array([_ieee_fold(r, big) for r in rows], x.dtype).reshape(out_shape)


def _bits(a: Any) -> np.ndarray:
    return np.asarray(a).view(np.uint8)


@st.composite
def _zeros_case(draw: Any) -> tuple[np.ndarray, tuple[int, ...]]:
    shape = tuple(draw(st.lists(st.integers(1, 19), min_size=1, max_size=3)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    pool = draw(st.sampled_from([[0.0, -0.0], [0.0, -0.0, -1.0], [0.0, -0.0, np.nan]]))
    size = int(np.prod(shape))
    x = np.array(draw(st.lists(st.sampled_from(pool), min_size=size, max_size=size)),
                 dtype).reshape(shape)
    axes = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    return x, axes


_FORMS = {
    "alone": lambda f, x, ax: f(x, ax),
    "fused producer": lambda f, x, ax: f(x * 1.0, ax),
    "fused consumer": lambda f, x, ax: f(x, ax) * 1.0,
}


@settings(max_examples=40)
@given(case=_zeros_case(), form=st.sampled_from(sorted(_FORMS)))
def test_reduce_max_min_of_signed_zeros_follow_ieee_maximum_everywhere(
        case: tuple[np.ndarray, tuple[int, ...]], form: str) -> None:
    # np.max's zero sign follows its SIMD lanes (the maximum of 8 float64 zeros with one
    # +0.0 can be -0.0), so eager (NumPy reference) and native code, which orders -0.0
    # below +0.0, disagreed in 28 of 1,744 fuzzed reductions. Both now give IEEE 754-2019
    # maximum/minimum: +0.0 if any zero is +0.0 (max), -0.0 if any is -0.0 (min).
    x, axes = case
    for big, f in ((True, tj.reduce_max), (False, tj.reduce_min)):
        want = _ieee_reduce(x, axes, big)
        g = _FORMS[form]
        eager = g(f, tj.constant(x), list(axes)).numpy()
        compiled = tj.compile(lambda v: g(f, v, list(axes)))(x).numpy()  # noqa: B023  (called in this iteration)
        for got in (eager, compiled):
            keep = ~np.isnan(want)
            assert np.array_equal(np.isnan(got), ~keep), (got, want)
            np.testing.assert_array_equal(_bits(got[keep]), _bits(want[keep]))


def test_numpy_array_and_python_float_captured_by_a_closure_are_baked_and_logged(
        caplog: Any) -> None:
    # As in tf.function: a closure's Python float and a NumPy array mutated in place after
    # tracing keep their trace-time values (compile.py's docstring said nothing the user
    # can change is baked); each baked NumPy array is logged at DEBUG with its line.
    table = np.arange(20, dtype=np.float32)
    scale = 2.0

    @tj.compile
    def f(x: Any) -> Any:
        return x * table * scale

    x = np.ones(20, np.float32)
    with caplog.at_level("DEBUG", logger="tracejit"):
        np.testing.assert_array_equal(f(x).numpy(), np.arange(20) * 2.0)
    baked = [r.getMessage() for r in caplog.records if "baked" in r.getMessage()]
    assert len(baked) == 1 and "float32[20]" in baked[0] and "test_op_semantics.py" in baked[0]
    table[:] = 0.0
    scale = 3.0
    np.testing.assert_array_equal(f(x).numpy(), np.arange(20) * 2.0)
    assert scale == 3.0


def test_one_hot_out_of_range_index_gives_an_all_off_row_as_tensorflow() -> None:
    # TensorFlow's "ignore this label" idiom: -1 (or depth, or any index outside
    # [0, depth)) is a row of off_value. tj.one_hot raised IndexError.
    from tracejit.ir import bind
    from tracejit.ir.interp import evaluate
    from tracejit.codegen import compile_function
    from tests.codegen.test_index import fn_of

    idx = np.array([[2, -1], [3, 0], [-7, 2**31 - 1]], np.int32)
    want = np.zeros((3, 2, 3), np.float32) + 0.5
    want[0, 0, 2] = want[1, 1, 0] = 4.0
    eager = tj.one_hot(idx, 3, on_value=4.0, off_value=0.5)
    compiled = tj.compile(lambda i: tj.one_hot(i, 3, on_value=4.0, off_value=0.5))(idx)
    fn = fn_of([(idx.shape, np.int32)], lambda i: bind(
        "one_hot", i, depth=3, dtype=np.dtype(np.float32), on=4.0, off=0.5))
    for got in (eager.numpy(), compiled.numpy(), evaluate(fn, [idx])[0],
                compile_function(fn)(idx)[0]):
        np.testing.assert_array_equal(got, want)
    # Gradients through it, and batching (jacobian vmaps the backward), are unaffected.
    x = tj.constant(np.arange(6, dtype=np.float32).reshape(3, 2))
    labels = np.array([1, -1, 2], np.int32)

    def f(x: Any) -> Any:
        return tj.reduce_sum(tj.transpose(tj.one_hot(labels, 2, axis=0)) * x * x)

    for run in (lambda: f, lambda: tj.compile(f)):
        with tj.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = tj.reduce_sum(run()(x) * 1.0)
            rows = tj.one_hot(labels, 2) * x
        g = tape.gradient(y, x).numpy()
        mask = np.array([[0, 1], [0, 0], [0, 0]], np.float32)
        np.testing.assert_array_equal(g, 2 * mask * x.numpy())
        jac = tape.jacobian(rows, x).numpy()
        assert jac.shape == (3, 2, 3, 2) and jac[1].sum() == 0 and jac[2].sum() == 0
        assert jac[0, 1, 0, 1] == 1.0


def test_one_hot_value_dtypes_follow_tensorflow() -> None:
    # TensorFlow: on_value/off_value of different dtypes, or a float on_value with an int
    # dtype, raise TypeError; the dtype defaults to on_value's. tj.one_hot took both as
    # floats and made float32.
    for bad in (dict(on_value=1.0, off_value=0), dict(on_value=1.0, dtype=tj.int32),
                dict(off_value=0.0, dtype=tj.int32),
                dict(on_value=np.float64(1.0), off_value=np.float32(0.0))):
        try:
            tj.one_hot([1, 2], 3, **bad)
        except TypeError as e:
            assert "one_hot" in str(e) and "does not match" in str(e)
        else:
            raise AssertionError(f"no TypeError for {bad}")
    assert tj.one_hot([1, 2], 3, on_value=5, off_value=0).dtype == np.int32
    assert tj.one_hot([1, 2], 3, on_value=5, dtype=tj.float32).dtype == np.float32
    assert tj.one_hot([1, 2], 3, off_value=np.float64(-1.0)).dtype == np.float64


def test_big_endian_arrays_keep_their_dtype_eagerly_and_compiled() -> None:
    # A big-endian float64 was refused (with a hint to lose precision in float32) and a
    # big-endian int32 became int64.
    for dt in (">f8", ">f4", ">i4", ">i8", "<f8", "=i4"):
        a = np.array([1.5, -2.0, 3.25, 2.0**40] if dt[1] == "f" else [1, -2, 3, 2**30],
                     dtype=dt)
        want = a.astype(a.dtype.newbyteorder("="))
        for got in (tj.constant(a), tj.convert_to_tensor(a), tj.Variable(a).value(),
                    tj.compile(lambda x: x * 1)(a), tj.compile(lambda: tj.constant(a))(),  # noqa: B023  (called in this iteration)
                    tj.constant(want) * 0 + a):
            assert got.dtype == want.dtype and got.dtype.isnative, (dt, got.dtype)
            np.testing.assert_array_equal(got.numpy(), want)


def test_out_of_bounds_gather_in_compiled_code_names_gather_and_its_line() -> None:
    # When only the gradient of a gather is used, optimization keeps only its
    # scatter_add, and the error said "scatter_add: index 3 ..." with no line at all.
    import inspect
    x = np.ones((3, 4), np.float32)

    @tj.compile
    def grad(a: Any, i: Any) -> Any:
        with tj.GradientTape() as tape:
            tape.watch(a)
            y = tj.reduce_sum(tj.gather(a, i) * 3.0)
        return tape.gradient(y, a)

    @tj.compile
    def forward(a: Any, i: Any) -> Any:
        return tj.gather(a, i) * 2.0

    src = inspect.getsource(test_out_of_bounds_gather_in_compiled_code_names_gather_and_its_line)
    for f, text in ((grad, "y = tj.reduce_sum(tj.gather(a, i) * 3.0)"),
                    (forward, "return tj.gather(a, i) * 2.0")):
        try:
            f(x, np.array([1, 3], np.int64))
        except IndexError as e:
            msg = str(e)
        else:
            raise AssertionError("no IndexError")
        assert msg.startswith("gather: index 3 is out of bounds for size 3"), msg
        assert __file__ in msg and text in msg, msg
        assert text in src
    np.testing.assert_array_equal(grad(x, np.array([2], np.int64)).numpy()[2], [3.0] * 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_of_rows_with_inf_or_nan(dtype: Any) -> None:
    """README: softmax is NaN throughout a row holding NaN or +inf (TensorFlow's float32
    kernel gives 0 beside the NaN); log_softmax is x - reduce_logsumexp(x), -inf at the
    finite entries of a row holding +inf (TensorFlow: NaN throughout). NumPy's formulas
    are the oracle, eagerly and compiled; the finite rows are plain values."""
    nan, inf = np.nan, np.inf
    x = np.array([[1, inf, 2], [inf, inf, 0], [-inf, 0, 1], [-inf, -inf, -inf],
                  [1, nan, 2], [inf, -inf, nan], [-inf, -inf, 0], [1e30, -1e30, 0]], dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.max(x, axis=1, keepdims=True)
        e = np.exp(x - m)
        soft = e / e.sum(axis=1, keepdims=True)
        lse = np.logaddexp.reduce(x, axis=1, keepdims=True)
        lse = np.where(np.isnan(x).any(axis=1, keepdims=True), nan, lse)
        logsoft = x - lse
    f = tj.function(lambda a: (tj.nn.softmax(a), tj.nn.log_softmax(a)))
    for s, ls in ((tj.nn.softmax(x), tj.nn.log_softmax(x)), f(x)):
        np.testing.assert_allclose(s.numpy(), soft, rtol=1e-6)
        np.testing.assert_allclose(ls.numpy(), logsoft, rtol=1e-6)
    assert np.isnan(soft[[0, 1, 3, 4, 5]]).all()
    assert (logsoft[0, [0, 2]] == -inf).all()
    row, w = tj.constant(x[:1]), tj.constant([[1.0, 2.0, 3.0]], dtype)
    with tj.GradientTape() as t:
        t.watch(row)
        y = tj.nn.log_softmax(row) * w
    g = t.gradient(y, row).numpy()
    assert g[0, 0] == 1.0 and g[0, 2] == 3.0 and np.isnan(g[0, 1])
    labels = tj.constant([[0.25, 0.25, 0.5]], dtype)
    with tj.GradientTape() as t:
        t.watch(row)
        loss = tj.nn.softmax_cross_entropy_with_logits(labels=labels, logits=row)
    g = t.gradient(loss, row).numpy()
    assert g[0, 0] == -0.25 and g[0, 2] == -0.5 and np.isnan(g[0, 1])


def _saturated(v: float, dtype: Any) -> int:
    """Float to int rounding toward zero, saturating, NaN to 0 (the oracle, in Python)."""
    info = np.iinfo(dtype)
    if np.isnan(v):
        return 0
    if np.isinf(v):
        return int(info.max if v > 0 else info.min)
    return min(max(int(v), int(info.min)), int(info.max))


@pytest.mark.parametrize("src", [np.float32, np.float64])
@pytest.mark.parametrize("dst", [np.int32, np.int64])
def test_float_to_int_cast_saturates_and_nan_is_zero(src: Any, dst: Any) -> None:
    """README: out-of-range values saturate and NaN becomes 0 (TensorFlow on x86 gives the
    lowest integer for all of them: cast(3e9, int32) is -2147483648)."""
    x = np.array([3e9, -3e9, 1e20, -1e20, np.inf, -np.inf, np.nan, 2147483647.0,
                  2147483520.0, -2147483648.0, 2.5, -2.5, 9.3e18, -9.3e18], src)
    want = [_saturated(float(v), dst) for v in x]
    for got in (tj.cast(x, dst), tj.function(lambda a: tj.cast(a, dst))(x)):
        assert got.dtype == dst
        assert got.numpy().tolist() == want


@pytest.mark.parametrize("compiled", [False, True])
def test_cumulative_logsumexp_propagates_nan_and_inf(compiled: bool) -> None:
    """README: NumPy's logaddexp.accumulate is the oracle for the values (NaN runs on to
    the end of the line, +inf stays +inf; TensorFlow drops a NaN or takes it for another
    value and gives NaN after a second +inf); an element at -inf has gradient
    sum_i exp(x_j - out_i) = 0 (TensorFlow: NaN where the running result is -inf)."""
    nan, inf = np.nan, np.inf
    x = np.array([[-inf, -inf, -inf], [inf, inf, 1], [1, inf, inf], [nan, 1, 2],
                  [1, nan, 2], [-inf, 0, -inf], [0.5, -1, 2]])

    def f(a: Any) -> Any:
        with tj.GradientTape() as t:
            t.watch(a)
            y = tj.math.cumulative_logsumexp(a, axis=1)
        return y, t.gradient(y, a)

    y, g = (tj.function(f) if compiled else lambda a: f(tj.constant(a)))(x)
    np.testing.assert_allclose(y.numpy(), np.logaddexp.accumulate(x, axis=1), rtol=1e-14)
    out = np.logaddexp.accumulate(x[[0, 5, 6]], axis=1)
    with np.errstate(invalid="ignore"):
        w = np.exp(x[[0, 5, 6]][:, :, None] - out[:, None, :])       # [row, j, i]
    w = np.where(np.isneginf(x[[0, 5, 6]])[:, :, None], 0.0, w)
    want = np.where(np.triu(np.ones((3, 3), bool))[None], w, 0.0).sum(axis=2)   # i >= j
    np.testing.assert_allclose(g.numpy()[[0, 5, 6]], want, rtol=1e-14)
