"""`dir(tj)` and `dir(tj.nn)` show the public API only: no imported helpers (`Any`,
`annotations`, `ShapeError` in nn), no implementation modules (`ops`, `ir`, `codegen`)."""
from __future__ import annotations

import types

import numpy as np
import pytest

import tracejit as tj
from tracejit import exports, ops

HELPERS = {"annotations", "Any", "ops", "ir", "codegen", "context", "tape", "tensor",
           "variable", "trees", "keys", "custom", "indexing", "cli", "_types", "_context",
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


@pytest.mark.parametrize("space", ["random", "errors", "nest"])
def test_dir_of_tj_random_and_errors_shows_only_their_public_names(space: str) -> None:
    ns = getattr(tj, space)
    assert _public(dir(ns)) == set(ns.__all__)
    assert not _public(dir(ns)) & {"np", "threading", "exports", "export", "annotations", "Any"}


def test_dir_of_tj_nn_shows_only_the_public_api() -> None:
    names = _public(dir(tj.nn))
    assert names == set(exports.names("nn")) == set(tj.nn.__all__)
    assert {"l2_loss", "log_softmax", "relu", "sigmoid", "softmax",
            "softmax_cross_entropy_with_logits", "softplus",
            "sparse_softmax_cross_entropy_with_logits", "tanh"} <= names
    assert all(callable(getattr(tj.nn, n)) for n in names)
    assert not names & (HELPERS | {"ShapeError", "Tensor"})


def test_namespaces_are_the_table_of_public_names() -> None:
    """tj, tj.math, tj.nn and tj.linalg hold exactly the names the table enters under them
    (each the same object), and each namespace's docstring lists every one of its names."""
    spaces = {"": tj, "math": tj.math, "nn": tj.nn, "linalg": tj.linalg, "numpy": tj.numpy,
              "debugging": tj.debugging}
    # tj's own ops are imported by name (for type checkers): exactly the table's.
    from_ops = {n for n, v in vars(tj).items() if not n.startswith("_")
                and (getattr(v, "__module__", None) in ops.MODULES
                     or isinstance(v, np.dtype))}
    assert from_ops == set(exports.TABLE[""])
    for ns, mod in spaces.items():
        table = exports.TABLE[ns]
        assert table, ns
        for name, obj in table.items():
            assert getattr(mod, name) is obj, f"{ns}.{name}"
        if ns:
            assert set(mod.__all__) == set(table), ns
            listed = {line.split(":")[0].strip() for line in
                      mod.__doc__.split("Names:")[1].strip().splitlines()}
            assert listed == set(table), ns
    # An op public in several namespaces is one function (tj.math.exp is tj.exp).
    assert tj.math.exp is tj.exp and tj.math.floormod is tj.mod
    assert tj.math.softmax is tj.nn.softmax and tj.linalg.matmul is tj.matmul


def test_a_path_is_entered_once() -> None:
    with pytest.raises(ValueError, match="entered twice"):
        exports.public(abs, "math.abs")
    with pytest.raises(ValueError, match="unknown namespace"):
        exports.public(abs, "image.abs")
