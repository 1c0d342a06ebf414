"""Cases of the LAPACK primitives for the registry-iterating tests (`prim_cases.CASES`,
`test_vjp.SPECS`, `test_batching`): well-conditioned float matrices under 0-2 batch
dimensions of sizes 0-3, matrices of sizes 1-4 (native code never runs on an empty
output, so size 0 is drawn for the batch only).

`spd` matrices are M M^T + n I (positive definite, condition number below ~10),
`triangular` ones have a diagonal of magnitude 1-2 and off-diagonal entries in [-0.5, 0.5],
`general` ones n I + (entries in [-1, 1]) with a random sign per row (so some
determinants are negative). Values are continuous (no ties), so finite differences,
orders of eigenvalues and pivots are stable under the test's perturbations.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from tests.ir.cases import Case, make_rng

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)


def spd(rng: np.random.Generator, batch: tuple[int, ...], n: int) -> np.ndarray:
    m = rng.uniform(-1, 1, batch + (n, n))
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


def triangular(rng: np.random.Generator, batch: tuple[int, ...], n: int) -> np.ndarray:
    a = rng.uniform(-0.5, 0.5, batch + (n, n))
    d = rng.choice([-1.0, 1.0], batch + (n,)) * rng.uniform(1, 2, batch + (n,))
    return a * (1 - np.eye(n)) + d[..., None] * np.eye(n)


def general(rng: np.random.Generator, batch: tuple[int, ...], n: int) -> np.ndarray:
    a = rng.uniform(-1, 1, batch + (n, n)) + n * np.eye(n)
    return a * rng.choice([-1.0, 1.0], batch + (n, 1))


def _batch(draw: Any) -> tuple[int, ...]:
    return tuple(draw(st.sampled_from([1, 2, 3, 0])) for _ in range(draw(st.integers(0, 2))))


def _dtype(draw: Any, dtypes: tuple[np.dtype, ...]) -> np.dtype:
    return np.dtype(draw(st.sampled_from(dtypes)))


def unary_case(make: Any, dtypes: tuple[np.dtype, ...] = (F64,), **params: Any
               ) -> st.SearchStrategy[Case]:
    @st.composite
    def case(draw: Any) -> Case:
        rng = make_rng(draw)
        a = make(rng, _batch(draw), draw(st.integers(1, 4)))
        return [a.astype(_dtype(draw, dtypes))], dict(params)
    return case()


def solve_case(prim: str, dtypes: tuple[np.dtype, ...] = (F64,)) -> st.SearchStrategy[Case]:
    """`triangular_solve` (triangular matrices, lower/upper, adjoint) or `solve`."""
    @st.composite
    def case(draw: Any) -> Case:
        rng = make_rng(draw)
        batch, n, k = _batch(draw), draw(st.integers(1, 4)), draw(st.integers(1, 3))
        dt = _dtype(draw, dtypes)
        if prim == "triangular_solve":
            a = triangular(rng, batch, n)
            params = {"lower": draw(st.booleans()), "adjoint": draw(st.booleans())}
        else:
            a = general(rng, batch, n)
            params = {"adjoint": draw(st.booleans())}
        b = rng.uniform(-2, 2, batch + (n, k))
        return [a.astype(dt), b.astype(dt)], params
    return case()


def symmetric_input(x: Any) -> Any:
    """(x + x^T) / 2 with bind: the cases of primitives whose gradient is TensorFlow's
    symmetric one are checked against finite differences of f(sym(x))."""
    from tracejit.ir.prims.matrix_util import sym
    return sym(x)


def _orthogonal(rng: np.random.Generator, batch: tuple[int, ...], n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def separated(rng: np.random.Generator, batch: tuple[int, ...], n: int) -> np.ndarray:
    """Values 0.3-1 apart, ascending, starting in [-2, 0)."""
    return rng.uniform(-2, 0, batch + (1,)) + np.cumsum(rng.uniform(0.3, 1, batch + (n,)), -1)


def symmetric(rng: np.random.Generator, batch: tuple[int, ...], n: int,
              junk_above: bool = True) -> np.ndarray:
    """Q diag(e) Q^T with eigenvalues e 0.3 apart; with `junk_above`, the strict upper
    triangle is replaced by other values (eigh reads the lower one only)."""
    q = _orthogonal(rng, batch, n)
    a = (q * separated(rng, batch, n)[..., None, :]) @ np.swapaxes(q, -1, -2)
    if junk_above:
        a = np.where(np.tri(n, dtype=bool), a, rng.uniform(-2, 2, a.shape))
    return a


def rectangular(rng: np.random.Generator, batch: tuple[int, ...], m: int, n: int
                ) -> np.ndarray:
    """U diag(s) V^T with singular values 0.5 + (0.3-1 apart): full rank, distinct."""
    k = min(m, n)
    u = _orthogonal(rng, batch, m)[..., :k]
    v = _orthogonal(rng, batch, n)[..., :k]
    s = 0.5 + np.cumsum(rng.uniform(0.3, 1, batch + (k,)), -1)
    return (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)


def decomposition_case(prim: str, dtypes: tuple[np.dtype, ...] = (F64,),
                       for_gradients: bool = False) -> st.SearchStrategy[Case]:
    """`qr` or `svd` of an m x n matrix (m, n in 1-4). With `for_gradients`, only the
    params whose gradient is defined and unique: `full_matrices` only where it changes
    nothing for qr (m <= n), never for svd (the extra singular vectors are arbitrary)."""
    @st.composite
    def case(draw: Any) -> Case:
        rng = make_rng(draw)
        batch, m, n = _batch(draw), draw(st.integers(1, 4)), draw(st.integers(1, 4))
        a = rectangular(rng, batch, m, n).astype(_dtype(draw, dtypes))
        full = draw(st.booleans())
        if prim == "qr":
            return [a], {"full_matrices": full and (m <= n or not for_gradients)}
        uv = draw(st.booleans())
        return [a], {"full_matrices": full and uv and not for_gradients, "compute_uv": uv}
    return case()


def pivoting(rng: np.random.Generator, batch: tuple[int, ...], n: int) -> np.ndarray:
    """`general` matrices with their rows shuffled: LU's partial pivoting swaps rows, each
    pivot far larger than the other candidates (so the choice is stable)."""
    a = general(rng, batch, n)
    order = np.argsort(rng.random(batch + (n,)), axis=-1)
    return np.take_along_axis(a, order[..., None], axis=-2)
