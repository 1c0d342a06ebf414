"""Cases of the convolution and pooling primitives for the registry-iterating tests
(`prim_cases.CASES`, `test_vjp.SPECS`, `test_batching`): 1 or 2 spatial axes of sizes
1-4, small channel counts and groups, strides, dilations (of the input too: the transposes
use them) and pads from -1 (cropping) to 2, so every parameter of `conv` is drawn. Operands
stay small (finite differences run per element). `distinct` inputs of the pools have no
ties and values at least 0.05 apart, so the max of a window is stable under the
finite-difference step.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from tests.ir.cases import Case, make_rng

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)


def _spatial(draw: Any, nsp: int, lo: int, hi: int) -> tuple[int, ...]:
    return tuple(draw(st.integers(lo, hi)) for _ in range(nsp))


def conv_case(dtypes: tuple[np.dtype, ...] = (F64,), max_side: int = 4, batch: tuple[int, ...]
              = (1, 2), channels: int = 2, wide: bool = False, direct: bool = False
              ) -> st.SearchStrategy[Case]:
    """Conv operands and params; `channels` > 2 also reaches native code's GEMM path (at
    least 8 products per output and 4 output channels per group); `wide` also draws 8 or
    16 output channels per group, which reach its direct register-tiled kernels, and
    `direct` only those (with at least 8 input channels per group and no input dilation,
    so that they take every case)."""
    @st.composite
    def case(draw: Any) -> Case:
        rng = make_rng(draw)
        dt = np.dtype(draw(st.sampled_from(dtypes)))
        nsp = draw(st.integers(1, 2))
        side = max_side if nsp == 1 else max(2, max_side - 1)
        groups = draw(st.sampled_from([1, 1, 2]))
        ci = draw(st.integers(8, 11) if direct else st.integers(1, channels))
        wides = [8, 16] if wide or direct else []
        og = draw(st.sampled_from(wides if direct else list(range(1, channels + 1)) + wides))
        n = draw(st.sampled_from(batch))
        s = _spatial(draw, nsp, 1, side)
        k = _spatial(draw, nsp, 1, 3)
        params = {"strides": _spatial(draw, nsp, 1, 2), "pad_lo": _spatial(draw, nsp, -1, 2),
                  "pad_hi": _spatial(draw, nsp, -1, 2),
                  "lhs_dilation": _spatial(draw, nsp, 1, 1 if direct else 2),
                  "rhs_dilation": _spatial(draw, nsp, 1, 2), "groups": groups}
        x = rng.uniform(-2, 2, (n,) + s + (ci * groups,)).astype(dt)
        w = rng.uniform(-2, 2, k + (ci, og * groups)).astype(dt)
        return [x, w], params
    return case()


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values without ties, at least 0.05 apart, in about [-2, 2]."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * 0.05 * max(1.0, 80 / max(n, 1))
            + rng.uniform(0, 0.01, n)).reshape(shape)


def pool_case(dtypes: tuple[np.dtype, ...] = (F64,), max_side: int = 5, ties: bool = True,
              batch: tuple[int, ...] = (1, 2)) -> st.SearchStrategy[Case]:
    """Pool operands: `ties` draws rounded values (ties for max_pool's first-max rule and
    its argmax), otherwise `distinct` ones."""
    @st.composite
    def case(draw: Any) -> Case:
        rng = make_rng(draw)
        dt = np.dtype(draw(st.sampled_from(dtypes)))
        nsp = draw(st.integers(1, 2))
        k = _spatial(draw, nsp, 1, 3)
        s = _spatial(draw, nsp, 1, max_side if nsp == 1 else max_side - 1)
        lo = tuple(draw(st.integers(0, kk - 1)) for kk in k)
        hi = tuple(draw(st.integers(0, kk - 1)) for kk in k)
        params = {"window": k, "strides": _spatial(draw, nsp, 1, 2), "pad_lo": lo,
                  "pad_hi": hi}
        shape = (draw(st.sampled_from(batch)),) + s + (draw(st.integers(1, 2)),)
        x = np.round(rng.uniform(-2, 2, shape)) if ties else distinct(rng, shape)
        return [x.astype(dt)], params
    return case()


def filter_grad_case(dtypes: tuple[np.dtype, ...] = (F64,), **kw: Any
                     ) -> st.SearchStrategy[Case]:
    """`conv_filter_grad` operands: a conv case's input and a cotangent of its output's
    shape; the filter's spatial shape becomes the `window` param."""
    from tracejit.ir.prims.conv import _conv_impl

    @st.composite
    def case(draw: Any) -> Case:
        (x, w), params = draw(conv_case(dtypes, **kw))
        y = _conv_impl(x, w, **params)
        g = make_rng(draw).uniform(-2, 2, y.shape).astype(x.dtype)
        return [x, g], {**params, "window": tuple(w.shape[:x.ndim - 2])}
    return case()
