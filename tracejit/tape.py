"""`GradientTape` and `custom_gradient`, with TensorFlow's API.

How a gradient is taken: the tape holds the operations it recorded (each a primitive, its
input and output tensors). `gradient` turns them into an IR `Function`, asks the IR
autodiff pass for a gradient Function, and replays that Function through `bind`. Replay
is just more operations, so enclosing tapes record it (higher orders) and, inside a
compiled function, it becomes part of the trace (forward and backward in one native
function).

Invariants: a tape records only while inside its `with` block and not paused; it records an
operation only if it watches one of the inputs, and then watches its outputs; a
non-persistent tape gives one set of gradients; it never records its own replay.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .context import TraceInterpreter, TraceState, active_tapes
from .errors import at_user_line
from .ir.autodiff import GradFunction, vjp
from .ir.core import Function, Instr, TensorType, Value, current_interpreter, interpreting
from .ir.interp import run
from .ir.prims.registry import Primitive
from .nest import flatten, unflatten
from .tensor import Tensor, TensorLike


class UnconnectedGradients:
    NONE = "none"
    ZERO = "zero"


class _Record:
    __slots__ = ("prim", "inputs", "params", "outs", "custom")

    def __init__(self, prim: Primitive, inputs: Sequence[Tensor], params: dict[str, Any],
                 outs: Sequence[Tensor], custom: Callable[..., Any] | None = None):
        self.prim = prim
        self.inputs = tuple(inputs)
        self.params = params
        self.outs = tuple(outs)
        self.custom = custom


CUSTOM = Primitive("custom_gradient", kind="custom", shape_rule=lambda *a, **k: (),
                   impl=lambda *a, **k: (), vjp=None,
                   doc="a user function whose VJP is user-defined (an eager tape's record; "
                       "traced code has `custom_vjp` instructions instead)")


@contextlib.contextmanager
def _no_tapes() -> Iterator[None]:
    token = active_tapes.set(())
    try:
        yield
    finally:
        active_tapes.reset(token)


class GradientTape:
    """Records operations on watched tensors so that gradients can be taken.

    Example:
        x = tj.constant(3.0)
        with tj.GradientTape() as t:
            t.watch(x)
            y = x * x
        t.gradient(y, x)  # 6.0
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self._persistent = bool(persistent)
        self._watch_accessed = bool(watch_accessed_variables)
        self._records: list[_Record] = []
        self._watched: dict[int, Tensor] = {}
        self._variables: dict[int, Any] = {}
        self._var_reads: dict[int, list[Tensor]] = {}
        self._recording = False
        self._token: Any = None
        self._used = False

    # ---------------------------------------------------------------- recording

    def __enter__(self) -> "GradientTape":
        if self._token is not None:
            # TensorFlow: ValueError "Tape is still recording ... re-enter an already-active
            # tape".
            raise at_user_line(ValueError(
                "this GradientTape is still recording: it cannot be entered again inside its "
                "own `with` block (use a second tape to record a gradient computation)"))
        self._token = active_tapes.set(active_tapes.get() + (self,))
        self._recording = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self._recording = False
        active_tapes.reset(self._token)
        self._token = None

    def watch(self, tensor: Any) -> None:
        """Record operations on `tensor` (a tensor, a Variable, or a nested list of them)."""
        from .variable import Variable
        for t in flatten(tensor)[0]:
            if isinstance(t, Variable):
                self._watch_variable(t, t._read_untracked())
            elif isinstance(t, Tensor):
                self._watched[id(t)] = t
            else:
                # TensorFlow: ValueError "Passed in object ... of type ..., not tf.Tensor or
                # tf.Variable".
                raise at_user_line(ValueError(
                    f"GradientTape.watch: {_short(t)} of type {type(t).__name__} is not a "
                    "tensor or a Variable; convert it with tj.constant first"))

    def _watch_variable(self, var: Any, t: Tensor) -> None:
        self._variables.setdefault(id(var), var)
        reads = self._var_reads.setdefault(id(var), [])
        if not any(r is t for r in reads):
            reads.append(t)
        self._watched[id(t)] = t

    def _read_variable(self, var: Any, t: Tensor) -> None:
        if self._recording and self._watch_accessed and var.trainable:
            self._watch_variable(var, t)

    def _record(self, prim: Primitive, args: Sequence[Tensor], params: dict[str, Any],
                outs: Sequence[Tensor], custom: Callable[..., Any] | None = None) -> None:
        if not self._recording:
            return
        w = self._watched
        for a in args:
            if id(a) in w:
                break
        else:
            return
        self._records.append(_Record(prim, args, params, outs, custom))
        for o in outs:
            w[id(o)] = o

    @contextlib.contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Operations inside this block are not recorded by this tape."""
        was = self._recording
        self._recording = False
        try:
            yield
        finally:
            self._recording = was

    def reset(self) -> None:
        """Forget everything recorded and watched so far."""
        self._records.clear()
        self._watched.clear()
        self._variables.clear()
        self._var_reads.clear()
        self._used = False

    def watched_variables(self) -> tuple[Any, ...]:
        """The Variables this tape watches, in the order they were created (TensorFlow's
        order, whatever the order they were read or watched in)."""
        return tuple(sorted(self._variables.values(), key=lambda v: v._serial))

    # ---------------------------------------------------------------- gradients

    def _check_use(self, what: str) -> None:
        if self._used and not self._persistent:
            raise at_user_line(RuntimeError(
                f"GradientTape.{what} can only be called once on a non-persistent tape; "
                "create it with tj.GradientTape(persistent=True) to take several gradients"))
        self._used = True

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None,
                 unconnected_gradients: Any = UnconnectedGradients.NONE) -> Any:
        """d(sum of target) / d(each source), in the structure of `sources`.

        Called inside the tape's own `with` block, a persistent tape records the gradient
        computation too (so a second call differentiates it again), and a non-persistent
        tape stops recording (TensorFlow's rules). A source that is itself a target gets
        the target's seed (ones), watched or not."""
        self._check_use("gradient")
        self._stop_if_spent()
        target_leaves = flatten(target)[0]
        targets = [_tensor(t, "target") for t in target_leaves]
        src_leaves, tree = flatten(sources)
        if output_gradients is not None:
            seeds = [None if g is None else _tensor(g, "output_gradients")
                     for g in flatten(output_gradients)[0]]
            if len(seeds) != len(targets):
                raise at_user_line(ValueError(
                    f"output_gradients has {len(seeds)} tensors for {len(targets)} targets"))
        else:
            seeds = [None] * len(targets)
        prog = self._program(targets, src_leaves, target_leaves)
        results = prog.replay(seeds)
        out = [self._finish(leaf, res, unconnected_gradients)
               for leaf, res in zip(src_leaves, results)]
        return unflatten(tree, out)

    def _stop_if_spent(self) -> None:
        # TensorFlow pops a non-persistent tape that computes its gradient inside its own
        # block: it can give no other gradient, so recording more would only cost memory.
        if self._recording and not self._persistent:
            self._recording = False

    def _replaying(self) -> Any:
        """The context a gradient is replayed in: a persistent tape inside its own block
        records the replay (higher derivatives from one tape); otherwise the tape pauses."""
        if self._recording and self._persistent:
            return contextlib.nullcontext()
        return self.stop_recording()

    def _program(self, targets: list[Tensor], src_leaves: list[Any],
                 target_leaves: list[Any] | None = None) -> "_GradProgram":
        return _GradProgram(self, targets, src_leaves, target_leaves or targets)

    def _finish(self, leaf: Any, res: Any, unconnected: Any) -> Any:
        mode = getattr(unconnected, "value", unconnected)
        if mode not in ("none", "zero"):
            raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {mode!r}")
        if res is None:
            if mode == "zero":
                from .ops import zeros
                return zeros(leaf.shape, leaf.dtype)
            return None
        return res

    def jacobian(self, target: Any, sources: Any, unconnected_gradients: Any = "none",
                 parallel_iterations: Any = None, experimental_use_pfor: bool = True) -> Any:
        """d target[i...] / d source[j...], shaped target.shape + source.shape.

        One batched backward pass (the gradient Function vmapped over the rows of an
        identity seed), not one pass per output: traced code does not grow with the
        number of outputs."""
        from .ops import reshape, zeros
        self._check_use("jacobian")
        self._stop_if_spent()
        t = _tensor(target, "target")
        src_leaves, tree = flatten(sources)
        prog = self._program([t], src_leaves, [target])
        n = int(np.prod(t.shape, dtype=np.int64))
        res = prog.replay_batched(_identity_seeds(n, t.shape, t.dtype), n) if n else \
            [None] * len(src_leaves)
        out = []
        zero = getattr(unconnected_gradients, "value", unconnected_gradients) == "zero"
        for leaf, r in zip(src_leaves, res):
            shape = tuple(t.shape) + tuple(leaf.shape)
            if r is None:
                out.append(zeros(shape, leaf.dtype) if zero or n == 0 else None)
            else:
                out.append(reshape(r, shape))
        return unflatten(tree, out)

    def batch_jacobian(self, target: Any, source: Any, unconnected_gradients: Any = "none",
                       parallel_iterations: Any = None, experimental_use_pfor: bool = True
                       ) -> Any:
        """For each batch row b: d target[b, i...] / d source[b, j...], shaped
        (B,) + target.shape[1:] + source.shape[1:]. Rows must not depend on each other.
        One batched backward pass over the m = prod(target.shape[1:]) output columns."""
        from .ops import broadcast_to, reshape, transpose, zeros
        self._check_use("batch_jacobian")
        self._stop_if_spent()
        t = _tensor(target, "target")
        s = source
        if t.ndim < 1 or len(s.shape) < 1 or t.shape[0] != s.shape[0]:
            raise at_user_line(ValueError(
                f"batch_jacobian needs target and source with the same leading batch "
                f"dimension, got shapes {t.shape} and {tuple(s.shape)}"))
        b = t.shape[0]
        m = int(np.prod(t.shape[1:], dtype=np.int64))
        shape = (b,) + tuple(t.shape[1:]) + tuple(s.shape[1:])
        zero = getattr(unconnected_gradients, "value", unconnected_gradients) == "zero"
        prog = self._program([t], [s], [target])
        if m == 0 or b == 0:
            (r,) = [None]
        else:
            eye = _identity_seeds(m, (m,), t.dtype)                      # (m, m)
            seeds = broadcast_to(reshape(eye, (m, 1, m)), (m, b, m))      # (m, B, m)
            (r,) = prog.replay_batched(reshape(seeds, (m,) + tuple(t.shape)), m)
        if r is None:
            return zeros(shape, s.dtype) if zero or m == 0 or b == 0 else None
        r = reshape(r, (m, b, -1))                                        # (m, B, src)
        return reshape(transpose(r, (1, 0, 2)), shape)


def _identity_seeds(n: int, shape: tuple[int, ...], dtype: Any) -> Tensor:
    """Rows of the n x n identity, each shaped like the target: (n,) + shape. Built from
    `iota`, so a traced Jacobian carries no n*n literal."""
    from .ir.core import bind
    from .ops import cast, reshape
    rows = bind("iota", shape=(n, n), dimension=0, dtype=np.dtype(np.int32))
    cols = bind("iota", shape=(n, n), dimension=1, dtype=np.dtype(np.int32))
    eye = cast(bind("eq", rows, cols), dtype)
    return reshape(eye, (n,) + tuple(shape))


def _tensor(x: Any, what: str) -> Tensor:
    from .ops import convert_to_tensor
    if x is None:
        raise at_user_line(TypeError(f"{what} is None"))
    return convert_to_tensor(x)


class _GradProgram:
    """The recorded computation of one tape as an IR Function, its gradient Function, and
    the tensors to feed it; `replay(seeds)` runs the gradient through `bind`."""

    def __init__(self, tape: GradientTape, targets: list[Tensor], src_leaves: list[Any],
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
        for leaf, srcs in zip(src_leaves, self.leaf_sources):
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
        target_ids = {id(t) for t in targets}
        for leaf, srcs, idx in zip(src_leaves, self.leaf_sources, self.groups):
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
        results = []
        for idx in self.groups:
            parts = [flat[i] for i in idx if flat[i] is not None]
            acc = parts[0] if parts else None
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
        results = []
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


def _short(x: Any) -> str:
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


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
        vals = []
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
