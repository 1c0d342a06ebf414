"""The byte offsets of CPython tuples and NumPy arrays that native code reads (`Abi`),
found by probing live objects of this interpreter (`probe_abi`), once at import (`ABI`)."""
from __future__ import annotations

import ctypes
from collections.abc import Callable

import numpy as np

from .build import Abi


def probe_abi() -> Abi:
    """Find the byte offsets `Abi` describes by probing live objects of this CPython and
    NumPy (each offset must match several probes, so a coincidence cannot pass)."""
    probes: list[np.ndarray] = [np.zeros(3, np.float64), np.zeros((4, 5), np.float32)[:, 1:],
                                np.zeros((2, 3, 1), ">i4")]
    tup = (probes[0], probes[1])

    def word(addr: int) -> int | None:
        return ctypes.c_void_p.from_address(addr).value

    def find(step: int, ok: Callable[[int], bool], stop: int = 160) -> int:
        for off in range(0, stop, step):
            if ok(off):
                return off
        raise RuntimeError("cannot locate the fields of tuples and NumPy arrays natively")

    def int_at(addr: int) -> int:
        return ctypes.c_int.from_address(addr).value

    def dims_at(p: np.ndarray, off: int) -> tuple[int, ...]:
        base = word(id(p) + off)
        return tuple(ctypes.c_ssize_t.from_address(base + 8 * k).value
                     for k in range(p.ndim)) if base else ()

    items = find(8, lambda off: off >= 16 and word(id(tup) + off) == id(tup[0])
                 and word(id(tup) + off + 8) == id(tup[1]))
    ob_type = find(8, lambda off: all(word(id(p) + off) == id(np.ndarray) for p in probes))
    data = find(8, lambda off: all(word(id(p) + off) == p.ctypes.data for p in probes))
    nd = find(4, lambda off: off > ob_type and all(int_at(id(p) + off) == p.ndim
                                                   for p in probes))
    dims = find(8, lambda off: off > nd and all(dims_at(p, off) == p.shape for p in probes))
    descr = find(8, lambda off: all(word(id(p) + off) == id(p.dtype) for p in probes))
    flags = find(4, lambda off: all(int_at(id(p) + off) == p.flags.num for p in probes))
    kinds = [np.dtype(d) for d in ("f4", "f8", "i4", "i8", "?", ">f8")]
    type_num = find(4, lambda off: all(int_at(id(d) + off) == d.num for d in kinds), 64)
    byteorder = find(1, lambda off: all(ctypes.c_char.from_address(id(d) + off).value
                                        == d.byteorder.encode() for d in kinds), 64)
    canonical: dict[str, tuple[int, int]] = {n: (np.dtype(n).num, ord(np.dtype(n).byteorder))
                 for n in ("float32", "float64", "int32", "int64", "bool")}
    return Abi(items, ob_type, nd, dims, descr, data, flags, type_num, byteorder, canonical)


ABI = probe_abi()
