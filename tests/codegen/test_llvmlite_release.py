"""Under an llvmlite release the fast paths of `irbuild` and `irtext` were not checked
against, codegen builds and prints modules with llvmlite's own classes, and the result
is the same: the same LLVM IR, the same numbers. The other release is simulated in a
fresh process by changing `llvmlite.__version__` before tracejit is imported."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import llvmlite
import numpy as np
import pytest
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
    assert irbuild.verified("0.45.1") and irbuild.verified("0.49.0")
    assert not irbuild.verified("0.51.0") and not irbuild.verified("0.44.0")
    assert irbuild.FAST == irbuild.verified(llvmlite.__version__)


def test_another_llvmlite_release_makes_the_same_code_without_the_fast_paths() -> None:
    other = _run("0.99.0")
    assert other["fast"] is False
    here = _run("installed")
    assert here["fast"] == irbuild.FAST
    assert other["llvm"] == here["llvm"]
    assert other["values"] == here["values"]


WITHOUT_PRIVATE = textwrap.dedent('''
    import json, sys, types
    import llvmlite
    import llvmlite.ir.builder as real
    # A release whose builder module has no `_label_suffix` (a private helper the fast
    # builder imports): llvmlite's own code keeps its globals, importers do not see it.
    proxy = types.ModuleType(real.__name__)
    proxy.__dict__.update({k: v for k, v in vars(real).items() if k != "_label_suffix"})
    sys.modules[real.__name__] = proxy
    llvmlite.__version__ = sys.argv[1]
    import numpy as np
    import tracejit as tj
    from tracejit.codegen import irbuild

    @tj.compile
    def f(v):
        return tj.where(v > 0, tj.exp(-v), v * 2.0), tj.cumsum(v, axis=0)

    x = tj.constant(np.linspace(-2, 2, 300, dtype=np.float32).reshape(100, 3))
    print(json.dumps({"fast": irbuild.FAST, "values": [np.asarray(t).tolist() for t in f(x)]}))
''')


@pytest.mark.parametrize("version", ["0.99.0", llvmlite.__version__])
def test_a_release_without_a_private_helper_still_imports_and_compiles(version: str) -> None:
    """The fast builder's private imports are optional: without them tracejit imports and
    compiles with llvmlite's own builder (the same numbers), whatever the version says."""
    env = dict(os.environ, TRACEJIT_CACHE="0")
    run = subprocess.run([sys.executable, "-c", WITHOUT_PRIVATE, version], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.splitlines()[-1])
    assert out["fast"] is False
    v = np.linspace(-2, 2, 300, dtype=np.float32).reshape(100, 3)
    want = [np.where(v > 0, np.exp(-v), v * 2), np.cumsum(v, axis=0)]
    for got, w in zip(out["values"], want):
        np.testing.assert_allclose(np.array(got, np.float32), w, rtol=1e-6, atol=1e-6)


# The oldest llvmlite release tracejit was checked on. 0.44.0 has no
# `ModulePassManager.add_always_inliner_pass` (llvmjob.optimize): every compile failed.
OLDEST_CHECKED = (0, 45)


def test_pyproject_allows_no_llvmlite_older_than_the_oldest_checked() -> None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "pyproject.toml")) as f:
        bound = re.search(r'"llvmlite>=(\d+)\.(\d+)', f.read())
    assert bound is not None
    assert (int(bound[1]), int(bound[2])) >= OLDEST_CHECKED
