"""`tj.TensorShape`: TensorFlow's shape object, a tuple of ints with `None` for a
dimension unknown until run time.

Invariants:
- A TensorShape of known rank IS a tuple (a subclass): it compares equal to the tuple and
  the list of its dimensions, hashes as the tuple, indexes to ints (or None), and NumPy,
  `len`, unpacking and `isinstance(s, tuple)` take it as one. Slicing, `+` and
  `concatenate` give TensorShapes, as in TensorFlow.
- `TensorShape(None)` is the shape of unknown rank (a private subclass holding no
  dimensions): `rank` is None, `len`, indexing and `as_list()` raise ValueError, as in
  TensorFlow.
- Tensors build a TensorShape only when `.shape` is read; the library itself keeps plain
  tuples (`Tensor._data.shape`, IR types), so eager and compiled calls pay nothing.
- Inside a shape-polymorphic trace, a size known only at run time is the IR's symbol
  (a `Dim`) as an item (`x.shape[0]`, iteration: ops compute with it and take it where a
  size goes), and None in TensorFlow's views: `as_list()`, `dims`, `repr`, `str`;
  the methods treat it as unknown.
"""
from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any, SupportsIndex, overload

import numpy as np

_tuple_new = tuple.__new__
_tuple_eq = tuple.__eq__
_tuple_getitem = tuple.__getitem__


def _dim(d: Any) -> int | None:
    """One dimension as TensorFlow takes it: None, or a non-negative int (anything with
    `__index__`, or an object with an int `.value` such as TensorFlow's Dimension)."""
    if d is None:
        return None
    if not hasattr(d, "__index__") and hasattr(d, "value"):
        d = d.value
        if d is None:
            return None
    try:
        v = operator.index(d)
    except TypeError:
        raise TypeError(f"Dimension value must be integer or None or have an __index__ "
                        f"method, got value {d!r} with type {type(d)}") from None
    if v < 0:
        raise ValueError(f"Dimension {v} must be >= 0")
    return v


class TensorShape(tuple):  # type: ignore[type-arg]
    """The shape of a tensor: a tuple of dimensions, each an int or `None` where the
    size is known only at run time (`x.shape` of a traced tensor under an
    `input_signature` with `None`), as TensorFlow's `tf.TensorShape`.

    >>> s = tj.TensorShape([None, 3])
    >>> s, s.rank, s.as_list(), s.is_fully_defined()
    (TensorShape([None, 3]), 2, [None, 3], False)
    >>> s.merge_with([5, 3]), s == (None, 3), tj.zeros([2, 3]).shape == [2, 3]
    (TensorShape([5, 3]), True, True)
    """

    __slots__ = ()

    def __new__(cls, dims: Any = ()) -> TensorShape:
        if dims is None:
            return _UNKNOWN
        if isinstance(dims, TensorShape):
            return dims
        if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
            dims = (dims,)          # TensorFlow: TensorShape(3) is a vector's shape
        try:
            it = iter(dims)
        except TypeError:
            raise TypeError(f"a TensorShape is made from a list or tuple of dimensions "
                            f"(ints or None), or None; got {dims!r} of type "
                            f"{type(dims).__name__}") from None
        return _tuple_new(TensorShape, tuple(_dim(d) for d in it))

    # ---- TensorFlow's attributes ------------------------------------------------------

    @property
    def rank(self) -> int | None:
        """The number of dimensions (None when the rank is unknown)."""
        return len(self)

    @property
    def ndims(self) -> int | None:
        """The rank (TensorFlow's older name)."""
        return self.rank

    @property
    def dims(self) -> list[int | None] | None:
        """The dimensions as a list (ints or None); None when the rank is unknown."""
        return self.as_list()

    def as_list(self) -> list[int | None]:
        """The dimensions as a list of ints and Nones (None for a size known only at run
        time).

        >>> tj.zeros([2, 3]).shape.as_list()
        [2, 3]
        """
        return [d if type(d) is int else None for d in self]

    def is_fully_defined(self) -> bool:
        """Whether the rank and every dimension are known."""
        return all(type(d) is int for d in self)

    def num_elements(self) -> int | None:
        """The number of elements, or None when a dimension is unknown.

        >>> tj.TensorShape([2, 3]).num_elements(), tj.TensorShape([None, 3]).num_elements()
        (6, None)
        """
        n = 1
        for d in self:
            if type(d) is not int:
                return None
            n *= d
        return n

    def is_compatible_with(self, other: Any) -> bool:
        """Whether the two shapes could describe one tensor: same rank (or either rank
        unknown), and equal sizes where both know them.

        >>> tj.TensorShape([None, 3]).is_compatible_with([7, 3])
        True
        """
        other = as_shape(other)
        if other.rank is None:
            return True
        return len(self) == len(other) and all(
            type(a) is not int or type(b) is not int or a == b for a, b in zip(self, other))

    def assert_is_compatible_with(self, other: Any) -> None:
        """Raise ValueError unless `is_compatible_with(other)`."""
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {self} and {as_shape(other)} are incompatible")

    def merge_with(self, other: Any) -> TensorShape:
        """The most specific shape compatible with both (each unknown size taken from the
        other); ValueError if they are incompatible.

        >>> tj.TensorShape([None, 3]).merge_with([5, None])
        TensorShape([5, 3])
        """
        other = as_shape(other)
        if other.rank is None:
            return self
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {self} and {other} are not compatible")
        return _tuple_new(TensorShape, tuple(b if type(a) is not int else a
                                             for a, b in zip(self, other)))

    def most_specific_compatible_shape(self, other: Any) -> TensorShape:
        """The most specific shape both are compatible with: sizes that differ become None
        (a different rank gives the unknown rank).

        >>> tj.TensorShape([2, 3]).most_specific_compatible_shape([4, 3])
        TensorShape([None, 3])
        """
        other = as_shape(other)
        if other.rank is None or len(other) != len(self):
            return _UNKNOWN
        return _tuple_new(TensorShape, tuple(a if type(a) is int and a == b else None
                                             for a, b in zip(self, other)))

    def concatenate(self, other: Any) -> TensorShape:
        """The dimensions of this shape followed by those of `other`.

        >>> tj.TensorShape([2]).concatenate([None, 4])
        TensorShape([2, None, 4])
        """
        other = as_shape(other)
        if other.rank is None:
            return _UNKNOWN
        return _tuple_new(TensorShape, _tuple_new(tuple, self) + _tuple_new(tuple, other))

    def with_rank(self, rank: int) -> TensorShape:
        """This shape, if it has rank `rank` (else ValueError)."""
        if len(self) != rank:
            raise ValueError(f"Shape {self} must have rank {rank}")
        return self

    def with_rank_at_least(self, rank: int) -> TensorShape:
        """This shape, if its rank is at least `rank` (else ValueError)."""
        if len(self) < rank:
            raise ValueError(f"Shape {self} must have rank at least {rank}")
        return self

    def with_rank_at_most(self, rank: int) -> TensorShape:
        """This shape, if its rank is at most `rank` (else ValueError)."""
        if len(self) > rank:
            raise ValueError(f"Shape {self} must have rank at most {rank}")
        return self

    def assert_has_rank(self, rank: int) -> None:
        """Raise ValueError unless the rank is `rank`."""
        self.with_rank(rank)

    def assert_is_fully_defined(self) -> None:
        """Raise ValueError unless every dimension is known."""
        if not self.is_fully_defined():
            raise ValueError(f"Shape {self} is not fully defined")

    # ---- tuple behaviour, TensorFlow's way ---------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            if isinstance(other, _UnknownRank):
                return False
            return _tuple_eq(self, other)
        try:
            other = as_shape(other)
        except (TypeError, ValueError):
            return NotImplemented
        return not isinstance(other, _UnknownRank) and _tuple_eq(self, other)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = tuple.__hash__

    @overload
    def __getitem__(self, key: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, key: slice) -> TensorShape: ...

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return _tuple_new(TensorShape, _tuple_getitem(self, key))
        return _tuple_getitem(self, key)

    def __add__(self, other: Any) -> TensorShape:  # type: ignore[override]
        return self.concatenate(other)

    def __radd__(self, other: Any) -> TensorShape:
        return as_shape(other).concatenate(self)

    def __repr__(self) -> str:
        return f"TensorShape({self.as_list()!r})"

    def __str__(self) -> str:
        return tuple.__repr__(tuple(self.as_list()))

    def __reduce__(self) -> Any:
        return (TensorShape, (tuple(self),))


class _UnknownRank(TensorShape):
    """`TensorShape(None)`: a shape whose rank is unknown."""

    __slots__ = ()

    @property
    def rank(self) -> int | None:
        return None

    @property
    def dims(self) -> list[int | None] | None:
        return None

    def _no(self, what: str) -> ValueError:
        return ValueError(f"{what} is not defined on an unknown TensorShape.")

    def as_list(self) -> list[int | None]:
        raise self._no("as_list()")

    def is_fully_defined(self) -> bool:
        return False

    def num_elements(self) -> int | None:
        return None

    def is_compatible_with(self, other: Any) -> bool:
        as_shape(other)
        return True

    def merge_with(self, other: Any) -> TensorShape:
        return as_shape(other)

    def most_specific_compatible_shape(self, other: Any) -> TensorShape:
        return self

    def concatenate(self, other: Any) -> TensorShape:
        as_shape(other)
        return self

    def with_rank(self, rank: int) -> TensorShape:
        return _tuple_new(TensorShape, (None,) * rank)

    def with_rank_at_least(self, rank: int) -> TensorShape:
        return self

    def with_rank_at_most(self, rank: int) -> TensorShape:
        return self

    def __len__(self) -> int:
        raise ValueError("Cannot take the length of shape with unknown rank.")

    def __iter__(self) -> Iterator[Any]:
        raise ValueError("Cannot iterate over a shape with unknown rank.")

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return self
        return None

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        if other is None:
            return False
        try:
            return isinstance(as_shape(other), _UnknownRank)
        except (TypeError, ValueError):
            return NotImplemented

    __hash__ = TensorShape.__hash__

    def __repr__(self) -> str:
        return "TensorShape(None)"

    def __str__(self) -> str:
        return "<unknown>"

    def __reduce__(self) -> Any:
        return (TensorShape, (None,))


_UNKNOWN: TensorShape = _tuple_new(_UnknownRank, ())


def as_shape(x: Any) -> TensorShape:
    """`x` as a TensorShape (a TensorShape is returned as it is)."""
    return x if isinstance(x, TensorShape) else TensorShape(x)


def shape_of(dims: tuple[Any, ...]) -> TensorShape:
    """The TensorShape of a type's shape. A dimension known only at run time stays the
    IR's symbol (`n0`, a `Dim`), which ops accept where a size goes (`tj.zeros(x.shape)`
    inside a shape-polymorphic trace); TensorShape's methods treat it as unknown."""
    return _tuple_new(TensorShape, tuple(dims))


def as_none(shape: Any) -> TensorShape:
    """`shape` with every dimension that is not an int (a symbol) as None."""
    return _tuple_new(TensorShape, tuple(d if type(d) is int else None for d in shape))
