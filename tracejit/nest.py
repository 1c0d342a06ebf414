"""`tj.nest`: TensorFlow's `tf.nest`, for structures of lists, tuples, namedtuples and
dicts (everything else, None included, is a leaf).

As TensorFlow's: `flatten` takes a dict's values in sorted key order (`pack_sequence_as`
fills them in that order and keeps the dict's own key order); structures compare by their
containers' types unless `check_types=False` (a list and a tuple of the same length then
match), and dicts by their keys. tracejit's own tree functions (`trees`, insertion order)
are separate.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["assert_same_structure", "flatten", "is_nested", "map_structure",
           "pack_sequence_as"]


def is_nested(seq: Any) -> bool:
    """Whether `seq` is a list, tuple (namedtuples included) or dict.

    >>> tj.nest.is_nested([1]), tj.nest.is_nested(1)
    (True, False)
    """
    return isinstance(seq, (list, tuple, dict))


def _children(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [x[k] for k in _sorted_keys(x)]
    return list(x)


def _sorted_keys(d: dict[Any, Any]) -> list[Any]:
    try:
        return sorted(d)
    except TypeError:
        raise TypeError(f"nest: the keys of a dict must be sortable, got {list(d)!r}") from None


def flatten(structure: Any, expand_composites: bool = False) -> list[Any]:
    """The leaves of `structure`, depth first, a dict's values in sorted key order.

    >>> tj.nest.flatten({"b": [1, (2, 3)], "a": 4})
    [4, 1, 2, 3]
    """
    out: list[Any] = []

    def walk(x: Any) -> None:
        if is_nested(x):
            for c in _children(x):
                walk(c)
        else:
            out.append(x)
    walk(structure)
    return out


def _rebuild(x: Any, children: list[Any]) -> Any:
    if isinstance(x, dict):
        by_key = dict(zip(_sorted_keys(x), children))
        return type(x)((k, by_key[k]) for k in x) if type(x) is not dict else \
            {k: by_key[k] for k in x}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*children)
    return type(x)(children)


def pack_sequence_as(structure: Any, flat_sequence: Any,
                     expand_composites: bool = False) -> Any:
    """`flat_sequence`'s items arranged as `structure` (the inverse of `flatten`);
    ValueError when the counts differ.

    >>> tj.nest.pack_sequence_as({"b": [0, 0], "a": 0}, [1, 2, 3])
    {'b': [2, 3], 'a': 1}
    """
    items = list(flat_sequence)
    n = len(flatten(structure))
    if n != len(items):
        raise ValueError(f"Could not pack sequence. Structure had {n} atoms, but "
                         f"flat_sequence had {len(items)} items.  Structure: {structure!r}, "
                         f"flat_sequence: {items!r}.")
    it = iter(items)

    def build(x: Any) -> Any:
        if not is_nested(x):
            return next(it)
        return _rebuild(x, [build(c) for c in _children(x)])
    return build(structure)


def assert_same_structure(nest1: Any, nest2: Any, check_types: bool = True,
                          expand_composites: bool = False) -> None:
    """ValueError unless `nest1` and `nest2` nest alike (the same lengths, dict keys and
    leaf positions); with `check_types`, TypeError where their containers' types differ.

    >>> tj.nest.assert_same_structure([1, (2, 3)], [4, (5, 6)])
    """
    def fail(kind: type[Exception]) -> Exception:
        return kind(f"The two structures don't have the same nested structure.\n\nFirst "
                    f"structure: type={type(nest1).__name__} str={nest1!r}\n\nSecond "
                    f"structure: type={type(nest2).__name__} str={nest2!r}")

    def walk(a: Any, b: Any) -> None:
        if is_nested(a) != is_nested(b):
            raise fail(ValueError)
        if not is_nested(a):
            return
        if check_types and type(a) is not type(b):
            raise fail(TypeError)
        if isinstance(a, dict) != isinstance(b, dict) or len(a) != len(b):
            raise fail(ValueError)
        if isinstance(a, dict) and _sorted_keys(a) != _sorted_keys(b):
            raise fail(ValueError)
        for x, y in zip(_children(a), _children(b)):
            walk(x, y)
    walk(nest1, nest2)


def map_structure(func: Callable[..., Any], *structure: Any, check_types: bool = True,
                  expand_composites: bool = False) -> Any:
    """`func` applied to the leaves of the structures at each position (all of the same
    structure), arranged as the first.

    >>> tj.nest.map_structure(lambda x, y: x + y, [1, (2,)], [10, (20,)])
    [11, (22,)]
    """
    if not structure:
        raise ValueError("map_structure: needs at least one structure")
    for other in structure[1:]:
        assert_same_structure(structure[0], other, check_types=check_types)
    columns: Iterator[tuple[Any, ...]] = zip(*(flatten(s) for s in structure))
    return pack_sequence_as(structure[0], [func(*c) for c in columns])


def __dir__() -> list[str]:
    """`dir(tj.nest)`: the public names only (not this module's imports)."""
    return sorted(__all__ + [n for n in globals() if n.startswith("__") and n.endswith("__")])
