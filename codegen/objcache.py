"""The persistent object-code cache: machine code of optimized Functions, on disk.

A fresh process that calls a function compiled before loads its object code and skips
lowering, the O3 pipeline and code generation.

Invariants:
- An entry is keyed by a SHA-256 over everything the code depends on: the printed
  optimized IR, the codegen ABI number, the versions of tracejit, llvmlite, NumPy and
  Python, the BLAS library, the CPython/NumPy object offsets native code reads, and the
  host triple, CPU name and features. An upgrade of any of them misses, never reuses.
- An entry file is a `sealed` string: a header (magic, format version, key, payload
  length, MAC) followed by the object file. The MAC is an HMAC-SHA256, under the cache
  directory's secret key (`cachedir`), of the rest of the header and the object file:
  an entry written by another cache, another user or anyone who knows the format but not
  the key is never loaded, nor is an entry renamed to another key. Anything that does not check out
  (truncated, corrupt, foreign, another key, another format) is ignored, and rebuilt and
  replaced, never trusted. Nothing is ever unpickled.
- The directory is trusted only if it is private to the user (`cachedir`: otherwise the
  disk cache is off, with one warning); entries are read without following links, only
  if they are regular files of ours of at most `MAX_ENTRY` bytes. Reading or writing the
  cache never raises out of a compilation: the cache is an optimization.
- Writes go to a temporary file in the same directory, then `os.replace`: readers see a
  whole entry or none, and concurrent writers of one key are safe (the last one wins,
  with identical content).
- Directories are created readable and writable by their owner only (0700), files 0600.
- `TRACEJIT_CACHE=0` disables the cache; `TRACEJIT_CACHE_DIR` moves it (default
  `~/.cache/tracejit`). It holds about `TRACEJIT_CACHE_MAX_MB` (default 1024) MB at
  most: the first store of a process, and every 64th after, checks the size in a
  background thread and deletes the least recently used entries (a hit counts as a
  use, to within `REFRESH_AFTER` seconds) down to 3/4 of the limit, and the temporary
  files of writes that never finished (a process killed while writing), once untouched
  for `STALE_TMP_SECONDS`: never a file another process is still writing.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
import stat
import sys
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path

import llvmlite
import numpy

from ..ir import settings
from ..ir.caches import on_clear
from ..ir.version import VERSION
from . import blas, cachedir, cachefiles, engine, sealed

log = logging.getLogger("tracejit")

CODEGEN_ABI = 1
_MAGIC = b"TJOBJ\x00"
_FORMAT = 2
_HEADER = sealed.HEADER
MAX_ENTRY = 64 * 2**20                  # larger files are never read (nor written)


def enabled() -> bool:
    """False when `TRACEJIT_CACHE` is off."""
    return settings.switch("TRACEJIT_CACHE")


def cache_dir() -> Path:
    """`TRACEJIT_CACHE_DIR`, else `tracejit` in the user's cache folder."""
    d = settings.path("TRACEJIT_CACHE_DIR")
    return Path(d) if d else Path(settings.cache_home()) / "tracejit"


def _versions() -> str:
    return (f"tracejit={VERSION};codegen-abi={CODEGEN_ABI};source={source_digest()};"
            f"llvmlite={llvmlite.__version__};"
            f"numpy={numpy.__version__};python={sys.version.split()[0]};"
            f"impl={sys.implementation.name}")


def source_digest(codegen_dir: Path | None = None) -> str:
    """A fingerprint of the source of the `codegen` and `ir` packages, which make the
    object code: each file's path within its package, size and modification time (in
    nanoseconds), as Python's own bytecode cache validates a source file.

    An editable install, or two checkouts of one version, can change code generation
    without changing the version number or `CODEGEN_ABI`: keyed by the sources as well,
    an entry is never taken for the output of other code. A copy that keeps sizes and
    times (`shutil.copytree`) shares entries; a reinstall that rewrites the files only
    costs one compile of each Function. Reading every file instead took 3.4 ms of a
    warm first call (W5), this about 0.6 ms, once a process (`runtime.SOURCE_DIGEST`,
    in the names of the runtime libraries' symbols, is the same value).
    """
    if codegen_dir is None:
        return _own_source_digest()
    return _digest_of(codegen_dir)


@functools.cache
def _own_source_digest() -> str:
    return _digest_of(Path(__file__).resolve().parent)


def _digest_of(here: Path) -> str:
    h = hashlib.sha256()
    for pkg in (here, here.parent / "ir"):
        for rel, size, mtime in sorted(_source_files(pkg)):
            h.update(f"{pkg.name}/{rel}\0{size}\0{mtime}\0".encode())
    return h.hexdigest()[:16]


def _source_files(pkg: Path) -> list[tuple[str, int, int]]:
    """(path relative to `pkg`, size, mtime in ns) of every `.py` file under `pkg`."""
    found: list[tuple[str, int, int]] = []
    stack = [(str(pkg), "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    if e.name != "__pycache__":
                        stack.append((e.path, f"{prefix}{e.name}/"))
                elif e.name.endswith(".py"):
                    st = e.stat()
                    found.append((prefix + e.name, st.st_size, st.st_mtime_ns))
    return found


# The environment's parts, each computed once: "host" (versions, target) and "entries"
# (the entry functions' convention and ABI).
_ENV_CACHE: dict[str, str] = {}
_ENV_LOCK = threading.Lock()


def _forget_environment() -> None:
    with _ENV_LOCK:
        _ENV_CACHE.clear()


on_clear("disk cache: environment key", _forget_environment)


def environment(entries: bool = True) -> str:
    """Everything besides the IR that compiled code depends on (computed once); without
    `entries`, what a runtime library's code depends on: the same less the convention
    and ABI of compiled functions' entries, which libraries do not have (and without
    importing `build` and `call`, which define them: `runtime.prefetch`'s thread asks
    while the package may still be importing them)."""
    with _ENV_LOCK:
        if "host" not in _ENV_CACHE:
            info = engine.host_info(machine=False)
            _ENV_CACHE["host"] = ";".join([
                _versions(), f"triple={info['triple']}", f"layout={info['data_layout']}",
                f"cpu={info['cpu']}", f"features={info['features']}"])
        if entries and "entries" not in _ENV_CACHE:
            from .build import ENTRY
            from .call import ABI
            _ENV_CACHE["entries"] = f"entry={ENTRY};abi={ABI.tuple_items},{ABI.data},{ABI.flags}"
        parts = [_ENV_CACHE["host"], *([_ENV_CACHE["entries"]] if entries else [])]
    # The BLAS choice can change within a process (TRACEJIT_BLAS): never cached.
    return ";".join([*parts, f"blas={blas.blas_info()}"])


def key_for(ir_text: str, entries: bool = True) -> str:
    """The cache key of a Function's printed, optimized IR on this host and install
    (without `entries`, of a runtime library: see `environment`)."""
    h = hashlib.sha256()
    h.update(environment(entries).encode())
    h.update(b"\x00")
    h.update(ir_text.encode())
    return h.hexdigest()


def _path(key: str) -> Path:
    return cache_dir() / key[:2] / f"{key}.o"


def pack(key: str, obj: bytes, secret: bytes) -> bytes:
    """The entry file of object code `obj` under `key`, authenticated with `secret`."""
    return sealed.seal(_MAGIC, _FORMAT, bytes.fromhex(key), obj, secret)


def _check(data: bytes, key: str, secret: bytes) -> bytes | None:
    """The object code of entry file `data` if it is a whole entry of `key` written with
    `secret`, else None."""
    try:
        return sealed.unseal(data, _MAGIC, _FORMAT, secret, bytes.fromhex(key),
                             what="disk cache entry")
    except sealed.Damaged as e:
        log.debug("disk cache entry %s: %s", key[:16], e.reason)
        return None


def _opened(create: bool) -> AbstractContextManager[cachedir.Root | None]:
    return cachedir.opened(str(cache_dir()), create)


def load(key: str, what: str = "disk cache") -> bytes | None:
    """The object code stored under `key`, or None when absent or not trustworthy. Never
    raises (but a warning about the directory may be an error under `-W error`). `what`
    names the entry in the log ("disk cache alias" for a traced Function's)."""
    if not enabled() or not cachedir.SUPPORTED:
        return None
    try:
        return _load(key, what)
    except Warning:
        raise
    except Exception as e:
        log.debug("disk cache entry %s cannot be read (%s)", key[:16], e)
        return None


# A hit refreshes an entry's modification time (eviction deletes the least recently
# used first) when it is older than this: one system call fewer on the hits of entries
# used in the last minutes, at the price of ordering those among themselves by minutes.
REFRESH_AFTER = 600.0


def _load(key: str, what: str) -> bytes | None:
    name = f"{key}.o"
    with cachedir.opened_subdir(str(cache_dir()), key[:2]) as found:
        if found is None:
            log.debug("%s miss %s", what, key[:16])
            return None
        sub, secret, where = found
        got = cachefiles.read_private(sub, name, MAX_ENTRY, where)
        if got is None:
            log.debug("%s miss %s", what, key[:16])
            return None
        data, mtime = got
        payload = _check(data, key, secret)
        if payload is None:
            log.debug("%s entry %s is corrupt or foreign: rebuilding it", what, key[:16])
            return None
        log.debug("%s hit %s", what, key[:16])
        if not 0 <= time.time() - mtime < REFRESH_AFTER:
            try:
                os.utime(name, dir_fd=sub, follow_symlinks=False)  # the last to be evicted
            except OSError:
                pass
        return payload


def present(key: str) -> bool:
    """Whether an entry file for `key` exists (one `stat`; whether it is whole and
    trustworthy is `load`'s to find out). False when the cache is off."""
    if not enabled():
        return False
    try:
        return _path(key).is_file()
    except OSError:
        return False


def writable() -> bool:
    """Whether `store` can write entries: the cache is on, and its directory exists (made
    now if missing), is trusted and is writable."""
    if not enabled() or not cachedir.SUPPORTED:
        return False
    try:
        with _opened(create=True) as root:
            return root is not None and os.access(cache_dir(), os.W_OK)
    except OSError:
        return False


def store(key: str, obj: bytes, what: str = "disk cache") -> None:
    """Write `obj` under `key` atomically. Failures (read-only disk, full disk, a refused
    directory) are logged and otherwise ignored: the cache is an optimization, never a
    requirement. `what` names the entry in the log, as `load`'s."""
    if not enabled() or not cachedir.SUPPORTED:
        return
    if _HEADER.size + len(obj) > MAX_ENTRY:
        log.debug("disk cache: %s is too large to store (%d bytes)", key[:16], len(obj))
        return
    try:
        with _opened(create=True) as root:
            sub = root.subdir(key[:2], create=True) if root is not None else None
            if root is None or sub is None:
                return
            try:
                _write_entry(sub, f"{key}.o", pack(key, obj, root.secret or b""))
            finally:
                os.close(sub)
        log.debug("%s store %s (%d bytes)", what, key[:16], len(obj))
        _maybe_evict()
    except OSError as e:
        log.debug("disk cache store failed for %s: %s", key[:16], e)


def _write_entry(sub: int, name: str, data: bytes) -> None:
    tmp = f".tmp-{secrets.token_hex(8)}.o"
    fd = cachefiles.create_file(tmp, sub)
    try:
        try:
            cachefiles.write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=sub, dst_dir_fd=sub)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=sub)
        except OSError:
            pass
        raise


_stores = [0]
EVICT_EVERY = 64
# A temporary entry file (`_write_entry`) untouched for this long belongs to no live
# writer: a write of the largest entry takes seconds, and every write refreshes the
# modification time. Eviction deletes such files (a killed writer leaves them behind).
STALE_TMP_SECONDS = 3600.0


def _maybe_evict() -> None:
    """At the first store of a process and every `EVICT_EVERY` stores after, check the
    size limit in a background thread (a scan of a large cache takes milliseconds that a
    compile should not wait for)."""
    n = _stores[0]
    _stores[0] = n + 1
    if n % EVICT_EVERY == 0:
        threading.Thread(target=evict, args=(max_bytes(),), name="tracejit-cache-evict",
                         daemon=True).start()


def max_bytes() -> int:
    """The cache's size limit: `TRACEJIT_CACHE_MAX_MB` (default 1024) megabytes."""
    mb = settings.number("TRACEJIT_CACHE_MAX_MB")
    return int((1024 if mb is None else mb) * 2**20)


def evict(limit: int) -> None:
    """If the entries take more than `limit` bytes, delete the least recently used (by
    modification time, which a hit refreshes) until they take at most 3/4 of it."""
    if not enabled() or not cachedir.SUPPORTED:
        return
    subs: dict[str, int] = {}
    try:
        with _opened(create=False) as root:
            if root is None:
                return
            try:
                _evict(root, subs, limit)
            finally:
                for fd in subs.values():
                    os.close(fd)
    except OSError as e:
        log.debug("disk cache eviction failed: %s", e)


def _unlink_stale(sub: int, name: str, st: os.stat_result) -> None:
    """Delete the temporary file `name` that a writer left behind (killed between
    creating and renaming it), if it is still the very file that was found stale."""
    try:
        now = os.stat(name, dir_fd=sub, follow_symlinks=False)
        if (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns):
            os.unlink(name, dir_fd=sub)
            log.debug("disk cache: removed a stale temporary file %s", name)
    except OSError:
        pass


def _evict(root: cachedir.Root, subs: dict[str, int], limit: int) -> None:
    entries = []
    total = 0
    now = time.time()
    for d in os.scandir(root.fd):
        if len(d.name) == 2 and d.is_dir(follow_symlinks=False):
            fd = root.subdir(d.name, create=False)
            if fd is None:
                return
            subs[d.name] = fd
            for e in os.scandir(fd):
                if not e.name.endswith(".o"):
                    continue
                st = e.stat(follow_symlinks=False)
                if not e.name.startswith(".tmp-"):
                    entries.append((st.st_mtime, st.st_size, d.name, e.name))
                    total += st.st_size
                elif stat.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_TMP_SECONDS:
                    _unlink_stale(fd, e.name, st)
    if total <= limit:
        return
    entries.sort()
    for _, size, sub, name in entries:
        if total <= limit * 3 // 4:
            break
        try:
            os.unlink(name, dir_fd=subs[sub])
            total -= size
            log.debug("disk cache evicted %s (%d bytes)", name[:16], size)
        except OSError:
            pass
