"""Native matmul vs NumPy: batch dimensions that broadcast, transposes (by flag and by a
`transpose` instruction folded into the flag), inlined operands, empty dimensions."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tracejit.codegen import compile_function
from tracejit.ir import bind
from tracejit.ir.interp import evaluate

from tests.codegen.helpers import fn_of


def _assert_matmul_close(got, ref, a, b, ta, tb):
    """Error bound of a dot product of length k: k * eps * (|A| @ |B|)."""
    assert got.shape == ref.shape and got.dtype == ref.dtype
    aa, bb = np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64))
    if ta:
        aa = np.swapaxes(aa, -1, -2)
    if tb:
        bb = np.swapaxes(bb, -1, -2)
    k = aa.shape[-1]
    bound = (k + 2) * np.finfo(got.dtype).eps * (aa @ bb) + np.finfo(got.dtype).tiny
    assert (np.abs(got.astype(np.float64) - ref) <= bound).all()


batch = st.lists(st.integers(1, 3), max_size=2).map(tuple)


@given(st.sampled_from([np.float32, np.float64]), batch, batch, st.integers(0, 5),
       st.integers(0, 5), st.integers(0, 5), st.booleans(), st.booleans(), st.data())
def test_matmul(dtype, ba, bb, m, n, k, ta, tb, data):
    # Broadcast the batch dims: drop some to 1.
    bb = tuple(1 if data.draw(st.booleans()) else d for d in bb)
    la, lb = len(ba), len(bb)
    r = max(la, lb)
    ba = tuple(1 if i < r - la else ba[i - (r - la)] for i in range(r))[r - la:]
    bb_full = tuple(bb[i - (r - lb)] if i >= r - lb else 1 for i in range(r))
    ba_full = tuple(ba[i - (r - la)] if i >= r - la else 1 for i in range(r))
    fix = tuple(x if x == y or y == 1 else (y if x == 1 else x) for x, y in zip(ba_full, bb_full))
    ba = tuple(fix[i] if ba_full[i] != 1 else 1 for i in range(r))[r - la:]
    bb = tuple(fix[i] if bb_full[i] != 1 else 1 for i in range(r))[r - lb:]
    sa = ba + ((k, m) if ta else (m, k))
    sb = bb + ((n, k) if tb else (k, n))
    rng = np.random.default_rng(0)
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    fn = fn_of([(sa, dtype), (sb, dtype)], lambda x, y: (
        bind("matmul", x, y, transpose_a=ta, transpose_b=tb),
        bind("matmul", bind("neg", x), y, transpose_a=ta, transpose_b=tb)))
    got = compile_function(fn)(a, b)
    ref = evaluate(fn, [a, b])
    for g, rr in zip(got, ref):
        _assert_matmul_close(g, rr, a, b, ta, tb)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_folded_transposes_and_big(dtype):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 67, 45)).astype(dtype)
    b = rng.standard_normal((33, 45)).astype(dtype)

    def body(x, y):
        xt = bind("transpose", x, perm=(0, 2, 1))          # folded into transpose_a
        yt = bind("transpose", y, perm=(1, 0))             # folded into transpose_b
        c1 = bind("matmul", x, yt)
        c2 = bind("matmul", xt, bind("broadcast_to", yt, shape=(2, 45, 33)), transpose_a=True)
        c3 = bind("matmul", bind("exp", x), y, transpose_b=True)
        return c1, c2, c3, bind("reduce_sum", c1, axes=(1,))

    fn = fn_of([(a.shape, dtype), (b.shape, dtype)], body)
    exe = compile_function(fn)
    got = exe(a, b)
    ref = evaluate(fn, [a, b])
    _assert_matmul_close(got[0], ref[0], a, b, False, True)
    _assert_matmul_close(got[1], ref[1], a, b, False, True)
    _assert_matmul_close(got[2], ref[2], np.exp(a), b, False, True)
    np.testing.assert_allclose(got[3], ref[3], rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-3 if dtype == np.float32 else 1e-10)
