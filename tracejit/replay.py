"""The computation a tape recorded, as an IR Function; its gradient Function; and the
replay of that gradient through `bind` (eagerly, into a trace, or batched for Jacobians).

Invariants: the gradient Function is built once per `gradient` call from the records the
tape holds at that moment; replay feeds it the recorded tensors (residuals), the tensors
user-defined gradients captured (extra parameters) and the seeds; a custom gradient of an
eager record is traced into the gradient Function (`_custom_rule`), so what it computes
is replayed like everything else and enclosing tapes record it.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Any
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .context import TraceInterpreter, TraceState, active_tapes
from .errors import at_user_line
from .ir.autodiff import GradFunction, vjp
from .ir.core import Function, Instr, TensorType, Value, current_interpreter, interpreting
from .ir.interp import run
from .tensor import Tensor, TensorLike


@contextlib.contextmanager
def _no_tapes() -> Iterator[None]:
    token = active_tapes.set(())
    try:
        yield
    finally:
        active_tapes.reset(token)


def _identity_seeds(n: int, shape: tuple[int, ...], dtype: Any) -> Tensor:
    """Rows of the n x n identity, each shaped like the target: (n,) + shape. Built from
    `iota`, so a traced Jacobian carries no n*n literal."""
    from .ir.core import bind
    from .ops import cast, reshape
    rows = bind("iota", shape=(n, n), dimension=0, dtype=np.dtype(np.int32))
    cols = bind("iota", shape=(n, n), dimension=1, dtype=np.dtype(np.int32))
    eye = cast(bind("eq", rows, cols), dtype)
    return reshape(eye, (n,) + tuple(shape))


class _GradProgram:
    """The recorded computation of one tape as an IR Function, its gradient Function, and
    the tensors to feed it; `replay(seeds)` runs the gradient through `bind`."""

    def __init__(self, tape: Any, targets: list[Tensor], src_leaves: list[Any],
                 target_leaves: list[Any]):
        from .variable import Variable
        self.tape = tape
        self.targets = targets
        tensor_of: dict[int, Tensor] = {}
        value_of: dict[int, Value] = {}
        params: list[Value] = []

        def val(t: Tensor) -> Value:
            v = value_of.get(id(t))
            if v is None:
                v = Value(TensorType(t.shape, t.dtype))
                value_of[id(t)] = v
                tensor_of[id(v)] = t
                params.append(v)
            return v

        # Which source tensors stand for each leaf (a Variable: every value read from it).
        self.leaf_sources: list[list[Tensor]] = []
        for leaf in src_leaves:
            if isinstance(leaf, Variable):
                reads = list(tape._var_reads.get(id(leaf), []))
                # The Variable itself as a target: its value stands for it (d v / d v = 1).
                reads += [t for t, raw in zip(targets, target_leaves)
                          if raw is leaf and not any(t is r for r in reads)]
                self.leaf_sources.append(reads)
            elif isinstance(leaf, Tensor):
                self.leaf_sources.append([leaf])
            else:
                raise at_user_line(TypeError(
                    f"gradient sources must be tensors or Variables, got {type(leaf).__name__}"))
        self.src_leaves = src_leaves

        instrs: list[Instr] = []
        overrides: dict[int, Any] = {}
        self.captured: list[list[tuple[Value, Any]]] = []
        for rec in tape._records:
            ins = [val(a) for a in rec.inputs]
            outs = []
            for o in rec.outs:
                v = Value(TensorType(o.shape, o.dtype))
                value_of[id(o)] = v
                tensor_of[id(v)] = o
                outs.append(v)
            instr = Instr(rec.prim.name, ins, rec.params, outs)
            instrs.append(instr)
            if rec.custom is not None:
                overrides[id(instr)] = _custom_rule(rec.custom, len(rec.inputs), self)
        results = [val(t) for t in targets]
        flat_sources: list[Value] = []
        self.groups: list[list[int]] = []
        for srcs in self.leaf_sources:
            idx = []
            for s in srcs:
                idx.append(len(flat_sources))
                flat_sources.append(val(s))
            self.groups.append(idx)
        fn = Function("tape", params, instrs, results)
        self.extra_tensors: list[Any] = []
        self.grad: GradFunction = vjp(fn, flat_sources, name="grad", rules=overrides)
        self._batched: dict[int, Function] = {}
        self.residual_tensors = [tensor_of[id(v)] for v in self.grad.residuals]
        extra_map = {id(v): t for group in self.captured for v, t in group}
        self.extra_tensors = [extra_map[id(v)] for v in self.grad.extra_params]

        interp = current_interpreter()
        if isinstance(interp, TraceInterpreter):
            interp.state.grad_functions.append(self.grad)
            interp.state.grad_residuals[id(self.grad)] = self.residual_tensors
        target_ids = {id(t) for t in targets}
        for leaf, srcs in zip(src_leaves, self.leaf_sources):
            if isinstance(leaf, Tensor) and id(leaf) not in tape._watched \
                    and id(leaf) not in target_ids:
                _warn_unwatched(leaf)
            elif isinstance(leaf, TensorLike) and leaf.dtype.kind != "f" and any(
                    id(s) in tape._watched for s in srcs):
                warnings.warn(f"the gradient source of dtype {leaf.dtype} is not a float "
                              "tensor; its gradient is None",
                              stacklevel=_user_stacklevel())

    def replay_batched(self, seeds: Tensor, n: int) -> list[Any]:
        """Like `replay` for n seeds at once, stacked on a leading axis: the gradient
        Function vmapped over its seed. Results have a leading axis of n."""
        from .ir.batching import vmap
        from .ops import add
        gf = self.grad
        bfn = self._batched.get(n)
        if bfn is None:
            flags = [False] * (len(self.residual_tensors) + len(self.extra_tensors)) + [True]
            bfn = vmap(gf.fn, flags, n, name=f"{gf.fn.name}_batched")
            self._batched[n] = bfn
        args = self.residual_tensors + self.extra_tensors + [seeds]
        with self.tape._replaying():
            outs = run(bfn, args)
        it = iter(outs)
        flat: list[Any] = [next(it) if c else None for c in gf.connected]
        results: list[Any] = []
        for idx in self.groups:
            parts = [flat[i] for i in idx if flat[i] is not None]
            acc: Any = parts[0] if parts else None
            for p in parts[1:]:
                acc = add(acc, p)
            results.append(acc)
        return results

    def replay(self, seeds: Sequence[Tensor | None]) -> list[Any]:
        from .ops import add, cast, ones_like
        gf = self.grad
        seed_tensors = []
        for t, s in zip(self.targets, seeds):
            if s is None:
                s = ones_like(t)
            elif s.shape != t.shape:
                raise at_user_line(ValueError(
                    f"output_gradients shape {s.shape} does not match target shape {t.shape}"))
            elif s.dtype != t.dtype:
                s = cast(s, t.dtype)
            seed_tensors.append(s)
        args = self.residual_tensors + self.extra_tensors + seed_tensors
        with self.tape._replaying():
            outs = run(gf.fn, args)
        # Map back: connected sources in order; unconnected -> None; variables summed.
        it = iter(outs)
        flat: list[Any] = [next(it) if c else None for c in gf.connected]
        results: list[Any] = []
        for idx in self.groups:
            parts = [flat[i] for i in idx if flat[i] is not None]
            if not parts:
                results.append(None)
                continue
            acc = parts[0]
            for p in parts[1:]:
                acc = add(acc, p)
            results.append(acc)
        return results


def _user_stacklevel() -> int:
    """The `stacklevel` that makes a warning given by our caller point at the innermost
    frame outside tracejit: the user's own line, however deep inside tracejit we are."""
    from .errors import _our_dirs
    dirs = _our_dirs()
    f, level = sys._getframe(1), 1
    while f.f_back is not None and os.path.abspath(f.f_code.co_filename).startswith(dirs):
        f, level = f.f_back, level + 1
    return level


def _warn_unwatched(t: Tensor) -> None:
    # Through `warnings` with the user's line as the location, so the default filter shows
    # it once per call site: a second mistake at another line is reported too.
    warnings.warn(
        f"GradientTape.gradient: a source tensor (shape {t.shape}, dtype {t.dtype}) was never "
        "watched by this tape, so its gradient is None. Call tape.watch(x) inside the `with "
        "tj.GradientTape() as tape:` block before using x, or make x a tj.Variable (trainable "
        "Variables are watched automatically).", stacklevel=_user_stacklevel())


def _custom_rule(grads: Callable[..., list[Any]], n_inputs: int, prog: _GradProgram
                 ) -> Callable[..., Any]:
    """A VJP rule (for the IR autodiff pass) that runs a user's gradient function (adapted
    by `custom._Grads`: one gradient or None per recorded input) as a trace into the
    gradient Function being built; tensors it captures become extra parameters of that
    Function. A `custom_gradient` called inside it becomes a `custom_vjp` instruction, so
    an outer tape replaying this gradient differentiates it with its own gradient."""
    def rule(g: Any, *ins: Any, out: Any) -> list[Any]:
        from .ops import convert_to_tensor
        builder = current_interpreter()
        st = TraceState.__new__(TraceState)
        TraceState.__init__(st, "custom")
        st.builder = builder  # type: ignore[assignment]
        gs = g if isinstance(g, tuple) else (g,)
        with interpreting(TraceInterpreter(st)), _no_tapes():
            res_list = grads(*[st.wrap(x) for x in gs])
        if len(res_list) != n_inputs:
            raise at_user_line(ValueError(
                f"a custom gradient function returned {len(res_list)} gradients for "
                f"{n_inputs} inputs"))
        vals: list[Value | None] = []
        for r, x in zip(res_list, ins[:n_inputs]):
            if r is None:
                vals.append(None)
                continue
            with interpreting(TraceInterpreter(st)):
                t = convert_to_tensor(r, dtype_hint=x.dtype)
                if t.dtype != x.dtype:
                    raise at_user_line(TypeError(
                        f"a custom gradient of dtype {t.dtype} for an input of dtype "
                        f"{x.dtype}"))
                vals.append(st.value_of(t))
        prog.captured.append(list(st.captures))
        return vals
    return rule
