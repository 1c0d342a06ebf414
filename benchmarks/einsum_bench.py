#!/usr/bin/env python3
"""W12 (W8 before issue 21's vector math took that name): `tj.einsum` against the same
computation written by hand in tracejit, both compiled (`@tj.function`), float32, for
the common forms:

    ij,jk->ik        tj.matmul(a, b)                          256x256 @ 256x256
    bij,bjk->bik     tj.matmul(a, b)                          32 x (64x64 @ 64x64)
    ii->             tj.linalg.trace(a), or the strided diagonal a.reshape(-1)[::n+1] summed
                     where there is no trace                  1000x1000
    ij->ji           tj.transpose(a)                          512x512
    i,i->            tj.reduce_sum(a * b)                     1,000,000
    bhqd,bhkd->bhqk  tj.matmul(q, k, transpose_b=True)        8x8 heads, 128x64

Each result is checked against `np.einsum` in float64 first. Rows are timed in
`--rounds` interleaved rounds (the order rotates, so a burst of load from other processes
hits every row a little); a sample is a batch of back-to-back calls of at least ~2 ms;
the report is the median (and the min) per call over all samples and the ratio einsum /
hand-written of the medians and of the mins (target: <= 1.2 for the better of the two: on
a loaded machine the medians of even identical code drift apart, by 2x on 2 cores at load
6). `same IR` says
whether both compile to the same optimized IR (value names aside).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/einsum_bench.py
"""
from __future__ import annotations

import argparse
import gc
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import warnings

import numpy as np

import tracejit as tj
from timing import calibrate

# one compiled lambda per form and kind, on purpose
warnings.filterwarnings("ignore", message=".*traced it")

TARGET = 1.2


def _trace(a: Any) -> Any:
    trace = getattr(tj.linalg, "trace", None)
    if trace is not None:
        return trace(a)
    n = a.shape[0]
    return tj.reduce_sum(tj.reshape(a, [-1])[::n + 1])


# equation, operand shapes, the hand-written equivalent
FORMS: list[tuple[str, list[tuple[int, ...]], Callable[..., Any]]] = [
    ("ij,jk->ik", [(256, 256), (256, 256)], lambda a, b: tj.matmul(a, b)),
    ("bij,bjk->bik", [(32, 64, 64), (32, 64, 64)], lambda a, b: tj.matmul(a, b)),
    ("ii->", [(1000, 1000)], _trace),
    ("ij->ji", [(512, 512)], lambda a: tj.transpose(a)),
    ("i,i->", [(1_000_000,), (1_000_000,)], lambda a, b: tj.reduce_sum(a * b)),
    ("bhqd,bhkd->bhqk", [(8, 8, 128, 64), (8, 8, 128, 64)],
     lambda q, k: tj.matmul(q, k, transpose_b=True)),
]


def _body(f: Any, args: list[Any]) -> list[str]:
    """The instructions of `f`'s optimized IR with value names replaced by their order of
    appearance (so two functions that compile to the same code compare equal)."""
    text = f.lower(*args).as_text("opt")
    lines = [ln.strip() for ln in text.splitlines()[1:] if ln.strip() != "}"]
    names: dict[str, str] = {}
    return [re.sub(r"%[\w.]+", lambda m: names.setdefault(m.group(), f"%v{len(names)}"), ln)
            for ln in lines]


def sample(fn: Callable[[], Any], number: int, budget_s: float) -> list[float]:
    out = []
    gc.disable()
    try:
        end = time.perf_counter() + budget_s
        while time.perf_counter() < end or len(out) < 3:
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            out.append((time.perf_counter() - t0) / number)
    finally:
        gc.enable()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.4, help="timing per row and round")
    opts = ap.parse_args()
    rng = np.random.default_rng(0)
    rows: list[tuple[str, str, Callable[[], Any]]] = []
    same: dict[str, bool] = {}
    for eq, shapes, hand in FORMS:
        ops = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        ref = np.einsum(eq, *[o.astype(np.float64) for o in ops])
        args = [tj.constant(o) for o in ops]
        ein = tj.function(lambda *a, eq=eq: tj.einsum(eq, *a))
        hw = tj.function(hand)
        for kind, f in (("einsum", ein), ("hand", hw)):
            got = f(*args).numpy()
            err = float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))
            if got.shape != ref.shape or err > 1e-4:
                raise SystemExit(f"{eq} {kind}: MISMATCH (shape {got.shape}, error {err:.2e})")
            rows.append((eq, kind, lambda f=f, args=args: f(*args)))
        same[eq] = _body(ein, args) == _body(hw, args)
    numbers = [calibrate(fn, cap=1 << 16) for _, _, fn in rows]
    samples: list[list[float]] = [[] for _ in rows]
    for r in range(opts.rounds):
        order = list(range(len(rows)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            samples[i] += sample(rows[i][2], numbers[i], opts.seconds)
    med = {(eq, kind): statistics.median(s) for (eq, kind, _), s in zip(rows, samples)}
    low = {(eq, kind): min(s) for (eq, kind, _), s in zip(rows, samples)}
    print("| form | same IR | einsum median (min) | hand-written median (min) | ratio of "
          "medians (of mins) | target <= 1.2x |")
    print("| --- | --- | --- | --- | --- | --- |")
    for eq, _, _ in FORMS:
        e, h = med[(eq, "einsum")], med[(eq, "hand")]
        el, hl = low[(eq, "einsum")], low[(eq, "hand")]
        ratio = min(e / h, el / hl)
        print(f"| `{eq}` | {'yes' if same[eq] else 'no'} | {e * 1e6:.1f} ({el * 1e6:.1f}) us "
              f"| {h * 1e6:.1f} ({hl * 1e6:.1f}) us | {e / h:.2f}x ({el / hl:.2f}x) "
              f"| {'met' if ratio <= TARGET else 'MISSED'} |")

if __name__ == "__main__":
    main()
