"""The disk cache's directory as a security boundary: what `objcache` may read and write.

The disk cache loads machine code and runs it, so whoever can write into the cache
directory can run code in every process that uses it. The cache therefore trusts the
directory's owner, who must be the user running this process (and the superuser, who can
do anything anyway), and nobody else: not other users, not the members of the
directory's group, not the contents of entries it did not write (see `objcache`).

Invariants:
- The cache directory (resolved through symbolic links once) is opened and held by a
  descriptor; every later access is relative to it, so renaming or replacing its path
  after the check changes nothing. It and every subdirectory used are directories owned
  by the effective user and writable by nobody else (no group or other write bit), and no
  parent of it is writable by everyone without the sticky bit. Otherwise the disk cache
  is off for this process, after one warning that names the directory, the reason and the
  fix. Only directories this process has just created are ever chmod-ed (to 0700).
- A file in it is read and created only as `cachefiles` does (a regular file of ours
  that nobody else can write, opened without following links or blocking; created new,
  0600).
- The secret key (`KEY_NAME`, `KEY_BYTES` random bytes) is a regular file of mode 0600
  owned by the user. It is written to a private temporary file and published with a hard
  link, which fails if another process published one first (then that key is used by
  all): a key is never seen half-written. Where hard links are not supported it is
  created with `O_EXCL`, and readers wait briefly for a short key to be completed. A key
  that exists but is not such a file turns the disk cache off, with a warning.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
import sys
import threading
import time
import warnings
from collections.abc import Iterator

from ..ir.caches import on_clear
from .cachefiles import (CLOEXEC, NOFOLLOW, NONBLOCK, create_file, file_problem, read_exact,
                         user_name, write_all)

log = logging.getLogger("tracejit")

KEY_NAME = "hmac-key"
KEY_BYTES = 32
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
SUPPORTED = bool(NOFOLLOW and _DIRECTORY and os.open in os.supports_dir_fd)


class Untrusted(Exception):
    """The cache directory (or its key, or a subdirectory) may be written by others."""

    def __init__(self, path: str, reason: str, fix: str):
        super().__init__(f"{path} {reason}")
        self.path, self.reason, self.fix = path, reason, fix


class Root:
    """A verified cache directory: its real `path`, a descriptor `fd` of it, its secret
    key, and `name` (the configured path it was found at)."""

    def __init__(self, path: str, fd: int, secret: bytes | None, name: str):
        self.path, self.fd, self.secret, self.name = path, fd, secret, name

    def subdir(self, sub: str, create: bool) -> int | None:
        """A descriptor of subdirectory `sub` (the caller closes it), created 0700 if
        absent and `create`; None if absent. Turns the cache off (and returns None) if it
        is not a private directory of ours."""
        where = os.path.join(self.path, sub)
        made = False
        if create:
            try:
                os.mkdir(sub, 0o700, dir_fd=self.fd)
                made = True
            except FileExistsError:
                pass
        try:
            fd = os.open(sub, os.O_RDONLY | _DIRECTORY | NOFOLLOW | CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            refuse(self.name, Untrusted(where, "is not a directory", f"remove it (rm {where})"))
            return None
        try:
            if made:
                os.fchmod(fd, 0o700)
            _check_dir(os.fstat(fd), where)
        except Untrusted as e:
            os.close(fd)
            refuse(self.name, e)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd


# Verified directories by configured path. Their descriptors are only used under `_lock`
# or through a duplicate (`opened`), so forgetting one may close it. At most ROOTS_KEPT
# of each are remembered (a process rarely uses more than one cache directory; a test
# suite uses one per test): the oldest is forgotten first, and verified again if used.
ROOTS_KEPT = 16
_lock = threading.RLock()
_roots: dict[str, Root] = {}
_refused: dict[str, Untrusted] = {}


def forget_all() -> None:
    """Forget every verified and refused directory (each is checked again at next use)."""
    with _lock:
        for path in list(_roots):
            _forget(path)
        _refused.clear()


on_clear("disk cache: verified directories", forget_all)


@contextlib.contextmanager
def opened(path: str, create: bool) -> Iterator[Root | None]:
    """The verified cache directory at `path` with its secret key (its descriptor valid
    in the block), or None when it does not exist yet (unless `create`) or is refused
    (warned about once per directory). OSErrors (an unwritable parent, a full disk)
    propagate: the caller logs them."""
    with _lock:
        root = _open_root(path, create)
        view = None if root is None else Root(root.path, os.dup(root.fd), root.secret, path)
    try:
        yield view
    finally:
        if view is not None:
            os.close(view.fd)


@contextlib.contextmanager
def opened_subdir(path: str, sub: str) -> Iterator[tuple[int, bytes, str] | None]:
    """A descriptor of the existing subdirectory `sub` of the verified cache directory at
    `path` (valid in the block), with the directory's secret key and the subdirectory's
    real path; None when either does not exist or is refused. What `opened` and
    `Root.subdir` give a reader, looked up under the lock: the cache directory's own
    descriptor is not duplicated (two system calls fewer per disk-cache read)."""
    with _lock:
        root = _open_root(path, False)
        fd = None if root is None else root.subdir(sub, create=False)
        found = None if root is None or fd is None else (
            fd, root.secret or b"", os.path.join(root.path, sub))
    try:
        yield found
    finally:
        if found is not None:
            os.close(found[0])


def _open_root(path: str, create: bool) -> Root | None:
    if path in _refused:
        return None
    root = _roots.get(path)
    if root is not None and os.fstat(root.fd).st_nlink == 0:
        _forget(path)                        # the directory was deleted: look again
        root = None
    try:
        if root is None:
            found = _open_private_dir(path, create)
            if found is None:
                return None
            while len(_roots) >= ROOTS_KEPT:
                _forget(next(iter(_roots)))
            root = _roots[path] = Root(*found, None, path)
        if root.secret is None:
            root.secret = _secret(root, create)
            if root.secret is None:
                return None
    except Untrusted as e:
        refuse(path, e)
        return None
    return root


def _forget(path: str) -> None:
    root = _roots.pop(path, None)
    if root is not None:
        os.close(root.fd)


def refuse(path: str, e: Untrusted) -> None:
    """Turn the disk cache at `path` off for this process, with one warning."""
    with _lock:
        if path in _refused:
            return
        if len(_refused) >= ROOTS_KEPT:
            _refused.pop(next(iter(_refused)))
        _refused[path] = e
        _forget(path)
    warnings.warn(f"tracejit: the disk cache {path} is not used: {e.path} {e.reason}, so "
                  f"others could plant machine code in it. To use it, {e.fix}. Compiled "
                  f"code is not cached on disk in this process.", stacklevel=_user_level())


def _user_level() -> int:
    """The `stacklevel` that points a warning given by our caller at the innermost frame
    outside tracejit (and contextlib, whose frames our `with` blocks add)."""
    f, level = sys._getframe(2), 2
    while f.f_back is not None and f.f_globals.get("__name__", "").partition(".")[0] in (
            "tracejit", "contextlib"):
        f, level = f.f_back, level + 1
    return level


def _check_dir(st: os.stat_result, path: str) -> None:
    if not stat.S_ISDIR(st.st_mode):
        raise Untrusted(path, "is not a directory", "set TRACEJIT_CACHE_DIR to a directory")
    if st.st_uid != os.geteuid():
        raise Untrusted(path, f"is owned by {user_name(st.st_uid)}, not by "
                        f"{user_name(os.geteuid())}",
                        "set TRACEJIT_CACHE_DIR to a directory of your own (tracejit never "
                        "changes the permissions of a directory it did not create)")
    if st.st_mode & 0o022:
        raise Untrusted(path, f"is writable by its group or others (mode "
                        f"{stat.S_IMODE(st.st_mode):o})", f"make it private: chmod 700 {path}")


def _open_private_dir(path: str, create: bool) -> tuple[str, int] | None:
    real = os.path.realpath(path)
    made = False
    if create and not os.path.isdir(real):
        os.makedirs(os.path.dirname(real), exist_ok=True)
        try:
            os.mkdir(real, 0o700)
            made = True
        except FileExistsError:
            pass
    try:
        fd = os.open(real, os.O_RDONLY | _DIRECTORY | NOFOLLOW | CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:           # replaced by a link since it was resolved
            raise Untrusted(real, "is a symbolic link", "remove it") from e
        raise
    try:
        if made:
            os.fchmod(fd, 0o700)
        _check_dir(os.fstat(fd), real)
        _check_parents(real)
    except BaseException:
        os.close(fd)
        raise
    return real, fd


def _check_parents(real: str) -> None:
    """Anyone may rename or replace an entry of a directory writable by everyone unless
    it has the sticky bit (as /tmp has)."""
    parent = os.path.dirname(real)
    while True:
        st = os.stat(parent)
        if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
            raise Untrusted(real, f"is in {parent}, which everyone can write to (mode "
                            f"{stat.S_IMODE(st.st_mode):o}, no sticky bit)",
                            "set TRACEJIT_CACHE_DIR to a directory only you can write to")
        up = os.path.dirname(parent)
        if up == parent:
            return
        parent = up


def _secret(root: Root, create: bool) -> bytes | None:
    """The directory's key: read, or made and published if absent and `create`."""
    where = os.path.join(root.path, KEY_NAME)
    for _ in range(100):
        try:
            fd = os.open(KEY_NAME, os.O_RDONLY | NOFOLLOW | NONBLOCK | CLOEXEC,
                         dir_fd=root.fd)
        except FileNotFoundError:
            if not create:
                return None
            _publish_key(root.fd)
            continue
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise Untrusted(where, "is a symbolic link", f"remove it (rm {where})") from e
            raise
        try:
            st = os.fstat(fd)
            problem = file_problem(st, KEY_BYTES)
            if problem is None and stat.S_IMODE(st.st_mode) & 0o077:
                problem = f"readable by others (mode {stat.S_IMODE(st.st_mode):o})"
            if problem is not None:
                raise Untrusted(where, f"is {problem}, not a 0600 file of yours",
                                f"remove it (rm {where}; a new key is made)")
            if st.st_size == KEY_BYTES:
                key = read_exact(fd, KEY_BYTES)
                if key is not None:
                    return key
        finally:
            os.close(fd)
        time.sleep(0.01)       # being written by another process (no hard links here)
    raise Untrusted(where, f"stays shorter than {KEY_BYTES} bytes",
                    f"remove it (rm {where}; a new key is made)")


def _publish_key(dir_fd: int) -> None:
    """Write a new key to a private temporary file and link it to `KEY_NAME`; if another
    process published one first, keep that one."""
    tmp = f".tmp-key-{secrets.token_hex(8)}"
    fd = create_file(tmp, dir_fd)
    try:
        write_all(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, KEY_NAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except FileExistsError:
        pass                                  # another process won: its key is used
    except OSError as e:                      # no hard links on this file system
        log.debug("disk cache: cannot link the key (%s): creating it in place", e)
        _create_key_in_place(dir_fd)
    finally:
        os.unlink(tmp, dir_fd=dir_fd)


def _create_key_in_place(dir_fd: int) -> None:
    try:
        fd = create_file(KEY_NAME, dir_fd)
    except FileExistsError:
        return
    try:
        write_all(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
