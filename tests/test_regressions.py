"""One named test per bug the differential fuzzer (`tests/fuzz/`) or the crash-proofing
tests found: the smallest program that showed it, and a comment saying what was wrong.
A bug that is not fixed yet is a strict xfail with the reason, so fixing it turns the
test into a failure until the marker is removed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tracejit.codegen import compile_function
from tracejit.ir import TensorType, bind, memory
from tracejit.ir.interp import evaluate

import tracejit as tj
from tests.strategies import build_function


def test_tensor_type_size_is_exact_beyond_2_to_the_64() -> None:
    # TensorType.size was np.prod(shape, dtype=int64), which wraps around silently:
    # f32[2^40, 2^30] had size 0, so size-based decisions (constant folding's element
    # limit, allocation checks) took a 2^70-element array for an empty one.
    t = TensorType((2**40, 2**30), np.float32)
    assert t.size == 2**70
    assert t.nbytes == 2**72
    assert TensorType((2**32, 2**32), np.float64).size == 2**64


def test_eager_zeros_of_an_impossible_shape_is_a_memory_error() -> None:
    # tj.zeros((2**40, 2**30)) raised NumPy's ValueError("iterator is too large") and
    # tj.broadcast_to(x, (2**31, 2**31)) ValueError("array is too big"): neither says
    # that the problem is memory, nor how much.
    with pytest.raises(MemoryError, match=r"\(1099511627776, 1073741824\).*float32.*bytes"):
        tj.zeros((2**40, 2**30))
    with pytest.raises(MemoryError, match=r"\(2147483648, 2147483648\)"):
        tj.broadcast_to(tj.constant(1.0), (2**31, 2**31))


def test_compiled_output_beyond_available_memory_is_refused_before_allocation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A native call allocated its outputs with np.empty whatever their size: with
    # overcommit that succeeds, and the process is killed when the pages are touched.
    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 20)
    fn = build_function("outer", [((3000,), np.float64)],
                        lambda x: bind("mul", bind("reshape", x, shape=(3000, 1)),
                                       bind("reshape", x, shape=(1, 3000))))
    exe = compile_function(fn)
    with pytest.raises(MemoryError, match=r"@outer: an array of shape \(3000, 3000\) and "
                                          r"dtype float64 needs 72000000 bytes"):
        exe(np.ones(3000))


def test_traced_index_below_minus_n_names_the_index_the_user_wrote() -> None:
    # Traced tensor indices were wrapped with `where(i < 0, i + n, i)`, so an index -4 on
    # an axis of size 3 reached gather's bounds check as -1 and the error named -1.
    x = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    with pytest.raises(IndexError, match="index -4 is out of bounds for size 3"):
        tj.compile(lambda a, i: a[i])(x, np.array([-4], np.int64))
    out = tj.compile(lambda a, i: a[i])(x, np.array([-3, 2], np.int64))
    np.testing.assert_array_equal(np.asarray(out), x[[-3, 2]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sin_cos_tan_of_huge_arguments(dtype: type) -> None:
    x = np.array([1e30, -1e30, 3e20, 1e16 if dtype == np.float64 else 3e7], dtype)
    for op in ("sin", "cos", "tan"):
        fn = build_function(op, [(x.shape, dtype)], lambda v, op=op: bind(op, v))
        (got,) = compile_function(fn)(x)
        (ref,) = evaluate(fn, [x])
        np.testing.assert_allclose(got, ref, rtol=4 * np.finfo(dtype).eps, err_msg=op)


@pytest.mark.parametrize("value,dtype", [
    (2**63, None), (np.uint64(2**63), None), (np.array([2**64 - 1], np.uint64), None),
    (np.array([2**40]), tj.int32), (np.array([3e9]), tj.int32), (2**40, tj.int32)])
def test_constants_refuse_integers_that_would_wrap_around(value: object, dtype: object) -> None:
    # tj.constant(2**63) gave -2**63 and tj.constant(np.array([2**40]), tj.int32) gave 0:
    # the NumPy cast wrapped around silently (a Python int out of range was an error, an
    # array was not).
    with pytest.raises(OverflowError, match="out of the range of int"):
        tj.constant(value, dtype)
    assert tj.constant(np.array([2**62], np.uint64)).numpy()[0] == 2**62
    assert tj.constant(np.array([2**31 - 1]), tj.int32).numpy()[0] == 2**31 - 1


def test_range_checks_its_length_and_values_before_numpy_fills_it() -> None:
    # tj.range computed np.arange(...).astype(dtype): a huge range was allocated and
    # filled by NumPy before any check (past the memory available that meets the OOM
    # killer), and int32 values beyond 2**31 wrapped around to negative numbers.
    with pytest.raises(MemoryError, match=r"range: an array of shape \(1099511627776,\)"):
        tj.range(0, 2**40)
    with pytest.raises(OverflowError, match="2147483649 is out of the range of int32"):
        tj.range(2**31 - 2, 2**31 + 2)
    r = tj.range(2**31 - 2, 2**31 + 2, dtype=tj.int64).numpy()
    np.testing.assert_array_equal(r, np.arange(2**31 - 2, 2**31 + 2))
    np.testing.assert_array_equal(tj.range(10, 1, -3).numpy(), [10, 7, 4])
    np.testing.assert_allclose(tj.range(0.0, 1.0, 0.3).numpy(), [0.0, 0.3, 0.6, 0.9])


def test_constant_with_a_huge_shape_is_a_memory_error() -> None:
    # tj.constant(1.0, shape=...) broadcast and copied with NumPy before any check:
    # NumPy's "iterator is too large" ValueError for impossible shapes, an allocation that
    # may meet the OOM killer for merely too large ones.
    with pytest.raises(MemoryError, match=r"constant: an array of shape \(1099511627776, "):
        tj.constant(1.0, shape=(2**40, 2**30))
    np.testing.assert_array_equal(tj.constant(7, shape=[2, 3]).numpy(), np.full((2, 3), 7))


def test_cli_refuses_sample_arguments_that_cannot_be_allocated(tmp_path: Path) -> None:
    # `tracejit dump --arg f32[4294967296,4294967296]` sized its sample input with an int64
    # product that wraps around to 0, then failed reshaping an empty array, reported as an
    # internal error; shapes merely too large were allocated and filled.
    model = tmp_path / "model.py"
    model.write_text("def double(x):\n    return x * 2.0\n")
    r = subprocess.run([sys.executable, "-m", "tracejit", "dump", f"{model}:double", "--arg",
                        "f32[4294967296,4294967296]"], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 2, r.stderr
    assert "(4294967296, 4294967296)" in r.stderr and "float32" in r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr


def test_reshape_of_nothing_into_two_to_the_64_elements_is_a_shape_error() -> None:
    # The reshape shape rule compared an int64 product, which wraps around: (2**32, 2**32)
    # has "0" elements, so an empty tensor could be reshaped into 2**64 elements.
    with pytest.raises(ValueError, match=r"cannot reshape .*0 elements"):
        tj.reshape(tj.zeros((0,)), (2**32, 2**32))
    with pytest.raises(ValueError, match="cannot reshape"):
        build_function("f", [((0,), np.float32)],
                       lambda x: bind("reshape", x, shape=(2**32, 2**32)))


def test_scatter_add_of_an_empty_fused_concat_compiles() -> None:
    # The scatter_add kernel emitted its update loop even for empty updates; when those
    # were a fused concat of empty operands, the concat element rule had nothing to read
    # and lowering failed (LoweringError: "concat of an empty result is never emitted").
    fn = build_function("f", [((0,), np.float64)], lambda x: bind(
        "scatter_add", bind("concat", x, x, axis=0),
        bind("constant", value=np.zeros(0, np.int64)), axis=0, size=5))
    (got,) = compile_function(fn)(np.zeros(0))
    np.testing.assert_array_equal(got, np.zeros(5))
    assert got.dtype == np.float64


def test_reference_matmul_does_not_depend_on_operand_aliasing() -> None:
    # NumPy computes `a.T @ a` with syrk when both operands are views of one buffer and
    # with gemm otherwise, and the two round differently; so the reference interpreter
    # gave other bits once optimize merged `matmul(x, identity(x))` into `matmul(x, x)`
    # (found as an `optimize` mismatch: the pipeline must preserve results bit for bit).
    from tracejit.ir.passes import optimize
    rng = np.random.default_rng(0)
    x = rng.standard_normal((14, 17))
    fn = build_function("f", [((14, 17), np.float64)], lambda a: bind(
        "matmul", a, bind("identity", a), transpose_a=True))
    opt = optimize(fn)
    assert [i.prim for i in opt.instrs] == ["matmul"]
    (before,) = evaluate(fn, [x])
    (after,) = evaluate(opt, [x])
    np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.uint32])
def test_small_integer_arrays_widen_the_same_way_eagerly_and_compiled(dtype: type) -> None:
    # Eagerly, tj.constant widened int8 & co. to int64; compiled functions refused them
    # with a DTypeError: the same code behaved differently in the two modes.
    a = np.arange(5, dtype=dtype)
    f = tj.compile(lambda x: x * 3)
    eager = tj.constant(a) * 3
    for _ in range(2):                          # the second call takes the cached path
        out = f(a)
        assert out.dtype == eager.dtype == np.int64
        np.testing.assert_array_equal(out.numpy(), eager.numpy())
    assert f.trace_count == 1
    with pytest.raises(tj.DTypeError, match="float16"):
        f(a.astype(np.float16))
    # The same in debugging mode and inside another compiled function.
    big = np.array([100, 50, 7], dtype)
    want = np.array([300, 150, 21])
    tj.config.run_functions_eagerly(True)
    try:
        np.testing.assert_array_equal(f(big).numpy(), want)
    finally:
        tj.config.run_functions_eagerly(False)
    outer = tj.compile(lambda y: f(big) + y)
    np.testing.assert_array_equal(outer(np.zeros(3, np.int64)).numpy(), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maximum_minimum_relu_match_numpy_bit_for_bit(dtype: type) -> None:
    # Compiled maximum/minimum used llvm.maximum/minimum, which order -0.0 below +0.0:
    # maximum(0.0, -0.0) gave 0.0 where NumPy returns its second operand, -0.0.
    vals = np.array([0.0, -0.0, np.nan, 1.0, -1.0, np.inf, -np.inf], dtype)
    a, b = (v.ravel() for v in np.meshgrid(vals, vals))
    f = tj.compile(lambda x, y: (tj.maximum(x, y), tj.minimum(x, y), tj.nn.relu(x)))
    want = (np.maximum(a, b), np.minimum(a, b), np.maximum(a, dtype(0)))
    eager = (tj.maximum(a, b), tj.minimum(a, b), tj.nn.relu(tj.constant(a)))
    for got, ref, e in zip(f(a, b), want, eager):
        np.testing.assert_array_equal(got.numpy().view(np.uint8), ref.view(np.uint8))
        np.testing.assert_array_equal(e.numpy().view(np.uint8), ref.view(np.uint8))
