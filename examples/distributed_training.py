"""Data-parallel training on Dask: gradients over shards on worker processes, averaged on
the client, which updates the Variables.

    pip install "tracejit[distributed]"
    python examples/distributed_training.py --workers 2 --steps 5
    python examples/distributed_training.py --scheduler tcp://host:8786 --steps 100
    python examples/distributed_training.py --workers 2 --batch 262144 --compare

The compiled step travels once, as its exported artifact (workers never trace); the
shards are scattered once and stay on the workers; each step broadcasts the Variables'
values and gathers one loss and gradient per shard. The script exits with status 1 if the
first step's distributed gradient differs from the one computed in this process on the
whole batch (beyond float32 rounding). `--compare` also times the single-process step.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import tracejit as tj
from tracejit.distributed import map_gradients, scatter_shards


def make_model(features: int, hidden: int, classes: int, seed: int = 0) -> list[tj.Variable]:
    rng = np.random.default_rng(seed)
    return [tj.Variable(rng.standard_normal((features, hidden)) / np.sqrt(features),
                        name="W1", dtype=tj.float32),
            tj.Variable(np.zeros(hidden, np.float32), name="b1"),
            tj.Variable(rng.standard_normal((hidden, classes)) / np.sqrt(hidden),
                        name="W2", dtype=tj.float32),
            tj.Variable(np.zeros(classes, np.float32), name="b2")]


def make_step(params: list[tj.Variable]) -> tj.compile:
    W1, b1, W2, b2 = params

    @tj.compile
    def loss_and_grads(x, y):
        with tj.GradientTape() as tape:
            h = tj.tanh(x @ W1 + b1)
            logits = h @ W2 + b2
            loss = tj.reduce_mean(
                tj.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        return loss, tape.gradient(loss, params)
    return loss_and_grads


def make_data(batch: int, features: int, classes: int, seed: int = 1
              ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, features)).astype(np.float32)
    w = rng.standard_normal((features, classes)).astype(np.float32)
    y = np.argmax(x @ w, axis=1).astype(np.int32)
    return x, y


def same_gradients(dist: list[tj.Tensor], local: list[tj.Tensor]) -> bool:
    """Equal to float32 rounding: the shards' sums differ from the whole batch's only in
    the order of additions."""
    return all(np.allclose(d.numpy(), s.numpy(), rtol=1e-4,
                           atol=1e-5 * float(np.max(np.abs(s.numpy())) + 1e-30))
               for d, s in zip(dist, local))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scheduler", help="address of a running Dask scheduler "
                   "(default: start a LocalCluster)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, default=32768)
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--compare", action="store_true",
                   help="also time the step in this process on the whole batch")
    a = p.parse_args(argv)
    from distributed import Client, LocalCluster

    params = make_model(a.features, a.hidden, a.classes)
    step = make_step(params)
    x, y = make_data(a.batch, a.features, a.classes)
    if a.scheduler:
        cluster, client = None, Client(a.scheduler)
    else:
        cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        n = max(1, len(client.scheduler_info()["workers"]))
        shards = scatter_shards(client, [(xs, ys) for xs, ys in
                                         zip(np.array_split(x, n), np.array_split(y, n))])
        local_loss, local_grads = step(x, y)
        ok = True
        times = []
        for k in range(a.steps):
            t0 = time.perf_counter()
            loss, grads = map_gradients(client, step, shards)
            times.append(time.perf_counter() - t0)
            if k == 0:
                ok = same_gradients(grads, local_grads) and np.isclose(
                    float(loss), float(local_loss), rtol=1e-5)
                print(f"first step: distributed loss {float(loss):.6f}, single-process "
                      f"{float(local_loss):.6f}; gradients "
                      f"{'match' if ok else 'DIFFER'}")
            for v, g in zip(params, grads):
                v.assign_sub(a.lr * g)
            print(f"step {k + 1}: loss {float(loss):.4f} ({times[-1] * 1e3:.1f} ms)")
        warm = times[1:] or times
        print(f"{n} workers: {np.median(warm) * 1e3:.1f} ms per step (median of "
              f"{len(warm)} after the first), batch {a.batch}")
        if a.compare:
            step(x, y)
            t = []
            for _ in range(max(3, len(warm))):
                t0 = time.perf_counter()
                step(x, y)
                t.append(time.perf_counter() - t0)
            print(f"1 process: {np.median(t) * 1e3:.1f} ms per step; speed-up "
                  f"{np.median(t) / np.median(warm):.2f}x")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
