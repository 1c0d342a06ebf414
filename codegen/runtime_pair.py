"""The joint disk-cache entry of the thread pool and one GEMM library (`runtime.py`): an
`engine.bundle` of their object code, the pool's first, read with one read and linked
with one link instead of two each (0.15 ms of a warm first call).

Invariants:
- The entry's key (`key`) covers both libraries' symbols (so the sources digest) and
  the host's tile shape for the GEMM library's dtype, and whatever every key covers.
- An entry is linked only if it holds exactly two object files and each names what only
  its own library defines (the pool its `_after_fork`, the GEMM library its `_serial`
  kernel): a wrong pair (another dtype's kernel in the pool's place) would abort the
  process when linked. A missing or unusable entry is never fatal: `load` returns None
  and the caller loads the libraries one by one.
- Nothing here holds state: registering what is linked is `runtime.py`'s.
"""
from __future__ import annotations

import logging

from . import engine, gemm_kernel, objcache
from .runtime_build import pool_symbol

log = logging.getLogger("tracejit")


def key(dtype: str, name: str) -> str:
    """The key of the joint entry of the pool and the GEMM library `name` of `dtype`."""
    shape = gemm_kernel.host_kernel_shape(dtype)
    return objcache.key_for(f"runtime libraries {pool_symbol()} and {name} {shape}",
                           entries=False)


def load(name: str, pair: str) -> tuple[engine.JitModule, bytes, bytes] | None:
    """The pool and GEMM library `name` linked together from their joint entry `pair`
    (kept until the process ends, neither registered yet), with the pool's and the
    library's object code; None if the entry is missing or unusable."""
    data = objcache.load(pair)
    if data is None:
        return None
    pool_name = pool_symbol()
    try:
        objs = engine.unbundle(data)
        # Names only the defining library has (a GEMM library's code names the pool it
        # calls): see the module docstring.
        if (len(objs) != 2 or f"{pool_name}_after_fork".encode() not in objs[0]
                or f"{name}_serial".encode() in objs[0]
                or f"{name}_serial".encode() not in objs[1]
                or f"{pool_name}_after_fork".encode() in objs[1]):
            raise ValueError("not the pool's and the GEMM library's object code")
        jm = engine.load_object(data, permanent=True)
    except Exception as e:  # unusable object code: load them one by one, rewrite the entry
        log.debug("runtime libraries %s and %s: joint object code cannot be loaded (%s)",
                  pool_name, name, e)
        return None
    return jm, objs[0], objs[1]


def store(pair: str, pool_obj: bytes, gemm_obj: bytes) -> None:
    """Write the joint entry `pair` of the pool's and a GEMM library's object code."""
    if objcache.enabled():
        objcache.store(pair, engine.bundle([pool_obj, gemm_obj]),
                       "disk cache (runtime libraries)")
