"""Data-parallel gradients on a Dask cluster (`pip install "tracejit[distributed]"`).

    client = distributed.Client(distributed.LocalCluster(n_workers=2, threads_per_worker=1))
    shards = tracejit.distributed.scatter_shards(client, [(x0, y0), (x1, y1)])
    loss, grads = tracejit.distributed.map_gradients(client, loss_and_grads, shards)

Invariants:
- The compiled function travels once per cluster and shard signature, as its exported
  artifact (`f.export`): workers load it (object code when their CPU and install match
  the client's, else its IR compiled once per worker process) and never trace.
- Shards are scattered once and stay on the workers; a step sends only the current
  values of the Variables the function reads (with each task when they are small,
  `INLINE_BYTES`, else broadcast once per step) and gathers the results.
- A worker runs one shard at a time per loaded function (its Variables are set to the
  step's values, then the function is called, under one lock), so results never mix the
  values of two steps.
- Results are averaged over shards weighted by their rows (the length of each shard's
  first array), accumulated in float64 and returned in the dtype `f` returned: for a
  function returning a mean loss and its gradients, the full batch's mean and gradients.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .compile import CompiledFunction
from .export import TensorSpec
from .ir.caches import on_clear
from .trees import flatten, unflatten
from .tensor import Tensor
from .variable import Variable


@dataclass(frozen=True)
class Shard:
    """A tuple of arrays scattered to a worker: its Dask `future`, the (shape, dtype str)
    of each array (`specs`) and its `rows` (the first array's length)."""

    future: Any
    specs: tuple[tuple[tuple[int, ...], str], ...]
    rows: int


def scatter_shards(client: Any, shards: Sequence[Sequence[Any]]) -> list[Shard]:
    """Send each shard (a tuple of arrays: the arguments of one call) to a worker, spread
    over the workers, once; the returned `Shard`s name them for `map_gradients`.

    Example: `shards = scatter_shards(client, [(x[:n], y[:n]), (x[n:], y[n:])])`."""
    arrays = [tuple(np.asarray(a) for a in s) for s in shards]
    futures = client.scatter(arrays, hash=False)
    return [Shard(fut, tuple((a.shape, a.dtype.str) for a in s),
                  int(s[0].shape[0]) if s and s[0].ndim else 1)
            for fut, s in zip(futures, arrays)]


# Artifacts already sent: per compiled function, (client id, shard specs) -> (the future
# of the artifact's bytes, the Variables it reads, in its order).
_SENT: weakref.WeakKeyDictionary[CompiledFunction, dict[Any, tuple[Any, list[Variable]]]] = \
    weakref.WeakKeyDictionary()
on_clear("distributed: artifacts sent to clusters", _SENT.clear)


def _sent(client: Any, f: CompiledFunction, specs: Any) -> tuple[Any, list[Variable]]:
    per_f = _SENT.setdefault(f, {})
    key = (client.id, specs)
    hit = per_f.get(key)
    if hit is None:
        data, variables = f._export(tuple(TensorSpec(shape, dtype) for shape, dtype in specs),
                                    {})
        fut = client.scatter(data, broadcast=True, hash=False)
        hit = per_f[key] = (fut, variables)
    return hit


INLINE_BYTES = 4 * 2**20    # Variable values up to this size are sent with each task
_WORKER_LOCK = threading.Lock()
_WORKER_FNS: dict[str, Any] = {}        # artifact digest -> loaded function (per worker)
on_clear("distributed: functions loaded on this worker", _WORKER_FNS.clear)


def _run_shard(data: bytes, shard: tuple[Any, ...], values: list[np.ndarray]) -> Any:
    """On a worker: the loaded function, with its Variables set to `values`, on `shard`;
    the result as (structure, arrays)."""
    from .artifact import digest
    from .loading import load
    with _WORKER_LOCK:
        d = digest(data)
        g = _WORKER_FNS.get(d)
        if g is None:
            if len(_WORKER_FNS) >= 16:
                _WORKER_FNS.clear()
            g = _WORKER_FNS[d] = load(data)
        for var, value in zip(g.variables, values):
            var.assign(value)
        out = g(*shard)
    leaves, tree = flatten(out)
    return tree, [np.asarray(x) for x in leaves]


def map_gradients(client: Any, f: CompiledFunction, shards: Sequence[Shard]) -> Any:
    """Call the compiled function `f` on every shard where it lives, with the current
    values of the Variables it reads, and average the results over the shards (weighted
    by rows): with `f(x, y)` returning a mean loss and its gradients, the loss and
    gradients of the whole batch. Returns the structure `f` returns, with Tensors.

    >>> def loss_and_grads(x, y):                                   # doctest: +SKIP
    ...     with tj.GradientTape() as tape:
    ...         loss = tj.reduce_mean((x @ w - y) ** 2)
    ...     return loss, tape.gradient(loss, w)
    >>> step = tj.function(loss_and_grads)                          # doctest: +SKIP
    >>> loss, g = map_gradients(client, step, shards)               # doctest: +SKIP
    >>> w.assign_sub(0.1 * g)                                       # doctest: +SKIP
    """
    if not isinstance(f, CompiledFunction):
        raise TypeError(f"map_gradients needs a tj.compile function, got {type(f).__name__}")
    if not shards:
        raise ValueError("map_gradients needs at least one shard")
    sent = {s.specs: _sent(client, f, s.specs) for s in shards}
    variables = next(iter(sent.values()))[1]
    arrays = [v.numpy() for v in variables]
    # Small values ride with the tasks (a broadcast scatter costs more round trips than
    # the step's tasks themselves); large ones are broadcast once per step.
    values: Any = arrays if sum(a.nbytes for a in arrays) <= INLINE_BYTES else \
        client.scatter(arrays, broadcast=True, hash=False)
    futures = [client.submit(_run_shard, sent[s.specs][0], s.future, values, pure=False)
               for s in shards]
    results = client.gather(futures)
    total = float(sum(s.rows for s in shards))
    tree = results[0][0]
    sums = [np.zeros(np.shape(a), np.float64) for a in results[0][1]]
    for s, (_, arrays) in zip(shards, results):
        for acc, a in zip(sums, arrays):
            acc += np.asarray(a, np.float64) * (s.rows / total)
    out = [Tensor._wrap(acc.astype(np.asarray(a0).dtype))
           for acc, a0 in zip(sums, results[0][1])]
    return unflatten(tree, out)
