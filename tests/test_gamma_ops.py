"""tj.math.lgamma, digamma and polygamma: TensorFlow's values and special values, dtypes,
broadcasting, eager = compiled, and every order of derivative (each one's gradient is the
next function of the family) against central finite differences."""
from __future__ import annotations

import numpy as np
import pytest
import tracejit as tj
from tracejit.errors import DTypeError

from tests.test_grad_ops import gradcheck

INF, NAN = np.inf, np.nan
X = [-INF, -3.0, -2.5, -1.0, -0.5, -0.0, 0.0, 1e-30, 0.5, 1.0, 2.0, 3.0, 10.0, 1e10, INF, NAN]
# TensorFlow 2.21, float64 (tf.math.lgamma / digamma / polygamma on X)
TF_LGAMMA = [INF, INF, -5.62437165e-02, INF, 1.26551212e+00, INF, INF, 6.90775528e+01,
             5.72364943e-01, 0.0, 0.0, 6.93147181e-01, 1.28018275e+01, 2.20258509e+11, INF, NAN]
TF_DIGAMMA = [NAN, NAN, 1.10315664e+00, NAN, 3.64899740e-02, NAN, NAN, -1.0e+30,
              -1.96351003e+00, -5.77215665e-01, 4.22784335e-01, 9.22784335e-01,
              2.25175259e+00, 2.30258509e+01, INF, NAN]
TF_TRIGAMMA = [INF, INF, 9.53924664e+00, INF, 8.93480220e+00, INF, INF, 1.0e+60,
               4.93480220e+00, 1.64493407e+00, 6.44934067e-01, 3.94934067e-01,
               1.05166336e-01, 1.0e-10, 0.0, NAN]
TF_TETRAGAMMA = [NAN, NAN, -1.08204052e-01, NAN, -8.28796644e-01, NAN, NAN, -2.0e+90,
                 -1.68287966e+01, -2.40411381e+00, -4.04113806e-01, -1.54113806e-01,
                 -1.10498350e-02, -1.0e-20, -0.0, NAN]


def _both(fn, *args):
    """fn eagerly and compiled, as NumPy arrays (they must agree: native code is within a
    few ulp, the NumPy reference within ~1e-13 relative or ~1e-15 absolute at zeros)."""
    eager = fn(*args).numpy()
    compiled = tj.function(fn)(*args).numpy()
    f32 = eager.dtype == np.float32
    np.testing.assert_allclose(compiled, eager, rtol=1e-6 if f32 else 1e-12,
                               atol=1e-7 if f32 else 1e-15)
    return eager


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_and_special_values_match_tensorflow(dtype):
    x = np.array(X, dtype)
    rtol = 1e-6 if dtype == np.float32 else 1e-8

    def family(v):      # one compiled function: the outlined polygamma is compiled once
        return tj.stack([tj.math.lgamma(v), tj.math.digamma(v), tj.math.polygamma(1.0, v),
                         tj.math.polygamma(2.0, v)])

    with np.errstate(over="ignore"):
        got = _both(family, x)
        assert got.dtype == dtype
        for row, want in zip(got, [TF_LGAMMA, TF_DIGAMMA, TF_TRIGAMMA, TF_TETRAGAMMA]):
            w = np.array(want, np.float64).astype(dtype)   # float32 overflows to +-inf
            np.testing.assert_allclose(row, w, rtol=rtol)
            np.testing.assert_array_equal(np.signbit(row[w == 0]), np.signbit(w[w == 0]))


def test_polygamma_broadcasts_orders_and_rejects_invalid_ones():
    a = np.array([[0.0], [1.0], [2.0], [-1.0], [0.5]])
    x = np.array([1.0, 2.0, 3.0])
    got = _both(tj.math.polygamma, a, x)
    # TensorFlow 2.21: [[-0.5772157 0.4227843 0.9227843] [1.644934 0.6449341 0.39493406]
    # [-2.404114 -0.40411383 -0.1541138]]; orders that are not non-negative integers: NaN
    np.testing.assert_allclose(got[:3], [[-0.5772156649015329, 0.42278433509846713,
                                          0.9227843350984671],
                                         [1.6449340668482264, 0.6449340668482264,
                                          0.3949340668482264],
                                         [-2.4041138063191885, -0.4041138063191885,
                                          -0.15411380631918857]], rtol=1e-14)
    assert np.isnan(got[3:]).all()
    # a Python number takes x's dtype (TensorFlow converts it too)
    assert tj.math.polygamma(1, tj.constant([1.0], tj.float64)).dtype == np.float64


def test_dtype_errors():
    for fn in (tj.math.lgamma, tj.math.digamma):
        with pytest.raises(DTypeError, match="float"):
            fn(tj.constant([1, 2]))
    with pytest.raises(DTypeError):
        tj.math.polygamma(tj.constant(1.0, tj.float32), tj.constant([1.0], tj.float64))
    with pytest.raises(DTypeError, match="float"):
        tj.math.polygamma(tj.constant(1), tj.constant([1, 2]))


def test_each_gradient_is_the_next_function_of_the_family():
    x = tj.constant([0.3, 2.5, -1.5, -0.2, 7.0], tj.float64)
    a = tj.constant(2.0, tj.float64)
    with tj.GradientTape(persistent=True) as t:
        t.watch([x, a])
        lg = tj.math.lgamma(x)
        dg = tj.math.digamma(x)
        pg = tj.math.polygamma(a, x)
    np.testing.assert_allclose(t.gradient(lg, x).numpy(), tj.math.digamma(x).numpy(), rtol=1e-15)
    np.testing.assert_allclose(t.gradient(dg, x).numpy(),
                               tj.math.polygamma(1.0, x).numpy(), rtol=1e-15)
    np.testing.assert_allclose(t.gradient(pg, x).numpy(),
                               tj.math.polygamma(3.0, x).numpy(), rtol=1e-15)
    assert t.gradient(pg, a) is None            # TensorFlow's: no gradient for the order


@pytest.mark.parametrize("name", ["lgamma", "digamma", "polygamma1", "polygamma2"])
def test_gradients_orders_1_and_2_match_finite_differences(name):
    x = np.array([0.05, 0.4, 1.46, 2.0, 3.7, 11.0, 40.0, -0.3, -1.7, -4.45])

    if name.startswith("polygamma"):
        n = float(name[-1])
        gradcheck(lambda v: tj.math.polygamma(n, v), x)
    else:
        gradcheck(getattr(tj.math, name), x)


def test_third_derivative_compiled_matches_eager():
    def third(v):
        with tj.GradientTape() as t3:
            t3.watch(v)
            with tj.GradientTape() as t2:
                t2.watch(v)
                with tj.GradientTape() as t1:
                    t1.watch(v)
                    y = tj.math.lgamma(v)
                g1 = t1.gradient(y, v)
            g2 = t2.gradient(g1, v)
        return t3.gradient(g2, v)

    x = tj.constant([0.7, 2.5, -0.5, 6.0], tj.float64)
    got = _both(third, x)
    np.testing.assert_allclose(got, tj.math.polygamma(2.0, x).numpy(), rtol=1e-14)
