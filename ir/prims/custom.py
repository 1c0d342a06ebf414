"""`custom_vjp`: values whose gradient is a user-defined Function (`custom_gradient` traced).

`custom_vjp(xs..., ys..., rs...) {bwd, n_in, n_out, connected}` returns `ys` unchanged: the
forward results were computed by ordinary instructions before it. What it adds is their
gradient: the cotangents of the `n_in` inputs `xs` are `call(bwd, rs..., seeds...)`, where
`rs` are the values the user's gradient function read (its residuals) and the seeds are
the cotangents of the results. `ys` and `rs` get no cotangent through it, so nothing flows
twice: the forward computation of `ys` is not differentiated, and the residuals are
differentiated only where the gradient itself is differentiated again (higher orders
differentiate `bwd`, whose instructions are ordinary, or other `custom_vjp`s).

Invariants: `bwd` takes `rs` then one seed per result (the types of `ys`) and returns one
cotangent per input flagged in `connected`, of that input's type. Native code never sees
this instruction (it is its `ys`); the reference implementation copies `ys`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Function, TensorType, bind
from ..errors import IRError
from .control_jvp import custom_jvp
from .registry import Primitive, register


def _check(n_ops: int, bwd: Any, n_in: int, n_out: int, connected: tuple[bool, ...]) -> None:
    if not isinstance(bwd, Function):
        raise IRError(f"custom_vjp: bwd must be a Function, got {type(bwd).__name__}")
    if len(connected) != n_in or n_ops != n_in + len(bwd.params) or n_out > len(bwd.params):
        raise IRError(f"custom_vjp: {n_ops} operands do not fit {n_in} inputs, {n_out} "
                      f"results and @{bwd.name}'s {len(bwd.params)} parameters")


def _custom_rule(*ins: TensorType, bwd: Function, n_in: int, n_out: int,
                 connected: tuple[bool, ...]) -> list[TensorType]:
    _check(len(ins), bwd, n_in, n_out, connected)
    xs, rest = ins[:n_in], ins[n_in:]
    ys, rs = rest[:n_out], rest[n_out:]
    want = list(rs) + list(ys)
    if [p.type for p in bwd.params] != want:
        takes = ", ".join(str(p.type) for p in bwd.params)
        raise IRError(f"custom_vjp: @{bwd.name} takes ({takes}), the operands give "
                      f"({', '.join(map(str, want))})")
    got = [r.type for r in bwd.results]
    need = [x for x, c in zip(xs, connected) if c]
    if got != need:
        raise IRError(f"custom_vjp: @{bwd.name} returns ({', '.join(map(str, got))}) for "
                      f"inputs of types ({', '.join(map(str, need))})")
    return list(ys)


def _custom_impl(*arrays: np.ndarray, bwd: Function, n_in: int, n_out: int,
                 connected: tuple[bool, ...]) -> Any:
    ys = [np.array(a, copy=True) for a in arrays[n_in:n_in + n_out]]
    return ys[0] if n_out == 1 else tuple(ys)


def _custom_vjp(g: Any, *ins: Any, out: Any, bwd: Function, n_in: int, n_out: int,
                connected: tuple[bool, ...]) -> list[Any]:
    gs = list(g) if isinstance(g, tuple) else [g]
    rs = ins[n_in + n_out:]
    cts: list[Any] = [None] * len(ins)
    if bwd.results:
        res = bind("call", *rs, *gs, fn=bwd)
        it = iter(list(res) if isinstance(res, tuple) else [res])
        for i, c in enumerate(connected):
            if c:
                cts[i] = next(it)
    return cts


# Results `ys` whose inputs' cotangents are `call(bwd, rs, seeds)`.
register(Primitive("custom_vjp", kind="call",
                   params={"bwd": None, "n_in": 0, "n_out": 1, "connected": ()},
                   shape_rule=_custom_rule, impl=_custom_impl, vjp=_custom_vjp, jvp=custom_jvp,
                   n_outs=lambda bwd, n_in, n_out, connected: n_out))
