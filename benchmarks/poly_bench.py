"""Shape polymorphism: one MLP training step (784 inputs, ReLU hidden layer, sparse
softmax cross-entropy, loss and gradients of the four weights) compiled once with its
batch dimension unknown, against the same step compiled for each fixed batch size.

    .venv/bin/python benchmarks/poly_bench.py [--hidden 128] [--rounds 9]

Prints per batch size the time per step of both (the best and the median of `rounds`
interleaved rounds, so load affects both alike), their ratio, and the compiles each
needed in total.
"""
from __future__ import annotations

import argparse
import functools
import statistics
import time
from typing import Any

import numpy as np

import tracejit as tj
from tracejit.codegen import poly
from tracejit.trees import flatten
from tracejit.tracing import trace

from timing import calibrate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--batches", default="1,7,128,1000")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    ws = [tj.Variable(rng.normal(size=s).astype(np.float32) * 0.05)
          for s in [(784, a.hidden), (a.hidden,), (a.hidden, 10), (10,)]]

    def step(x: Any, y: Any) -> Any:
        with tj.GradientTape() as t:
            h = tj.nn.relu(x @ ws[0] + ws[1])
            logits = h @ ws[2] + ws[3]
            loss = tj.reduce_mean(
                tj.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        return loss, t.gradient(loss, ws)

    f = tj.function(step)
    batches = [int(b) for b in a.batches.split(",")]
    args = {n: (rng.normal(size=(n, 784)).astype(np.float32),
                rng.integers(0, 10, n).astype(np.int32)) for n in batches}
    leaves0, tree = flatten((args[batches[0]], {}))
    c0 = dict(poly.COUNTS)
    t0 = time.perf_counter()
    pconc = trace(f, leaves0, tree, shapes=[(None, 784), (None,)])
    pconc.call(leaves0)
    poly_first = time.perf_counter() - t0
    fixed_first = 0.0
    print(f"hidden {a.hidden}; polymorphic trace + first compile {poly_first * 1e3:.0f} ms")
    print(f"{'batch':>6} {'fixed us':>10} {'poly us':>10} {'poly/fixed':>10} "
          f"{'(medians)':>10} {'fixed compile ms':>17}")
    for n in batches:
        leaves = flatten((args[n], {}))[0]
        t0 = time.perf_counter()
        fconc = trace(f, leaves, tree)
        fconc.call(leaves)
        fixed_first += time.perf_counter() - t0
        fixed_ms = (time.perf_counter() - t0) * 1e3
        pconc.call(leaves)
        fcall, pcall = functools.partial(fconc.call, leaves), functools.partial(pconc.call,
                                                                                 leaves)
        k = calibrate(fcall, 20e-3)
        ft: list[float] = []
        pt: list[float] = []
        for _ in range(a.rounds):
            for fn, out in ((fcall, ft), (pcall, pt)):
                s = time.perf_counter()
                for _ in range(k):
                    fn()
                out.append((time.perf_counter() - s) / k)
        print(f"{n:>6} {min(ft) * 1e6:>10.1f} {min(pt) * 1e6:>10.1f} "
              f"{min(pt) / min(ft):>10.3f} "
              f"{statistics.median(pt) / statistics.median(ft):>10.3f} {fixed_ms:>17.0f}")
    c1 = dict(poly.COUNTS)
    print(f"compiles: polymorphic {c1['runtime'] - c0['runtime']} runtime-sized + "
          f"{c1['specialized'] - c0['specialized']} per shape; fixed {len(batches)} "
          f"({fixed_first * 1e3:.0f} ms tracing and compiling in all)")


if __name__ == "__main__":
    main()
