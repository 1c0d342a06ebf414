"""`recompute_grad(f)`: `f` whose backward pass recomputes its forward instead of keeping
its intermediates (TensorFlow's `tf.recompute_grad`, gradient checkpointing).

Built on `custom_gradient`: the result's only recorded producer is the custom gradient,
whose gradient function runs `f` again under a fresh tape and differentiates that. So a
tape keeps `f`'s inputs and outputs, not its intermediates; and inside compiled code the
gradient Function recomputes `f` from its inputs.

Invariants: values and gradients (also with respect to the trainable Variables `f` reads)
equal those of `f` itself; tensor arguments only (as TensorFlow's).
"""
from __future__ import annotations

import functools
from typing import Any
from collections.abc import Callable

from .custom import custom_gradient
from .trees import flatten
from .tape import GradientTape


def recompute_grad(f: Callable[..., Any]) -> Callable[..., Any]:
    """Example: `layer = tj.recompute_grad(lambda x: tj.tanh(x @ W) @ W)`; gradients
    through `layer` recompute `tanh(x @ W)` instead of keeping it."""

    @functools.wraps(f)
    def wrapper(*args: Any) -> Any:
        @custom_gradient
        def inner(*xs: Any) -> Any:
            out = f(*xs)

            def grad(*dys: Any, variables: Any = None) -> Any:
                vs = list(variables or [])
                with GradientTape(watch_accessed_variables=False) as t:
                    t.watch(list(xs) + vs)
                    again = f(*xs)
                leaves = flatten(again)[0]
                gs = t.gradient(leaves, list(xs) + vs, output_gradients=list(dys))
                return (gs[:len(xs)], gs[len(xs):]) if variables is not None else gs[:len(xs)]
            return out, grad
        return inner(*args)
    return wrapper
