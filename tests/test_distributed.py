"""Data-parallel gradients on a 2-worker Dask LocalCluster equal the single-process ones
(to float32 rounding), with the compiled function sent once and never traced there."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracejit as tj

distributed = pytest.importorskip("distributed")
from tracejit.distributed import map_gradients, scatter_shards  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client() -> Any:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_map_gradients_equals_one_process(client: Any) -> None:
    rng = np.random.default_rng(0)
    w = tj.Variable(rng.standard_normal((8, 3)).astype(np.float32), name="w")

    @tj.compile
    def loss_and_grad(x, y):
        with tj.GradientTape() as tape:
            loss = tj.reduce_mean((tj.tanh(x @ w) - y) ** 2)
        return {"loss": loss, "grad": tape.gradient(loss, w)}

    x = rng.standard_normal((1001, 8)).astype(np.float32)
    y = rng.standard_normal((1001, 3)).astype(np.float32)
    # Unequal shards: two signatures, each sent once; the mean is weighted by rows.
    shards = scatter_shards(client, [(x[:500], y[:500]), (x[500:], y[500:])])
    for _ in range(2):                           # the second step sees the updated w
        got = map_gradients(client, loss_and_grad, shards)
        want = loss_and_grad(x, y)
        np.testing.assert_allclose(got["loss"].numpy(), want["loss"].numpy(), rtol=1e-5)
        np.testing.assert_allclose(got["grad"].numpy(), want["grad"].numpy(), rtol=1e-4,
                                   atol=1e-6)
        w.assign_sub(0.5 * got["grad"])
    # Each worker loaded the exported code once; only this process traced.
    counts = client.run(lambda: len(__import__("tracejit.distributed").distributed
                                    ._WORKER_FNS))
    # (The scheduler may run a shard's task on either worker: at most both signatures.)
    assert all(1 <= n <= 2 for n in counts.values()) or sum(counts.values()) == 2
    assert loss_and_grad.trace_count == 3        # two shard signatures + the batch here


def test_example_runs_and_checks_its_first_step() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "distributed_training.py"),
                        "--workers", "2", "--steps", "2", "--batch", "4096"],
                       capture_output=True, text=True, timeout=240,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "gradients match" in r.stdout and "step 2: loss" in r.stdout
