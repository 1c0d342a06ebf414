"""The CPUs threads and compile workers are sized by (`codegen/cpus.py`): the affinity
mask capped by a cgroup v1 or v2 CPU quota, on fake cgroup trees."""
from __future__ import annotations

import os
from pathlib import Path

from tracejit.codegen import cpus


def _mask() -> int:
    return len(os.sched_getaffinity(0))


def _tree(tmp_path: Path, files: dict[str, str], self_cgroup: str) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    me = tmp_path / "self_cgroup"
    me.write_text(self_cgroup)
    return root, me


def test_a_v2_quota_caps_the_affinity_mask(tmp_path: Path) -> None:
    root, me = _tree(tmp_path, {"box/cpu.max": "100000 100000\n"}, "0::/box\n")
    assert cpus._available(root, me) == 1
    root, me = _tree(tmp_path / "b", {"box/cpu.max": "150000 100000\n"}, "0::/box\n")
    assert cpus._available(root, me) == min(_mask(), 2)            # 1.5 CPUs: 2 threads


def test_a_v1_quota_caps_the_affinity_mask(tmp_path: Path) -> None:
    files = {"cpu,cpuacct/job/cpu.cfs_quota_us": "100000\n",
             "cpu,cpuacct/job/cpu.cfs_period_us": "100000\n"}
    root, me = _tree(tmp_path, files, "4:memory:/job\n2:cpu,cpuacct:/job\n")
    assert cpus._available(root, me) == 1


def test_no_quota_or_unreadable_files_leave_the_mask(tmp_path: Path) -> None:
    root, me = _tree(tmp_path, {"cpu.max": "max 100000\n",
                                "cpu/cpu.cfs_quota_us": "-1\n",
                                "cpu/cpu.cfs_period_us": "100000\n"},
                     "0::/\n1:cpu:/\n")
    assert cpus._available(root, me) == _mask()
    root, me = _tree(tmp_path / "b", {"cpu.max": "garbage"}, "0::/missing/deeper\n")
    assert cpus._available(root, me) == _mask()
    assert cpus._available(tmp_path / "none", tmp_path / "none") == _mask()
    assert 1 <= cpus.available() <= _mask()
