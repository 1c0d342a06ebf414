"""Compiled functions, their concrete functions and Variables pickle by value through the
exported form: workers never trace, and run the same code bit for bit."""
from __future__ import annotations

import multiprocessing
import pickle

import numpy as np
import pytest

import tracejit as tj
from tracejit.codegen import llvmjob, objcache

W = tj.Variable(np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4), name="W")


@tj.compile
def predict(x):
    return tj.nn.softmax(x @ W)


X = np.random.default_rng(0).standard_normal((9, 5)).astype(np.float32)


def test_variable_pickles_by_value() -> None:
    v = tj.Variable([1, 2, 3], trainable=False, name="counts")
    u = pickle.loads(pickle.dumps(v))
    assert (u.name, u.trainable, u.dtype, u.shape) == ("counts:0", False, np.int32, (3,))
    assert np.array_equal(u.numpy(), v.numpy()) and u is not v


def test_compiled_function_pickles_with_its_variables_shared() -> None:
    want = predict(X).numpy()
    f, w = pickle.loads(pickle.dumps((predict, W)))
    assert f.variables == [w] and w.name == "W:0"
    assert np.array_equal(f(X).numpy(), want)
    w.assign(w * 2.0)                            # the unpickled Variable is the one read
    np.testing.assert_allclose(f(X).numpy(), predict.python_function(X * 2.0).numpy(),
                               rtol=1e-6)
    c = pickle.loads(pickle.dumps(predict.get_concrete_function(X)))
    assert np.array_equal(c(X).numpy(), want)
    with pytest.raises(TypeError, match=r"takes \(a tensor of shape \(9, 5\)"):
        c(X[:2])


def test_untraced_function_does_not_pickle() -> None:
    with pytest.raises(TypeError, match="before it is traced"):
        pickle.dumps(tj.function(lambda x: x))


def test_unpickling_for_another_host_compiles_the_ir_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    f = tj.function(lambda x: tj.sin(x) + 1.0)
    x = np.linspace(0, 1, 50).astype(np.float32)
    want = f(x).numpy()
    data = pickle.dumps(f)
    tj.clear_caches()
    monkeypatch.setenv("TRACEJIT_CACHE", "0")
    objcache.environment()
    host = objcache._ENV_CACHE["host"] + ";cpu=other"
    monkeypatch.setattr(objcache, "_ENV_CACHE", {**objcache._ENV_CACHE, "host": host})
    calls: list[int] = []
    orig = llvmjob.compile_module
    monkeypatch.setattr(llvmjob, "compile_module", lambda *a, **k: calls.append(1)
                        or orig(*a, **k))
    for _ in range(3):
        g = pickle.loads(data)
        np.testing.assert_allclose(g(x).numpy(), want, rtol=1e-6)
    assert len(calls) == 2          # its module and its entry module (`build.py`), once


def test_multiprocessing_spawn_workers_run_the_exported_code() -> None:
    ctx = multiprocessing.get_context("spawn")
    want = predict(X).numpy()
    with ctx.Pool(1) as pool:
        got = pool.apply(predict, (X,))          # `predict` goes by value; no retrace
    assert np.array_equal(got.numpy(), want)


def test_cloudpickle_ships_closures() -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    scale = tj.Variable(3.0)
    f = tj.function(lambda x: x * scale)
    f(X)
    g = cloudpickle.loads(cloudpickle.dumps(f))
    assert np.array_equal(g(X).numpy(), f(X).numpy())
