"""erf, erfc and the exact nn.gelu: the C library's values eagerly and compiled (native
code is the vector-math library, within 4 ulp: `tests/codegen/test_mathlib.py`),
TensorFlow's values, gradients and dtype errors, and gradients against central finite
differences in float64 at orders 1 and 2."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck, rand

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * _erfc(-x / math.sqrt(2))


OPS: list[tuple[str, Callable[..., Any], Callable[..., Any]]] = [
    ("erf", tj.math.erf, _erf), ("erfc", tj.math.erfc, _erfc), ("gelu", tj.nn.gelu, _gelu)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0,), (), (3, 37)])
@pytest.mark.parametrize("i", range(len(OPS)), ids=[o[0] for o in OPS])
def test_values_eagerly_and_compiled(i: int, shape: tuple[int, ...], dtype: Any) -> None:
    _, op, ref = OPS[i]
    x = rand(i, shape, -6, 6).astype(dtype)
    want = np.asarray(ref(x.astype(np.float64)), np.float64).astype(dtype)
    # 4 ulp (and 1 of the C library's float64); gelu's float32 argument -x/sqrt(2) rounds,
    # which moves erfc by a relative x^2 ulp (TensorFlow's formula has the same error).
    rtol = 4.5e-7 if dtype == np.float32 else 1.2e-15
    if OPS[i][0] == "gelu":
        rtol = 1e-5 if dtype == np.float32 else 2e-14
    for got in (op(x).numpy(), tj.function(lambda t: op(t))(x).numpy()):
        assert got.dtype == dtype and got.shape == shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0)


@pytest.mark.parametrize("i", range(len(OPS)), ids=[o[0] for o in OPS])
def test_gradients_orders_1_and_2(i: int) -> None:
    gradcheck(OPS[i][1], rand(10 + i, (2, 3), -2.5, 2.5))


def test_tensorflow_values_and_gradients() -> None:
    """TensorFlow 2.21's results (its float64 erfc is ~1e-5 off far out, ours is not)."""
    x = tj.constant([-30.0, -3.0, 0.0, 1e-3, 3.0, 30.0], tj.float64)
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y, z, g = tj.math.erf(x), tj.math.erfc(x), tj.nn.gelu(x)
    d = [0.0, 1.39253052e-04, 1.12837917, 1.12837804, 1.39253052e-04, 0.0]
    np.testing.assert_allclose(t.gradient(y, x).numpy(), d, rtol=1e-8)
    np.testing.assert_allclose(t.gradient(z, x).numpy(), -np.array(d), rtol=1e-8)
    np.testing.assert_allclose(t.gradient(g, x).numpy(),
                               [-4.41609963e-195, -1.19456488e-002, 0.5, 5.00797884e-001,
                                1.01194565, 1.0], rtol=2e-5)
    # x/2 erfc(-x/sqrt 2) to the last digit (mpmath), where 1 + erf would give 0
    np.testing.assert_allclose(g.numpy()[:2], [-1.47201417814e-196, -0.00404969409489],
                               rtol=1e-11)
    np.testing.assert_allclose(tj.nn.gelu([-1.0, 0.0, 1.0]).numpy(),
                               [-0.15865526, 0.0, 0.8413447], rtol=1e-7)
    got = tj.nn.gelu(tj.constant([-np.inf, np.inf, np.nan])).numpy()
    np.testing.assert_array_equal(got, [np.nan, np.inf, np.nan])        # as TensorFlow's
    np.testing.assert_array_equal(tj.math.erf([-np.inf, np.inf, -0.0]).numpy(), [-1, 1, -0.0])
    assert np.signbit(tj.math.erf(tj.constant(-0.0)).numpy())
    np.testing.assert_array_equal(tj.math.erfc([-np.inf, np.inf, 30.0]).numpy(), [2, 0, 0])


@pytest.mark.parametrize("op", [tj.math.erf, tj.math.erfc, tj.nn.gelu])
def test_integer_tensors_are_refused(op: Callable[..., Any]) -> None:
    with pytest.raises(tj.DTypeError, match="needs a float tensor, got int32"):
        op(tj.constant([1, 2]))
