"""TensorFlow API that model and simulation code uses everywhere: `newaxis`, `is_tensor`,
`get_static_value`, `meshgrid`, `sequence_mask`, `tensor_scatter_nd_sub`,
`nn.bias_add`, `nn.dropout`, `linalg.cross`, `math.reciprocal_no_nan`. Values against NumPy
(and the results TensorFlow 2.21 gives, written out), gradients against central finite
differences at orders 1 and 2, compiled against eager."""
from __future__ import annotations

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck, rand


def test_newaxis_is_none_and_adds_an_axis() -> None:
    assert tj.newaxis is None
    x = tj.constant([1, 2, 3])
    assert x[:, tj.newaxis].shape == (3, 1) and x[tj.newaxis].shape == (1, 3)


def test_is_tensor_and_get_static_value() -> None:
    assert tj.is_tensor(tj.constant(1.0)) and tj.is_tensor(tj.Variable(1.0))
    assert not tj.is_tensor(np.ones(2)) and not tj.is_tensor(1.0) and not tj.is_tensor([1])
    np.testing.assert_array_equal(tj.get_static_value(tj.constant([1, 2])), [1, 2])
    assert tj.get_static_value(tj.Variable(3)) is None            # its value can change
    assert tj.get_static_value(3) == 3
    a = np.arange(3)
    assert tj.get_static_value(a) is a
    seen = []

    @tj.function
    def f(x: tj.Tensor) -> tj.Tensor:
        seen.append(tj.get_static_value(x))
        return x + 1

    f(tj.constant(1))
    assert seen == [None]


def test_meshgrid_matches_numpy() -> None:
    x, y, z = np.arange(3.0), np.arange(4.0) + 10, np.arange(2.0) - 5
    for indexing in ("xy", "ij"):
        got = tj.meshgrid(x, y, z, indexing=indexing)
        want = np.meshgrid(x, y, z, indexing=indexing)
        assert len(got) == 3
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w)
    X, Y = tj.meshgrid([1, 2, 3], [4, 5])
    assert X.numpy().tolist() == [[1, 2, 3], [1, 2, 3]]
    assert Y.numpy().tolist() == [[4, 4, 4], [5, 5, 5]]
    assert [g.shape for g in tj.meshgrid([[1, 2], [3, 4]], [4, 5])] == [(2, 4), (2, 4)]
    assert [g.shape for g in tj.meshgrid(1, [3, 4])] == [(2, 1), (2, 1)]
    assert tj.meshgrid() == [] and tj.meshgrid([1, 2, 3])[0].numpy().tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="indexing must be 'xy' or 'ij'"):
        tj.meshgrid([1, 2], [3], indexing="zz")
    with pytest.raises(tj.errors.DTypeError, match="one dtype"):
        tj.meshgrid([1, 2], [1.5])
    with pytest.raises(TypeError, match="unexpected keyword"):
        tj.meshgrid([1, 2], sparse=True)


def test_meshgrid_gradients_and_compiled() -> None:
    gradcheck(lambda a, b: tj.reduce_sum(tj.sin(tj.meshgrid(a, b)[0] * tj.meshgrid(a, b)[1])),
              rand(0, (3,)), rand(1, (4,)))
    f = tj.function(lambda a, b: tj.meshgrid(a, b, indexing="ij"))
    a, b = tj.constant([1.0, 2.0]), tj.constant([3.0, 4.0, 5.0])
    for g, w in zip(f(a, b), tj.meshgrid(a, b, indexing="ij")):
        np.testing.assert_array_equal(g.numpy(), w.numpy())


def test_cross() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 3))
    np.testing.assert_allclose(tj.linalg.cross(a, b).numpy(), np.cross(a, b), rtol=1e-12)
    assert tj.linalg.cross([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]).numpy().tolist() == [0, 0, 1]
    assert tj.linalg.cross([1, 2, 3], [4, 5, 6]).numpy().tolist() == [-3, 6, -3]   # ints
    gradcheck(lambda x, y: tj.linalg.cross(x, y), rand(2, (2, 3)), rand(3, (2, 3)))
    f = tj.function(tj.linalg.cross)       # compiled code fuses a * b - c * d (contract)
    np.testing.assert_allclose(f(a, b).numpy(), tj.linalg.cross(a, b).numpy(), rtol=1e-14,
                               atol=1e-15)
    with pytest.raises(ValueError, match="last dimension must be 3"):
        tj.linalg.cross([1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="same shape"):
        tj.linalg.cross([[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def test_reciprocal_no_nan() -> None:
    got = tj.math.reciprocal_no_nan([0.0, 2.0, -0.0, np.inf, -4.0]).numpy()
    assert got.tolist() == [0.0, 0.5, 0.0, 0.0, -0.25] and got.dtype == np.float32
    x = tj.constant([0.0, 2.0])
    with tj.GradientTape() as tape:
        tape.watch(x)
        y = tj.math.reciprocal_no_nan(x)
    assert tape.gradient(y, x).numpy().tolist() == [0.0, -0.25]     # TensorFlow's
    gradcheck(tj.math.reciprocal_no_nan, np.array([0.5, -2.0, 3.0]))
    with pytest.raises(tj.errors.DTypeError, match="float tensor"):
        tj.math.reciprocal_no_nan([0, 2])


def test_tensor_scatter_nd_sub() -> None:
    got = tj.tensor_scatter_nd_sub([1.0, 2.0, 3.0], [[0], [0]], [1.0, 2.0])
    assert got.numpy().tolist() == [-2.0, 2.0, 3.0]
    m = tj.tensor_scatter_nd_sub(tj.ones([2, 3], tj.int32), [[1]], [[1, 2, 3]])
    assert m.numpy().tolist() == [[1, 1, 1], [0, -1, -2]]
    gradcheck(lambda t, u: tj.tensor_scatter_nd_sub(t * t, [[1], [1], [0]], u * t[0]),
              rand(4, (3,)), rand(5, (3,)))


def test_sequence_mask() -> None:
    assert tj.sequence_mask([1, 3, 2], 5).numpy().tolist() == [
        [True, False, False, False, False], [True, True, True, False, False],
        [True, True, False, False, False]]
    assert tj.sequence_mask([1, 3, 2]).numpy().tolist() == [
        [True, False, False], [True, True, True], [True, True, False]]
    assert tj.sequence_mask([[1], [2]], 3, dtype=tj.float32).numpy().tolist() == [
        [[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]]
    assert tj.sequence_mask([-1, 2], 3).numpy().tolist() == [[False] * 3, [True, True, False]]
    assert tj.sequence_mask([1.0, 2.5], 3).numpy().tolist() == [[True, False, False],
                                                                 [True, True, True]]
    assert tj.sequence_mask(2, 3).numpy().tolist() == [True, True, False]
    assert tj.sequence_mask(tj.constant([], tj.int32)).shape == (0, 0)
    f = tj.function(lambda n: tj.sequence_mask(n, 4, dtype=tj.int32))
    assert f(tj.constant([0, 4, 2])).numpy().tolist() == [[0, 0, 0, 0], [1, 1, 1, 1],
                                                          [1, 1, 0, 0]]
    with pytest.raises(tj.TracingError, match="pass maxlen"):
        tj.function(lambda n: tj.sequence_mask(n))(tj.constant([1, 2]))
    with pytest.raises(ValueError, match="maxlen must be a scalar"):
        tj.sequence_mask([1, 2], [3])
    with pytest.raises(ValueError, match="must not be negative"):
        tj.sequence_mask([1, 2], -1)
    with pytest.raises(TypeError, match="integers or floats"):
        tj.sequence_mask([True])


def test_bias_add() -> None:
    x = rand(6, (2, 3, 4))
    b = rand(7, (4,))
    np.testing.assert_array_equal(tj.nn.bias_add(x, b).numpy(), x + b)
    np.testing.assert_array_equal(tj.nn.bias_add(x, b, data_format="NWC").numpy(), x + b)
    c = rand(8, (3,))
    np.testing.assert_array_equal(tj.nn.bias_add(x, c, data_format="NCW").numpy(),
                                  x + c[:, None])
    y = rand(9, (1, 2, 2, 2))
    np.testing.assert_array_equal(tj.nn.bias_add(y, [1.0, 2.0], "NCHW").numpy(),
                                  y + np.array([1.0, 2.0])[:, None, None])
    gradcheck(lambda v, w: tj.nn.bias_add(v * v, w, data_format="NCW"), x, c)
    gradcheck(lambda v, w: tj.nn.bias_add(tj.sin(v), w * w), x, b)
    f = tj.function(lambda v, w: tj.nn.bias_add(v, w, data_format="NCHW"))
    np.testing.assert_array_equal(f(y, np.array([1.0, 2.0])).numpy(),
                                  tj.nn.bias_add(y, [1.0, 2.0], "NCHW").numpy())
    with pytest.raises(ValueError, match="bias has 2 entries"):
        tj.nn.bias_add(tj.ones([2, 3]), [1.0, 2.0])
    with pytest.raises(ValueError, match="rank 2 or more"):
        tj.nn.bias_add(tj.ones([3]), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="1-D"):
        tj.nn.bias_add(tj.ones([2, 3]), [[1.0, 2.0, 3.0]])
    with pytest.raises(tj.errors.DTypeError, match="cannot be converted to float32"):
        tj.nn.bias_add(tj.ones([2, 3]), tj.constant([1, 2, 3]))
    with pytest.raises(ValueError, match="data_format"):
        tj.nn.bias_add(tj.ones([2, 3]), [1.0, 2.0, 3.0], data_format="XYZ")


def test_dropout_values_rate_and_noise_shape() -> None:
    tj.random.set_seed(3)
    y = tj.nn.dropout(tj.ones([4000]), 0.25).numpy()
    assert set(y.tolist()) == {0.0, float(np.float32(1) / np.float32(0.75))}
    assert 0.2 < float((y == 0).mean()) < 0.3
    m = tj.nn.dropout(tj.ones([30, 4]), 0.5, noise_shape=[30, 1], seed=2).numpy()
    assert all(len(set(row)) == 1 for row in m.tolist())            # whole rows kept or not
    assert {0.0, 2.0} == set(m.ravel().tolist())
    x = tj.ones([3])
    assert tj.nn.dropout(x, 0.0) is x
    t = tj.nn.dropout(tj.ones([4000]), tj.constant(0.5)).numpy()
    assert set(t.tolist()) == {0.0, 2.0}
    nan = tj.nn.dropout(tj.constant([np.nan] * 50 + [np.inf] * 50), 0.5).numpy()
    assert (nan[np.isfinite(nan)] == 0).all() and np.isfinite(nan).any()   # dropped: 0
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
            tj.nn.dropout(tj.ones([3]), bad)
    with pytest.raises(ValueError, match="float tensor"):
        tj.nn.dropout(tj.ones([3], tj.int32), 0.5)
    with pytest.raises(ValueError, match="rate must be a scalar"):
        tj.nn.dropout(tj.ones([3]), tj.constant([0.5, 0.5]))
    with pytest.raises(ValueError):
        tj.nn.dropout(tj.ones([3, 4]), 0.5, noise_shape=[2, 1])


def test_dropout_gradient_is_the_kept_scale_and_compiled_draws_advance() -> None:
    x = tj.constant(rand(10, (200,)))
    with tj.GradientTape() as tape:
        tape.watch(x)
        y = tj.nn.dropout(x, 0.3)
    g = tape.gradient(y, x).numpy()
    kept = y.numpy() != 0
    np.testing.assert_allclose(g[kept], 1 / 0.7, rtol=1e-12)
    assert (g[~kept] == 0).all() and kept.any() and (~kept).any()

    @tj.function
    def step(v: tj.Tensor) -> tj.Tensor:
        return tj.nn.dropout(v, 0.5)

    a, b = step(tj.ones([64])).numpy(), step(tj.ones([64])).numpy()
    assert set(a.tolist()) <= {0.0, 2.0} and not np.array_equal(a, b)


def test_batch_normalization_as_tensorflow_computes_it() -> None:
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]], np.float32)
    f32 = lambda a: np.array(a, np.float32)  # noqa: E731
    got = tj.nn.batch_normalization(x, f32([1, 2, 3]), f32([1, 2, 4]), f32([0.5, 0, 1]),
                                    f32([2, 1, 0.5]), 1e-3)
    # TensorFlow 2.21's values, bit for bit:
    assert got.numpy().tolist() == [[0.5, 0.0, 1.0],
                                     [6.497002601623535, 2.120790481567383, 1.9998750686645508]]
    gradcheck(lambda v, m, var, o, s: tj.nn.batch_normalization(v, m, var * var + 0.5, o, s,
                                                                1e-3),
              rand(11, (4, 3)), rand(12, (3,)), rand(13, (3,)), rand(14, (3,)), rand(15, (3,)))
    f = tj.function(lambda v: tj.nn.batch_normalization(v, 1.0, 2.0, None, None, 1e-3))
    np.testing.assert_allclose(f(x).numpy(),
                               tj.nn.batch_normalization(x, 1.0, 2.0, None, None, 1e-3).numpy(),
                               rtol=1e-6)


def test_moments_from_statistics_and_weights() -> None:
    m, v = tj.nn.normalize_moments(tj.constant(4.0), tj.constant([4.0, 8.0]),
                                   tj.constant([10.0, 30.0]), None)
    assert m.numpy().tolist() == [1.0, 2.0] and v.numpy().tolist() == [1.5, 3.5]
    m, v = tj.nn.normalize_moments(4.0, [4.0, 8.0], [10.0, 30.0], [1.0, 2.0])
    assert m.numpy().tolist() == [2.0, 4.0] and v.numpy().tolist() == [1.5, 3.5]
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]], np.float32)
    m, v = tj.nn.weighted_moments(x, axes=[0], frequency_weights=tj.constant([[1.0], [3.0]]))
    assert m.numpy().tolist() == [3.25, 4.25, 6.0] and v.numpy().tolist() == [1.6875] * 2 + [3]
    m, v = tj.nn.weighted_moments(x, axes=[1], frequency_weights=1.0, keepdims=True)
    assert m.shape == v.shape == (2, 1)
    np.testing.assert_allclose(m.numpy().ravel(), x.mean(1), rtol=1e-6)
    np.testing.assert_allclose(v.numpy().ravel(), x.var(1), rtol=1e-5)
    gradcheck(lambda a, w: tj.nn.weighted_moments(a, [0], w * w + 1.0)[1], rand(16, (3, 2)),
              rand(17, (3, 1)))


def test_weighted_cross_entropy_and_average_loss() -> None:
    got = tj.nn.weighted_cross_entropy_with_logits([0.0, 1.0, 0.5], [-1.0, 2.0, 30.0], 2.0)
    np.testing.assert_allclose(got.numpy(), [0.31326175, 0.253856, 15.0], rtol=1e-6)
    big = tj.nn.weighted_cross_entropy_with_logits([1.0], [-100.0], pos_weight=0.5)
    assert big.numpy().tolist() == [50.0]                 # stable far out
    gradcheck(lambda t, z: tj.nn.weighted_cross_entropy_with_logits(t, z, 3.0),
              np.array([0.0, 1.0, 0.3]), np.array([-1.5, 0.5, 2.0]))
    with pytest.raises(ValueError, match="same shape"):
        tj.nn.weighted_cross_entropy_with_logits([1.0, 0.0], [-1.0], 2.0)
    assert float(tj.nn.compute_average_loss([1.0, 2.0, 3.0, 6.0])) == 3.0
    assert float(tj.nn.compute_average_loss([1.0, 2.0, 3.0, 6.0], global_batch_size=8)) == 1.5
    assert float(tj.nn.compute_average_loss([1.0, 2.0, 3.0, 6.0],
                                            sample_weight=[1.0, 0.0, 1.0, 0.5])) == 1.75
    assert float(tj.nn.compute_average_loss([[1.0, 2.0], [3.0, 6.0]])) == 6.0
    avg = tj.nn.compute_average_loss([1, 2])
    assert avg.dtype == np.float64 and float(avg) == 1.5
    with pytest.raises(ValueError, match="batch dimension"):
        tj.nn.compute_average_loss(3.0)


def test_depth_to_space_and_space_to_depth() -> None:
    a = np.arange(32.0, dtype=np.float32).reshape(1, 2, 2, 8)
    assert tj.nn.depth_to_space(a, 2).numpy().ravel().tolist() == [float(v) for v in [
        0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19, 24, 25,
        26, 27, 20, 21, 22, 23, 28, 29, 30, 31]]
    b = np.arange(48.0, dtype=np.float32).reshape(1, 4, 6, 2)
    assert tj.nn.space_to_depth(b, 2).numpy().ravel().tolist() == [float(v) for v in [
        0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 16, 17, 18, 19, 8, 9, 10, 11, 20, 21,
        22, 23, 24, 25, 26, 27, 36, 37, 38, 39, 28, 29, 30, 31, 40, 41, 42, 43, 32, 33,
        34, 35, 44, 45, 46, 47]]
    np.testing.assert_array_equal(tj.nn.depth_to_space(tj.nn.space_to_depth(b, 2), 2).numpy(), b)
    c = np.transpose(a, (0, 3, 1, 2))
    np.testing.assert_array_equal(
        tj.nn.depth_to_space(c, 2, data_format="NCHW").numpy(),
        np.transpose(tj.nn.depth_to_space(a, 2).numpy(), (0, 3, 1, 2)))
    gradcheck(lambda v: tj.nn.depth_to_space(v * v, 2), rand(18, (1, 2, 1, 4)))
    gradcheck(lambda v: tj.nn.space_to_depth(tj.sin(v), 2), rand(19, (1, 2, 4, 1)))
    with pytest.raises(ValueError, match="divisible by block_size"):
        tj.nn.space_to_depth(np.zeros((1, 3, 2, 2)), 2)
    with pytest.raises(ValueError, match="divisible by block_size"):
        tj.nn.depth_to_space(np.zeros((1, 1, 2, 6)), 2)
    with pytest.raises(ValueError, match="at least 2"):
        tj.nn.depth_to_space(np.zeros((1, 1, 2, 8)), 1)
    with pytest.raises(ValueError, match="rank 4"):
        tj.nn.depth_to_space(np.zeros((2, 8)), 2)
    with pytest.raises(ValueError, match="data_format"):
        tj.nn.depth_to_space(np.zeros((1, 1, 2, 8)), 2, data_format="NCDHW")


def test_linalg_normalize_adjoint_polyval_xdivy_softsign_zero_fraction() -> None:
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]], np.float32)
    v, n = tj.linalg.normalize(x, ord=1, axis=1)
    assert n.numpy().tolist() == [[6.0], [16.0]]
    np.testing.assert_allclose(v.numpy(), x / np.array([[6.0], [16.0]]), rtol=1e-7)
    v, n = tj.linalg.normalize(x)
    np.testing.assert_allclose(n.numpy(), [[np.linalg.norm(x)]], rtol=1e-6)
    assert np.isnan(tj.linalg.normalize(np.zeros(3, np.float32))[0].numpy()).all()
    gradcheck(lambda a: tj.linalg.normalize(a, axis=0)[0], rand(20, (3, 2)))
    assert tj.linalg.adjoint(x).numpy().tolist() == x.T.tolist()
    assert tj.math.polyval([1.0, 2.0, 3.0], tj.constant([0.0, 1.0, 2.0])).numpy().tolist() == \
        [3.0, 6.0, 11.0]
    assert tj.math.polyval([], tj.constant([0.0, 1.0])).numpy().tolist() == [0.0, 0.0]
    gradcheck(lambda c, t: tj.math.polyval([c[0], c[1], 2.0], t), rand(21, (2,)), rand(22, (3,)))
    with pytest.raises(ValueError, match="must be a list"):
        tj.math.polyval(tj.constant([1.0, 2.0]), tj.constant(3.0))
    got = tj.math.xdivy([0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 2.0, 4.0]).numpy()
    assert got.tolist() == [0.0, np.inf, 0.0, 0.5]
    a, b = tj.constant([0.0, 2.0, 0.0]), tj.constant([0.0, 4.0, 3.0])
    with tj.GradientTape() as tape:
        tape.watch([a, b])
        y = tj.math.xdivy(a, b)
    ga, gb = tape.gradient(y, [a, b])
    assert ga.numpy().tolist() == [0.0, 0.25, 0.0] and gb.numpy().tolist() == [0.0, -0.125, 0.0]
    gradcheck(tj.math.xdivy, np.array([0.5, -2.0]), np.array([1.5, 3.0]))
    assert tj.math.softsign is tj.nn.softsign
    assert float(tj.math.zero_fraction([0.0, 1.0, 0.0, 2.0])) == 0.5
    zf = tj.math.zero_fraction([0, 1, 0])
    assert zf.dtype == np.float32 and abs(float(zf) - 2 / 3) < 1e-7
    assert np.isnan(float(tj.math.zero_fraction(tj.zeros([0]))))


def test_ordering_api_orders_nothing_and_runs_everything() -> None:
    v = tj.Variable(1.0)
    with tj.control_dependencies([v.assign(2.0)]):
        y = v * 3.0
    assert float(y) == 6.0
    with tj.control_dependencies(None):
        pass
    with pytest.raises(TypeError, match="iterable"):
        with tj.control_dependencies(3):
            pass
    assert tj.group(tj.constant(1.0), v.assign_add(1.0), name="g") is None and float(v) == 3.0
    assert tj.no_op() is None
    with pytest.raises(TypeError, match="unexpected keyword"):
        tj.group(control_inputs=[])
    a, b = tj.identity_n([tj.constant(1.0), [2, 3]])
    assert float(a) == 1.0 and b.numpy().tolist() == [2, 3]

    @tj.function
    def step(x: tj.Tensor) -> tj.Tensor:
        with tj.control_dependencies([v.assign_add(x)]):
            out = tj.identity_n([v.read_value() * 2.0])[0]
        tj.group(v.assign_sub(1.0))
        return out

    assert float(step(tj.constant(2.0))) == 10.0 and float(v) == 4.0
    x = tj.constant([1.0, 2.0])
    with tj.GradientTape() as tape:
        tape.watch(x)
        z = tj.reduce_sum(tj.identity_n([x * x])[0])
    assert tape.gradient(z, x).numpy().tolist() == [2.0, 4.0]


def test_softmax_cross_entropy_casts_labels_to_the_logits_dtype_as_tensorflow() -> None:
    lg = tj.constant([[1.0, 2.0, 0.5]], tj.float64)
    want = 0.4643687841079449                   # TensorFlow 2.21, float64
    for labels in ([[0.0, 1.0, 0.0]], tj.constant([[0.0, 1.0, 0.0]]),
                   tj.constant([[0, 1, 0]]), np.array([[0.0, 1.0, 0.0]], np.float32)):
        got = tj.nn.softmax_cross_entropy_with_logits(labels=labels, logits=lg)
        assert got.dtype == np.float64 and got.numpy().tolist() == [want]
    f32 = tj.nn.softmax_cross_entropy_with_logits(labels=tj.constant([[0, 1, 0]]),
                                                  logits=tj.constant([[1.0, 2.0, 0.5]]))
    assert f32.dtype == np.float32 and abs(float(f32[0]) - want) < 1e-7
    lb = tj.constant([[0.2, 0.8, 0.0]], tj.float32)
    with tj.GradientTape() as tape:
        tape.watch([lb, lg])
        loss = tj.nn.softmax_cross_entropy_with_logits(labels=lb, logits=lg)
    g_lb, g_lg = tape.gradient(loss, [lb, lg])
    assert g_lb.dtype == np.float32 and g_lg.dtype == np.float64
    np.testing.assert_allclose(g_lb.numpy(), -tj.nn.log_softmax(lg).numpy(), rtol=1e-6)
