"""Forward-mode checking against central finite differences, at order 1 and 2.

Like `gradcheck`, generic: `jvp_of` is a *transform* turning `f(*args)` (float64 NumPy
arrays in, one array-like or a tuple out) into its JVP, called as
`jvp_of(f)(*args, tangents=ts)` with one tangent per argument (None: no tangent) and
returning one tangent per output (None: zero).

At order 1 the analytic JVP along a random direction is compared with the central
difference `(f(x + h t) - f(x - h t)) / 2h`, `h = STEP * max(1, max|x|)`, with the
tolerances of `gradcheck` (`rtol = 1e-5`, `atol = 1e-6 * max(1, max|numeric|)`): one
directional difference per check, so forward checks cost two evaluations of `f`.
`check_second_order` checks the three second-order compositions:
forward over forward (the JVP of `x -> jvp(f)(x, t)`), forward over reverse (the JVP of
`x -> vjp(f)(x, seed)`) and reverse over forward (the VJP of `x -> jvp(f)(x, t)`, against
finite differences with `gradcheck.check_vjp`).

`ir_jvp_of` is the transform for functions written with `bind`, via `ir.jvp.jvp`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tests.gradcheck import (ATOL, RTOL, STEP, _as_list, _compare, _float_args, _outputs,
                             check_vjp, ir_vjp_of, on_numpy)

JvpOf = Callable[[Callable[..., Any]], Callable[..., Sequence[Any]]]


def numerical_jvp(f: Callable[..., Any], args: Sequence[np.ndarray],
                  tangents: Sequence[np.ndarray | None], step: float = STEP) -> list[np.ndarray]:
    """Central difference of `f` at `args` along `tangents` (None: that argument fixed)."""
    scale = max([1.0] + [float(np.max(np.abs(a))) for a, t in zip(args, tangents)
                         if t is not None and np.asarray(a).size])
    h = step * scale
    hi = _outputs(f(*[a if t is None else a + h * t for a, t in zip(args, tangents)]))
    lo = _outputs(f(*[a if t is None else a - h * t for a, t in zip(args, tangents)]))
    res = []
    for p, m in zip(hi, lo):
        p, m = np.asarray(p, np.float64), np.asarray(m, np.float64)
        with np.errstate(invalid="ignore"):
            # equal values (infinite ones too: an empty max is -inf) do not change
            res.append(np.where(p == m, 0.0, (p - m) / (2 * h)))
    return res


def check_jvp(f: Callable[..., Any], f_jvp: Callable[..., Sequence[Any]],
              args: Sequence[np.ndarray], *, wrt: Sequence[int] | None = None,
              rng: np.random.Generator | None = None, rtol: float = RTOL,
              atol: float = ATOL, what: str = "f") -> None:
    """Order 1: `f_jvp(*args, tangents=...)` against a central difference along a random
    direction of the arguments in `wrt` (default: every float one)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    args = [np.asarray(a) for a in args]
    wrt = _float_args(args) if wrt is None else list(wrt)
    ts = [np.asarray(rng.standard_normal(a.shape)) if i in wrt else None
          for i, a in enumerate(args)]
    outs = _outputs(f(*args))
    analytic = list(f_jvp(*args, tangents=ts))
    if len(analytic) != len(outs):
        raise AssertionError(f"{what}: JVP gave {len(analytic)} tangents for {len(outs)} "
                             "outputs")
    numeric = numerical_jvp(f, args, ts)
    for k, (o, a, n) in enumerate(zip(outs, analytic, numeric)):
        if o.dtype.kind != "f":
            if a is not None:
                raise AssertionError(f"{what}: output {k} of dtype {o.dtype} has a tangent")
            continue
        if a is not None and np.asarray(a).dtype != o.dtype:
            raise AssertionError(f"{what}: tangent {k} is {np.asarray(a).dtype}, output "
                                 f"{o.dtype}")
        _compare(a, n, f"{what}, output {k}", rtol, atol)


def _zeros_for_none(vals: Sequence[Any], like: Sequence[Any]) -> tuple[Any, ...]:
    from tracejit.ir import ops
    return tuple(v if v is not None else ops.zeros_like(x) for v, x in zip(vals, like))


def check_second_order(f: Callable[..., Any], args: Sequence[np.ndarray], jvp_of: JvpOf,
                       vjp_of: Callable[..., Any], *, wrt: Sequence[int] | None = None,
                       rng: np.random.Generator | None = None, what: str = "f",
                       modes: Sequence[str] = ("fwd-fwd", "fwd-rev", "rev-fwd")) -> None:
    """The second-order compositions of `modes` against finite differences."""
    rng = rng if rng is not None else np.random.default_rng(1)
    args = [np.asarray(a) for a in args]
    wrt = _float_args(args) if wrt is None else list(wrt)
    outs = _outputs(f(*args))
    f_jvp, f_vjp = jvp_of(f), vjp_of(f)
    ts = [np.asarray(rng.standard_normal(a.shape)) if i in wrt else None
          for i, a in enumerate(args)]
    seeds = [np.asarray(rng.standard_normal(o.shape), o.dtype) for o in outs]
    seed = seeds[0] if len(seeds) == 1 else tuple(seeds)
    float_outs = [i for i, o in enumerate(outs) if o.dtype.kind == "f"]

    def tangent_f(*xs: Any) -> tuple[Any, ...]:
        res = f_jvp(*xs, tangents=ts)
        return _zeros_for_none([res[i] for i in float_outs], [_outputs_like(f, xs, i)
                                                              for i in float_outs])

    first = f_vjp(*args, seed=seed)
    keep = [i for i in wrt if first[i] is not None]

    def grad_f(*xs: Any) -> tuple[Any, ...]:
        cts = f_vjp(*xs, seed=seed)
        return tuple(cts[i] for i in keep)

    if "fwd-fwd" in modes and float_outs:
        check_jvp(tangent_f, jvp_of(tangent_f), args, wrt=wrt, rng=rng,
                  what=f"forward over forward of {what}")
    if "fwd-rev" in modes and keep:
        check_jvp(grad_f, jvp_of(grad_f), args, wrt=wrt, rng=rng,
                  what=f"forward over reverse of {what}")
    if "rev-fwd" in modes and float_outs:
        check_vjp(tangent_f, vjp_of(tangent_f), args, wrt=wrt, rng=rng,
                  what=f"reverse over forward of {what}")


def _outputs_like(f: Callable[..., Any], xs: Sequence[Any], i: int) -> Any:
    """Output i of `f(*xs)` (for its shape and dtype when a tangent is None)."""
    out = f(*xs)
    return _as_list(out)[i]


# --------------------------------------------------------------------------- IR adapter


def ir_jvp_of(f: Callable[..., Any]) -> Callable[..., list[Any]]:
    """The JVP transform for functions written with `bind`, via `ir.jvp.jvp`: traces `f`
    (once per argument types and tangent pattern), builds its tangent Function and
    replays it through `bind` on the arguments and tangents (NumPy arrays: the reference
    interpreter; IR Values inside a Builder: inlined, so it differentiates again)."""
    from tracejit.ir import Builder, bind, interpreting
    from tracejit.ir.core import type_of
    from tracejit.ir.interp import run
    from tracejit.ir.jvp import jvp

    cache: dict[tuple[Any, ...], Any] = {}

    def f_jvp(*args: Any, tangents: Sequence[Any]) -> list[Any]:
        types = tuple(type_of(a) for a in args)
        flags = tuple(t is not None for t in tangents)
        jf = cache.get((types, flags))
        if jf is None:
            b = Builder("f")
            ps = [b.param(t) for t in types]
            with interpreting(b):
                outs = _as_list(f(*ps))
            jf = cache[(types, flags)] = jvp(b.build(outs), flags)
        tvals = [bind("constant", value=np.asarray(t, dtype=ty.dtype))
                 if isinstance(t, (np.ndarray, np.generic)) else t
                 for ty, t in zip(types, tangents) if t is not None]
        res = run(jf.fn, list(args) + tvals)
        n = len(res) - sum(jf.out_tangents)
        it = iter(res[n:])
        return [next(it) if c else None for c in jf.out_tangents]

    return on_numpy(f_jvp)


def check_ir_jvp(f: Callable[..., Any], args: Sequence[np.ndarray], *, order: int = 1,
                 what: str = "f", **kwargs: Any) -> None:
    """`check_jvp` (and at order 2 `check_second_order`) for a function written with
    `bind`. Example: `check_ir_jvp(lambda x: bind("exp", x), [x], order=2)`."""
    g = on_numpy(f)
    check_jvp(g, ir_jvp_of(g), args, what=what, **kwargs)
    if order >= 2:
        check_second_order(g, args, ir_jvp_of, ir_vjp_of, what=what, **kwargs)
