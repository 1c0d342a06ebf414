"""Shape polymorphism of convolutions: a small CNN's training step (two 3x3 convolutions
with max pools, a dense layer, softmax cross-entropy; loss and the gradients of every
weight) compiled once with its batch dimension unknown (`input_signature`), against the
same step compiled for each fixed batch size.

    .venv/bin/python benchmarks/poly_cnn_bench.py [--rounds 7] [--batches 1,8,32,100]

Prints per batch size the time per step of both, CPU (`time.process_time`, all threads)
and wall clock, best of `rounds` interleaved rounds, their ratios (and the ratio of the
medians of CPU time), and the compiles each needed.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

import tracejit as tj
from tracejit.codegen import poly


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--batches", default="1,8,32,100")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    ws = [tj.Variable(rng.normal(size=s).astype(np.float32) * 0.1)
          for s in [(3, 3, 1, 8), (3, 3, 8, 16), (7 * 7 * 16, 10)]]

    def step(x: Any, y: Any) -> Any:
        with tj.GradientTape() as t:
            h = tj.nn.max_pool2d(tj.nn.relu(tj.nn.conv2d(x, ws[0], 1, "SAME")), 2, 2, "VALID")
            h = tj.nn.max_pool2d(tj.nn.relu(tj.nn.conv2d(h, ws[1], 1, "SAME")), 2, 2, "VALID")
            logits = tj.reshape(h, [-1, 7 * 7 * 16]) @ ws[2]
            loss = tj.reduce_mean(
                tj.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        return loss, t.gradient(loss, ws)

    fixed = tj.function(step)
    polym = tj.function(step, input_signature=[tj.TensorSpec([None, 28, 28, 1], tj.float32),
                                               tj.TensorSpec([None], tj.int32)])
    batches = [int(b) for b in a.batches.split(",")]
    data = {n: (rng.normal(size=(n, 28, 28, 1)).astype(np.float32),
                rng.integers(0, 10, n).astype(np.int32)) for n in batches}
    c0 = dict(poly.COUNTS)
    for n in batches:
        fixed(*data[n])
        polym(*data[n])
    print(f"{'batch':>6} {'fixed cpu us':>12} {'poly cpu us':>12} {'poly/fixed':>10} "
          f"{'(medians)':>10} {'wall ratio':>10}")
    for n in batches:
        reps = max(1, 2000 // n)
        times: dict[str, list[float]] = {"fixed": [], "poly": []}
        walls: dict[str, list[float]] = {"fixed": [], "poly": []}
        for _ in range(a.rounds):
            for name, f in (("fixed", fixed), ("poly", polym)):
                t0, w0 = time.process_time(), time.perf_counter()
                for _ in range(reps):
                    f(*data[n])
                times[name].append((time.process_time() - t0) / reps * 1e6)
                walls[name].append((time.perf_counter() - w0) / reps * 1e6)
        bf, bp = min(times["fixed"]), min(times["poly"])
        mf, mp = statistics.median(times["fixed"]), statistics.median(times["poly"])
        wr = min(walls["poly"]) / min(walls["fixed"])
        print(f"{n:>6} {bf:>12.1f} {bp:>12.1f} {bp / bf:>10.3f} {mp / mf:>10.3f} {wr:>10.3f}")
    print(f"compiles: polymorphic {poly.COUNTS['runtime'] - c0['runtime']} runtime-sized + "
          f"{poly.COUNTS['specialized'] - c0['specialized']} per shape; "
          f"fixed {fixed.experimental_get_tracing_count()} traces")


if __name__ == "__main__":
    main()
