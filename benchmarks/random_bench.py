#!/usr/bin/env python3
"""Random numbers: 1M float32 draws inside a compiled function (`g.normal`, `g.uniform`
of a `tj.random.Generator`) against NumPy's `Generator.standard_normal` / `.random` (PCG64;
ziggurat for the normal), in one process, interleaved rounds, medians per call and the
ratio tracejit / NumPy (target for the normal: <= 1.5).

    .venv/bin/python benchmarks/random_bench.py [--rounds 9] [--n 1000000]
"""
from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import numpy as np

import tracejit as tj
from timing import seconds_per_call


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--n", type=int, default=1_000_000)
    args = ap.parse_args()
    n = args.n
    g = tj.random.Generator.from_seed(1)
    rng = np.random.default_rng(1)
    rows: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "normal float32": (tj.function(lambda: g.normal([n])),
                           lambda: rng.standard_normal(n, dtype=np.float32)),
        "uniform float32": (tj.function(lambda: g.uniform([n])),
                            lambda: rng.random(n, dtype=np.float32)),
    }
    times: dict[str, list[list[float]]] = {name: [[], []] for name in rows}
    for fns in rows.values():
        for fn in fns:
            fn()
    for _ in range(args.rounds):
        for name, fns in rows.items():
            for k, fn in enumerate(fns):
                times[name][k].append(seconds_per_call(fn, 0.01))
    print(f"{'draws of ' + str(n):<22}{'tracejit':>12}{'NumPy':>12}{'ratio':>8}")
    for name, (ours, numpy_) in times.items():
        a, b = statistics.median(ours), statistics.median(numpy_)
        print(f"{name:<22}{a * 1e3:>10.2f}ms{b * 1e3:>10.2f}ms{a / b:>8.2f}")


if __name__ == "__main__":
    main()
