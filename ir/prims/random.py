"""Random numbers: `philox`, a counter-based generator (Philox-4x32-10, Salmon et al.,
"Parallel random numbers: as easy as 1, 2, 3", SC 2011; the generator of TensorFlow's
stateless random ops and of JAX's `rbg` keys).

`philox(key, counter)` with `key: i64[..., 2]` (two 32-bit words, each held in an int64)
and `counter: i64[...]` (the first 128-bit counter block, low 64 bits) fills an output of
shape `key.shape[:-1] + shape`: for each leading index, block j of the output is drawn
from the counter block `counter + j` (the high 64 bits zero) under that key. A block is
four 32-bit words, turned into elements by `dist`:

- `"bits"` (int64): each word, as a value in [0, 2**32); 4 elements per block;
- `"uniform"`: float32 from the word's high 23 bits, `(w >> 9) * 2**-23`; float64 from two
  words, 52 bits; in [0, 1), 4 (float32) or 2 (float64) elements per block;
- `"normal"`: Box-Muller on pairs of uniforms, `u1' = 1 - u1` in (0, 1]:
  `sqrt(-2 log u1') * (cos 2 pi u2, sin 2 pi u2)`; 4 (float32) or 2 (float64) per block.

Invariants: the draws depend only on key, counter and the element's index, never on the
batch or the machine; `bits` and `uniform` are exact integer arithmetic, so every
implementation gives the same values bit for bit; `normal` uses log, sqrt, cos and sin,
so the NumPy reference here differs from native code in the last bits (the user API runs
native code in eager mode too, so eager and compiled draws agree exactly). No gradient:
the outputs are constants to autodiff (TensorFlow registers none for its random ops).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..dims import is_dim
from ..core import TensorType
from ..errors import ShapeError
from .registry import Primitive, register

DISTS = ("bits", "uniform", "normal")
I64 = np.dtype(np.int64)
F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
MASK = np.uint64(0xFFFFFFFF)
# Philox-4x32's multipliers and key increments (Random123).
M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
ROUNDS = 10


def per_block(dtype: np.dtype, dist: str) -> int:
    """Elements drawn from one counter block (four 32-bit words)."""
    return 2 if dist != "bits" and np.dtype(dtype) == F64 else 4


def blocks(n: int, dtype: np.dtype, dist: str) -> int:
    """Counter blocks that `n` elements use: a generator's counter advances by this."""
    k = per_block(dtype, dist)
    return -(-n // k)


def _philox_rule(key: TensorType, counter: TensorType, *, shape: tuple[int, ...],
                 dtype: np.dtype, dist: str) -> TensorType:
    if dist not in DISTS:
        raise ValueError(f"philox: dist must be one of {DISTS}, got {dist!r}")
    want = I64 if dist == "bits" else None
    if want is not None and dtype != want or want is None and dtype not in (F32, F64):
        raise TypeError(f"philox: dist {dist!r} gives "
                        + ("int64" if dist == "bits" else "float32 or float64")
                        + f", not {np.dtype(dtype).name}")
    if key.dtype != I64 or counter.dtype != I64:
        raise TypeError(f"philox: key and counter must be int64, got {key} and {counter}")
    if not key.shape or key.shape[-1] != 2 or tuple(key.shape[:-1]) != tuple(counter.shape):
        raise ShapeError(f"philox: needs a key of shape batch + (2,) and a counter of shape "
                         f"batch, got {key} and {counter}")
    if any(not is_dim(d) and (not isinstance(d, (int, np.integer)) or d < 0) for d in shape):
        raise ShapeError(f"philox: bad shape {shape}")
    return TensorType(tuple(counter.shape) + tuple(shape), dtype)


def philox_words(key: np.ndarray, counter: np.ndarray, high: np.ndarray | None = None
                 ) -> np.ndarray:
    """The four output words of Philox-4x32-10 for each counter (uint64 arrays holding
    32-bit values): `key` (2, ...) and `counter` (...) broadcast; result (4, ...). The
    counter's high 64 bits are `high` (0 for `philox`)."""
    k0, k1 = key[0] & MASK, key[1] & MASK
    c0, c1 = counter & MASK, counter >> np.uint64(32)
    if high is None:
        c2 = c3 = np.zeros_like(c0)
    else:
        c2, c3 = high & MASK, high >> np.uint64(32)
    for r in range(ROUNDS):
        if r:
            k0 = (k0 + np.uint64(W0)) & MASK
            k1 = (k1 + np.uint64(W1)) & MASK
        p0 = np.uint64(M0) * c0
        p1 = np.uint64(M1) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & MASK,
                          (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & MASK)
    return np.stack([c0, c1, c2, c3])


def _uniform(words: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Uniforms in [0, 1) from words (4, ...): float32 one per word, float64 one per pair
    (high word first)."""
    if dtype == F32:
        return np.asarray((words >> np.uint64(9)) * 2.0 ** -23, F32)
    bits = ((words[0::2] << np.uint64(32)) | words[1::2]) >> np.uint64(12)
    return np.asarray(bits * 2.0 ** -52, F64)


def _philox_impl(key: np.ndarray, counter: np.ndarray, *, shape: tuple[int, ...],
                 dtype: np.dtype, dist: str) -> np.ndarray:
    batch = counter.shape
    n = math.prod(shape)
    k = per_block(dtype, dist)
    nb = -(-n // k)
    j = np.arange(nb, dtype=np.uint64)
    ctr = counter.astype(np.uint64)[..., None] + j                     # batch + (nb,)
    keys = np.moveaxis(key.astype(np.uint64), -1, 0)[..., None]          # (2,) + batch + (1,)
    w = philox_words(keys, ctr)                                          # (4,) + batch + (nb,)
    if dist == "bits":
        vals = w.astype(np.int64)
    else:
        u = _uniform(w, np.dtype(dtype))                                 # (k,) + batch + (nb,)
        if dist == "uniform":
            vals = u
        else:
            one = np.asarray(1, dtype)
            r = np.sqrt(np.asarray(-2, dtype) * np.log(one - u[0::2]))
            t = np.asarray(2 * np.pi, dtype) * u[1::2]
            z = np.empty_like(u)
            z[0::2], z[1::2] = r * np.cos(t), r * np.sin(t)
            vals = z
    # Element j*k + l of each batch row is vals[l, ..., j].
    flat = np.moveaxis(vals, 0, -1).reshape(batch + (nb * k,))[..., :n]
    return np.array(flat.reshape(batch + tuple(shape)), dtype, order="C")


def _vjp(g: Any, key: Any, counter: Any, *, out: Any, **params: Any) -> tuple[None, None]:
    return None, None


register(Primitive("philox", kind="kernel",
                   params={"shape": (), "dtype": F32, "dist": "uniform"},
                   shape_rule=_philox_rule, impl=_philox_impl, vjp=_vjp, n_inputs=2,
                   gradient="none", foldable=False))
