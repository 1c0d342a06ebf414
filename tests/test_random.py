"""`tj.random`: the Philox generator against its published answers, the distributions
against their exact CDFs (Kolmogorov-Smirnov at fixed seeds), eager and compiled draws bit
for bit, and TensorFlow's seed and generator semantics."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import tracejit as tj
from tracejit.ir.prims.random import philox_words

KS_CRIT = 1.63      # Kolmogorov-Smirnov critical value at alpha = 0.01: 1.63 / sqrt(n)


def test_philox_matches_the_known_answers_of_random123() -> None:
    # Random123's kat_vectors for philox4x32_10 (counter words c0..c3, key k0 k1).
    def words(c: list[int], k: list[int]) -> list[int]:
        lo, hi = np.uint64(c[0] | c[1] << 32), np.uint64(c[2] | c[3] << 32)
        return [int(x) for x in philox_words(np.array(k, np.uint64), lo, hi)]

    assert words([0, 0, 0, 0], [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert words([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2) == [0x408F276D, 0x41C83B0E,
                                                         0xA20BC7C6, 0x6D5451FD]
    assert words([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
                 [0xA4093822, 0x299F31D0]) == [0xD16CFE09, 0x94FDCCEB, 0x5001E420,
                                                0x24126EA1]
    # The same rounds in plain Python integers, for counters with zero high words.
    assert words([5, 7, 0, 0], [9, 11]) == _reference_philox(9, 11, 5, 7)


def _reference_philox(k0: int, k1: int, c0: int, c1: int) -> list[int]:
    """Philox-4x32-10 in plain Python integers (Random123's round and key schedule)."""
    c = [c0, c1, 0, 0]
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k1, p0 & 0xFFFFFFFF]
    return c


@pytest.mark.parametrize("dtype", [tj.float32, tj.float64])
def test_uniform_follows_its_distribution(dtype: np.dtype) -> None:
    n = 20000
    u = np.sort(tj.random.Generator.from_seed(11).uniform([n], dtype=dtype).numpy())
    assert u.dtype == dtype and u.min() >= 0.0 and u.max() < 1.0
    ecdf = np.arange(1, n + 1) / n
    assert np.max(np.abs(ecdf - u)) < KS_CRIT / math.sqrt(n)


@pytest.mark.parametrize("dtype", [tj.float32, tj.float64])
def test_normal_follows_its_distribution(dtype: np.dtype) -> None:
    n = 20000
    z = np.sort(tj.random.Generator.from_seed(12).normal([n], dtype=dtype).numpy())
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z.astype(np.float64) / math.sqrt(2)))
    assert np.max(np.abs(np.arange(1, n + 1) / n - cdf)) < KS_CRIT / math.sqrt(n)
    assert abs(z.mean()) < 4 / math.sqrt(n) and abs(z.var() - 1) < 6 * math.sqrt(2 / n)


def test_truncated_normal_follows_its_distribution() -> None:
    n = 20000
    z = np.sort(tj.random.Generator.from_seed(13).truncated_normal([n], dtype=tj.float64)
                .numpy())
    assert np.abs(z).max() <= 2.0
    phi = np.vectorize(lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2))))
    lo, hi = phi(-2.0), phi(2.0)
    cdf = (phi(z) - lo) / (hi - lo)
    assert np.max(np.abs(np.arange(1, n + 1) / n - cdf)) < KS_CRIT / math.sqrt(n)


def test_integer_uniform_and_categorical_frequencies() -> None:
    g = tj.random.Generator.from_seed(14)
    k = g.uniform([30000], 3, 8, dtype=tj.int32).numpy()
    assert k.dtype == np.int32 and set(np.unique(k)) == {3, 4, 5, 6, 7}
    assert np.allclose(np.bincount(k - 3) / k.size, 0.2, atol=0.01)
    p = np.array([0.1, 0.6, 0.3])
    c = g.categorical(np.log(p)[None], 30000).numpy()
    assert c.shape == (1, 30000) and c.dtype == np.int64
    assert np.allclose(np.bincount(c[0], minlength=3) / c.size, p, atol=0.01)


def _draws() -> list[tj.Tensor]:
    g = tj.random.get_global_generator()
    return [tj.random.normal([3, 5]), tj.random.normal([7], dtype=tj.float64),
            tj.random.uniform([9]), tj.random.uniform([4], 0, 100, dtype=tj.int64),
            tj.random.truncated_normal([6]), g.categorical([[0.0, 1.0, 2.0]], 5),
            tj.random.stateless_normal([5], seed=[4, 5]),
            tj.random.stateless_uniform([5], seed=[-1, 7], dtype=tj.float64),
            tj.random.shuffle(tj.reshape(tj.range(24), [8, 3]))]


def test_shuffle_permutes_rows_uniformly() -> None:
    tj.random.set_seed(5)
    counts: dict[tuple[int, ...], int] = {}
    rows = np.arange(8.0).reshape(4, 2)
    for _ in range(4800):
        y = tj.random.shuffle(rows).numpy()
        perm = tuple(int(r) for r in y[:, 0] // 2)
        np.testing.assert_array_equal(y, rows[list(perm)])      # whole rows move
        counts[perm] = counts.get(perm, 0) + 1
    assert len(counts) == 24
    observed = np.array(list(counts.values()), np.float64)
    chi2 = float(((observed - 200.0) ** 2 / 200.0).sum())
    assert chi2 < 49.7                      # 23 degrees of freedom, p = 0.001


def test_shuffle_edge_cases_and_gradient() -> None:
    assert float(tj.random.shuffle(5.0)) == 5.0
    assert tj.random.shuffle(tj.zeros([0, 3])).shape == (0, 3)
    assert tj.random.shuffle(tj.constant([1, 2, 3])).dtype == np.int32
    x = tj.Variable([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    with tj.GradientTape() as tape:
        y = tj.random.shuffle(x, seed=1)
        loss = tj.reduce_sum(y * y)
    assert sorted(y.numpy()[:, 0].tolist()) == [1.0, 3.0, 5.0]
    assert tape.gradient(loss, x) is None   # as TensorFlow: no gradient through shuffle
    tj.random.set_seed(9)
    a = tj.random.shuffle(tj.range(50), seed=2).numpy()
    tj.random.set_seed(9)
    np.testing.assert_array_equal(tj.random.shuffle(tj.range(50), seed=2).numpy(), a)


def test_eager_and_compiled_draws_are_bit_identical() -> None:
    tj.random.set_seed(21)
    eager = [t.numpy() for t in _draws()]
    tj.random.set_seed(21)
    compiled = [t.numpy() for t in tj.function(_draws)()]
    for e, c in zip(eager, compiled):
        assert e.dtype == c.dtype and e.shape == c.shape
        np.testing.assert_array_equal(e, c)


def test_scaled_draws_agree_within_one_rounding() -> None:
    # `minval + u * (maxval - minval)` and `mean + stddev * z` are elementwise arithmetic:
    # compiled code may fuse the multiply and add (one rounding instead of two).
    def draws() -> list[tj.Tensor]:
        return [tj.random.uniform([99], -1.0, 2.0), tj.random.normal([99], 3.0, 0.1)]

    tj.random.set_seed(8)
    eager = [t.numpy() for t in draws()]
    tj.random.set_seed(8)
    for e, c in zip(eager, tj.function(draws)()):
        np.testing.assert_array_max_ulp(e, c.numpy(), maxulp=1)


def test_set_seed_repeats_and_compiled_functions_advance_the_state() -> None:
    f = tj.function(lambda: tj.random.uniform([4]))
    tj.random.set_seed(5)
    a, b = f().numpy(), f().numpy()
    assert not np.array_equal(a, b)           # the state advances on every call
    tj.random.set_seed(5)                     # seen by the function traced already
    np.testing.assert_array_equal(f().numpy(), a)
    np.testing.assert_array_equal(tj.random.uniform([4]).numpy(), b)   # eager continues
    assert f.trace_count == 1


def test_op_seeds_repeat_with_the_global_seed() -> None:
    tj.random.set_seed(1)
    a = [tj.random.normal([3], seed=7).numpy() for _ in range(2)]
    tj.random.set_seed(1)
    b = [tj.random.normal([3], seed=7).numpy() for _ in range(2)]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])
    tj.random.set_seed(2)
    assert not np.array_equal(tj.random.normal([3], seed=7).numpy(), a[0])


def test_generators_split_and_reset() -> None:
    g = tj.random.Generator.from_seed(3)
    first = g.normal([4]).numpy()
    kids = g.split(2)
    x, y = (k.normal([4]).numpy() for k in kids)
    assert not np.array_equal(x, y) and not np.array_equal(x, first)
    g.reset_from_seed(3)
    np.testing.assert_array_equal(g.normal([4]).numpy(), first)
    assert g.state.numpy()[2] == 1             # 4 float32 normals: one counter block


def test_draws_are_constants_to_gradients_but_their_parameters_are_not() -> None:
    mean, std = tj.Variable(1.0), tj.Variable(2.0)

    def loss() -> tj.Tensor:
        z = tj.random.stateless_normal([50], seed=[1, 1], mean=mean, stddev=std)
        return tj.reduce_sum(z)

    with tj.GradientTape() as tape:
        y = loss()
    dm, ds = tape.gradient(y, [mean, std])
    z = tj.random.stateless_normal([50], seed=[1, 1]).numpy()
    assert float(dm) == 50.0 and np.isclose(float(ds), z.sum(), rtol=1e-5)
    x = tj.constant(1.0)
    with tj.GradientTape() as tape:
        tape.watch(x)
        w = tj.random.normal([3]) * x
        total = tj.reduce_sum(w)
    np.testing.assert_array_equal(tape.gradient(total, x).numpy(), total.numpy())


def test_stateless_draws_batch_under_vmap_of_keys() -> None:
    keys = np.array([[1, 2], [3, 4], [1, 2]], np.int64)
    from tracejit.ir import Builder, TensorType, bind, interpreting
    from tracejit.ir.batching import vmap
    from tracejit.ir.interp import evaluate
    b = Builder("draw")
    k = b.param(TensorType((2,), np.int64))
    c = b.param(TensorType((), np.int64))
    with interpreting(b):
        out = bind("philox", k, c, shape=(4,), dtype=np.dtype(np.float32), dist="uniform")
    fn = b.build([out])
    batched = vmap(fn, [True, False], 3)
    got = evaluate(batched, [keys, np.array(9, np.int64)])[0]
    for i in range(3):
        np.testing.assert_array_equal(got[i], evaluate(fn, [keys[i], np.array(9)])[0])
    np.testing.assert_array_equal(got[0], got[2])


@pytest.mark.parametrize("call, message", [
    (lambda: tj.random.normal([2], dtype=tj.int32), "float32 or float64"),
    (lambda: tj.random.uniform([2], dtype=tj.int32), "needs maxval"),
    (lambda: tj.random.stateless_normal([2], seed=[1, 2, 3]), "shape [2] integer"),
    (lambda: tj.random.normal([-1]), "negative"),
    (lambda: tj.random.categorical([1.0, 2.0], 2), "(batch, classes)"),
])
def test_bad_arguments_raise_clear_errors(call: object, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message.replace("[", r"\[")
                       .replace("(", r"\(").replace(")", r"\)")):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("draw", [
    lambda lo, hi: tj.random.uniform([50], lo, hi, dtype=tj.int32),
    lambda lo, hi: tj.random.Generator.from_seed(3).uniform([50], lo, hi, dtype=tj.int64),
    lambda lo, hi: tj.random.stateless_uniform([50], [1, 2], lo, hi, dtype=tj.int32),
])
def test_integer_uniform_needs_minval_below_maxval(draw: Any, compiled: bool) -> None:
    """As TensorFlow (InvalidArgumentError): minval >= maxval raised ZeroDivisionError
    (equal) or gave numbers outside [minval, maxval) (minval 5, maxval 3: 4 and 5)."""
    run = tj.function(draw) if compiled else draw
    for lo, hi in [(3, 3), (5, 3), ([0, 4], [3, 4])]:
        with pytest.raises(ValueError, match="need minval < maxval, got [0-9]+ >= [0-9]+"):
            run(lo, hi)
    got = np.asarray(run(-2, 3))
    assert got.min() >= -2 and got.max() < 3 and len(set(got.tolist())) == 5
