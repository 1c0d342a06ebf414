"""The shared forms of JVP rules (forward mode), derived from what a primitive is.

A JVP rule is `jvp(ts, *ins, out=..., **params) -> tangents`: `ts` holds one tangent per
operand (None where the operand has none), `out` the primal output (a tuple for several),
and the result one tangent per output (None: no tangent). Rules build tangents with `bind`
(through `ir.ops`), so a tangent program is again primitives, differentiable in both modes.

The forms, each sound for the primitives that use it:
- `no_tangent`: outputs are constants. For `gradient="none"` primitives as in the VJP
  pass; also for `gradient="zero"` ones (`sign`), whose VJP gives zeros: TensorFlow's
  `ForwardAccumulator` gives `None` through `tf.sign` (it transposes the gradient, and
  zeros that do not depend on the cotangent transpose to no tangent), and forward mode
  follows it;
- `from_vjp` (elementwise `"rule"` primitives): the Jacobian of an elementwise primitive is
  diagonal in the broadcast shape, and its VJP rule multiplies the cotangent by that
  diagonal without summing (the autodiff pass unbroadcasts), so the VJP applied to the
  operand's tangent broadcast to the output shape is that operand's JVP term;
- `linear` (the primitive is linear in its float operands jointly, the others fixed:
  shape primitives, `reduce_sum`, `cumsum`, `gather`, `scatter_add`, `select`, `convert`):
  the same primitive applied to the tangents, zeros standing for missing ones;
- `multilinear` (linear in each float operand separately: `mul`, `matmul`): the sum over
  operands with a tangent of the primitive with that operand replaced by its tangent;
- `reduction(R)` (a reduction whose VJP is `R^T(g) * D` with `D` the partial derivatives
  in the operand's shape: `reduce_max/min/prod`, `segment_max/min/prod`): the JVP is
  `R(t * D)`, `D` taken from the VJP with a cotangent of ones, so every subgradient
  choice of the VJP (ties shared equally, exact zeros of products) holds forward too.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable, Sequence

from .. import ops
from ..core import FLOAT_DTYPES, bind, results_list

JvpRule = Callable[..., Sequence[Any]]


class WithPrimals(list):  # type: ignore[type-arg]
    """The tangents a rule returns when it also recomputed the primal outputs (a region
    that carries primal and tangent in one loop): `primals` replace the instruction's own
    outputs in the pass, so the primal-only instruction becomes dead code."""

    def __init__(self, tangents: Sequence[Any], primals: Sequence[Any]):
        super().__init__(tangents)
        self.primals = list(primals)


def no_tangent(ts: Sequence[Any], *ins: Any, out: Any, **params: Any) -> list[Any]:
    """The outputs are constants to autodiff (TensorFlow registers no gradient)."""
    return [None] * len(results_list(out))


def from_vjp(vjp: Callable[..., Sequence[Any]]) -> JvpRule:
    """The JVP of an elementwise primitive from its VJP rule (see the module docstring)."""
    def rule(ts: Sequence[Any], *ins: Any, out: Any, **params: Any) -> list[Any]:
        shape = tuple(out.shape)
        acc = None
        for i, t in enumerate(ts):
            if t is None:
                continue
            c = vjp(ops.broadcast_to(t, shape), *ins, out=out, **params)[i]
            if c is None:
                continue
            c = ops.broadcast_to(c, shape)
            acc = c if acc is None else ops.add(acc, c)
        return [acc]
    return rule


def _tangent_or_zeros(t: Any, x: Any) -> Any:
    return t if t is not None else ops.zeros_like(x)


def linear(name: str) -> JvpRule:
    """The JVP of a primitive linear in its float operands jointly: itself on the tangents
    (zeros for float operands without one, the primal for the others)."""
    def rule(ts: Sequence[Any], *ins: Any, out: Any, **params: Any) -> list[Any]:
        args = [_tangent_or_zeros(t, x) if x.dtype in FLOAT_DTYPES else x
                for t, x in zip(ts, ins)]
        return results_list(bind(name, *args, **params))
    return rule


def multilinear(name: str) -> JvpRule:
    """The JVP of a primitive linear in each operand separately: the sum over operands
    with a tangent of the primitive with that operand replaced by its tangent."""
    def rule(ts: Sequence[Any], *ins: Any, out: Any, **params: Any) -> list[Any]:
        acc = None
        for i, t in enumerate(ts):
            if t is None:
                continue
            args = list(ins)
            args[i] = t
            term = bind(name, *args, **params)
            acc = term if acc is None else ops.add(acc, term)
        return [acc]
    return rule


def reduction(vjp: Callable[..., Sequence[Any]], reduce: Callable[..., Any]) -> JvpRule:
    """The JVP `reduce(t * D, *ins[1:], **params)` of a reduction whose VJP is
    `R^T(g) * D` (see the module docstring); `reduce` is the linear reduction R."""
    def rule(ts: Sequence[Any], *ins: Any, out: Any, **params: Any) -> list[Any]:
        d = vjp(ops.ones_like(out), *ins, out=out, **params)[0]
        return [reduce(ops.mul(ts[0], d), *ins[1:], **params)]
    return rule


def derived_jvp(prim: Any) -> JvpRule | None:
    """The JVP rule a primitive gets when it registers none: from its gradient kind, or
    from its VJP for an elementwise primitive; None (a registry test fails) otherwise."""
    if prim.gradient in ("none", "zero"):
        return no_tangent
    if prim.kind == "elementwise" and prim.vjp is not None:
        return from_vjp(prim.vjp)
    return None
