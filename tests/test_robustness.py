"""Crash-proofing through the user API, eager and compiled (DESIGN.md, "Errors" and
"Numerical decisions"): bad or unusual input gets NumPy's answer or a clear exception,
never a crash, a wrong answer or a modified input.

- empty and zero-size arrays, 0-d scalars;
- NaN and inf propagate as in NumPy (`maximum`, `minimum`, `reduce_max`, `reduce_min`,
  `clip_by_value`, `relu` propagate NaN);
- non-contiguous, negative-stride, Fortran-order, read-only, misaligned and zero-stride
  inputs give the same results as contiguous ones and are never written;
- a shape whose bytes overflow or exceed the memory available raises `MemoryError`
  naming the shape, dtype and bytes, before anything is allocated;
- out-of-range `gather`/tensor indices and sparse cross-entropy labels raise `IndexError`
  naming the index and the bound (`one_hot` gives an all-zero row, as TensorFlow's).
"""
from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from tracejit.ir import core, memory

import tracejit as tj

F32, F64 = np.float32, np.float64
N = 131  # > 100 elements, not a multiple of any vector width


def both(f: Callable[..., Any], *args: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`f` run eagerly (on tensors) and compiled (on the arrays), as lists of arrays."""
    def listed(r: Any) -> list[np.ndarray]:
        return [np.asarray(x) for x in (r if isinstance(r, (tuple, list)) else [r])]
    eager = listed(f(*[tj.constant(a) for a in args]))
    compiled = listed(tj.compile(f)(*args))
    return eager, compiled


def assert_same(got: np.ndarray, ref: np.ndarray) -> None:
    """Same shape, dtype, values, NaN positions and signs of zeros."""
    ref = np.asarray(ref)
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, got.dtype, ref)
    assert np.array_equal(got, ref, equal_nan=ref.dtype.kind == "f"), (got, ref)
    if ref.dtype.kind == "f":
        assert np.array_equal(np.signbit(got), np.signbit(ref)), (got, ref)


# ---------------------------------------------------------------- empty arrays and scalars

EMPTY_CASES: list[tuple[str, Callable[[Any], Any], Callable[[np.ndarray], np.ndarray]]] = [
    ("reduce_sum", tj.reduce_sum, np.sum),
    ("reduce_prod", tj.reduce_prod, np.prod),
    ("reduce_max", tj.reduce_max, lambda a: np.max(a, initial=-np.inf)),
    ("reduce_min", tj.reduce_min, lambda a: np.min(a, initial=np.inf)),
    ("reduce_sum axis 0", lambda x: tj.reduce_sum(x, axis=0), lambda a: np.sum(a, axis=0)),
    ("reduce_max axis -1", lambda x: tj.reduce_max(x, axis=-1),
     lambda a: np.max(a, axis=-1, initial=-np.inf)),
    ("reduce_logsumexp", tj.reduce_logsumexp, lambda a: np.asarray(-np.inf, a.dtype)),
    ("exp", tj.exp, np.exp),
    ("maximum", lambda x: tj.maximum(x, 0.5), lambda a: np.maximum(a, a.dtype.type(0.5))),
    ("clip", lambda x: tj.clip_by_value(x, -1.0, 1.0), lambda a: np.clip(a, -1, 1)),
    ("softmax", tj.nn.softmax, lambda a: a),
    ("reverse", lambda x: x[::-1], lambda a: a[::-1]),
    ("matmul", lambda x: tj.matmul(tj.transpose(x), x), lambda a: a.T @ a),
]


EMPTY_PARAMS = [(*case, shape) for case in EMPTY_CASES for shape in [(0,), (0, 3), (3, 0)]
                if case[0] != "matmul" or len(shape) == 2]


@pytest.mark.parametrize("name,f,ref,shape", EMPTY_PARAMS,
                         ids=[f"{p[0]} {p[3]}" for p in EMPTY_PARAMS])
def test_zero_size_inputs_give_numpys_result(name: str, f: Callable[[Any], Any],
                                             ref: Callable[[np.ndarray], np.ndarray],
                                             shape: tuple[int, ...]) -> None:
    x = np.zeros(shape, F32)
    expect = np.asarray(ref(x), F32)
    for got in both(f, x):
        assert_same(got[0], expect)


def test_mean_of_nothing_is_nan_and_argmax_of_nothing_is_an_error() -> None:
    x = np.zeros((0, 4), F64)
    for got in both(tj.reduce_mean, x):
        assert np.isnan(got[0]) and got[0].shape == ()
    with pytest.raises(ValueError, match="empty axis"):
        tj.argmax(tj.constant(x), axis=0)
    with pytest.raises(ValueError, match="empty axis"):
        tj.compile(lambda a: tj.argmax(a, axis=0))(x)
    for got in both(lambda a: tj.argmax(a, axis=1), x):
        assert got[0].shape == (0,)


@pytest.mark.parametrize("arg", [np.float32(3.0), np.array(3.0, F32), np.array(-0.0, F64)],
                         ids=["np.float32", "0-d f32", "0-d -0.0 f64"])
def test_zero_d_scalars(arg: Any) -> None:
    def f(x: Any) -> Any:
        return x * 2.0, tj.reduce_sum(x), tj.reshape(x, (1, 1)), tj.exp(x)

    a = np.asarray(arg)
    expect = [a * 2, a, a.reshape(1, 1), np.exp(a)]
    eager, compiled = both(f, a)
    for got in (eager, compiled):
        for g, r in zip(got, expect):
            assert g.shape == r.shape and g.dtype == r.dtype
            np.testing.assert_allclose(g, r, rtol=1e-6)
    assert np.signbit(compiled[0]) == np.signbit(expect[0])


# ---------------------------------------------------------------- NaN and inf

NAN_CASES: list[tuple[str, Callable[..., Any], Callable[..., np.ndarray]]] = [
    ("maximum", tj.maximum, np.maximum),
    ("minimum", tj.minimum, np.minimum),
    ("clip_by_value", lambda x, y: tj.clip_by_value(x, -1.0, 0.5),
     lambda a, b: np.clip(a, -1, 0.5)),
    ("relu", lambda x, y: tj.nn.relu(x), lambda a, b: np.maximum(a, 0)),
    ("reduce_max", lambda x, y: tj.reduce_max(x), lambda a, b: np.max(a)),
    ("reduce_min", lambda x, y: tj.reduce_min(x), lambda a, b: np.min(a)),
    ("reduce_max rows", lambda x, y: tj.reduce_max(tj.reshape(x, (N, 1)) + y, axis=0),
     lambda a, b: np.max(a.reshape(N, 1) + b, axis=0)),
    ("reduce_sum", lambda x, y: tj.reduce_sum(x), lambda a, b: np.sum(a)),
    ("argmax", lambda x, y: tj.argmax(x), lambda a, b: np.argmax(a)),
    ("argmin", lambda x, y: tj.argmin(x), lambda a, b: np.argmin(a)),
]


def special_arrays(dtype: Any) -> Iterator[tuple[str, np.ndarray]]:
    """Arrays of N elements with one NaN at the start, inside a vector, in the scalar
    remainder at the end; infinities of both signs; signed zeros."""
    base = np.linspace(-2.0, 3.0, N).astype(dtype)
    for where in (0, 37, N - 1):
        a = base.copy()
        a[where] = np.nan
        yield f"nan at {where}", a
    a = base.copy()
    a[[3, 90]] = [np.inf, -np.inf]
    yield "+-inf", a
    a = base.copy()
    a[[5, 6, N - 2]] = [np.inf, np.nan, -np.inf]
    yield "inf and nan", a
    yield "signed zeros", np.where(np.arange(N) % 2 == 0, -0.0, 0.0).astype(dtype)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,f,ref", NAN_CASES, ids=[c[0] for c in NAN_CASES])
def test_nan_and_inf_propagate_as_numpy(name: str, f: Callable[..., Any],
                                        ref: Callable[..., np.ndarray], dtype: Any) -> None:
    y = np.resize(np.array([0.25, np.nan, -np.inf, 1.0, -0.0, np.inf, 2.0], dtype), N)
    compiled = tj.compile(f)
    for what, x in special_arrays(dtype):
        with np.errstate(all="ignore"):
            expect = np.asarray(ref(x, y))
        eager = np.asarray(f(tj.constant(x), tj.constant(y)))
        got = np.asarray(compiled(x, y))
        for mode, g in (("eager", eager), ("compiled", got)):
            assert g.shape == expect.shape and g.dtype == expect.dtype, (mode, what)
            # (The sign of a zero may differ: max(-0.0, 0.0) is either zero.)
            assert np.array_equal(g, expect, equal_nan=True), (mode, what, g, expect)


def test_maximum_and_minimum_of_nan_scalars_and_infinities() -> None:
    x = np.array([np.nan, 1.0, np.inf, -np.inf, np.nan], F64)
    y = np.array([1.0, np.nan, np.nan, np.inf, np.nan], F64)
    for got in both(lambda a, b: (tj.maximum(a, b), tj.minimum(a, b)), x, y):
        assert_same(got[0], np.maximum(x, y))
        assert_same(got[1], np.minimum(x, y))


# ---------------------------------------------------------------- input layouts


def layouts(a: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """Read-only views holding the values of `a` in unusual memory layouts."""
    big = np.zeros(tuple(2 * d + 1 for d in a.shape), a.dtype)
    v = big[tuple(slice(1, None, 2) for _ in a.shape)]
    v[...] = a
    yield "strided", v
    v = np.zeros(a.shape, a.dtype)[::-1, ::-1]
    v[...] = a
    yield "negative strides", v
    yield "fortran", np.asfortranarray(a)
    buf = np.zeros(a.nbytes + 1, np.uint8)
    v = buf[1:].view(a.dtype).reshape(a.shape)   # byte offset 1: misaligned
    v[...] = a
    assert not v.flags.aligned
    yield "misaligned", v
    yield "read-only", a.copy()


@pytest.mark.parametrize("dtype", [F32, F64, np.int32, np.int64], ids=str)
def test_unusual_layouts_give_the_contiguous_result_and_are_never_written(dtype: Any) -> None:
    rng = np.random.default_rng(0)
    # Small integers: every result is exact, so eager and compiled must agree bit for bit.
    x = rng.integers(-9, 10, (N, 3)).astype(dtype)
    y = rng.integers(-9, 10, (N, 3)).astype(dtype)

    def f(a: Any, b: Any) -> Any:
        return tj.reduce_sum(a * b, axis=0), a[::-1] - b, tj.maximum(a, b), tj.transpose(a)

    compiled = tj.compile(f)
    expect = [np.asarray(r) for r in compiled(x, y)]
    for name, v in layouts(x):
        v.flags.writeable = False
        before = v.copy()
        got = [np.asarray(r) for r in compiled(v, y)]
        eager = [np.asarray(r) for r in f(tj.constant(v), tj.constant(y))]
        for g, e, r in zip(got, eager, expect):
            assert_same(g, r)
            assert_same(e, r)
        assert np.array_equal(v, before), f"{name} input was modified"


def test_zero_stride_and_misaligned_0d_and_bool_inputs() -> None:
    f = tj.compile(lambda a, b, c: (a * 2.0, tj.where(c, a, -a), b + 1.0))
    a = np.broadcast_to(np.float32(1.5), (N,))           # stride 0
    buf = np.zeros(9, np.uint8)
    b = buf[1:].view(F64).reshape(())                    # misaligned 0-d
    b[...] = 2.5
    cbuf = np.zeros(N + 1, np.uint8)
    c = cbuf[1:].view(np.bool_)
    c[::3] = True
    out = [np.asarray(r) for r in f(a, b, c)]
    assert_same(out[0], np.full(N, 3.0, F32))
    assert_same(out[1], np.where(c, a, -a))
    assert_same(out[2], np.array(3.5))
    assert float(b) == 2.5 and c.sum() == len(range(0, N, 3))


def test_eager_constants_copy_their_input() -> None:
    a = np.arange(5, dtype=F32)
    t = tj.constant(a)
    a[0] = 100.0
    assert float(tj.reduce_sum(t)) == 10.0
    out = (t * 2.0).numpy()
    assert not out.flags.writeable


# ---------------------------------------------------------------- huge shapes


def peak_bytes(f: Callable[[], Any]) -> tuple[BaseException | None, int]:
    """Run `f`; return what it raised and the peak memory it traced (NumPy reports its
    allocations to tracemalloc)."""
    tracemalloc.start()
    try:
        f()
        err = None
    except BaseException as e:  # noqa: BLE001
        err = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return err, peak


@pytest.mark.parametrize("make", [
    lambda: tj.zeros((2**40, 2**30)),
    lambda: tj.ones((2**40, 2**30), tj.float64),
    lambda: tj.broadcast_to(tj.constant(1.0), (2**31, 2**31)),
    lambda: tj.fill((2**62, 4), 1.0),
    lambda: tj.one_hot(tj.constant([0, 1]), 2**62),
], ids=["zeros 2^70", "ones f64", "broadcast_to 2^62", "fill 2^64", "one_hot depth 2^62"])
def test_eager_shapes_beyond_any_address_space_raise_memory_error(make: Callable[[], Any]
                                                                  ) -> None:
    err, peak = peak_bytes(make)
    assert isinstance(err, MemoryError), err
    msg = str(err)
    assert "bytes" in msg and "shape (" in msg and "dtype" in msg, msg
    assert "test_robustness.py" in msg  # points at the user's line
    assert peak < 1 << 20


@pytest.fixture
def one_gib(monkeypatch: pytest.MonkeyPatch) -> int:
    """Pretend only 1 GiB of memory is available."""
    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 30)
    return 1 << 30


def test_eager_allocation_beyond_available_memory(one_gib: int) -> None:
    err, peak = peak_bytes(lambda: tj.ones((23171, 23171), tj.float32))  # 2 GiB
    assert isinstance(err, MemoryError), err
    assert "(23171, 23171)" in str(err) and "float32" in str(err)
    assert str(23171 * 23171 * 4) in str(err) and str(one_gib) in str(err)
    assert peak < 1 << 20
    assert tj.ones((1000, 1000)).shape == (1000, 1000)   # what fits still works


def test_compiled_output_beyond_available_memory(one_gib: int) -> None:
    outer = tj.compile(lambda x: x[:, None] * x[None, :])
    # What fits works; calling it first also leaves out of the measured peak what only a
    # process's first compile allocates (imports, the compile workers: 0.3-0.8 MiB; the
    # thread pool's library, which a loop of 600 x 600 elements loads).
    assert np.asarray(outer(np.ones(600, F32))).shape == (600, 600)
    x = np.ones(23171, F32)
    err, peak = peak_bytes(lambda: outer(x))
    assert isinstance(err, MemoryError), err
    assert "(23171, 23171)" in str(err) and "float32" in str(err)
    assert str(23171 * 23171 * 4) in str(err) and str(one_gib) in str(err)
    # The new shape is traced and compiled before its output is refused: that peaks at
    # about 1-1.5 MiB of Python objects (the IR, llvmlite's module, its text), with the
    # garbage collector paused; the refused output alone would be 2 GiB.
    assert peak < 16 << 20
    err, peak = peak_bytes(lambda: outer(x))      # compiled now: only the refusal
    assert isinstance(err, MemoryError), err
    assert peak < 1 << 20


def test_compiled_scratch_beyond_available_memory(one_gib: int) -> None:
    # The (n, n) product is a matmul operand: it needs a scratch buffer, while the result
    # is one number.
    f = tj.compile(lambda x: tj.reduce_sum(tj.matmul(x[:, None] * x[None, :], x[:, None])))
    f.lower(np.ones(23171, F32)).as_text("llvm")   # compile-time memory is not the point
    err, peak = peak_bytes(lambda: f(np.ones(23171, F32)))
    assert isinstance(err, MemoryError), err
    assert "scratch" in str(err) and "bytes" in str(err)
    assert peak < 1 << 20
    assert float(f(np.ones(10, F32))) == 100.0


def test_compiled_shapes_beyond_any_address_space_raise_memory_error() -> None:
    f = tj.compile(lambda x: tj.broadcast_to(x, (2**31, 2**31)))
    err, peak = peak_bytes(lambda: f(np.ones((), F32)))
    assert isinstance(err, MemoryError), err
    assert "2147483648" in str(err)
    assert peak < 64 << 20  # tracing and compiling only


def test_tensor_type_bytes_are_exact() -> None:
    t = core.TensorType((2**40, 2**30), F32)
    assert t.size == 2**70 and t.nbytes == 2**72  # no wrap-around at 2^64
    assert core.TensorType((), F64).nbytes == 8
    assert core.TensorType((3, 0), np.bool_).nbytes == 0
    with pytest.raises(MemoryError, match=r"\(1099511627776, 1073741824\).*float32"):
        memory.check_allocation([t], "op")
    memory.check_allocation([core.TensorType((1000, 1000), F64)], "op")  # fits: no error


# ---------------------------------------------------------------- out-of-range indices

X = np.arange(12, dtype=F32).reshape(3, 4)


@pytest.mark.parametrize("index,dtype", [(3, np.int64), (-1, np.int32), (2**40, np.int64),
                                         (-2**31, np.int32), (7, np.int32)])
def test_gather_out_of_range_raises_index_error(index: int, dtype: Any) -> None:
    idx = np.array([0, index, 1], dtype)
    for run in (lambda: tj.gather(tj.constant(X), tj.constant(idx)),
                lambda: tj.compile(lambda a, i: tj.gather(a, i))(X, idx)):
        with pytest.raises(IndexError, match=rf"index {index} is out of bounds for size 3"):
            run()


def test_gather_along_axis_1_and_inside_a_gradient() -> None:
    idx = np.array([[4]], np.int64)
    with pytest.raises(IndexError, match="index 4 is out of bounds for size 4"):
        tj.compile(lambda a, i: tj.gather(a, i, axis=1))(X, idx)

    @tj.compile
    def grad(a: Any, i: Any) -> Any:
        with tj.GradientTape() as tape:
            tape.watch(a)
            y = tj.reduce_sum(tj.gather(a, i) ** 2)
        return tape.gradient(y, a)

    with pytest.raises(IndexError, match="index 3 is out of bounds for size 3"):
        grad(X, np.array([3], np.int64))
    assert np.asarray(grad(X, np.array([2], np.int64)))[2, 3] == 22.0


@pytest.mark.parametrize("index", [5, -1, 2**31 - 1])
def test_sparse_cross_entropy_label_out_of_range_raises_index_error(index: int) -> None:
    # (tj.one_hot gives an all-zero row instead, as TensorFlow's: tests/test_op_semantics.)
    idx = np.array([1, index], np.int32)
    xent = tj.nn.sparse_softmax_cross_entropy_with_logits
    for run in (lambda: xent(labels=tj.constant(idx), logits=tj.ones((2, 5))),
                lambda: tj.compile(lambda i: xent(labels=i, logits=tj.ones((2, 5))))(idx)):
        with pytest.raises(IndexError, match=rf"index {index} is out of bounds for size 5"):
            run()


@pytest.mark.parametrize("index", [3, -4, 100])
def test_tensor_indexing_out_of_range_names_the_index_the_user_gave(index: int) -> None:
    i = np.array([index], np.int64)
    for run in (lambda: tj.constant(X)[tj.constant(i)],
                lambda: tj.compile(lambda a, j: a[j])(X, i),
                lambda: tj.compile(lambda a: a[index])(X),
                lambda: tj.constant(X)[index]):
        with pytest.raises(IndexError, match=rf"index {index} is out of bounds"):
            run()
    assert_same(np.asarray(tj.compile(lambda a, j: a[j])(X, np.array([-3], np.int64))),
                X[[-3]])


def test_compiled_results_are_read_only_and_executable_results_writable() -> None:
    # The dispatch fast path has native code clear the WRITEABLE flag; the slow paths
    # (conversions) set it in Python. Plain Executables return writable arrays.
    f = tj.compile(lambda x: x * 2.0 + 1.0)
    a = np.arange(6, dtype=F32)
    for arg in (a, tj.constant(a), a, a[::-1].copy(), a.astype(np.float64).astype(F32)):
        out = f(arg).numpy()
        assert not out.flags.writeable
        with pytest.raises(ValueError):
            out[0] = 0.0
    strided = np.arange(12, dtype=F32)[::2]                  # the native call refuses it
    assert not f(strided).numpy().flags.writeable
    np.testing.assert_array_equal(f(strided).numpy(), strided * 2 + 1)
    exe = f.get_concrete_function(a).executable()
    (res,) = exe(a)
    assert res.flags.writeable
    res[0] = 5.0
    assert not f(a).numpy().flags.writeable
