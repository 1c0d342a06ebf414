"""Gradient checking against central finite differences, to any order.

The checker is generic: it knows nothing about tracejit. It takes

- `f(*args)`: a function of float64 NumPy arrays returning one array-like or a tuple of them
  (anything `np.asarray` accepts, so user-level Tensors are fine);
- `vjp_of`: a *transform* that turns such a function into its VJP, called as
  `vjp_of(f)(*args, seed=seed)` and returning one cotangent per argument (`None` means zero,
  e.g. an unconnected argument). `seed` is one array, or a tuple when `f` returns a tuple.

At order 1 every analytic cotangent is compared with the central difference of
`sum(seed * f(x))` with respect to every element of every differentiated argument. At order
k > 1 the check recurses on the gradient itself, `x -> vjp_of(f)(*x, seed=seed)` for a fixed
random seed, whose VJP `vjp_of` must also supply (as HIPS autograd's `check_grads` does).
So `vjp_of` must accept the functions it returns, called on whatever its own tracing passes
in. `ir_vjp_of` below is that transform for IR code written with `bind`; a user-level one
records `f` on a `GradientTape` (with `unconnected_gradients="zero"` or returning `None`).
`check_ir_grads` is `check_grads` with `ir_vjp_of`, evaluating with the IR's NumPy
reference interpreter.

Tolerances (DESIGN.md "Testing decisions"): step `h = 1e-6 * max(1, |x_i|)` per element,
and `|analytic - numeric| <= atol + rtol * |numeric|` with `rtol = 1e-5` and
`atol = 1e-6 * max(1, max|numeric|)`. The absolute part covers entries near zero: the
round-off of a central difference is about `eps * |sum(seed * f)| / h`, an absolute error
shared by every entry of the gradient, i.e. ~1e-10 times the function's magnitude, and the
truncation error `h**2 * |f'''| / 6` is ~1e-12; both sit far below `atol`, while a wrong rule
is off by O(|gradient|). Inputs must be float64 and chosen away from kinks and singularities
by more than a few steps.

Example::

    from tests.gradcheck import check_grads, check_ir_grads
    from tracejit.ir import bind
    check_ir_grads(lambda x, y: bind("mul", x, y), [x, y], order=2)    # IR level
    check_grads(f, [x], vjp_of, order=2)  # any level, with a VJP transform `vjp_of`
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Array = np.ndarray
VjpOf = Callable[[Callable[..., Any]], Callable[..., Sequence[Any]]]

RTOL = 1e-5
ATOL = 1e-6
STEP = 1e-6


def _outputs(out: Any) -> list[Array]:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [np.asarray(o) for o in outs]


def numerical_vjp(f: Callable[..., Any], args: Sequence[Array], seeds: Sequence[Array],
                  wrt: Sequence[int], step: float = STEP) -> list[Array]:
    """Central differences of `sum_k sum(seeds[k] * f(*args)[k])` w.r.t. `args[i]`, i in
    `wrt`, one element at a time (step `step * max(1, |x|)`)."""
    args = [np.array(a, copy=True) for a in args]

    def phi() -> float:
        outs = _outputs(f(*args))
        return float(sum(np.sum(s * np.asarray(o, np.float64)) for s, o in zip(seeds, outs)))

    grads = []
    for i in wrt:
        x = args[i]
        g = np.zeros(x.shape, np.float64)
        for j in np.ndindex(*x.shape):
            x0 = x[j]
            h = step * max(1.0, abs(float(x0)))
            x[j] = x0 + h
            hi, xp = phi(), x[j]
            x[j] = x0 - h
            lo, xm = phi(), x[j]
            x[j] = x0
            g[j] = (hi - lo) / (xp - xm)
        grads.append(g)
    return grads


def _compare(analytic: Any, numeric: Array, what: str, rtol: float, atol: float) -> None:
    a = np.zeros_like(numeric) if analytic is None else np.asarray(analytic)
    if a.shape != numeric.shape:
        raise AssertionError(f"{what}: cotangent shape {a.shape} != argument shape "
                             f"{numeric.shape}")
    scale = max(1.0, float(np.max(np.abs(numeric)))) if numeric.size else 1.0
    tol = atol * scale + rtol * np.abs(numeric)
    err = np.abs(a - numeric)
    bad = ~(err <= tol)  # NaN in `a` counts as bad
    if bad.any():
        j = tuple(int(k) for k in np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {a.size} entries differ from central differences; "
            f"first at {j}: analytic {a[j]!r}, numeric {numeric[j]!r} "
            f"(rtol={rtol}, atol={atol * scale:.3g})\nanalytic:\n{a}\nnumeric:\n{numeric}")


def check_vjp(f: Callable[..., Any], f_vjp: Callable[..., Sequence[Any]],
              args: Sequence[Array], *, wrt: Sequence[int] | None = None,
              rng: np.random.Generator | None = None, rtol: float = RTOL, atol: float = ATOL,
              what: str = "f", step: float = STEP) -> None:
    """Order 1: `f_vjp(*args, seed=...)` against central differences of `f` (relative step
    `step`), with a random float64 seed per output."""
    rng = rng if rng is not None else np.random.default_rng(0)
    args = [np.asarray(a) for a in args]
    wrt = _float_args(args) if wrt is None else list(wrt)
    for i in wrt:
        if args[i].dtype != np.float64:
            raise TypeError(f"{what}: argument {i} is {args[i].dtype}; finite differences "
                            "need float64")
    outs = _outputs(f(*args))
    seeds = [np.asarray(rng.standard_normal(o.shape), o.dtype) for o in outs]
    cts = list(f_vjp(*args, seed=seeds[0] if len(seeds) == 1 else tuple(seeds)))
    if len(cts) != len(args):
        raise AssertionError(f"{what}: VJP gave {len(cts)} cotangents for {len(args)} "
                             "arguments")
    numeric = numerical_vjp(f, args, seeds, wrt, step)
    for i, num in zip(wrt, numeric):
        _compare(cts[i], num, f"{what}, argument {i}", rtol, atol)


def _float_args(args: Sequence[Array]) -> list[int]:
    return [i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]


def check_grads(f: Callable[..., Any], args: Sequence[Array], vjp_of: VjpOf, *,
                order: int = 2, wrt: Sequence[int] | None = None,
                rng: np.random.Generator | None = None, rtol: float = RTOL,
                atol: float = ATOL, what: str = "f", step: float = STEP) -> None:
    """Check `vjp_of(f)` against finite differences at `args`, then (order >= 2) the
    gradient's own VJP against finite differences of the gradient, recursively.

    `wrt` lists the arguments to differentiate (default: every float argument); the others
    (integer indices, bool conditions) are passed through unchanged; `step` is the relative
    finite-difference step."""
    rng = rng if rng is not None else np.random.default_rng(0)
    args = [np.asarray(a) for a in args]
    wrt = _float_args(args) if wrt is None else list(wrt)
    f_vjp = vjp_of(f)
    check_vjp(f, f_vjp, args, wrt=wrt, rng=rng, rtol=rtol, atol=atol,
              what=f"{what} (order 1)" if order > 1 else what, step=step)
    if order <= 1 or not wrt:
        return
    outs = _outputs(f(*args))
    seeds = [np.asarray(rng.standard_normal(o.shape), o.dtype) for o in outs]
    seed = seeds[0] if len(seeds) == 1 else tuple(seeds)
    # Cotangents that are None (unconnected) are constant zero: leave them out, so the
    # gradient function only returns values that depend on the arguments.
    first = f_vjp(*args, seed=seed)
    keep = [i for i in wrt if first[i] is not None]
    if not keep:
        return

    def grad_f(*xs: Any) -> tuple[Any, ...]:
        cts = f_vjp(*xs, seed=seed)
        return tuple(cts[i] for i in keep)

    check_grads(grad_f, args, vjp_of, order=order - 1, wrt=wrt, rng=rng, rtol=rtol,
                atol=atol, what=f"gradient of {what}", step=step)


# --------------------------------------------------------------------------- IR adapter


def on_numpy(f: Callable[..., Any]) -> Callable[..., Any]:
    """`f` evaluated with the IR's NumPy reference interpreter when called on arrays (the
    user API installs its own default interpreter, which takes Tensors), and unchanged when
    called on IR Values inside a Builder."""
    from tracejit.ir import Value, interpreting
    from tracejit.ir.interp import NumpyInterpreter

    def g(*args: Any, **kwargs: Any) -> Any:
        if any(isinstance(a, Value) for a in args):
            return f(*args, **kwargs)
        with interpreting(NumpyInterpreter()):
            return f(*args, **kwargs)

    return g


def check_ir_grads(f: Callable[..., Any], args: Sequence[Array], **kwargs: Any) -> None:
    """`check_grads` for a function written with `bind` (see `ir_vjp_of`); takes the same
    keyword arguments. Example: `check_ir_grads(lambda x: bind("exp", x), [x], order=2)`."""
    check_grads(on_numpy(f), args, ir_vjp_of, **kwargs)


def ir_vjp_of(f: Callable[..., Any]) -> Callable[..., list[Any]]:
    """The VJP transform for functions written with `bind`, via the IR autodiff pass.

    `ir_vjp_of(f)(*args, seed=s)` traces `f` into a Function (once per argument types),
    builds its gradient with `tracejit.ir.autodiff.vjp` w.r.t. every parameter, then
    replays the forward values the gradient needs (its residuals) and the gradient Function
    through `bind` on `args`. Called on NumPy arrays it evaluates with the reference
    interpreter; called inside a `Builder` it inlines both, so the residuals are functions
    of the builder's values and the result can be differentiated again."""
    from tracejit.ir import Builder, Function, bind, interpreting
    from tracejit.ir.autodiff import vjp
    from tracejit.ir.core import type_of
    from tracejit.ir.interp import run

    cache: dict[tuple[Any, ...], tuple[Function, Any]] = {}

    def f_vjp(*args: Any, seed: Any) -> list[Any]:
        types = tuple(type_of(a) for a in args)
        entry = cache.get(types)
        if entry is None:
            b = Builder("f")
            ps = [b.param(t) for t in types]
            with interpreting(b):
                outs = _as_list(f(*ps))
            fn = b.build(outs)
            grad = vjp(fn, ps)
            fwd = Function("residuals", fn.params, fn.instrs, grad.residuals)
            entry = cache[types] = (fwd, grad)
        fwd, grad = entry
        seeds = [bind("constant", value=np.asarray(s))
                 if isinstance(s, (np.ndarray, np.generic)) else s for s in _as_list(seed)]
        cts = iter(run(grad.fn, run(fwd, list(args)) + seeds))
        return [next(cts) if c else None for c in grad.connected]

    return on_numpy(f_vjp)


def _as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (tuple, list)) else [x]
