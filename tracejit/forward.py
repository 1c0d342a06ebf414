"""Forward mode at the user API: `tj.autodiff.ForwardAccumulator`, with TensorFlow's
semantics (docs: "Forward mode" in README).

How tangents are computed: an accumulator sits among the active recorders (beside the
`GradientTape`s, `context.active_tapes`). After each operation whose inputs have tangents
it applies the primitive's JVP rule (`ir.jvp.apply_jvp`) at once, through `bind`: eagerly
on tensors, or into the trace inside a compiled function. The rule's operations are more
operations, so the recorders entered *before* this accumulator (outer tapes and
accumulators) see them (reverse over forward, forward over forward), and the recorders
entered after it do not (TensorFlow: "inner accumulators will not see JVP computation
from outer accumulators"). A compiled function called under an accumulator is one `call`
whose JVP rule calls the compiled tangent Function of the callee.

Invariants: a tangent has its primal's shape and dtype; only float tensors have one; an
accumulator tracks operations only inside its `with` block; a tensor it never saw, or one
that does not depend on a primal through differentiable operations, has no tangent
(`jvp` gives None, or zeros with `unconnected_gradients="zero"`); a Variable given as a
primal gives its tangent to every value read from it inside the block, also after
`assign` (TensorFlow's).
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

from .context import active_tapes
from .errors import at_user_line
from .exports import export, public
from .ir.jvp import apply_jvp
from .ir.prims.registry import Primitive
from .trees import flatten, unflatten
from .tape import Recorder, UnconnectedGradients
from .tensor import Structure, Tensor


class ForwardAccumulator(Recorder):
    """Computes Jacobian-vector products (forward-mode derivatives) of the operations run
    inside its `with` block, as `tf.autodiff.ForwardAccumulator`.

    `primals` (a tensor, a Variable or a nested structure of them) and `tangents` (the same
    structure: the direction of each primal) start the accumulation; `acc.jvp(t)` is the
    derivative of `t` along the tangents.

    >>> x = tj.constant(3.)
    >>> with tj.autodiff.ForwardAccumulator(x, tj.constant(2.)) as acc:
    ...     y = x * x
    >>> acc.jvp(y).numpy()
    array(12., dtype=float32)
    """

    _REENTERED = ("this ForwardAccumulator is already active: it cannot be entered again "
                  "inside its own `with` block")

    _watch_accessed = False     # (read by compiled calls: variables are watched by name)

    def __init__(self, primals: Structure, tangents: Structure):
        from .ops import convert_to_tensor
        from .variable import Variable
        p_leaves, _ = flatten(primals)
        t_leaves, _ = flatten(tangents)
        if len(p_leaves) != len(t_leaves):
            raise at_user_line(ValueError(
                f"ForwardAccumulator: {len(p_leaves)} primals but {len(t_leaves)} tangents; "
                "give one tangent per primal, in the same structure"))
        self._tangents: dict[int, tuple[Tensor, Tensor]] = {}
        self._var_tangents: dict[int, tuple[Any, Tensor]] = {}
        self._recording = False
        self._token: Any = None
        for p, t in zip(p_leaves, t_leaves):
            if not isinstance(p, (Tensor, Variable)):
                raise at_user_line(TypeError(
                    f"ForwardAccumulator: a primal must be a tensor or a Variable, got "
                    f"{type(p).__name__}"))
            if id(p) in self._tangents or id(p) in self._var_tangents:
                raise at_user_line(ValueError(
                    f"ForwardAccumulator: {p!r} was given as a primal more than once; sum "
                    "its tangents instead (TensorFlow refuses it too)"))
            tangent = convert_to_tensor(t, dtype_hint=p.dtype)
            if tangent.dtype != p.dtype:
                raise at_user_line(TypeError(
                    f"ForwardAccumulator: a tangent of dtype {tangent.dtype} for a primal of "
                    f"dtype {p.dtype}; tangents have their primal's dtype (use tj.cast)"))
            if tuple(tangent.shape) != tuple(p.shape):
                raise at_user_line(ValueError(
                    f"ForwardAccumulator: a tangent of shape {tuple(tangent.shape)} for a "
                    f"primal of shape {tuple(p.shape)}; tangents have their primal's shape"))
            if p.dtype.kind != "f":
                continue                    # integers have no tangent (TensorFlow: None)
            if isinstance(p, Variable):
                self._var_tangents[id(p)] = (p, tangent)
            else:
                self._tangents[id(p)] = (p, tangent)

    # ---------------------------------------------------------------- recording

    @property
    def _watched(self) -> dict[int, tuple[Tensor, Tensor]]:
        """The tensors with a tangent, by id (what a compiled call asks a recorder)."""
        return self._tangents

    def _watches_variable(self, var: Any) -> bool:
        return id(var) in self._var_tangents

    def _read_variable(self, var: Any, t: Tensor) -> None:
        hit = self._var_tangents.get(id(var)) if self._recording else None
        if hit is not None:
            self._tangents[id(t)] = (t, hit[1])

    def _tangent(self, t: Any) -> Tensor | None:
        hit = self._tangents.get(id(t))
        return hit[1] if hit is not None and hit[0] is t else None

    def _record(self, prim: Primitive, args: Sequence[Tensor], params: dict[str, Any],
                outs: Sequence[Tensor], custom: Any = None) -> None:
        if not self._recording:
            return
        ts = [self._tangent(a) for a in args]
        if all(t is None for t in ts):
            return
        if prim.name == "custom_vjp":
            # TensorFlow: the results keep the tangents of what computed them, if any (the
            # forward ran in view of the accumulator); else the custom gradient transposed.
            n_in, n_out = params["n_in"], params["n_out"]
            inner = [self._tangent(y) for y in args[n_in:n_in + n_out]]
            if any(t is not None for t in inner):
                self._set(outs, inner)
                return
        with self._outer():
            out = outs[0] if len(outs) == 1 else tuple(outs)
            res = apply_jvp(prim, ts, args, out, params)
        self._set(outs, res)

    def _custom(self, inputs: Sequence[Tensor], variables: Sequence[Any],
                results: Sequence[Tensor], outs: Sequence[Tensor], grads: Any) -> None:
        """Tangents of the `outs` of an eager `custom_gradient` whose forward gave
        `results`, from `inputs` (tensor arguments, then the reads of `variables`), as
        TensorFlow: the results' own tangents if they have any (the forward ran in view of
        the accumulator), else the custom gradient transposed: the VJP of `grads` with
        respect to its seeds, with the inputs' tangents as cotangents."""
        inner = [self._tangent(r) for r in results]
        if any(t is not None for t in inner):
            self._set(outs, inner)
            return
        n_t = len(inputs) - len(variables)
        ts = [self._tangent(x) for x in inputs[:n_t]]
        for var in variables:
            hit = self._var_tangents.get(id(var))
            ts.append(hit[1] if hit is not None else None)
        if all(t is None for t in ts):
            return
        from .ops import broadcast_to, convert_to_tensor, zeros_like
        from .tape import GradientTape
        with self._outer():
            seeds = [zeros_like(o) for o in outs]
            with GradientTape() as tape:
                tape.watch(seeds)
                gs = grads(*seeds)
            targets, cts = [], []
            for g, t in zip(gs, ts):
                if g is not None and t is not None:
                    g = convert_to_tensor(g, dtype_hint=t.dtype)
                    targets.append(g)
                    cts.append(broadcast_to(t, g.shape))
            if targets:
                self._set(outs, tape.gradient(targets, seeds, output_gradients=cts))

    def _set(self, outs: Sequence[Tensor], tangents: Sequence[Any]) -> None:
        for o, t in zip(outs, tangents):
            if t is not None and o.dtype.kind == "f":
                self._tangents[id(o)] = (o, t)

    def _outer(self) -> Any:
        """A context in which only the recorders entered before this one are active."""
        import contextlib
        tapes = active_tapes.get()
        i = next((k for k, r in enumerate(tapes) if r is self), len(tapes))

        @contextlib.contextmanager
        def scope() -> Any:
            token = active_tapes.set(tapes[:i])
            try:
                yield
            finally:
                active_tapes.reset(token)
        return scope()

    # ---------------------------------------------------------------- results

    def jvp(self, primals: Structure,
            unconnected_gradients: UnconnectedGradients | str = UnconnectedGradients.NONE
            ) -> Structure:
        """The tangent of each tensor in `primals` (a tensor, a Variable or a nested
        structure of them), in the same structure: None where it has none (it does not
        depend on the accumulator's primals, or was computed outside the `with` block), or
        zeros with `unconnected_gradients="zero"`.

        >>> x = tj.constant([1., 2.])
        >>> with tj.autodiff.ForwardAccumulator(x, tj.constant([1., 0.])) as acc:
        ...     y = tj.reduce_sum(x ** 3.)
        ...     c = tj.constant(5.)
        >>> acc.jvp(y).numpy(), acc.jvp(c), acc.jvp(c, unconnected_gradients="zero").numpy()
        (array(3., dtype=float32), None, array(0., dtype=float32))
        """
        from .ops import zeros
        from .variable import Variable
        mode = getattr(unconnected_gradients, "value", unconnected_gradients)
        if mode not in ("none", "zero"):
            raise at_user_line(ValueError(
                f"unconnected_gradients must be 'none' or 'zero', got {mode!r}"))
        leaves, tree = flatten(primals)
        out = []
        for leaf in leaves:
            if isinstance(leaf, Variable):
                hit = self._var_tangents.get(id(leaf))
                t = hit[1] if hit is not None else None
            elif isinstance(leaf, Tensor):
                t = self._tangent(leaf)
            else:
                raise at_user_line(TypeError(
                    f"ForwardAccumulator.jvp takes tensors or Variables, got "
                    f"{type(leaf).__name__}"))
            if t is None and mode == "zero":
                t = zeros(leaf.shape, leaf.dtype)
            out.append(t)
        return unflatten(tree, out)

    def __repr__(self) -> str:
        return f"<ForwardAccumulator with {len(self._tangents)} tangents>"


def _args(primals: Any) -> tuple[list[Any], bool]:
    """The positional arguments `primals` stands for, and whether it was one bare tensor."""
    if isinstance(primals, (list, tuple)):
        return list(primals), False
    return [primals], True


@export("autodiff.jvp")
def jvp(f: Any, primals: Any, tangents: Any) -> tuple[Any, Any]:
    """`(f(*primals), J_f(primals) @ tangents)`: the value of `f` and its derivative along
    `tangents` (one per argument, the same structure), in one forward pass (JAX's
    `jax.jvp`, `torch.func.jvp`). Outputs that do not depend on the arguments get zero
    tangents. A bare tensor stands for one argument.

    >>> y, dy = tj.autodiff.jvp(lambda x: x ** 3., tj.constant(2.), tj.constant(1.))
    >>> y.numpy(), dy.numpy()
    (array(8., dtype=float32), array(12., dtype=float32))
    """
    args, _ = _args(primals)
    ts, _ = _args(tangents)
    with ForwardAccumulator(args, ts) as acc:
        out = f(*args)
    return out, acc.jvp(out, unconnected_gradients="zero")


@export("autodiff.hvp")
def hvp(f: Any, primals: Any, v: Any) -> Any:
    """The Hessian-vector product `H_f(primals) @ v` of a scalar function `f`, forward over
    reverse: the JVP of the gradient along `v` (one tangent per argument), in one pass,
    never forming the Hessian. Returns one result per argument (a bare tensor for a bare
    tensor); zeros where the gradient does not depend on the arguments.

    >>> f = lambda x: tj.reduce_sum(x ** 3.)
    >>> tj.autodiff.hvp(f, tj.constant([1., 2.]), tj.constant([1., 0.])).numpy()
    array([6., 0.], dtype=float32)
    """
    from .tape import GradientTape
    args, bare = _args(primals)
    vs, _ = _args(v)
    with ForwardAccumulator(args, vs) as acc:
        with GradientTape() as tape:
            tape.watch(args)
            y = f(*args)
        g = tape.gradient(y, args, unconnected_gradients="zero")
    out = acc.jvp(g, unconnected_gradients="zero")
    return out[0] if bare else out


public(ForwardAccumulator, "autodiff.ForwardAccumulator")
