"""The primitive registry's shape-rule memo: same answers as the rule, errors every time,
and parameters that are equal but of different types kept apart."""
from __future__ import annotations

import numpy as np
import pytest
from tracejit.ir.core import TensorType
from tracejit.ir.errors import ShapeError
from tracejit.ir.prims.registry import get_primitive

F32 = np.dtype(np.float32)


def t(*shape: int) -> TensorType:
    return TensorType(shape, F32)


def test_memoized_results_equal_the_rule_and_are_fresh_lists() -> None:
    add = get_primitive("add")
    first = add.infer([t(3, 1), t(4)], {})
    again = add.infer([t(3, 1), t(4)], {})
    assert first == again == [t(3, 4)] and first is not again
    again.append("x")                       # a caller's list is its own
    assert add.infer([t(3, 1), t(4)], {}) == [t(3, 4)]


def test_errors_are_raised_every_time() -> None:
    add = get_primitive("add")
    for _ in range(3):
        with pytest.raises(ShapeError, match="f32\\[3\\].*f32\\[4\\]"):
            add.infer([t(3), t(4)], {})


def test_equal_parameters_of_other_types_are_checked_again() -> None:
    rs = get_primitive("reduce_sum")
    assert rs.infer([t(2, 3)], {"axes": (1,), "keepdims": False}) == [t(2)]
    assert rs.infer([t(2, 3)], {"axes": (1,), "keepdims": True}) == [t(2, 1)]
    # keepdims=1 equals True, but is not what the memo stored; it is computed afresh.
    assert rs.infer([t(2, 3)], {"axes": (1,), "keepdims": 1}) == \
        rs._infer([t(2, 3)], {"axes": (1,), "keepdims": 1})


def test_unhashable_parameters_skip_the_memo() -> None:
    const = get_primitive("constant")
    v = np.zeros((2, 2), np.float32)
    assert const.infer([], {"value": v}) == [t(2, 2)]
