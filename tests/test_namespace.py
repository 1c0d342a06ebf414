"""`dir(tj)` and `dir(tj.nn)` show the public API only: no imported helpers (`Any`,
`annotations`, `ShapeError` in nn), no implementation modules (`ops`, `ir`, `codegen`)."""
from __future__ import annotations

import types

import tracejit as tj

HELPERS = {"annotations", "Any", "ops", "ir", "codegen", "context", "tape", "tensor",
           "variable", "nest", "keys", "custom", "indexing", "cli", "_types", "_context",
           "_codegen", "at_user_line"}


def _public(names: list[str]) -> set[str]:
    return {n for n in names if not n.startswith("__")}


def test_dir_of_tj_shows_only_the_public_api() -> None:
    names = _public(dir(tj))
    assert not names & HELPERS
    assert {"GradientTape", "Variable", "compile", "function", "constant", "nn", "math",
            "linalg", "config", "custom_gradient", "TracingError", "errors"} <= names
    assert names == set(tj.__all__)
    assert all(hasattr(tj, n) for n in names)
    # Every public object defined in the package namespace is listed (a name added to
    # __init__ cannot be forgotten).
    for n, v in vars(tj).items():
        if not n.startswith("_") and n != "annotations" and not isinstance(v, types.ModuleType):
            assert n in names, n
    star: dict[str, object] = {}
    exec("from tracejit import *", star)  # noqa: S102
    assert _public(list(star)) == names


def test_dir_of_tj_nn_shows_only_the_public_api() -> None:
    names = _public(dir(tj.nn))
    assert names == {"l2_loss", "log_softmax", "relu", "sigmoid", "softmax",
                     "softmax_cross_entropy_with_logits", "softplus",
                     "sparse_softmax_cross_entropy_with_logits", "tanh"}
    assert all(callable(getattr(tj.nn, n)) for n in names)
    assert not names & (HELPERS | {"ShapeError", "Tensor"})
