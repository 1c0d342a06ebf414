#!/usr/bin/env python3
"""Traces and native compiles of a training step over a dataset whose last batch is
smaller: a 784-64-10 MLP step, 1,000 rows, three epochs with batch sizes 128, 100 and 64
(last batches of 104 and 40: five shapes), compiled three ways. Each way runs in a fresh
process with the disk cache off, so no way reuses another's code.

    TRACEJIT_CACHE=0 python benchmarks/retrace_counts.py
"""
from __future__ import annotations

import os
import subprocess
import sys

WAYS = ("plain", "input_signature", "reduce_retracing")


def run(way: str) -> str:
    import numpy as np

    import tracejit as tj
    from tracejit import codegen
    from tracejit.codegen import poly

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 784)).astype(np.float32)
    Y = rng.integers(0, 10, 1000).astype(np.int32)
    W1 = tj.Variable(rng.normal(size=(784, 64)).astype(np.float32) * 0.05)
    W2 = tj.Variable(rng.normal(size=(64, 10)).astype(np.float32) * 0.1)

    def step(x, y):
        with tj.GradientTape() as t:
            logits = tj.matmul(tj.nn.relu(tj.matmul(x, W1)), W2)
            loss = tj.reduce_mean(tj.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y, logits=logits))
        for v, g in zip([W1, W2], t.gradient(loss, [W1, W2])):
            v.assign_sub(0.01 * g)
        return loss

    compiles = [0]
    orig = codegen.compile_function

    def counted(*a, **k):
        compiles[0] += 1
        return orig(*a, **k)
    codegen.compile_function = counted
    f = {"plain": lambda: tj.function(step),
         "input_signature": lambda: tj.function(step, input_signature=[
             tj.TensorSpec([None, 784]), tj.TensorSpec([None], tj.int32)]),
         "reduce_retracing": lambda: tj.function(step, reduce_retracing=True)}[way]()
    for bs in (128, 100, 64):
        for i in range(0, 1000, bs):
            f(X[i:i + bs], Y[i:i + bs])
    native = compiles[0] + poly.COUNTS["runtime"] + poly.COUNTS["specialized"]
    return f"{way:18s} traces {f.experimental_get_tracing_count()}  native compiles {native}"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(run(sys.argv[1]))
    else:
        env = {**os.environ, "TRACEJIT_CACHE": "0"}
        for way in WAYS:
            subprocess.run([sys.executable, __file__, way], env=env, check=True)
