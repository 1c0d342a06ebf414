"""Convolutions, pools and LAPACK kernels with an unknown batch dimension: one native code
for every batch size (`codegen/poly_kernels.py`: the fixed-shape kernel on blocks of the
batch), gradients equal to central differences, and the fixed-shape code's errors."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tracejit.codegen import compile_function, poly
from tracejit.codegen.poly import PolyExecutable
from tracejit.ir import bind, dims
from tracejit.ir.core import Builder, TensorType, interpreting
from tracejit.ir.prims.registry import get_primitive
from tests.gradcheck import numerical_vjp


def _counts() -> tuple[int, int]:
    return poly.COUNTS["runtime"], poly.COUNTS["specialized"]


def _cnn_loss(x: Any, w: Any, d: Any) -> Any:
    """A 3x3 conv (GEMM path), a depthwise 2x2 conv (direct loops), max and avg pools."""
    y = tj.nn.relu(tj.nn.conv2d(x, w, strides=1, padding="SAME"))
    y = tj.nn.depthwise_conv2d(y, d, strides=[1, 1, 1, 1], padding="VALID")
    z = tj.nn.max_pool2d(y, 2, 2, "VALID") + tj.nn.avg_pool2d(y, 2, 2, "SAME")
    return tj.reduce_sum(tj.tanh(z) * tj.reduce_mean(x))


def test_cnn_gradients_with_unknown_batch_one_compile() -> None:
    def step(x: Any, w: Any, d: Any) -> Any:
        with tj.GradientTape() as t:
            t.watch([x, w, d])
            loss = _cnn_loss(x, w, d)
        return loss, t.gradient(loss, [x, w, d])

    f = tj.function(step, input_signature=[tj.TensorSpec([None, 5, 5, 2], tj.float64),
                                           tj.TensorSpec([3, 3, 2, 4], tj.float64),
                                           tj.TensorSpec([2, 2, 4, 1], tj.float64)])
    rng = np.random.default_rng(0)
    w, d = rng.normal(size=(3, 3, 2, 4)) * 0.3, rng.normal(size=(2, 2, 4, 1)) * 0.3
    before = _counts()
    # 70 images: a whole block of each kernel (41 images of the 3x3 conv, 64 of the
    # others: `poly_kernels._block`) and single images after it.
    for n in (1, 3, 70, 0):
        x = rng.normal(size=(n, 5, 5, 2))
        loss, grads = f(x, w, d)
        want_loss, want = step(tj.constant(x), tj.constant(w), tj.constant(d))
        np.testing.assert_allclose(loss.numpy(), want_loss.numpy(), rtol=1e-12, atol=1e-12)
        for g, e in zip(grads, want):
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-10, atol=1e-12)
        if n == 70:
            num = numerical_vjp(lambda *a: _cnn_loss(*map(tj.constant, a)).numpy(),
                                [x, w, d], [np.ones(())], [1, 2])
            np.testing.assert_allclose(grads[1].numpy(), num[0], rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(grads[2].numpy(), num[1], rtol=1e-5, atol=1e-7)
    assert _counts() == (before[0] + 1, before[1])


def test_max_pool_argmax_indices_of_the_whole_batch() -> None:
    # The max's position in the whole input (image k's indices start at k * 4*4*3), for
    # a whole block of images and single ones after it.
    params = {"window": (2, 2), "strides": (2, 2), "pad_lo": (0, 0), "pad_hi": (0, 0)}
    b = Builder("argmax")
    x = b.param(TensorType((dims.symbol("n0"), 4, 4, 3), np.float32))
    with interpreting(b):
        fn = b.build([bind("max_pool_argmax", x, **params)])
    exe = PolyExecutable(fn, compile_function)
    assert exe.blocker is None
    rng = np.random.default_rng(1)
    for n in (2, 70):
        a = rng.normal(size=(n, 4, 4, 3)).astype(np.float32)
        got = exe(a)[0]
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, get_primitive("max_pool_argmax").impl(a, **params))


def _chol_loss(a: Any, b: Any) -> Any:
    spd = tj.matmul(a, a, transpose_b=True) + 3.0 * tj.eye(3, dtype=tj.float64)
    l_ = tj.linalg.cholesky(spd)
    x = tj.linalg.solve(spd, b)
    sign, logdet = tj.linalg.slogdet(spd)
    return tj.reduce_sum(l_ * l_) + tj.reduce_sum(tj.sin(x)) + tj.reduce_sum(sign * logdet)


def test_lapack_gradients_with_unknown_batch_one_compile() -> None:
    def step(a: Any, b: Any) -> Any:
        with tj.GradientTape() as t:
            t.watch([a, b])
            loss = _chol_loss(a, b)
        return loss, t.gradient(loss, [a, b])

    f = tj.function(step, input_signature=[tj.TensorSpec([None, 3, 3], tj.float64),
                                           tj.TensorSpec([None, 3, 2], tj.float64)])
    rng = np.random.default_rng(2)
    before = _counts()
    for n in (1, 70, 0):
        a, b = rng.normal(size=(n, 3, 3)), rng.normal(size=(n, 3, 2))
        loss, grads = f(a, b)
        want_loss, want = step(tj.constant(a), tj.constant(b))
        np.testing.assert_allclose(loss.numpy(), want_loss.numpy(), rtol=1e-11)
        for g, e in zip(grads, want):
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-9, atol=1e-12)
        if n == 70:
            num = numerical_vjp(lambda *v: _chol_loss(*map(tj.constant, v)).numpy(),
                                [a, b], [np.ones(())], [0, 1])
            np.testing.assert_allclose(grads[0].numpy(), num[0], rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(grads[1].numpy(), num[1], rtol=1e-5, atol=1e-7)
    assert _counts() == (before[0] + 1, before[1])


def test_singular_and_not_positive_definite_as_in_fixed_shape_code() -> None:
    solve = tj.function(lambda a, b: tj.linalg.solve(a, b), input_signature=[
        tj.TensorSpec([None, 2, 2], tj.float64), tj.TensorSpec([None, 2, 1], tj.float64)])
    chol = tj.function(lambda a: tj.linalg.cholesky(a),
                       input_signature=[tj.TensorSpec([None, 2, 2], tj.float64)])
    a = np.stack([np.eye(2)] * 140)             # blocks of 64 matrices, then 12 single ones
    a[100] = [[1.0, 2.0], [2.0, 4.0]]           # singular, not positive definite
    b = np.ones((140, 2, 1))
    with pytest.raises(tj.errors.LinAlgError) as eager:
        tj.linalg.solve(tj.constant(a), tj.constant(b))
    with pytest.raises(tj.errors.LinAlgError) as native:
        solve(a, b)
    message = str(native.value).splitlines()[0]
    assert message == str(eager.value).splitlines()[0] and "index (100,)" in message
    assert "f64[140,2,2]" in message
    got = chol(a).numpy()
    want = tj.linalg.cholesky(tj.constant(a)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[100]).any() and np.isnan(got).sum() == 3


def _gp_loss(xy: Any) -> Any:
    """A Gaussian process's negative log marginal likelihood of targets `xy[:, 2]` at
    inputs `xy[:, :2]`: the kernel matrix is n x n with n known only at run time."""
    x, y = xy[:, :2], xy[:, 2:]
    d2 = tj.reduce_sum(tj.square(x[:, None, :] - x[None, :, :]), axis=-1)
    k = tj.exp(-0.5 * d2) + 0.1 * tj.cast(d2 == 0.0, tj.float64)
    chol = tj.linalg.cholesky(k)
    alpha = tj.linalg.triangular_solve(chol, y, lower=True)
    _, logdet = tj.linalg.slogdet(k)
    return 0.5 * tj.reduce_sum(tj.square(alpha)) + 0.5 * logdet + \
        tj.reduce_sum(tj.linalg.solve(k, y))


def test_matrices_of_unknown_order_one_compile() -> None:
    def step(xy: Any) -> Any:
        with tj.GradientTape() as t:
            t.watch(xy)
            loss = _gp_loss(xy)
        return loss, t.gradient(loss, xy)

    f = tj.function(step, input_signature=[tj.TensorSpec([None, 3], tj.float64)])
    rng = np.random.default_rng(4)
    before = _counts()
    for n in (1, 7, 70, 0):
        xy = rng.normal(size=(n, 3))
        loss, grad = f(xy)
        want_loss, want = step(tj.constant(xy))
        np.testing.assert_allclose(loss.numpy(), want_loss.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(grad.numpy(), want.numpy(), rtol=1e-7, atol=1e-10)
        if n == 7:
            num = numerical_vjp(lambda a: _gp_loss(tj.constant(a)).numpy(), [xy],
                                [np.ones(())], [0])
            np.testing.assert_allclose(grad.numpy(), num[0], rtol=1e-5, atol=1e-7)
    assert _counts() == (before[0] + 1, before[1])
    # A singular matrix of unknown order: the LinAlgError eager mode raises.
    lu = tj.function(lambda x: tj.linalg.lu(x @ tj.transpose(x))[0],
                     input_signature=[tj.TensorSpec([None, 2], tj.float64)])
    with pytest.raises(tj.errors.LinAlgError) as native:
        lu(np.ones((3, 2)))
    with pytest.raises(tj.errors.LinAlgError) as eager:
        tj.linalg.lu(tj.constant(np.full((3, 3), 2.0)))
    message = str(native.value).splitlines()[0]
    assert message == str(eager.value).splitlines()[0] and "f64[3,3]" in message


def test_independent_unknown_sizes_of_a_system_are_checked_at_run_time() -> None:
    # Two Nones are two symbols: the trace assumes the sizes a solve needs equal and each
    # new set of sizes checks it (eager mode's ValueError when they are not).
    solve = tj.function(lambda a, b: tj.linalg.solve(a, b), input_signature=[
        tj.TensorSpec([None, None], tj.float64), tj.TensorSpec([None, 1], tj.float64)])
    batched = tj.function(lambda a, b: tj.linalg.solve(a, b), input_signature=[
        tj.TensorSpec([None, 2, 2], tj.float64), tj.TensorSpec([None, 2, 1], tj.float64)])
    before = _counts()
    for n in (3, 6):
        a = np.eye(n) * 2.0 + 0.1
        b = np.arange(n, dtype=np.float64)[:, None]
        np.testing.assert_allclose(solve(a, b).numpy(), np.linalg.solve(a, b), rtol=1e-12)
        c = np.stack([np.eye(2) * 2.0] * n)
        np.testing.assert_allclose(batched(c, np.ones((n, 2, 1))).numpy(), 0.5)
    # No compile per size (the runtime-sized code may be shared with an equal trace of
    # another test: at most these two).
    assert _counts()[1] == before[1] and _counts()[0] - before[0] <= 2
    with pytest.raises(ValueError, match="rhs has 4 rows, the matrix 3"):
        solve(np.eye(3), np.ones((4, 1)))
    with pytest.raises(ValueError, match="square"):
        solve(np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"\(4, 2, 1\)|\[4, 2, 1\]|f64\[4,2,1\]"):
        batched(np.stack([np.eye(2)] * 3), np.ones((4, 2, 1)))


def test_pools_with_unknown_channels_one_compile() -> None:
    def step(x: Any) -> Any:
        with tj.GradientTape() as t:
            t.watch(x)
            y = tj.nn.max_pool2d(x, 2, 2, "SAME")
            loss = tj.reduce_sum(tj.sin(y))
        # (avg_pool's gradient is a depthwise conv: its groups must be known)
        return y, t.gradient(loss, x), tj.nn.avg_pool2d(x, 3, 2, "SAME")

    f = tj.function(step, input_signature=[tj.TensorSpec([None, 5, 5, None], tj.float64)])
    rng = np.random.default_rng(5)
    before = _counts()
    for n, c in ((2, 3), (1, 1), (3, 7), (0, 2)):
        x = rng.normal(size=(n, 5, 5, c))
        x[..., 0, 0, :] = x[..., 0, 1, :]       # ties: the first maximum wins
        for g, e in zip(f(x), step(tj.constant(x))):
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-12, atol=1e-14)
    assert _counts() == (before[0] + 1, before[1])
