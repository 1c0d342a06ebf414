"""`GradientTape`, with TensorFlow's API and semantics (docs/gradients.md).

How a gradient is taken: the tape holds the operations it recorded (each a primitive, its
input and output tensors). `gradient` turns them into an IR `Function`, asks the IR
autodiff pass for a gradient Function, and replays that Function through `bind`
(`replay.py`). Replay is just more operations, so enclosing tapes record it (higher
orders) and, inside a compiled function, it becomes part of the trace (forward and
backward in one native function).

Invariants: a tape records only while inside its `with` block and not paused; it records an
operation only if it watches one of the inputs, and then watches its outputs; a
non-persistent tape gives one set of gradients (and stops recording when it gives them
inside its block); it records its own replay only when it is persistent and inside its
block (TensorFlow's rule: so one tape can give higher derivatives).
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, TypeVar
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .context import active_tapes
from .errors import at_user_line
from .ir.prims.registry import Primitive
from .trees import flatten, unflatten
from .replay import _GradProgram, _identity_seeds
from .tensor import Structure, Tensor, TensorInput

if TYPE_CHECKING:
    from .variable import Variable


class UnconnectedGradients:
    """What `GradientTape.gradient` returns for a source the target does not depend on:
    `NONE` (None, the default) or `ZERO` (zeros of the source's shape).

    >>> x, y = tj.Variable(1.), tj.Variable(2.)
    >>> with tj.GradientTape() as tape:
    ...     z = x * 3.
    >>> dx, dy = tape.gradient(z, [x, y], unconnected_gradients=tj.UnconnectedGradients.ZERO)
    >>> float(dx), float(dy)
    (3.0, 0.0)
    """

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


# A user function whose VJP is user-defined: an eager tape's record, never registered
# (traced code has `custom_vjp` instructions instead).
CUSTOM = Primitive("custom_gradient", kind="call", shape_rule=lambda *a, **k: (),
                   impl=lambda *a, **k: (), vjp=None)


_R = TypeVar("_R", bound="Recorder")


class Recorder:
    """A `with` block that sees every operation bound inside it (`GradientTape`,
    `ForwardAccumulator`): entering pushes it on `active_tapes`, leaving pops it; entering
    it again inside its own block is a ValueError with `_REENTERED`."""

    _REENTERED = ""
    _recording: bool
    _token: Any

    def __enter__(self: _R) -> _R:
        if self._token is not None:
            raise at_user_line(ValueError(self._REENTERED))
        self._token = active_tapes.set(active_tapes.get() + (self,))
        self._recording = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self._recording = False
        active_tapes.reset(self._token)
        self._token = None


class GradientTape(Recorder):
    """Records operations on watched tensors so that gradients can be taken.

    Example:
        x = tj.constant(3.0)
        with tj.GradientTape() as t:
            t.watch(x)
            y = x * x
        t.gradient(y, x)  # 6.0
    """

    # TensorFlow: ValueError "Tape is still recording ... re-enter an already-active tape".
    _REENTERED = ("this GradientTape is still recording: it cannot be entered again inside "
                  "its own `with` block (use a second tape to record a gradient computation)")

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

    def watch(self, tensor: Structure) -> None:
        """Record operations on `tensor` (a tensor, a Variable, or a nested list of them).

        >>> x = tj.constant(3.)
        >>> with tj.GradientTape() as tape:
        ...     tape.watch(x)
        ...     y = x * x
        >>> tape.gradient(y, x).numpy()
        array(6., dtype=float32)
        """
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

    def _watches_variable(self, var: Any) -> bool:
        """Whether an operation reading `var` inside the block is recorded."""
        return bool(var.trainable and self._watch_accessed or id(var._value) in self._watched)

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
        """Operations inside this block are not recorded by this tape.

        >>> x = tj.Variable(2.)
        >>> with tj.GradientTape() as tape:
        ...     with tape.stop_recording():
        ...         c = x * x
        ...     y = c * x
        >>> tape.gradient(y, x).numpy()      # c is a constant to the tape
        array(4., dtype=float32)
        """
        was = self._recording
        self._recording = False
        try:
            yield
        finally:
            self._recording = was

    def reset(self) -> None:
        """Forget everything recorded and watched so far.

        >>> x = tj.Variable(2.)
        >>> with tj.GradientTape() as tape:
        ...     y = x * x
        ...     tape.reset()
        ...     y = x * 3.
        >>> tape.gradient(y, x).numpy()
        array(3., dtype=float32)
        """
        self._records.clear()
        self._watched.clear()
        self._variables.clear()
        self._var_reads.clear()
        self._used = False

    def watched_variables(self) -> tuple[Variable, ...]:
        """The Variables this tape watches, in the order they were created (TensorFlow's
        order, whatever the order they were read or watched in).

        >>> a, b = tj.Variable(1., name="a"), tj.Variable(2., name="b")
        >>> with tj.GradientTape() as tape:
        ...     y = b * a
        >>> [v.name for v in tape.watched_variables()]
        ['a:0', 'b:0']
        """
        return tuple(sorted(self._variables.values(), key=lambda v: v._serial))

    # ---------------------------------------------------------------- gradients

    def _check_use(self, what: str) -> None:
        if self._used and not self._persistent:
            raise at_user_line(RuntimeError(
                f"GradientTape.{what} can only be called once on a non-persistent tape; "
                "create it with tj.GradientTape(persistent=True) to take several gradients"))
        self._used = True

    def gradient(self, target: Structure, sources: Structure,
                 output_gradients: Structure = None,
                 unconnected_gradients: UnconnectedGradients | str = UnconnectedGradients.NONE
                 ) -> Structure:
        """d(sum of target) / d(each source), in the structure of `sources`.

        Called inside the tape's own `with` block, a persistent tape records the gradient
        computation too (so a second call differentiates it again), and a non-persistent
        tape stops recording (TensorFlow's rules). A source that is itself a target gets
        the target's seed (ones), watched or not.

        >>> w = tj.Variable([1., 2.])
        >>> b = tj.Variable(0.5)
        >>> with tj.GradientTape() as tape:
        ...     loss = tj.reduce_sum(w * w) + b
        >>> grads = tape.gradient(loss, {"w": w, "b": b})
        >>> grads["w"].numpy(), grads["b"].numpy()
        (array([2., 4.], dtype=float32), array(1., dtype=float32))
        """
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
                 target_leaves: list[Any] | None = None) -> _GradProgram:
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

    def jacobian(self, target: TensorInput, sources: Structure,
                 unconnected_gradients: UnconnectedGradients | str = "none",
                 parallel_iterations: int | None = None, experimental_use_pfor: bool = True
                 ) -> Structure:
        """d target[i...] / d source[j...], shaped target.shape + source.shape.

        One batched backward pass (the gradient Function vmapped over the rows of an
        identity seed), not one pass per output: traced code does not grow with the
        number of outputs.

        >>> x = tj.Variable([1., 2.])
        >>> with tj.GradientTape() as tape:
        ...     y = x * x
        >>> tape.jacobian(y, x).numpy()
        array([[2., 0.],
               [0., 4.]], dtype=float32)
        """
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

    def batch_jacobian(self, target: TensorInput, source: Tensor | Variable,
                       unconnected_gradients: UnconnectedGradients | str = "none",
                       parallel_iterations: int | None = None,
                       experimental_use_pfor: bool = True) -> Tensor | None:
        """For each batch row b: d target[b, i...] / d source[b, j...], shaped
        (B,) + target.shape[1:] + source.shape[1:]. Rows must not depend on each other.
        One batched backward pass over the m = prod(target.shape[1:]) output columns.

        >>> x = tj.Variable([[1., 2.], [3., 4.]])     # a batch of two rows
        >>> with tj.GradientTape() as tape:
        ...     y = x * x
        >>> tape.batch_jacobian(y, x).numpy()[1]
        array([[6., 0.],
               [0., 8.]], dtype=float32)
        """
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


def _tensor(x: Any, what: str) -> Tensor:
    from .ops import convert_to_tensor
    if x is None:
        raise at_user_line(TypeError(f"{what} is None"))
    return convert_to_tensor(x)


def _short(x: Any) -> str:
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."
