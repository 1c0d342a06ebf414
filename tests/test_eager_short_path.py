"""The eager short path (`context.EagerInterpreter.apply`, `bind_plain`): a repeated
parameterless op on eager tensors skips the checks it passed before, and still records
on tapes, ignores NumPy's floating-point errors without touching the caller's error
state, and returns read-only results."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracejit as tj
from tracejit import context


def test_repeated_ops_take_the_short_path_and_give_numpys_results() -> None:
    x = tj.constant(np.arange(5, dtype=np.float32))
    y = x * 2 + 1
    keys = [k for k in context._SHORT if k[1:] == ((5,), np.dtype(np.float32), (),
                                                   np.dtype(np.float32))]
    assert {k[0].name for k in keys} >= {"mul", "add"}
    for _ in range(3):
        z = x * 2 + 1
        np.testing.assert_array_equal(z.numpy(), y.numpy())
        assert not z.numpy().flags.writeable and z.numpy() is not y.numpy()
    i = tj.constant(np.arange(4, dtype=np.int32))
    for _ in range(2):
        np.testing.assert_array_equal((i * 3 - 1).numpy(), np.arange(4) * 3 - 1)
        assert (i * 3).dtype == np.int32


def test_the_short_path_records_on_tapes_to_any_order() -> None:
    x = tj.constant(np.array([1., 2., 3.], np.float32))
    for _ in range(3):                       # the later rounds run on the short path
        with tj.GradientTape() as outer:
            outer.watch(x)
            with tj.GradientTape() as inner:
                inner.watch(x)
                y = x * x * x + 1
            g = inner.gradient(y, x)
        np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
        np.testing.assert_allclose(outer.gradient(g, x).numpy(), 6 * x.numpy())


def test_floating_point_errors_are_ignored_and_the_callers_state_kept() -> None:
    big = tj.constant(np.array([3e38], np.float32))
    zero = tj.constant(np.array([0.], np.float32))
    old = np.seterr(all="raise")
    try:
        for _ in range(3):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert np.isinf((big * 10.).numpy()).all()
                assert np.isnan((zero / zero).numpy()).all()
        with pytest.raises(FloatingPointError):     # the caller's own NumPy still raises
            np.array([3e38], np.float32) * np.float32(10)
    finally:
        np.seterr(**old)


def test_shape_errors_still_name_the_users_line_after_a_good_call() -> None:
    a = tj.constant(np.ones(3, np.float32))
    b = tj.constant(np.ones(4, np.float32))
    a + a
    for _ in range(2):
        with pytest.raises(ValueError) as info:
            a + b                       # the line the error names
        assert "a + b" in str(info.value)
