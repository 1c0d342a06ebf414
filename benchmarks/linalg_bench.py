#!/usr/bin/env python3
"""Dense linear algebra: `tj.linalg.cholesky` and `tj.linalg.solve` inside a compiled
function (native code calling NumPy's bundled OpenBLAS/LAPACK) against `np.linalg` and
`jax.jit` of `jnp.linalg` (when JAX is installed), float64, in one process: interleaved
rounds, the best time per call of each over the rounds (on a loaded machine a call's time
varies tenfold between rounds, and the best is the one that measures the code rather than
the scheduler; `--median` for medians), and the ratios tracejit / NumPy and
tracejit / JAX (targets: <= 1.2 against NumPy, < 1 against JAX).

Rows: one n x n matrix for n = 100, 512 and 1000, and a batch of 64 matrices 32 x 32;
`solve` has one right-hand side column. Matrices are symmetric positive definite (so one
set serves both ops). Run it without the workplace's OpenBLAS overrides, in the peers'
venv for the JAX column, with this tree importable:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=<tree laid out as installed> \\
        ~/.cache/tracejit-peers-venv/bin/python benchmarks/linalg_bench.py [--rounds 7]

`--cpu` measures CPU time (`time.process_time`) instead of the wall clock: with
`OPENBLAS_NUM_THREADS=1` it is what a loaded machine disturbs least; `--only 512` keeps
the rows of the sizes named.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tracejit as tj
from timing import seconds_per_call

SHAPES = [("100", (100, 100)), ("512", (512, 512)), ("1000", (1000, 1000)),
          ("64 x 32x32", (64, 32, 32))]


def _spd(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    n = shape[-1]
    m = rng.standard_normal(shape)
    return m @ np.swapaxes(m, -1, -2) / n + np.eye(n)


def _jax() -> Any:
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        return jax
    except ImportError:
        return None


def rows(rng: np.random.Generator, only: list[str] | None = None
         ) -> dict[str, list[Callable[[], object]]]:
    jax = _jax()
    out: dict[str, list[Callable[[], object]]] = {}
    chol = tj.function(tj.linalg.cholesky)
    solve = tj.function(tj.linalg.solve)
    for label, shape in SHAPES:
        if only and label not in only:
            continue
        a = _spd(shape, rng)
        b = rng.standard_normal(shape[:-1] + (1,))
        ta, tb = tj.constant(a), tj.constant(b)
        np.testing.assert_allclose(chol(ta).numpy(), np.linalg.cholesky(a), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(solve(ta, tb).numpy(), np.linalg.solve(a, b), rtol=1e-8)
        fns: list[Callable[[], object]] = [lambda ta=ta: chol(ta),
                                           lambda a=a: np.linalg.cholesky(a)]
        sfns: list[Callable[[], object]] = [lambda ta=ta, tb=tb: solve(ta, tb),
                                            lambda a=a, b=b: np.linalg.solve(a, b)]
        if jax is not None:
            import jax.numpy as jnp
            ja, jb = jnp.asarray(a), jnp.asarray(b)
            jchol = jax.jit(jnp.linalg.cholesky)
            jsolve = jax.jit(jnp.linalg.solve)
            fns.append(lambda ja=ja, f=jchol: f(ja).block_until_ready())
            sfns.append(lambda ja=ja, jb=jb, f=jsolve: f(ja, jb).block_until_ready())
        out[f"cholesky {label}"] = fns
        out[f"solve {label}"] = sfns
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--median", action="store_true", help="medians instead of the best")
    ap.add_argument("--cpu", action="store_true",
                    help="CPU time per call (process_time) instead of wall-clock time; "
                         "with OPENBLAS_NUM_THREADS=1, steadier on a loaded machine")
    ap.add_argument("--only", nargs="*", default=None,
                    help="rows of these sizes only: 100 512 1000 '64 x 32x32'")
    args = ap.parse_args()
    table = rows(np.random.default_rng(0), args.only)
    clock = time.process_time if args.cpu else time.perf_counter
    times: dict[str, list[list[float]]] = {k: [[] for _ in v] for k, v in table.items()}
    for fns in table.values():
        for fn in fns:
            fn()
    for _ in range(args.rounds):
        for name, fns in table.items():
            for k, fn in enumerate(fns):
                times[name][k].append(seconds_per_call(fn, 0.02, clock))
    has_jax = any(len(v) == 3 for v in table.values())
    head = f"{'float64':<22}{'tracejit':>12}{'NumPy':>12}" + (f"{'jax.jit':>12}" if has_jax
                                                             else "")
    print(f"{'median' if args.median else 'best'} of {args.rounds} rounds, "
          f"{'CPU' if args.cpu else 'wall-clock'} time per call, load {os.getloadavg()[0]:.1f}")
    print(head + f"{'/NumPy':>9}" + (f"{'/JAX':>8}" if has_jax else ""))
    for name, ts in times.items():
        med = [statistics.median(t) if args.median else min(t) for t in ts]
        line = f"{name:<22}" + "".join(f"{m * 1e3:>10.3f}ms" for m in med)
        line += f"{med[0] / med[1]:>9.2f}"
        if len(med) == 3:
            line += f"{med[0] / med[2]:>8.2f}"
        print(line)


if __name__ == "__main__":
    main()
