"""Control flow with TensorFlow's names: `while_loop`, `cond`, `switch_case`, `scan`,
`foldl`, `foldr`, `map_fn`, plus JAX's `fori_loop`.

Eagerly these are plain Python loops and branches (step through them with `pdb`; tapes
record every operation as it runs). Inside a compiled function the loop body and the
branches are traced once into nested Functions of one region instruction (`while`, `scan`,
`cond` of `tracejit.ir`): the loop stays a loop in the IR and in native code, whatever its
trip count, and it is differentiated in reverse like any other instruction.

Invariants: loop variables are nested lists/tuples/dicts of tensors (Variables are read);
a loop variable keeps its shape and dtype across iterations and all branches return one
structure of one list of types, else a TypeError names the variable or branch, both types
and the user's line; the result has the structure of `loop_vars` (of the branches' result).
"""
from __future__ import annotations

from typing import Any, TypeAlias
from collections.abc import Callable, Sequence

import numpy as np

from .context import keep_checks
from .errors import at_user_line
from .ir import ops as irops
from .ir.core import TensorType, Value, bind
from .ir.prims.registry import get_primitive
from .ir.dims import is_dim
from .trees import flatten, leaf_paths, unflatten
from .regions import (BOOL, as_tensor, check_types, close, describe_structure, fn_name,
                      join_checks, same_structure, trace_region, tracing, true_in, type_of)
from .tensor import Structure, Tensor, TensorInput

I32 = np.dtype(np.int32)
# `switch_case`'s branches: callables, (index, callable) pairs, or a dict by index.
Branch: TypeAlias = "Callable[[], Structure]"
BranchFns: TypeAlias = "Sequence[Branch] | Sequence[tuple[int, Branch]] | dict[int, Branch]"


def _leaves(x: Any) -> tuple[list[Tensor], Any]:
    leaves, tree = flatten(x)
    return [as_tensor(v) for v in leaves], tree


def _returned(out: Any, loop_vars: Any) -> Any:
    """A body's result for one loop variable given as a bare tensor is accepted."""
    if isinstance(loop_vars, (list, tuple)) and len(loop_vars) == 1 and \
            not isinstance(out, (list, tuple)):
        return (out,) if type(loop_vars) is tuple else [out]
    return out


def _scalar_bool(what: str, p: Any) -> Tensor:
    """`p` as a scalar bool tensor. A bool tensor of one element (`[True]`) is reshaped
    to a scalar, as TensorFlow accepts it; another dtype is a TypeError, another number
    of elements a ValueError (TensorFlow's eager error; InvalidArgumentError in graphs)."""
    p = as_tensor(p)
    if p.dtype != np.bool_:
        raise at_user_line(TypeError(f"{what} must be a scalar bool tensor, got "
                                     f"{type_of(p)}"))
    if p.shape != ():
        if not all(type(d) is int and d == 1 for d in p.shape):
            raise at_user_line(ValueError(f"{what} must be a scalar bool tensor (or one "
                                          f"element), got {type_of(p)}"))
        p = bind("reshape", p, shape=())
    return p


# --------------------------------------------------------------------------- while_loop


def while_loop(cond: Callable[..., TensorInput], body: Callable[..., Structure],
               loop_vars: Structure, shape_invariants: Structure = None,
               parallel_iterations: int = 10, back_prop: bool = True, swap_memory: bool = False,
               maximum_iterations: TensorInput | None = None, name: str | None = None
               ) -> Structure:
    """`while cond(*loop_vars): loop_vars = body(*loop_vars)`, at most
    `maximum_iterations` times. `parallel_iterations`, `back_prop` and `swap_memory` are
    accepted and ignored; `shape_invariants` may only repeat the loop variables' shapes
    (shapes are static). Example: `tj.while_loop(lambda i: i < 10, lambda i: [i + 1], [0])`.
    """
    del parallel_iterations, back_prop, swap_memory, name
    if not isinstance(loop_vars, (list, tuple)):
        raise at_user_line(TypeError("while_loop: loop_vars must be a list or tuple"))
    init, tree = _leaves(loop_vars)
    types = [type_of(t) for t in init]
    paths = leaf_paths(tree, "loop_vars")
    _check_invariants(shape_invariants, types, paths)
    max_iters = _max_iters(maximum_iterations)
    st = tracing()
    if st is None:
        return _eager_while(cond, body, loop_vars, init, tree, types, paths, max_iters)

    def call_cond(f: Any, args: Any) -> Any:
        return _scalar_bool("while_loop: cond's result", f(*args))

    def call_body(f: Any, args: Any) -> Any:
        return _returned(f(*args), loop_vars)

    rc = trace_region(cond, types, tree, fn_name(cond, "cond"), call_cond)
    rb = trace_region(body, types, tree, fn_name(body, "body"), call_body, expect=types)
    if not same_structure(rb.out_tree, tree):
        raise at_user_line(TypeError(
            f"while_loop: body returns a structure of {len(rb.results)} tensor(s) that "
            f"differs from loop_vars' ({len(types)})"))
    check_types("while_loop", paths, types, [r.type for r in rb.results],
                "after one iteration")
    n = len(init)
    ok_cond, ok_body = join_checks(rc), join_checks(rb)
    if ok_cond is not None:     # the condition's asserts: joined into its predicate
        (rc.results[0],) = rc.state.builder.emit(get_primitive("logical_and"),
                                                 [rc.results[0], ok_cond], {})
    checked = ok_cond is not None or ok_body is not None
    if checked:     # the body's: one more loop variable, true while they pass (which the
        #             enclosing trace keeps, and with it the loop)
        rc.params.append(Value(BOOL))
        rb.params.append(Value(BOOL))
        rb.results.append(true_in(rb) if ok_body is None else ok_body)
        init = init + [irops.const(True, np.bool_)]
    (fc, fb), consts = close([rc, rb])
    outs = bind("while", *consts, *init, cond=fc, body=fb, n_consts=len(consts),
                max_iters=max_iters)
    if checked:
        keep_checks([outs[n]])
    return unflatten(tree, list(outs[:n]))


def _eager_while(cond: Any, body: Any, loop_vars: Any, init: list[Tensor], tree: Any,
                 types: list[TensorType], paths: list[str], max_iters: int | None) -> Any:
    state = unflatten(tree, init)
    n = 0
    while (max_iters is None or n < max_iters) and \
            bool(_scalar_bool("while_loop: cond's result", cond(*state))):
        out = _returned(body(*state), loop_vars)
        leaves, out_tree = flatten(out)
        if not same_structure(out_tree, tree):
            raise at_user_line(TypeError(
                f"while_loop: body returns a structure of {len(leaves)} tensor(s) that "
                f"differs from loop_vars' ({len(types)})"))
        new = [as_tensor(x, t.dtype) for x, t in zip(leaves, types)]
        check_types("while_loop", paths, types, [type_of(t) for t in new],
                    f"after iteration {n + 1}")
        state = unflatten(tree, new)
        n += 1
    return state


def _max_iters(m: Any) -> int | None:
    if m is None:
        return None
    if isinstance(m, Tensor) and m._data is None:
        raise at_user_line(TypeError(
            "while_loop: maximum_iterations must be a Python int or a concrete tensor (it "
            "sizes the loop statically)"))
    v = int(m)
    if v < 0:
        raise at_user_line(ValueError(f"while_loop: maximum_iterations must be >= 0, got {v}"))
    return v


def _check_invariants(inv: Any, types: list[TensorType], paths: list[str]) -> None:
    if inv is None:
        return
    shapes, _ = flatten(inv)
    for p, t, s in zip(paths, types, shapes):
        if s is None:
            continue
        dims = s if isinstance(s, tuple) else tuple(s.as_list() if hasattr(s, "as_list") else s)
        if len(dims) != len(t.shape) or any(d is not None and d != e for d, e in
                                             zip(dims, t.shape)) or None in dims:
            raise at_user_line(ValueError(
                f"while_loop: shape_invariants gives {p} the shape {tuple(dims)}, but "
                f"tracejit shapes are static: a loop variable keeps its shape {t.shape}"))


def fori_loop(lower: TensorInput, upper: TensorInput,
              body_fun: Callable[[Tensor, Structure], Structure], init_val: Structure
              ) -> Structure:
    """`val = body_fun(i, val)` for `i` in `range(lower, upper)` (JAX's `lax.fori_loop`);
    `i` is an int32 tensor. With Python int bounds the loop is a `scan` of static length
    (reverse mode saves one state per step); with tensor bounds it is a `while_loop`.
    Example: `tj.fori_loop(0, 100, lambda i, x: x * 0.5, x0)`."""
    from .ops import constant
    if isinstance(lower, (int, np.integer)) and isinstance(upper, (int, np.integer)):
        lo, hi = int(lower), int(upper)
        if tracing() is None:
            val = init_val
            init, tree = _leaves(init_val)
            types = [type_of(t) for t in init]
            for i in range(lo, hi):
                val = _same_as_init("fori_loop", body_fun(constant(i, dtype=np.int32), val),
                                    tree, types, i - lo)
            return val

        def step(carry: Any, _: Any) -> Any:
            i, val = carry
            return (i + 1, body_fun(i, val)), ()
        (_, val), _ = _scan_carry(step, (constant(lo, dtype=np.int32), init_val),
                                  max(0, hi - lo), what="fori_loop")
        return val
    lo_t, hi_t = as_tensor(lower, I32), as_tensor(upper, I32)
    _, val = while_loop(lambda i, v: i < hi_t, lambda i, v: (i + 1, body_fun(i, v)),
                        (lo_t, init_val))
    return val


# --------------------------------------------------------------------------- cond


def cond(pred: TensorInput, true_fn: Callable[[], Structure] | None = None,
         false_fn: Callable[[], Structure] | None = None, name: str | None = None) -> Structure:
    """`true_fn()` if `pred` else `false_fn()`. `pred` is a bool scalar or a bool tensor of
    one element (more elements raise ValueError, another dtype TypeError). Inside a
    compiled function with a traced `pred` both branches are traced and one runs. Example:
    `tj.cond(x > 0, lambda: x, lambda: -x)`."""
    if true_fn is None or false_fn is None:
        raise at_user_line(TypeError("cond: true_fn and false_fn are required"))
    if isinstance(pred, (bool, np.bool_)):
        return true_fn() if pred else false_fn()
    p = _scalar_bool("cond: pred", as_tensor(pred))
    if tracing() is None:
        return true_fn() if bool(p) else false_fn()
    index = bind("convert", p, dtype=I32)
    return _traced_branches(index, [false_fn, true_fn], ["false_fn", "true_fn"], "cond")


def switch_case(branch_index: TensorInput, branch_fns: BranchFns,
                default: Callable[[], Structure] | None = None, name: str | None = None
                ) -> Structure:
    """`branch_fns[branch_index]()`; an index out of range runs `default`, or the last
    branch without one (TensorFlow's rule). `branch_fns` is a list of callables, a list of
    (int, callable) pairs or a dict with the keys 0..n-1.

    >>> branches = [lambda: tj.constant(10.), lambda: tj.constant(20.)]
    >>> tj.switch_case(tj.constant(1), branches).numpy()
    array(20., dtype=float32)
    """
    fns = _branch_list(branch_fns)
    if default is not None:
        fns = fns + [default]
    idx = as_tensor(branch_index, I32)
    if idx.shape != () or idx.dtype != I32:
        raise at_user_line(TypeError(f"switch_case: branch_index must be a scalar int32 "
                                     f"tensor, got {type_of(idx)}"))
    if tracing() is None:
        i = int(idx)
        return fns[i if 0 <= i < len(fns) else len(fns) - 1]()
    names = [f"branch_fns[{i}]" for i in range(len(fns) - (default is not None))]
    return _traced_branches(idx, fns, names + (["default"] if default else []), "switch_case")


def _branch_list(branch_fns: Any) -> list[Callable[[], Any]]:
    items: list[Any] = (list(branch_fns.items()) if isinstance(branch_fns, dict)
                        else list(branch_fns))
    if not items:
        raise at_user_line(ValueError("switch_case: branch_fns must not be empty"))
    if all(callable(f) for f in items):
        return list(items)
    keys = [k for k, _ in items]
    if sorted(keys) != list(range(len(keys))):
        raise at_user_line(ValueError(f"switch_case: branch keys must be 0..{len(keys) - 1}, "
                                      f"got {keys}"))
    return [f for _, f in sorted(items, key=lambda kv: kv[0])]


def _traced_branches(index: Any, fns: Sequence[Callable[[], Any]], names: list[str],
                     what: str) -> Any:
    regions = [trace_region(f, [], None, n.replace("[", "").replace("]", ""),
                            lambda f, _: f()) for f, n in zip(fns, names)]
    first = regions[0]
    for r, n in zip(regions[1:], names[1:]):
        if not same_structure(r.out_tree, first.out_tree) or \
                [v.type for v in r.results] != [v.type for v in first.results]:
            want = describe_structure(first.out_tree, [v.type for v in first.results])
            got = describe_structure(r.out_tree, [v.type for v in r.results])
            raise at_user_line(TypeError(
                f"{what}: {names[0]} returns {want} but {n} returns {got}; every branch must "
                "return the same structure of the same shapes and dtypes"))
    oks = [join_checks(r) for r in regions]
    checked = any(ok is not None for ok in oks)
    if checked:                 # the asserts of the branch taken: one more result
        for r, ok in zip(regions, oks):
            r.results.append(true_in(r) if ok is None else ok)
    fns_, consts = close(regions)
    outs = bind("cond", index, *consts, branches=tuple(fns_))
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    if checked:
        keep_checks([outs.pop()])
    return unflatten(first.out_tree, outs)


# --------------------------------------------------------------------------- scan


def _known_length(what: str, n: Any) -> int:
    """The number of steps of a scan: its IR loop (and reverse mode's stack) is sized
    while tracing, so a leading axis unknown until run time is refused by name."""
    if is_dim(n):
        raise at_user_line(TypeError(
            f"{what}: the leading axis of elems has a size unknown while tracing ({n}, a None "
            "in the input signature), and a scan's length must be known; give the size in "
            "the signature, or loop with tj.while_loop up to tj.shape(elems)[0]"))
    return int(n)


def _scan_carry(step: Callable[[Any, Any], Any], init: Any, length: int, elems: Any = None,
                reverse: bool = False, what: str = "scan") -> tuple[Any, Any]:
    """`carry, y = step(carry, x)` over the leading axis of `elems` (or `length` times
    with `x = None`); returns (final carry, stacked ys) with the structures `step` gives."""
    length = _known_length(what, length)
    c0, ctree = _leaves(init)
    ctypes = [type_of(t) for t in c0]
    xs, xtree = _leaves(elems) if elems is not None else ([], None)
    for x in xs:
        if not x.shape or x.shape[0] != length:
            raise at_user_line(ValueError(
                f"{what}: every element tensor needs a leading axis of length {length}, got "
                f"{type_of(x)}"))
    xtypes = [TensorType(x.shape[1:], x.dtype) for x in xs]
    paths = leaf_paths(ctree, "carry")
    n_c = len(c0)
    tree = ("tuple", None, (ctree, xtree) if elems is not None else (ctree,))

    def call(f: Any, args: Any) -> Any:
        carry, x = args if elems is not None else (args[0], None)
        out = f(carry, x)
        if not isinstance(out, tuple) or len(out) != 2:
            raise at_user_line(TypeError(f"{what}: the step must return (carry, y)"))
        return out

    r = trace_region(step, ctypes + xtypes, tree, fn_name(step, "body"), call,
                     expect=ctypes)
    kind, _, (out_ctree, ytree) = r.out_tree
    if not same_structure(out_ctree, ctree):
        raise at_user_line(TypeError(f"{what}: the function returns a structure that "
                                     "differs from its accumulator's"))
    check_types(what, paths, ctypes, [v.type for v in r.results[:n_c]], "after one step")
    ok = join_checks(r)
    if ok is not None:          # the step's asserts: one more carry, true while they pass
        r.params.insert(n_c, Value(BOOL))
        r.results.insert(n_c, ok)
        c0 = c0 + [irops.const(True, np.bool_)]
    (fb,), consts = close([r])
    outs = bind("scan", *consts, *c0, *xs, body=fb, n_consts=len(consts), n_carry=len(c0),
                length=length, reverse=reverse)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    if ok is not None:
        keep_checks([outs.pop(n_c)])
    return unflatten(ctree, outs[:n_c]), unflatten(ytree, outs[n_c:])


def scan(fn: Callable[[Structure, Structure], Structure], elems: Structure,
         initializer: Structure = None, parallel_iterations: int = 10, back_prop: bool = True,
         swap_memory: bool = False, infer_shape: bool = True, reverse: bool = False,
         name: str | None = None) -> Structure:
    """TensorFlow's `scan`: `a = fn(a, x)` over the leading axis of `elems`, returning
    every `a` stacked. Without `initializer` the first element (the last when `reverse`)
    starts the scan and is the first (last) output. Example:
    `tj.scan(lambda a, x: a + x, tj.constant([1., 2., 3.]))` is `[1., 3., 6.]`."""
    return _scan_like("scan", fn, elems, initializer, reverse, stacked=True)


def foldl(fn: Callable[[Structure, Structure], Structure], elems: Structure,
          initializer: Structure = None, parallel_iterations: int = 10, back_prop: bool = True,
          swap_memory: bool = False, name: str | None = None) -> Structure:
    """`a = fn(a, x)` over the leading axis of `elems`, first to last; returns the final
    `a`. Example: `tj.foldl(lambda a, x: a - x, tj.constant([1., 2., 3.]))` is -4."""
    return _scan_like("foldl", fn, elems, initializer, False, stacked=False)


def foldr(fn: Callable[[Structure, Structure], Structure], elems: Structure,
          initializer: Structure = None, parallel_iterations: int = 10, back_prop: bool = True,
          swap_memory: bool = False, name: str | None = None) -> Structure:
    """`foldl` from the last element to the first.

    >>> tj.foldr(lambda acc, x: acc * 10. + x, tj.constant([1., 2., 3.])).numpy()
    array(321., dtype=float32)
    """
    return _scan_like("foldr", fn, elems, initializer, True, stacked=False)


def _scan_like(what: str, fn: Callable[[Any, Any], Any], elems: Any, initializer: Any,
               reverse: bool, stacked: bool) -> Any:
    from .ops import concat, expand_dims
    xs, xtree = _leaves(elems)
    if not xs or any(not x.shape for x in xs):
        raise at_user_line(ValueError(f"{what}: elems must be tensors with a leading axis"))
    n = _known_length(what, xs[0].shape[0])
    first = None
    if initializer is None:
        if n == 0:
            raise at_user_line(ValueError(f"{what}: elems is empty and there is no initializer"))
        k = n - 1 if reverse else 0
        first = unflatten(xtree, [x[k] for x in xs])
        rest = [x[:-1] if reverse else x[1:] for x in xs]
        initializer, xs, n = first, rest, n - 1
    if tracing() is None:
        acc, ys = initializer, []
        init, itree = _leaves(initializer)
        itypes = [type_of(t) for t in init]
        for step, i in enumerate(range(n - 1, -1, -1) if reverse else range(n)):
            acc = _same_as_init(what, fn(acc, unflatten(xtree, [x[i] for x in xs])), itree,
                                itypes, step)
            ys.append(acc)
        if not stacked:
            return acc
        ys = ys[::-1] if reverse else ys
        if first is not None:
            ys = ys + [first] if reverse else [first] + ys
        if not ys:      # no elements: the initializer's structure with no rows
            return unflatten(itree, [_no_rows(t) for t in itypes])
        return _stack_structures(ys)
    acc, ys = _scan_carry(lambda a, x: (lambda r: (r, r))(fn(a, x)), initializer, n,
                          unflatten(xtree, xs), reverse, what)
    if not stacked:
        return acc
    if first is None:
        return ys
    y_leaves, ytree = flatten(ys)
    f_leaves, _ = flatten(first)
    joined = [concat([y, expand_dims(as_tensor(f), 0)] if reverse
                     else [expand_dims(as_tensor(f), 0), y], 0)
              for y, f in zip(y_leaves, f_leaves)]
    return unflatten(ytree, joined)


def _same_as_init(what: str, out: Any, tree: Any, types: list[TensorType], step: int
                  ) -> Any:
    """An eager step's result, held to the checks a traced step gets (the same errors)."""
    leaves, out_tree = flatten(out)
    if not same_structure(out_tree, tree):
        raise at_user_line(TypeError(f"{what}: the function returns a structure that "
                                     "differs from its accumulator's"))
    new = [as_tensor(x, t.dtype) for x, t in zip(leaves, types)]
    check_types(what, leaf_paths(tree, "carry"), types, [type_of(t) for t in new],
                f"after step {step + 1}")
    return unflatten(tree, new)


def _no_rows(t: TensorType) -> Tensor:
    from .ops import zeros
    return zeros((0,) + t.shape, t.dtype)


def _stack_structures(items: list[Any]) -> Any:
    from .ops import stack
    leaves = [flatten(it)[0] for it in items]
    tree = flatten(items[0])[1]
    return unflatten(tree, [stack([as_tensor(leaf[j]) for leaf in leaves], 0)
                            for j in range(len(leaves[0]))])


def map_fn(fn: Callable[[Structure], Structure], elems: Structure, dtype: Structure = None,
           parallel_iterations: int | None = None, back_prop: bool = True,
           swap_memory: bool = False, infer_shape: bool = True, name: str | None = None,
           fn_output_signature: Structure = None) -> Structure:
    """`fn` applied to each slice of `elems` along its leading axis, results stacked.
    Example: `tj.map_fn(lambda x: x * 2, tj.constant([1., 2.]))`."""
    xs, xtree = _leaves(elems)
    if not xs or any(not x.shape for x in xs):
        raise at_user_line(ValueError("map_fn: elems must be tensors with a leading axis"))
    n = _known_length("map_fn", xs[0].shape[0])
    if tracing() is None:
        if n == 0:
            # no slice to call `fn` on: its result types come from a trace of it, as
            # inside a compiled function
            xtypes = [TensorType(x.shape[1:], x.dtype) for x in xs]
            r = trace_region(fn, xtypes, xtree, fn_name(fn, "fn"), lambda f, e: f(e))
            return unflatten(r.out_tree, [_no_rows(v.type) for v in r.results])
        return _stack_structures([fn(unflatten(xtree, [x[i] for x in xs])) for i in range(n)])
    _, ys = _scan_carry(lambda c, x: (c, fn(x)), (), n, unflatten(xtree, xs), False, "map_fn")
    return ys


# --------------------------------------------------------------------------- vectorized_map


def vectorized_map(fn: Callable[[Structure], Structure], elems: Structure,
                   fallback_to_while_loop: bool = True, warn: bool = True) -> Structure:
    """`fn` applied to every slice of `elems` along its leading axis at once, results
    stacked, as `map_fn` but vectorized: `fn` is traced once on one slice and its
    operations batched over all of them (every primitive has a batching rule, so there is
    never a loop to fall back to; `fallback_to_while_loop` and `warn` are accepted and
    ignored). Example: `tj.vectorized_map(lambda r: tj.reduce_sum(r * r),
    tj.ones([4, 3]))` is `[3., 3., 3., 3.]`."""
    from .ir.batching import vmap
    from .ir.interp import run
    del fallback_to_while_loop, warn
    xs, xtree = _leaves(elems)
    if not xs or any(not x.shape for x in xs):
        raise at_user_line(ValueError("vectorized_map: elems must be tensors with a leading "
                                      "axis"))
    n = _known_length("vectorized_map", xs[0].shape[0])
    for x in xs:
        if x.shape[0] != n:
            raise at_user_line(ValueError(
                f"vectorized_map: every element tensor needs a leading axis of length {n}, "
                f"got {type_of(x)}"))
    xtypes = [TensorType(x.shape[1:], x.dtype) for x in xs]
    r = trace_region(fn, xtypes, xtree, fn_name(fn, "fn"), lambda f, e: f(e))
    ok = join_checks(r)
    if ok is not None:      # the checks of every slice: one more result
        r.results.append(ok)
    (f,), objs = close([r])
    consts = [as_tensor(o) for o in objs]
    batched = vmap(f, [False] * len(consts) + [True] * len(xs), n, name=f"{f.name}_vmap")
    outs = run(batched, consts + xs)
    if ok is not None:
        keep_checks([outs.pop()])
    return unflatten(r.out_tree, outs)
