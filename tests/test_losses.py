"""The cross-entropies, l2_normalize, clip_by_norm, clip_by_global_norm, global_norm and
moments: values and gradients against TensorFlow 2.21's (numbers recorded from it, float64),
at the clipping boundary too, eagerly and compiled; gradients against central finite
differences at orders 1 and 2; stability at |logits| = 1000; errors."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck, rand

F64 = tj.float64


def c(v: Any) -> tj.Tensor:
    return tj.constant(np.asarray(v, np.float64))


def both(f: Any, *args: Any) -> list[Any]:
    """`f(*args)` eagerly and compiled (the results must agree; returns the eager ones)."""
    eager = f(*args)
    compiled = tj.function(f)(*args)
    flat_e = eager if isinstance(eager, (list, tuple)) else [eager]
    flat_c = compiled if isinstance(compiled, (list, tuple)) else [compiled]
    for e, k in zip(flat_e, flat_c):
        np.testing.assert_allclose(np.asarray(k), np.asarray(e), rtol=1e-12, atol=1e-300)
    return list(flat_e)


# ---------------------------------------------------------------------------- softmax xent

def _xent_grads(lab: tj.Tensor, lg: tj.Tensor) -> tuple[Any, ...]:
    with tj.GradientTape(persistent=True) as t2:
        t2.watch([lab, lg])
        with tj.GradientTape(persistent=True) as t:
            t.watch([lab, lg])
            y = tj.nn.softmax_cross_entropy_with_logits(lab, lg)
        gl, gb = t.gradient(y, lg), t.gradient(y, lab)
        s = tj.reduce_sum(gl * gl) + tj.reduce_sum(gb * gb * gb)
    return y, gl, gb, t2.gradient(s, lg), t2.gradient(s, lab)


def test_softmax_xent_values_and_gradients_are_tensorflows() -> None:
    """Labels that do not sum to 1 and logits at +-1000: TensorFlow's logits gradient is
    softmax - labels (not the derivative of the loss), its labels gradient -log_softmax."""
    lab = c([[0.5, 1.0, 0.2], [0., 1., 0.]])
    lg = c([[0., 1., 2.], [1000., -1000., 3.]])
    y, gl, gb, hl, hb = both(_xent_grads, lab, lg)
    np.testing.assert_allclose(y, [2.692930139555447, 2000.0], rtol=1e-14)
    np.testing.assert_allclose(gl, [[-0.40996942682961957, -0.7552715289452023,
                                     0.4652409557748218], [1., -1., 0.]], rtol=1e-14)
    np.testing.assert_allclose(gb, [[2.4076059644443806, 1.4076059644443804,
                                     0.40760596444438041], [0., 2000., 997.]], rtol=1e-14)
    np.testing.assert_allclose(hl, [[-15.3336937582828, -0.52427128037365889,
                                     15.857965038656456],
                                    [14982027.0, -12000000.0, -2982027.0]], rtol=1e-12)
    # d(softmax - labels)/d labels = -1 (TensorFlow's gradient function drops this term and
    # gives 0; README lists the difference)
    np.testing.assert_allclose(hb, -2 * np.asarray(gl), rtol=1e-14)


def test_softmax_xent_broadcasts_and_takes_an_axis() -> None:
    y = tj.nn.softmax_cross_entropy_with_logits(tj.constant([[0., 1.]]),
                                                tj.constant([[0., 1.], [2., 3.]]))
    np.testing.assert_allclose(y.numpy(), [0.31326166, 0.31326166], rtol=1e-6)
    y = tj.nn.softmax_cross_entropy_with_logits(
        tj.constant([[0., 1., .5], [1., 0., .5]]), tj.constant([[0., 1., 3.], [2., 3., 4.]]),
        axis=0)
    np.testing.assert_allclose(y.numpy(), [0.12692805, 2.126928, 0.8132616], rtol=1e-6)
    with pytest.raises(ValueError, match=r"same shape or broadcast, got \(2, 3\) and \(2, 4\)"):
        tj.nn.softmax_cross_entropy_with_logits(labels=tj.ones((2, 3)), logits=tj.ones((2, 4)))


def test_softmax_xent_gradients_match_finite_differences() -> None:
    """Order 1 and 2 over labels and logits, for labels that sum to 1 (where TensorFlow's
    logits gradient is the loss's derivative); the second derivatives are those of the
    gradient's own formulas, whatever the labels sum to."""
    labels = rand(1, (2, 4), 0.1, 1.0)
    gradcheck(lambda lb, lg: tj.nn.softmax_cross_entropy_with_logits(lb, lg * lg),
              labels / labels.sum(-1, keepdims=True), rand(2, (2, 4)))


# ---------------------------------------------------------------------------- sigmoid xent

def test_sigmoid_xent_values_and_gradients_are_tensorflows() -> None:
    z = c([-100., -1., 0., 1., 100.])
    lab = c([0., 0.3, 1., 0.5, 1.])

    def f(lab: tj.Tensor, z: tj.Tensor) -> list[Any]:
        with tj.GradientTape(persistent=True) as t:
            t.watch([lab, z])
            y = tj.nn.sigmoid_cross_entropy_with_logits(labels=lab, logits=z)
        return [y, t.gradient(y, z), t.gradient(y, lab)]

    y, gz, gl = both(f, lab, z)
    np.testing.assert_allclose(y, [3.7200759760208356e-44, 0.61326168751822285,
                                   0.69314718055994529, 0.81326168751822281,
                                   3.7200759760208361e-44], rtol=1e-14)
    np.testing.assert_allclose(gz, [3.7200759760208356e-44, -3.1058578630004885e-02, -0.5,
                                    0.2310585786300049, -3.7200759760208361e-44], rtol=1e-14,
                               atol=1e-16)   # at x = 100: 1 - 1 - 3.7e-44, summed in any order
    np.testing.assert_array_equal(gl, [100., 1., -0., -1., -100.])
    gradcheck(lambda lb, x: tj.nn.sigmoid_cross_entropy_with_logits(labels=lb, logits=x * x),
              rand(3, (3, 2), 0., 1.), rand(4, (3, 2)))
    with pytest.raises(ValueError, match=r"same shape, got \(2,\) and \(1,\)"):
        tj.nn.sigmoid_cross_entropy_with_logits(labels=[1.], logits=[1., 2.])


# ---------------------------------------------------------------------------- l2_normalize

def test_l2_normalize_is_tensorflows_at_zero_and_with_epsilon() -> None:
    x = c([[3., 4.], [0., 0.], [1., -2.]])
    seed = c([[1., 2.], [3., 4.], [5., 6.]])

    def f(x: tj.Tensor, axis: Any, eps: float) -> list[Any]:
        with tj.GradientTape() as t:
            t.watch(x)
            y = tj.nn.l2_normalize(x, axis=axis, epsilon=eps)
        return [y, t.gradient(y, x, output_gradients=seed)]

    y, g = both(lambda x: f(x, 1, 1e-12), x)
    np.testing.assert_allclose(y, [[0.6, 0.8], [0., 0.], [0.4472135954999579,
                                                          -0.8944271909999159]], rtol=1e-14)
    np.testing.assert_allclose(g, [[-0.064, 0.048], [3e6, 4e6], [2.8621670111997308,
                                                                   1.4310835055998656]],
                               rtol=1e-12)
    y, g = both(lambda x: f(x, None, 0.5), x)
    np.testing.assert_allclose(y, [[0.5477225575051661, 0.7302967433402214], [0., 0.],
                                   [0.18257418583505536, -0.3651483716701107]], rtol=1e-14)
    np.testing.assert_allclose(g, [[0.10954451150103323, 0.2677754725580812],
                                   [0.5477225575051661, 0.7302967433402214],
                                   [0.8885277043972695, 1.1441315645663468]], rtol=1e-13)
    assert tj.math.l2_normalize is tj.nn.l2_normalize is tj.linalg.l2_normalize
    gradcheck(lambda x: tj.nn.l2_normalize(x, axis=-1), rand(5, (2, 3)))


# ---------------------------------------------------------------------------- clipping

def test_clip_by_norm_gradient_at_the_boundary_is_tensorflows() -> None:
    """Rows above the clip norm, exactly at it (the tie goes to the norm's branch) and
    zero (the gradient passes through)."""
    x = c([[3., 4.], [0.6, 0.8], [0., 0.]])

    def f(x: tj.Tensor) -> list[Any]:
        with tj.GradientTape() as t:
            t.watch(x)
            y = tj.clip_by_norm(x, 1.0, axes=[1])
        return [y, t.gradient(y, x, output_gradients=c([[1., 2.]] * 3))]

    y, g = both(f, x)
    np.testing.assert_allclose(y, [[0.6, 0.8], [0.6, 0.8], [0., 0.]], rtol=1e-15)
    np.testing.assert_allclose(g, [[-0.064, 0.048], [-0.32, 0.24], [1., 2.]], rtol=1e-13)
    # a tensor of clip norms broadcasts against the norms
    np.testing.assert_allclose(tj.clip_by_norm(tj.constant([3., 4.]), [1., 2.]).numpy(),
                               [0.6, 1.6], rtol=1e-6)
    gradcheck(lambda x: tj.clip_by_norm(x, 1.5), rand(6, (2, 3)))
    with pytest.raises(TypeError, match="clip_by_norm"):
        tj.clip_by_norm(tj.constant([3, 4]), 1)


def test_clip_by_global_norm_is_tensorflows() -> None:
    a, b = c([3., 0.]), c([[4.]])

    def f(a: tj.Tensor, b: tj.Tensor, clip: float) -> list[Any]:
        with tj.GradientTape(persistent=True) as t:
            t.watch([a, b])
            (ca, none, cb), n = tj.clip_by_global_norm([a, None, b], clip)
        assert none is None
        return [ca, cb, n, t.gradient(ca, a), t.gradient(ca, b), t.gradient(n, a)]

    ca, cb, n, gaa, gab, gna = both(lambda a, b: f(a, b, 2.5), a, b)
    np.testing.assert_allclose(ca, [1.5, 0.])
    np.testing.assert_allclose(cb, [[2.]])
    assert float(n) == 5.0
    np.testing.assert_allclose(gaa, [0.32, 0.5], rtol=1e-14)
    np.testing.assert_allclose(gna, [0.6, 0.], rtol=1e-14)
    # at the boundary (norm == clip_norm) the gradient takes the norm's branch
    ca, cb, n, gaa, gab, _ = both(lambda a, b: f(a, b, 5.0), a, b)
    np.testing.assert_allclose(ca, [3., 0.])
    np.testing.assert_allclose(gaa, [0.64, 1.], rtol=1e-14)
    np.testing.assert_allclose(gab, [[-0.48]], rtol=1e-14)
    # below the clip norm nothing changes; use_norm replaces the norm
    (ca, _), n = tj.clip_by_global_norm([a, b], 10.)
    np.testing.assert_array_equal(ca.numpy(), [3., 0.])
    (ca, _), n = tj.clip_by_global_norm([a, b], 1., use_norm=c(10.))
    np.testing.assert_allclose(ca.numpy(), [0.3, 0.])
    assert float(n) == 10.0
    gradcheck(lambda x, y: tj.clip_by_global_norm([x, y], 1.0)[0][0] * 2.0,
              rand(7, (2,)), rand(8, (3,)))


def test_clip_by_global_norm_edge_cases_are_tensorflows() -> None:
    (x,), n = tj.clip_by_global_norm([tj.constant([np.inf, 1.])], 1.)
    assert np.isnan(x.numpy()).all() and float(n) == np.inf
    out, n = tj.clip_by_global_norm([None], 1.)
    assert out == [None] and n.dtype == np.float32 and float(n) == 0.0
    zero = c([0., 0.])
    with tj.GradientTape() as t:
        t.watch(zero)
        (z,), n = tj.clip_by_global_norm([zero], 1.0)
    np.testing.assert_array_equal(z.numpy(), [0., 0.])
    assert np.isnan(t.gradient(z, zero).numpy()).all()      # TensorFlow: NaN too
    with pytest.raises(TypeError, match="sequence of tensors"):
        tj.clip_by_global_norm(tj.constant([1., 2.]), 1.)
    with pytest.raises(TypeError, match="float32 and float64"):
        tj.clip_by_global_norm([tj.constant([1., 2.]), c([1., 2.])], 1.)
    np.testing.assert_allclose(tj.linalg.global_norm([c([3.]), None, c([[4.]])]).numpy(), 5.)


# ---------------------------------------------------------------------------- moments

def test_moments_are_tensorflows() -> None:
    x = c([[1., 2.], [3., 5.]])
    m, v = both(lambda x: tj.nn.moments(x, axes=[0]), x)
    np.testing.assert_allclose(m, [2., 3.5])
    np.testing.assert_allclose(v, [1., 2.25])
    m, v = tj.nn.moments(x, axes=[0, 1], keepdims=True)
    assert m.shape == v.shape == (1, 1)
    np.testing.assert_allclose([float(m[0, 0]), float(v[0, 0])], [2.75, 2.1875])
    m, v = tj.nn.moments(tj.constant([[1, 2], [3, 5]]), axes=[0])    # integer means
    np.testing.assert_array_equal(m.numpy(), [2, 3])
    np.testing.assert_array_equal(v.numpy(), [1, 2])

    def grads(x: tj.Tensor) -> list[Any]:
        with tj.GradientTape(persistent=True) as t2:
            t2.watch(x)
            with tj.GradientTape(persistent=True) as t:
                t.watch(x)
                m, v = tj.nn.moments(x, axes=[1])
            gv = t.gradient(v, x)
        return [t.gradient(m, x), gv, t2.gradient(gv, x)]

    gm, gv, hv = both(grads, x)
    np.testing.assert_allclose(gm, [[.5, .5], [.5, .5]])
    np.testing.assert_allclose(gv, [[-.5, .5], [-1., 1.]])
    # the variance is about stop_gradient(mean), so its second derivative is 2/n (TF's)
    np.testing.assert_allclose(hv, [[1., 1.], [1., 1.]])
    gradcheck(lambda x: tj.nn.moments(x, axes=[0])[1] + tj.nn.moments(x, axes=[1])[0],
              rand(9, (3, 3)), order=1)
