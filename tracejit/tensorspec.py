"""`tj.TensorSpec`: the shape and dtype of a tensor argument, without data, as
TensorFlow's `tf.TensorSpec`: for `input_signature`, `get_concrete_function` and
`f.export`.

Invariants:
- A spec's `shape` is a `tj.TensorShape` (`None` for a dimension of any size, or
  `TensorShape(None)` for any rank), its `dtype` one of tracejit's NumPy dtypes, its
  `name` a string or None.
- Two specs are equal (and hash equal) when shape, dtype and name are; `repr` is
  TensorFlow's with `tj.` for `tf.`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .ir.core import DTYPE_NAMES
from .tensor import Tensor, raw_shape
from .tensorshape import TensorShape, as_shape
from .variable import Variable


def _dtype(dtype: Any) -> np.dtype:
    if dtype is None:   # np.dtype(None) is float64
        raise TypeError("TensorSpec: dtype must not be None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"TensorSpec: {dtype!r} is not a dtype") from None
    if dt not in DTYPE_NAMES:
        raise TypeError(f"TensorSpec: dtype {dt} is not supported; use one of "
                        + ", ".join(sorted(str(d) for d in DTYPE_NAMES)))
    return dt


class TensorSpec:
    """The shape and dtype of a tensor (and an optional name), as `tf.TensorSpec`:
    `None` in `shape` stands for a dimension of any size, `shape=None` for any rank. In
    `input_signature=[...]` of `tj.function` it fixes what the function accepts; in
    `get_concrete_function` and `f.export` it stands for an argument without data.

    >>> tj.TensorSpec([None, 3], tj.float32, name="x")
    TensorSpec(shape=(None, 3), dtype=tj.float32, name='x')
    >>> tj.TensorSpec([None, 3]).is_compatible_with(tj.zeros([5, 3]))
    True
    """

    __slots__ = ("_shape", "_dtype", "_name")

    def __init__(self, shape: Any, dtype: Any = np.float32, name: str | None = None):
        self._shape = as_shape(shape)
        self._dtype = _dtype(dtype)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"TensorSpec: name must be a string or None, got {name!r}")
        self._name = name

    @property
    def shape(self) -> TensorShape:
        """The shape: a `tj.TensorShape`, None for a dimension of any size."""
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        """The dtype (a NumPy dtype such as `tj.float32`)."""
        return self._dtype

    @property
    def name(self) -> str | None:
        """The name given (TensorFlow uses it for the traced argument), or None."""
        return self._name

    @classmethod
    def from_tensor(cls, tensor: Any, name: str | None = None) -> TensorSpec:
        """The spec of a tensor, Variable or NumPy array (its shape and dtype).

        >>> tj.TensorSpec.from_tensor(tj.zeros([2, 2]))
        TensorSpec(shape=(2, 2), dtype=tj.float32, name=None)
        """
        if isinstance(tensor, (Tensor, Variable)):
            return cls(raw_shape(tensor), tensor.dtype, name)
        if isinstance(tensor, np.ndarray):
            return cls(tensor.shape, tensor.dtype, name)
        raise TypeError(f"TensorSpec.from_tensor needs a tensor, Variable or NumPy array, "
                        f"got {type(tensor).__name__}")

    @classmethod
    def from_spec(cls, spec: TensorSpec, name: str | None = None) -> TensorSpec:
        """A copy of `spec` (with `name` if given)."""
        return cls(spec.shape, spec.dtype, spec.name if name is None else name)

    def is_compatible_with(self, spec_or_tensor: Any) -> bool:
        """Whether a tensor (or array, Variable, spec) of this dtype and a compatible shape.

        >>> tj.TensorSpec([None, 3]).is_compatible_with(tj.TensorSpec([2, 3]))
        True
        """
        x = spec_or_tensor
        if isinstance(x, (Tensor, Variable, np.ndarray)):
            x = TensorSpec.from_tensor(x)
        if not isinstance(x, TensorSpec):
            return False
        return x.dtype == self._dtype and self._shape.is_compatible_with(x.shape)

    def most_specific_common_supertype(self, others: Any) -> TensorSpec | None:
        """The most specific spec every one of `others` and this one fit (sizes that
        differ become None), or None if the dtypes differ."""
        shape = self._shape
        for o in others:
            if not isinstance(o, TensorSpec) or o.dtype != self._dtype:
                return None
            shape = shape.most_specific_compatible_shape(o.shape)
        names = {self._name, *(o.name for o in others)}
        return TensorSpec(shape, self._dtype, self._name if len(names) == 1 else None)

    def _key(self) -> tuple[Any, ...]:
        return (None if self._shape.rank is None else tuple(self._shape), self._dtype,
                self._name)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()  # type: ignore

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"TensorSpec(shape={self._shape}, dtype=tj.{self._dtype.name}, "
                f"name={self._name!r})")

    def __reduce__(self) -> Any:
        return (TensorSpec, (None if self._shape.rank is None else tuple(self._shape),
                             self._dtype, self._name))
