"""tj.TensorShape and tj.TensorSpec against the values TensorFlow 2.21 gives (checked by
running the same expressions with `import tensorflow as tf`)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import tracejit as tj
from tracejit.tensorshape import TensorShape


def test_shape_is_a_tuple_with_tensorflows_methods() -> None:
    s = tj.ones([2, 3]).shape
    assert type(s) is TensorShape and isinstance(s, tuple)
    assert repr(s) == "TensorShape([2, 3])" and str(s) == "(2, 3)"
    assert s == (2, 3) and s == [2, 3] and (2, 3) == s and [2, 3] == s
    assert not (s != (2, 3)) and s != [2, 4] and not (s == (2, 4))
    assert hash(s) == hash((2, 3)) and {(2, 3): 1}[s] == 1
    assert s[0] == 2 and type(s[0]) is int and s[-1] == 3
    assert s[1:] == (3,) and type(s[1:]) is TensorShape and type(s[::-1]) is TensorShape
    assert len(s) == 2 and list(s) == [2, 3] and tuple(s) == (2, 3) and 2 in s
    assert s.as_list() == [2, 3] and s.rank == 2 and s.ndims == 2
    assert s.is_fully_defined() and s.num_elements() == 6
    assert np.zeros(s).shape == (2, 3)
    assert not (s == 5) and not (s == "abc") and not (s == None)  # noqa: E711
    assert tj.TensorShape([]).num_elements() == 1 and repr(tj.TensorShape([])) == "TensorShape([])"


def test_unknown_dimensions() -> None:
    u = tj.TensorShape([None, 3])
    assert repr(u) == "TensorShape([None, 3])" and str(u) == "(None, 3)"
    assert u.as_list() == [None, 3] and u.rank == 2 and u[0] is None
    assert not u.is_fully_defined() and u.num_elements() is None
    assert u == tj.TensorShape([None, 3]) and u == (None, 3) and not (u != (None, 3))
    assert hash(u) == hash((None, 3))
    assert u.merge_with([5, 3]) == (5, 3) and type(u.merge_with([5, 3])) is TensorShape
    assert u.concatenate([4]).as_list() == [None, 3, 4]
    assert u.is_compatible_with([7, 3]) and not u.is_compatible_with([7, 4])
    assert u.most_specific_compatible_shape(tj.TensorShape([4, 3])) == (None, 3)
    with pytest.raises(ValueError, match=r"Shapes \(None, 3\) and \(5, 4\) are not compatible"):
        u.merge_with([5, 4])


def test_unknown_rank() -> None:
    n = tj.TensorShape(None)
    assert n.rank is None and repr(n) == "TensorShape(None)" and str(n) == "<unknown>"
    assert n == tj.TensorShape(None) and not (n == (None,)) and not (tj.TensorShape([2]) == n)
    assert n.is_compatible_with([1, 2]) and n.num_elements() is None and n[0] is None
    assert n.merge_with([2]) == (2,) and tj.TensorShape([2]).merge_with(None) == (2,)
    assert tj.TensorShape([2, 3]).concatenate(None).rank is None
    assert n.with_rank(2) == (None, None)
    with pytest.raises(ValueError, match=r"as_list\(\) is not defined on an unknown TensorShape"):
        n.as_list()
    with pytest.raises(ValueError, match="Cannot take the length of shape with unknown rank"):
        len(n)


def test_arithmetic_ranks_and_errors() -> None:
    s = tj.TensorShape([2, 3])
    assert s + (4,) == (2, 3, 4) and type(s + (4,)) is TensorShape
    assert (4,) + s == (4, 2, 3) and type((4,) + s) is TensorShape
    assert s + [4] == (2, 3, 4) and [4] + s == (4, 2, 3)
    assert s.is_compatible_with(s) and s.is_compatible_with((2, None))
    assert s.with_rank(2) is s
    with pytest.raises(ValueError, match=r"Shape \(2, 3\) must have rank 3"):
        s.with_rank(3)
    with pytest.raises(ValueError, match=r"Shapes \(2, 3\) and \(2, 4\) are incompatible"):
        s.assert_is_compatible_with((2, 4))
    with pytest.raises(ValueError, match="Dimension -1 must be >= 0"):
        tj.TensorShape([-1])
    with pytest.raises(TypeError, match="Dimension value must be integer or None"):
        tj.TensorShape([2.5])
    assert tj.TensorShape(3) == (3,) and tj.TensorShape([np.int64(4)]) == (4,)
    assert pickle.loads(pickle.dumps(tj.TensorShape([None, 2]))) == (None, 2)
    assert pickle.loads(pickle.dumps(tj.TensorShape(None))).rank is None


def test_variable_and_traced_shapes() -> None:
    v = tj.Variable(np.zeros((2, 5), np.float32))
    assert type(v.shape) is TensorShape and v.shape == (2, 5) and v.shape.as_list() == [2, 5]
    seen = []

    @tj.function
    def f(x):
        seen.append(x.shape)
        return x * 2.

    f(tj.ones([3, 4]))
    assert type(seen[0]) is TensorShape and seen[0].as_list() == [3, 4]

    views = []

    @tj.function(input_signature=[tj.TensorSpec([None, 3])])
    def g(x):
        s = x.shape
        views.append((repr(s), str(s), s.as_list(), s.is_fully_defined(), s.num_elements(),
                      s.rank, s.is_compatible_with([7, 3]), s.merge_with([7, 3])))
        return tj.zeros(x.shape) + x        # the symbolic size works where a size goes
    assert g(tj.ones([2, 3])).shape == (2, 3) and g(tj.ones([5, 3])).shape == (5, 3)
    assert views == [("TensorShape([None, 3])", "(None, 3)", [None, 3], False, None, 2, True,
                      (7, 3))]


def test_tensorspec_like_tensorflow() -> None:
    spec = tj.TensorSpec([None, 3], tj.float32, name="x")
    assert repr(spec) == "TensorSpec(shape=(None, 3), dtype=tj.float32, name='x')"
    assert spec == tj.TensorSpec([None, 3], tj.float32, name="x")
    assert spec != tj.TensorSpec([None, 3], tj.float32)
    assert tj.TensorSpec([2]) != tj.TensorSpec([2], tj.float64)
    assert hash(spec) == hash(tj.TensorSpec((None, 3), "float32", "x"))
    assert repr(tj.TensorSpec(None)) == "TensorSpec(shape=<unknown>, dtype=tj.float32, name=None)"
    assert repr(tj.TensorSpec([], tj.int32)) == "TensorSpec(shape=(), dtype=tj.int32, name=None)"
    assert type(spec.shape) is TensorShape and spec.dtype == np.float32 and spec.name == "x"
    assert spec.is_compatible_with(tj.ones([4, 3]))
    assert not spec.is_compatible_with(tj.ones([4, 4]))
    assert spec.is_compatible_with(tj.TensorSpec([2, 3]))
    assert not spec.is_compatible_with(tj.ones([4, 3], tj.float64))
    assert tj.TensorSpec(None).is_compatible_with(tj.TensorSpec([2, 3]))
    assert tj.TensorSpec.from_tensor(tj.ones([2, 2])) == tj.TensorSpec([2, 2])
    assert tj.TensorSpec.from_tensor(tj.ones([2, 2]), name="q").name == "q"
    assert tj.TensorSpec.from_spec(spec) == spec
    assert tj.TensorSpec([2], np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="Dimension -2 must be >= 0"):
        tj.TensorSpec([-2])
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_export_refuses_unknown_sizes() -> None:
    f = tj.function(lambda x: x * 2.)
    with pytest.raises(ValueError, match=r"export needs every dimension known.*None"):
        f.export(tj.TensorSpec([None]))
    g = tj.function(lambda x: x * 2., input_signature=[tj.TensorSpec([None])])
    g(tj.ones(3))
    with pytest.raises(TypeError, match="only shape-polymorphic traces.*cannot be pickled"):
        pickle.dumps(g)
    with pytest.raises(TypeError, match=r"shape \(None,\): a shape-polymorphic trace"):
        pickle.dumps(g.get_concrete_function())
    out = tj.load(f.export(tj.TensorSpec([3])))(tj.constant([1., 2., 3.]))
    np.testing.assert_array_equal(out.numpy(), [2., 4., 6.])
