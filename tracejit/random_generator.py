"""The `Generator` of `tj.random` and the draws it makes: every draw is the `philox`
primitive (Philox-4x32-10, counter-based; `ir/prims/random.py`) under a key and a
counter, kept in one int64 Variable `state = [key0, key1, counter]` that advances by the
blocks each draw uses, in program order. Eager draws run the same native kernel as
compiled code, so a seed gives bit-identical numbers in both modes. The public module
is `tracejit.random`.
"""
from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .ir.dims import is_dim
from . import ops
from .arrayops import is_concrete
from .context import EAGER, register_eager_rule, run_time_check, tracing
from .convert import _check_dims, _shape_dim, static_int
from .errors import at_user_line
from .executables import native
from .ir.caches import Memo
from .ir.core import Builder, TensorType, bind, interpreting
from .ir.prims.random import blocks
from .tensor import DTypeLike, Tensor, TensorInput
from .variable import Variable

U32 = 0xFFFFFFFF
I64 = np.dtype(np.int64)
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# A truncated normal keeps the first of this many candidates inside two standard
# deviations (all miss with probability 0.0455**8 < 2e-11; then the last is clipped).
TRUNCATED_TRIES = 8


def _key(seed: int) -> tuple[int, int]:
    s = int(seed) & 0xFFFFFFFFFFFFFFFF
    return s & U32, s >> 32


def _shape(shape: Any, what: str) -> tuple[int, ...]:
    if isinstance(shape, Tensor):
        shape = shape.numpy()
    try:
        if isinstance(shape, (tuple, list)):
            # (Sizes known only at run time stay: another tensor's .shape in a polymorphic
            # trace.)
            dims: tuple[Any, ...] = tuple(_shape_dim(d) for d in shape)
        else:
            dims = tuple(_shape_dim(d) for d in np.atleast_1d(np.asarray(shape)).tolist())
    except (TypeError, ValueError):
        raise at_user_line(TypeError(f"{what}: a shape must be a sequence of ints, got "
                                     f"{shape!r}")) from None
    if any(not is_dim(d) and d < 0 for d in dims):
        raise at_user_line(ValueError(f"{what}: a shape has no negative dimensions, got {dims}"))
    _check_dims(f"{what}: ", dims)
    return dims


def _float_dtype(dtype: DTypeLike, what: str) -> np.dtype:
    if dtype is None:   # np.dtype(None) is float64
        raise at_user_line(TypeError(f"{what}: dtype must not be None"))
    dt = np.dtype(dtype)  # type: ignore[arg-type]
    if dt not in FLOATS:
        raise at_user_line(TypeError(f"{what}: dtype must be float32 or float64, got {dt.name}"))
    return dt


def _draw(key: TensorInput, counter: TensorInput, shape: tuple[int, ...], dtype: np.dtype,
          dist: str) -> Tensor:
    k = ops.reshape(ops.cast(key, I64), (2,))
    c = ops.reshape(ops.cast(counter, I64), ())
    out: Tensor = bind("philox", k, c, shape=shape, dtype=dtype, dist=dist)
    return out


# The state Variable of every live Generator, by id.
_STATES: weakref.WeakValueDictionary[int, Variable] = weakref.WeakValueDictionary()


def is_generator_state(var: Variable) -> bool:
    """Whether `var` is the state Variable of a `Generator`."""
    return _STATES.get(id(var)) is var


class Generator:
    """A random-number generator: `normal`, `uniform`, `truncated_normal` and
    `categorical` draw, `split` makes independent generators. Its state is the int64
    Variable `state` = [key0, key1, counter].

    >>> g = tj.random.Generator.from_seed(1)
    >>> a = g.normal([2])
    >>> b = tj.random.Generator.from_seed(1).normal([2])
    >>> bool(tj.reduce_all(a == b))
    True
    """

    def __init__(self, state: Variable):
        if state.dtype != I64 or state.shape != (3,):
            raise TypeError(f"Generator: state must be an int64 Variable of shape (3,), "
                            f"got {state.dtype} {state.shape}")
        self.state = state
        _STATES[id(state)] = state

    @classmethod
    def from_seed(cls, seed: int, alg: Any = None) -> Generator:
        """A generator whose key is `seed` (a Python int), counter 0."""
        k0, k1 = _key(seed)
        with interpreting(EAGER):      # a generator's state is never the user's Variable
            return cls(Variable(np.array([k0, k1, 0], np.int64), trainable=False,
                                name="generator_state"))

    @classmethod
    def from_non_deterministic_state(cls, alg: Any = None) -> Generator:
        """A generator keyed from the operating system's entropy."""
        return cls.from_seed(int.from_bytes(os.urandom(8), "little"))

    def reset_from_seed(self, seed: int) -> None:
        """Key `seed`, counter 0 (the same Variable: compiled functions see it).

        >>> g = tj.random.Generator.from_seed(7)
        >>> a = g.normal([2])
        >>> g.reset_from_seed(7)
        >>> bool(tj.reduce_all(g.normal([2]) == a))
        True
        """
        k0, k1 = _key(seed)
        self.state.assign(np.array([k0, k1, 0], np.int64))

    def _next(self, shape: Sequence[int], dtype: np.dtype, dist: str) -> Tensor:
        st = self.state.value()
        out = _draw(st[0:2], st[2], tuple(shape), dtype, dist)
        used = blocks(math.prod(shape), dtype, dist)
        self.state.assign_add(np.array([0, 0, used], np.int64))
        return out

    def normal(self, shape: Any, mean: TensorInput = 0.0, stddev: TensorInput = 1.0,
               dtype: DTypeLike = np.float32, name: str | None = None) -> Tensor:
        """Normal samples of `shape`: `mean + stddev * z`.

        >>> tj.random.Generator.from_seed(1).normal([2, 3], stddev=2.).shape
        TensorShape([2, 3])
        """
        dt = _float_dtype(dtype, "normal")
        z = self._next(_shape(shape, "normal"), dt, "normal")
        return _affine(z, mean, stddev, dt)

    def uniform(self, shape: Any, minval: TensorInput = 0, maxval: TensorInput | None = None,
                dtype: DTypeLike = np.float32, name: str | None = None) -> Tensor:
        """Uniform samples in [minval, maxval) (maxval 1 for floats). Integer dtypes need
        `maxval` and take `minval + bits % (maxval - minval)`, as TensorFlow.

        >>> x = tj.random.Generator.from_seed(1).uniform([100], 0, 10, dtype=tj.int32)
        >>> bool(tj.reduce_all((x >= 0) & (x < 10)))
        True
        """
        return _uniform(lambda dt, dist: self._next(_shape(shape, "uniform"), dt, dist),
                        minval, maxval, dtype, "uniform")

    def truncated_normal(self, shape: Any, mean: TensorInput = 0.0,
                         stddev: TensorInput = 1.0, dtype: DTypeLike = np.float32,
                         name: str | None = None) -> Tensor:
        """Normal samples redrawn until within two standard deviations of the mean.

        >>> x = tj.random.Generator.from_seed(1).truncated_normal([1000])
        >>> bool(tj.reduce_all(tj.abs(x) <= 2.))
        True
        """
        dt = _float_dtype(dtype, "truncated_normal")
        dims = _shape(shape, "truncated_normal")
        z = self._next((TRUNCATED_TRIES,) + dims, dt, "normal")
        return _affine(_first_inside(z, dt), mean, stddev, dt)

    def categorical(self, logits: TensorInput, num_samples: int,
                    dtype: DTypeLike = np.int64, name: str | None = None) -> Tensor:
        """`num_samples` class indices per row of `logits` (batch, classes), drawn with
        probabilities softmax(logits) (the Gumbel-max trick).

        >>> tj.random.Generator.from_seed(1).categorical([[0., -1e9]], 3).numpy()
        array([[0, 0, 0]])
        """
        lg = ops.convert_to_tensor(logits)
        if lg.ndim != 2:
            raise at_user_line(ValueError(f"categorical: logits must be (batch, classes), "
                                          f"got shape {lg.shape}"))
        if lg.shape[1] == 0:    # TensorFlow: InvalidArgumentError
            raise at_user_line(ValueError("categorical: logits need at least one class, got "
                                          f"shape {lg.shape}"))
        dt = lg.dtype if lg.dtype in FLOATS else np.dtype(np.float32)
        n = static_int("categorical", "num_samples", num_samples)
        if n < 0:
            raise at_user_line(ValueError(f"categorical: num_samples must be >= 0, got {n}"))
        u = self._next((lg.shape[0], n, lg.shape[1]), dt, "uniform")
        gumbel = ops.negative(ops.log(ops.negative(ops.log(u))))
        scores = ops.add(ops.expand_dims(ops.cast(lg, dt), 1), gumbel)
        return ops.argmax(scores, axis=2, output_type=np.dtype(dtype))  # type: ignore[arg-type]

    def split(self, count: int = 1) -> list[Generator]:
        """`count` new generators with keys drawn from this one.

        >>> len(tj.random.Generator.from_seed(1).split(3))
        3
        """
        bits = self._next((int(count), 2), I64, "bits").numpy()
        return [Generator(Variable(np.array([b[0], b[1], 0], np.int64), trainable=False,
                                   name="generator_state")) for b in bits]


def _uniform(draw: Callable[[np.dtype, str], Tensor], minval: TensorInput,
             maxval: TensorInput | None, dtype: DTypeLike, what: str) -> Tensor:
    """Uniform samples in [minval, maxval) from `draw(dtype, dist)`: floats scale a [0, 1)
    draw; integers take `minval + bits % (maxval - minval)` (TensorFlow's rule)."""
    if dtype is None:   # np.dtype(None) is float64
        raise at_user_line(TypeError(f"{what}: dtype must not be None"))
    dt = np.dtype(dtype)  # type: ignore[arg-type]
    if dt.kind in "iu":
        if maxval is None:
            raise at_user_line(ValueError(f"{what}: an integer dtype needs maxval"))
        lo, hi = ops.cast(minval, I64), ops.cast(maxval, I64)
        if is_concrete(minval) and is_concrete(maxval):
            # TensorFlow: InvalidArgumentError; bits % (maxval - minval) gave minval or
            # numbers above maxval.
            a, b = np.broadcast_arrays(np.asarray(minval), np.asarray(maxval))
            if not np.all(a < b):
                k = int(np.argmax(a >= b))
                raise at_user_line(ValueError(f"{what}: need minval < maxval, got "
                                              f"{a.flat[k]} >= {b.flat[k]}"))
        else:       # bounds known only when compiled code runs: checked then
            st = tracing()
            if st is not None:
                run_time_check(st, ops.less(lo, hi), f"{what}: need minval < maxval")
        bits = draw(I64, "bits")
        return ops.cast(ops.add(lo, ops.mod(bits, ops.subtract(hi, lo))), dt)
    dt = _float_dtype(dt, what)
    u = draw(dt, "uniform")
    lo = ops.cast(minval, dt)
    hi = ops.cast(1.0 if maxval is None else maxval, dt)
    return ops.add(lo, ops.multiply(u, ops.subtract(hi, lo)))


def _affine(z: Tensor, mean: TensorInput, stddev: TensorInput, dt: np.dtype) -> Tensor:
    return ops.add(ops.multiply(z, ops.cast(stddev, dt)), ops.cast(mean, dt))


def _first_inside(z: Tensor, dt: np.dtype) -> Tensor:
    """Along axis 0 of `z`, the first value with |z| <= 2 (the last one, clipped to
    [-2, 2], where none is)."""
    out = ops.clip_by_value(z[-1], -2.0, 2.0)
    for t in range(z.shape[0] - 2, -1, -1):
        out = ops.where(ops.less_equal(ops.abs(z[t]), 2.0), z[t], out)
    return out


# --------------------------------------------------------------------------- eager rule

_KERNELS: Memo[tuple[Any, ...], Any] = Memo("eager random kernels", 256)


def _eager_philox(args: Sequence[Any], params: dict[str, Any]) -> Any:
    """`philox` run eagerly: the native kernel (compiled once per shape and dtype), so
    eager draws equal compiled ones bit for bit."""
    key, counter = (a._data for a in args)
    sig = (key.shape, counter.shape, tuple(params["shape"]), np.dtype(params["dtype"]),
           params["dist"])
    exe = _KERNELS.get(sig)
    if exe is None:
        b = Builder("philox")
        kp = b.param(TensorType(key.shape, I64))
        cp = b.param(TensorType(counter.shape, I64))
        with interpreting(b):
            out = bind("philox", kp, cp, **params)
        exe = _KERNELS.put(sig, native(b.build([out])))
    return exe(np.array(key, I64), np.array(counter, I64))[0]


register_eager_rule("philox", _eager_philox)
