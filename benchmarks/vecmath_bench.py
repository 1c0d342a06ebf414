#!/usr/bin/env python3
"""W8, vector math: each of `sin cos tan tanh exp log log1p expm1 sigmoid softplus erf pow
sqrt` alone in a compiled function (`tj.compile(tj.sin)(x)`, a new result each call) on 1M
elements, float32 and float64, against NumPy's allocating call on the same array in the
same process (for `sigmoid` and `erf`, SciPy's `special.expit` and `special.erf` when SciPy
is installed, else the NumPy expression; for `softplus`, `np.logaddexp(0, x)`).

Rounds are interleaved (one timing of each row per round) and each timing is the mean of
back-to-back calls filling `--seconds`; the table shows the median over the rounds and the
ratio of medians tracejit / NumPy (< 1: tracejit is faster). Inputs span each function's
useful range (sin, cos, tan on [-100, 100]: both sides do a full range reduction).

    python benchmarks/vecmath_bench.py [--rounds 7] [--seconds 0.2] [--only sin,tanh] [--cpu]

`benchmarks/bench.py` runs the same rows as its workload W8 (its own timing scheme, one
thread, targets checked, errors in ulp): `bench.py --only W8`.

``--cpu`` times with the process's CPU time instead of the wall clock (for a shared
machine; only meaningful single-threaded, so set ``TRACEJIT_NUM_THREADS=1``: the
functions are measured per core).
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import seconds_per_call  # noqa: E402

N = 1_000_000
NAMES = ["sin", "cos", "tan", "tanh", "exp", "log", "log1p", "expm1", "sigmoid", "softplus",
         "erf", "pow", "sqrt"]


def tracejit_functions() -> dict[str, Callable[..., Any]]:
    """tracejit's function for each name (tracejit is imported here, not at import)."""
    import tracejit as tj
    return {"sin": tj.sin, "cos": tj.cos, "tan": tj.tan, "tanh": tj.tanh, "exp": tj.exp,
            "log": tj.math.log, "log1p": tj.math.log1p, "expm1": tj.math.expm1,
            "sigmoid": tj.sigmoid, "softplus": tj.math.softplus, "erf": tj.math.erf,
            "pow": tj.pow, "sqrt": tj.sqrt}


def numpy_functions() -> tuple[dict[str, Callable[..., Any]], dict[str, str]]:
    """NumPy's (or SciPy's) function for each name, and what each is, for the table."""
    fns: dict[str, Callable[..., Any]] = {
        n: getattr(np, n) for n in ("sin", "cos", "tan", "tanh", "exp", "log", "log1p",
                                    "expm1", "sqrt")}
    fns["pow"] = np.power
    fns["softplus"] = lambda x: np.logaddexp(x.dtype.type(0), x)
    what = {"softplus": "np.logaddexp(0, x)", "pow": "np.power"}
    try:
        from scipy import special
        fns["sigmoid"], fns["erf"] = special.expit, special.erf
        what.update(sigmoid="scipy.special.expit", erf="scipy.special.erf")
    except ImportError:
        fns["sigmoid"] = lambda x: 1 / (1 + np.exp(-x))
        fns["erf"] = np.vectorize(__import__("math").erf, otypes=[np.float64])
        what.update(sigmoid="1 / (1 + np.exp(-x))", erf="np.vectorize(math.erf)")
    return fns, what


def inputs(name: str, dtype: np.dtype, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    def u(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, N).astype(dtype)
    if name in ("log", "sqrt"):
        return (u(1e-3, 1e3),)
    if name == "log1p":
        return (u(-0.9, 1e3),)
    if name == "pow":
        return u(0.1, 10), u(-10, 10)
    if name in ("sin", "cos", "tan"):
        return (u(-100, 100),)
    if name == "erf":
        return (u(-5, 5),)
    return (u(-20, 20),)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.2)
    ap.add_argument("--only", default="", help="comma-separated function names")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--cpu", action="store_true", help="time with process CPU time")
    opts = ap.parse_args()
    clock = time.process_time if opts.cpu else time.perf_counter
    names = opts.only.split(",") if opts.only else NAMES
    import tracejit as tj
    ours = tracejit_functions()
    ref, what = numpy_functions()
    rng = np.random.default_rng(0)
    rows: list[tuple[str, str, Callable[[], Any], Callable[[], Any]]] = []
    for dt_name in opts.dtypes.split(","):
        dt = np.dtype(dt_name)
        for name in names:
            args = inputs(name, dt, rng)
            f = tj.compile(ours[name])
            targs = [tj.constant(a) for a in args]
            f(*targs)
            g = ref[name]
            rows.append((name, dt_name, lambda f=f, a=targs: f(*a), lambda g=g, a=args: g(*a)))
    times: dict[tuple[str, str], tuple[list[float], list[float]]] = {
        (n, d): ([], []) for n, d, _, _ in rows}
    for _ in range(opts.rounds):
        for n, d, ours, theirs in rows:
            times[n, d][0].append(seconds_per_call(ours, opts.seconds, clock))
            times[n, d][1].append(seconds_per_call(theirs, opts.seconds, clock))
    print(f"1M elements, medians of {opts.rounds} rounds, load {os.getloadavg()[0]:.1f}, "
          f"{'CPU' if opts.cpu else 'wall'} time, "
          f"TRACEJIT_NUM_THREADS={os.environ.get('TRACEJIT_NUM_THREADS', '(default)')}")
    print(f"{'function':10} {'dtype':8} {'tracejit':>10} {'NumPy':>10} {'tj/NumPy':>9}  NumPy's")
    for n, d, _, _ in rows:
        a, b = (statistics.median(v) for v in times[n, d])
        print(f"{n:10} {d:8} {a * 1e6:8.0f}us {b * 1e6:8.0f}us {a / b:9.2f}  "
              f"{what.get(n, 'np.' + n)}")


if __name__ == "__main__":
    main()
