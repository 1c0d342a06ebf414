"""Axis, axes and permutation arguments are range-checked for every op, never taken
modulo the rank (`tj.transpose(x, [0, 4, 2])` on a rank-3 tensor used to return `x`,
tensordot axes [[0], [7]] acted as [[0], [1]], one_hot(axis=5) as axis=-1).

Both layers are covered by iterating what exists: every primitive parameter named like an
axis must be declared in the registry and is checked by `ir.axes.check_params`; every
public op with an `axis`/`axes`/`perm` argument must appear in `USER_CALLS` below and
raise AxisError (a ValueError and an IndexError, as NumPy's) naming the op, the argument,
the value and the rank, eagerly and compiled."""
from __future__ import annotations

import inspect
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest
from tracejit.ir import TensorType
from tracejit.ir.prims.registry import all_primitives

import tracejit as tj
from tracejit.errors import AxisError

F32, I32 = np.dtype(np.float32), np.dtype(np.int32)
AXIS_NAMES = ("axis", "axes", "perm", "dimension")

# One valid use of each primitive with axis parameters: (operand types, params).
PRIM_EXAMPLES: dict[str, tuple[list[TensorType], dict[str, Any]]] = {
    **{p: ([TensorType((2, 3, 4), F32)], {"axes": (0, 2)})
       for p in ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod")},
    "argmax": ([TensorType((2, 3, 4), F32)], {"axis": 1}),
    "argmin": ([TensorType((2, 3, 4), F32)], {"axis": 1}),
    "concat": ([TensorType((2, 3, 4), F32)] * 2, {"axis": 2}),
    "gather": ([TensorType((2, 3, 4), F32), TensorType((5,), I32)], {"axis": 1}),
    "scatter_add": ([TensorType((2, 5, 4), F32), TensorType((5,), I32)],
                    {"axis": 1, "size": 3}),
    "iota": ([], {"shape": (2, 3, 4), "dimension": 1}),
    "rev": ([TensorType((2, 3, 4), F32)], {"axes": (1,)}),
    **{p: ([TensorType((2, 3, 4), F32)], {"axis": 1}) for p in ("cumsum", "cumprod",
                                                                "cumlogsumexp")},
    "linrec": ([TensorType((2, 3, 4), F32)] * 2, {"axis": 1}),
    "transpose": ([TensorType((2, 3, 4), F32)], {"perm": (2, 0, 1)}),
}


def test_every_primitive_parameter_naming_axes_is_declared_and_has_an_example() -> None:
    prims = all_primitives()
    for name, p in prims.items():
        for param in p.param_defaults:
            if param in AXIS_NAMES:
                assert param in p.axis_params, f"{name}.{param} is not declared as an axis"
    assert set(PRIM_EXAMPLES) == {n for n, p in prims.items() if p.axis_params}


def _bad_values(kind: str, good: Any, rank: int) -> list[Any]:
    if kind == "axis":
        return [rank, rank + 4, -1]
    if kind == "axes":
        return [(0, rank), (rank + 4,), (-1,)]
    return [tuple(range(rank - 1)) + (rank + 1,), tuple(range(rank - 1)) + (-1,)]


@pytest.mark.parametrize("name", sorted(PRIM_EXAMPLES))
def test_every_primitive_axis_parameter_out_of_range_raises_axis_error(name: str) -> None:
    p = all_primitives()[name]
    in_types, params = PRIM_EXAMPLES[name]
    good = p.canonical_params(params)
    p.infer(in_types, good)                     # the example itself is valid
    for param, decl in p.axis_params.items():
        rank = decl.rank(in_types, good)
        for bad in _bad_values(decl.kind, good[param], rank):
            with pytest.raises(AxisError) as e:
                p.infer(in_types, {**good, param: bad})
            msg = str(e.value)
            assert msg.startswith(name) and f"{param}={bad!r}" in msg and \
                f"rank {rank}" in msg, msg


X3 = np.ones((2, 3, 4), np.float32)

# Every public op with an axis-like argument: f(x, bad) on the rank-3 x, and bad values
# (each out of range; the first is one that `% rank` used to accept).
USER_CALLS: dict[str, tuple[Callable[[Any, Any], Any], str, list[Any]]] = {
    "reduce_sum": (lambda x, a: tj.reduce_sum(x, a), "axis", [3, -4, [0, 5]]),
    "reduce_mean": (lambda x, a: tj.reduce_mean(x, a), "axis", [3, [1, -7]]),
    "reduce_max": (lambda x, a: tj.reduce_max(x, a), "axis", [4]),
    "reduce_min": (lambda x, a: tj.reduce_min(x, a), "axis", [4]),
    "reduce_prod": (lambda x, a: tj.reduce_prod(x, a), "axis", [4]),
    "reduce_logsumexp": (lambda x, a: tj.reduce_logsumexp(x, a), "axis", [3]),
    "reduce_all": (lambda x, a: tj.reduce_all(x > 0, a), "axis", [3]),
    "reduce_any": (lambda x, a: tj.reduce_any(x > 0, a), "axis", [-4]),
    "count_nonzero": (lambda x, a: tj.math.count_nonzero(x, a), "axis", [3]),
    "bincount": (lambda x, a: tj.math.bincount(x, axis=a), "axis", [3, -4]),
    "reduce_variance": (lambda x, a: tj.reduce_variance(x, a), "axis", [3]),
    "reduce_std": (lambda x, a: tj.reduce_std(x, a), "axis", [3]),
    "norm": (lambda x, a: tj.norm(x, axis=a), "axis", [3]),
    "reduce_euclidean_norm": (lambda x, a: tj.math.reduce_euclidean_norm(x, a), "axis",
                              [3, [0, -4]]),
    "cumsum": (lambda x, a: tj.cumsum(x, a), "axis", [3, -4]),
    "sort": (lambda x, a: tj.sort(x, a), "axis", [3, -4]),
    "argsort": (lambda x, a: tj.argsort(x, a), "axis", [3]),
    "cumprod": (lambda x, a: tj.math.cumprod(x, a), "axis", [3]),
    "cumulative_logsumexp": (lambda x, a: tj.math.cumulative_logsumexp(x, a), "axis", [-4]),
    "argmax": (lambda x, a: tj.argmax(x, a), "axis", [3, -4]),
    "argmin": (lambda x, a: tj.argmin(x, a), "axis", [3]),
    "concat": (lambda x, a: tj.concat([x, x], a), "axis", [3, -4]),
    "stack": (lambda x, a: tj.stack([x, x], a), "axis", [5, -5]),
    "unstack": (lambda x, a: tj.unstack(x, axis=a), "axis", [3]),
    "expand_dims": (lambda x, a: tj.expand_dims(x, a), "axis", [5, -5]),
    "squeeze": (lambda x, a: tj.squeeze(tj.reshape(x, (2, 3, 4, 1)), a), "axis", [6]),
    "gather": (lambda x, a: tj.gather(x, [0], axis=a), "axis", [3]),
    "transpose": (lambda x, a: tj.transpose(x, a), "perm", [[0, 4, 2], [1, 0, 5]]),
    "tensordot": (lambda x, a: tj.tensordot(x, tj.ones((4, 4)), a), "axes",
                  [[[2], [7]], [[5], [0]]]),
    "one_hot": (lambda x, a: tj.one_hot(tj.argmax(x, 0), 3, axis=a), "axis", [5, 3, -2]),
    "softmax": (lambda x, a: tj.nn.softmax(x, a), "axis", [3]),
    "boolean_mask": (lambda x, a: tj.boolean_mask(x, [True, False, True, True], a), "axis",
                     [3, -4]),
    "linspace": (lambda x, a: tj.linspace(x, x, 3, axis=a), "axis", [4, -5]),
    "repeat": (lambda x, a: tj.repeat(x, 2, axis=a), "axis", [3, -4]),
    "reverse": (lambda x, a: tj.reverse(x, a), "axis", [[3], [0, -4]]),
    "roll": (lambda x, a: tj.roll(x, 1, a), "axis", [3]),
    "split": (lambda x, a: tj.split(x, 1, axis=a), "axis", [3]),
    "log_softmax": (lambda x, a: tj.nn.log_softmax(x, a), "axis", [3]),
    "softmax_cross_entropy_with_logits": (
        lambda x, a: tj.nn.softmax_cross_entropy_with_logits(x, x, axis=a), "axis", [3]),
    "l2_normalize": (lambda x, a: tj.nn.l2_normalize(x, a), "axis", [3, [0, -4]]),
    "moments": (lambda x, a: tj.nn.moments(x, a), "axes", [3, [1, 5]]),
    "clip_by_norm": (lambda x, a: tj.clip_by_norm(x, 1.0, axes=a), "axes", [-4]),
    "normalize": (lambda x, a: tj.linalg.normalize(x, axis=a), "axis", [3, [0, 5]]),
    "weighted_moments": (lambda x, a: tj.nn.weighted_moments(x, a, 1.0), "axes", [3, [1, 5]]),
}


def _public_ops_with_axis_arguments() -> set[str]:
    found = set()
    for mod in (tj, tj.nn, tj.math, tj.linalg):
        for n in dir(mod):
            f = getattr(mod, n)
            if not inspect.isfunction(f):
                continue
            if set(inspect.signature(f).parameters) & {"axis", "axes", "perm"}:
                found.add(f.__name__)
    return found


def test_every_public_op_with_an_axis_argument_is_covered() -> None:
    missing = _public_ops_with_axis_arguments() - set(USER_CALLS)
    assert not missing, f"add these ops to USER_CALLS: {sorted(missing)}"


@pytest.mark.parametrize("op", sorted(USER_CALLS))
def test_every_public_op_raises_axis_error_for_an_out_of_range_axis(op: str) -> None:
    call, arg, bads = USER_CALLS[op]
    for bad in bads:
        for mode, run in (("eager", lambda: call(tj.constant(X3), bad)),  # noqa: B023  (called in this iteration)
                          ("compiled", lambda: tj.compile(lambda x: call(x, bad))(X3))):  # noqa: B023  (called in this iteration)
            with pytest.raises(AxisError) as e:
                run()
            msg = str(e.value)
            shown = bad[1][0] if op == "tensordot" and bad[1][0] > 3 else \
                bad[0][0] if op == "tensordot" else bad
            assert msg.startswith(f"{op}: {arg}") and str(shown) in msg and "rank" in msg, \
                (mode, msg)
            assert isinstance(e.value, ValueError) and isinstance(e.value, IndexError)


def test_valid_negative_axes_and_perms_still_work() -> None:
    x = tj.constant(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    np.testing.assert_array_equal(tj.transpose(x, [0, -1, 1]).numpy(),
                                  np.transpose(X3 * 0 + x.numpy(), (0, 2, 1)))
    assert tj.tensordot(x, tj.ones((4, 5)), [[-1], [0]]).shape == (2, 3, 5)
    assert tj.stack([x, x], -4).shape == (2, 2, 3, 4)
    assert tj.one_hot([1, 2], 3, axis=0).shape == (3, 2)


def test_a_rank_2_perm_is_a_clear_error() -> None:
    # int() of a list gave "int() argument must be ... not 'list'".
    with pytest.raises(ValueError, match=r"transpose: perm must be a flat list of 3 ints"):
        tj.transpose(tj.constant(X3), [[0, 1, 2]])
    with pytest.raises(ValueError, match=r"not a permutation"):
        tj.transpose(tj.constant(X3), [0, 1])
    with pytest.raises(TypeError, match=r"transpose: perm must be"):
        tj.transpose(tj.constant(X3), [0, 1.0, 2])
