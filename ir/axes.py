"""Axis, axes and permutation arguments: every range check in one place.

Two layers use it. The user API (`tracejit.ops`, `tracejit.nn`) normalizes what a user
wrote (negative axes, one int or a list, `None` for all) with `normalize_axis`,
`normalize_axes` and `normalize_perm`; primitives declare which of their parameters are
axes (`Primitive(axis_params=...)`) and `check_params` verifies the canonical values
before any shape rule runs, so no op can take an axis modulo the rank.

Invariants: a valid axis of a tensor of rank r lies in [-r, r) (an insertion point, as
`expand_dims` takes, in [-r-1, r]); normalized axes are non-negative Python ints; an
out-of-range value raises `AxisError` (a ValueError and an IndexError, as NumPy's) whose
message names the op, the argument, its value and the rank; a value of the wrong type
raises TypeError; a repeated axis or a list that is no permutation raises ShapeError.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from .errors import AxisError, ShapeError


def _valid(rank: int, extra: int) -> str:
    n = rank + extra
    if n == 0:
        return "a scalar has no axes"
    return f"valid: {-n}..{n - 1}"


def _items(op: str, arg: str, value: Any) -> list[Any]:
    """`value` as a flat list of ints, or TypeError (an eager tensor or array is read)."""
    if hasattr(value, "numpy") or isinstance(value, np.ndarray):
        value = np.asarray(value).tolist()
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for a in items:
        if not isinstance(a, (int, np.integer)) or isinstance(a, (bool, np.bool_)):
            what = "a list of ints" if isinstance(a, (list, tuple)) else "an int or a list of ints"
            raise TypeError(f"{op}: {arg} must be {what}, got {value!r}")
    return items


def normalize_axis(op: str, arg: str, value: Any, rank: int, *, extra: int = 0) -> int:
    """`value` as an axis in [0, rank + extra) (negative counts from the end). `extra=1`
    is for an insertion point (`expand_dims`, `stack`). Example:
    `normalize_axis("concat", "axis", -1, 3) == 2`."""
    items = _items(op, arg, value)
    if len(items) != 1 or isinstance(value, (list, tuple)):
        raise TypeError(f"{op}: {arg} must be an int, got {value!r}")
    n = rank + extra
    a = int(items[0])
    if not -n <= a < n:
        raise AxisError(f"{op}: {arg}={a} is out of range for a tensor of rank {rank} "
                        f"({_valid(rank, extra)})")
    return a % n


def normalize_axes(op: str, arg: str, value: Any, rank: int) -> tuple[int, ...]:
    """`value` (None for all axes, an int or a list of ints) as sorted distinct axes.
    Example: `normalize_axes("reduce_sum", "axis", [-1, 0], 3) == (0, 2)`."""
    if value is None:
        return tuple(range(rank))
    out = []
    for a in _items(op, arg, value):
        if not -rank <= a < rank:
            shown = (f"{value!r} holds {int(a)}," if isinstance(value, (list, tuple))
                     else f"{int(a)} is")
            raise AxisError(f"{op}: {arg}={shown} out of range for a tensor of rank {rank} "
                            f"({_valid(rank, 0)})")
        out.append(int(a) % rank)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: {arg}={value!r} has a repeated axis")
    return tuple(sorted(out))


def normalize_perm(op: str, arg: str, value: Any, rank: int) -> tuple[int, ...]:
    """`value` as a permutation of range(rank) (negative entries count from the end).
    Example: `normalize_perm("transpose", "perm", [0, -1, 1], 3) == (0, 2, 1)`."""
    if hasattr(value, "numpy") or isinstance(value, np.ndarray):
        value = np.asarray(value).tolist()
    if not isinstance(value, (list, tuple)) or any(isinstance(p, (list, tuple)) for p in value):
        raise ShapeError(f"{op}: {arg} must be a flat list of {rank} ints (a permutation of "
                         f"the axes of a tensor of rank {rank}), got {value!r}")
    items = _items(op, arg, value)
    for p in items:
        if not -rank <= p < rank:
            raise AxisError(f"{op}: {arg}={value!r} holds {int(p)}, out of range for a "
                            f"tensor of rank {rank} ({_valid(rank, 0)})")
    out = tuple(int(p) % rank for p in items)
    if sorted(out) != list(range(rank)):
        raise ShapeError(f"{op}: {arg}={value!r} is not a permutation of the {rank} axes "
                         f"of a tensor of rank {rank}")
    return out


# ------------------------------------------------------------------ primitive parameters

Rank = Callable[[Sequence[Any], dict[str, Any]], int]


def _rank_of_first(in_types: Sequence[Any], params: dict[str, Any]) -> int:
    return len(in_types[0].shape)


@dataclass(frozen=True)
class AxisParam:
    """A primitive parameter that names axes: `kind` is "axis" (one int), "axes" (a
    sorted tuple of distinct ints) or "perm" (a permutation); `rank` gives the rank the
    axes refer to (by default the first operand's)."""
    kind: str
    rank: Rank = _rank_of_first


def check_params(op: str, decl: dict[str, AxisParam], in_types: Sequence[Any],
                 params: dict[str, Any]) -> None:
    """Verify the canonical axis parameters `decl` of a bound primitive: non-negative
    ints below the rank; "axes" sorted and distinct; "perm" a permutation of range(rank)."""
    for name, d in decl.items():
        value = params[name]
        if not in_types and d.rank is _rank_of_first:
            continue                  # the shape rule says that an operand is missing
        rank = d.rank(in_types, params)
        if d.kind == "axis":
            items = _items(op, name, value)
            if isinstance(value, (list, tuple)):
                raise TypeError(f"{op}: {name} must be an int, got {value!r}")
        elif d.kind == "perm":
            items = _items(op, name, value) if isinstance(value, (list, tuple)) else [None]
            if items == [None] or any(isinstance(p, (list, tuple)) for p in value):
                raise ShapeError(f"{op}: {name} must be a tuple of ints, got {value!r}")
        else:
            items = _items(op, name, value)
        for a in items:
            if not 0 <= a < rank:
                valid = f"valid: 0..{rank - 1}" if rank else "a scalar has no axes"
                raise AxisError(f"{op}: {name}={value!r} is out of range for an operand of "
                                f"rank {rank} ({valid})")
        if d.kind == "axes" and list(value) != sorted(set(value)):
            raise ShapeError(f"{op}: {name}={value!r} must be sorted and distinct")
        if d.kind == "perm" and sorted(value) != list(range(rank)):
            raise ShapeError(f"{op}: {name}={value!r} is not a permutation of the {rank} "
                             f"axes of its operand")
