"""Under an llvmlite release the fast paths of `irbuild` and `irtext` were not checked
against, codegen builds and prints modules with llvmlite's own classes, and the result
is the same: the same LLVM IR, the same numbers. The other release is simulated in a
fresh process by changing `llvmlite.__version__` before tracejit is imported."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import llvmlite
from tracejit.codegen import irbuild

PROGRAM = textwrap.dedent('''
    import json, sys
    import llvmlite
    if sys.argv[1] != "installed":
        llvmlite.__version__ = sys.argv[1]
    import numpy as np
    import tracejit as tj
    from tracejit.codegen import irbuild

    rng = np.random.default_rng(0)
    x = tj.constant(rng.standard_normal((16, 24)).astype(np.float32))
    y = tj.constant(rng.integers(0, 5, 16))
    w1 = tj.Variable(rng.standard_normal((24, 32)).astype(np.float32) * 0.1)
    w2 = tj.Variable(rng.standard_normal((32, 5)).astype(np.float32) * 0.1)

    @tj.compile
    def step(x, y):
        with tj.GradientTape() as tape:
            h = tj.tanh(x @ w1)
            logits = h @ w2
            loss = tj.reduce_mean(tj.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y, logits=logits))
        return loss, tape.gradient(loss, [w1, w2])

    @tj.compile
    def where_loop(v):
        s = tj.zeros_like(v)
        for _ in tj.range(3):
            s = tj.where(v > 0, s + tj.exp(-v), s - v * 2.0)
        return tj.reduce_max(s, axis=0), tj.cumsum(s, axis=1)

    loss, grads = step(x, y)
    a, b = where_loop(x)
    print(json.dumps({
        "fast": irbuild.FAST,
        "llvm": [step.lower(x, y).as_text("llvm"), where_loop.lower(x).as_text("llvm")],
        "values": [np.asarray(t).tolist() for t in (loss, *grads, a, b)],
    }))
''')


def _run(version: str) -> dict:
    env = dict(os.environ, TRACEJIT_CACHE="0")
    out = subprocess.run([sys.executable, "-c", PROGRAM, version], env=env, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    return json.loads(out.splitlines()[-1])    # type: ignore[no-any-return]


def test_only_checked_llvmlite_releases_take_the_fast_paths() -> None:
    assert irbuild.verified("0.50.0") and irbuild.verified("0.50.1")
    assert not irbuild.verified("0.51.0") and not irbuild.verified("0.44.0")
    assert irbuild.FAST == irbuild.verified(llvmlite.__version__)


def test_another_llvmlite_release_makes_the_same_code_without_the_fast_paths() -> None:
    other = _run("0.99.0")
    assert other["fast"] is False
    here = _run("installed")
    assert here["fast"] == irbuild.FAST
    assert other["llvm"] == here["llvm"]
    assert other["values"] == here["values"]
