"""`f.export` and `tj.load`: artifacts hold the optimized IR, object code, signature and
Variables; a fresh process loads them with no tracing and no LLVM pass, bit for bit; a
damaged artifact is refused before anything in it runs."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

import tracejit as tj
from tracejit import artifact
from tracejit.codegen import llvmjob, objcache, sealed
from tracejit.errors import ArtifactError

Pair = namedtuple("Pair", "loss grad")


@pytest.fixture
def llvm_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every LLVM compilation from now on (the `optimize` flag of each), with the disk
    cache off so that nothing else can supply code."""
    monkeypatch.setenv("TRACEJIT_CACHE", "0")
    calls: list[bool] = []
    orig = llvmjob.compile_module

    def counted(*a, **k):  # type: ignore[no-untyped-def]
        calls.append(bool(a[2] if len(a) > 2 else k.get("optimize", True)))
        return orig(*a, **k)
    monkeypatch.setattr(llvmjob, "compile_module", counted)
    return calls


def _model() -> tuple[tj.Variable, tj.Variable, object]:
    rng = np.random.default_rng(0)
    w = tj.Variable(rng.standard_normal((6, 5)).astype(np.float32), name="w")
    b = tj.Variable(np.zeros(5, np.float32), name="b", trainable=False)

    @tj.compile
    def step(x, scale, flag=True):
        with tj.GradientTape() as t:
            h = tj.tanh(x @ w + b) * scale
            loss = tj.reduce_mean(h * h)
        b.assign_add(tj.ones_like(b))            # an assignment, written back per call
        return {"out": Pair(loss, t.gradient(loss, w)), "flag": flag, "k": 3}
    return w, b, step


def test_export_load_same_results_and_variables() -> None:
    w, b, step = _model()
    x = np.random.default_rng(1).standard_normal((7, 6)).astype(np.float32)
    data = step.export(tj.TensorSpec((7, 6)), 2.0)
    g = tj.load(data)
    assert [v.name for v in g.variables] == ["w:0", "b:0"]
    assert [v.trainable for v in g.variables] == [True, False]
    assert g.variables[0] is not w and np.array_equal(g.variables[0].numpy(), w.numpy())
    assert g.reused_object_code
    want = step(x, 2.0)
    got = g(x, 2.0)
    assert isinstance(got["out"], Pair)
    for k in ("flag", "k"):          # returned Python values are tensors, as tf.function's
        assert type(got[k]) is type(want[k]) and np.array_equal(got[k], want[k])
    assert np.array_equal(got["out"].loss.numpy(), want["out"].loss.numpy())
    assert np.array_equal(got["out"].grad.numpy(), want["out"].grad.numpy())
    # Assignments act on the loaded Variables, never the exporter's.
    assert np.array_equal(g.variables[1].numpy(), np.ones(5, np.float32))
    assert np.array_equal(b.numpy(), np.ones(5, np.float32))
    # Keywords in any order; another shape or Python value is refused, naming both.
    assert np.array_equal(g(scale=2.0, x=x)["out"].loss.numpy(),
                          step(x, scale=2.0)["out"].loss.numpy())
    with pytest.raises(TypeError, match=r"shape \(7, 6\).*shape \(3, 6\)"):
        g(x[:3], 2.0)
    with pytest.raises(TypeError, match="Python value 3.0"):
        g(x, 3.0)
    tj.clear_caches()                            # a loaded function cannot retrace: kept
    assert np.array_equal(g(x, 2.0)["out"].grad.numpy(), step(x, 2.0)["out"].grad.numpy())


def test_loaded_function_is_differentiable_and_callable_in_traces(
        llvm_calls: list[bool]) -> None:
    w = tj.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), name="w")
    f = tj.function(lambda x: tj.reduce_sum(tj.tanh(x @ w) ** 2))
    x = tj.constant(np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32))
    g = tj.load(f.export(x, backward=True))
    del llvm_calls[:]
    with tj.GradientTape() as t:                 # the stored backward runs: no LLVM
        t.watch(x)
        y = g(x)
    gx, gw = t.gradient(y, [x, g.variables[0]])
    assert llvm_calls == []
    with tj.GradientTape() as t:
        t.watch(x)
        y0 = f(x)
    want = t.gradient(y0, [x, w])
    np.testing.assert_allclose(gx.numpy(), want[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(gw.numpy(), want[1].numpy(), rtol=1e-6)
    outer = tj.function(lambda x: g(x) * 2.0)    # a `call` inside another trace
    np.testing.assert_allclose(outer(x).numpy(), 2 * y0.numpy(), rtol=1e-6)


def test_other_host_or_versions_compile_the_stored_ir(monkeypatch: pytest.MonkeyPatch,
                                                      llvm_calls: list[bool]) -> None:
    f = tj.function(lambda x: tj.exp(x) * 3.0)
    x = np.linspace(-2, 2, 101).astype(np.float32)
    data = f.export(x)
    want = f(x).numpy()
    tj.clear_caches()                            # no executable of this process is reused
    objcache.environment()
    host = objcache._ENV_CACHE["host"] + ";cpu=other"
    monkeypatch.setattr(objcache, "_ENV_CACHE", {**objcache._ENV_CACHE, "host": host})
    del llvm_calls[:]
    g = tj.load(data)
    # Its entry module (no optimization, `build.py`), then the function's module (O3).
    assert not g.reused_object_code and llvm_calls == [False, True]
    np.testing.assert_allclose(g(x).numpy(), want, rtol=1e-6)
    tj.load(data)                                # the IR is compiled once per process
    assert llvm_calls == [False, True]
    h = tj.load(tj.function(lambda x: tj.exp(x) * 3.0).export(x), object_code=False)
    assert not h.reused_object_code              # never runs stored machine code


_EXPORTER = """
import sys, numpy as np, tracejit as tj
rng = np.random.default_rng(0)
W1 = tj.Variable(rng.standard_normal((64, 96)).astype(np.float32) * .1, name="W1")
W2 = tj.Variable(rng.standard_normal((96, 10)).astype(np.float32) * .1, name="W2")
@tj.compile
def step(x, y):
    with tj.GradientTape() as t:
        h = tj.nn.relu(x @ W1)
        loss = tj.reduce_mean(tj.nn.sparse_softmax_cross_entropy_with_logits(y, h @ W2))
    return loss, t.gradient(loss, [W1, W2])
x = rng.standard_normal((200, 64)).astype(np.float32)
y = rng.integers(0, 10, 200).astype(np.int32)
step.export(x, y, path=sys.argv[1] + "/step.tjx")
loss, (g1, g2) = step(x, y)
np.savez(sys.argv[1] + "/io.npz", x=x, y=y, loss=loss.numpy(), g1=g1.numpy(), g2=g2.numpy())
"""

_LOADER = """
import sys, time, numpy as np
import tracejit as tj
from tracejit.codegen import llvmjob
calls = []
orig = llvmjob.compile_module
llvmjob.compile_module = lambda *a, **k: calls.append(1) or orig(*a, **k)
import tracejit.tracing
tracejit.tracing.trace = lambda *a, **k: sys.exit("traced")
io = np.load(sys.argv[1] + "/io.npz")
g = tj.load(sys.argv[1] + "/step.tjx")
loss, (g1, g2) = g(io["x"], io["y"])
same = all(np.array_equal(a.numpy(), io[k]) for a, k in [(loss, "loss"), (g1, "g1"),
                                                          (g2, "g2")])
print(same, g.reused_object_code, len(calls))
"""


def test_fresh_process_loads_without_llvm_bit_for_bit(tmp_path: Path) -> None:
    env = {**os.environ, "TRACEJIT_CACHE": "0"}
    for code in (_EXPORTER, _LOADER):
        r = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(tmp_path)],
                           capture_output=True, text=True, env=env, timeout=240)
        assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True", "0"], r.stdout


_ARTIFACT: list[bytes] = []


def _artifact() -> bytes:
    if not _ARTIFACT:
        v = tj.Variable(np.arange(4, dtype=np.float32), name="v")
        _ARTIFACT.append(tj.function(lambda x: x * v).export(tj.TensorSpec([4])))
    return _ARTIFACT[0]


def _resealed(data: bytes, edit: object) -> bytes:
    """`data` with its manifest changed by `edit` and sealed again (a well-formed file
    whose content lies)."""
    content = sealed.unseal(data, artifact.MAGIC, artifact.FORMAT, artifact.SECRET)
    (n,) = struct.unpack_from("<Q", content)
    m = json.loads(content[8:8 + n])
    edit(m)  # type: ignore[operator]
    text = json.dumps(m).encode()
    new = struct.pack("<Q", len(text)) + text + content[8 + n:]
    import hashlib
    return sealed.seal(artifact.MAGIC, artifact.FORMAT, hashlib.sha256(new).digest(), new,
                       artifact.SECRET)


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:-1], "truncated"),
    (lambda d: d[:50], "truncated"),
    (lambda d: d[:len(d) // 2], "truncated"),
    (lambda d: d + b"\0", "unexpected bytes"),
    (lambda d: d[:200] + bytes([d[200] ^ 1]) + d[201:], "damaged"),       # the manifest
    (lambda d: d[:-20] + bytes([d[-20] ^ 0x10]) + d[-19:], "damaged"),   # a section
    (lambda d: d[:44] + bytes([d[44] ^ 1]) + d[45:], "truncated|damaged"),  # the length
    (lambda d: d[:6] + struct.pack("<H", artifact.FORMAT + 1) + d[8:], "format version"),
    (lambda d: b"PK\x03\x04" + d[4:], "not a tracejit artifact"),
    (lambda d: _resealed(d, lambda m: m["signatures"][0]["leaves"][0].update(shape=[5])),
     "malformed"),
    (lambda d: _resealed(d, lambda m: m["sections"].update(
        {m["variables"][0]["value"]["section"]: [0, 10**9]})), "malformed"),
    (lambda d: _resealed(d, lambda m: m["variables"][0]["value"].update(dtype="|O")),
     "malformed"),
    (lambda d: _resealed(d, lambda m: m.update(format=7)), "malformed"),
])
def test_damaged_artifacts_are_refused(damage, message, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = damage(_artifact())
    from tracejit import codegen

    def never(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("object code of a refused artifact was loaded")
    monkeypatch.setattr(codegen, "load_executable", never)
    with pytest.raises(ArtifactError, match=message):
        tj.load(data)
    p = tmp_path / "f.tjx"
    p.write_bytes(data)
    with pytest.raises(ArtifactError, match=f"{p}.*is refused"):
        tj.load(p)


def test_export_refuses_what_it_cannot_rebuild() -> None:
    f = tj.function(lambda x, o: x * 2.0)
    with pytest.raises(TypeError, match="cannot hold"):
        f.export(tj.TensorSpec([2]), object())
    with pytest.raises(TypeError, match="needs a path or the bytes"):
        tj.load(3)


def test_variable_arguments_and_captured_constants_round_trip() -> None:
    table = tj.constant(np.arange(3, dtype=np.float32))

    @tj.compile
    def bump(x, acc):
        acc.assign_add(x * table)                # a Variable argument, assigned
        return acc.read_value() * 2.0
    a = tj.Variable(np.ones(3, np.float32))
    x = np.full(3, 2.0, np.float32)
    g = tj.load(bump.export(x, a))
    assert g.variables == []                     # arguments are not stored
    b = tj.Variable(np.ones(3, np.float32))
    assert np.array_equal(g(x, b).numpy(), bump(x, a).numpy())
    assert np.array_equal(b.numpy(), a.numpy()) and np.array_equal(b.numpy(), [1, 3, 5])
