"""Per-call overhead of a compiled Function, and a few fused kernels against NumPy.

    python benchmarks/codegen_bench.py [--overhead-only]

Prints the best-of-many time of `exe(x, y)` for a 4-element add (the calling convention
alone: argument checks in native code, output allocation, one ctypes call), next to
`np.add(x, y)` and `np.empty`, then native vs NumPy times for typical fused kernels (one
thread, same process, same inputs; ratio < 1 means native is faster). Absolute times move
between machines and runs; compare the ratios.
"""
from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from typing import Any

import numpy as np
from tracejit.codegen import compile_function
from tracejit.ir import Builder, Function, TensorType, bind, interpreting

F32 = np.float32


def function(types: list[tuple[tuple[int, ...], Any]], body: Callable[..., Any]) -> Function:
    b = Builder("bench")
    params = [b.param(TensorType(s, d)) for s, d in types]
    with interpreting(b):
        out = body(*params)
    return b.build(list(out) if isinstance(out, tuple) else [out])


def best(stmt: Callable[[], Any], number: int, repeat: int = 15) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number


def overhead() -> None:
    exe = compile_function(function([((4,), F32)] * 2, lambda x, y: bind("add", x, y)))
    x, y = np.ones(4, F32), np.ones(4, F32)
    n = 100_000
    print(f"exe(x, y), f32[4] add   {best(lambda: exe(x, y), n) * 1e6:6.2f} us")
    print(f"np.add(x, y)            {best(lambda: np.add(x, y), n) * 1e6:6.2f} us")
    print(f"np.empty(4, float32)    {best(lambda: np.empty(4, F32), n) * 1e6:6.2f} us")


def c(v: float) -> Any:
    return bind("constant", value=np.asarray(v, F32))


def softmax(a: Any) -> Any:
    e = bind("exp", bind("sub", a, bind("reduce_max", a, axes=(1,), keepdims=True)))
    return bind("div", e, bind("reduce_sum", e, axes=(1,), keepdims=True))


def np_softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def kernels() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    x, y = rng.standard_normal(n).astype(F32), rng.standard_normal(n).astype(F32)
    a = rng.standard_normal((1000, 1000)).astype(F32)
    v = rng.standard_normal(1000).astype(F32)
    cases = [
        ("exp(x) * y + 1, f32[1M]", [((n,), F32)] * 2,
         lambda p, q: bind("add", bind("mul", bind("exp", p), q), c(1)),
         lambda: np.exp(x) * y + 1, [x, y]),
        ("sum, f32[1M]", [((n,), F32)], lambda p: bind("reduce_sum", p, axes=(0,)),
         lambda: np.sum(x), [x]),
        ("max, f32[1M]", [((n,), F32)], lambda p: bind("reduce_max", p, axes=(0,)),
         lambda: np.max(x), [x]),
        ("sum axis 0, f32[1000,1000]", [((1000, 1000), F32)],
         lambda p: bind("reduce_sum", p, axes=(0,)), lambda: a.sum(0), [a]),
        ("A + v, f32[1000,1000]", [((1000, 1000), F32), ((1000,), F32)],
         lambda p, q: bind("add", p, q), lambda: a + v, [a, v]),
        ("argmax axis 1, f32[1000,1000]", [((1000, 1000), F32)],
         lambda p: bind("argmax", p, axis=1, dtype=np.dtype(np.int64)),
         lambda: a.argmax(1), [a]),
        ("softmax rows, f32[1000,1000]", [((1000, 1000), F32)], softmax,
         lambda: np_softmax(a), [a]),
    ]
    for name, types, body, ref, args in cases:
        exe = compile_function(function(types, body))
        t_native = best(lambda exe=exe, args=args: exe(*args), 20, 7)
        t_numpy = best(ref, 20, 7)
        print(f"{name:32s} native {t_native * 1e6:8.1f} us  numpy {t_numpy * 1e6:8.1f} us  "
              f"ratio {t_native / t_numpy:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--overhead-only", action="store_true")
    args = ap.parse_args()
    overhead()
    if not args.overhead_only:
        kernels()


if __name__ == "__main__":
    main()
