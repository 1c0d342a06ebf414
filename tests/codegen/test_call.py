"""The Python-side calling convention of `Executable`: argument checks, copies only when
needed, fresh outputs that never alias, results that are parameters or constants, empty
arrays, threads, and the attributes exposing LLVM IR and assembly."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from tracejit.codegen import LOWERINGS, LoweringError, compile_function
from tracejit.ir import Function, Instr, TensorType, Value, all_primitives, bind

from tests.codegen.helpers import check, fn_of


def test_every_primitive_has_a_lowering():
    missing = sorted(set(all_primitives()) - set(LOWERINGS))
    assert not missing, f"primitives without a lowering: {missing}"


@pytest.fixture(scope="module")
def axpy():
    fn = fn_of([((7, 9), np.float64), ((9,), np.float64)],
               lambda x, y: (bind("add", bind("mul", x, x), y), bind("reduce_sum", x, axes=(1,))))
    return fn, compile_function(fn)


def _layouts(a: np.ndarray) -> dict[str, np.ndarray]:
    big = np.zeros((a.shape[0] * 2, a.shape[1] * 3), a.dtype)
    big[::2, 1::3] = a
    ro = a.copy()
    ro.flags.writeable = False
    raw = np.zeros(a.nbytes + 1, np.uint8)
    mis = np.frombuffer(raw.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    mis[...] = a
    off = np.concatenate([np.zeros(1, a.dtype), a.ravel()])[1:].reshape(a.shape)
    return {"strided": big[::2, 1::3], "fortran": np.asfortranarray(a), "readonly": ro,
            "misaligned": mis, "offset": off, "transposed-back": a.T.copy().T}


def test_layouts_work_and_inputs_are_untouched(axpy):
    fn, exe = axpy
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 9))
    y = rng.standard_normal(9)
    ref = exe(x, y)
    for name, v in _layouts(x).items():
        assert not (v.flags.c_contiguous and v.flags.aligned and name != "readonly"
                    and name != "offset"), name
        got = check(fn, [v, y[::-1].copy()[::-1]], exe=exe)
        got = exe(v, y)
        for g, r in zip(got, ref):
            np.testing.assert_array_equal(g, r, err_msg=name)


def test_argument_errors(axpy):
    _, exe = axpy
    x, y = np.zeros((7, 9)), np.zeros(9)
    with pytest.raises(ValueError, match=r"argument 0 .*f64\[7,9\].*shape \(9, 7\)"):
        exe(np.zeros((9, 7)), y)
    with pytest.raises(TypeError, match=r"argument 1 .*f64\[9\].*float32"):
        exe(x, np.zeros(9, np.float32))
    with pytest.raises(TypeError, match="takes 2 argument"):
        exe(x)
    with pytest.raises(TypeError, match="argument 0"):
        exe(x.astype(">f8"), y)
    # Array-likes of the right dtype are accepted.
    np.testing.assert_array_equal(exe(x.tolist(), y)[1], np.zeros(7))


def test_results_that_are_parameters_duplicates_or_constants():
    fn = fn_of([((4,), np.float32), ((), np.int64)], lambda x, n: (
        x, x, n, bind("neg", x), bind("neg", x),
        bind("constant", value=np.arange(6, dtype=np.int32).reshape(2, 3)),
        bind("constant", value=np.asarray(2.5))))
    exe = compile_function(fn)
    x, n = np.arange(4, dtype=np.float32), np.array(3)
    outs = exe(x, n)
    check(fn, [x, n], exe=exe)
    ptrs = {o.__array_interface__["data"][0] for o in outs} | {x.ctypes.data, n.ctypes.data}
    assert len(ptrs) == len(outs) + 2, "outputs alias each other or the inputs"
    outs[0][0] = 99
    assert x[0] == 0 and outs[1][0] == 0


def test_fn_returning_its_own_input_twice_from_an_identity():
    b = fn_of([((3,), np.int32)], lambda x: (bind("identity", x), x))
    check(b, [np.array([1, -2, 3], np.int32)])


def test_empty_arrays():
    fn = fn_of([((0, 3), np.float32), ((3,), np.float32)], lambda x, y: (
        bind("add", x, y), bind("reduce_sum", x, axes=(0,)), bind("reduce_max", x, axes=(1,)),
        bind("matmul", x, bind("reshape", y, shape=(3, 1)))))
    outs = check(fn, [np.zeros((0, 3), np.float32), np.ones(3, np.float32)])
    assert outs is not None


def test_no_parameters_and_scalars():
    fn = fn_of([], lambda: bind("add", bind("constant", value=np.asarray(1.5, np.float32)),
                                bind("constant", value=np.asarray(2.0, np.float32))))
    assert compile_function(fn)()[0] == np.float32(3.5)
    fn = fn_of([((), np.float64)], lambda x: bind("mul", x, x))
    assert compile_function(fn)(3.0)[0] == 9.0


def test_threads_share_one_executable():
    fn = fn_of([((1000,), np.float32), ((1000,), np.float32)],
               lambda x, y: (bind("add", bind("mul", bind("exp", x), y),
                                  bind("constant", value=np.asarray(1, np.float32))),
                             bind("reduce_sum", bind("mul", x, y), axes=(0,))))
    exe = compile_function(fn)
    rng = np.random.default_rng(3)
    inputs = [(rng.standard_normal(1000).astype(np.float32),
               rng.standard_normal(1000).astype(np.float32)) for _ in range(8)]
    expected = [exe(*xy) for xy in inputs]
    errors: list[str] = []
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        barrier.wait()
        for _ in range(200):
            got = exe(*inputs[k])
            for g, e in zip(got, expected[k]):
                if not np.array_equal(g, e):
                    errors.append(f"thread {k}")
                    return

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_ir_and_asm_are_exposed_and_vectorized():
    fn = fn_of([((1000,), np.float32), ((1000,), np.float32)],
               lambda x, y: bind("add", bind("mul", bind("exp", x), y),
                                 bind("constant", value=np.asarray(1, np.float32))))
    exe = compile_function(fn)
    assert "<16 x float>" in exe.llvm_ir or "<8 x float>" in exe.llvm_ir
    assert "define" in exe.llvm_ir_unoptimized and "entry" in exe.llvm_ir_unoptimized
    assert "ymm" in exe.asm or "zmm" in exe.asm
    # exp is inline vector code, not a libm call per element: the main module (the
    # entry module, which calls the body, comes after it) calls nothing.
    main, entries = exe.asm.split("; module 2 of 2")
    assert "expf" not in exe.asm and "call" not in main
    assert "tracejit_entry" in entries and "tracejit_entry" not in main


def test_lowering_errors_name_the_instruction():
    x = Value(TensorType((3,), np.float32))
    y = Value(TensorType((3,), np.float32))
    fn = Function("bad", [x], [Instr("frobnicate", [x], {"k": 1}, [y])], [y])
    with pytest.raises(LoweringError, match="frobnicate"):
        compile_function(fn)


def test_impossible_sizes_raise_memory_error_before_allocating():
    fn = fn_of([((2**40, 2**30), np.float32)], lambda x: bind("neg", x))
    with pytest.raises(MemoryError, match="f32"):
        compile_function(fn)


def test_call_instructions_are_inlined():
    inner = fn_of([((3, 4), np.float64), ((4,), np.float64)],
                  lambda a, b: (bind("exp", bind("add", a, b)), bind("reduce_sum", a, axes=(1,))),
                  "inner")
    middle = fn_of([((3, 4), np.float64)],
                   lambda a: bind("call", a, bind("constant", value=np.arange(4.0)), fn=inner)[0],
                   "middle")

    def outer(x, v):
        e1, s1 = bind("call", x, v, fn=inner)
        e2, s2 = bind("call", bind("neg", x), v, fn=inner)      # a second, independent copy
        return e1, s2, bind("call", x, fn=middle), s1, s1

    fn = fn_of([((3, 4), np.float64), ((4,), np.float64)], outer)
    rng = np.random.default_rng(4)
    check(fn, [rng.standard_normal((3, 4)), rng.standard_normal(4)], rtol=1e-14)


def test_compiling_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    def build_and_run(k: int) -> bool:
        fn = fn_of([((k + 3, 5), np.float64)],
                   lambda x: (bind("exp", x), bind("reduce_sum", bind("mul", x, x), axes=(0,))))
        x = np.random.default_rng(k).standard_normal((k + 3, 5))
        check(fn, [x], rtol=1e-14)
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(build_and_run, range(8)))


def test_equal_but_not_canonical_dtypes_and_subclasses():
    fn = fn_of([((5,), np.int64), ((2, 3), np.float64)],
               lambda i, x: (bind("neg", i), bind("exp", x)))
    exe = compile_function(fn)

    class Sub(np.ndarray):
        pass

    i = np.arange(5).astype("q")          # equal to int64, another dtype object
    x = np.ones((2, 3)).view(Sub)
    out = exe(i, x)
    np.testing.assert_array_equal(out[0], -np.arange(5))
    np.testing.assert_allclose(out[1], np.exp(np.ones((2, 3))))
    assert type(out[1]) is np.ndarray


def test_the_first_call_is_checked_then_the_call_is_specialized():
    """A new executable's first call checks its arguments in Python (making the
    specialized call costs more than that once); the second makes the specialized call;
    results and errors are the same on both ways."""
    from tracejit.codegen.call import _Fresh
    fn = fn_of([((7, 9), np.float64), ((9,), np.float64)],
               lambda x, y: (bind("add", bind("mul", x, x), y), bind("reduce_sum", x, axes=(1,))))
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((7, 9)), rng.standard_normal(9)
    for bad_first in (False, True):
        exe = compile_function(fn, cache=False)
        assert type(exe) is _Fresh
        if bad_first:
            with pytest.raises(ValueError, match=r"argument 0 .*shape \(9, 7\)"):
                exe(np.zeros((9, 7)), y)
        else:
            first = exe(x, y)
            assert type(exe) is _Fresh
        second = exe(x, y)
        assert type(exe) is not _Fresh and type(exe).__call__ is not _Fresh.__call__
        for a, b in zip(second, [x * x + y, x.sum(axis=1)]):
            np.testing.assert_allclose(a, b, rtol=1e-13)
        if not bad_first:
            for a, b in zip(first, second):
                np.testing.assert_array_equal(a, b)
        with pytest.raises(ValueError, match=r"argument 0 .*shape \(9, 7\)"):
            exe(np.zeros((9, 7)), y)
