"""Refusing allocations that cannot succeed: `check_allocation` raises `MemoryError`
before an array (or a compiled call's buffers) is allocated beyond what one process can
address or what the operating system has available, naming the op, the largest shape and
dtype and the bytes needed (NumPy may overcommit, and the OOM killer would end the process
later instead of an exception now).
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .core import TensorType

#: Allocations up to this many bytes are never checked against free memory: asking the OS
#: costs microseconds, and they fit wherever Python runs.
CHECK_ABOVE = 1 << 26
#: The most bytes one array can span: NumPy indexes memory with a signed pointer-sized int.
MAX_NBYTES = int(np.iinfo(np.intp).max)


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping or meeting the OOM killer:
    `MemAvailable` + `SwapFree` of `/proc/meminfo` (else the free physical pages), capped
    by the room left under a cgroup memory limit. None if the OS does not say."""
    avail: int | None = None
    try:
        with open("/proc/meminfo") as f:
            info = {k: int(v.split()[0]) * 1024 for k, v in
                    (line.split(":", 1) for line in f if ":" in line)}
        if "MemAvailable" in info:
            avail = info["MemAvailable"] + info.get("SwapFree", 0)
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            pass
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit) as f:
                lim = f.read().strip()
            with open(usage) as f:
                used = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if lim.isdigit() and int(lim) < 1 << 60:
            room = max(0, int(lim) - used)
            avail = room if avail is None else min(avail, room)
    return avail


def _bytes_text(n: int) -> str:
    x, unit = float(n), "bytes"
    for u in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"):
        if x < 1024:
            break
        x, unit = x / 1024, u
    return f"{n} bytes" if unit == "bytes" else f"{n} bytes ({x:.3g} {unit})"


def check_allocation(types: Sequence[TensorType], what: str, extra_bytes: int = 0,
                     extra_what: str = "scratch buffers") -> None:
    """Raise `MemoryError` before allocating arrays of `types` (plus `extra_bytes` of
    `extra_what`) if together they exceed what one process can address or the memory the
    OS has available. The message names `what`, the largest shape and dtype and the bytes
    needed. Cheap (no system call) for allocations up to `CHECK_ABOVE` bytes.

    Example: `check_allocation(prim.infer(in_types, params), prim.name)`."""
    sizes = [t.nbytes for t in types]
    total = sum(sizes) + extra_bytes
    if total <= CHECK_ABOVE:
        return
    big = types[sizes.index(max(sizes))] if types else None
    shape = f"of shape {big.shape} and dtype {big.dtype.name}" if big is not None else ""
    if extra_bytes > max(sizes, default=0):
        need = f"{what}: {extra_what} of {_bytes_text(extra_bytes)}"
        need += f" (with {len(types)} other array{'s' if len(types) > 1 else ''})" \
            if types else ""
        need += f" need {_bytes_text(total)}"
    elif len(types) == 1 and not extra_bytes:
        need = f"{what}: an array {shape} needs {_bytes_text(total)}"
    else:
        arrays = f"an array {shape}" if len(types) == 1 else \
            f"{len(types)} arrays (the largest {shape})"
        parts = [arrays] if types else []
        parts += [extra_what] if extra_bytes else []
        need = f"{what}: {' and '.join(parts)} need {_bytes_text(total)}"
    if total > MAX_NBYTES or any(t.size > MAX_NBYTES for t in types):
        raise MemoryError(f"{need}, more than one process can address ({MAX_NBYTES} bytes)")
    avail = available_memory()
    if avail is not None and total > avail:
        raise MemoryError(f"{need}, but only {_bytes_text(avail)} of memory is available")
