"""How many CPUs this process may use: its affinity mask, capped by a cgroup CPU quota.

Containers often limit CPU time with a quota (`docker --cpus=2`: cgroup v2 `cpu.max`,
v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`) while the affinity mask still lists every
CPU of the host; threads and compile workers sized by the mask alone would then
oversubscribe the quota (each spinning worker of the thread pool takes its share).

Invariant: the answer is at least 1 and never more than the affinity mask's size; any
file that cannot be read or parsed means "no quota".
"""
from __future__ import annotations

import functools
import math
import os
from pathlib import Path

_ROOT = Path("/sys/fs/cgroup")


def available() -> int:
    """The CPUs this process may use (see the module docstring; computed once).

    >>> available() >= 1
    True
    """
    return _available(_ROOT, Path("/proc/self/cgroup"))


@functools.cache
def _available(root: Path, self_cgroup: Path) -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _quota(root, self_cgroup)
    return max(1, min(n, quota)) if quota is not None else max(1, n)


def _quota(root: Path, self_cgroup: Path) -> int | None:
    """CPUs allowed by the tightest cgroup quota found for this process, or None."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return None
    found: list[int] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        controllers, path = parts[1].split(","), parts[2].lstrip("/")
        if parts[0] == "0" and parts[1] == "":               # cgroup v2
            for d in _dirs(root, path):
                found += _v2(d / "cpu.max")
        elif "cpu" in controllers:                            # cgroup v1
            base = root / parts[1]
            for d in _dirs(base if base.exists() else root / "cpu", path):
                found += _v1(d)
    return min(found) if found else None


def _dirs(base: Path, path: str) -> list[Path]:
    """The process's cgroup folder and its ancestors up to `base` (in a container the
    path may be the host's, while its own cgroup is mounted at `base`)."""
    out = [base]
    here = base
    for part in [p for p in path.split("/") if p]:
        here = here / part
        out.append(here)
    return out


def _v2(f: Path) -> list[int]:
    try:
        quota, period = f.read_text().split()[:2]
        if quota == "max":
            return []
        return [max(1, math.ceil(int(quota) / int(period)))]
    except (OSError, ValueError):
        return []


def _v1(d: Path) -> list[int]:
    try:
        quota = int((d / "cpu.cfs_quota_us").read_text())
        period = int((d / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return []
    return [max(1, math.ceil(quota / period))] if quota > 0 and period > 0 else []
