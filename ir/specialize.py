"""Binding the unknown dimensions of a Function: `specialize(fn, env)`.

A Function traced with unknown dimensions (`dims.Dim` in its types) serves every shape
that matches them. `bind_arguments` reads the symbols' values off the arguments' shapes;
`specialize` gives the same Function with every symbol replaced by its value (in types,
in params such as `reshape`'s shape, and in nested Functions), running every shape rule
again on the concrete types. That is also the run-time check of what the trace had to
assume (`n0 == n1` when two unknown dimensions broadcast, matmul's inner dimensions): a
false assumption raises the shape rule's own error, the one eager mode gives, or a
`ShapeError` naming the concrete shapes and the assumed ones.

Invariants:
- A `call`'s callee has symbols of its own: they are bound from the call's operand types
  (`bind_call`), so one symbolic Function can be called with any matching operands.
- Region bodies (while, cond, scan) share the symbols of the Function holding them.
- The result holds no symbol when `env` binds every symbol of `fn`'s parameters.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import dims
from .core import Function, Instr, TensorType, Value
from .dims import Dim, DimLike
from .errors import ShapeError
from .prims.registry import get_primitive


def is_symbolic(fn: Function) -> bool:
    """Whether any type in `fn` (nested Functions included) has an unknown dimension."""
    return _symbolic(fn, set())


def _symbolic(fn: Function, seen: set[int]) -> bool:
    if id(fn) in seen:
        return False
    seen.add(id(fn))
    if any(p.type.symbolic for p in fn.params):
        return True
    for ins in fn.instrs:
        if any(o.type.symbolic for o in ins.outs):
            return True
        for v in ins.params.values():
            if dims.has_dim(v) or any(_symbolic(g, seen) for g in _functions(v)):
                return True
    return False


def _functions(v: Any) -> list[Function]:
    if isinstance(v, Function):
        return [v]
    if isinstance(v, (tuple, list)):
        return [g for e in v for g in _functions(e)]
    return []


def bind_arguments(fn: Function, shapes: Sequence[Sequence[int]]) -> dict[str, int]:
    """The value of each symbol of `fn`'s parameters for arguments of these shapes;
    ShapeError naming the expected and the actual shape when they do not match."""
    return dims.bind_shapes([p.type.shape for p in fn.params], shapes)


def bind_call(fn: Function, in_types: Sequence[TensorType]) -> dict[str, DimLike] | None:
    """The symbols of callee `fn` bound by operands of `in_types` (which may hold symbols
    of the caller), or None when the operands cannot match its parameters."""
    if len(in_types) != len(fn.params):
        return None
    env: dict[str, DimLike] = {}
    pending: list[tuple[Dim, DimLike]] = []
    for p, t in zip(fn.params, in_types):
        if p.type.dtype != t.dtype or p.type.ndim != t.ndim:
            return None
        d: Any
        a: Any
        for d, a in zip(p.type.shape, t.shape):
            if type(d) is Dim and d.coef == 1 and len(d.syms) == 1:
                if env.setdefault(d.syms[0], a) is not a and env[d.syms[0]] != a:
                    return None
            elif type(d) is Dim:
                pending.append((d, a))
            elif d != a:
                return None
    for d, a in pending:
        try:
            v = _eval(d, env)
        except KeyError:
            return None
        if v is not a and v != a:
            return None
    return env


def _eval(d: DimLike, env: Mapping[str, DimLike]) -> DimLike:
    if type(d) is not Dim:
        return d
    n: DimLike = d.coef
    for s in d.syms:
        n = n * env[s]
    return n


def substitute_type(t: TensorType, env: Mapping[str, DimLike]) -> TensorType:
    if not t.symbolic:
        return t
    shape: tuple[Any, ...] = tuple(_eval(d, env) for d in t.shape)
    return TensorType.make(shape, t.dtype)


def substitute_param(v: Any, env: Mapping[str, DimLike]) -> Any:
    if type(v) is Dim:
        return _eval(v, env)
    if isinstance(v, tuple) and dims.has_dim(v):
        return tuple(substitute_param(e, env) for e in v)
    return v


def specialize(fn: Function, env: Mapping[str, DimLike]) -> Function:
    """`fn` with its symbols bound by `env` (see the module docstring); raises the shape
    error of the first instruction whose operands break what the trace assumed."""
    return _Specializer(env).function(fn)


class _Specializer:
    def __init__(self, env: Mapping[str, DimLike]):
        self.env = dict(env)
        self.done: dict[int, Function] = {}

    def function(self, fn: Function) -> Function:
        hit = self.done.get(id(fn))
        if hit is not None:
            return hit
        if not is_symbolic(fn):
            self.done[id(fn)] = fn
            return fn
        vals: dict[int, Value] = {}
        params = []
        for p in fn.params:
            q = Value(substitute_type(p.type, self.env), p.hint)
            vals[id(p)] = q
            params.append(q)
        instrs = [self.instr(ins, vals) for ins in fn.instrs]
        out = Function(fn.name, params, instrs, [vals[id(r)] for r in fn.results])
        self.done[id(fn)] = out
        return out

    def param(self, v: Any) -> Any:
        if isinstance(v, Function):
            return self.function(v)
        if isinstance(v, tuple) and _functions(v):
            return tuple(self.param(e) for e in v)
        return substitute_param(v, self.env)

    def instr(self, ins: Instr, vals: dict[int, Value]) -> Instr:
        inputs = [vals[id(x)] for x in ins.inputs]
        in_types = [x.type for x in inputs]
        if ins.prim == "call" and isinstance(ins.params.get("fn"), Function):
            callee: Function = ins.params["fn"]
            cenv = bind_call(callee, in_types)
            params = dict(ins.params)
            if cenv is not None:
                params["fn"] = _Specializer(cenv).function(callee)
        else:
            params = {k: self.param(v) for k, v in ins.params.items()}
        prim = get_primitive(ins.prim)
        types = prim.infer(in_types, params)       # the eager error when assumptions fail
        outs = []
        for o, t in zip(ins.outs, types):
            want = substitute_type(o.type, self.env)
            if want != t:
                shown = ", ".join(str(x) for x in in_types)
                bound = ", ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
                raise ShapeError(f"{ins.prim}: operands {shown} give {t}, but the trace "
                                 f"assumed {o.type} ({bound}); unknown dimensions that "
                                 "broadcast against each other must be equal")
            outs.append(Value(t, getattr(o, "hint", None)))
            vals[id(o)] = outs[-1]
        return Instr(ins.prim, inputs, params, outs)
