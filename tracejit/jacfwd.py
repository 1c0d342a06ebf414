"""`tj.autodiff.jacfwd`: Jacobians in forward mode, all columns in one vectorized pass.

`jacfwd(f)(x)` traces `f` once into an IR Function (as a loop body is traced:
`regions.trace_region`), builds its tangent Function with respect to `x` (`ir.jvp`),
batches that over the n = x.size basis tangents with the batching rules (`ir.batching`:
one pass whose every operation carries a leading axis of n, not n passes), and replays
it through `bind`: eagerly, or into the enclosing trace inside a compiled function (so
`tj.function(jacfwd(f))` is one native function), recorded by active tapes like any
other operations.

Invariants: the Jacobian of an output of shape S with respect to an argument of shape T
has shape S + T (`jac[s..., t...] = d out[s...] / d x[t...]`), the output's dtype;
outputs that do not depend on the argument get zeros; integer outputs get None.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from .errors import at_user_line
from .exports import export
from .trees import flatten, unflatten
from .regions import as_tensor, close, fn_name, join_checks, trace_region, type_of


def _jacobian_wrt(fn: Any, operands: list[Any], k: int, x: Any, name: str) -> list[Any]:
    """The Jacobians of `fn`'s results with respect to its parameter `k` (= `x`)."""
    from .ir.batching import vmap
    from .ir.interp import run
    from .ir.jvp import jvp
    from .ops import reshape, transpose, zeros
    from .replay import _identity_seeds
    flags = [i == k for i in range(len(fn.params))]
    jf = jvp(fn, flags, with_primals=False, instantiate=True, name=f"jvp_{name}")
    n = int(np.prod(x.shape, dtype=np.int64))
    res: list[Any] = []
    outs: list[Any] = []
    if n and any(jf.out_tangents):
        bfn = vmap(jf.fn, [False] * len(fn.params) + [True], n, name=f"jacfwd_{name}")
        outs = run(bfn, list(operands) + [_identity_seeds(n, tuple(x.shape), x.dtype)])
    it = iter(outs)
    for r, c in zip(fn.results, jf.out_tangents):
        shape = tuple(r.type.shape)
        if r.type.dtype.kind != "f":
            res.append(None)
            continue
        if not c or n == 0:
            res.append(zeros(shape + tuple(x.shape), r.type.dtype))
            continue
        m = int(np.prod(shape, dtype=np.int64))
        cols = reshape(next(it), (n, m))                # row j: d out / d x_j
        res.append(reshape(transpose(cols, (1, 0)), shape + tuple(x.shape)))
    return res


def _run_checks(fn: Any, ok: Any, operands: list[Any], name: str,
                explain: dict[int, Any]) -> None:
    """Run the checks (`assert`s) of `f`, joined in `ok`, on the operands: they raise at
    once eagerly, and inside a compiled function they are its checks. (The tangent
    program computes no check: it has no tangent.)"""
    from .context import explained, keep_checks
    from .ir.core import Function
    from .ir.errors import InvalidArgumentError
    from .ir.interp import run
    from .ir.passes.dce import dce
    try:
        (out,) = run(dce(Function(f"{name}_checks", fn.params, fn.instrs, [ok])), operands)
    except InvalidArgumentError as e:      # eagerly: the message with the values
        raise explained(e, explain) from None
    keep_checks([out])


@export("autodiff.jacfwd")
def jacfwd(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Jacobian of `f` with respect to argument `argnums` (an int, or a tuple of them),
    in forward mode: `jacfwd(f)(x)[i..., j...] = d f(x)[i...] / d x[j...]`, shaped
    `f(x).shape + x.shape`, computed in one pass over all the columns (the tangent program
    batched over the basis directions), which is the right way for few inputs and many
    outputs (JAX's `jax.jacfwd`). `f` is traced, so it must be traceable (as a loop body:
    no Python branching on values). With several `argnums` the result is a tuple, one
    Jacobian structure per argument.

    >>> jac = tj.autodiff.jacfwd(lambda x: tj.stack([x[0] * x[1], tj.sin(x[0])]))
    >>> jac(tj.constant([0., 2.])).numpy()
    array([[2., 0.],
           [1., 0.]], dtype=float32)
    """
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    def jacobian(*args: Any) -> Any:
        for k in nums:
            if not -len(args) <= k < len(args):
                raise at_user_line(IndexError(
                    f"jacfwd: argnums {k} is out of range for {len(args)} arguments"))
        xs = [as_tensor(args[k]) for k in nums]
        for k, x in zip(nums, xs):
            if x.dtype.kind != "f":
                raise at_user_line(TypeError(
                    f"jacfwd: argument {k} has dtype {x.dtype}; forward mode needs a float "
                    "argument"))
        name = fn_name(f, "f")

        def call(fun: Any, traced: Any) -> Any:
            full = list(args)
            for k, t in zip(nums, traced):
                full[k] = t
            return fun(*full)
        region = trace_region(f, [type_of(x) for x in xs], flatten(list(xs))[1], name, call)
        ok = join_checks(region)
        (fn,), objs = close([region])
        operands = [as_tensor(o) for o in objs] + xs
        if ok is not None:
            _run_checks(fn, ok, operands, name, region.state.explain)
        per_arg = []
        for j, x in enumerate(xs):
            jacs = _jacobian_wrt(fn, operands, len(objs) + j, x, name)
            per_arg.append(unflatten(region.out_tree, jacs))
        return per_arg[0] if isinstance(argnums, int) else tuple(per_arg)

    jacobian.__name__ = f"jacfwd_{fn_name(f, 'f')}"
    return jacobian
