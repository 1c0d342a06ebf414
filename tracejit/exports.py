"""The one table of public op names: which function or value `tj`, `tj.math`, `tj.nn`,
`tj.linalg` and `tj.numpy` (`tj.experimental.numpy`) show under which name.

Each op is entered where it is defined, by a decorator naming every path it is public
under (TensorFlow's `tf_export`)::

    @export("add", "math.add")
    def add(x, y, name=None): ...

and the namespaces, their `__all__` and the name listings of their docstrings are built
from the table, so a new op is public, and listed, through that one line.

Invariants: a path is entered once (a second entry raises); a namespace is one of
`NAMESPACES` ("" is `tj` itself); the table is complete once `tracejit` is imported.
"""
from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any, TypeVar

NAMESPACES = ("", "math", "nn", "linalg", "random", "numpy", "autodiff", "debugging")
TABLE: dict[str, dict[str, Any]] = {ns: {} for ns in NAMESPACES}
F = TypeVar("F")
G = TypeVar("G", bound=Callable[..., Any])


def public(obj: F, *paths: str) -> F:
    """Enter `obj` under each of `paths` ("name" or "namespace.name"); returns `obj`.
    Example: `float32 = public(np.dtype(np.float32), "float32")`."""
    for path in paths:
        ns, _, name = path.rpartition(".")
        if ns not in TABLE:
            raise ValueError(f"export {path!r}: unknown namespace {ns!r}; one of {NAMESPACES}")
        if name in TABLE[ns]:
            raise ValueError(f"export {path!r}: entered twice")
        TABLE[ns][name] = obj
    return obj


def export(*paths: str) -> Callable[[F], F]:
    """Decorator: enter the function under each of `paths` (see `public`)."""
    def deco(fn: F) -> F:
        return public(fn, *paths)
    return deco


def named(fn: G, *paths: str, doc: str | None = None) -> G:
    """Enter `fn`, a function that a factory made for one op, under `paths` (see `public`),
    named after the first path (its `__name__`, `__qualname__` and code) and with the docstring
    `doc` (its indentation removed) when one is given. The op wrappers that differ only in
    the primitive they bind are made so, one line each::

        def _unary_op(prim: str, *paths: str) -> UnaryOp:
            def op(x: TensorInput, name: str | None = None) -> Tensor:
                return bind(prim, convert_to_tensor(x))
            return named(op, *paths)

        exp = _unary_op("exp", "exp", "math.exp")
    """
    short = paths[0].rpartition(".")[2]
    fn.__name__ = fn.__qualname__ = short
    # A code object of its own, named after the op: tracebacks show the op's name, and
    # tools that tell functions apart by their code (`opstable`'s profiler) see one each.
    fn.__code__ = fn.__code__.replace(co_name=short)
    if doc is not None:
        fn.__doc__ = inspect.cleandoc(doc)
    return public(fn, *paths)


def names(ns: str) -> list[str]:
    """The public names of namespace `ns`, sorted."""
    return sorted(TABLE[ns])


def listing(ns: str) -> str:
    """The names of `ns`, one a line with the first paragraph of each function's docstring
    (the name listing of the namespace's docstring)."""
    lines = []
    for n in names(ns):
        obj = TABLE[ns][n]
        doc = (getattr(obj, "__doc__", None) or "").strip()
        first = " ".join(doc.split("\n\n")[0].split())       # the first paragraph
        lines.append(f"    {n}" + (f": {first}" if first and callable(obj) else ""))
    return "\n".join(lines)


def namespace(ns: str, summary: str) -> types.ModuleType:
    """A module object holding exactly the names of `ns` (`tj.math`, `tj.linalg`), whose
    docstring is `summary` followed by their listing."""
    mod = types.ModuleType(f"tracejit.{ns}", f"{summary}\n\nNames:\n\n{listing(ns)}\n")
    mod.__dict__.update(TABLE[ns])
    mod.__all__ = names(ns)  # type: ignore[attr-defined]
    return mod
