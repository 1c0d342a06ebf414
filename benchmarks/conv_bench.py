#!/usr/bin/env python3
"""Convolution: `tj.nn.conv2d` of a batch of 32 images 32x32x16 with a 3x3 filter to 32
channels, float32, SAME, inside a compiled function, forward and forward+backward (the
output and the gradients for input and filter, given an output cotangent), against
`jax.jit` (`lax.conv_general_dilated` in NHWC/HWIO, `jax.vjp`) and PyTorch CPU
(`torch.nn.functional.conv2d`, NCHW, `autograd.grad`), in one process: interleaved
rounds, the best time per call over the rounds (`--median` for medians), and the ratios
tracejit / JAX (target < 1) and tracejit / PyTorch (target <= 1.5).

Run it in the peers' venv for the JAX and PyTorch columns, with this tree importable
(peers missing are skipped):

    PYTHONPATH=<tree laid out as installed> ~/.cache/tracejit-peers-venv/bin/python \\
        benchmarks/conv_bench.py [--rounds 9] [--threads 1]

`--threads N` sets PyTorch's intra-op threads (`torch.set_num_threads`) and XLA's
(`--xla_cpu_multi_thread_eigen=false` for 1), and tracejit's (`TRACEJIT_NUM_THREADS`:
its convolution kernels run chunks of lines on its thread pool); 0 leaves every library
at its default. `--cpu` measures CPU time per call (`time.process_time`, summed over a
process's threads) instead of the wall clock: with `--threads 1` it is what a loaded
machine disturbs least.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

SHAPE, FILTER = (32, 32, 32, 16), (3, 3, 16, 32)


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=0, help="threads of every library (0: defaults)")
    ap.add_argument("--median", action="store_true")
    ap.add_argument("--cpu", action="store_true",
                    help="CPU time per call (process_time) instead of wall-clock time; "
                         "with --threads 1, steadier on a loaded machine")
    return ap.parse_args()


ARGS = _parse()
if ARGS.threads:
    os.environ["TRACEJIT_NUM_THREADS"] = str(ARGS.threads)
if ARGS.threads == 1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_cpu_multi_thread_eigen=false"
                               + " intra_op_parallelism_threads=1")

import tracejit as tj  # noqa: E402
from timing import seconds_per_call  # noqa: E402

Row = dict[str, Callable[[], Any]]


def _tracejit(x: np.ndarray, w: np.ndarray, g: np.ndarray) -> Row:
    xt, wt, gt = tj.constant(x), tj.constant(w), tj.constant(g)

    @tj.function
    def fwd(a: Any, b: Any) -> Any:
        return tj.nn.conv2d(a, b, 1, "SAME")

    @tj.function
    def fwd_bwd(a: Any, b: Any, gy: Any) -> Any:
        with tj.GradientTape() as tape:
            tape.watch([a, b])
            y = tj.nn.conv2d(a, b, 1, "SAME")
        return y, tape.gradient(y, [a, b], output_gradients=gy)
    return {"forward": lambda: fwd(xt, wt), "forward+backward": lambda: fwd_bwd(xt, wt, gt)}


def _jax(x: np.ndarray, w: np.ndarray, g: np.ndarray) -> Row | None:
    try:
        import jax
        from jax import lax
    except ImportError:
        return None
    dn = ("NHWC", "HWIO", "NHWC")

    def conv(a: Any, b: Any) -> Any:
        return lax.conv_general_dilated(a, b, (1, 1), "SAME", dimension_numbers=dn)

    def both(a: Any, b: Any, gy: Any) -> Any:
        y, vjp = jax.vjp(conv, a, b)
        return y, vjp(gy)
    f, fb = jax.jit(conv), jax.jit(both)
    xj, wj, gj = (jax.device_put(v) for v in (x, w, g))
    return {"forward": lambda: f(xj, wj).block_until_ready(),
            "forward+backward": lambda: jax.block_until_ready(fb(xj, wj, gj))}


def _torch(x: np.ndarray, w: np.ndarray, g: np.ndarray) -> Row | None:
    try:
        import torch
    except ImportError:
        return None
    if ARGS.threads:
        torch.set_num_threads(ARGS.threads)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
    gt = torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2)))
    conv = torch.nn.functional.conv2d

    def fwd() -> Any:
        with torch.no_grad():
            return conv(xt, wt, padding=1)

    def fwd_bwd() -> Any:
        a, b = xt.detach().requires_grad_(), wt.detach().requires_grad_()
        y = conv(a, b, padding=1)
        return y, torch.autograd.grad(y, [a, b], gt)
    return {"forward": fwd, "forward+backward": fwd_bwd}


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    w = rng.standard_normal(FILTER, dtype=np.float32) / 12
    g = rng.standard_normal((32, 32, 32, 32), dtype=np.float32)
    peers = {"tracejit": _tracejit(x, w, g), "jax.jit": _jax(x, w, g),
             "PyTorch": _torch(x, w, g)}
    live = {k: v for k, v in peers.items() if v is not None}
    rows = list(live["tracejit"])
    times: dict[tuple[str, str], list[float]] = {(p, r): [] for p in live for r in rows}
    for row in live.values():                      # compile and warm up
        for fn in row.values():
            fn()
    for _ in range(ARGS.rounds):
        for r in rows:
            for p, row in live.items():
                times[p, r].append(seconds_per_call(
                    row[r], 0.2, time.process_time if ARGS.cpu else time.perf_counter))
    pick = statistics.median if ARGS.median else min
    names = list(live)
    print(f"conv2d {SHAPE} * {FILTER} float32 SAME, {'median' if ARGS.median else 'best'} "
          f"of {ARGS.rounds} rounds, load {os.getloadavg()[0]:.1f}, threads "
          f"{ARGS.threads or 'default'} (every library)"
          f"{', CPU time' if ARGS.cpu else ''}", file=sys.stderr)
    head = "".join(f"{n:>12}" for n in names)
    ratios = "".join(f"{'tj / ' + n:>16}" for n in names[1:])
    print(f"{'':<18}{head}{ratios}")
    for r in rows:
        t = {n: pick(times[n, r]) for n in names}
        cells = "".join(f"{t[n] * 1e3:>10.2f}ms" for n in names)
        rat = "".join(f"{t['tracejit'] / t[n]:>16.2f}" for n in names[1:])
        print(f"{r:<18}{cells}{rat}")


if __name__ == "__main__":
    main()
