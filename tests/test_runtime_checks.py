"""Checks of values that exist only when compiled code runs (the `assert` primitive):
`tj.debugging`'s value assertions on traced operands and integer division by a traced
divisor. Native code and the reference raise the same error; the check survives every
pass, runs inside loops and branches exactly when its code runs, and is kept by nested
calls, gradients and exported artifacts."""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from tracejit.codegen import compile_function
from tracejit.ir import bind
from tracejit.ir.interp import evaluate

import tracejit as tj
from tests.codegen.helpers import fn_of

IAE = tj.errors.InvalidArgumentError
F32 = np.float32


def _error(f: Any, *args: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        f(*args)
    return info.value


@pytest.mark.parametrize("shape, bad", [((), None), ((), ()), ((7,), (0,)), ((7,), (6,)),
                                        ((3, 4), (2, 1)), ((0, 3), None),
                                        ((2, 3, 5), (1, 2, 4))])
def test_native_assert_raises_what_the_reference_raises(shape: tuple[int, ...],
                                                        bad: tuple[int, ...] | None) -> None:
    """The operand fused in (`x > 0` computed inside the check's loop); the first failing
    element in row-major order is reported, with the message's location line last."""
    fn = fn_of([(shape, F32)], lambda x: (bind("mul", x, x), bind(
        "assert", bind("gt", x, bind("constant", value=np.zeros((), F32))),
        message="x > 0\n  at here.py:3", error="invalid_argument")))
    x = np.ones(shape, F32)
    if bad is not None:
        x[bad] = -1.0
        if x.size > 1 and bad != tuple(d - 1 for d in shape):
            x.reshape(-1)[-1] = -2.0    # a later failing element: not the one reported
    exe = compile_function(fn)
    if bad is None:
        got = exe(x)
        np.testing.assert_array_equal(got[0], x * x)
        assert got[1] == np.True_
        assert [r.tolist() for r in evaluate(fn, [x])] == [r.tolist() for r in got]
        return
    native, ref = _error(exe, x), _error(evaluate, fn, [x])
    assert type(native) is type(ref) is IAE
    assert str(native) == str(ref)
    index = f" (first failing element: index {list(bad)})" if shape else ""
    assert str(native) == f"x > 0{index}\n  at here.py:3"


def test_division_error_is_both_invalid_argument_and_zero_division() -> None:
    fn = fn_of([((4,), np.int32)], lambda y: bind(
        "assert", bind("ne", y, bind("constant", value=np.zeros((), np.int32))),
        message="floordiv: integer division by zero", error="division_by_zero"))
    e = _error(compile_function(fn), np.array([1, 2, 0, 0], np.int32))
    assert isinstance(e, ZeroDivisionError) and isinstance(e, IAE)
    assert str(e) == "floordiv: integer division by zero (first failing element: index [2])"


COMPARISONS = [
    (tj.debugging.assert_equal, "==", [1., 2., 3.], [1., 2., 3.], [1., 5., 3.], 1),
    (tj.debugging.assert_none_equal, "!=", [1., 2., 3.], [0., 0., 0.], [0., 0., 3.], 2),
    (tj.debugging.assert_less, "<", [1., 2., 3.], [2., 3., 4.], [2., 2., 4.], 1),
    (tj.debugging.assert_less_equal, "<=", [1., 2., 3.], [1., 2., 3.], [0., 2., 3.], 0),
    (tj.debugging.assert_greater, ">", [1., 2., 3.], [0., 1., 2.], [0., 1., 3.], 2),
    (tj.debugging.assert_greater_equal, ">=", [1., 2., 3.], [1., 2., 3.], [1., 3., 3.], 1),
    (tj.debugging.assert_near, "~=", [1., 2., 3.], [1., 2.0000001, 3.], [1., 2.1, 3.], 1),
]


@pytest.mark.parametrize("signature", [None, [tj.TensorSpec([None], tj.float32)] * 2])
@pytest.mark.parametrize("case", range(len(COMPARISONS)))
def test_value_assertions_on_traced_operands_run_in_compiled_code(case: int,
                                                                  signature: Any) -> None:
    """Fixed shapes and shapes known only at run time (one native code for all sizes):
    a passing call returns; a failing one raises InvalidArgumentError with the eager
    message word for word (TensorFlow's, naming the failing elements' indices and values:
    the trace is replayed on the reference to find them) and the user's line."""
    check, cond, x, ok, bad, index = COMPARISONS[case]

    def f(a: tj.Tensor, b: tj.Tensor) -> tj.Tensor:
        check(a, b, message="inputs")
        return a * 2.0

    g = tj.function(f, input_signature=signature)
    xs, oks, bads = (np.array(v, F32) for v in (x, ok, bad))
    np.testing.assert_array_equal(g(xs, oks).numpy(), xs * 2)
    e = _error(g, xs, bads)
    eager = _error(f, tj.constant(xs), tj.constant(bads))
    assert type(e) is type(eager) is IAE
    assert str(e) == str(eager)
    assert re.fullmatch(rf"inputs\nCondition x {re.escape(cond)}.* y did not hold\.\n"
                        rf"Indices of first 1 different values:\n\[\[{index}\]\]\n(.|\n)*"
                        rf"  at .*test_runtime_checks\.py:\d+: "
                        rf"check\(a, b, message=\"inputs\"\)", str(e)), str(e)


def test_an_assert_whose_result_nothing_uses_still_runs() -> None:
    """The check is a result of the traced Function (dropped at the call), so no pass
    prunes it, even where the function returns nothing computed from the operand."""
    @tj.function
    def f(x: tj.Tensor, y: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_greater(x, 0.0)
        return y + 1.0

    one = np.ones(3, F32)
    np.testing.assert_array_equal(f(one, one).numpy(), one + 1)
    with pytest.raises(IAE, match=r"^Condition x > y did not hold.\nIndices of first 3 "
                                  r"different values:\n\[\[0\]\n \[1\]\n \[2\]\]"):
        f(-one, one)


def _while_body_check(x: tj.Tensor) -> Any:
    def body(i: tj.Tensor, s: tj.Tensor) -> list[tj.Tensor]:
        tj.debugging.assert_greater(s, 0.0, message="s stays positive")
        return [i + 1, s - 1.0]
    return tj.while_loop(lambda i, s: i < 3, body, [0, x])[1]


def _while_cond_check(x: tj.Tensor) -> Any:
    def cond(i: tj.Tensor, s: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_greater(s, 0.0, message="s stays positive")
        return i < 3
    return tj.while_loop(cond, lambda i, s: [i + 1, s - 1.0], [0, x])[1]


def _cond_check(x: tj.Tensor) -> Any:
    def positive() -> tj.Tensor:
        tj.debugging.assert_greater(x, 2.0, message="s stays positive")
        return x * 2.0
    return tj.cond(x > 0.0, positive, lambda: -x)


def _switch_check(x: tj.Tensor) -> Any:
    def checked() -> tj.Tensor:
        tj.debugging.assert_greater(x, 2.0, message="s stays positive")
        return x
    return tj.switch_case(tj.cast(x > 0.0, tj.int32), [lambda: -x, checked])


def _scan_check(x: tj.Tensor) -> Any:
    def step(c: tj.Tensor, e: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_greater(c + e, 0.0, message="s stays positive")
        return c + e
    return tj.scan(step, tj.stack([x, x - 1.0, x - 2.0]), initializer=tj.constant(0.0))


def _map_fn_check(x: tj.Tensor) -> Any:
    def fn(e: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_greater(e, 0.0, message="s stays positive")
        return e * 2.0
    return tj.map_fn(fn, tj.stack([x, x - 2.0]))


# (function, an operand that passes, one that fails, one whose failing check never runs)
REGIONS = [
    (_while_body_check, 5.0, 1.5, None),
    (_while_cond_check, 5.0, 2.5, None),
    (_cond_check, 3.0, 1.0, -1.0),          # the branch not taken checks nothing
    (_switch_check, 3.0, 1.0, -1.0),
    (_scan_check, 5.0, 0.5, None),
    (_map_fn_check, 5.0, 1.0, None),
]


@pytest.mark.parametrize("case", range(len(REGIONS)))
def test_assertions_inside_loops_and_branches(case: int) -> None:
    fn, ok, bad, untaken = REGIONS[case]
    g = tj.function(fn)
    want = fn(tj.constant(ok, F32)).numpy()     # eagerly
    np.testing.assert_array_equal(g(tj.constant(ok, F32)).numpy(), want)
    e = _error(g, tj.constant(bad, F32))
    assert type(e) is IAE, repr(e)
    assert str(e).startswith("s stays positive\nCondition x > y did not hold.\n")
    assert "First 1 elements of x" in str(e)        # the values inside the region
    assert "test_runtime_checks.py" in str(e)
    assert type(_error(fn, tj.constant(bad, F32))) is IAE       # eagerly too
    if untaken is not None:
        np.testing.assert_array_equal(g(tj.constant(untaken, F32)).numpy(),
                                      fn(tj.constant(untaken, F32)).numpy())


def test_a_loop_that_runs_zero_times_checks_nothing() -> None:
    """An assert is never hoisted out of its loop (its operand is loop-invariant here)."""
    @tj.function
    def f(x: tj.Tensor, n: tj.Tensor) -> tj.Tensor:
        def body(i: tj.Tensor, s: tj.Tensor) -> list[tj.Tensor]:
            tj.debugging.assert_greater(x, 0.0)
            return [i + 1, s + x]
        return tj.while_loop(lambda i, s: i < n, body, [0, tj.zeros_like(x)])[1]

    x = np.array([-1.0, 2.0], F32)
    np.testing.assert_array_equal(f(x, tj.constant(0)).numpy(), [0.0, 0.0])
    with pytest.raises(IAE, match=r"different values:\n\[\[0\]\]\nCorresponding x "
                                  r"values:\n\[-1\.\]"):
        f(x, tj.constant(2))


def test_integer_division_by_a_traced_divisor_inside_a_loop() -> None:
    @tj.function
    def f(x: tj.Tensor, d: tj.Tensor) -> tj.Tensor:
        return tj.while_loop(lambda i, s: i < 3, lambda i, s: [i + 1, s // (d - i)],
                             [0, x])[1]

    x = np.array([100, 50], np.int32)
    np.testing.assert_array_equal(f(x, tj.constant(5)).numpy(), x // 5 // 4 // 3)
    with pytest.raises(ZeroDivisionError, match="floordiv: integer division by zero"):
        f(x, tj.constant(2))


def test_a_compiled_function_called_inside_another_keeps_its_checks() -> None:
    @tj.function
    def inner(x: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_less(x, 10.0, message="inner")
        return x + 1.0

    @tj.function
    def outer(x: tj.Tensor) -> tj.Tensor:
        inner(x)                    # its result unused: the check still runs
        return x * 3.0

    np.testing.assert_array_equal(outer(np.array([1.0], F32)).numpy(), [3.0])
    with pytest.raises(IAE, match=r"^inner\nCondition x < y did not hold"):
        outer(np.array([1.0, 11.0], F32))


def test_gradients_of_functions_with_checks() -> None:
    """An assert has no gradient and changes none: under a tape inside the compiled
    function, and a compiled function watched by a tape outside it (whose call records
    the checks too)."""
    @tj.function
    def f(x: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_greater(x, 0.0)
        return tj.reduce_sum(tj.math.log(x) * x)

    @tj.function
    def grad(x: tj.Tensor) -> tj.Tensor:
        with tj.GradientTape() as t:
            t.watch(x)
            y = f(x)
        return t.gradient(y, x)

    x = np.array([0.5, 2.0], F32)
    np.testing.assert_allclose(grad(x).numpy(), np.log(x) + 1, rtol=1e-6)
    with pytest.raises(IAE):
        grad(-x)
    v = tj.Variable(x)
    with tj.GradientTape() as t:
        y = f(v)
    np.testing.assert_allclose(t.gradient(y, v).numpy(), np.log(x) + 1, rtol=1e-6)
    v.assign(-x)
    with pytest.raises(IAE), tj.GradientTape():
        f(v)


def test_a_failed_check_assigns_no_variable() -> None:
    """The call fails as a whole: Variables keep their values (README: TensorFlow has
    made the assignments that ran before its failing assertion)."""
    v = tj.Variable(np.zeros(2, F32))

    @tj.function
    def step(x: tj.Tensor) -> tj.Tensor:
        v.assign_add(x)
        tj.debugging.assert_greater_equal(x, 0.0)
        return v.read_value()

    np.testing.assert_array_equal(step(np.ones(2, F32)).numpy(), [1.0, 1.0])
    with pytest.raises(IAE):
        step(np.array([1.0, -1.0], F32))
    np.testing.assert_array_equal(v.numpy(), [1.0, 1.0])


def test_exported_functions_keep_their_checks() -> None:
    @tj.function
    def f(x: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_less(x, 1.0, message="exported")
        return x * 2.0

    x = np.zeros(3, F32)
    g = tj.load(f.export(x))
    np.testing.assert_array_equal(g(x).numpy(), x * 2)
    with pytest.raises(IAE, match=r"^exported\nCondition x < y did not hold \(first failing "
                                  r"element: index \[2\]\)"):
        g(np.array([0.0, 0.5, 3.0], F32))


@pytest.mark.parametrize("case", range(len(REGIONS)))
def test_a_region_whose_results_nothing_uses_still_runs_its_checks(case: int) -> None:
    """The region returns its checks' joined result, which the enclosing trace keeps:
    without it the loop or branch would be pruned with its unused results."""
    fn, ok, bad, _ = REGIONS[case]

    @tj.function
    def g(x: tj.Tensor) -> tj.Tensor:
        fn(x)
        return x + 1.0

    assert g(tj.constant(ok, F32)).numpy() == ok + 1
    with pytest.raises(IAE, match="^s stays positive"):
        g(tj.constant(bad, F32))


def test_integer_uniform_bounds_known_only_at_run_time_are_checked() -> None:
    """TensorFlow raises for minval >= maxval; a traced bound is checked when the code
    runs (bits % (maxval - minval) gave minval or numbers above maxval)."""
    @tj.function
    def f(lo: tj.Tensor, hi: tj.Tensor) -> tj.Tensor:
        return tj.random.stateless_uniform([64], seed=[1, 2], minval=lo, maxval=hi,
                                           dtype=tj.int32)

    r = f(tj.constant(3), tj.constant(10)).numpy()
    assert r.min() >= 3 and r.max() < 10
    for lo, hi in [(3, 3), (5, 2)]:
        with pytest.raises(ValueError, match=r"^stateless_uniform: need minval < maxval\n"
                                             r"  at .*test_runtime_checks.py"):
            f(tj.constant(lo), tj.constant(hi))


def test_checks_of_the_first_call_that_makes_variables() -> None:
    """The first call traces twice when it makes Variables and runs the second trace;
    the code that made them ran only in the first, and its checks still hold (as in
    TensorFlow, whose first call runs that first trace): a Variable's initial value is
    never computed past a failing check, and a failed call makes no Variable."""
    made: dict[str, tj.Variable] = {}

    @tj.function
    def f(x: tj.Tensor, d: tj.Tensor) -> tj.Tensor:
        if "v" not in made:
            made["v"] = tj.Variable(x // d)
        return made["v"].read_value() + x

    x = tj.constant([4, 6])
    with pytest.raises(ZeroDivisionError, match=r"floordiv: integer division by zero"):
        f(x, tj.constant(0))
    assert not made
    np.testing.assert_array_equal(f(x, tj.constant(2)).numpy(), [6, 9])

    once: dict[str, tj.Variable] = {}

    @tj.function
    def g(x: tj.Tensor) -> tj.Tensor:
        if "v" not in once:
            once["v"] = tj.Variable(x)
            tj.debugging.assert_greater(x, 0.0)      # after the Variable: still checked
        return once["v"] + x

    with pytest.raises(IAE, match=r"^Condition x > y did not hold.\nIndices of first 1 "
                                  r"different values:\n\[\[0\]\]"):
        g(tj.constant([-1.0, 2.0]))
    # The Variable exists now (the check came after it), and later calls run the code
    # traced again with it, which has no check (TensorFlow's later calls run that too).
    np.testing.assert_array_equal(g(tj.constant([-1.0, 2.0])).numpy(), [-2.0, 4.0])


def test_jacfwd_runs_the_checks_of_its_function() -> None:
    """The tangent program computes no check (it has no tangent), so `jacfwd` runs the
    function's checks beside it: at once eagerly, when the code runs compiled."""
    def f(x: tj.Tensor) -> tj.Tensor:
        tj.debugging.assert_greater(x, 0.0, message="positive")
        return tj.math.log(x) * x

    jac = tj.autodiff.jacfwd(f)
    x = np.array([1.0, 2.0], F32)
    want = np.diag(np.log(x) + 1)
    np.testing.assert_allclose(jac(tj.constant(x)).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(tj.function(jac)(x).numpy(), want, rtol=1e-6)
    bad = np.array([1.0, -2.0], F32)
    with pytest.raises(IAE, match=r"^positive\nCondition x > y did not hold.\nIndices"):
        jac(tj.constant(bad))
    with pytest.raises(IAE, match=r"^positive\nCondition x > y did not hold"):
        tj.function(jac)(bad)


def test_a_failed_check_without_a_user_line_and_what_its_error_keeps() -> None:
    """Traced where no frame is the user's (a thread running a tracejit function), the
    message is the eager one alone; the raised error keeps no value of the replay."""
    import threading
    f = tj.function(tj.debugging.assert_positive)
    caught: list[BaseException] = []
    hook = threading.excepthook
    threading.excepthook = lambda args: caught.append(args.exc_value)  # type: ignore[misc,arg-type]
    try:
        t = threading.Thread(target=f, args=(tj.constant([-1.0, 2.0]),))
        t.start()
        t.join()
    finally:
        threading.excepthook = hook
    (e,) = caught
    assert type(e) is IAE
    assert str(e).startswith("\nCondition x > 0 did not hold element-wise:\nx (shape=(2,) "
                             "dtype=float32) = \n['-1.0', '2.0']"), str(e)
    assert "first failing element" not in str(e)
    assert not hasattr(e, "env") and not hasattr(e, "instr")

    @tj.function
    def g(x: tj.Tensor) -> tj.Tensor:
        def positive() -> tj.Tensor:
            return tj.debugging.check_numerics(x, "in a branch")
        return tj.cond(tj.reduce_sum(x) > 0.0, positive, lambda: x)

    with pytest.raises(IAE) as info:
        g(np.array([np.inf, 1.0], F32))
    assert not hasattr(info.value, "env")


def test_a_function_with_more_outputs_than_the_dispatcher_takes() -> None:
    """Four check_numerics and a result: more outputs than a native dispatch entry holds,
    so calls stay on the Python path (they raised ValueError on the call that offered
    the signature to the dispatcher)."""
    @tj.function
    def many(x: tj.Tensor) -> tj.Tensor:
        for k in range(8):
            x = tj.debugging.check_numerics(x, f"c{k}")
        return x + 1.0

    x = tj.constant(np.ones(3, F32))
    for _ in range(300):
        np.testing.assert_array_equal(many(x).numpy(), [2.0, 2.0, 2.0])
