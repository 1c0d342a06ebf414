"""`tj.nest`, TensorFlow's `tf.nest`: every expectation here is what TensorFlow 2.21
gives for the same call (dicts flattened in sorted key order, their own key order kept
when packed, containers' types compared unless check_types=False)."""
from __future__ import annotations

import collections
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tracejit as tj

P = collections.namedtuple("P", "a b")


def test_flatten_and_pack_as_tensorflow() -> None:
    s = {"b": [1, (2, 3)], "a": P(4, None), "c": {}}
    assert tj.nest.flatten(s) == [4, None, 1, 2, 3]
    packed = tj.nest.pack_sequence_as(s, list(range(10, 15)))
    assert packed == {"b": [12, (13, 14)], "a": P(a=10, b=11), "c": {}}
    assert list(packed) == ["b", "a", "c"] and type(packed["a"]) is P
    assert tj.nest.flatten(None) == [None] and tj.nest.flatten(5) == [5]
    assert tj.nest.flatten(collections.OrderedDict([("b", 1), ("a", 2)])) == [2, 1]
    assert tj.nest.pack_sequence_as(5, [7]) == 7
    with pytest.raises(ValueError, match="Structure had 2 atoms, but flat_sequence had 1"):
        tj.nest.pack_sequence_as([1, 2], [1])
    assert tj.nest.is_nested([1]) and tj.nest.is_nested({}) and not tj.nest.is_nested(1)
    x = tj.constant([1.0])
    assert tj.nest.flatten([x, (x,)])[1] is x       # tensors are leaves


def test_map_structure_and_assert_same_structure() -> None:
    assert tj.nest.map_structure(lambda x, y: (x, y), [1, (2,)], [3, (4,)]) == \
        [(1, 3), ((2, 4),)]
    out = tj.nest.map_structure(lambda x: x * 2, {"b": 1, "a": 2})
    assert out == {"b": 2, "a": 4} and list(out) == ["b", "a"]
    assert tj.nest.map_structure(lambda x: x, ()) == ()
    with pytest.raises(ValueError, match="don't have the same nested structure"):
        tj.nest.assert_same_structure([1, 2], [1])
    with pytest.raises(TypeError, match="don't have the same nested structure"):
        tj.nest.assert_same_structure([1, 2], (1, 2))
    with pytest.raises(ValueError):
        tj.nest.assert_same_structure({"a": 1}, {"b": 1})
    tj.nest.assert_same_structure([1, 2], (1, 2), check_types=False)
    with pytest.raises(TypeError):
        tj.nest.map_structure(lambda a, b: a, [1], (1,))
    assert tj.nest.map_structure(lambda a, b: a + b, [1], (2,), check_types=False) == [3]


LEAVES = st.one_of(st.integers(), st.none(), st.text(max_size=2))
STRUCTURES = st.recursive(
    LEAVES, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=2), inner, max_size=3),
        st.tuples(inner, inner).map(lambda t: P(*t))), max_leaves=12)


@given(STRUCTURES)
def test_pack_of_flatten_is_the_structure(s: Any) -> None:
    leaves = tj.nest.flatten(s)
    assert tj.nest.pack_sequence_as(s, leaves) == s
    tj.nest.assert_same_structure(s, tj.nest.map_structure(lambda v: 0, s))
