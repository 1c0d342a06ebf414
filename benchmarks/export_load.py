"""Loading an exported W3 (784-256(tanh)-10 MLP, loss and 4 gradients, batch 128) in a
fresh process vs tracing and compiling it there, with the disk cache off.

    python benchmarks/export_load.py [--runs 5]

Prints, per fresh process (median of --runs): `tj.load` + the first call, the LLVM
compilations it ran (0 when the object code is reused), and the cold trace + compile +
first call for comparison.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

_CHILD = r"""
import sys, time
import numpy as np
import tracejit as tj
from tracejit.codegen import llvmjob
calls = []
orig = llvmjob.compile_module
llvmjob.compile_module = lambda *a, **k: calls.append(1) or orig(*a, **k)
mode, path = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
X = rng.standard_normal((128, 784)).astype(np.float32)
Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
def build():
    W1 = tj.Variable(rng.standard_normal((784, 256)).astype(np.float32) * 0.05)
    b1 = tj.Variable(np.zeros(256, np.float32))
    W2 = tj.Variable(rng.standard_normal((256, 10)).astype(np.float32) * 0.05)
    b2 = tj.Variable(np.zeros(10, np.float32))
    @tj.compile
    def loss_and_gradients(X, Y):
        with tj.GradientTape() as tape:
            h = tj.tanh(tj.matmul(X, W1) + b1)
            logits = tj.matmul(h, W2) + b2
            loss = tj.reduce_mean(tj.nn.softmax_cross_entropy_with_logits(labels=Y,
                                                                         logits=logits))
        return loss, tape.gradient(loss, [W1, b1, W2, b2])
    return loss_and_gradients
t0 = time.perf_counter()
if mode == "export":
    build().export(X, Y, path=path)
elif mode == "load":
    tj.load(path)(X, Y)[0].numpy()
else:
    build()(X, Y)[0].numpy()
print((time.perf_counter() - t0) * 1e3, len(calls))
"""


def _run(mode: str, path: str) -> tuple[float, int]:
    env = {**os.environ, "TRACEJIT_CACHE": "0"}
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, path], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "w3.tjx")
        _run("export", path)
        loads = [_run("load", path) for _ in range(a.runs)]
        colds = [_run("cold", path) for _ in range(a.runs)]
        size = os.path.getsize(path)
    print(f"artifact: {size / 1024:.0f} KiB")
    print(f"tj.load + first call: {np.median([t for t, _ in loads]):.1f} ms "
          f"(LLVM compilations: {max(n for _, n in loads)})")
    print(f"trace + compile + first call: {np.median([t for t, _ in colds]):.1f} ms "
          f"(LLVM compilations: {max(n for _, n in colds)})")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
