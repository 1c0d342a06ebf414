"""`call`: apply a whole Function (a compiled function used from outside its trace).

Invariants: the operands match the callee's parameter types exactly; there is one result
per callee result. The VJP is another `call`, of the callee's *backward* Function
(forward recomputed from the operands, then the gradient Function), so a called function
stays differentiable to any order without retracing. The reference implementation
interprets the callee; native code inlines it.
"""
from __future__ import annotations

from typing import Any

from ..caches import Memo
from ..core import Builder, Function, TensorType, bind, interpreting
from ..errors import IRError
from .control_jvp import call_jvp
from .registry import Primitive, register


def _call_rule(*ins: TensorType, fn: Function) -> list[TensorType]:
    if not isinstance(fn, Function):
        raise IRError(f"call: parameter fn must be a Function, got {type(fn).__name__}")
    if len(ins) == len(fn.params) and all(a == p.type for a, p in zip(ins, fn.params)):
        return [r.type for r in fn.results]
    # A callee with unknown dimensions serves every operand shape that matches them.
    from ..specialize import bind_call, substitute_type
    env = bind_call(fn, ins) if any(p.type.symbolic for p in fn.params) else None
    if env is None:
        raise IRError(f"call of @{fn.name}: operand types ({', '.join(map(str, ins))}) do not "
                      f"match its parameters ({', '.join(str(p.type) for p in fn.params)})")
    return [substitute_type(r.type, env) for r in fn.results]


def _call_impl(*arrays: Any, fn: Function) -> Any:
    from ..interp import evaluate_nested as evaluate
    outs = evaluate(fn, arrays)
    # One result is returned bare, as every single-output impl does (a 1-tuple would become
    # an array of shape (1, ...)).
    return outs[0] if len(outs) == 1 else tuple(outs)


class Backward:
    """The backward Function of a callee: params = callee params + one seed per result;
    results = cotangents of the connected params (`connected`)."""

    def __init__(self, fn: Function, connected: list[bool]):
        self.fn = fn
        self.connected = connected


_BACKWARD: Memo[int, tuple[Function, Backward]] = Memo("call: backward Functions")


def backward_of(fn: Function) -> Backward:
    hit = _BACKWARD.get(id(fn))
    if hit is not None and hit[0] is fn:
        return hit[1]
    from ..autodiff import vjp
    from ..interp import run_env
    from ..passes.dce import dce
    gf = vjp(fn, fn.params, name=f"{fn.name}_vjp")
    b = Builder(f"{fn.name}_bwd")
    xs = [b.param(p.type, p.hint) for p in fn.params]
    seeds = [b.param(r.type, "seed") for r in fn.results]
    with interpreting(b):
        env = run_env(fn, xs)
        resid = [env[id(v)] for v in gf.residuals]
        from ..interp import run
        outs = run(gf.fn, resid + seeds)
    bwd = Backward(dce(b.build(outs)), gf.connected)
    _BACKWARD.put(id(fn), (fn, bwd))
    return bwd


def set_backward(fn: Function, bwd: Backward) -> None:
    """Use `bwd` as the backward Function of `fn` (one built before, e.g. in the process
    that exported `fn`), instead of differentiating `fn` again."""
    _BACKWARD.put(id(fn), (fn, bwd))


def _call_vjp(g: Any, *ins: Any, out: Any, fn: Function) -> list[Any]:
    gs = list(g) if isinstance(g, tuple) else [g]
    bwd = backward_of(fn)
    if not bwd.fn.results:
        return [None] * len(ins)
    res = bind("call", *ins, *gs, fn=bwd.fn)
    res = list(res) if isinstance(res, tuple) else [res]
    it = iter(res)
    return [next(it) if c else None for c in bwd.connected]


register(Primitive("call", kind="call", params={"fn": None}, shape_rule=_call_rule,
                   impl=_call_impl, vjp=_call_vjp, jvp=call_jvp,
                   n_outs=lambda fn: len(fn.results) if isinstance(fn, Function) else 1))


