"""tf.function's contract on tj.function: input_signature, concrete functions, tracing
counts (also of methods), reduce_retracing. Messages and counts as TensorFlow 2.21 gives
them (checked by running the same code with `import tensorflow as tf`)."""
from __future__ import annotations

import collections
import gc

import numpy as np
import pytest

import tracejit as tj
from tracejit.signature import key_matches, poly_key, relaxed_shapes


def _sig_fn():
    @tj.function(input_signature=[tj.TensorSpec([None, 3], tj.float32)])
    def f(x):
        return tj.reduce_sum(x)
    return f


def test_input_signature_accepts_matching_calls_and_converts() -> None:
    f = _sig_fn()
    assert float(f(tj.ones([2, 3]))) == 6.
    assert float(f(tj.ones([5, 3]))) == 15.
    assert float(f(np.ones([2, 3], np.float32))) == 6.
    assert float(f(np.ones([2, 3]))) == 6.          # float64 array converted, as TF
    assert float(f([[1., 2., 3.]])) == 6.
    assert float(f(x=tj.ones([1, 3]))) == 3.
    assert f.input_signature == (tj.TensorSpec([None, 3]),)

    @tj.function(input_signature=[tj.TensorSpec([], tj.float32)])
    def g(x):
        return x * 2
    assert float(g(1.0)) == 2. and float(g(1)) == 2.


@pytest.mark.parametrize("arg, actual", [
    (tj.ones([2, 4]), "TensorSpec(shape=(2, 4), dtype=tj.float32, name=None)"),
    (tj.ones([3]), "TensorSpec(shape=(3,), dtype=tj.float32, name=None)"),
    (tj.ones([2, 3], tj.float64), "TensorSpec(shape=(2, 3), dtype=tj.float64, name=None)"),
    (1.0, "TensorSpec(shape=(), dtype=tj.float32, name=None)"),
])
def test_input_signature_mismatch_names_argument_and_specs(arg, actual) -> None:
    f = _sig_fn()
    with pytest.raises(TypeError) as e:
        f(arg)
    msg = str(e.value)
    assert msg.startswith("Binding inputs to tj.function 'f' failed due to `argument `x`: "
                          f"Can not cast {actual} to TensorSpec(shape=(None, 3), "
                          "dtype=tj.float32, name=None)`")
    assert "for signature: (x: TensorSpec(shape=(None, 3), dtype=tj.float32, name=None))" in msg
    assert f.experimental_get_tracing_count() == 0


@pytest.mark.parametrize("args, kwargs, reason", [
    ((tj.ones([2, 3]), tj.ones([2, 3])), {}, "too many positional arguments"),
    ((), {}, "missing a required argument: 'x'"),
    (("abc",), {}, "Attempt to convert a value ('abc') with an unsupported type"),
    ((None,), {}, "Attempt to convert a value (None) with an unsupported type"),
])
def test_input_signature_binding_errors(args, kwargs, reason) -> None:
    with pytest.raises(TypeError, match="Binding inputs to tj.function 'f' failed due to") as e:
        _sig_fn()(*args, **kwargs)
    assert reason in str(e.value)


def test_nested_input_signature() -> None:
    @tj.function(input_signature=[(tj.TensorSpec([2]), {"a": tj.TensorSpec([None])})])
    def h(t):
        return t[0] + tj.reduce_sum(t[1]["a"])
    np.testing.assert_array_equal(h((tj.ones([2]), {"a": tj.ones([7])})).numpy(), [8., 8.])
    with pytest.raises(TypeError, match=r"argument `t\[1\]`: .* does not have the keys"):
        h((tj.ones([2]), {"b": tj.ones([7])}))
    with pytest.raises(TypeError, match=r"argument `t\[0\]`: Can not cast TensorSpec\(shape="
                                        r"\(3,\)"):
        h((tj.ones([3]), {"a": tj.ones([7])}))
    with pytest.raises(TypeError, match=r"argument `t`: Can not cast \[.*\] to tuple type"):
        h([tj.ones([2]), {"a": tj.ones([7])}])
    Pair = collections.namedtuple("Pair", "a b")

    @tj.function(input_signature=[Pair(tj.TensorSpec([2]), tj.TensorSpec([2]))])
    def p(pair):
        return pair.a * pair.b
    np.testing.assert_array_equal(p(Pair(tj.ones([2]), tj.ones([2]) * 3.)).numpy(), [3., 3.])


def test_malformed_input_signatures() -> None:
    with pytest.raises(TypeError, match="input_signature must be either a tuple or a list"):
        tj.function(lambda x: x, input_signature=tj.TensorSpec([2]))
    with pytest.raises(TypeError, match=r"possibly nested sequence of TensorSpec objects, got "
                                        r"invalid args \[3\]"):
        tj.function(lambda x: x, input_signature=[3])
    with pytest.raises(TypeError, match="input_signature contains 1 extra type constraints"):
        tj.function(lambda x: x, input_signature=[tj.TensorSpec([2]), tj.TensorSpec([2])])

    def defaults(x, y=2.0):
        return x * y
    fd = tj.function(defaults, input_signature=[tj.TensorSpec([2])])
    np.testing.assert_array_equal(fd(tj.ones(2)).numpy(), [2., 2.])
    with pytest.raises(TypeError, match="argument 'y' is not in the input_signature"):
        fd(tj.ones(2), 3.0)

    def varargs(*xs):
        return xs[0] + xs[1]
    fv = tj.function(varargs, input_signature=[tj.TensorSpec([2]), tj.TensorSpec([2])])
    np.testing.assert_array_equal(fv(tj.ones(2), tj.ones(2)).numpy(), [2., 2.])


def test_tracing_count_and_concrete_function() -> None:
    @tj.function
    def f(x, y, k=2):
        return {"s": x * k + y, "t": (x, tj.reduce_sum(y))}
    c = f.get_concrete_function(tj.TensorSpec([2, 3]), tj.ones([3]))
    assert f.experimental_get_tracing_count() == 1
    assert c.structured_input_signature == (
        (tj.TensorSpec([2, 3], name="x"), tj.TensorSpec([3], name="y"), 2), {})
    assert c.structured_outputs == {"s": tj.TensorSpec([2, 3]),
                                    "t": (tj.TensorSpec([2, 3]), tj.TensorSpec([]))}
    assert c.output_shapes == {"s": (2, 3), "t": ((2, 3), ())}
    assert c.output_dtypes == {"s": tj.float32, "t": (tj.float32, tj.float32)}
    out = c(tj.ones([2, 3]), tj.ones([3]))
    np.testing.assert_array_equal(out["s"].numpy(), np.full([2, 3], 3.))
    out = c(y=tj.ones([3]), x=tj.ones([2, 3]))          # keywords, as TF
    assert out["s"].shape == (2, 3)
    assert f.get_concrete_function(tj.TensorSpec([2, 3]), tj.ones([3])) is c
    f(tj.ones([2, 3]), tj.ones([3]))
    assert f.experimental_get_tracing_count() == 1     # the call reused the trace
    with pytest.raises(TypeError, match=r"Binding inputs to concrete function f failed: it "
                                        r"takes \(a tensor of shape \(2, 3\)"):
        c(tj.ones([2, 4]), tj.ones([3]))
    with pytest.raises(TypeError, match="dtype float64"):
        c(tj.ones([2, 3], tj.float64), tj.ones([3]))
    assert "reduce_sum" in c.lower().as_text("trace")


def test_concrete_function_of_python_values() -> None:
    @tj.function
    def outs(x):
        return x, 3, "s", None
    c = outs.get_concrete_function(tj.TensorSpec([2]))
    assert c.structured_outputs == (tj.TensorSpec([2]), tj.TensorSpec([], tj.int32), "s", None)
    assert c.output_shapes == ((2,), (), tj.TensorShape(None), tj.TensorShape(None))
    assert c.output_dtypes == (tj.float32, tj.int32, None, None)
    r = c(tj.ones(2))
    assert int(r[1]) == 3 and r[2] == "s" and r[3] is None


def test_concrete_function_of_signature() -> None:
    @tj.function(input_signature=[tj.TensorSpec([2])])
    def s(x):
        return x * 2.
    c = s.get_concrete_function()
    assert c.structured_input_signature == ((tj.TensorSpec([2], name="x"),), {})
    assert s.get_concrete_function(tj.TensorSpec([2])) is c
    with pytest.raises(TypeError, match=r"Can not cast TensorSpec\(shape=\(2, 2\).* to "
                                        r"TensorSpec\(shape=\(2,\)"):
        s.get_concrete_function(tj.TensorSpec([2, 2]))
    np.testing.assert_array_equal(c(tj.ones(2)).numpy(), [2., 2.])


def test_method_tracing_counts_are_per_instance() -> None:
    class M:
        @tj.function
        def __call__(self, x):
            return x * 2.
    a, b = M(), M()
    a(tj.ones(2))
    b(tj.ones(2))
    a(tj.ones(3))
    assert a.__call__.experimental_get_tracing_count() == 2
    assert b.__call__.experimental_get_tracing_count() == 1
    assert M.__call__.experimental_get_tracing_count() == 0
    assert a.__call__ is a.__call__
    ca = a.__call__.get_concrete_function(tj.TensorSpec([2]))
    assert ca.structured_input_signature == ((tj.TensorSpec([2], name="x"),), {})
    np.testing.assert_array_equal(ca(tj.ones(2)).numpy(), [2., 2.])
    table = M.__dict__["__call__"]._instances
    assert len(table) == 2
    del a, ca
    gc.collect()
    assert len(table) == 1                      # a method never keeps its instance alive


def test_method_input_signature_skips_self() -> None:
    class M:
        def __init__(self):
            self.k = 3.

        @tj.function(input_signature=[tj.TensorSpec([None])])
        def scale(self, x):
            return x * self.k
    m = M()
    np.testing.assert_array_equal(m.scale(tj.ones(2)).numpy(), [3., 3.])
    with pytest.raises(TypeError, match="argument `x`: Can not cast"):
        m.scale(tj.ones([2, 2]))


def test_relaxation_rule() -> None:
    def k(*shapes, static=2):
        return (None, tuple([("T", s, "<f4") for s in shapes] + [("S", int, static)]))
    assert relaxed_shapes(k((2, 3)), [k((1, 3))]) == [(None, 3), None]
    assert relaxed_shapes(k((5, 4)), [k((1, 3)), poly_key(k((2, 3)), [(None, 3), None])]) \
        == [(None, None), None]
    assert relaxed_shapes(k((2, 3)), []) is None
    assert relaxed_shapes(k((2, 3), static=3), [k((1, 3))]) is None   # other Python value
    assert relaxed_shapes(k((2,)), [k((1, 3))]) is None               # other rank
    g = poly_key(k((2, 3)), [(None, 3), None])
    assert key_matches(g, k((7, 3))) and not key_matches(g, k((7, 4)))
    assert not key_matches(g, k((7, 3), static=3))


def test_tensorflow_options_accepted() -> None:
    f = tj.function(lambda x: x + 1., experimental_relax_shapes=True)
    assert float(f(tj.constant(1.))) == 2.
    g = tj.function(lambda x: x + 1., reduce_retracing=True, jit_compile=True)
    for n in (1, 2, 3):
        assert g(tj.ones([n])).shape == (n,)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        tj.function(lambda x: x, no_such_option=1)


def test_one_trace_for_every_matching_shape() -> None:
    f = _sig_fn()
    for n in (1, 7, 128, 1000):
        x = np.arange(3 * n, dtype=np.float32).reshape(n, 3)
        assert float(f(x)) == pytest.approx(float(x.sum()), rel=1e-6)
    assert f.experimental_get_tracing_count() == 1
    c = f.get_concrete_function()
    assert c.structured_input_signature == ((tj.TensorSpec([None, 3], name="x"),), {})
    assert c.output_shapes == ()


def test_concrete_function_with_unknown_sizes_serves_later_calls() -> None:
    @tj.function
    def one(x):
        return x * 2.
    c = one.get_concrete_function(tj.TensorSpec([None]))
    np.testing.assert_array_equal(c(tj.ones(5)).numpy(), np.full(5, 2.))
    np.testing.assert_array_equal(one(tj.ones(3)).numpy(), np.full(3, 2.))
    assert one.experimental_get_tracing_count() == 1         # as TensorFlow
    with pytest.raises(TypeError, match="Binding inputs to concrete function one"):
        c(tj.ones([2, 2]))


@pytest.mark.filterwarnings("ignore:.*traced it")
def test_reduce_retracing_never_breaks_a_function_that_runs_with_fixed_shapes() -> None:
    # A relaxed trace is a hint: what unknown sizes cannot trace (a slice, a scan along
    # the axis) or a call whose sizes break what the relaxed trace assumed (unknown sizes
    # broadcast against each other are taken as equal) gets a trace of its own shapes.
    @tj.function(reduce_retracing=True)
    def f(x):
        return tj.scan(lambda a, e: a + e, x[1:]) * 2.0
    for n in (2, 3, 4, 5):
        x = np.arange(float(n))
        np.testing.assert_array_equal(f(x).numpy(), np.cumsum(x[1:]) * 2.0)
    # one trace per shape, plus one relaxed trace tried once
    assert f.experimental_get_tracing_count() == 5

    add = tj.function(lambda a, b: a + b, reduce_retracing=True)
    for n, m in [(3, 3), (4, 4), (1, 5), (5, 1), (1, 5)]:
        np.testing.assert_array_equal(add(np.ones(n), np.full(m, 2.0)).numpy(), np.full(
            max(n, m), 3.0))
    assert add.experimental_get_tracing_count() == 3
    with pytest.raises(ValueError, match=r"incompatible shapes for broadcasting: \(2,\) and "
                                         r"\(3,\)[^\n]*\n  at .*test_function_contract"):
        add(np.ones(2), np.ones(3))
    # an input signature promises the error
    sig = tj.function(lambda a, b: a + b, input_signature=[tj.TensorSpec([None], tj.float64)] * 2)
    with pytest.raises(ValueError, match="the trace assumed"):
        sig(np.ones(1), np.ones(5))


@pytest.mark.filterwarnings("ignore:.*traced it")
def test_reduce_retracing_counts_as_tensorflow() -> None:
    seen = []

    @tj.function(reduce_retracing=True)
    def f(x):
        seen.append(x.shape.as_list())
        return tj.reduce_sum(x)
    for n in (1, 2, 3, 4):
        assert float(f(tj.ones([n, 3]))) == 3. * n
    assert f.experimental_get_tracing_count() == 2
    assert float(f(tj.ones([5, 4]))) == 20.
    assert f.experimental_get_tracing_count() == 3
    assert seen == [[1, 3], [None, 3], [None, None]]          # TensorFlow's traces

    @tj.function(reduce_retracing=True)
    def g(x, k):
        return x * k
    for n, k in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 4)):
        np.testing.assert_array_equal(g(tj.ones([n]), k).numpy(), np.full(n, k))
    assert g.experimental_get_tracing_count() == 5           # a new Python value: exact
