"""tj.linalg.expm against the eigendecomposition of symmetric matrices and the Taylor
series of small ones, at norms that use each Padé degree and several squarings, eagerly
and compiled, batched; TensorFlow 2.21's value on one matrix; gradients at orders 1 and 2
against central finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck


def _sym_expm(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(a)
    return (v * np.exp(w)[..., None, :]) @ np.swapaxes(v, -1, -2)


EXPM = tj.function(tj.linalg.expm)


@pytest.mark.parametrize("scale", [1e-3, 0.1, 0.6, 1.5, 3.0, 10.0, 40.0])
def test_symmetric_matrices_match_their_eigendecomposition(scale: float) -> None:
    m = np.random.default_rng(int(scale * 10)).standard_normal((3, 4, 4))
    s = (m + np.swapaxes(m, -1, -2)) * scale / 2
    want = _sym_expm(s)
    for got in (tj.linalg.expm(tj.constant(s)), EXPM(tj.constant(s))):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-9,
                                   atol=1e-12 * np.abs(want).max())
    got32 = EXPM(tj.constant(s.astype(np.float32))).numpy()
    np.testing.assert_allclose(got32, want, rtol=2e-4 * max(1.0, scale),
                               atol=2e-5 * np.abs(want).max())


def test_general_matrix_and_tensorflows_value() -> None:
    a = np.array([[0.1, 0.7, -0.2], [0.0, -0.3, 0.5], [0.4, 0.0, 0.2]])
    taylor = sum(np.linalg.matrix_power(a, k) / np.prod(np.arange(1, k + 1.0))
                 for k in range(30))
    np.testing.assert_allclose(EXPM(tj.constant(a)).numpy(), taylor, rtol=1e-14)
    # TensorFlow 2.21: tf.linalg.expm([[1., 2.], [2., 1.]]) in float64
    np.testing.assert_allclose(tj.linalg.expm(tj.constant([[1., 2.], [2., 1.]],
                                                          tj.float64)).numpy(),
                               [[10.22670818, 9.85882874], [9.85882874, 10.22670818]],
                               rtol=1e-8)
    np.testing.assert_array_equal(tj.linalg.expm(tj.constant([[0., 1.], [0., 0.]])).numpy(),
                                  [[1., 1.], [0., 1.]])


@pytest.mark.parametrize("scale", [0.2, 4.0])      # without and with squarings
def test_gradients_orders_1_and_2(scale: float) -> None:
    a = np.random.default_rng(3).uniform(-1, 1, (3, 3)) * scale
    gradcheck(tj.linalg.expm, a, order=2)
