"""Flatten nested lists/tuples/dicts into leaves and rebuild them (a small pytree).

Invariant: `unflatten(tree, flatten(x)[0])` rebuilds `x` with the same container types
(lists, tuples, namedtuples, dicts with their key order); every other object is a leaf.
"""
from __future__ import annotations

from typing import Any


def flatten(x: Any) -> tuple[list[Any], Any]:
    leaves: list[Any] = []
    return leaves, _flatten(x, leaves)


def _flatten(x: Any, leaves: list[Any]) -> Any:
    if isinstance(x, dict):
        keys = list(x.keys())
        return ("dict", tuple(keys), tuple(_flatten(x[k], leaves) for k in keys))
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return ("namedtuple", type(x), tuple(_flatten(v, leaves) for v in x))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, None, tuple(_flatten(v, leaves) for v in x))
    leaves.append(x)
    return None


def unflatten(tree: Any, leaves: list[Any]) -> Any:
    it = iter(leaves)
    return _unflatten(tree, it)


def _unflatten(tree: Any, it: Any) -> Any:
    if tree is None:
        return next(it)
    kind, aux, children = tree
    vals = [_unflatten(c, it) for c in children]
    if kind == "dict":
        return dict(zip(aux, vals))
    if kind == "namedtuple":
        return aux(*vals)
    return list(vals) if kind == "list" else tuple(vals)


def leaf_paths(tree: Any, root: str, tf_names: bool = False) -> list[str]:
    """A readable path per leaf of a `flatten` tree, e.g. `loop_vars[1]['h']`; with
    `tf_names`, TensorFlow's argument names for nested specs, e.g. `loop_vars_1_h`."""
    out: list[str] = []

    def walk(t: Any, path: str) -> None:
        if t is None:
            out.append(path)
            return
        kind, aux, children = t
        for i, c in enumerate(children):
            key = aux[i] if kind == "dict" else i
            walk(c, f"{path}_{key}" if tf_names else
                 f"{path}[{key!r}]" if kind == "dict" else f"{path}[{i}]")
    walk(tree, root)
    return out
