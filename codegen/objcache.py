"""The persistent object-code cache: machine code of optimized Functions, on disk.

A fresh process that calls a function compiled before loads its object code and skips
lowering, the O3 pipeline and code generation.

Invariants:
- An entry is keyed by a SHA-256 over everything the code depends on: the printed
  optimized IR, the codegen ABI number, the versions of tracejit, llvmlite, NumPy and
  Python, the BLAS library, the CPython/NumPy object offsets native code reads, and the
  host triple, CPU name and features. An upgrade of any of them misses, never reuses.
- An entry file is a header (magic, format version, key, payload length, payload SHA-256)
  followed by the object file. Anything that does not check out (truncated, corrupt,
  another key, another format) is ignored, and rebuilt and replaced, never trusted.
  Nothing is ever unpickled.
- Writes go to a temporary file in the same directory, then `os.replace`: readers see a
  whole entry or none, and concurrent writers of one key are safe (the last one wins,
  with identical content).
- The directory is created readable and writable by its owner only (0700), files 0600.
- `TRACEJIT_CACHE=0` disables the cache; `TRACEJIT_CACHE_DIR` moves it (default
  `~/.cache/tracejit`). It holds about `TRACEJIT_CACHE_MAX_MB` (default 1024) MB at
  most: the first store of a process, and every 64th after, checks the size in a
  background thread and deletes the least recently used entries (a hit counts as a use)
  down to 3/4 of the limit.
"""
from __future__ import annotations

import hashlib
import logging
import os
import struct
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("tracejit")

CODEGEN_ABI = 1
_MAGIC = b"TJOBJ\x00"
_FORMAT = 1
_HEADER = struct.Struct("<6sH32sQ32s")  # magic, format, key digest, length, payload digest


def enabled() -> bool:
    return os.environ.get("TRACEJIT_CACHE", "1").strip().lower() not in ("0", "false", "no",
                                                                           "off")


def cache_dir() -> Path:
    d = os.environ.get("TRACEJIT_CACHE_DIR")
    if d:
        return Path(d).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tracejit"


def _versions() -> str:
    import llvmlite
    import numpy
    from ..ir.version import VERSION as tj
    return (f"tracejit={tj};codegen-abi={CODEGEN_ABI};llvmlite={llvmlite.__version__};"
            f"numpy={numpy.__version__};python={sys.version.split()[0]};"
            f"impl={sys.implementation.name}")


_ENV_CACHE: list[str] = []


def environment() -> str:
    """Everything besides the IR that compiled code depends on (computed once)."""
    from .blas import blas_info
    if not _ENV_CACHE:
        from . import engine
        from .build import ENTRY
        from .call import ABI
        info = engine.host_info()
        _ENV_CACHE.append(";".join([
            _versions(), f"entry={ENTRY}", f"abi={ABI.tuple_items},{ABI.data},{ABI.flags}",
            f"triple={info['triple']}",
            f"layout={info['data_layout']}", f"cpu={info['cpu']}",
            f"features={info['features']}"]))
    # The BLAS choice can change within a process (TRACEJIT_BLAS): never cached.
    return f"{_ENV_CACHE[0]};blas={blas_info()}"


def key_for(ir_text: str) -> str:
    """The cache key of a Function's printed, optimized IR on this host and install."""
    h = hashlib.sha256()
    h.update(environment().encode())
    h.update(b"\x00")
    h.update(ir_text.encode())
    return h.hexdigest()


def _path(key: str) -> Path:
    return cache_dir() / key[:2] / f"{key}.o"


def load(key: str) -> bytes | None:
    """The object code stored under `key`, or None when absent or not trustworthy."""
    if not enabled():
        return None
    p = _path(key)
    try:
        data = p.read_bytes()
    except OSError:
        log.debug("disk cache miss %s", key[:16])
        return None
    payload = _check(data, key)
    if payload is None:
        log.debug("disk cache entry %s is corrupt or foreign: rebuilding it", key[:16])
        return None
    log.debug("disk cache hit %s", key[:16])
    try:
        os.utime(p)                   # recently used: the last to be evicted
    except OSError:
        pass
    return payload


def _check(data: bytes, key: str) -> bytes | None:
    if len(data) < _HEADER.size:
        return None
    magic, fmt, kdig, length, pdig = _HEADER.unpack_from(data)
    payload = data[_HEADER.size:]
    if (magic != _MAGIC or fmt != _FORMAT or kdig != bytes.fromhex(key)
            or length != len(payload) or hashlib.sha256(payload).digest() != pdig):
        return None
    return payload


def store(key: str, obj: bytes) -> None:
    """Write `obj` under `key` atomically. Failures (read-only disk, full disk) are logged
    and otherwise ignored: the cache is an optimization, never a requirement."""
    if not enabled():
        return
    p = _path(key)
    try:
        _make_private_dir(p.parent)
        header = _HEADER.pack(_MAGIC, _FORMAT, bytes.fromhex(key), len(obj),
                              hashlib.sha256(obj).digest())
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".o")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(header)
                fh.write(obj)
            os.chmod(tmp, 0o600)
            os.replace(tmp, p)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        log.debug("disk cache store %s (%d bytes)", key[:16], len(obj))
        _maybe_evict()
    except OSError as e:
        log.debug("disk cache store failed for %s: %s", key[:16], e)


_stores = [0]
EVICT_EVERY = 64


def _maybe_evict() -> None:
    """At the first store of a process and every `EVICT_EVERY` stores after, check the
    size limit in a background thread (a scan of a large cache takes milliseconds that a
    compile should not wait for)."""
    n = _stores[0]
    _stores[0] = n + 1
    if n % EVICT_EVERY == 0:
        import threading
        threading.Thread(target=evict, args=(max_bytes(),), name="tracejit-cache-evict",
                         daemon=True).start()


def max_bytes() -> int:
    """The cache's size limit: `TRACEJIT_CACHE_MAX_MB` (default 1024) megabytes."""
    try:
        return int(float(os.environ.get("TRACEJIT_CACHE_MAX_MB", "1024")) * 2**20)
    except ValueError:
        return 1024 * 2**20


def evict(limit: int) -> None:
    """If the entries take more than `limit` bytes, delete the least recently used (by
    modification time, which a hit refreshes) until they take at most 3/4 of it."""
    entries = []
    total = 0
    root = cache_dir()
    try:
        subdirs = [d for d in os.scandir(root) if d.is_dir(follow_symlinks=False)]
        for d in subdirs:
            for e in os.scandir(d.path):
                if e.name.endswith(".o") and not e.name.startswith(".tmp"):
                    st = e.stat(follow_symlinks=False)
                    entries.append((st.st_mtime, st.st_size, e.path))
                    total += st.st_size
    except OSError:
        return
    if total <= limit:
        return
    entries.sort()
    for _, size, path in entries:
        if total <= limit * 3 // 4:
            break
        try:
            os.unlink(path)
            total -= size
            log.debug("disk cache evicted %s (%d bytes)", os.path.basename(path)[:16], size)
        except OSError:
            pass


def _make_private_dir(d: Path) -> None:
    root = cache_dir()
    for q in (root, d):
        if not q.exists():
            q.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(q, 0o700)
