"""Reverse mode of `tj.while_loop` with a data-dependent trip count: linear in the trip
count (the states are saved per iteration, in one preallocated stack or in segments), the
same gradients eagerly (a tape over plain Python loops), compiled and compiled under a tape,
at orders 1 and 2, and with `jacobian`/`batch_jacobian`.

Oracles: the eager tape (which never uses the loop's VJP rule), central finite differences
in float64, and the ratio of backward times at two trip counts."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tracejit.ir.prims import control_ad

from tests.gradcheck import numerical_vjp

F64 = tj.float64


def c64(x: Any) -> tj.Tensor:
    return tj.constant(x, F64)


def decay(a: tj.Tensor, x0: tj.Tensor, max_iters: int | None) -> tj.Tensor:
    """x shrinks by a factor that depends on `a` until it is below 1e-3 (about 55 iterations
    from x0 = 1 at a = 0.7), summing sin(a * x) on the way."""
    def body(x: Any, s: Any) -> Any:
        return x * (0.85 + 0.05 * tj.sin(a)), s + tj.sin(a * x)
    x, s = tj.while_loop(lambda x, s: x > 1e-3, body, (x0, c64(0.0)),
                         maximum_iterations=max_iters)
    return s + x * a


def grads(f: Callable[..., Any], a: tj.Tensor, x0: tj.Tensor) -> list[float]:
    return [float(v) for v in grads_traced(f, a, x0)]


# (capacity, levels) of the stacks: None keeps stack_plan's choice (no maximum_iterations:
# segments of 4096**2 and 4096 iterations; maximum_iterations=200: one stack of 200).
@pytest.mark.parametrize("plan,max_iters", [((4, 2), None), ((8, 1), None), (None, None),
                                            (None, 200)])
def test_eager_compiled_and_under_tape_agree_with_finite_differences(
        plan: tuple[int, int] | None, max_iters: int | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if plan is not None:        # small stacks: ~55 iterations span several segments
        monkeypatch.setattr(control_ad, "stack_plan", lambda state, m: plan)

    def f(a: tj.Tensor, x0: tj.Tensor) -> tj.Tensor:
        return decay(a, x0, max_iters)
    a, x0 = c64(0.7), c64(1.0)
    eager = grads(f, a, x0)
    inside = tj.compile(lambda a, x0: grads_traced(f, a, x0))
    compiled = [float(v) for v in inside(a, x0)]
    under = grads(tj.compile(f), a, x0)
    np.testing.assert_allclose(compiled, eager, rtol=1e-12)
    np.testing.assert_allclose(under, eager, rtol=1e-12)
    one = np.ones(())

    def value(v: np.ndarray) -> np.ndarray:
        return np.asarray(f(c64(v), x0).numpy())

    def grad1(v: np.ndarray) -> np.ndarray:
        return np.asarray(grads(f, c64(v), x0)[1:3])
    np.testing.assert_allclose(eager[1], numerical_vjp(value, [np.array(0.7)], [one], [0])[0],
                               rtol=1e-6)
    d2 = [numerical_vjp(grad1, [np.array(0.7)], [np.eye(2)[i]], [0])[0] for i in range(2)]
    np.testing.assert_allclose(eager[3:], d2, rtol=1e-5)


def grads_traced(f: Callable[..., Any], a: tj.Tensor, x0: tj.Tensor) -> list[Any]:
    with tj.GradientTape(persistent=True) as t2:
        t2.watch([a, x0])
        with tj.GradientTape() as t:
            t.watch([a, x0])
            y = f(a, x0)
        ga, gx = t.gradient(y, [a, x0])
    return [y, ga, gx, t2.gradient(ga, a), t2.gradient(gx, a)]


def test_backward_time_is_linear_in_the_trip_count() -> None:
    """Ten times the iterations take about ten times as long (a backward loop that recomputed
    each state from the start would take a hundred times as long)."""
    @tj.compile
    def grad(a: tj.Tensor, n: tj.Tensor) -> Any:
        with tj.GradientTape() as t:
            t.watch(a)
            _, y = tj.while_loop(lambda i, y: i < n,
                                 lambda i, y: (i + 1, y * 0.9999 + 1e-4 * tj.sin(a + y)), (0, a))
        return t.gradient(y, a)

    def best(n: int) -> float:
        grad(c64(0.5), tj.constant(n))
        times = []
        for _ in range(7):      # CPU time of this process: other processes' load aside
            t0 = time.process_time()
            grad(c64(0.5), tj.constant(n))
            times.append(time.process_time() - t0)
        return min(times)
    small, large = best(5000), best(50000)
    assert large < 30 * small, (small, large)


def test_jacobian_and_batch_jacobian_through_a_data_dependent_loop() -> None:
    def f(x: tj.Tensor) -> tj.Tensor:
        _, y = tj.while_loop(lambda i, y: tj.reduce_max(tj.abs(y)) > 0.01,
                             lambda i, y: (i + 1, y * 0.7 + 0.01 * tj.sin(
                                 tj.reduce_sum(y, axis=-1, keepdims=True))), (0, x))
        return y * x

    @tj.compile
    def jac(x: tj.Tensor) -> Any:
        xb = tj.reshape(x, (2, 2))
        with tj.GradientTape(persistent=True) as t:
            t.watch([x, xb])
            y = f(x)
            yb = f(xb)
        return t.jacobian(y, x), t.batch_jacobian(yb, xb)
    x = np.array([0.3, -0.7, 1.1, 0.4])
    j, bj = jac(c64(x))

    def value(v: np.ndarray) -> np.ndarray:
        return f(c64(v)).numpy()
    want = np.stack([numerical_vjp(value, [x], [np.eye(4)[i]], [0])[0] for i in range(4)])
    np.testing.assert_allclose(j.numpy(), want, rtol=1e-6, atol=1e-9)
    def rows(v: np.ndarray) -> np.ndarray:
        return f(c64(v.reshape(2, 2))).numpy().reshape(4)
    full = np.stack([numerical_vjp(rows, [x], [np.eye(4)[i]], [0])[0] for i in range(4)])
    blocks = np.stack([full[2 * r:2 * r + 2, 2 * r:2 * r + 2] for r in range(2)])
    np.testing.assert_allclose(bj.numpy(), blocks, rtol=1e-6, atol=1e-9)
