"""Reverse-mode autodiff as an IR-to-IR pass.

`vjp(fn, sources)` takes a forward Function and some of its values (parameters or
intermediates) and builds a *gradient Function*: its parameters are the forward values the
VJP rules need (residuals) followed by one cotangent seed per forward result; its results
are the cotangents of the connected sources. The gradient is built only from primitives
(each rule calls `bind` inside a `Builder`), so replaying it under a tape records it, and
differentiating it again gives higher orders with no special case.

Invariants: cotangents are summed over fan-out; each one is summed back to its operand's
shape here (`ops.sum_to_shape`), never in a rule; only float values carry cotangents;
the outputs of a primitive declared `gradient="none"` (TensorFlow registers no gradient
for it: `floor`, `stop_gradient`, ...) are constants to the pass, and one declared
`gradient="zero"` (`sign`) passes explicit zeros on; a source that receives no cotangent
(the results do not depend on it through differentiable instructions, or the rules on
the way give None for it) is reported as unconnected.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Sequence

from . import ops
from .core import FLOAT_DTYPES, Builder, Function, Instr, Value, interpreting
from .errors import IRError
from .passes.dce import dce
from .prims import get_primitive

VjpRule = Callable[..., Sequence[Any]]


@dataclass
class GradFunction:
    """A gradient Function and how to call it.

    `fn` takes `residuals` (values of the forward Function, in order), then `extra_params`
    (parameters that overriding rules added to the builder, e.g. tensors a user-defined
    gradient captured; the caller knows what they stand for), then one seed per forward
    result; it returns one cotangent per *connected* source, in source order
    (`connected[i]` tells whether source i has a result)."""

    fn: Function
    residuals: list[Value]
    connected: list[bool]
    n_seeds: int = 1
    extra_params: list[Value] = field(default_factory=list)


def _is_float(v: Value) -> bool:
    return v.type.dtype in FLOAT_DTYPES


def vjp(fn: Function, sources: Sequence[Value], *, name: str | None = None,
        rules: dict[int, VjpRule] | None = None) -> GradFunction:
    """Build the gradient of `fn`'s results with respect to `sources`.

    `rules` overrides the VJP rule of single instructions (keyed by `id(instr)`), which is
    how user-defined gradients (`custom_gradient`) enter the pass.
    Example: `g = vjp(f, [f.params[0]]); evaluate(g.fn, [x, seed])`."""
    rules = rules or {}
    defined = {id(p) for p in fn.params}
    for ins in fn.instrs:
        defined.update(id(o) for o in ins.outs)
    for s in sources:
        if id(s) not in defined:
            raise IRError(f"source {s!r} is not a value of @{fn.name}")

    # Forward: which values depend on a source (only those carry cotangents).
    active = {id(s) for s in sources if _is_float(s)}
    for ins in fn.instrs:
        if id(ins) not in rules and get_primitive(ins.prim).gradient == "none":
            continue
        if any(id(x) in active for x in ins.inputs):
            active.update(id(o) for o in ins.outs if _is_float(o))

    # Backward: which active values reach a result.
    reach = {id(r) for r in fn.results if id(r) in active}
    needed: list[Instr] = []
    for ins in reversed(fn.instrs):
        if any(id(o) in reach for o in ins.outs) and any(id(x) in active for x in ins.inputs):
            needed.append(ins)
            reach.update(id(x) for x in ins.inputs if id(x) in active)

    b = Builder(name or f"grad_{fn.name}")
    residual_param: dict[int, Value] = {}
    residuals: list[Value] = []

    def primal(v: Value) -> Value:
        p = residual_param.get(id(v))
        if p is None:
            p = b.param(v.type, v.hint)
            residual_param[id(v)] = p
            residuals.append(v)
        return p

    seeds = [Value(r.type, "seed") for r in fn.results]
    for s in seeds:
        b.defined.add(id(s))
    ct: dict[int, Value] = {}

    with interpreting(b):
        def accumulate(v: Value, c: Value) -> None:
            if c.type.dtype != v.type.dtype:
                raise IRError(f"a VJP rule gave a {c.type} cotangent for a {v.type} value")
            c = ops.sum_to_shape(c, v.type.shape)
            if tuple(c.type.shape) != v.type.shape:
                raise IRError(f"cotangent {c.type} does not fit value {v.type}")
            prev = ct.get(id(v))
            ct[id(v)] = c if prev is None else ops.add(prev, c)

        for r, s in zip(fn.results, seeds):
            if id(r) in active:
                accumulate(r, s)

        for ins in needed:
            gs = [ct.get(id(o)) for o in ins.outs]
            if all(g is None for g in gs):
                continue
            gs = [g if g is not None else ops.full(o.type.shape, 0, o.type.dtype)
                  for g, o in zip(gs, ins.outs)]
            rule = rules.get(id(ins)) or get_primitive(ins.prim).vjp
            if rule is None:
                raise IRError(f"primitive {ins.prim} has no VJP rule")
            ins_p = [primal(x) for x in ins.inputs]
            outs_p = [primal(o) for o in ins.outs]
            g_arg = gs[0] if len(gs) == 1 else tuple(gs)
            out_arg = outs_p[0] if len(outs_p) == 1 else tuple(outs_p)
            cts = rule(g_arg, *ins_p, out=out_arg, **ins.params)
            if len(cts) != len(ins.inputs):
                raise IRError(f"VJP rule of {ins.prim} returned {len(cts)} cotangents for "
                              f"{len(ins.inputs)} operands")
            # A primitive whose gradient is zero everywhere (TensorFlow's sign) keeps its
            # operands connected: they get explicit zeros, which flow on like any cotangent.
            zero = id(ins) not in rules and get_primitive(ins.prim).gradient == "zero"
            for x, c in zip(ins.inputs, cts):
                if c is None and zero:
                    c = ops.full(x.type.shape, 0, x.type.dtype)
                if c is not None and id(x) in active:
                    accumulate(x, c)

        # Connected = a cotangent arrived: a rule that gives None for an operand (a custom
        # gradient's None, a callee result that does not depend on a parameter) leaves it
        # unconnected unless another path reaches it, as in TensorFlow.
        results, connected = [], []
        for s in sources:
            c = ct.get(id(s))
            connected.append(c is not None)
            if c is not None:
                results.append(c)

    res_ids = {id(p) for p in residual_param.values()}
    extras = [p for p in b.params if id(p) not in res_ids]
    b.params.extend(seeds)
    g = dce(b.build(results))
    live = {id(x) for ins in g.instrs for x in ins.inputs} | {id(r) for r in g.results}
    keep = [i for i, v in enumerate(residuals) if id(residual_param[id(v)]) in live]
    params = [residual_param[id(residuals[i])] for i in keep] + extras + seeds
    g = Function(g.name, params, g.instrs, g.results)
    return GradFunction(g, [residuals[i] for i in keep], connected, len(seeds), extras)
