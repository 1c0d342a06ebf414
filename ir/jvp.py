"""Forward-mode autodiff as an IR-to-IR pass (JVP), beside the reverse-mode `autodiff`.

`jvp(fn, tangents)` takes a Function and which of its parameters carry a tangent, and
builds the *tangent Function*: its parameters are `fn`'s followed by one tangent per
flagged parameter; its results are `fn`'s results (unless `with_primals=False`) followed
by one tangent per result that has one (`JvpFunction.out_tangents`). Like the gradient,
it is built only from primitives (each JVP rule calls `bind` inside a `Builder`), so it
differentiates again in either mode.

`jvp_run(fn, primals, tangents)` is the same transform as a replay through `bind` in the
current context (a Builder, the NumPy interpreter, or the user API's tensors): the pass is
`jvp_run` inside a Builder, and the region rules use it to build their bodies.

Invariants: only float values carry tangents; a value without a tangent (None) has a zero
derivative, and a tangent is never materialized as zeros unless `instantiate` asks for
it; the outputs of a `gradient="none"` primitive have no tangent (constants, as in the
VJP pass), nor those of a `"zero"` one (`sign`: TensorFlow's forward mode gives None
through it, where its reverse mode gives zeros); every tangent has exactly its value's
type (a rule's tangent of a smaller shape is broadcast here, the one place that does);
dead tangents are pruned by `dce`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

from . import ops
from .core import FLOAT_DTYPES, Builder, Function, interpreting, results_list
from .errors import IRError
from .passes.dce import dce
from .prims import get_primitive
from .prims.registry import Primitive
from .prims.tangents import WithPrimals


@dataclass
class JvpFunction:
    """A tangent Function and how to call it: `fn` takes the primal parameters, then one
    tangent per `True` in `tangents`; it returns the primal results (if `with_primals`),
    then one tangent per `True` in `out_tangents`."""

    fn: Function
    tangents: list[bool]
    out_tangents: list[bool]
    with_primals: bool = True


def _is_float(x: Any) -> bool:
    return x.dtype in FLOAT_DTYPES


def apply_jvp(prim: Primitive, ts: Sequence[Any], ins: Sequence[Any], out: Any,
              params: dict[str, Any]) -> list[Any]:
    """The tangents of one application of `prim` (inputs `ins`, outputs `out`, tangents
    `ts` of the inputs, None for none), each of its output's type, or None."""
    outs = results_list(out)
    if prim.gradient != "rule" or not any(_is_float(o) for o in outs):
        return [None] * len(outs)
    if prim.jvp is None:
        raise IRError(f"primitive {prim.name} has no JVP rule")
    res = prim.jvp(tuple(ts), *ins, out=out, **params)
    if len(res) != len(outs):
        raise IRError(f"JVP rule of {prim.name} returned {len(res)} tangents for "
                      f"{len(outs)} outputs")
    checked = []
    for o, t in zip(outs, res):
        if t is not None and _is_float(o):
            if t.dtype != o.dtype:
                raise IRError(f"the JVP rule of {prim.name} gave a {t.dtype} tangent for a "
                              f"{o.dtype} value")
            t = ops.broadcast_to(t, tuple(o.shape))
        else:
            t = None
        checked.append(t)
    if isinstance(res, WithPrimals):
        return WithPrimals(checked, res.primals)
    return checked


def jvp_run(fn: Function, primals: Sequence[Any], tangents: Sequence[Any]
            ) -> tuple[list[Any], list[Any]]:
    """Replay `fn` on `primals` through `bind`, carrying `tangents` (one per parameter,
    None for none) forward; returns the results and their tangents (None for none)."""
    if len(primals) != len(fn.params) or len(tangents) != len(fn.params):
        raise IRError(f"@{fn.name} takes {len(fn.params)} arguments, got {len(primals)} "
                      f"primals and {len(tangents)} tangents")
    from .core import bind
    env: dict[int, Any] = {id(p): a for p, a in zip(fn.params, primals)}
    tan: dict[int, Any] = {id(p): t for p, t in zip(fn.params, tangents)
                           if t is not None and _is_float(p)}
    for ins in fn.instrs:
        args = [env[id(x)] for x in ins.inputs]
        out = bind(ins.prim, *args, **ins.params)
        outs = results_list(out) if len(ins.outs) != 1 else [out]
        ts = [tan.get(id(x)) for x in ins.inputs]
        if any(t is not None for t in ts):
            res = apply_jvp(get_primitive(ins.prim), ts, args, out, ins.params)
            if isinstance(res, WithPrimals):
                outs = res.primals
            for v, t in zip(ins.outs, res):
                if t is not None:
                    tan[id(v)] = t
        for v, o in zip(ins.outs, outs):
            env[id(v)] = o
    return [env[id(r)] for r in fn.results], [tan.get(id(r)) for r in fn.results]


def jvp(fn: Function, tangents: Sequence[bool], *, with_primals: bool = True,
        instantiate: bool | Sequence[bool] = False, name: str | None = None) -> JvpFunction:
    """Build the tangent Function of `fn` for tangents of the parameters flagged in
    `tangents`. A float result with no tangent gets none, unless `instantiate` (one flag
    per result, or one for all) asks for zeros.

    Example: `j = jvp(f, [True]); evaluate(j.fn, [x, t])` gives `[f(x), df(x) t]`."""
    if len(tangents) != len(fn.params):
        raise IRError(f"jvp of @{fn.name}: {len(tangents)} tangent flags for "
                      f"{len(fn.params)} parameters")
    inst = [instantiate] * len(fn.results) if isinstance(instantiate, bool) else \
        list(instantiate)
    b = Builder(name or f"jvp_{fn.name}")
    xs = [b.param(p.type, p.hint) for p in fn.params]
    flags = []
    for p, on in zip(fn.params, tangents):
        if on and not _is_float(p):
            raise IRError(f"jvp of @{fn.name}: parameter {p!r} of type {p.type} cannot "
                          "carry a tangent (only floats do)")
        flags.append(bool(on))
    ts = [b.param(p.type, f"{p.hint}_t" if p.hint else "t") if on else None
          for p, on in zip(fn.params, flags)]
    with interpreting(b):
        outs, touts = jvp_run(fn, xs, ts)
        results = list(outs) if with_primals else []
        out_flags = []
        for o, t, want in zip(outs, touts, inst):
            if t is None and want and _is_float(o):
                t = ops.zeros_like(o)
            out_flags.append(t is not None)
            if t is not None:
                results.append(t)
    g = dce(b.build(results))
    return JvpFunction(g, flags, out_flags, with_primals)
