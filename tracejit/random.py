"""`tj.random`: random numbers that are the same eagerly and compiled.

Every draw is the `philox` primitive (Philox-4x32-10, counter-based; `ir/prims/random.py`)
under a key and a counter. A `Generator` keeps both in one int64 Variable,
`state = [key0, key1, counter]`, and advances the counter by the blocks each draw uses, in
program order, inside compiled functions as eagerly (its reads and assignments are those
of any Variable). The stateless functions take the key from their `seed` argument and
start at counter 0, so the same seed gives the same numbers anywhere.

Eager draws run the same native kernel as compiled code (compiled once per shape and
dtype), so a seed gives bit-identical numbers in both modes.

TensorFlow's seeds: `set_seed(s)` resets the global generator to key `s`; an op-level
`seed=` gives that op a generator of its own, keyed by (global seed, op seed), so a
program with both seeds repeats itself from one run to the next, as in TensorFlow. The
numbers differ from TensorFlow's own (other conversions from bits to values).
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from . import exports, ops
from .errors import at_user_line
from .exports import export
from .random_generator import (I64, TRUNCATED_TRIES, Generator, _affine, _draw, _first_inside,
                               _float_dtype, _shape, _uniform)
from .sorting import argsort
from .tensor import DTypeLike, Tensor, TensorInput

# --------------------------------------------------------------------------- global state

_LOCK = threading.Lock()
_GLOBAL: list[Generator] = []
_GLOBAL_SEED: list[int | None] = [None]
_OP_GENERATORS: dict[tuple[int | None, int], Generator] = {}


@export("random.get_global_generator")
def get_global_generator() -> Generator:
    """The generator that `tj.random.normal` and the other stateful functions draw from
    (keyed from the OS's entropy until `set_seed`).

    >>> tj.random.get_global_generator().state.dtype
    dtype('int64')
    """
    with _LOCK:
        if not _GLOBAL:
            _GLOBAL.append(Generator.from_non_deterministic_state())
        return _GLOBAL[0]


@export("random.set_seed")
def set_seed(seed: int) -> None:
    """Make the global generator, and every op-level `seed=`, repeat from this point.

    >>> tj.random.set_seed(7); a = tj.random.uniform([3])
    >>> tj.random.set_seed(7); b = tj.random.uniform([3])
    >>> bool(tj.reduce_all(a == b))
    True
    """
    gen = get_global_generator()
    with _LOCK:
        _GLOBAL_SEED[0] = int(seed)
        _OP_GENERATORS.clear()
    gen.reset_from_seed(int(seed))


def _generator(seed: int | None) -> Generator:
    if seed is None:
        return get_global_generator()
    with _LOCK:
        key = (_GLOBAL_SEED[0], int(seed))
        gen = _OP_GENERATORS.get(key)
        if gen is None:
            mixed = (0 if key[0] is None else key[0]) * 0x9E3779B97F4A7C15 + key[1]
            gen = _OP_GENERATORS[key] = Generator.from_seed(mixed)
        return gen


@export("random.normal")
def normal(shape: Any, mean: TensorInput = 0.0, stddev: TensorInput = 1.0,
           dtype: DTypeLike = np.float32, seed: int | None = None,
           name: str | None = None) -> Tensor:
    """Normal samples from the global generator (or the op's own, with `seed`).

    >>> tj.random.normal([2, 3]).shape
    TensorShape([2, 3])
    """
    return _generator(seed).normal(shape, mean, stddev, dtype)


@export("random.uniform")
def uniform(shape: Any, minval: TensorInput = 0, maxval: TensorInput | None = None,
            dtype: DTypeLike = np.float32, seed: int | None = None,
            name: str | None = None) -> Tensor:
    """Uniform samples in [minval, maxval) (see `Generator.uniform`).

    >>> x = tj.random.uniform([1000], 2., 3.)
    >>> bool(tj.reduce_all((x >= 2.) & (x < 3.)))
    True
    """
    return _generator(seed).uniform(shape, minval, maxval, dtype)


@export("random.truncated_normal")
def truncated_normal(shape: Any, mean: TensorInput = 0.0, stddev: TensorInput = 1.0,
                     dtype: DTypeLike = np.float32, seed: int | None = None,
                     name: str | None = None) -> Tensor:
    """Normal samples within two standard deviations of `mean`.

    >>> bool(tj.reduce_max(tj.abs(tj.random.truncated_normal([1000]))) <= 2.)
    True
    """
    return _generator(seed).truncated_normal(shape, mean, stddev, dtype)


@export("random.categorical")
def categorical(logits: TensorInput, num_samples: int, dtype: DTypeLike = np.int64,
                seed: int | None = None, name: str | None = None) -> Tensor:
    """Class indices drawn with probabilities softmax(logits), per row.

    >>> tj.random.categorical([[0., -1e9]], 3).numpy()
    array([[0, 0, 0]])
    """
    return _generator(seed).categorical(logits, num_samples, dtype)


@export("random.shuffle")
def shuffle(value: TensorInput, seed: int | None = None, name: str | None = None) -> Tensor:
    """`value` with its first dimension randomly permuted (a scalar is returned as is).

    The permutation sorts one 64-bit random key per row (drawn like the other stateful
    functions, so it repeats under `set_seed` and is the same eagerly and compiled).
    As in TensorFlow, no gradient flows through it: `tape.gradient` gives None.

    >>> tj.random.set_seed(1)
    >>> sorted(tj.random.shuffle(tj.range(5)).numpy().tolist())
    [0, 1, 2, 3, 4]
    """
    x = ops.convert_to_tensor(value)
    if x.ndim == 0:
        return x
    keys = _generator(seed)._next((x.shape[0],), I64, "bits")
    return ops.gather(ops.stop_gradient(x), argsort(keys, stable=True))


# --------------------------------------------------------------------------- stateless


def _seed_key(seed: TensorInput, what: str) -> Tensor:
    s = ops.convert_to_tensor(seed)
    if s.shape != (2,) or s.dtype.kind not in "iu":
        raise at_user_line(ValueError(f"{what}: seed must be a shape [2] integer tensor, got "
                                      f"{s.dtype.name} {s.shape}"))
    return ops.cast(s, I64)


@export("random.stateless_normal")
def stateless_normal(shape: Any, seed: TensorInput, mean: TensorInput = 0.0,
                     stddev: TensorInput = 1.0, dtype: DTypeLike = np.float32,
                     name: str | None = None) -> Tensor:
    """Normal samples that depend only on `seed` (two integers) and the shape.

    >>> a = tj.random.stateless_normal([3], seed=[1, 2])
    >>> bool(tj.reduce_all(a == tj.random.stateless_normal([3], seed=[1, 2])))
    True
    """
    dt = _float_dtype(dtype, "stateless_normal")
    z = _draw(_seed_key(seed, "stateless_normal"), 0, _shape(shape, "stateless_normal"), dt,
              "normal")
    return _affine(z, mean, stddev, dt)


@export("random.stateless_uniform")
def stateless_uniform(shape: Any, seed: TensorInput, minval: TensorInput = 0,
                      maxval: TensorInput | None = None, dtype: DTypeLike = np.float32,
                      name: str | None = None) -> Tensor:
    """Uniform samples in [minval, maxval) that depend only on `seed` and the shape.

    >>> tj.random.stateless_uniform([2], seed=[3, 4], maxval=10, dtype=tj.int32).dtype
    dtype('int32')
    """
    dims = _shape(shape, "stateless_uniform")
    key = _seed_key(seed, "stateless_uniform")
    return _uniform(lambda dt, dist: _draw(key, 0, dims, dt, dist), minval, maxval, dtype,
                    "stateless_uniform")


@export("random.stateless_truncated_normal")
def stateless_truncated_normal(shape: Any, seed: TensorInput, mean: TensorInput = 0.0,
                               stddev: TensorInput = 1.0, dtype: DTypeLike = np.float32,
                               name: str | None = None) -> Tensor:
    """Truncated normal samples (see `truncated_normal`) that depend only on `seed`.

    >>> bool(tj.reduce_max(tj.abs(tj.random.stateless_truncated_normal([99], [5, 6]))) <= 2.)
    True
    """
    dt = _float_dtype(dtype, "stateless_truncated_normal")
    dims = _shape(shape, "stateless_truncated_normal")
    z = _draw(_seed_key(seed, "stateless_truncated_normal"), 0, (TRUNCATED_TRIES,) + dims,
              dt, "normal")
    return _affine(_first_inside(z, dt), mean, stddev, dt)


exports.public(Generator, "random.Generator")

__all__ = exports.names("random")


def __dir__() -> list[str]:
    """`dir(tj.random)`: the public names only (not this module's imports)."""
    return sorted(__all__ + [n for n in globals() if n.startswith("__") and n.endswith("__")])
__doc__ = f"{__doc__}\nNames:\n\n{exports.listing('random')}\n"
