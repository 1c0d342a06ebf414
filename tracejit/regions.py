"""Tracing Python callables into the nested Functions of region instructions.

`trace_region(f, types, tree, name)` calls `f` on traced tensors of `types` (arranged as
the structure `tree`) inside a trace of its own, and returns what it built. Tensors of an
enclosing trace, eager tensors and Variables that `f` reads become *captures*; a region
instruction passes them in as its leading operands (`consts`), and `close` gives every
nested Function of one instruction the same leading parameters, one per capture.

Invariants: tapes active outside never see the operations of a region's trace (the
region instruction itself is what they record); the enclosing trace learns the user's line
of every indexing op inside the region (`TraceState.origins`: it names an index error); a
Variable assigned inside a region is refused (carry its value as a loop variable instead);
results that are Python numbers become constants of the expected dtype. The `assert`s a
region traced (`TraceState.checks`) leave it as one extra bool result (`join_checks`):
the region instruction returns it and the enclosing trace keeps it among its own checks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from .context import TraceInterpreter, TraceState, active_tapes, tracing
from .errors import TracingError, at_user_line
from .ir.core import Function, TensorType, Value, interpreting
from .ir.prims.registry import get_primitive
from .trees import flatten, unflatten
from .tensor import Tensor
from .variable import Variable


@dataclass
class Region:
    """A traced callable: its state, parameters, result Values and result structure."""
    state: TraceState
    params: list[Value]
    results: list[Value]
    out_tree: Any
    name: str


def type_of(t: Any) -> TensorType:
    return TensorType(tuple(t.shape), t.dtype)


def as_tensor(x: Any, dtype: Any = None) -> Tensor:
    from .ops import constant, convert_to_tensor
    if isinstance(x, Variable):
        return x.value()
    if isinstance(x, Tensor):
        return x
    if dtype is not None and isinstance(x, (bool, int, float, np.number, np.ndarray)):
        return constant(x, dtype=dtype)
    return convert_to_tensor(x)


def fn_name(f: Any, default: str) -> str:
    n = getattr(f, "__name__", "")
    return n if n.isidentifier() and not n.startswith("<") else default


def trace_region(f: Callable[..., Any], types: Sequence[TensorType], tree: Any, name: str,
                 call: Callable[[Callable[..., Any], Any], Any],
                 expect: Sequence[TensorType] | None = None) -> Region:
    """Trace `call(f, args)` where `args` is `tree` rebuilt from traced tensors of `types`.
    `expect` gives the dtypes Python-number results take (by position)."""
    st = TraceState(name)
    params = [st.builder.param(t) for t in types]
    args = unflatten(tree, [st.wrap(p) for p in params]) if tree is not None or params else []
    saved = active_tapes.set(())
    try:
        with interpreting(TraceInterpreter(st)):
            out = call(f, args)
            leaves, out_tree = flatten(out)
            vals: list[Any] = []
            for i, x in enumerate(leaves):
                want = expect[i].dtype if expect is not None and i < len(expect) else None
                t = as_tensor(x, want)
                vals.append(st.value_of(t) if t._trace is not st else t._val)
    finally:
        active_tapes.reset(saved)
        st.closed = True
    outer = tracing()
    if outer is not None:       # the user's lines of indexing ops inside the region too
        outer.origins.update(st.origins)
        outer.explain.update(st.explain)
    if st.assigned:
        names = ", ".join(repr(v.name) for v in st.assigned.values())
        raise at_user_line(TracingError(
            f"{name}: assigning Variable(s) {names} inside a loop body or branch is not "
            "supported; carry the value as a loop variable and assign after the loop"))
    return Region(st, params, vals, out_tree, name)


BOOL = TensorType((), np.dtype(np.bool_))


def join_checks(r: Region) -> Value | None:
    """One bool scalar of `r`'s trace that is true when all its `assert`s passed (their
    results joined by logical_and), or None when it has none. The region instruction
    returns it and the enclosing trace keeps it (`TraceState.checks`), so the asserts are
    never pruned."""
    checks = r.state.checks
    if not checks:
        return None
    ok = checks[0]
    for c in checks[1:]:
        (ok,) = r.state.builder.emit(get_primitive("logical_and"), [ok, c], {})
    return ok


def true_in(r: Region) -> Value:
    """A constant true bool scalar in `r`'s trace (the joined checks of a region that has
    none, beside one that has)."""
    (v,) = r.state.builder.emit(get_primitive("constant"), [], {"value": np.array(True)})
    return v


def close(regions: Sequence[Region]) -> tuple[list[Function], list[Any]]:
    """The Functions of `regions`, each taking one leading parameter per object any of them
    captured (in a common order), and those objects (the operands to pass)."""
    objs: list[Any] = []
    index: dict[int, int] = {}
    for r in regions:
        for _, obj in r.state.captures:
            if id(obj) not in index:
                index[id(obj)] = len(objs)
                objs.append(obj)
    fns = []
    for r in regions:
        mine = {id(obj): p for p, obj in r.state.captures}
        consts = [mine.get(id(o)) or Value(type_of(o), "capture") for o in objs]
        fns.append(Function(r.name, consts + r.params, r.state.builder.instrs, r.results))
    return fns, objs


def describe_types(ts: Sequence[TensorType]) -> str:
    return "(" + ", ".join(str(t) for t in ts) + ")"


def describe_structure(tree: Any, types: Sequence[TensorType]) -> str:
    """A `flatten` tree written out with the leaves' types, e.g. `[f64[2], {'n': i32[]}]`."""
    it = iter(types)

    def walk(t: Any) -> str:
        if t is None:
            return str(next(it, "?"))
        kind, aux, children = t
        parts = [walk(c) for c in children]
        if kind == "dict":
            return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(aux, parts)) + "}"
        if kind == "list":
            return "[" + ", ".join(parts) + "]"
        name = aux.__name__ if kind == "namedtuple" else ""
        return name + "(" + ", ".join(parts) + ("," if len(parts) == 1 and not name else "") + ")"
    return walk(tree)


def check_types(what: str, paths: Sequence[str], want: Sequence[TensorType],
                got: Sequence[TensorType], when: str) -> None:
    """Raise a TypeError naming the first leaf whose type differs."""
    for p, w, g in zip(paths, want, got):
        if w != g:
            raise at_user_line(TypeError(
                f"{what}: {p} has type {w} on entry but {g} {when}; a loop variable must "
                "keep its shape and dtype (tracejit shapes are static)"))


def same_structure(a: Any, b: Any) -> bool:
    return _strip(a) == _strip(b)


def _strip(t: Any) -> Any:
    """A tree with namedtuple classes and list/tuple kinds kept, comparable with ==."""
    if t is None:
        return None
    kind, aux, children = t
    return (kind, aux, tuple(_strip(c) for c in children))
