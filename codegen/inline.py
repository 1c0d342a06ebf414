"""Inlining of `call` instructions before lowering: native code has no calls.

Invariants: `inline_calls(fn)` returns a Function with the same parameters (the very same
Value objects), the same result types, and no `call` or `custom_vjp` instruction at any
depth (a `custom_vjp` only matters to autodiff: natively it is its forward results). Each
inlined copy of a callee gets fresh Values, so a callee called twice is two independent
pieces of the flat function; `fn` itself is never modified.
"""
from __future__ import annotations

from ..ir import Function, Instr, Value


_GONE = ("call", "custom_vjp")


def inline_calls(fn: Function) -> Function:
    """`fn` with every `call` replaced by the callee's instructions (recursively).

    Example: `flat = inline_calls(fn); assert all(i.prim != "call" for i in flat.instrs)`."""
    if not any(ins.prim in _GONE for ins in fn.instrs):
        return fn
    env: dict[int, Value] = {id(p): p for p in fn.params}
    instrs: list[Instr] = []
    _inline_into(fn, env, instrs, fresh=False)
    return Function(fn.name, fn.params, instrs, [env[id(r)] for r in fn.results])


def _inline_into(fn: Function, env: dict[int, Value], instrs: list[Instr], fresh: bool) -> None:
    """Append `fn`'s instructions to `instrs`, mapping values through `env`."""
    for ins in fn.instrs:
        inputs = [env[id(x)] for x in ins.inputs]
        if ins.prim == "custom_vjp":
            n_in, n_out = ins.params["n_in"], ins.params["n_out"]
            for o, y in zip(ins.outs, inputs[n_in:n_in + n_out]):
                env[id(o)] = y
            continue
        if ins.prim == "call":
            callee: Function = ins.params["fn"]
            inner: dict[int, Value] = {id(p): a for p, a in zip(callee.params, inputs)}
            _inline_into(callee, inner, instrs, fresh=True)
            for o, r in zip(ins.outs, callee.results):
                env[id(o)] = inner[id(r)]
            continue
        outs = [Value(o.type, o.hint) for o in ins.outs] if fresh else ins.outs
        instrs.append(Instr(ins.prim, inputs, ins.params, outs))
        for o, n in zip(ins.outs, outs):
            env[id(o)] = n
