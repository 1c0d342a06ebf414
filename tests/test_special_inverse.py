"""math.erfinv and math.ndtri: ulp errors against mpmath over every binade of x and of
1 - |x| (p and 1 - p), eagerly and compiled, float32 and float64; special values and
errors as TensorFlow 2.21 gives them; gradients (TensorFlow's formulas, written out) and
central finite differences at orders 1 and 2."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import first_and_second, gradcheck

RNG = np.random.default_rng(11)
# |x| uniform, near 0 (every binade down to subnormals), and near 1 (1 - 2^-k)
MAGS = np.concatenate([RNG.uniform(0, 1, 150), 2.0 ** -RNG.uniform(1, 1070, 80),
                       1 - 2.0 ** -RNG.uniform(1, 53, 120), [0.5, 0.5 - 2**-53, 0.5 + 2**-52]])
XS = np.concatenate([MAGS, -MAGS[::3]])
# p uniform, tiny (every binade down to the smallest normal) and near 1
PS = np.concatenate([RNG.uniform(0, 1, 150), 2.0 ** -RNG.uniform(1, 1022, 80),
                     1 - 2.0 ** -RNG.uniform(1, 53, 60), [0.25, 0.5, 0.75]])


def _erfinv_ref(x: float) -> float:
    with mpmath.workprec(120):
        return float(mpmath.erfinv(mpmath.mpf(x)))


def _ndtri_ref(p: float) -> float:
    # 2p - 1 exactly: enough bits for p's binade, then 120 more
    bits = 120 + int(max(0.0, -np.log2(p))) if p > 0 else 120
    with mpmath.workprec(bits):
        return float(mpmath.sqrt(2) * mpmath.erfinv(2 * mpmath.mpf(p) - 1))


def _ulps(got: np.ndarray, want: np.ndarray, dtype: Any) -> float:
    want_t = want.astype(dtype)
    spacing = np.spacing(np.abs(want_t)).astype(np.float64)
    return float(np.max(np.abs(got.astype(np.float64) - want) / spacing))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["erfinv", "ndtri"])
def test_within_two_ulp_of_mpmath(name: str, dtype: Any) -> None:
    op: Callable[..., Any] = getattr(tj.math, name)
    pts = (XS if name == "erfinv" else PS).astype(dtype)
    pts = pts[(np.abs(pts) < 1) & (pts != 0)] if name == "erfinv" else pts[(pts > 0) & (pts < 1)]
    ref = _erfinv_ref if name == "erfinv" else _ndtri_ref
    want = np.array([ref(float(p)) for p in pts])
    for f in (op, tj.function(op)):
        got = f(tj.constant(pts)).numpy()
        assert got.dtype == dtype
        assert _ulps(got, want, dtype) <= 2.0, (name, dtype)


def test_special_values_tensorflow_gives() -> None:
    for f in (tj.math.erfinv, tj.function(tj.math.erfinv)):
        got = f(tj.constant([-1.0, -0.5, -0.0, 0.0, 1.0, 1.5, -1.5, np.nan])).numpy()
        assert str(got.tolist()) == ("[-inf, -0.4769362807273865, -0.0, 0.0, inf, nan, nan, "
                                     "nan]")
    for f in (tj.math.ndtri, tj.function(tj.math.ndtri)):
        got = f(tj.constant([0.0, 0.5, 1.0, -0.1, 1.1, np.nan])).numpy()
        assert str(got.tolist()) == "[-inf, 0.0, inf, nan, nan, nan]"
    # TensorFlow 2.21: float32 erfinv(0.999) is 2.3267682 (50 ulp off); the value is
    # 2.3267563 (mpmath), and ndtri(1e-30) is -11.464024
    assert tj.math.erfinv([0.999]).numpy()[0] == np.float32(2.3267563)
    assert abs(tj.math.ndtri([1e-30]).numpy()[0] - np.float32(-11.464024)) <= 1e-5
    assert tj.math.erfinv([0.5]).dtype == np.float32
    for name in ("erfinv", "ndtri"):
        with pytest.raises(tj.errors.DTypeError, match=f"{name} needs a float tensor"):
            getattr(tj.math, name)([1, 0])


def test_gradients_are_tensorflows_formulas() -> None:
    """TensorFlow 2.21's values: erfinv' = sqrt(pi)/2 exp(erfinv^2), ndtri' = sqrt(2 pi)
    exp(ndtri^2 / 2), and their derivatives."""
    x = tj.constant([0.3, -0.7], tj.float64)
    for compiled in (False, True):
        def grads(x: tj.Tensor) -> Any:
            out = []
            for f in (tj.math.erfinv, lambda v: tj.math.ndtri(tj.abs(v))):
                out += list(first_and_second(f, x))
            return out
        g1, g2, n1, n2 = (tj.function(grads) if compiled else grads)(x)
        np.testing.assert_allclose(g1.numpy(), [0.95452036, 1.51636322], rtol=1e-8)
        np.testing.assert_allclose(g2.numpy(), [0.49648653, -3.37025589], rtol=1e-7)
        np.testing.assert_allclose(n1.numpy(), [2.87610366, -2.87610366], rtol=1e-8)
        np.testing.assert_allclose(n2.numpy(), [-4.33782649, 4.33782649], rtol=1e-7)
    e = tj.constant([1.0, -1.0, 1.5])
    with tj.GradientTape() as tape:
        tape.watch(e)
        y = tj.math.erfinv(e)
    assert str(tape.gradient(y, e).numpy().tolist()) == "[inf, inf, nan]"


def test_gradients_against_finite_differences() -> None:
    """Points at least 1e-3 from the singularities at +-1 (0 and 1 for ndtri), so that
    central differences with steps of 1e-6 are accurate; the tails are checked against
    the formula with mpmath's values."""
    x = np.array([-0.999, -0.6, -0.2, 0.0, 1e-5, 0.45, 0.55, 0.9, 0.9985])
    gradcheck(lambda v: tj.math.erfinv(v) * v, x)
    p = np.array([1e-3, 0.2, 0.5, 0.7, 0.999])
    gradcheck(lambda v: tj.math.ndtri(v), p)
    gradcheck(lambda v: tj.math.ndtri(tj.math.erfinv(v * 0.5) ** 2 * 0.3 + 0.1), x[1:-1])
    tails = np.array([1e-300, 1e-12, 1 - 1e-9])
    v = tj.constant(tails)
    with tj.GradientTape() as tape:
        tape.watch(v)
        y = tj.math.ndtri(v)
    want = [np.sqrt(2 * np.pi) * np.exp(_ndtri_ref(float(q)) ** 2 / 2) for q in tails]
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), want, rtol=1e-13)
