"""Which GEMM a matmul calls: the builtin kernel below `BLAS_MIN_WORK` multiply-adds,
NumPy's OpenBLAS above it (when present), and the same results either way."""
from __future__ import annotations

import numpy as np
import pytest

from tracejit.codegen import compile_function
from tracejit.codegen.blas import use_blas
from tracejit.codegen.gemm import BLAS_MIN_WORK
from tracejit.ir import Builder, TensorType, bind, interpreting


def matmul_fn(m: int, k: int, n: int) -> object:
    b = Builder("mm")
    x = b.param(TensorType((m, k), np.float32))
    y = b.param(TensorType((k, n), np.float32))
    with interpreting(b):
        z = bind("matmul", x, y)
    return b.build([z])


def test_small_products_use_the_builtin_kernel() -> None:
    exe = compile_function(matmul_fn(128, 784, 256), cache=False)
    assert 128 * 784 * 256 < BLAS_MIN_WORK
    assert "tj_gemm_f32_small" in exe.llvm_ir_unoptimized
    assert "cblas" not in exe.llvm_ir_unoptimized
    rng = np.random.default_rng(0)
    a = rng.normal(size=(128, 784)).astype(np.float32)
    c = rng.normal(size=(784, 256)).astype(np.float32)
    (out,) = exe(a, c)
    np.testing.assert_allclose(out, a.astype(np.float64) @ c, rtol=1e-4, atol=1e-3)


@pytest.mark.skipif(not use_blas(), reason="NumPy's OpenBLAS is not available")
def test_large_products_call_blas() -> None:
    m, k, n = 512, 512, 512
    assert m * k * n >= BLAS_MIN_WORK
    exe = compile_function(matmul_fn(m, k, n), cache=False)
    assert "cblas" in exe.llvm_ir_unoptimized
    rng = np.random.default_rng(1)
    a = rng.normal(size=(m, k)).astype(np.float32)
    c = rng.normal(size=(k, n)).astype(np.float32)
    (out,) = exe(a, c)
    np.testing.assert_allclose(out, a.astype(np.float64) @ c, rtol=1e-4, atol=1e-3)
